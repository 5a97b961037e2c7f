"""Amazon ECR: which scan an EventBridge event announces, and the findings of DescribeImageScanFindings.

Events. The registry-work queue receives, as EventBridge delivered them, `ECR Image Scan` (`aws.ecr`; a
basic scan ended, `detail.scan-status` COMPLETE or FAILED) and `Inspector2 Scan` (`aws.inspector2`; an
enhanced scan of an image). `scan_finished` names the scan to pull; every other event (a push, a change
of scanning configuration, an Inspector scan of an EC2 instance or a Lambda function, which names no
repository nor digest) is None, and so is a basic scan that did not complete: `scan_failed` says why.
An event of one of the two kinds that lacks what it must hold raises InvalidInput naming the path
(`detail.image-digest: missing`). Digests are not checked beyond being text: AWS's own samples carry
placeholders, and the digest is only used to ask ECR about the image.

`repository-name` is a plain name in ECR's events and the repository's ARN
(`arn:aws:ecr:<region>:<account>:repository/<name>`, names may hold `/`) in Inspector's; either is read,
the account and region coming from the ARN when there is one, else from the envelope. The scan's time is
the envelope's `time`.

Findings. A basic scan lists `findings[]`: id `name`; severity `severity` (INFORMATIONAL is negligible,
UNDEFINED unknown); package and installed version from the `attributes` `package_name` /
`package_version`; CVSS from `CVSS3_SCORE`, else `CVSS2_SCORE` (strings: `"9.3"`); `description` as the
title (16 of 257 findings of the real sample have none). A basic scan states no fixed version. An enhanced
scan lists `enhancedFindings[]`, Inspector's findings: riskgate.domain.registries.inspector reads them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.parsers._common import (
    broken,
    child_path,
    expect_object,
    object_field,
    object_list,
    optional_score,
    optional_text,
    required_text,
    text_list,
)
from riskgate.domain.registries import (
    SCANNER_ECR,
    SCANNER_INSPECTOR,
    RegistryImage,
    ScanFinished,
    registry_time,
    required_field,
    required_time,
)
from riskgate.domain.registries.inspector import finding_of

ECR_SOURCE = "aws.ecr"
ECR_SCAN_DETAIL_TYPE = "ECR Image Scan"
INSPECTOR_SOURCE = "aws.inspector2"
INSPECTOR_SCAN_DETAIL_TYPE = "Inspector2 Scan"
SCAN_COMPLETE = "COMPLETE"
# The status of an image's enhanced scan whose findings are readable (Inspector scans it continuously).
ENHANCED_SCAN_ACTIVE = "ACTIVE"

_SCANNER_OF_EVENT = {
    (ECR_SOURCE, ECR_SCAN_DETAIL_TYPE): SCANNER_ECR,
    (INSPECTOR_SOURCE, INSPECTOR_SCAN_DETAIL_TYPE): SCANNER_INSPECTOR,
}
_REPOSITORY_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:ecr:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):repository/(?P<name>.+)"
)
_ARN_PREFIX = "arn:"
# CVSS attributes of a basic finding, the preferred first.
_CVSS_ATTRIBUTES = ("CVSS3_SCORE", "CVSS2_SCORE")
_FINDINGS_PATH = "imageScanFindings"


# --- events -----------------------------------------------------------------------------------------


def scan_finished(event: Mapping[str, Any]) -> ScanFinished | None:
    """The scan an EventBridge event says finished; None for any other event, or a basic scan that
    did not complete (see `scan_failed`)."""
    scanner = _scanner_of(event)
    if scanner is None:
        return None
    envelope = expect_object(event, "")
    if scanner == SCANNER_ECR and _ecr_scan_status(envelope) != SCAN_COMPLETE:
        return None
    image = scanned_image(envelope)
    if image is None:
        return None
    return ScanFinished(
        scanner=scanner,
        image=image,
        scanned_at=required_time(envelope, "time", ""),
        event_id=required_field(envelope, "id", ""),
    )


def scan_failed(event: Mapping[str, Any]) -> str | None:
    """Why a basic scan did not complete, for an `ECR Image Scan` event whose status is not COMPLETE;
    None for any other event."""
    if _scanner_of(event) != SCANNER_ECR:
        return None
    status = _ecr_scan_status(expect_object(event, ""))
    if status == SCAN_COMPLETE:
        return None
    return f"the ECR image scan ended with status {status}"


def scanned_image(event: Mapping[str, Any]) -> RegistryImage | None:
    """The image an `ECR Image Scan` or `Inspector2 Scan` event is about, whatever the scan's outcome;
    None for other events and for Inspector scans of something else than an image."""
    scanner = _scanner_of(event)
    if scanner is None:
        return None
    envelope = expect_object(event, "")
    detail = object_field(envelope, "detail", "")
    if scanner == SCANNER_INSPECTOR and not detail.keys() & {"repository-name", "image-digest"}:
        # Inspector also scans EC2 instances and Lambda functions, under the same detail-type.
        return None
    account_id, region, repository = _repository(envelope, detail)
    return RegistryImage(
        account_id=account_id,
        region=region,
        repository=repository,
        digest=required_field(detail, "image-digest", "detail"),
        tags=tuple(text_list(detail, "image-tags", "detail")),
    )


def _scanner_of(event: object) -> str | None:
    if not isinstance(event, Mapping):
        return None
    source, detail_type = event.get("source"), event.get("detail-type")
    if not isinstance(source, str) or not isinstance(detail_type, str):
        return None
    return _SCANNER_OF_EVENT.get((source, detail_type))


def _ecr_scan_status(envelope: dict[str, Any]) -> str:
    return required_field(object_field(envelope, "detail", ""), "scan-status", "detail")


def _repository(envelope: dict[str, Any], detail: dict[str, Any]) -> tuple[str, str, str]:
    """(account, region, repository name) of the event's repository."""
    name = required_field(detail, "repository-name", "detail")
    if name.startswith(_ARN_PREFIX):
        arn = _REPOSITORY_ARN_RE.fullmatch(name)
        if arn is None:
            raise broken(
                "detail.repository-name",
                f"expected a repository name or an ECR repository ARN, got {name[:200]!r}",
            )
        return arn.group("account"), arn.group("region"), arn.group("name")
    return required_field(envelope, "account", ""), required_field(envelope, "region", ""), name


# --- DescribeImageScanFindings ----------------------------------------------------------------------


def basic_findings(responses: Iterable[Mapping[str, Any]]) -> list[Finding]:
    """The findings of every page of one image's DescribeImageScanFindings: basic `findings[]` and
    enhanced `enhancedFindings[]` (not deduplicated here: `registry_report` does it for the report)."""
    findings: list[Finding] = []
    for response in responses:
        scan = object_field(expect_object(response, ""), _FINDINGS_PATH, "")
        for path, item in object_list(scan, "findings", _FINDINGS_PATH):
            findings.append(_basic_finding(item, path))
        for path, item in object_list(scan, "enhancedFindings", _FINDINGS_PATH):
            findings += finding_of(item, path)
    return findings


def scan_completed_at(response: Mapping[str, Any]) -> str | None:
    """`imageScanFindings.imageScanCompletedAt` as ISO 8601 UTC; None when the response has none."""
    scan = object_field(expect_object(response, ""), _FINDINGS_PATH, "")
    value = scan.get("imageScanCompletedAt")
    if value is None:
        return None
    return registry_time(value, child_path(_FINDINGS_PATH, "imageScanCompletedAt"))


def answered_scanner(responses: Iterable[Mapping[str, Any]]) -> str:
    """Whose scan ECR's DescribeImageScanFindings answered with: `inspector` for an enhanced scan (status
    ACTIVE, or `enhancedFindings` listed: Inspector's findings, read through ECR), else `ecr` (basic)."""
    for response in responses:
        scan = object_field(expect_object(response, ""), _FINDINGS_PATH, "")
        if scan_status(response) == ENHANCED_SCAN_ACTIVE or scan.get("enhancedFindings"):
            return SCANNER_INSPECTOR
    return SCANNER_ECR


def scan_status(response: Mapping[str, Any]) -> str | None:
    """`imageScanStatus.status`: COMPLETE, IN_PROGRESS, FAILED, … (enhanced scanning has more)."""
    status = object_field(expect_object(response, ""), "imageScanStatus", "")
    return optional_text(status, "status", "imageScanStatus")


def _basic_finding(item: dict[str, Any], path: str) -> Finding:
    attributes = _attributes(item, path)
    attributes_path = child_path(path, "attributes")
    return Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id=required_text(item, "name", path),
        # Severity.parse reads INFORMATIONAL as negligible; UNDEFINED is no severity, so unknown.
        severity=Severity.parse(optional_text(item, "severity", path)),
        title=optional_text(item, "description", path),
        package=attributes.get("package_name"),
        installed_version=attributes.get("package_version"),
        cvss_score=_cvss_score(attributes, attributes_path),
    )


def _attributes(item: dict[str, Any], path: str) -> dict[str, str]:
    """The `attributes` list of `{key, value}` as a dict; attributes without a value are left out."""
    values: dict[str, str] = {}
    for attribute_path, attribute in object_list(item, "attributes", path):
        value = optional_text(attribute, "value", attribute_path)
        if value is not None:
            values[required_text(attribute, "key", attribute_path)] = value
    return values


def _cvss_score(attributes: dict[str, str], path: str) -> float | None:
    """The first CVSS attribute that holds a score. Scores are strings; one that is not a number is no
    score (the finding keeps its severity), as `optional_score` treats numbers outside CVSS's range."""
    for key in _CVSS_ATTRIBUTES:
        try:
            number = float(attributes.get(key, ""))
        except ValueError:
            continue
        score = optional_score({key: number}, key, path) if math.isfinite(number) else None
        if score is not None:
            return score
    return None
