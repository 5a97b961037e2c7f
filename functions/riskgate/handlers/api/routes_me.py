"""GET /v1/me: who the caller's token acts as and what it may do — what a client such as the console
asks before it shows any action, so that actions the token may not take are absent, not failing."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from riskgate.adapters.directory import default_directory
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.handlers.api import models_directory as models
from riskgate.handlers.api.models import ErrorResponse
from riskgate.handlers.api.security import caller_route, current_access

router = Router()

UNAUTHORIZED = {
    "description": "No bearer token, or an unknown, expired or revoked one, or a disabled user",
    "content": {"application/json": {"model": ErrorResponse}},
}


def ordered(permissions: set[Permission]) -> list[Permission]:
    """In the order the API names permissions (riskgate.domain.permissions)."""
    return [permission for permission in Permission if permission in permissions]


@caller_route(
    router,
    "GET",
    "/v1/me",
    tags=["me"],
    summary="The caller: user, role bindings, and the permissions held (anywhere, and in global)",
    responses={200: {"description": "Who the token acts as and what it may do"}, 401: UNAUTHORIZED},
)
def me() -> models.Caller:
    access = current_access(router)
    user = default_directory().get_user(access.user_id) or {}
    anywhere: set[Permission] = set()
    everywhere: set[Permission] = set()
    grants = []
    for grant in access.grants:
        anywhere |= grant.permissions
        if grant.scope.id == GLOBAL_SCOPE:
            everywhere |= grant.permissions
        grants.append(models.CallerGrant(scope=grant.scope.id, permissions=ordered(set(grant.permissions))))
    return models.Caller(
        user_id=access.user_id,
        name=user.get("name"),
        kind=user.get("kind"),
        token_id=access.token_id or None,
        role_bindings=[models.RoleBinding.model_validate(b) for b in user.get("role_bindings") or ()],
        grants=grants,
        permissions=ordered(anywhere),
        global_permissions=ordered(everywhere),
    )
