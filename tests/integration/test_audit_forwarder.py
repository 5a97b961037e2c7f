"""The audit forwarder against moto: audit items from the table, in the stream shape Lambda delivers, go
to an EventBridge bus (a SIEM's rule → SQS queue receives them) and to an S3 archive with Object Lock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from riskgate.adapters.audit_log import audit_record, put_audit_event
from riskgate.adapters.audit_sinks import AuditBus, AuditDeliveryError, default_sinks
from riskgate.adapters.dynamo import from_item
from riskgate.domain.audit import Actor, AuditAction, AuditEvent, audit_event
from riskgate.handlers.audit_forwarder import handler
from riskgate.resources import AUDIT_EVENT_DETAIL_TYPE, AUDIT_EVENT_SOURCE
from riskgate.settings import get_settings
from tests.integration.conftest import TABLE_NAME
from tests.support.events import FakeLambdaContext

BUS_NAME = "riskgate-test-audit"
BUCKET = "riskgate-test-audit-archive"
RETENTION_DAYS = 365
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/riskgate-test/stream/x"
ADMIN = Actor(user_id="admin", token_id="tok-1", source_ip="203.0.113.7", request_id="req-1")


@dataclass
class Sinks:
    s3: Any
    events: Any
    sqs: Any
    siem_queue_url: str

    def archived_keys(self) -> list[str]:
        return [item["Key"] for item in self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]

    def versions(self, key: str) -> list[dict[str, Any]]:
        return list(self.s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", []))

    def archived(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())

    def siem_received(self) -> list[dict[str, Any]]:
        """Every EventBridge event the SIEM's rule delivered so far (moto keeps no events of its own)."""
        received: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.siem_queue_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return received
            for message in messages:
                received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.siem_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def create_bus(self) -> None:
        """The bus with a SIEM's subscription: a rule on the audit source → an SQS queue."""
        self.events.create_event_bus(Name=BUS_NAME)
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.siem_queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.events.put_rule(
            Name="siem", EventBusName=BUS_NAME, EventPattern=json.dumps({"source": [AUDIT_EVENT_SOURCE]})
        )
        self.events.put_targets(
            Rule="siem", EventBusName=BUS_NAME, Targets=[{"Id": "siem", "Arn": queue_arn}]
        )

    def delete_bus(self) -> None:
        self.events.remove_targets(Rule="siem", EventBusName=BUS_NAME, Ids=["siem"])
        self.events.delete_rule(Name="siem", EventBusName=BUS_NAME)
        self.events.delete_event_bus(Name=BUS_NAME)


@pytest.fixture
def sinks(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sinks]:
    monkeypatch.setenv("RISKGATE_AUDIT_BUS_NAME", BUS_NAME)
    monkeypatch.setenv("RISKGATE_AUDIT_ARCHIVE_BUCKET", BUCKET)
    get_settings.cache_clear()
    default_sinks.cache_clear()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": RETENTION_DAYS}},
        },
    )
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="siem")["QueueUrl"]
    created = Sinks(s3=s3, events=boto3.client("events"), sqs=sqs, siem_queue_url=queue_url)
    created.create_bus()
    yield created
    default_sinks.cache_clear()


def record_event(dynamodb: Any, event: AuditEvent) -> dict[str, Any]:
    """Write the event as the API does (its own transaction item); the stored item, DynamoDB-typed."""
    put_audit_event(dynamodb, TABLE_NAME, event, RETENTION_DAYS)
    key = {"pk": {"S": f"AUDIT#{event.event_id}"}, "sk": {"S": "EVENT"}}
    return dict(dynamodb.get_item(TableName=TABLE_NAME, Key=key)["Item"])


def stream_record(item: dict[str, Any], sequence: str, event_name: str = "INSERT") -> dict[str, Any]:
    return {
        "eventID": f"event-{sequence}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_700_000_000,
            "Keys": {"pk": item["pk"], "sk": item["sk"]},
            "NewImage": item,
            "SequenceNumber": sequence,
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }


def scope_updated(now: datetime | None = None) -> AuditEvent:
    """An event with nested values, numbers (stored as DynamoDB numbers) and a secret to redact."""
    return audit_event(
        ADMIN,
        AuditAction.UPDATE,
        "scope",
        "scp-1",
        before={"name": "shop", "version": 1, "resources": [{"registry": "ghcr.io"}]},
        after={"name": "shop", "version": 2, "weight": 0.5, "token": "rg_secret", "tags": ["a", "b"]},
        now=now or datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
    )


def invoke(*records: dict[str, Any]) -> Any:
    return handler({"Records": list(records)}, FakeLambdaContext())


def test_an_audit_item_is_archived_and_put_on_the_bus_as_the_api_shows_it(
    dynamodb: Any, sinks: Sinks
) -> None:
    # Given an audit item written to the table
    event = scope_updated()
    item = record_event(dynamodb, event)

    # When its INSERT reaches the forwarder
    result = invoke(stream_record(item, "1"))

    # Then the archive holds the event, as GET /v1/audit-events shows it, under its day and id
    assert result == {"batchItemFailures": []}
    key = f"events/2026/03/04/{event.event_id}.json"
    assert sinks.archived_keys() == [key]
    archived = sinks.archived(key)
    assert archived == audit_record(from_item(item))
    assert archived["after"] == {
        "name": "shop",
        "version": 2,
        "weight": 0.5,
        "token": "[redacted]",
        "tags": ["a", "b"],
    }
    assert archived["actor"] == "admin"
    assert archived["source_ip"] == "203.0.113.7"
    # And the object is locked in compliance mode for the bucket's default retention
    head = sinks.s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentType"] == "application/json"
    assert head["ObjectLockMode"] == "COMPLIANCE"
    remaining = head["ObjectLockRetainUntilDate"] - datetime.now(UTC)
    assert timedelta(days=RETENTION_DAYS - 1) < remaining <= timedelta(days=RETENTION_DAYS)
    # And the SIEM's rule received one event carrying the same document
    (received,) = sinks.siem_received()
    assert received["source"] == AUDIT_EVENT_SOURCE
    assert received["detail-type"] == AUDIT_EVENT_DETAIL_TYPE
    assert received["detail"] == archived
    # dated when it occurred, not when it was forwarded
    assert received["time"] == "2026-03-04T05:06:07Z"


def test_a_redelivered_record_creates_no_second_object(dynamodb: Any, sinks: Sinks) -> None:
    # Given a record already delivered once
    item = record_event(dynamodb, scope_updated())
    record = stream_record(item, "1")
    invoke(record)

    # When the stream delivers it again (a retried batch)
    result = invoke(record)

    # Then it succeeds, and the archive still holds exactly one version of the object
    assert result == {"batchItemFailures": []}
    (key,) = sinks.archived_keys()
    assert len(sinks.versions(key)) == 1
    # The bus is at least once: the event's own id lets a subscriber drop the repeat.
    assert [event["detail"]["id"] for event in sinks.siem_received()] == [item["id"]["S"]] * 2


def test_records_that_are_not_audit_inserts_are_ignored(dynamodb: Any, sinks: Sinks) -> None:
    audit_item = record_event(dynamodb, scope_updated())
    image_item = {"pk": {"S": "IMAGE#img-1"}, "sk": {"S": "META"}, "status": {"S": "compliant"}}

    result = invoke(
        stream_record(image_item, "1"),
        # An audit item expiring through TTL is a REMOVE; a MODIFY never happens, but must not count.
        stream_record(audit_item, "2", event_name="REMOVE"),
        stream_record(audit_item, "3", event_name="MODIFY"),
    )

    assert result == {"batchItemFailures": []}
    assert sinks.archived_keys() == []
    assert sinks.siem_received() == []


def test_a_failing_record_is_reported_alone(dynamodb: Any, sinks: Sinks) -> None:
    # Given a batch with a good event and one whose id cannot name an archive object
    good = record_event(dynamodb, scope_updated())
    bad = {**good, "pk": {"S": "AUDIT#../escape"}, "id": {"S": "../escape"}}

    # When the batch is delivered
    result = invoke(stream_record(good, "1"), stream_record(bad, "2"))

    # Then only the bad record is reported for retry, and the good one was delivered
    assert result == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert len(sinks.archived_keys()) == 1
    assert len(sinks.siem_received()) == 1


def test_a_bus_failure_is_retried_without_archiving_twice(dynamodb: Any, sinks: Sinks) -> None:
    # Given the bus is unavailable when the record first arrives
    item = record_event(dynamodb, scope_updated())
    record = stream_record(item, "1")
    sinks.delete_bus()
    # every record of the batch failed: the handler raises, and Lambda retries the batch
    with pytest.raises(BatchProcessingError):
        invoke(record)
    # the archive, written first, already holds the event
    (key,) = sinks.archived_keys()

    # When the bus is back and the stream retries the record
    sinks.create_bus()
    retried = invoke(record)

    # Then the event reaches the bus, and the archive still holds one version
    assert retried == {"batchItemFailures": []}
    assert [event["detail"]["id"] for event in sinks.siem_received()] == [item["id"]["S"]]
    assert len(sinks.versions(key)) == 1


def test_an_archived_event_cannot_be_deleted(dynamodb: Any, sinks: Sinks) -> None:
    """What moto enforces of Object Lock: a locked version cannot be deleted, governance bypass or not.

    Not asserted, because moto does not enforce it: S3 also refuses to shorten a compliance-mode
    retention (moto accepts PutObjectRetention). A DeleteObject without a version id only adds a delete
    marker, in S3 as in moto; the deployed bucket's policy refuses that too, which moto does not evaluate.
    """
    item = record_event(dynamodb, scope_updated())
    invoke(stream_record(item, "1"))
    (key,) = sinks.archived_keys()
    (version,) = sinks.versions(key)

    for bypass in (False, True):
        with pytest.raises(ClientError) as refused:
            sinks.s3.delete_object(
                Bucket=BUCKET, Key=key, VersionId=version["VersionId"], BypassGovernanceRetention=bypass
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert sinks.archived(key) == audit_record(from_item(item))


def test_an_entry_eventbridge_refuses_fails_the_delivery() -> None:
    """PutEvents answers 200 with FailedEntryCount for a refused entry; that must not pass as sent."""

    class RefusingEvents:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
            }

    with pytest.raises(AuditDeliveryError, match="InternalFailure"):
        AuditBus(BUS_NAME, client=RefusingEvents()).put_event("{}", datetime.now(UTC))
