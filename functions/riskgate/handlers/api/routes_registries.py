"""Registry connections: where Riskgate takes scan results from by itself (ECR with basic scanning or
Inspector, Harbor), their events, syncs on demand, and Harbor's webhook. Wiring only; the rules are in
`riskgate.services.registries`. Connections belong to the whole account: their permissions count only
when granted in `global`.

`POST /v1/registries/{registry_id}/webhook` is the one route here without a bearer token (listed in
`riskgate.resources.PUBLIC_ROUTES`, so neither API Gateway nor the local gateway asks the authorizer):
Harbor cannot send one, and the service checks Harbor's shared secret itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from riskgate.adapters.registries import default_registry_store
from riskgate.adapters.work_queue import WorkQueue, registry_work_queue
from riskgate.clock import system_now
from riskgate.domain.errors import NotConfigured
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import models_registries as models
from riskgate.handlers.api import openapi_docs
from riskgate.handlers.api.bodies import raw_body
from riskgate.handlers.api.entity_routes import EntityRoutes, Limit, NextToken, created, no_content
from riskgate.handlers.api.preconditions import IfMatch, expected_version
from riskgate.handlers.api.security import public_route
from riskgate.services import registries as service
from riskgate.settings import get_settings

router = Router()

RegistryId = Annotated[str, Path(min_length=1, max_length=64, description="Registry connection id (reg-…)")]

ERRORS = {
    403: "The permission (registries:read or registries:manage) is not granted in the global scope",
    404: "No such registry connection",
    409: "Name taken, changed concurrently (If-Match), or a sync of the connection is running already",
    422: "Invalid fields (named in details): e.g. body.config.account_id",
    503: "The registry work queue is not configured (nothing was changed), or the store is busy: retry "
    "after the seconds in Retry-After",
}
TAGS = ["registries"]
# Two route sets on one router: reads and changes refuse a narrower grant each in their own words.
READS = EntityRoutes(router, TAGS, ERRORS, only_in_global=service.READ_REFUSAL)
CHANGES = EntityRoutes(router, TAGS, ERRORS, only_in_global=service.MANAGE_REFUSAL)

NO_QUEUE = "registry syncs and webhooks are not available: the registry work queue is not configured"


def work_queue() -> WorkQueue:
    """The registry work queue; 503 when the deployment names none."""
    queue = registry_work_queue()
    if queue is None:
        raise NotConfigured(NO_QUEUE)
    return queue


class _WhenSending:
    """The work queue, looked for only when something is to be sent: a webhook is first checked (404,
    401, 400) as it would be with one, so that its answer says nothing of the deployment before that."""

    def send(self, message: dict[str, Any]) -> None:
        work_queue().send(message)


def view(connection: dict[str, Any]) -> models.Registry:
    return models.Registry.model_validate(connection)


@READS.route(
    "GET",
    "/v1/registries",
    Permission.REGISTRIES_READ,
    "List the registry connections, by name, each with its state",
    (200, "A page of registry connections"),
)
def list_registries(limit: Limit = 50, next_token: NextToken = None) -> models.RegistryPage:
    page = service.list_connections(default_registry_store(), READS.access(), limit, next_token)
    return models.RegistryPage(items=[view(c) for c in page.items], next_token=page.next_token)


@READS.route(
    "GET",
    "/v1/registries/<registry_id>",
    Permission.REGISTRIES_READ,
    "Get a registry connection (never its write-only fields) and its state",
    (200, "The connection", 404),
)
def get_registry(registry_id: RegistryId) -> models.Registry:
    return view(service.get_connection(default_registry_store(), READS.access(), registry_id))


@CHANGES.route(
    "POST",
    "/v1/registries",
    Permission.REGISTRIES_MANAGE,
    "Create a registry connection; its secret fields go to Secrets Manager",
    (201, "The new connection", 409, 422),
)
def create_registry(registry: Annotated[models.RegistryCreate, Body()]) -> Response[models.Registry]:
    stored = service.create_connection(
        default_registry_store(),
        CHANGES.access(),
        CHANGES.actor(),
        name=registry.name,
        kind=registry.type.value,
        config=registry.config,
        insecure_hosts=get_settings().registry_insecure_hosts,
    )
    return created(view(stored), f"/v1/registries/{stored['id']}")


@CHANGES.route(
    "PATCH",
    "/v1/registries/<registry_id>",
    Permission.REGISTRIES_MANAGE,
    "Rename a registry connection or change its config (the fields sent); a secret changes only when sent",
    (200, "The connection as changed", 404, 409, 422),
)
def update_registry(
    registry_id: RegistryId, changes: Annotated[models.RegistryUpdate, Body()], if_match: IfMatch = None
) -> models.Registry:
    updated = service.update_connection(
        default_registry_store(),
        CHANGES.access(),
        CHANGES.actor(),
        registry_id,
        changes.changes(),
        insecure_hosts=get_settings().registry_insecure_hosts,
        expected_version=expected_version(if_match),
    )
    return view(updated)


@CHANGES.route(
    "DELETE",
    "/v1/registries/<registry_id>",
    Permission.REGISTRIES_MANAGE,
    "Delete a registry connection and its state; its secret is scheduled for deletion",
    (204, "Deleted", 404, 409),
)
def delete_registry(registry_id: RegistryId, if_match: IfMatch = None) -> Response[None]:
    service.delete_connection(
        default_registry_store(),
        CHANGES.access(),
        CHANGES.actor(),
        registry_id,
        expected_version=expected_version(if_match),
    )
    return no_content()


@READS.route(
    "GET",
    "/v1/registries/<registry_id>/events",
    Permission.REGISTRIES_READ,
    "A registry connection's events (scans imported, failures), newest first; kept 90 days",
    (200, "A page of events", 404),
)
def list_registry_events(
    registry_id: RegistryId, limit: Limit = 50, next_token: NextToken = None
) -> models.RegistryEventPage:
    page = service.list_events(default_registry_store(), READS.access(), registry_id, limit, next_token)
    return models.RegistryEventPage(
        items=[models.RegistryEvent.model_validate(e) for e in page.items], next_token=page.next_token
    )


@CHANGES.route(
    "POST",
    "/v1/registries/<registry_id>/sync",
    Permission.REGISTRIES_MANAGE,
    "Sync a registry connection: import every covered image's latest scan, a page at a time",
    (202, "The sync is queued; GET the connection to follow it (state.sync)", 404, 409, 503),
)
def sync_registry(registry_id: RegistryId) -> models.SyncJob:
    queue = work_queue()
    job = service.request_sync(
        default_registry_store(), queue, CHANGES.access(), CHANGES.actor(), registry_id, system_now()
    )
    return models.SyncJob.model_validate(job)


def _webhook_answers() -> dict[int, Any]:
    """What Harbor's webhook can answer: no permission is involved (no 403)."""
    answers = openapi_docs.documented(
        202,
        "Accepted: queued for the registry ingester",
        {
            400: "Not a Harbor webhook event (not JSON, or not Harbor's default or CloudEvents payload)",
            401: "The Authorization header is missing or is not the connection's webhook secret",
            404: "No Harbor connection of that id",
            413: "The body is larger than a Harbor event can be",
            503: ERRORS[503],
        },
    )
    answers.pop(403)
    return answers


@public_route(
    router,
    "POST",
    "/v1/registries/<registry_id>/webhook",
    tags=TAGS,
    summary="Harbor's webhook for a Harbor connection (no bearer token: Harbor's shared secret)",
    description=(
        "Set it up in the Harbor project's webhooks: this URL, payload format Default or CloudEvents, "
        "Auth Header the connection's webhook_secret (sent as the Authorization header, as is or after "
        "`Bearer `). A wrong or missing secret is a 401 and is counted in the security event log as a "
        "failed authentication; nothing is queued."
    ),
    responses=_webhook_answers(),
    status_code=202,
)
def harbor_webhook(registry_id: RegistryId) -> models.WebhookAccepted:
    event = router.current_event
    context = event.raw_event.get("requestContext") or {}
    answer = service.receive_webhook(
        default_registry_store(),
        _WhenSending(),
        registry_id,
        event.headers.get("Authorization"),  # case-insensitive
        raw_body(event.raw_event),
        (context.get("identity") or {}).get("sourceIp"),
        system_now(),
        request_id=context.get("requestId"),
    )
    return models.WebhookAccepted.model_validate(answer)
