"""Clair reports: clair-scanner's and klar's JSON (Clair v2 API) and Clair v4's vulnerability report.

* clair-scanner (`clair-scanner --report=r.json <image>`): `{image, unapproved[], vulnerabilities[
  {featurename, featureversion, vulnerability, namespace, description, link, severity, fixedby}]}`.
  Every entry is a finding, approved (allow-listed) or not: `unapproved` is clair-scanner's own gate,
  acceptance is ours. `image` is the image as the user named it. Newer clair-scanner releases, which
  talk to Clair v4, write the same shape.
* klar (`KLAR_OUTPUT=json` / `JSON_OUTPUT=true`): `{LayerCount, Vulnerabilities{<severity>: [{Name,
  NamespaceName, Description, Link, Severity, FixedBy, FeatureName, FeatureVersion, Metadata?}]}}`,
  one list per severity bucket (`{}` when clean). It names no image. CVSS: `Metadata.NVD.CVSSv3` /
  `CVSSv2` `Score` (Clair v2 metadata), the highest.
* Clair v4 (`GET /matcher/api/v1/vulnerability_report/{digest}`, `clairctl report -o json`):
  `{manifest_hash, packages{id: Package}, distributions{}, repository{}, environments{package id:
  [{package_db, introduced_in, distribution_id, repository_ids}]}, vulnerabilities{id: Vulnerability},
  package_vulnerabilities{package id: [vulnerability id]}, enrichments{}}`. A finding is one
  (package, vulnerability) pair of `package_vulnerabilities`: the package is the installed one of
  `packages` (the vulnerability's own `package` is the advisory's, often the source package). The
  report names only the manifest digest, no repository, so it names no image. CVSS: the `clair.cvss`
  enrichment (`baseScore`, the highest).

Severity: the scanner's word (`Unknown`, `Negligible`, `Low`, `Medium`, `High`, `Critical`). Clair v2
also has `Defcon1`, a level above Critical: it is mapped to critical. Klar takes the entry's `Severity`,
else the bucket it is listed under. Clair v4 takes `normalized_severity` (the vendor's `severity`
word, `Important`, `moderate`, a CVSS vector, is not on one scale); when that is Unknown and the CVSS
enrichment gives a `baseSeverity`, that one.

Fixed version: `fixedby` / `FixedBy` / `fixed_in_version`, empty means no fix. Clair v4's OSV data
can write it URL-encoded (`fixed=1.2.3&introduced=0`): then the `fixed` values, joined with ", ".

Finding id: the vulnerability's name. Clair's RHEL OVAL data names vulnerabilities
`RHSA-2020:5566: openssl security update (Important)`: the part before ": " is the id, the rest the
title. Location: only Clair v4 has one, the package database(s) the package was found in
(`var/lib/dpkg/status`, a site-packages path), sorted and joined with ", ".
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef, parse_image_reference_or_none
from riskgate.domain.parsers._common import (
    ParsedReport,
    broken,
    child_path,
    expect_object,
    highest,
    object_field,
    object_list,
    optional_score,
    optional_text,
    required_text,
    text_list,
)

FORMAT = "clair"
CLAIR_SCANNER = "clair-scanner"
KLAR = "klar"
CLAIR = "clair"
# Clair v2's level above Critical: a critical problem its maintainers flagged for immediate attention.
DEFCON1 = "defcon1"
# `RHSA-2020:5566: openssl security update (Important)` → id, title.
_NAME_WITH_TITLE_RE = re.compile(r"^(\S+):\s+(\S.*)$", re.DOTALL)
# The keys of the OSV range events Clair v4 URL-encodes into fixed_in_version.
_RANGE_EVENT_KEYS = frozenset({"fixed", "introduced", "lastAffected", "last_affected", "limit"})
_CVSS_ENRICHER = "clair.cvss"


# --- recognition ------------------------------------------------------------------------------------


def looks_like_clair(document: Any) -> bool:
    return _variant(document) is not None


def _variant(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    keys = document.keys()
    if {"image", "unapproved", "vulnerabilities"} <= keys:
        return CLAIR_SCANNER
    if {"LayerCount", "Vulnerabilities"} <= keys:
        return KLAR
    if {"manifest_hash", "package_vulnerabilities"} <= keys:
        return CLAIR
    return None


def parse_clair(document: dict[str, Any]) -> ParsedReport:
    variant = _variant(document)
    if variant == CLAIR_SCANNER:
        return _parse_clair_scanner(document)
    if variant == KLAR:
        return _parse_klar(document)
    if variant == CLAIR:
        return _parse_vulnerability_report(document)
    raise broken("", "expected a clair-scanner, klar or Clair v4 vulnerability report")


def _report(scanner: str, findings: list[Finding], image: ImageRef | None = None) -> ParsedReport:
    return ParsedReport(
        format=FORMAT,
        scanner=scanner,
        scanner_version=None,
        image=image,
        findings=findings,
        created_at=None,
    )


# --- clair-scanner ----------------------------------------------------------------------------------


def _parse_clair_scanner(document: dict[str, Any]) -> ParsedReport:
    findings = [
        _finding(
            name=required_text(entry, "vulnerability", path),
            severity=clair_severity(optional_text(entry, "severity", path)),
            package=optional_text(entry, "featurename", path),
            installed_version=optional_text(entry, "featureversion", path),
            fixed_version=optional_text(entry, "fixedby", path),
        )
        for path, entry in object_list(document, "vulnerabilities", "")
    ]
    image = parse_image_reference_or_none(optional_text(document, "image", ""))
    return _report(CLAIR_SCANNER, findings, image)


# --- klar -------------------------------------------------------------------------------------------


def _parse_klar(document: dict[str, Any]) -> ParsedReport:
    findings: list[Finding] = []
    buckets = object_field(document, "Vulnerabilities", "")
    for bucket in buckets:
        for path, entry in object_list(buckets, bucket, "Vulnerabilities"):
            word = optional_text(entry, "Severity", path) or bucket
            findings.append(
                _finding(
                    name=required_text(entry, "Name", path),
                    severity=clair_severity(word),
                    package=optional_text(entry, "FeatureName", path),
                    installed_version=optional_text(entry, "FeatureVersion", path),
                    fixed_version=optional_text(entry, "FixedBy", path),
                    cvss_score=_klar_cvss_score(entry, path),
                )
            )
    return _report(KLAR, findings)


def _klar_cvss_score(entry: dict[str, Any], path: str) -> float | None:
    """Clair v2 metadata is free-form (`map[string]interface{}`): read the NVD scores where they are."""
    metadata = entry.get("Metadata")
    nvd = metadata.get("NVD") if isinstance(metadata, dict) else None
    if not isinstance(nvd, dict):
        return None
    nvd_path = child_path(child_path(path, "Metadata"), "NVD")
    scores = []
    for version in ("CVSSv3", "CVSSv2"):
        cvss = nvd.get(version)
        if isinstance(cvss, dict):
            score = optional_score(cvss, "Score", child_path(nvd_path, version))
            if score is not None:
                scores.append(score)
    return highest(scores)


# --- Clair v4 ---------------------------------------------------------------------------------------


def _parse_vulnerability_report(document: dict[str, Any]) -> ParsedReport:
    packages = object_field(document, "packages", "")
    vulnerabilities = object_field(document, "vulnerabilities", "")
    environments = object_field(document, "environments", "")
    cvss = _cvss_enrichment(object_field(document, "enrichments", ""))
    findings: list[Finding] = []
    affected = object_field(document, "package_vulnerabilities", "")
    for package_id in affected:
        ids_path = child_path("package_vulnerabilities", package_id)
        package_path = child_path("packages", package_id)
        package = _referenced(packages, package_id, package_path, ids_path)
        location = _package_databases(environments, package_id)
        for vulnerability_id in text_list(affected, package_id, "package_vulnerabilities"):
            vulnerability_path = child_path("vulnerabilities", vulnerability_id)
            vulnerability = _referenced(vulnerabilities, vulnerability_id, vulnerability_path, ids_path)
            scores, cvss_severities = cvss.get(vulnerability_id, ([], []))
            findings.append(
                _finding(
                    name=required_text(vulnerability, "name", vulnerability_path),
                    severity=_v4_severity(vulnerability, vulnerability_path, cvss_severities),
                    package=required_text(package, "name", package_path),
                    installed_version=optional_text(package, "version", package_path),
                    fixed_version=_fixed_in_version(
                        optional_text(vulnerability, "fixed_in_version", vulnerability_path)
                    ),
                    location=location,
                    cvss_score=highest(scores),
                )
            )
    return _report(CLAIR, findings)


def _v4_severity(vulnerability: dict[str, Any], path: str, cvss_severities: list[Severity]) -> Severity:
    """`normalized_severity`; when Unknown (Alpine's and OSV's data often have none), the CVSS one."""
    severity = clair_severity(optional_text(vulnerability, "normalized_severity", path))
    if severity is Severity.UNKNOWN and cvss_severities:
        return min(cvss_severities, key=lambda word: word.rank)
    return severity


def _referenced(objects: dict[str, Any], key: str, path: str, referenced_from: str) -> dict[str, Any]:
    if objects.get(key) is None:
        parent, _, _ = path.partition(".")
        raise broken(referenced_from, f"refers to {key!r}, which is not in {parent}")
    return expect_object(objects[key], path)


def _package_databases(environments: dict[str, Any], package_id: str) -> str | None:
    databases = {
        database
        for path, environment in object_list(environments, package_id, "environments")
        if (database := optional_text(environment, "package_db", path))
    }
    return ", ".join(sorted(databases)) or None


def _cvss_enrichment(enrichments: dict[str, Any]) -> dict[str, tuple[list[float], list[Severity]]]:
    """Vulnerability id → (base scores, base severities) of the `clair.cvss` enricher.

    Its value is `[{"<vulnerability id>": [<NVD CVSS v3 object: baseScore, baseSeverity, …>]}]`.
    """
    by_vulnerability: dict[str, tuple[list[float], list[Severity]]] = {}
    for kind in enrichments:
        if _CVSS_ENRICHER not in str(kind):
            continue
        for item_path, item in object_list(enrichments, kind, "enrichments"):
            for vulnerability_id in item:
                for record_path, record in object_list(item, vulnerability_id, item_path):
                    scores, severities = by_vulnerability.setdefault(vulnerability_id, ([], []))
                    score = optional_score(record, "baseScore", record_path)
                    if score is not None:
                        scores.append(score)
                    word = Severity.parse(optional_text(record, "baseSeverity", record_path))
                    if word is not Severity.UNKNOWN:
                        severities.append(word)
    return by_vulnerability


def _fixed_in_version(text: str | None) -> str | None:
    """The version as written, or the `fixed` values of Clair's URL-encoded OSV range."""
    if text is None or "=" not in text:
        return text
    query = parse_qs(text, keep_blank_values=True)
    if not query or not query.keys() <= _RANGE_EVENT_KEYS:
        return text
    return ", ".join(version for version in query.get("fixed", []) if version) or None


# --- shared -----------------------------------------------------------------------------------------


def clair_severity(word: str | None) -> Severity:
    """Clair's severity words; `Defcon1`, above Critical, is critical."""
    if word is not None and word.strip().lower() == DEFCON1:
        return Severity.CRITICAL
    return Severity.parse(word)


def _finding(
    *,
    name: str,
    severity: Severity,
    package: str | None,
    installed_version: str | None,
    fixed_version: str | None,
    location: str | None = None,
    cvss_score: float | None = None,
) -> Finding:
    finding_id, title = name, None
    if (match := _NAME_WITH_TITLE_RE.match(name)) is not None:
        finding_id, title = match[1], match[2]
    return Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id=finding_id,
        severity=severity,
        title=title,
        package=package,
        installed_version=installed_version,
        fixed_version=fixed_version,
        location=location,
        cvss_score=cvss_score,
    )
