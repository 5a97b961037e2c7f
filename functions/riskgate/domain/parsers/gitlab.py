"""GitLab container-scanning reports (`gl-container-scanning-report.json`), schema 2.x to 15.x.

Written by GitLab's container-scanning analyzer (Trivy or Grype inside; klar in the 2.x era), by
trivy's `contrib/gitlab.tpl` template and by `docker scout cves --format gitlab`. Every
`vulnerabilities[]` entry is one vulnerability finding; `remediations[]` only tells which are fixable.
The schema `version` is not checked: the envelope has kept these fields since 2.x.

Finding id: the first identifier of an advisory type (`cve`, `ghsa`; trivy's template labels GHSA ids
`cve` too, the value is taken as written), else the first identifier that is not a weakness class
(`cwe`, `owasp`, …), else the deprecated `cve` field, else an `id` that is an advisory id (trivy's
template writes the CVE there; GitLab's analyzer a SHA-1 of the entry's text, which is no id of the
vulnerability), else `name`, else any `id`.

Title: `name` (trivy's template from 0.49), else `message` (schema 14 and before); GitLab's own
schema-15 output has neither. Scanner: `scan.scanner` id and version (the analyzer wrapping it, `gcs`,
is not the scanner), else the per-entry `scanner.id` of schema 14 and before; created_at:
`scan.end_time`, else `start_time`, as written (no time zone). No CVSS score: the format has none
(schema 15's optional `cvss_vectors[]` hold vectors only).

Severity: the word as written (`Critical` … `Low`, `Unknown`, `Info` → negligible); absent → unknown.

Fixed version: the format has no such field. As the fixtures' README defines "fixable" for GitLab, an
entry has a fix when its `solution` starts with `Upgrade ` (`Upgrade <pkg> to <version>`, klar's
`Upgrade <pkg> from <old> to <version>`) or when a `remediations[].fixes[]` item names its `id` (2.x
fixes without an `id` name the entry's `cve`). The version is read from the solution, else from the
remediation's summary; with none readable, the solution or summary text itself stands for the fix.

Location: the first word of `location.image`, which is where the entry was found: the scanned image,
or, in trivy's templates before 0.57, a language target (`Node.js`, `var/www/composer.lock`), so the
same package found in two targets stays two findings. The first word, because templates before trivy
0.30.4 wrote the whole Target, `alpine:3.10 (alpine 3.10.2)`, where later ones and GitLab's analyzer
write `alpine:3.10`. `location.operating_system` is left out: it is one value per report (the literal
`Unknown` in trivy's templates before 0.57), so it would tell no two entries apart, only split the same
finding between template versions. GitLab's `id` is left out too: its SHA-1 changes whenever the
advisory's text does.

Image: among the `location.image` values (first word: 2.x templates kept the ` (os)` suffix), the most
frequent one that parses as an image reference and is qualified (registry, tag or digest written);
an unqualified name only when it is the one candidate, names no file and has at most two components
(what Docker Hub allows). `Unknown`, archives, redacted names (`XXX/…`) and language targets name none.
"""

from __future__ import annotations

import re
from collections import Counter
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
    optional_text,
)

FORMAT = "gitlab"
CONTAINER_SCANNING = "container_scanning"
# What trivy's templates write where they know no operating system or image.
UNKNOWN = "Unknown"
_ADVISORY_TYPES = frozenset({"cve", "ghsa"})
# Identifier types that classify a weakness rather than name a vulnerability.
_CLASSIFICATION_TYPES = frozenset({"cwe", "owasp", "wasc", "capec"})
# GitLab's analyzer: SHA-1 of the entry's text; schema 2.x examples: UUIDs. Neither names an advisory.
_GENERATED_ID_RE = re.compile(
    r"[0-9a-fA-F]{40}|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)
UPGRADE_PREFIX = "Upgrade "
# `Upgrade libssl1.1 to 1.1.1d-r0`, `Upgrade apt from 1.4.8 to 1.4.9`, `Upgrade guzzle to 7.4.3, 6.5.6`.
_UPGRADE_RE = re.compile(r"Upgrade\s+(?:(?P<package>\S.*?)\s+)?(?:from\s+\S+\s+)?to\s+(?P<version>\S.*?)\s*")
_AFTER_PACKAGE_RE = re.compile(r"(?:from\s+\S+\s+)?to\s+(?P<version>\S.*?)\s*")
# A remediation that names an entry but says nothing readable about the fix still makes it fixable.
UNDESCRIBED_FIX = "remediation available"
# Docker Hub repositories have at most a namespace and a name; deeper unqualified names are paths.
_MAX_UNQUALIFIED_COMPONENTS = 2
# Keys of the other formats' documents; none of them is a GitLab report.
_OTHER_FORMAT_KEYS = frozenset(
    {"SchemaVersion", "ClusterName", "matches", "bomFormat", "runs", "ok", "packageManager", "unapproved"}
)

# ("id", entry id) or ("cve", entry cve) → (path, remediation).
_Remediations = dict[tuple[str, str], tuple[str, dict[str, Any]]]


# --- sniffing ---------------------------------------------------------------------------------------


def looks_like_gitlab(document: Any) -> bool:
    """A GitLab security report (string `version`, list `vulnerabilities`) of a container scan.

    Other report types share the envelope: `scan.type` names them, and their entries carry
    `location.file` instead of `location.image`.
    """
    if not isinstance(document, dict) or document.keys() & _OTHER_FORMAT_KEYS:
        return False
    if not isinstance(document.get("version"), str) or not isinstance(document.get("vulnerabilities"), list):
        return False
    scan = document.get("scan")
    scan_type = scan.get("type") if isinstance(scan, dict) else None
    if isinstance(scan_type, str) and scan_type:
        return scan_type == CONTAINER_SCANNING
    entries = [entry for entry in document["vulnerabilities"][:20] if isinstance(entry, dict)]
    if any(_is_other_report_entry(entry) for entry in entries):
        return False
    # A clean schema-14 trivy-template report is just version, vulnerabilities: [] and remediations: [].
    return bool(entries) or "remediations" in document or isinstance(scan, dict)


def _is_other_report_entry(entry: dict[str, Any]) -> bool:
    category = entry.get("category")
    if isinstance(category, str) and category and category != CONTAINER_SCANNING:
        return True
    location = entry.get("location")
    return isinstance(location, dict) and "file" in location and "image" not in location


# --- parsing ----------------------------------------------------------------------------------------


def parse_gitlab(document: Any) -> ParsedReport:
    report = expect_object(document, "")
    scan = object_field(report, "scan", "")
    entries = object_list(report, "vulnerabilities", "")
    remediations = _remediations_by_fixed_entry(report)
    findings: list[Finding] = []
    images: list[str | None] = []
    for path, entry in entries:
        location_path = child_path(path, "location")
        location = object_field(entry, "location", path)
        image = optional_text(location, "image", location_path)
        images.append(image)
        findings.append(_vulnerability(entry, path, location, _image_name(image), remediations))
    scanner, scanner_version = _scanner(scan, entries)
    return ParsedReport(
        format=FORMAT,
        scanner=scanner,
        scanner_version=scanner_version,
        image=report_image(images),
        findings=findings,
        created_at=optional_text(scan, "end_time", "scan") or optional_text(scan, "start_time", "scan"),
    )


def _vulnerability(
    entry: dict[str, Any],
    path: str,
    location: dict[str, Any],
    target: str | None,
    remediations: _Remediations,
) -> Finding:
    location_path = child_path(path, "location")
    dependency_path = child_path(location_path, "dependency")
    dependency = object_field(location, "dependency", location_path)
    package_path = child_path(dependency_path, "package")
    package = optional_text(object_field(dependency, "package", dependency_path), "name", package_path)
    severity = optional_text(entry, "severity", path)
    return Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id=_finding_id(entry, path),
        severity=Severity.parse(severity),
        title=optional_text(entry, "name", path) or optional_text(entry, "message", path),
        package=package,
        installed_version=optional_text(dependency, "version", dependency_path),
        fixed_version=_fixed_version(entry, path, package, remediations),
        location=target,
    )


def _finding_id(entry: dict[str, Any], path: str) -> str:
    identifiers = []
    for identifier_path, identifier in object_list(entry, "identifiers", path):
        kind = (optional_text(identifier, "type", identifier_path) or "").lower()
        value = optional_text(identifier, "value", identifier_path) or optional_text(
            identifier, "name", identifier_path
        )
        if value:
            identifiers.append((kind, value.strip()))
    entry_id = optional_text(entry, "id", path)
    chosen = (
        next((value for kind, value in identifiers if kind in _ADVISORY_TYPES), None)
        or next((value for kind, value in identifiers if kind not in _CLASSIFICATION_TYPES), None)
        or optional_text(entry, "cve", path)
        or (entry_id if entry_id and not _GENERATED_ID_RE.fullmatch(entry_id) else None)
        or optional_text(entry, "name", path)
        or entry_id
    )
    if not chosen or not chosen.strip():
        raise broken(path, "missing identifiers, cve and id")
    return chosen.strip()


# --- fixes ------------------------------------------------------------------------------------------


def _remediations_by_fixed_entry(report: dict[str, Any]) -> _Remediations:
    """Each remediation under the entries it fixes: ("id", entry id), or ("cve", cve) in schema 2.x."""
    fixed: _Remediations = {}
    for path, remediation in object_list(report, "remediations", ""):
        for fix_path, fix in object_list(remediation, "fixes", path):
            fix_id = optional_text(fix, "id", fix_path)
            fix_cve = optional_text(fix, "cve", fix_path)
            # Schema 14 lists {cve, id}: the CVE recurs across packages, so only the id names the entry.
            key = ("id", fix_id) if fix_id else ("cve", fix_cve) if fix_cve else None
            if key is not None:
                fixed.setdefault(key, (path, remediation))
    return fixed


def _fixed_version(
    entry: dict[str, Any], path: str, package: str | None, remediations: _Remediations
) -> str | None:
    solution = optional_text(entry, "solution", path)
    remediation = _remediation_of(entry, path, remediations)
    summary = None if remediation is None else optional_text(remediation[1], "summary", remediation[0])
    upgrade = solution if solution and solution.startswith(UPGRADE_PREFIX) else None
    if upgrade is None and remediation is None:
        return None
    return (
        upgrade_version(upgrade, package)
        or upgrade_version(summary, package)
        or (upgrade or summary or UNDESCRIBED_FIX).strip()
    )


def _remediation_of(
    entry: dict[str, Any], path: str, remediations: _Remediations
) -> tuple[str, dict[str, Any]] | None:
    if not remediations:
        return None
    entry_id = optional_text(entry, "id", path)
    if entry_id and ("id", entry_id) in remediations:
        return remediations[("id", entry_id)]
    cve = optional_text(entry, "cve", path)
    return remediations.get(("cve", cve)) if cve else None


def upgrade_version(text: str | None, package: str | None) -> str | None:
    """`Upgrade <package> [from <old>] to <version>` → version; None for any other text."""
    if not text:
        return None
    lines = text.strip().splitlines()
    line = lines[0] if lines else ""
    own_prefix = f"{UPGRADE_PREFIX}{package} " if package else None
    if own_prefix and line.startswith(own_prefix):
        match = _AFTER_PACKAGE_RE.fullmatch(line[len(own_prefix) :].lstrip())
    else:
        match = _UPGRADE_RE.fullmatch(line)
    return match["version"] if match else None


# --- scanner and image ------------------------------------------------------------------------------


def _scanner(
    scan: dict[str, Any], entries: list[tuple[str, dict[str, Any]]]
) -> tuple[str | None, str | None]:
    """`scan.scanner` (id, name, version); before schema 15 trivy's template wrote only a per-entry
    `scanner {id, name}` and no `scan` at all."""
    scanner = object_field(scan, "scanner", "scan")
    if scanner:
        name = optional_text(scanner, "id", "scan.scanner") or optional_text(scanner, "name", "scan.scanner")
        return name, optional_text(scanner, "version", "scan.scanner")
    for path, entry in entries:
        legacy_path = child_path(path, "scanner")
        legacy = object_field(entry, "scanner", path)
        name = optional_text(legacy, "id", legacy_path) or optional_text(legacy, "name", legacy_path)
        if name:
            return name, None
    return None, None


def report_image(images: list[str | None]) -> ImageRef | None:
    """The scanned image among the entries' `location.image` values (see the module's rules)."""
    counts: Counter[str] = Counter(name for text in images if (name := _image_name(text)))
    candidates = [
        (name, count, ref) for name, count in counts.items() if (ref := parse_image_reference_or_none(name))
    ]
    qualified = [candidate for candidate in candidates if _is_qualified(candidate[0])]
    if qualified:
        # max keeps the first of equal counts: the entries' order, OS packages first.
        return max(qualified, key=lambda candidate: candidate[1])[2]
    if len(candidates) == 1 and _could_be_docker_hub_name(candidates[0][0]):
        return candidates[0][2]
    return None


def _image_name(text: str | None) -> str | None:
    """The first word: schema-2.x templates wrote the whole Target, `alpine:3.10 (alpine 3.10.2)`."""
    words = (text or "").split()
    return words[0] if words and words[0] != UNKNOWN else None


def _is_qualified(name: str) -> bool:
    """A registry host, a tag or a digest is written: no language target or file path looks like that."""
    first, slash, _ = name.partition("/")
    has_registry = bool(slash) and ("." in first or ":" in first or first == "localhost")
    return has_registry or "@" in name or ":" in name.rsplit("/", 1)[-1]


def _could_be_docker_hub_name(name: str) -> bool:
    components = name.split("/")
    # `composer.lock`, `package-lock.json`: a file, not a repository.
    return len(components) <= _MAX_UNQUALIFIED_COMPONENTS and "." not in components[-1]
