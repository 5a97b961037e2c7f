"""Reading the definitions an `Access` is built from: custom roles and scopes, by key.

Items (written by the directory adapter, riskgate.adapters.directory):
- custom role: pk `ROLE#<name>`, sk `META`; `name`, `description`, `permissions` (list of names);
- scope: pk `SCOPE#<id>`, sk `META`; `id`, `name`, `description`, `resources` (list of
  `{"registry"?, "repository"?, "tag"?}` globs).
System roles and the global scope are not stored: they are code (riskgate.domain.permissions).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from riskgate.adapters.dynamo import batch_get
from riskgate.domain.access import ResourceSelector, ScopeDefinition
from riskgate.domain.permissions import GLOBAL_SCOPE, SYSTEM_ROLES, Permission


def role_key(name: str) -> dict[str, str]:
    return {"pk": f"ROLE#{name}", "sk": "META"}


def scope_key(scope_id: str) -> dict[str, str]:
    return {"pk": f"SCOPE#{scope_id}", "sk": "META"}


def scope_definition(item: dict[str, Any]) -> ScopeDefinition:
    selectors = tuple(
        ResourceSelector(
            registry=resource.get("registry"),
            repository=resource.get("repository"),
            tag=resource.get("tag"),
        )
        for resource in item.get("resources") or []
    )
    return ScopeDefinition(id=item["id"], selectors=selectors)


def role_permissions(item: dict[str, Any]) -> frozenset[Permission]:
    known = {p.value for p in Permission}
    return frozenset(Permission(name) for name in item.get("permissions") or [] if name in known)


def load_access_definitions(
    client: Any, table_name: str, role_names: set[str], scope_ids: set[str]
) -> tuple[dict[str, frozenset[Permission]], dict[str, ScopeDefinition]]:
    """Custom roles and scopes named by a caller's bindings, in one BatchGetItem (per 100 keys)."""
    return definitions_from_items(batch_get(client, table_name, definition_keys(role_names, scope_ids)))


def definition_keys(role_names: Iterable[str], scope_ids: Iterable[str]) -> list[dict[str, str]]:
    """The items of the custom roles and scopes named (system roles and `global` are code: none)."""
    keys = [role_key(name) for name in sorted(set(role_names) - set(SYSTEM_ROLES))]
    return keys + [scope_key(scope_id) for scope_id in sorted(set(scope_ids) - {GLOBAL_SCOPE})]


def definitions_from_items(
    items: Iterable[dict[str, Any]],
) -> tuple[dict[str, frozenset[Permission]], dict[str, ScopeDefinition]]:
    """Role and scope items (as read, with their keys) as custom roles' permissions and scopes."""
    roles: dict[str, frozenset[Permission]] = {}
    scopes: dict[str, ScopeDefinition] = {}
    for item in items:
        if item["pk"].startswith("ROLE#"):
            roles[item["name"]] = role_permissions(item)
        elif item["pk"].startswith("SCOPE#"):
            scopes[item["id"]] = scope_definition(item)
    return roles, scopes
