"""SARIF 2.1.0 as container scanners write it: Trivy (`trivy -f sarif`), Grype (`grype -o sarif`),
Docker Scout (`docker scout cves --format sarif`) and Snyk (`snyk container test --sarif`).

SARIF is a format for static-analysis results, so each scanner puts what a container scan knows where
it can: one rule per vulnerability (Grype: per vulnerability and package name) under
`runs[].tool.driver.rules[]`, one result per affected package (Scout: per package, with every file of
the package as a location). The scanner is `driver.name`; the rules below depend on it.

Findings: every `runs[].results[]` is one finding, except results of `kind` `pass`/`notApplicable` (the
rule held) and Trivy's licence results (the Trivy JSON parser does not read licences either). Kind:
Trivy's rule `name` `Secret`/`Misconfiguration` or tag `secret`/`misconfiguration`; else vulnerability.
The rule of a result is looked up by `ruleId` (old Grype wrote `ruleIndex: 0` on every result), then by
`ruleIndex`.

Severity, first found: a severity word in the rule's `properties.tags` (Trivy: CRITICAL … UNKNOWN),
`properties.cvssV3_severity` (Scout; its `UNSPECIFIED` is unknown), Snyk's own word (`High severity - …`
in the rule's shortDescription, `… with a high severity vulnerability.` in the message), a CVSS bucket of
`properties.security-severity` (>= 9 critical, >= 7 high, >= 4 medium, > 0 low, 0 negligible: CVSS's
"None"; this is Grype's only statement, its words saying "low" for negligible and unknown too), a
`Severity: X` line of the message or rule help (old Grype and Trivy templates), and last the result's
`level` (else the rule's `defaultConfiguration.level`): error high, warning medium, note low.

Package, installed and fixed version: Trivy's message lines `Package:`, `Installed Version:`,
`Fixed Version:` (the rule help's lines for old templates whose message is the description); Grype's
message `… package: NAME, version V was found …` (older `… reports NAME at version V …`) and the rule
help's `Fix Version:`; Scout's message lines `Package : <purl>`, `Fixed version :` (else the rule's
`purls`/`purl` and `fixed_version`; `not fixed` is no fix); Snyk's `logicalLocations[].fullyQualifiedName`
`name@version` (else the rule's fullDescription `(CVE-…) name@version`) and a fix only where `fixes[]`
upgrades the package itself. A PURL gives its last path segment as the name.

Finding id: the rule id, except Grype's `<vulnerability>-<package>` rules: the `Vulnerability X` of the
rule help. CVSS score: Trivy's `cvssv3_baseScore`, `cvssv40_baseScore`, `cvssv2_score`; Scout's `cvssV3`;
Snyk's `cvssv3_baseScore`; else `security-severity` unless it is the stand-in the scanner writes when it
has no score (Trivy: 9.5/8.0/5.5/2.0 for its severity word, always for secrets and misconfigurations;
Grype: 9.0/7.0/4.0/1.0 for its word; 0.0 from anyone).

Location: the distinct `physicalLocation.artifactLocation.uri` of the result's locations, sorted and
joined with ", " (else `analysisTarget.uri`). Secrets and misconfigurations also keep the first region's
start line as the identity's detail: one rule can match twice in a file.

Image: Trivy's `runs[].properties` (`repoTags`, else `imageName`, with `repoDigests`), written for image
scans only; Grype's result message `… in image NAME at: …`. Docker Scout's and Snyk's SARIF name no
image (Snyk's location uri is the image with ':' replaced by '_', which cannot be undone).
Created at: the first invocation's `endTimeUtc`, else `startTimeUtc` (none of the four writes one).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef, parse_image_reference_or_none, with_repo_digest
from riskgate.domain.parsers._common import (
    CVSS_RANGE,
    ParsedReport,
    broken,
    child_path,
    json_type,
    object_field,
    object_list,
    optional_int,
    optional_score,
    optional_text,
    text_list,
)

FORMAT = "sarif"
SARIF_VERSION = "2.1.0"

_TRIVY = "trivy"
_GRYPE = "grype"
_SCOUT = "docker scout"
_SNYK = "snyk"
_OTHER = "other"

# SARIF result kinds that say the rule held: no problem was found.
_NOT_PROBLEMS = frozenset({"pass", "notApplicable"})
_SEVERITY_WORDS = frozenset({"critical", "high", "medium", "low", "negligible", "unknown"})
_LEVELS = {"error": Severity.HIGH, "warning": Severity.MEDIUM, "note": Severity.LOW}
# What scanners write where no fix exists.
_NO_FIX = frozenset({"not fixed", "none", "n/a"})
# Scores scanners put in `security-severity` when they have no CVSS score, by their severity word.
_TRIVY_STAND_INS = {Severity.CRITICAL: 9.5, Severity.HIGH: 8.0, Severity.MEDIUM: 5.5, Severity.LOW: 2.0}
_GRYPE_STAND_INS = {"critical": 9.0, "high": 7.0, "medium": 4.0, "low": 1.0}
_CVSS_BUCKETS = ((9.0, Severity.CRITICAL), (7.0, Severity.HIGH), (4.0, Severity.MEDIUM))

# `Key: value` lines (Trivy: `Fixed Version: 1.2`; Scout pads both sides: `  Fixed version   : 1.2  `).
_FIELD_RE = re.compile(r"^\s*(?P<key>[A-Za-z][A-Za-z ]*?)\s*:\s*(?P<value>.*?)\s*$")
_SPACES_RE = re.compile(r"\s+")
_GRYPE_PACKAGE_RES = (
    re.compile(r"package: (?P<name>.+?), version (?P<version>\S+) was found"),
    re.compile(r"reports (?P<name>\S+) at version (?P<version>\S+)"),
)
_GRYPE_IMAGE_RE = re.compile(r" in image (?P<image>\S+) at: ")
_GRYPE_SOURCE_SCHEME_RE = re.compile(r"^(?:docker|podman|registry|containerd):(?![0-9])")
_GRYPE_WORD_RE = re.compile(r"^\S+ (?P<word>[A-Za-z]+) vulnerability for ")
_VULNERABILITY_LINE_RE = re.compile(r"^\W*Vulnerability\s+(?P<id>\S+?)\W*$", re.MULTILINE)
_SNYK_RULE_WORD_RE = re.compile(r"^(?P<word>[A-Za-z]+) severity - ")
_SNYK_MESSAGE_WORD_RE = re.compile(r" with an? (?P<word>[A-Za-z]+) severity vulnerability")
_SNYK_MESSAGE_PACKAGE_RE = re.compile(r"introduces a vulnerable (?P<name>\S+) package")
_SNYK_UPGRADE_RE = re.compile(r"^Upgrade to (?P<target>\S+)$")
_LEADING_PARENTHESES_RE = re.compile(r"^\([^)]*\)\s*")

_NameAndVersion = tuple[str | None, str | None]


# --- recognition ------------------------------------------------------------------------------------


def looks_like_sarif(document: Any) -> bool:
    """An object with `runs` and SARIF's `version: "2.1.0"`; without `version`, a SARIF 2.1 `$schema`
    or runs with `tool.driver`. SARIF 1.0 (`tool.name`, no driver) is not this format."""
    if not isinstance(document, dict) or "runs" not in document:
        return False
    version = document.get("version")
    if version is not None:
        return version == SARIF_VERSION
    schema = document.get("$schema")
    if isinstance(schema, str) and "sarif" in schema.lower() and "2.1" in schema:
        return True
    runs = document["runs"]
    first = runs[0] if isinstance(runs, list) and runs else None
    tool = first.get("tool") if isinstance(first, dict) else None
    return isinstance(tool, dict) and isinstance(tool.get("driver"), dict)


# --- the report -------------------------------------------------------------------------------------


def parse_sarif(document: Any) -> ParsedReport:
    if not isinstance(document, dict):
        raise broken("", f"expected an object, got {json_type(document)}")
    scanner: str | None = None
    scanner_version: str | None = None
    image: ImageRef | None = None
    created_at: str | None = None
    findings: list[Finding] = []
    for run_path, run in object_list(document, "runs", ""):
        context = _run_context(run, run_path)
        for path, result in object_list(run, "results", run_path):
            finding = _finding(result, path, context)
            if finding is not None:
                findings.append(finding)
        if scanner is None and context.name:
            scanner, scanner_version = context.name.lower(), context.version
        image = image or _image_of_run(run, run_path, context)
        created_at = created_at or _created_at(run, run_path)
    return ParsedReport(
        format=FORMAT,
        scanner=scanner,
        scanner_version=scanner_version,
        image=image,
        findings=findings,
        created_at=created_at,
    )


@dataclass(frozen=True)
class _RunContext:
    name: str | None
    version: str | None
    family: str
    rules: list[tuple[str, dict[str, Any]]]
    rules_by_id: dict[str, tuple[str, dict[str, Any]]]


def _run_context(run: dict[str, Any], run_path: str) -> _RunContext:
    tool_path = child_path(run_path, "tool")
    driver_path = child_path(tool_path, "driver")
    driver = object_field(object_field(run, "tool", run_path), "driver", tool_path)
    name = optional_text(driver, "name", driver_path)
    rules = object_list(driver, "rules", driver_path)
    rules_by_id: dict[str, tuple[str, dict[str, Any]]] = {}
    for rule_path, rule in rules:
        rule_id = optional_text(rule, "id", rule_path)
        if rule_id is not None:
            rules_by_id.setdefault(rule_id, (rule_path, rule))
    return _RunContext(
        name=name,
        version=optional_text(driver, "version", driver_path)
        or optional_text(driver, "semanticVersion", driver_path),
        family=_family(name),
        rules=rules,
        rules_by_id=rules_by_id,
    )


def _family(name: str | None) -> str:
    lowered = (name or "").lower()
    if lowered.startswith("trivy"):
        return _TRIVY
    if "grype" in lowered or "anchore" in lowered:
        return _GRYPE
    if "scout" in lowered:
        return _SCOUT
    if lowered.startswith("snyk"):
        return _SNYK
    return _OTHER


# --- one result -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Properties:
    """The result's `properties`, then its rule's: a key is read from the first that has it."""

    sources: tuple[tuple[str, dict[str, Any]], ...]

    def text(self, key: str) -> str | None:
        return next(
            (value for path, props in self.sources if (value := optional_text(props, key, path))), None
        )

    def texts(self, key: str) -> list[str]:
        return [text for path, props in self.sources for text in text_list(props, key, path)]

    def score(self, key: str) -> float | None:
        return next(
            (
                score
                for path, props in self.sources
                if (score := optional_score(props, key, path)) is not None
            ),
            None,
        )

    def security_severity(self) -> float | None:
        """GitHub's `security-severity`: a score 0-10 written as a string (numbers accepted too);
        text that is no number (Snyk writes "undefined" without a score) is none."""
        for path, props in self.sources:
            value = props.get("security-severity")
            if value is None:
                continue
            if not isinstance(value, str):
                return optional_score(props, "security-severity", path)
            score = _number_or_none(value)
            if score is not None:
                # optional_score's rule: outside 0-10, or above 0 and below 0.1, is no CVSS score.
                return score if CVSS_RANGE[0] <= score <= CVSS_RANGE[1] and not 0 < score < 0.1 else None
        return None


def _finding(result: dict[str, Any], path: str, run: _RunContext) -> Finding | None:
    if optional_text(result, "kind", path) in _NOT_PROBLEMS:
        return None
    rule_id, (rule_path, rule) = _rule_of(result, path, run)
    props = _Properties(
        (
            (child_path(path, "properties"), object_field(result, "properties", path)),
            (child_path(rule_path, "properties"), object_field(rule, "properties", rule_path)),
        )
    )
    tags = [tag.strip().lower() for tag in props.texts("tags")]
    kind = _kind(optional_text(rule, "name", rule_path), tags)
    if kind is None:
        return None
    text = _Texts(result, path, rule, rule_path)
    severity = _severity(run.family, props, tags, text, result, path, rule, rule_path)
    package, installed_version = _package(run.family, kind, props, text, result, path)
    fixed_version, fix_state = _fix(run.family, kind, props, text, package, result, path)
    finding_id = _grype_vulnerability_id(text, rule_id, package) if run.family == _GRYPE else rule_id
    locations = object_list(result, "locations", path)
    return Finding(
        kind=kind,
        finding_id=finding_id,
        severity=severity,
        title=_title(run.family, text, finding_id),
        package=package,
        installed_version=installed_version,
        fixed_version=fixed_version,
        location=_location(result, path, locations),
        cvss_score=_cvss_score(run.family, kind, props, severity, text),
        fix_state=fix_state,
        detail=None if kind is FindingKind.VULNERABILITY else _start_line(locations),
    )


_NO_RULE: tuple[str, dict[str, Any]] = ("", {})


def _rule_of(result: dict[str, Any], path: str, run: _RunContext) -> tuple[str, tuple[str, dict[str, Any]]]:
    """The result's rule id and its rule (an empty one when the run does not describe it)."""
    reference_path = child_path(path, "rule")
    reference = object_field(result, "rule", path)
    rule_id = optional_text(result, "ruleId", path) or optional_text(reference, "id", reference_path)
    index = optional_int(result, "ruleIndex", path)
    if index is None:
        index = optional_int(reference, "index", reference_path)
    rule = run.rules_by_id.get(rule_id) if rule_id else None
    if rule is None and index is not None and 0 <= index < len(run.rules):
        rule = run.rules[index]
    rule = rule or _NO_RULE
    rule_id = rule_id or optional_text(rule[1], "id", rule[0])
    if rule_id is None:
        raise broken(path, "missing ruleId")
    return rule_id, rule


def _kind(rule_name: str | None, tags: list[str]) -> FindingKind | None:
    """Trivy names its rules by result class and tags them with it; a licence result is no finding."""
    name = (rule_name or "").lower()
    if name == "license" or "license" in tags:
        return None
    if name == "secret" or "secret" in tags:
        return FindingKind.SENSITIVE_DATA
    if name == "misconfiguration" or "misconfiguration" in tags:
        return FindingKind.MISCONFIGURATION
    return FindingKind.VULNERABILITY


class _Texts:
    """The result's message and its rule's texts, with their `Key: value` lines parsed when needed."""

    def __init__(self, result: dict[str, Any], path: str, rule: dict[str, Any], rule_path: str) -> None:
        self.message = _message_text(result, "message", path) or ""
        self.help = _message_text(rule, "help", rule_path) or ""
        self.short_description = _message_text(rule, "shortDescription", rule_path)
        self.full_description = _message_text(rule, "fullDescription", rule_path)
        self._message_fields: dict[str, str] | None = None
        self._help_fields: dict[str, str] | None = None

    @property
    def message_fields(self) -> dict[str, str]:
        if self._message_fields is None:
            self._message_fields = _fields(self.message)
        return self._message_fields

    @property
    def help_fields(self) -> dict[str, str]:
        if self._help_fields is None:
            self._help_fields = _fields(self.help)
        return self._help_fields


def _message_text(parent: dict[str, Any], key: str, path: str) -> str | None:
    return optional_text(object_field(parent, key, path), "text", child_path(path, key))


def _fields(text: str) -> dict[str, str]:
    """`Installed Version: 1.2` lines → {"installed version": "1.2"}; the first of a key wins."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        matched = _FIELD_RE.match(line)
        if matched:
            key = _SPACES_RE.sub(" ", matched["key"]).lower()
            fields.setdefault(key, matched["value"])
    return fields


# --- severity and score -----------------------------------------------------------------------------


def _severity(
    family: str,
    props: _Properties,
    tags: list[str],
    text: _Texts,
    result: dict[str, Any],
    path: str,
    rule: dict[str, Any],
    rule_path: str,
) -> Severity:
    word = next((tag for tag in tags if tag in _SEVERITY_WORDS), None) or props.text("cvssV3_severity")
    if word is None and family == _SNYK:
        word = _snyk_severity_word(text)
    if word is not None:
        return Severity.parse(word)
    score = props.security_severity()
    if score is not None:
        return _cvss_bucket(score)
    word = text.message_fields.get("severity") or text.help_fields.get("severity")
    if word:
        return Severity.parse(word)
    return _LEVELS.get(_level(result, path, rule, rule_path) or "", Severity.UNKNOWN)


def _snyk_severity_word(text: _Texts) -> str | None:
    matched = _SNYK_RULE_WORD_RE.match(text.short_description or "") or _SNYK_MESSAGE_WORD_RE.search(
        text.message
    )
    return matched["word"] if matched else None


def _cvss_bucket(score: float) -> Severity:
    for floor, severity in _CVSS_BUCKETS:
        if score >= floor:
            return severity
    return Severity.LOW if score > 0 else Severity.NEGLIGIBLE


def _level(result: dict[str, Any], path: str, rule: dict[str, Any], rule_path: str) -> str | None:
    configuration_path = child_path(rule_path, "defaultConfiguration")
    return optional_text(result, "level", path) or optional_text(
        object_field(rule, "defaultConfiguration", rule_path), "level", configuration_path
    )


def _cvss_score(
    family: str, kind: FindingKind, props: _Properties, severity: Severity, text: _Texts
) -> float | None:
    keys = {
        _TRIVY: ("cvssv3_baseScore", "cvssv40_baseScore", "cvssv2_score"),
        _SCOUT: ("cvssV3",),
        _GRYPE: (),
    }.get(family, ("cvssv3_baseScore",))
    score = next((score for key in keys if (score := props.score(key)) is not None), None)
    if score is not None:
        return score
    score = props.security_severity()
    if not score:
        return None
    if family == _TRIVY and (
        kind is not FindingKind.VULNERABILITY or score == _TRIVY_STAND_INS.get(severity)
    ):
        return None
    if family == _GRYPE and score == _GRYPE_STAND_INS.get(_grype_severity_word(text) or ""):
        return None
    return score


def _grype_severity_word(text: _Texts) -> str | None:
    matched = _GRYPE_WORD_RE.match(text.short_description or "")
    word = matched["word"] if matched else text.help_fields.get("severity")
    return word.lower() if word else None


def _number_or_none(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# --- package and fix --------------------------------------------------------------------------------


def _package(
    family: str,
    kind: FindingKind,
    props: _Properties,
    text: _Texts,
    result: dict[str, Any],
    path: str,
) -> _NameAndVersion:
    if kind is not FindingKind.VULNERABILITY:
        return None, None
    if family == _GRYPE:
        return _grype_package(text)
    if family == _SNYK:
        return _snyk_package(text, result, path)
    # Scout's help is the advisory's prose: only its message and rule properties name the package.
    for fields in (text.message_fields,) if family == _SCOUT else (text.message_fields, text.help_fields):
        package = fields.get("package")
        if package and package.startswith("pkg:"):
            return _package_of_purl(package)
        if package:
            return package, fields.get("installed version") or fields.get("version") or None
    purls = props.texts("purls") or [purl for purl in [props.text("purl")] if purl]
    return _package_of_purl(purls[0]) if len(purls) == 1 else (None, None)


def _grype_package(text: _Texts) -> _NameAndVersion:
    for pattern in _GRYPE_PACKAGE_RES:
        matched = pattern.search(text.message)
        if matched:
            return matched["name"], matched["version"]
    fields = text.help_fields
    return fields.get("package") or None, fields.get("version") or None


def _snyk_package(text: _Texts, result: dict[str, Any], path: str) -> _NameAndVersion:
    """The message names the package (`packageName`); `name@version` gives its version (Snyk's `name`
    can be more precise, `openssl/libssl1.1`), from the result's logical location or the rule."""
    matched = _SNYK_MESSAGE_PACKAGE_RE.search(text.message)
    names = [
        name
        for location_path, location in object_list(result, "locations", path)
        for logical_path, logical in object_list(location, "logicalLocations", location_path)
        if (name := optional_text(logical, "fullyQualifiedName", logical_path))
    ]
    if text.full_description:
        names.append(_LEADING_PARENTHESES_RE.sub("", text.full_description))
    for name in names:
        package, at, version = name.rpartition("@")
        if at and package and version:
            return (matched["name"] if matched else package), version
    return (matched["name"] if matched else None), None


def _package_of_purl(purl: str) -> _NameAndVersion:
    """`pkg:type/namespace/name@version?qualifiers#subpath` → (name, version), percent-decoded."""
    if not purl.startswith("pkg:"):
        return None, None
    body = purl[len("pkg:") :].split("#", 1)[0].split("?", 1)[0]
    # An '@' inside a namespace (npm scopes) is percent-encoded, so the last '@' starts the version.
    coordinates, at, version = body.rpartition("@") if "@" in body else (body, "", "")
    _, slash, name = coordinates.rpartition("/")
    if not slash or not name:
        return None, None
    return unquote(name), unquote(version) if at and version else None


def _fix(
    family: str,
    kind: FindingKind,
    props: _Properties,
    text: _Texts,
    package: str | None,
    result: dict[str, Any],
    path: str,
) -> tuple[str | None, str | None]:
    """(fixed version or None, the scanner's own word for "no fix" where it writes one)."""
    if kind is not FindingKind.VULNERABILITY:
        return None, None
    if family == _SNYK:
        return _snyk_fixed_version(result, path, package), None
    if family == _GRYPE:
        fixed = text.help_fields.get("fix version")
    elif family == _SCOUT:
        fixed = text.message_fields.get("fixed version") or props.text("fixed_version")
    else:
        fields = text.message_fields if "package" in text.message_fields else text.help_fields
        fixed = fields.get("fixed version")
    if not fixed or fixed.lower() in _NO_FIX:
        return None, (fixed or None)
    return fixed, None


def _snyk_fixed_version(result: dict[str, Any], path: str, package: str | None) -> str | None:
    """Only an upgrade of the vulnerable package itself states its fixed version."""
    for fix_path, fix in object_list(result, "fixes", path):
        description = _message_text(fix, "description", fix_path) or ""
        matched = _SNYK_UPGRADE_RE.match(description.strip())
        name, at, version = matched["target"].rpartition("@") if matched else ("", "", "")
        if at and version and name == package:
            return version
    return None


# --- ids, titles, locations -------------------------------------------------------------------------


def _grype_vulnerability_id(text: _Texts, rule_id: str, package: str | None) -> str:
    """Grype's rule ids are `<vulnerability>-<package>`; its help starts `Vulnerability CVE-…`."""
    matched = _VULNERABILITY_LINE_RE.search(text.help)
    if matched:
        return matched["id"]
    suffix = f"-{package}" if package else None
    if suffix and rule_id.endswith(suffix) and len(rule_id) > len(suffix):
        return rule_id[: -len(suffix)]
    return rule_id


def _title(family: str, text: _Texts, finding_id: str) -> str | None:
    # Grype's shortDescription only restates id, a lossy severity word and the package.
    if family == _GRYPE or not text.short_description or text.short_description == finding_id:
        return None
    return text.short_description


def _location(result: dict[str, Any], path: str, locations: list[tuple[str, dict[str, Any]]]) -> str | None:
    uris = {
        uri
        for location_path, location in locations
        if (
            uri := _artifact_uri(
                object_field(location, "physicalLocation", location_path),
                child_path(location_path, "physicalLocation"),
            )
        )
    }
    if not uris:
        target = object_field(result, "analysisTarget", path)
        return optional_text(target, "uri", child_path(path, "analysisTarget"))
    return ", ".join(sorted(uris))


def _artifact_uri(physical: dict[str, Any], path: str) -> str | None:
    return optional_text(
        object_field(physical, "artifactLocation", path), "uri", child_path(path, "artifactLocation")
    )


def _start_line(locations: list[tuple[str, dict[str, Any]]]) -> str | None:
    if not locations:
        return None
    location_path, location = locations[0]
    physical_path = child_path(location_path, "physicalLocation")
    physical = object_field(location, "physicalLocation", location_path)
    region = object_field(physical, "region", physical_path)
    line = optional_int(region, "startLine", child_path(physical_path, "region"))
    return None if line is None else str(line)


# --- image and time ---------------------------------------------------------------------------------


def _image_of_run(run: dict[str, Any], run_path: str, context: _RunContext) -> ImageRef | None:
    if context.family == _TRIVY:
        return _trivy_image(object_field(run, "properties", run_path), child_path(run_path, "properties"))
    if context.family == _GRYPE:
        return _grype_image(run, run_path)
    return None


def _trivy_image(properties: dict[str, Any], path: str) -> ImageRef | None:
    """Trivy writes these for image scans only: repoTags name the image even for a tarball."""
    names = [*text_list(properties, "repoTags", path), optional_text(properties, "imageName", path)]
    image = next((ref for name in names if (ref := parse_image_reference_or_none(name))), None)
    return with_repo_digest(image, text_list(properties, "repoDigests", path))


def _grype_image(run: dict[str, Any], run_path: str) -> ImageRef | None:
    for path, result in object_list(run, "results", run_path):
        matched = _GRYPE_IMAGE_RE.search(_message_text(result, "message", path) or "")
        if matched:
            return parse_image_reference_or_none(_GRYPE_SOURCE_SCHEME_RE.sub("", matched["image"], count=1))
    return None


def _created_at(run: dict[str, Any], run_path: str) -> str | None:
    for path, invocation in object_list(run, "invocations", run_path):
        time = optional_text(invocation, "endTimeUtc", path) or optional_text(
            invocation, "startTimeUtc", path
        )
        if time:
            return time
    return None
