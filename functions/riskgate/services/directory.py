"""Managing scopes, roles, users and tokens: the rules about meaning (the API models check shapes).

What the system owns (system roles, the global scope, the bootstrap user's name) cannot be taken or
changed; a caller cannot lock themselves out; a token cannot be born expired. The directory (a port)
is passed in; it owns storage, uniqueness and concurrency.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.adapters.identity_items import ADMIN_USER_ID
from riskgate.clock import system_now
from riskgate.domain.audit import Actor
from riskgate.domain.errors import Conflict, InvalidInput, NotFound
from riskgate.domain.permissions import GLOBAL_SCOPE, SYSTEM_ROLES

# A user's bindings all change in one transaction (≤ 100 entries): each binding can add a scope and a
# role reference (a Put and an Update each) and drop two old ones (a Delete each): 6 entries a binding,
# plus the user, two name guards and the audit event.
MAX_ROLE_BINDINGS = 16

SYSTEM_ROLE_DESCRIPTIONS = {
    "administrator": "Everything",
    "security_officer": "Everything but managing users, roles, scopes and tokens",
    "developer": "Read images, findings, policies and acceptances",
    "ci_pipeline": "Submit scans and read images",
    "auditor": "Every read permission and the security event log",
}
GLOBAL_SCOPE_VIEW: dict[str, Any] = {
    "id": GLOBAL_SCOPE,
    "name": GLOBAL_SCOPE,
    "description": "Covers everything",
    "resources": [],
}


class DirectoryPort(Protocol):
    def get_scope(self, scope_id: str) -> dict[str, Any] | None: ...
    def list_scopes(self, limit: int, next_token: str | None) -> Page: ...
    def create_scope(
        self, *, name: str, description: str, resources: list[dict[str, str]], actor: Actor
    ) -> dict[str, Any]: ...
    def update_scope(
        self, scope_id: str, changes: Mapping[str, Any], actor: Actor, expected_version: int | None = None
    ) -> dict[str, Any]: ...
    def delete_scope(self, scope_id: str, actor: Actor, expected_version: int | None = None) -> None: ...
    def get_role(self, name: str) -> dict[str, Any] | None: ...
    def list_roles(self, limit: int, next_token: str | None) -> Page: ...
    def create_role(
        self, *, name: str, description: str, permissions: list[str], actor: Actor
    ) -> dict[str, Any]: ...
    def update_role(
        self, name: str, changes: Mapping[str, Any], actor: Actor, expected_version: int | None = None
    ) -> dict[str, Any]: ...
    def delete_role(self, name: str, actor: Actor, expected_version: int | None = None) -> None: ...
    def get_user(self, user_id: str) -> dict[str, Any] | None: ...
    def list_users(self, limit: int, next_token: str | None) -> Page: ...
    def create_user(
        self,
        *,
        name: str,
        email: str | None,
        kind: str,
        role_bindings: list[dict[str, str]],
        enabled: bool,
        actor: Actor,
    ) -> dict[str, Any]: ...
    def update_user(
        self, user_id: str, changes: Mapping[str, Any], actor: Actor, expected_version: int | None = None
    ) -> dict[str, Any]: ...
    def delete_user(self, user_id: str, actor: Actor, expected_version: int | None = None) -> None: ...
    def issue_token(
        self, user_id: str, *, name: str, expires_at: str | None, actor: Actor
    ) -> tuple[dict[str, Any], str]: ...
    def list_tokens(self, user_id: str, limit: int, next_token: str | None) -> Page: ...
    def revoke_token(self, user_id: str, token_id: str, actor: Actor) -> dict[str, Any]: ...


# --- scopes ---------------------------------------------------------------------------------------


def get_scope(directory: DirectoryPort, scope_id: str) -> dict[str, Any]:
    """A scope; the global scope is code, shown as a system scope."""
    if scope_id == GLOBAL_SCOPE:
        return {**GLOBAL_SCOPE_VIEW, "system": True}
    scope = directory.get_scope(scope_id)
    if scope is None:
        raise NotFound(f"scope {scope_id} not found")
    return {**scope, "system": False}


def list_scopes(directory: DirectoryPort, limit: int, next_token: str | None) -> Page:
    """Stored scopes by name; the global scope leads the first page."""
    page = directory.list_scopes(limit, next_token)
    items = [{**scope, "system": False} for scope in page.items]
    if next_token is None:
        items.insert(0, {**GLOBAL_SCOPE_VIEW, "system": True})
    return Page(items=items, next_token=page.next_token)


def create_scope(
    directory: DirectoryPort,
    actor: Actor,
    *,
    name: str,
    description: str,
    resources: list[dict[str, str]],
) -> dict[str, Any]:
    _ensure_scope_name_free(name)
    scope = directory.create_scope(name=name, description=description, resources=resources, actor=actor)
    return {**scope, "system": False}


def update_scope(
    directory: DirectoryPort,
    actor: Actor,
    scope_id: str,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> dict[str, Any]:
    _ensure_not_global(scope_id, "changed")
    if "name" in changes:
        _ensure_scope_name_free(changes["name"])
    return {**directory.update_scope(scope_id, changes, actor, expected_version), "system": False}


def delete_scope(
    directory: DirectoryPort, actor: Actor, scope_id: str, *, expected_version: int | None = None
) -> None:
    _ensure_not_global(scope_id, "deleted")
    directory.delete_scope(scope_id, actor, expected_version)


def _ensure_not_global(scope_id: str, done: str) -> None:
    if scope_id == GLOBAL_SCOPE:
        raise Conflict(f"the global scope is part of the system: it cannot be {done}")


def _ensure_scope_name_free(name: str) -> None:
    if name == GLOBAL_SCOPE:
        raise Conflict(
            "the name global belongs to the global scope",
            details=[{"location": "body.name", "message": "reserved"}],
        )


# --- roles ----------------------------------------------------------------------------------------


def system_role(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": SYSTEM_ROLE_DESCRIPTIONS.get(name, ""),
        "permissions": sorted(p.value for p in SYSTEM_ROLES[name]),
        "system": True,
    }


def get_role(directory: DirectoryPort, name: str) -> dict[str, Any]:
    if name in SYSTEM_ROLES:
        return system_role(name)
    role = directory.get_role(name)
    if role is None:
        raise NotFound(f"role {name} not found")
    return {**role, "system": False}


def list_roles(directory: DirectoryPort, limit: int, next_token: str | None) -> Page:
    """Custom roles by name; the system roles lead the first page."""
    page = directory.list_roles(limit, next_token)
    items = [{**role, "system": False} for role in page.items]
    if next_token is None:
        items = [system_role(name) for name in SYSTEM_ROLES] + items
    return Page(items=items, next_token=page.next_token)


def create_role(
    directory: DirectoryPort, actor: Actor, *, name: str, description: str, permissions: list[str]
) -> dict[str, Any]:
    _ensure_custom_role(name, "created")
    role = directory.create_role(
        name=name, description=description, permissions=_canonical_permissions(permissions), actor=actor
    )
    return {**role, "system": False}


def update_role(
    directory: DirectoryPort,
    actor: Actor,
    name: str,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> dict[str, Any]:
    _ensure_custom_role(name, "changed")
    wanted = dict(changes)
    if "permissions" in wanted:
        wanted["permissions"] = _canonical_permissions(wanted["permissions"])
    return {**directory.update_role(name, wanted, actor, expected_version), "system": False}


def delete_role(
    directory: DirectoryPort, actor: Actor, name: str, *, expected_version: int | None = None
) -> None:
    _ensure_custom_role(name, "deleted")
    directory.delete_role(name, actor, expected_version)


def _canonical_permissions(permissions: list[str]) -> list[str]:
    """Each once, sorted: a role's permissions are a set."""
    return sorted(set(permissions))


def _ensure_custom_role(name: str, done: str) -> None:
    if name in SYSTEM_ROLES:
        raise Conflict(f"{name} is a system role: system roles cannot be {done}")


# --- users ----------------------------------------------------------------------------------------


def get_user(directory: DirectoryPort, user_id: str) -> dict[str, Any]:
    user = directory.get_user(user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def list_users(directory: DirectoryPort, limit: int, next_token: str | None) -> Page:
    """Users by name."""
    return directory.list_users(limit, next_token)


def create_user(
    directory: DirectoryPort,
    actor: Actor,
    *,
    name: str,
    email: str | None,
    kind: str,
    role_bindings: list[dict[str, str]],
    enabled: bool,
) -> dict[str, Any]:
    _ensure_user_name_free(name, user_id=None)
    return directory.create_user(
        name=name,
        email=email,
        kind=kind,
        role_bindings=canonical_bindings(role_bindings),
        enabled=enabled,
        actor=actor,
    )


def update_user(
    directory: DirectoryPort,
    actor: Actor,
    user_id: str,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> dict[str, Any]:
    wanted = dict(changes)
    if "name" in wanted:
        _ensure_user_name_free(wanted["name"], user_id=user_id)
    if wanted.get("enabled") is False:
        _ensure_not_self(actor, user_id, "disable")
    if "role_bindings" in wanted:
        wanted["role_bindings"] = canonical_bindings(wanted["role_bindings"])
    return directory.update_user(user_id, wanted, actor, expected_version)


def delete_user(
    directory: DirectoryPort, actor: Actor, user_id: str, *, expected_version: int | None = None
) -> None:
    _ensure_not_self(actor, user_id, "delete")
    directory.delete_user(user_id, actor, expected_version)


def canonical_bindings(bindings: list[dict[str, str]]) -> list[dict[str, str]]:
    """Bindings in the order given, each once; the scope defaults to global."""
    unique: dict[tuple[str, str], dict[str, str]] = {}
    for binding in bindings:
        role, scope = binding["role"], binding.get("scope") or GLOBAL_SCOPE
        unique.setdefault((role, scope), {"role": role, "scope": scope})
    if len(unique) > MAX_ROLE_BINDINGS:
        raise InvalidInput(
            f"a user has at most {MAX_ROLE_BINDINGS} role bindings",
            details=[{"location": "body.role_bindings", "message": "too many"}],
        )
    return list(unique.values())


def _ensure_user_name_free(name: str, *, user_id: str | None) -> None:
    # The bootstrap user predates name guards (Store.ensure_admin_token writes none); its name stays its.
    if name == ADMIN_USER_ID and user_id != ADMIN_USER_ID:
        raise Conflict(
            f"the name {ADMIN_USER_ID} belongs to the bootstrap user",
            details=[{"location": "body.name", "message": "reserved"}],
        )


def _ensure_not_self(actor: Actor, user_id: str, doing: str) -> None:
    # Locking yourself out is never what was meant, and may leave nobody able to manage users.
    if actor.user_id == user_id:
        raise Conflict(f"you cannot {doing} your own user: ask another administrator")


# --- tokens ---------------------------------------------------------------------------------------


def issue_token(
    directory: DirectoryPort,
    actor: Actor,
    user_id: str,
    *,
    name: str,
    expires_at: datetime | None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], str]:
    return directory.issue_token(user_id, name=name, expires_at=token_expiry(expires_at, now), actor=actor)


def list_tokens(directory: DirectoryPort, user_id: str, limit: int, next_token: str | None) -> Page:
    get_user(directory, user_id)
    return directory.list_tokens(user_id, limit, next_token)


def revoke_token(directory: DirectoryPort, actor: Actor, user_id: str, token_id: str) -> None:
    get_user(directory, user_id)
    directory.revoke_token(user_id, token_id, actor)


def token_expiry(expires_at: datetime | None, now: datetime | None = None) -> str | None:
    """The expiry as stored: UTC to the second, the form the authorizer compares as text."""
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise InvalidInput(
            "expires_at needs a time zone (e.g. 2030-01-01T00:00:00Z)",
            details=[{"location": "body.expires_at", "message": "no time zone"}],
        )
    moment = expires_at.astimezone(UTC)
    if moment <= (now or system_now()):
        raise InvalidInput(
            "expires_at must be in the future",
            details=[{"location": "body.expires_at", "message": "in the past"}],
        )
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
