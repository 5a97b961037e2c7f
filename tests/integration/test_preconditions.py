"""`If-Match` on every change of a versioned entity (issue 10): a change made from a version that is no
longer current is a 409 and writes nothing; from the current version (a number, or quoted like an ETag)
it applies; a malformed value is a 422 naming the header; without it a change applies as before."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_acceptances_api import BUSTER, SHARED_CRITICAL, accept, scan
from tests.integration.test_integrations_api import integration
from tests.support.api_calls import call, ok


@dataclass(frozen=True)
class Entity:
    """How to make one, where it lives, and a change (two distinct ones: a stale edit needs a second)."""

    make: Callable[[], str]  # its path
    change: dict[str, Any]
    other_change: dict[str, Any]
    method: str = "PATCH"
    suffix: str = ""  # an action path instead of the object's PATCH (extend/revoke)


def _created(path: str, body: dict[str, Any], key: str = "id") -> str:
    return f"{path}/{ok('POST', path, body, 201)[key]}"


def _acceptance() -> str:
    image_id = scan(Path(_fixtures[0]), BUSTER, "ghcr.io/team-a/app:1")["image_id"]
    return f"/v1/risk-acceptances/{accept(SHARED_CRITICAL, {'image': image_id})['id']}"


_fixtures: list[str] = []

ENTITIES = {
    "assurance policy": Entity(
        lambda: _created(
            "/v1/assurance-policies", {"name": "p", "scope": "global", "conditions": {"malware": True}}
        ),
        {"name": "renamed"},
        {"description": "another edit"},
    ),
    "response policy": Entity(
        lambda: (
            ok("POST", "/v1/integrations", integration("ops-hook", "webhook"), 201)
            and _created(
                "/v1/response-policies",
                {
                    "name": "r",
                    "scope": "global",
                    "trigger": "critical_vulnerabilities",
                    "outputs": [{"output": "webhook", "integration": "ops-hook"}],
                },
            )
        ),
        {"name": "renamed"},
        {"description": "another edit"},
    ),
    "integration": Entity(
        lambda: _created("/v1/integrations", integration("ops-sns", "sns"), key="name"),
        {"config": {"topic_arn": "arn:aws:sns:eu-west-1:123456789012:other"}},
        {"config": {"topic_arn": "arn:aws:sns:eu-west-1:123456789012:third"}},
    ),
    "scope": Entity(
        lambda: _created("/v1/scopes", {"name": "team-a", "resources": [{"repository": "team-a/*"}]}),
        {"description": "renamed"},
        {"description": "another edit"},
    ),
    "role": Entity(
        lambda: _created("/v1/roles", {"name": "reader", "permissions": ["images:read"]}, key="name"),
        {"description": "changed"},
        {"description": "another edit"},
    ),
    "user": Entity(
        lambda: _created("/v1/users", {"name": "alice", "kind": "person", "role_bindings": []}),
        {"email": "alice@example.com"},
        {"email": "alice@example.org"},
    ),
    "acceptance extend": Entity(
        _acceptance, {"period": "90d"}, {"period": "indefinite"}, method="POST", suffix="/extend"
    ),
}


@pytest.fixture
def fixtures(dynamodb: Any, scanner_fixtures: Path) -> None:
    _fixtures[:] = [str(scanner_fixtures)]


@pytest.mark.parametrize("what", ENTITIES)
def test_a_change_from_a_stale_version_is_a_409_and_changes_nothing(fixtures: None, what: str) -> None:
    entity = ENTITIES[what]
    path = entity.make()
    first = ok("GET", path)
    assert first["version"] >= 1
    version = first["version"]
    # Someone changes it from the version read…
    changed = ok(entity.method, path + entity.suffix, entity.change, headers={"If-Match": str(version)})
    assert changed["version"] == version + 1
    current = ok("GET", path)
    # …so a change made from the same read is refused, naming the header, and writes nothing.
    status, answer = call(
        entity.method, path + entity.suffix, entity.other_change, headers={"If-Match": f'"{version}"'}
    )
    assert status == 409, answer
    assert answer["error"]["code"] == "conflict"
    assert answer["error"]["details"][0]["location"].lower() == "header.if-match"  # header names: any case
    assert ok("GET", path) == current
    # The current version, quoted like an ETag (weak or strong), applies.
    again = ok(
        entity.method, path + entity.suffix, entity.other_change, headers={"If-Match": f'W/"{version + 1}"'}
    )
    assert again["version"] == version + 2


@pytest.mark.parametrize("what", [w for w in ENTITIES if ENTITIES[w].method == "PATCH"])
def test_a_delete_from_a_stale_version_is_a_409_and_the_entity_stays(fixtures: None, what: str) -> None:
    entity = ENTITIES[what]
    path = entity.make()
    version = ok("GET", path)["version"]
    ok("PATCH", path, entity.change)  # no If-Match: applies to the current version, as before
    status, answer = call("DELETE", path, headers={"If-Match": str(version)})
    assert status == 409, answer
    assert ok("GET", path)["version"] == version + 1
    status, _ = call("DELETE", path, headers={"If-Match": str(version + 1)})
    assert status == 204
    assert call("GET", path)[0] == 404


def test_a_revoke_from_a_stale_version_is_a_409_and_the_acceptance_stays_active(fixtures: None) -> None:
    path = _acceptance()
    version = ok("GET", path)["version"]
    ok("POST", f"{path}/extend", {"period": "90d"}, headers={"If-Match": str(version)})
    status, answer = call("POST", f"{path}/revoke", {"reason": "fixed"}, headers={"If-Match": str(version)})
    assert status == 409, answer
    assert answer["error"]["details"][0]["location"].lower() == "header.if-match"  # header names: any case
    assert ok("GET", path)["status"] == "active"
    revoked = ok("POST", f"{path}/revoke", {"reason": "fixed"}, headers={"If-Match": str(version + 1)})
    assert revoked["status"] == "revoked"


@pytest.mark.parametrize("value", ["abc", "1.5", '"', "-1", "1, 2", "**", "9" * 12])
def test_a_malformed_if_match_is_a_422_naming_the_header(fixtures: None, value: str) -> None:
    path = ENTITIES["assurance policy"].make()
    before = ok("GET", path)
    status, answer = call("PATCH", path, {"name": "renamed"}, headers={"If-Match": value})
    assert status == 422, answer
    locations = [str(detail.get("location")).lower() for detail in answer["error"]["details"]]
    assert locations == ["header.if-match"], answer
    assert ok("GET", path) == before


def test_if_match_star_applies_to_whatever_version_is_current(fixtures: None) -> None:
    path = ENTITIES["assurance policy"].make()
    ok("PATCH", path, {"description": "first"})
    assert ok("PATCH", path, {"name": "renamed"}, headers={"If-Match": "*"})["name"] == "renamed"
