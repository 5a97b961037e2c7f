"""Writing several items as one: TransactWriteItems entries that each say what their failed condition
means, and the optimistic concurrency every stored entity uses.

Every item has `version`. An update or delete is conditional on the version it read (and, for what
others use, on `uses_version`: riskgate.adapters.references); a stale read is retried once from a fresh
read, then reported as a conflict (`retry_once`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from riskgate.adapters.dynamo import expression_values, now_iso, public_fields, to_item
from riskgate.domain.audit import Actor
from riskgate.domain.errors import Conflict

T = TypeVar("T")

# Attributes that are bookkeeping, never shown through the API nor recorded in audit events.
_INTERNAL_FIELDS = frozenset({"uses_version"})


class StaleRead(Exception):
    """An item changed between our read and our conditional write."""


@dataclass
class Transaction:
    """TransactWriteItems entries, each with what its failed condition means to the caller."""

    table_name: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    on_condition_failed: list[Exception | None] = field(default_factory=list)

    def add(self, entry: dict[str, Any], on_condition_failed: Exception | None = None) -> None:
        """An entry in the wire format (keys and items serialized); the table name is filled in."""
        operation = next(iter(entry.values()))
        operation.setdefault("TableName", self.table_name)
        self.entries.append(entry)
        self.on_condition_failed.append(on_condition_failed)

    def put_new(self, item: dict[str, Any], on_exists: Exception | None = None) -> None:
        self.add(
            {"Put": {"Item": to_item(item), "ConditionExpression": "attribute_not_exists(pk)"}}, on_exists
        )

    def put(self, item: dict[str, Any]) -> None:
        self.add({"Put": {"Item": to_item(item)}})

    def delete(self, key: dict[str, str]) -> None:
        self.add({"Delete": {"Key": to_item(key)}})

    def commit(self, client: Any) -> None:
        try:
            client.transact_write_items(TransactItems=self.entries)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            # Entries are added in order of importance: the item read first, so a stale read is
            # retried before any other failure is reported.
            for reason, meaning in zip(reasons, self.on_condition_failed, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed" and meaning is not None:
                    raise meaning from error
            if any(reason.get("Code") == "TransactionConflict" for reason in reasons):
                raise StaleRead from error  # another transaction on the same items was in flight
            raise


def retry_once(attempt: Callable[[], T], what: str) -> T:
    """Run a read-check-write once more from a fresh read when a concurrent writer got in between."""
    try:
        return attempt()
    except StaleRead:
        pass
    try:
        return attempt()
    except StaleRead as error:
        raise Conflict(f"{what} changed concurrently: read it again and retry") from error


def visible(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as the API and the audit log see it: no keys, no bookkeeping."""
    return {k: v for k, v in public_fields(dict(item)).items() if k not in _INTERNAL_FIELDS}


def actor_id(actor: Actor) -> str:
    return actor.user_id or "unknown"


def versioned_update(
    transaction: Transaction,
    key: dict[str, str],
    current: dict[str, Any],
    changed: dict[str, Any],
    actor: Actor,
) -> dict[str, Any]:
    """Add the update of `changed` fields (None removes one), conditional on the version read;
    returns the item as it will be."""
    version = int(current.get("version") or 0)
    fields = {**changed, "updated_at": now_iso(), "updated_by": actor_id(actor)}
    condition, names, values = as_read(current, ("version",))
    names["#version"] = "version"
    values[":next"] = version + 1
    sets, removes = ["#version = :next"], []
    for number, (name, value) in enumerate(sorted(fields.items())):
        names[f"#f{number}"] = name
        if value is None:
            removes.append(f"#f{number}")
        else:
            values[f":v{number}"] = value
            sets.append(f"#f{number} = :v{number}")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    transaction.add(
        {
            "Update": {
                "Key": to_item(key),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": expression_values(values),
            }
        },
        StaleRead(),
    )
    after = {**current, **fields, "version": version + 1}
    return visible({k: v for k, v in after.items() if v is not None})


def as_read(
    current: Mapping[str, Any], attributes: Iterable[str]
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A condition that holds while `attributes` still have the values read, or are still absent
    (items written before versions existed have none)."""
    clauses, names, values = [], {}, {}
    for number, attribute in enumerate(attributes):
        names[f"#r{number}"] = attribute
        if attribute in current:
            values[f":r{number}"] = current[attribute]
            clauses.append(f"#r{number} = :r{number}")
        else:
            clauses.append(f"attribute_not_exists(#r{number})")
    return " AND ".join(clauses), names, values


def delete_as_read(
    key: dict[str, str], current: Mapping[str, Any], attributes: Iterable[str]
) -> dict[str, Any]:
    condition, names, values = as_read(current, attributes)
    delete: dict[str, Any] = {
        "Key": to_item(key),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
    }
    if values:
        delete["ExpressionAttributeValues"] = expression_values(values)
    return {"Delete": delete}
