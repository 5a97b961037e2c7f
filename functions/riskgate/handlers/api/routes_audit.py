"""GET /v1/audit-events: the security event log, newest first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from riskgate.adapters.audit_log import list_audit_events
from riskgate.adapters.store import default_store
from riskgate.domain.errors import InvalidInput
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import models
from riskgate.handlers.api.security import secured_route

router = Router()

STORED_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def stored_time(value: str | None, name: str) -> str | None:
    """An ISO 8601 time as the log stores it, so that range bounds compare correctly as strings."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise InvalidInput(
            f"{name} is not an ISO 8601 time such as 2026-01-31T00:00:00Z",
            details=[{"location": f"query.{name}", "message": "not an ISO 8601 time"}],
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(STORED_TIME_FORMAT)


@secured_route(
    router,
    "GET",
    "/v1/audit-events",
    Permission.AUDIT_READ,
    # The log spans every scope: reading it needs audit:read granted in the global scope.
    only_in_global="reading the security event log needs audit:read in the global scope",
    tags=["audit"],
    summary="The security event log: every change, token issued or revoked, failed authentication",
)
def audit_events(
    since: Annotated[str | None, Query(description="From this time (ISO 8601, inclusive)")] = None,
    until: Annotated[str | None, Query(description="Up to this time (ISO 8601, inclusive)")] = None,
    actor: Annotated[str | None, Query(description="User id of who acted")] = None,
    entity_type: Annotated[str | None, Query(description="scope, role, user, token, scan, …")] = None,
    entity_id: Annotated[str | None, Query(description="Needs entity_type")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    next_token: Annotated[str | None, Query()] = None,
) -> models.AuditEventPage:
    if entity_id and not entity_type:
        raise InvalidInput(
            "entity_id needs entity_type",
            details=[{"location": "query.entity_type", "message": "required with entity_id"}],
        )
    store = default_store()
    page = list_audit_events(
        store.client,
        store.table_name,
        entity_type=entity_type,
        entity_id=entity_id,
        actor=actor,
        since=stored_time(since, "since"),
        until=stored_time(until, "until"),
        limit=limit,
        next_token=next_token,
    )
    return models.AuditEventPage(
        items=[models.AuditEvent.model_validate(item) for item in page.items], next_token=page.next_token
    )
