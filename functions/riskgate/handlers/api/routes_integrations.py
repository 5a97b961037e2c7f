"""Integrations: named channels (e-mail, Telegram, SNS, webhook) response policies send through. Wiring
only; the rules are in `riskgate.services.integrations`. Each has a scope: the permissions count there
(or in `global`), as for response policies."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from riskgate.adapters.integrations import default_integration_store
from riskgate.clock import system_now
from riskgate.domain import notifications as messages
from riskgate.domain.integrations import NAME_PATTERN
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import models_integrations as models
from riskgate.handlers.api.entity_routes import EntityRoutes, Limit, NextToken, created, no_content
from riskgate.handlers.api.preconditions import IfMatch, expected_version
from riskgate.services import integrations as service
from riskgate.settings import get_settings

router = Router()

IntegrationName = Annotated[str, Path(pattern=NAME_PATTERN, description="Integration name")]

ROUTES = EntityRoutes(
    router,
    tags=["integrations"],
    errors={
        403: "integrations:manage is not granted in the integration's scope (global: also scopes:global)",
        404: "No such integration, or it is outside the caller's scopes",
        409: "Name taken, used by response policies (named in details), or changed concurrently",
        422: "Invalid fields (named in details): e.g. a webhook URL to an internal address, an unknown scope",
    },
)


def view(integration: dict[str, Any]) -> models.Integration:
    return models.Integration.model_validate(integration)


@ROUTES.route(
    "GET",
    "/v1/integrations",
    Permission.INTEGRATIONS_READ,
    "List the integrations in the caller's scopes, by name",
    (200, "A page of integrations"),
)
def list_integrations(limit: Limit = 50, next_token: NextToken = None) -> models.IntegrationPage:
    page = service.list_integrations(default_integration_store(), ROUTES.access(), limit, next_token)
    return models.IntegrationPage(items=[view(i) for i in page.items], next_token=page.next_token)


@ROUTES.route(
    "GET",
    "/v1/integrations/<name>",
    Permission.INTEGRATIONS_READ,
    "Get an integration (never its write-only fields)",
    (200, "The integration", 404),
)
def get_integration(name: IntegrationName) -> models.Integration:
    return view(service.get_integration(default_integration_store(), ROUTES.access(), name))


@ROUTES.route(
    "POST",
    "/v1/integrations",
    Permission.INTEGRATIONS_MANAGE,
    "Create an integration in a scope; its secret fields go to Secrets Manager",
    (201, "The new integration", 403, 409, 422),
)
def create_integration(
    integration: Annotated[models.IntegrationCreate, Body()],
) -> Response[models.Integration]:
    settings = get_settings()
    stored = service.create_integration(
        default_integration_store(),
        ROUTES.access(),
        ROUTES.actor(),
        name=integration.name,
        kind=integration.type.value,
        config=integration.config,
        scope=integration.scope,
        insecure_hosts=settings.webhook_insecure_hosts,
        local_sinks=settings.webhook_local_sinks,
    )
    return created(view(stored), f"/v1/integrations/{stored['name']}")


@ROUTES.route(
    "PATCH",
    "/v1/integrations/<name>",
    Permission.INTEGRATIONS_MANAGE,
    "Change an integration's config (the fields sent); a secret is replaced only when sent",
    (200, "The integration as changed", 403, 404, 409, 422),
)
def update_integration(
    name: IntegrationName, changes: Annotated[models.IntegrationUpdate, Body()], if_match: IfMatch = None
) -> models.Integration:
    settings = get_settings()
    updated = service.update_integration(
        default_integration_store(),
        ROUTES.access(),
        ROUTES.actor(),
        name,
        changes.changes().get("config") or {},
        insecure_hosts=settings.webhook_insecure_hosts,
        local_sinks=settings.webhook_local_sinks,
        expected_version=expected_version(if_match),
    )
    return view(updated)


@ROUTES.route(
    "DELETE",
    "/v1/integrations/<name>",
    Permission.INTEGRATIONS_MANAGE,
    "Delete an integration no response policy uses; its secret is scheduled for deletion",
    (204, "Deleted", 403, 404, 409),
)
def delete_integration(name: IntegrationName, if_match: IfMatch = None) -> Response[None]:
    service.delete_integration(
        default_integration_store(),
        ROUTES.access(),
        ROUTES.actor(),
        name,
        expected_version=expected_version(if_match),
    )
    return no_content()


@ROUTES.route(
    "POST",
    "/v1/integrations/<name>/test",
    Permission.INTEGRATIONS_MANAGE,
    "Send a test message through an integration and say what happened (a failed delivery too)",
    (200, "What happened: delivered, or not and whether a retry may help", 403, 404),
    description=(
        "Delivers one sample message as the notifier would. The answer says whether it was delivered "
        "and, for webhooks, only the HTTP status the receiver answered: no connection or TLS error text "
        "and none of the receiver's answer. A webhook whose host is or resolves to an internal address "
        "(loopback, link-local/metadata, private, CGNAT, unique-local, …) is not contacted: `destination "
        "address not allowed`."
    ),
)
def send_test_message(name: IntegrationName) -> models.IntegrationTestResult:
    # Imported here: only this route sends anything.
    from riskgate.adapters import channels

    settings = get_settings()
    outcome = service.send_test_message(
        default_integration_store(),
        ROUTES.access(),
        ROUTES.actor(),
        name,
        render=messages.render,
        deliver=partial(channels.deliver, telegram_api_url=settings.telegram_api_url),
        now=system_now(),
        api_base_url=settings.public_base_url,
    )
    return models.IntegrationTestResult.model_validate(outcome)
