"""Re-scans that changed nothing cost almost nothing, and replaced findings expire (issue 13, points 2-4):
through the API handler and the store against moto, with the real 1,509-finding Grype report."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from riskgate.adapters.dynamo import from_item, to_item
from riskgate.adapters.store import Store, current_findings, default_store, findings_digest
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import findings_scan_id, parse_image_reference
from riskgate.handlers.api import handler
from riskgate.handlers.findings_retirer import handler as retirer
from riskgate.resources import DEFAULT_FINDINGS_RETENTION_DAYS, TABLE
from tests.integration.conftest import TABLE_NAME
from tests.support.events import FakeLambdaContext, api_event, response_json

CONTEXT: Any = FakeLambdaContext()
GRYPE = Path("grype") / "dd_python-3.6_grype-0.7.json"
IMAGE = "registry.example.com/team/python:3.6"
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def post(body: bytes, key: str, image: str = IMAGE) -> dict[str, Any]:
    event = api_event(
        "POST", "/v1/scans", body=body, query={"image": image}, headers={"Idempotency-Key": key}
    )
    response = handler(event, CONTEXT)
    assert response["statusCode"] == 201, response.get("body", "")[:500]
    answer: dict[str, Any] = response_json(response)
    return answer


def get(path: str, **query: str) -> Any:
    response = handler(api_event("GET", path, query=query or None), CONTEXT)
    assert response["statusCode"] == 200, response.get("body")
    return response_json(response)


@contextmanager
def counted() -> Iterator[Counter[str]]:
    """DynamoDB requests made by the functions' own client meanwhile, by operation."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    events = default_store().client.meta.events
    events.register("before-call.dynamodb.*", count, unique_id="findings-sets-counter")
    try:
        yield calls
    finally:
        events.unregister("before-call.dynamodb.*", unique_id="findings-sets-counter")


def partition(dynamodb: Any, scan_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": TABLE_NAME,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": f"SCAN#{scan_id}"}},
    }
    while True:
        page = dynamodb.query(**kwargs)
        items += [from_item(item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def image_item(dynamodb: Any, image_id: str) -> dict[str, Any]:
    item = dynamodb.get_item(TableName=TABLE_NAME, Key=to_item({"pk": f"IMAGE#{image_id}", "sk": "META"}))
    return from_item(item["Item"])


def stream_modify(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The record the table's stream gives the retirer when an image summary changes."""
    return {
        "Records": [
            {
                "eventID": "1",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": to_item({"pk": new["pk"], "sk": "META"}),
                    "OldImage": to_item(old),
                    "NewImage": to_item(new),
                    "SequenceNumber": "1",
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/riskgate-test/stream/x",
            }
        ]
    }


def test_a_rescan_that_changed_nothing_writes_three_requests(dynamodb: Any, scanner_fixtures: Path) -> None:
    body = (scanner_fixtures / GRYPE).read_bytes()
    first = post(body, "first")
    stored = len(partition(dynamodb, first["scan_id"]))
    assert stored == sum(first["counts"]["vulnerabilities"].values()) == 1509
    # When the same report is posted again (another build, nothing changed)
    with counted() as calls:
        second = post(body, "second")
    writes = {name: n for name, n in calls.items() if name in WRITES}
    # Then the scan record and the summary go in one transaction; the idempotency record is the rest
    assert sum(writes.values()) <= 3, writes
    assert writes.get("BatchWriteItem", 0) == 0, writes
    assert writes.get("TransactWriteItems") == 1, writes
    assert partition(dynamodb, second["scan_id"]) == []
    assert second["verdict"] == first["verdict"]
    # And every read still shows the findings: the image, its findings, history, the vulnerability view
    image_id = second["image_id"]
    image = get(f"/v1/images/{image_id}")
    assert image["current_scan_id"] == second["scan_id"]
    findings = get(f"/v1/images/{image_id}/findings", limit="200")
    assert len(findings["items"]) == 200
    assert findings["next_token"]
    scans = get(f"/v1/images/{image_id}/scans")
    assert [s["scan_id"] for s in scans["items"]] == [second["scan_id"], first["scan_id"]]
    some_vulnerability = findings["items"][0]["id"]
    affected = get(f"/v1/vulnerabilities/{some_vulnerability}/images")
    assert [row["image_id"] for row in affected["items"]] == [image_id]
    verdict = get(f"/v1/images/{image_id}/verdict")
    assert verdict["status"] == first["verdict"]["status"]


def test_changed_findings_are_written_and_the_replaced_ones_expire(
    dynamodb: Any, scanner_fixtures: Path
) -> None:
    body = json.loads((scanner_fixtures / GRYPE).read_bytes())
    first = post(json.dumps(body).encode(), "first")
    before = image_item(dynamodb, first["image_id"])
    # A build that fixed one package: different findings
    body["matches"] = body["matches"][1:]
    second = post(json.dumps(body).encode(), "second")
    assert len(partition(dynamodb, second["scan_id"])) == 1508
    after = image_item(dynamodb, first["image_id"])
    assert after["current_findings_scan_id"] == second["scan_id"]
    # When the stream hands the summary's change to the retirer
    moment = int(time.time())
    assert retirer(stream_modify(before, after), CONTEXT) == {"batchItemFailures": []}
    # Then the replaced findings carry the TTL, 90 days out; the current ones do not
    retired = partition(dynamodb, first["scan_id"])
    assert len(retired) == 1509
    expiry = {item[TABLE.ttl_attribute] for item in retired}
    assert len(expiry) == 1
    assert abs(expiry.pop() - (moment + DEFAULT_FINDINGS_RETENTION_DAYS * 86_400)) < 60
    assert all(TABLE.ttl_attribute not in item for item in partition(dynamodb, second["scan_id"]))
    # A redelivered record writes nothing more
    with counted() as calls:
        retirer(stream_modify(before, after), CONTEXT)
    assert calls["BatchWriteItem"] == 0
    # The scan records stay
    scans = get(f"/v1/images/{first['image_id']}/scans")
    assert [s["scan_id"] for s in scans["items"]] == [second["scan_id"], first["scan_id"]]


def test_an_evaluation_or_a_shared_rescan_retires_nothing(dynamodb: Any, scanner_fixtures: Path) -> None:
    body = (scanner_fixtures / GRYPE).read_bytes()
    first = post(body, "first")
    before = image_item(dynamodb, first["image_id"])
    post(body, "second")
    after = image_item(dynamodb, first["image_id"])
    with counted() as calls:
        retirer(stream_modify(before, after), CONTEXT)
    assert calls["BatchWriteItem"] == 0
    assert calls["Query"] == 0
    assert all(TABLE.ttl_attribute not in item for item in partition(dynamodb, first["scan_id"]))


# --- the store: concurrency and items written before digests ------------------------------------------

REF = parse_image_reference("ghcr.io/acme/shop:1.4")


def findings(n: int, prefix: str = "CVE-2024-") -> list[Finding]:
    return [
        Finding(
            FindingKind.VULNERABILITY,
            f"{prefix}{i:05d}",
            Severity.HIGH,
            package=f"p{i}",
            installed_version="1",
        )
        for i in range(n)
    ]


def save(store: Store, scan_id: str, at: str, items: list[Finding]) -> Any:
    current = store.get_image(REF.image_id)
    return store.save_scan(
        scan={"scan_id": scan_id, "received_at": at},
        image=REF,
        findings=items,
        image_summary={"status": "non_compliant"},
        known_findings=current_findings(current),
    )


def test_the_digest_is_the_set_not_the_order() -> None:
    items = findings(30)
    assert findings_digest(items) == findings_digest(list(reversed(items)))
    assert findings_digest(items) != findings_digest(items[1:])
    changed = [*items[:-1], Finding(FindingKind.VULNERABILITY, items[-1].finding_id, Severity.CRITICAL)]
    assert findings_digest(items) != findings_digest(changed)


def test_sharing_findings_replaced_meanwhile_writes_its_own(store: Store, dynamodb: Any) -> None:
    save(store, "scan-1", "2026-01-01T00:00:01.000000Z", findings(40))
    known = store.get_image(REF.image_id)
    # Another writer stores different findings between our read and our transaction
    save(store, "scan-2", "2026-01-01T00:00:02.000000Z", findings(3, "GHSA-"))
    stored = store.save_scan(
        scan={"scan_id": "scan-3", "received_at": "2026-01-01T00:00:03.000000Z"},
        image=REF,
        findings=findings(40),
        image_summary={"status": "non_compliant"},
        known_findings=current_findings(known),
    )
    # Then ours became current with findings of its own, not the partition that was replaced
    assert stored.became_current
    assert stored.findings_written == 40
    image = store.get_image(REF.image_id)
    assert image is not None
    assert image["current_findings_scan_id"] == "scan-3"
    assert len(list(store.iter_findings("scan-3"))) == 40


def test_a_late_scan_kept_as_history_retires_the_findings_it_wrote(store: Store, dynamodb: Any) -> None:
    save(store, "scan-new", "2026-01-01T00:00:02.000000Z", findings(2))
    stored = save(store, "scan-old", "2026-01-01T00:00:01.000000Z", findings(5))
    assert not stored.became_current
    assert {TABLE.ttl_attribute in item for item in partition(dynamodb, "scan-old")} == {True}
    assert {TABLE.ttl_attribute in item for item in partition(dynamodb, "scan-new")} == {False}


def test_items_written_before_digests_stay_readable(store: Store, dynamodb: Any) -> None:
    # Given an image stored the old way: no digest, its findings under its current scan's partition
    save(store, "scan-1", "2026-01-01T00:00:01.000000Z", findings(7))
    dynamodb.update_item(
        TableName=TABLE_NAME,
        Key=to_item({"pk": f"IMAGE#{REF.image_id}", "sk": "META"}),
        UpdateExpression="REMOVE current_findings_scan_id, current_findings_digest",
    )
    image = store.get_image(REF.image_id)
    assert image is not None
    assert findings_scan_id(image) == "scan-1"
    assert len(list(store.iter_findings(findings_scan_id(image) or ""))) == 7
    # A re-scan cannot know it found the same: it writes, and the next one shares
    assert save(store, "scan-2", "2026-01-01T00:00:02.000000Z", findings(7)).findings_written == 7
    assert save(store, "scan-3", "2026-01-01T00:00:03.000000Z", findings(7)).findings_written == 0


@pytest.mark.parametrize("days", [1, 30])
def test_the_retention_period_is_the_one_given(store: Store, dynamodb: Any, days: int) -> None:
    save(store, "scan-1", "2026-01-01T00:00:01.000000Z", findings(3))
    assert store.retire_findings("scan-1", 1_000_000, days) == 3
    assert {item[TABLE.ttl_attribute] for item in partition(dynamodb, "scan-1")} == {
        1_000_000 + days * 86_400
    }
