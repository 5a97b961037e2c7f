"""Risk acceptances through the API handler against moto, on real scanner reports: accepting makes an
image compliant at once and shows in its findings and counts; extend, revoke, the 409s and 422s; lists
and their filters; repository and `all` scopes covering images scanned later; the detail view with its
covered images and staleness; the exports for scanners; who may accept where; one audit event per change.

Malware acceptance (422 above medium) is not exercised here: no supported report format yields malware
findings, so no image can carry one; the rule is covered by the unit tests.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskgate.domain.findings import Severity
from riskgate.domain.parsers import decode_report, parse_report
from riskgate.handlers.api import handler
from tests.support.api_calls import CONTEXT, Bindings, call, ok
from tests.support.events import api_event

ACCEPTANCES = "/v1/risk-acceptances"
# Trivy goldens of test images saved as archives: they name no image, so each scan says which one.
BUSTER = "trivy/golden_debian-buster.json"  # CVE-2019-18224 critical (fix available), CVE-2019-18276 low
FLUENTD = "trivy/golden_fluentd-gems.json"  # CVE-2019-18224 critical too, and a high
AMAZON = "trivy/golden_amazon-2.json"  # neither of them: medium and low only
SHARED_CRITICAL = "CVE-2019-18224"
UNFIXED_LOW = "CVE-2019-18276"
APP_1 = "ghcr.io/team-a/app:1"
APP_2 = "ghcr.io/team-a/app:2"
TEAM_B_SVC = "ghcr.io/team-b/svc:1"


@pytest.fixture
def fixtures(dynamodb: Any, scanner_fixtures: Path) -> Path:
    return scanner_fixtures


def scan(fixtures: Path, path: str, image: str) -> dict[str, Any]:
    """POST the real report as bytes, for `image`."""
    body = (fixtures / path).read_bytes()
    response = handler(api_event("POST", "/v1/scans", body=body, query={"image": image}), CONTEXT)
    answer: dict[str, Any] = json.loads(response["body"])
    assert response["statusCode"] == 201, answer
    return answer


def criticals(fixtures: Path, path: str) -> list[str]:
    report = parse_report(decode_report((fixtures / path).read_bytes(), None, 20 * 1024 * 1024))
    return sorted({f.finding_id for f in report.findings if f.severity is Severity.CRITICAL})


def accept_body(finding_id: str, scope: dict[str, Any], period: str = "30d", **extra: Any) -> dict[str, Any]:
    return {
        "finding": {"kind": "vulnerability", "id": finding_id},
        "scope": scope,
        "period": period,
        "reason": "no fix deployable this sprint",
        **extra,
    }


def accept(finding_id: str, scope: dict[str, Any], period: str = "30d", **extra: Any) -> dict[str, Any]:
    created: dict[str, Any] = ok("POST", ACCEPTANCES, accept_body(finding_id, scope, period, **extra), 201)
    return created


def image(image_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ok("GET", f"/v1/images/{image_id}")
    return found


def audit_of(acceptance_id: str) -> list[dict[str, Any]]:
    query = {"entity_type": "risk_acceptance", "entity_id": acceptance_id}
    items: list[dict[str, Any]] = ok("GET", "/v1/audit-events", query=query)["items"]
    return items


def raw(path: str, query: dict[str, str], as_: Bindings | None = None) -> tuple[int, dict[str, str], str]:
    """Status, headers and text of an answer that need not be JSON."""
    response = handler(api_event("GET", path, query=query, role_bindings=as_), CONTEXT)
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    headers = {k.lower(): ", ".join(v) for k, v in (response.get("multiValueHeaders") or {}).items()}
    return response["statusCode"], headers, body


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {item["id"] for item in items}


def later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- accepting and its effect ---------------------------------------------------------------------


def test_accepting_the_only_critical_makes_the_image_compliant_at_once(fixtures: Path) -> None:
    scanned = scan(fixtures, BUSTER, APP_1)
    image_id = scanned["image_id"]
    assert (scanned["verdict"]["status"], scanned["verdict"]["block"]) == ("non_compliant", True)
    assert image(image_id)["status"] == "non_compliant"
    to_accept = criticals(fixtures, BUSTER)
    assert to_accept == [SHARED_CRITICAL]

    created = [accept(cve, {"image": image_id}) for cve in to_accept]
    for acceptance in created:
        assert acceptance["id"].startswith("acc-")
        assert acceptance["status"] == "active"
        assert acceptance["accepted_by"] == "admin"
        assert acceptance["accepted_at"]
        assert acceptance["scope"] == {"image": image_id}
        assert acceptance["registry"] == "ghcr.io"
        assert acceptance["repository"] == "team-a/app"
        # 30 days from when it was accepted
        ends = datetime.fromisoformat(acceptance["expires_at"])
        starts = datetime.fromisoformat(acceptance["accepted_at"])
        assert ends - starts == timedelta(days=30)

    summary = image(image_id)
    assert summary["status"] == "compliant"
    assert summary["counts"]["accepted"] == len(to_accept)
    assert summary["counts"]["vulnerabilities"]["critical"] == len(to_accept)  # still there, accepted
    verdict = ok("GET", f"/v1/images/{image_id}/verdict")
    assert (verdict["status"], verdict["block"]) == ("compliant", False)
    assert {a["acceptance_id"] for a in verdict["acceptances"]} == ids(created)

    findings = ok("GET", f"/v1/images/{image_id}/findings")["items"]
    marked = {f["id"]: f["accepted"] for f in findings}
    [acceptance] = created
    assert marked[SHARED_CRITICAL] == {
        "acceptance_id": acceptance["id"],
        "expires_at": acceptance["expires_at"],
        "accepted_by": "admin",
    }
    assert marked[UNFIXED_LOW] is None
    rows = ok("GET", f"/v1/vulnerabilities/{SHARED_CRITICAL}/images")["items"]
    assert [(r["image_id"], r["accepted"]["acceptance_id"]) for r in rows] == [(image_id, acceptance["id"])]

    # The Location header names the new acceptance, and reading it gives the same
    response = handler(
        api_event(
            "POST",
            ACCEPTANCES,
            body=json.dumps(accept_body(UNFIXED_LOW, {"image": image_id}, "indefinite")),
        ),
        CONTEXT,
    )
    assert response["statusCode"] == 201
    [location] = response["multiValueHeaders"]["Location"]
    second = json.loads(response["body"])
    assert location == f"{ACCEPTANCES}/{second['id']}"
    assert second["expires_at"] is None
    assert {k: v for k, v in ok("GET", location).items() if k in second} == second
    assert image(image_id)["counts"]["accepted"] == 2


def test_refused_accepts(fixtures: Path) -> None:
    image_id = scan(fixtures, BUSTER, APP_1)["image_id"]
    first = accept(SHARED_CRITICAL, {"image": image_id})

    status, body = call("POST", ACCEPTANCES, accept_body(SHARED_CRITICAL.lower(), {"image": image_id}))
    assert status == 409, body
    assert first["id"] in body["error"]["message"]
    assert body["error"]["details"] == [{"acceptance_id": first["id"]}]

    past = accept_body(UNFIXED_LOW, {"image": image_id}, "custom", expires_at="2020-01-01T00:00:00Z")
    status, body = call("POST", ACCEPTANCES, past)
    assert status == 422, body
    assert body["error"]["details"] == [{"field": "expires_at"}]

    status, body = call("POST", ACCEPTANCES, accept_body("CVE-2000-0001", {"image": image_id}))
    assert status == 422, body
    assert body["error"]["details"] == [{"field": "finding.id"}]

    for scope in ({"image": image_id, "all": True}, {}, {"all": False}):
        status, body = call("POST", ACCEPTANCES, accept_body(UNFIXED_LOW, scope))
        assert status == 422, body
        assert [d["location"] for d in body["error"]["details"]] == ["body.scope"]

    for broken in (
        {**accept_body(UNFIXED_LOW, {"image": image_id}), "reason": ""},
        {**accept_body(UNFIXED_LOW, {"image": image_id}), "period": "45d"},
        {**accept_body(UNFIXED_LOW, {"image": image_id}), "colour": "red"},
    ):
        assert call("POST", ACCEPTANCES, broken)[0] == 422

    status, body = call("POST", ACCEPTANCES, accept_body(UNFIXED_LOW, {"image": "img-00000000000000000000"}))
    assert status == 404, body
    # A refused accept changes nothing and audits nothing.
    assert image(image_id)["counts"]["accepted"] == 1
    listed = ok("GET", ACCEPTANCES)["items"]
    assert ids(listed) == {first["id"]}
    assert len(audit_of(first["id"])) == 1


# --- extending and revoking -----------------------------------------------------------------------


def test_extend_and_revoke(fixtures: Path) -> None:
    image_id = scan(fixtures, BUSTER, APP_1)["image_id"]
    acceptance = accept(SHARED_CRITICAL, {"image": image_id})
    path = f"{ACCEPTANCES}/{acceptance['id']}"
    assert len(audit_of(acceptance["id"])) == 1

    extended = ok("POST", f"{path}/extend", {"period": "90d"})
    assert (extended["id"], extended["status"], extended["period"]) == (acceptance["id"], "active", "90d")
    assert extended["expires_at"] > acceptance["expires_at"]
    assert extended["extended_by"] == "admin"
    assert extended["version"] == acceptance["version"] + 1
    assert len(audit_of(acceptance["id"])) == 2

    status, body = call("POST", f"{path}/extend", {"expires_at": later(10)})
    assert status == 422, body
    assert call("POST", f"{path}/extend", {})[0] == 422
    assert call("POST", f"{path}/extend", {"period": "until_fixed"})[0] == 422
    custom = ok("POST", f"{path}/extend", {"expires_at": later(120)})
    assert custom["period"] == "custom"
    assert custom["expires_at"].startswith(later(120)[:10])
    assert len(audit_of(acceptance["id"])) == 3
    assert image(image_id)["status"] == "compliant"

    revoked = ok("POST", f"{path}/revoke", {"reason": "the fix is deployable now"})
    assert (revoked["status"], revoked["revoked_by"], revoked["revoke_reason"]) == (
        "revoked",
        "admin",
        "the fix is deployable now",
    )
    assert revoked["revoked_at"]
    assert len(audit_of(acceptance["id"])) == 4
    # The threat affects the image again, at once.
    summary = image(image_id)
    assert (summary["status"], summary["counts"]["accepted"]) == ("non_compliant", 0)
    assert ok("GET", f"/v1/images/{image_id}/verdict")["block"] is True
    findings = ok("GET", f"/v1/images/{image_id}/findings")["items"]
    assert all(f["accepted"] is None for f in findings)

    status, body = call("POST", f"{path}/revoke")
    assert status == 409, body
    assert body["error"]["details"] == [{"acceptance_id": acceptance["id"], "status": "revoked"}]
    assert call("POST", f"{path}/extend", {"period": "90d"})[0] == 409
    assert len(audit_of(acceptance["id"])) == 4
    # History stays readable.
    assert ok("GET", path)["status"] == "revoked"
    # Accepting anew is allowed once the previous one is no longer in force; revoking without a body too.
    again = accept(SHARED_CRITICAL, {"image": image_id})
    assert image(image_id)["status"] == "compliant"
    assert ok("POST", f"{ACCEPTANCES}/{again['id']}/revoke")["revoke_reason"] is None
    assert call("POST", f"{ACCEPTANCES}/acc-0000000000000000/revoke")[0] == 404


# --- reading --------------------------------------------------------------------------------------


def test_list_filters_and_pages(fixtures: Path) -> None:
    app = scan(fixtures, BUSTER, APP_1)["image_id"]
    critical = accept(SHARED_CRITICAL, {"image": app}, "60d")
    low = accept(UNFIXED_LOW, {"image": app}, "custom", expires_at=later(5))
    repository = accept(SHARED_CRITICAL, {"repository": "ghcr.io/team-b/svc"}, "90d")
    revoked = accept(SHARED_CRITICAL, {"repository": "ghcr.io/team-c/old"}, "indefinite")
    ok("POST", f"{ACCEPTANCES}/{revoked['id']}/revoke", {"reason": "retired"})

    def listed(**query: str) -> set[str]:
        return ids(ok("GET", ACCEPTANCES, query=query)["items"])

    everything = {critical["id"], low["id"], repository["id"], revoked["id"]}
    assert listed() == everything
    assert listed(status="active") == everything - {revoked["id"]}
    assert listed(status="revoked") == {revoked["id"]}
    assert listed(status="expired") == set()
    assert listed(finding_id=UNFIXED_LOW.lower()) == {low["id"]}
    assert listed(image_id=app) == {critical["id"], low["id"]}
    assert listed(repository="ghcr.io/team-a/app") == {critical["id"], low["id"]}
    assert listed(repository="ghcr.io/team-b/svc") == {repository["id"]}
    assert listed(expires_before=later(10)) == {low["id"]}
    assert listed(expires_before=later(100), status="active", finding_id=SHARED_CRITICAL) == {
        critical["id"],
        repository["id"],
    }

    status, body = call("GET", ACCEPTANCES, query={"expires_before": "next week"})
    assert status == 422, body
    assert [d["location"] for d in body["error"]["details"]] == ["query.expires_before"]
    assert call("GET", ACCEPTANCES, query={"status": "pending"})[0] == 422
    assert call("GET", ACCEPTANCES, query={"repository": "ghcr.io/team-a/app:1"})[0] == 422

    seen: list[str] = []
    query = {"limit": "1"}
    while True:
        page = ok("GET", ACCEPTANCES, query=query)
        seen += [item["id"] for item in page["items"]]
        if not page["next_token"]:
            break
        query = {"limit": "1", "next_token": page["next_token"]}
    assert sorted(seen) == sorted(everything)
    assert seen[0] == revoked["id"]  # newest first


def test_the_detail_shows_covered_images_and_staleness(fixtures: Path) -> None:
    app = scan(fixtures, BUSTER, APP_1)["image_id"]
    low = accept(UNFIXED_LOW, {"image": app})
    critical = accept(SHARED_CRITICAL, {"image": app})

    detail = ok("GET", f"{ACCEPTANCES}/{low['id']}")
    assert [(c["image_id"], c["tags"], c["findings"], c["accepted"]) for c in detail["covered_images"]] == [
        (app, ["1"], 1, 1)
    ]
    assert (detail["covered_images_truncated"], detail["stale"], detail["stale_reasons"]) == (
        False,
        False,
        [],
    )
    # A fixed version of the critical one is available: it no longer earns its place.
    fixed = ok("GET", f"{ACCEPTANCES}/{critical['id']}")
    assert fixed["stale"] is True
    assert fixed["stale_reasons"] == ["a fixed version is available: libidn2-0 2.0.5-1+deb10u1"]

    # A new scan of the image without the finding.
    assert scan(fixtures, AMAZON, APP_1)["image_id"] == app
    gone = ok("GET", f"{ACCEPTANCES}/{low['id']}")
    assert gone["covered_images"] == []
    assert gone["stale"] is True
    assert gone["stale_reasons"] == ["the finding no longer appears in the latest scan of any covered image"]
    assert call("GET", f"{ACCEPTANCES}/acc-0000000000000000")[0] == 404


# --- scopes covering images scanned later ---------------------------------------------------------


def test_a_repository_acceptance_covers_images_scanned_later(fixtures: Path) -> None:
    acceptance = accept(SHARED_CRITICAL, {"repository": "ghcr.io/team-a/app"})
    assert acceptance["scope"] == {"repository": "ghcr.io/team-a/app"}
    assert len(audit_of(acceptance["id"])) == 1

    later_tag = scan(fixtures, FLUENTD, APP_2)
    assert later_tag["verdict"]["status"] == "compliant"  # its only critical is accepted; a high remains
    assert image(later_tag["image_id"])["counts"]["accepted"] == 1
    [used] = ok("GET", f"/v1/images/{later_tag['image_id']}/verdicts")["items"][0]["acceptances"]
    assert used["acceptance_id"] == acceptance["id"]
    # Another repository is not covered.
    other = scan(fixtures, FLUENTD, TEAM_B_SVC)
    assert (other["verdict"]["status"], image(other["image_id"])["counts"]["accepted"]) == (
        "non_compliant",
        0,
    )

    detail = ok("GET", f"{ACCEPTANCES}/{acceptance['id']}")
    assert [c["image_id"] for c in detail["covered_images"]] == [later_tag["image_id"]]
    rows = ok("GET", f"/v1/vulnerabilities/{SHARED_CRITICAL}/images")["items"]
    accepted = {r["image_id"]: (r["accepted"] or {}).get("acceptance_id") for r in rows}
    assert accepted == {later_tag["image_id"]: acceptance["id"], other["image_id"]: None}


def test_an_acceptance_of_all_images_covers_every_image_within_its_scopes(fixtures: Path) -> None:
    acceptance = accept(SHARED_CRITICAL, {"all": True}, "indefinite")
    assert acceptance["scope"] == {"all": True, "within": ["global"]}
    first = scan(fixtures, BUSTER, APP_1)
    second = scan(fixtures, FLUENTD, TEAM_B_SVC)
    assert first["verdict"]["status"] == second["verdict"]["status"] == "compliant"
    detail = ok("GET", f"{ACCEPTANCES}/{acceptance['id']}")
    assert {c["image_id"] for c in detail["covered_images"]} == {first["image_id"], second["image_id"]}
    assert (
        ok("GET", ACCEPTANCES, query={"image_id": second["image_id"]})["items"][0]["id"] == acceptance["id"]
    )


# --- who may accept where -------------------------------------------------------------------------


def make_scope(name: str, resources: list[dict[str, str]]) -> str:
    scope_id: str = ok("POST", "/v1/scopes", {"name": name, "resources": resources}, 201)["id"]
    return scope_id


def test_accepting_needs_risks_accept_where_the_acceptance_reaches(fixtures: Path) -> None:
    app = scan(fixtures, BUSTER, APP_1)["image_id"]
    team_a = make_scope("team-a", [{"registry": "ghcr.io", "repository": "team-a/*"}])
    team_b = make_scope("team-b", [{"registry": "ghcr.io", "repository": "team-b/*"}])
    tagged = make_scope("team-a-releases", [{"registry": "ghcr.io", "repository": "team-a/*", "tag": "1*"}])
    ok("POST", "/v1/roles", {"name": "acceptor", "permissions": ["risks:accept", "risks:read"]}, 201)
    officer_b = [{"role": "security_officer", "scope": team_b}]
    officer_tagged = [{"role": "security_officer", "scope": tagged}]
    acceptor_everywhere = [{"role": "acceptor", "scope": "global"}]
    developer_a = [{"role": "developer", "scope": team_a}]

    # An image outside the caller's scopes does not exist for them.
    status, body = call("POST", ACCEPTANCES, accept_body(SHARED_CRITICAL, {"image": app}), as_=officer_b)
    assert status == 404, body
    # Reading is not accepting.
    status, body = call("POST", ACCEPTANCES, accept_body(SHARED_CRITICAL, {"image": app}), as_=developer_a)
    assert status == 403, body
    # A scope restricted to some tags cannot accept for every tag of the repository...
    repository = accept_body(SHARED_CRITICAL, {"repository": "ghcr.io/team-a/app"})
    status, body = call("POST", ACCEPTANCES, repository, as_=officer_tagged)
    assert status == 403, body
    # ... but may accept on the image it contains.
    status, body = call("POST", ACCEPTANCES, accept_body(UNFIXED_LOW, {"image": app}), as_=officer_tagged)
    assert status == 201, body
    # All images in the global scope needs scopes:global.
    status, body = call(
        "POST", ACCEPTANCES, accept_body(SHARED_CRITICAL, {"all": True}), as_=acceptor_everywhere
    )
    assert status == 403, body
    assert "scopes:global" in body["error"]["message"]
    # A team's `all` reaches its own scope only.
    status, body = call("POST", ACCEPTANCES, accept_body(SHARED_CRITICAL, {"all": True}), as_=officer_b)
    assert status == 201, body
    assert body["scope"] == {"all": True, "within": [team_b]}
    assert image(app)["status"] == "non_compliant"
    team_b_all = body["id"]

    # Each sees only what lies in their scopes.
    assert ids(ok("GET", ACCEPTANCES, as_=officer_b)["items"]) == {team_b_all}
    assert call("GET", f"{ACCEPTANCES}/{team_b_all}", as_=developer_a)[0] == 404
    assert ok("GET", ACCEPTANCES, as_=developer_a)["items"][0]["finding"]["id"] == UNFIXED_LOW
    assert call("POST", f"{ACCEPTANCES}/{team_b_all}/revoke", as_=developer_a)[0] == 403  # no risks:accept


# --- export ---------------------------------------------------------------------------------------


def test_export_for_trivy_and_as_openvex(fixtures: Path) -> None:
    app = scan(fixtures, BUSTER, APP_1)["image_id"]
    other = scan(fixtures, FLUENTD, TEAM_B_SVC)["image_id"]
    critical = accept(SHARED_CRITICAL, {"image": app})
    low = accept(UNFIXED_LOW, {"image": app}, "until_fixed")
    svc = accept("CVE-2020-8165", {"image": other}, "indefinite")
    ended = accept(SHARED_CRITICAL, {"image": other})
    ok("POST", f"{ACCEPTANCES}/{ended['id']}/revoke")

    status, headers, text = raw(f"{ACCEPTANCES}/export", {})
    assert status == 200, text
    assert headers["content-type"].startswith("application/yaml")
    assert headers["content-disposition"] == 'attachment; filename=".trivyignore.yaml"'
    document = yaml.safe_load(text)
    assert set(document) == {"vulnerabilities", "misconfigurations", "secrets"}
    listed = {entry["id"]: entry for entry in document["vulnerabilities"]}
    assert set(listed) == {SHARED_CRITICAL, "CVE-2020-8165"}  # until_fixed cannot be expressed
    assert listed[SHARED_CRITICAL]["expired_at"].isoformat() == critical["expires_at"][:10]
    assert critical["id"] in listed[SHARED_CRITICAL]["statement"]
    assert "expired_at" not in listed["CVE-2020-8165"]
    assert low["id"] in text  # named among those left out

    # One image's acceptances, by id or by reference.
    for name in (app, APP_1):
        status, _, text = raw(f"{ACCEPTANCES}/export", {"image": name})
        assert status == 200, text
        assert [e["id"] for e in yaml.safe_load(text)["vulnerabilities"]] == [SHARED_CRITICAL]
    assert raw(f"{ACCEPTANCES}/export", {"image": "ghcr.io/team-a/app:9"})[0] == 404
    assert raw(f"{ACCEPTANCES}/export", {"image": "img-00000000000000000000"})[0] == 404
    assert raw(f"{ACCEPTANCES}/export", {"format": "sarif"})[0] == 422

    status, headers, text = raw(f"{ACCEPTANCES}/export", {"format": "openvex"})
    assert status == 200, text
    assert headers["content-type"].startswith("application/json")
    vex = json.loads(text)
    assert vex["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert vex["@id"].startswith("urn:riskgate:vex:")
    statements = {(s["vulnerability"]["name"], s["products"][0]["@id"]) for s in vex["statements"]}
    assert (SHARED_CRITICAL, "pkg:oci/app?repository_url=ghcr.io/team-a/app") in statements
    assert all(s["status"] == "affected" for s in vex["statements"])
    assert {s["vulnerability"]["name"] for s in vex["statements"]} == {
        SHARED_CRITICAL,
        UNFIXED_LOW,
        "CVE-2020-8165",
    }
    assert svc["id"] in json.dumps(vex)

    # A caller sees only what lies in their scopes.
    team_b = make_scope("team-b", [{"registry": "ghcr.io", "repository": "team-b/*"}])
    status, _, text = raw(f"{ACCEPTANCES}/export", {}, as_=[{"role": "developer", "scope": team_b}])
    assert status == 200
    assert [e["id"] for e in yaml.safe_load(text)["vulnerabilities"]] == ["CVE-2020-8165"]


# --- events ---------------------------------------------------------------------------------------


def test_no_events_before_anything_expires(fixtures: Path) -> None:
    app = scan(fixtures, BUSTER, APP_1)["image_id"]
    accept(SHARED_CRITICAL, {"image": app}, "custom", expires_at=later(2))
    assert ok("GET", "/v1/events") == {"items": [], "next_token": None}
    assert ok("GET", "/v1/events", query={"type": "risk_acceptance_expiring"})["items"] == []
    # The accepted critical was the image's only cause for concern: judged again, it fires nothing.
    assert ok("GET", "/v1/events", query={"type": "non_compliant"})["items"] == []
    assert call("GET", "/v1/events", query={"type": "something_else"})[0] == 422
