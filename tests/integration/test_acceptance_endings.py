"""How acceptances end, against moto with the real handlers: the expiry checker (scheduled event time as
"now", reminders once, a repeated run writing nothing) and an until-fixed acceptance ended by the stream
evaluator when a later scan of its image shows the fix."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from riskgate.clock import iso, parse_iso
from riskgate.handlers.evaluator import handler as evaluator
from riskgate.handlers.expiry_checker import handler as expiry_checker
from tests.integration.conftest import TABLE_NAME
from tests.support.api_calls import CONTEXT, ok
from tests.support.events import FakeLambdaContext, api_event

# Trivy's golden of debian buster (no image name: each scan says which one): CVE-2019-18276 in bash is
# low and has no fix in the report.
BUSTER = "trivy/golden_debian-buster.json"
UNFIXED = "CVE-2019-18276"
IMAGE = "ghcr.io/team-a/app:1"


def scan(body: bytes) -> dict[str, Any]:
    from riskgate.handlers.api import handler

    response = handler(api_event("POST", "/v1/scans", body=body, query={"image": IMAGE}), CONTEXT)
    answer: dict[str, Any] = json.loads(response["body"])
    assert response["statusCode"] == 201, answer
    return answer


def accept(image_id: str, period: str, **extra: Any) -> dict[str, Any]:
    body = {
        "finding": {"kind": "vulnerability", "id": UNFIXED},
        "scope": {"image": image_id},
        "period": period,
        "reason": "bash is not used at run time",
        **extra,
    }
    created: dict[str, Any] = ok("POST", "/v1/risk-acceptances", body, 201)
    return created


def events(event_type: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok("GET", "/v1/events", query={"type": event_type, "limit": "200"})["items"]
    return items


def run_checker(moment: str) -> dict[str, Any]:
    result: dict[str, Any] = expiry_checker(
        {"source": "riskgate.scheduler", "detail-type": "Scheduled Event", "time": moment},
        FakeLambdaContext(),
    )
    return result


def test_the_checker_expires_once_and_reminds_once(dynamodb: Any, scanner_fixtures: Path) -> None:
    image_id = scan((scanner_fixtures / BUSTER).read_bytes())["image_id"]
    acceptance = accept(image_id, "30d")
    ends = parse_iso(acceptance["expires_at"])

    assert run_checker(iso(ends - timedelta(days=8)))["reminded"] == 0
    week = run_checker(iso(ends - timedelta(days=6)))
    assert week["reminded"] == 1  # the 7-day reminder; the 1-day one is not due yet
    assert run_checker(iso(ends - timedelta(days=6)))["reminded"] == 0  # once
    [reminder] = events("risk_acceptance_expiring")
    assert reminder["days"] == 7
    assert reminder["acceptance"]["id"] == acceptance["id"]
    assert reminder["acceptance"]["reason"] == "bash is not used at run time"

    before = run_checker(iso(ends - timedelta(seconds=1)))
    assert (before["expired"], before["reminded"]) == (0, 1)  # the 1-day reminder
    assert ok("GET", f"/v1/risk-acceptances/{acceptance['id']}")["status"] == "active"
    after = run_checker(iso(ends + timedelta(minutes=1)))
    assert after["expired"] == 1
    assert run_checker(iso(ends + timedelta(minutes=2)))["expired"] == 0  # a repeated run writes nothing

    shown = ok("GET", f"/v1/risk-acceptances/{acceptance['id']}")
    assert shown["status"] == "expired"
    assert shown["ended_reason"] == "period ended"
    [expiration] = events("risk_acceptance_expiration")
    assert expiration["acceptance"]["id"] == acceptance["id"]
    assert expiration["acceptance"]["expires_at"] == acceptance["expires_at"]
    assert sorted(event["days"] for event in events("risk_acceptance_expiring")) == [1, 7]
    audit = ok(
        "GET", "/v1/audit-events", query={"entity_type": "risk_acceptance", "entity_id": acceptance["id"]}
    )
    assert sorted(event["action"] for event in audit["items"]) == ["create", "expire"]


def test_an_until_fixed_acceptance_ends_when_a_scan_shows_the_fix(
    dynamodb: Any, scanner_fixtures: Path
) -> None:
    report = json.loads((scanner_fixtures / BUSTER).read_bytes().decode("utf-8-sig"))
    image_id = scan(json.dumps(report).encode())["image_id"]
    acceptance = accept(image_id, "until_fixed")
    assert acceptance["expires_at"] is None
    accepted = ok(
        "GET", f"/v1/images/{image_id}/findings", query={"severity": "low", "kind": "vulnerability"}
    )
    assert {f["id"]: f["accepted"] is not None for f in accepted["items"]}[UNFIXED] is True

    # The same image scanned again once the distribution shipped a fix for the accepted CVE.
    patched = 0
    for result in report["Results"]:
        for vulnerability in result.get("Vulnerabilities") or []:
            if vulnerability["VulnerabilityID"] == UNFIXED:
                vulnerability["FixedVersion"] = "5.0-4+deb10u1"
                patched += 1
    assert patched >= 1
    rescan = scan(json.dumps(report).encode())
    findings = ok(
        "GET", f"/v1/images/{image_id}/findings", query={"severity": "low", "kind": "vulnerability"}
    )
    assert {f["id"]: f["accepted"] for f in findings["items"]}[UNFIXED] is None  # the fix ends it at once
    assert rescan["counts"]["accepted"] == 0

    item = dynamodb.get_item(
        TableName=TABLE_NAME, Key={"pk": {"S": f"IMAGE#{image_id}"}, "sk": {"S": "META"}}
    )
    record = {
        "eventID": "1",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": item["Item"]["pk"], "sk": item["Item"]["sk"]},
            "NewImage": item["Item"],
            "SequenceNumber": "1",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE_NAME}/stream/x",
    }
    assert evaluator({"Records": [record]}, FakeLambdaContext()) == {"batchItemFailures": []}

    shown = ok("GET", f"/v1/risk-acceptances/{acceptance['id']}")
    assert shown["status"] == "expired"
    assert shown["ended_reason"] == "fix available"
    [expiration] = events("risk_acceptance_expiration")
    assert expiration["ended_reason"] == "fix available"
