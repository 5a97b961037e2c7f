"""Every real scanner report of ../shared/fixtures/scanners against the figures of its README.

The README counts raw entries ("no de-duplication"); we collapse findings with the same identity and
give CycloneDX one finding per affected component. So the expected figures are the README's, adjusted
by what this test computes itself from the raw JSON, deliberately simply and without the parsers:
minus entries repeating an earlier entry's identity, plus the extra affected components. Grype 0.7.0
states a fix only in `fixedInVersion`, which the README's rule (`fix.state == "fixed"`) cannot see; we
count those as fixable, and so add them to the README's fixable figure.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from riskgate.domain.errors import UnsupportedFormat
from riskgate.domain.findings import FindingKind, Severity
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers import decode_report, parse_report

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


def _severity_word(raw: str) -> str:
    return Severity.parse(raw).value


# --- the tests --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rows(scanner_fixtures: Path) -> dict[str, ReadmeRow]:
    return readme_rows((scanner_fixtures / "README.md").read_text(encoding="utf-8"))


def _load(scanner_fixtures: Path, relative: str) -> Any:
    return decode_report((scanner_fixtures / relative).read_bytes(), None, MAX_BYTES)


def test_the_readme_describes_every_file_in_the_folder(
    scanner_fixtures: Path, rows: dict[str, ReadmeRow]
) -> None:
    on_disk = {path.relative_to(scanner_fixtures).as_posix() for path in scanner_fixtures.glob("*/*.json")}
    assert on_disk == set(rows)


def test_every_fixture_parses_to_the_readme_figures_or_is_unsupported(
    scanner_fixtures: Path, rows: dict[str, ReadmeRow], subtests: pytest.Subtests
) -> None:
    for path, row in sorted(rows.items()):
        with subtests.test(msg=path):
            document = _load(scanner_fixtures, path)
            expected_format = our_format(row.format_and_schema)
            if expected_format is None:
                with pytest.raises(UnsupportedFormat):
                    parse_report(document)
                continue
            report = parse_report(document)
            assert report.format == expected_format
            _assert_counts_match_readme(report, row, raw_entries(document, expected_format))


def _assert_counts_match_readme(report: Any, row: ReadmeRow, entries: list[RawEntry]) -> None:
    kept, repeated = split_repeated(entries)
    extra = [entry for entry in entries if entry.beyond_readme_count]

    def by_kind(selected: list[RawEntry], kind: str) -> list[RawEntry]:
        return [entry for entry in selected if entry.kind == kind]

    expected_severities = Counter({_severity_word(word): count for word, count in row.by_severity.items()})
    expected_severities.update(_severity_word(e.severity) for e in by_kind(extra, "vulnerability"))
    expected_severities.subtract(_severity_word(e.severity) for e in by_kind(repeated, "vulnerability"))
    counts = report.counts
    assert {severity: n for severity, n in counts.vulnerabilities.items() if n} == +expected_severities
    vulnerabilities = [f for f in report.findings if f.kind is FindingKind.VULNERABILITY]
    assert len(vulnerabilities) == row.vulnerabilities + len(by_kind(extra, "vulnerability")) - len(
        by_kind(repeated, "vulnerability")
    )
    assert counts.sensitive_data == row.secrets - len(by_kind(repeated, "secret"))
    assert counts.misconfigurations == row.failed_misconfigurations - len(
        by_kind(repeated, "misconfiguration")
    )
    if row.fixable is not None:
        expected_fixable = (
            row.fixable
            - sum(entry.fixable_by_readme_rule for entry in repeated)
            + sum(entry.fixed_only_in_fixed_in_version for entry in kept)
        )
        assert sum(finding.fixable for finding in vulnerabilities) == expected_fixable


def test_duplicates_exist_in_the_fixtures_and_are_collapsed(scanner_fixtures: Path) -> None:
    # Given the one fixture this test's own computation finds repeated entries in (grype 0.28 reports a
    # Django advisory twice, identical), the parsed report has one finding fewer than raw matches
    document = _load(scanner_fixtures, "grype/dd_check-all-fields_grype-0.28.json")
    _, repeated = split_repeated(raw_entries(document, "grype"))
    assert len(repeated) == 1
    assert len(parse_report(document).findings) == len(document["matches"]) - 1


KEYCLOAK_DIGEST = "sha256:347a0d748d05a050dc64b92de2246d2240db6eb38afbc17c3c08d0acb0db1b50"
ALPINE_DIGEST = "sha256:451eee8bedcb2f029756dc3e9d73bab0e7943c1ac55cff3a4861c52a0fdd3e98"
REDIS_DIGEST = "sha256:730b765df9fe96af414da64a2b67f3a5f70b8fd13a31e5096fee4807ed802e20"
EXAMPLE_DIGEST = "sha256:88901af20b50287be153ec4f20ed78f947eb5fa0d0a52432ced6e261b66b6cbc"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "grype/explain_keycloak.json",
            ImageRef("docker.io", "keycloak/keycloak", "21.0.2", KEYCLOAK_DIGEST),
        ),
        ("grype/wild_redis-3.0.7.json", ImageRef("docker.io", "library/redis", "3.0.7", REDIS_DIGEST)),
        (
            "trivy/ci_alpine-3.10_trivy-0.72.json",
            ImageRef("docker.io", "library/alpine", "3.10", ALPINE_DIGEST),
        ),
        (
            "trivy/golden_alpine-310.json",
            ImageRef("ghcr.io", "aquasecurity/trivy-test-images", "alpine-310", None),
        ),
        (
            "trivy/dd_legacy-many-vulns_schema-v1.json",
            ImageRef("docker.io", "library/debian", "latest", None),
        ),
        (
            "grype/secobserve_example.cdx.json",
            ImageRef("docker.io", "example/example", "dev", EXAMPLE_DIGEST),
        ),
    ],
)
def test_reports_naming_an_image_yield_its_reference(
    scanner_fixtures: Path, path: str, expected: ImageRef
) -> None:
    assert parse_report(_load(scanner_fixtures, path)).image == expected


@pytest.mark.parametrize(
    "path",
    [
        "trivy/golden-v0.20.0_debian-stretch.json",  # a tarball, no RepoTags
        "trivy/golden-v0.19.2_centos-7_schema-v1.json",  # legacy list, tarball Target
        "trivy/golden_fluentd-lockfiles-short.cdx.json",  # CycloneDX of a tarball
        "trivy/ci_repo-secret-scan.json",  # repository scan
        "trivy/ci_terraform-config-scan.json",  # filesystem scan
        "trivy/dd_legacy-no-vuln_null.json",  # `null`
        "grype/wild_central-ledger-dir-empty.json",  # directory scan
        "grype/dd_fix-available_redacted.json",  # image name REDACTED by its contributor
    ],
)
def test_reports_without_a_usable_image_name_have_no_image(scanner_fixtures: Path, path: str) -> None:
    assert parse_report(_load(scanner_fixtures, path)).image is None


def test_the_largest_report_parses_well_under_a_second(scanner_fixtures: Path) -> None:
    raw = (scanner_fixtures / "grype/dd_python-3.6_grype-0.7.json").read_bytes()
    started = time.perf_counter()
    report = parse_report(decode_report(raw, None, MAX_BYTES))
    elapsed = time.perf_counter() - started
    assert len(report.findings) == 1509
    assert elapsed < 1.0
