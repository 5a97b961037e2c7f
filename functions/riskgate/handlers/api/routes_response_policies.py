"""Response policies: who is told of what, where. Wiring only; the access rules are in
`riskgate.services.response_policies`."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from riskgate.adapters.integrations import default_integration_store
from riskgate.adapters.response_policies import default_response_policy_store
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import models_response_policies as models
from riskgate.handlers.api.entity_routes import EntityRoutes, Limit, NextToken, created, no_content
from riskgate.handlers.api.preconditions import IfMatch, expected_version
from riskgate.services import response_policies as service

router = Router()

PolicyId = Annotated[str, Path(min_length=1, max_length=64, description="Response policy id (rsp-…)")]

ROUTES = EntityRoutes(
    router,
    tags=["response policies"],
    errors={
        403: "response_policies:manage is not granted in the policy's scope (global: also scopes:global)",
        404: "No such response policy, or it is outside the caller's scopes",
        409: "Changed concurrently: read it again and retry",
        422: (
            "Invalid fields (named in details), an unknown scope, an output naming no integration this "
            "policy may use (one answer whether it does not exist, is hidden from the caller or is in "
            "another scope)"
        ),
    },
)


def view(policy: dict[str, Any]) -> models.ResponsePolicy:
    return models.ResponsePolicy.model_validate(policy)


@ROUTES.route(
    "GET",
    "/v1/response-policies",
    Permission.RESPONSE_POLICIES_READ,
    "List the response policies in the caller's scopes, by name",
    (200, "A page of response policies"),
)
def list_policies(limit: Limit = 50, next_token: NextToken = None) -> models.ResponsePolicyPage:
    page = service.list_policies(default_response_policy_store(), ROUTES.access(), limit, next_token)
    return models.ResponsePolicyPage(items=[view(p) for p in page.items], next_token=page.next_token)


@ROUTES.route(
    "GET",
    "/v1/response-policies/<policy_id>",
    Permission.RESPONSE_POLICIES_READ,
    "Get a response policy",
    (200, "The response policy", 404),
)
def get_policy(policy_id: PolicyId) -> models.ResponsePolicy:
    return view(service.get_policy(default_response_policy_store(), ROUTES.access(), policy_id))


@ROUTES.route(
    "POST",
    "/v1/response-policies",
    Permission.RESPONSE_POLICIES_MANAGE,
    "Create a response policy (enabled unless sent otherwise)",
    (201, "The new response policy", 422),
)
def create_policy(
    policy: Annotated[models.ResponsePolicyCreate, Body()],
) -> Response[models.ResponsePolicy]:
    stored = service.create_policy(
        default_response_policy_store(),
        default_integration_store(),
        ROUTES.access(),
        ROUTES.actor(),
        policy.model_dump(mode="json"),
    )
    return created(view(stored), f"/v1/response-policies/{stored['id']}")


@ROUTES.route(
    "PATCH",
    "/v1/response-policies/<policy_id>",
    Permission.RESPONSE_POLICIES_MANAGE,
    "Change a response policy (the fields sent); a change that changes nothing writes nothing",
    (200, "The response policy as changed", 404, 409, 422),
)
def update_policy(
    policy_id: PolicyId, changes: Annotated[models.ResponsePolicyUpdate, Body()], if_match: IfMatch = None
) -> models.ResponsePolicy:
    updated = service.update_policy(
        default_response_policy_store(),
        default_integration_store(),
        ROUTES.access(),
        ROUTES.actor(),
        policy_id,
        changes.changes(),
        expected_version=expected_version(if_match),
    )
    return view(updated)


@ROUTES.route(
    "POST",
    "/v1/response-policies/<policy_id>/enable",
    Permission.RESPONSE_POLICIES_MANAGE,
    "Enable a response policy; an enabled one stays as it is",
    (200, "The response policy", 404, 409),
)
def enable_policy(policy_id: PolicyId, if_match: IfMatch = None) -> models.ResponsePolicy:
    return view(_set_enabled(policy_id, True, if_match))


@ROUTES.route(
    "POST",
    "/v1/response-policies/<policy_id>/disable",
    Permission.RESPONSE_POLICIES_MANAGE,
    "Disable a response policy: it no longer fires; a disabled one stays as it is",
    (200, "The response policy", 404, 409),
)
def disable_policy(policy_id: PolicyId, if_match: IfMatch = None) -> models.ResponsePolicy:
    return view(_set_enabled(policy_id, False, if_match))


def _set_enabled(policy_id: str, enabled: bool, if_match: str | None) -> dict[str, Any]:
    return service.set_enabled(
        default_response_policy_store(),
        ROUTES.access(),
        ROUTES.actor(),
        policy_id,
        enabled,
        expected_version=expected_version(if_match),
    )


@ROUTES.route(
    "DELETE",
    "/v1/response-policies/<policy_id>",
    Permission.RESPONSE_POLICIES_MANAGE,
    "Delete a response policy; the integrations it named are free to delete",
    (204, "Deleted", 404, 409),
)
def delete_policy(policy_id: PolicyId, if_match: IfMatch = None) -> Response[None]:
    service.delete_policy(
        default_response_policy_store(),
        ROUTES.access(),
        ROUTES.actor(),
        policy_id,
        expected_version=expected_version(if_match),
    )
    return no_content()
