"""Risk acceptances read: listed with filters, one with the images it covers now and whether it is
stale, the ones in force exported for scanners (.trivyignore.yaml, OpenVEX), and the trigger events.
Each only if the caller may see it (`riskgate.services.acceptances.may_see`): the rest does not exist
for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from riskgate.adapters.dynamo import Page
from riskgate.domain.acceptance_exports import openvex, trivyignore
from riskgate.domain.acceptances import RiskAcceptance, ScopeKind, parse_repository, staleness
from riskgate.domain.access import Access, ScopeDefinition
from riskgate.domain.errors import InvalidInput, NotFound
from riskgate.domain.findings import Finding, FindingKind
from riskgate.domain.images import findings_scan_id
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.services.acceptances import (
    READ,
    AcceptancePort,
    AcceptancesFor,
    ImagePort,
    ScopeSource,
    image_target,
    may_see,
    view,
    visible_acceptance,
)
from riskgate.services.pages import visible_page

# How many images the detail view lists as covered (and reads the findings of).
COVERED_IMAGES_SHOWN = 100
EXPORT_FORMATS = ("trivyignore", "openvex")


# --- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    status: str | None = None
    finding_id: str | None = None
    image_id: str | None = None
    repository: str | None = None
    expires_before: datetime | None = None


def list_acceptances(
    port: AcceptancePort,
    images: ImagePort,
    access: Access,
    filters: ListFilters,
    limit: int,
    next_token: str | None,
    *,
    now: datetime,
    scopes: ScopeSource,
) -> Page:
    """Newest first, only those the caller may see and the filters let through. An image filter naming
    an image the caller may not see is a 404, as the image is everywhere else."""
    if filters.image_id is not None:
        image = images.get_image(filters.image_id)
        if image is None or not access.may_on_image(READ, image_target(image)):
            raise NotFound(f"image {filters.image_id} not found")
    matches = _matcher(images, filters, now, scopes)

    def keep(item: dict[str, Any]) -> bool:
        acceptance = RiskAcceptance.from_fields(item)
        return may_see(access, acceptance) and matches(acceptance)

    page = visible_page(port.list_acceptances, keep, limit, next_token)
    return Page(items=[view(item, now, access) for item in page.items], next_token=page.next_token)


def _matcher(
    images: ImagePort, filters: ListFilters, now: datetime, scopes: ScopeSource
) -> Callable[[RiskAcceptance], bool]:
    image = None
    if filters.image_id is not None:
        image = images.get_image(filters.image_id)
        if image is None:
            return lambda _: False
    repository = parse_repository(filters.repository) if filters.repository else None
    within_scopes: dict[str, ScopeDefinition] = {}

    def matches(acceptance: RiskAcceptance) -> bool:
        if filters.status is not None and acceptance.effective_status(now).value != filters.status:
            return False
        if filters.finding_id is not None and (
            acceptance.finding.finding_id.casefold() != filters.finding_id.casefold()
        ):
            return False
        if filters.expires_before is not None and not (
            acceptance.expires_at is not None and acceptance.expires_at < filters.expires_before
        ):
            return False
        place = (acceptance.extra.get("registry"), acceptance.extra.get("repository"))
        if repository is not None and place != repository:
            return False
        if image is not None:
            missing = set(acceptance.scope.within) - set(within_scopes) - {GLOBAL_SCOPE}
            if missing:
                within_scopes.update(scopes(missing))
            return acceptance.scope.contains(
                str(image["image_id"]),
                str(image["registry"]),
                str(image["repository"]),
                image.get("tags") or (),
                within_scopes,
            )
        return True

    return matches


def get_acceptance(
    port: AcceptancePort,
    images: ImagePort,
    access: Access,
    acceptance_id: str,
    *,
    now: datetime,
    scopes: ScopeSource,
) -> dict[str, Any]:
    """The acceptance, the images it covers now (those where its finding occurs in the latest scan,
    which the caller may see), and whether it is stale, with why."""
    acceptance = visible_acceptance(port, access, acceptance_id)
    covered, occurrences, truncated = _covered_images(images, access, acceptance, scopes)
    result = view(acceptance.extra, now, access)
    result["covered_images"] = covered
    result["covered_images_truncated"] = truncated
    reasons = staleness(acceptance, occurrences) if acceptance.in_force(now) else []
    result["stale"] = bool(reasons)
    result["stale_reasons"] = reasons
    return result


def _covered_images(
    images: ImagePort, access: Access, acceptance: RiskAcceptance, scopes: ScopeSource
) -> tuple[list[dict[str, Any]], list[Finding], bool]:
    covered: list[dict[str, Any]] = []
    occurrences: list[Finding] = []
    truncated = False
    definitions = scopes(set(acceptance.scope.within) - {GLOBAL_SCOPE})
    for image in _candidate_images(images, acceptance):
        if not acceptance.scope.contains(
            str(image["image_id"]),
            str(image["registry"]),
            str(image["repository"]),
            image.get("tags") or (),
            definitions,
        ):
            continue
        scan_id = findings_scan_id(image)
        if not access.may_on_image(READ, image_target(image)) or not scan_id:
            continue
        found = [f for f in images.iter_findings(scan_id) if acceptance.finding.matches(f)]
        if not found:
            continue
        if len(covered) == COVERED_IMAGES_SHOWN:
            truncated = True
            break
        occurrences += found
        covered.append(
            {
                "image_id": image["image_id"],
                "registry": image["registry"],
                "repository": image["repository"],
                "tags": sorted(image.get("tags") or ()),
                "digest": image.get("digest"),
                "findings": len(found),
                "accepted": sum(1 for f in found if acceptance.covers(f)),
            }
        )
    return covered, occurrences, truncated


def _candidate_images(images: ImagePort, acceptance: RiskAcceptance) -> Iterator[Mapping[str, Any]]:
    """Images that may hold the finding: the image; the repository's images; for `all`, those with the
    vulnerability (its index), or every image for other kinds."""
    scope = acceptance.scope
    if scope.kind is ScopeKind.IMAGE:
        image = images.get_image(str(scope.image_id))
        if image is not None:
            yield image
        return
    if scope.kind is ScopeKind.ALL and acceptance.finding.kind is FindingKind.VULNERABILITY:
        seen: set[str] = set()
        token: str | None = None
        while True:
            page = images.vulnerability_occurrences(acceptance.finding.finding_id, 200, token)
            for row in page.items:
                image = row["image"]
                if image["image_id"] not in seen:
                    seen.add(image["image_id"])
                    yield image
            token = page.next_token
            if token is None:
                return
    registry = scope.registry if scope.kind is ScopeKind.REPOSITORY else None
    repository = scope.repository if scope.kind is ScopeKind.REPOSITORY else None
    token = None
    while True:
        page = images.list_images(registry, repository, 200, token)
        yield from page.items
        token = page.next_token
        if token is None:
            return


# --- export ---------------------------------------------------------------------------------------


def export(
    port: AcceptancePort,
    access: Access,
    export_format: str,
    *,
    now: datetime,
    image: Mapping[str, Any] | None,
    acceptances_for: AcceptancesFor,
    document_id: str,
) -> tuple[str, str]:
    """The acceptances in force that the caller may see — those covering `image` when given — as a
    `.trivyignore.yaml` or an OpenVEX document: (content type, body)."""
    if export_format not in EXPORT_FORMATS:
        raise InvalidInput(
            f"format must be one of {', '.join(EXPORT_FORMATS)}", details=[{"field": "format"}]
        )
    if image is not None:
        candidates: Iterable[RiskAcceptance] = acceptances_for(image)
    else:
        candidates = (RiskAcceptance.from_fields(item) for item in port.iter_acceptances())
    chosen = [a for a in candidates if a.in_force(now) and may_see(access, a)]
    if export_format == "trivyignore":
        return "application/yaml", trivyignore(chosen, now)
    document = openvex(chosen, now, document_id=document_id, author=f"Riskgate ({access.user_id})")
    return "application/json", json.dumps(document, indent=2)


# --- events ---------------------------------------------------------------------------------------


def list_events(
    port: AcceptancePort, access: Access, event_type: str | None, limit: int, next_token: str | None
) -> Page:
    """Trigger events, newest first; each only if the caller may see what it is about."""
    page = visible_page(
        lambda size, token: port.list_events(event_type, size, token),
        lambda event: _may_see_event(access, event),
        limit,
        next_token,
    )
    return page.mapped(lambda event: shown_event(access, READ, event))


def shown_event(access: Access, permission: Permission, event: dict[str, Any]) -> dict[str, Any]:
    """An event as this caller may see it: an acceptance's snapshot names only the scopes they see."""
    snapshot = event.get("acceptance")
    if not isinstance(snapshot, dict) or "scope" not in snapshot:
        return event
    return {**event, "acceptance": {**snapshot, "scope": access.shown_scope(permission, snapshot["scope"])}}


def _may_see_event(access: Access, event: Mapping[str, Any]) -> bool:
    """An acceptance's event as the acceptance; an image's with `risks:read` on the image."""
    snapshot = event.get("acceptance")
    if isinstance(snapshot, Mapping):
        return may_see(access, RiskAcceptance.from_fields({"status": "expired", **snapshot}))
    image = event.get("image")
    if isinstance(image, Mapping):
        return access.may_on_image(READ, image_target(image))
    return access.has_globally(READ)
