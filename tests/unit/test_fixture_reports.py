"""Every real scanner report of ../shared/fixtures/scanners against the figures of its README.

The README counts raw entries ("no de-duplication"); we collapse findings with the same identity and
give CycloneDX one finding per affected component. So the expected figures are the README's, adjusted
by what this test computes itself from the raw JSON, deliberately simply and without the parsers:
minus entries repeating an earlier entry's identity, plus the extra affected components. Grype 0.7.0
states a fix only in `fixedInVersion`, which the README's rule (`fix.state == "fixed"`) cannot see; we
count those as fixable, and so add them to the README's fixable figure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from riskgate.domain.errors import UnsupportedFormat
from riskgate.domain.findings import FindingKind
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers import decode_report, parse_report, parse_reports
from tests.support.fixture_readme import (
    MAX_BYTES,
    RawEntry,
    ReadmeRow,
    our_format,
    raw_entries,
    readme_rows,
    severity_word,
    split_repeated,
)

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
            # A report of several images and Kubernetes resources: the README counts all of them.
            subjects = parse_reports(document)
            assert {subject.format for subject in subjects} == {expected_format}
            report = replace(subjects[0], findings=[f for subject in subjects for f in subject.findings])
            _assert_counts_match_readme(report, row, raw_entries(document, expected_format))


def _assert_counts_match_readme(report: Any, row: ReadmeRow, entries: list[RawEntry]) -> None:
    kept, repeated = split_repeated(entries)
    extra = [entry for entry in entries if entry.beyond_readme_count]

    def by_kind(selected: list[RawEntry], kind: str) -> list[RawEntry]:
        return [entry for entry in selected if entry.kind == kind]

    expected_severities: Counter[str] = Counter()
    for word, count in row.by_severity.items():  # two README words may be one severity (Defcon1)
        expected_severities[severity_word(word)] += count
    expected_severities.update(severity_word(e.severity) for e in by_kind(extra, "vulnerability"))
    expected_severities.subtract(severity_word(e.severity) for e in by_kind(repeated, "vulnerability"))
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
            + sum(entry.fixable_by_readme_rule for entry in extra)
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


def test_the_largest_report_parses_completely(scanner_fixtures: Path) -> None:
    # Its parse time is measured by `make bench`, not asserted here.
    raw = (scanner_fixtures / "grype/dd_python-3.6_grype-0.7.json").read_bytes()
    report = parse_report(decode_report(raw, None, MAX_BYTES))
    assert len(report.findings) == 1509
