"""Response policies in the table, and the enabled ones of a trigger.

Item (docs/architecture.md, "Response policies and notifications"): pk `RESPONSE_POLICY#<id>`, sk `META`;
gsi1 `RESPONSE_TRIGGER#<trigger>` / `<id>` only while the policy is enabled, so that whatever fires a
trigger reads exactly the enabled policies of it (one Query); gsi2 `RESPONSE_POLICIES` / `<name>#<id>`;
id (`rsp-…`), name, description, scope, trigger, outputs [{output, integration}], filters, enabled,
version, created/updated at/by.

A response policy is a managed entity (riskgate.adapters.entities): each change is one TransactWriteItems
with its audit event (entity type `response_policy`) and the
use references (riskgate.adapters.references), kept in step with the policy:
`USES#scope#<id>` for a scope other than `global`, and `USES#integration#<name>` for each integration
its outputs name — each added with the bump of its target's `uses_version`, on condition that the target
exists (an integration: with the output's type), so that neither can be deleted while the policy uses it,
and a policy never names one deleted meanwhile. Updates and deletes are conditional on the version read
(retried once from a fresh read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from riskgate.adapters.entities import Check, EntityStore, Uses, scope_use
from riskgate.adapters.references import Reference
from riskgate.adapters.store import default_store
from riskgate.adapters.transactions import visible
from riskgate.domain.audit import Actor
from riskgate.domain.response_policies import ResponseTrigger

TRIGGER_PARTITION = "RESPONSE_TRIGGER#"


class ResponsePolicyStore(EntityStore):
    """Stored response policies. `client` is created lazily when not given."""

    key_prefix = "RESPONSE_POLICY"
    id_prefix = "rsp-"
    item_type = "response_policy"
    list_partition = "RESPONSE_POLICIES"
    entity_type = "response_policy"
    referrer_type = "response_policy"
    what = "response policy"
    what_changed = "response policy"

    # The API's names (riskgate.services.response_policies and the tests use them).
    get_policy = EntityStore.get
    create_policy = EntityStore.create
    update_policy = EntityStore.update
    delete_policy = EntityStore.delete
    list_policies = EntityStore.list_page

    def uses(self, fields: Mapping[str, Any]) -> Uses:
        """Its scope, and each integration its outputs name, which must have the output's type."""
        uses = scope_use(fields["scope"])
        for index, output in enumerate(fields.get("outputs") or []):
            uses[Reference("integration", output["integration"])] = (
                f"body.outputs[{index}].integration",
                {"type": output["output"]},
            )
        return uses

    def index_keys(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The gsi1 keys: present only while the policy is enabled."""
        if not fields.get("enabled", True):
            return {"gsi1pk": None, "gsi1sk": None}
        return {"gsi1pk": f"{TRIGGER_PARTITION}{fields['trigger']}", "gsi1sk": fields["id"]}

    def enabled_for_trigger(self, trigger: ResponseTrigger | str) -> list[dict[str, Any]]:
        """The enabled policies of a trigger: one Query of gsi1 (paged), eventually consistent — a
        policy enabled a moment ago may miss one firing."""
        return [visible(item) for item in self.query_all("gsi1", "gsi1pk", f"{TRIGGER_PARTITION}{trigger}")]

    def set_enabled(self, policy_id: str, enabled: bool, actor: Actor, check: Check) -> dict[str, Any]:
        """Enable or disable; one already so is left as it is (no write, no event)."""
        return self.update(policy_id, {"enabled": enabled}, actor, check)


def default_response_policy_store() -> ResponsePolicyStore:
    """The response policies of the configured table, sharing the store's client (and its lifetime)."""
    store = default_store()
    return ResponsePolicyStore(store.table_name, client=store.client)
