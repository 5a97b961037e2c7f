"""Delivering the security event log: each new audit item → the audit bus and the Object Lock archive.

Plain functions; the bus and the archive are ports passed in (adapters/audit_sinks.py speaks boto3).
Delivery is at least once (the stream redelivers a batch that failed): archiving is idempotent by key,
and the event on the bus carries the event's own `id` for a subscriber to deduplicate on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from riskgate.adapters.audit_log import audit_record
from riskgate.resources import AUDIT_ARCHIVE_PREFIX

AUDIT_PK_PREFIX = "AUDIT#"
AUDIT_SK = "EVENT"
# Event ids are generated (`evt-` + hex); anything else would not make a safe, predictable object key.
_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class EventBus(Protocol):
    def put_event(self, detail: str, time: datetime) -> None:
        """Put one event whose detail is `detail` (a JSON object) and whose time is `time`; raise when
        it was not accepted."""
        ...


class Archive(Protocol):
    def put_once(self, key: str, body: bytes) -> bool:
        """Store `body` under `key` unless the key exists; True when this call stored it."""
        ...


@dataclass(frozen=True)
class ForwardedEvent:
    event_id: str
    archive_key: str
    # False when an earlier delivery of the same record had archived it already.
    newly_archived: bool


def audit_event_to_forward(
    event_name: str | None, new_image: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The event as the API shows it when a stream record inserts an audit item; None for anything else.

    `new_image` is the item as Powertools deserializes it (numbers are Decimals, string sets are sets);
    the result holds JSON values only. The stream's filter already keeps only audit INSERTs on AWS; the
    check is repeated so the function is correct whatever its event source sends it.
    """
    if event_name != "INSERT" or not new_image:
        return None
    if not str(new_image.get("pk", "")).startswith(AUDIT_PK_PREFIX) or new_image.get("sk") != AUDIT_SK:
        return None
    return audit_record(_json_value(dict(new_image)))


def archive_key(event: Mapping[str, Any]) -> str:
    """`events/YYYY/MM/DD/<event id>.json`, dated by when the event occurred (UTC).

    A key per event id is what makes archiving idempotent; the date prefix lets an auditor list a day.
    """
    event_id = str(event.get("id") or "")
    if not _EVENT_ID.fullmatch(event_id):
        raise ValueError(f"audit event id {event_id!r} cannot name an archive object")
    return f"{AUDIT_ARCHIVE_PREFIX}{occurred_at(event):%Y/%m/%d}/{event_id}.json"


def occurred_at(event: Mapping[str, Any]) -> datetime:
    """When the event occurred (UTC); a malformed time raises, so the record fails rather than being
    archived under a made-up date."""
    moment = datetime.fromisoformat(str(event.get("occurred_at") or "").replace("Z", "+00:00"))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def event_document(event: Mapping[str, Any]) -> str:
    """The one JSON text both destinations receive, so the bus and the archive cannot disagree."""
    return json.dumps(event, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def forward_audit_event(event: Mapping[str, Any], *, bus: EventBus, archive: Archive) -> ForwardedEvent:
    """Archive the event, then put it on the bus.

    Archive first: the archive is the record of truth, so an event a subscriber saw is always archived.
    When the bus fails after archiving, the retried record finds its object already there and only puts
    the event again.
    """
    key = archive_key(event)
    document = event_document(event)
    newly_archived = archive.put_once(key, document.encode("utf-8"))
    # The event's own time, not the forwarding's: a retried delivery still says when it happened.
    bus.put_event(document, occurred_at(event))
    return ForwardedEvent(event_id=str(event["id"]), archive_key=key, newly_archived=newly_archived)


def _json_value(value: Any) -> Any:
    """DynamoDB's Python types as JSON values: whole Decimals → int, others → float, sets → sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(_json_value(item) for item in value)
    if isinstance(value, bytes | bytearray):
        # Audit items hold no binary attributes; should one appear, it is archived as text, not lost.
        return value.decode("utf-8", errors="replace")
    return value
