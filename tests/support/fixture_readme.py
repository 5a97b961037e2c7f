"""The scanner fixtures' README, read as data, and raw entries counted apart from the parsers.

The README counts raw entries ("no de-duplication"); we collapse findings with the same identity and
give CycloneDX one finding per affected component. The expected figures are therefore the README's,
adjusted by what is computed here from the raw JSON, deliberately simply and without the parsers:
minus entries repeating an earlier entry's identity, plus the extra affected components.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskgate.domain.findings import Severity

MAX_BYTES = 20 * 1024 * 1024
_FOLDER_HEADING_RE = re.compile(r"^### `(?P<folder>[^`]+)/`")
_UNESCAPED_PIPE_RE = re.compile(r"(?<!\\)\|")
_NO_VALUE = "—"


# --- the README -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadmeRow:
    path: str
    format_and_schema: str
    vulnerabilities: int
    by_severity: Counter[str]
    fixable: int | None
    secrets: int
    failed_misconfigurations: int


def readme_rows(readme: str) -> dict[str, ReadmeRow]:
    """The per-folder tables: `| File | Bytes | … |`, one row per file, under `### `trivy/` …`."""
    rows: dict[str, ReadmeRow] = {}
    folder = None
    columns: list[str] = []
    for line in readme.splitlines():
        if heading := _FOLDER_HEADING_RE.match(line):
            folder, columns = heading["folder"], []
        elif folder and line.startswith("| File |"):
            columns = _cells(line)
        elif folder and columns and line.startswith("| `"):
            row = dict(zip(columns, _cells(line), strict=True))
            path = f"{folder}/{row['File'].strip('`')}"
            rows[path] = ReadmeRow(
                path=path,
                format_and_schema=row["Format / schema"],
                vulnerabilities=int(row["Vulns"]),
                by_severity=_severity_counts(row["Vulns by severity"]),
                fixable=None
                if row["Fixable / not"] == _NO_VALUE
                else int(row["Fixable / not"].split("/")[0]),
                secrets=int(row["Secrets"]),
                failed_misconfigurations=int(row["Misconf fail/total"].split("/")[0]),
            )
    return rows


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in _UNESCAPED_PIPE_RE.split(line.strip())[1:-1]]


def _severity_counts(text: str) -> Counter[str]:
    """`Critical 1, High 3` → {"critical": 1, "high": 3}; `—` → {}."""
    counts: Counter[str] = Counter()
    if text != _NO_VALUE:
        for part in text.split(","):
            word, count = part.strip().rsplit(" ", 1)
            # `Critical(Defcon1) 1`: klar's Defcon1, above critical, is counted as critical.
            counts[word.split("(")[0].lower()] += int(count)
    return counts


def our_format(format_and_schema: str) -> str | None:
    """Our format name for the README's "Format / schema" cell, None for formats we do not read."""
    family, _, schema = (part.strip() for part in format_and_schema.partition(";"))
    # `trivy k8s` reports: "Trivy k8s JSON; ClusterName+Vulnerabilities[]/…".
    if family.startswith("Trivy") and schema.startswith("ClusterName"):
        return "trivy-k8s"
    # Every Trivy Operator cell: "Trivy Operator CRD (<Kind> x<count>, …)", one resource or many.
    if family.startswith("Trivy Operator CRD ("):
        return "trivy-operator"
    if family == "Trivy JSON":
        return (
            "trivy-legacy"
            if schema.startswith("legacy list")
            else "trivy"
            if schema == "SchemaVersion 2"
            else None
        )
    return {
        "Grype JSON": "grype",
        "CycloneDX JSON": "cyclonedx",
        "SARIF": "sarif",
        "Snyk JSON": "snyk",
        "Clair (clair-scanner JSON)": "clair",
        "Clair (klar JSON)": "clair",
        "Harbor scanner-adapter report": "harbor",
        "GitLab security report (container_scanning)": "gitlab",
    }.get(family)


# --- raw entries, computed apart from the parsers ----------------------------------------------------


@dataclass(frozen=True)
class RawEntry:
    kind: str
    identity: tuple[Any, ...]
    severity: str
    fixable_by_readme_rule: bool = False
    fixed_only_in_fixed_in_version: bool = False
    beyond_readme_count: bool = False


def raw_entries(document: Any, report_format: str) -> list[RawEntry]:
    if report_format in ("trivy", "trivy-legacy"):
        return _trivy_entries(document)
    if report_format == "trivy-k8s":
        return _trivy_k8s_entries(document)
    others = {
        "grype": _grype_entries,
        "cyclonedx": _cyclonedx_entries,
        "sarif": _sarif_entries,
        "snyk": _snyk_entries,
        "clair": _clair_entries,
        "harbor": _harbor_entries,
        "gitlab": _gitlab_entries,
        "trivy-operator": _trivy_operator_entries,
    }
    return others[report_format](document)


def _trivy_entries(document: Any) -> list[RawEntry]:
    results = (document or []) if not isinstance(document, dict) else (document.get("Results") or [])
    return [entry for result in results for entry in _trivy_result_entries(result)]


def _trivy_k8s_entries(document: dict[str, Any]) -> list[RawEntry]:
    """`trivy k8s`: the results of every resource of every list (`Resources`, `Findings`, the legacy
    `Vulnerabilities` and `Misconfigurations`). Each identity starts with the result's subject, as the
    README's rule gives it: the workload for `config` results, the image an `os-pkgs` Target names
    (`image (os version)`), for other results the last such image of the resource, else the workload."""
    entries = []
    for key in ("Resources", "Findings", "Vulnerabilities", "Misconfigurations"):
        for resource in document.get(key) or []:
            workload = ("workload", resource.get("Namespace"), resource["Kind"], resource["Name"])
            image = None
            for result in resource.get("Results") or []:
                if result.get("Class") == "os-pkgs":
                    image = ("image", result["Target"].split(" (")[0])
                subject = workload if result.get("Class") == "config" else image or workload
                entries.extend(_trivy_result_entries(result, subject))
    return entries


def _trivy_result_entries(result: dict[str, Any], subject: tuple[Any, ...] = ()) -> list[RawEntry]:
    target = result.get("Target")
    entries = []
    for v in result.get("Vulnerabilities") or []:
        identity = (
            *subject,
            v["VulnerabilityID"],
            v.get("PkgName"),
            v.get("InstalledVersion"),
            target,
            v.get("PkgPath"),
        )
        entries.append(
            RawEntry("vulnerability", identity, v.get("Severity", ""), bool(v.get("FixedVersion")))
        )
    for s in result.get("Secrets") or []:
        entries.append(
            RawEntry("secret", (*subject, s["RuleID"], target, s.get("StartLine")), s.get("Severity", ""))
        )
    for m in result.get("Misconfigurations") or []:
        if m.get("Status", "FAIL") == "FAIL":
            cause = m.get("CauseMetadata") or {}
            check = (
                *subject,
                m.get("ID") or m.get("AVDID"),
                target,
                cause.get("Resource"),
                cause.get("StartLine"),
            )
            entries.append(RawEntry("misconfiguration", check, m.get("Severity", "")))
    return entries


def _grype_entries(document: dict[str, Any]) -> list[RawEntry]:
    entries = []
    for match in document["matches"]:
        vulnerability, artifact = match["vulnerability"], match["artifact"]
        paths = tuple(sorted(location["path"] for location in artifact.get("locations") or []))
        fix = vulnerability.get("fix")
        entries.append(
            RawEntry(
                "vulnerability",
                (vulnerability["id"], artifact["name"], artifact.get("version"), paths),
                vulnerability.get("severity", "Unknown"),
                fixable_by_readme_rule=fix is not None and fix.get("state") == "fixed",
                fixed_only_in_fixed_in_version=fix is None and bool(vulnerability.get("fixedInVersion")),
            )
        )
    return entries


def _cyclonedx_entries(document: dict[str, Any]) -> list[RawEntry]:
    entries = []
    for vulnerability in document.get("vulnerabilities") or []:
        ratings = [Severity.parse(rating.get("severity")) for rating in vulnerability.get("ratings") or []]
        severity = min(ratings, key=lambda s: s.rank, default=Severity.UNKNOWN).value
        refs = [affect["ref"] for affect in vulnerability.get("affects") or []] or [None]
        for index, ref in enumerate(refs):
            entries.append(
                RawEntry("vulnerability", (vulnerability["id"], ref), severity, beyond_readme_count=index > 0)
            )
    return entries


def _snyk_entries(document: Any) -> list[RawEntry]:
    """Snyk: every project's `vulnerabilities[]` (README: the top-level projects'); the image's
    `applications[]` projects are read too, beyond the README's count. License issues are not."""
    entries = []
    for top in document if isinstance(document, list) else [document]:
        nested = [(app, True) for app in top.get("applications") or []]
        for project, beyond in [(top, False), *nested]:
            own = str(project.get("projectName", "")).startswith("docker-image|")
            location = None if own else project.get("displayTargetFile") or project.get("targetFile")
            for v in project.get("vulnerabilities") or []:
                if v.get("type") == "license":
                    continue
                steps = v.get("from") or []
                grouped = any(isinstance(step, list) for step in steps)
                path = None if grouped else " > ".join(step for step in steps[1:] if step) or None
                identity = (v["id"], v.get("packageName") or v.get("name"), v.get("version"), location, path)
                fixable = any(v.get("fixedIn") or [])
                entries.append(
                    RawEntry(
                        "vulnerability",
                        identity,
                        v.get("severity") or "",
                        fixable,
                        beyond_readme_count=beyond,
                    )
                )
    return entries


def _clair_entries(document: dict[str, Any]) -> list[RawEntry]:
    """clair-scanner `vulnerabilities[]`, klar every list of `Vulnerabilities{}` (Defcon1 is critical),
    Clair v4 every (package, vulnerability) pair of `package_vulnerabilities`."""
    entries = []
    identity: tuple[Any, ...]
    if "LayerCount" in document:
        for bucket, items in (document.get("Vulnerabilities") or {}).items():
            for v in items or []:
                word = v.get("Severity") or bucket
                severity = "Critical" if word.lower() == "defcon1" else word
                identity = (v["Name"], v.get("FeatureName"), v.get("FeatureVersion"))
                entries.append(RawEntry("vulnerability", identity, severity, bool(v.get("FixedBy"))))
    elif "manifest_hash" in document:
        for package_id, ids in (document.get("package_vulnerabilities") or {}).items():
            package = document["packages"][package_id]
            dbs = sorted(
                {e.get("package_db") for e in (document.get("environments") or {}).get(package_id) or []}
                - {None, ""}
            )
            for vulnerability_id in ids:
                v = document["vulnerabilities"][vulnerability_id]
                identity = (v["name"], package["name"], package.get("version"), ", ".join(dbs))
                fixable = bool(v.get("fixed_in_version"))
                entries.append(
                    RawEntry("vulnerability", identity, v.get("normalized_severity") or "", fixable)
                )
    else:
        for v in document.get("vulnerabilities") or []:
            identity = (v["vulnerability"], v.get("featurename"), v.get("featureversion"))
            entries.append(
                RawEntry("vulnerability", identity, v.get("severity") or "", bool(v.get("fixedby")))
            )
    return entries


def _harbor_entries(document: dict[str, Any]) -> list[RawEntry]:
    """Harbor: `vulnerabilities[]` of the report, or of every vulnerability report under its media type."""
    keyed = [
        report
        for key, report in document.items()
        if key.lower().startswith("application/vnd.") and "vuln" in key.lower() and report
    ]
    entries = []
    for report in keyed or [document]:
        for v in report.get("vulnerabilities") or []:
            identity = (v["id"], v.get("package"), v.get("version"))
            entries.append(
                RawEntry("vulnerability", identity, v.get("severity") or "", bool(v.get("fix_version")))
            )
    return entries


def _sarif_entries(document: dict[str, Any]) -> list[RawEntry]:
    """SARIF: every `runs[].results[]`, except `kind` pass/notApplicable and Trivy's licence results.

    Kind from Trivy's rule name / tags (`Secret`, `Misconfiguration`); severity by the README's rule: a
    severity word in the rule's tags, `cvssV3_severity`, Snyk's `<Word> severity - ` shortDescription,
    a CVSS bucket of `security-severity`, else the result's level. Identity: rule id, message text,
    location URIs, and the start line for secrets and misconfigurations. SARIF states no fixability.
    """
    entries = []
    for run in document.get("runs") or []:
        driver = (run.get("tool") or {}).get("driver") or {}
        rules = driver.get("rules") or []
        by_id: dict[Any, dict[str, Any]] = {}
        for rule in rules:
            by_id.setdefault(rule.get("id"), rule)
        is_snyk = str(driver.get("name") or "").lower().startswith("snyk")
        for result in run.get("results") or []:
            if result.get("kind") in ("pass", "notApplicable"):
                continue
            index = result.get("ruleIndex")
            rule = by_id.get(result.get("ruleId")) or (
                rules[index] if isinstance(index, int) and 0 <= index < len(rules) else {}
            )
            properties = {**(rule.get("properties") or {}), **(result.get("properties") or {})}
            tags = [str(tag).lower() for tag in properties.get("tags") or []]
            name = str(rule.get("name") or "").lower()
            if name == "license" or "license" in tags:
                continue
            kind = "vulnerability"
            if name == "secret" or "secret" in tags:
                kind = "secret"
            elif name == "misconfiguration" or "misconfiguration" in tags:
                kind = "misconfiguration"
            short = (rule.get("shortDescription") or {}).get("text") or ""
            snyk = re.match(r"(\w+) severity - ", short) if is_snyk else None
            severity = (
                next((tag for tag in tags if tag in _SARIF_WORDS), None)
                or properties.get("cvssV3_severity")
                or (snyk.group(1) if snyk else None)
                or _cvss_bucket(properties.get("security-severity"))
                or _SARIF_LEVELS.get(
                    result.get("level") or (rule.get("defaultConfiguration") or {}).get("level")
                )
                or "unknown"
            )
            locations = result.get("locations") or []
            uris = {
                ((location.get("physicalLocation") or {}).get("artifactLocation") or {}).get("uri")
                for location in locations
            }
            line = None
            if locations and kind != "vulnerability":
                line = ((locations[0].get("physicalLocation") or {}).get("region") or {}).get("startLine")
            message = (result.get("message") or {}).get("text")
            identity = (result.get("ruleId"), message, tuple(sorted(uris - {None})), line)
            entries.append(RawEntry(kind, identity, str(severity)))
    return entries


_SARIF_WORDS = ("critical", "high", "medium", "low", "negligible", "unknown")
_SARIF_LEVELS = {"error": "high", "warning": "medium", "note": "low"}


def _cvss_bucket(raw: object) -> str | None:
    try:
        score = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if score >= 9:
        return "critical"
    if score >= 7:
        return "high"
    if score >= 4:
        return "medium"
    return "low" if score > 0 else "negligible"


def _gitlab_entries(document: dict[str, Any]) -> list[RawEntry]:
    """GitLab security report: every `vulnerabilities[]` entry. Fixable (README): `solution` starts with
    "Upgrade " or the entry's `id` is listed in `remediations[].fixes[]`. Identity: advisory id, package,
    version and the first word of `location.image` (the literal "Unknown" is none)."""
    fixed_ids = {
        fix.get("id")
        for remediation in document.get("remediations") or []
        for fix in remediation.get("fixes") or []
        if fix.get("id")
    }
    entries = []
    for v in document.get("vulnerabilities") or []:
        location = v.get("location") or {}
        dependency = location.get("dependency") or {}
        advisories = [i.get("value") for i in v.get("identifiers") or [] if i.get("type") in ("cve", "ghsa")]
        target = ((location.get("image") or "").split() or [""])[0]
        identity = (
            (advisories or [v.get("cve") or v.get("id")])[0],
            (dependency.get("package") or {}).get("name"),
            dependency.get("version"),
            None if target in ("", "Unknown") else target,
        )
        fixable = (v.get("solution") or "").startswith("Upgrade ") or v.get("id") in fixed_ids
        entries.append(
            RawEntry("vulnerability", identity, v.get("severity", "Unknown"), fixable_by_readme_rule=fixable)
        )
    return entries


def _trivy_operator_entries(document: Any) -> list[RawEntry]:
    """trivy-operator, one resource or many (a `…List`'s `items`, an array, an object of arrays keyed by
    resource name): `report.vulnerabilities[]` of (Cluster)VulnerabilityReports (fixable: non-empty
    `fixedVersion`), `report.secrets[]` of ExposedSecretReports, and the checks with `success: false` of
    the config-audit, RBAC and infra assessment kinds as misconfigurations; other kinds hold none.
    Identity: the subject (registry server, repository, tag and digest of the artifact; for checks the
    resource the labels name), then id, package, installed version, target and package path
    (`packagePath`, older `pkgPath`); a secret's rule id and target; a check's id."""
    if isinstance(document, list):
        items = document
    elif isinstance(document.get("items"), list):
        items = document["items"]
    elif "kind" in document:
        items = [document]
    else:
        items = [item for value in document.values() for item in _operator_items(value)]
    entries = []
    for item in items:
        kind = item.get("kind") or ""
        report = item.get("report") or {}
        artifact = report.get("artifact") or {}
        image = (
            (report.get("registry") or {}).get("server"),
            artifact.get("repository"),
            artifact.get("tag"),
            artifact.get("digest"),
        )
        if kind.endswith("VulnerabilityReport"):
            for v in report.get("vulnerabilities") or []:
                identity = (
                    *image,
                    v["vulnerabilityID"],
                    v.get("resource"),
                    v.get("installedVersion"),
                    v.get("target") or None,
                    v.get("packagePath") or v.get("pkgPath") or None,
                )
                entries.append(
                    RawEntry("vulnerability", identity, v.get("severity") or "", bool(v.get("fixedVersion")))
                )
        elif kind == "ExposedSecretReport":
            for s in report.get("secrets") or []:
                entries.append(
                    RawEntry(
                        "secret", (*image, s["ruleID"], s.get("target") or None), s.get("severity") or ""
                    )
                )
        elif kind.endswith(("ConfigAuditReport", "RbacAssessmentReport", "InfraAssessmentReport")):
            labels = (item.get("metadata") or {}).get("labels") or {}
            workload = tuple(
                labels.get(f"trivy-operator.resource.{part}") for part in ("namespace", "kind", "name")
            )
            for c in report.get("checks") or []:
                if c.get("success") is False:
                    entries.append(
                        RawEntry("misconfiguration", (*workload, c["checkID"]), c.get("severity") or "")
                    )
    return entries


def _operator_items(value: Any) -> list[Any]:
    """The resources under one key of the keyed shape: an array, or a List's `items`."""
    return value if isinstance(value, list) else (value or {}).get("items") or []


def split_repeated(entries: list[RawEntry]) -> tuple[list[RawEntry], list[RawEntry]]:
    """(first occurrences, entries whose kind and identity an earlier entry already had)."""
    seen: set[tuple[Any, ...]] = set()
    kept: list[RawEntry] = []
    repeated: list[RawEntry] = []
    for entry in entries:
        key = (entry.kind, *entry.identity)
        (repeated if key in seen else kept).append(entry)
        seen.add(key)
    return kept, repeated


def severity_word(raw: str) -> str:
    return Severity.parse(raw).value


def expected_counts(row: ReadmeRow, entries: list[RawEntry]) -> dict[str, Any]:
    """The `counts` the API should give for a fixture: its README row, adjusted as described above."""
    _, repeated = split_repeated(entries)
    extra = [entry for entry in entries if entry.beyond_readme_count]
    severities = Counter({severity.value: 0 for severity in Severity})
    for word, count in row.by_severity.items():
        severities[severity_word(word)] += count
    severities.update(severity_word(e.severity) for e in extra if e.kind == "vulnerability")
    severities.subtract(severity_word(e.severity) for e in repeated if e.kind == "vulnerability")
    return {
        "vulnerabilities": dict(severities),
        "sensitive_data": row.secrets - sum(e.kind == "secret" for e in repeated),
        "misconfigurations": row.failed_misconfigurations
        - sum(e.kind == "misconfiguration" for e in repeated),
        "malware": 0,
    }


# --- the README read at collection time, for tests parametrized by fixture ---------------------------

# The folder tests/conftest.py's `scanner_fixtures` gives (CI checks the repository out with shared/
# beside it); tests parametrized with `readme_rows_if_present` check that the two agree.
SCANNER_FIXTURES_FOLDER = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "scanners"


def readme_rows_if_present(folder: Path = SCANNER_FIXTURES_FOLDER) -> dict[str, ReadmeRow]:
    """The README's rows, read when tests are collected; {} without the folder (its tests then skip)."""
    readme = folder / "README.md"
    return readme_rows(readme.read_text(encoding="utf-8")) if readme.is_file() else {}
