"""Reading images, their findings and scans, and which images carry a vulnerability.

Findings show the risk acceptance in force that takes them out of the evaluation (`accepted`), judged at
the request's moment with the same rule as evaluation (`riskgate.domain.acceptances.apply_acceptances`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from riskgate.adapters.store import default_store, finding_from_record
from riskgate.clock import system_now
from riskgate.domain.acceptances import RiskAcceptance, apply_acceptances
from riskgate.domain.access import ImageTarget
from riskgate.domain.errors import NotFound
from riskgate.domain.findings import FindingKind, Severity
from riskgate.domain.images import WORKLOAD_REGISTRY_PREFIX, findings_scan_id
from riskgate.domain.permissions import Permission
from riskgate.handlers import judging
from riskgate.handlers.api import models
from riskgate.handlers.api.security import current_access, secured_route
from riskgate.services.pages import visible_page

router = Router()

Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
NextToken = Annotated[str | None, Query(description="Opaque token from the previous page")]
KindName = Literal["vulnerability", "malware", "sensitive_data", "misconfiguration"]
SeverityName = Literal["critical", "high", "medium", "low", "negligible", "unknown"]
ImageId = Annotated[str, Path(pattern=r"^img-[0-9a-f]{20}$", description="Image id")]


def image_kind(item: dict[str, Any]) -> Literal["image", "workload"]:
    return "workload" if str(item["registry"]).startswith(WORKLOAD_REGISTRY_PREFIX) else "image"


def image_view(item: dict[str, Any]) -> models.Image:
    return models.Image(
        id=item["image_id"],
        kind=image_kind(item),
        registry=item["registry"],
        repository=item["repository"],
        tags=sorted(item.get("tags") or []),
        digest=item.get("digest"),
        status=item.get("status", "not_scanned"),
        counts=_counts(item),
        verdict=item.get("verdict"),
        current_scan_id=item.get("current_scan_id"),
        scan_count=item.get("scan_count", 0),
        first_seen_at=item.get("first_seen_at"),
        last_scan_at=item.get("last_scan_at"),
        evaluated_at=item.get("evaluated_at"),
        evaluated_scan_id=item.get("evaluated_scan_id"),
    )


def _counts(item: dict[str, Any]) -> dict[str, Any] | None:
    """The current scan's counts, with how many findings acceptances take out: as the last evaluation of
    that scan found (`accepted_count`), else as the scan's own verdict did when it was submitted."""
    counts = item.get("counts")
    if counts is None:
        return None
    if "accepted_count" in item and item.get("evaluated_scan_id") == item.get("current_scan_id"):
        return {**counts, "accepted": item["accepted_count"]}
    return dict(counts)


def acceptance_of(
    record: dict[str, Any], acceptances: Sequence[RiskAcceptance], now: datetime
) -> models.FindingAcceptance | None:
    """The acceptance in force at `now` that takes this stored finding out of the evaluation, if any."""
    if not acceptances:
        return None
    applied = apply_acceptances([finding_from_record(record)], acceptances, now)
    if not applied.accepted:
        return None
    _, acceptance = applied.accepted[0]
    return models.FindingAcceptance.model_validate(acceptance.summary())


def finding_view(item: dict[str, Any], accepted: models.FindingAcceptance | None = None) -> models.Finding:
    is_vulnerability = item["kind"] == FindingKind.VULNERABILITY.value
    return models.Finding(
        kind=item["kind"],
        id=item["finding_id"],
        vulnerability_id=item["finding_id"] if is_vulnerability else None,
        rule_id=None if is_vulnerability else item["finding_id"],
        severity=item["severity"],
        title=item.get("title"),
        package=item.get("package"),
        installed_version=item.get("installed_version"),
        fixed_version=item.get("fixed_version"),
        fixable=bool(item.get("fixable")),
        location=item.get("location"),
        cvss_score=item.get("cvss_score"),
        fix_state=item.get("fix_state"),
        accepted=accepted,
    )


def visible(image: dict[str, Any]) -> bool:
    """Whether the caller may read this image: a grant of images:read in a scope containing it."""
    target = ImageTarget(image["registry"], image["repository"], tuple(image.get("tags") or ()))
    return current_access(router).may_on_image(Permission.IMAGES_READ, target)


def _image_or_404(image_id: str) -> dict[str, Any]:
    image = default_store().get_image(image_id)
    # An image outside the caller's scopes does not exist for them.
    if image is None or not visible(image):
        raise NotFound(f"image {image_id} not found")
    return image


@secured_route(router, "GET", "/v1/images", Permission.IMAGES_READ, tags=["images"], summary="List images")
def list_images(
    registry: Annotated[str | None, Query(description="e.g. docker.io")] = None,
    repository: Annotated[str | None, Query(description="e.g. library/alpine")] = None,
    kind: Annotated[
        Literal["image", "workload"] | None,
        Query(description="image: container images; workload: Kubernetes resources (registry k8s://…)"),
    ] = None,
    status: Annotated[
        Literal["compliant", "non_compliant", "not_scanned"] | None,
        Query(description="Only images with this security status (applied while paging, like kind)"),
    ] = None,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> models.ImagePage:
    store = default_store()
    workloads_only = WORKLOAD_REGISTRY_PREFIX if kind == "workload" else None

    def shown(image: dict[str, Any]) -> bool:
        is_kind = kind is None or (image_kind(image) == kind)
        is_status = status is None or image.get("status", "not_scanned") == status
        return is_kind and is_status and visible(image)

    page = visible_page(
        lambda size, token: store.list_images(registry, repository, size, token, workloads_only),
        shown,
        limit,
        next_token,
    )
    return models.ImagePage(items=[image_view(i) for i in page.items], next_token=page.next_token)


@secured_route(
    router, "GET", "/v1/images/<image_id>", Permission.IMAGES_READ, tags=["images"], summary="Get an image"
)
def get_image(image_id: ImageId) -> models.Image:
    return image_view(_image_or_404(image_id))


@secured_route(
    router,
    "GET",
    "/v1/images/<image_id>/findings",
    Permission.IMAGES_READ,
    tags=["images"],
    summary="The image's current findings, most severe first",
)
def list_findings(
    image_id: ImageId,
    kind: Annotated[KindName | None, Query()] = None,
    severity: Annotated[SeverityName | None, Query()] = None,
    fixable: Annotated[bool | None, Query(description="Only findings with (true) or without a fix")] = None,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> models.FindingPage:
    image = _image_or_404(image_id)
    # Severity without kind means vulnerabilities: the only kind whose severity people filter by.
    finding_kind = FindingKind(kind) if kind else (FindingKind.VULNERABILITY if severity else None)
    page = default_store().list_findings(
        findings_scan_id(image) or image["current_scan_id"],
        finding_kind,
        Severity(severity) if severity else None,
        fixable,
        limit,
        next_token,
    )
    now = system_now()
    found = judging.acceptances_for()(image) if page.items else []
    acceptances = [a for a in found if a.in_force(now)]
    return models.FindingPage(
        items=[finding_view(i, acceptance_of(i, acceptances, now)) for i in page.items],
        next_token=page.next_token,
    )


@secured_route(
    router,
    "GET",
    "/v1/images/<image_id>/scans",
    Permission.IMAGES_READ,
    tags=["images"],
    summary="The image's scans, newest first",
)
def list_scans(image_id: ImageId, limit: Limit = 50, next_token: NextToken = None) -> models.ScanPage:
    _image_or_404(image_id)
    page = default_store().list_scans(image_id, limit, next_token)
    return models.ScanPage(
        items=[models.Scan.model_validate(item) for item in page.items], next_token=page.next_token
    )


@secured_route(
    router,
    "GET",
    "/v1/vulnerabilities/<vulnerability_id>/images",
    Permission.IMAGES_READ,
    tags=["vulnerabilities"],
    summary=(
        "Every image whose current scan has this vulnerability, with package, fixed version and whether "
        "the risk is accepted there"
    ),
)
def images_with_vulnerability(
    vulnerability_id: Annotated[str, Path(min_length=1, max_length=200)],
    limit: Limit = 50,
    next_token: NextToken = None,
) -> models.AffectedImagePage:
    store = default_store()
    page = visible_page(
        lambda size, token: store.vulnerability_occurrences(vulnerability_id, size, token),
        lambda row: visible(row["image"]),
        limit,
        next_token,
    )
    now = system_now()
    acceptances_for = judging.acceptances_for()
    items = [
        models.AffectedImage(
            image_id=row["image"]["image_id"],
            registry=row["image"]["registry"],
            repository=row["image"]["repository"],
            tags=sorted(row["image"].get("tags") or []),
            digest=row["image"].get("digest"),
            status=row["image"].get("status", "not_scanned"),
            package=row["finding"].get("package"),
            installed_version=row["finding"].get("installed_version"),
            fixed_version=row["finding"].get("fixed_version"),
            fixable=bool(row["finding"].get("fixable")),
            location=row["finding"].get("location"),
            severity=row["finding"]["severity"],
            accepted=acceptance_of(
                row["finding"], [a for a in acceptances_for(row["image"]) if a.in_force(now)], now
            ),
        )
        for row in page.items
    ]
    return models.AffectedImagePage(items=items, next_token=page.next_token)
