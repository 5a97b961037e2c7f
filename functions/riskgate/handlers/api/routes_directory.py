"""Scopes, roles, users and their tokens. Account-wide: every route needs users:manage in `global`."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from riskgate.adapters.directory import default_directory
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import models_directory as models
from riskgate.handlers.api.entity_routes import EntityRoutes, Limit, NextToken, created, no_content
from riskgate.handlers.api.preconditions import IfMatch, expected_version
from riskgate.services import directory as service

router = Router()

ScopeId = Annotated[str, Path(min_length=1, max_length=64, description="Scope id, or global")]
RoleName = Annotated[str, Path(min_length=1, max_length=64, description="Role name")]
UserId = Annotated[str, Path(min_length=1, max_length=64, description="User id")]
TokenId = Annotated[str, Path(min_length=1, max_length=64, description="Token id")]

ERRORS = {
    403: "users:manage is not granted in the global scope",
    404: "No such entity",
    409: "Name taken, in use, owned by the system, or changed concurrently",
    422: "Invalid fields, unknown permission, role or scope",
}
MANAGE = Permission.USERS_MANAGE
# Users, roles, scopes and tokens belong to the whole account, so a grant in a narrower scope does not
# reach them.
ACCOUNT_ADMIN = "managing users, roles, scopes and tokens needs users:manage in the global scope"
SCOPES, ROLES, USERS, TOKENS = (
    EntityRoutes(router, tags=[tag], errors=ERRORS, only_in_global=ACCOUNT_ADMIN)
    for tag in ("scopes", "roles", "users", "tokens")
)


# --- scopes ---------------------------------------------------------------------------------------


@SCOPES.route("GET", "/v1/scopes", MANAGE, "List scopes; the global scope first", (200, "A page of scopes"))
def list_scopes(limit: Limit = 50, next_token: NextToken = None) -> models.ScopePage:
    page = service.list_scopes(default_directory(), limit, next_token)
    return models.ScopePage(
        items=[models.Scope.model_validate(s) for s in page.items], next_token=page.next_token
    )


@SCOPES.route("GET", "/v1/scopes/<scope_id>", MANAGE, "Get a scope", (200, "The scope", 404))
def get_scope(scope_id: ScopeId) -> models.Scope:
    return models.Scope.model_validate(service.get_scope(default_directory(), scope_id))


@SCOPES.route("POST", "/v1/scopes", MANAGE, "Create a scope", (201, "The new scope", 409, 422))
def create_scope(scope: Annotated[models.ScopeCreate, Body()]) -> Response[models.Scope]:
    stored = service.create_scope(
        default_directory(),
        SCOPES.actor(),
        name=scope.name,
        description=scope.description,
        resources=[r.model_dump(exclude_none=True) for r in scope.resources],
    )
    return created(models.Scope.model_validate(stored), f"/v1/scopes/{stored['id']}")


@SCOPES.route(
    "PATCH",
    "/v1/scopes/<scope_id>",
    MANAGE,
    "Change a scope's name, description or resources",
    (200, "The scope as changed", 404, 409, 422),
)
def update_scope(
    scope_id: ScopeId, changes: Annotated[models.ScopeUpdate, Body()], if_match: IfMatch = None
) -> models.Scope:
    wanted = changes.changes()
    if "resources" in wanted:  # as stored: a selector has only the fields it names
        wanted["resources"] = [r.model_dump(exclude_none=True) for r in changes.resources or []]
    updated = service.update_scope(
        default_directory(), SCOPES.actor(), scope_id, wanted, expected_version=expected_version(if_match)
    )
    return models.Scope.model_validate(updated)


@SCOPES.route(
    "DELETE", "/v1/scopes/<scope_id>", MANAGE, "Delete a scope that nothing uses", (204, "Deleted", 404, 409)
)
def delete_scope(scope_id: ScopeId, if_match: IfMatch = None) -> Response[None]:
    service.delete_scope(
        default_directory(), SCOPES.actor(), scope_id, expected_version=expected_version(if_match)
    )
    return no_content()


# --- roles ----------------------------------------------------------------------------------------


@ROLES.route("GET", "/v1/roles", MANAGE, "List roles; the system roles first", (200, "A page of roles"))
def list_roles(limit: Limit = 50, next_token: NextToken = None) -> models.RolePage:
    page = service.list_roles(default_directory(), limit, next_token)
    return models.RolePage(
        items=[models.Role.model_validate(r) for r in page.items], next_token=page.next_token
    )


@ROLES.route("GET", "/v1/roles/<name>", MANAGE, "Get a role", (200, "The role", 404))
def get_role(name: RoleName) -> models.Role:
    return models.Role.model_validate(service.get_role(default_directory(), name))


@ROLES.route("POST", "/v1/roles", MANAGE, "Create a custom role", (201, "The new role", 409, 422))
def create_role(role: Annotated[models.RoleCreate, Body()]) -> Response[models.Role]:
    stored = service.create_role(
        default_directory(),
        ROLES.actor(),
        name=role.name,
        description=role.description,
        permissions=[p.value for p in role.permissions],
    )
    return created(models.Role.model_validate(stored), f"/v1/roles/{stored['name']}")


@ROLES.route(
    "PATCH",
    "/v1/roles/<name>",
    MANAGE,
    "Change a custom role's description or permissions",
    (200, "The role as changed", 404, 409, 422),
)
def update_role(
    name: RoleName, changes: Annotated[models.RoleUpdate, Body()], if_match: IfMatch = None
) -> models.Role:
    return models.Role.model_validate(
        service.update_role(
            default_directory(),
            ROLES.actor(),
            name,
            changes.changes(),
            expected_version=expected_version(if_match),
        )
    )


@ROLES.route(
    "DELETE",
    "/v1/roles/<name>",
    MANAGE,
    "Delete a custom role that nobody is bound to",
    (204, "Deleted", 404, 409),
)
def delete_role(name: RoleName, if_match: IfMatch = None) -> Response[None]:
    service.delete_role(default_directory(), ROLES.actor(), name, expected_version=expected_version(if_match))
    return no_content()


# --- users ----------------------------------------------------------------------------------------


@USERS.route("GET", "/v1/users", MANAGE, "List users by name", (200, "A page of users"))
def list_users(limit: Limit = 50, next_token: NextToken = None) -> models.UserPage:
    page = service.list_users(default_directory(), limit, next_token)
    return models.UserPage(
        items=[models.User.model_validate(u) for u in page.items], next_token=page.next_token
    )


@USERS.route("GET", "/v1/users/<user_id>", MANAGE, "Get a user", (200, "The user", 404))
def get_user(user_id: UserId) -> models.User:
    return models.User.model_validate(service.get_user(default_directory(), user_id))


@USERS.route(
    "POST",
    "/v1/users",
    MANAGE,
    "Create a user (a person or a service) with role bindings",
    (201, "The new user", 409, 422),
)
def create_user(user: Annotated[models.UserCreate, Body()]) -> Response[models.User]:
    stored = service.create_user(
        default_directory(),
        USERS.actor(),
        name=user.name,
        email=user.email,
        kind=user.kind,
        role_bindings=[b.model_dump() for b in user.role_bindings],
        enabled=user.enabled,
    )
    return created(models.User.model_validate(stored), f"/v1/users/{stored['id']}")


@USERS.route(
    "PATCH",
    "/v1/users/<user_id>",
    MANAGE,
    "Change a user; enabled: false disables them and stops their tokens",
    (200, "The user as changed", 404, 409, 422),
)
def update_user(
    user_id: UserId, changes: Annotated[models.UserUpdate, Body()], if_match: IfMatch = None
) -> models.User:
    return models.User.model_validate(
        service.update_user(
            default_directory(),
            USERS.actor(),
            user_id,
            changes.changes(),
            expected_version=expected_version(if_match),
        )
    )


@USERS.route(
    "DELETE",
    "/v1/users/<user_id>",
    MANAGE,
    "Delete a user; their tokens stop working",
    (204, "Deleted", 404, 409),
)
def delete_user(user_id: UserId, if_match: IfMatch = None) -> Response[None]:
    service.delete_user(
        default_directory(), USERS.actor(), user_id, expected_version=expected_version(if_match)
    )
    return no_content()


# --- tokens ---------------------------------------------------------------------------------------


@TOKENS.route(
    "POST",
    "/v1/users/<user_id>/tokens",
    MANAGE,
    "Issue a token for the user: the response is the only time its secret is shown",
    (201, "The token, with its secret", 404, 409, 422),
)
def issue_token(
    user_id: UserId, token: Annotated[models.TokenCreate, Body()]
) -> Response[models.IssuedToken]:
    stored, secret = service.issue_token(
        default_directory(), TOKENS.actor(), user_id, name=token.name, expires_at=token.expires_at
    )
    issued = models.IssuedToken.model_validate({**stored, "token": secret})
    return created(issued, f"/v1/users/{user_id}/tokens")


@TOKENS.route(
    "GET",
    "/v1/users/<user_id>/tokens",
    MANAGE,
    "The user's tokens, newest first (never their secrets)",
    (200, "A page of tokens", 404),
)
def list_tokens(user_id: UserId, limit: Limit = 50, next_token: NextToken = None) -> models.TokenPage:
    page = service.list_tokens(default_directory(), user_id, limit, next_token)
    return models.TokenPage(
        items=[models.Token.model_validate(t) for t in page.items], next_token=page.next_token
    )


@TOKENS.route(
    "DELETE", "/v1/users/<user_id>/tokens/<token_id>", MANAGE, "Revoke a token", (204, "Revoked", 404, 409)
)
def revoke_token(user_id: UserId, token_id: TokenId) -> Response[None]:
    service.revoke_token(default_directory(), TOKENS.actor(), user_id, token_id)
    return no_content()
