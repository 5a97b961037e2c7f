"""API models: the OpenAPI document is generated from these and the routes' signatures."""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

# UTF-16 surrogates: JSON's `\ud800` escapes decode to them, but they are not text and cannot be stored.
_SURROGATE = re.compile("[\ud800-\udfff]")


class SeverityCounts(BaseModel):
    critical: int = 0
    high: int = 0
    medium: int = 0
    low: int = 0
    negligible: int = 0
    unknown: int = 0


class Counts(BaseModel):
    vulnerabilities: SeverityCounts
    sensitive_data: int
    misconfigurations: int
    malware: int
    accepted: int = Field(default=0, description="Findings taken out of the evaluation by risk acceptances")


class FindingSummary(BaseModel):
    kind: str
    id: str
    severity: str
    package: str | None = None
    installed_version: str | None = None
    fixed_version: str | None = None
    location: str | None = None


class VerdictReason(BaseModel):
    policy_id: str
    policy_name: str
    policy_version: int | None = None
    would_block: bool | None = Field(default=None, description="Dry-run reasons: whether it would block")
    condition: str = Field(description="The condition that failed")
    findings: list[FindingSummary] = Field(description="The findings that made it fail, most severe first")
    findings_total: int
    image: str | None = Field(
        default=None,
        description="In the combined verdict of a report of several images: the image (or Kubernetes "
        "resource) this reason concerns",
    )


class Verdict(BaseModel):
    status: Literal["compliant", "non_compliant"]
    block: bool = Field(description="Whether a CI pipeline should fail the build")
    reasons: list[VerdictReason]
    dry_run: list[VerdictReason] = Field(default_factory=list)


class ImageReference(BaseModel):
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    reference: str


class SubjectScan(BaseModel):
    """One image's (or one Kubernetes resource's) scan out of a report."""

    scan_id: str
    image_id: str
    image: ImageReference
    kind: Literal["image", "workload"] = Field(
        description="workload: a Kubernetes resource (registry k8s://<cluster>, repository "
        "<namespace>/<kind>/<name>) holding the misconfigurations and secrets of the resource itself"
    )
    counts: Counts
    verdict: Verdict
    current: bool = Field(description="False when a newer scan of the subject was stored first")


class ScanAccepted(BaseModel):
    scan_id: str | None = Field(description="The scan; null when the report covers several subjects")
    image_id: str | None = Field(description="The image; null when the report covers several subjects")
    image: ImageReference | None = Field(description="Null when the report covers several subjects")
    format: str = Field(
        description="trivy, trivy-legacy, trivy-k8s, trivy-operator, grype, cyclonedx, sarif, snyk, clair, "
        "harbor or gitlab"
    )
    scanner: str | None = None
    scanner_version: str | None = None
    received_at: str
    counts: Counts = Field(description="The scan's counts; summed over the subjects of a report of several")
    verdict: Verdict = Field(
        description="The scan's verdict; for a report of several subjects, non-compliant when any is and "
        "blocking when any blocks, each reason naming its subject"
    )
    current: bool = Field(description="False when a newer scan of an image was stored first")
    scans: list[SubjectScan] = Field(description="One entry per image or Kubernetes resource of the report")


class Image(BaseModel):
    id: str
    kind: Literal["image", "workload"] = Field(
        default="image",
        description="workload: a Kubernetes resource (registry k8s://<cluster>, repository "
        "<namespace>/<kind>/<name>), the subject of the resource's own misconfigurations and secrets",
    )
    registry: str
    repository: str
    tags: list[str]
    digest: str | None = None
    status: Literal["compliant", "non_compliant", "not_scanned"]
    counts: Counts | None = None
    verdict: Verdict | None = None
    current_scan_id: str | None = None
    scan_count: int
    first_seen_at: str | None = None
    last_scan_at: str | None = None
    evaluated_at: str | None = Field(
        default=None, description="When the stream evaluator last recomputed the status"
    )
    evaluated_scan_id: str | None = None


class FindingAcceptance(BaseModel):
    """The risk acceptance in force that takes a finding out of the image's evaluation."""

    acceptance_id: str
    expires_at: str | None = Field(default=None, description="Null: no end date")
    accepted_by: str


class Finding(BaseModel):
    kind: Literal["vulnerability", "malware", "sensitive_data", "misconfiguration"]
    id: str = Field(description="Vulnerability id, secret rule id or check id")
    vulnerability_id: str | None = None
    rule_id: str | None = None
    severity: str
    title: str | None = None
    package: str | None = None
    installed_version: str | None = None
    fixed_version: str | None = None
    fixable: bool
    location: str | None = None
    cvss_score: float | None = None
    fix_state: str | None = None
    accepted: FindingAcceptance | None = Field(default=None, description="Null: the finding counts")


class PolicyUsed(BaseModel):
    """A policy a verdict was computed with, at the version it had then."""

    id: str
    version: int
    name: str


class Scan(BaseModel):
    scan_id: str
    image_id: str
    image_reference: str
    format: str
    scanner: str | None = None
    scanner_version: str | None = None
    report_created_at: str | None = None
    received_at: str
    submitted_by: str
    finding_count: int
    counts: Counts
    verdict: Verdict
    policies: list[PolicyUsed] = Field(default_factory=list, description="The policies the verdict used")
    acceptances: list[dict[str, Any]] = Field(
        default_factory=list, description="The risk acceptances in force the verdict used"
    )


class ImageVerdict(BaseModel):
    """What a CI pipeline acts on: the image's current verdict under the policies in force now."""

    image_id: str
    image_reference: str
    scan_id: str = Field(description="The scan whose findings were judged: the image's current one")
    status: Literal["compliant", "non_compliant"]
    block: bool = Field(description="Whether a CI pipeline should fail the build")
    reasons: list[VerdictReason] = Field(description="Each failed condition of each failing policy")
    dry_run: list[VerdictReason] = Field(description="What dry-run policies would have said")
    policies: list[PolicyUsed]
    acceptances: list[dict[str, Any]]
    evaluated_at: str


class DecisionRecord(BaseModel):
    """The verdict a scan got when it was submitted, and everything it was computed from."""

    scan_id: str
    received_at: str
    image_reference: str
    submitted_by: str
    status: Literal["compliant", "non_compliant"]
    block: bool
    reasons: list[VerdictReason]
    dry_run: list[VerdictReason]
    policies: list[PolicyUsed]
    acceptances: list[dict[str, Any]]


class DecisionRecordPage(BaseModel):
    items: list[DecisionRecord]
    next_token: str | None = None


class AffectedImage(BaseModel):
    image_id: str
    registry: str
    repository: str
    tags: list[str]
    digest: str | None = None
    status: str
    package: str | None = None
    installed_version: str | None = None
    fixed_version: str | None = None
    fixable: bool
    location: str | None = None
    severity: str
    accepted: FindingAcceptance | None = Field(
        default=None, description="The acceptance in force for this image's finding; null: it counts"
    )


class ImagePage(BaseModel):
    items: list[Image]
    next_token: str | None = None


class FindingPage(BaseModel):
    items: list[Finding]
    next_token: str | None = None


class ScanPage(BaseModel):
    items: list[Scan]
    next_token: str | None = None


class AffectedImagePage(BaseModel):
    items: list[AffectedImage]
    next_token: str | None = None


class Health(BaseModel):
    status: Literal["ok"]


class AuditEvent(BaseModel):
    id: str
    occurred_at: str
    actor: str | None = Field(default=None, description="User id; null for a failed authentication")
    token_id: str | None = None
    source_ip: str | None = None
    request_id: str | None = None
    action: str = Field(
        description=(
            "create, update, delete, token.issue, token.revoke, authentication.fail; for risk acceptances "
            "also extend, revoke, expire; for integrations also test (a test message sent: its outcome)"
        )
    )
    entity_type: str
    entity_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AuditEventPage(BaseModel):
    items: list[AuditEvent]
    next_token: str | None = None


class ErrorDetail(BaseModel):
    code: str = Field(description="e.g. not_found, conflict, invalid_request, forbidden")
    message: str
    details: list[Any] = Field(default_factory=list, description="e.g. the users of a scope that is in use")


class ErrorResponse(BaseModel):
    """Every error the API answers has this shape."""

    error: ErrorDetail


class RequestBody(BaseModel):
    """One request-body base (with `PatchBody`) for every API model: what it refuses, every body refuses."""

    # An unknown field is a mistake worth reporting (e.g. trying to rename a role): 422, not ignored.
    # NaN and ±Infinity (JSON's NaN/Infinity, 1e999, or "nan"/"inf" strings that lax mode reads as floats)
    # are refused by every float field: they compare false with everything, so a threshold of NaN would
    # quietly never hold, and DynamoDB cannot store them.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _values_are_storable(cls, data: Any) -> Any:
        """Free-form values (`dict[str, Any]`, e.g. a policy's conditions) are not typed fields: refuse
        there too what typed fields refuse, naming each one's place (`body.conditions.cvss_at_least`).
        `model_dump(mode="json")` would silently turn a NaN into null, and a lone surrogate (`"\\ud800"`)
        cannot be encoded for DynamoDB (a 500)."""
        errors = _unstorable_values(data)
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


class PatchBody(RequestBody):
    """A PATCH body: every field optional; a field sent as null clears it only where it may be empty."""

    # Fields that may be left out but not sent as null.
    _not_null: ClassVar[tuple[str, ...]] = ()

    @field_validator("*")
    @classmethod
    def _not_null_when_sent(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for fields the caller sent: defaults are not validated.
        if value is None and info.field_name in cls._not_null:
            raise ValueError("may be left out, but not null")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the caller sent, as plain values."""
        return self.model_dump(mode="json", exclude_unset=True)


def _unstorable_values(data: Any) -> list[InitErrorDetails]:
    """NaN, ±Infinity and strings that are not Unicode text (lone surrogates) anywhere in `data`, keys
    included, as pydantic errors at their locations; iterative, whatever the depth."""
    found: list[InitErrorDetails] = []
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while pending:
        location, value = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            found.append(InitErrorDetails(type="finite_number", loc=location, input=value))
        elif isinstance(value, str) and _SURROGATE.search(value):
            found.append(InitErrorDetails(type="string_unicode", loc=location, input=value))
        elif isinstance(value, dict):
            for key, item in value.items():
                pending.append(((*location, str(key)), item))
                pending.append(((*location, str(key)), key))
        elif isinstance(value, list | tuple):
            pending.extend(((*location, index), item) for index, item in enumerate(value))
    return sorted(found, key=lambda error: [str(part) for part in error["loc"]])


class UploadCreated(BaseModel):
    """Where and how to put the report: a form POST of `fields`, then the report as the `file` field."""

    upload_id: str
    status: Literal["pending"]
    url: str = Field(description="POST a multipart/form-data form here: every field of `fields`, then `file`")
    method: Literal["POST"]
    fields: dict[str, str] = Field(description="Form fields to send as they are, before the file")
    file_field: Literal["file"] = Field(description="The form field that carries the report (last)")
    max_bytes: int = Field(description="The largest object S3 accepts (gzip-compressed reports are welcome)")
    created_at: str
    expires_at: str = Field(description="The URL works until then; an upload never made then reads failed")


class Upload(BaseModel):
    upload_id: str
    status: Literal["pending", "processing", "done", "failed"]
    image: str | None = None
    cluster: str | None = None
    max_bytes: int
    created_at: str
    expires_at: str
    finished_at: str | None = None
    result: ScanAccepted | None = Field(
        default=None, description="done: the answer POST /v1/scans would have given"
    )
    error: ErrorDetail | None = Field(default=None, description="failed: the error a POST would have given")
    error_status: int | None = Field(default=None, description="failed: the status that error would have had")
