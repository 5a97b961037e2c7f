"""Assurance policies in the table, and the policies evaluation uses.

Item (docs/architecture.md, "Assurance policies"): pk `POLICY#<id>`, sk `META`; gsi2 `POLICIES` /
`<name>#<id>`; id, name, description, scope, enabled, mode, conditions (a map, numbers as Decimal),
actions, version, created/updated at/by, and `reevaluation`, which only the re-evaluation planner writes.

The default policy (`DEFAULT_POLICY`, id `default`) is not stored until someone changes it: until then
it is *virtual*, version 1. Changing it stores it (version 2…); deleting it stores a *tombstone*
(`deleted: true`) so that it stays deleted instead of coming back as the virtual one.

Each change is one TransactWriteItems with its audit event and, for a policy in a scope other than
`global`, the scope-use reference of the directory (`USES#scope#<id>` / `policy#<id>`, and the scope's
`uses_version` bumped on condition that it exists), so that a scope a policy uses cannot be deleted.
Updates and deletes are conditional on the version read (retried once from a fresh read).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from riskgate.adapters.access_definitions import load_access_definitions
from riskgate.adapters.audit_log import audit_put
from riskgate.adapters.directory import (
    Reference,
    StaleRead,
    Transaction,
    actor_id,
    add_reference,
    as_read,
    delete_as_read,
    reference_item,
    reference_key,
    retry_once,
    versioned_update,
    visible,
)
from riskgate.adapters.dynamo import (
    Page,
    TableClient,
    expression_values,
    from_item,
    now_iso,
    query_page,
    to_item,
)
from riskgate.adapters.store import default_store
from riskgate.domain.access import ScopeDefinition
from riskgate.domain.audit import Actor, AuditAction, audit_event
from riskgate.domain.errors import NotFound
from riskgate.domain.permissions import GLOBAL_SCOPE
from riskgate.domain.policies import (
    DEFAULT_POLICY,
    DEFAULT_POLICY_ID,
    AssurancePolicy,
    PolicyAction,
    PolicyConditions,
    PolicyMode,
)
from riskgate.settings import get_settings

POLICIES_PARTITION = "POLICIES"
ENTITY_TYPE = "assurance_policy"
REFERRER_TYPE = "policy"
SCOPE_FIELD = "body.scope"

# Called with the policy as read (before every attempt): raises when the caller may not change it.
Check = Callable[[dict[str, Any]], None]


def policy_key(policy_id: str) -> dict[str, str]:
    return {"pk": f"POLICY#{policy_id}", "sk": "META"}


def new_policy_id() -> str:
    return "pol-" + secrets.token_hex(8)


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


def _policy_item(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **policy_key(fields["id"]),
        "item_type": "policy",
        "gsi2pk": POLICIES_PARTITION,
        "gsi2sk": f"{fields['name']}#{fields['id']}",
        **fields,
    }


def _scope_reference(scope: str) -> Reference | None:
    # The global scope is code: nothing to reference, nothing that could be deleted.
    return None if scope == GLOBAL_SCOPE else Reference("scope", scope)


class PolicyStore(TableClient):
    """Stored assurance policies. `client` is created lazily when not given."""

    # --- reading ----------------------------------------------------------------------------------

    def get_policy(self, policy_id: str) -> dict[str, Any] | None:
        """The policy as the API shows it (the default one virtual until stored); None when there is
        none or it was deleted."""
        item = self._current(policy_id)
        return None if item is None or item.get("deleted") else _shown(item)

    def list_policies(self, limit: int, next_token: str | None) -> Page:
        """Stored policies by name, tombstones left out; the caller adds the virtual default."""
        page = query_page(
            self.client,
            self.table_name,
            index="gsi2",
            partition=("gsi2pk", POLICIES_PARTITION),
            limit=limit,
            next_token=next_token,
        )
        return page.kept(lambda item: not item.get("deleted")).mapped(visible)

    def virtual_default(self) -> dict[str, Any] | None:
        """The default policy while nobody changed or deleted it (then it is stored, and listed as
        such, or gone); None otherwise."""
        if self._get(policy_key(DEFAULT_POLICY_ID)) is not None:
            return None
        return _shown(virtual_default())

    def load_policies(self) -> list[AssurancePolicy]:
        """Every policy in force: the stored ones, and the default unless it is stored or deleted.

        One Query (paged) on gsi2; its reads are eventually consistent, so a policy written a moment
        ago may miss one evaluation — the re-evaluation after each policy write catches up.
        """
        policies: list[AssurancePolicy] = []
        default_seen = False
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :pk",
            "ExpressionAttributeValues": expression_values({":pk": POLICIES_PARTITION}),
        }
        while True:
            response = self.client.query(**kwargs)
            for raw in response.get("Items", []):
                item = from_item(raw)
                default_seen = default_seen or item["id"] == DEFAULT_POLICY_ID
                if not item.get("deleted"):
                    policies.append(policy_from_fields(item))
            if not response.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return policies if default_seen else [DEFAULT_POLICY, *policies]

    def scope_definitions(self, scope_ids: set[str]) -> dict[str, ScopeDefinition]:
        """The scopes the policies name, in one BatchGetItem (a missing one is left out)."""
        _, scopes = load_access_definitions(self.client, self.table_name, set(), scope_ids)
        return scopes

    # --- changing ---------------------------------------------------------------------------------

    def create_policy(self, fields: Mapping[str, Any], actor: Actor) -> dict[str, Any]:
        """Store a new policy; `fields` are its API fields without id and bookkeeping."""
        policy_id, now, by = new_policy_id(), now_iso(), actor_id(actor)
        created = {
            "id": policy_id,
            **fields,
            "version": 1,
            "created_at": now,
            "created_by": by,
            "updated_at": now,
            "updated_by": by,
        }
        transaction = Transaction(self.table_name)
        transaction.put_new(_policy_item(created))
        reference = _scope_reference(created["scope"])
        if reference is not None:
            add_reference(transaction, reference, REFERRER_TYPE, policy_id, created["name"], SCOPE_FIELD)
        transaction.add(self._audit(actor, AuditAction.CREATE, policy_id, after=created))
        retry_once(lambda: transaction.commit(self.client), f"policy {created['name']}")
        return created

    def update_policy(
        self, policy_id: str, changes: Mapping[str, Any], actor: Actor, check: Check
    ) -> dict[str, Any]:
        """Apply the fields in `changes` that differ; a change that changes nothing writes nothing."""

        def attempt() -> dict[str, Any]:
            current = self._existing(policy_id)
            check(current)
            changed = {name: value for name, value in changes.items() if current.get(name) != value}
            if not changed:
                return _shown(current)
            transaction = Transaction(self.table_name)
            if current.get("stored", True):
                if "name" in changed:
                    changed["gsi2sk"] = f"{changed['name']}#{policy_id}"
                after = _shown(versioned_update(transaction, policy_key(policy_id), current, changed, actor))
            else:
                after = self._store_default(transaction, {**current, **changed}, actor)
            self._move_reference(transaction, current, after)
            before = _shown(current)
            transaction.add(self._audit(actor, AuditAction.UPDATE, policy_id, before=before, after=after))
            transaction.commit(self.client)
            return after

        return retry_once(attempt, f"policy {policy_id}")

    def delete_policy(self, policy_id: str, actor: Actor, check: Check) -> None:
        """Delete a policy; the default one leaves a tombstone so that it does not come back."""

        def attempt() -> None:
            current = self._existing(policy_id)
            check(current)
            transaction = Transaction(self.table_name)
            if policy_id == DEFAULT_POLICY_ID:
                self._tombstone_default(transaction, current, actor)
            else:
                transaction.add(delete_as_read(policy_key(policy_id), current, ("version",)), StaleRead())
            reference = _scope_reference(current["scope"])
            if reference is not None and current.get("stored", True):
                transaction.delete(reference_key(reference, REFERRER_TYPE, policy_id))
            transaction.add(self._audit(actor, AuditAction.DELETE, policy_id, before=_shown(current)))
            transaction.commit(self.client)

        retry_once(attempt, f"policy {policy_id}")

    # --- helpers ----------------------------------------------------------------------------------

    def _current(self, policy_id: str) -> dict[str, Any] | None:
        """The stored item (a tombstone included), or the virtual default, or None."""
        item = self._get(policy_key(policy_id))
        if item is not None:
            return {**visible(item), "stored": True}
        return virtual_default() if policy_id == DEFAULT_POLICY_ID else None

    def _existing(self, policy_id: str) -> dict[str, Any]:
        current = self._current(policy_id)
        if current is None or current.get("deleted"):
            raise NotFound(f"assurance policy {policy_id} not found")
        return current

    def _store_default(
        self, transaction: Transaction, wanted: dict[str, Any], actor: Actor
    ) -> dict[str, Any]:
        """The first change of the virtual default: store it whole, as version 2. It must still be
        unstored (another first change would otherwise be overwritten): a failed condition is a
        stale read, retried from the now stored item."""
        now = now_iso()
        fields = {
            **{k: v for k, v in wanted.items() if k != "stored"},
            "version": DEFAULT_POLICY.version + 1,
            "created_at": now,
            "created_by": "system",
            "updated_at": now,
            "updated_by": actor_id(actor),
        }
        transaction.put_new(_policy_item(fields), StaleRead())
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
            transaction.put_new(_policy_item(tombstone), StaleRead())
            return
        condition, names, values = as_read(current, ("version",))
        transaction.add(
            {
                "Put": {
                    "Item": to_item(_policy_item(tombstone)),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": expression_values(values),
                }
            },
            StaleRead(),
        )

    def _move_reference(
        self, transaction: Transaction, before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> None:
        """Keep the scope-use reference in step with the policy's scope and name."""
        old = _scope_reference(before["scope"]) if before.get("stored", True) else None
        new = _scope_reference(after["scope"])
        policy_id = after["id"]
        if new is not None and new != old:
            add_reference(transaction, new, REFERRER_TYPE, policy_id, after["name"], SCOPE_FIELD)
        elif new is not None and before["name"] != after["name"]:
            # References carry the referrer's name, for the 409 that cites it.
            transaction.put(reference_item(new, REFERRER_TYPE, policy_id, after["name"]))
        if old is not None and old != new:
            transaction.delete(reference_key(old, REFERRER_TYPE, policy_id))

    def _audit(
        self,
        actor: Actor,
        action: str,
        policy_id: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        event = audit_event(actor, action, ENTITY_TYPE, policy_id, before=before, after=after)
        return audit_put(self.table_name, event, get_settings().audit_retention_days)


def _shown(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A policy as audit events record it: without the "is it stored" bookkeeping."""
    return {key: value for key, value in fields.items() if key != "stored"}


def default_policy_store() -> PolicyStore:
    """The policies of the configured table, sharing the store's client (and its lifetime)."""
    store = default_store()
    return PolicyStore(store.table_name, client=store.client)
