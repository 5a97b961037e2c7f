"""Trigger events in the table: what response policies react to (docs/architecture.md, "Contracts
between the parts"). Written inside other writes' transactions — the expiry of an acceptance, an image's
evaluation — so that a change and the events it fires are one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from riskgate.adapters.audit_log import SECONDS_PER_DAY
from riskgate.clock import parse_iso
from riskgate.resources import TABLE

EVENTS_PARTITION = "EVENTS"


def event_key(event_id: str) -> dict[str, str]:
    return {"pk": f"EVENT#{event_id}", "sk": "EVENT"}


def new_event_id() -> str:
    return "evt-" + uuid.uuid4().hex[:24]


def event_item(event: Mapping[str, Any], retention_days: int) -> dict[str, Any]:
    """A trigger event (`event` has `type` and `occurred_at`), kept (TTL) as long as security events are."""
    event_id = str(event.get("id") or new_event_id())
    occurred_at = str(event["occurred_at"])
    expires = int(parse_iso(occurred_at).timestamp()) + retention_days * SECONDS_PER_DAY
    return {
        **event,
        **event_key(event_id),
        "item_type": "event",
        "gsi2pk": EVENTS_PARTITION,
        "gsi2sk": f"{occurred_at}#{event_id}",
        "id": event_id,
        TABLE.ttl_attribute: expires,
    }
