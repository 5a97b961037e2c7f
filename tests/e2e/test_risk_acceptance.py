"""Risk acceptance end to end through `make run`'s stack over HTTP, on real reports: accept, revoke,
accept again, let 31 days pass through the expiry checker, and watch the image follow; repository and
`all` scopes reaching images scanned later; concurrent changes of one acceptance.

The stream pollers, the re-evaluation planner and queue and the expiry checker are the real ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import HttpResult, RunningStack

pytestmark = pytest.mark.e2e

TRIVY_ALPINE = "trivy/ci_alpine-3.10_trivy-0.72.json"  # alpine:3.10, one critical vulnerability
ALPINE_CRITICAL = "CVE-2021-36159"
TRIVY_BUSTER = "trivy/golden_debian-buster.json"  # debian buster, one critical vulnerability
WAIT_SECONDS = 30


def call(stack: RunningStack, method: str, path: str, body: Any = None) -> HttpResult:
    data = json.dumps(body).encode() if body is not None else None
    return stack.request(method, path, token=stack.admin_token, body=data)


def submit(stack: RunningStack, scanner_fixtures: Path, report: str, image: str) -> dict[str, Any]:
    result = stack.request(
        "POST",
        f"/v1/scans?image={image}",
        token=stack.admin_token,
        body=(scanner_fixtures / report).read_bytes(),
    )
    assert result.status == 201, result.body
    return dict(result.json())


def status_of(stack: RunningStack, image_id: str) -> str:
    return str(call(stack, "GET", f"/v1/images/{image_id}").json()["status"])


def wait_until(what: str, check: Callable[[], bool], stack: RunningStack) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {WAIT_SECONDS} s{stack.log_tail()}")
        time.sleep(0.2)


def accept(
    stack: RunningStack, finding_id: str, scope: dict[str, Any], period: str = "30d"
) -> dict[str, Any]:
    result = call(
        stack,
        "POST",
        "/v1/risk-acceptances",
        {
            "finding": {"kind": "vulnerability", "id": finding_id},
            "scope": scope,
            "period": period,
            "reason": "not reachable from outside; fix scheduled with the base image upgrade",
        },
    )
    assert result.status == 201, result.body
    return dict(result.json())


def critical_ids(stack: RunningStack, image_id: str) -> list[str]:
    page = call(
        stack, "GET", f"/v1/images/{image_id}/findings?kind=vulnerability&severity=critical&limit=200"
    )
    return sorted({finding["id"] for finding in page.json()["items"]})


def test_the_whole_lifecycle_of_an_image_scope_acceptance(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    scan = submit(local_stack, scanner_fixtures, TRIVY_ALPINE, "registry.example/e2e/lifecycle:3.10")
    image_id = scan["image_id"]
    assert scan["verdict"]["status"] == "non_compliant"
    assert critical_ids(local_stack, image_id) == [ALPINE_CRITICAL]

    first = accept(local_stack, ALPINE_CRITICAL, {"image": image_id})
    assert first["status"] == "active"
    assert status_of(local_stack, image_id) == "compliant"  # before the POST returned
    findings = call(
        local_stack, "GET", f"/v1/images/{image_id}/findings?severity=critical&kind=vulnerability"
    )
    [critical] = findings.json()["items"]
    assert critical["accepted"]["acceptance_id"] == first["id"]
    assert call(local_stack, "GET", f"/v1/images/{image_id}").json()["counts"]["accepted"] == 1

    revoked = call(
        local_stack, "POST", f"/v1/risk-acceptances/{first['id']}/revoke", {"reason": "exploit seen"}
    )
    assert revoked.status == 200, revoked.body
    assert revoked.json()["status"] == "revoked"
    assert status_of(local_stack, image_id) == "non_compliant"
    assert call(local_stack, "POST", f"/v1/risk-acceptances/{first['id']}/revoke", {}).status == 409

    second = accept(local_stack, ALPINE_CRITICAL, {"image": image_id}, period="30d")
    assert status_of(local_stack, image_id) == "compliant"
    expires_at = datetime.fromisoformat(second["expires_at"].replace("Z", "+00:00"))

    as_of = (expires_at + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = local_stack.request("POST", "/_local/expiry-check", body=json.dumps({"as_of": as_of}).encode())
    assert run.status == 200, run.body
    assert run.json()["expired"] >= 1
    shown = call(local_stack, "GET", f"/v1/risk-acceptances/{second['id']}").json()
    assert shown["status"] == "expired"
    assert shown["ended_reason"] == "period ended"
    # The expiry goes through the stream: planner → work queue → re-evaluator.
    wait_until(
        "the image's re-evaluation", lambda: status_of(local_stack, image_id) == "non_compliant", local_stack
    )

    again = local_stack.request("POST", "/_local/expiry-check", body=json.dumps({"as_of": as_of}).encode())
    assert again.status == 200
    events = call(local_stack, "GET", "/v1/events?type=risk_acceptance_expiration&limit=200").json()["items"]
    mine = [event for event in events if event["acceptance"]["id"] == second["id"]]
    assert len(mine) == 1
    assert mine[0]["acceptance"]["reason"] == second["reason"]
    first_shown = call(local_stack, "GET", f"/v1/risk-acceptances/{first['id']}").json()
    assert first_shown["status"] == "revoked"  # history is kept


def test_a_repository_acceptance_covers_images_scanned_before_and_after(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    before = submit(local_stack, scanner_fixtures, TRIVY_ALPINE, "registry.example/e2e/repo-scope:1")
    assert before["verdict"]["status"] == "non_compliant"

    accepted = accept(
        local_stack, ALPINE_CRITICAL, {"repository": "registry.example/e2e/repo-scope"}, period="indefinite"
    )
    assert accepted["expires_at"] is None

    later = submit(local_stack, scanner_fixtures, TRIVY_ALPINE, "registry.example/e2e/repo-scope:2")
    assert later["verdict"]["status"] == "compliant"  # honoured by the scan itself
    wait_until(
        "the earlier image's re-evaluation",
        lambda: status_of(local_stack, before["image_id"]) == "compliant",
        local_stack,
    )
    elsewhere = submit(local_stack, scanner_fixtures, TRIVY_ALPINE, "registry.example/e2e/other-repo:1")
    assert elsewhere["verdict"]["status"] == "non_compliant"


def test_an_acceptance_of_all_images_reaches_every_image_with_the_finding(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    first = submit(local_stack, scanner_fixtures, TRIVY_BUSTER, "registry.example/e2e/all-a:1")
    ids = critical_ids(local_stack, first["image_id"])
    assert ids == ["CVE-2019-18224"]
    assert first["verdict"]["status"] == "non_compliant"

    for finding_id in ids:
        accepted = accept(local_stack, finding_id, {"all": True}, period="indefinite")
        assert accepted["scope"]["within"] == ["global"]

    wait_until(
        "the existing image's re-evaluation",
        lambda: status_of(local_stack, first["image_id"]) == "compliant",
        local_stack,
    )
    second = submit(local_stack, scanner_fixtures, TRIVY_BUSTER, "registry.example/e2e/all-b:7")
    assert second["verdict"]["status"] == "compliant"


def test_concurrent_extends_and_revokes_of_one_acceptance_end_consistent(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    scan = submit(local_stack, scanner_fixtures, TRIVY_ALPINE, "registry.example/e2e/contended:1")
    acceptance = accept(local_stack, ALPINE_CRITICAL, {"image": scan["image_id"]})
    path = f"/v1/risk-acceptances/{acceptance['id']}"
    until = datetime.now(UTC) + timedelta(days=40)

    def change(number: int) -> tuple[str, int]:
        if number % 2:
            return "revoke", call(local_stack, "POST", f"{path}/revoke", {"reason": f"call {number}"}).status
        moment = (until + timedelta(hours=number)).strftime("%Y-%m-%dT%H:%M:%SZ")
        extended = call(local_stack, "POST", f"{path}/extend", {"period": "custom", "expires_at": moment})
        return "extend", extended.status

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(change, range(20)))

    assert {status for _, status in outcomes} <= {200, 409, 422}
    revokes = [status for kind, status in outcomes if kind == "revoke"]
    assert revokes.count(200) == 1
    extends = sum(1 for kind, status in outcomes if kind == "extend" and status == 200)
    final = call(local_stack, "GET", path).json()
    assert final["status"] == "revoked"
    assert final["version"] == 1 + extends + 1
    audit = call(
        local_stack,
        "GET",
        f"/v1/audit-events?entity_type=risk_acceptance&entity_id={acceptance['id']}&limit=200",
    ).json()["items"]
    actions = sorted(event["action"] for event in audit)
    assert actions == sorted(["create", "revoke"] + ["extend"] * extends)
    assert status_of(local_stack, scan["image_id"]) == "non_compliant"
