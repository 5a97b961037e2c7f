"""Dispatch and notify with in-memory fakes: which policies an event concerns (scope, filters, enabled),
the dedup window, exactly once under redelivery, permanent and transient failures, the rate limit."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskgate.adapters.delivery_errors import PermanentDeliveryError, TransientDeliveryError
from riskgate.adapters.dynamo import Page
from riskgate.domain.access import Access, Grant, ResourceSelector, ScopeDefinition
from riskgate.domain.errors import NotFound
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.services.notifications import (
    DispatchResult,
    dedup_key,
    dispatch,
    list_notifications,
    notification_id,
    notification_id_from_body,
    notify,
    retry_delay,
)

NOW = datetime(2026, 5, 1, 12, 0, 30, tzinfo=UTC)
WINDOW_HOURS = 24
SCOPES = {
    "scope-team-a": ScopeDefinition(
        "scope-team-a", (ResourceSelector(registry="ghcr.io", repository="team-a/*"),)
    ),
    "scope-team-b": ScopeDefinition(
        "scope-team-b", (ResourceSelector(registry="ghcr.io", repository="team-b/*"),)
    ),
    "scope-prod-tags": ScopeDefinition("scope-prod-tags", (ResourceSelector(tag="prod-*"),)),
}
MAIL = {"output": "email", "integration": "ops-mail"}
HOOK = {"output": "webhook", "integration": "ops-hook"}


# --- fakes ------------------------------------------------------------------------------------------


class FakeStore:
    """The NotificationStore's semantics in memory: the marker held until its epoch, records written once,
    `sending` taken by one caller at a time, a sent or permanently failed record never again."""

    def __init__(self) -> None:
        self.markers: dict[str, int] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.rates: dict[tuple[str, int], int] = {}

    def record(
        self,
        notifications: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        dedup_key: str,
        window_ends_epoch: int,
        now_epoch: int,
    ) -> bool:
        records = [notifications] if isinstance(notifications, Mapping) else list(notifications)
        held = dedup_key in self.markers and self.markers[dedup_key] >= now_epoch
        if held or any(record["id"] in self.records for record in records):
            return False
        self.markers[dedup_key] = window_ends_epoch
        for record in records:
            self.records[record["id"]] = copy.deepcopy(dict(record))
        return True

    def get(self, notification_id: str) -> dict[str, Any] | None:
        found = self.records.get(notification_id)
        return copy.deepcopy(found) if found else None

    def begin_attempt(self, notification_id: str, now: datetime) -> dict[str, Any] | None:
        record = self.records.get(notification_id)
        if record is None or record.get("permanent") or record["status"] not in ("pending", "failed"):
            return None
        record["status"] = "sending"
        record["attempts"] += 1
        return copy.deepcopy(record)

    def mark_sent(self, notification_id: str, now: datetime, detail: Mapping[str, Any] | None = None) -> None:
        self.records[notification_id].update(
            status="sent", sent_at=now.isoformat(), delivery=dict(detail or {})
        )

    def mark_failed(self, notification_id: str, now: datetime, error: str, permanent: bool) -> None:
        self.records[notification_id].update(status="failed", last_error=error, permanent=permanent)

    def check_rate(self, integration: str, minute: int, limit: int) -> bool:
        count = self.rates.get((integration, minute), 0)
        if count >= limit:
            return False
        self.rates[(integration, minute)] = count + 1
        return True

    def list(
        self, limit: int, next_token: str | None, filters: Mapping[str, str | None] | None = None
    ) -> Page:
        wanted = {k: v for k, v in (filters or {}).items() if v is not None}
        items = [r for r in self.records.values() if all(r.get(k) == v for k, v in wanted.items())]
        start = int(next_token or 0)
        shown = items[start : start + limit]
        end = start + len(shown)
        # Positions as a store gives them: where the list goes on after each item.
        return Page(
            items=shown,
            next_token=str(end) if end < len(items) else None,
            positions=[str(start + n + 1) for n in range(len(shown))],
        )


class FakePolicies:
    """The enabled policies of a trigger, as the trigger index (gsi1) holds them: disabled ones are not."""

    def __init__(self, *policies: dict[str, Any]) -> None:
        self.policies = list(policies)

    def __call__(self, trigger: str) -> list[dict[str, Any]]:
        return [p for p in self.policies if p["trigger"] == trigger and p.get("enabled", True)]


class FakeIntegrations:
    def __init__(self, **integrations: dict[str, Any]) -> None:
        self.integrations = integrations
        self.secrets = {"ops-hook": {"secret": "whsec-not-for-logs-0123456789"}}

    def get_integration(self, name: str) -> dict[str, Any] | None:
        return self.integrations.get(name)

    def read_secret(self, name: str) -> dict[str, str]:
        if name not in self.integrations:
            raise NotFound(f"integration {name} not found")
        return self.secrets.get(name, {})


class Published(list[str]):
    def __call__(self, message: Mapping[str, str]) -> None:
        assert set(message) == {"notification_id"}
        self.append(message["notification_id"])


class Channel:
    """A fake `deliver`: records what it sent; fails as told (one outcome per call, then success)."""

    def __init__(self, *outcomes: Exception) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[dict[str, Any]] = []

    def __call__(
        self, integration: Mapping[str, Any], secrets: Mapping[str, str], message: Any, *, delivery_id: str
    ) -> dict[str, str]:
        if self.outcomes:
            raise self.outcomes.pop(0)
        self.sent.append({"integration": integration["name"], "message": message, "delivery_id": delivery_id})
        return {"detail": "delivered"}


def render(event: Mapping[str, Any], **options: Any) -> dict[str, Any]:
    return {"event_id": event["id"], **options}


def policy(policy_id: str, scope: str = GLOBAL_SCOPE, **fields: Any) -> dict[str, Any]:
    return {
        "id": policy_id,
        "name": f"policy {policy_id}",
        "scope": scope,
        "trigger": "critical_vulnerabilities",
        "outputs": [MAIL],
        "filters": {},
        "enabled": True,
        **fields,
    }


def image_event(
    event_id: str = "evt-1",
    repository: str = "team-a/app",
    fingerprint: str = "fp-1",
    findings: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    image_id = f"img-{repository.replace('/', '-')}"
    return {
        "pk": f"EVENT#{event_id}",
        "sk": "EVENT",
        "gsi2pk": "EVENTS",
        "gsi2sk": f"2026-05-01T12:00:00.000000Z#{event_id}",
        "item_type": "event",
        "expires_at_epoch": 1_900_000_000,
        "id": event_id,
        "type": "critical_vulnerabilities",
        "occurred_at": "2026-05-01T12:00:00.000000Z",
        "subject": {"type": "image", "id": image_id},
        "image": {
            "image_id": image_id,
            "registry": "ghcr.io",
            "repository": repository,
            "tags": ["1.0", "prod-1"],
            "digest": "sha256:" + "a" * 64,
        },
        "verdict": {"status": "non_compliant", "block": True},
        "counts": {"vulnerabilities": {"critical": 1}},
        "findings": findings
        if findings is not None
        else [{"kind": "vulnerability", "id": "CVE-2026-1", "severity": "critical", "package": "openssl"}],
        "findings_total": 1,
        "fingerprint": fingerprint,
        **fields,
    }


def acceptance_event(scope: dict[str, Any], event_id: str = "evt-acc", **snapshot: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "risk_acceptance_expiration",
        "occurred_at": "2026-05-01T12:00:00.000000Z",
        "ended_reason": "period ended",
        "acceptance": {
            "id": "acc-1",
            "finding": {"kind": "vulnerability", "id": "CVE-2026-1"},
            "scope": scope,
            "period": "30d",
            "reason": "no exploit path",
            "accepted_by": "usr-1",
            **snapshot,
        },
    }


class World:
    def __init__(self, *policies: dict[str, Any]) -> None:
        self.store = FakeStore()
        self.policies = FakePolicies(*policies)
        self.published = Published()
        self.scope_reads: list[set[str]] = []

    def scopes(self, ids: set[str]) -> dict[str, ScopeDefinition]:
        self.scope_reads.append(set(ids))
        return {scope_id: SCOPES[scope_id] for scope_id in ids if scope_id in SCOPES}

    def dispatch(self, event: Mapping[str, Any], now: datetime = NOW) -> DispatchResult:
        return dispatch(
            event,
            policies_for_trigger=self.policies,
            scopes=self.scopes,
            store=self.store,
            publish=self.published,
            now=now,
            window_hours=WINDOW_HOURS,
        )

    def fired(self, event: Mapping[str, Any]) -> list[str]:
        """The ids of the policies the event notifies."""
        self.dispatch(event)
        return sorted({self.store.records[n]["policy_id"] for n in self.published})


# --- dispatch: who hears of what ----------------------------------------------------------------------


def test_each_output_of_a_matching_policy_is_one_notification_recorded_and_published() -> None:
    world = World(policy("rsp-1", outputs=[MAIL, HOOK]))
    result = world.dispatch(image_event())
    assert result.matched == 1
    assert result.deduplicated == 0
    assert sorted(result.recorded) == sorted(
        [notification_id("evt-1", "rsp-1", "ops-mail"), notification_id("evt-1", "rsp-1", "ops-hook")]
    )
    assert sorted(world.published) == sorted(result.recorded)
    record = world.store.records[notification_id("evt-1", "rsp-1", "ops-mail")]
    assert record["id"].startswith("ntf-")
    assert {key: record[key] for key in ("event_id", "policy_id", "policy_name", "trigger", "output")} == {
        "event_id": "evt-1",
        "policy_id": "rsp-1",
        "policy_name": "policy rsp-1",
        "trigger": "critical_vulnerabilities",
        "output": "email",
    }
    assert record["subject"] == {"type": "image", "id": "img-team-a-app"}
    assert (record["status"], record["attempts"], record["last_error"], record["sent_at"]) == (
        "pending",
        0,
        None,
        None,
    )
    # The event's copy is its fields, without the table's keys and bookkeeping.
    assert record["event"]["fingerprint"] == "fp-1"
    assert not {"pk", "sk", "gsi2pk", "gsi2sk", "item_type", "expires_at_epoch"} & set(record["event"])


def test_a_policy_fires_only_for_images_its_scope_contains() -> None:
    world = World(
        policy("rsp-global"),
        policy("rsp-a", "scope-team-a"),
        policy("rsp-b", "scope-team-b"),
        policy("rsp-prod", "scope-prod-tags"),
        policy("rsp-gone", "scope-deleted"),
    )
    assert world.fired(image_event()) == ["rsp-a", "rsp-global", "rsp-prod"]
    # The scopes are read once, together (never the global one).
    assert world.scope_reads == [{"scope-team-a", "scope-team-b", "scope-prod-tags", "scope-deleted"}]


def test_a_disabled_policy_does_not_fire() -> None:
    # The trigger index holds only enabled policies; dispatch also ignores one that says it is disabled.
    world = World(policy("rsp-off", enabled=False))
    assert world.fired(image_event()) == []
    disabled = policy("rsp-off-2", enabled=False)
    result = dispatch(
        image_event(),
        policies_for_trigger=lambda trigger: [disabled],
        scopes=lambda ids: {},
        store=FakeStore(),
        publish=Published(),
        now=NOW,
        window_hours=WINDOW_HOURS,
    )
    assert result.matched == 0


def test_only_policies_of_the_events_trigger_fire() -> None:
    world = World(policy("rsp-malware", trigger="malware"), policy("rsp-critical"))
    assert world.fired(image_event()) == ["rsp-critical"]
    assert World(policy("rsp-1")).dispatch({**image_event(), "type": "new_image"}).matched == 0


@pytest.mark.parametrize(
    ("filters", "fires"),
    [
        ({"severity_at_least": "critical"}, True),
        ({"severity_at_least": "high"}, True),
        ({"repositories": ["team-a/*"]}, True),
        ({"repositories": ["ghcr.io/team-a/*"]}, True),
        ({"repositories": ["team-b/*", "docker.io/*"]}, False),
        ({"fixable_only": True}, False),
    ],
)
def test_filters_narrow_when_a_policy_fires(filters: dict[str, Any], fires: bool) -> None:
    world = World(policy("rsp-1", filters=filters))
    assert world.fired(image_event()) == (["rsp-1"] if fires else [])


def test_severity_and_fixable_filters_ask_for_one_causing_finding_that_passes_both() -> None:
    findings = [
        {"kind": "vulnerability", "id": "CVE-1", "severity": "critical"},
        {"kind": "vulnerability", "id": "CVE-2", "severity": "medium", "fixed_version": "1.2"},
    ]
    event = image_event(findings=findings)
    assert World(policy("rsp-1", filters={"severity_at_least": "high"})).fired(event) == ["rsp-1"]
    assert World(policy("rsp-1", filters={"fixable_only": True})).fired(event) == ["rsp-1"]
    both = {"severity_at_least": "high", "fixable_only": True}
    assert World(policy("rsp-1", filters=both)).fired(event) == []
    only_high = image_event(findings=[{"kind": "vulnerability", "id": "CVE-3", "severity": "high"}])
    assert World(policy("rsp-1", filters={"severity_at_least": "critical"})).fired(only_high) == []


@pytest.mark.parametrize(
    ("scope", "snapshot", "fired"),
    [
        # One image of team-a: the team-a policy hears of it, team-b's does not.
        ({"image": "img-1"}, {"registry": "ghcr.io", "repository": "team-a/app", "tags": ["1"]}, ["a"]),
        # Every tag of a team-a repository.
        ({"repository": "ghcr.io/team-a/app"}, {}, ["a"]),
        # All images within team-b's scope.
        ({"all": True, "within": ["scope-team-b"]}, {}, ["b"]),
        # All images everywhere: every scope's policy.
        ({"all": True, "within": ["global"]}, {}, ["a", "b"]),
    ],
)
def test_an_acceptance_event_reaches_the_policies_whose_scope_holds_what_was_accepted(
    scope: dict[str, Any], snapshot: dict[str, Any], fired: list[str]
) -> None:
    world = World(
        policy("global", trigger="risk_acceptance_expiration"),
        policy("a", "scope-team-a", trigger="risk_acceptance_expiration"),
        policy("b", "scope-team-b", trigger="risk_acceptance_expiration"),
    )
    assert world.fired(acceptance_event(scope, **snapshot)) == sorted(["global", *fired])
    record = next(iter(world.store.records.values()))
    assert record["subject"] == {"type": "risk_acceptance", "id": "acc-1"}


def test_finding_filters_do_not_narrow_an_acceptance_event_but_repositories_do() -> None:
    event = acceptance_event({"repository": "ghcr.io/team-a/app"})
    trigger = "risk_acceptance_expiration"
    severe = policy("rsp-1", trigger=trigger, filters={"severity_at_least": "critical", "fixable_only": True})
    assert World(severe).fired(event) == ["rsp-1"]
    elsewhere = policy("rsp-2", trigger=trigger, filters={"repositories": ["team-b/*"]})
    assert World(elsewhere).fired(event) == []
    here = policy("rsp-3", trigger=trigger, filters={"repositories": ["ghcr.io/team-a/*"]})
    assert World(here).fired(event) == ["rsp-3"]


# --- dispatch: once per news within the window --------------------------------------------------------


def test_the_same_findings_notify_a_policy_once_within_the_window() -> None:
    world = World(policy("rsp-1", outputs=[MAIL, HOOK]))
    first = world.dispatch(image_event("evt-1", fingerprint="fp-1"))
    # A re-scan of the same image with the same findings: a new event, the same fingerprint.
    again = world.dispatch(image_event("evt-2", fingerprint="fp-1"), NOW + timedelta(hours=3))
    assert len(first.recorded) == 2
    assert (again.recorded, again.deduplicated, again.republished) == ([], 1, [])
    assert len(world.store.records) == 2
    assert len(world.published) == 2


def test_a_new_finding_notifies_again_at_once() -> None:
    world = World(policy("rsp-1"))
    world.dispatch(image_event("evt-1", fingerprint="fp-1"))
    changed = world.dispatch(image_event("evt-2", fingerprint="fp-2"), NOW + timedelta(minutes=5))
    assert changed.recorded == [notification_id("evt-2", "rsp-1", "ops-mail")]


def test_the_same_findings_notify_again_once_the_window_has_passed() -> None:
    world = World(policy("rsp-1"))
    world.dispatch(image_event("evt-1"))
    later = world.dispatch(image_event("evt-2"), NOW + timedelta(hours=WINDOW_HOURS, seconds=1))
    assert later.recorded == [notification_id("evt-2", "rsp-1", "ops-mail")]


def test_the_window_is_per_policy_and_per_image() -> None:
    world = World(policy("rsp-1"), policy("rsp-2"))
    world.dispatch(image_event("evt-1", repository="team-a/app"))
    other_image = world.dispatch(image_event("evt-2", repository="team-a/api"))
    assert len(other_image.recorded) == 2
    assert dedup_key("rsp-1", "critical_vulnerabilities", "img-1", "fp") != dedup_key(
        "rsp-2", "critical_vulnerabilities", "img-1", "fp"
    )


def test_a_redelivered_stream_record_records_nothing_twice_and_republishes_what_is_pending() -> None:
    world = World(policy("rsp-1"))
    event = image_event()
    first = world.dispatch(event)
    # The batch is retried (say, the publish failed after the record was written).
    again = world.dispatch(event, NOW + timedelta(seconds=10))
    assert again.recorded == []
    assert again.deduplicated == 0
    assert again.republished == first.recorded
    assert len(world.store.records) == 1
    # Once it has been sent, a further retry publishes nothing.
    world.store.records[first.recorded[0]]["status"] = "sent"
    assert world.dispatch(event).republished == []


# --- notify: exactly once, failures, rate limit -------------------------------------------------------


def recorded(*, rate_limit: int | None = None) -> tuple[FakeStore, FakeIntegrations, str]:
    world = World(policy("rsp-1", outputs=[HOOK]))
    world.dispatch(image_event())
    config: dict[str, Any] = {"url": "https://hooks.example.com/x", "preset": "slack"}
    if rate_limit is not None:
        config["rate_limit_per_minute"] = rate_limit
    integrations = FakeIntegrations(**{"ops-hook": {"name": "ops-hook", "type": "webhook", "config": config}})
    return world.store, integrations, world.published[0]


def run_notify(
    store: FakeStore, integrations: FakeIntegrations, channel: Channel, notification: str, now: datetime = NOW
) -> Any:
    return notify(
        notification,
        store=store,
        integrations=integrations,
        render=render,
        deliver=channel,
        now=now,
        api_base_url="https://riskgate.example.com/api",
    )


def test_a_notification_is_rendered_and_delivered_once_whatever_is_redelivered() -> None:
    store, integrations, notification = recorded()
    channel = Channel()
    result = run_notify(store, integrations, channel, notification)
    assert (result.status, result.attempts) == ("sent", 1)
    (sent,) = channel.sent
    assert sent["delivery_id"] == notification
    assert sent["message"] == {
        "event_id": "evt-1",
        "policy_name": "policy rsp-1",
        "integration_type": "webhook",
        "preset": "slack",
        "template": None,
        "api_base_url": "https://riskgate.example.com/api",
    }
    assert store.records[notification]["status"] == "sent"
    # SQS delivers the message again: nothing more is sent.
    assert run_notify(store, integrations, channel, notification).status == "skipped"
    assert len(channel.sent) == 1
    assert store.records[notification]["attempts"] == 1


def test_a_permanent_failure_is_recorded_and_not_retried() -> None:
    store, integrations, notification = recorded()
    channel = Channel(PermanentDeliveryError("the webhook answered 404"))
    result = run_notify(store, integrations, channel, notification)
    assert (result.status, result.attempts) == ("failed", 1)
    record = store.records[notification]
    assert (record["status"], record["last_error"]) == ("failed", "the webhook answered 404")
    assert run_notify(store, integrations, channel, notification).status == "skipped"
    assert channel.sent == []


def test_a_transient_failure_is_recorded_and_raised_then_a_retry_sends() -> None:
    store, integrations, notification = recorded()
    channel = Channel(TransientDeliveryError("the webhook answered 503", retry_after=12))
    with pytest.raises(TransientDeliveryError) as raised:
        run_notify(store, integrations, channel, notification)
    assert raised.value.retry_after == 12
    record = store.records[notification]
    assert (record["status"], record["attempts"], record["last_error"]) == (
        "failed",
        1,
        "the webhook answered 503",
    )
    result = run_notify(store, integrations, channel, notification, NOW + timedelta(seconds=12))
    assert (result.status, result.attempts) == ("sent", 2)


def test_an_unexpected_error_is_recorded_by_its_kind_only_and_raised() -> None:
    store, integrations, notification = recorded()
    channel = Channel(KeyError("whsec-not-for-logs-0123456789"))
    with pytest.raises(KeyError):
        run_notify(store, integrations, channel, notification)
    assert store.records[notification]["last_error"] == "unexpected KeyError"


def test_an_integration_deleted_meanwhile_is_a_permanent_failure() -> None:
    store, _, notification = recorded()
    result = run_notify(store, FakeIntegrations(), Channel(), notification)
    assert result.status == "failed"
    assert store.records[notification]["last_error"] == "integration ops-hook no longer exists"
    assert store.records[notification]["permanent"] is True


def test_over_the_rate_limit_a_delivery_waits_for_the_next_minute() -> None:
    store, integrations, first = recorded(rate_limit=1)
    second_event = image_event("evt-2", fingerprint="fp-2")
    second = dispatch(
        second_event,
        policies_for_trigger=FakePolicies(policy("rsp-1", outputs=[HOOK])),
        scopes=lambda ids: {},
        store=store,
        publish=Published(),
        now=NOW,
        window_hours=WINDOW_HOURS,
    ).recorded[0]
    channel = Channel()
    assert run_notify(store, integrations, channel, first).status == "sent"
    with pytest.raises(TransientDeliveryError) as raised:
        run_notify(store, integrations, channel, second)
    # NOW is 30 s into its minute.
    assert raised.value.retry_after == 30
    assert "rate limit" in store.records[second]["last_error"]
    assert run_notify(store, integrations, channel, second, NOW + timedelta(seconds=30)).status == "sent"
    assert len(channel.sent) == 2


def test_a_notification_unknown_to_the_store_sends_nothing() -> None:
    channel = Channel()
    assert run_notify(FakeStore(), FakeIntegrations(), channel, "ntf-unknown").status == "skipped"
    assert channel.sent == []


# --- the notifier's message and retry delay -----------------------------------------------------------


def test_the_message_is_read_raw_or_from_snss_envelope() -> None:
    raw = json.dumps({"notification_id": "ntf-1"})
    assert notification_id_from_body(raw) == "ntf-1"
    envelope = json.dumps({"Type": "Notification", "MessageId": "m-1", "Message": raw})
    assert notification_id_from_body(envelope) == "ntf-1"
    for wrong in ('{"other": 1}', "[]", json.dumps({"Type": "Notification", "Message": "{}"})):
        with pytest.raises(ValueError, match="not a notification message"):
            notification_id_from_body(wrong)


def test_the_retry_delay_honours_retry_after_else_backs_off() -> None:
    assert retry_delay(1, 4.2) == 5
    assert retry_delay(3, None) == 120
    assert [retry_delay(count, None) for count in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(9, None) == 900
    assert retry_delay(1, 10_000) == 900


# --- the delivery log's visibility --------------------------------------------------------------------


def test_the_delivery_log_shows_what_the_callers_response_policies_show() -> None:
    world = World(policy("rsp-global"), policy("rsp-a", "scope-team-a"), policy("rsp-b", "scope-team-b"))
    world.dispatch(image_event(repository="team-a/app"))
    world.dispatch(image_event("evt-2", repository="team-b/app"))

    def seen(access: Access, **filters: str) -> list[str]:
        page = list_notifications(world.store, access, 50, None, **filters)
        return sorted(item["policy_id"] for item in page.items)

    read = frozenset({Permission.RESPONSE_POLICIES_READ})
    team_a = Access("u", "t", (Grant(read, SCOPES["scope-team-a"]),))
    everywhere = Access("u", "t", (Grant(read, ScopeDefinition(GLOBAL_SCOPE)),))
    assert seen(team_a) == ["rsp-a"]
    assert seen(everywhere) == ["rsp-a", "rsp-b", "rsp-global", "rsp-global"]
    assert seen(everywhere, policy_id="rsp-b") == ["rsp-b"]
    assert seen(everywhere, status="sent") == []
