"""Risk acceptances: accept a finding for a period, extend, revoke, read, export for scanners; and the
trigger events the expiry run records. Wiring only: the rules and access are in
`riskgate.services.acceptance_changes` and `riskgate.services.acceptance_reads`. The clock is read here,
once per request, and passed down.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from riskgate import metrics
from riskgate.adapters.acceptances import default_acceptance_store
from riskgate.adapters.store import default_store
from riskgate.clock import parse_iso, system_now
from riskgate.domain.access import ImageTarget
from riskgate.domain.errors import InvalidInput, NotFound
from riskgate.domain.images import parse_image_reference
from riskgate.domain.permissions import Permission
from riskgate.handlers import judging
from riskgate.handlers.api import models_acceptances as models
from riskgate.handlers.api import openapi_docs
from riskgate.handlers.api.preconditions import IfMatch, expected_version
from riskgate.handlers.api.security import current_access, current_actor, secured_route
from riskgate.resources import METRIC_ACCEPTANCES_CREATED, METRIC_ACCEPTANCES_REVOKED
from riskgate.services import acceptance_changes as changes
from riskgate.services import acceptance_reads as reads
from riskgate.settings import get_settings

router = Router()

Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
NextToken = Annotated[str | None, Query(description="Opaque token from the previous page")]
AcceptanceId = Annotated[str, Path(min_length=1, max_length=64, description="Risk acceptance id (acc-…)")]
IMAGE_ID_RE = re.compile(r"^img-[0-9a-f]{20}$")
TRIVYIGNORE_FILE = ".trivyignore.yaml"

ERRORS = {
    403: "risks:accept is not granted in a scope covering what the acceptance covers (a repository: "
    "every tag of it; all images in the global scope: also scopes:global)",
    404: "No such risk acceptance or image, or it is outside the caller's scopes",
    409: "Already accepted in this scope by an acceptance in force (named in details), or the acceptance "
    "is not active any more, or it changed concurrently",
    422: "Invalid fields (named in details): e.g. expires_at not in the future, a finding not in the image, "
    "malware above medium severity, a new end not later than the current one",
}
TAGS = ["risk acceptances"]


def documented(success: int, description: str, *errors: int) -> dict[int, Any]:
    return openapi_docs.documented(success, description, {status: ERRORS[status] for status in errors})


def view(acceptance: dict[str, Any]) -> models.RiskAcceptance:
    return models.RiskAcceptance.model_validate(acceptance)


@secured_route(
    router,
    "POST",
    "/v1/risk-acceptances",
    Permission.RISKS_ACCEPT,
    status_code=201,
    tags=TAGS,
    summary="Accept a risk for a period: the finding stops affecting the covered images' status",
    responses=documented(201, "The new acceptance, active", 403, 404, 409, 422),
)
def accept(body: Annotated[models.AcceptanceCreate, Body()]) -> Response[models.RiskAcceptance]:
    now = system_now()
    stored = changes.accept(
        default_acceptance_store(),
        default_store(),
        current_access(router),
        current_actor(router),
        body.model_dump(mode="json", exclude_none=True),
        now=now,
        reminder_days=get_settings().expiry_reminder_days,
        reevaluate=judging.reevaluate_now(now),
    )
    metrics.count(METRIC_ACCEPTANCES_CREATED)
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=view(stored),
        headers={"Location": f"/v1/risk-acceptances/{stored['id']}"},
    )


@secured_route(
    router,
    "GET",
    "/v1/risk-acceptances",
    Permission.RISKS_READ,
    tags=TAGS,
    summary="List the acceptances the caller may see, newest first (filters apply page by page)",
    responses=openapi_docs.documented(
        200,
        "A page of acceptances; a page may hold fewer than limit",
        {422: "Invalid filters: expires_before not a time with a zone, repository with a tag"},
    ),
)
def list_acceptances(
    status: Annotated[models.StatusName | None, Query(description="The status as of now")] = None,
    finding_id: Annotated[str | None, Query(min_length=1, max_length=200, description="e.g. a CVE")] = None,
    image_id: Annotated[
        str | None, Query(pattern=IMAGE_ID_RE.pattern, description="Those covering this image")
    ] = None,
    repository: Annotated[
        str | None, Query(min_length=1, max_length=500, description="registry/repository")
    ] = None,
    expires_before: Annotated[
        str | None, Query(description="Ending before this time (ISO 8601 with a zone)")
    ] = None,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> models.RiskAcceptancePage:
    filters = reads.ListFilters(
        status=status,
        finding_id=finding_id,
        image_id=image_id,
        repository=repository,
        expires_before=_moment(expires_before, "expires_before"),
    )
    page = reads.list_acceptances(
        default_acceptance_store(),
        default_store(),
        current_access(router),
        filters,
        limit,
        next_token,
        now=system_now(),
        scopes=judging.scope_definitions,
    )
    return models.RiskAcceptancePage(items=[view(a) for a in page.items], next_token=page.next_token)


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError as error:
        raise InvalidInput(
            f"{name} is not an ISO 8601 time with a zone, such as 2026-01-31T00:00:00Z",
            details=[{"location": f"query.{name}", "message": str(error)}],
        ) from error


# Registered before /v1/risk-acceptances/<acceptance_id>, so that "export" is not taken for an id.
@secured_route(
    router,
    "GET",
    "/v1/risk-acceptances/export",
    Permission.RISKS_READ,
    tags=TAGS,
    summary=(
        "The acceptances in force the caller may see, for scanners: a .trivyignore.yaml (what Trivy "
        "cannot express without widening it is left out, and listed) or an OpenVEX document"
    ),
    responses={
        **openapi_docs.documented(
            200,
            "The export",
            {404: "No such image, or it is outside the caller's scopes", 422: "Not an image id or reference"},
        ),
        200: {
            "description": "application/yaml (trivyignore) or application/json (openvex)",
            "content": {
                # A YAML document whose top level is a mapping (YAML-aware clients parse it as one).
                "application/yaml": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "vulnerabilities": {"type": "array"},
                            "misconfigurations": {"type": "array"},
                            "secrets": {"type": "array"},
                        },
                    }
                },
                content_types.APPLICATION_JSON: {"schema": {"type": "object"}},
            },
        },
    },
)
def export(
    export_format: Annotated[
        Literal["trivyignore", "openvex"],
        Query(
            alias="format",
            description="trivyignore: .trivyignore.yaml; openvex: OpenVEX (status affected, risk accepted)",
        ),
    ] = "trivyignore",
    image: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=600,
            description="Only acceptances covering this image: its id (img-…) or registry/repository:tag",
        ),
    ] = None,
) -> Response[str]:
    now = system_now()
    access = current_access(router)
    content_type, text = reads.export(
        default_acceptance_store(),
        access,
        export_format,
        now=now,
        image=_image_or_404(image) if image is not None else None,
        acceptances_for=judging.acceptances_for(),
        document_id=f"urn:riskgate:vex:{uuid.uuid4()}",
    )
    headers = {}
    if export_format == "trivyignore":
        headers["Content-Disposition"] = f'attachment; filename="{TRIVYIGNORE_FILE}"'
    return Response(status_code=200, content_type=content_type, body=text, headers=headers)


def _image_or_404(name: str) -> dict[str, Any]:
    """The image an id or a reference names, if the caller may see risks on it."""
    if IMAGE_ID_RE.match(name):
        image_id: str | None = name
    else:
        ref = parse_image_reference(name)
        # A digest names the image itself; a tag names whichever image was last scanned under it.
        image_id = ref.image_id if ref.digest else default_store().image_for_tag(ref)
    image = default_store().get_image(image_id) if image_id else None
    if image is not None:
        target = ImageTarget(image["registry"], image["repository"], tuple(image.get("tags") or ()))
        # An image outside the caller's scopes does not exist for them.
        if current_access(router).may_on_image(Permission.RISKS_READ, target):
            return image
    raise NotFound(f"image {name} not found")


@secured_route(
    router,
    "GET",
    "/v1/risk-acceptances/<acceptance_id>",
    Permission.RISKS_READ,
    tags=TAGS,
    summary="Get an acceptance, the images it covers now, and whether it is stale (and why)",
    responses=documented(200, "The acceptance", 404),
)
def get_acceptance(acceptance_id: AcceptanceId) -> models.RiskAcceptanceDetail:
    found = reads.get_acceptance(
        default_acceptance_store(),
        default_store(),
        current_access(router),
        acceptance_id,
        now=system_now(),
        scopes=judging.scope_definitions,
    )
    return models.RiskAcceptanceDetail.model_validate(found)


@secured_route(
    router,
    "POST",
    "/v1/risk-acceptances/<acceptance_id>/extend",
    Permission.RISKS_ACCEPT,
    tags=TAGS,
    summary="Move an active acceptance's end later (a new period from now, or a new expires_at)",
    responses=documented(200, "The same acceptance, active, with its new expires_at", 403, 404, 409, 422),
)
def extend(
    acceptance_id: AcceptanceId, body: Annotated[models.AcceptanceExtend, Body()], if_match: IfMatch = None
) -> models.RiskAcceptance:
    extended = changes.extend(
        default_acceptance_store(),
        current_access(router),
        current_actor(router),
        acceptance_id,
        body.model_dump(mode="json", exclude_none=True),
        now=system_now(),
        reminder_days=get_settings().expiry_reminder_days,
        expected_version=expected_version(if_match),
    )
    return view(extended)


@secured_route(
    router,
    "POST",
    "/v1/risk-acceptances/<acceptance_id>/revoke",
    Permission.RISKS_ACCEPT,
    tags=TAGS,
    summary="Revoke an active acceptance: the risk affects every image it covered again (body optional)",
    responses=documented(200, "The acceptance, revoked", 403, 404, 409, 422),
)
def revoke(
    acceptance_id: AcceptanceId,
    body: Annotated[models.AcceptanceRevoke | None, Body()] = None,
    if_match: IfMatch = None,
) -> models.RiskAcceptance:
    now = system_now()
    revoked = changes.revoke(
        default_acceptance_store(),
        current_access(router),
        current_actor(router),
        acceptance_id,
        body.reason if body is not None else None,
        now=now,
        reevaluate=judging.reevaluate_now(now),
        expected_version=expected_version(if_match),
    )
    metrics.count(METRIC_ACCEPTANCES_REVOKED)
    return view(revoked)


@secured_route(
    router,
    "GET",
    "/v1/events",
    Permission.RISKS_READ,
    tags=["events"],
    summary="Trigger events (an image fired a trigger; an acceptance ended or ends soon), newest first",
    responses=documented(200, "A page of events; a page may hold fewer than limit"),
)
def list_events(
    event_type: Annotated[
        models.EventType | None, Query(alias="type", description="Only events of this type")
    ] = None,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> models.EventPage:
    access = current_access(router)
    page = reads.list_events(default_acceptance_store(), access, event_type, limit, next_token)
    return models.EventPage(
        items=[models.Event.model_validate(event) for event in page.items], next_token=page.next_token
    )
