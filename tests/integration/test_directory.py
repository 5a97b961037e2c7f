"""Scopes, roles, users and tokens through the API handler against moto, and tokens through the real
authorizer: what an administrator does, what the security event log keeps, what concurrency cannot break.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from riskgate.adapters.directory import Directory
from riskgate.adapters.dynamo import from_item, to_item
from riskgate.adapters.store import default_store
from riskgate.auth.tokens import hash_token
from riskgate.domain.audit import Actor
from riskgate.handlers.api import handler
from riskgate.handlers.api.app import openapi_json
from riskgate.handlers.authorizer import handler as authorizer
from tests.integration.conftest import TABLE_NAME
from tests.integration.test_authorizer import authorizer_event
from tests.support.events import FakeLambdaContext, api_event, response_json

CONTEXT: Any = FakeLambdaContext()  # duck-typed as a LambdaContext
TEAM_A_RESOURCES = [{"registry": "ghcr.io", "repository": "team-a/*"}]


def call(method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    event = api_event(method, path, body=json.dumps(body) if body is not None else None, **kwargs)
    response = handler(event, CONTEXT)
    return response["statusCode"], response_json(response) if response.get("body") else None


def created(method: str, path: str, body: Any) -> dict[str, Any]:
    status, answer = call(method, path, body)
    assert status == 201, answer
    assert isinstance(answer, dict)
    return answer


def make_scope(name: str = "team-a", resources: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return created("POST", "/v1/scopes", {"name": name, "resources": resources or TEAM_A_RESOURCES})


def make_role(name: str = "image-reader", permissions: list[str] | None = None) -> dict[str, Any]:
    return created("POST", "/v1/roles", {"name": name, "permissions": permissions or ["images:read"]})


def make_user(
    name: str = "alice", bindings: list[dict[str, str]] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"name": name, "kind": "person", "role_bindings": bindings or [], **fields}
    return created("POST", "/v1/users", body)


def issue(user_id: str, **fields: Any) -> dict[str, Any]:
    return created("POST", f"/v1/users/{user_id}/tokens", {"name": "ci", **fields})


def authorize(secret: str) -> dict[str, Any]:
    response: dict[str, Any] = authorizer(authorizer_event(f"Bearer {secret}"), CONTEXT)
    return response


def refused(secret: str) -> bool:
    try:
        authorize(secret)
    except Exception as error:
        return str(error) == "Unauthorized"
    return False


def error_message(body: Any) -> str:
    assert set(body) == {"error"}
    return str(body["error"]["message"])


# --- the security event log ------------------------------------------------------------------------


def audit_events(dynamodb: Any) -> list[dict[str, Any]]:
    """Every change event in the table (failed authentications aside), oldest first."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": TABLE_NAME,
        "IndexName": "gsi2",
        "KeyConditionExpression": "gsi2pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "AUDIT"}},
    }
    while True:
        page = dynamodb.query(**kwargs)
        events += [from_item(item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return [event for event in events if event["entity_type"] != "authentication"]
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class AuditLog:
    """Proves that a call left exactly one new event, with the right facts and no secret."""

    def __init__(self, dynamodb: Any) -> None:
        self.dynamodb = dynamodb
        self.secrets: list[str] = []

    @contextmanager
    def expect_one(self, action: str, entity_type: str) -> Iterator[dict[str, Any]]:
        seen = {event["id"] for event in audit_events(self.dynamodb)}
        recorded: dict[str, Any] = {}
        yield recorded
        new = [event for event in audit_events(self.dynamodb) if event["id"] not in seen]
        assert len(new) == 1, new
        event = new[0]
        assert (event["action"], event["entity_type"]) == (action, entity_type)
        assert event["actor"] == "admin"
        assert event["token_id"] == "tok-test"
        assert event["source_ip"] == "203.0.113.7"
        if "entity_id" in recorded:
            assert event["entity_id"] == recorded["entity_id"]
        self.assert_no_secret(event)
        recorded["event"] = event

    def expect_none(self) -> Callable[[], None]:
        count = len(audit_events(self.dynamodb))
        return lambda: self._assert_count(count)

    def _assert_count(self, count: int) -> None:
        assert len(audit_events(self.dynamodb)) == count

    def assert_no_secret(self, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        assert "rg_" not in text
        assert "token_hash" not in text
        for secret in self.secrets:
            assert secret not in text
            assert hash_token(secret) not in text


@pytest.fixture
def audit(dynamodb: Any) -> AuditLog:
    return AuditLog(dynamodb)


@contextmanager
def before_each_transaction(action: Callable[[], None], times: int | None = 1) -> Iterator[None]:
    """Runs `action` — a concurrent writer — just before the API's next `times` transactions (every
    one when None), through a botocore hook on the API's own client."""
    events = default_store().client.meta.events
    remaining = [times]

    def hook(**_: Any) -> None:
        if remaining[0] is None or remaining[0] > 0:
            if remaining[0] is not None:
                remaining[0] -= 1
            action()

    events.register("before-call.dynamodb.TransactWriteItems", hook, unique_id="concurrent-writer")
    try:
        yield
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="concurrent-writer")


# --- scopes ------------------------------------------------------------------------------------------


def test_scope_lifecycle(dynamodb: Any, audit: AuditLog) -> None:
    # Given a new scope
    with audit.expect_one("create", "scope") as recorded:
        scope = make_scope()
    assert scope["id"].startswith("scp-")
    assert recorded["event"]["entity_id"] == scope["id"]
    assert recorded["event"]["after"]["resources"] == TEAM_A_RESOURCES
    assert scope["resources"] == [{"registry": "ghcr.io", "repository": "team-a/*", "tag": None}]
    assert (scope["system"], scope["version"], scope["created_by"]) == (False, 1, "admin")
    # Then it is listed after the global scope, and readable
    status, listed = call("GET", "/v1/scopes")
    assert status == 200
    assert [(s["id"], s["system"]) for s in listed["items"]] == [("global", True), (scope["id"], False)]
    assert call("GET", f"/v1/scopes/{scope['id']}") == (200, scope)

    # When it is changed
    change = {"name": "team-a-prod", "resources": [{"repository": "team-a/*", "tag": "v*"}]}
    with audit.expect_one("update", "scope") as recorded:
        status, changed = call("PATCH", f"/v1/scopes/{scope['id']}", change)
    assert status == 200, changed
    assert changed["name"] == "team-a-prod"
    assert changed["resources"] == [{"registry": None, "repository": "team-a/*", "tag": "v*"}]
    assert changed["version"] == 2
    assert recorded["event"]["before"]["name"] == "team-a"
    assert recorded["event"]["after"]["name"] == "team-a-prod"
    # The old name is free again, the new one taken
    make_scope("team-a")
    status, body = call("POST", "/v1/scopes", {"name": "team-a-prod", "resources": TEAM_A_RESOURCES})
    assert status == 409
    assert "team-a-prod" in error_message(body)

    # When it is deleted, it is gone
    with audit.expect_one("delete", "scope") as recorded:
        assert call("DELETE", f"/v1/scopes/{scope['id']}") == (204, None)
    assert recorded["event"]["before"]["id"] == scope["id"]
    status, body = call("GET", f"/v1/scopes/{scope['id']}")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert call("DELETE", f"/v1/scopes/{scope['id']}")[0] == 404
    assert call("PATCH", f"/v1/scopes/{scope['id']}", {"description": "x"})[0] == 404
    # and its name can be used again
    make_scope("team-a-prod")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "empty", "resources": []},
        {"name": "no-resources"},
        {"name": "blank-selector", "resources": [{}]},
        {"name": "blank-glob", "resources": [{"repository": ""}]},
        {"name": "unknown-field", "resources": [{"image": "x"}]},
        {"name": "bad#name", "resources": TEAM_A_RESOURCES},
        {"name": "", "resources": TEAM_A_RESOURCES},
    ],
)
def test_an_invalid_scope_is_422(dynamodb: Any, audit: AuditLog, body: dict[str, Any]) -> None:
    nothing_recorded = audit.expect_none()
    status, answer = call("POST", "/v1/scopes", body)
    assert status == 422, answer
    assert answer["error"]["code"] == "invalid_request"
    nothing_recorded()


def test_the_global_scope_always_exists_and_cannot_be_changed(dynamodb: Any, audit: AuditLog) -> None:
    status, scope = call("GET", "/v1/scopes/global")
    assert status == 200
    assert (scope["id"], scope["system"]) == ("global", True)
    status, body = call("PATCH", "/v1/scopes/global", {"description": "mine now"})
    assert status == 409
    assert "global" in error_message(body)
    assert call("DELETE", "/v1/scopes/global")[0] == 409
    status, body = call("POST", "/v1/scopes", {"name": "global", "resources": TEAM_A_RESOURCES})
    assert status == 409
    scope_id = make_scope()["id"]
    assert call("PATCH", f"/v1/scopes/{scope_id}", {"name": "global"})[0] == 409
    assert [e["action"] for e in audit_events(dynamodb)] == ["create"]  # the scope made above, only


def test_a_scope_in_use_cannot_be_deleted_and_the_409_names_its_users(dynamodb: Any, audit: AuditLog) -> None:
    # Given a scope that alice's binding uses
    scope = make_scope()
    alice = make_user("alice", [{"role": "developer", "scope": scope["id"]}])
    # When it is deleted: 409 naming alice, nothing changes
    nothing_recorded = audit.expect_none()
    status, body = call("DELETE", f"/v1/scopes/{scope['id']}")
    assert status == 409
    assert "alice" in error_message(body)
    assert alice["id"] in error_message(body)
    assert body["error"]["details"] == [{"type": "user", "id": alice["id"], "name": "alice"}]
    nothing_recorded()
    assert call("GET", f"/v1/scopes/{scope['id']}")[0] == 200
    # A rename of the user is what the next 409 says
    call("PATCH", f"/v1/users/{alice['id']}", {"name": "alice-b"})
    assert "alice-b" in error_message(call("DELETE", f"/v1/scopes/{scope['id']}")[1])
    # Once the binding is gone, the scope can go
    assert call("PATCH", f"/v1/users/{alice['id']}", {"role_bindings": []})[0] == 200
    assert call("DELETE", f"/v1/scopes/{scope['id']}") == (204, None)


def test_a_binding_added_while_a_scope_is_deleted_keeps_the_scope(dynamodb: Any) -> None:
    # Given an unused scope, and another administrator binding bob to it at the same moment the
    # delete has checked the scope's references but not yet written
    scope = make_scope()
    other_admin = Directory(TABLE_NAME, client=dynamodb)

    def bind_bob() -> None:
        other_admin.create_user(
            name="bob",
            email=None,
            kind="person",
            role_bindings=[{"role": "developer", "scope": scope["id"]}],
            enabled=True,
            actor=Actor(user_id="other-admin"),
        )

    with before_each_transaction(bind_bob):
        status, body = call("DELETE", f"/v1/scopes/{scope['id']}")
    # Then the delete, retried from a fresh read, sees bob
    assert status == 409, body
    assert "bob" in error_message(body)
    assert call("GET", f"/v1/scopes/{scope['id']}")[0] == 200


def test_a_scope_deleted_while_a_user_is_bound_to_it_refuses_the_binding(dynamodb: Any) -> None:
    scope = make_scope()
    other_admin = Directory(TABLE_NAME, client=dynamodb)

    def delete_scope() -> None:
        other_admin.delete_scope(scope["id"], Actor(user_id="other-admin"))

    with before_each_transaction(delete_scope):
        status, body = call(
            "POST",
            "/v1/users",
            {
                "name": "carol",
                "kind": "person",
                "role_bindings": [{"role": "developer", "scope": scope["id"]}],
            },
        )
    assert status == 422, body
    assert scope["id"] in error_message(body)
    _, users = call("GET", "/v1/users")
    assert users["items"] == []


def test_an_item_written_outside_the_directory_never_releases_another_ones_name(dynamodb: Any) -> None:
    # Given a scope item from before name guards (as older data and fixtures write them), and a
    # directory scope that took the same name
    legacy = {"pk": "SCOPE#scope-old", "sk": "META", "id": "scope-old", "name": "team-a", "resources": []}
    dynamodb.put_item(TableName=TABLE_NAME, Item=to_item(legacy))
    current = make_scope("team-a")
    # When the old one is changed and deleted
    assert call("PATCH", "/v1/scopes/scope-old", {"description": "old"})[1]["version"] == 1
    assert call("DELETE", "/v1/scopes/scope-old") == (204, None)
    # Then the name still belongs to the current scope
    assert call("POST", "/v1/scopes", {"name": "team-a", "resources": TEAM_A_RESOURCES})[0] == 409
    assert call("GET", f"/v1/scopes/{current['id']}")[0] == 200


# --- roles -------------------------------------------------------------------------------------------


def test_role_lifecycle(dynamodb: Any, audit: AuditLog) -> None:
    with audit.expect_one("create", "role") as recorded:
        role = make_role("image-reader", ["images:read", "risks:read", "images:read"])
    assert recorded["event"]["entity_id"] == "image-reader"
    assert role["permissions"] == ["images:read", "risks:read"]
    assert (role["system"], role["version"]) == (False, 1)

    status, listed = call("GET", "/v1/roles")
    assert status == 200
    names = [(r["name"], r["system"]) for r in listed["items"]]
    assert names[:5] == [
        (name, True) for name in ("administrator", "security_officer", "developer", "ci_pipeline", "auditor")
    ]
    assert names[5:] == [("image-reader", False)]
    assert call("GET", "/v1/roles/image-reader") == (200, role)

    with audit.expect_one("update", "role") as recorded:
        status, changed = call(
            "PATCH", "/v1/roles/image-reader", {"permissions": ["images:read"], "description": "x"}
        )
    assert status == 200, changed
    assert (changed["permissions"], changed["description"], changed["version"]) == (["images:read"], "x", 2)
    assert recorded["event"]["before"]["permissions"] == ["images:read", "risks:read"]

    # The name is the key bindings use: it cannot change
    assert call("PATCH", "/v1/roles/image-reader", {"name": "other"})[0] == 422
    status, body = call("POST", "/v1/roles", {"name": "image-reader", "permissions": ["audit:read"]})
    assert status == 409
    assert "image-reader" in error_message(body)

    with audit.expect_one("delete", "role"):
        assert call("DELETE", "/v1/roles/image-reader") == (204, None)
    assert call("GET", "/v1/roles/image-reader")[0] == 404
    assert call("PATCH", "/v1/roles/image-reader", {"description": "y"})[0] == 404
    assert call("DELETE", "/v1/roles/image-reader")[0] == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/roles", {"name": "writer", "permissions": ["images:write"]}),
        ("POST", "/v1/roles", {"name": "nothing", "permissions": []}),
        ("PATCH", "/v1/roles/reader", {"permissions": ["images:read", "everything"]}),
        ("PATCH", "/v1/roles/reader", {"permissions": None}),
    ],
)
def test_an_unknown_permission_is_422(dynamodb: Any, method: str, path: str, body: dict[str, Any]) -> None:
    make_role("reader")
    status, answer = call(method, path, body)
    assert status == 422, answer
    assert "permissions" in error_message(answer)
    assert call("GET", "/v1/roles/reader")[1]["permissions"] == ["images:read"]


def test_system_roles_are_listed_and_read_only(dynamodb: Any, audit: AuditLog) -> None:
    nothing_recorded = audit.expect_none()
    status, role = call("GET", "/v1/roles/ci_pipeline")
    assert status == 200
    assert role["system"] is True
    assert role["permissions"] == ["images:read", "scans:write"]
    status, body = call("POST", "/v1/roles", {"name": "administrator", "permissions": ["images:read"]})
    assert status == 409
    assert "system role" in error_message(body)
    assert call("PATCH", "/v1/roles/administrator", {"permissions": ["images:read"]})[0] == 409
    assert call("DELETE", "/v1/roles/auditor")[0] == 409
    nothing_recorded()


def test_a_role_in_use_cannot_be_deleted(dynamodb: Any) -> None:
    make_role("image-reader")
    dave = make_user("dave", [{"role": "image-reader", "scope": "global"}])
    status, body = call("DELETE", "/v1/roles/image-reader")
    assert status == 409
    assert "dave" in error_message(body)
    assert body["error"]["details"] == [{"type": "user", "id": dave["id"], "name": "dave"}]
    # Deleting the user frees the role
    assert call("DELETE", f"/v1/users/{dave['id']}") == (204, None)
    assert call("DELETE", "/v1/roles/image-reader") == (204, None)


# --- users -------------------------------------------------------------------------------------------


def test_user_lifecycle(dynamodb: Any, audit: AuditLog) -> None:
    scope = make_scope()
    make_role("image-reader")
    bindings = [{"role": "image-reader", "scope": scope["id"]}, {"role": "ci_pipeline", "scope": "global"}]
    with audit.expect_one("create", "user") as recorded:
        user = make_user("erin", bindings, email="erin@example.com")
    assert user["id"].startswith("usr-")
    assert recorded["event"]["entity_id"] == user["id"]
    assert recorded["event"]["after"]["role_bindings"] == bindings
    assert (user["role_bindings"], user["enabled"], user["email"], user["version"]) == (
        bindings,
        True,
        "erin@example.com",
        1,
    )
    assert call("GET", f"/v1/users/{user['id']}") == (200, user)

    with audit.expect_one("update", "user"):
        status, changed = call(
            "PATCH",
            f"/v1/users/{user['id']}",
            {"kind": "service", "email": None, "role_bindings": bindings[1:]},
        )
    assert status == 200, changed
    assert (changed["kind"], changed["email"], changed["role_bindings"], changed["version"]) == (
        "service",
        None,
        bindings[1:],
        2,
    )
    with audit.expect_one("update", "user") as recorded:
        status, disabled = call("PATCH", f"/v1/users/{user['id']}", {"enabled": False})
    assert disabled["enabled"] is False
    assert (recorded["event"]["before"]["enabled"], recorded["event"]["after"]["enabled"]) == (True, False)

    with audit.expect_one("delete", "user"):
        assert call("DELETE", f"/v1/users/{user['id']}") == (204, None)
    assert call("GET", f"/v1/users/{user['id']}")[0] == 404
    assert call("PATCH", f"/v1/users/{user['id']}", {"enabled": True})[0] == 404
    # Nothing of the user is left to block the scope or role
    assert call("DELETE", f"/v1/scopes/{scope['id']}") == (204, None)
    assert call("DELETE", "/v1/roles/image-reader") == (204, None)


def test_users_are_listed_by_name_page_by_page(dynamodb: Any) -> None:
    for name in ("zoe", "adam", "mia"):
        make_user(name)
    status, first = call("GET", "/v1/users", query={"limit": "2"})
    assert status == 200
    assert [u["name"] for u in first["items"]] == ["adam", "mia"]
    _, second = call("GET", "/v1/users", query={"limit": "2", "next_token": first["next_token"]})
    assert [u["name"] for u in second["items"]] == ["zoe"]
    assert call("GET", "/v1/users", query={"next_token": "garbage"})[0] == 400


@pytest.mark.parametrize(
    ("binding", "named"),
    [
        ({"role": "ghost", "scope": "global"}, "role ghost"),
        ({"role": "developer", "scope": "scp-0000000000000000"}, "scope scp-0000000000000000"),
    ],
)
def test_a_binding_to_an_unknown_role_or_scope_is_422(
    dynamodb: Any, audit: AuditLog, binding: dict[str, str], named: str
) -> None:
    nothing_recorded = audit.expect_none()
    status, body = call("POST", "/v1/users", {"name": "frank", "kind": "person", "role_bindings": [binding]})
    assert status == 422, body
    assert named in error_message(body)
    nothing_recorded()
    # Nothing was kept, not even the name
    frank = make_user("frank")
    status, body = call("PATCH", f"/v1/users/{frank['id']}", {"role_bindings": [binding]})
    assert status == 422
    assert named in error_message(body)
    assert call("GET", f"/v1/users/{frank['id']}")[1]["version"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"name": "gina", "kind": "robot"},
        {"name": "gina", "kind": "person", "email": "not-an-email"},
        {"name": "gina"},
        {"name": "gina", "kind": "person", "role_bindings": [{"scope": "global"}]},
        {"name": "gina", "kind": "person", "password": "x"},
    ],
)
def test_an_invalid_user_is_422(dynamodb: Any, body: dict[str, Any]) -> None:
    status, answer = call("POST", "/v1/users", body)
    assert status == 422, answer


def test_names_are_unique(dynamodb: Any, audit: AuditLog) -> None:
    harry = make_user("harry")
    ivy = make_user("ivy")
    nothing_recorded = audit.expect_none()
    status, body = call("POST", "/v1/users", {"name": "harry", "kind": "service"})
    assert status == 409
    assert "harry" in error_message(body)
    assert call("PATCH", f"/v1/users/{ivy['id']}", {"name": "harry"})[0] == 409
    # The bootstrap administrator's name is its own
    assert call("POST", "/v1/users", {"name": "admin", "kind": "person"})[0] == 409
    nothing_recorded()
    # A rename frees the old name
    assert call("PATCH", f"/v1/users/{harry['id']}", {"name": "harold"})[0] == 200
    make_user("harry")


def test_a_patch_that_changes_nothing_writes_nothing(dynamodb: Any, audit: AuditLog) -> None:
    user = make_user("jack", email="jack@example.com")
    nothing_recorded = audit.expect_none()
    status, same = call("PATCH", f"/v1/users/{user['id']}", {"email": "jack@example.com", "enabled": True})
    assert status == 200
    assert same["version"] == 1
    nothing_recorded()


def test_callers_cannot_disable_or_delete_themselves(dynamodb: Any) -> None:
    # The test events' caller is the user "admin"
    for method, body in (("PATCH", {"enabled": False}), ("DELETE", None)):
        status, answer = call(method, "/v1/users/admin", body)
        assert status == 409, answer
        assert "your own user" in error_message(answer)


# --- optimistic concurrency ------------------------------------------------------------------------


def bump_user(dynamodb: Any, user_id: str) -> Callable[[], None]:
    """Another writer changing the user's email (and so its version) behind the API's back."""

    def write() -> None:
        dynamodb.update_item(
            TableName=TABLE_NAME,
            Key={"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "META"}},
            UpdateExpression="SET version = version + :one, email = :email",
            ExpressionAttributeValues={":one": {"N": "1"}, ":email": {"S": "elsewhere@example.com"}},
        )

    return write


def test_a_patch_racing_another_writer_is_retried_from_a_fresh_read(dynamodb: Any, audit: AuditLog) -> None:
    user = make_user("kate")
    with (
        audit.expect_one("update", "user") as recorded,
        before_each_transaction(bump_user(dynamodb, user["id"])),
    ):
        status, changed = call("PATCH", f"/v1/users/{user['id']}", {"kind": "service"})
    assert status == 200, changed
    # Both changes survive: the other writer's email and ours
    assert (changed["kind"], changed["email"], changed["version"]) == ("service", "elsewhere@example.com", 3)
    assert call("GET", f"/v1/users/{user['id']}")[1] == changed
    assert recorded["event"]["before"]["version"] == 2


def test_a_patch_that_keeps_losing_the_race_is_409(dynamodb: Any, audit: AuditLog) -> None:
    user = make_user("liam")
    make_role("image-reader")
    nothing_recorded = audit.expect_none()
    with before_each_transaction(bump_user(dynamodb, user["id"]), times=None):
        status, body = call("PATCH", f"/v1/users/{user['id']}", {"role_bindings": [{"role": "image-reader"}]})
    assert status == 409, body
    assert "changed concurrently" in error_message(body)
    nothing_recorded()
    # Nothing of the refused change was written: the role is unused
    assert call("DELETE", "/v1/roles/image-reader") == (204, None)


@contextmanager
def transactions_cancelled_by_conflicts(times: int | None) -> Iterator[None]:
    """DynamoDB cancelling the API's next `times` transactions (every one when None) because another
    transaction touched the same items at that moment — which moto never does."""
    events = default_store().client.meta.events
    remaining = [times]

    def conflict(**_: Any) -> tuple[Any, dict[str, Any]] | None:
        if remaining[0] is not None:
            if remaining[0] == 0:
                return None
            remaining[0] -= 1
        reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing"}]
        message = "Transaction cancelled, please refer cancellation reasons for specific reasons"
        error = {"Code": "TransactionCanceledException", "Message": message}
        return SimpleNamespace(status_code=400, headers={}), {
            "Error": error,
            "CancellationReasons": reasons,
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    events.register("before-call.dynamodb.TransactWriteItems", conflict, unique_id="conflict")
    try:
        yield
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="conflict")


def test_a_create_cancelled_by_a_simultaneous_transaction_is_sent_again(
    dynamodb: Any, audit: AuditLog
) -> None:
    scope = make_scope()
    binding = [{"role": "developer", "scope": scope["id"]}]
    with audit.expect_one("create", "user"), transactions_cancelled_by_conflicts(times=1):
        user = make_user("uma", binding)
    assert call("GET", f"/v1/users/{user['id']}")[1]["role_bindings"] == binding


def test_a_change_that_keeps_meeting_simultaneous_transactions_is_409_not_500(
    dynamodb: Any, audit: AuditLog
) -> None:
    user = make_user("vic")
    nothing_recorded = audit.expect_none()
    with transactions_cancelled_by_conflicts(times=None):
        for method, path, body in (
            ("POST", "/v1/users", {"name": "walt", "kind": "person"}),
            ("PATCH", f"/v1/users/{user['id']}", {"kind": "service"}),
            ("POST", f"/v1/users/{user['id']}/tokens", {"name": "x"}),
            ("DELETE", f"/v1/users/{user['id']}", None),
        ):
            status, answer = call(method, path, body)
            assert status == 409, (method, path, answer)
            assert "changed concurrently" in error_message(answer)
    nothing_recorded()


# --- tokens ------------------------------------------------------------------------------------------


def test_a_token_acts_as_its_user_until_revoked(dynamodb: Any, audit: AuditLog) -> None:
    # Given a user bound to a custom role in a scope
    scope = make_scope()
    make_role("image-reader")
    bindings = [{"role": "image-reader", "scope": scope["id"]}]
    user = make_user("mona", bindings)
    # When a token is issued, the secret is in that answer only
    with audit.expect_one("token.issue", "token") as recorded:
        token = issue(user["id"], expires_at="2999-01-01T12:00:00+02:00")
    secret = token["token"]
    audit.secrets.append(secret)
    audit.assert_no_secret(recorded["event"])
    assert recorded["event"]["entity_id"] == token["id"]
    assert recorded["event"]["details"] == {"user_id": user["id"]}
    assert secret.startswith("rg_")
    assert (token["user_id"], token["name"], token["expires_at"]) == (
        user["id"],
        "ci",
        "2999-01-01T10:00:00Z",
    )
    status, listed = call("GET", f"/v1/users/{user['id']}/tokens")
    assert status == 200
    assert [t["id"] for t in listed["items"]] == [token["id"]]
    assert "token" not in listed["items"][0]
    assert secret not in json.dumps(listed)
    assert hash_token(secret) not in json.dumps(listed)

    # Then the real authorizer accepts it as that user, with that user's bindings
    answer = authorize(secret)
    assert answer["principalId"] == user["id"]
    assert json.loads(answer["context"]["role_bindings"]) == bindings
    # and the API lets it do what the role allows, where the scope allows
    event = api_event("GET", "/v1/images")
    event["requestContext"]["authorizer"] = {"principalId": user["id"], **answer["context"]}
    assert handler(event, CONTEXT)["statusCode"] == 200
    event = api_event("GET", "/v1/users")
    event["requestContext"]["authorizer"] = {"principalId": user["id"], **answer["context"]}
    assert handler(event, CONTEXT)["statusCode"] == 403
    # and its use is noted
    _, listed = call("GET", f"/v1/users/{user['id']}/tokens")
    assert listed["items"][0]["last_used_at"]

    # When it is revoked, the authorizer refuses it
    with audit.expect_one("token.revoke", "token") as recorded:
        assert call("DELETE", f"/v1/users/{user['id']}/tokens/{token['id']}") == (204, None)
    assert recorded["event"]["after"]["revoked_by"] == "admin"
    assert refused(secret)
    _, listed = call("GET", f"/v1/users/{user['id']}/tokens")
    assert listed["items"][0]["revoked_at"]
    status, body = call("DELETE", f"/v1/users/{user['id']}/tokens/{token['id']}")
    assert status == 409
    assert "already revoked" in error_message(body)


def test_disabling_or_deleting_the_user_stops_its_tokens(dynamodb: Any) -> None:
    user = make_user("nina", [{"role": "developer", "scope": "global"}])
    first, second = issue(user["id"])["token"], issue(user["id"])["token"]
    assert authorize(first)["principalId"] == user["id"]

    status, disabled = call("PATCH", f"/v1/users/{user['id']}", {"enabled": False})
    assert status == 200, disabled
    assert disabled["token_generation"] == 1
    assert refused(first)
    assert refused(second)
    status, enabled = call("PATCH", f"/v1/users/{user['id']}", {"enabled": True})
    assert status == 200, enabled
    # Enabling the user again does not revive what was issued before: a token may have leaked meanwhile.
    assert refused(first)
    assert refused(second)
    third = issue(user["id"])["token"]
    assert authorize(third)["principalId"] == user["id"]
    events = ok_events(user["id"])
    assert any(e["after"].get("token_generation") == 1 and e["after"]["enabled"] is False for e in events)

    call("DELETE", f"/v1/users/{user['id']}")
    assert refused(third)


def ok_events(user_id: str) -> list[dict[str, Any]]:
    status, page = call("GET", "/v1/audit-events", query={"entity_type": "user", "entity_id": user_id})
    assert status == 200, page
    items: list[dict[str, Any]] = page["items"]
    return items


def test_token_requests_about_unknown_users_or_tokens_are_404(dynamodb: Any) -> None:
    user = make_user("omar")
    other = make_user("pia")
    token = issue(other["id"])
    assert call("POST", "/v1/users/usr-0000000000000000/tokens", {"name": "x"})[0] == 404
    assert call("GET", "/v1/users/usr-0000000000000000/tokens")[0] == 404
    assert call("DELETE", f"/v1/users/{user['id']}/tokens/tok-0000000000000000")[0] == 404
    # A token is revoked only through its own user
    assert call("DELETE", f"/v1/users/{user['id']}/tokens/{token['id']}")[0] == 404
    assert refused(token["token"]) is False


@pytest.mark.parametrize("expires_at", ["2000-01-01T00:00:00Z", "2999-01-01T00:00:00", "next week", 12])
def test_a_token_expiry_must_be_a_future_time_with_a_zone(dynamodb: Any, expires_at: Any) -> None:
    user = make_user("quinn")
    status, body = call("POST", f"/v1/users/{user['id']}/tokens", {"name": "x", "expires_at": expires_at})
    assert status == 422, body
    assert "expires_at" in json.dumps(body)


# --- who may manage the directory -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/users", None),
        ("POST", "/v1/users", {"name": "rex", "kind": "person"}),
        ("GET", "/v1/roles", None),
        ("POST", "/v1/roles", {"name": "r", "permissions": ["images:read"]}),
        ("GET", "/v1/scopes", None),
        ("POST", "/v1/scopes", {"name": "s", "resources": TEAM_A_RESOURCES}),
        ("DELETE", "/v1/users/admin/tokens/tok-test", None),
    ],
)
def test_users_manage_must_be_granted_in_the_global_scope(
    dynamodb: Any, audit: AuditLog, method: str, path: str, body: Any
) -> None:
    # Given an administrator of team-a only, and a security officer of everything
    scope = make_scope()
    nothing_recorded = audit.expect_none()
    team_admin = [{"role": "administrator", "scope": scope["id"]}]
    status, answer = call(method, path, body, role_bindings=team_admin)
    assert status == 403, answer
    assert "global" in error_message(answer)
    status, answer = call(method, path, body, role_bindings=[{"role": "security_officer", "scope": "global"}])
    assert status == 403, answer
    assert "users:manage" in error_message(answer)
    nothing_recorded()


def test_the_stored_items_follow_the_documented_shapes(dynamodb: Any) -> None:
    scope = make_scope()
    make_role("image-reader")
    user = make_user("rosa", [{"role": "image-reader", "scope": scope["id"]}])
    token = issue(user["id"])

    def item(pk: str, sk: str) -> dict[str, Any] | None:
        found = dynamodb.get_item(TableName=TABLE_NAME, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
        return from_item(found) if found else None

    def stored(pk: str, sk: str) -> dict[str, Any]:
        found = item(pk, sk)
        assert found is not None, (pk, sk)
        return found

    assert stored(f"SCOPE#{scope['id']}", "META")["gsi2pk"] == "SCOPES"
    assert stored("ROLE#image-reader", "META")["gsi2sk"] == "image-reader"
    assert stored(f"USER#{user['id']}", "META")["gsi2sk"] == f"rosa#{user['id']}"
    assert stored("NAME#scope#team-a", "NAME")["owner_id"] == scope["id"]
    assert stored("NAME#user#rosa", "NAME")["owner_id"] == user["id"]
    assert stored(f"USES#scope#{scope['id']}", f"user#{user['id']}")["referrer_name"] == "rosa"
    assert stored("USES#role#image-reader", f"user#{user['id']}")["referrer_id"] == user["id"]
    stored_token = stored(f"TOKEN#{hash_token(token['token'])}", "TOKEN")
    assert stored_token["gsi1pk"] == f"USER_TOKENS#{user['id']}"
    assert token["token"] not in json.dumps(stored_token)

    call("DELETE", f"/v1/users/{user['id']}")
    assert item("NAME#user#rosa", "NAME") is None
    assert item(f"USES#scope#{scope['id']}", f"user#{user['id']}") is None
    assert item("USES#role#image-reader", f"user#{user['id']}") is None


def test_the_openapi_document_says_what_each_route_answers() -> None:
    document = json.loads(openapi_json())
    operations = [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        if path.startswith(("/v1/users", "/v1/roles", "/v1/scopes"))
        for method, operation in methods.items()
    ]
    assert len(operations) == 18
    for method, path, operation in operations:
        assert operation["x-riskgate-permission"] == "users:manage", (method, path)
        success = {"GET": "200", "PATCH": "200", "POST": "201", "DELETE": "204"}[method]
        responses = operation["responses"]
        assert success in responses, (method, path)
        assert ("content" in responses[success] and responses[success]["content"] != {}) is (success != "204")
        for status in ("403", "422"):
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
