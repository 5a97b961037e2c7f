"""Amazon Inspector findings (ListFindings), which are also ECR's enhanced scan findings.

ECR's `DescribeImageScanFindings` returns an enhanced scan's findings in Inspector's shape (ECR names the
score `score` where Inspector says `inspectorScore`), so `finding_of` reads both and `ecr` uses it.

Only findings that describe a package in an image count: `type` PACKAGE_VULNERABILITY (network
reachability and code findings concern EC2 instances and Lambda functions), `status` ACTIVE or absent
(SUPPRESSED and CLOSED findings are no longer true of the image). One Inspector finding names one
vulnerability in one or more packages; Riskgate's finding is one vulnerability of one package version,
so each `vulnerablePackages[]` entry is a finding.

* id: `packageVulnerabilityDetails.vulnerabilityId`;
* installed version: `version`, with `-release` when there is one (`4.19.118` release `2` is Debian's
  `4.19.118-2`; the same package twice with two releases is two findings), and `epoch:` in front when the
  epoch is not 0, as `fixedInVersion` writes it;
* fixed version: `fixedInVersion`, but `NotAvailable` means there is none;
* severity: `severity`; Inspector's UNTRIAGED (no score yet) is unknown, INFORMATIONAL negligible;
* CVSS: `inspectorScore` (`score` in ECR), the score Inspector judged by; else the highest
  `packageVulnerabilityDetails.cvss[].baseScore`;
* location: the package's `filePath` (language packages: the lock file or jar), none for OS packages;
* fix state: `fixAvailable` (YES, NO, PARTIAL), kept for display.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from riskgate.domain.findings import Finding, FindingKind, Severity, dedupe
from riskgate.domain.parsers._common import (
    child_path,
    expect_object,
    highest,
    object_field,
    object_list,
    optional_int,
    optional_score,
    optional_text,
    required_text,
)

ACTIVE = "ACTIVE"
PACKAGE_VULNERABILITY = "PACKAGE_VULNERABILITY"
ECR_IMAGE_RESOURCE = "AWS_ECR_CONTAINER_IMAGE"
# What Inspector writes in `fixedInVersion` when no fixed version exists.
_NO_FIXED_VERSION = "NotAvailable"
# The score of the finding: Inspector's name, then ECR's for the same value.
_SCORE_KEYS = ("inspectorScore", "score")


def finding_of(item: Mapping[str, Any], path: str = "") -> list[Finding]:
    """The findings of one Inspector2 finding (or ECR enhanced finding): one per vulnerable package;
    none when it is not an active package vulnerability. `path` names the item in error messages."""
    finding = expect_object(item, path)
    if optional_text(finding, "status", path) not in (None, ACTIVE):
        return []
    if optional_text(finding, "type", path) != PACKAGE_VULNERABILITY:
        return []
    details_path = child_path(path, "packageVulnerabilityDetails")
    details = object_field(finding, "packageVulnerabilityDetails", path)
    vulnerability_id = required_text(details, "vulnerabilityId", details_path)
    severity = Severity.parse(optional_text(finding, "severity", path))
    title = optional_text(finding, "title", path)
    cvss_score = _score(finding, path, details, details_path)
    fix_state = optional_text(finding, "fixAvailable", path)
    packages = object_list(details, "vulnerablePackages", details_path)
    if not packages:
        # A vulnerability naming no package is still one: kept, without a package, rather than lost.
        packages = [(details_path, {})]
    return [
        Finding(
            kind=FindingKind.VULNERABILITY,
            finding_id=vulnerability_id,
            severity=severity,
            title=title,
            package=optional_text(package, "name", package_path),
            installed_version=_installed_version(package, package_path),
            fixed_version=_fixed_version(package, package_path),
            location=optional_text(package, "filePath", package_path),
            cvss_score=cvss_score,
            fix_state=fix_state,
        )
        for package_path, package in packages
    ]


def inspector_findings(items: Iterable[Mapping[str, Any]], *, digest: str | None = None) -> list[Finding]:
    """The findings of ListFindings items (every page's `findings[]`, in order) that concern an ECR image,
    and with `digest` that image only: ListFindings is filtered by repository and hash already, but an
    account-wide listing also holds EC2 instances and Lambda functions."""
    findings: list[Finding] = []
    for index, item in enumerate(items):
        path = f"findings[{index}]"
        if _concerns_ecr_image(expect_object(item, path), path, digest):
            findings += finding_of(item, path)
    return dedupe(findings)


def _concerns_ecr_image(item: dict[str, Any], path: str, digest: str | None) -> bool:
    for resource_path, resource in object_list(item, "resources", path):
        if optional_text(resource, "type", resource_path) != ECR_IMAGE_RESOURCE:
            continue
        if digest is None:
            return True
        details_path = child_path(resource_path, "details")
        details = object_field(resource, "details", resource_path)
        image = object_field(details, "awsEcrContainerImage", details_path)
        if optional_text(image, "imageHash", child_path(details_path, "awsEcrContainerImage")) == digest:
            return True
    return False


def _installed_version(package: dict[str, Any], path: str) -> str | None:
    version = optional_text(package, "version", path)
    if version is None:
        return None
    release = optional_text(package, "release", path)
    epoch = optional_int(package, "epoch", path)
    return (f"{epoch}:" if epoch else "") + version + (f"-{release}" if release else "")


def _fixed_version(package: dict[str, Any], path: str) -> str | None:
    fixed = optional_text(package, "fixedInVersion", path)
    return None if fixed == _NO_FIXED_VERSION else fixed


def _score(finding: dict[str, Any], path: str, details: dict[str, Any], details_path: str) -> float | None:
    for key in _SCORE_KEYS:
        score = optional_score(finding, key, path)
        if score is not None:
            return score
    return highest(
        [
            score
            for cvss_path, cvss in object_list(details, "cvss", details_path)
            if (score := optional_score(cvss, "baseScore", cvss_path)) is not None
        ]
    )
