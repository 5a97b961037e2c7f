"""Risk acceptances changed: accept a finding for a period in a scope, move an active acceptance's end
later, revoke one. Who may is decided by the access rules of `riskgate.services.acceptances`; an
image-scope acceptance made or revoked re-evaluates its image before the answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from riskgate.clock import iso, parse_iso
from riskgate.domain.acceptances import (
    AcceptancePeriod,
    AcceptanceScope,
    AcceptanceStatus,
    AcceptedFinding,
    RiskAcceptance,
    ScopeKind,
    expiry_for,
    guard_key,
    malware_acceptable,
    parse_repository,
    reminder_times,
    validate_reason,
)
from riskgate.domain.access import Access
from riskgate.domain.audit import Actor
from riskgate.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from riskgate.domain.findings import FindingKind
from riskgate.domain.images import findings_scan_id
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.domain.versions import ensure_version
from riskgate.services.acceptances import (
    ACCEPT,
    READ,
    AcceptancePort,
    ImagePort,
    Reevaluate,
    changeable_acceptance,
    image_target,
    may_on_every_tag,
    view,
)


def new_acceptance_id() -> str:
    return "acc-" + secrets.token_hex(8)


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
        if image is None or not access.may_on_image(READ, image_target(image)):
            raise NotFound(f"image {image_id} not found")
        if not may_on_every_tag(access, ACCEPT, image):
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
    scan_id = findings_scan_id(image)
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
        acceptance = changeable_acceptance(port, access, acceptance_id, now)
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
    acceptance = changeable_acceptance(port, access, acceptance_id, now)
    what = f"risk acceptance {acceptance_id}"
    ensure_version(what, {"version": acceptance.version}, expected_version)
    text = validate_reason(reason, "reason") if reason is not None else None
    revoked = port.revoke_acceptance(
        acceptance_id, reason=text, now=now, actor=actor, expected_version=expected_version
    )
    if revoked is None:
        # Someone else revoked it, or it expired, between our read and our write.
        now_stored = changeable_acceptance(port, access, acceptance_id, now)
        ensure_version(what, {"version": now_stored.version}, expected_version)
        raise Conflict(f"risk acceptance {acceptance_id} changed concurrently: read it again and retry")
    if acceptance.scope.kind is ScopeKind.IMAGE and acceptance.scope.image_id:
        reevaluate(acceptance.scope.image_id, None, acceptance_id)
    return view(revoked, now, access)
