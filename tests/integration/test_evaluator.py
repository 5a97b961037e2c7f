"""The stream evaluator against a moto table, fed records in the shape Lambda delivers them."""

from __future__ import annotations

from typing import Any

from riskgate.adapters.store import Store
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import parse_image_reference
from riskgate.handlers.evaluator import handler
from tests.support.events import FakeLambdaContext

IMAGE = parse_image_reference("ghcr.io/acme/shop:1.4")


def store_scan(store: Store, scan_id: str, received_at: str, findings: list[Finding]) -> None:
    store.save_scan(
        scan={"scan_id": scan_id, "received_at": received_at},
        image=IMAGE,
        findings=findings,
        # Deliberately not what evaluation gives: the evaluator must recompute from the stored findings.
        image_summary={"status": "compliant"},
    )


def stream_record(dynamodb: Any, table: str, sequence: str) -> dict[str, Any]:
    item = dynamodb.get_item(
        TableName=table, Key={"pk": {"S": f"IMAGE#{IMAGE.image_id}"}, "sk": {"S": "META"}}
    )["Item"]
    return {
        "eventID": f"event-{sequence}",
        "eventName": "MODIFY",
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
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/riskgate-test/stream/x",
    }


CRITICAL = Finding(FindingKind.VULNERABILITY, "CVE-2024-1", Severity.CRITICAL, package="openssl")


def test_evaluator_recomputes_and_stores_the_status(store: Store, dynamodb: Any) -> None:
    store_scan(store, "scan-1", "2026-01-01T00:00:00.000001Z", [CRITICAL])
    result = handler({"Records": [stream_record(dynamodb, store.table_name, "1")]}, FakeLambdaContext())
    assert result == {"batchItemFailures": []}
    image = store.get_image(IMAGE.image_id)
    assert image is not None
    assert image["status"] == "non_compliant"
    assert image["evaluated_scan_id"] == "scan-1"
    assert image["verdict"]["reasons"][0]["condition"] == "severity_at_least"
    assert image["evaluated_at"]


def test_evaluator_ignores_its_own_write_and_other_items(store: Store, dynamodb: Any) -> None:
    store_scan(store, "scan-1", "2026-01-01T00:00:00.000001Z", [CRITICAL])
    handler({"Records": [stream_record(dynamodb, store.table_name, "1")]}, FakeLambdaContext())
    evaluated_at = store.get_image(IMAGE.image_id)["evaluated_at"]  # type: ignore[index]
    record = stream_record(dynamodb, store.table_name, "2")
    finding_record = {
        **record,
        "dynamodb": {**record["dynamodb"], "NewImage": {"pk": {"S": "SCAN#x"}, "sk": {"S": "F#"}}},
    }
    assert handler({"Records": [record, finding_record]}, FakeLambdaContext()) == {"batchItemFailures": []}
    assert store.get_image(IMAGE.image_id)["evaluated_at"] == evaluated_at  # type: ignore[index]


def test_a_newer_scan_wins_over_a_stale_evaluation(store: Store, dynamodb: Any) -> None:
    store_scan(store, "scan-1", "2026-01-01T00:00:00.000001Z", [CRITICAL])
    stale = stream_record(dynamodb, store.table_name, "1")
    store_scan(store, "scan-2", "2026-01-01T00:00:01.000001Z", [])
    # The record about scan-1 arrives after scan-2 replaced it: the evaluation reads the current state.
    handler({"Records": [stale]}, FakeLambdaContext())
    image = store.get_image(IMAGE.image_id)
    assert image is not None
    assert image["evaluated_scan_id"] == "scan-2"
    assert image["status"] == "compliant"


def test_a_failing_record_is_reported_alone(store: Store, dynamodb: Any, monkeypatch: Any) -> None:
    store_scan(store, "scan-1", "2026-01-01T00:00:00.000001Z", [CRITICAL])
    good = stream_record(dynamodb, store.table_name, "1")
    bad = {
        **good,
        "dynamodb": {
            **good["dynamodb"],
            "SequenceNumber": "2",
            "NewImage": {**good["dynamodb"]["NewImage"], "pk": {"S": "IMAGE#img-00000000000000000000"}},
        },
    }

    from riskgate.handlers import judging

    real = judging.evaluate

    def flaky(image_id: str, **options: Any) -> Any:
        if image_id == "img-00000000000000000000":
            raise RuntimeError("boom")
        return real(image_id, **options)

    monkeypatch.setattr(judging, "evaluate", flaky)
    result = handler({"Records": [good, bad]}, FakeLambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert store.get_image(IMAGE.image_id)["evaluated_scan_id"] == "scan-1"  # type: ignore[index]


def test_the_evaluation_records_its_trigger_events_with_the_verdict(store: Store, dynamodb: Any) -> None:
    from riskgate.adapters.acceptances import AcceptanceStore

    store_scan(store, "scan-1", "2026-01-01T00:00:00.000001Z", [CRITICAL])
    assert handler({"Records": [stream_record(dynamodb, store.table_name, "1")]}, FakeLambdaContext()) == {
        "batchItemFailures": []
    }
    events = AcceptanceStore(store.table_name, client=dynamodb).list_events(None, 50, None).items
    assert sorted(event["type"] for event in events) == ["critical_vulnerabilities", "non_compliant"]
    critical = next(event for event in events if event["type"] == "critical_vulnerabilities")
    assert critical["subject"] == {"type": "image", "id": IMAGE.image_id}
    assert [finding["id"] for finding in critical["findings"]] == ["CVE-2024-1"]
    assert critical["image"]["repository"] == "acme/shop"
    # The stream delivers the same record again: the scan is judged already, nothing more is recorded.
    handler({"Records": [stream_record(dynamodb, store.table_name, "2")]}, FakeLambdaContext())
    assert len(AcceptanceStore(store.table_name, client=dynamodb).list_events(None, 50, None).items) == 2
