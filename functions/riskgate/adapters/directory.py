"""The directory in the table: scopes, custom roles, users and their tokens.

Item shapes are those of docs/architecture.md ("Access: users, roles, scopes, tokens"). Every change is
one TransactWriteItems that carries its audit event. Three mechanisms keep the directory consistent
when several writers act at once:

- **Unique names.** A scope or user name is owned through a `NAME#<kind>#<name>` guard item, created
  with `attribute_not_exists` in the same transaction as its owner and deleted with it (a role's name
  is its key, so the role item is its own guard).
- **Optimistic concurrency.** Every item has `version`. An update or delete is conditional on the
  version it read; a stale read is retried once from a fresh read, then reported as a conflict.
- **No delete of a scope or role in use.** Whatever uses a scope or custom role (a user's role
  bindings, policies) has a reference item `USES#<scope|role>#<key>` / `<referrer type>#<referrer id>`,
  written in the referrer's own transaction. Integrations a response policy names are kept the same
  way (`USES#integration#<name>`). A Query cannot be a
  transaction condition, so the transaction that *adds* a reference also bumps `uses_version` on the
  scope or role item, conditional on `attribute_exists(pk)` (which is also the check that the scope or
  role exists). A delete reads the item (version v, uses_version u), then queries the references with a
  strongly consistent read, and deletes only on the condition `version = v AND uses_version = u`:
  - a reference added before the read is found by the query (409 naming its referrers);
  - a reference added after the read changed `uses_version`, so the delete fails and is retried from
    a fresh read, which then finds it;
  - a reference added after the delete fails on `attribute_exists(pk)`: the scope or role is gone.
  `uses_version` is not `version` so that binding a scope does not make a concurrent edit of the
  scope stale; edits use UpdateExpressions that never write `uses_version`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from botocore.exceptions import ClientError

from riskgate.adapters.access_definitions import role_key, scope_key
from riskgate.adapters.audit_log import audit_put
from riskgate.adapters.dynamo import (
    Page,
    TableClient,
    expression_values,
    from_item,
    now_iso,
    public_fields,
    query_page,
    to_item,
)
from riskgate.adapters.identity_items import new_token_id, token_item, user_item, user_key
from riskgate.adapters.store import default_store
from riskgate.auth.tokens import generate_token, hash_token
from riskgate.domain.audit import Actor, AuditAction, audit_event
from riskgate.domain.errors import Conflict, InvalidInput, NotFound
from riskgate.domain.permissions import GLOBAL_SCOPE, SYSTEM_ROLES
from riskgate.domain.versions import ensure_version
from riskgate.settings import get_settings

T = TypeVar("T")

ReferenceKind = Literal["scope", "role", "integration"]

# Attributes that are bookkeeping, never shown through the API nor recorded in audit events.
_INTERNAL_FIELDS = frozenset({"uses_version"})
# How many referrers a 409 on a delete names; the rest are summed up as "and more".
REFERRERS_NAMED = 25


def integration_key(name: str) -> dict[str, str]:
    """An integration's item (riskgate.adapters.integrations): its name is its key."""
    return {"pk": f"INTEGRATION#{name}", "sk": "META"}


_TARGET_KEYS: dict[str, Callable[[str], dict[str, str]]] = {
    "scope": scope_key,
    "role": role_key,
    "integration": integration_key,
}


@dataclass(frozen=True, order=True)
class Reference:
    """Something a referrer depends on: a scope (by id), a custom role or an integration (by name)."""

    kind: ReferenceKind
    key: str

    @property
    def partition(self) -> str:
        return f"USES#{self.kind}#{self.key}"

    @property
    def target_key(self) -> dict[str, str]:
        return _TARGET_KEYS[self.kind](self.key)


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


def visible(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as the API and the audit log see it: no keys, no bookkeeping."""
    return {k: v for k, v in public_fields(dict(item)).items() if k not in _INTERNAL_FIELDS}


def name_guard_key(kind: str, name: str) -> dict[str, str]:
    return {"pk": f"NAME#{kind}#{name}", "sk": "NAME"}


def new_scope_id() -> str:
    return "scp-" + secrets.token_hex(8)


def new_user_id() -> str:
    return "usr-" + secrets.token_hex(8)


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


class Directory(TableClient):
    """Scopes, custom roles, users and tokens. `client` is created lazily when not given."""

    # --- scopes -----------------------------------------------------------------------------------

    def get_scope(self, scope_id: str) -> dict[str, Any] | None:
        item = self._get(scope_key(scope_id))
        return visible(item) if item else None

    def list_scopes(self, limit: int, next_token: str | None) -> Page:
        return self._list("SCOPES", limit, next_token)

    def create_scope(
        self, *, name: str, description: str, resources: list[dict[str, str]], actor: Actor
    ) -> dict[str, Any]:
        scope_id, now = new_scope_id(), now_iso()
        item = {
            **scope_key(scope_id),
            "item_type": "scope",
            "gsi2pk": "SCOPES",
            "gsi2sk": name,
            "id": scope_id,
            "name": name,
            "description": description,
            "resources": resources,
            **_created(actor, now),
            "uses_version": 0,
        }
        transaction = self._transaction()
        transaction.put_new(item)
        transaction.put_new(self._name_guard("scope", name, scope_id), _name_taken("scope", name))
        transaction.add(self._audit(actor, AuditAction.CREATE, "scope", scope_id, after=visible(item)))
        self._commit_new(transaction, f"scope {name}")
        return visible(item)

    def update_scope(
        self, scope_id: str, changes: Mapping[str, Any], actor: Actor, expected_version: int | None = None
    ) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            current = self._read(scope_key(scope_id), f"scope {scope_id}", expected_version)
            changed = _changed_fields(current, changes)
            if not changed:
                return visible(current)
            if "name" in changed:
                changed["gsi2sk"] = changed["name"]
            transaction = self._transaction()
            after = self._versioned_update(transaction, scope_key(scope_id), current, changed, actor)
            if "name" in changed:
                self._move_name_guard(transaction, "scope", current["name"], changed["name"], scope_id)
            transaction.add(
                self._audit(
                    actor, AuditAction.UPDATE, "scope", scope_id, before=visible(current), after=after
                )
            )
            transaction.commit(self.client)
            return after

        return retry_once(attempt, f"scope {scope_id}")

    def delete_scope(self, scope_id: str, actor: Actor, expected_version: int | None = None) -> None:
        def attempt() -> None:
            current = self._read(scope_key(scope_id), f"scope {scope_id}", expected_version)
            self._refuse_if_used(Reference("scope", scope_id), f"scope {current['name']}")
            transaction = self._transaction()
            self._delete_unused(transaction, scope_key(scope_id), current)
            self._release_name_guard(transaction, "scope", current["name"], scope_id)
            transaction.add(
                self._audit(actor, AuditAction.DELETE, "scope", scope_id, before=visible(current))
            )
            transaction.commit(self.client)

        retry_once(attempt, f"scope {scope_id}")

    # --- custom roles -----------------------------------------------------------------------------

    def get_role(self, name: str) -> dict[str, Any] | None:
        item = self._get(role_key(name))
        return visible(item) if item else None

    def list_roles(self, limit: int, next_token: str | None) -> Page:
        return self._list("ROLES", limit, next_token)

    def create_role(
        self, *, name: str, description: str, permissions: list[str], actor: Actor
    ) -> dict[str, Any]:
        item = {
            **role_key(name),
            "item_type": "role",
            "gsi2pk": "ROLES",
            "gsi2sk": name,
            "name": name,
            "description": description,
            "permissions": sorted(set(permissions)),
            **_created(actor, now_iso()),
            "uses_version": 0,
        }
        transaction = self._transaction()
        transaction.put_new(item, _name_taken("role", name))
        transaction.add(self._audit(actor, AuditAction.CREATE, "role", name, after=visible(item)))
        self._commit_new(transaction, f"role {name}")
        return visible(item)

    def update_role(
        self, name: str, changes: Mapping[str, Any], actor: Actor, expected_version: int | None = None
    ) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            current = self._read(role_key(name), f"role {name}", expected_version)
            wanted = dict(changes)
            if "permissions" in wanted:
                wanted["permissions"] = sorted(set(wanted["permissions"]))
            changed = _changed_fields(current, wanted)
            if not changed:
                return visible(current)
            transaction = self._transaction()
            after = self._versioned_update(transaction, role_key(name), current, changed, actor)
            transaction.add(
                self._audit(actor, AuditAction.UPDATE, "role", name, before=visible(current), after=after)
            )
            transaction.commit(self.client)
            return after

        return retry_once(attempt, f"role {name}")

    def delete_role(self, name: str, actor: Actor, expected_version: int | None = None) -> None:
        def attempt() -> None:
            current = self._read(role_key(name), f"role {name}", expected_version)
            self._refuse_if_used(Reference("role", name), f"role {name}")
            transaction = self._transaction()
            self._delete_unused(transaction, role_key(name), current)
            transaction.add(self._audit(actor, AuditAction.DELETE, "role", name, before=visible(current)))
            transaction.commit(self.client)

        retry_once(attempt, f"role {name}")

    # --- users ------------------------------------------------------------------------------------

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        item = self._get(user_key(user_id))
        return visible(item) if item else None

    def list_users(self, limit: int, next_token: str | None) -> Page:
        return self._list("USERS", limit, next_token)

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
        user_id, now = new_user_id(), now_iso()
        item = {
            **user_item(
                user_id=user_id,
                name=name,
                email=email,
                kind=kind,
                role_bindings=role_bindings,
                enabled=enabled,
                created_at=now,
                created_by=actor_id(actor),
            ),
            "updated_by": actor_id(actor),
        }
        transaction = self._transaction()
        transaction.put_new(item)
        transaction.put_new(self._name_guard("user", name, user_id), _name_taken("user", name))
        for reference in sorted(binding_references(role_bindings)):
            self._add_reference(transaction, reference, "user", user_id, name)
        transaction.add(self._audit(actor, AuditAction.CREATE, "user", user_id, after=visible(item)))
        self._commit_new(transaction, f"user {name}")
        return visible(item)

    def update_user(
        self, user_id: str, changes: Mapping[str, Any], actor: Actor, expected_version: int | None = None
    ) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            current = self._read(user_key(user_id), f"user {user_id}", expected_version)
            changed = _changed_fields(current, changes)
            if not changed:
                return visible(current)
            if changed.get("enabled") is False:
                # Disabling ends the user's tokens for good: enabling the user again later must not
                # revive a token that leaked meanwhile. Tokens carry the generation they were issued in.
                changed["token_generation"] = int(current.get("token_generation", 0)) + 1
            name = changed.get("name", current["name"])
            if "name" in changed:
                changed["gsi2sk"] = f"{name}#{user_id}"
            transaction = self._transaction()
            after = self._versioned_update(transaction, user_key(user_id), current, changed, actor)
            if "name" in changed:
                self._move_name_guard(transaction, "user", current["name"], name, user_id)
            before_refs = binding_references(current.get("role_bindings") or [])
            after_refs = binding_references(after.get("role_bindings") or [])
            for reference in sorted(after_refs - before_refs):
                self._add_reference(transaction, reference, "user", user_id, name)
            if "name" in changed:  # references carry the referrer's name, for the 409s that cite it
                for reference in sorted(after_refs & before_refs):
                    transaction.put(reference_item(reference, "user", user_id, name))
            for reference in sorted(before_refs - after_refs):
                transaction.delete(reference_key(reference, "user", user_id))
            transaction.add(
                self._audit(actor, AuditAction.UPDATE, "user", user_id, before=visible(current), after=after)
            )
            transaction.commit(self.client)
            return after

        return retry_once(attempt, f"user {user_id}")

    def delete_user(self, user_id: str, actor: Actor, expected_version: int | None = None) -> None:
        """The user's tokens stay as history; they stop working because their user is gone."""

        def attempt() -> None:
            current = self._read(user_key(user_id), f"user {user_id}", expected_version)
            transaction = self._transaction()
            transaction.add(delete_as_read(user_key(user_id), current, ("version",)), StaleRead())
            self._release_name_guard(transaction, "user", current["name"], user_id)
            for reference in sorted(binding_references(current.get("role_bindings") or [])):
                transaction.delete(reference_key(reference, "user", user_id))
            transaction.add(self._audit(actor, AuditAction.DELETE, "user", user_id, before=visible(current)))
            transaction.commit(self.client)

        retry_once(attempt, f"user {user_id}")

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
        transaction = self._transaction()
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
        transaction.add(
            self._audit(
                actor,
                AuditAction.TOKEN_ISSUE,
                "token",
                token_id,
                after=visible(item),
                details={"user_id": user_id},
            )
        )
        self._commit_new(transaction, f"user {user_id}")
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
        transaction = self._transaction()
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
                actor,
                AuditAction.TOKEN_REVOKE,
                "token",
                token_id,
                before=visible(token),
                after=after,
                details={"user_id": user_id},
            )
        )
        self._commit_new(transaction, f"token {token_id}")
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

    # --- references -------------------------------------------------------------------------------

    def referrers(
        self, reference: Reference, limit: int = REFERRERS_NAMED
    ) -> tuple[list[dict[str, Any]], bool]:
        return referrers(self.client, self.table_name, reference, limit)

    def _refuse_if_used(self, reference: Reference, what: str) -> None:
        refuse_if_used(self.client, self.table_name, reference, what)

    def _add_reference(
        self,
        transaction: Transaction,
        reference: Reference,
        referrer_type: str,
        referrer_id: str,
        referrer_name: str,
    ) -> None:
        add_reference(transaction, reference, referrer_type, referrer_id, referrer_name, "body.role_bindings")

    def _delete_unused(self, transaction: Transaction, key: dict[str, str], current: dict[str, Any]) -> None:
        """The delete of a scope or role that the reference query found unused: it must still be
        the item read, and no reference may have been added since (`uses_version`)."""
        transaction.add(delete_as_read(key, current, ("version", "uses_version")), StaleRead())

    # --- helpers ----------------------------------------------------------------------------------

    def _transaction(self) -> Transaction:
        return Transaction(self.table_name)

    def _commit_new(self, transaction: Transaction, what: str) -> None:
        """Commit a transaction that depends on no earlier read. DynamoDB may still cancel it when
        another transaction touches one of its items at the same moment (two users bound to one scope
        bump its `uses_version`): sending it again is safe, it wrote nothing."""
        retry_once(lambda: transaction.commit(self.client), what)

    def _audit(
        self,
        actor: Actor,
        action: str,
        entity_type: str,
        entity_id: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        event = audit_event(
            actor, action, entity_type, entity_id, before=before, after=after, details=details
        )
        return audit_put(self.table_name, event, get_settings().audit_retention_days)

    def _versioned_update(
        self,
        transaction: Transaction,
        key: dict[str, str],
        current: dict[str, Any],
        changed: dict[str, Any],
        actor: Actor,
    ) -> dict[str, Any]:
        return versioned_update(transaction, key, current, changed, actor)

    def _name_guard(self, kind: str, name: str, owner_id: str) -> dict[str, Any]:
        return {**name_guard_key(kind, name), "item_type": "name_guard", "owner_id": owner_id}

    def _move_name_guard(
        self, transaction: Transaction, kind: str, old: str, new: str, owner_id: str
    ) -> None:
        transaction.put_new(self._name_guard(kind, new, owner_id), _name_taken(kind, new))
        self._release_name_guard(transaction, kind, old, owner_id)

    def _release_name_guard(self, transaction: Transaction, kind: str, name: str, owner_id: str) -> None:
        """Delete the guard of `name` if `owner_id` holds it. Items written outside the directory (the
        bootstrap user, older data) have none, and another entity's guard of the same name must stay."""
        guard = self._get(name_guard_key(kind, name))
        if guard is None or guard.get("owner_id") != owner_id:
            return
        transaction.add(
            {
                "Delete": {
                    "Key": to_item(name_guard_key(kind, name)),
                    "ConditionExpression": "owner_id = :owner",
                    "ExpressionAttributeValues": expression_values({":owner": owner_id}),
                }
            },
            StaleRead(),
        )

    def _list(self, partition: str, limit: int, next_token: str | None) -> Page:
        page = query_page(
            self.client,
            self.table_name,
            index="gsi2",
            partition=("gsi2pk", partition),
            limit=limit,
            next_token=next_token,
        )
        return page.mapped(visible)

    def _read(self, key: dict[str, str], what: str, expected_version: int | None) -> dict[str, Any]:
        """The item to change, which must be at `expected_version` when the caller named one."""
        item = self._get(key)
        if item is None:
            raise NotFound(f"{what} not found")
        ensure_version(what, item, expected_version)
        return item


def default_directory() -> Directory:
    """The directory of the configured table, sharing the store's client (one per environment)."""
    store = default_store()
    return Directory(store.table_name, client=store.client)


def referrers(
    client: Any, table_name: str, reference: Reference, limit: int = REFERRERS_NAMED
) -> tuple[list[dict[str, Any]], bool]:
    """Who uses a scope, role or integration (strongly consistent: the delete's safety depends on it),
    and whether there are more than `limit`."""
    response = client.query(
        TableName=table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=expression_values({":pk": reference.partition}),
        ConsistentRead=True,
        Limit=limit,
    )
    items = [from_item(item) for item in response.get("Items", [])]
    found = [
        {"type": item["referrer_type"], "id": item["referrer_id"], "name": item.get("referrer_name")}
        for item in items
    ]
    return found, bool(response.get("LastEvaluatedKey"))


def refuse_if_used(client: Any, table_name: str, reference: Reference, what: str) -> None:
    """A 409 naming the referrers of `reference`, if it has any. The delete that follows must be
    conditional on the `uses_version` read before this query (see the module's docstring)."""
    found, more = referrers(client, table_name, reference)
    if not found:
        return
    named = ", ".join(f"{r['type']} {r['name'] or r['id']} ({r['id']})" for r in found)
    raise Conflict(
        f"{what} is in use by {named}{', and more' if more else ''}: remove those uses first",
        details=found,
    )


def reference_key(reference: Reference, referrer_type: str, referrer_id: str) -> dict[str, str]:
    return {"pk": reference.partition, "sk": f"{referrer_type}#{referrer_id}"}


def reference_item(
    reference: Reference, referrer_type: str, referrer_id: str, referrer_name: str
) -> dict[str, Any]:
    return {
        **reference_key(reference, referrer_type, referrer_id),
        "item_type": "reference",
        "referrer_type": referrer_type,
        "referrer_id": referrer_id,
        "referrer_name": referrer_name,
    }


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


def add_reference(
    transaction: Transaction,
    reference: Reference,
    referrer_type: str,
    referrer_id: str,
    referrer_name: str,
    location: str,
    *,
    must_have: Mapping[str, Any] | None = None,
) -> None:
    """The reference item, and the bump of the target's `uses_version` that makes any delete of the
    target decided on an older read fail (see the module's docstring). A missing target (or one without
    the attribute values of `must_have`, e.g. an integration's type) is a 422 on `location`, the request
    field that named it."""
    transaction.put(reference_item(reference, referrer_type, referrer_id, referrer_name))
    condition, names, values = "attribute_exists(pk)", {}, {":one": 1}
    for number, (attribute, value) in enumerate(sorted((must_have or {}).items())):
        names[f"#m{number}"] = attribute
        values[f":m{number}"] = value
        condition += f" AND #m{number} = :m{number}"
    update: dict[str, Any] = {
        "Key": to_item(reference.target_key),
        "UpdateExpression": "ADD uses_version :one",
        "ConditionExpression": condition,
        "ExpressionAttributeValues": expression_values(values),
    }
    if names:
        update["ExpressionAttributeNames"] = names
    wanted = "".join(f" with {attribute} {value}" for attribute, value in sorted((must_have or {}).items()))
    transaction.add(
        {"Update": update},
        InvalidInput(
            f"{reference.kind} {reference.key} does not exist{wanted}",
            details=[{"location": location, "message": f"unknown {reference.kind}{wanted}"}],
        ),
    )


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


def _created(actor: Actor, now: str) -> dict[str, Any]:
    by = actor_id(actor)
    return {"created_at": now, "created_by": by, "updated_at": now, "updated_by": by, "version": 1}


def actor_id(actor: Actor) -> str:
    return actor.user_id or "unknown"


def _name_taken(kind: str, name: str) -> Conflict:
    return Conflict(
        f"a {kind} named {name} already exists",
        details=[{"location": "body.name", "message": "already in use"}],
    )


def _changed_fields(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `wanted` whose value differs from the stored one (None: the field is removed)."""
    return {name: value for name, value in wanted.items() if current.get(name) != value}


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
