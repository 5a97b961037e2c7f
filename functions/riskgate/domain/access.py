"""Who may do what, where: scopes (sets of images by glob), grants, and the checks routes make.

A caller's role bindings become grants: the permissions of a role, in a scope. A grant in the global
scope covers everything. An image is in a scope when any of the scope's selectors matches it; an object
that has a scope of its own (a policy, an acceptance) is covered by a grant in that same scope or in
the global scope. Plain logic: the handlers load scopes and roles and build an `Access` per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from riskgate.domain.permissions import GLOBAL_SCOPE, SYSTEM_ROLES, Permission


@dataclass(frozen=True)
class ResourceSelector:
    """Globs over an image's registry, repository and tags; a field left out matches anything."""

    registry: str | None = None
    repository: str | None = None
    tag: str | None = None

    def matches(self, registry: str, repository: str, tags: Iterable[str]) -> bool:
        if self.registry is not None and not fnmatchcase(registry, self.registry):
            return False
        if self.repository is not None and not fnmatchcase(repository, self.repository):
            return False
        if self.tag is not None:
            return any(fnmatchcase(tag, self.tag) for tag in tags)
        return True


@dataclass(frozen=True)
class ScopeDefinition:
    id: str
    selectors: tuple[ResourceSelector, ...] = ()

    @property
    def is_global(self) -> bool:
        return self.id == GLOBAL_SCOPE

    def contains_image(self, registry: str, repository: str, tags: Iterable[str]) -> bool:
        if self.is_global:
            return True
        tags = list(tags)
        return any(selector.matches(registry, repository, tags) for selector in self.selectors)

    def covers_repository(self, registry: str, repository: str) -> bool:
        """Whether every tag of the repository (those to come too) lies in this scope."""
        return self.is_global or any(
            selector.tag in (None, "*")
            and ResourceSelector(selector.registry, selector.repository).matches(registry, repository, ())
            for selector in self.selectors
        )

    def touches_repository(self, registry: str, repository: str) -> bool:
        """Whether some tag of the repository may lie in this scope."""
        return self.is_global or any(
            ResourceSelector(selector.registry, selector.repository).matches(registry, repository, ())
            for selector in self.selectors
        )

    def contains_scope(self, scope_id: str) -> bool:
        """Whether an object whose own scope is `scope_id` lies in this scope."""
        return self.is_global or self.id == scope_id


GLOBAL = ScopeDefinition(GLOBAL_SCOPE)


@dataclass(frozen=True)
class Grant:
    permissions: frozenset[Permission]
    scope: ScopeDefinition


@dataclass(frozen=True)
class ImageTarget:
    """What scopes are matched against for an image."""

    registry: str
    repository: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Access:
    """What one caller may do, and where. Built per request from the caller's bindings."""

    user_id: str
    token_id: str
    grants: tuple[Grant, ...]

    def has_anywhere(self, permission: Permission) -> bool:
        return any(permission in grant.permissions for grant in self.grants)

    def has_globally(self, permission: Permission) -> bool:
        return any(permission in g.permissions and g.scope.is_global for g in self.grants)

    def may_on_image(self, permission: Permission, image: ImageTarget) -> bool:
        return any(
            permission in g.permissions
            and g.scope.contains_image(image.registry, image.repository, image.tags)
            for g in self.grants
        )

    def may_change_image(
        self,
        permission: Permission,
        registry: str,
        repository: str,
        tag: str | None,
        known_tags: Iterable[str],
    ) -> bool:
        """Whether the caller may change an image named with `tag` that already carries `known_tags`.

        An image is one digest, and a digest can be named with any tag: holding the permission for the
        tag one names is not enough, the caller must hold it for every tag the image already has (each
        on its own). Otherwise one team could name its own tag with another team's digest and take over
        that team's image (and, through its own tag on it, see it)."""
        named = ImageTarget(registry, repository, (tag,) if tag else ())
        known = tuple(known_tags)
        return self.may_on_image(permission, named) and (
            not known or self.may_on_every_tag(permission, registry, repository, known)
        )

    def may_on_every_tag(
        self, permission: Permission, registry: str, repository: str, tags: Iterable[str]
    ) -> bool:
        """Whether the caller holds `permission` for each of the image's tags on its own (for an
        untagged image: for the image). Seeing an image needs one of its names; changing what every
        holder of its names relies on needs all of them."""
        tags = tuple(tags)
        if not tags:
            return self.may_on_image(permission, ImageTarget(registry, repository, ()))
        return all(self.may_on_image(permission, ImageTarget(registry, repository, (tag,))) for tag in tags)

    def may_on_repository(
        self, permission: Permission, registry: str, repository: str, *, whole: bool
    ) -> bool:
        """With `whole`, a grant must cover every tag of the repository (to act on all of them); else
        one covering some of its tags will do (to see something about it)."""
        return any(
            permission in g.permissions
            and (
                g.scope.covers_repository(registry, repository)
                if whole
                else g.scope.touches_repository(registry, repository)
            )
            for g in self.grants
        )

    def scopes_with(self, permission: Permission) -> tuple[ScopeDefinition, ...]:
        """The scopes in which the caller holds `permission`, each once."""
        found = {g.scope.id: g.scope for g in self.grants if permission in g.permissions}
        return tuple(found[scope_id] for scope_id in sorted(found))

    def may_in_scope(self, permission: Permission, scope_id: str) -> bool:
        """For an object whose own scope is `scope_id`; the global scope also needs `scopes:global`."""
        allowed = any(permission in g.permissions and g.scope.contains_scope(scope_id) for g in self.grants)
        if scope_id == GLOBAL_SCOPE:
            return allowed and self.has_globally(Permission.SCOPES_GLOBAL)
        return allowed

    def shown_scope(self, permission: Permission, scope: Any) -> Any:
        """An object's scope as this caller may see it: of the scopes an `all` acceptance covers
        (`within`), only those where the caller holds `permission` — another team's scope ids are
        theirs to know."""
        if not isinstance(scope, dict) or not isinstance(scope.get("within"), list):
            return scope
        visible = self.visible_scope_ids(permission)
        return {**scope, "within": [s for s in scope["within"] if visible is None or s in visible]}

    def visible_scope_ids(self, permission: Permission) -> set[str] | None:
        """The scopes in which the caller holds `permission`; None means every scope (a global grant)."""
        if self.has_globally(permission):
            return None
        return {g.scope.id for g in self.grants if permission in g.permissions}


def grants_for(
    bindings: Iterable[tuple[str, str]],
    custom_roles: dict[str, frozenset[Permission]],
    scopes: dict[str, ScopeDefinition],
) -> tuple[Grant, ...]:
    """Bindings (role name, scope id) as grants. A binding to a role or scope that no longer exists
    grants nothing: deleting them can never widen anyone's access."""
    grants = []
    for role, scope_id in bindings:
        permissions = SYSTEM_ROLES.get(role) or custom_roles.get(role)
        scope = GLOBAL if scope_id == GLOBAL_SCOPE else scopes.get(scope_id)
        if permissions and scope is not None:
            grants.append(Grant(permissions=permissions, scope=scope))
    return tuple(grants)
