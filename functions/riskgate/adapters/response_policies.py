"""Response policies in the table, and the enabled ones of a trigger.

Item (docs/architecture.md, "Response policies and notifications"): pk `RESPONSE_POLICY#<id>`, sk `META`;
gsi1 `RESPONSE_TRIGGER#<trigger>` / `<id>` only while the policy is enabled, so that whatever fires a
trigger reads exactly the enabled policies of it (one Query); gsi2 `RESPONSE_POLICIES` / `<name>#<id>`;
id (`rsp-…`), name, description, scope, trigger, outputs [{output, integration}], filters, enabled,
version, created/updated at/by.

Each change is one TransactWriteItems with its audit event (entity type `response_policy`) and the
directory's use references (riskgate.adapters.directory), kept in step with the policy:
`USES#scope#<id>` for a scope other than `global`, and `USES#integration#<name>` for each integration
its outputs name — each added with the bump of its target's `uses_version`, on condition that the target
exists (an integration: with the output's type), so that neither can be deleted while the policy uses it,
and a policy never names one deleted meanwhile. Updates and deletes are conditional on the version read
(retried once from a fresh read).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from riskgate.adapters.audit_log import audit_put
from riskgate.adapters.directory import (
    Reference,
    StaleRead,
    Transaction,
    actor_id,
    add_reference,
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
)
from riskgate.adapters.store import default_store
from riskgate.domain.audit import Actor, AuditAction, audit_event
from riskgate.domain.errors import NotFound
from riskgate.domain.permissions import GLOBAL_SCOPE
from riskgate.domain.response_policies import ResponseTrigger
from riskgate.settings import get_settings

POLICIES_PARTITION = "RESPONSE_POLICIES"
TRIGGER_PARTITION = "RESPONSE_TRIGGER#"
ENTITY_TYPE = "response_policy"
REFERRER_TYPE = "response_policy"
SCOPE_FIELD = "body.scope"

# Called with the policy as read (before every attempt): raises when the caller may not change it.
Check = Callable[[dict[str, Any]], None]


def response_policy_key(policy_id: str) -> dict[str, str]:
    return {"pk": f"RESPONSE_POLICY#{policy_id}", "sk": "META"}


def new_response_policy_id() -> str:
    return "rsp-" + secrets.token_hex(8)


def _trigger_index(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The gsi1 keys: present only while the policy is enabled."""
    if not fields.get("enabled", True):
        return {"gsi1pk": None, "gsi1sk": None}
    return {"gsi1pk": f"{TRIGGER_PARTITION}{fields['trigger']}", "gsi1sk": fields["id"]}


def _policy_item(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **response_policy_key(fields["id"]),
        "item_type": "response_policy",
        "gsi2pk": POLICIES_PARTITION,
        "gsi2sk": f"{fields['name']}#{fields['id']}",
        **{key: value for key, value in _trigger_index(fields).items() if value is not None},
        **fields,
    }


# A reference, and how to add it: the request field that named its target, and what the target must be.
Uses = dict[Reference, tuple[str, dict[str, Any] | None]]


def _uses(fields: Mapping[str, Any]) -> Uses:
    """What the policy uses: its scope (the global one is code: nothing to reference) and each
    integration its outputs name, which must have the output's type."""
    uses: Uses = {}
    if fields["scope"] != GLOBAL_SCOPE:
        uses[Reference("scope", fields["scope"])] = (SCOPE_FIELD, None)
    for index, output in enumerate(fields.get("outputs") or []):
        uses[Reference("integration", output["integration"])] = (
            f"body.outputs[{index}].integration",
            {"type": output["output"]},
        )
    return uses


class ResponsePolicyStore(TableClient):
    """Stored response policies. `client` is created lazily when not given."""

    # --- reading ----------------------------------------------------------------------------------

    def get_policy(self, policy_id: str) -> dict[str, Any] | None:
        item = self._get(response_policy_key(policy_id))
        return visible(item) if item else None

    def list_policies(self, limit: int, next_token: str | None) -> Page:
        """By name."""
        page = query_page(
            self.client,
            self.table_name,
            index="gsi2",
            partition=("gsi2pk", POLICIES_PARTITION),
            limit=limit,
            next_token=next_token,
        )
        return page.mapped(visible)

    def enabled_for_trigger(self, trigger: ResponseTrigger | str) -> list[dict[str, Any]]:
        """The enabled policies of a trigger: one Query of gsi1 (paged), eventually consistent — a
        policy enabled a moment ago may miss one firing."""
        policies: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": expression_values({":pk": f"{TRIGGER_PARTITION}{trigger}"}),
        }
        while True:
            response = self.client.query(**kwargs)
            policies += [visible(from_item(item)) for item in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                return policies
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # --- changing ---------------------------------------------------------------------------------

    def create_policy(self, fields: Mapping[str, Any], actor: Actor) -> dict[str, Any]:
        """Store a new policy; `fields` are its API fields without id and bookkeeping."""
        policy_id, now, by = new_response_policy_id(), now_iso(), actor_id(actor)
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
        for reference, (location, must_have) in sorted(_uses(created).items()):
            add_reference(
                transaction,
                reference,
                REFERRER_TYPE,
                policy_id,
                created["name"],
                location,
                must_have=must_have,
            )
        transaction.add(self._audit(actor, AuditAction.CREATE, policy_id, after=created))
        retry_once(lambda: transaction.commit(self.client), f"response policy {created['name']}")
        return created

    def update_policy(
        self, policy_id: str, changes: Mapping[str, Any], actor: Actor, check: Check
    ) -> dict[str, Any]:
        """Apply the fields in `changes` that differ; a change that changes nothing writes nothing."""

        def attempt() -> dict[str, Any]:
            stored = self._existing(policy_id)
            current = visible(stored)
            check(current)
            changed = {name: value for name, value in changes.items() if current.get(name) != value}
            if not changed:
                return current
            if "name" in changed:
                changed["gsi2sk"] = f"{changed['name']}#{policy_id}"
            index = _trigger_index({**current, **changed})
            if index != _trigger_index(current):
                changed.update(index)
            transaction = Transaction(self.table_name)
            after = versioned_update(transaction, response_policy_key(policy_id), stored, changed, actor)
            self._move_references(transaction, current, after)
            transaction.add(self._audit(actor, AuditAction.UPDATE, policy_id, before=current, after=after))
            transaction.commit(self.client)
            return after

        return retry_once(attempt, f"response policy {policy_id}")

    def set_enabled(self, policy_id: str, enabled: bool, actor: Actor, check: Check) -> dict[str, Any]:
        """Enable or disable; one already so is left as it is (no write, no event)."""
        return self.update_policy(policy_id, {"enabled": enabled}, actor, check)

    def delete_policy(self, policy_id: str, actor: Actor, check: Check) -> None:
        def attempt() -> None:
            stored = self._existing(policy_id)
            current = visible(stored)
            check(current)
            transaction = Transaction(self.table_name)
            transaction.add(delete_as_read(response_policy_key(policy_id), stored, ("version",)), StaleRead())
            for reference in sorted(_uses(current)):
                transaction.delete(reference_key(reference, REFERRER_TYPE, policy_id))
            transaction.add(self._audit(actor, AuditAction.DELETE, policy_id, before=current))
            transaction.commit(self.client)

        retry_once(attempt, f"response policy {policy_id}")

    # --- helpers ----------------------------------------------------------------------------------

    def _existing(self, policy_id: str) -> dict[str, Any]:
        item = self._get(response_policy_key(policy_id))
        if item is None:
            raise NotFound(f"response policy {policy_id} not found")
        return item

    def _move_references(
        self, transaction: Transaction, before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> None:
        """Keep the use references in step with the policy's scope, outputs and name."""
        old, new = _uses(before), _uses(after)
        policy_id, name = after["id"], after["name"]
        for reference, (location, must_have) in sorted(new.items()):
            if reference not in old:
                add_reference(
                    transaction, reference, REFERRER_TYPE, policy_id, name, location, must_have=must_have
                )
            elif before["name"] != name:
                # References carry the referrer's name, for the 409 that cites it.
                transaction.put(reference_item(reference, REFERRER_TYPE, policy_id, name))
        for reference in sorted(set(old) - set(new)):
            transaction.delete(reference_key(reference, REFERRER_TYPE, policy_id))

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


def default_response_policy_store() -> ResponsePolicyStore:
    """The response policies of the configured table, sharing the store's client (and its lifetime)."""
    store = default_store()
    return ResponsePolicyStore(store.table_name, client=store.client)
