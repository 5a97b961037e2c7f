"""Verdicts for CI: an image's current verdict (by id or by reference) and its decision records.

Verdict routes read images, so they behave as image routes: `images:read` in a scope containing the
image, else 404. Wiring only: the verdict is `riskgate.services.evaluation.current_verdict`.

They read their image (or the tag pointer) with the configuration version (`first_keys`), and take the
caller's roles and scopes and the policies from that version's snapshot: a warm instance answers a CI
gate with 3 requests, 4 for a tag it has not answered for since the tag last moved (docs/architecture.md,
"Verdict requests (issue 13)").
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from riskgate.adapters.acceptances import default_acceptance_store
from riskgate.adapters.store import default_store
from riskgate.adapters.verdict_reads import (
    TagHints,
    first_keys_for_reference,
    image_by_id,
    image_for_reference,
    image_key,
)
from riskgate.clock import system_now
from riskgate.domain.access import ImageTarget
from riskgate.domain.errors import InvalidInput, NotFound
from riskgate.domain.images import parse_image_reference
from riskgate.domain.permissions import Permission
from riskgate.domain.policies import DEFAULT_POLICY
from riskgate.handlers.api import models
from riskgate.handlers.api.openapi_docs import documented
from riskgate.handlers.api.security import (
    current_access,
    current_config,
    current_first_reads,
    secured_route,
)
from riskgate.services.acceptance_lookup import acceptances_for_images
from riskgate.services.evaluation import current_verdict
from riskgate.services.policies import policies_used

router = Router()

Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
NextToken = Annotated[str | None, Query(description="Opaque token from the previous page")]
ImageId = Annotated[str, Path(pattern=r"^img-[0-9a-f]{20}$", description="Image id")]
NOT_FOUND = {404: "No such image, or it is outside the caller's scopes"}
TAGS = ["verdicts"]
# Scans recorded before policies were data were all judged by the built-in default policy, version 1.
LEGACY_POLICIES = policies_used([DEFAULT_POLICY])
# The image each tag pointed at when this instance last answered for it: read again with the pointer.
TAG_HINTS = TagHints()


def _image_first(route_args: dict[str, Any]) -> list[dict[str, str]]:
    image_id = route_args.get("image_id")
    return [image_key(image_id)] if isinstance(image_id, str) else []


def _reference_first(route_args: dict[str, Any]) -> list[dict[str, str]]:
    try:
        ref = parse_image_reference(route_args["image"])
    except (InvalidInput, KeyError, TypeError):
        return []  # the route refuses it, after the permission check
    return first_keys_for_reference(ref, TAG_HINTS)


def _image_or_404(image_id: str, shown_as: str | None = None) -> dict[str, Any]:
    image = image_by_id(image_id, current_first_reads(router), default_store())
    return _visible_or_404(image, shown_as or image_id)


def _visible_or_404(image: dict[str, Any] | None, shown_as: str) -> dict[str, Any]:
    if image is not None:
        target = ImageTarget(image["registry"], image["repository"], tuple(image.get("tags") or ()))
        # An image outside the caller's scopes does not exist for them.
        if current_access(router).may_on_image(Permission.IMAGES_READ, target):
            return image
    raise NotFound(f"image {shown_as} not found")


def _reference(image: dict[str, Any]) -> str:
    """How to name the image: by digest where known, else by its (first) tag."""
    name = f"{image['registry']}/{image['repository']}"
    if image.get("digest"):
        return f"{name}@{image['digest']}"
    tags = sorted(image.get("tags") or [])
    return f"{name}:{tags[0]}" if tags else name


def _verdict(image: dict[str, Any], reference: str) -> models.ImageVerdict:
    config = current_config(router)
    acceptances = acceptances_for_images(default_acceptance_store(), config.scope_definitions)
    current = current_verdict(default_store(), image, config.policies_for(), acceptances, system_now())
    return models.ImageVerdict.model_validate(
        {
            "image_id": image["image_id"],
            "image_reference": reference,
            "scan_id": current.scan_id,
            **current.verdict,
            "policies": current.policies,
            "acceptances": current.acceptances,
            "evaluated_at": current.evaluated_at,
        }
    )


@secured_route(
    router,
    "GET",
    "/v1/images/<image_id>/verdict",
    Permission.IMAGES_READ,
    first_keys=_image_first,
    tags=TAGS,
    summary="The image's current verdict under the policies in force now",
    responses=documented(200, "The verdict", NOT_FOUND),
)
def image_verdict(image_id: ImageId) -> models.ImageVerdict:
    image = _image_or_404(image_id)
    return _verdict(image, _reference(image))


@secured_route(
    router,
    "GET",
    "/v1/verdict",
    Permission.IMAGES_READ,
    first_keys=_reference_first,
    tags=TAGS,
    summary="The current verdict of the image a reference names (what a CI gate asks)",
    responses=documented(200, "The verdict", {**NOT_FOUND, 422: "Not an image reference"}),
)
def verdict_by_reference(
    image: Annotated[
        str, Query(min_length=1, max_length=600, description="registry/repository:tag or …@sha256:…")
    ],
) -> models.ImageVerdict:
    ref = parse_image_reference(image)
    # A digest names the image itself; a tag names whichever image was last scanned under it.
    image_id, summary = image_for_reference(ref, current_first_reads(router), default_store(), TAG_HINTS)
    if image_id is None:
        raise NotFound(f"image {ref.reference} not found")
    return _verdict(_visible_or_404(summary, ref.reference), ref.reference)


@secured_route(
    router,
    "GET",
    "/v1/images/<image_id>/verdicts",
    Permission.IMAGES_READ,
    first_keys=_image_first,
    tags=TAGS,
    summary="Decision records: each scan's verdict with the policies and acceptances it used, newest first",
    responses=documented(200, "A page of decision records", NOT_FOUND),
)
def decision_records(
    image_id: ImageId, limit: Limit = 50, next_token: NextToken = None
) -> models.DecisionRecordPage:
    _image_or_404(image_id)
    page = default_store().list_scans(image_id, limit, next_token)
    records = [
        models.DecisionRecord.model_validate(
            {
                "scan_id": scan["scan_id"],
                "received_at": scan["received_at"],
                "image_reference": scan["image_reference"],
                "submitted_by": scan["submitted_by"],
                **scan["verdict"],
                "policies": scan.get("policies", LEGACY_POLICIES),
                "acceptances": scan.get("acceptances") or [],
            }
        )
        for scan in page.items
    ]
    return models.DecisionRecordPage(items=records, next_token=page.next_token)
