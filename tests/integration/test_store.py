"""The DynamoDB store against moto: atomic replacement, ordering, request counts, pagination."""

from __future__ import annotations

from typing import Any

import pytest

from riskgate.adapters.dynamo import decode_page_token
from riskgate.adapters.store import Store
from riskgate.domain.errors import MalformedInput
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import parse_image_reference

IMAGE = parse_image_reference("ghcr.io/acme/shop:1.4")


def findings(n: int, prefix: str = "CVE-2024-") -> list[Finding]:
    return [
        Finding(
            FindingKind.VULNERABILITY,
            f"{prefix}{i:05d}",
            Severity.MEDIUM,
            package=f"pkg{i}",
            installed_version="1",
        )
        for i in range(n)
    ]


def save(store: Store, scan_id: str, received_at: str, items: list[Finding]) -> bool:
    return store.save_scan(
        scan={"scan_id": scan_id, "received_at": received_at},
        image=IMAGE,
        findings=items,
        image_summary={"status": "compliant"},
    ).became_current


def test_an_older_scan_arriving_late_does_not_replace_the_newer_one(store: Store) -> None:
    assert save(store, "scan-new", "2026-01-01T00:00:02.000000Z", findings(2)) is True
    # A slower writer that received its report earlier finishes last
    assert save(store, "scan-old", "2026-01-01T00:00:01.000000Z", findings(5)) is False
    image = store.get_image(IMAGE.image_id)
    assert image is not None
    assert image["current_scan_id"] == "scan-new"
    assert len(list(store.iter_findings("scan-new"))) == 2
    # Both scans stay listable, newest first
    page = store.list_scans(IMAGE.image_id, 10, None)
    assert [s["scan_id"] for s in page.items] == ["scan-new", "scan-old"]


def test_write_requests_stay_within_the_budget(store: Store, dynamodb: Any) -> None:
    calls: list[str] = []
    for name in ("put-item", "batch-write-item", "transact-write-items", "update-item"):
        event = f"before-call.dynamodb.{''.join(p.capitalize() for p in name.split('-'))}"
        dynamodb.meta.events.register(event, lambda name=name, **_: calls.append(name))
    n = 1509
    save(store, "scan-1", "2026-01-01T00:00:00.000000Z", findings(n))
    assert len(calls) <= -(-n // 25) + 5
    assert calls.count("transact-write-items") == 1


def test_tag_pointer_follows_the_latest_scan(store: Store) -> None:
    save(store, "scan-1", "2026-01-01T00:00:00.000000Z", [])
    assert store.image_for_tag(IMAGE) == IMAGE.image_id


def test_page_tokens_round_trip_and_reject_garbage(store: Store) -> None:
    for i in range(3):
        store.save_scan(
            scan={"scan_id": f"scan-{i}", "received_at": f"2026-01-01T00:00:0{i}.000000Z"},
            image=parse_image_reference(f"ghcr.io/acme/svc{i}:1"),
            findings=[],
            image_summary={"status": "compliant"},
        )
    first = store.list_images(None, None, 2, None)
    assert len(first.items) == 2
    assert first.next_token
    second = store.list_images(None, None, 2, first.next_token)
    assert len(second.items) == 1
    assert {i["image_id"] for i in first.items + second.items} == {
        parse_image_reference(f"ghcr.io/acme/svc{i}:1").image_id for i in range(3)
    }
    for garbage in ("%%%", "eyJ9", "W10", "eyJwayI6IDF9"):
        with pytest.raises(MalformedInput):
            decode_page_token(garbage)
