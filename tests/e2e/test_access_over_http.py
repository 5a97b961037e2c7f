"""Users, scopes and tokens through `make run`, over HTTP, as the README walks through them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


def send(stack: RunningStack, method: str, path: str, token: str, payload: Any = None) -> tuple[int, Any]:
    body = json.dumps(payload).encode() if payload is not None else None
    # As `curl -d` sends it: a form content type on a JSON body.
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else None
    result = stack.request(method, path, token=token, body=body, headers=headers)
    return result.status, (result.json() if result.body else None)


def test_a_team_ci_token_is_confined_to_its_scope_and_revocable(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    admin = local_stack.admin_token
    status, scope = send(
        local_stack,
        "POST",
        "/v1/scopes",
        admin,
        {"name": "team-a", "resources": [{"registry": "ghcr.io", "repository": "team-a/*"}]},
    )
    assert status == 201, scope
    binding = {"role": "ci_pipeline", "scope": scope["id"]}
    status, user = send(
        local_stack,
        "POST",
        "/v1/users",
        admin,
        {"name": "team-a-ci", "kind": "service", "role_bindings": [binding]},
    )
    assert status == 201, user
    status, issued = send(local_stack, "POST", f"/v1/users/{user['id']}/tokens", admin, {"name": "gitlab"})
    assert status == 201, issued
    ci_token = issued["token"]

    report = (scanner_fixtures / "grype/explain_keycloak.json").read_bytes()
    inside = local_stack.request(
        "POST", "/v1/scans?image=ghcr.io/team-a/shop:1.4", token=ci_token, body=report
    )
    assert inside.status == 201, inside.body
    outside = local_stack.request(
        "POST", "/v1/scans?image=ghcr.io/team-b/shop:1.4", token=ci_token, body=report
    )
    assert outside.status == 403, outside.body

    status, tokens = send(local_stack, "GET", f"/v1/users/{user['id']}/tokens", admin)
    assert status == 200
    assert [t["id"] for t in tokens["items"]] == [issued["id"]]
    assert ci_token not in json.dumps(tokens)
    status, _ = send(local_stack, "DELETE", f"/v1/users/{user['id']}/tokens/{issued['id']}", admin)
    assert status == 204
    assert local_stack.request("GET", "/v1/images", token=ci_token).status == 401

    status, refused = send(local_stack, "DELETE", f"/v1/scopes/{scope['id']}", admin)
    assert status == 409
    assert "team-a-ci" in refused["error"]["message"]

    status, events = send(local_stack, "GET", "/v1/audit-events?entity_type=token", admin)
    assert status == 200
    actions = [event["action"] for event in events["items"] if event["entity_id"] == issued["id"]]
    assert actions == ["token.revoke", "token.issue"]
