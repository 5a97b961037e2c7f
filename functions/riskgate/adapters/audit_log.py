"""The security event log in the table: items, the Put that joins every change's transaction, queries.

Item: pk `AUDIT#<event id>`, sk `EVENT`; gsi1 `AUDIT_ENTITY#<type>#<id>` / `<time>#<event id>` (one
entity's history); gsi2 `AUDIT` / `<time>#<event id>` (everything, by time). Expires through the
table's TTL attribute after the retention period.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from riskgate.adapters.dynamo import Page, query_page, to_item
from riskgate.domain.audit import AuditEvent
from riskgate.resources import TABLE

AUDIT_PARTITION = "AUDIT"
SECONDS_PER_DAY = 86_400


def audit_item(event: AuditEvent, retention_days: int) -> dict[str, Any]:
    occurred = datetime.strptime(event.occurred_at, "%Y-%m-%dT%H:%M:%S.%fZ")
    expires = int(occurred.timestamp()) + retention_days * SECONDS_PER_DAY
    order = f"{event.occurred_at}#{event.event_id}"
    return {
        "pk": f"AUDIT#{event.event_id}",
        "sk": "EVENT",
        "item_type": "audit_event",
        "gsi1pk": f"AUDIT_ENTITY#{event.entity_type}#{event.entity_id or '-'}",
        "gsi1sk": order,
        "gsi2pk": AUDIT_PARTITION,
        "gsi2sk": order,
        TABLE.ttl_attribute: expires,
        **event.as_dict(),
    }


def audit_put(table_name: str, event: AuditEvent, retention_days: int) -> dict[str, Any]:
    """The TransactWriteItems entry that records `event`; it may only create, never overwrite."""
    return {
        "Put": {
            "TableName": table_name,
            "Item": to_item(audit_item(event, retention_days)),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def put_audit_event(client: Any, table_name: str, event: AuditEvent, retention_days: int) -> None:
    """Record an event that goes with no other write (a failed authentication)."""
    client.transact_write_items(TransactItems=[audit_put(table_name, event, retention_days)])


def audit_record(fields: dict[str, Any]) -> dict[str, Any]:
    """A stored event (plain values) as the API shows it."""
    keep = ("id", "occurred_at", "actor", "token_id", "source_ip", "request_id", "action")
    return {
        **{key: fields.get(key) for key in keep},
        "entity_type": fields.get("entity_type"),
        "entity_id": fields.get("entity_id"),
        "before": fields.get("before"),
        "after": fields.get("after"),
        "details": fields.get("details") or {},
    }


def list_audit_events(
    client: Any,
    table_name: str,
    *,
    entity_type: str | None,
    entity_id: str | None,
    actor: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    next_token: str | None,
) -> Page:
    """Newest first. One entity's history is a key query (gsi1); otherwise the time index (gsi2),
    with time range as a key condition and actor / entity type as filters."""
    if entity_type and entity_id:
        index, partition = "gsi1", ("gsi1pk", f"AUDIT_ENTITY#{entity_type}#{entity_id}")
        sort_key = "gsi1sk"
    else:
        index, partition = "gsi2", ("gsi2pk", AUDIT_PARTITION)
        sort_key = "gsi2sk"
    filters: dict[str, Any] = {}
    if actor:
        filters["actor"] = actor
    if entity_type and not entity_id:
        filters["entity_type"] = entity_type
    page = query_page(
        client,
        table_name,
        index=index,
        partition=partition,
        prefix=None,
        # Stored times are ISO 8601: "0" sorts before every one, "9999…" after.
        between=(sort_key, since or "0", (until or "9999") + "\uffff"),
        limit=limit,
        next_token=next_token,
        newest_first=True,
        equals_filters=filters,
    )
    return page.mapped(audit_record)
