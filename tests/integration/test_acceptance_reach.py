"""An acceptance spanning two teams' scopes changes only with risks:accept in all of them; it shows each
team only its own scopes; an image filter on an image the caller may not see is a 404 (issue 16, points
3 and 6)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_acceptances_api import (
    ACCEPTANCES,
    APP_1,
    BUSTER,
    FLUENTD,
    SHARED_CRITICAL,
    TEAM_B_SVC,
    accept_body,
    fixtures,  # noqa: F401 - the fixture, used by name
    image,
    make_scope,
    scan,
)
from tests.support.api_calls import call, ok


def verdict(image_id: str) -> str:
    """The verdict as CI reads it now (the stored status waits for the stream's re-evaluation)."""
    status: str = ok("GET", f"/v1/images/{image_id}/verdict")["status"]
    return status


def test_an_acceptance_spanning_two_teams_changes_only_with_both(fixtures: Path) -> None:  # noqa: F811
    app = scan(fixtures, BUSTER, APP_1)["image_id"]
    svc = scan(fixtures, FLUENTD, TEAM_B_SVC)["image_id"]
    team_a = make_scope("team-a", [{"registry": "ghcr.io", "repository": "team-a/*"}])
    team_b = make_scope("team-b", [{"registry": "ghcr.io", "repository": "team-b/*"}])
    officer_a = [{"role": "security_officer", "scope": team_a}]
    officer_both = [*officer_a, {"role": "security_officer", "scope": team_b}]
    status, spanning = call(
        "POST", ACCEPTANCES, accept_body(SHARED_CRITICAL, {"all": True}, "30d"), as_=officer_both
    )
    assert status == 201, spanning
    assert spanning["scope"] == {"all": True, "within": sorted([team_a, team_b])}
    assert verdict(svc) == "compliant"
    before = ok("GET", f"{ACCEPTANCES}/{spanning['id']}")

    # Team A's officer sees it, with only team A's scope named...
    seen = ok("GET", f"{ACCEPTANCES}/{spanning['id']}", as_=officer_a)
    assert seen["scope"] == {"all": True, "within": [team_a]}
    assert {i["image_id"] for i in seen["covered_images"]} == {app}
    listed = ok("GET", ACCEPTANCES, as_=officer_a)["items"]
    assert [a["scope"]["within"] for a in listed] == [[team_a]]
    # ... but may neither extend it nor revoke it: team B's images rely on it too.
    status, answer = call(
        "POST", f"{ACCEPTANCES}/{spanning['id']}/extend", {"period": "indefinite"}, as_=officer_a
    )
    assert status == 403, answer
    assert team_b not in str(answer)
    status, answer = call("POST", f"{ACCEPTANCES}/{spanning['id']}/revoke", {"reason": "x"}, as_=officer_a)
    assert status == 403, answer
    assert ok("GET", f"{ACCEPTANCES}/{spanning['id']}") == before
    assert verdict(svc) == "compliant"

    # The officer of both may.
    status, answer = call("POST", f"{ACCEPTANCES}/{spanning['id']}/revoke", {"reason": "x"}, as_=officer_both)
    assert status == 200, answer
    assert verdict(svc) == "non_compliant"


def test_an_image_acceptance_on_an_image_two_teams_tag_needs_both(fixtures: Path) -> None:  # noqa: F811
    digest = "sha256:" + "d" * 64
    scan(fixtures, BUSTER, f"ghcr.io/shared/app:a-1@{digest}")
    shared = scan(fixtures, BUSTER, f"ghcr.io/shared/app:b-1@{digest}")["image_id"]
    tag_a = make_scope("tag-a", [{"registry": "ghcr.io", "repository": "shared/app", "tag": "a-*"}])
    officer_a = [{"role": "security_officer", "scope": tag_a}]

    status, answer = call("POST", ACCEPTANCES, accept_body(SHARED_CRITICAL, {"image": shared}), as_=officer_a)

    assert status == 403, answer
    assert image(shared)["status"] == "non_compliant"


def test_an_image_filter_on_an_unseen_image_is_a_404_as_for_no_image(fixtures: Path) -> None:  # noqa: F811
    svc = scan(fixtures, FLUENTD, TEAM_B_SVC)["image_id"]
    ok("POST", ACCEPTANCES, accept_body(SHARED_CRITICAL, {"image": svc}), 201)
    team_a = make_scope("team-a", [{"registry": "ghcr.io", "repository": "team-a/*"}])
    officer_a = [{"role": "security_officer", "scope": team_a}]

    real = call("GET", ACCEPTANCES, query={"image_id": svc}, as_=officer_a)
    made_up = call("GET", ACCEPTANCES, query={"image_id": "img-" + "0" * 20}, as_=officer_a)

    assert real[0] == made_up[0] == 404
    assert real[1]["error"]["message"].replace(svc, "ID") == made_up[1]["error"]["message"].replace(
        "img-" + "0" * 20, "ID"
    )
    assert len(ok("GET", ACCEPTANCES, query={"image_id": svc})["items"]) == 1  # the admin sees it
