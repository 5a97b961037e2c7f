"""API models of scopes, roles, users and tokens: request bodies (validated at the edge) and responses."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    model_validator,
)

from riskgate.domain.permissions import Permission
from riskgate.handlers.api.models import PatchBody, RequestBody

# Names end up in keys (`NAME#user#<name>`, `ROLE#<name>`) and sort keys (`<name>#<id>`): no `#`.
Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$",
        description="Letters, digits, _ . @ -; unique among its kind",
    ),
]
Description = Annotated[str, Field(max_length=1000)]
Glob = Annotated[str, Field(min_length=1, max_length=256, description="A glob: * ? [seq]")]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Kind = Literal["person", "service"]


class ResourceSelector(RequestBody):
    """Globs over an image's registry, repository and tag; a field left out matches anything."""

    registry: Glob | None = None
    repository: Glob | None = None
    tag: Glob | None = None

    @model_validator(mode="after")
    def _names_something(self) -> ResourceSelector:
        # An empty selector would match every image: that is the global scope's job.
        if self.registry is None and self.repository is None and self.tag is None:
            raise ValueError("a resource selector names at least one of registry, repository, tag")
        return self


Resources = Annotated[list[ResourceSelector], Field(min_length=1, max_length=50)]


class ScopeCreate(RequestBody):
    name: Name
    description: Description = ""
    resources: Resources = Field(description="An image is in the scope when any selector matches it")


class ScopeUpdate(PatchBody):
    _not_null = ("name", "description", "resources")

    name: Name | None = None
    description: Description | None = None
    resources: Resources | None = None


class Scope(BaseModel):
    id: str
    name: str
    description: str = ""
    resources: list[ResourceSelector] = Field(default_factory=list)
    system: bool = Field(description="The global scope: covers everything, cannot be changed")
    version: int | None = None
    created_at: str | None = None
    created_by: str | None = None
    updated_at: str | None = None
    updated_by: str | None = None


class ScopePage(BaseModel):
    items: list[Scope]
    next_token: str | None = None


Permissions = Annotated[list[Permission], Field(min_length=1, max_length=len(Permission))]


class RoleCreate(RequestBody):
    name: Name
    description: Description = ""
    permissions: Permissions


class RoleUpdate(PatchBody):
    """A role's name is the key bindings use: it cannot change."""

    _not_null = ("description", "permissions")

    description: Description | None = None
    permissions: Permissions | None = None


class Role(BaseModel):
    name: str
    description: str = ""
    permissions: list[str]
    system: bool = Field(description="A system role: defined by Riskgate, read-only")
    version: int | None = None
    created_at: str | None = None
    created_by: str | None = None
    updated_at: str | None = None
    updated_by: str | None = None


class RolePage(BaseModel):
    items: list[Role]
    next_token: str | None = None


class RoleBinding(RequestBody):
    role: str = Field(min_length=1, max_length=64, description="A system or custom role's name")
    scope: str = Field(default="global", min_length=1, max_length=64, description="A scope id, or global")


RoleBindings = Annotated[list[RoleBinding], Field(max_length=64)]


class UserCreate(RequestBody):
    name: Name
    email: Email | None = None
    kind: Kind
    role_bindings: RoleBindings = Field(default_factory=list)
    enabled: bool = True


class UserUpdate(PatchBody):
    """`enabled: false` disables the user: their tokens stop working at once."""

    _not_null = ("name", "kind", "role_bindings", "enabled")

    name: Name | None = None
    email: Email | None = None
    kind: Kind | None = None
    role_bindings: RoleBindings | None = None
    enabled: bool | None = None


class User(BaseModel):
    id: str
    name: str
    email: str | None = None
    kind: Kind
    role_bindings: list[RoleBinding]
    enabled: bool
    token_generation: int = Field(
        default=0,
        description=(
            "Raised each time the user is disabled: tokens issued before never work again, even after the "
            "user is enabled again (issue new ones)"
        ),
    )
    version: int
    created_at: str
    created_by: str
    updated_at: str | None = None
    updated_by: str | None = None


class UserPage(BaseModel):
    items: list[User]
    next_token: str | None = None


class TokenCreate(RequestBody):
    name: str = Field(min_length=1, max_length=100, description="What the token is for")
    expires_at: AwareDatetime | None = Field(default=None, description="Never expires when left out")


class Token(BaseModel):
    id: str
    user_id: str
    name: str
    created_at: str
    created_by: str | None = None
    expires_at: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None


class IssuedToken(Token):
    token: str = Field(description="The secret: shown in this response only, never again")


class TokenPage(BaseModel):
    items: list[Token]
    next_token: str | None = None


class CallerGrant(BaseModel):
    scope: str = Field(description="A scope id, or global")
    permissions: list[Permission]


class Caller(BaseModel):
    """Who a token acts as and what it may do: what a client asks before showing any action."""

    user_id: str
    name: str | None = Field(default=None, description="The user's name")
    kind: Kind | None = None
    token_id: str | None = None
    role_bindings: list[RoleBinding]
    grants: list[CallerGrant] = Field(
        description="The permissions of each binding in its scope (a binding to a role or scope that no "
        "longer exists grants nothing and is left out)"
    )
    permissions: list[Permission] = Field(description="Held in some scope: the actions the caller may take")
    global_permissions: list[Permission] = Field(
        description="Held in the global scope: what account-wide routes (users, audit log) need"
    )
