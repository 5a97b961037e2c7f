"""The security event log in the table: items, the Put that joins every change's transaction, queries,
and the counting of failed authentications.

Item: pk `AUDIT#<event id>`, sk `EVENT`; gsi1 `AUDIT_ENTITY#<type>#<id>` / `<time>#<event id>` (one
entity's history); gsi2 `AUDIT` / `<time>#<event id>` (everything, by time). Expires through the
table's TTL attribute after the retention period.

A failed-authentication event also carries `failure_count`, `last_failure_at`, `failure_reasons` (a
string set) and sample slots (`failure_path_<n>`, `failure_address_<n>`), which `audit_record` shows in
its `details`. Its minute's counted addresses: pk `AUTHFAIL#<minute>`, sk `ADDRESSES`, a binary set
`addresses` (8 bytes an address), expiring a day later.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from riskgate.adapters.dynamo import Page, query_page, to_item
from riskgate.clock import iso
from riskgate.domain.audit import (
    Actor,
    AuditEvent,
    FailedAuthentication,
    address_key,
    audit_event,
    failure_event,
    failure_window,
    sample_slot,
)
from riskgate.resources import TABLE
from riskgate.settings import get_settings

AUDIT_PARTITION = "AUDIT"
SECONDS_PER_DAY = 86_400
FAILURE_WINDOW_PREFIX = "AUTHFAIL#"
FAILURE_WINDOW_SK = "ADDRESSES"
# The set is consulted during its minute only; the TTL just clears it away.
_FAILURE_WINDOW_TTL = timedelta(days=1)
_PATH_SAMPLE = "failure_path_"
_ADDRESS_SAMPLE = "failure_address_"
_KEY_NAMES = ("pk", "sk")


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


def audit_entry(
    table_name: str,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The transaction entry that records a change of an entity as its audit event."""
    event = audit_event(actor, action, entity_type, entity_id, before=before, after=after, details=details)
    return audit_put(table_name, event, get_settings().audit_retention_days)


def put_audit_event(client: Any, table_name: str, event: AuditEvent, retention_days: int) -> None:
    """Record an event that goes with no other write (an integration's test message)."""
    client.transact_write_items(TransactItems=[audit_put(table_name, event, retention_days)])


def record_failed_authentication(
    client: Any,
    table_name: str,
    failure: FailedAuthentication,
    *,
    addresses_per_window: int,
    retention_days: int,
) -> AuditEvent:
    """Count a refused request into its minute's event: the first failure of the minute from an address
    creates the event (the INSERT the audit forwarder archives), the next ones only count (MODIFYs it
    ignores). Past `addresses_per_window` addresses in the minute, the others share one event.

    Two UpdateItems, whatever happens: the minute's set of addresses (whether this one has, or gets, its
    own event), then the event. Neither reads first, and concurrent first failures of a minute cannot
    race: whichever write lands first creates the whole event, the others add to it.
    """
    own_address = _counts_own_address(client, table_name, failure, addresses_per_window)
    event = failure_event(failure, own_address=own_address)
    _count_failure(client, table_name, event, failure, own_address, retention_days)
    return event


def _counts_own_address(client: Any, table_name: str, failure: FailedAuthentication, cap: int) -> bool:
    """Whether the failure's address has an event of its own this minute: it had one already, or one of
    the minute's `cap` places is still free (taken now, atomically)."""
    if cap <= 0:
        return False
    window = failure_window(failure.at)
    key = address_key(failure.source_ip)
    expires = int((window + _FAILURE_WINDOW_TTL).timestamp())
    try:
        client.update_item(
            TableName=table_name,
            Key={"pk": {"S": f"{FAILURE_WINDOW_PREFIX}{iso(window)}"}, "sk": {"S": FAILURE_WINDOW_SK}},
            UpdateExpression="ADD addresses :keys SET item_type = :type, #ttl = :expires",
            ConditionExpression=(
                "attribute_not_exists(addresses) OR contains(addresses, :key) OR size(addresses) < :cap"
            ),
            ExpressionAttributeNames={"#ttl": TABLE.ttl_attribute},
            ExpressionAttributeValues={
                ":keys": {"BS": [key]},
                ":key": {"B": key},
                ":cap": {"N": str(cap)},
                ":type": {"S": "auth_failure_window"},
                ":expires": {"N": str(expires)},
            },
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _count_failure(
    client: Any,
    table_name: str,
    event: AuditEvent,
    failure: FailedAuthentication,
    own_address: bool,
    retention_days: int,
) -> None:
    """One UpdateItem that creates the event with all its fields when it is the minute's first failure
    (`if_not_exists` everywhere) and adds this failure to the count and the bounded samples."""
    item = to_item(audit_item(event, retention_days))
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    assignments = []
    for index, (name, value) in enumerate(item.items()):
        if name in _KEY_NAMES:
            continue
        names[f"#a{index}"] = name
        values[f":a{index}"] = value
        assignments.append(f"#a{index} = if_not_exists(#a{index}, :a{index})")
    samples = [(_PATH_SAMPLE, failure.request_line)]
    if not own_address:
        samples.append((_ADDRESS_SAMPLE, failure.source_ip or "-"))
    for number, (prefix, text) in enumerate(samples):
        names[f"#s{number}"] = f"{prefix}{sample_slot(text)}"
        values[f":s{number}"] = {"S": text}
        assignments.append(f"#s{number} = if_not_exists(#s{number}, :s{number})")
    assignments.append("last_failure_at = :at")
    values.update(
        {
            ":at": {"S": iso(failure.at)},
            ":one": {"N": "1"},
            ":reason": {"SS": [failure.reason]},
        }
    )
    client.update_item(
        TableName=table_name,
        Key={"pk": item["pk"], "sk": item["sk"]},
        # Reasons are a set of the authorizer's few fixed phrases: bounded by their number.
        UpdateExpression=f"SET {', '.join(assignments)} ADD failure_count :one, failure_reasons :reason",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def audit_record(fields: dict[str, Any]) -> dict[str, Any]:
    """A stored event (plain values) as the API shows it."""
    keep = ("id", "occurred_at", "actor", "token_id", "source_ip", "request_id", "action")
    details = fields.get("details") or {}
    if "failure_count" in fields:
        details = {**details, **_failure_counts(fields)}
    return {
        **{key: fields.get(key) for key in keep},
        "entity_type": fields.get("entity_type"),
        "entity_id": fields.get("entity_id"),
        "before": fields.get("before"),
        "after": fields.get("after"),
        "details": details,
    }


def _failure_counts(fields: dict[str, Any]) -> dict[str, Any]:
    """What an aggregated failed-authentication event adds to its details, as counted so far."""
    counts: dict[str, Any] = {
        "count": fields["failure_count"],
        "first_failure_at": fields.get("occurred_at"),
        "last_failure_at": fields.get("last_failure_at"),
        "reasons": sorted(fields.get("failure_reasons") or ()),
        "paths": sorted(value for key, value in fields.items() if key.startswith(_PATH_SAMPLE)),
    }
    addresses = sorted(value for key, value in fields.items() if key.startswith(_ADDRESS_SAMPLE))
    if addresses:
        counts["addresses"] = addresses
    return counts


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
