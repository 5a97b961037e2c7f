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
            counts[word.lower()] += int(count)
    return counts


def our_format(format_and_schema: str) -> str | None:
    """Our format name for the README's "Format / schema" cell, None for formats we do not read."""
    family, _, schema = (part.strip() for part in format_and_schema.partition(";"))
    if family == "Trivy JSON":
        return (
            "trivy-legacy"
            if schema.startswith("legacy list")
            else "trivy"
            if schema == "SchemaVersion 2"
            else None
        )
    return {"Grype JSON": "grype", "CycloneDX JSON": "cyclonedx"}.get(family)


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
    if report_format == "grype":
        return _grype_entries(document)
    return _cyclonedx_entries(document)


def _trivy_entries(document: Any) -> list[RawEntry]:
    results = (document or []) if not isinstance(document, dict) else (document.get("Results") or [])
    entries = []
    for result in results:
        target = result.get("Target")
        for v in result.get("Vulnerabilities") or []:
            identity = (
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
                RawEntry("secret", (s["RuleID"], target, s.get("StartLine")), s.get("Severity", ""))
            )
        for m in result.get("Misconfigurations") or []:
            if m.get("Status", "FAIL") == "FAIL":
                cause = m.get("CauseMetadata") or {}
                check = (
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
    severities.update({severity_word(word): count for word, count in row.by_severity.items()})
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
