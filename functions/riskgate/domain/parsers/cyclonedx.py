"""CycloneDX JSON with vulnerabilities (`trivy -f cyclonedx`, `grype -o cyclonedx-json`).

One finding per vulnerability and affected component (`affects[].ref`); a vulnerability that names no
affected component still gives one finding, without a package, rather than vanishing. CycloneDX has no
single severity: one rating per vendor. The highest rated severity and the highest score are used.
The location is the affects `ref` (a bom-ref, usually the component's PURL).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef, is_digest, parse_image_reference_or_none, with_repo_digest
from riskgate.domain.parsers._common import (
    ParsedReport,
    broken,
    highest,
    json_type,
    object_field,
    object_list,
    objects_of,
    optional_score,
    optional_text,
    required_text,
)

FORMAT = "cyclonedx"
_CONTAINER = "container"
# Trivy records the image's names as properties of the container component.
_TRIVY_REPO_TAG = "aquasecurity:trivy:RepoTag"
_TRIVY_REPO_DIGEST = "aquasecurity:trivy:RepoDigest"
# Trivy's only statement of a fix: "Upgrade libidn2-0 to version 2.0.5-1+deb10u1".
_RECOMMENDATION_RE = re.compile(r"Upgrade .+ to version (?P<version>.+)")

_NameAndVersion = tuple[str | None, str | None]


def parse_cyclonedx(document: dict[str, Any]) -> ParsedReport:
    metadata = object_field(document, "metadata", "")
    scanner, scanner_version = _scanner_of_tools(metadata)
    packages = _packages_by_bom_ref(document)
    findings = [
        finding
        for path, vulnerability in object_list(document, "vulnerabilities", "")
        for finding in _findings_of_vulnerability(vulnerability, path, packages)
    ]
    return ParsedReport(
        format=FORMAT,
        scanner=scanner,
        scanner_version=scanner_version,
        image=_image_of_component(object_field(metadata, "component", "metadata"), "metadata.component"),
        findings=findings,
        created_at=optional_text(metadata, "timestamp", "metadata"),
    )


def _findings_of_vulnerability(
    vulnerability: dict[str, Any], path: str, packages: dict[str, _NameAndVersion]
) -> list[Finding]:
    vulnerability_id = required_text(vulnerability, "id", path)
    ratings = object_list(vulnerability, "ratings", path)
    severity = min(
        (Severity.parse(rating.get("severity")) for _, rating in ratings),
        key=lambda parsed: parsed.rank,
        default=Severity.UNKNOWN,
    )
    cvss_score = highest(
        [
            score
            for rating_path, rating in ratings
            if (score := optional_score(rating, "score", rating_path)) is not None
        ]
    )
    fixed_version = _fixed_version_of(optional_text(vulnerability, "recommendation", path))
    affected_refs: list[str | None] = [
        required_text(affect, "ref", affect_path)
        for affect_path, affect in object_list(vulnerability, "affects", path)
    ]
    findings: list[Finding] = []
    for ref in affected_refs or [None]:
        package, version = _package_of_ref(ref, packages)
        findings.append(
            Finding(
                kind=FindingKind.VULNERABILITY,
                finding_id=vulnerability_id,
                severity=severity,
                package=package,
                installed_version=version,
                fixed_version=fixed_version,
                location=ref,
                cvss_score=cvss_score,
            )
        )
    return findings


def _package_of_ref(ref: str | None, packages: dict[str, _NameAndVersion]) -> _NameAndVersion:
    if ref is None:
        return None, None
    return packages.get(ref) or _package_of_purl(ref)


def _packages_by_bom_ref(document: dict[str, Any]) -> dict[str, _NameAndVersion]:
    """Name and version of every component, nested ones included, by bom-ref."""
    packages: dict[str, _NameAndVersion] = {}
    pending = object_list(document, "components", "")
    while pending:
        path, component = pending.pop()
        bom_ref = optional_text(component, "bom-ref", path)
        if bom_ref is not None:
            packages[bom_ref] = (
                optional_text(component, "name", path),
                optional_text(component, "version", path),
            )
        pending.extend(object_list(component, "components", path))
    return packages


def _package_of_purl(purl: str) -> _NameAndVersion:
    """`pkg:type/namespace/name@version?qualifiers#subpath` → (name, version)."""
    if not purl.startswith("pkg:"):
        return None, None
    body = purl[len("pkg:") :].split("#", 1)[0].split("?", 1)[0]
    # An '@' inside a namespace (npm scopes) is percent-encoded, so the last '@' starts the version.
    coordinates, at, version = body.rpartition("@") if "@" in body else (body, "", "")
    _, slash, name = coordinates.rpartition("/")
    if not slash or not name:
        return None, None
    return unquote(name), unquote(version) if at and version else None


def _fixed_version_of(recommendation: str | None) -> str | None:
    if recommendation is None:
        return None
    matched = _RECOMMENDATION_RE.fullmatch(recommendation.strip())
    return matched.group("version").strip() if matched else None


def _scanner_of_tools(metadata: dict[str, Any]) -> _NameAndVersion:
    """`metadata.tools`: a list of tools up to CycloneDX 1.4, `{components: [...]}` from 1.5."""
    tools = metadata.get("tools")
    path = "metadata.tools"
    if tools is None:
        return None, None
    if isinstance(tools, list):
        entries = objects_of(tools, path)
    elif isinstance(tools, dict):
        entries = object_list(tools, "components", path) + object_list(tools, "services", path)
    else:
        raise broken(path, f"expected a list or an object, got {json_type(tools)}")
    for tool_path, tool in entries:
        name = optional_text(tool, "name", tool_path)
        if name:
            return name.lower(), optional_text(tool, "version", tool_path)
    return None, None


def _image_of_component(component: dict[str, Any], path: str) -> ImageRef | None:
    """Trivy: name = what was scanned, RepoTag/RepoDigest properties; Grype: name and version = digest."""
    if optional_text(component, "type", path) != _CONTAINER:
        return None
    properties = _properties(component, path)
    names = [*properties.get(_TRIVY_REPO_TAG, []), optional_text(component, "name", path)]
    image = next((ref for name in names if (ref := parse_image_reference_or_none(name))), None)
    image = with_repo_digest(image, properties.get(_TRIVY_REPO_DIGEST, []))
    version = optional_text(component, "version", path)
    if image is not None and image.digest is None and is_digest(version):
        image = replace(image, digest=version)
    return image


def _properties(component: dict[str, Any], path: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for property_path, prop in object_list(component, "properties", path):
        name = optional_text(prop, "name", property_path)
        value = optional_text(prop, "value", property_path)
        if name and value:
            values.setdefault(name, []).append(value)
    return values
