"""How a managed entity is stored: versioned, audited, bound to a scope, possibly using other items.

An entity of a kind is one item, pk `<PREFIX>#<id>`, sk `META`, listed by name through gsi2
(`<LIST PARTITION>` / `<name>#<id>`); its fields are its API fields and the bookkeeping: version,
created/updated at/by. A subclass of `EntityStore` declares only what is its own: the key prefix, how ids
are minted, the item type, the list partition, the audit entity type, the names messages use, and what
the entity uses (`uses`: its scope other than `global`, an integration… — each a directory reference).

Every change is one TransactWriteItems: the item's write; the use references (riskgate.adapters.references)
kept in step with the entity — each added with the bump of its target's `uses_version` on condition that
the target exists, so that nothing the entity uses can be deleted meanwhile, and renamed along with the
entity (a 409 names its referrers by name); and its audit event. Updates and deletes are conditional on the
version read and run a `Check` against the entity as read first (who may change it, and the version the
caller named); a stale read is retried once from a fresh read, then a 409.

An entity keyed by its name (`id_field = "name"`: integrations, roles) has no minted id; its gsi2 sort
key is the name alone, and a second one of the name is refused (`_name_taken`). An entity with a minted id
and a unique name (`unique_name`: scopes, users) owns its name through a guard item
`NAME#<kind>#<name>`, created on condition that it does not exist in the entity's transaction, moved with
a rename, released with the delete. An entity other entities use
(`used_as`: the reference kind it is the target of) is stored with `uses_version` 0, and
its delete is refused (409 naming the referrers) while it is used, conditional on `uses_version` as read
before looking for them.

An entity can have a *virtual* form, shown but not stored (the default assurance policy): `_read` returns
it with `stored: False`, and a subclass decides how its first change and its delete are stored.

Every change also bumps the configuration version (riskgate.adapters.config_version) in the same
transaction: what a function instance keeps of scopes, roles and policies is good exactly while that
version is unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from riskgate.adapters.audit_log import audit_entry
from riskgate.adapters.config_version import version_bump
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
from riskgate.adapters.references import (
    Reference,
    ReferenceKind,
    add_reference,
    reference_item,
    reference_key,
    refuse_if_used,
)
from riskgate.adapters.transactions import (
    StaleRead,
    Transaction,
    actor_id,
    delete_as_read,
    retry_once,
    versioned_update,
    visible,
)
from riskgate.domain.audit import Actor, AuditAction
from riskgate.domain.errors import Conflict, NotFound
from riskgate.domain.permissions import GLOBAL_SCOPE

# Called with the entity as read (before every attempt): raises when the caller may not change it.
Check = Callable[[dict[str, Any]], None]
# Called with the entity as read (before every attempt): the fields to change (raises like a `Check`).
Changes = Callable[[dict[str, Any]], Mapping[str, Any]]

# What an entity uses: each reference, with the request field that named its target (a 422 on it when
# the target does not exist) and the attribute values the target must have (None: any).
Uses = dict[Reference, tuple[str, dict[str, Any] | None]]

SCOPE_FIELD = "body.scope"
# What an entity as read carries that it does not show: whether it is stored (a virtual one is not),
# and how often it was used (the condition of its delete).
_BOOKKEEPING = frozenset({"stored", "uses_version"})


def scope_use(scope: str) -> Uses:
    """The use of the entity's scope; the global scope is code: nothing to reference, nothing that
    could be deleted."""
    return {} if scope == GLOBAL_SCOPE else {Reference("scope", scope): (SCOPE_FIELD, None)}


def shown(fields: Mapping[str, Any]) -> dict[str, Any]:
    """An entity as the API and audit events show it: without the bookkeeping of `_read`."""
    return {key: value for key, value in fields.items() if key not in _BOOKKEEPING}


class EntityStore(TableClient):
    """The stored entities of one kind. `client` is created lazily when not given."""

    # pk `<key_prefix>#<id>`.
    key_prefix: ClassVar[str]
    # The field that is the id: "id", minted at creation; or "name", given (unique by construction).
    id_field: ClassVar[str] = "id"
    # New ids (id_field "id"): `<id_prefix><16 hex digits>`.
    id_prefix: ClassVar[str]
    item_type: ClassVar[str]
    # gsi2pk of every entity of the kind: the list by name.
    list_partition: ClassVar[str]
    # The audit event's entity type, and the referrer type of its use references.
    entity_type: ClassVar[str]
    referrer_type: ClassVar[str]
    # As messages name it: "response policy" (404s), and in the 409 of a concurrent change.
    what: ClassVar[str]
    what_changed: ClassVar[str]
    # The reference kind whose target the entity is, when other entities use it.
    used_as: ClassVar[ReferenceKind | None] = None
    # The kind of the name guard of an entity whose name is unique but not its key (None: none).
    unique_name: ClassVar[str | None] = None

    # --- what an entity declares -----------------------------------------------------------------

    def key(self, entity_id: str) -> dict[str, str]:
        return {"pk": f"{self.key_prefix}#{entity_id}", "sk": "META"}

    def new_id(self) -> str:
        return self.id_prefix + secrets.token_hex(8)

    def entity_id(self, fields: Mapping[str, Any]) -> str:
        return str(fields[self.id_field])

    def list_sort_key(self, fields: Mapping[str, Any]) -> str:
        """gsi2sk: by name, then id (names need not be unique); the name alone when it is the key."""
        name = fields["name"]
        return name if self.id_field == "name" else f"{name}#{self.entity_id(fields)}"

    def called(self, fields: Mapping[str, Any]) -> str:
        """How a 409 on its delete names it: "scope team-a" (its id by default)."""
        return f"{self.what} {self.entity_id(fields)}"

    def uses(self, fields: Mapping[str, Any]) -> Uses:
        """What the entity uses, as it is: by default its scope."""
        return scope_use(fields["scope"])

    def index_keys(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Keys of further indexes, as the entity is (None: not in that index)."""
        return {}

    def item(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **self.key(self.entity_id(fields)),
            "item_type": self.item_type,
            "gsi2pk": self.list_partition,
            "gsi2sk": self.list_sort_key(fields),
            **{key: value for key, value in self.index_keys(fields).items() if value is not None},
            **fields,
        }

    # --- reading ----------------------------------------------------------------------------------

    def get(self, entity_id: str) -> dict[str, Any] | None:
        """The entity as the API shows it; None when there is none or it was deleted."""
        current = self._read(entity_id)
        return None if current is None or current.get("deleted") else shown(current)

    def list_page(self, limit: int, next_token: str | None) -> Page:
        """By name; deleted ones (tombstones) left out."""
        page = query_page(
            self.client,
            self.table_name,
            index="gsi2",
            partition=("gsi2pk", self.list_partition),
            limit=limit,
            next_token=next_token,
        )
        return page.kept(lambda item: not item.get("deleted")).mapped(visible)

    def query_all(self, index: str, attribute: str, partition: str) -> list[dict[str, Any]]:
        """Every item of an index partition, as stored (paged Queries; eventually consistent)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": f"{attribute} = :pk",
            "ExpressionAttributeValues": expression_values({":pk": partition}),
        }
        while True:
            response = self.client.query(**kwargs)
            items += [from_item(item) for item in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # --- changing ---------------------------------------------------------------------------------

    def create(self, fields: Mapping[str, Any], actor: Actor) -> dict[str, Any]:
        """Store a new entity; `fields` are its API fields without a minted id and bookkeeping."""
        now, by = now_iso(), actor_id(actor)
        created = {
            **({"id": self.new_id()} if self.id_field == "id" else {}),
            **fields,
            "version": 1,
            "created_at": now,
            "created_by": by,
            "updated_at": now,
            "updated_by": by,
        }
        entity_id = self.entity_id(created)
        item = self.item(created)
        if self.used_as is not None:
            item["uses_version"] = 0
        transaction = Transaction(self.table_name)
        transaction.put_new(item, self._name_taken(created["name"]) if self.id_field == "name" else None)
        if self.unique_name is not None:
            guard = self._name_guard(created["name"], entity_id)
            transaction.put_new(guard, self._name_taken(created["name"]))
        self._move_uses(transaction, {}, created)
        transaction.add(self._audit(actor, AuditAction.CREATE, entity_id, after=created))
        transaction.add(self._version_bump(created=entity_id))
        retry_once(lambda: transaction.commit(self.client), f"{self.what_changed} {created['name']}")
        return created

    def update(
        self, entity_id: str, changes: Mapping[str, Any], actor: Actor, check: Check
    ) -> dict[str, Any]:
        """Apply the fields in `changes` that differ; a change that changes nothing writes nothing."""

        def changes_of(current: dict[str, Any]) -> Mapping[str, Any]:
            check(current)
            return changes

        return self.revise(entity_id, changes_of, actor)

    def revise(self, entity_id: str, changes_of: Changes, actor: Actor) -> dict[str, Any]:
        """`update` with the changes decided on the entity as read (by `changes_of`, at every attempt)."""

        def attempt() -> dict[str, Any]:
            current = self._existing(entity_id)
            changed = {
                name: value for name, value in changes_of(current).items() if current.get(name) != value
            }
            if not changed:
                return shown(current)
            transaction = Transaction(self.table_name)
            after = self._write_update(transaction, current, changed, actor)
            if "name" in changed:
                self._move_name_guard(transaction, current, after)
            self._move_uses(transaction, current, after)
            before = shown(current)
            transaction.add(self._audit(actor, AuditAction.UPDATE, entity_id, before=before, after=after))
            transaction.add(self._version_bump())
            transaction.commit(self.client)
            return after

        return retry_once(attempt, f"{self.what_changed} {entity_id}")

    def delete(self, entity_id: str, actor: Actor, check: Check) -> None:
        def attempt() -> None:
            current = self._existing(entity_id)
            check(current)
            transaction = Transaction(self.table_name)
            self._write_delete(transaction, current, actor)
            self._release_name_guard(transaction, current)
            for reference in sorted(self._stored_uses(current)):
                transaction.delete(reference_key(reference, self.referrer_type, entity_id))
            transaction.add(self._audit(actor, AuditAction.DELETE, entity_id, before=shown(current)))
            transaction.add(self._version_bump(deleted=entity_id))
            transaction.commit(self.client)

        retry_once(attempt, f"{self.what_changed} {entity_id}")

    # --- what a subclass may change -------------------------------------------------------------

    def _read(self, entity_id: str) -> dict[str, Any] | None:
        """The entity as stored (a tombstone included), without keys (its bookkeeping kept: `shown`
        leaves it out); None when there is none."""
        item = self._get(self.key(entity_id))
        return public_fields(item) if item is not None else None

    def _write_update(
        self, transaction: Transaction, current: dict[str, Any], changed: dict[str, Any], actor: Actor
    ) -> dict[str, Any]:
        """The update of a stored entity, conditional on the version read: the entity as it will be."""
        entity_id = self.entity_id(current)
        if "name" in changed:
            changed["gsi2sk"] = self.list_sort_key({**current, **changed})
        index = self.index_keys({**current, **changed})
        if index != self.index_keys(current):
            changed.update(index)
        return shown(versioned_update(transaction, self.key(entity_id), current, changed, actor))

    def _write_delete(self, transaction: Transaction, current: dict[str, Any], actor: Actor) -> None:
        """Conditional on the version read; of an entity others may use, refused while it is used."""
        entity_id, read = self.entity_id(current), ["version"]
        if self.used_as is not None:
            reference = Reference(self.used_as, entity_id)
            refuse_if_used(self.client, self.table_name, reference, self.called(current))
            read.append("uses_version")
        transaction.add(delete_as_read(self.key(entity_id), current, read), StaleRead())

    # --- helpers ----------------------------------------------------------------------------------

    def _existing(self, entity_id: str) -> dict[str, Any]:
        current = self._read(entity_id)
        if current is None or current.get("deleted"):
            raise NotFound(f"{self.what} {entity_id} not found")
        return current

    def _stored_uses(self, fields: Mapping[str, Any]) -> Uses:
        """The references stored for the entity: none while it is virtual."""
        return self.uses(fields) if fields.get("stored", True) else {}

    def _move_uses(
        self, transaction: Transaction, before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> None:
        """Keep the use references in step with the entity (`before`: {} when it is new)."""
        old, new = self._stored_uses(before) if before else {}, self.uses(after)
        entity_id, name = self.entity_id(after), after["name"]
        for reference, (location, must_have) in sorted(new.items()):
            if reference not in old:
                add_reference(
                    transaction, reference, self.referrer_type, entity_id, name, location, must_have=must_have
                )
            elif before["name"] != name:
                # References carry the referrer's name, for the 409 that cites it.
                transaction.put(reference_item(reference, self.referrer_type, entity_id, name))
        for reference in sorted(set(old) - set(new)):
            transaction.delete(reference_key(reference, self.referrer_type, entity_id))

    def _name_guard(self, name: str, owner_id: str) -> dict[str, Any]:
        return {
            **name_guard_key(str(self.unique_name), name),
            "item_type": "name_guard",
            "owner_id": owner_id,
        }

    def _move_name_guard(
        self, transaction: Transaction, before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> None:
        if self.unique_name is None:
            return
        transaction.put_new(
            self._name_guard(after["name"], self.entity_id(after)), self._name_taken(after["name"])
        )
        self._release_name_guard(transaction, before)

    def _release_name_guard(self, transaction: Transaction, current: Mapping[str, Any]) -> None:
        """Delete the guard of the entity's name if the entity holds it. Items written outside the store
        (the bootstrap user, older data) have none, and another entity's guard of the name must stay."""
        if self.unique_name is None:
            return
        key, owner_id = name_guard_key(self.unique_name, current["name"]), self.entity_id(current)
        guard = self._get(key)
        if guard is None or guard.get("owner_id") != owner_id:
            return
        transaction.add(
            {
                "Delete": {
                    "Key": to_item(key),
                    "ConditionExpression": "owner_id = :owner",
                    "ExpressionAttributeValues": expression_values({":owner": owner_id}),
                }
            },
            StaleRead(),
        )

    def _name_taken(self, name: str) -> Exception:
        """The 409 of a second entity of the name (its key, id_field "name", or its guard, `unique_name`)."""
        article = "an" if self.what[:1] in ("a", "e", "i", "o", "u") else "a"
        return Conflict(
            f"{article} {self.what} named {name} already exists",
            details=[{"location": "body.name", "message": "already in use"}],
        )

    def _version_bump(self, *, created: str | None = None, deleted: str | None = None) -> dict[str, Any]:
        """The change's mark on the configuration version, last in its transaction (no condition).
        `created` / `deleted`: the entity's id when the change creates or deletes it."""
        return version_bump(self.table_name)

    def _audit(self, actor: Actor, action: str, entity_id: str, **states: Any) -> dict[str, Any]:
        """`states`: `before` and/or `after`."""
        return audit_entry(self.table_name, actor, action, self.entity_type, entity_id, **states)


def name_guard_key(kind: str, name: str) -> dict[str, str]:
    return {"pk": f"NAME#{kind}#{name}", "sk": "NAME"}
