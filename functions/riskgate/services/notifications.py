"""Notifications: from a trigger event to the response policies it concerns (dispatch), and from a
recorded notification to its integration's channel (notify). The rules live here; the store owns the
conditional writes that make them hold under retries (riskgate.adapters.notifications).

**Dispatch.** Of the enabled response policies of the event's trigger, those whose scope contains the
event's object and whose filters pass each yield one notification per output. A policy's notifications
and its dedup marker — `sha256(policy id|trigger|subject id|fingerprint)`, held for the window — are one
transaction: the same image with the same findings does not notify the same policy again within the
window, a new finding (a new fingerprint) does. Notification ids are derived from (event, policy,
integration), so a redelivered stream record finds its own records and does not record them twice; it
publishes again those not picked up yet (the notifier sends each once whatever it receives).

**Notify.** A notification is moved to `sending` by one conditional write (a sent one never again: a
redelivered message sends nothing), rendered and delivered through its integration's channel. A
permanent failure (a 4xx, the integration gone) is recorded and not retried; a transient one (a timeout, a
5xx, a 429, the integration's rate limit) is recorded and raised, so that SQS delivers the message again
later (5 receives, then the dead-letter queue). Once a delivery went out, failing to record it (DynamoDB
busy past the store's retries) is not raised: the message would come back after its visibility timeout,
past the `sending` lease, and be sent a second time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.clock import iso
from riskgate.domain.access import Access, ScopeDefinition
from riskgate.domain.errors import NotFound
from riskgate.domain.findings import Severity
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.domain.response_policies import ResponseFilters, ResponseTrigger
from riskgate.resources import TABLE
from riskgate.services.acceptance_reads import shown_event
from riskgate.services.delivery import Deliver, Render, send_event
from riskgate.services.pages import visible_page
from riskgate.services.response_policies import may_read

# Triggers whose object is a risk acceptance (the others' is an image).
ACCEPTANCE_TRIGGERS = frozenset(
    {ResponseTrigger.RISK_ACCEPTANCE_EXPIRATION.value, ResponseTrigger.RISK_ACCEPTANCE_EXPIRING.value}
)
ACCEPTANCE_SUBJECT = "risk_acceptance"
# A transient failure without a `retry_after` is tried again after 30 s, 60 s, 120 s, … at most this.
RETRY_BASE_SECONDS = 30
MAX_RETRY_DELAY_SECONDS = 900
# Storage attributes of the event item, left out of the notification's copy of it.
_STORAGE_FIELDS = frozenset({*TABLE.key_attributes(), "item_type", TABLE.ttl_attribute})

# The enabled response policies of a trigger (riskgate.adapters.response_policies).
PoliciesForTrigger = Callable[[str], Sequence[Mapping[str, Any]]]
# Scope definitions by id (those that exist); the global scope is never asked for.
ScopeSource = Callable[[set[str]], Mapping[str, ScopeDefinition]]
# Publish a message (`{"notification_id"}`) to the events topic.
Publish = Callable[[Mapping[str, str]], None]


class NotificationPort(Protocol):
    """The delivery log (riskgate.adapters.notifications.NotificationStore)."""

    def record(
        self,
        notifications: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        dedup_key: str,
        window_ends_epoch: int,
        now_epoch: int,
    ) -> bool: ...
    def get(self, notification_id: str) -> dict[str, Any] | None: ...
    def begin_attempt(self, notification_id: str, now: datetime) -> dict[str, Any] | None: ...
    def mark_sent(
        self, notification_id: str, now: datetime, detail: Mapping[str, Any] | None = None
    ) -> None: ...
    def mark_failed(self, notification_id: str, now: datetime, error: str, permanent: bool) -> None: ...
    def check_rate(self, integration: str, minute: int, limit: int) -> bool: ...


class NotificationList(Protocol):
    def list(
        self, limit: int, next_token: str | None, filters: Mapping[str, str | None] | None = None
    ) -> Page: ...


class IntegrationPort(Protocol):
    """The integrations (riskgate.adapters.integrations.IntegrationStore)."""

    def get_integration(self, name: str) -> dict[str, Any] | None: ...
    def read_secret(self, name: str) -> dict[str, str]: ...


# --- dispatch ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchResult:
    event_id: str
    trigger: str
    # Policies whose scope and filters the event passed.
    matched: int = 0
    # Notifications recorded and published now.
    recorded: list[str] = field(default_factory=list)
    # Policies told the same news within the window already.
    deduplicated: int = 0
    # Notifications recorded by an earlier delivery of the event, still pending: published again.
    republished: list[str] = field(default_factory=list)


def dispatch(
    event: Mapping[str, Any],
    *,
    policies_for_trigger: PoliciesForTrigger,
    scopes: ScopeSource,
    store: NotificationPort,
    publish: Publish,
    now: datetime,
    window_hours: int,
) -> DispatchResult:
    """Record and publish the notifications a trigger event yields (see the module's docstring)."""
    event_id, trigger = str(event.get("id") or ""), str(event.get("type") or "")
    if not event_id or trigger not in set(ResponseTrigger):
        return DispatchResult(event_id=event_id, trigger=trigger)
    policies = [
        p for p in policies_for_trigger(trigger) if p.get("enabled", True) and p.get("trigger") == trigger
    ]
    wanted = {str(p["scope"]) for p in policies} - {GLOBAL_SCOPE}
    definitions = dict(scopes(wanted)) if wanted and trigger_needs_definitions(event) else {}
    matching = [p for p in policies if in_scope(event, p, definitions) and filters_pass(event, p)]
    now_epoch = int(now.timestamp())
    window_ends = now_epoch + window_hours * 3600
    subject = event_subject(event)
    copy = event_copy(event)
    recorded: list[str] = []
    republished: list[str] = []
    deduplicated = 0
    for policy in sorted(matching, key=lambda p: str(p["id"])):
        notifications = [
            notification_record(copy, policy, output, subject, now) for output in unique_outputs(policy)
        ]
        if not notifications:
            continue
        key = dedup_key(str(policy["id"]), trigger, str(subject["id"]), fingerprint(event))
        if store.record(notifications, key, window_ends, now_epoch):
            for notification in notifications:
                publish({"notification_id": notification["id"]})
                recorded.append(notification["id"])
            continue
        existing = [store.get(notification["id"]) for notification in notifications]
        if not any(existing):
            deduplicated += 1
            continue
        # This very event was recorded before (a retried batch): publish what was not picked up yet —
        # the publish may be what failed then.
        for found in existing:
            if found is not None and found.get("status") == "pending":
                publish({"notification_id": found["id"]})
                republished.append(found["id"])
    return DispatchResult(
        event_id=event_id,
        trigger=trigger,
        matched=len(matching),
        recorded=recorded,
        deduplicated=deduplicated,
        republished=republished,
    )


def notification_id(event_id: str, policy_id: str, integration: str) -> str:
    """The same for every delivery of the same event to the same policy's output."""
    return "ntf-" + hashlib.sha256(f"{event_id}|{policy_id}|{integration}".encode()).hexdigest()[:24]


def dedup_key(policy_id: str, trigger: str, subject_id: str, event_fingerprint: str) -> str:
    return hashlib.sha256(f"{policy_id}|{trigger}|{subject_id}|{event_fingerprint}".encode()).hexdigest()


def fingerprint(event: Mapping[str, Any]) -> str:
    """An image event's fingerprint of its causing findings; an acceptance event is news of its own
    (the expiry run records each once), so its id stands in."""
    return str(event.get("fingerprint") or event.get("id") or "")


def event_subject(event: Mapping[str, Any]) -> dict[str, str]:
    subject = event.get("subject")
    if isinstance(subject, Mapping) and subject.get("id"):
        return {"type": str(subject.get("type") or ""), "id": str(subject["id"])}
    acceptance = event.get("acceptance")
    if isinstance(acceptance, Mapping) and acceptance.get("id"):
        return {"type": ACCEPTANCE_SUBJECT, "id": str(acceptance["id"])}
    image = event.get("image")
    if isinstance(image, Mapping) and image.get("image_id"):
        return {"type": "image", "id": str(image["image_id"])}
    return {"type": "event", "id": str(event.get("id") or "")}


def event_copy(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's fields, as the notification keeps them (no storage attributes)."""
    return {key: value for key, value in event.items() if key not in _STORAGE_FIELDS}


def unique_outputs(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    seen: set[str] = set()
    outputs = []
    for output in policy.get("outputs") or []:
        if output.get("integration") and output["integration"] not in seen:
            seen.add(output["integration"])
            outputs.append(output)
    return outputs


def notification_record(
    event: Mapping[str, Any],
    policy: Mapping[str, Any],
    output: Mapping[str, Any],
    subject: Mapping[str, str],
    now: datetime,
) -> dict[str, Any]:
    event_id, policy_id = str(event["id"]), str(policy["id"])
    return {
        "id": notification_id(event_id, policy_id, str(output["integration"])),
        "event_id": event_id,
        "event": dict(event),
        "policy_id": policy_id,
        "policy_name": policy.get("name"),
        "policy_scope": policy.get("scope"),
        "trigger": event["type"],
        "subject": dict(subject),
        "output": output.get("output"),
        "integration": output["integration"],
        "status": "pending",
        "attempts": 0,
        "last_error": None,
        "created_at": iso(now),
        "sent_at": None,
    }


# --- which policies an event concerns ----------------------------------------------------------------


def trigger_needs_definitions(event: Mapping[str, Any]) -> bool:
    """An acceptance of `all` images is matched by scope id alone; anything else by the scopes' selectors."""
    acceptance = event.get("acceptance")
    return not (isinstance(acceptance, Mapping) and _acceptance_kind(acceptance) == "all")


def in_scope(
    event: Mapping[str, Any], policy: Mapping[str, Any], definitions: Mapping[str, ScopeDefinition]
) -> bool:
    """Whether the policy's scope contains the event's image, or the acceptance's image or repository (an
    acceptance of `all` images: the policy's scope is among those it covers)."""
    scope_id = str(policy.get("scope") or "")
    if scope_id == GLOBAL_SCOPE:
        return True
    acceptance = event.get("acceptance")
    if isinstance(acceptance, Mapping):
        kind = _acceptance_kind(acceptance)
        if kind == "all":
            within = {str(s) for s in (acceptance.get("scope") or {}).get("within") or ()}
            return scope_id in within or GLOBAL_SCOPE in within
        definition = definitions.get(scope_id)
        registry, repository = _acceptance_repository(acceptance)
        if definition is None or not registry:
            return False
        if kind == "repository":
            return definition.touches_repository(registry, repository)
        return definition.contains_image(registry, repository, acceptance.get("tags") or ())
    image = event.get("image")
    definition = definitions.get(scope_id)
    if not isinstance(image, Mapping) or definition is None:
        return False
    return definition.contains_image(
        str(image.get("registry") or ""), str(image.get("repository") or ""), image.get("tags") or ()
    )


def filters_pass(event: Mapping[str, Any], policy: Mapping[str, Any]) -> bool:
    """The policy's filters: its repositories (globs over `repository` or `registry/repository`), and for
    an image event some causing finding that is at least `severity_at_least` and (with `fixable_only`)
    has a fixed version. An acceptance event has no causing findings: those two do not narrow it."""
    filters = ResponseFilters.from_dict(policy.get("filters") or {})
    if filters.repositories:
        registry, repository = _event_repository(event)
        if not registry or not filters.covers_repository(registry, repository):
            return False
    if isinstance(event.get("acceptance"), Mapping):
        return True
    if filters.severity_at_least is None and not filters.fixable_only:
        return True
    return any(_finding_counts(finding, filters) for finding in event.get("findings") or ())


def _finding_counts(finding: Mapping[str, Any], filters: ResponseFilters) -> bool:
    if filters.severity_at_least is not None:
        severity = Severity.parse(finding.get("severity"))
        if severity is Severity.UNKNOWN or severity.rank > filters.severity_at_least.rank:
            return False
    return not filters.fixable_only or bool(finding.get("fixed_version") or finding.get("fixable"))


def _acceptance_kind(acceptance: Mapping[str, Any]) -> str:
    scope = acceptance.get("scope") or {}
    if scope.get("image"):
        return "image"
    if scope.get("repository"):
        return "repository"
    return "all"


def _acceptance_repository(acceptance: Mapping[str, Any]) -> tuple[str, str]:
    registry, repository = str(acceptance.get("registry") or ""), str(acceptance.get("repository") or "")
    if not registry and _acceptance_kind(acceptance) == "repository":
        registry, _, repository = str(acceptance["scope"]["repository"]).partition("/")
    return registry, repository


def _event_repository(event: Mapping[str, Any]) -> tuple[str, str]:
    acceptance = event.get("acceptance")
    if isinstance(acceptance, Mapping):
        return _acceptance_repository(acceptance)
    image = event.get("image")
    if isinstance(image, Mapping):
        return str(image.get("registry") or ""), str(image.get("repository") or "")
    return "", ""


# --- notify -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotifyResult:
    notification_id: str
    # sent; sent_unrecorded (sent, but the record of it could not be written: it stays `sending`);
    # failed (for good: not retried); skipped (sent already, failed for good, or being sent)
    status: str
    attempts: int = 0


def notify(
    notification_id: str,
    *,
    store: NotificationPort,
    integrations: IntegrationPort,
    render: Render,
    deliver: Deliver,
    now: datetime,
    api_base_url: str,
) -> NotifyResult:
    """Deliver one notification, at most once (see the module's docstring). Raises
    `TransientDeliveryError` when it is to be tried again later."""
    # Imported here: the API reads the delivery log without loading the channels.
    from riskgate.adapters.delivery_errors import PermanentDeliveryError, TransientDeliveryError

    notification = store.begin_attempt(notification_id, now)
    if notification is None:
        return NotifyResult(notification_id, "skipped")
    attempts = int(notification.get("attempts") or 0)
    name = str(notification["integration"])

    def failed_for_good(error: str) -> NotifyResult:
        store.mark_failed(notification_id, now, error, permanent=True)
        return NotifyResult(notification_id, "failed", attempts)

    integration = integrations.get_integration(name)
    if integration is None:
        return failed_for_good(f"integration {name} no longer exists")
    config = integration.get("config") or {}
    limit = config.get("rate_limit_per_minute") or integration.get("rate_limit_per_minute")
    minute = int(now.timestamp()) // 60
    if limit and not store.check_rate(name, minute, int(limit)):
        error = f"rate limit of integration {name} reached ({limit} a minute): tried again later"
        store.mark_failed(notification_id, now, error, permanent=False)
        raise TransientDeliveryError(error, retry_after=float((minute + 1) * 60 - now.timestamp()))
    try:
        secrets = integrations.read_secret(name)
    except NotFound:
        return failed_for_good(f"integration {name} no longer exists")
    try:
        result = send_event(
            notification.get("event") or {},
            integration,
            secrets,
            policy_name=str(notification.get("policy_name") or ""),
            delivery_id=notification_id,
            render=render,
            deliver=deliver,
            api_base_url=api_base_url,
        )
    except PermanentDeliveryError as error:
        return failed_for_good(str(error) or type(error).__name__)
    except TransientDeliveryError as error:
        store.mark_failed(notification_id, now, str(error) or type(error).__name__, permanent=False)
        raise
    except Exception as error:
        # A bug or an unforeseen failure: recorded by its kind only (a message could quote a secret),
        # and raised, so that the message comes back and, failing again, reaches the dead letters.
        store.mark_failed(notification_id, now, f"unexpected {type(error).__name__}", permanent=False)
        raise
    try:
        store.mark_sent(notification_id, now, delivery_detail(result))
    except Exception:  # whatever it is, the message went out
        # Not raised: a failed SQS message comes back after the visibility timeout, when the `sending`
        # lease has run out, and would be sent a second time. The record stays `sending`; the notifier
        # logs it as an error.
        return NotifyResult(notification_id, "sent_unrecorded", attempts)
    return NotifyResult(notification_id, "sent", attempts)


def delivery_detail(result: Any) -> dict[str, Any]:
    """What the delivery log keeps of a channel's answer."""
    if is_dataclass(result) and not isinstance(result, type):
        return _json_safe(asdict(result))
    if isinstance(result, Mapping):
        return _json_safe(dict(result))
    return {}


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return safe


def retry_delay(receive_count: int, retry_after: float | None) -> int:
    """Seconds until a message whose delivery failed transiently comes back: the channel's
    `retry_after` when it gave one, else 30 s doubled per earlier receive, at most 15 minutes."""
    if retry_after is not None and retry_after > 0:
        return min(MAX_RETRY_DELAY_SECONDS, max(1, int(-(-retry_after // 1))))
    return min(MAX_RETRY_DELAY_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, receive_count - 1))


def notification_id_from_body(body: str) -> str:
    """The notification id of an SQS message: the SNS message itself (raw delivery), or inside SNS's
    envelope. ValueError for anything else (it ends in the dead letters)."""
    message = json.loads(body)
    if isinstance(message, dict) and message.get("Type") == "Notification" and "Message" in message:
        message = json.loads(message["Message"])
    if not isinstance(message, dict) or not isinstance(message.get("notification_id"), str):
        raise ValueError("not a notification message")
    return str(message["notification_id"])


# --- the delivery log -------------------------------------------------------------------------------


def may_see(access: Access, notification: Mapping[str, Any]) -> bool:
    """As its response policy (as it was when it fired): `response_policies:read` in the policy's scope,
    or in `global`."""
    return may_read(access, str(notification.get("policy_scope") or GLOBAL_SCOPE))


def list_notifications(
    store: NotificationList,
    access: Access,
    limit: int,
    next_token: str | None,
    *,
    status: str | None = None,
    trigger: str | None = None,
    policy_id: str | None = None,
) -> Page:
    """Newest first, those the caller may see; a page may hold fewer than `limit`."""
    filters = {"status": status, "trigger": trigger, "policy_id": policy_id}
    page = visible_page(
        lambda size, token: store.list(size, token, filters), lambda n: may_see(access, n), limit, next_token
    )
    return page.mapped(lambda n: _shown(access, n))


def _shown(access: Access, notification: dict[str, Any]) -> dict[str, Any]:
    """The event inside names only the scopes the caller may see (an `all` acceptance's `within`)."""
    event = notification.get("event")
    if not isinstance(event, dict):
        return notification
    return {**notification, "event": shown_event(access, Permission.RESPONSE_POLICIES_READ, event)}
