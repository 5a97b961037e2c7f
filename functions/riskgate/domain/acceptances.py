"""Risk acceptances: a person's decision that a finding may stay, where, until when, and why.

Plain data and rules, no AWS. Times are `datetime`s in UTC; every function that decides by time takes
`now` (the clock is injected: the expiry checker's "now" is its scheduled event's time).

An acceptance is *in force* while its status is `active` and its `expires_at` (if any) is later than
now. Evaluation never trusts the stored status alone: an acceptance whose period has ended stops
counting at once, even before the expiry checker has marked it `expired`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from riskgate.clock import iso, parse_iso
from riskgate.domain.access import ScopeDefinition
from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import parse_image_reference
from riskgate.domain.permissions import GLOBAL_SCOPE

# Malware may be accepted only up to this severity, as the platform Riskgate is modelled on rules.
MAX_ACCEPTABLE_MALWARE_SEVERITY = Severity.MEDIUM
# A reason is a sentence, not an essay; the audit log and notifications carry it.
MAX_REASON_LENGTH = 2000
FIX_AVAILABLE = "fix available"
PERIOD_ENDED = "period ended"


class AcceptancePeriod(StrEnum):
    DAYS_30 = "30d"
    DAYS_60 = "60d"
    DAYS_90 = "90d"
    INDEFINITE = "indefinite"
    UNTIL_FIXED = "until_fixed"
    CUSTOM = "custom"

    @property
    def days(self) -> int | None:
        return {"30d": 30, "60d": 60, "90d": 90}.get(self.value)


class AcceptanceStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class ScopeKind(StrEnum):
    IMAGE = "image"
    REPOSITORY = "repository"
    ALL = "all"


@dataclass(frozen=True)
class AcceptedFinding:
    """What is accepted: a finding by kind and id, for a vulnerability optionally one package (and
    version). Ids compare without case (`cve-2021-1` is `CVE-2021-1`)."""

    kind: FindingKind
    finding_id: str
    package: str | None = None
    version: str | None = None

    def matches(self, finding: Finding) -> bool:
        if finding.kind is not self.kind or finding.finding_id.casefold() != self.finding_id.casefold():
            return False
        if self.package is not None and (finding.package or "").casefold() != self.package.casefold():
            return False
        return self.version is None or finding.installed_version == self.version

    @property
    def key(self) -> str:
        return "#".join(
            (
                self.kind.value,
                self.finding_id.casefold(),
                (self.package or "*").casefold(),
                self.version or "*",
            )
        )

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"kind": self.kind.value, "id": self.finding_id}
        if self.package is not None:
            result["package"] = self.package
        if self.version is not None:
            result["version"] = self.version
        return result

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AcceptedFinding:
        return cls(
            kind=FindingKind(raw["kind"]),
            finding_id=str(raw["id"]),
            package=raw.get("package"),
            version=raw.get("version"),
        )


@dataclass(frozen=True)
class AcceptanceScope:
    """Where an acceptance applies: one image, every tag of a repository (images scanned later too), or
    every image within the accepting person's scopes (`within`; `("global",)` for everywhere)."""

    kind: ScopeKind
    image_id: str | None = None
    registry: str | None = None
    repository: str | None = None
    within: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        """Where active acceptances are found for an image (one of `targets_for`): an image's with its
        repository's, so that judging many images of a repository reads one partition, not one each."""
        if self.kind is ScopeKind.ALL:
            return "all"
        return f"repository#{self.registry}/{self.repository}"

    @property
    def key(self) -> str:
        """What makes two scopes the same one (the duplicate check)."""
        if self.kind is ScopeKind.IMAGE:
            return f"image#{self.image_id}"
        if self.kind is ScopeKind.REPOSITORY:
            return f"repository#{self.registry}/{self.repository}"
        return "all#" + ",".join(sorted(self.within))

    def contains(
        self,
        image_id: str,
        registry: str,
        repository: str,
        tags: Iterable[str],
        scopes: Mapping[str, ScopeDefinition],
    ) -> bool:
        """Whether an image lies in this scope. `scopes` resolves `within` (a scope that no longer
        exists covers nothing, as for role bindings)."""
        if self.kind is ScopeKind.IMAGE:
            return image_id == self.image_id
        if self.kind is ScopeKind.REPOSITORY:
            return (registry, repository) == (self.registry, self.repository)
        tags = list(tags)
        for scope_id in self.within:
            if scope_id == GLOBAL_SCOPE:
                return True
            scope = scopes.get(scope_id)
            if scope is not None and scope.contains_image(registry, repository, tags):
                return True
        return False

    def as_dict(self) -> dict[str, Any]:
        if self.kind is ScopeKind.IMAGE:
            return {"image": self.image_id}
        if self.kind is ScopeKind.REPOSITORY:
            return {"repository": f"{self.registry}/{self.repository}"}
        return {"all": True, "within": list(self.within)}

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], registry: str | None = None, repository: str | None = None
    ) -> AcceptanceScope:
        """As stored (`as_dict`); an image scope's registry and repository come from the item."""
        if raw.get("image"):
            return cls(ScopeKind.IMAGE, image_id=str(raw["image"]), registry=registry, repository=repository)
        if raw.get("repository"):
            registry_name, _, repository = str(raw["repository"]).partition("/")
            return cls(ScopeKind.REPOSITORY, registry=registry_name, repository=repository)
        return cls(ScopeKind.ALL, within=tuple(raw.get("within") or ()))


def targets_for(registry: str, repository: str) -> tuple[str, ...]:
    """Every `AcceptanceScope.target` under which an acceptance covering an image of this repository
    can be stored."""
    return (f"repository#{registry}/{repository}", "all")


def parse_repository(text: str) -> tuple[str, str]:
    """`registry/repository`, normalized as image references are (`nginx` → docker.io/library/nginx);
    a tag or digest is refused: the scope is every tag."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("scope.repository is empty", details=[{"field": "scope.repository"}])
    text = text.strip()
    if "@" in text or ":" in text.rsplit("/", 1)[-1]:
        raise InvalidInput(
            f"scope.repository {text!r} names a tag or digest; give registry/repository",
            details=[{"field": "scope.repository"}],
        )
    reference = parse_image_reference(text)
    return reference.registry, reference.repository


@dataclass(frozen=True)
class RiskAcceptance:
    id: str
    finding: AcceptedFinding
    scope: AcceptanceScope
    period: AcceptancePeriod
    reason: str
    status: AcceptanceStatus
    accepted_at: datetime
    accepted_by: str
    expires_at: datetime | None = None
    version: int = 1
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def in_force(self, now: datetime) -> bool:
        return self.status is AcceptanceStatus.ACTIVE and (self.expires_at is None or self.expires_at > now)

    def effective_status(self, now: datetime) -> AcceptanceStatus:
        """`expired` as soon as the period has ended, before the expiry checker has written it."""
        if self.status is AcceptanceStatus.ACTIVE and not self.in_force(now):
            return AcceptanceStatus.EXPIRED
        return self.status

    def covers(self, finding: Finding) -> bool:
        """Whether this acceptance, in force, takes `finding` out of the evaluation.

        Malware above medium is never covered, whatever the acceptance's scope said (an acceptance of a
        repository cannot know every image's malware). An `until_fixed` acceptance does not cover a
        finding that has a fixed version: the fix ends it.
        """
        if not self.finding.matches(finding):
            return False
        if finding.kind is FindingKind.MALWARE and not malware_acceptable(finding.severity):
            return False
        return not (self.period is AcceptancePeriod.UNTIL_FIXED and finding.fixable)

    def summary(self) -> dict[str, Any]:
        """What a finding list, a verdict or an event shows of the acceptance."""
        return {
            "acceptance_id": self.id,
            "expires_at": iso(self.expires_at) if self.expires_at else None,
            "accepted_by": self.accepted_by,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> RiskAcceptance:
        """From a stored item (times as ISO strings)."""
        expires_at = fields.get("expires_at")
        return cls(
            id=str(fields["id"]),
            finding=AcceptedFinding.from_dict(fields["finding"]),
            scope=AcceptanceScope.from_dict(
                fields["scope"], fields.get("registry"), fields.get("repository")
            ),
            period=AcceptancePeriod(fields["period"]),
            reason=str(fields.get("reason") or ""),
            status=AcceptanceStatus(fields.get("status") or AcceptanceStatus.ACTIVE.value),
            accepted_at=parse_iso(str(fields["accepted_at"])),
            accepted_by=str(fields.get("accepted_by") or ""),
            expires_at=parse_iso(str(expires_at)) if expires_at else None,
            version=int(fields.get("version") or 1),
            extra=dict(fields),
        )


# What reminders and trigger events carry of an acceptance: enough to tell who accepted what, where,
# why, when and until when, without reading the acceptance again.
SNAPSHOT_FIELDS = (
    "id",
    "finding",
    "scope",
    "registry",
    "repository",
    "tags",
    "period",
    "reason",
    "accepted_by",
    "accepted_at",
    "expires_at",
)


def acceptance_snapshot(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: fields[name] for name in SNAPSHOT_FIELDS if fields.get(name) is not None}


def malware_acceptable(severity: Severity) -> bool:
    """Medium or lower; `unknown` is not known to be low, so it cannot be accepted."""
    return severity is not Severity.UNKNOWN and severity.rank >= MAX_ACCEPTABLE_MALWARE_SEVERITY.rank


def expiry_for(period: AcceptancePeriod, now: datetime, expires_at: datetime | None) -> datetime | None:
    """When an acceptance of `period` made (or extended) at `now` ends; None for no end date.

    `custom` needs `expires_at` in the future; the other periods refuse one (it would be ignored).
    """
    if period is AcceptancePeriod.CUSTOM:
        if expires_at is None:
            raise InvalidInput("period custom needs expires_at", details=[{"field": "expires_at"}])
        if expires_at <= now:
            raise InvalidInput(
                f"expires_at {iso(expires_at)} is not in the future", details=[{"field": "expires_at"}]
            )
        return expires_at
    if expires_at is not None:
        raise InvalidInput(
            f"expires_at is only for period custom, not {period.value}", details=[{"field": "expires_at"}]
        )
    days = period.days
    return now + timedelta(days=days) if days is not None else None


def validate_reason(reason: object, name: str = "reason") -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise InvalidInput(f"{name} is required and must not be blank", details=[{"field": name}])
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInput(f"{name} is longer than {MAX_REASON_LENGTH} characters", details=[{"field": name}])
    return text


def reminder_times(
    expires_at: datetime | None, reminder_days: Sequence[int], now: datetime
) -> list[tuple[int, datetime]]:
    """(days, when) for each reminder still ahead: `days` before `expires_at`, later than `now`.

    A reminder already due when the acceptance is made (accepted for less than its days) is left out:
    the person who accepted knows when it ends.
    """
    if expires_at is None:
        return []
    due = [(days, expires_at - timedelta(days=days)) for days in sorted(set(reminder_days), reverse=True)]
    return [(days, when) for days, when in due if days > 0 and when > now]


def guard_key(scope: AcceptanceScope, finding: AcceptedFinding) -> str:
    """One key per (scope, finding): at most one acceptance in force for each."""
    return hashlib.sha256(f"{scope.key}|{finding.key}".encode()).hexdigest()


@dataclass(frozen=True)
class Applied:
    """Findings after the acceptances in force: what the policies judge, and what was taken out."""

    effective: list[Finding]
    accepted: list[tuple[Finding, RiskAcceptance]]
    # `until_fixed` acceptances whose finding now has a fixed version: to be ended.
    fix_available: list[RiskAcceptance]
    considered: list[RiskAcceptance]

    @property
    def accepted_count(self) -> int:
        return len(self.accepted)

    def record(self) -> list[dict[str, Any]]:
        """The decision record: each acceptance in force for the image, with how many findings it took."""
        used: dict[str, int] = {}
        for _, acceptance in self.accepted:
            used[acceptance.id] = used.get(acceptance.id, 0) + 1
        return [
            {**acceptance.summary(), "findings": used.get(acceptance.id, 0)}
            for acceptance in sorted(self.considered, key=lambda a: a.id)
        ]


def apply_acceptances(
    findings: Iterable[Finding], acceptances: Iterable[RiskAcceptance], now: datetime
) -> Applied:
    """Split findings into those the policies judge and those an acceptance in force takes out.

    `acceptances` are the ones whose scope contains the image; those not in force at `now` are
    ignored. A finding covered by several acceptances is attributed to the one ending last (none is
    "ending last" for an acceptance without an end).
    """
    in_force = sorted(
        (a for a in acceptances if a.in_force(now)),
        # No end first, then the latest end first.
        key=lambda a: (a.expires_at is not None, -a.expires_at.timestamp() if a.expires_at else 0.0, a.id),
    )
    effective: list[Finding] = []
    accepted: list[tuple[Finding, RiskAcceptance]] = []
    fix_available: dict[str, RiskAcceptance] = {}
    for finding in findings:
        covering = next((a for a in in_force if a.covers(finding)), None)
        if covering is not None:
            accepted.append((finding, covering))
            continue
        effective.append(finding)
        for acceptance in in_force:
            if (
                acceptance.period is AcceptancePeriod.UNTIL_FIXED
                and finding.fixable
                and acceptance.finding.matches(finding)
            ):
                fix_available[acceptance.id] = acceptance
    return Applied(effective, accepted, list(fix_available.values()), in_force)


def staleness(acceptance: RiskAcceptance, occurrences: Iterable[Finding]) -> list[str]:
    """Why an acceptance no longer earns its place, from the findings it matches in the latest scans of
    the images it covers (empty: it still does)."""
    matching = [f for f in occurrences if acceptance.finding.matches(f)]
    if not matching:
        return ["the finding no longer appears in the latest scan of any covered image"]
    fixed = sorted({f"{f.package or f.finding_id} {f.fixed_version}" for f in matching if f.fixable})
    if fixed:
        return ["a fixed version is available: " + ", ".join(fixed)]
    return []
