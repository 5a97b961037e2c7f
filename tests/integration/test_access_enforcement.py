"""Scopes decide what a caller sees and may do with images; every change leaves its audit event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from riskgate.adapters.dynamo import to_item
from riskgate.auth.tokens import generate_token
from riskgate.handlers.api import handler
from riskgate.handlers.authorizer import handler as authorizer
from tests.integration.test_authorizer import authorizer_event
from tests.support.events import FakeLambdaContext, api_event, response_json

TEAM_A = [{"role": "developer", "scope": "scope-team-a"}, {"role": "ci_pipeline", "scope": "scope-team-a"}]
AUDITOR = [{"role": "auditor", "scope": "global"}]


def report(name: str, critical: bool = False) -> str:
    vulnerability = {
        "VulnerabilityID": "CVE-2024-7777",
        "PkgName": "openssl",
        "InstalledVersion": "3.0.1",
        "Severity": "CRITICAL" if critical else "LOW",
    }
    return json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": name,
            "ArtifactType": "container_image",
            "Results": [{"Target": f"{name} (debian 12)", "Vulnerabilities": [vulnerability]}],
        }
    )


def call(event: dict[str, Any], user_id: str = "admin") -> tuple[int, Any]:
    if event["requestContext"].get("authorizer"):
        event["requestContext"]["authorizer"]["user_id"] = user_id
    response = handler(event, FakeLambdaContext())
    return response["statusCode"], response_json(response) if response.get("body") else None


@pytest.fixture
def team_a_scope(dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName="riskgate-test",
        Item=to_item(
            {
                "pk": "SCOPE#scope-team-a",
                "sk": "META",
                "id": "scope-team-a",
                "name": "team-a",
                "resources": [{"registry": "ghcr.io", "repository": "team-a/*"}],
            }
        ),
    )


@pytest.fixture
def images(team_a_scope: None) -> dict[str, str]:
    ids = {}
    for name in ("ghcr.io/team-a/api:1", "ghcr.io/team-b/api:1"):
        status, body = call(api_event("POST", "/v1/scans", body=report(name)))
        assert status == 201
        ids[name] = body["image_id"]
    return ids


def test_a_scoped_caller_sees_only_images_in_its_scopes(images: dict[str, str]) -> None:
    mine, theirs = images["ghcr.io/team-a/api:1"], images["ghcr.io/team-b/api:1"]
    status, listed = call(api_event("GET", "/v1/images", role_bindings=TEAM_A), "dev-a")
    assert status == 200
    assert [image["id"] for image in listed["items"]] == [mine]
    assert call(api_event("GET", f"/v1/images/{mine}", role_bindings=TEAM_A), "dev-a")[0] == 200
    for path in (f"/v1/images/{theirs}", f"/v1/images/{theirs}/findings", f"/v1/images/{theirs}/scans"):
        status, body = call(api_event("GET", path, role_bindings=TEAM_A), "dev-a")
        assert status == 404, path
        assert body["error"]["code"] == "not_found"
    status, affected = call(
        api_event("GET", "/v1/vulnerabilities/CVE-2024-7777/images", role_bindings=TEAM_A), "dev-a"
    )
    assert [row["image_id"] for row in affected["items"]] == [mine]


def test_a_scoped_ci_pipeline_may_submit_only_inside_its_scopes(team_a_scope: None) -> None:
    status, _ = call(
        api_event("POST", "/v1/scans", body=report("ghcr.io/team-a/web:2"), role_bindings=TEAM_A), "ci-a"
    )
    assert status == 201
    status, body = call(
        api_event("POST", "/v1/scans", body=report("ghcr.io/team-b/web:2"), role_bindings=TEAM_A), "ci-a"
    )
    assert status == 403
    assert body["error"]["code"] == "forbidden"
    # Nothing of the refused scan was stored
    _, everything = call(api_event("GET", "/v1/images"))
    assert [image["repository"] for image in everything["items"]] == ["team-a/web"]


def test_a_binding_to_a_scope_that_does_not_exist_grants_nothing(dynamodb: Any) -> None:
    bindings = [{"role": "developer", "scope": "scope-gone"}]
    status, body = call(api_event("GET", "/v1/images", role_bindings=bindings), "dev")
    assert status == 403
    assert "images:read" in body["error"]["message"]


def audit_events(**query: str) -> list[dict[str, Any]]:
    status, page = call(
        api_event("GET", "/v1/audit-events", query=query or None, role_bindings=AUDITOR), "aud"
    )
    assert status == 200, page
    return list(page["items"])


def test_a_scan_leaves_exactly_one_audit_event(images: dict[str, str]) -> None:
    events = audit_events(entity_type="scan")
    assert len(events) == 2
    event = events[0]
    assert event["action"] == "create"
    assert event["actor"] == "admin"
    assert event["source_ip"] == "203.0.113.7"
    assert event["request_id"]
    assert event["after"]["image_id"] in images.values()
    by_entity = audit_events(entity_type="scan", entity_id=event["entity_id"])
    assert [e["id"] for e in by_entity] == [event["id"]]


def test_audit_events_filter_by_actor_and_time_and_paginate(images: dict[str, str]) -> None:
    assert audit_events(actor="nobody") == []
    everything = audit_events()
    assert len(everything) >= 2
    newest = everything[0]["occurred_at"]
    assert audit_events(since="2999-01-01T00:00:00Z") == []
    assert [e["id"] for e in audit_events(since=newest)] == [everything[0]["id"]]
    assert audit_events(until="2000-01-01T00:00:00Z") == []
    first = call(api_event("GET", "/v1/audit-events", query={"limit": "1"}, role_bindings=AUDITOR), "aud")[1]
    assert len(first["items"]) == 1
    assert first["next_token"]
    status, body = call(
        api_event("GET", "/v1/audit-events", query={"since": "yesterday"}, role_bindings=AUDITOR)
    )
    assert status == 422
    assert "since" in body["error"]["message"]


def test_reading_the_log_needs_audit_read_in_the_global_scope(team_a_scope: None) -> None:
    status, _ = call(api_event("GET", "/v1/audit-events", role_bindings=TEAM_A), "dev-a")
    assert status == 403
    scoped_auditor = [{"role": "auditor", "scope": "scope-team-a"}]
    status, body = call(api_event("GET", "/v1/audit-events", role_bindings=scoped_auditor), "aud-a")
    assert status == 403
    assert "global" in body["error"]["message"]


def test_a_failed_authentication_is_logged_without_the_token(store: Any) -> None:
    store.ensure_admin_token(generate_token())
    guess = generate_token()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer(authorizer_event(f"Bearer {guess}"), FakeLambdaContext())
    failures = audit_events(entity_type="authentication")
    assert len(failures) == 1
    assert failures[0]["action"] == "authentication.fail"
    assert failures[0]["actor"] is None
    assert failures[0]["source_ip"] == "203.0.113.9"
    assert guess not in json.dumps(failures)
