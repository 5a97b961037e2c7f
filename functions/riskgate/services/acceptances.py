"""Risk acceptances: accept, extend, revoke, read and export them; the expiry run; what evaluation needs.

The rules about meaning and access live here and in `riskgate.domain.acceptances`; the port owns the
items and their conditional writes (docs/architecture.md, "Risk acceptance"). Every function that
decides by time takes `now`: the API passes the request's moment, the expiry checker its scheduled
event's time.

Access (the caller's grants, `riskgate.domain.access`):
- an acceptance of one image is seen with `risks:read` on that image and changed with `risks:accept`
  there;
- one of a repository needs, to change it, `risks:accept` in a scope covering every tag of the
  repository (to see it, `risks:read` covering some tag);
- one of `all` images covers the scopes in which its author held `risks:accept` (`within`); it is seen
  and changed with the permission in one of those scopes, and, when it is global, changed only with
  `scopes:global` as well.
An acceptance the caller may not see does not exist for them (404).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.clock import iso, parse_iso
from riskgate.domain.acceptances import (
    FIX_AVAILABLE,
    PERIOD_ENDED,
    AcceptancePeriod,
    AcceptanceScope,
    AcceptanceStatus,
    AcceptedFinding,
    RiskAcceptance,
    ScopeKind,
    acceptance_snapshot,
    expiry_for,
    guard_key,
    malware_acceptable,
    openvex,
    parse_repository,
    reminder_times,
    staleness,
    targets_for,
    trivyignore,
    validate_reason,
)
from riskgate.domain.access import Access, ImageTarget, ScopeDefinition
from riskgate.domain.audit import Actor
from riskgate.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from riskgate.domain.findings import Finding, FindingKind
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.domain.versions import ensure_version
from riskgate.services.pages import visible_page

READ = Permission.RISKS_READ
ACCEPT = Permission.RISKS_ACCEPT

# Due items handled per run at most; the rest wait for the next run (minutes later).
EXPIRY_RUN_LIMIT = 1000
# How many images the detail view lists as covered (and reads the findings of).
COVERED_IMAGES_SHOWN = 100
# Trigger events recorded here (issue 6 publishes them and adds the image triggers).
EXPIRATION_EVENT = "risk_acceptance_expiration"
EXPIRING_EVENT = "risk_acceptance_expiring"
EXPORT_FORMATS = ("trivyignore", "openvex")


class AcceptancePort(Protocol):
    """The acceptance items (`riskgate.adapters.acceptances.AcceptanceStore`)."""

    def get_acceptance(self, acceptance_id: str) -> dict[str, Any] | None: ...
    def get_guard(self, guard: str) -> dict[str, Any] | None: ...
    def create_acceptance(
        self,
        fields: Mapping[str, Any],
        *,
        guard: str,
        previous: str | None,
        reminders: Sequence[tuple[int, datetime]],
        actor: Actor,
    ) -> dict[str, Any]: ...
    def extend_acceptance(
        self,
        acceptance_id: str,
        *,
        version: int,
        period: str,
        expires_at: datetime | None,
        reminders: Sequence[tuple[int, datetime]],
        now: datetime,
        actor: Actor,
    ) -> dict[str, Any] | None: ...
    def revoke_acceptance(
        self,
        acceptance_id: str,
        *,
        reason: str | None,
        now: datetime,
        actor: Actor,
        expected_version: int | None = None,
    ) -> dict[str, Any] | None: ...
    def expire_acceptance(
        self,
        acceptance_id: str,
        *,
        now: datetime,
        reason: str,
        event: Mapping[str, Any],
        until_fixed_only: bool = False,
    ) -> bool: ...
    def send_reminder(
        self, reminder: Mapping[str, Any], *, now: datetime, event: Mapping[str, Any]
    ) -> bool: ...
    def due_items(self, now: datetime, limit: int) -> list[dict[str, Any]]: ...
    def active_for_target(self, target: str) -> list[dict[str, Any]]: ...
    def list_acceptances(self, limit: int, next_token: str | None) -> Page: ...
    def iter_acceptances(self) -> Iterator[dict[str, Any]]: ...
    def list_events(self, event_type: str | None, limit: int, next_token: str | None) -> Page: ...


class ImagePort(Protocol):
    """The images and their findings (`riskgate.adapters.store.Store`)."""

    def get_image(self, image_id: str) -> dict[str, Any] | None: ...
    def iter_findings(self, scan_id: str) -> Iterator[Finding]: ...
    def list_images(
        self, registry: str | None, repository: str | None, limit: int, next_token: str | None
    ) -> Page: ...
    def vulnerability_occurrences(
        self, vulnerability_id: str, limit: int, next_token: str | None
    ) -> Page: ...


# Scope definitions by id (those that exist); the global scope is never asked for.
ScopeSource = Callable[[set[str]], dict[str, ScopeDefinition]]
# Re-evaluate an image at once, counting `include` as in force and `exclude` (an id) as not: the
# acceptance indexes are eventually consistent, the caller's own change must show in its answer.
Reevaluate = Callable[[str, RiskAcceptance | None, str | None], None]
# The acceptances whose scope contains an image (given as its summary: image_id, registry, repository,
# tags), active by their stored status; evaluation checks their time itself.
AcceptancesFor = Callable[[Mapping[str, Any]], list[RiskAcceptance]]


def new_acceptance_id() -> str:
    return "acc-" + secrets.token_hex(8)


# --- access ---------------------------------------------------------------------------------------


def may_see(access: Access, acceptance: RiskAcceptance) -> bool:
    scope, fields = acceptance.scope, acceptance.extra
    if scope.kind is ScopeKind.IMAGE:
        return access.may_on_image(READ, _image_target(fields))
    if scope.kind is ScopeKind.REPOSITORY:
        return access.may_on_repository(READ, str(scope.registry), str(scope.repository), whole=False)
    visible = access.visible_scope_ids(READ)
    return visible is None or bool(visible & set(scope.within))


def may_change(access: Access, acceptance: RiskAcceptance) -> bool:
    """Changing an acceptance changes the security status everywhere it reaches: the caller needs
    `risks:accept` in all of it — every tag of its image, every tag of its repository, every scope an
    `all` acceptance covers — not only in the part they can see."""
    scope, fields = acceptance.scope, acceptance.extra
    if scope.kind is ScopeKind.IMAGE:
        return _may_on_every_tag(access, ACCEPT, fields)
    if scope.kind is ScopeKind.REPOSITORY:
        return access.may_on_repository(ACCEPT, str(scope.registry), str(scope.repository), whole=True)
    return bool(scope.within) and all(access.may_in_scope(ACCEPT, scope_id) for scope_id in scope.within)


def _may_on_every_tag(access: Access, permission: Permission, fields: Mapping[str, Any]) -> bool:
    target = _image_target(fields)
    return access.may_on_every_tag(permission, target.registry, target.repository, target.tags)


def _image_target(fields: Mapping[str, Any]) -> ImageTarget:
    return ImageTarget(
        registry=str(fields.get("registry", "")),
        repository=str(fields.get("repository", "")),
        tags=tuple(fields.get("tags") or ()),
    )


def _visible(port: AcceptancePort, access: Access, acceptance_id: str) -> RiskAcceptance:
    item = port.get_acceptance(acceptance_id)
    acceptance = RiskAcceptance.from_fields(item) if item else None
    if acceptance is None or not may_see(access, acceptance):
        raise NotFound(f"risk acceptance {acceptance_id} not found")
    return acceptance


def _changeable(port: AcceptancePort, access: Access, acceptance_id: str, now: datetime) -> RiskAcceptance:
    acceptance = _visible(port, access, acceptance_id)
    if not may_change(access, acceptance):
        raise PermissionDenied(
            f"changing risk acceptance {acceptance_id} needs risks:accept in every scope it covers"
        )
    status = acceptance.effective_status(now)
    if status is not AcceptanceStatus.ACTIVE:
        raise Conflict(
            f"risk acceptance {acceptance_id} is {status.value}; only an active one can change "
            "(accept the risk anew)",
            details=[{"acceptance_id": acceptance_id, "status": status.value}],
        )
    return acceptance


# --- the API's view ---------------------------------------------------------------------------------

_HIDDEN_FIELDS = frozenset({"target", "tags", "digest"})


def view(item: Mapping[str, Any], now: datetime, access: Access) -> dict[str, Any]:
    """An acceptance as the API shows it to this caller: the status as of `now` (expired as soon as its
    period ended); of the scopes an `all` acceptance covers, only those the caller may see."""
    acceptance = RiskAcceptance.from_fields(item)
    shown = {key: value for key, value in item.items() if key not in _HIDDEN_FIELDS}
    shown["status"] = acceptance.effective_status(now).value
    shown.setdefault("expires_at", None)
    if "scope" in shown:
        shown["scope"] = access.shown_scope(READ, shown["scope"])
    return shown


# --- accepting ------------------------------------------------------------------------------------


def accept(
    port: AcceptancePort,
    images: ImagePort,
    access: Access,
    actor: Actor,
    request: Mapping[str, Any],
    *,
    now: datetime,
    reminder_days: Sequence[int],
    reevaluate: Reevaluate,
) -> dict[str, Any]:
    """Accept a finding for a period in a scope. 409 when one in force already accepts the same
    finding in the same scope; an image-scope acceptance re-evaluates its image before answering."""
    finding = _finding(request["finding"])
    reason = validate_reason(request.get("reason"))
    period = AcceptancePeriod(request["period"])
    expires_at = expiry_for(period, now, _time(request.get("expires_at"), "expires_at"))
    scope, place = _scope(images, access, request["scope"], finding)

    guard = guard_key(scope, finding)
    holder = port.get_guard(guard)
    previous = str(holder["acceptance_id"]) if holder else None
    if previous is not None:
        current = port.get_acceptance(previous)
        if current is not None and RiskAcceptance.from_fields(current).in_force(now):
            raise Conflict(
                f"{finding.kind.value} {finding.finding_id} is already accepted in this scope by {previous}",
                details=[{"acceptance_id": previous}],
            )
    fields: dict[str, Any] = {
        "id": new_acceptance_id(),
        "target": scope.target,
        "finding": finding.as_dict(),
        "scope": scope.as_dict(),
        **place,
        "period": period.value,
        "reason": reason,
        "status": AcceptanceStatus.ACTIVE.value,
        "accepted_at": iso(now),
        "accepted_by": actor.user_id,
        "expires_at": iso(expires_at) if expires_at else None,
        "version": 1,
    }
    stored = port.create_acceptance(
        {k: v for k, v in fields.items() if v is not None},
        guard=guard,
        previous=previous,
        reminders=reminder_times(expires_at, reminder_days, now),
        actor=actor,
    )
    if scope.kind is ScopeKind.IMAGE and scope.image_id:
        reevaluate(scope.image_id, RiskAcceptance.from_fields(stored), None)
    return view(stored, now, access)


def _finding(raw: Mapping[str, Any]) -> AcceptedFinding:
    kind = FindingKind(raw["kind"])
    finding_id = str(raw.get("id") or "").strip()
    if not finding_id:
        raise InvalidInput("finding.id is required", details=[{"field": "finding.id"}])
    package, version = raw.get("package"), raw.get("version")
    if (package is not None or version is not None) and kind is not FindingKind.VULNERABILITY:
        raise InvalidInput(
            "finding.package and finding.version narrow vulnerabilities only",
            details=[{"field": "finding.package"}],
        )
    if version is not None and package is None:
        raise InvalidInput("finding.version needs finding.package", details=[{"field": "finding.version"}])
    return AcceptedFinding(kind, finding_id, package, version)


def _time(raw: object, name: str) -> datetime | None:
    if raw is None or isinstance(raw, datetime):
        return raw
    try:
        return parse_iso(str(raw))
    except ValueError as error:
        raise InvalidInput(
            f"{name} is not an ISO 8601 time with a zone: {error}", details=[{"field": name}]
        ) from error


def _scope(
    images: ImagePort, access: Access, raw: Mapping[str, Any], finding: AcceptedFinding
) -> tuple[AcceptanceScope, dict[str, Any]]:
    """The acceptance's scope, checked against the caller's grants, and what the item keeps of the
    place (registry, repository; for an image its digest and tags)."""
    if raw.get("image"):
        image_id = str(raw["image"])
        image = images.get_image(image_id)
        if image is None or not access.may_on_image(READ, _image_target(image)):
            raise NotFound(f"image {image_id} not found")
        if not _may_on_every_tag(access, ACCEPT, image):
            raise PermissionDenied(
                f"accepting a risk on image {image_id} needs risks:accept for every tag it carries"
            )
        _check_finding_in_image(images, image, finding)
        place = {
            "registry": image["registry"],
            "repository": image["repository"],
            "digest": image.get("digest"),
            "tags": sorted(image.get("tags") or ()) or None,
        }
        scope = AcceptanceScope(
            ScopeKind.IMAGE, image_id=image_id, registry=image["registry"], repository=image["repository"]
        )
        return scope, place
    if raw.get("repository"):
        registry, repository = parse_repository(str(raw["repository"]))
        if not access.may_on_repository(ACCEPT, registry, repository, whole=True):
            raise PermissionDenied(
                f"accepting a risk on every tag of {registry}/{repository} needs risks:accept in a scope "
                "that covers all of its tags"
            )
        scope = AcceptanceScope(ScopeKind.REPOSITORY, registry=registry, repository=repository)
        return scope, {"registry": registry, "repository": repository}
    if raw.get("all") is True:
        return AcceptanceScope(ScopeKind.ALL, within=_within(access)), {}
    raise InvalidInput("scope needs one of image, repository or all: true", details=[{"field": "scope"}])


def _within(access: Access) -> tuple[str, ...]:
    """Where an acceptance of `all` images reaches: every scope in which the caller may accept, the
    global one only with `scopes:global` too."""
    scopes = {scope.id for scope in access.scopes_with(ACCEPT)}
    if GLOBAL_SCOPE in scopes:
        if access.has_globally(Permission.SCOPES_GLOBAL):
            return (GLOBAL_SCOPE,)
        scopes.discard(GLOBAL_SCOPE)
    if not scopes:
        raise PermissionDenied("accepting a risk on all images in the global scope needs scopes:global")
    return tuple(sorted(scopes))


def _check_finding_in_image(images: ImagePort, image: Mapping[str, Any], finding: AcceptedFinding) -> None:
    """An image-scope acceptance names a finding of the image's latest scan; malware above medium
    cannot be accepted."""
    scan_id = image.get("current_scan_id")
    matching = [f for f in images.iter_findings(str(scan_id)) if finding.matches(f)] if scan_id else []
    if not matching:
        raise InvalidInput(
            f"image {image['image_id']} has no {finding.kind.value} {finding.finding_id} in its latest scan",
            details=[{"field": "finding.id"}],
        )
    if finding.kind is FindingKind.MALWARE:
        too_severe = sorted({f.severity.value for f in matching if not malware_acceptable(f.severity)})
        if too_severe:
            raise InvalidInput(
                f"malware {finding.finding_id} is {', '.join(too_severe)}: only malware of medium severity "
                "or lower can be accepted",
                details=[{"field": "finding.id"}],
            )


# --- extending and revoking -----------------------------------------------------------------------


def extend(
    port: AcceptancePort,
    access: Access,
    actor: Actor,
    acceptance_id: str,
    request: Mapping[str, Any],
    *,
    now: datetime,
    reminder_days: Sequence[int],
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Move an active acceptance's end later: the same acceptance, the change audited. Retried once
    from a fresh read when another change got in between (unless the caller named the version it
    read: then that change is a 409); then 409."""
    custom = _time(request.get("expires_at"), "expires_at")
    period = AcceptancePeriod(request.get("period") or ("custom" if custom else ""))
    if period is AcceptancePeriod.UNTIL_FIXED:
        raise InvalidInput("an acceptance cannot be extended until fixed", details=[{"field": "period"}])
    for _ in range(2):
        acceptance = _changeable(port, access, acceptance_id, now)
        ensure_version(f"risk acceptance {acceptance_id}", {"version": acceptance.version}, expected_version)
        if acceptance.expires_at is None:
            raise InvalidInput(
                f"risk acceptance {acceptance_id} has no end date to extend",
                details=[{"field": "period"}],
            )
        expires_at = expiry_for(period, now, custom)
        if expires_at is not None and expires_at <= acceptance.expires_at:
            raise InvalidInput(
                f"the new end {iso(expires_at)} is not later than the current one "
                f"{iso(acceptance.expires_at)}",
                details=[{"field": "expires_at" if custom else "period"}],
            )
        updated = port.extend_acceptance(
            acceptance_id,
            version=acceptance.version,
            period=period.value,
            expires_at=expires_at,
            reminders=reminder_times(expires_at, reminder_days, now),
            now=now,
            actor=actor,
        )
        if updated is not None:
            return view(updated, now, access)
    raise Conflict(f"risk acceptance {acceptance_id} changed concurrently: read it again and retry")


def revoke(
    port: AcceptancePort,
    access: Access,
    actor: Actor,
    acceptance_id: str,
    reason: str | None,
    *,
    now: datetime,
    reevaluate: Reevaluate,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """End an active acceptance now; the risk counts again everywhere it was accepted. Without an
    expected version it revokes the acceptance as it is now (extended meanwhile or not)."""
    acceptance = _changeable(port, access, acceptance_id, now)
    what = f"risk acceptance {acceptance_id}"
    ensure_version(what, {"version": acceptance.version}, expected_version)
    text = validate_reason(reason, "reason") if reason is not None else None
    revoked = port.revoke_acceptance(
        acceptance_id, reason=text, now=now, actor=actor, expected_version=expected_version
    )
    if revoked is None:
        # Someone else revoked it, or it expired, between our read and our write.
        now_stored = _changeable(port, access, acceptance_id, now)
        ensure_version(what, {"version": now_stored.version}, expected_version)
        raise Conflict(f"risk acceptance {acceptance_id} changed concurrently: read it again and retry")
    if acceptance.scope.kind is ScopeKind.IMAGE and acceptance.scope.image_id:
        reevaluate(acceptance.scope.image_id, None, acceptance_id)
    return view(revoked, now, access)


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
        if image is None or not access.may_on_image(READ, _image_target(image)):
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
    acceptance = _visible(port, access, acceptance_id)
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
        if not access.may_on_image(READ, _image_target(image)) or not image.get("current_scan_id"):
            continue
        found = [
            f for f in images.iter_findings(str(image["current_scan_id"])) if acceptance.finding.matches(f)
        ]
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
        return access.may_on_image(READ, _image_target(image))
    return access.has_globally(READ)


def acceptance_event(
    event_type: str, snapshot: Mapping[str, Any], now: datetime, **extra: Any
) -> dict[str, Any]:
    return {"type": event_type, "occurred_at": iso(now), "acceptance": dict(snapshot), **extra}


# --- the expiry run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiryRun:
    as_of: str
    due: int
    expired: int
    reminded: int
    skipped: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_expiry_check(port: AcceptancePort, now: datetime, *, limit: int = EXPIRY_RUN_LIMIT) -> ExpiryRun:
    """Mark every acceptance whose period ended by `now` expired, and record the reminders due.

    Reads only what is due (the `DUE` index); each write is conditional, so a run that overlaps
    another, or is retried, changes and records each thing once (`skipped` counts those found done).
    """
    due = port.due_items(now, limit)
    expired = reminded = skipped = 0
    for item in due:
        if item.get("sk") == "META":
            snapshot = acceptance_snapshot(item)
            event = acceptance_event(EXPIRATION_EVENT, snapshot, now, ended_reason=PERIOD_ENDED)
            if port.expire_acceptance(str(item["id"]), now=now, reason=PERIOD_ENDED, event=event):
                expired += 1
            else:
                skipped += 1
        elif str(item.get("expires_at") or "") <= iso(now):
            # Its acceptance has ended too (it is due in this same run, which deletes the reminders):
            # "ends in 7 days" would be false now.
            skipped += 1
        else:
            event = acceptance_event(
                EXPIRING_EVENT, item.get("acceptance") or {}, now, days=int(item.get("days") or 0)
            )
            if port.send_reminder(item, now=now, event=event):
                reminded += 1
            else:
                skipped += 1
    return ExpiryRun(as_of=iso(now), due=len(due), expired=expired, reminded=reminded, skipped=skipped)


def end_by_fix(port: AcceptancePort, acceptance: RiskAcceptance, now: datetime) -> bool:
    """End an `until_fixed` acceptance because a scan shows a fixed version for its finding."""
    snapshot = acceptance_snapshot(acceptance.extra)
    event = acceptance_event(EXPIRATION_EVENT, snapshot, now, ended_reason=FIX_AVAILABLE)
    return port.expire_acceptance(
        acceptance.id, now=now, reason=FIX_AVAILABLE, event=event, until_fixed_only=True
    )


# --- what evaluation needs ------------------------------------------------------------------------


def acceptances_for_images(port: AcceptancePort, scopes: ScopeSource) -> AcceptancesFor:
    """An `AcceptancesFor` that reads each target (an image, a repository, `all`) and each scope once.

    Make one per request or stream batch, as `policies_for_images`.
    """
    by_target: dict[str, list[RiskAcceptance]] = {}
    definitions: dict[str, ScopeDefinition] = {}

    def acceptances_for(image: Mapping[str, Any]) -> list[RiskAcceptance]:
        image_id, registry, repository = (
            str(image["image_id"]),
            str(image["registry"]),
            str(image["repository"]),
        )
        found: list[RiskAcceptance] = []
        for target in targets_for(registry, repository):
            if target not in by_target:
                by_target[target] = [
                    RiskAcceptance.from_fields(item) for item in port.active_for_target(target)
                ]
            for acceptance in by_target[target]:
                missing = set(acceptance.scope.within) - set(definitions) - {GLOBAL_SCOPE}
                if missing:
                    definitions.update(scopes(missing))
                if acceptance.scope.contains(
                    image_id, registry, repository, image.get("tags") or (), definitions
                ):
                    found.append(acceptance)
        return found

    return acceptances_for


def with_change(
    acceptances_for: AcceptancesFor, include: RiskAcceptance | None, exclude: str | None
) -> AcceptancesFor:
    """`acceptances_for` with the caller's own change applied, whatever the index shows yet."""

    def changed(image: Mapping[str, Any]) -> list[RiskAcceptance]:
        found = [
            a for a in acceptances_for(image) if a.id != exclude and (include is None or a.id != include.id)
        ]
        return [*found, include] if include is not None else found

    return changed
