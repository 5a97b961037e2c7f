"""The security event log's events: who changed what, when, from where — secrets never included."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from riskgate.clock import iso, system_now

REDACTED = "[redacted]"
# Keys whose values never enter an audit event, at any depth.
SECRET_KEYS = frozenset({"token", "secret", "bot_token", "password", "token_hash", "authorization"})


class AuditAction:
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    TOKEN_ISSUE = "token.issue"
    TOKEN_REVOKE = "token.revoke"
    AUTHENTICATION_FAIL = "authentication.fail"
    EXTEND = "extend"
    REVOKE = "revoke"
    EXPIRE = "expire"
    # A test message sent through an integration (nothing changed; the outcome is in the details).
    TEST = "test"


@dataclass(frozen=True)
class Actor:
    """Who made a request and from where; `user_id` is None for a caller that failed to authenticate."""

    user_id: str | None
    token_id: str | None = None
    source_ip: str | None = None
    request_id: str | None = None


SYSTEM_ACTOR = Actor(user_id="system")


@dataclass(frozen=True)
class AuditEvent:
    event_id: str
    occurred_at: str
    actor: Actor
    action: str
    entity_type: str
    entity_id: str | None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "occurred_at": self.occurred_at,
            "actor": self.actor.user_id,
            "token_id": self.actor.token_id,
            "source_ip": self.actor.source_ip,
            "request_id": self.actor.request_id,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "before": self.before,
            "after": self.after,
            "details": self.details,
        }


def redact(value: Any) -> Any:
    """A copy of `value` with every secret-named key's value replaced by "[redacted]"."""
    if isinstance(value, dict):
        return {k: (REDACTED if str(k).lower() in SECRET_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def audit_event(
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """A new event, secrets redacted from before, after and details."""
    occurred = iso(now or system_now())
    return AuditEvent(
        event_id="evt-" + uuid.uuid4().hex[:24],
        occurred_at=occurred,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=redact(before) if before is not None else None,
        after=redact(after) if after is not None else None,
        details=redact(details or {}),
    )


# --- failed authentications, aggregated -------------------------------------------------------------
#
# Each audit event is archived for good (Object Lock), so a caller without a token must not be able to
# write one per request. Failed authentications are counted into one event per source address and
# minute; past N distinct addresses in a minute (RISKGATE_AUTH_FAILURE_ADDRESSES_PER_MINUTE), into one
# event for all the others of that minute. Whatever unauthenticated callers do, a minute gets at most
# N + 1 such events.

FAILURE_WINDOW_SECONDS = 60
# Samples kept in an aggregated event: bounded whatever the caller sends.
FAILURE_SAMPLE_SLOTS = 5
_SAMPLE_TEXT_LENGTH = 200
# `details.aggregation` of the event that counts the addresses past the cap.
OTHER_ADDRESSES = "other_addresses"
PER_ADDRESS = "source_address"


@dataclass(frozen=True)
class FailedAuthentication:
    """One request the authorizer refused, as the security event log counts it."""

    at: datetime
    source_ip: str | None
    request_id: str | None
    reason: str
    method: str
    path: str

    @property
    def request_line(self) -> str:
        """`GET /v1/images`, cut short: the path is the caller's to choose."""
        return f"{self.method} {self.path}"[:_SAMPLE_TEXT_LENGTH]


def failure_window(at: datetime) -> datetime:
    """The start of the minute (UTC) whose event counts a failure at `at`."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def failure_event(failure: FailedAuthentication, *, own_address: bool) -> AuditEvent:
    """The window's event a failure is counted into, as its first failure creates it.

    The id is derived from the window and the address (or "the other addresses"), so that every failure
    of the window names the same event without reading first. The count, the last failure's time and
    the samples are kept next to the event by the store, which shows them in `details`
    (`riskgate.adapters.audit_log`).
    """
    window = failure_window(failure.at)
    address = failure.source_ip or "-"
    subject = address if own_address else "*"
    digest = hashlib.sha256(f"{AuditAction.AUTHENTICATION_FAIL}|{iso(window)}|{subject}".encode()).hexdigest()
    return AuditEvent(
        event_id="evt-" + digest[:24],
        occurred_at=iso(failure.at),
        actor=Actor(
            user_id=None,
            source_ip=failure.source_ip if own_address else None,
            request_id=failure.request_id,
        ),
        action=AuditAction.AUTHENTICATION_FAIL,
        entity_type="authentication",
        entity_id=None,
        details={
            "aggregation": PER_ADDRESS if own_address else OTHER_ADDRESSES,
            "window_start": iso(window),
            "window_seconds": FAILURE_WINDOW_SECONDS,
            # The window's first failure, as a single failure's event used to say.
            "reason": failure.reason,
            "method": failure.method,
            "path": failure.path[:_SAMPLE_TEXT_LENGTH],
        },
    )


def sample_slot(text: str) -> int:
    """Which of the FAILURE_SAMPLE_SLOTS a sampled text may take (the first text of a slot keeps it):
    at most that many texts are kept, whatever and however many the caller sends."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % FAILURE_SAMPLE_SLOTS


def address_key(source_ip: str | None) -> bytes:
    """A short, fixed-size stand-in for an address in the window's set of counted addresses."""
    return hashlib.sha256((source_ip or "-").encode()).digest()[:8]
