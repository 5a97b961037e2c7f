"""Races through the local stack with real concurrency (issue 10): writers that overlap lose nothing."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

IMAGE = "ghcr.io/race/app:1"
WRITERS = 20


def report(vulnerability_id: str) -> bytes:
    return json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": "race/app",
            "Results": [
                {
                    "Target": "os",
                    "Vulnerabilities": [
                        {
                            "VulnerabilityID": vulnerability_id,
                            "PkgName": "openssl",
                            "InstalledVersion": "1",
                            "Severity": "HIGH",
                        }
                    ],
                }
            ],
        }
    ).encode()


def get(stack: RunningStack, path: str) -> Any:
    answer = stack.request("GET", path, token=stack.admin_token)
    assert answer.status == 200, answer.body
    return answer.json()


def test_parallel_scans_of_one_image_end_on_the_newest_and_keep_every_scan(local_stack: RunningStack) -> None:
    def submit(number: int) -> tuple[str, str]:
        vulnerability = f"CVE-2026-{number:05d}"
        answer = local_stack.request(
            "POST", f"/v1/scans?image={IMAGE}", token=local_stack.admin_token, body=report(vulnerability)
        )
        assert answer.status == 201, answer.body
        return answer.json()["scan_id"], vulnerability

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        submitted = dict(pool.map(submit, range(WRITERS)))

    image_id = get(local_stack, "/v1/images?repository=race/app")["items"][0]["id"]
    scans = get(local_stack, f"/v1/images/{image_id}/scans?limit=50")["items"]
    assert sorted(scan["scan_id"] for scan in scans) == sorted(submitted)
    newest = scans[0]["scan_id"]  # newest first: the last received
    image = get(local_stack, f"/v1/images/{image_id}")
    assert image["current_scan_id"] == newest
    findings = get(local_stack, f"/v1/images/{image_id}/findings")["items"]
    assert [finding["id"] for finding in findings] == [submitted[newest]]


def send(stack: RunningStack, method: str, path: str, body: Any, version: int) -> tuple[int, Any]:
    answer = stack.request(
        method,
        path,
        token=stack.admin_token,
        body=json.dumps(body).encode(),
        headers={"If-Match": str(version), "Content-Type": "application/json"},
    )
    return answer.status, answer.json()


def without_progress(policy: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in policy.items() if name != "reevaluation"}


def audit_actions(stack: RunningStack, entity_type: str, entity_id: str) -> list[str]:
    events = get(stack, f"/v1/audit-events?entity_type={entity_type}&entity_id={entity_id}&limit=200")
    return sorted(event["action"] for event in events["items"])


def test_parallel_revoke_and_extend_of_one_version_one_wins_the_other_is_a_409(
    local_stack: RunningStack,
) -> None:
    image = "ghcr.io/race/accepted:1"
    scanned = local_stack.request(
        "POST", f"/v1/scans?image={image}", token=local_stack.admin_token, body=report("CVE-2026-77777")
    )
    assert scanned.status == 201, scanned.body
    accepted = local_stack.request(
        "POST",
        "/v1/risk-acceptances",
        token=local_stack.admin_token,
        body=json.dumps(
            {
                "finding": {"kind": "vulnerability", "id": "CVE-2026-77777"},
                "scope": {"image": scanned.json()["image_id"]},
                "period": "30d",
                "reason": "no fix deployable this sprint",
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert accepted.status == 201, accepted.body
    acceptance = accepted.json()
    path = f"/v1/risk-acceptances/{acceptance['id']}"
    changes = [("revoke", {"reason": "fixed upstream"}), ("extend", {"period": "90d"})]

    def change(which: tuple[str, dict[str, Any]]) -> tuple[str, int, Any]:
        action, body = which
        status, answer = send(local_stack, "POST", f"{path}/{action}", body, acceptance["version"])
        return action, status, answer

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(change, changes))

    statuses = sorted(status for _, status, _ in outcomes)
    assert statuses == [200, 409], outcomes
    winner = next(action for action, status, _ in outcomes if status == 200)
    final = get(local_stack, path)
    assert final["status"] == ("revoked" if winner == "revoke" else "active")
    assert final["version"] == acceptance["version"] + 1
    # The audit log shows the acceptance made and exactly one change: the winner's.
    assert audit_actions(local_stack, "risk_acceptance", acceptance["id"]) == sorted(["create", winner])


def test_parallel_edits_of_one_policy_version_one_wins_the_rest_are_409s(local_stack: RunningStack) -> None:
    created = local_stack.request(
        "POST",
        "/v1/assurance-policies",
        token=local_stack.admin_token,
        body=json.dumps({"name": "raced", "scope": "global", "conditions": {"malware": True}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert created.status == 201, created.body
    policy = created.json()
    path = f"/v1/assurance-policies/{policy['id']}"

    def edit(number: int) -> tuple[int, Any]:
        return send(local_stack, "PATCH", path, {"description": f"edit {number}"}, policy["version"])

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        outcomes = list(pool.map(edit, range(WRITERS)))

    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [200] + [409] * (WRITERS - 1), outcomes
    winner = next(answer for status, answer in outcomes if status == 200)
    # The policy is the winner's edit (its re-evaluation progress moves on by itself meanwhile).
    assert without_progress(get(local_stack, path)) == without_progress(winner)
    assert winner["version"] == policy["version"] + 1
    assert audit_actions(local_stack, "assurance_policy", policy["id"]) == ["create", "update"]
