"""What the routes of every managed entity share (assurance policies, response policies, integrations):
the list parameters, the OpenAPI documentation of an entity's errors, the caller, and the answers of a
create (201 with its `Location`) and of a delete (204). Each entity's routes module stays wiring: its
paths, permissions, summaries and models (riskgate.handlers.api.routes_policies is the example).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from riskgate.domain.access import Access
from riskgate.domain.audit import Actor
from riskgate.handlers.api import openapi_docs
from riskgate.handlers.api.security import current_access, current_actor

Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
NextToken = Annotated[str | None, Query(description="Opaque token from the previous page")]


@dataclass(frozen=True)
class EntityRoutes:
    """One entity's router, its OpenAPI tags, and what each error status means for it."""

    router: Router
    tags: list[str]
    errors: Mapping[int, str]

    def documented(self, success: int, description: str, *errors: int) -> dict[int, Any]:
        """The responses of a route: its success, and the entity's errors it can answer."""
        return openapi_docs.documented(
            success, description, {status: self.errors[status] for status in errors}
        )

    def access(self) -> Access:
        return current_access(self.router)

    def actor(self) -> Actor:
        return current_actor(self.router)


def created(body: Any, location: str) -> Response[Any]:
    """201 with the new entity, and where it is."""
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={"Location": location},
    )


def no_content() -> Response[None]:
    return Response(status_code=204, content_type=None, body=None)
