"""Assurance policies: what makes an image non-compliant, where, and whether it blocks CI. Wiring only;
the access rules are in `riskgate.services.policies`."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from riskgate.adapters.policies import default_policy_store
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import models_policies as models
from riskgate.handlers.api.entity_routes import EntityRoutes, Limit, NextToken, created, no_content
from riskgate.handlers.api.preconditions import IfMatch, expected_version
from riskgate.services import policies as service

router = Router()

PolicyId = Annotated[str, Path(min_length=1, max_length=64, description="Policy id; default: the built-in")]

ROUTES = EntityRoutes(
    router,
    tags=["assurance policies"],
    errors={
        403: "assurance_policies:manage is not granted in the policy's scope (global: also scopes:global)",
        404: "No such policy, or it is outside the caller's scopes",
        409: "Changed concurrently: read it again and retry",
        422: "Invalid fields (named in details), or an unknown scope",
    },
)


def view(policy: dict[str, Any]) -> models.AssurancePolicy:
    return models.AssurancePolicy.model_validate(policy)


@ROUTES.route(
    "GET",
    "/v1/assurance-policies",
    Permission.ASSURANCE_POLICIES_READ,
    "List the policies in the caller's scopes, by name; the built-in default first",
    (200, "A page of policies"),
)
def list_policies(limit: Limit = 50, next_token: NextToken = None) -> models.AssurancePolicyPage:
    page = service.list_policies(default_policy_store(), ROUTES.access(), limit, next_token)
    return models.AssurancePolicyPage(items=[view(p) for p in page.items], next_token=page.next_token)


@ROUTES.route(
    "GET",
    "/v1/assurance-policies/<policy_id>",
    Permission.ASSURANCE_POLICIES_READ,
    "Get a policy, with the progress of its re-evaluation",
    (200, "The policy", 404),
)
def get_policy(policy_id: PolicyId) -> models.AssurancePolicy:
    return view(service.get_policy(default_policy_store(), ROUTES.access(), policy_id))


@ROUTES.route(
    "POST",
    "/v1/assurance-policies",
    Permission.ASSURANCE_POLICIES_MANAGE,
    "Create a policy; images in its scope are judged by it from now on",
    (201, "The new policy", 422),
)
def create_policy(policy: Annotated[models.PolicyCreate, Body()]) -> Response[models.AssurancePolicy]:
    stored = service.create_policy(
        default_policy_store(), ROUTES.access(), ROUTES.actor(), policy.model_dump(mode="json")
    )
    return created(view(stored), f"/v1/assurance-policies/{stored['id']}")


@ROUTES.route(
    "PATCH",
    "/v1/assurance-policies/<policy_id>",
    Permission.ASSURANCE_POLICIES_MANAGE,
    "Change a policy (the fields sent); a change that changes nothing writes nothing",
    (200, "The policy as changed", 404, 409, 422),
)
def update_policy(
    policy_id: PolicyId, changes: Annotated[models.PolicyUpdate, Body()], if_match: IfMatch = None
) -> models.AssurancePolicy:
    updated = service.update_policy(
        default_policy_store(),
        ROUTES.access(),
        ROUTES.actor(),
        policy_id,
        changes.changes(),
        expected_version=expected_version(if_match),
    )
    return view(updated)


@ROUTES.route(
    "DELETE",
    "/v1/assurance-policies/<policy_id>",
    Permission.ASSURANCE_POLICIES_MANAGE,
    "Delete a policy; the built-in default stays deleted",
    (204, "Deleted", 404, 409),
)
def delete_policy(policy_id: PolicyId, if_match: IfMatch = None) -> Response[None]:
    service.delete_policy(
        default_policy_store(),
        ROUTES.access(),
        ROUTES.actor(),
        policy_id,
        expected_version=expected_version(if_match),
    )
    return no_content()
