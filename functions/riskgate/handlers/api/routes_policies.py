"""Assurance policies: what makes an image non-compliant, where, and whether it blocks CI. Wiring only;
the access rules are in `riskgate.services.policies`."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from riskgate.adapters.policies import default_policy_store
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import models_policies as models
from riskgate.handlers.api import openapi_docs
from riskgate.handlers.api.preconditions import IfMatch, expected_version
from riskgate.handlers.api.security import current_access, current_actor, secured_route
from riskgate.services import policies as service

router = Router()

Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
NextToken = Annotated[str | None, Query(description="Opaque token from the previous page")]
PolicyId = Annotated[str, Path(min_length=1, max_length=64, description="Policy id; default: the built-in")]

ERRORS = {
    403: "assurance_policies:manage is not granted in the policy's scope (global: also scopes:global)",
    404: "No such policy, or it is outside the caller's scopes",
    409: "Changed concurrently: read it again and retry",
    422: "Invalid fields (named in details), or an unknown scope",
}
TAGS = ["assurance policies"]


def documented(success: int, description: str, *errors: int) -> dict[int, Any]:
    return openapi_docs.documented(success, description, {status: ERRORS[status] for status in errors})


def view(policy: dict[str, Any]) -> models.AssurancePolicy:
    return models.AssurancePolicy.model_validate(policy)


@secured_route(
    router,
    "GET",
    "/v1/assurance-policies",
    Permission.ASSURANCE_POLICIES_READ,
    tags=TAGS,
    summary="List the policies in the caller's scopes, by name; the built-in default first",
    responses=documented(200, "A page of policies"),
)
def list_policies(limit: Limit = 50, next_token: NextToken = None) -> models.AssurancePolicyPage:
    page = service.list_policies(default_policy_store(), current_access(router), limit, next_token)
    return models.AssurancePolicyPage(items=[view(p) for p in page.items], next_token=page.next_token)


@secured_route(
    router,
    "GET",
    "/v1/assurance-policies/<policy_id>",
    Permission.ASSURANCE_POLICIES_READ,
    tags=TAGS,
    summary="Get a policy, with the progress of its re-evaluation",
    responses=documented(200, "The policy", 404),
)
def get_policy(policy_id: PolicyId) -> models.AssurancePolicy:
    return view(service.get_policy(default_policy_store(), current_access(router), policy_id))


@secured_route(
    router,
    "POST",
    "/v1/assurance-policies",
    Permission.ASSURANCE_POLICIES_MANAGE,
    status_code=201,
    tags=TAGS,
    summary="Create a policy; images in its scope are judged by it from now on",
    responses=documented(201, "The new policy", 422),
)
def create_policy(policy: Annotated[models.PolicyCreate, Body()]) -> Response[models.AssurancePolicy]:
    stored = service.create_policy(
        default_policy_store(), current_access(router), current_actor(router), policy.model_dump(mode="json")
    )
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=view(stored),
        headers={"Location": f"/v1/assurance-policies/{stored['id']}"},
    )


@secured_route(
    router,
    "PATCH",
    "/v1/assurance-policies/<policy_id>",
    Permission.ASSURANCE_POLICIES_MANAGE,
    tags=TAGS,
    summary="Change a policy (the fields sent); a change that changes nothing writes nothing",
    responses=documented(200, "The policy as changed", 404, 409, 422),
)
def update_policy(
    policy_id: PolicyId, changes: Annotated[models.PolicyUpdate, Body()], if_match: IfMatch = None
) -> models.AssurancePolicy:
    updated = service.update_policy(
        default_policy_store(),
        current_access(router),
        current_actor(router),
        policy_id,
        changes.changes(),
        expected_version=expected_version(if_match),
    )
    return view(updated)


@secured_route(
    router,
    "DELETE",
    "/v1/assurance-policies/<policy_id>",
    Permission.ASSURANCE_POLICIES_MANAGE,
    status_code=204,
    tags=TAGS,
    summary="Delete a policy; the built-in default stays deleted",
    responses=documented(204, "Deleted", 404, 409),
)
def delete_policy(policy_id: PolicyId, if_match: IfMatch = None) -> Response[None]:
    service.delete_policy(
        default_policy_store(),
        current_access(router),
        current_actor(router),
        policy_id,
        expected_version=expected_version(if_match),
    )
    return Response(status_code=204, content_type=None, body=None)
