"""The security event log's events: who changed what, when, from where — secrets never included."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
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
