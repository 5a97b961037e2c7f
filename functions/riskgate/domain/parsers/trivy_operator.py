"""Trivy Operator custom resources (`aquasecurity.github.io/v1alpha1`) about one image.

This module reads a single `VulnerabilityReport` or `ExposedSecretReport` object, as
`kubectl get vulnerabilityreport <name> -o json` prints it (Starboard, the operator's predecessor, wrote
the same kinds under the same apiVersion). Lists of resources (`kind: List`, a JSON array, a dict keyed
by resource plural) and the other kinds (ConfigAuditReport, ClusterVulnerabilityReport, …) are not
recognized here.

Read: `report.vulnerabilities[]` of a VulnerabilityReport and `report.secrets[]` of an
ExposedSecretReport; every entry is one finding (the operator writes no suppressed or passed entries).

Severity: the scanner's own word (`CRITICAL` … `LOW`, `NONE` → negligible, `UNKNOWN`). Fixed version:
`fixedVersion` when non-empty; the resource has no fix-status word. CVSS: `score` (the operator's pick
among the vendors' scores). Location of a vulnerability: `target`, followed by `:` and the package path
(`packagePath`, older `pkgPath`) when the operator names the file, as the Trivy parser writes it; the
operator often writes `target: ""`, then there is none. Location of a secret: its `target` (the file).
The secret's `match` is the secret itself (masked or not) and is never kept; the resource has no line
number, so two matches of one rule in one file are one finding.

Image: `report.registry.server` + `/` + `report.artifact.repository`, `:tag` and `@digest` where
given, normalized as Docker does (`index.docker.io` is Docker Hub). The Kubernetes workload the report
was made for (`metadata.labels` `trivy-operator.resource.*`) is not kept: a finding is about the image,
and Finding has no field for the workload (`detail` is part of a finding's identity, and the same
image's findings must keep one identity whichever workload runs it).
"""

from __future__ import annotations

from typing import Any

from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef, is_digest, parse_image_reference_or_none
from riskgate.domain.parsers._common import (
    ParsedReport,
    expect_object,
    object_field,
    object_list,
    optional_score,
    optional_text,
    required_text,
)

FORMAT = "trivy-operator"
API_VERSION = "aquasecurity.github.io/v1alpha1"
VULNERABILITY_REPORT = "VulnerabilityReport"
EXPOSED_SECRET_REPORT = "ExposedSecretReport"
_IMAGE_REPORT_KINDS = frozenset({VULNERABILITY_REPORT, EXPOSED_SECRET_REPORT})
LOCATION_SEPARATOR = ":"
_REPORT = "report"


def looks_like_trivy_operator_image_report(document: Any) -> bool:
    """A single VulnerabilityReport or ExposedSecretReport object of `aquasecurity.github.io/v1alpha1`."""
    return (
        isinstance(document, dict)
        and document.get("apiVersion") == API_VERSION
        and document.get("kind") in _IMAGE_REPORT_KINDS
    )


def parse_trivy_operator(document: Any) -> ParsedReport:
    resource = expect_object(document, "")
    kind = optional_text(resource, "kind", "")
    report = object_field(resource, _REPORT, "")
    scanner = object_field(report, "scanner", _REPORT)
    scanner_name = optional_text(scanner, "name", "report.scanner")
    metadata = object_field(resource, "metadata", "")
    findings: list[Finding] = []
    if kind == VULNERABILITY_REPORT:
        findings = [
            _vulnerability(entry, path) for path, entry in object_list(report, "vulnerabilities", _REPORT)
        ]
    elif kind == EXPOSED_SECRET_REPORT:
        findings = [_secret(entry, path) for path, entry in object_list(report, "secrets", _REPORT)]
    return ParsedReport(
        format=FORMAT,
        scanner=scanner_name.lower() if scanner_name else None,
        scanner_version=optional_text(scanner, "version", "report.scanner"),
        image=_image(report),
        findings=findings,
        created_at=optional_text(report, "updateTimestamp", _REPORT)
        or optional_text(metadata, "creationTimestamp", "metadata"),
    )


def _vulnerability(entry: dict[str, Any], path: str) -> Finding:
    package_path = optional_text(entry, "packagePath", path) or optional_text(entry, "pkgPath", path)
    return Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id=required_text(entry, "vulnerabilityID", path),
        severity=Severity.parse(entry.get("severity")),
        title=optional_text(entry, "title", path),
        package=optional_text(entry, "resource", path),
        installed_version=optional_text(entry, "installedVersion", path),
        fixed_version=optional_text(entry, "fixedVersion", path),
        location=_location(optional_text(entry, "target", path), package_path),
        cvss_score=optional_score(entry, "score", path),
    )


def _secret(entry: dict[str, Any], path: str) -> Finding:
    # `match` is read only to check its type: it is the secret and is never kept.
    optional_text(entry, "match", path)
    return Finding(
        kind=FindingKind.SENSITIVE_DATA,
        finding_id=required_text(entry, "ruleID", path),
        severity=Severity.parse(entry.get("severity")),
        title=optional_text(entry, "title", path),
        location=optional_text(entry, "target", path),
    )


def _location(target: str | None, package_path: str | None) -> str | None:
    if target and package_path:
        return f"{target}{LOCATION_SEPARATOR}{package_path}"
    return target or package_path


def _image(report: dict[str, Any]) -> ImageRef | None:
    registry_path = "report.registry"
    artifact_path = "report.artifact"
    server = optional_text(object_field(report, "registry", _REPORT), "server", registry_path)
    artifact = object_field(report, "artifact", _REPORT)
    repository = optional_text(artifact, "repository", artifact_path)
    tag = optional_text(artifact, "tag", artifact_path)
    digest = optional_text(artifact, "digest", artifact_path)
    if repository is None:
        return None
    name = f"{server.rstrip('/')}/{repository}" if server else repository
    reference = name + (f":{tag}" if tag else "")
    # An unusable digest does not make the tag unusable.
    if digest and is_digest(digest):
        return parse_image_reference_or_none(f"{reference}@{digest}")
    return parse_image_reference_or_none(reference)
