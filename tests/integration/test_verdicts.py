"""Stored policies judge images: the POST verdict, the stream evaluator, the verdict routes for CI and
the decision records that say why a build was blocked."""

from __future__ import annotations

from typing import Any

from riskgate.adapters.policies import PolicyStore
from riskgate.adapters.store import Store
from riskgate.domain.policies import DEFAULT_POLICY_ID, DEFAULT_POLICY_NAME
from riskgate.services.evaluation import evaluate_image
from riskgate.services.policies import policies_for_images
from tests.integration.conftest import TABLE_NAME
from tests.support.api_calls import call, ok

POLICIES = "/v1/assurance-policies"
TEAM_A_IMAGE = "ghcr.io/team-a/app:1"
TEAM_B_IMAGE = "ghcr.io/team-b/app:1"
DEFAULT_V1 = {"id": DEFAULT_POLICY_ID, "version": 1, "name": DEFAULT_POLICY_NAME}


def report(name: str, package: str = "openssl", severity: str = "LOW") -> dict[str, Any]:
    return {
        "SchemaVersion": 2,
        "ArtifactName": name,
        "ArtifactType": "container_image",
        "Results": [
            {
                "Target": f"{name} (debian 12)",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-2024-1234",
                        "PkgName": package,
                        "InstalledVersion": "1.0",
                        "Severity": severity,
                    }
                ],
            }
        ],
    }


def scan(name: str, **kwargs: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ok("POST", "/v1/scans", report(name, **kwargs), 201)
    return answer


def make_scope(name: str, repository: str) -> str:
    body = {"name": name, "resources": [{"registry": "ghcr.io", "repository": repository}]}
    scope_id: str = ok("POST", "/v1/scopes", body, 201)["id"]
    return scope_id


def make_policy(scope: str = "global", **fields: Any) -> dict[str, Any]:
    body = {
        "name": "No openssl",
        "scope": scope,
        "conditions": {"packages": ["openssl*"]},
        "actions": ["block_ci"],
        **fields,
    }
    created: dict[str, Any] = ok("POST", POLICIES, body, 201)
    return created


def used(policy: dict[str, Any]) -> dict[str, Any]:
    return {"id": policy["id"], "version": policy["version"], "name": policy["name"]}


# --- the POST verdict -----------------------------------------------------------------------------


def test_a_dry_run_policy_is_reported_but_does_not_block(dynamodb: Any) -> None:
    trial = make_policy(mode="dry_run")
    verdict = scan(TEAM_A_IMAGE)["verdict"]
    assert (verdict["status"], verdict["block"], verdict["reasons"]) == ("compliant", False, [])
    [would] = verdict["dry_run"]
    assert (would["policy_id"], would["condition"], would["would_block"]) == (trial["id"], "packages", True)
    assert would["findings"][0]["package"] == "openssl"


def test_a_team_policy_blocks_only_that_teams_images(dynamodb: Any) -> None:
    team_a = make_scope("team-a", "team-a/*")
    rule = make_policy(team_a)

    blocked = scan(TEAM_A_IMAGE)["verdict"]
    assert (blocked["status"], blocked["block"]) == ("non_compliant", True)
    [reason] = blocked["reasons"]
    assert (reason["policy_id"], reason["policy_name"], reason["condition"]) == (
        rule["id"],
        rule["name"],
        "packages",
    )
    assert reason["policy_version"] == 1
    assert [f["id"] for f in reason["findings"]] == ["CVE-2024-1234"]

    other = scan(TEAM_B_IMAGE)["verdict"]
    assert (other["status"], other["block"], other["reasons"]) == ("compliant", False, [])


def test_a_disabled_or_deleted_default_policy_no_longer_blocks_critical_findings(dynamodb: Any) -> None:
    assert scan(TEAM_A_IMAGE, severity="CRITICAL")["verdict"]["block"] is True
    ok("PATCH", f"{POLICIES}/{DEFAULT_POLICY_ID}", {"enabled": False})
    assert scan(TEAM_A_IMAGE, severity="CRITICAL")["verdict"]["status"] == "compliant"
    ok("DELETE", f"{POLICIES}/{DEFAULT_POLICY_ID}", status=204)
    assert scan(TEAM_A_IMAGE, severity="CRITICAL")["verdict"]["status"] == "compliant"


# --- the verdict routes ---------------------------------------------------------------------------


def test_the_verdict_by_id_and_by_reference(dynamodb: Any) -> None:
    team_a = make_scope("team-a", "team-a/*")
    rule = make_policy(team_a)
    posted = scan(TEAM_A_IMAGE)
    image_id = posted["image_id"]

    by_id = ok("GET", f"/v1/images/{image_id}/verdict")
    by_ref = ok("GET", "/v1/verdict", query={"image": TEAM_A_IMAGE})
    assert by_id == by_ref
    assert by_id["image_id"] == image_id
    assert by_id["image_reference"] == TEAM_A_IMAGE
    assert by_id["scan_id"] == posted["scan_id"]
    for field in ("status", "block", "reasons", "dry_run"):
        assert by_id[field] == posted["verdict"][field]
    assert by_id["policies"] == [DEFAULT_V1, used(rule)]
    assert by_id["acceptances"] == []
    assert by_id["evaluated_at"]


def test_unknown_and_outside_images_have_no_verdict(dynamodb: Any) -> None:
    team_b = make_scope("team-b", "team-b/*")
    image_id = scan(TEAM_A_IMAGE)["image_id"]
    outsider = [{"role": "developer", "scope": team_b}]

    assert call("GET", "/v1/images/img-00000000000000000000/verdict")[0] == 404
    assert call("GET", "/v1/verdict", query={"image": "ghcr.io/team-a/app:2"})[0] == 404
    assert call("GET", "/v1/verdict", query={"image": "ghcr.io/team-a/app@sha256:" + "b" * 64})[0] == 404
    assert call("GET", "/v1/verdict", query={"image": "Not A Reference"})[0] == 422
    assert call("GET", f"/v1/images/{image_id}/verdict", as_=outsider)[0] == 404
    assert call("GET", "/v1/verdict", query={"image": TEAM_A_IMAGE}, as_=outsider)[0] == 404
    assert call("GET", f"/v1/images/{image_id}/verdicts", as_=outsider)[0] == 404


def test_the_verdict_follows_a_policy_change_before_any_reevaluation(dynamodb: Any) -> None:
    image_id = scan(TEAM_A_IMAGE)["image_id"]
    assert ok("GET", f"/v1/images/{image_id}/verdict")["block"] is False

    rule = make_policy()
    now = ok("GET", f"/v1/images/{image_id}/verdict")
    assert (now["status"], now["block"]) == ("non_compliant", True)
    assert now["policies"] == [DEFAULT_V1, used(rule)]
    # The scan's own decision record still says what the pipeline was told then.
    [record] = ok("GET", f"/v1/images/{image_id}/verdicts")["items"]
    assert (record["block"], record["policies"]) == (False, [DEFAULT_V1])


# --- decision records -----------------------------------------------------------------------------


def test_decision_records_keep_each_verdict_with_the_policy_versions_it_used(dynamodb: Any) -> None:
    rule = make_policy(mode="dry_run")
    first = scan(TEAM_A_IMAGE)
    changed = ok("PATCH", f"{POLICIES}/{rule['id']}", {"mode": "enforce"})
    second = scan(TEAM_A_IMAGE)
    image_id = first["image_id"]

    newest, older = ok("GET", f"/v1/images/{image_id}/verdicts")["items"]
    assert (newest["scan_id"], older["scan_id"]) == (second["scan_id"], first["scan_id"])
    assert older["policies"] == [DEFAULT_V1, used(rule)]
    assert (older["status"], older["block"], len(older["dry_run"])) == ("compliant", False, 1)
    assert newest["policies"] == [DEFAULT_V1, used(changed)]
    assert (newest["status"], newest["block"], newest["reasons"][0]["policy_version"]) == (
        "non_compliant",
        True,
        2,
    )
    assert newest["acceptances"] == older["acceptances"] == []
    assert newest["submitted_by"] == "admin"

    page = ok("GET", f"/v1/images/{image_id}/verdicts", query={"limit": "1"})
    assert [r["scan_id"] for r in page["items"]] == [second["scan_id"]]
    rest = ok(
        "GET", f"/v1/images/{image_id}/verdicts", query={"limit": "1", "next_token": page["next_token"]}
    )
    assert [r["scan_id"] for r in rest["items"]] == [first["scan_id"]]
    # The scan history shows the same inputs.
    scans = ok("GET", f"/v1/images/{image_id}/scans")["items"]
    assert scans[0]["policies"] == newest["policies"]
    assert scans[0]["acceptances"] == []


# --- the evaluator --------------------------------------------------------------------------------


def test_the_evaluator_uses_the_stored_policies_and_force_judges_again(dynamodb: Any, store: Store) -> None:
    image_id = scan(TEAM_A_IMAGE)["image_id"]
    policies = PolicyStore(TABLE_NAME, client=dynamodb)

    first = evaluate_image(store, image_id, policies_for=policies_for_images(policies))
    assert first is not None
    assert (first.status, first.stored) == ("compliant", True)
    rule = make_policy()
    # The stream's case: this scan was judged already.
    assert evaluate_image(store, image_id, policies_for=policies_for_images(policies)) is None

    again = evaluate_image(store, image_id, policies_for=policies_for_images(policies), force=True)
    assert again is not None
    assert (again.status, again.stored) == ("non_compliant", True)
    summary = store.get_image(image_id)
    assert summary is not None
    assert summary["status"] == "non_compliant"
    assert summary["policies"] == [DEFAULT_V1, used(rule)]
    assert summary["acceptances"] == []
    # Judged with the policies in force: the verdict route answers from the stored verdict.
    verdict = ok("GET", f"/v1/images/{image_id}/verdict")
    assert verdict["evaluated_at"] == summary["evaluated_at"]
    assert verdict["block"] is True
