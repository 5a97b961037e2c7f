"""Grype JSON (`grype <target> -o json`), from 0.7.0 to today.

Every `matches[]` entry is one vulnerability finding; `ignoredMatches` are not findings.

Fixed version: set exactly when a fix exists as the README of the scanner fixtures defines "fixable"
for Grype, `fix.state == "fixed"` (the versions joined with ", "; none listed → None). A `wont-fix`
entry may list versions; it is still not fixable. Grype 0.7.0 had no `fix` object: there the string
`fixedInVersion` is its only statement of a fix, so it is used when `fix` is absent.

Location: the artifact's location paths, sorted and joined with ", " (one package can be recorded in
several files: the dpkg status file, its md5sums, its copyright).
"""

from __future__ import annotations

import re
from typing import Any

from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef, parse_image_reference_or_none, with_repo_digest
from riskgate.domain.parsers._common import (
    ParsedReport,
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

FORMAT = "grype"
SCANNER = "grype"
_FIXED_STATE = "fixed"
# Grype 0.75 reports contain NULs inside Java version strings; they are noise, not data.
_NUL = "\x00"
# `grype docker:alpine` echoes the source scheme in userInput; `docker:5000/x` is a host and port.
_IMAGE_SOURCE_SCHEME_RE = re.compile(r"^(?:docker|podman|registry|containerd):(?![0-9])")


def parse_grype(document: dict[str, Any]) -> ParsedReport:
    descriptor = object_field(document, "descriptor", "")
    return ParsedReport(
        format=FORMAT,
        scanner=SCANNER,
        scanner_version=optional_text(descriptor, "version", "descriptor"),
        image=_image_of_source(object_field(document, "source", "")),
        findings=[_vulnerability(match, path) for path, match in object_list(document, "matches", "")],
        created_at=optional_text(descriptor, "timestamp", "descriptor"),
    )


def _vulnerability(match: dict[str, Any], path: str) -> Finding:
    vulnerability_path = child_path(path, "vulnerability")
    vulnerability = expect_object(match.get("vulnerability"), vulnerability_path)
    artifact_path = child_path(path, "artifact")
    artifact = expect_object(match.get("artifact"), artifact_path)
    fix = vulnerability.get("fix")
    fix_path = child_path(vulnerability_path, "fix")
    fix_object = None if fix is None else expect_object(fix, fix_path)
    return Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id=required_text(vulnerability, "id", vulnerability_path),
        # A missing severity (seen in grype 0.96) parses as unknown.
        severity=Severity.parse(vulnerability.get("severity")),
        package=required_text(artifact, "name", artifact_path),
        installed_version=_without_nul(optional_text(artifact, "version", artifact_path)),
        fixed_version=_fixed_version(vulnerability, vulnerability_path, fix_object, fix_path),
        location=_location(artifact, artifact_path),
        cvss_score=_highest_cvss_score(vulnerability, vulnerability_path),
        fix_state=None if fix_object is None else optional_text(fix_object, "state", fix_path),
    )


def _fixed_version(
    vulnerability: dict[str, Any], path: str, fix: dict[str, Any] | None, fix_path: str
) -> str | None:
    if fix is None:
        return _without_nul(optional_text(vulnerability, "fixedInVersion", path))
    if optional_text(fix, "state", fix_path) != _FIXED_STATE:
        return None
    versions = [_without_nul(version) for version in text_list(fix, "versions", fix_path)]
    return ", ".join(version for version in versions if version) or None


def _location(artifact: dict[str, Any], path: str) -> str | None:
    paths = [
        file_path
        for location_path, location in object_list(artifact, "locations", path)
        if (file_path := optional_text(location, "path", location_path))
    ]
    return ", ".join(sorted(paths)) or None


def _highest_cvss_score(vulnerability: dict[str, Any], path: str) -> float | None:
    """Highest base score of every CVSS entry: `cvss[]` today, `cvssV3`/`cvssV2` objects in 0.7.0."""
    metrics = [
        (child_path(entry_path, "metrics"), object_field(entry, "metrics", entry_path))
        for entry_path, entry in object_list(vulnerability, "cvss", path)
    ]
    metrics += [
        (child_path(path, key), object_field(vulnerability, key, path)) for key in ("cvssV3", "cvssV2")
    ]
    scores = [
        score
        for metrics_path, metric in metrics
        if (score := optional_score(metric, "baseScore", metrics_path)) is not None
    ]
    return highest(scores)


def _image_of_source(source: dict[str, Any]) -> ImageRef | None:
    """Only image scans name an image; a directory or SBOM source has `target` as a plain string."""
    if optional_text(source, "type", "source") != "image":
        return None
    target = object_field(source, "target", "source")
    names = [optional_text(target, "userInput", "source.target"), *text_list(target, "tags", "source.target")]
    image = next(
        (ref for name in names if name and (ref := parse_image_reference_or_none(_without_scheme(name)))),
        None,
    )
    # Only the registry's digest (repoDigests) identifies the image; `manifestDigest` is the local
    # platform manifest, which Trivy never reports, so using it would split one image in two.
    return with_repo_digest(image, text_list(target, "repoDigests", "source.target"))


def _without_scheme(name: str) -> str:
    return _IMAGE_SOURCE_SCHEME_RE.sub("", name, count=1)


def _without_nul(text: str | None) -> str | None:
    if text is None or _NUL not in text:
        return text
    return text.replace(_NUL, "") or None
