"""An image is one digest reachable by many tags: a caller changes it only when every one of its names
lies in the caller's scopes (issue 16, point 1). Two teams share one repository, split by tag."""

from __future__ import annotations

import json
from typing import Any

import pytest

from riskgate.adapters.store import Store
from riskgate.domain.errors import PermissionDenied
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import parse_image_reference
from tests.support.api_calls import call, ok

REPOSITORY = "ghcr.io/shared/app"
DIGEST_B = "sha256:" + "b" * 64
DIGEST_A = "sha256:" + "a" * 64


def report(vulnerability: str) -> dict[str, Any]:
    return {
        "SchemaVersion": 2,
        "ArtifactName": "shared/app",
        "Results": [
            {
                "Target": "os",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": vulnerability,
                        "PkgName": "openssl",
                        "InstalledVersion": "1",
                        "Severity": "CRITICAL",
                    }
                ],
            }
        ],
    }


@pytest.fixture
def teams(dynamodb: Any) -> dict[str, list[dict[str, str]]]:
    """CI and developer bindings of two teams scoped by tag on one repository."""
    bindings: dict[str, list[dict[str, str]]] = {}
    for team in ("a", "b"):
        scope = ok(
            "POST",
            "/v1/scopes",
            {
                "name": f"tag-{team}",
                "resources": [{"registry": "ghcr.io", "repository": "shared/app", "tag": f"{team}-*"}],
            },
            201,
        )["id"]
        bindings[f"ci-{team}"] = [{"role": "ci_pipeline", "scope": scope}]
        bindings[f"dev-{team}"] = [{"role": "developer", "scope": scope}]
    return bindings


def submit(image: str, body: dict[str, Any], as_: list[dict[str, str]] | None) -> tuple[int, Any]:
    return call("POST", "/v1/scans", body, as_=as_, query={"image": image})


def test_a_team_cannot_take_over_another_teams_image_by_its_digest(teams: dict[str, Any]) -> None:
    status, theirs = submit(f"{REPOSITORY}:b-1@{DIGEST_B}", report("CVE-2026-0001"), teams["ci-b"])
    assert status == 201, theirs
    image_id = theirs["image_id"]
    before = ok("GET", f"/v1/images/{image_id}")

    status, answer = submit(f"{REPOSITORY}:a-1@{DIGEST_B}", report("CVE-2026-9999"), teams["ci-a"])

    assert status == 403, answer
    assert "b-1" not in json.dumps(answer)
    after = ok("GET", f"/v1/images/{image_id}")
    assert after == before  # same current scan, tags, findings counts, verdict
    assert [s["scan_id"] for s in ok("GET", f"/v1/images/{image_id}/scans")["items"]] == [theirs["scan_id"]]
    for path in (f"/v1/images/{image_id}", f"/v1/images/{image_id}/scans", f"/v1/images/{image_id}/verdict"):
        assert call("GET", path, as_=teams["dev-a"])[0] == 404
    assert call("GET", f"/v1/images/{image_id}", as_=teams["dev-b"])[0] == 200


def test_the_rule_holds_in_both_directions_and_new_digests_are_free(teams: dict[str, Any]) -> None:
    assert submit(f"{REPOSITORY}:a-1@{DIGEST_A}", report("CVE-2026-0001"), teams["ci-a"])[0] == 201
    assert submit(f"{REPOSITORY}:b-7@{DIGEST_A}", report("CVE-2026-0002"), teams["ci-b"])[0] == 403
    # The owner goes on scanning its image under its own names.
    assert submit(f"{REPOSITORY}:a-2@{DIGEST_A}", report("CVE-2026-0003"), teams["ci-a"])[0] == 201
    assert submit(f"{REPOSITORY}:b-7@sha256:{'c' * 64}", report("CVE-2026-0004"), teams["ci-b"])[0] == 201


def test_a_caller_holding_both_scopes_may_name_one_digest_with_both_teams_tags(teams: dict[str, Any]) -> None:
    both = teams["ci-a"] + teams["ci-b"]
    assert submit(f"{REPOSITORY}:a-1@{DIGEST_B}", report("CVE-2026-0001"), both)[0] == 201
    status, answer = submit(f"{REPOSITORY}:b-1@{DIGEST_B}", report("CVE-2026-0001"), both)
    assert status == 201, answer
    assert sorted(ok("GET", f"/v1/images/{answer['image_id']}")["tags"]) == ["a-1", "b-1"]
    # Now either team alone is refused: the image is not theirs alone.
    assert submit(f"{REPOSITORY}:a-1@{DIGEST_B}", report("CVE-2026-0002"), teams["ci-a"])[0] == 403


def test_a_tag_added_by_a_concurrent_writer_is_authorized_again(store: Store) -> None:
    """Between the check and the write, another writer tagged the image: the store asks again."""
    theirs = parse_image_reference(f"{REPOSITORY}:b-1@{DIGEST_B}")
    ours = parse_image_reference(f"{REPOSITORY}:a-1@{DIGEST_B}")
    finding = Finding(FindingKind.VULNERABILITY, "CVE-1", Severity.LOW, package="p", installed_version="1")
    asked: list[tuple[str, ...]] = []

    def refuse_b(tags: tuple[str, ...]) -> None:
        asked.append(tags)
        if any(tag.startswith("b-") for tag in tags):
            raise PermissionDenied("not yours")

    store.save_scan(
        scan={"scan_id": "scan-b", "received_at": "2026-01-01T00:00:01.000000Z"},
        image=theirs,
        findings=[finding],
        image_summary={"status": "compliant"},
    )
    with pytest.raises(PermissionDenied):
        store.save_scan(
            scan={"scan_id": "scan-a", "received_at": "2026-01-01T00:00:02.000000Z"},
            image=ours,
            findings=[finding],
            image_summary={"status": "non_compliant"},
            known_tags=None,  # checked when the image did not exist yet
            recheck=refuse_b,
        )

    assert asked == [("b-1",)]
    image = store.get_image(theirs.image_id)
    assert image is not None
    assert image["current_scan_id"] == "scan-b"
    assert image["tags"] == ["b-1"]
    assert [s["scan_id"] for s in store.list_scans(theirs.image_id, 10, None).items] == ["scan-b"]
