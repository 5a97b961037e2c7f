"""Harbor scanner-adapter vulnerability reports (Pluggable Scanner API), from any adapter.

Two forms of one report:

* the adapter's report (`GET /api/v1/scan/{id}/report`): `{generated_at, artifact{repository, digest,
  tag?, mime_type?}, scanner{name, vendor, version}, severity, vulnerabilities[]}`;
* Harbor's `…/artifacts/{reference}/additions/vulnerabilities`: the same report under its media type,
  `application/vnd.security.vulnerability.report; version=1.1` or (Harbor 1.x / 2.0)
  `application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0`. Every vulnerability report
  key of the object is read; other keys (an SBOM report) are not.

`vulnerabilities[] {id, package, version, fix_version, severity, description, links[], layer?,
preferred_cvss{score_v3, score_v2, vector_v3, vector_v2}, cwe_ids[], vendor_attributes{},
artifact_digests[]}`: every entry is a finding. Adapters omit an empty list (`omitempty`), so an absent
list is a clean image. Harbor's *scan overview* (`report_id, scan_status, summary{…}`, counts only) is
not a report: it is refused rather than read as a clean image.

Severity: the entry's `severity` (`Critical`, `High`, `Medium`, `Low`, `Negligible`, `Unknown`; Harbor
also knows `None`, read as negligible). Fixed version: `fix_version`, empty or absent means no fix.
CVSS: `preferred_cvss.score_v3`, else `score_v2`. Finding id: `id`. No location: the adapter names no
file (Trivy's `layer` is the layer, not a place in it), so one CVE of one package version is one
finding. No title: adapters give only `description`.

Image: the report's `artifact.repository` is the repository inside Harbor (`library/nginx`), without
Harbor's host, so it names no pullable image and the caller names it (`?image=`). Only an adapter that
writes the registry host into `repository` (`harbor.example.com/library/nginx`) names one: then with
its `tag` and `digest`.
"""

from __future__ import annotations

from typing import Any

from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef, parse_image_reference_or_none
from riskgate.domain.parsers._common import (
    ParsedReport,
    broken,
    child_path,
    expect_object,
    object_field,
    object_list,
    optional_score,
    optional_text,
    required_text,
)

FORMAT = "harbor"
REPORT_MEDIA_TYPE = "application/vnd.security.vulnerability.report; version=1.1"
LEGACY_REPORT_MEDIA_TYPE = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
_MEDIA_TYPE_PREFIX = "application/vnd."
_VULNERABILITY_MARKER = "vuln"
# Keys of Harbor's scan overview (NativeReportSummary): counts and status, no vulnerability list.
_OVERVIEW_KEYS = frozenset({"report_id", "scan_status", "summary", "complete_percent"})
# Keys of the adapter's SBOM report, which shares the envelope.
_SBOM_KEYS = frozenset({"sbom", "media_type"})


# --- recognition ------------------------------------------------------------------------------------


def looks_like_harbor(document: Any) -> bool:
    if not isinstance(document, dict):
        return False
    if any(_is_vulnerability_media_type(key) for key in document):
        return True
    return _is_bare_report(document)


def _is_vulnerability_media_type(key: object) -> bool:
    if not isinstance(key, str):
        return False
    lowered = key.strip().lower()
    return lowered.startswith(_MEDIA_TYPE_PREFIX) and _VULNERABILITY_MARKER in lowered


# What every report of the scanner-adapter API has (vulnerabilities may be left out when empty).
_REPORT_KEYS = frozenset({"generated_at", "scanner", "artifact", "severity", "vulnerabilities"})


def _is_bare_report(document: dict[str, Any]) -> bool:
    keys = document.keys()
    return (
        "generated_at" in keys
        and isinstance(document.get("scanner"), dict)
        and not keys.isdisjoint({"vulnerabilities", "artifact", "severity"})
        and keys.isdisjoint(_SBOM_KEYS)
    )


# --- parsing ----------------------------------------------------------------------------------------


def parse_harbor(document: dict[str, Any]) -> ParsedReport:
    reports = _reports(document)
    findings: list[Finding] = []
    for path, report in reports:
        _check_is_report(report, path)
        findings += [_vulnerability(entry, at) for at, entry in object_list(report, "vulnerabilities", path)]
    # The keyed form holds one report per media type; the first one names scanner and time.
    path, report = reports[0] if reports else ("", {})
    scanner_path = child_path(path, "scanner")
    scanner = object_field(report, "scanner", path)
    return ParsedReport(
        format=FORMAT,
        scanner=optional_text(scanner, "name", scanner_path),
        scanner_version=optional_text(scanner, "version", scanner_path),
        image=_image(reports),
        findings=findings,
        created_at=optional_text(report, "generated_at", path),
    )


def _reports(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The report itself, or every vulnerability report under its media type (null ones skipped)."""
    keyed = [key for key in document if _is_vulnerability_media_type(key)]
    if not keyed:
        return [("", document)]
    return [
        (child_path("", key), expect_object(document[key], child_path("", key)))
        for key in keyed
        if document[key] is not None
    ]


def _check_is_report(report: dict[str, Any], path: str) -> None:
    """A report, if one without vulnerabilities (the adapter may leave out an empty list): not Harbor's scan
    overview, and not something else under the media type (an answer wrapped twice), which would otherwise
    read as a clean image."""
    if "vulnerabilities" in report:
        return
    if not _OVERVIEW_KEYS.isdisjoint(report.keys()):
        raise broken(
            path,
            "no vulnerabilities list: this is Harbor's scan overview, which holds only counts; send the "
            "vulnerability report (GET …/artifacts/{reference}/additions/vulnerabilities)",
        )
    if _REPORT_KEYS.isdisjoint(report.keys()):
        keys = ", ".join(sorted(map(str, report))) or "none"
        raise broken(
            path, f"not a Harbor vulnerability report (no generated_at, scanner, artifact); keys: {keys}"
        )


def _vulnerability(entry: dict[str, Any], path: str) -> Finding:
    cvss_path = child_path(path, "preferred_cvss")
    cvss = object_field(entry, "preferred_cvss", path)
    score_v3 = optional_score(cvss, "score_v3", cvss_path)
    score_v2 = optional_score(cvss, "score_v2", cvss_path)
    return Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id=required_text(entry, "id", path),
        severity=Severity.parse(optional_text(entry, "severity", path)),
        package=optional_text(entry, "package", path),
        installed_version=optional_text(entry, "version", path),
        fixed_version=optional_text(entry, "fix_version", path),
        cvss_score=score_v3 if score_v3 is not None else score_v2,
    )


def _image(reports: list[tuple[str, dict[str, Any]]]) -> ImageRef | None:
    for path, report in reports:
        artifact_path = child_path(path, "artifact")
        artifact = object_field(report, "artifact", path)
        repository = optional_text(artifact, "repository", artifact_path)
        tag = optional_text(artifact, "tag", artifact_path)
        digest = optional_text(artifact, "digest", artifact_path)
        if repository is None or not _names_a_registry(repository):
            continue
        reference = repository + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        image = parse_image_reference_or_none(reference)
        if image is not None:
            return image
    return None


def _names_a_registry(repository: str) -> bool:
    """Docker's rule: the first component is a registry when it has a "." or ":" or is localhost."""
    first, slash, _ = repository.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")
