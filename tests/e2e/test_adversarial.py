"""A hostile neighbour, over HTTP, against the local stack (issue 16).

Four teams share one stack: `team-a` and `team-b` scoped by repository (`ghcr.io/team-a/*`,
`ghcr.io/team-b/*`), `tag-a` and `tag-b` scoped by tag on one repository (`ghcr.io/shared/app`, tags
`a-*` and `b-*`). Each team has a user of every system role bound in its scope, with a token. Team B and
tag-b own state — images scanned by their CI (digests chosen here), acceptances of an image and of a
repository, an assurance policy, a response policy and a webhook integration in their scope, the events
and notifications these produce — and an officer bound in both team-a and team-b accepts a finding for
`all` images (covering both).

Then team A (and tag-a) try everything: the rules of issue 16 one by one, and a sweep of every operation
in the OpenAPI document with the other team's ids in every path parameter and id-like filter, every list
walked with `limit=1` (by each team's developer and CI; the other roles, who see the same items, walk in
pages of 200). No answer may carry an identifier of team B or tag-b (body, headers, page token decoded),
and at the end team B's and tag-b's state is what it was before. docs/reliability.md lists the threat
model and which test shows what.

The stack is the one `make run` runs (`riskgate_local.LocalStack`), started once for the module in this
process, as tests/e2e/test_notifications.py does, and driven over HTTP only. Its pollers tick every
second instead of every 0.25 s (`adversary.POLL_INTERVAL_SECONDS`): the whole stack is one interpreter,
and idle polling was a third of the module's time.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.adversary import (
    Identifiers,
    Sent,
    Stack,
    all_items,
    body_of,
    error_of,
    expect,
    generic_identifiers_in_token,
    leaks,
    page_token,
    running_stack,
    send,
    wait_until,
    walk,
)
from tests.e2e.conftest import HttpResult, free_port

pytestmark = pytest.mark.e2e

TRIVY_ALPINE = "trivy/ci_alpine-3.10_trivy-0.72.json"  # one critical: CVE-2021-36159
TRIVY_BUSTER = "trivy/golden_debian-buster.json"  # CVE-2019-18224 critical, CVE-2019-18276 low
GRYPE_CLEAN = "grype/dd_busybox-no-vuln.json"  # no findings: a gate it would pass
ALPINE_CRITICAL = "CVE-2021-36159"
BUSTER_CRITICAL = "CVE-2019-18224"
BUSTER_LOW = "CVE-2019-18276"

ROLES = ("developer", "ci_pipeline", "security_officer", "auditor")
SELECTORS = {
    "team-a": {"registry": "ghcr.io", "repository": "team-a/*"},
    "team-b": {"registry": "ghcr.io", "repository": "team-b/*"},
    "tag-a": {"registry": "ghcr.io", "repository": "shared/app", "tag": "a-*"},
    "tag-b": {"registry": "ghcr.io", "repository": "shared/app", "tag": "b-*"},
}
VICTIMS = ("team-b", "tag-b")
ATTACKERS = ("team-a", "tag-a")
# Who attacks whom in the rules that pit one side against its own neighbour.
NEIGHBOUR = {"team-a": "team-b", "tag-a": "tag-b"}


def digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


@dataclass(frozen=True)
class ImageSpec:
    team: str
    name: str  # registry/repository
    tag: str
    digest: str
    reports: tuple[str, ...]  # submitted in this order by the team's CI

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.tag}@{self.digest}"


IMAGES = {
    "team-a/app": ImageSpec("team-a", "ghcr.io/team-a/app", "1", digest("team-a app 1"), (TRIVY_BUSTER,)),
    "team-b/app": ImageSpec(
        "team-b", "ghcr.io/team-b/app", "1", digest("team-b app 1"), (TRIVY_ALPINE, TRIVY_BUSTER)
    ),
    "team-b/api": ImageSpec("team-b", "ghcr.io/team-b/api", "2", digest("team-b api 2"), (TRIVY_ALPINE,)),
    "team-b/web": ImageSpec("team-b", "ghcr.io/team-b/web", "1", digest("team-b web 1"), (TRIVY_BUSTER,)),
    "tag-a": ImageSpec("tag-a", "ghcr.io/shared/app", "a-1", digest("shared app a-1"), (TRIVY_BUSTER,)),
    "tag-b": ImageSpec("tag-b", "ghcr.io/shared/app", "b-1", digest("shared app b-1"), (TRIVY_BUSTER,)),
}
VICTIM_IMAGES = tuple(key for key, spec in IMAGES.items() if spec.team in VICTIMS)


# --- the operations the sweep covers: the API's own OpenAPI document, read when the tests are collected


def _documented() -> dict[tuple[str, str], dict[str, Any]]:
    try:
        from riskgate.handlers.api.app import openapi_json

        document = json.loads(openapi_json())
    except Exception as error:  # say why, as a failing test, rather than collect nothing
        return {("ERROR", f"the OpenAPI document could not be built: {error!r}"): {}}
    return {
        (method.upper(), path): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


DOCUMENTED = _documented()
OPERATIONS = sorted(DOCUMENTED)
BODY_OPERATIONS = sorted(
    [key for key, operation in DOCUMENTED.items() if "requestBody" in operation] + [("POST", "/v1/scans")]
)


# --- the world ------------------------------------------------------------------------------------


@dataclass
class User:
    id: str
    name: str
    token: str
    token_id: str


@dataclass
class World:
    stack: Stack
    admin: str
    second_admin: str
    sink_url: str
    reports: dict[str, bytes]
    scopes: dict[str, str] = field(default_factory=dict)  # team → scope id
    users: dict[tuple[str, str], User] = field(default_factory=dict)  # (team, role) → user
    officer_ab: User | None = None
    images: dict[str, str] = field(default_factory=dict)  # IMAGES key → image id
    acceptances: dict[str, str] = field(default_factory=dict)  # what → acceptance id
    policies: dict[str, str] = field(default_factory=dict)  # team → assurance policy id
    response_policies: dict[str, str] = field(default_factory=dict)  # team → response policy id
    integrations: dict[str, str] = field(default_factory=dict)  # team → integration name
    uploads: dict[str, str] = field(default_factory=dict)  # team → an upload its CI created, never filled
    registries: dict[str, str] = field(
        default_factory=dict
    )  # type → a registry connection's id (account-wide)
    integration_scopes: bool = True  # whether the API took `scope` on an integration
    notes: list[str] = field(default_factory=list)  # what set-up had to adapt to
    timings: dict[str, float] = field(default_factory=dict)  # set-up phase → seconds
    first_tokens: dict[str, str] = field(default_factory=dict)  # list → the administrator's first token
    victims: Identifiers = field(default_factory=Identifiers)
    before: dict[str, Any] = field(default_factory=dict)

    def user(self, team: str, role: str) -> User:
        return self.users[(team, role)]

    def token(self, team: str, role: str) -> str:
        return self.users[(team, role)].token


def make_user(world: World, name: str, bindings: list[dict[str, str]]) -> User:
    stack, admin = world.stack, world.admin
    created = expect(
        stack, 201, "POST", "/v1/users", admin, {"name": name, "kind": "person", "role_bindings": bindings}
    )
    issued = expect(stack, 201, "POST", f"/v1/users/{created['id']}/tokens", admin, {"name": "e2e"})
    return User(created["id"], name, issued["token"], issued["id"])


def submit(world: World, team: str, reference: str, report: str, role: str = "ci_pipeline") -> HttpResult:
    _, result = send(
        world.stack,
        "POST",
        "/v1/scans",
        world.token(team, role),
        query={"image": reference},
        raw=world.reports[report],
    )
    return result


def create_integration(world: World, team: str) -> None:
    name = f"{team}-hook"
    config = {
        "url": f"{world.sink_url}/hooks/{team}/riskgate",
        "secret": f"{team}-webhook-signing-secret-0123456789",
        "preset": "generic",
    }
    payload = {"name": name, "type": "webhook", "config": config, "scope": world.scopes[team]}
    _, result = send(world.stack, "POST", "/v1/integrations", world.admin, payload)
    if result.status == 422 and b"scope" in result.body:
        # Integrations without a scope of their own: the fix of issue 16 point 5 is not in yet.
        world.integration_scopes = False
        world.notes.append("POST /v1/integrations refused `scope`: integrations are not scoped yet")
        del payload["scope"]
        _, result = send(world.stack, "POST", "/v1/integrations", world.admin, payload)
    assert result.status == 201, result.body
    world.integrations[team] = name


def create_response_policy(world: World, team: str) -> None:
    payload = {
        "name": f"{team} alerts",
        "description": f"tell {team} about its non-compliant images",
        "scope": world.scopes[team],
        "trigger": "non_compliant",
        "outputs": [{"output": "webhook", "integration": world.integrations[team]}],
    }
    _, result = send(
        world.stack, "POST", "/v1/response-policies", world.token(team, "security_officer"), payload
    )
    if result.status != 201:
        world.notes.append(
            f"{team}'s officer could not create its response policy "
            f"({result.status}: {result.body[:200]!r}); the administrator did"
        )
        _, result = send(world.stack, "POST", "/v1/response-policies", world.admin, payload)
    assert result.status == 201, result.body
    world.response_policies[team] = body_of(result)["id"]


def accept(world: World, token: str, finding: str, scope: dict[str, Any], period: str = "30d") -> str:
    payload = {
        "finding": {"kind": "vulnerability", "id": finding},
        "scope": scope,
        "period": period,
        "reason": "not reachable in this deployment; fix planned with the next base image",
    }
    return str(expect(world.stack, 201, "POST", "/v1/risk-acceptances", token, payload)["id"])


# Registry connections belong to the whole account: the administrator's two (an ECR one, a Harbor one)
# are there for every team to fail to reach.
REGISTRY_CONNECTIONS = {
    "ecr": {
        "name": "e2e-ecr",
        "type": "ecr",
        "config": {"account_id": "123456789012", "region": "eu-west-1"},
    },
    "harbor": {
        "name": "e2e-harbor",
        "type": "harbor",
        "config": {
            "url": "https://harbor.example.com",
            "robot_name": "robot$riskgate",
            "robot_secret": "e2e-robot-secret-0123456789",
            "webhook_secret": "e2e-webhook-secret-0123456789",
        },
    },
}
# A Harbor webhook's payload (what an attacker would post with its own bearer token instead of the secret).
HARBOR_SCAN_COMPLETED = {
    "type": "SCANNING_COMPLETED",
    "occur_at": 1648715576,
    "event_data": {
        "resources": [
            {"digest": digest("harbor app 1"), "tag": "1", "resource_url": "harbor.example.com/a/b:1"}
        ],
        "repository": {"name": "b", "namespace": "a"},
    },
}


def create_registry_connections(world: World) -> None:
    for kind, payload in REGISTRY_CONNECTIONS.items():
        world.registries[kind] = expect(world.stack, 201, "POST", "/v1/registries", world.admin, payload)[
            "id"
        ]
    # Two events on each, as the registry ingester records them (it writes them as ingestion goes: no API
    # does), so that the events list has two pages at limit=1. The stack runs in this process.
    from riskgate.adapters.registries import default_registry_store

    registries = default_registry_store()
    for registry_id in world.registries.values():
        for minute in (1, 2):
            registries.record_event(
                registry_id,
                "imported",
                at=datetime(2026, 1, 1, 0, minute, tzinfo=UTC),
                message="scan imported",
                error=False,
            )


def image_of(world: World, key: str, token: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = expect(
        world.stack, 200, "GET", f"/v1/images/{world.images[key]}", token or world.admin
    )
    return found


def build_world(stack: Stack, scanner_fixtures: Path) -> World:
    admin = stack.admin_token
    reports = {
        name: (scanner_fixtures / name).read_bytes() for name in (TRIVY_ALPINE, TRIVY_BUSTER, GRYPE_CLEAN)
    }
    world = World(stack, admin, "", stack.sink_url, reports)

    clock = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal clock
        world.timings[phase] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()

    for team, selector in SELECTORS.items():
        scope = expect(
            stack,
            201,
            "POST",
            "/v1/scopes",
            admin,
            {"name": team, "description": f"{team} images", "resources": [selector]},
        )
        world.scopes[team] = scope["id"]
        for role in ROLES:
            world.users[(team, role)] = make_user(
                world, f"{team}-{role}", [{"role": role, "scope": scope["id"]}]
            )
    world.officer_ab = make_user(
        world,
        "officer-ab",
        [
            {"role": "security_officer", "scope": world.scopes["team-a"]},
            {"role": "security_officer", "scope": world.scopes["team-b"]},
        ],
    )
    world.second_admin = make_user(
        world, "second-admin", [{"role": "administrator", "scope": "global"}]
    ).token
    # Two custom roles (system roles are not items: the roles list pages over custom ones).
    for number in (1, 2):
        expect(
            stack,
            201,
            "POST",
            "/v1/roles",
            admin,
            {"name": f"reader-{number}", "permissions": ["images:read"]},
        )
    # A second token: team B's developer's token list has two pages at limit=1.
    expect(
        stack,
        201,
        "POST",
        f"/v1/users/{world.user('team-b', 'developer').id}/tokens",
        admin,
        {"name": "laptop"},
    )

    lap("scopes, users, roles, tokens")
    for team in SELECTORS:
        create_integration(world, team)
        policy = expect(
            stack,
            201,
            "POST",
            "/v1/assurance-policies",
            world.token(team, "security_officer"),
            {
                "name": f"{team} policy",
                "description": f"{team}: no log4j",
                "scope": world.scopes[team],
                "conditions": {"packages": ["log4j-*"]},
                "actions": ["block_ci"],
            },
        )
        world.policies[team] = policy["id"]
        create_response_policy(world, team)
        # An upload of the team's CI, never filled: only its creator may read it.
        upload = expect(stack, 201, "POST", "/v1/scans/uploads", world.token(team, "ci_pipeline"))
        world.uploads[team] = upload["upload_id"]

    create_registry_connections(world)

    lap("integrations, policies, registry connections")
    for key, spec in IMAGES.items():
        for report in spec.reports:
            result = submit(world, spec.team, spec.reference, report)
            assert result.status == 201, f"{key}: {result.body[:400]!r}"
            world.images[key] = body_of(result)["image_id"]

    lap("scans")
    b_officer = world.token("team-b", "security_officer")
    world.acceptances["team-b image"] = accept(
        world, b_officer, BUSTER_CRITICAL, {"image": world.images["team-b/app"]}
    )
    world.acceptances["team-b repository"] = accept(
        world, b_officer, ALPINE_CRITICAL, {"repository": "ghcr.io/team-b/api"}, period="indefinite"
    )
    # tag-b accepts only the low one: its image stays blocked (a takeover would show).
    world.acceptances["tag-b image"] = accept(
        world, world.token("tag-b", "security_officer"), BUSTER_LOW, {"image": world.images["tag-b"]}
    )
    world.acceptances["team-a image"] = accept(
        world, world.token("team-a", "security_officer"), BUSTER_LOW, {"image": world.images["team-a/app"]}
    )
    assert world.officer_ab is not None
    world.acceptances["all a+b"] = accept(world, world.officer_ab.token, BUSTER_CRITICAL, {"all": True})

    lap("acceptances")
    settle(world)
    lap("settling")
    collect_victim_identifiers(world)
    world.before = victim_state(world)
    lap("identifiers, state")
    return world


def settle(world: World) -> None:
    """Wait for the stream: every image judged at its current scan, the `all` acceptance's fan-out done,
    the victims' notifications recorded (if the dispatcher runs)."""
    stack = world.stack

    def judged(key: str) -> bool:
        image = image_of(world, key)
        return bool(image.get("evaluated_scan_id") == image.get("current_scan_id"))

    def compliant(key: str) -> bool:
        return bool(image_of(world, key)["status"] == "compliant")

    for key in IMAGES:
        wait_until(f"the evaluation of {key}", partial(judged, key), stack)
    for key in ("team-b/web", "team-a/app"):
        wait_until(f"{key} judged with the `all` acceptance", partial(compliant, key), stack)

    def notified() -> bool:
        items = all_items(stack, world.admin, "/v1/notifications")
        return {world.response_policies[t] for t in VICTIMS} <= {n["policy_id"] for n in items}

    try:
        wait_until("the victims' notifications", notified, stack, seconds=20)
    except AssertionError:
        world.notes.append("no notification of team B's or tag-b's response policy within 20 s")


def collect_victim_identifiers(world: World) -> None:
    """Everything that names team B or tag-b: what no answer to team A (or tag-a) may carry."""
    ids, stack, admin = world.victims, world.stack, world.admin
    for team in VICTIMS:
        ids.add(team, "scope name")
        ids.add(world.scopes[team], f"{team} scope id")
        for role in ROLES:
            user = world.user(team, role)
            ids.add(user.id, f"{team} {role} user id")
            ids.add(user.name, f"{team} {role} user name")
            ids.add(user.token, f"{team} {role} token secret")
            for token in all_items(stack, admin, f"/v1/users/{user.id}/tokens"):
                ids.add(token["id"], f"{team} {role} token id")
        ids.add(world.policies[team], f"{team} assurance policy id")
        ids.add(f"{team} policy", f"{team} assurance policy name")
        ids.add(world.response_policies[team], f"{team} response policy id")
        ids.add(f"{team} alerts", f"{team} response policy name")
        ids.add(world.integrations[team], f"{team} integration name")
        ids.add(world.uploads[team], f"{team} upload id")
        ids.add(f"{team}-webhook-signing-secret-0123456789", f"{team} webhook secret")
        ids.add(f"/hooks/{team}/riskgate", f"{team} webhook URL")
    for key in VICTIM_IMAGES:
        spec = IMAGES[key]
        image_id = world.images[key]
        ids.add(image_id, f"{key} image id")
        ids.add(spec.digest.split(":", 1)[1], f"{key} digest")
        ids.add(spec.digest, f"{key} digest")
        if spec.team == "team-b":
            ids.add(spec.name.split("/", 1)[1], f"{key} repository")
        else:
            ids.add(spec.tag, f"{key} tag")
        for scan in all_items(stack, admin, f"/v1/images/{image_id}/scans"):
            ids.add(scan["scan_id"], f"{key} scan id")
    for what in ("team-b image", "team-b repository", "tag-b image"):
        ids.add(world.acceptances[what], f"{what} acceptance id")
    victim_images = {world.images[key] for key in VICTIM_IMAGES}
    victim_acceptances = {world.acceptances[w] for w in ("team-b image", "team-b repository", "tag-b image")}
    for event in all_items(stack, admin, "/v1/events"):
        subject = (event.get("subject") or {}).get("id") or (event.get("acceptance") or {}).get("id")
        if subject in victim_images or subject in victim_acceptances:
            ids.add(event["id"], f"event of {subject}")
    victim_policies = {world.response_policies[t] for t in VICTIMS}
    for notification in all_items(stack, admin, "/v1/notifications"):
        if notification["policy_id"] in victim_policies:
            ids.add(notification["id"], "notification of a victim's response policy")


def victim_state(world: World) -> dict[str, Any]:
    """Team B's and tag-b's state as the administrator reads it (times of re-evaluation left out)."""
    stack, admin = world.stack, world.admin
    state: dict[str, Any] = {}
    for key in VICTIM_IMAGES:
        image_id = world.images[key]
        image = image_of(world, key)
        verdict = expect(stack, 200, "GET", f"/v1/images/{image_id}/verdict", admin)
        findings = all_items(stack, admin, f"/v1/images/{image_id}/findings")
        state[f"image {key}"] = {
            "tags": image["tags"],
            "digest": image["digest"],
            "current_scan_id": image["current_scan_id"],
            "scan_count": image["scan_count"],
            "status": image["status"],
            "counts": image["counts"],
            "verdict": {k: verdict.get(k) for k in ("status", "block", "scan_id")},
            "verdict acceptances": sorted(a["acceptance_id"] for a in verdict.get("acceptances") or []),
            "findings": sorted(
                (f["id"], f.get("package"), (f.get("accepted") or {}).get("acceptance_id")) for f in findings
            ),
            "scans": [s["scan_id"] for s in all_items(stack, admin, f"/v1/images/{image_id}/scans")],
        }
    for what in ("team-b image", "team-b repository", "tag-b image", "all a+b"):
        acceptance = expect(stack, 200, "GET", f"/v1/risk-acceptances/{world.acceptances[what]}", admin)
        state[f"acceptance {what}"] = {
            k: acceptance.get(k)
            for k in ("status", "version", "period", "expires_at", "extended_at", "revoked_at", "scope")
        }
    for team in VICTIMS:
        policy = expect(stack, 200, "GET", f"/v1/assurance-policies/{world.policies[team]}", admin)
        state[f"assurance policy {team}"] = {
            k: policy.get(k) for k in ("version", "enabled", "mode", "scope", "conditions", "actions")
        }
        response = expect(stack, 200, "GET", f"/v1/response-policies/{world.response_policies[team]}", admin)
        state[f"response policy {team}"] = {
            k: response.get(k) for k in ("version", "enabled", "scope", "trigger", "outputs", "filters")
        }
        integration = expect(stack, 200, "GET", f"/v1/integrations/{world.integrations[team]}", admin)
        state[f"integration {team}"] = {
            k: integration.get(k) for k in ("version", "type", "config", "has_secret", "scope")
        }
        upload = expect(
            stack, 200, "GET", f"/v1/scans/uploads/{world.uploads[team]}", world.token(team, "ci_pipeline")
        )
        state[f"upload {team}"] = {k: upload.get(k) for k in ("status", "image", "cluster", "expires_at")}
        scope = expect(stack, 200, "GET", f"/v1/scopes/{world.scopes[team]}", admin)
        state[f"scope {team}"] = {k: scope.get(k) for k in ("name", "version", "resources")}
        for role in ROLES:
            user = expect(stack, 200, "GET", f"/v1/users/{world.user(team, role).id}", admin)
            tokens = all_items(stack, admin, f"/v1/users/{user['id']}/tokens")
            state[f"user {team} {role}"] = {
                "user": {k: user.get(k) for k in ("name", "version", "enabled", "role_bindings")},
                "tokens": sorted((t["id"], t.get("revoked_at"), t.get("expires_at")) for t in tokens),
            }
    return state


@pytest.fixture(scope="module")
def world(scanner_fixtures: Path) -> Iterator[World]:
    with running_stack() as stack:
        yield build_world(stack, scanner_fixtures)


def refused(result: HttpResult, *statuses: int) -> bool:
    return result.status in statuses and bool(error_of(result).get("code"))


# --- the sweep covers what the stack serves ------------------------------------------------------


def test_the_sweep_covers_every_operation_the_stack_serves(world: World) -> None:
    served = expect(world.stack, 200, "GET", "/v1/openapi.json", None)
    operations = {(m.upper(), p) for p, ops in served["paths"].items() for m in ops}
    assert operations == set(OPERATIONS), "the sweep was collected from another API than the stack serves"
    assert len(world.victims) > 40, world.victims.values()


# --- 8. failed authentications: aggregated, not one archived event per request ----------------------


def failure_count(event: dict[str, Any]) -> int:
    details = event.get("details") or {}
    for holder in (event, details):
        for name in ("count", "failures", "failure_count"):
            if isinstance(holder.get(name), int):
                return int(holder[name])
    return 1


def test_30_junk_tokens_from_one_address_make_at_most_two_security_events(world: World) -> None:
    stack = world.stack
    junk = "rg_" + secrets.token_urlsafe(32)  # shaped like a token: the authorizer looks it up
    started = datetime.now(UTC)
    for _ in range(30):
        assert stack.request("GET", "/v1/images", token=junk).status == 401
    # A per-minute aggregate may be dated at its minute's start: look from the minute before.
    since = (started.replace(second=0, microsecond=0) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def ours() -> list[dict[str, Any]]:
        events = all_items(
            stack, world.admin, "/v1/audit-events", {"entity_type": "authentication", "since": since}
        )
        return [e for e in events if e["action"] == "authentication.fail"]

    deadline = time.monotonic() + 10
    events = ours()
    while sum(failure_count(e) for e in events) < 30 and time.monotonic() < deadline:
        time.sleep(0.5)
        events = ours()
    assert len(events) <= 2, f"{len(events)} authentication.fail events for 30 failed requests"
    assert sum(failure_count(e) for e in events) >= 30, events


# --- an anonymous caller: 401 everywhere but the public documents ------------------------------------

PUBLIC = {("GET", "/v1/health"), ("GET", "/v1/openapi.json")}
# Without a bearer token, but not public: Harbor's webhook checks the connection's shared secret itself,
# after the connection (a made-up id: none, 404).
SHARED_SECRET = {("POST", "/v1/registries/{registry_id}/webhook")}


@pytest.mark.parametrize(("method", "template"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_an_anonymous_caller_gets_a_401_and_learns_nothing(world: World, method: str, template: str) -> None:
    assert method != "ERROR", template
    path = filled(template, MADE_UP_PATH_VALUES)
    for authorization in (None, "Bearer rg_" + secrets.token_urlsafe(32)):
        headers = {"Authorization": authorization} if authorization else None
        sent, result = send(world.stack, method, path, None, headers=headers)
        if (method, template) in PUBLIC:
            assert result.status == 200, f"{sent}: {result.status}"
        elif (method, template) in SHARED_SECRET:
            assert result.status == 404, f"{sent} ({authorization}): {result.status} {result.body[:200]!r}"
            assert error_of(result).get("code") == "not_found", result.body
        else:
            assert result.status == 401, f"{sent} ({authorization}): {result.status} {result.body[:200]!r}"
            assert error_of(result).get("code") == "unauthorized", result.body
        assert leaks(world.victims, sent, result) == []


# --- 1. a digest does not let one tag scope take over another's image -----------------------------


def readable_by(world: World, team: str, image_id: str) -> list[str]:
    """The routes of an image that answer `team`'s developer and CI with anything but 404."""
    opened = []
    for role in ("developer", "ci_pipeline"):
        for suffix in ("", "/scans", "/verdict", "/verdicts", "/findings"):
            _, result = send(world.stack, "GET", f"/v1/images/{image_id}{suffix}", world.token(team, role))
            if result.status != 404:
                opened.append(f"{role} GET /v1/images/{{id}}{suffix} → {result.status}")
    return opened


def report_naming(world: World, reference: str) -> bytes:
    """A Trivy report (alpine's, one critical) that names `reference` itself, as a scan of a pulled
    image would: ArtifactName and RepoTags with the tag, RepoDigests with the digest."""
    name_and_tag, _, image_digest = reference.partition("@")
    document = json.loads(world.reports[TRIVY_ALPINE])
    document["ArtifactName"] = name_and_tag
    document["Metadata"]["RepoTags"] = [name_and_tag]
    document["Metadata"]["RepoDigests"] = [f"{name_and_tag.rsplit(':', 1)[0]}@{image_digest}"]
    return json.dumps(document).encode()


@pytest.mark.parametrize("how", ["?image=", "the report itself"])
@pytest.mark.parametrize(
    ("attacker", "victim", "tag"),
    [("tag-a", "tag-b", "a-1"), ("tag-b", "tag-a", "b-7")],
    ids=["tag-a CI onto tag-b's digest", "tag-b CI onto tag-a's digest"],
)
def test_a_ci_naming_its_own_tag_with_another_scopes_digest_is_refused(
    world: World, attacker: str, victim: str, tag: str, how: str
) -> None:
    spec = IMAGES[victim]
    image_id = world.images[victim]
    before = victim_state_of_image(world, victim)
    hijack = f"{spec.name}:{tag}@{spec.digest}"
    if how == "?image=":
        result = submit(world, attacker, hijack, GRYPE_CLEAN)
    else:
        _, result = send(
            world.stack,
            "POST",
            "/v1/scans",
            world.token(attacker, "ci_pipeline"),
            raw=report_naming(world, hijack),
        )
    assert result.status == 403, f"{hijack} named by {how} → {result.status}: {result.body[:300]!r}"
    assert victim_state_of_image(world, victim) == before
    assert readable_by(world, attacker, image_id) == []


def victim_state_of_image(world: World, key: str) -> dict[str, Any]:
    image_id = world.images[key]
    image = image_of(world, key)
    verdict = expect(world.stack, 200, "GET", f"/v1/images/{image_id}/verdict", world.admin)
    findings = all_items(world.stack, world.admin, f"/v1/images/{image_id}/findings")
    return {
        "tags": image["tags"],
        "current_scan_id": image["current_scan_id"],
        "scan_count": image["scan_count"],
        "status": image["status"],
        "verdict": (verdict["status"], verdict["block"], verdict["scan_id"]),
        "findings": sorted((f["id"], f.get("package")) for f in findings),
    }


def test_a_digest_nobody_scanned_yet_is_taken_as_usual(world: World) -> None:
    fresh = f"ghcr.io/shared/app:a-2@{digest('shared app a-2, new')}"
    result = submit(world, "tag-a", fresh, TRIVY_ALPINE)
    assert result.status == 201, result.body
    assert expect(
        world.stack,
        200,
        "GET",
        f"/v1/images/{body_of(result)['image_id']}",
        world.token("tag-a", "developer"),
    )["tags"] == ["a-2"]


# --- 2. page tokens: opaque, sealed, bound to the caller and the query ------------------------------


def list_variants(world: World) -> dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]]:
    """For each list: (path, query) of a list of two pages or more at limit=1, and another (path, query)
    that its token must not open."""
    a_app, b_app = world.images["team-a/app"], world.images["team-b/app"]
    b_developer = world.user("team-b", "developer").id
    return {
        "/v1/images": ("/v1/images", {}, "/v1/images", {"registry": "ghcr.io"}),
        "/v1/images/{image_id}/findings": (
            f"/v1/images/{a_app}/findings",
            {},
            f"/v1/images/{a_app}/findings",
            {"kind": "vulnerability"},
        ),
        "/v1/images/{image_id}/scans": (f"/v1/images/{b_app}/scans", {}, f"/v1/images/{a_app}/scans", {}),
        "/v1/images/{image_id}/verdicts": (
            f"/v1/images/{b_app}/verdicts",
            {},
            f"/v1/images/{a_app}/verdicts",
            {},
        ),
        "/v1/vulnerabilities/{vulnerability_id}/images": (
            f"/v1/vulnerabilities/{BUSTER_CRITICAL}/images",
            {},
            f"/v1/vulnerabilities/{BUSTER_LOW}/images",
            {},
        ),
        "/v1/scopes": ("/v1/scopes", {}, "/v1/roles", {}),
        "/v1/roles": ("/v1/roles", {}, "/v1/scopes", {}),
        "/v1/users": ("/v1/users", {}, "/v1/scopes", {}),
        "/v1/users/{user_id}/tokens": (
            f"/v1/users/{b_developer}/tokens",
            {},
            f"/v1/users/{world.user('team-a', 'developer').id}/tokens",
            {},
        ),
        "/v1/audit-events": ("/v1/audit-events", {}, "/v1/audit-events", {"entity_type": "user"}),
        "/v1/assurance-policies": ("/v1/assurance-policies", {}, "/v1/response-policies", {}),
        "/v1/risk-acceptances": ("/v1/risk-acceptances", {}, "/v1/risk-acceptances", {"status": "active"}),
        "/v1/events": ("/v1/events", {}, "/v1/events", {"type": "non_compliant"}),
        "/v1/integrations": ("/v1/integrations", {}, "/v1/assurance-policies", {}),
        "/v1/response-policies": ("/v1/response-policies", {}, "/v1/integrations", {}),
        "/v1/notifications": ("/v1/notifications", {}, "/v1/notifications", {"trigger": "non_compliant"}),
        "/v1/registries": ("/v1/registries", {}, "/v1/integrations", {}),
        "/v1/registries/{registry_id}/events": (
            f"/v1/registries/{world.registries['ecr']}/events",
            {},
            f"/v1/registries/{world.registries['harbor']}/events",
            {},
        ),
    }


LIST_OPERATIONS = sorted(
    path
    for (method, path), operation in DOCUMENTED.items()
    if method == "GET" and any(p.get("name") == "next_token" for p in operation.get("parameters", []))
)


def first_token(world: World, path: str, query: dict[str, Any]) -> str:
    """The administrator's next_token after the first item (asked once per list: tokens are reusable)."""
    key = f"{path} {sorted(query.items())}"
    if key not in world.first_tokens:
        world.first_tokens[key] = _first_token(world, path, query)
    return world.first_tokens[key]


def _first_token(world: World, path: str, query: dict[str, Any]) -> str:
    sent, result = send(world.stack, "GET", path, world.admin, query={**query, "limit": 1})
    assert result.status == 200, f"{sent} → {result.status}: {result.body[:300]!r}"
    token = page_token(result)
    assert token, f"{sent}: one page only; the test needs two"
    return token


@pytest.mark.parametrize("template", LIST_OPERATIONS)
def test_a_page_token_decodes_to_no_identifier_and_opens_the_next_page(world: World, template: str) -> None:
    variants = list_variants(world)
    assert template in variants, f"no list variant for {template}: add one to list_variants"
    path, query, _, _ = variants[template]
    token = first_token(world, path, query)
    assert generic_identifiers_in_token(token) == [], f"GET {path}: next_token shows what it is made of"
    sent, result = send(
        world.stack, "GET", path, world.admin, query={**query, "limit": 1, "next_token": token}
    )
    assert result.status == 200, f"{sent} → {result.status}: {result.body[:300]!r}"


@pytest.mark.parametrize("template", LIST_OPERATIONS)
def test_a_page_token_of_another_caller_is_a_400(world: World, template: str) -> None:
    path, query, _, _ = list_variants(world)[template]
    token = first_token(world, path, query)
    sent, result = send(
        world.stack, "GET", path, world.second_admin, query={**query, "limit": 1, "next_token": token}
    )
    assert result.status == 400, f"another administrator's {sent} → {result.status}: {result.body[:300]!r}"
    assert error_of(result).get("code") == "malformed_request", result.body


@pytest.mark.parametrize("template", LIST_OPERATIONS)
def test_a_page_token_of_another_query_is_a_400(world: World, template: str) -> None:
    path, query, other_path, other_query = list_variants(world)[template]
    token = first_token(world, path, query)
    sent, result = send(
        world.stack, "GET", other_path, world.admin, query={**other_query, "limit": 1, "next_token": token}
    )
    assert result.status == 400, (
        f"{sent} with the token of GET {path} {query} → {result.status}: {result.body[:300]!r}"
    )
    assert error_of(result).get("code") == "malformed_request", result.body


def test_a_page_token_of_a_team_mate_is_a_400(world: World) -> None:
    """Bound to the caller, not to the caller's permissions: two users of one team do not share tokens."""
    developer, officer = world.token("team-a", "developer"), world.token("team-a", "security_officer")
    _, first = send(world.stack, "GET", "/v1/events", developer, query={"limit": 1})
    token = page_token(first)
    assert token, first.body
    _, result = send(world.stack, "GET", "/v1/events", officer, query={"limit": 1, "next_token": token})
    assert result.status == 400, result.body
    assert error_of(result).get("code") == "malformed_request", result.body


# --- 3. an acceptance spanning two teams' scopes ------------------------------------------------


def test_an_officer_of_one_scope_cannot_change_an_acceptance_spanning_two(world: World) -> None:
    stack = world.stack
    acceptance_id = world.acceptances["all a+b"]
    path = f"/v1/risk-acceptances/{acceptance_id}"
    before = expect(stack, 200, "GET", path, world.admin)
    assert sorted(before["scope"]["within"]) == sorted([world.scopes["team-a"], world.scopes["team-b"]])
    b_web = image_of(world, "team-b/web")
    assert b_web["status"] == "compliant"
    officer = world.token("team-a", "security_officer")

    _, extended = send(stack, "POST", f"{path}/extend", officer, {"period": "indefinite"})
    _, revoked = send(stack, "POST", f"{path}/revoke", officer, {"reason": "not our call to make"})
    seen = expect(stack, 200, "GET", path, officer)
    after = expect(stack, 200, "GET", path, world.admin)

    problems = []
    if extended.status != 403:
        problems.append(f"extend → {extended.status}: {extended.body[:200]!r}")
    if revoked.status != 403:
        problems.append(f"revoke → {revoked.status}: {revoked.body[:200]!r}")
    within = seen["scope"].get("within") or []
    if world.scopes["team-b"] in within or not set(within) <= {world.scopes["team-a"]}:
        problems.append(f"team A's officer is shown within = {within}")
    # Seen by team A, it shows nothing of team B: not its scope, nor the images of team B it covers.
    for role in ("security_officer", "developer", "auditor"):
        sent, shown = send(stack, "GET", path, world.token("team-a", role))
        problems += [f"{role}: {sent} carries {leak}" for leak in leaks(world.victims, sent, shown)]
    _, hidden = send(stack, "GET", path, world.token("tag-a", "security_officer"))
    if hidden.status != 404:
        problems.append(f"tag-a, outside both scopes, GET → {hidden.status}")
    if (after["status"], after["version"], after["expires_at"]) != (
        before["status"],
        before["version"],
        before["expires_at"],
    ):
        problems.append(
            f"the acceptance changed: {before['status']} v{before['version']} "
            f"→ {after['status']} v{after['version']}"
        )
    time.sleep(1.0)  # a revoke would fan out through the stream
    now_b_web = image_of(world, "team-b/web")
    if now_b_web["status"] != b_web["status"]:
        problems.append(f"team B's image went {b_web['status']} → {now_b_web['status']}")
    assert problems == []


def test_a_tag_scoped_officer_cannot_accept_for_the_whole_shared_repository(world: World) -> None:
    payload = {
        "finding": {"kind": "vulnerability", "id": BUSTER_CRITICAL},
        "scope": {"repository": "ghcr.io/shared/app"},
        "period": "30d",
        "reason": "would reach the other tag scope's images too",
    }
    for team in ATTACKERS[1:] + VICTIMS[1:]:
        _, result = send(
            world.stack, "POST", "/v1/risk-acceptances", world.token(team, "security_officer"), payload
        )
        assert result.status == 403, f"{team}: {result.status} {result.body[:200]!r}"


# --- 4. webhooks: no internal addresses; the test message says only delivered and the status -------

INTERNAL_URLS = [
    "https://169.254.169.254/latest/meta-data",
    "https://10.0.0.5/x",
    "https://[::1]/x",
    "https://0x7f000001/x",
    "https://2130706433/x",
    "https://metadata.google.internal/x",
    "https://100.64.0.1/x",
    "https://[fd00::1]/x",
]
SIGNING_SECRET = "a-signing-secret-of-16+chars"


def webhook(name: str, url: str, scope: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": name,
        "type": "webhook",
        "config": {"url": url, "secret": SIGNING_SECRET, "preset": "generic"},
    }
    if scope is not None:
        payload["scope"] = scope
    return payload


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_a_webhook_to_an_internal_address_is_refused(world: World, url: str) -> None:
    stack = world.stack
    number = INTERNAL_URLS.index(url)
    problems = []
    _, as_admin = send(stack, "POST", "/v1/integrations", world.admin, webhook(f"internal-{number}", url))
    if as_admin.status != 422:
        problems.append(f"administrator: {as_admin.status} {as_admin.body[:200]!r}")
    if as_admin.status == 201:
        send(stack, "DELETE", f"/v1/integrations/internal-{number}", world.admin)
    scope = world.scopes["team-a"] if world.integration_scopes else None
    _, as_officer = send(
        stack,
        "POST",
        "/v1/integrations",
        world.token("team-a", "security_officer"),
        webhook(f"internal-a-{number}", url, scope),
    )
    if as_officer.status not in (403, 422):  # 403 while integrations are account-wide
        problems.append(f"team A's officer: {as_officer.status} {as_officer.body[:200]!r}")
    _, patched = send(
        stack,
        "PATCH",
        f"/v1/integrations/{world.integrations['team-a']}",
        world.admin,
        {"config": {"url": url}},
    )
    if patched.status != 422:
        problems.append(f"PATCH of an existing webhook: {patched.status} {patched.body[:200]!r}")
    assert problems == []


# What a test message's answer must not say: transport errors, the receiver's own words.
CHATTER = re.compile(
    r"refused|errno|connect|tls|ssl|certificate|timed? ?out|unreachable|resolve|local sink|as the path asked"
    r"|result|description|error_code|traceback|\{|<",
    re.IGNORECASE,
)


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def status_codes_in(value: Any) -> set[int]:
    if isinstance(value, dict):
        return {v for k, v in value.items() if "status" in k and isinstance(v, int)} | {
            c for v in value.values() for c in status_codes_in(v)
        }
    return set()


@pytest.mark.parametrize(
    ("path", "delivered", "status"),
    [
        ("/probe/ok", True, 200),
        ("/fail/probe", False, 500),
        ("/status/404/probe", False, 404),
        (None, False, None),
    ],
    ids=["delivered", "receiver 500", "receiver 404", "nobody listening"],
)
def test_a_test_message_says_only_whether_it_was_delivered_and_the_status(
    world: World, path: str | None, delivered: bool, status: int | None
) -> None:
    stack = world.stack
    name = "probe-" + (path or "closed").strip("/").replace("/", "-")
    url = f"{world.sink_url}{path}" if path else f"http://127.0.0.1:{free_port()}/nobody"
    _, created = send(stack, "POST", "/v1/integrations", world.admin, webhook(name, url))
    if path is None and created.status == 422:
        return  # only the local sink itself is allowed: nothing to probe
    assert created.status == 201, created.body
    answer = expect(stack, 200, "POST", f"/v1/integrations/{name}/test", world.admin)
    assert answer.get("delivered") is delivered, answer
    chatter = [s for s in strings_in(answer) if s not in (name, "webhook") and CHATTER.search(s)]
    assert chatter == [], f"the answer says more than delivered and the status: {answer}"
    expected_codes = {status} if status is not None else set()
    assert status_codes_in(answer) == expected_codes, f"status code not (only) {status}: {answer}"


# --- 5. integrations of another team: invisible, unusable, unnamed -----------------------------------


def normalized(error: dict[str, Any], typed: str) -> str:
    return json.dumps(error, sort_keys=True).replace(typed, "<name>")


@pytest.mark.parametrize("attacker", ATTACKERS)
@pytest.mark.parametrize("output", ["webhook", "email"])
def test_a_response_policy_cannot_name_another_teams_integration(
    world: World, attacker: str, output: str
) -> None:
    stack = world.stack
    officer = world.token(attacker, "security_officer")
    theirs = world.integrations[NEIGHBOUR[attacker]]
    made_up = "no-such-hook-" + secrets.token_hex(4)

    def create(integration: str) -> HttpResult:
        _, result = send(
            stack,
            "POST",
            "/v1/response-policies",
            officer,
            {
                "name": f"{attacker} borrows a hook",
                "scope": world.scopes[attacker],
                "trigger": "non_compliant",
                "outputs": [{"output": output, "integration": integration}],
            },
        )
        return result

    with_theirs, with_made_up = create(theirs), create(made_up)
    assert with_theirs.status == 422, with_theirs.body
    assert with_made_up.status == 422, with_made_up.body
    assert normalized(error_of(with_theirs), theirs) == normalized(error_of(with_made_up), made_up)
    if output != "webhook":
        assert "webhook" not in with_theirs.body.decode(), "the message states the integration's type"


@pytest.mark.parametrize("attacker", ATTACKERS)
def test_another_teams_integrations_are_not_listed_or_shown(world: World, attacker: str) -> None:
    stack = world.stack
    officer = world.token(attacker, "security_officer")
    theirs = world.integrations[NEIGHBOUR[attacker]]
    pages, ended = walk(stack, officer, "/v1/integrations")
    assert ended
    listed = [p for s, p in pages if theirs.encode() in p.body or p.status >= 500]
    assert listed == []
    _, shown = send(stack, "GET", f"/v1/integrations/{theirs}", officer)
    assert shown.status in (403, 404), shown.body
    assert b"webhook" not in shown.body
    assert b"/hooks/" not in shown.body


# --- 6. no existence oracle in the acceptances' image filter ---------------------------------------


@pytest.mark.parametrize(
    ("attacker", "victim"), [("team-a", "team-b/app"), ("tag-a", "tag-b"), ("team-a", "tag-b")]
)
def test_filtering_acceptances_by_another_teams_image_is_a_404_like_a_made_up_id(
    world: World, attacker: str, victim: str
) -> None:
    developer = world.token(attacker, "developer")
    real = world.images[victim]
    made_up = "img-" + secrets.token_hex(10)
    _, for_real = send(world.stack, "GET", "/v1/risk-acceptances", developer, query={"image_id": real})
    _, for_made_up = send(world.stack, "GET", "/v1/risk-acceptances", developer, query={"image_id": made_up})
    assert (for_real.status, for_made_up.status) == (404, 404), (for_real.body, for_made_up.body)
    assert normalized(error_of(for_real), real) == normalized(error_of(for_made_up), made_up)


# --- 7. hostile bodies: 400 or 422, never 500 ---------------------------------------------------------

DEPTH = 100_000
HOSTILE_BODIES = {
    "nested 100,000 deep": b'{"name": ' + b"[" * DEPTH + b"]" * DEPTH + b"}",
    "truncated JSON": b'{"name":',
    "not UTF-8": b'{"name": "\xff\xfe\xfd caf\xe9"}',
}
MADE_UP_PATH_VALUES = {
    "scope_id": "scp-0000000000000000",
    "name": "no-such-thing",
    "user_id": "usr-0000000000000000",
    "token_id": "tok-0000000000000000",
    "policy_id": "pol-0000000000000000",
    "acceptance_id": "acc-0000000000000000",
    "image_id": "img-00000000000000000000",
    "vulnerability_id": BUSTER_CRITICAL,
    "upload_id": "upl-000000000000000000000000",
    "registry_id": "reg-0000000000000000",
}


def filled(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


@pytest.mark.parametrize("what", sorted(HOSTILE_BODIES))
@pytest.mark.parametrize(
    ("method", "template"), BODY_OPERATIONS, ids=[f"{m} {p}" for m, p in BODY_OPERATIONS]
)
def test_a_hostile_body_is_a_400(world: World, method: str, template: str, what: str) -> None:
    path = filled(template, MADE_UP_PATH_VALUES)
    sent, result = send(
        world.stack,
        method,
        path,
        world.admin,
        raw=HOSTILE_BODIES[what],
        headers={"Content-Type": "application/json"},
    )
    assert result.status == 400, f"{sent} ({what}) → {result.status}: {result.body[:300]!r}"
    assert error_of(result).get("code"), result.body[:300]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", '"NaN"'])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_policy_condition_that_is_not_a_number_is_a_422(world: World, method: str, value: str) -> None:
    # Next to a valid condition: a NaN once became null and the policy was stored without it.
    conditions = '{"malware": true, "cvss_at_least": ' + value + "}"
    if method == "POST":
        path = "/v1/assurance-policies"
        name = json.dumps(f"cvss {value.strip(chr(34))}")
        text = f'{{"name": {name}, "scope": "{world.scopes["team-a"]}", "conditions": {conditions}}}'
    else:
        path = f"/v1/assurance-policies/{world.policies['team-a']}"
        text = '{"conditions": ' + conditions + "}"
    sent, result = send(world.stack, method, path, world.admin, raw=text.encode())
    if result.status in (200, 201):
        created = body_of(result)
        if method == "POST":
            send(world.stack, "DELETE", f"/v1/assurance-policies/{created['id']}", world.admin)
    assert result.status == 422, f"{sent} cvss_at_least {value} → {result.status}: {result.body[:300]!r}"


# --- 9. re-enabling a user does not revive the tokens issued before ---------------------------------


def set_enabled(world: World, user_id: str, enabled: bool) -> None:
    path = f"/v1/users/{user_id}"
    sent, result = send(world.stack, "PATCH", path, world.admin, {"enabled": enabled})
    if result.status in (409, 412, 422, 428) and b"version" in result.body:
        # A PATCH that names the version it changes.
        version = expect(world.stack, 200, "GET", path, world.admin)["version"]
        sent, result = send(world.stack, "PATCH", path, world.admin, {"enabled": enabled, "version": version})
    assert result.status == 200, f"{sent} → {result.status}: {result.body[:300]!r}"
    assert body_of(result)["enabled"] is enabled


def test_tokens_issued_before_a_user_was_disabled_stay_dead_after_re_enabling(world: World) -> None:
    stack = world.stack
    user = make_user(world, "rule9-developer", [{"role": "developer", "scope": world.scopes["team-a"]}])
    assert stack.request("GET", "/v1/images", token=user.token).status == 200
    set_enabled(world, user.id, False)
    assert stack.request("GET", "/v1/images", token=user.token).status == 401
    set_enabled(world, user.id, True)
    assert stack.request("GET", "/v1/images", token=user.token).status == 401, (
        "re-enabling revived an old token"
    )
    fresh = expect(stack, 201, "POST", f"/v1/users/{user.id}/tokens", world.admin, {"name": "after"})
    assert stack.request("GET", "/v1/images", token=fresh["token"]).status == 200


# --- the sweep: every operation, as every role of team A and tag-a, with the victims' ids -------------


@dataclass(frozen=True)
class Attempt:
    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    payload: Any = None
    raw: bytes | None = None
    allowed: frozenset[int] = frozenset({403, 404})
    walk: bool = False


NOT_VISIBLE = frozenset({403, 404})
READ = frozenset({200, 403, 404})
CREATE_REFUSED = frozenset({403, 404, 422})

MUTATION_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v1/scopes/{scope_id}"): {"description": "changed by another team"},
    ("PATCH", "/v1/roles/{name}"): {"description": "changed by another team"},
    ("PATCH", "/v1/users/{user_id}"): {"email": "attacker@example.com"},
    ("POST", "/v1/users/{user_id}/tokens"): {"name": "stolen"},
    ("PATCH", "/v1/assurance-policies/{policy_id}"): {"enabled": False},
    ("POST", "/v1/risk-acceptances/{acceptance_id}/extend"): {"period": "indefinite"},
    ("POST", "/v1/risk-acceptances/{acceptance_id}/revoke"): {"reason": "revoked by another team"},
    ("PATCH", "/v1/integrations/{name}"): {"config": {"rate_limit_per_minute": 1}},
    ("PATCH", "/v1/response-policies/{policy_id}"): {"enabled": False},
    ("PATCH", "/v1/registries/{registry_id}"): {"name": "taken-over"},
    ("POST", "/v1/registries/{registry_id}/webhook"): HARBOR_SCAN_COMPLETED,
}


def victim_path_values(world: World, template: str, name: str) -> list[str]:
    if name == "image_id":
        return [world.images["team-b/app"], world.images["tag-b"]]
    if name == "vulnerability_id":
        return [BUSTER_CRITICAL]  # shared by every team: a list that must filter
    if name == "scope_id":
        return [world.scopes[t] for t in VICTIMS]
    if name == "user_id":
        return [world.user("team-b", "security_officer").id, world.user("tag-b", "ci_pipeline").id]
    if name == "acceptance_id":
        return [world.acceptances[w] for w in ("team-b image", "team-b repository", "tag-b image")]
    if name == "policy_id" and template.startswith("/v1/assurance-policies"):
        return [world.policies[t] for t in VICTIMS]
    if name == "policy_id" and template.startswith("/v1/response-policies"):
        return [world.response_policies[t] for t in VICTIMS]
    if name == "name" and template.startswith("/v1/integrations"):
        return [world.integrations[t] for t in VICTIMS]
    if name == "name" and template.startswith("/v1/roles"):
        return ["auditor"]
    if name == "upload_id":
        return [world.uploads[t] for t in VICTIMS]
    if name == "registry_id":
        return list(world.registries.values())  # the account's, not a team's: refused to every team
    raise AssertionError(f"the sweep has no victim value for {{{name}}} in {template}: add one")


def path_attempts(world: World, method: str, template: str, names: list[str], walks: bool) -> list[Attempt]:
    if names == ["user_id", "token_id"]:
        user = world.user("team-b", "developer")
        combinations = [{"user_id": user.id, "token_id": user.token_id}]
    else:
        [name] = names
        combinations = [{name: value} for value in victim_path_values(world, template, name)]
    allowed = frozenset({200, 403}) if template.startswith("/v1/vulnerabilities") else NOT_VISIBLE
    if (method, template) in SHARED_SECRET:
        allowed = frozenset({401, 404})  # a bearer token is no webhook secret; an ECR connection has none
    return [
        Attempt(
            method,
            filled(template, values),
            payload=MUTATION_BODIES.get((method, template)),
            allowed=allowed,
            walk=walks,
        )
        for values in combinations
    ]


def collection_attempts(world: World, method: str, template: str, team: str, role: str) -> list[Attempt]:
    b_app, tag_b = world.images["team-b/app"], world.images["tag-b"]
    b_spec, tb_spec = IMAGES["team-b/app"], IMAGES["tag-b"]
    slug = f"{team}-{role}".replace("_", "-")
    b_scope, tb_scope = world.scopes["team-b"], world.scopes["tag-b"]
    finding = {"kind": "vulnerability", "id": BUSTER_CRITICAL}

    def reads(*queries: dict[str, Any], allowed: frozenset[int] = READ, walks: bool = True) -> list[Attempt]:
        # The whole list is walked with limit=1; a filtered one is read in one page.
        return [Attempt("GET", template, dict(q), allowed=allowed, walk=walks and not q) for q in queries]

    if method == "GET":
        table: dict[str, list[Attempt]] = {
            "/v1/health": reads({}, allowed=frozenset({200}), walks=False),
            # The caller's own identity and grants: nothing of the other team's in it.
            "/v1/me": reads({}, allowed=frozenset({200}), walks=False),
            # The same document for everyone (and large): read once per team.
            "/v1/openapi.json": reads({}, allowed=frozenset({200}), walks=False)
            if role == "developer"
            else [],
            "/v1/images": reads(
                {},
                {"registry": "ghcr.io", "repository": "team-b/app"},
                {"registry": "ghcr.io", "repository": "shared/app"},
                {"status": "non_compliant"},
            ),
            "/v1/audit-events": reads(
                {},
                {"entity_type": "user", "entity_id": world.user("team-b", "security_officer").id},
                {"actor": world.user("team-b", "security_officer").id},
                {"entity_type": "authentication"},
            ),
            "/v1/scopes": reads({}),
            "/v1/roles": reads({}),
            "/v1/users": reads({}),
            "/v1/assurance-policies": reads({}),
            "/v1/risk-acceptances": reads(
                {},
                {"status": "active"},
                {"finding_id": BUSTER_CRITICAL},
                {"repository": "ghcr.io/shared/app"},
            )
            + reads(
                {"image_id": b_app},
                {"image_id": tag_b},
                {"repository": "ghcr.io/team-b/api"},
                allowed=frozenset({200, 403, 404}),
            ),
            "/v1/events": reads({}, {"type": "non_compliant"}),
            "/v1/integrations": reads({}),
            "/v1/registries": reads({}),
            "/v1/response-policies": reads({}),
            "/v1/notifications": reads(
                {},
                {"policy_id": world.response_policies["team-b"]},
                {"policy_id": world.response_policies["tag-b"]},
            ),
            "/v1/verdict": reads(
                {"image": f"{b_spec.name}:{b_spec.tag}"},
                {"image": f"{b_spec.name}@{b_spec.digest}"},
                {"image": f"{tb_spec.name}:{tb_spec.tag}"},
                {"image": f"{tb_spec.name}@{tb_spec.digest}"},
                allowed=NOT_VISIBLE,
                walks=False,
            ),
            "/v1/risk-acceptances/export": reads(
                {"format": "trivyignore"}, {"format": "openvex"}, allowed=frozenset({200, 403}), walks=False
            )
            + reads(
                {"image": b_app},
                {"format": "openvex", "image": f"{b_spec.name}@{b_spec.digest}"},
                {"image": f"{tb_spec.name}@{tb_spec.digest}"},
                allowed=NOT_VISIBLE,
                walks=False,
            ),
        }
        if template in table:
            return table[template]
    if method == "POST":
        clean = world.reports[GRYPE_CLEAN]
        own_scope = world.scopes[team]
        victim_hook = world.integrations[NEIGHBOUR[team]]
        posts: dict[str, list[Attempt]] = {
            "/v1/scans": [
                Attempt("POST", template, {"image": reference}, raw=clean, allowed=frozenset({403}))
                for reference in (
                    b_spec.reference,
                    f"{b_spec.name}:9",
                    tb_spec.reference,
                    f"{tb_spec.name}:b-9",
                    f"{tb_spec.name}:a-9@{tb_spec.digest}",
                )
            ],
            # Naming another team's image is refused before anything is uploaded.
            "/v1/scans/uploads": [
                Attempt("POST", template, {"image": reference}, allowed=frozenset({403}))
                for reference in (b_spec.reference, f"{tb_spec.name}:b-9")
            ],
            "/v1/scopes": [
                Attempt(
                    "POST",
                    template,
                    payload={
                        "name": f"x-{slug}",
                        "resources": [{"registry": "ghcr.io", "repository": "team-b/*"}],
                    },
                    allowed=frozenset({403}),
                )
            ],
            "/v1/roles": [
                Attempt(
                    "POST",
                    template,
                    payload={"name": f"x-{slug}", "permissions": ["users:manage"]},
                    allowed=frozenset({403}),
                )
            ],
            "/v1/users": [
                Attempt(
                    "POST",
                    template,
                    payload={
                        "name": f"x-{slug}",
                        "kind": "service",
                        "role_bindings": [{"role": "administrator", "scope": "global"}],
                    },
                    allowed=frozenset({403}),
                )
            ],
            "/v1/assurance-policies": [
                Attempt(
                    "POST",
                    template,
                    payload={
                        "name": f"x-{slug}",
                        "scope": scope,
                        "conditions": {"severity_at_least": "low"},
                        "actions": ["block_ci"],
                    },
                    allowed=CREATE_REFUSED,
                )
                for scope in (b_scope, tb_scope)
            ],
            "/v1/risk-acceptances": [
                Attempt(
                    "POST",
                    template,
                    payload={
                        "finding": finding,
                        "scope": scope,
                        "period": "indefinite",
                        "reason": "another team's call",
                    },
                    allowed=NOT_VISIBLE,
                )
                for scope in (
                    {"image": b_app},
                    {"image": tag_b},
                    {"repository": "ghcr.io/team-b/app"},
                    {"repository": "ghcr.io/shared/app"},
                )
            ],
            "/v1/integrations": [
                Attempt(
                    "POST",
                    template,
                    payload={
                        "name": f"x-{slug}",
                        "type": "email",
                        "config": {"from": "riskgate@example.com", "to": ["attacker@example.com"]},
                        **({"scope": b_scope} if world.integration_scopes else {}),
                    },
                    allowed=CREATE_REFUSED,
                )
            ],
            "/v1/registries": [
                Attempt(
                    "POST",
                    template,
                    payload={**REGISTRY_CONNECTIONS["ecr"], "name": f"x-{slug}"},
                    allowed=frozenset({403}),
                )
            ],
            "/v1/response-policies": [
                Attempt(
                    "POST",
                    template,
                    payload={
                        "name": f"x-{slug}",
                        "scope": scope,
                        "trigger": "non_compliant",
                        "outputs": [{"output": "webhook", "integration": victim_hook}],
                    },
                    allowed=allowed,
                )
                for scope, allowed in ((b_scope, CREATE_REFUSED), (own_scope, frozenset({403, 422})))
            ],
        }
        if template in posts:
            return posts[template]
    raise AssertionError(f"the sweep has no attempt for {method} {template}: add one")


def attempts_for(world: World, method: str, template: str, team: str, role: str) -> list[Attempt]:
    operation = DOCUMENTED[(method, template)]
    parameters = operation.get("parameters", [])
    names = [p["name"] for p in parameters if p["in"] == "path"]
    walks = method == "GET" and any(p["name"] == "next_token" for p in parameters)
    if names:
        return path_attempts(world, method, template, names, walks)
    return collection_attempts(world, method, template, team, role)


def check(world: World, sent: Sent, result: HttpResult, allowed: frozenset[int]) -> list[str]:
    problems = []
    if result.status not in allowed or result.status >= 500:
        problems.append(f"{sent} → {result.status}, expected {sorted(allowed)}: {result.body[:240]!r}")
    problems += [f"{sent} → {result.status} carries {leak}" for leak in leaks(world.victims, sent, result)]
    return problems


# Who walks every list one item a page (every list one of them may read); the other roles, who see the
# same items in the same scope, walk it in pages of 200.
PAGE_BY_PAGE = ("developer", "ci_pipeline")

# Account-wide operations (users, roles, scopes, tokens, the security event log, registry connections) need
# their permission in `global`, whatever the caller's scope: team-a's roles try them; tag-a's would repeat
# the same refusal.
ACCOUNT_WIDE = {"users:manage", "audit:read", "registries:read", "registries:manage"}

SWEEP = [
    pytest.param(method, template, team, role, id=f"{method} {template} as {team} {role}")
    for method, template in OPERATIONS
    for team in ATTACKERS
    for role in ROLES
    if team == ATTACKERS[0] or DOCUMENTED[(method, template)].get("x-riskgate-permission") not in ACCOUNT_WIDE
]


@pytest.mark.parametrize(("method", "template", "team", "role"), SWEEP)
def test_the_other_team_learns_and_changes_nothing(
    world: World, method: str, template: str, team: str, role: str
) -> None:
    assert method != "ERROR", template
    token = world.token(team, role)
    problems: list[str] = []
    for attempt in attempts_for(world, method, template, team, role):
        if attempt.walk:
            limit = 1 if role in PAGE_BY_PAGE else 200
            pages, ended = walk(world.stack, token, attempt.path, attempt.query, limit=limit)
            for sent, result in pages:
                problems += check(world, sent, result, attempt.allowed)
            if not ended:
                problems.append(f"GET {attempt.path} {attempt.query}: the limit={limit} walk did not end")
            continue
        sent, result = send(
            world.stack,
            attempt.method,
            attempt.path,
            token,
            attempt.payload,
            query=attempt.query,
            raw=attempt.raw,
        )
        problems += check(world, sent, result, attempt.allowed)
    assert problems == [], "\n".join(problems[:40])


# --- what team A's own channels were sent: nothing about team B --------------------------------------


def test_our_own_webhooks_never_hear_of_the_other_team(world: World) -> None:
    """Team A's and tag-a's response policies sent to their own hooks (their images were non-compliant
    before the `all` acceptance): about their own images only."""
    items = expect(world.stack, 200, "GET", "/_local/outbox", None)["items"]
    ours = [
        item
        for item in items
        if item["channel"] == "webhook" and any(f"/hooks/{team}/" in item["to"] for team in ATTACKERS)
    ]
    assert {team for team in ATTACKERS for item in ours if f"/hooks/{team}/" in item["to"]} == set(ATTACKERS)
    heard = [f"{item['to']}: {hit}" for item in ours for hit in world.victims.found(json.dumps(item))]
    assert heard == []


# --- and after all of it: the victims' state is what it was ------------------------------------------


def test_nothing_of_team_b_or_tag_b_changed(world: World) -> None:
    after = victim_state(world)
    changed = {
        key: {"before": world.before[key], "after": after.get(key)}
        for key in world.before
        if world.before[key] != after.get(key)
    }
    assert changed == {}, json.dumps(changed, indent=1)[:6000]
    print("set-up notes:", world.notes or "none", "; set-up seconds:", world.timings)


# --- last, because it ends every acceptance: what the expiry tells each team -------------------------


def test_expiry_events_show_a_team_nothing_of_the_other(world: World) -> None:
    """The expiry checker, run 100 days ahead, ends every acceptance and records its events. Team A sees
    the events of its own and of the spanning acceptance (`within`: its scope only), none of team B's."""
    stack = world.stack
    as_of = (datetime.now(UTC) + timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = expect(stack, 200, "POST", "/_local/expiry-check", None, {"as_of": as_of})
    assert run["expired"] >= 1, run
    spanning = world.acceptances["all a+b"]
    problems = []
    for team in ATTACKERS:
        for role in ("developer", "security_officer"):
            pages, ended = walk(
                stack, world.token(team, role), "/v1/events", {"type": "risk_acceptance_expiration"}
            )
            assert ended
            for sent, result in pages:
                problems += check(world, sent, result, frozenset({200}))
                for event in body_of(result)["items"]:
                    acceptance = event.get("acceptance") or {}
                    within = (acceptance.get("scope") or {}).get("within") or []
                    if acceptance.get("id") == spanning and not set(within) <= {world.scopes[team]}:
                        problems.append(
                            f"{team} {role}: the spanning acceptance's event shows within {within}"
                        )
    assert problems == [], "\n".join(problems[:20])
