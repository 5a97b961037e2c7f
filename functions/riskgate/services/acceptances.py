"""Risk acceptances, what their services share: the ports, who may see and change an acceptance, and
the API's view of one.

The services: accepting, extending and revoking (`riskgate.services.acceptance_changes`); listing,
getting, exporting and the trigger events (`acceptance_reads`); the expiry run and ending by a fix
(`acceptance_expiry`); the acceptances covering an image, for evaluation (`acceptance_lookup`).
The rules about meaning and access live in these and in `riskgate.domain.acceptances`; the port owns the
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

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.domain.acceptances import AcceptanceStatus, RiskAcceptance, ScopeKind
from riskgate.domain.access import Access, ImageTarget, ScopeDefinition
from riskgate.domain.audit import Actor
from riskgate.domain.errors import Conflict, NotFound, PermissionDenied
from riskgate.domain.findings import Finding
from riskgate.domain.permissions import Permission

READ = Permission.RISKS_READ
ACCEPT = Permission.RISKS_ACCEPT


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


# --- access ---------------------------------------------------------------------------------------


def may_see(access: Access, acceptance: RiskAcceptance) -> bool:
    scope, fields = acceptance.scope, acceptance.extra
    if scope.kind is ScopeKind.IMAGE:
        return access.may_on_image(READ, image_target(fields))
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
        return may_on_every_tag(access, ACCEPT, fields)
    if scope.kind is ScopeKind.REPOSITORY:
        return access.may_on_repository(ACCEPT, str(scope.registry), str(scope.repository), whole=True)
    return bool(scope.within) and all(access.may_in_scope(ACCEPT, scope_id) for scope_id in scope.within)


def may_on_every_tag(access: Access, permission: Permission, fields: Mapping[str, Any]) -> bool:
    target = image_target(fields)
    return access.may_on_every_tag(permission, target.registry, target.repository, target.tags)


def image_target(fields: Mapping[str, Any]) -> ImageTarget:
    return ImageTarget(
        registry=str(fields.get("registry", "")),
        repository=str(fields.get("repository", "")),
        tags=tuple(fields.get("tags") or ()),
    )


def visible_acceptance(port: AcceptancePort, access: Access, acceptance_id: str) -> RiskAcceptance:
    item = port.get_acceptance(acceptance_id)
    acceptance = RiskAcceptance.from_fields(item) if item else None
    if acceptance is None or not may_see(access, acceptance):
        raise NotFound(f"risk acceptance {acceptance_id} not found")
    return acceptance


def changeable_acceptance(
    port: AcceptancePort, access: Access, acceptance_id: str, now: datetime
) -> RiskAcceptance:
    acceptance = visible_acceptance(port, access, acceptance_id)
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
