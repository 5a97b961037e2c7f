"""API models of risk acceptances and trigger events: request bodies (shapes checked here) and responses.

The meaning — periods, expiry in the future, malware severity, who may accept where — is checked by the
service and the domain (`riskgate.services.acceptance_changes`, `riskgate.domain.acceptances`); a 422 then
names the field, e.g. `expires_at`. Responses ignore stored fields they do not show.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from riskgate.domain.acceptances import MAX_REASON_LENGTH
from riskgate.handlers.api.models import RequestBody

FindingKindName = Literal["vulnerability", "malware", "sensitive_data", "misconfiguration"]
PeriodName = Literal["30d", "60d", "90d", "indefinite", "until_fixed", "custom"]
StatusName = Literal["active", "expired", "revoked"]
EventType = Literal[
    "risk_acceptance_expiration",
    "risk_acceptance_expiring",
    "sensitive_data",
    "non_compliant",
    "critical_vulnerabilities",
    "malware",
]

Period = Annotated[
    PeriodName,
    Field(
        description="30d, 60d, 90d, indefinite, until_fixed (ends when a fix appears), custom (expires_at)"
    ),
]
ExpiresAt = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="For period custom: an ISO 8601 time with a zone, in the future",
        examples=["2026-12-31T00:00:00Z"],
    ),
]
Reason = Annotated[
    str, Field(min_length=1, max_length=MAX_REASON_LENGTH, description="Why the risk may stay")
]


class AcceptedFindingBody(RequestBody):
    kind: FindingKindName
    id: str = Field(
        min_length=1,
        max_length=200,
        description="Vulnerability id (CVE, GHSA, …), secret rule id or check id",
    )
    package: str | None = Field(
        default=None, min_length=1, max_length=200, description="Vulnerabilities only: just this package"
    )
    version: str | None = Field(
        default=None, min_length=1, max_length=200, description="With package: just this installed version"
    )


class AcceptanceScopeBody(RequestBody):
    """Exactly one of `image`, `repository` or `all: true`."""

    image: str | None = Field(
        default=None, min_length=1, max_length=64, description="That image (its id), whose latest scan has it"
    )
    repository: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="registry/repository: every tag of it, images scanned later too",
        examples=["ghcr.io/team-a/app"],
    )
    all: bool | None = Field(
        default=None,
        description=(
            "true: every image where the finding occurs, within the caller's scopes (the global scope "
            "needs scopes:global)"
        ),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> AcceptanceScopeBody:
        chosen = [name for name in ("image", "repository") if getattr(self, name) is not None]
        if self.all is not None:
            if self.all is not True:
                raise ValueError("all may only be true")
            chosen.append("all")
        if len(chosen) != 1:
            raise ValueError("give exactly one of image, repository or all: true")
        return self


class AcceptanceCreate(RequestBody):
    finding: AcceptedFindingBody
    scope: AcceptanceScopeBody
    period: Period
    expires_at: ExpiresAt | None = None
    reason: Reason


class AcceptanceExtend(RequestBody):
    """A new period (counted from now) or a new `expires_at`; the new end must be later than the current."""

    period: Period | None = None
    expires_at: ExpiresAt | None = None

    @model_validator(mode="after")
    def _something(self) -> AcceptanceExtend:
        if self.period is None and self.expires_at is None:
            raise ValueError("give period or expires_at")
        return self


class AcceptanceRevoke(RequestBody):
    reason: Reason | None = None


# --- responses ------------------------------------------------------------------------------------


def _shown_when_set(description: str | None = None) -> Any:
    """A field left out of the answer when it does not apply (a scope is one of image, repository or all)."""
    return Field(default=None, description=description, exclude_if=lambda value: value is None)


class AcceptedFinding(BaseModel):
    kind: str
    id: str
    package: str | None = _shown_when_set()
    version: str | None = _shown_when_set()


class AcceptanceScope(BaseModel):
    image: str | None = _shown_when_set("That image (its id)")
    repository: str | None = _shown_when_set("registry/repository: every tag of it")
    all: bool | None = _shown_when_set("true: every image within its scopes (within)")
    within: list[str] | None = _shown_when_set(
        "For all: the scopes it reaches (those where its author may accept; global: everywhere)"
    )


class RiskAcceptance(BaseModel):
    id: str
    finding: AcceptedFinding
    scope: AcceptanceScope
    period: str
    reason: str
    status: StatusName = Field(description="As of now: expired as soon as the period has ended")
    accepted_at: str
    accepted_by: str
    expires_at: str | None = Field(default=None, description="Null for indefinite and until_fixed")
    extended_at: str | None = None
    extended_by: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None
    ended_at: str | None = None
    ended_reason: str | None = Field(default=None, description="period ended, or fix available")
    registry: str | None = None
    repository: str | None = None
    version: int


class CoveredImage(BaseModel):
    image_id: str
    registry: str
    repository: str
    tags: list[str]
    digest: str | None = None
    findings: int = Field(description="Findings of the image's latest scan the acceptance names")
    accepted: int = Field(description="Of those, how many it takes out of the evaluation")


class RiskAcceptanceDetail(RiskAcceptance):
    covered_images: list[CoveredImage] = Field(
        description="The images it covers now: where its finding is in the latest scan (those you may see)"
    )
    covered_images_truncated: bool
    stale: bool = Field(description="Whether it no longer earns its place (see stale_reasons)")
    stale_reasons: list[str]


class RiskAcceptancePage(BaseModel):
    items: list[RiskAcceptance]
    next_token: str | None = None


class Event(BaseModel):
    """A trigger event: what response policies react to. An image's (an evaluation fired it) or a risk
    acceptance's (it ended, or ends soon)."""

    id: str
    type: str
    occurred_at: str
    subject: dict[str, Any] | None = Field(default=None, description="What it is about: {type, id}")
    acceptance: dict[str, Any] | None = Field(
        default=None, description="Acceptance events: what was accepted, where, by whom, why, until when"
    )
    days: int | None = Field(default=None, description="Reminders: days before the end")
    ended_reason: str | None = None
    image: dict[str, Any] | None = Field(default=None, description="Image events: the image")
    verdict: dict[str, Any] | None = None
    counts: dict[str, Any] | None = None
    findings: list[dict[str, Any]] | None = Field(
        default=None, description="Image events: the findings that caused it, most severe first (capped)"
    )
    findings_total: int | None = None


class EventPage(BaseModel):
    items: list[Event]
    next_token: str | None = None
