"""What the console asks first: `GET /v1/me` (who the token acts as, what it may do, where) — and the
images list's `status` filter, paged by the server like `kind`."""

from __future__ import annotations

import json
from typing import Any

from riskgate.adapters.store import Store
from riskgate.auth.tokens import generate_token
from tests.support.gateway import InProcessGateway


def report(name: str, severity: str) -> dict[str, Any]:
    vulnerability = {
        "VulnerabilityID": "CVE-2024-7777",
        "PkgName": "openssl",
        "InstalledVersion": "3.0.1",
        "Severity": severity,
    }
    return {
        "SchemaVersion": 2,
        "ArtifactName": name,
        "ArtifactType": "container_image",
        "Results": [{"Target": f"{name} (debian 12)", "Vulnerabilities": [vulnerability]}],
    }


def admin(store: Store) -> str:
    token = generate_token()
    store.ensure_admin_token(token)
    return token


def token_of(gateway: InProcessGateway, admin_token: str, name: str, bindings: list[dict[str, str]]) -> str:
    user = gateway.send(
        "POST",
        "/v1/users",
        token=admin_token,
        body={"name": name, "kind": "person", "role_bindings": bindings},
    )
    assert user.status == 201, user.body
    issued = gateway.send(
        "POST", f"/v1/users/{user.body['id']}/tokens", token=admin_token, body={"name": "c"}
    )
    assert issued.status == 201, issued.body
    return str(issued.body["token"])


def test_me_needs_a_valid_token(store: Store) -> None:
    gateway = InProcessGateway()
    admin(store)
    assert gateway.send("GET", "/v1/me").status == 401
    assert gateway.send("GET", "/v1/me", token=generate_token()).status == 401


def test_me_tells_the_administrator_everything_everywhere(store: Store) -> None:
    # Given the bootstrap token
    gateway = InProcessGateway()
    token = admin(store)
    # When it asks who it is
    reply = gateway.send("GET", "/v1/me", token=token)
    # Then it is the user admin, administrator in global, with every permission there
    assert reply.status == 200, reply.body
    assert reply.body["user_id"] == "admin"
    assert reply.body["role_bindings"] == [{"role": "administrator", "scope": "global"}]
    assert "users:manage" in reply.body["permissions"]
    assert reply.body["permissions"] == reply.body["global_permissions"]
    assert reply.body["grants"] == [{"scope": "global", "permissions": reply.body["permissions"]}]


def test_me_tells_a_developer_what_it_may_not_do(store: Store) -> None:
    # Given a developer everywhere who is a security officer in one team's scope
    gateway = InProcessGateway()
    admin_token = admin(store)
    scope = gateway.send(
        "POST",
        "/v1/scopes",
        token=admin_token,
        body={"name": "team-a", "resources": [{"registry": "ghcr.io", "repository": "team-a/*"}]},
    )
    assert scope.status == 201, scope.body
    developer = token_of(gateway, admin_token, "dev", [{"role": "developer", "scope": "global"}])
    officer = token_of(
        gateway,
        admin_token,
        "officer-a",
        [{"role": "developer", "scope": "global"}, {"role": "security_officer", "scope": scope.body["id"]}],
    )
    # When each asks what it may do
    dev = gateway.send("GET", "/v1/me", token=developer).body
    off = gateway.send("GET", "/v1/me", token=officer).body
    # Then the developer may read, not accept; the officer may accept, but only in its scope
    assert dev["name"] == "dev"
    assert dev["permissions"] == ["images:read", "assurance_policies:read", "risks:read"]
    assert "risks:accept" not in dev["permissions"]
    assert "risks:accept" in off["permissions"]
    assert "risks:accept" not in off["global_permissions"]
    assert {grant["scope"] for grant in off["grants"]} == {"global", scope.body["id"]}
    # And asking changes nothing: no audit event
    events = gateway.send("GET", "/v1/audit-events", token=admin_token, query={"entity_type": "user"}).body
    assert all(event["action"] != "read" for event in events["items"])


def test_images_filtered_by_status_are_paged_by_the_server(store: Store) -> None:
    # Given three non-compliant images and two compliant ones
    gateway = InProcessGateway()
    token = admin(store)
    for number in range(5):
        severity = "CRITICAL" if number % 2 == 0 else "LOW"
        reply = gateway.send(
            "POST", "/v1/scans", token=token, body=report(f"ghcr.io/s/app:{number}", severity)
        )
        assert reply.status == 201, reply.body
    # When the non-compliant ones are listed two at a time
    seen: list[str] = []
    query = {"status": "non_compliant", "limit": "2"}
    pages = 0
    while True:
        page = gateway.send("GET", "/v1/images", token=token, query=query)
        assert page.status == 200, page.body
        pages += 1
        seen += [image["status"] for image in page.body["items"]]
        if not page.body["next_token"]:
            break
        query = {**query, "next_token": page.body["next_token"]}
    # Then there are three, over two pages; the compliant ones are listed alone
    assert seen == ["non_compliant"] * 3
    assert pages == 2
    compliant = gateway.send("GET", "/v1/images", token=token, query={"status": "compliant"}).body
    assert [image["status"] for image in compliant["items"]] == ["compliant", "compliant"]
    wrong = gateway.send("GET", "/v1/images", token=token, query={"status": "green"})
    assert wrong.status == 422, json.dumps(wrong.body)
