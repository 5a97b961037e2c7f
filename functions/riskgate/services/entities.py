"""Managed entities as callers see them: the one scope rule for reading and changing an entity that has a
scope of its own (assurance policies, response policies, integrations), and the use cases every such
entity shares. The store of each (riskgate.adapters.entities) owns storage and concurrency.

**The scope rule.** A caller sees an entity with its read permission granted in the entity's scope or in
`global` (else it does not exist for them: 404, and lists leave it out) — not `scopes:global`, which
guards acting in the global scope: developers must see the policies that judge their images. A caller
changes it with its manage permission there — plus `scopes:global` when the scope is `global` — else 403;
moving it to another scope needs the same there. A change may name the version it was made from
(riskgate.domain.versions): else 409.

An entity declares itself with an `EntityRules`: what it is called, its two permissions, where its scope
is. Its own service adds only what is its own (validation, what it may reference).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.domain.access import Access
from riskgate.domain.audit import Actor
from riskgate.domain.errors import InvalidInput, NotFound, PermissionDenied
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.domain.versions import ensure_version
from riskgate.services.pages import visible_page

# Called with the entity as read (before every attempt of a change): raises when the caller may not
# change it.
Check = Callable[[dict[str, Any]], None]


def _own_scope(entity: Mapping[str, Any]) -> str:
    return str(entity["scope"])


@dataclass(frozen=True)
class EntityRules:
    """Who may read and change one kind of entity."""

    # As messages name it: "assurance policy" (404s, version conflicts: "assurance policy pol-… not found").
    what: str
    # As a refusal names one of them: "a policy" ("changing a policy in the scope … needs …").
    one: str
    read: Permission
    manage: Permission
    # Where an entity's scope is (an integration stored before scopes existed has none: `global`).
    scope_of: Callable[[Mapping[str, Any]], str] = _own_scope

    def may_read(self, access: Access, scope: str) -> bool:
        scopes = access.visible_scope_ids(self.read)
        return scopes is None or scope in scopes

    def may_see(self, access: Access, entity: Mapping[str, Any]) -> bool:
        return self.may_read(access, self.scope_of(entity))

    def ensure_may_manage(self, access: Access, scope: str, doing: str) -> None:
        if not access.may_in_scope(self.manage, scope):
            needs = " and scopes:global" if scope == GLOBAL_SCOPE else ""
            raise PermissionDenied(
                f"{doing} {self.one} in the scope {scope} needs {self.manage.value} there{needs}"
            )

    def not_found(self, entity_id: str) -> NotFound:
        return NotFound(f"{self.what} {entity_id} not found")

    def readable(self, access: Access, entity_id: str, entity: dict[str, Any] | None) -> dict[str, Any]:
        """The entity; 404 alike when there is none and when the caller may not see it."""
        if entity is None or not self.may_see(access, entity):
            raise self.not_found(entity_id)
        return entity

    def check_for(
        self,
        access: Access,
        entity_id: str,
        *,
        doing: str = "changing",
        new_scope: str | None = None,
        expected_version: int | None = None,
        then: Check | None = None,
    ) -> Check:
        """What the caller must be allowed on the entity as read: to see it (else 404), to manage it in
        its scope and in the one it moves to (else 403); the version it must be at when the caller named
        one (else 409). `then` runs, with the entity as read, once that holds."""

        def check(current: dict[str, Any]) -> None:
            scope = self.scope_of(current)
            if not self.may_read(access, scope):
                raise self.not_found(entity_id)
            self.ensure_may_manage(access, scope, doing)
            if new_scope is not None and new_scope != scope:
                self.ensure_may_manage(access, new_scope, "moving")
            ensure_version(f"{self.what} {entity_id}", current, expected_version)
            if then is not None:
                then(current)

        return check


class EntityPort(Protocol):
    """A store of one kind of entity (riskgate.adapters.entities.EntityStore)."""

    def get(self, entity_id: str) -> dict[str, Any] | None: ...
    def list_page(self, limit: int, next_token: str | None) -> Page: ...
    def create(self, fields: Mapping[str, Any], actor: Actor) -> dict[str, Any]: ...
    def update(
        self, entity_id: str, changes: Mapping[str, Any], actor: Actor, check: Check
    ) -> dict[str, Any]: ...
    def delete(self, entity_id: str, actor: Actor, check: Check) -> None: ...


# --- the use cases --------------------------------------------------------------------------------


def get(rules: EntityRules, port: EntityPort, access: Access, entity_id: str) -> dict[str, Any]:
    return rules.readable(access, entity_id, port.get(entity_id))


def list_visible(
    rules: EntityRules,
    read: Callable[[int, str | None], Page],
    access: Access,
    limit: int,
    next_token: str | None,
) -> Page:
    """A page of those the caller may see, in the store's order (riskgate.services.pages)."""
    return visible_page(read, lambda entity: rules.may_see(access, entity), limit, next_token)


def create(
    rules: EntityRules, port: EntityPort, access: Access, actor: Actor, wanted: Mapping[str, Any]
) -> dict[str, Any]:
    """`wanted`: validated fields, the scope among them."""
    rules.ensure_may_manage(access, wanted["scope"], "creating")
    return port.create(wanted, actor)


def update(
    rules: EntityRules,
    port: EntityPort,
    access: Access,
    actor: Actor,
    entity_id: str,
    wanted: Mapping[str, Any],
    *,
    expected_version: int | None = None,
    then: Check | None = None,
) -> dict[str, Any]:
    """`wanted`: the validated fields to change (a `scope` among them moves the entity)."""
    check = rules.check_for(
        access, entity_id, new_scope=wanted.get("scope"), expected_version=expected_version, then=then
    )
    return port.update(entity_id, wanted, actor, check)


def delete(
    rules: EntityRules,
    port: EntityPort,
    access: Access,
    actor: Actor,
    entity_id: str,
    *,
    expected_version: int | None = None,
) -> None:
    port.delete(entity_id, actor, rules.check_for(access, entity_id, expected_version=expected_version))


@contextmanager
def body_fields() -> Iterator[None]:
    """Domain 422s name fields (`config.to[1]`); the API's name the part of the request too
    (`body.config.to[1]`), as its other 422s do."""
    try:
        yield
    except InvalidInput as error:
        details = [
            {"location": f"body.{detail['field']}", "message": error.message}
            for detail in error.details
            if isinstance(detail, dict) and "field" in detail
        ]
        raise InvalidInput(error.message, details=details or error.details) from error
