"""The delivery log: each notification a response policy's output sent, or tries to. Wiring only; who
sees what is in `riskgate.services.notifications` (as the response policy: `response_policies:read` in
its scope or in `global`)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from riskgate.adapters.notifications import default_notification_store
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import models_notifications as models
from riskgate.handlers.api import openapi_docs
from riskgate.handlers.api.security import current_access, secured_route
from riskgate.services import notifications as service

router = Router()

Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
NextToken = Annotated[str | None, Query(description="Opaque token from the previous page")]


@secured_route(
    router,
    "GET",
    "/v1/notifications",
    Permission.RESPONSE_POLICIES_READ,
    tags=["notifications"],
    summary="The delivery log, newest first: policy, trigger, object, output, integration, status, attempts, "
    "last error; those of the response policies the caller may see",
    responses=openapi_docs.documented(200, "A page of notifications; a page may hold fewer than limit", {}),
)
def list_notifications(
    status: Annotated[
        models.NotificationStatus | None, Query(description="Only notifications in this status")
    ] = None,
    trigger: Annotated[
        models.TriggerName | None, Query(description="Only notifications of this trigger")
    ] = None,
    policy_id: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only those of this response policy")
    ] = None,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> models.NotificationPage:
    page = service.list_notifications(
        default_notification_store(),
        current_access(router),
        limit,
        next_token,
        status=status,
        trigger=trigger,
        policy_id=policy_id,
    )
    return models.NotificationPage(
        items=[models.Notification.model_validate(item) for item in page.items], next_token=page.next_token
    )
