"""The directory in the table: scopes, custom roles, users and their tokens.

Item shapes are those of docs/architecture.md ("Access: users, roles, scopes, tokens"). Scopes, roles
and users are managed entities (riskgate.adapters.entities): each declares here only what is its own —
a scope's and a user's name is unique through a name guard, a role's name is its key; scopes and roles
are used by others (a user's role bindings, policies: riskgate.adapters.references), so they cannot be
deleted while used; a user uses the scopes and custom roles of their bindings, and disabling a user ends
their tokens. Tokens are not entities: issued once, listed, revoked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from riskgate.adapters.access_definitions import role_key, scope_key
from riskgate.adapters.audit_log import audit_entry
from riskgate.adapters.dynamo import (
    Page,
    TableClient,
    expression_values,
    from_item,
    now_iso,
    query_page,
    to_item,
)
from riskgate.adapters.entities import Check, EntityStore, Uses
from riskgate.adapters.identity_items import new_token_id, token_item, user_key
from riskgate.adapters.references import Reference
from riskgate.adapters.store import default_store
from riskgate.adapters.transactions import Transaction, actor_id, retry_once, visible
from riskgate.auth.tokens import generate_token, hash_token
from riskgate.domain.audit import Actor, AuditAction
from riskgate.domain.errors import Conflict, NotFound
from riskgate.domain.permissions import GLOBAL_SCOPE, SYSTEM_ROLES
from riskgate.domain.versions import ensure_version

BINDINGS_FIELD = "body.role_bindings"


def binding_references(bindings: Iterable[Mapping[str, str]]) -> set[Reference]:
    """What a user's role bindings depend on. System roles and the global scope are code: no item to
    reference, nothing that could be deleted."""
    references: set[Reference] = set()
    for binding in bindings:
        if binding["role"] not in SYSTEM_ROLES:
            references.add(Reference("role", binding["role"]))
        if binding.get("scope", GLOBAL_SCOPE) != GLOBAL_SCOPE:
            references.add(Reference("scope", binding["scope"]))
    return references


def at_version(what: str, expected_version: int | None) -> Check:
    """The check of an account-wide entity: only the version the caller named, if any (who may change
    it is decided once, for the whole directory, by the routes)."""
    return lambda current: ensure_version(what, current, expected_version)


class ScopeStore(EntityStore):
    id_prefix = "scp-"
    item_type = "scope"
    list_partition = "SCOPES"
    entity_type = referrer_type = "scope"
    what = what_changed = "scope"
    used_as = "scope"
    unique_name = "scope"

    def key(self, entity_id: str) -> dict[str, str]:
        return scope_key(entity_id)

    def list_sort_key(self, fields: Mapping[str, Any]) -> str:
        return str(fields["name"])  # unique: no id needed to order or tell them apart

    def called(self, fields: Mapping[str, Any]) -> str:
        return f"scope {fields['name']}"

    def uses(self, fields: Mapping[str, Any]) -> Uses:
        return {}


class RoleStore(EntityStore):
    id_field = "name"
    item_type = "role"
    list_partition = "ROLES"
    entity_type = referrer_type = "role"
    what = what_changed = "role"
    used_as = "role"

    def key(self, entity_id: str) -> dict[str, str]:
        return role_key(entity_id)

    def uses(self, fields: Mapping[str, Any]) -> Uses:
        return {}


class UserStore(EntityStore):
    id_prefix = "usr-"
    item_type = "user"
    list_partition = "USERS"
    entity_type = referrer_type = "user"
    what = what_changed = "user"
    unique_name = "user"

    def key(self, entity_id: str) -> dict[str, str]:
        return user_key(entity_id)

    def uses(self, fields: Mapping[str, Any]) -> Uses:
        """The scopes and custom roles of the user's bindings."""
        bindings = binding_references(fields.get("role_bindings") or [])
        return dict.fromkeys(bindings, (BINDINGS_FIELD, None))

    def update(
        self, entity_id: str, changes: Mapping[str, Any], actor: Actor, check: Check
    ) -> dict[str, Any]:
        def changes_of(current: dict[str, Any]) -> Mapping[str, Any]:
            check(current)
            if changes.get("enabled") is False and current.get("enabled") is not False:
                # Disabling ends the user's tokens for good: enabling the user again later must not
                # revive a token that leaked meanwhile. Tokens carry the generation they were issued in.
                return {**changes, "token_generation": int(current.get("token_generation", 0)) + 1}
            return changes

        return self.revise(entity_id, changes_of, actor)


class Directory(TableClient):
    """Scopes, custom roles, users and tokens: the directory port of riskgate.services.directory.
    `client` is created lazily when not given."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        super().__init__(table_name, client)
        self.scopes = ScopeStore(table_name, client)
        self.roles = RoleStore(table_name, client)
        self.users = UserStore(table_name, client)

    # --- scopes -----------------------------------------------------------------------------------

    def get_scope(self, scope_id: str) -> dict[str, Any] | None:
        return self.scopes.get(scope_id)

    def list_scopes(self, limit: int, next_token: str | None) -> Page:
        return self.scopes.list_page(limit, next_token)

    def create_scope(
        self, *, name: str, description: str, resources: list[dict[str, str]], actor: Actor
    ) -> dict[str, Any]:
        return self.scopes.create({"name": name, "description": description, "resources": resources}, actor)

    def update_scope(
        self, scope_id: str, changes: Mapping[str, Any], actor: Actor, expected_version: int | None = None
    ) -> dict[str, Any]:
        return self.scopes.update(scope_id, changes, actor, at_version(f"scope {scope_id}", expected_version))

    def delete_scope(self, scope_id: str, actor: Actor, expected_version: int | None = None) -> None:
        self.scopes.delete(scope_id, actor, at_version(f"scope {scope_id}", expected_version))

    # --- custom roles -----------------------------------------------------------------------------

    def get_role(self, name: str) -> dict[str, Any] | None:
        return self.roles.get(name)

    def list_roles(self, limit: int, next_token: str | None) -> Page:
        return self.roles.list_page(limit, next_token)

    def create_role(
        self, *, name: str, description: str, permissions: list[str], actor: Actor
    ) -> dict[str, Any]:
        return self.roles.create(
            {"name": name, "description": description, "permissions": permissions}, actor
        )

    def update_role(
        self, name: str, changes: Mapping[str, Any], actor: Actor, expected_version: int | None = None
    ) -> dict[str, Any]:
        return self.roles.update(name, changes, actor, at_version(f"role {name}", expected_version))

    def delete_role(self, name: str, actor: Actor, expected_version: int | None = None) -> None:
        self.roles.delete(name, actor, at_version(f"role {name}", expected_version))

    # --- users ------------------------------------------------------------------------------------

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        return self.users.get(user_id)

    def list_users(self, limit: int, next_token: str | None) -> Page:
        return self.users.list_page(limit, next_token)

    def create_user(
        self,
        *,
        name: str,
        email: str | None,
        kind: str,
        role_bindings: list[dict[str, str]],
        enabled: bool,
        actor: Actor,
    ) -> dict[str, Any]:
        fields = {
            "name": name,
            "email": email,
            "kind": kind,
            "role_bindings": role_bindings,
            "enabled": enabled,
        }
        return self.users.create(fields, actor)

    def update_user(
        self, user_id: str, changes: Mapping[str, Any], actor: Actor, expected_version: int | None = None
    ) -> dict[str, Any]:
        return self.users.update(user_id, changes, actor, at_version(f"user {user_id}", expected_version))

    def delete_user(self, user_id: str, actor: Actor, expected_version: int | None = None) -> None:
        """The user's tokens stay as history; they stop working because their user is gone."""
        self.users.delete(user_id, actor, at_version(f"user {user_id}", expected_version))

    # --- tokens -----------------------------------------------------------------------------------

    def issue_token(
        self, user_id: str, *, name: str, expires_at: str | None, actor: Actor
    ) -> tuple[dict[str, Any], str]:
        """A new token for the user, and its secret: the only time the secret exists outside the
        caller's hands. Only its hash is stored, and only as the item's key."""
        user = self._get(user_key(user_id))
        if user is None:
            raise NotFound(f"user {user_id} not found")
        secret = generate_token()
        token_id = new_token_id()
        item = {
            **token_item(
                token_id=token_id,
                token_hash=hash_token(secret),
                user_id=user_id,
                name=name,
                created_at=now_iso(),
                expires_at=expires_at,
            ),
            "created_by": actor_id(actor),
            # A disable racing this issue raises the user's generation after our read: the token is then
            # dead at once, the safe way round.
            "generation": int(user.get("token_generation", 0)),
        }
        transaction = Transaction(self.table_name)
        transaction.add(
            {
                "ConditionCheck": {
                    "Key": to_item(user_key(user_id)),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            NotFound(f"user {user_id} not found"),
        )
        transaction.put_new(item)
        transaction.add(self._audit(actor, AuditAction.TOKEN_ISSUE, token_id, user_id, after=visible(item)))
        # Depends on no earlier read but the user's existence, checked again in the transaction: sending
        # it again after a clash with another transaction on the user is safe.
        retry_once(lambda: transaction.commit(self.client), f"user {user_id}")
        return visible(item), secret

    def list_tokens(self, user_id: str, limit: int, next_token: str | None) -> Page:
        """Newest first; items never carry the hash (it is only in the key, which lists drop)."""
        page = query_page(
            self.client,
            self.table_name,
            index="gsi1",
            partition=("gsi1pk", f"USER_TOKENS#{user_id}"),
            limit=limit,
            next_token=next_token,
            newest_first=True,
        )
        return page.mapped(visible)

    def revoke_token(self, user_id: str, token_id: str, actor: Actor) -> dict[str, Any]:
        token = self._find_token(user_id, token_id)
        if token is None:
            raise NotFound(f"token {token_id} of user {user_id} not found")
        if token.get("revoked_at"):
            raise Conflict(f"token {token_id} was already revoked at {token['revoked_at']}")
        revoked = {"revoked_at": now_iso(), "revoked_by": actor_id(actor)}
        transaction = Transaction(self.table_name)
        transaction.add(
            {
                "Update": {
                    "Key": to_item({"pk": token["pk"], "sk": token["sk"]}),
                    "UpdateExpression": "SET revoked_at = :at, revoked_by = :by",
                    "ConditionExpression": (
                        "attribute_exists(pk) AND user_id = :user AND attribute_not_exists(revoked_at)"
                    ),
                    "ExpressionAttributeValues": expression_values(
                        {":at": revoked["revoked_at"], ":by": revoked["revoked_by"], ":user": user_id}
                    ),
                }
            },
            Conflict(f"token {token_id} was revoked concurrently"),
        )
        after = {**visible(token), **revoked}
        transaction.add(
            self._audit(
                actor, AuditAction.TOKEN_REVOKE, token_id, user_id, before=visible(token), after=after
            )
        )
        retry_once(lambda: transaction.commit(self.client), f"token {token_id}")
        return after

    def _find_token(self, user_id: str, token_id: str) -> dict[str, Any] | None:
        """The user's token with this id. Tokens are keyed by their hash, so this walks the user's
        token index (a user has few tokens) with a filter on the id."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "FilterExpression": "#id = :id",
            "ExpressionAttributeNames": {"#id": "id"},
            "ExpressionAttributeValues": expression_values(
                {":pk": f"USER_TOKENS#{user_id}", ":id": token_id}
            ),
        }
        while True:
            response = self.client.query(**kwargs)
            items = response.get("Items") or []
            if items:
                return from_item(items[0])
            if not response.get("LastEvaluatedKey"):
                return None
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _audit(self, actor: Actor, action: str, token_id: str, user_id: str, **states: Any) -> dict[str, Any]:
        """A token's audit event: `states` are `before` and/or `after`; the user is in its details."""
        return audit_entry(
            self.table_name, actor, action, "token", token_id, details={"user_id": user_id}, **states
        )


def default_directory() -> Directory:
    """The directory of the configured table, sharing the store's client (one per environment)."""
    store = default_store()
    return Directory(store.table_name, client=store.client)
