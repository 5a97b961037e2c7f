"""The permission matrix over every route of the OpenAPI document, through the gateway and authorizer.

For each route: no token → 401; a valid token without the route's permission → 403; the permission but
the object outside the caller's scopes → 404 (403 when creating; absent from lists; 403 for account-wide
objects, which need the permission in the global scope); both → 2xx. An object with a scope of its own
(an assurance policy, in scope-team-a) is outside for a caller whose grants are in scope-team-b only.
A mutating call leaves exactly one audit event, a refused one none. A route added without a case here
fails the first test. A risk acceptance is an object in its image's scope: the matrix's one accepts the
team-a image's vulnerability; its reminder, recorded by the real expiry check run as of 24 days later,
is the event the events list must show. Integrations have a scope of their own (issue 16): the matrix's
live in scope-team-a, as does a response policy, like an assurance policy (one enabled, one disabled, so
that enabling and disabling each change something), which uses one of them; the delivery log shows that
policy's one notification. Registry connections (issue 14) belong to the whole account: the matrix's two
(one to change, one to delete) are account-wide objects; a sync asked for leaves its one audit event and
one message on the registry work queue (moto SQS).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from riskgate.adapters.acceptances import AcceptanceStore
from riskgate.adapters.audit_log import AUDIT_PARTITION
from riskgate.adapters.dynamo import to_item
from riskgate.adapters.identity_items import new_token_id, token_item, user_item
from riskgate.adapters.notifications import NotificationStore
from riskgate.adapters.store import Store
from riskgate.auth.tokens import generate_token, hash_token
from riskgate.domain.permissions import Permission
from riskgate.handlers.api.app import openapi_json
from riskgate.handlers.api.security import PERMISSION_EXTENSION
from riskgate.services.acceptance_expiry import run_expiry_check
from riskgate.services.notifications import notification_record
from tests.integration.conftest import forget_cached_ports
from tests.support.gateway import InProcessGateway

TABLE = "riskgate-test"
TEAM_A_IMAGE = "ghcr.io/team-a/app:1"
VULNERABILITY = "CVE-2024-7777"


def report(name: str) -> dict[str, Any]:
    return {
        "SchemaVersion": 2,
        "ArtifactName": name,
        "ArtifactType": "container_image",
        "Results": [
            {
                "Target": f"{name} (debian 12)",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": VULNERABILITY,
                        "PkgName": "openssl",
                        "InstalledVersion": "3",
                        "Severity": "LOW",
                    }
                ],
            }
        ],
    }


@dataclass
class World:
    """Two scopes, one image in team-a, and per permission the callers the matrix needs."""

    gateway: InProcessGateway
    dynamodb: Any
    admin: str
    image_id: str
    tokens: dict[str, str] = field(default_factory=dict)
    # The directory's own objects (scope, custom role, user, token), made through the API by the admin.
    directory: dict[str, str] = field(default_factory=dict)

    def token_for(self, role_permissions: list[str], scope: str) -> str:
        key = f"{','.join(sorted(role_permissions))}@{scope}"
        if key not in self.tokens:
            number = len(self.tokens)
            role = f"matrix-role-{number}"
            user_id = f"matrix-user-{number}"
            secret = generate_token()
            put = [
                {"pk": f"ROLE#{role}", "sk": "META", "name": role, "permissions": role_permissions},
                user_item(
                    user_id=user_id,
                    name=user_id,
                    email=None,
                    kind="service",
                    role_bindings=[{"role": role, "scope": scope}],
                    enabled=True,
                    created_at="2026-01-01T00:00:00Z",
                    created_by="test",
                ),
                token_item(
                    token_id=new_token_id(),
                    token_hash=hash_token(secret),
                    user_id=user_id,
                    name="matrix",
                    created_at="2026-01-01T00:00:00Z",
                    expires_at=None,
                ),
            ]
            for item in put:
                self.dynamodb.put_item(TableName=TABLE, Item=to_item(item))
            self.tokens[key] = secret
        return self.tokens[key]

    def audit_count(self) -> int:
        """Audit events of changes (failed authentications are counted apart)."""
        count = 0
        kwargs: dict[str, Any] = {
            "TableName": TABLE,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :p",
            "FilterExpression": "entity_type <> :auth",
            "ExpressionAttributeValues": {":p": {"S": AUDIT_PARTITION}, ":auth": {"S": "authentication"}},
            "Select": "COUNT",
        }
        while True:
            page = self.dynamodb.query(**kwargs)
            count += page["Count"]
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass(frozen=True)
class Request:
    path: str
    body: Any = None
    query: dict[str, str] | None = None


@dataclass(frozen=True)
class Case:
    """How to call a route, and what "outside the caller's scopes" means for it."""

    request: Callable[[World], Request]
    # "object": 404 outside; "create": 403 outside; "list": 2xx without the object; "account": 403
    outside: str
    # For "list": whether a 2xx answer shows the object.
    shows_object: Callable[[Any, World], bool] | None = None


def image_ids(body: Any, world: World) -> bool:
    return world.image_id in {item.get("id") or item.get("image_id") for item in body["items"]}


def policy_ids(body: Any, world: World) -> bool:
    return world.directory["policy"] in {item["id"] for item in body["items"]}


def acceptance_ids(body: Any, world: World) -> bool:
    return world.directory["acceptance"] in {item["id"] for item in body["items"]}


def vex_names_acceptance(body: Any, world: World) -> bool:
    return any(world.directory["acceptance"] in s["action_statement"] for s in body["statements"])


def event_of_acceptance(body: Any, world: World) -> bool:
    return world.directory["acceptance"] in {item["acceptance"].get("id") for item in body["items"]}


# A policy is an object with a scope of its own: the matrix's one lives in scope-team-a.
TEAM_A_POLICY = {"name": "matrix-policy", "scope": "scope-team-a", "conditions": {"packages": ["matrix-*"]}}


def response_policy_ids(body: Any, world: World) -> bool:
    return world.directory["response_policy"] in {item["id"] for item in body["items"]}


def notification_of_response_policy(body: Any, world: World) -> bool:
    return world.directory["response_policy"] in {item["policy_id"] for item in body["items"]}


def integration_names(body: Any, world: World) -> bool:
    return "matrix-mail" in {item["name"] for item in body["items"]}


MATRIX_MAIL = {"from": "matrix@example.com", "to": ["ops@example.com"]}
# The matrix's integrations, in scope-team-a: one the response policies use, one free to delete.
MATRIX_INTEGRATIONS = [
    {"name": "matrix-mail", "type": "email", "scope": "scope-team-a", "config": MATRIX_MAIL},
    {
        "name": "matrix-spare",
        "type": "webhook",
        "scope": "scope-team-a",
        "config": {"url": "https://hooks.example.com/matrix"},
    },
]
TEAM_A_RESPONSE_POLICY = {
    "name": "matrix-response",
    "scope": "scope-team-a",
    "trigger": "non_compliant",
    "outputs": [{"output": "email", "integration": "matrix-mail"}],
}


MATRIX_ECR = {"account_id": "123456789012", "region": "eu-west-1"}
# The matrix's registry connections: one to read, change and sync, one free to delete.
MATRIX_REGISTRIES = [
    {"name": "matrix-ecr", "type": "ecr", "config": MATRIX_ECR},
    {"name": "matrix-ecr-spare", "type": "ecr", "config": MATRIX_ECR},
]


def registry_ids(body: Any, world: World) -> bool:
    return world.directory["registry"] in {item["id"] for item in body["items"]}


def team_a_acceptance(scope: dict[str, Any]) -> dict[str, Any]:
    return {
        "finding": {"kind": "vulnerability", "id": VULNERABILITY},
        "scope": scope,
        "period": "30d",
        "reason": "matrix",
    }


CASES: dict[tuple[str, str], Case] = {
    ("POST", "/v1/scans"): Case(
        lambda w: Request("/v1/scans", body=report("ghcr.io/team-a/new:2")), "create"
    ),
    ("GET", "/v1/images"): Case(lambda w: Request("/v1/images"), "list", image_ids),
    ("GET", "/v1/images/{image_id}"): Case(lambda w: Request(f"/v1/images/{w.image_id}"), "object"),
    ("GET", "/v1/images/{image_id}/findings"): Case(
        lambda w: Request(f"/v1/images/{w.image_id}/findings"), "object"
    ),
    # Naming an image outside the caller's scopes is refused at once, before anything is uploaded.
    ("POST", "/v1/scans/uploads"): Case(
        lambda w: Request("/v1/scans/uploads", query={"image": "ghcr.io/team-a/new:2"}), "create"
    ),
    # An upload is its creator's: the matrix's was created by the team-a caller with every permission.
    ("GET", "/v1/scans/uploads/{upload_id}"): Case(
        lambda w: Request(f"/v1/scans/uploads/{w.directory['upload']}"), "object"
    ),
    ("GET", "/v1/images/{image_id}/scans"): Case(
        lambda w: Request(f"/v1/images/{w.image_id}/scans"), "object"
    ),
    ("GET", "/v1/vulnerabilities/{vulnerability_id}/images"): Case(
        lambda w: Request(f"/v1/vulnerabilities/{VULNERABILITY}/images"), "list", image_ids
    ),
    ("GET", "/v1/images/{image_id}/verdict"): Case(
        lambda w: Request(f"/v1/images/{w.image_id}/verdict"), "object"
    ),
    ("GET", "/v1/images/{image_id}/verdicts"): Case(
        lambda w: Request(f"/v1/images/{w.image_id}/verdicts"), "object"
    ),
    ("GET", "/v1/verdict"): Case(lambda w: Request("/v1/verdict", query={"image": TEAM_A_IMAGE}), "object"),
    ("GET", "/v1/assurance-policies"): Case(lambda w: Request("/v1/assurance-policies"), "list", policy_ids),
    ("POST", "/v1/assurance-policies"): Case(
        lambda w: Request("/v1/assurance-policies", body={**TEAM_A_POLICY, "name": "matrix-new"}), "create"
    ),
    ("GET", "/v1/assurance-policies/{policy_id}"): Case(
        lambda w: Request(f"/v1/assurance-policies/{w.directory['policy']}"), "object"
    ),
    ("PATCH", "/v1/assurance-policies/{policy_id}"): Case(
        lambda w: Request(f"/v1/assurance-policies/{w.directory['policy']}", body={"description": "changed"}),
        "object",
    ),
    ("DELETE", "/v1/assurance-policies/{policy_id}"): Case(
        lambda w: Request(f"/v1/assurance-policies/{w.directory['policy']}"), "object"
    ),
    # Every tag of the team-a repository: outside team-a, accepting there is refused (403).
    ("POST", "/v1/risk-acceptances"): Case(
        lambda w: Request(
            "/v1/risk-acceptances", body=team_a_acceptance({"repository": "ghcr.io/team-a/app"})
        ),
        "create",
    ),
    ("GET", "/v1/risk-acceptances"): Case(lambda w: Request("/v1/risk-acceptances"), "list", acceptance_ids),
    ("GET", "/v1/risk-acceptances/export"): Case(
        lambda w: Request("/v1/risk-acceptances/export", query={"format": "openvex"}),
        "list",
        vex_names_acceptance,
    ),
    ("GET", "/v1/risk-acceptances/{acceptance_id}"): Case(
        lambda w: Request(f"/v1/risk-acceptances/{w.directory['acceptance']}"), "object"
    ),
    ("POST", "/v1/risk-acceptances/{acceptance_id}/extend"): Case(
        lambda w: Request(f"/v1/risk-acceptances/{w.directory['acceptance']}/extend", body={"period": "60d"}),
        "object",
    ),
    ("POST", "/v1/risk-acceptances/{acceptance_id}/revoke"): Case(
        lambda w: Request(f"/v1/risk-acceptances/{w.directory['acceptance']}/revoke", body={"reason": "m"}),
        "object",
    ),
    ("GET", "/v1/events"): Case(lambda w: Request("/v1/events"), "list", event_of_acceptance),
    ("GET", "/v1/audit-events"): Case(lambda w: Request("/v1/audit-events"), "account"),
    ("GET", "/v1/scopes"): Case(lambda w: Request("/v1/scopes"), "account"),
    ("POST", "/v1/scopes"): Case(
        lambda w: Request("/v1/scopes", body={"name": "matrix-new", "resources": [{"repository": "new/*"}]}),
        "account",
    ),
    ("GET", "/v1/scopes/{scope_id}"): Case(
        lambda w: Request(f"/v1/scopes/{w.directory['scope']}"), "account"
    ),
    ("PATCH", "/v1/scopes/{scope_id}"): Case(
        lambda w: Request(f"/v1/scopes/{w.directory['scope']}", body={"description": "changed"}), "account"
    ),
    ("DELETE", "/v1/scopes/{scope_id}"): Case(
        lambda w: Request(f"/v1/scopes/{w.directory['scope']}"), "account"
    ),
    ("GET", "/v1/roles"): Case(lambda w: Request("/v1/roles"), "account"),
    ("POST", "/v1/roles"): Case(
        lambda w: Request("/v1/roles", body={"name": "matrix-new", "permissions": ["images:read"]}), "account"
    ),
    ("GET", "/v1/roles/{name}"): Case(lambda w: Request(f"/v1/roles/{w.directory['role']}"), "account"),
    ("PATCH", "/v1/roles/{name}"): Case(
        lambda w: Request(f"/v1/roles/{w.directory['role']}", body={"description": "changed"}), "account"
    ),
    ("DELETE", "/v1/roles/{name}"): Case(lambda w: Request(f"/v1/roles/{w.directory['role']}"), "account"),
    ("GET", "/v1/users"): Case(lambda w: Request("/v1/users"), "account"),
    ("POST", "/v1/users"): Case(
        lambda w: Request("/v1/users", body={"name": "matrix-new", "kind": "service"}), "account"
    ),
    ("GET", "/v1/users/{user_id}"): Case(lambda w: Request(f"/v1/users/{w.directory['user']}"), "account"),
    ("PATCH", "/v1/users/{user_id}"): Case(
        lambda w: Request(f"/v1/users/{w.directory['user']}", body={"email": "m@example.com"}), "account"
    ),
    ("DELETE", "/v1/users/{user_id}"): Case(lambda w: Request(f"/v1/users/{w.directory['user']}"), "account"),
    ("POST", "/v1/users/{user_id}/tokens"): Case(
        lambda w: Request(f"/v1/users/{w.directory['user']}/tokens", body={"name": "matrix"}), "account"
    ),
    ("GET", "/v1/integrations"): Case(lambda w: Request("/v1/integrations"), "list", integration_names),
    ("POST", "/v1/integrations"): Case(
        lambda w: Request(
            "/v1/integrations",
            body={"name": "matrix-new", "type": "email", "scope": "scope-team-a", "config": MATRIX_MAIL},
        ),
        "create",
    ),
    ("GET", "/v1/integrations/{name}"): Case(lambda w: Request("/v1/integrations/matrix-mail"), "object"),
    ("PATCH", "/v1/integrations/{name}"): Case(
        lambda w: Request("/v1/integrations/matrix-mail", body={"config": {"to": ["changed@example.com"]}}),
        "object",
    ),
    ("DELETE", "/v1/integrations/{name}"): Case(lambda w: Request("/v1/integrations/matrix-spare"), "object"),
    # Its one audit event is the test's outcome (moto's SES refuses the unverified sender: a 200 anyway).
    ("POST", "/v1/integrations/{name}/test"): Case(
        lambda w: Request("/v1/integrations/matrix-mail/test"), "object"
    ),
    ("GET", "/v1/response-policies"): Case(
        lambda w: Request("/v1/response-policies"), "list", response_policy_ids
    ),
    ("POST", "/v1/response-policies"): Case(
        lambda w: Request("/v1/response-policies", body={**TEAM_A_RESPONSE_POLICY, "name": "matrix-new"}),
        "create",
    ),
    ("GET", "/v1/response-policies/{policy_id}"): Case(
        lambda w: Request(f"/v1/response-policies/{w.directory['response_policy']}"), "object"
    ),
    ("PATCH", "/v1/response-policies/{policy_id}"): Case(
        lambda w: Request(
            f"/v1/response-policies/{w.directory['response_policy']}", body={"description": "changed"}
        ),
        "object",
    ),
    ("DELETE", "/v1/response-policies/{policy_id}"): Case(
        lambda w: Request(f"/v1/response-policies/{w.directory['response_policy']}"), "object"
    ),
    ("POST", "/v1/response-policies/{policy_id}/enable"): Case(
        lambda w: Request(f"/v1/response-policies/{w.directory['response_policy_disabled']}/enable"), "object"
    ),
    ("POST", "/v1/response-policies/{policy_id}/disable"): Case(
        lambda w: Request(f"/v1/response-policies/{w.directory['response_policy']}/disable"), "object"
    ),
    ("GET", "/v1/notifications"): Case(
        lambda w: Request("/v1/notifications"), "list", notification_of_response_policy
    ),
    ("GET", "/v1/registries"): Case(lambda w: Request("/v1/registries"), "account", registry_ids),
    ("POST", "/v1/registries"): Case(
        lambda w: Request("/v1/registries", body={"name": "matrix-new", "type": "ecr", "config": MATRIX_ECR}),
        "account",
    ),
    ("GET", "/v1/registries/{registry_id}"): Case(
        lambda w: Request(f"/v1/registries/{w.directory['registry']}"), "account"
    ),
    ("PATCH", "/v1/registries/{registry_id}"): Case(
        lambda w: Request(f"/v1/registries/{w.directory['registry']}", body={"name": "matrix-renamed"}),
        "account",
    ),
    ("DELETE", "/v1/registries/{registry_id}"): Case(
        lambda w: Request(f"/v1/registries/{w.directory['registry_spare']}"), "account"
    ),
    ("GET", "/v1/registries/{registry_id}/events"): Case(
        lambda w: Request(f"/v1/registries/{w.directory['registry']}/events"), "account"
    ),
    # Its one audit event is the sync's (the state it starts is not an entity change).
    ("POST", "/v1/registries/{registry_id}/sync"): Case(
        lambda w: Request(f"/v1/registries/{w.directory['registry']}/sync"), "account"
    ),
    ("GET", "/v1/users/{user_id}/tokens"): Case(
        lambda w: Request(f"/v1/users/{w.directory['user']}/tokens"), "account"
    ),
    ("DELETE", "/v1/users/{user_id}/tokens/{token_id}"): Case(
        lambda w: Request(f"/v1/users/{w.directory['user']}/tokens/{w.directory['token']}"), "account"
    ),
}


def operations() -> list[tuple[str, str, str]]:
    document = json.loads(openapi_json())
    return sorted(
        (method.upper(), path, operation[PERMISSION_EXTENSION])
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if PERMISSION_EXTENSION in operation
    )


@pytest.fixture
def world(store: Store, dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    # Syncs are queued on the registry work queue.
    queue = boto3.client("sqs").create_queue(QueueName="riskgate-test-registry-work")["QueueUrl"]
    monkeypatch.setenv("RISKGATE_REGISTRY_WORK_QUEUE_URL", queue)
    forget_cached_ports()
    admin = generate_token()
    store.ensure_admin_token(admin)
    for scope_id, pattern in (("scope-team-a", "team-a/*"), ("scope-team-b", "team-b/*")):
        dynamodb.put_item(
            TableName=TABLE,
            Item=to_item(
                {
                    "pk": f"SCOPE#{scope_id}",
                    "sk": "META",
                    "id": scope_id,
                    "name": scope_id,
                    "resources": [{"registry": "ghcr.io", "repository": pattern}],
                }
            ),
        )
    gateway = InProcessGateway()
    reply = gateway.send("POST", "/v1/scans", token=admin, body=report(TEAM_A_IMAGE))
    assert reply.status == 201, reply.body
    world = World(gateway=gateway, dynamodb=dynamodb, admin=admin, image_id=reply.body["image_id"])
    scope = gateway.send(
        "POST", "/v1/scopes", token=admin, body={"name": "matrix-scope", "resources": [{"repository": "m/*"}]}
    )
    role = gateway.send(
        "POST", "/v1/roles", token=admin, body={"name": "matrix-custom", "permissions": ["images:read"]}
    )
    user = gateway.send("POST", "/v1/users", token=admin, body={"name": "matrix-person", "kind": "person"})
    assert (scope.status, role.status, user.status) == (201, 201, 201), (scope.body, role.body, user.body)
    token = gateway.send("POST", f"/v1/users/{user.body['id']}/tokens", token=admin, body={"name": "matrix"})
    assert token.status == 201, token.body
    policy = gateway.send("POST", "/v1/assurance-policies", token=admin, body=TEAM_A_POLICY)
    assert policy.status == 201, policy.body
    acceptance = gateway.send(
        "POST", "/v1/risk-acceptances", token=admin, body=team_a_acceptance({"image": world.image_id})
    )
    assert acceptance.status == 201, acceptance.body
    # Its 7-day reminder falls due 23 days after it was accepted.
    run = run_expiry_check(AcceptanceStore(TABLE, client=dynamodb), datetime.now(UTC) + timedelta(days=24))
    assert run.reminded == 1, run
    for integration in MATRIX_INTEGRATIONS:
        reply = gateway.send("POST", "/v1/integrations", token=admin, body=integration)
        assert reply.status == 201, reply.body
    response_policy = gateway.send("POST", "/v1/response-policies", token=admin, body=TEAM_A_RESPONSE_POLICY)
    disabled_policy = gateway.send(
        "POST",
        "/v1/response-policies",
        token=admin,
        body={**TEAM_A_RESPONSE_POLICY, "name": "matrix-response-off", "enabled": False},
    )
    assert (response_policy.status, disabled_policy.status) == (201, 201), (
        response_policy.body,
        disabled_policy.body,
    )
    # The team-a response policy's notification of a critical vulnerability in the team-a image.
    record_notification(dynamodb, response_policy.body, world.image_id)
    world.directory = {
        "scope": scope.body["id"],
        "role": role.body["name"],
        "user": user.body["id"],
        "token": token.body["id"],
        "policy": policy.body["id"],
        "acceptance": acceptance.body["id"],
        "response_policy": response_policy.body["id"],
        "response_policy_disabled": disabled_policy.body["id"],
    }
    registries = [
        gateway.send("POST", "/v1/registries", token=admin, body=registry) for registry in MATRIX_REGISTRIES
    ]
    assert [reply.status for reply in registries] == [201, 201], [reply.body for reply in registries]
    world.directory["registry"] = registries[0].body["id"]
    world.directory["registry_spare"] = registries[1].body["id"]
    uploader = world.token_for([p.value for p in Permission], "scope-team-a")
    upload = gateway.send("POST", "/v1/scans/uploads", token=uploader, query={"image": TEAM_A_IMAGE})
    assert upload.status == 201, upload.body
    world.directory["upload"] = upload.body["upload_id"]
    return world


def record_notification(dynamodb: Any, policy: dict[str, Any], image_id: str) -> None:
    now = datetime.now(UTC)
    event = {"id": "evt-matrix", "type": policy["trigger"], "subject": {"type": "image", "id": image_id}}
    record = notification_record(event, policy, policy["outputs"][0], event["subject"], now)
    stored = NotificationStore(TABLE, client=dynamodb).record(
        [record], "matrix", int(now.timestamp()) + 3600, int(now.timestamp())
    )
    assert stored


def test_every_secured_route_has_a_case() -> None:
    missing = [(method, path) for method, path, _ in operations() if (method, path) not in CASES]
    assert missing == []


@pytest.mark.parametrize(("method", "path", "permission"), operations())
def test_permission_matrix(world: World, method: str, path: str, permission: str) -> None:
    case = CASES[(method, path)]
    everything = [p.value for p in Permission]
    mutating = method != "GET"

    def send(token: str | None) -> Any:
        request = case.request(world)
        return world.gateway.send(method, request.path, token=token, body=request.body, query=request.query)

    before = world.audit_count()
    # No token
    reply = send(None)
    assert reply.status == 401, reply.body
    assert reply.body["error"]["code"] == "unauthorized"
    # A valid token, every permission but this one, everywhere
    reply = send(world.token_for([p for p in everything if p != permission], "global"))
    assert reply.status == 403, reply.body
    assert permission in reply.body["error"]["message"]
    # The permission, but in a scope that does not contain the object
    reply = send(world.token_for(everything, "scope-team-b"))
    if case.outside == "object":
        assert reply.status == 404, reply.body
    elif case.outside in ("create", "account"):
        assert reply.status == 403, reply.body
    else:
        assert 200 <= reply.status < 300, reply.body
        assert case.shows_object is not None
        assert not case.shows_object(reply.body, world)
    assert world.audit_count() == before, "a refused request must leave no audit event"
    # Both: the permission where the object is (account-wide objects: the global scope)
    token = world.admin if case.outside == "account" else world.token_for(everything, "scope-team-a")
    reply = send(token)
    assert 200 <= reply.status < 300, reply.body
    if case.shows_object is not None:
        assert case.shows_object(reply.body, world)
    assert world.audit_count() == before + (1 if mutating else 0)
