"""DynamoDB plumbing shared by the adapters: item (de)serialization, pages, transaction errors."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from riskgate.clock import system_now
from riskgate.domain.errors import MalformedInput
from riskgate.resources import TABLE

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page:
    """One page of a list. `next_token` is a plain position here; the API seals it for the caller
    (`riskgate.auth.page_tokens`). `positions[i]` is the position just after `items[i]`, so a list that
    shows only some items can end its page at the last one it showed (`riskgate.services.pages`)."""

    items: list[dict[str, Any]]
    next_token: str | None
    positions: list[str] = field(default_factory=list)

    def mapped(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Page:
        """The same page with each item changed (positions kept)."""
        return Page([change(item) for item in self.items], self.next_token, self.positions)

    def kept(self, keep: Callable[[dict[str, Any]], bool]) -> Page:
        """The same page without the items `keep` refuses (positions kept for the others)."""
        pairs = [(item, pos) for item, pos in zip(self.items, self.positions, strict=True) if keep(item)]
        return Page([item for item, _ in pairs], self.next_token, [pos for _, pos in pairs])


@dataclass(frozen=True)
class StoredScan:
    """What saving a scan did: whether it became the image's current scan."""

    scan_id: str
    image_id: str
    became_current: bool


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(_plain(value)) for key, value in values.items() if value is not None}


def _plain(value: Any) -> Any:
    """DynamoDB numbers are Decimals; nested dicts/lists are converted recursively."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _native(_deserializer.deserialize(value)) for key, value in item.items()}


def _native(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _native(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_native(v) for v in value]
    if isinstance(value, set):
        return sorted(_native(v) for v in value)
    return value


def encode_page_token(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str | None) -> dict[str, Any] | None:
    """An opaque `next_token` back into DynamoDB's ExclusiveStartKey; anything odd is a 400."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError) as error:
        raise MalformedInput("next_token is not a token this API issued") from error
    allowed = set(TABLE.key_attributes())
    valid = (
        isinstance(key, dict)
        and key
        and all(
            name in allowed
            and isinstance(value, dict)
            and set(value) == {"S"}
            and isinstance(value["S"], str)
            for name, value in key.items()
        )
    )
    if not valid:
        raise MalformedInput("next_token is not a token this API issued")
    return key


def expression_values(values: dict[str, Any]) -> dict[str, Any]:
    """ExpressionAttributeValues from plain Python values."""
    return {key: _serializer.serialize(_plain(value)) for key, value in values.items()}


_KEY_ATTRIBUTES = frozenset(TABLE.key_attributes()) | {"item_type"}


def public_fields(item: dict[str, Any]) -> dict[str, Any]:
    """An item without its storage keys."""
    return {key: value for key, value in item.items() if key not in _KEY_ATTRIBUTES}


def query_page(
    client: Any,
    table_name: str,
    *,
    index: str | None,
    partition: tuple[str, str],
    prefix: tuple[str, str] | None = None,
    between: tuple[str, str, str] | None = None,
    limit: int,
    next_token: str | None,
    newest_first: bool = False,
    equals_filters: dict[str, Any] | None = None,
) -> Page:
    """One page of a Query: the partition, optionally a sort-key prefix or range, equality filters.

    `limit` bounds the items read; with filters a page may hold fewer, and `next_token` goes on.
    """
    names = {"#pk": partition[0]}
    values: dict[str, Any] = {":pk": partition[1]}
    condition = "#pk = :pk"
    if prefix:
        names["#sk"] = prefix[0]
        values[":prefix"] = prefix[1]
        condition += " AND begins_with(#sk, :prefix)"
    elif between:
        names["#sk"] = between[0]
        values[":low"], values[":high"] = between[1], between[2]
        condition += " AND #sk BETWEEN :low AND :high"
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "Limit": max(1, min(limit, MAX_PAGE_SIZE)),
        "ScanIndexForward": not newest_first,
    }
    if equals_filters:
        clauses = []
        for number, (field, value) in enumerate(sorted(equals_filters.items())):
            names[f"#f{number}"] = field
            values[f":f{number}"] = value
            clauses.append(f"#f{number} = :f{number}")
        kwargs["FilterExpression"] = " AND ".join(clauses)
    kwargs["ExpressionAttributeValues"] = expression_values(values)
    if index:
        kwargs["IndexName"] = index
    start = decode_page_token(next_token)
    if start:
        kwargs["ExclusiveStartKey"] = start
    try:
        response = client.query(**kwargs)
    except ClientError as error:
        if start and error.response["Error"]["Code"] == "ValidationException":
            raise MalformedInput("next_token does not belong to this list") from error
        raise
    raw_items = response.get("Items", [])
    key_names = _position_keys(index)
    positions = [encode_page_token({name: item[name] for name in key_names}) or "" for item in raw_items]
    items = [public_fields(from_item(item)) for item in raw_items]
    return Page(
        items=items, next_token=encode_page_token(response.get("LastEvaluatedKey")), positions=positions
    )


def _position_keys(index: str | None) -> tuple[str, ...]:
    """The attributes of an ExclusiveStartKey: the table's keys, and the index's when querying one."""
    names = [TABLE.keys.partition_key, TABLE.keys.sort_key]
    for spec in TABLE.indexes:
        if spec.name == index:
            names += [spec.keys.partition_key, spec.keys.sort_key]
    return tuple(names)


def condition_failed_at(error: ClientError, position: int) -> bool:
    """Whether a cancelled transaction failed on the condition of the item at `position`."""
    if error.response["Error"]["Code"] != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons") or []
    if len(reasons) > position:
        return reasons[position].get("Code") == "ConditionalCheckFailed"
    # Some implementations only say so in the message.
    return "ConditionalCheckFailed" in error.response["Error"].get("Message", "")


def now_iso() -> str:
    """To the second: when entities were created or changed, as the directory shows them."""
    return system_now().strftime("%Y-%m-%dT%H:%M:%SZ")


BATCH_GET_SIZE = 100  # DynamoDB's limit per BatchGetItem


def batch_get(client: Any, table_name: str, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The items at `keys` (missing ones are left out), as plain values: BatchGetItem per 100 keys,
    unprocessed keys retried with backoff."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_SIZE):
        pending: dict[str, Any] = {
            table_name: {"Keys": [to_item(key) for key in keys[start : start + BATCH_GET_SIZE]]}
        }
        attempt = 0
        while pending:
            response = client.batch_get_item(RequestItems=pending)
            found += [from_item(item) for item in response.get("Responses", {}).get(table_name, [])]
            pending = response.get("UnprocessedKeys") or {}
            if pending:
                time.sleep(min(0.05 * 2**attempt, 1.0))
                attempt += 1
    return found


class TableClient:
    """One table: its name and a boto3 DynamoDB client, created on first use (never at import)."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("dynamodb")
        return self._client

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        """The item at `key` (strongly consistent), as plain values, or None."""
        response = self.client.get_item(TableName=self.table_name, Key=to_item(key), ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None
