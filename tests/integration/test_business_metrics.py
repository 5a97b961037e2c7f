"""The business figures the operations dashboard graphs, as the real handlers print them against moto:
CloudWatch EMF documents on stdout (riskgate.metrics), read back as CloudWatch reads them — parsed, not
grepped. Each figure is counted once however often Lambda delivers the same work, and a batch prints one
line, not one per record."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from riskgate.adapters import uploads as upload_adapter
from riskgate.adapters.reevaluation import default_table
from riskgate.clock import iso, parse_iso
from riskgate.handlers import evaluator, expiry_checker, notifier, reevaluator
from riskgate.handlers.api import handler as api
from riskgate.resources import (
    METRIC_ACCEPTANCES_CREATED,
    METRIC_ACCEPTANCES_EXPIRED,
    METRIC_ACCEPTANCES_REVOKED,
    METRIC_FINDINGS_ACCEPTED,
    METRIC_FINDINGS_STORED,
    METRIC_IMAGES_REEVALUATED,
    METRIC_NOTIFICATIONS_FAILED,
    METRIC_NOTIFICATIONS_SENT,
    METRIC_SCANS_INGESTED,
    METRIC_VERDICT_COMPLIANT,
    METRIC_VERDICT_NON_COMPLIANT,
)
from riskgate.services.reevaluation import ChunkMessage
from tests.integration.conftest import TABLE_NAME
from tests.integration.test_notifications import (  # noqa: F401 - the fixtures, used by name
    Bus,
    bus,
    dispatch,
    failing_webhook,
    put_event,
    response_policy,
    sqs_event,
)
from tests.integration.test_uploads import ingest, start, upload
from tests.support.api_calls import CONTEXT, call, ok
from tests.support.emf import emitted
from tests.support.events import FakeLambdaContext, api_event, response_json

# Trivy goldens saved from archives (they name no image: each scan says which one).
BUSTER = "trivy/golden_debian-buster.json"  # CVE-2019-18224 critical (fixed version given): non-compliant
AMAZON = "trivy/golden_amazon-2.json"  # medium and low only: compliant
K8S = "trivy/dd_k8s-cluster-legacy.json"  # a `trivy k8s` report: 6 subjects, one scan each
CRITICAL = "CVE-2019-18224"
UNFIXED_LOW = "CVE-2019-18276"  # no fix in the report


@pytest.fixture
def fixtures(dynamodb: Any, scanner_fixtures: Path) -> Path:
    return scanner_fixtures


@pytest.fixture
def stdout(capsys: pytest.CaptureFixture[str]) -> Any:
    """What was printed since the last read: read() → the figures of each EMF line."""

    class Stdout:
        def read(self) -> list[dict[str, float]]:
            return emitted(capsys.readouterr().out)

    return Stdout()


def post_scan(body: bytes, image: str | None = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    query = {"image": image} if image else None
    response = api(api_event("POST", "/v1/scans", body=body, query=query, **kwargs), CONTEXT)
    return response["statusCode"], response_json(response)


def scan(fixtures: Path, path: str, image: str) -> dict[str, Any]:
    status, answer = post_scan((fixtures / path).read_bytes(), image)
    assert status == 201, answer
    return answer


def accept_body(finding_id: str, scope: dict[str, Any], period: str = "30d") -> dict[str, Any]:
    return {
        "finding": {"kind": "vulnerability", "id": finding_id},
        "scope": scope,
        "period": period,
        "reason": "no fix deployable this sprint",
    }


def accept(finding_id: str, scope: dict[str, Any], period: str = "30d") -> dict[str, Any]:
    created: dict[str, Any] = ok("POST", "/v1/risk-acceptances", accept_body(finding_id, scope, period), 201)
    return created


def image_record(dynamodb: Any, image_id: str, sequence: str) -> dict[str, Any]:
    """The stream record of an image summary as it is now, as DynamoDB Streams delivers it."""
    key = {"pk": {"S": f"IMAGE#{image_id}"}, "sk": {"S": "META"}}
    item = dynamodb.get_item(TableName=TABLE_NAME, Key=key)["Item"]
    return {
        "eventID": f"event-{sequence}",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": key,
            "NewImage": item,
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE_NAME}/stream/x",
    }


# --- scans ------------------------------------------------------------------------------------------


def total(counts: dict[str, Any]) -> int:
    """How many findings a scan's counts add up to: each one is a finding item stored."""
    kinds = ("sensitive_data", "misconfigurations", "malware")
    return sum(counts["vulnerabilities"].values()) + sum(counts[kind] for kind in kinds)


def test_a_posted_report_counts_one_scan_and_its_idempotent_replay_none(fixtures: Path, stdout: Any) -> None:
    body = (fixtures / BUSTER).read_bytes()
    stdout.read()
    headers = {"Idempotency-Key": "build-4711"}

    status, first = post_scan(body, "ghcr.io/team-a/app:1", headers=headers)
    assert status == 201
    [line] = stdout.read()
    assert line[METRIC_SCANS_INGESTED] == 1
    assert line[METRIC_FINDINGS_STORED] == total(first["scans"][0]["counts"]) > 0

    # The CI retries after a timeout: the first answer comes back, no second scan, nothing counted.
    status, again = post_scan(body, "ghcr.io/team-a/app:1", headers=headers)
    assert (status, again) == (201, first)
    assert stdout.read() == []

    # Without a key, the same report is a new scan; it found the same, so it stores no finding item.
    assert post_scan(body, "ghcr.io/team-a/app:1")[0] == 201
    assert stdout.read() == [{METRIC_SCANS_INGESTED: 1, METRIC_FINDINGS_STORED: 0}]


def test_a_report_of_several_images_counts_each_in_one_line(fixtures: Path, stdout: Any) -> None:
    body = (fixtures / K8S).read_bytes()
    stdout.read()
    status, answer = post_scan(body)
    assert status == 201
    assert len(answer["scans"]) == 6
    stored = sum(total(scan["counts"]) for scan in answer["scans"])
    assert stdout.read() == [{METRIC_SCANS_INGESTED: 6, METRIC_FINDINGS_STORED: stored}]


def test_a_refused_report_counts_nothing(fixtures: Path, stdout: Any) -> None:
    assert post_scan(b"this is not json", "ghcr.io/team-a/app:1")[0] == 400
    developer = [{"role": "developer", "scope": "global"}]
    body = (fixtures / BUSTER).read_bytes()
    assert post_scan(body, "ghcr.io/team-a/app:1", role_bindings=developer)[0] == 403
    assert stdout.read() == []


def test_an_upload_counts_its_scans_once_however_often_it_is_delivered(fixtures: Path, stdout: Any) -> None:
    key = upload(start(), (fixtures / K8S).read_bytes())
    stdout.read()
    # The first delivery dies after storing the scans, before marking the upload done: what it stored
    # is counted, in one line for the invocation.
    original = upload_adapter.UploadTable.finish

    def dies(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the function timed out")

    upload_adapter.UploadTable.finish = dies  # type: ignore[method-assign]
    try:
        with pytest.raises(BatchProcessingError):
            ingest(key)
    finally:
        upload_adapter.UploadTable.finish = original  # type: ignore[method-assign]
    [line] = stdout.read()
    assert line[METRIC_SCANS_INGESTED] == 6
    assert line[METRIC_FINDINGS_STORED] > 0

    # SQS delivers it again: the scans are found, neither written nor counted again.
    assert ingest(key) == {"batchItemFailures": []}
    assert stdout.read() == []


# --- acceptances ------------------------------------------------------------------------------------


def test_accepting_and_revoking_count_once_each(fixtures: Path, stdout: Any) -> None:
    image_id = scan(fixtures, BUSTER, "ghcr.io/team-a/app:1")["image_id"]
    stdout.read()

    acceptance = accept(CRITICAL, {"image": image_id})
    assert stdout.read() == [{METRIC_ACCEPTANCES_CREATED: 1}]
    # The same again is a 409: nothing created, nothing counted.
    assert call("POST", "/v1/risk-acceptances", accept_body(CRITICAL, {"image": image_id}))[0] == 409
    assert stdout.read() == []

    ok("POST", f"/v1/risk-acceptances/{acceptance['id']}/revoke", {"reason": "fixed in the next build"})
    assert stdout.read() == [{METRIC_ACCEPTANCES_REVOKED: 1}]
    assert call("POST", f"/v1/risk-acceptances/{acceptance['id']}/revoke")[0] == 409
    assert stdout.read() == []


def test_the_expiry_checker_counts_the_acceptances_it_ends(fixtures: Path, stdout: Any) -> None:
    image_id = scan(fixtures, BUSTER, "ghcr.io/team-a/app:1")["image_id"]
    ends = parse_iso(accept(UNFIXED_LOW, {"image": image_id})["expires_at"])
    stdout.read()

    def run(moment: str) -> None:
        event = {"source": "riskgate.scheduler", "detail-type": "Scheduled Event", "time": moment}
        expiry_checker.handler(event, FakeLambdaContext())

    run(iso(ends - timedelta(days=6)))  # a reminder is not an end
    assert stdout.read() == [{METRIC_ACCEPTANCES_EXPIRED: 0}]
    run(iso(ends + timedelta(minutes=1)))
    assert stdout.read() == [{METRIC_ACCEPTANCES_EXPIRED: 1}]
    run(iso(ends + timedelta(minutes=2)))  # a repeated run ends nothing more
    assert stdout.read() == [{METRIC_ACCEPTANCES_EXPIRED: 0}]


# --- evaluations ------------------------------------------------------------------------------------


def test_the_evaluator_counts_each_stored_verdict_in_one_line_per_batch(
    fixtures: Path, dynamodb: Any, stdout: Any
) -> None:
    # An acceptance of team C's repository, made before its image is scanned
    accept(CRITICAL, {"repository": "ghcr.io/team-c/api"})
    images = [
        scan(fixtures, BUSTER, "ghcr.io/team-a/app:1")["image_id"],  # non-compliant
        scan(fixtures, AMAZON, "ghcr.io/team-b/svc:1")["image_id"],  # compliant
        scan(fixtures, BUSTER, "ghcr.io/team-c/api:1")["image_id"],  # compliant: its critical accepted
    ]
    stdout.read()
    batch = {"Records": [image_record(dynamodb, image_id, str(n)) for n, image_id in enumerate(images)]}

    assert evaluator.handler(batch, FakeLambdaContext()) == {"batchItemFailures": []}
    assert stdout.read() == [
        {METRIC_VERDICT_NON_COMPLIANT: 1, METRIC_VERDICT_COMPLIANT: 2, METRIC_FINDINGS_ACCEPTED: 1}
    ]

    # The stream delivers the batch again: the scans are judged already, nothing is counted.
    assert evaluator.handler(batch, FakeLambdaContext()) == {"batchItemFailures": []}
    assert stdout.read() == []


def test_an_until_fixed_acceptance_ended_by_the_evaluator_counts_as_expired(
    fixtures: Path, dynamodb: Any, stdout: Any
) -> None:
    report = json.loads((fixtures / BUSTER).read_bytes().decode("utf-8-sig"))
    image = "ghcr.io/team-a/app:1"
    image_id = post_scan(json.dumps(report).encode(), image)[1]["image_id"]
    accept(UNFIXED_LOW, {"image": image_id}, "until_fixed")
    # The same image scanned again once the distribution shipped a fix for the accepted CVE
    for result in report["Results"]:
        for vulnerability in result.get("Vulnerabilities") or []:
            if vulnerability["VulnerabilityID"] == UNFIXED_LOW:
                vulnerability["FixedVersion"] = "5.0-4+deb10u1"
    assert post_scan(json.dumps(report).encode(), image)[0] == 201
    stdout.read()

    assert evaluator.handler({"Records": [image_record(dynamodb, image_id, "1")]}, FakeLambdaContext()) == {
        "batchItemFailures": []
    }
    assert stdout.read() == [
        {METRIC_VERDICT_NON_COMPLIANT: 1, METRIC_FINDINGS_ACCEPTED: 0, METRIC_ACCEPTANCES_EXPIRED: 1}
    ]


def test_the_reevaluator_counts_the_images_it_judged_again(fixtures: Path, stdout: Any) -> None:
    images = [
        scan(fixtures, BUSTER, "ghcr.io/team-a/app:1")["image_id"],
        scan(fixtures, AMAZON, "ghcr.io/team-a/app:2")["image_id"],
        "img-00000000000000000000",  # gone meanwhile: nothing to judge
    ]
    default_table.cache_clear()
    stdout.read()
    message = ChunkMessage("acc-1", 1, 0, tuple(images), tracks_progress=False)
    records = [
        {
            "messageId": f"m-{n}",
            "receiptHandle": "r",
            "body": message.to_body(),
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:riskgate-reevaluation",
            "awsRegion": "us-east-1",
        }
        for n in range(2)  # the same message twice (SQS delivers at least once): judged twice
    ]
    assert reevaluator.handler({"Records": records}, FakeLambdaContext()) == {"batchItemFailures": []}
    assert stdout.read() == [{METRIC_IMAGES_REEVALUATED: 4}]


# --- notifications ----------------------------------------------------------------------------------


def test_a_delivered_notification_counts_as_sent_once(dynamodb: Any, bus: Bus, stdout: Any) -> None:  # noqa: F811
    ok(
        "POST",
        "/v1/integrations",
        {"name": "alerts", "type": "sns", "config": {"topic_arn": bus.customer_topic_arn}},
        201,
    )
    response_policy("critical to alerts", "alerts", "sns")
    dispatch(put_event(dynamodb, "evt-1"))
    messages = bus.notify_messages()
    stdout.read()

    assert notifier.handler(sqs_event(bus, messages), FakeLambdaContext()) == {"batchItemFailures": []}
    assert stdout.read() == [{METRIC_NOTIFICATIONS_SENT: 1}]
    # A redelivered message sends nothing, and counts nothing.
    assert notifier.handler(sqs_event(bus, messages), FakeLambdaContext()) == {"batchItemFailures": []}
    assert stdout.read() == []


def test_a_failed_delivery_counts_as_failed(
    dynamodb: Any,
    bus: Bus,  # noqa: F811
    failing_webhook: str,  # noqa: F811
    stdout: Any,
) -> None:
    ok(
        "POST",
        "/v1/integrations",
        {"name": "hook", "type": "webhook", "config": {"url": failing_webhook}},
        201,
    )
    response_policy("critical to hook", "hook", "webhook")
    dispatch(put_event(dynamodb, "evt-1"))
    messages = bus.notify_messages(visibility=1)
    stdout.read()

    # The only record fails (the message stays for a retry): the failure is still counted.
    with pytest.raises(BatchProcessingError):
        notifier.handler(sqs_event(bus, messages), FakeLambdaContext())
    assert stdout.read() == [{METRIC_NOTIFICATIONS_FAILED: 1}]
