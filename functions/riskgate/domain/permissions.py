"""Permission names and system roles (PRODUCT.md). The users/roles/scopes model grows from here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    IMAGES_READ = "images:read"
    SCANS_WRITE = "scans:write"
    ASSURANCE_POLICIES_READ = "assurance_policies:read"
    ASSURANCE_POLICIES_MANAGE = "assurance_policies:manage"
    RISKS_READ = "risks:read"
    RISKS_ACCEPT = "risks:accept"
    RESPONSE_POLICIES_READ = "response_policies:read"
    RESPONSE_POLICIES_MANAGE = "response_policies:manage"
    INTEGRATIONS_READ = "integrations:read"
    INTEGRATIONS_MANAGE = "integrations:manage"
    REGISTRIES_READ = "registries:read"
    REGISTRIES_MANAGE = "registries:manage"
    USERS_MANAGE = "users:manage"
    AUDIT_READ = "audit:read"
    SCOPES_GLOBAL = "scopes:global"


ALL_PERMISSIONS = frozenset(Permission)
_READS = frozenset(p for p in Permission if p.value.endswith(":read"))

SYSTEM_ROLES: dict[str, frozenset[Permission]] = {
    "administrator": ALL_PERMISSIONS,
    "security_officer": ALL_PERMISSIONS - {Permission.USERS_MANAGE},
    "developer": frozenset(
        {
            Permission.IMAGES_READ,
            Permission.ASSURANCE_POLICIES_READ,
            Permission.RISKS_READ,
        }
    ),
    "ci_pipeline": frozenset({Permission.SCANS_WRITE, Permission.IMAGES_READ}),
    "auditor": _READS | {Permission.AUDIT_READ},
}

GLOBAL_SCOPE = "global"


@dataclass(frozen=True)
class RoleBinding:
    role: str
    scope: str = GLOBAL_SCOPE


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the authorizer established it. What they may do, where, is an
    `riskgate.domain.access.Access`, built from these bindings with custom roles and scopes."""

    user_id: str
    token_id: str
    role_bindings: tuple[RoleBinding, ...]
