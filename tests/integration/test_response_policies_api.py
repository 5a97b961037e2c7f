"""Response policies through the API handler against moto: CRUD, validation, outputs naming existing
integrations of their type, enable/disable and the trigger index, scope rules, the use references that
keep scopes and integrations from being deleted, and one audit event per change. Outputs may name only
integrations the caller may see and whose scope contains the policy's, and the 422 for any other never
tells whether it exists, what type it has or where it lies (issue 16)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from riskgate.adapters.dynamo import from_item
from riskgate.adapters.response_policies import ResponsePolicyStore
from riskgate.domain.access import GLOBAL, Access, Grant
from riskgate.domain.audit import Actor
from riskgate.domain.errors import InvalidInput
from riskgate.domain.integrations import IntegrationType
from riskgate.domain.permissions import SYSTEM_ROLES
from riskgate.domain.response_policies import Output, ResponsePolicy, ResponseTrigger
from riskgate.services import response_policies as service
from tests.integration.conftest import TABLE_NAME
from tests.support.api_calls import call, ok

POLICIES = "/v1/response-policies"
TEAM_A_RESOURCES = [{"registry": "ghcr.io", "repository": "team-a/*"}]
MAIL = {"output": "email", "integration": "ops-mail"}
HOOK = {"output": "webhook", "integration": "ops-hook"}


@pytest.fixture
def integrations(dynamodb: Any) -> None:
    ok(
        "POST",
        "/v1/integrations",
        {
            "name": "ops-mail",
            "type": "email",
            "config": {"from": "rg@example.com", "to": ["ops@example.com"]},
        },
        201,
    )
    ok(
        "POST",
        "/v1/integrations",
        {"name": "ops-hook", "type": "webhook", "config": {"url": "https://h.example"}},
        201,
    )


def policy(scope: str = "global", **fields: Any) -> dict[str, Any]:
    return {
        "name": "Tell ops",
        "description": "non-compliant images reach ops",
        "scope": scope,
        "trigger": "non_compliant",
        "outputs": [MAIL],
        **fields,
    }


def make_scope(name: str) -> str:
    scope_id: str = ok("POST", "/v1/scopes", {"name": name, "resources": TEAM_A_RESOURCES}, 201)["id"]
    return scope_id


def events_of(policy_id: str) -> list[dict[str, Any]]:
    query = {"entity_type": "response_policy", "entity_id": policy_id}
    items: list[dict[str, Any]] = ok("GET", "/v1/audit-events", query=query)["items"]
    return items


def error_location(body: Any) -> list[str]:
    return [detail.get("location") for detail in body["error"]["details"]]


def enabled_ids(dynamodb: Any, trigger: str) -> list[str]:
    return [p["id"] for p in ResponsePolicyStore(TABLE_NAME, client=dynamodb).enabled_for_trigger(trigger)]


def item(dynamodb: Any, pk: str, sk: str) -> dict[str, Any] | None:
    found = dynamodb.get_item(TableName=TABLE_NAME, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    return from_item(found) if found else None


# --- CRUD -----------------------------------------------------------------------------------------


def test_create_read_change_delete_each_leave_one_event(dynamodb: Any, integrations: None) -> None:
    status, created = call("POST", POLICIES, policy())
    assert status == 201, created
    policy_id = created["id"]
    assert policy_id.startswith("rsp-")
    assert len(policy_id) == len("rsp-") + 16
    assert (created["enabled"], created["version"], created["scope"]) == (True, 1, "global")
    assert created["outputs"] == [MAIL]
    assert created["filters"] == {"severity_at_least": None, "repositories": [], "fixable_only": False}
    assert ok("GET", f"{POLICIES}/{policy_id}") == created
    assert [p["id"] for p in ok("GET", POLICIES)["items"]] == [policy_id]

    changed = ok(
        "PATCH",
        f"{POLICIES}/{policy_id}",
        {"name": "Tell ops loudly", "outputs": [MAIL, HOOK], "filters": {"severity_at_least": "high"}},
    )
    assert (changed["name"], changed["version"]) == ("Tell ops loudly", 2)
    assert changed["outputs"] == [MAIL, HOOK]
    assert changed["filters"]["severity_at_least"] == "high"
    assert changed["trigger"] == "non_compliant"  # what was not sent stays
    # A change that changes nothing writes nothing.
    assert ok("PATCH", f"{POLICIES}/{policy_id}", {"name": "Tell ops loudly"})["version"] == 2

    assert call("DELETE", f"{POLICIES}/{policy_id}") == (204, None)
    assert call("GET", f"{POLICIES}/{policy_id}")[0] == 404
    assert call("DELETE", f"{POLICIES}/{policy_id}")[0] == 404
    events = events_of(policy_id)
    assert [e["action"] for e in events] == ["delete", "update", "create"]
    assert events[1]["before"]["outputs"] == [MAIL]
    assert events[1]["after"]["outputs"] == [MAIL, HOOK]


def test_a_policy_can_be_created_disabled_and_the_list_pages(dynamodb: Any, integrations: None) -> None:
    for number in range(3):
        ok("POST", POLICIES, policy(name=f"policy {number}", enabled=number != 1), 201)
    first = ok("GET", POLICIES, query={"limit": "2"})
    assert first["next_token"]
    second = ok("GET", POLICIES, query={"limit": "2", "next_token": first["next_token"]})
    listed = first["items"] + second["items"]
    assert [(p["name"], p["enabled"]) for p in listed] == [
        ("policy 0", True),
        ("policy 1", False),
        ("policy 2", True),
    ]


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"trigger": "new_image"}, "body.trigger"),
        ({"outputs": []}, "body.outputs"),
        ({"outputs": [MAIL] * 11}, "body.outputs"),
        ({"outputs": [{"output": "pager", "integration": "ops-mail"}]}, "body.outputs[0].output"),
        ({"outputs": [MAIL, MAIL]}, "body.outputs[1].integration"),
        ({"outputs": [{"output": "email", "integration": "nobody"}]}, "body.outputs[0].integration"),
        ({"outputs": [MAIL, {"output": "email", "integration": "ops-hook"}]}, "body.outputs[1].integration"),
        ({"outputs": [{"output": "telegram", "integration": "ops-mail"}]}, "body.outputs[0].integration"),
        ({"filters": {"severity_at_least": "severe"}}, "body.filters.severity_at_least"),
        ({"filters": {"repositories": [""]}}, "body.filters.repositories[0]"),
        ({"scope": "no-such-scope"}, "body.scope"),
        ({"name": ""}, "body.name"),
        ({"colour": "red"}, "body.colour"),
    ],
)
def test_invalid_policies_are_422_naming_the_field(
    dynamodb: Any, integrations: None, fields: dict[str, Any], location: str
) -> None:
    status, body = call("POST", POLICIES, policy(**fields))
    assert status == 422, body
    assert location in error_location(body)
    assert ok("GET", POLICIES)["items"] == []


def test_an_output_naming_an_integration_of_another_type_says_so(dynamodb: Any, integrations: None) -> None:
    status, body = call("POST", POLICIES, policy(outputs=[{"output": "email", "integration": "ops-hook"}]))
    assert status == 422
    assert "ops-hook is a webhook integration, not email" in body["error"]["message"]
    policy_id = ok("POST", POLICIES, policy(), 201)["id"]
    status, body = call(
        "PATCH", f"{POLICIES}/{policy_id}", {"outputs": [MAIL, {"output": "sns", "integration": "x"}]}
    )
    assert (status, error_location(body)) == (422, ["body.outputs[1].integration"])
    assert call("PATCH", f"{POLICIES}/{policy_id}", {"outputs": None})[0] == 422
    assert ok("GET", f"{POLICIES}/{policy_id}")["version"] == 1


def test_the_write_itself_refuses_an_integration_gone_or_of_another_type(
    dynamodb: Any, integrations: None
) -> None:
    """The service checks first; the transaction checks again, for an integration deleted meanwhile."""
    policies = ResponsePolicyStore(TABLE_NAME, client=dynamodb)
    fields = {
        "name": "p",
        "description": "",
        "scope": "global",
        "trigger": "malware",
        "outputs": [MAIL, {"output": "email", "integration": "gone"}],
        "filters": {},
        "enabled": True,
    }
    with pytest.raises(InvalidInput, match="integration gone does not exist") as error:
        policies.create_policy(fields, Actor(user_id="admin"))
    assert error.value.details[0]["location"] == "body.outputs[1].integration"
    with pytest.raises(InvalidInput, match="ops-hook does not exist with type email"):
        policies.create_policy(
            {**fields, "outputs": [{"output": "email", "integration": "ops-hook"}]}, Actor(user_id="admin")
        )
    assert ok("GET", POLICIES)["items"] == []


# --- enabling and the trigger index ---------------------------------------------------------------


def test_enable_and_disable_move_the_policy_in_and_out_of_its_triggers_index(
    dynamodb: Any, integrations: None
) -> None:
    policy_id = ok("POST", POLICIES, policy(), 201)["id"]
    assert enabled_ids(dynamodb, "non_compliant") == [policy_id]

    disabled = ok("POST", f"{POLICIES}/{policy_id}/disable")
    assert (disabled["enabled"], disabled["version"]) == (False, 2)
    assert enabled_ids(dynamodb, "non_compliant") == []
    stored = item(dynamodb, f"RESPONSE_POLICY#{policy_id}", "META")
    assert stored is not None
    assert "gsi1pk" not in stored
    # Disabling a disabled one changes nothing: no write, no event.
    assert ok("POST", f"{POLICIES}/{policy_id}/disable")["version"] == 2

    enabled = ok("POST", f"{POLICIES}/{policy_id}/enable")
    assert (enabled["enabled"], enabled["version"]) == (True, 3)
    assert ok("POST", f"{POLICIES}/{policy_id}/enable")["version"] == 3
    assert enabled_ids(dynamodb, "non_compliant") == [policy_id]

    # A new trigger moves it to that trigger's index; while disabled, it is in none.
    ok("PATCH", f"{POLICIES}/{policy_id}", {"trigger": "malware"})
    assert (enabled_ids(dynamodb, "non_compliant"), enabled_ids(dynamodb, "malware")) == ([], [policy_id])
    ok("PATCH", f"{POLICIES}/{policy_id}", {"enabled": False, "trigger": "sensitive_data"})
    assert enabled_ids(dynamodb, "malware") == enabled_ids(dynamodb, "sensitive_data") == []
    listed = ResponsePolicyStore(TABLE_NAME, client=dynamodb).enabled_for_trigger("malware")
    assert listed == []
    ok("POST", f"{POLICIES}/{policy_id}/enable")
    (found,) = ResponsePolicyStore(TABLE_NAME, client=dynamodb).enabled_for_trigger("sensitive_data")
    # What the dispatcher will read: the whole policy, as the domain's.
    read = ResponsePolicy.from_fields(found)
    assert (read.id, read.trigger, read.enabled, read.outputs) == (
        policy_id,
        ResponseTrigger.SENSITIVE_DATA,
        True,
        (Output(IntegrationType.EMAIL, "ops-mail"),),
    )

    assert [e["action"] for e in events_of(policy_id)] == ["update"] * 5 + ["create"]
    assert call("POST", f"{POLICIES}/rsp-0000000000000000/enable")[0] == 404


# --- scopes ---------------------------------------------------------------------------------------


def test_a_policy_in_a_scope_is_invisible_and_untouchable_from_another(
    dynamodb: Any, integrations: None
) -> None:
    team_a, team_b = make_scope("team-a"), make_scope("team-b")
    policy_id = ok("POST", POLICIES, policy(team_a), 201)["id"]
    officer_b = [{"role": "security_officer", "scope": team_b}]
    officer_a = [{"role": "security_officer", "scope": team_a}]

    assert call("GET", f"{POLICIES}/{policy_id}", as_=officer_b)[0] == 404
    assert ok("GET", POLICIES, as_=officer_b)["items"] == []
    for method, path, body in (
        ("PATCH", f"{POLICIES}/{policy_id}", {"description": "x"}),
        ("POST", f"{POLICIES}/{policy_id}/disable", None),
        ("POST", f"{POLICIES}/{policy_id}/enable", None),
        ("DELETE", f"{POLICIES}/{policy_id}", None),
    ):
        assert call(method, path, body, as_=officer_b)[0] == 404, (method, path)
    assert call("POST", POLICIES, policy(team_a), as_=officer_b)[0] == 403

    assert [p["id"] for p in ok("GET", POLICIES, as_=officer_a)["items"]] == [policy_id]
    assert ok("POST", f"{POLICIES}/{policy_id}/disable", as_=officer_a)["enabled"] is False
    # Moving it out of the caller's scopes is creating it there.
    assert call("PATCH", f"{POLICIES}/{policy_id}", {"scope": team_b}, as_=officer_a)[0] == 403
    assert call("POST", POLICIES, policy("global"), as_=officer_a)[0] == 403
    assert len(events_of(policy_id)) == 2  # create and the one permitted change


def test_the_global_scope_needs_scopes_global_to_manage_not_to_read(
    dynamodb: Any, integrations: None
) -> None:
    global_id = ok("POST", POLICIES, policy(), 201)["id"]
    team_a = make_scope("team-a")
    # Reading integrations too: a policy's outputs may name only integrations the caller may see.
    ok(
        "POST",
        "/v1/roles",
        {
            "name": "responder",
            "permissions": ["response_policies:read", "response_policies:manage", "integrations:read"],
        },
        201,
    )
    caller = [{"role": "responder", "scope": "global"}]

    status, body = call("POST", POLICIES, policy("global"), as_=caller)
    assert status == 403
    assert "scopes:global" in body["error"]["message"]
    assert call("POST", f"{POLICIES}/{global_id}/disable", as_=caller)[0] == 403
    assert call("DELETE", f"{POLICIES}/{global_id}", as_=caller)[0] == 403
    assert ok("GET", f"{POLICIES}/{global_id}", as_=caller)["id"] == global_id
    assert ok("POST", POLICIES, policy(team_a), 201, as_=caller)["scope"] == team_a
    assert call("GET", POLICIES, as_=[{"role": "developer", "scope": "global"}])[0] == 403
    auditor = [{"role": "auditor", "scope": "global"}]
    assert len(ok("GET", POLICIES, as_=auditor)["items"]) == 2
    assert call("POST", f"{POLICIES}/{global_id}/disable", as_=auditor)[0] == 403


# --- use references -------------------------------------------------------------------------------


def test_an_integration_in_use_cannot_be_deleted_and_the_409_names_the_policies(
    dynamodb: Any, integrations: None
) -> None:
    first = ok("POST", POLICIES, policy(name="Mail ops", outputs=[MAIL, HOOK]), 201)["id"]
    second = ok("POST", POLICIES, policy(name="Hook only", trigger="malware", outputs=[HOOK]), 201)["id"]

    status, body = call("DELETE", "/v1/integrations/ops-hook")
    assert status == 409
    assert "Mail ops" in body["error"]["message"]
    assert "Hook only" in body["error"]["message"]
    assert sorted(body["error"]["details"], key=lambda d: d["name"]) == [
        {"type": "response_policy", "id": second, "name": "Hook only"},
        {"type": "response_policy", "id": first, "name": "Mail ops"},
    ]
    # Refused: no event (the two are the integrations' creation).
    assert len(ok("GET", "/v1/audit-events", query={"entity_type": "integration"})["items"]) == 2

    # Dropping the output frees it from that policy; renaming carries the new name into the 409.
    ok("PATCH", f"{POLICIES}/{first}", {"outputs": [MAIL]})
    ok("PATCH", f"{POLICIES}/{second}", {"name": "Renamed"})
    status, body = call("DELETE", "/v1/integrations/ops-hook")
    assert status == 409
    assert body["error"]["details"] == [{"type": "response_policy", "id": second, "name": "Renamed"}]
    ok("DELETE", f"{POLICIES}/{second}", status=204)
    assert call("DELETE", "/v1/integrations/ops-hook") == (204, None)
    assert call("DELETE", "/v1/integrations/ops-mail")[0] == 409


def test_a_scope_a_response_policy_uses_cannot_be_deleted(dynamodb: Any, integrations: None) -> None:
    team_a, team_b = make_scope("team-a"), make_scope("team-b")
    policy_id = ok("POST", POLICIES, policy(team_a, name="Team A alerts"), 201)["id"]
    status, body = call("DELETE", f"/v1/scopes/{team_a}")
    assert status == 409
    assert body["error"]["details"] == [{"type": "response_policy", "id": policy_id, "name": "Team A alerts"}]
    ok("PATCH", f"{POLICIES}/{policy_id}", {"scope": team_b})
    assert call("DELETE", f"/v1/scopes/{team_a}") == (204, None)
    assert call("DELETE", f"/v1/scopes/{team_b}")[0] == 409
    ok("PATCH", f"{POLICIES}/{policy_id}", {"scope": "global"})
    assert call("DELETE", f"/v1/scopes/{team_b}") == (204, None)


def test_the_stored_items_follow_the_documented_shapes(dynamodb: Any, integrations: None) -> None:
    team_a = make_scope("team-a")
    policy_id = ok("POST", POLICIES, policy(team_a, outputs=[MAIL, HOOK]), 201)["id"]
    stored = item(dynamodb, f"RESPONSE_POLICY#{policy_id}", "META")
    assert stored is not None
    assert (stored["gsi1pk"], stored["gsi1sk"]) == ("RESPONSE_TRIGGER#non_compliant", policy_id)
    assert (stored["gsi2pk"], stored["gsi2sk"]) == ("RESPONSE_POLICIES", f"Tell ops#{policy_id}")
    integration = item(dynamodb, "INTEGRATION#ops-mail", "META")
    assert integration is not None
    assert (integration["gsi2pk"], integration["gsi2sk"], integration["uses_version"]) == (
        "INTEGRATIONS",
        "ops-mail",
        1,
    )
    for pk in ("USES#integration#ops-mail", "USES#integration#ops-hook", f"USES#scope#{team_a}"):
        reference = item(dynamodb, pk, f"response_policy#{policy_id}")
        assert reference is not None, pk
        assert reference["referrer_name"] == "Tell ops"

    ok("DELETE", f"{POLICIES}/{policy_id}", status=204)
    for pk in ("USES#integration#ops-mail", "USES#integration#ops-hook", f"USES#scope#{team_a}"):
        assert item(dynamodb, pk, f"response_policy#{policy_id}") is None


# --- integrations a policy may use (issue 16) -------------------------------------------------------


def unusable(index: int, name: str) -> dict[str, Any]:
    """The one answer for an integration a policy may not use, whatever the reason."""
    problem = f"no integration named {name!r} that this policy may use"
    return {
        "error": {
            "code": "invalid_request",
            "message": f"outputs[{index}].integration: {problem}",
            "details": [{"location": f"body.outputs[{index}].integration", "message": problem}],
        }
    }


@pytest.fixture
def teams(dynamodb: Any, integrations: None) -> tuple[str, str]:
    """Scopes team-a and team-b, each with a webhook of its own (the global ops-mail and ops-hook too)."""
    team_a, team_b = make_scope("team-a"), make_scope("team-b")
    for name, scope in (("a-hook", team_a), ("b-hook", team_b)):
        ok(
            "POST",
            "/v1/integrations",
            {"name": name, "type": "webhook", "scope": scope, "config": {"url": f"https://{name}.example"}},
            201,
        )
    return team_a, team_b


def test_a_team_cannot_learn_of_or_use_another_teams_or_a_hidden_integration(
    dynamodb: Any, teams: tuple[str, str]
) -> None:
    team_a, _ = teams
    officer_a = [{"role": "security_officer", "scope": team_a}]
    answers = {}
    # Another team's integration, a global one the officer may not see, and none at all: one answer,
    # whatever output type is asked for (no type is ever named), and nothing is written.
    for name in ("b-hook", "ops-mail", "nobody"):
        for output in ("webhook", "email"):
            body = policy(team_a, outputs=[{"output": output, "integration": name}])
            status, answer = call("POST", POLICIES, body, as_=officer_a)
            assert (status, answer) == (422, unusable(0, name)), (name, output)
            answers[name, output] = json.dumps(answer).replace(name, "NAME")
    assert len(set(answers.values())) == 1
    for text in answers.values():
        assert "webhook" not in text
        assert "email" not in text
    assert ok("GET", POLICIES)["items"] == []

    # Its own integration, yes; and once it exists, changing its outputs to another team's is refused alike.
    policy_id = ok(
        "POST",
        POLICIES,
        policy(team_a, outputs=[{"output": "webhook", "integration": "a-hook"}]),
        201,
        as_=officer_a,
    )["id"]
    status, answer = call(
        "PATCH",
        f"{POLICIES}/{policy_id}",
        {
            "outputs": [
                {"output": "webhook", "integration": "a-hook"},
                {"output": "webhook", "integration": "b-hook"},
            ]
        },
        as_=officer_a,
    )
    assert (status, answer) == (422, unusable(1, "b-hook"))
    # The type of an integration the caller may use is no secret.
    status, answer = call(
        "PATCH",
        f"{POLICIES}/{policy_id}",
        {"outputs": [{"output": "email", "integration": "a-hook"}]},
        as_=officer_a,
    )
    assert status == 422
    assert "a-hook is a webhook integration, not email" in answer["error"]["message"]
    assert ok("GET", f"{POLICIES}/{policy_id}")["version"] == 1


def test_an_integration_serves_only_policies_its_scope_contains(
    dynamodb: Any, teams: tuple[str, str]
) -> None:
    team_a, team_b = teams
    a_hook = {"output": "webhook", "integration": "a-hook"}
    # Even an administrator, who sees everything: a team's integration serves that team's policies only.
    assert call("POST", POLICIES, policy(team_b, outputs=[a_hook])) == (422, unusable(0, "a-hook"))
    assert call("POST", POLICIES, policy("global", outputs=[a_hook])) == (422, unusable(0, "a-hook"))
    # A global integration serves every scope.
    mixed = ok("POST", POLICIES, policy(team_a, outputs=[a_hook, MAIL]), 201)
    assert mixed["outputs"] == [a_hook, MAIL]
    global_only = ok("POST", POLICIES, policy(team_a, name="global outputs", outputs=[MAIL, HOOK]), 201)

    # Moving a policy takes its outputs along: they must serve the new scope too.
    assert call("PATCH", f"{POLICIES}/{mixed['id']}", {"scope": team_b}) == (422, unusable(0, "a-hook"))
    assert call("PATCH", f"{POLICIES}/{mixed['id']}", {"scope": "global"}) == (422, unusable(0, "a-hook"))
    assert ok("PATCH", f"{POLICIES}/{global_only['id']}", {"scope": team_b})["scope"] == team_b
    moved = ok(
        "PATCH",
        f"{POLICIES}/{mixed['id']}",
        {"scope": team_b, "outputs": [{"output": "webhook", "integration": "b-hook"}, MAIL]},
    )
    assert (moved["scope"], moved["version"]) == (team_b, 2)
    assert ok("GET", f"{POLICIES}/{global_only['id']}")["version"] == 2


def test_the_writes_own_refusal_of_an_output_says_no_more_than_the_check(
    dynamodb: Any, integrations: None
) -> None:
    """An integration deleted (or replaced by one of another type) between the check and the write: the
    transaction refuses it, in the same words as the check."""

    class Stale:
        def get_integration(self, name: str) -> dict[str, Any] | None:
            return {"name": name, "type": "email", "scope": "global"}

    admin = Access(
        user_id="admin",
        token_id="t",
        grants=(Grant(SYSTEM_ROLES["administrator"], GLOBAL),),
    )
    policies = ResponsePolicyStore(TABLE_NAME, client=dynamodb)
    fields = {**policy(outputs=[MAIL, {"output": "email", "integration": "gone"}]), "filters": {}}
    with pytest.raises(InvalidInput) as refused:
        service.create_policy(policies, Stale(), admin, Actor(user_id="admin"), fields)
    assert (
        refused.value.message
        == "outputs[1].integration: no integration named 'gone' that this policy may use"
    )
    assert refused.value.details == [
        {
            "location": "body.outputs[1].integration",
            "message": "no integration named 'gone' that this policy may use",
        }
    ]
    # ops-hook is a webhook: the write says so in its own words, the service does not pass them on.
    with pytest.raises(InvalidInput) as refused:
        service.create_policy(
            policies,
            Stale(),
            admin,
            Actor(user_id="admin"),
            {**fields, "outputs": [{"output": "email", "integration": "ops-hook"}]},
        )
    assert "webhook" not in refused.value.message
    assert refused.value.details[0]["location"] == "body.outputs[0].integration"
    assert ok("GET", POLICIES)["items"] == []
