"""Assurance policies in the table, and the policies evaluation uses.

Item (docs/architecture.md, "Assurance policies"): pk `POLICY#<id>`, sk `META`; gsi2 `POLICIES` /
`<name>#<id>`; id, name, description, scope, enabled, mode, conditions (a map, numbers as Decimal),
actions, version, created/updated at/by, and `reevaluation`, which only the re-evaluation planner writes.

The default policy (`DEFAULT_POLICY`, id `default`) is not stored until someone changes it: until then
it is *virtual*, version 1. Changing it stores it (version 2…); deleting it stores a *tombstone*
(`deleted: true`) so that it stays deleted instead of coming back as the virtual one.

A policy is a managed entity (riskgate.adapters.entities): each change is one TransactWriteItems with its
audit event and, for a policy in a scope other than `global`, the scope-use reference of the directory
(`USES#scope#<id>` / `policy#<id>`, and the scope's `uses_version` bumped on condition that it exists), so
that a scope a policy uses cannot be deleted. Updates and deletes are conditional on the version read
(retried once from a fresh read). What is its own here: the virtual default, and what evaluation reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from riskgate.adapters.access_definitions import load_access_definitions
from riskgate.adapters.config_version import ConfigReads, version_bump
from riskgate.adapters.dynamo import expression_values, now_iso, to_item
from riskgate.adapters.entities import EntityStore, shown
from riskgate.adapters.store import default_store
from riskgate.adapters.transactions import StaleRead, Transaction, actor_id, as_read
from riskgate.domain.access import ScopeDefinition
from riskgate.domain.audit import Actor
from riskgate.domain.policies import (
    DEFAULT_POLICY,
    DEFAULT_POLICY_ID,
    AssurancePolicy,
    PolicyAction,
    PolicyConditions,
    PolicyMode,
)


def policy_from_fields(fields: Mapping[str, Any]) -> AssurancePolicy:
    """A stored (or virtual) policy's fields as the domain's policy."""
    return AssurancePolicy(
        id=fields["id"],
        name=fields["name"],
        description=fields.get("description") or "",
        scope=fields["scope"],
        enabled=bool(fields.get("enabled", True)),
        mode=PolicyMode(fields.get("mode") or PolicyMode.ENFORCE.value),
        conditions=PolicyConditions.from_dict(fields.get("conditions") or {}),
        actions=frozenset(PolicyAction(action) for action in fields.get("actions") or []),
        version=int(fields.get("version") or 1),
    )


def virtual_default() -> dict[str, Any]:
    """The default policy as it is before anyone changed it: never stored, never audited."""
    return {**DEFAULT_POLICY.as_dict(), "stored": False}


class PolicyStore(EntityStore):
    """Stored assurance policies. `client` is created lazily when not given."""

    key_prefix = "POLICY"
    id_prefix = "pol-"
    item_type = "policy"
    list_partition = "POLICIES"
    entity_type = "assurance_policy"
    referrer_type = "policy"
    what = "assurance policy"
    what_changed = "policy"

    # The API's names (riskgate.services.policies and the tests use them).
    get_policy = EntityStore.get
    create_policy = EntityStore.create
    update_policy = EntityStore.update
    delete_policy = EntityStore.delete
    list_policies = EntityStore.list_page

    # --- reading ----------------------------------------------------------------------------------

    def virtual_default(self) -> dict[str, Any] | None:
        """The default policy while nobody changed or deleted it (then it is stored, and listed as
        such, or gone); None otherwise."""
        if self._get(self.key(DEFAULT_POLICY_ID)) is not None:
            return None
        return shown(virtual_default())

    def load_policies(self) -> list[AssurancePolicy]:
        """Every policy in force: the stored ones, and the default unless it is stored or deleted.

        One Query (paged) on gsi2; its reads are eventually consistent, so a policy written a moment
        ago may miss one evaluation — the re-evaluation after each policy write catches up.
        """
        return policies_in_force(self.query_all("gsi2", "gsi2pk", self.list_partition))

    def load_policies_exactly(self, known_ids: Iterable[str]) -> list[AssurancePolicy]:
        """Every policy in force as it is now: each read by its key, strongly consistent.

        The ids are those the list partition shows (gsi2, eventually consistent: a policy created a
        moment ago may be missing, one deleted still listed), those `known_ids` names (the configuration
        version's `policy_ids`: every policy created since that item exists, from the moment it exists)
        and the default's. One Query (paged), then one BatchGetItem per 100 policies. What is read after
        a strongly consistent read of the configuration version is the state of that version or newer,
        which is what `riskgate.services.config_cache` keeps under it.
        """
        listed = {str(item["id"]) for item in self.query_all("gsi2", "gsi2pk", self.list_partition)}
        ids = sorted(listed | set(known_ids) | {DEFAULT_POLICY_ID})
        return policies_in_force(
            ConfigReads(self.table_name, self.client).get_many([self.key(i) for i in ids])
        )

    def scope_definitions(self, scope_ids: set[str]) -> dict[str, ScopeDefinition]:
        """The scopes the policies name, in one BatchGetItem (a missing one is left out)."""
        _, scopes = load_access_definitions(self.client, self.table_name, set(), scope_ids)
        return scopes

    # --- the virtual default ----------------------------------------------------------------------

    def _version_bump(self, *, created: str | None = None, deleted: str | None = None) -> dict[str, Any]:
        """A policy's creation and deletion also keep the version item's `policy_ids` (the default's
        item is always read by its key: its id needs no keeping)."""
        return version_bump(self.table_name, policy_created=created, policy_deleted=deleted)

    def _read(self, entity_id: str) -> dict[str, Any] | None:
        """The stored item (a tombstone included), or the virtual default, or None."""
        item = super()._read(entity_id)
        if item is not None:
            return {**item, "stored": True}
        return virtual_default() if entity_id == DEFAULT_POLICY_ID else None

    def _write_update(
        self, transaction: Transaction, current: dict[str, Any], changed: dict[str, Any], actor: Actor
    ) -> dict[str, Any]:
        if current.get("stored", True):
            return super()._write_update(transaction, current, changed, actor)
        return self._store_default(transaction, {**current, **changed}, actor)

    def _write_delete(self, transaction: Transaction, current: dict[str, Any], actor: Actor) -> None:
        """The default one leaves a tombstone so that it does not come back."""
        if current["id"] == DEFAULT_POLICY_ID:
            self._tombstone_default(transaction, current, actor)
        else:
            super()._write_delete(transaction, current, actor)

    def _store_default(
        self, transaction: Transaction, wanted: dict[str, Any], actor: Actor
    ) -> dict[str, Any]:
        """The first change of the virtual default: store it whole, as version 2. It must still be
        unstored (another first change would otherwise be overwritten): a failed condition is a
        stale read, retried from the now stored item."""
        now = now_iso()
        fields = {
            **shown(wanted),
            "version": DEFAULT_POLICY.version + 1,
            "created_at": now,
            "created_by": "system",
            "updated_at": now,
            "updated_by": actor_id(actor),
        }
        transaction.put_new(self.item(fields), StaleRead())
        return fields

    def _tombstone_default(self, transaction: Transaction, current: dict[str, Any], actor: Actor) -> None:
        version = int(current.get("version") or 1)
        tombstone = {
            "id": DEFAULT_POLICY_ID,
            "name": current["name"],
            "scope": current["scope"],
            "deleted": True,
            "version": version + 1,
            "updated_at": now_iso(),
            "updated_by": actor_id(actor),
        }
        if not current.get("stored", True):
            transaction.put_new(self.item(tombstone), StaleRead())
            return
        condition, names, values = as_read(current, ("version",))
        transaction.add(
            {
                "Put": {
                    "Item": to_item(self.item(tombstone)),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": expression_values(values),
                }
            },
            StaleRead(),
        )


def policies_in_force(items: Iterable[dict[str, Any]]) -> list[AssurancePolicy]:
    """Policy items (a tombstone included) as the policies in force, in the list's order (by name, as
    gsi2 sorts them; the virtual default first): the stored ones that are not deleted, and the default
    unless it is stored (changed, or deleted: its tombstone)."""
    items = sorted(items, key=lambda item: str(item.get("gsi2sk") or ""))
    policies = [policy_from_fields(item) for item in items if not item.get("deleted")]
    if any(item["id"] == DEFAULT_POLICY_ID for item in items):
        return policies
    return [DEFAULT_POLICY, *policies]


def default_policy_store() -> PolicyStore:
    """The policies of the configured table, sharing the store's client (and its lifetime)."""
    store = default_store()
    return PolicyStore(store.table_name, client=store.client)
