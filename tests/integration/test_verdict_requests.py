"""A CI gate's verdict in at most 3 DynamoDB requests on a warm instance, and never a stale one (issue 13).

The API handler keeps the caller's scopes and roles and the policies for as long as the configuration
version item is unchanged; every change of a managed entity bumps it in its own transaction
(riskgate.adapters.config_version, riskgate.services.config_cache). These tests count the requests a scoped
CI token's `GET /v1/verdict` makes, through the API handler against moto, and show that a change of a
policy, a scope, a role, a user's bindings or an acceptance is seen by the very next verdict request of
the same (warm) instance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from riskgate.adapters.config_version import VERSION_KEY
from riskgate.adapters.dynamo import from_item, to_item
from riskgate.adapters.policies import PolicyStore
from riskgate.adapters.store import Store, default_store
from riskgate.adapters.verdict_reads import TagHints, _not_older
from riskgate.domain.images import parse_image_reference
from tests.integration.conftest import TABLE_NAME
from tests.support.api_calls import call, ok
from tests.support.gateway import InProcessGateway

IMAGE = "ghcr.io/team-a/app"
DIGEST = "sha256:" + "cd" * 32
POLICIES = "/v1/assurance-policies"


def report(name: str, package: str = "openssl", digest: str | None = DIGEST) -> dict[str, Any]:
    document: dict[str, Any] = {
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
                        "Severity": "LOW",
                    }
                ],
            }
        ],
    }
    if digest:
        document["Metadata"] = {"RepoDigests": [f"{name.rsplit(':', 1)[0]}@{digest}"]}
    return document


@contextmanager
def counted() -> Iterator[Counter[str]]:
    """The DynamoDB requests the API handler makes meanwhile, by operation (its own client's)."""
    requests: Counter[str] = Counter()
    events = default_store().client.meta.events

    def count(model: Any, **_: Any) -> None:
        requests[model.name] += 1

    events.register("before-call.dynamodb", count, unique_id="verdict-requests")
    try:
        yield requests
    finally:
        events.unregister("before-call.dynamodb", unique_id="verdict-requests")


class Team:
    """Scope team-a, a policy of that scope blocking openssl, one image; a CI token's bindings."""

    def __init__(self) -> None:
        body = {"name": "team-a", "resources": [{"registry": "ghcr.io", "repository": "team-a/*"}]}
        self.scope: str = ok("POST", "/v1/scopes", body, 201)["id"]
        self.policy: dict[str, Any] = ok(
            "POST",
            POLICIES,
            {
                "name": "No openssl",
                "scope": self.scope,
                "conditions": {"packages": ["openssl*"]},
                "actions": ["block_ci"],
            },
            201,
        )
        self.scanned: dict[str, Any] = ok("POST", "/v1/scans", report(f"{IMAGE}:1"), 201)
        self.ci = [{"role": "ci_pipeline", "scope": self.scope}]

    def verdict(self, image: str = f"{IMAGE}:1", as_: list[dict[str, str]] | None = None) -> tuple[int, Any]:
        return call("GET", "/v1/verdict", query={"image": image}, as_=as_ or self.ci, user_id="usr-ci")

    def blocked(self, image: str = f"{IMAGE}:1", as_: list[dict[str, str]] | None = None) -> bool:
        status, answer = self.verdict(image, as_)
        assert status == 200, answer
        return bool(answer["block"])


@pytest.fixture
def team(dynamodb: Any) -> Team:
    return Team()


# --- how many requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", [{"image": f"{IMAGE}:1"}, {"image": f"{IMAGE}@{DIGEST}"}], ids=["by tag", "by digest"]
)
def test_a_scoped_ci_token_gets_its_verdict_in_three_requests_on_a_warm_instance(
    team: Team, query: dict[str, str]
) -> None:
    first = call("GET", "/v1/verdict", query=query, as_=team.ci, user_id="usr-ci")
    assert first[0] == 200, first
    with counted() as requests:
        status, answer = call("GET", "/v1/verdict", query=query, as_=team.ci, user_id="usr-ci")
    assert (status, answer) == first
    assert answer["block"] is True
    # The version with the tag pointer and the image (or the image), then the image's two acceptance
    # partitions; the scope, the policies and the policy's scope come from the instance's snapshot.
    assert sum(requests.values()) <= 3, requests
    assert requests == Counter({"BatchGetItem": 1, "Query": 2})


def test_the_verdict_by_image_id_takes_three_requests_too(team: Team) -> None:
    path = f"/v1/images/{team.scanned['image_id']}/verdict"
    first = call("GET", path, as_=team.ci, user_id="usr-ci")
    with counted() as requests:
        again = call("GET", path, as_=team.ci, user_id="usr-ci")
    assert again == first
    assert first[0] == 200
    assert requests == Counter({"BatchGetItem": 1, "Query": 2})


def test_the_first_reads_are_strongly_consistent(team: Team) -> None:
    team.verdict()
    sent: list[dict[str, Any]] = []
    events = default_store().client.meta.events
    events.register(
        "provide-client-params.dynamodb.BatchGetItem",
        lambda params, **_: sent.append(params),
        unique_id="batch-params",
    )
    try:
        team.verdict()
    finally:
        events.unregister("provide-client-params.dynamodb.BatchGetItem", unique_id="batch-params")
    [params] = sent
    request = params["RequestItems"][TABLE_NAME]
    assert request["ConsistentRead"] is True
    assert {"pk": {"S": "CONFIG#VERSION"}, "sk": {"S": "VERSION"}} in request["Keys"]


def test_a_tag_asked_again_after_it_moved_reads_the_image_it_points_at_now(team: Team) -> None:
    assert team.blocked()
    # The tag now names another image (another digest), without openssl.
    moved = ok("POST", "/v1/scans", report(f"{IMAGE}:1", package="zlib", digest="sha256:" + "ef" * 32), 201)
    with counted() as requests:
        status, answer = team.verdict()
    assert status == 200
    assert (answer["image_id"], answer["block"]) == (moved["image_id"], False)
    # The image the tag pointed at before was read for nothing: one more read for the one it names now.
    assert requests == Counter({"BatchGetItem": 1, "GetItem": 1, "Query": 2})
    # Back to the first image: its summary is read again, newer than the pointer's move.
    back = ok("POST", "/v1/scans", report(f"{IMAGE}:1"), 201)
    assert back["image_id"] == team.scanned["image_id"]
    status, answer = team.verdict()
    assert (answer["image_id"], answer["scan_id"], answer["block"]) == (
        back["image_id"],
        back["scan_id"],
        True,
    )


def test_a_summary_older_than_the_pointers_move_is_not_used() -> None:
    pointer = {"image_id": "img-1", "updated_at": "2026-01-02T00:00:00.000000Z"}
    assert _not_older({"last_scan_at": "2026-01-02T00:00:00.000000Z"}, pointer)
    assert _not_older({"last_scan_at": "2026-01-03T00:00:00.000000Z"}, pointer)
    assert not _not_older({"last_scan_at": "2026-01-01T00:00:00.000000Z"}, pointer)
    assert not _not_older({}, pointer)  # written before either was kept: read it on its own
    assert not _not_older({"last_scan_at": "2026-01-03T00:00:00.000000Z"}, {"image_id": "img-1"})


def test_tag_hints_are_bounded() -> None:
    hints = TagHints(size=2)
    refs = [parse_image_reference(f"{IMAGE}:{n}") for n in range(3)]
    for number, ref in enumerate(refs):
        hints.remember(ref, f"img-{number}")
    assert [hints.get(ref) for ref in refs] == [None, "img-1", "img-2"]
    hints.remember(refs[1], None)
    assert hints.get(refs[1]) is None


# --- nothing stale -----------------------------------------------------------------------------------


def test_a_policy_change_is_seen_by_the_very_next_verdict(team: Team) -> None:
    assert team.blocked()
    assert team.blocked()  # warm
    ok("PATCH", f"{POLICIES}/{team.policy['id']}", {"enabled": False})
    assert not team.blocked()
    ok("PATCH", f"{POLICIES}/{team.policy['id']}", {"enabled": True})
    assert team.blocked()
    ok("DELETE", f"{POLICIES}/{team.policy['id']}", status=204)
    status, answer = team.verdict()
    assert (status, answer["block"], [p["id"] for p in answer["policies"]]) == (200, False, ["default"])


def test_a_new_policy_is_seen_at_once_even_while_the_policy_list_lags(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("DELETE", f"{POLICIES}/{team.policy['id']}", status=204)
    assert not team.blocked()
    # gsi2 is eventually consistent: as if it had not caught up yet with anything
    monkeypatch.setattr(PolicyStore, "query_all", lambda self, *args: [])
    rule = ok(
        "POST",
        POLICIES,
        {
            "name": "No openssl again",
            "scope": team.scope,
            "conditions": {"packages": ["openssl*"]},
            "actions": ["block_ci"],
        },
        201,
    )
    status, answer = team.verdict()
    assert status == 200
    assert answer["block"] is True
    assert [p["id"] for p in answer["policies"]] == ["default", rule["id"]]


def test_a_default_policy_changed_or_deleted_is_seen_at_once(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PolicyStore, "query_all", lambda self, *args: [])  # the list lagging, as above

    def policies() -> list[tuple[str, int]]:
        status, answer = team.verdict()
        assert status == 200, answer
        return [(p["id"], p["version"]) for p in answer["policies"]]

    assert policies() == [("default", 1), (team.policy["id"], 1)]
    ok("PATCH", f"{POLICIES}/default", {"description": "stored now"})
    assert policies() == [("default", 2), (team.policy["id"], 1)]
    ok("DELETE", f"{POLICIES}/default", status=204)
    assert policies() == [(team.policy["id"], 1)]


def test_a_scope_change_is_seen_by_the_very_next_verdict(team: Team) -> None:
    assert team.blocked()
    ok(
        "PATCH",
        f"/v1/scopes/{team.scope}",
        {"resources": [{"registry": "ghcr.io", "repository": "team-b/*"}]},
    )
    # The image is outside the CI token's scope now: it does not exist for it.
    assert team.verdict()[0] == 404
    ok(
        "PATCH",
        f"/v1/scopes/{team.scope}",
        {"resources": [{"registry": "ghcr.io", "repository": "team-a/*"}]},
    )
    assert team.blocked()


def test_a_role_change_is_seen_by_the_very_next_verdict(team: Team) -> None:
    ok("POST", "/v1/roles", {"name": "gate", "permissions": ["images:read"]}, 201)
    gate = [{"role": "gate", "scope": team.scope}]
    assert team.blocked(as_=gate)
    assert team.blocked(as_=gate)
    ok("PATCH", "/v1/roles/gate", {"permissions": ["scans:write"]})
    assert team.verdict(as_=gate)[0] == 403
    ok("PATCH", "/v1/roles/gate", {"permissions": ["images:read"]})
    assert team.blocked(as_=gate)


def test_a_binding_to_a_role_created_after_a_miss_is_seen(team: Team) -> None:
    """A role asked for while it did not exist is kept as missing only for that version."""
    late = [{"role": "late", "scope": team.scope}]
    assert team.verdict(as_=late)[0] == 403
    ok("POST", "/v1/roles", {"name": "late", "permissions": ["images:read"]}, 201)
    assert team.blocked(as_=late)


def test_an_acceptance_is_seen_by_the_very_next_verdict(team: Team) -> None:
    assert team.blocked()
    accepted = ok(
        "POST",
        "/v1/risk-acceptances",
        {
            "finding": {"kind": "vulnerability", "id": "CVE-2024-1234", "package": "openssl"},
            "scope": {"repository": IMAGE},
            "period": "30d",
            "reason": "fixed upstream next week",
        },
        201,
    )
    status, answer = team.verdict()
    assert (status, answer["block"]) == (200, False)
    assert [a["acceptance_id"] for a in answer["acceptances"]] == [accepted["id"]]
    ok("POST", f"/v1/risk-acceptances/{accepted['id']}/revoke", {"reason": "no"})
    assert team.blocked()


def test_a_users_binding_change_is_seen_by_the_very_next_verdict(store: Store) -> None:
    """Through the real authorizer, which reads the user at every decision (API Gateway's 30 s cache of
    decisions aside): the API keeps definitions, never a caller's bindings."""
    admin = "rg_" + "a" * 43
    store.ensure_admin_token(admin)
    gateway = InProcessGateway()

    def send(method: str, path: str, body: Any = None, token: str = admin, **kwargs: Any) -> Any:
        return gateway.send(method, path, token=token, body=body, **kwargs)

    scopes = {}
    for team in ("team-a", "team-b"):
        body = {"name": team, "resources": [{"registry": "ghcr.io", "repository": f"{team}/*"}]}
        scopes[team] = send("POST", "/v1/scopes", body).body["id"]
    assert send("POST", "/v1/scans", report(f"{IMAGE}:1")).status == 201
    user = send(
        "POST",
        "/v1/users",
        {
            "name": "gate",
            "kind": "service",
            "role_bindings": [{"role": "ci_pipeline", "scope": scopes["team-a"]}],
        },
    ).body
    token = send("POST", f"/v1/users/{user['id']}/tokens", {"name": "ci"}).body["token"]

    def verdict() -> int:
        status: int = send("GET", "/v1/verdict", token=token, query={"image": f"{IMAGE}:1"}).status
        return status

    assert verdict() == 200
    assert verdict() == 200
    rebound = {"role_bindings": [{"role": "ci_pipeline", "scope": scopes["team-b"]}]}
    assert send("PATCH", f"/v1/users/{user['id']}", rebound).status == 200
    assert verdict() == 404
    assert send("PATCH", f"/v1/users/{user['id']}", {"enabled": False}).status == 200
    assert verdict() == 401


# --- the version item --------------------------------------------------------------------------------


def version(dynamodb: Any) -> dict[str, Any]:
    item = dynamodb.get_item(TableName=TABLE_NAME, Key=to_item(VERSION_KEY), ConsistentRead=True).get("Item")
    return from_item(item) if item else {}


def test_every_change_of_a_managed_entity_bumps_the_version(dynamodb: Any) -> None:
    seen = [version(dynamodb).get("change_id")]

    def changed() -> None:
        now = version(dynamodb)
        assert now["change_id"] not in seen
        assert now["version"] == len(seen)
        seen.append(now["change_id"])

    scope = ok("POST", "/v1/scopes", {"name": "s", "resources": [{"repository": "x/*"}]}, 201)
    changed()
    ok("PATCH", f"/v1/scopes/{scope['id']}", {"description": "d"})
    changed()
    # A change that changes nothing writes nothing, the version included.
    ok("PATCH", f"/v1/scopes/{scope['id']}", {"description": "d"})
    assert version(dynamodb)["change_id"] == seen[-1]
    ok("POST", "/v1/roles", {"name": "r", "permissions": ["images:read"]}, 201)
    changed()
    ok("PATCH", "/v1/roles/r", {"permissions": ["scans:write"]})
    changed()
    user = ok("POST", "/v1/users", {"name": "u", "kind": "service"}, 201)
    changed()
    ok("PATCH", f"/v1/users/{user['id']}", {"role_bindings": [{"role": "r", "scope": scope["id"]}]})
    changed()
    policy = ok("POST", POLICIES, {"name": "p", "scope": scope["id"], "conditions": {"malware": True}}, 201)
    changed()
    assert version(dynamodb)["policy_ids"] == [policy["id"]]
    ok("PATCH", f"{POLICIES}/{policy['id']}", {"enabled": False})
    changed()
    ok("PATCH", f"{POLICIES}/default", {"enabled": False})  # the virtual default stored
    changed()
    ok("DELETE", f"{POLICIES}/default", status=204)  # its tombstone
    changed()
    ok("DELETE", f"{POLICIES}/{policy['id']}", status=204)
    changed()
    assert "policy_ids" not in version(dynamodb)
    ok("DELETE", f"/v1/users/{user['id']}", status=204)
    changed()
    ok("DELETE", "/v1/roles/r", status=204)
    changed()
    ok("DELETE", f"/v1/scopes/{scope['id']}", status=204)
    changed()
