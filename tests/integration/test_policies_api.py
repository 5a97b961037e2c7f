"""Assurance policies through the API handler against moto: CRUD, validation, scope rules, the default
policy, the scope-use reference, concurrent edits, and one audit event per change."""

from __future__ import annotations

from typing import Any

import pytest

from riskgate.adapters.policies import PolicyStore
from riskgate.domain.audit import Actor
from riskgate.domain.errors import Conflict
from riskgate.domain.policies import DEFAULT_POLICY_ID, DEFAULT_POLICY_NAME
from tests.integration.conftest import TABLE_NAME
from tests.support.api_calls import call, ok

POLICIES = "/v1/assurance-policies"
TEAM_A_RESOURCES = [{"registry": "ghcr.io", "repository": "team-a/*"}]


def policy(scope: str = "global", **fields: Any) -> dict[str, Any]:
    return {
        "name": "No log4j",
        "description": "log4j is banned",
        "scope": scope,
        "conditions": {"packages": ["log4j-*"]},
        "actions": ["block_ci"],
        **fields,
    }


def make_scope(name: str = "team-a") -> str:
    scope_id: str = ok("POST", "/v1/scopes", {"name": name, "resources": TEAM_A_RESOURCES}, 201)["id"]
    return scope_id


def make_role(name: str, permissions: list[str]) -> str:
    ok("POST", "/v1/roles", {"name": name, "permissions": permissions}, 201)
    return name


def events_of(policy_id: str) -> list[dict[str, Any]]:
    query = {"entity_type": "assurance_policy", "entity_id": policy_id}
    items: list[dict[str, Any]] = ok("GET", "/v1/audit-events", query=query)["items"]
    return items


def error_location(body: Any) -> list[str]:
    return [detail.get("location") for detail in body["error"]["details"]]


# --- the default policy ---------------------------------------------------------------------------


def test_the_default_policy_is_in_force_from_the_start(dynamodb: Any) -> None:
    listed = ok("GET", POLICIES)["items"]
    assert [p["id"] for p in listed] == [DEFAULT_POLICY_ID]
    default = ok("GET", f"{POLICIES}/{DEFAULT_POLICY_ID}")
    assert default["name"] == DEFAULT_POLICY_NAME
    assert default["scope"] == "global"
    assert default["version"] == 1
    assert default["conditions"] == {
        "severity_at_least": "critical",
        "max_count": 0,
        "malware": True,
        "sensitive_data": True,
    }
    assert default["actions"] == ["block_ci"]
    assert default["created_at"] is None  # virtual: never stored
    assert default["reevaluation"] is None


def test_the_default_policy_can_be_changed_and_then_is_stored(dynamodb: Any) -> None:
    changed = ok("PATCH", f"{POLICIES}/{DEFAULT_POLICY_ID}", {"conditions": {"severity_at_least": "high"}})
    assert changed["version"] == 2
    assert changed["conditions"] == {"severity_at_least": "high", "max_count": 0}
    assert changed["actions"] == ["block_ci"]  # what was not sent stays
    assert ok("GET", f"{POLICIES}/{DEFAULT_POLICY_ID}") == changed
    # Listed once, as the stored policy it now is.
    assert [p["id"] for p in ok("GET", POLICIES)["items"]] == [DEFAULT_POLICY_ID]
    again = ok("PATCH", f"{POLICIES}/{DEFAULT_POLICY_ID}", {"enabled": False})
    assert again["version"] == 3
    assert [e["action"] for e in events_of(DEFAULT_POLICY_ID)] == ["update", "update"]


@pytest.mark.parametrize("changed_first", [False, True])
def test_the_default_policy_stays_deleted(dynamodb: Any, changed_first: bool) -> None:
    if changed_first:
        ok("PATCH", f"{POLICIES}/{DEFAULT_POLICY_ID}", {"description": "ours"})
    assert call("DELETE", f"{POLICIES}/{DEFAULT_POLICY_ID}") == (204, None)
    assert call("GET", f"{POLICIES}/{DEFAULT_POLICY_ID}")[0] == 404
    assert ok("GET", POLICIES)["items"] == []
    assert call("DELETE", f"{POLICIES}/{DEFAULT_POLICY_ID}")[0] == 404
    assert call("PATCH", f"{POLICIES}/{DEFAULT_POLICY_ID}", {"enabled": True})[0] == 404
    assert PolicyStore(TABLE_NAME, client=dynamodb).load_policies() == []
    assert events_of(DEFAULT_POLICY_ID)[0]["action"] == "delete"


# --- CRUD -----------------------------------------------------------------------------------------


def test_create_read_change_delete_each_leave_one_event(dynamodb: Any) -> None:
    status, created = call("POST", POLICIES, policy(conditions={"cvss_at_least": 9.5}, mode="dry_run"))
    assert status == 201, created
    policy_id = created["id"]
    assert created["version"] == 1
    assert created["mode"] == "dry_run"
    assert created["conditions"] == {"cvss_at_least": 9.5}  # a float survives the Decimal round trip
    assert created["created_by"] == "admin"
    assert ok("GET", f"{POLICIES}/{policy_id}") == created
    assert [p["id"] for p in ok("GET", POLICIES)["items"]] == [DEFAULT_POLICY_ID, policy_id]
    assert len(events_of(policy_id)) == 1

    changed = ok("PATCH", f"{POLICIES}/{policy_id}", {"name": "Renamed", "mode": "enforce"})
    assert (changed["name"], changed["mode"], changed["version"]) == ("Renamed", "enforce", 2)
    assert changed["conditions"] == created["conditions"]
    assert len(events_of(policy_id)) == 2
    # A change that changes nothing writes nothing.
    assert ok("PATCH", f"{POLICIES}/{policy_id}", {"name": "Renamed"})["version"] == 2
    assert len(events_of(policy_id)) == 2

    assert call("DELETE", f"{POLICIES}/{policy_id}") == (204, None)
    assert call("GET", f"{POLICIES}/{policy_id}")[0] == 404
    events = events_of(policy_id)
    assert [e["action"] for e in events] == ["delete", "update", "create"]
    assert events[1]["before"]["name"] == "No log4j"
    assert events[1]["after"]["name"] == "Renamed"


def test_the_list_pages(dynamodb: Any) -> None:
    for number in range(3):
        ok("POST", POLICIES, policy(name=f"policy {number}"), 201)
    first = ok("GET", POLICIES, query={"limit": "2"})
    assert first["next_token"]
    second = ok("GET", POLICIES, query={"limit": "2", "next_token": first["next_token"]})
    names = [p["name"] for p in first["items"] + second["items"]]
    assert names == [DEFAULT_POLICY_NAME, "policy 0", "policy 1", "policy 2"]


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"conditions": {}}, "body.conditions"),
        ({"conditions": {"severity_at_least": "severe"}}, "body.conditions.severity_at_least"),
        ({"conditions": {"max_count": 2, "malware": True}}, "body.conditions.max_count"),
        ({"conditions": {"cvss_at_least": 11}}, "body.conditions.cvss_at_least"),
        # JSON's NaN/Infinity (json.dumps writes them) and the strings lax parsing would read as floats,
        # next to a valid condition: once, NaN was turned into null and the policy stored without it.
        ({"conditions": {"malware": True, "cvss_at_least": float("nan")}}, "body.conditions.cvss_at_least"),
        ({"conditions": {"malware": True, "cvss_at_least": float("inf")}}, "body.conditions.cvss_at_least"),
        ({"conditions": {"malware": True, "cvss_at_least": float("-inf")}}, "body.conditions.cvss_at_least"),
        ({"conditions": {"malware": True, "cvss_at_least": "NaN"}}, "body.conditions.cvss_at_least"),
        ({"conditions": {"malware": True, "cvss_at_least": "inf"}}, "body.conditions.cvss_at_least"),
        # Numbers DynamoDB cannot store were 500s.
        ({"conditions": {"cvss_at_least": 1e-300}}, "body.conditions.cvss_at_least"),
        ({"conditions": {"severity_at_least": "high", "max_count": 10**40}}, "body.conditions.max_count"),
        ({"conditions": {"bogus": True}}, "body.conditions.bogus"),
        ({"conditions": {"fixable_only": True, "malware": True}}, "body.conditions.fixable_only"),
        ({"conditions": {"packages": [""]}}, "body.conditions.packages[0]"),
        ({"actions": ["email"]}, "body.actions"),
        ({"mode": "shadow"}, "body.mode"),
        ({"name": ""}, "body.name"),
        ({"colour": "red"}, "body.colour"),
        ({"scope": "no-such-scope"}, "body.scope"),
    ],
)
def test_invalid_policies_are_422_naming_the_field(
    dynamodb: Any, fields: dict[str, Any], location: str
) -> None:
    status, body = call("POST", POLICIES, policy(**fields))
    assert status == 422, body
    assert location in error_location(body)
    assert ok("GET", POLICIES)["items"] == [ok("GET", f"{POLICIES}/{DEFAULT_POLICY_ID}")]


def test_a_patch_is_validated_too_and_may_not_null_a_field(dynamodb: Any) -> None:
    policy_id = ok("POST", POLICIES, policy(), 201)["id"]
    status, body = call("PATCH", f"{POLICIES}/{policy_id}", {"conditions": {"malware": "yes"}})
    assert (status, error_location(body)) == (422, ["body.conditions.malware"])
    status, body = call("PATCH", f"{POLICIES}/{policy_id}", {"name": None})
    assert status == 422
    status, body = call("PATCH", f"{POLICIES}/{policy_id}", {"conditions": {"cvss_at_least": float("nan")}})
    assert (status, error_location(body)) == (422, ["body.conditions.cvss_at_least"])
    assert ok("GET", f"{POLICIES}/{policy_id}")["version"] == 1


# --- scopes ---------------------------------------------------------------------------------------


def test_a_policy_in_a_scope_is_invisible_and_untouchable_from_another(dynamodb: Any) -> None:
    team_a, team_b = make_scope("team-a"), make_scope("team-b")
    policy_id = ok("POST", POLICIES, policy(team_a), 201)["id"]
    officer_b = [{"role": "security_officer", "scope": team_b}]
    officer_a = [{"role": "security_officer", "scope": team_a}]

    assert call("GET", f"{POLICIES}/{policy_id}", as_=officer_b)[0] == 404
    assert ok("GET", POLICIES, as_=officer_b)["items"] == []  # nor the global default
    assert call("PATCH", f"{POLICIES}/{policy_id}", {"enabled": False}, as_=officer_b)[0] == 404
    assert call("DELETE", f"{POLICIES}/{policy_id}", as_=officer_b)[0] == 404
    assert call("POST", POLICIES, policy(team_a), as_=officer_b)[0] == 403

    assert [p["id"] for p in ok("GET", POLICIES, as_=officer_a)["items"]] == [policy_id]
    assert ok("PATCH", f"{POLICIES}/{policy_id}", {"enabled": False}, as_=officer_a)["enabled"] is False
    # Moving it out of the caller's scopes is creating it there.
    assert call("PATCH", f"{POLICIES}/{policy_id}", {"scope": team_b}, as_=officer_a)[0] == 403
    assert call("POST", POLICIES, policy("global"), as_=officer_a)[0] == 403
    assert len(events_of(policy_id)) == 2  # create and the one permitted change


def test_the_global_scope_needs_scopes_global_to_manage_not_to_read(dynamodb: Any) -> None:
    team_a = make_scope("team-a")
    manager = make_role("policy-manager", ["assurance_policies:read", "assurance_policies:manage"])
    caller = [{"role": manager, "scope": "global"}]

    status, body = call("POST", POLICIES, policy("global"), as_=caller)
    assert status == 403
    assert "scopes:global" in body["error"]["message"]
    assert call("PATCH", f"{POLICIES}/{DEFAULT_POLICY_ID}", {"enabled": False}, as_=caller)[0] == 403
    assert call("DELETE", f"{POLICIES}/{DEFAULT_POLICY_ID}", as_=caller)[0] == 403
    # A grant in global covers every scope's policies; reading the global ones needs no more.
    assert ok("GET", f"{POLICIES}/{DEFAULT_POLICY_ID}", as_=caller)["id"] == DEFAULT_POLICY_ID
    assert ok("POST", POLICIES, policy(team_a), 201, as_=caller)["scope"] == team_a
    developer = [{"role": "developer", "scope": "global"}]
    assert len(ok("GET", POLICIES, as_=developer)["items"]) == 2
    assert call("POST", POLICIES, policy(team_a), as_=developer)[0] == 403


def test_a_scope_a_policy_uses_cannot_be_deleted(dynamodb: Any) -> None:
    team_a, team_b = make_scope("team-a"), make_scope("team-b")
    policy_id = ok("POST", POLICIES, policy(team_a, name="Team A rules"), 201)["id"]

    status, body = call("DELETE", f"/v1/scopes/{team_a}")
    assert status == 409
    assert "Team A rules" in body["error"]["message"]
    assert body["error"]["details"] == [{"type": "policy", "id": policy_id, "name": "Team A rules"}]

    # Moving the policy moves the use: team-a is free, team-b is used (under the policy's new name).
    ok("PATCH", f"{POLICIES}/{policy_id}", {"scope": team_b, "name": "Team B rules"})
    assert call("DELETE", f"/v1/scopes/{team_a}") == (204, None)
    status, body = call("DELETE", f"/v1/scopes/{team_b}")
    assert status == 409
    assert "Team B rules" in body["error"]["message"]
    ok("DELETE", f"{POLICIES}/{policy_id}", status=204)
    assert call("DELETE", f"/v1/scopes/{team_b}") == (204, None)


# --- concurrency ----------------------------------------------------------------------------------


def test_a_concurrent_change_is_retried_once_then_refused(dynamodb: Any) -> None:
    policies = PolicyStore(TABLE_NAME, client=dynamodb)
    other = PolicyStore(TABLE_NAME, client=dynamodb)
    actor = Actor(user_id="admin")
    created = policies.create_policy(
        {
            "name": "p",
            "description": "",
            "scope": "global",
            "enabled": True,
            "mode": "enforce",
            "conditions": {"malware": True},
            "actions": [],
        },
        actor,
    )
    policy_id = created["id"]
    racing = iter(range(1))

    def once_someone_else_writes(current: dict[str, Any]) -> None:
        # Between our read and our write, another writer changes the policy (the first time only).
        for _ in racing:
            other.update_policy(policy_id, {"description": "theirs"}, actor, lambda _: None)

    changed = policies.update_policy(policy_id, {"enabled": False}, actor, once_someone_else_writes)
    assert (changed["version"], changed["description"], changed["enabled"]) == (3, "theirs", False)

    def always_someone_else_writes(current: dict[str, Any]) -> None:
        other.update_policy(policy_id, {"description": f"theirs {current['version']}"}, actor, lambda _: None)

    with pytest.raises(Conflict, match="changed concurrently"):
        policies.update_policy(policy_id, {"enabled": True}, actor, always_someone_else_writes)
    with pytest.raises(Conflict, match="changed concurrently"):
        policies.delete_policy(policy_id, actor, always_someone_else_writes)
