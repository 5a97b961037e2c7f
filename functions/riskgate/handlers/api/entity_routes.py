"""The one route pattern of every managed entity (assurance policies, response policies, integrations,
scopes, roles, users): `EntityRoutes.route` registers a route with its permission (and, for what belongs
to the whole account, that it must be granted in `global`), the entity's OpenAPI tags, and the success
and errors it can answer, documented with the entity's own words for each; with it come the list
parameters, the caller, and the answers of a create (201 with its `Location`) and of a delete (204).
Each entity's routes module stays wiring: its paths, permissions, summaries and models
(riskgate.handlers.api.routes_policies is the example).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from riskgate.domain.access import Access
from riskgate.domain.audit import Actor
from riskgate.domain.permissions import Permission
from riskgate.handlers.api import openapi_docs
from riskgate.handlers.api.security import current_access, current_actor, secured_route

Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
NextToken = Annotated[str | None, Query(description="Opaque token from the previous page")]


@dataclass(frozen=True)
class EntityRoutes:
    """One entity's router, its OpenAPI tags, and what each error status means for it."""

    router: Router
    tags: list[str]
    errors: Mapping[int, str]
    # For entities of the whole account (scopes, roles, users): the refusal of a caller who holds the
    # route's permission only in a narrower scope (None: the entity's own scope decides, in its service).
    only_in_global: str | None = None

    def route(
        self,
        method: str,
        path: str,
        permission: Permission,
        summary: str,
        answers: tuple[Any, ...],
        **options: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register `method path`: `answers` is the success status, its description, and the error
        statuses the route can answer (e.g. `(200, "The policy as changed", 404, 409, 422)`); `options`
        go to the router (an operation's `description`)."""
        success, description, *errors = answers
        return secured_route(
            self.router,
            method,
            path,
            permission,
            only_in_global=self.only_in_global,
            tags=self.tags,
            summary=summary,
            responses=self.documented(success, description, *errors),
            **({} if success == 200 else {"status_code": success}),
            **options,
        )

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
