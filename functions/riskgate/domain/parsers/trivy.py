"""Trivy JSON: `SchemaVersion: 2` reports (Trivy >= 0.20) and the legacy list of results (< 0.20).

Read: `Results[].Vulnerabilities[]`, `Secrets[]` and failed `Misconfigurations[]`. Not read, on purpose:
`ExperimentalModifiedFindings` (suppressed by .trivyignore/VEX, not open), `Licenses`, `Packages`.

A vulnerability's location is the result's `Target`, followed by `:` and the package's `PkgPath` when
Trivy names the file the package was found in: `Java:usr/local/tomcat/lib/catalina.jar`. Only language
packages carry a PkgPath, and their Targets (`Java`, `Python`, `app/package-lock.json`) in practice hold
no `:`, so the string still reads as target, then file.
"""

from __future__ import annotations

from typing import Any

from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef, parse_image_reference_or_none, with_repo_digest
from riskgate.domain.parsers._common import (
    ParsedReport,
    broken,
    child_path,
    expect_object,
    highest,
    object_field,
    object_list,
    objects_of,
    optional_int,
    optional_score,
    optional_text,
    required_text,
    text_list,
)

FORMAT = "trivy"
LEGACY_FORMAT = "trivy-legacy"
SCANNER = "trivy"
LOCATION_SEPARATOR = ":"
# CVSS versions by preference: v3 is what most advisories carry; v4 and v2 only fill gaps.
_CVSS_SCORE_KEYS = ("V3Score", "V40Score", "V2Score")


def parse_trivy(document: dict[str, Any]) -> ParsedReport:
    """A `SchemaVersion: 2` report (the caller has checked the version)."""
    trivy = object_field(document, "Trivy", "")
    return ParsedReport(
        format=FORMAT,
        scanner=SCANNER,
        scanner_version=optional_text(trivy, "Version", "Trivy"),
        image=_image_of_report(document),
        findings=_findings_of_results(object_list(document, "Results", "")),
        created_at=optional_text(document, "CreatedAt", ""),
    )


def parse_trivy_legacy(document: list[Any] | None) -> ParsedReport:
    """The pre-0.20 top-level list of results; `null` is that era's report of a clean image."""
    results = objects_of(document or [], "")
    return ParsedReport(
        format=LEGACY_FORMAT,
        scanner=SCANNER,
        scanner_version=None,
        image=_image_of_legacy_results(results),
        findings=_findings_of_results(results),
        created_at=None,
    )


def _findings_of_results(results: list[tuple[str, dict[str, Any]]]) -> list[Finding]:
    return [finding for result_path, result in results for finding in findings_of_result(result, result_path)]


def findings_of_result(result: dict[str, Any], result_path: str) -> list[Finding]:
    """The findings of one `Results[]` entry (also the unit `trivy k8s` reports are made of)."""
    findings: list[Finding] = []
    target = optional_text(result, "Target", result_path)
    for path, entry in object_list(result, "Vulnerabilities", result_path):
        findings.append(_vulnerability(entry, target, path))
    for path, entry in object_list(result, "Secrets", result_path):
        findings.append(_secret(entry, target, path))
    for path, entry in object_list(result, "Misconfigurations", result_path):
        if _is_failed_check(entry, path):
            findings.append(_misconfiguration(entry, target, path))
    return findings


def _vulnerability(entry: dict[str, Any], target: str | None, path: str) -> Finding:
    return Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id=required_text(entry, "VulnerabilityID", path),
        severity=Severity.parse(entry.get("Severity")),
        title=optional_text(entry, "Title", path),
        package=optional_text(entry, "PkgName", path),
        installed_version=optional_text(entry, "InstalledVersion", path),
        fixed_version=optional_text(entry, "FixedVersion", path),
        location=_location(target, optional_text(entry, "PkgPath", path)),
        cvss_score=_highest_cvss_score(object_field(entry, "CVSS", path), child_path(path, "CVSS")),
        fix_state=optional_text(entry, "Status", path),
    )


def _secret(entry: dict[str, Any], target: str | None, path: str) -> Finding:
    start_line = optional_int(entry, "StartLine", path)
    return Finding(
        kind=FindingKind.SENSITIVE_DATA,
        finding_id=required_text(entry, "RuleID", path),
        severity=Severity.parse(entry.get("Severity")),
        title=optional_text(entry, "Title", path),
        location=target,
        # The same rule can match twice in one file; the line tells the matches apart.
        detail=str(start_line) if start_line is not None else None,
    )


def _misconfiguration(entry: dict[str, Any], target: str | None, path: str) -> Finding:
    # Newer Trivy writes `ID: DS-0002` and no AVDID; older `ID: DS002` with `AVDID: AVD-DS-0002`.
    check_id = optional_text(entry, "ID", path) or optional_text(entry, "AVDID", path)
    if check_id is None:
        raise broken(path, "missing ID")
    cause_path = child_path(path, "CauseMetadata")
    cause = object_field(entry, "CauseMetadata", path)
    return Finding(
        kind=FindingKind.MISCONFIGURATION,
        finding_id=check_id,
        severity=Severity.parse(entry.get("Severity")),
        title=optional_text(entry, "Title", path),
        location=target,
        # One check fails once per offending resource: `aws_s3_bucket.bucket:8`.
        detail=_resource_and_line(
            optional_text(cause, "Resource", cause_path), optional_int(cause, "StartLine", cause_path)
        ),
    )


def _is_failed_check(entry: dict[str, Any], path: str) -> bool:
    # Trivy lists only failures unless --include-non-failures; PASS and EXCEPTION are not findings.
    status = optional_text(entry, "Status", path)
    return status is None or status.upper() == "FAIL"


def _location(target: str | None, pkg_path: str | None) -> str | None:
    if target and pkg_path:
        return f"{target}{LOCATION_SEPARATOR}{pkg_path}"
    return target or pkg_path


def _resource_and_line(resource: str | None, line: int | None) -> str | None:
    if resource and line is not None:
        return f"{resource}:{line}"
    return resource or (None if line is None else str(line))


def _highest_cvss_score(cvss_by_source: dict[str, Any], path: str) -> float | None:
    """Highest v3 score across sources (nvd, redhat, ghsa, …); v4.0, then v2 when no source has v3."""
    vendors = [(child_path(path, source), vendor) for source, vendor in cvss_by_source.items()]
    checked = [(vendor_path, expect_object(vendor, vendor_path)) for vendor_path, vendor in vendors]
    for key in _CVSS_SCORE_KEYS:
        scores = [
            score
            for vendor_path, vendor in checked
            if (score := optional_score(vendor, key, vendor_path)) is not None
        ]
        if scores:
            return highest(scores)
    return None


def _image_of_report(document: dict[str, Any]) -> ImageRef | None:
    """RepoTags name the image even when a tarball was scanned; else ArtifactName for a pulled image."""
    metadata = object_field(document, "Metadata", "")
    image = first_repo_tag(metadata, "Metadata")
    if image is None and optional_text(document, "ArtifactType", "") == "container_image":
        image = parse_image_reference_or_none(optional_text(document, "ArtifactName", ""))
    return with_repo_digest(image, repo_digests(metadata, "Metadata"))


def first_repo_tag(metadata: dict[str, Any], path: str) -> ImageRef | None:
    """The first usable `RepoTags` entry of a `Metadata` object."""
    return next(
        (ref for tag in text_list(metadata, "RepoTags", path) if (ref := parse_image_reference_or_none(tag))),
        None,
    )


def repo_digests(metadata: dict[str, Any], path: str) -> list[str]:
    """The `RepoDigests` entries (`repo@sha256:…`) of a `Metadata` object."""
    return text_list(metadata, "RepoDigests", path)


def _image_of_legacy_results(results: list[tuple[str, dict[str, Any]]]) -> ImageRef | None:
    """Legacy reports name the artifact only in the OS result's Target: `debian (debian 10.8)`."""
    if not results:
        return None
    result_path, first = results[0]
    return image_of_os_target(optional_text(first, "Target", result_path))


def image_of_os_target(target: str | None) -> ImageRef | None:
    """The artifact an OS-packages result names in its Target, `<artifact> (<os> <version>)`."""
    # Only that form names an artifact; a lockfile path does not.
    if target is None or " (" not in target:
        return None
    return parse_image_reference_or_none(target.split(" (", 1)[0])
