"""Integrations in the table, their secrets in Secrets Manager.

Item (docs/architecture.md, "Response policies and notifications"): pk `INTEGRATION#<name>`, sk `META`;
gsi2 `INTEGRATIONS` / `<name>`; name (the key: unique by construction), type, scope (absent on items
stored before scopes existed: `global`), config (public: never a secret), `secret_arn` and
`secret_version` while it has a secret, version, uses_version, created/updated at/by.

**Secrets** (a Telegram bot token, a webhook's signing secret) are the Secrets Manager secret
`<prefix>/integrations/<name>`, a JSON object of the secret fields, kept as every entity keeps its
secrets (riskgate.adapters.entity_secrets): each write is a new version of it, made *before* the item's
transaction; the item records that version, and readers ask for it, so a write whose transaction then
fails (a name taken, a stale read, a lost race) leaves the integration with the secret it had. Removing a
secret, or the integration, schedules the secret's deletion (7 days' recovery) once the item no longer
names it; writing it again within those days restores it first.

An integration is a managed entity keyed by its name (riskgate.adapters.entities, `id_field = "name"`,
`used_as = "integration"`): each change is one TransactWriteItems with its audit event (entity type
`integration`); audit events carry the ARN and version of the secret, never its value. What is its own
here: the secrets — written to Secrets Manager before the transaction and scheduled for deletion after
it, so around the entity's create / update / delete rather than inside them — and `revise`, the
service's decision of the new config and secrets on the integration as read. Updates and deletes are
conditional on the version read (retried once from a fresh read), and check the caller against the
integration as read (`check`, `revise`). An integration a response policy names cannot be deleted: the
policy holds the reference `USES#integration#<name>` (riskgate.adapters.references), and the
delete is conditional on `uses_version` as read before looking for them. An integration is itself a use
of its scope (other than `global`): `USES#scope#<id>` / `integration#<name>`, written with it (on
condition that the scope exists) and deleted with it, so that a scope an integration belongs to cannot
be deleted. The scope never changes after creation. A test message (`POST …/{name}/test`) changes
nothing: its audit event (action `test`, the outcome as details) is all it writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from riskgate.adapters.access_definitions import scope_key
from riskgate.adapters.audit_log import put_audit_event
from riskgate.adapters.entities import SCOPE_FIELD, Check, EntityStore, Uses, scope_use, shown
from riskgate.adapters.entity_secrets import RECOVERY_DAYS, SecretHoldingStore
from riskgate.adapters.references import integration_key
from riskgate.adapters.store import default_store
from riskgate.domain.audit import Actor, AuditAction, audit_event
from riskgate.domain.errors import InvalidInput, NotFound
from riskgate.domain.integrations import integration_scope
from riskgate.domain.permissions import GLOBAL_SCOPE
from riskgate.settings import get_settings

INTEGRATIONS_PARTITION = "INTEGRATIONS"
ENTITY_TYPE = "integration"
REFERRER_TYPE = "integration"
# Days a deleted integration's secret can still be restored (Secrets Manager's minimum).
SECRET_RECOVERY_DAYS = RECOVERY_DAYS
SECRET_TAG = "riskgate:integration"

# Called with the integration as read (before every attempt): its new public config, and its secrets —
# None to keep them, {} to remove them, else the new values. Raises when the caller may not change it.
Revise = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str] | None]]


def secret_name(prefix: str, name: str) -> str:
    return f"{prefix}/integrations/{name}"


def _unknown_scope(scope: str) -> InvalidInput:
    return InvalidInput(
        f"scope {scope} does not exist", details=[{"location": SCOPE_FIELD, "message": "unknown scope"}]
    )


class IntegrationStore(SecretHoldingStore):
    """Stored integrations and their secrets. Clients are created lazily when not given."""

    key_prefix = "INTEGRATION"
    id_field = "name"
    item_type = "integration"
    list_partition = INTEGRATIONS_PARTITION
    entity_type = ENTITY_TYPE
    referrer_type = REFERRER_TYPE
    what = "integration"
    what_changed = "integration"
    used_as = "integration"
    secrets_kind = "integrations"
    secret_tag = SECRET_TAG
    secrets_describe = "Riskgate integration"

    # The API's names (riskgate.services.integrations, the notifier and the tests use them).
    get_integration = EntityStore.get
    list_integrations = EntityStore.list_page

    @property
    def secrets(self) -> Any:
        """The Secrets Manager client (created on first use)."""
        return self.secret_store.client

    def key(self, entity_id: str) -> dict[str, str]:
        return integration_key(entity_id)  # references' own: integrations are targets of references

    def uses(self, fields: Mapping[str, Any]) -> Uses:
        """Its scope (`global` for one stored before scopes existed)."""
        return scope_use(integration_scope(fields))

    # --- reading ----------------------------------------------------------------------------------

    def read_secret(self, name: str) -> dict[str, str]:
        """The integration's secret fields (e.g. `{"bot_token": …}`), at the version it names; {} when
        it has none. For whatever sends through the integration, never for an API answer."""
        item = self._get(self.key(name))
        if item is None:
            raise NotFound(f"integration {name} not found")
        return self.secret_store.read(item)

    # --- changing ---------------------------------------------------------------------------------

    def create_integration(
        self,
        name: str,
        kind: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        actor: Actor,
        *,
        scope: str = GLOBAL_SCOPE,
    ) -> dict[str, Any]:
        """Store a new integration in `scope`; its secrets (if any) first, in Secrets Manager."""
        if self._get(self.key(name)) is not None:
            raise self._name_taken(name)  # before its secret is touched: that one is the other's
        if scope != GLOBAL_SCOPE and self._get(scope_key(scope)) is None:
            raise _unknown_scope(scope)  # the same: no secret for an integration that cannot be stored
        fields: dict[str, Any] = {"name": name, "type": kind, "scope": scope, "config": dict(config)}
        if secrets:
            fields.update(self.secret_store.write(name, secrets))
        return self.create(fields, actor)

    def update_integration(self, name: str, revise: Revise, actor: Actor) -> dict[str, Any]:
        """Apply `revise` to the integration as read; a change that changes nothing writes nothing."""
        secret = self.secret_store.change(name)

        def changes_of(current: dict[str, Any]) -> dict[str, Any]:
            config, secrets = revise(shown(current))
            return {"config": config, **secret.fields(current, secrets)}

        after = self.revise(name, changes_of, actor)
        secret.done()
        return after

    def delete_integration(self, name: str, actor: Actor, check: Check = lambda current: None) -> None:
        """Delete an integration no response policy uses (else 409 naming them), and its use of its
        scope; then its secret."""
        deleted: dict[str, Any] = {}  # as read by the last attempt: the one committed

        def checked(current: dict[str, Any]) -> None:
            check(shown(current))
            deleted.clear()
            deleted.update(current)

        self.delete(name, actor, checked)
        self.secret_store.release(name, deleted)

    def record_test(self, name: str, actor: Actor, outcome: Mapping[str, Any]) -> None:
        """The audit event of a test message sent through the integration: `outcome` (what the API
        answered; never a secret) as its details."""
        event = audit_event(actor, AuditAction.TEST, ENTITY_TYPE, name, details=dict(outcome))
        put_audit_event(self.client, self.table_name, event, get_settings().audit_retention_days)


def default_integration_store() -> IntegrationStore:
    """The integrations of the configured table, sharing the store's client (and its lifetime)."""
    store = default_store()
    return IntegrationStore(store.table_name, client=store.client)
