"""The security event log end to end on the local stack: audit items written by the real API and
authorizer reach the Object Lock archive and the audit bus through the stream and the real forwarder.

The stack runs in-process, so the test reads moto (the archive bucket, a SIEM's queue) with the same
clients the handlers use.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
import pytest
from botocore.exceptions import ClientError

from riskgate.resources import AUDIT_EVENT_DETAIL_TYPE, AUDIT_EVENT_SOURCE, DEFAULT_AUDIT_RETENTION_DAYS
from riskgate_local import LocalStack
from tests.e2e.conftest import http_request

pytestmark = pytest.mark.e2e

DELIVERY_TIMEOUT_SECONDS = 15
T = TypeVar("T")

# The smallest report the API takes: one image, one critical vulnerability.
REPORT = {
    "SchemaVersion": 2,
    "ArtifactName": "ghcr.io/acme/audited:1.0",
    "ArtifactType": "container_image",
    "Metadata": {"RepoTags": ["ghcr.io/acme/audited:1.0"]},
    "Results": [
        {
            "Target": "ghcr.io/acme/audited:1.0 (debian 12.5)",
            "Class": "os-pkgs",
            "Type": "debian",
            "Vulnerabilities": [
                {
                    "VulnerabilityID": "CVE-2024-0001",
                    "PkgName": "openssl",
                    "InstalledVersion": "3.0.11",
                    "Severity": "CRITICAL",
                }
            ],
        }
    ],
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """The real handlers, as `make run` serves them; the bootstrap of the admin token already writes two
    audit events (the user `admin` created, its token issued)."""
    with LocalStack(port=0) as running:
        yield running


def subscribe_siem(stack: LocalStack) -> str:
    """What a SIEM does: a rule on the audit bus matching the audit source, delivering to its queue."""
    sqs = boto3.client("sqs")
    events = boto3.client("events")
    queue_url = sqs.create_queue(QueueName="siem")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus = stack.resources.audit_bus_name
    events.put_rule(Name="siem", EventBusName=bus, EventPattern=json.dumps({"source": [AUDIT_EVENT_SOURCE]}))
    events.put_targets(Rule="siem", EventBusName=bus, Targets=[{"Id": "siem", "Arn": queue_arn}])
    return str(queue_url)


def eventually(what: str, probe: Callable[[], T | None]) -> T:
    """`probe()` once it answers something, polling for at most DELIVERY_TIMEOUT_SECONDS."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while True:
        answer = probe()
        if answer is not None:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {DELIVERY_TIMEOUT_SECONDS} s")
        time.sleep(0.2)


def archived(stack: LocalStack, event: dict[str, Any]) -> Any | None:
    """The archived object of an event as the API lists it; None while it is not there yet."""
    day = event["occurred_at"][:10].replace("-", "/")
    try:
        body = boto3.client("s3").get_object(
            Bucket=stack.resources.audit_archive_bucket, Key=f"events/{day}/{event['id']}.json"
        )["Body"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchKey":
            return None
        raise
    return json.loads(body.read())


def test_every_audit_event_is_archived_locked_and_put_on_the_bus(stack: LocalStack) -> None:
    # Given a SIEM subscribed to the audit bus
    siem_queue = subscribe_siem(stack)

    # When a request fails authentication (the authorizer writes that event) and a scan is submitted
    # (the API writes its event in the scan's transaction)
    refused = http_request(stack.url, "GET", "/v1/images", token="rg_" + "x" * 43)
    submitted = http_request(
        stack.url, "POST", "/v1/scans", token=stack.admin_token, body=json.dumps(REPORT).encode()
    )
    assert refused.status == 401
    assert submitted.status == 201, submitted.body

    # Then every event of the log (as the API shows it) is archived, identical, locked in compliance mode
    listed = http_request(stack.url, "GET", "/v1/audit-events", token=stack.admin_token)
    assert listed.status == 200, listed.body
    events = listed.json()["items"]
    actions = {(event["action"], event["entity_type"]) for event in events}
    assert {
        ("create", "user"),
        ("token.issue", "token"),
        ("authentication.fail", "authentication"),
        ("create", "scan"),
    } <= actions
    for event in events:
        assert eventually(f"archive of {event['id']}", lambda event=event: archived(stack, event)) == event
    s3 = boto3.client("s3")
    objects = s3.list_object_versions(Bucket=stack.resources.audit_archive_bucket)["Versions"]
    assert len(objects) == len(events)  # one object, one version, per event
    head = s3.head_object(Bucket=stack.resources.audit_archive_bucket, Key=objects[0]["Key"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    retained = head["ObjectLockRetainUntilDate"] - datetime.now(UTC)
    assert retained > timedelta(days=DEFAULT_AUDIT_RETENTION_DAYS - 1)

    # And the events written after the subscription reached the SIEM, as archived
    expected = {event["id"]: event for event in events if event["entity_type"] in ("authentication", "scan")}
    received: dict[str, dict[str, Any]] = {}

    def all_received() -> bool | None:
        for message in (
            boto3.client("sqs")
            .receive_message(QueueUrl=siem_queue, MaxNumberOfMessages=10)
            .get("Messages", [])
        ):
            bus_event = json.loads(message["Body"])
            received[bus_event["detail"]["id"]] = bus_event
        return True if set(expected) <= set(received) else None

    eventually("the SIEM's events", all_received)
    for event_id, event in expected.items():
        assert received[event_id]["source"] == AUDIT_EVENT_SOURCE
        assert received[event_id]["detail-type"] == AUDIT_EVENT_DETAIL_TYPE
        assert received[event_id]["detail"] == event
    # Nothing waits in the forwarder's failure queue
    failures = boto3.client("sqs").receive_message(
        QueueUrl=stack.resources.audit_forwarder_failure_queue_url, MaxNumberOfMessages=10
    )
    assert failures.get("Messages", []) == []
