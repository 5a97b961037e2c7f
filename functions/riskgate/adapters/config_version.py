"""The configuration version: one item that every change of a managed entity bumps in its own transaction.

Item: pk `CONFIG#VERSION`, sk `VERSION`; `version` (a counter), `change_id` (random, new at every change),
`policy_ids` (a string set: the ids of the assurance policies created since the item exists; deleted ones
leave it). Nothing indexes it and no stream consumer's filter matches it.

Every create, update and delete of a managed entity (`riskgate.adapters.entities.EntityStore`: assurance
and response policies, integrations, scopes, roles, users) adds `version_bump` to its TransactWriteItems,
so the item changes exactly when, and atomically with, any of them. A reader that finds the same
`(version, change_id)` in a strongly consistent read knows that no entity changed since the last read
that found it — which is what lets a function instance keep scopes, roles and policies it read after that
read (`riskgate.services.config_cache`). `change_id` makes the pair unique even across a table restored
from a backup (whose counter would count the same numbers again).

`policy_ids` makes the policies readable by key: the list partition (gsi2 `POLICIES`) is eventually
consistent, and a policy created a moment ago may not be in it yet; its id is in this item from the
moment it exists. Policies created before this item existed are found through gsi2, where they have been
for long.

`read_with(keys)` reads the item and the request's first items in one BatchGetItem, strongly consistent.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from riskgate.adapters.dynamo import TableClient, expression_values, from_item, to_item

VERSION_KEY = {"pk": "CONFIG#VERSION", "sk": "VERSION"}

Key = tuple[str, str]


def key_of(item_or_key: dict[str, Any]) -> Key:
    return str(item_or_key["pk"]), str(item_or_key["sk"])


@dataclass(frozen=True)
class ConfigVersion:
    """What a read of the version item found; `(0, None)` before any entity change."""

    number: int = 0
    change_id: str | None = None
    policy_ids: frozenset[str] = frozenset()

    @property
    def stamp(self) -> tuple[int, str | None]:
        """Equal for two reads exactly when no entity changed between them."""
        return self.number, self.change_id

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> ConfigVersion:
        if item is None:
            return cls()
        return cls(
            number=int(item.get("version") or 0),
            change_id=item.get("change_id"),
            policy_ids=frozenset(item.get("policy_ids") or ()),
        )


@dataclass(frozen=True)
class FirstReads:
    """The items a request read with the version (by key); `get` tells a key read and found missing
    (None) from a key not read at all (`read` False: the caller reads it itself)."""

    items: Mapping[Key, dict[str, Any]] = field(default_factory=dict)
    keys: frozenset[Key] = frozenset()

    def get(self, key: dict[str, str]) -> tuple[bool, dict[str, Any] | None]:
        wanted = key_of(key)
        return wanted in self.keys, self.items.get(wanted)


def version_bump(
    table_name: str, *, policy_created: str | None = None, policy_deleted: str | None = None
) -> dict[str, Any]:
    """The TransactWriteItems entry that marks a change of the configuration (no condition: it never
    refuses a transaction). An assurance policy's creation adds its id to `policy_ids`, its deletion
    takes it out."""
    values: dict[str, Any] = {":one": 1, ":change": secrets.token_hex(8)}
    expression = "SET change_id = :change ADD version :one"
    if policy_created is not None:
        expression += ", policy_ids :policy"
        values[":policy"] = {policy_created}
    if policy_deleted is not None:
        expression += " DELETE policy_ids :policy"
        values[":policy"] = {policy_deleted}
    return {
        "Update": {
            "Key": to_item(VERSION_KEY),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": expression_values(values),
        }
    }


class ConfigReads(TableClient):
    """Strongly consistent reads by key: the version with a request's first items, then what is cached
    under it. `client` is created lazily when not given."""

    def read_with(self, keys: Sequence[dict[str, str]]) -> tuple[ConfigVersion, dict[Key, dict[str, Any]]]:
        """The version and the items at `keys` (missing ones absent from the answer): one BatchGetItem
        (more only for unprocessed keys, which DynamoDB returns under load)."""
        wanted = [VERSION_KEY, *(key for key in keys if key_of(key) != key_of(VERSION_KEY))]
        items = {key_of(item): item for item in self.get_many(wanted)}
        return ConfigVersion.from_item(items.pop(key_of(VERSION_KEY), None)), items

    def get_many(self, keys: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
        """The items at `keys` (duplicates read once, at most 100 a request), strongly consistent."""
        unique = list({key_of(key): key for key in keys}.values())
        found: list[dict[str, Any]] = []
        for start in range(0, len(unique), 100):
            pending: dict[str, Any] = {
                self.table_name: {
                    "Keys": [to_item(key) for key in unique[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            attempt = 0
            while pending:
                response = self.client.batch_get_item(RequestItems=pending)
                found += [from_item(item) for item in response.get("Responses", {}).get(self.table_name, [])]
                pending = response.get("UnprocessedKeys") or {}
                if pending:
                    time.sleep(min(0.05 * 2**attempt, 1.0))
                    attempt += 1
        return found
