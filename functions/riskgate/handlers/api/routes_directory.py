"""Scopes, roles, users and their tokens. Account-wide: every route needs users:manage in `global`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel

from riskgate.adapters.directory import default_directory
from riskgate.domain.audit import Actor
from riskgate.domain.errors import PermissionDenied
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import models_directory as models
from riskgate.handlers.api import openapi_docs
from riskgate.handlers.api.preconditions import IfMatch, expected_version
from riskgate.handlers.api.security import current_access, current_actor, secured_route
from riskgate.services import directory as service

router = Router()

Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
NextToken = Annotated[str | None, Query(description="Opaque token from the previous page")]
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


def documented(success: int, description: str, *errors: int) -> dict[int, Any]:
    return openapi_docs.documented(success, description, {status: ERRORS[status] for status in errors})


def directory_route(
    method: str, path: str, tag: str, **options: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return secured_route(router, method, path, Permission.USERS_MANAGE, tags=[tag], **options)


def account_admin() -> Actor:
    """The caller, who must hold users:manage in the global scope: users, roles, scopes and tokens
    belong to the whole account, so a grant in a narrower scope does not reach them."""
    if not current_access(router).has_globally(Permission.USERS_MANAGE):
        raise PermissionDenied(
            "managing users, roles, scopes and tokens needs users:manage in the global scope"
        )
    return current_actor(router)


def created(body: BaseModel, location: str) -> Response[Any]:
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={"Location": location},
    )


def no_content() -> Response[None]:
    return Response(status_code=204, content_type=None, body=None)


# --- scopes ---------------------------------------------------------------------------------------


@directory_route(
    "GET",
    "/v1/scopes",
    "scopes",
    summary="List scopes; the global scope first",
    responses=documented(200, "A page of scopes"),
)
def list_scopes(limit: Limit = 50, next_token: NextToken = None) -> models.ScopePage:
    account_admin()
    page = service.list_scopes(default_directory(), limit, next_token)
    return models.ScopePage(
        items=[models.Scope.model_validate(s) for s in page.items], next_token=page.next_token
    )


@directory_route(
    "GET",
    "/v1/scopes/<scope_id>",
    "scopes",
    summary="Get a scope",
    responses=documented(200, "The scope", 404),
)
def get_scope(scope_id: ScopeId) -> models.Scope:
    account_admin()
    return models.Scope.model_validate(service.get_scope(default_directory(), scope_id))


@directory_route(
    "POST",
    "/v1/scopes",
    "scopes",
    status_code=201,
    summary="Create a scope",
    responses=documented(201, "The new scope", 409, 422),
)
def create_scope(scope: Annotated[models.ScopeCreate, Body()]) -> Response[models.Scope]:
    actor = account_admin()
    stored = service.create_scope(
        default_directory(),
        actor,
        name=scope.name,
        description=scope.description,
        resources=[r.model_dump(exclude_none=True) for r in scope.resources],
    )
    return created(models.Scope.model_validate(stored), f"/v1/scopes/{stored['id']}")


@directory_route(
    "PATCH",
    "/v1/scopes/<scope_id>",
    "scopes",
    summary="Change a scope's name, description or resources",
    responses=documented(200, "The scope as changed", 404, 409, 422),
)
def update_scope(
    scope_id: ScopeId, changes: Annotated[models.ScopeUpdate, Body()], if_match: IfMatch = None
) -> models.Scope:
    actor = account_admin()
    wanted = changes.changes()
    if "resources" in wanted:  # as stored: a selector has only the fields it names
        wanted["resources"] = [r.model_dump(exclude_none=True) for r in changes.resources or []]
    updated = service.update_scope(
        default_directory(), actor, scope_id, wanted, expected_version=expected_version(if_match)
    )
    return models.Scope.model_validate(updated)


@directory_route(
    "DELETE",
    "/v1/scopes/<scope_id>",
    "scopes",
    status_code=204,
    summary="Delete a scope that nothing uses",
    responses=documented(204, "Deleted", 404, 409),
)
def delete_scope(scope_id: ScopeId, if_match: IfMatch = None) -> Response[None]:
    actor = account_admin()
    service.delete_scope(default_directory(), actor, scope_id, expected_version=expected_version(if_match))
    return no_content()


# --- roles ----------------------------------------------------------------------------------------


@directory_route(
    "GET",
    "/v1/roles",
    "roles",
    summary="List roles; the system roles first",
    responses=documented(200, "A page of roles"),
)
def list_roles(limit: Limit = 50, next_token: NextToken = None) -> models.RolePage:
    account_admin()
    page = service.list_roles(default_directory(), limit, next_token)
    return models.RolePage(
        items=[models.Role.model_validate(r) for r in page.items], next_token=page.next_token
    )


@directory_route(
    "GET", "/v1/roles/<name>", "roles", summary="Get a role", responses=documented(200, "The role", 404)
)
def get_role(name: RoleName) -> models.Role:
    account_admin()
    return models.Role.model_validate(service.get_role(default_directory(), name))


@directory_route(
    "POST",
    "/v1/roles",
    "roles",
    status_code=201,
    summary="Create a custom role",
    responses=documented(201, "The new role", 409, 422),
)
def create_role(role: Annotated[models.RoleCreate, Body()]) -> Response[models.Role]:
    actor = account_admin()
    stored = service.create_role(
        default_directory(),
        actor,
        name=role.name,
        description=role.description,
        permissions=[p.value for p in role.permissions],
    )
    return created(models.Role.model_validate(stored), f"/v1/roles/{stored['name']}")


@directory_route(
    "PATCH",
    "/v1/roles/<name>",
    "roles",
    summary="Change a custom role's description or permissions",
    responses=documented(200, "The role as changed", 404, 409, 422),
)
def update_role(
    name: RoleName, changes: Annotated[models.RoleUpdate, Body()], if_match: IfMatch = None
) -> models.Role:
    actor = account_admin()
    return models.Role.model_validate(
        service.update_role(
            default_directory(), actor, name, changes.changes(), expected_version=expected_version(if_match)
        )
    )


@directory_route(
    "DELETE",
    "/v1/roles/<name>",
    "roles",
    status_code=204,
    summary="Delete a custom role that nobody is bound to",
    responses=documented(204, "Deleted", 404, 409),
)
def delete_role(name: RoleName, if_match: IfMatch = None) -> Response[None]:
    actor = account_admin()
    service.delete_role(default_directory(), actor, name, expected_version=expected_version(if_match))
    return no_content()


# --- users ----------------------------------------------------------------------------------------


@directory_route(
    "GET", "/v1/users", "users", summary="List users by name", responses=documented(200, "A page of users")
)
def list_users(limit: Limit = 50, next_token: NextToken = None) -> models.UserPage:
    account_admin()
    page = service.list_users(default_directory(), limit, next_token)
    return models.UserPage(
        items=[models.User.model_validate(u) for u in page.items], next_token=page.next_token
    )


@directory_route(
    "GET", "/v1/users/<user_id>", "users", summary="Get a user", responses=documented(200, "The user", 404)
)
def get_user(user_id: UserId) -> models.User:
    account_admin()
    return models.User.model_validate(service.get_user(default_directory(), user_id))


@directory_route(
    "POST",
    "/v1/users",
    "users",
    status_code=201,
    summary="Create a user (a person or a service) with role bindings",
    responses=documented(201, "The new user", 409, 422),
)
def create_user(user: Annotated[models.UserCreate, Body()]) -> Response[models.User]:
    actor = account_admin()
    stored = service.create_user(
        default_directory(),
        actor,
        name=user.name,
        email=user.email,
        kind=user.kind,
        role_bindings=[b.model_dump() for b in user.role_bindings],
        enabled=user.enabled,
    )
    return created(models.User.model_validate(stored), f"/v1/users/{stored['id']}")


@directory_route(
    "PATCH",
    "/v1/users/<user_id>",
    "users",
    summary="Change a user; enabled: false disables them and stops their tokens",
    responses=documented(200, "The user as changed", 404, 409, 422),
)
def update_user(
    user_id: UserId, changes: Annotated[models.UserUpdate, Body()], if_match: IfMatch = None
) -> models.User:
    actor = account_admin()
    return models.User.model_validate(
        service.update_user(
            default_directory(),
            actor,
            user_id,
            changes.changes(),
            expected_version=expected_version(if_match),
        )
    )


@directory_route(
    "DELETE",
    "/v1/users/<user_id>",
    "users",
    status_code=204,
    summary="Delete a user; their tokens stop working",
    responses=documented(204, "Deleted", 404, 409),
)
def delete_user(user_id: UserId, if_match: IfMatch = None) -> Response[None]:
    actor = account_admin()
    service.delete_user(default_directory(), actor, user_id, expected_version=expected_version(if_match))
    return no_content()


# --- tokens ---------------------------------------------------------------------------------------


@directory_route(
    "POST",
    "/v1/users/<user_id>/tokens",
    "tokens",
    status_code=201,
    summary="Issue a token for the user: the response is the only time its secret is shown",
    responses=documented(201, "The token, with its secret", 404, 409, 422),
)
def issue_token(
    user_id: UserId, token: Annotated[models.TokenCreate, Body()]
) -> Response[models.IssuedToken]:
    actor = account_admin()
    stored, secret = service.issue_token(
        default_directory(), actor, user_id, name=token.name, expires_at=token.expires_at
    )
    issued = models.IssuedToken.model_validate({**stored, "token": secret})
    return created(issued, f"/v1/users/{user_id}/tokens")


@directory_route(
    "GET",
    "/v1/users/<user_id>/tokens",
    "tokens",
    summary="The user's tokens, newest first (never their secrets)",
    responses=documented(200, "A page of tokens", 404),
)
def list_tokens(user_id: UserId, limit: Limit = 50, next_token: NextToken = None) -> models.TokenPage:
    account_admin()
    page = service.list_tokens(default_directory(), user_id, limit, next_token)
    return models.TokenPage(
        items=[models.Token.model_validate(t) for t in page.items], next_token=page.next_token
    )


@directory_route(
    "DELETE",
    "/v1/users/<user_id>/tokens/<token_id>",
    "tokens",
    status_code=204,
    summary="Revoke a token",
    responses=documented(204, "Revoked", 404, 409),
)
def revoke_token(user_id: UserId, token_id: TokenId) -> Response[None]:
    actor = account_admin()
    service.revoke_token(default_directory(), actor, user_id, token_id)
    return no_content()
