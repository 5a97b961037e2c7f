"""GitLab container-scanning reports: the real fixtures against their README rows, and hand-built
documents for sniffing, broken structure, severities, fixes, finding ids, locations and the image."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Finding, FindingKind, Severity, dedupe
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers import decode_report
from riskgate.domain.parsers.gitlab import (
    UNDESCRIBED_FIX,
    looks_like_gitlab,
    parse_gitlab,
    report_image,
    upgrade_version,
)
from tests.support.scanner_documents import WRONG_VALUES, paths_of, replaced

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures/scanners"
GITLAB = FIXTURES / "gitlab"
MAX_BYTES = 20 * 1024 * 1024
DIGEST = "sha256:" + "b" * 64

needs_fixtures = pytest.mark.skipif(
    not (FIXTURES / "README.md").is_file(), reason=f"scanner fixtures not found at {FIXTURES}"
)


def load(path: Path) -> Any:
    return decode_report(path.read_bytes(), None, MAX_BYTES)


# --- builders ---------------------------------------------------------------------------------------


def entry(vulnerability_id: str = "CVE-2024-0001", **fields: Any) -> dict[str, Any]:
    """A schema-15 entry as trivy's template writes it."""
    built: dict[str, Any] = {
        "id": vulnerability_id,
        "name": "openssl: something bad",
        "description": "text",
        "severity": "High",
        "solution": "Upgrade libssl1.1 to 1.1.1d-r0",
        "location": {
            "dependency": {"package": {"name": "libssl1.1"}, "version": "1.1.1c-r0"},
            "operating_system": "alpine 3.10.2",
            "image": "registry.example.com/team/app:1.2",
        },
        "identifiers": [
            {"type": "cve", "name": vulnerability_id, "value": vulnerability_id, "url": "https://x"}
        ],
        "links": [{"url": "https://x"}],
    }
    built.update(fields)
    return built


def located(image: str | None, package: str = "libssl1.1", version: str = "1.1.1c-r0", **fields: Any) -> Any:
    return entry(
        location={
            "dependency": {"package": {"name": package}, "version": version},
            "operating_system": "Unknown",
            "image": image,
        },
        **fields,
    )


def report(*entries: dict[str, Any], **fields: Any) -> dict[str, Any]:
    built: dict[str, Any] = {
        "version": "15.0.7",
        "scan": {
            "analyzer": {"id": "trivy", "name": "Trivy", "version": "0.50.0"},
            "scanner": {
                "id": "trivy",
                "name": "Trivy",
                "vendor": {"name": "Aqua Security"},
                "version": "0.50.0",
            },
            "type": "container_scanning",
            "start_time": "2024-03-01T10:00:00",
            "end_time": "2024-03-01T10:00:05",
            "status": "success",
        },
        "vulnerabilities": list(entries),
        "remediations": [],
    }
    built.update(fields)
    return built


def only(document: dict[str, Any]) -> Finding:
    [finding] = parse_gitlab(document).findings
    return finding


# --- the real fixtures against their README rows ------------------------------------------------------

# README rows of gitlab/: Vulns, Vulns by severity, Fixable / not (Secrets and Misconf are 0 in all).
README_ROWS = {
    "wild_witboost-provisioner_gcs-6.2.0.json": (97, {"high": 6, "medium": 33, "low": 58}, (60, 37)),
    "dd_issue-6639-ecr-redacted_trivy-tpl.json": (
        98,
        {"critical": 12, "high": 58, "medium": 26, "low": 2},
        (98, 0),
    ),
    "dd_debian-libc6-redacted_schema-3.0.0.json": (5, {"high": 4, "medium": 1}, (0, 5)),
    "golden_alpine-310.gitlab.json": (4, {"medium": 4}, (4, 0)),
    "golden-v0.35.0_alpine-310.gitlab.json": (4, {"medium": 4}, (4, 0)),
}


@needs_fixtures
@pytest.mark.parametrize("name", sorted(README_ROWS))
def test_fixture_gives_the_readme_figures(name: str) -> None:
    vulnerabilities, by_severity, (fixable, not_fixable) = README_ROWS[name]
    parsed = parse_gitlab(load(GITLAB / name))
    assert parsed.format == "gitlab"
    assert all(f.kind is FindingKind.VULNERABILITY for f in parsed.findings)
    assert len(parsed.findings) == vulnerabilities
    assert +Counter(f.severity.value for f in parsed.findings) == Counter(by_severity)
    assert sum(f.fixable for f in parsed.findings) == fixable
    assert sum(not f.fixable for f in parsed.findings) == not_fixable
    # No two entries of these reports are the same finding: the API's dedupe keeps every one.
    assert len(dedupe(parsed.findings)) == vulnerabilities
    counts = parsed.counts
    assert (counts.sensitive_data, counts.misconfigurations, counts.malware) == (0, 0, 0)


def test_readme_rows_here_are_those_of_the_folder() -> None:
    if not GITLAB.is_dir():
        pytest.skip(f"scanner fixtures not found at {FIXTURES}")
    assert {path.name for path in GITLAB.glob("*.json")} == set(README_ROWS)


@needs_fixtures
@pytest.mark.parametrize(
    ("name", "scanner", "version", "created_at", "image"),
    [
        (
            "wild_witboost-provisioner_gcs-6.2.0.json",
            "trivy",
            "0.36.1",
            "2023-10-12T12:23:26",
            "registry.gitlab.com/agilefactory/witboost.mesh/provisioning/"
            "witboost.mesh.provisioning.javaspecificprovisioner:latest",
        ),
        # Redacted (`XXX` is no repository name), language targets beside it: no image.
        ("dd_issue-6639-ecr-redacted_trivy-tpl.json", "trivy", None, None, None),
        (
            "dd_debian-libc6-redacted_schema-3.0.0.json",
            "trivy",
            "0.16.0",
            "2021-06-01T21:21:00",
            "docker.io/registry/vulnerable-project:latest",
        ),
        # A tarball was scanned.
        ("golden_alpine-310.gitlab.json", "trivy", "dev", "2021-08-25T12:20:30", None),
        ("golden-v0.35.0_alpine-310.gitlab.json", "trivy", None, None, None),
    ],
)
def test_fixture_scanner_time_and_image(
    name: str, scanner: str, version: str | None, created_at: str | None, image: str | None
) -> None:
    parsed = parse_gitlab(load(GITLAB / name))
    assert (parsed.scanner, parsed.scanner_version, parsed.created_at) == (scanner, version, created_at)
    assert (parsed.image.reference if parsed.image else None) == image


@needs_fixtures
def test_schema_14_and_15_templates_give_the_same_findings() -> None:
    old = parse_gitlab(load(GITLAB / "golden-v0.35.0_alpine-310.gitlab.json")).findings
    new = parse_gitlab(load(GITLAB / "golden_alpine-310.gitlab.json")).findings
    assert [f.identity for f in old] == [f.identity for f in new]
    assert old == new
    assert {(f.finding_id, f.package, f.fixed_version) for f in new} == {
        ("CVE-2019-1549", "libcrypto1.1", "1.1.1d-r0"),
        ("CVE-2019-1549", "libssl1.1", "1.1.1d-r0"),
        ("CVE-2019-1551", "libcrypto1.1", "1.1.1d-r2"),
        ("CVE-2019-1551", "libssl1.1", "1.1.1d-r2"),
    }


@needs_fixtures
def test_ghsa_ids_labelled_cve_and_language_targets_of_the_trivy_template() -> None:
    findings = parse_gitlab(load(GITLAB / "dd_issue-6639-ecr-redacted_trivy-tpl.json")).findings
    assert sum(f.finding_id.startswith("GHSA-") for f in findings) == 2
    assert Counter(f.location for f in findings) == {
        "XXXXXX.dkr.ecr.eu-west-3.amazonaws.com/XXX/admintools/tools:pipeline-ci": 76,
        "Node.js": 15,
        "var/www/composer.lock": 7,
    }
    guzzle = {f.fixed_version for f in findings if f.package == "guzzlehttp/guzzle"}
    assert "7.4.3, 6.5.6" in guzzle


# --- sniffing ---------------------------------------------------------------------------------------


@needs_fixtures
@pytest.mark.parametrize("name", sorted(README_ROWS))
def test_every_gitlab_fixture_is_recognized(name: str) -> None:
    assert looks_like_gitlab(load(GITLAB / name))


@needs_fixtures
def test_no_other_fixture_is_taken_for_a_gitlab_report() -> None:
    others = sorted(path for path in FIXTURES.glob("*/*.json") if path.parent.name != "gitlab")
    assert len(others) >= 50
    assert [path.name for path in others if looks_like_gitlab(load(path))] == []


@pytest.mark.parametrize(
    "document",
    [
        {"version": "14.0.6", "vulnerabilities": [], "remediations": []},
        report(),
        report(entry()),
        {
            "version": "2.3",
            "vulnerabilities": [{"category": "container_scanning", "location": {"image": "a"}}],
        },
        # A broken report is still recognized: parsing it says what is wrong.
        report(scan="x"),
    ],
    ids=["clean-schema-14", "clean-schema-15", "one-entry", "schema-2.3", "broken-scan"],
)
def test_gitlab_container_scans_are_recognized(document: Any) -> None:
    assert looks_like_gitlab(document)


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        "text",
        report(scan={"type": "sast"}),
        report(scan={"type": "dependency_scanning"}),
        {
            "version": "14.0.0",
            "vulnerabilities": [{"category": "dependency_scanning", "location": {"file": "Gemfile.lock"}}],
            "remediations": [],
        },
        {"version": "14.0.0", "vulnerabilities": [{"location": {"file": "app.py"}}]},
        {"version": 14, "vulnerabilities": []},
        {"version": "14.0.6", "vulnerabilities": {}},
        {"version": "14.0.6"},
        {"bomFormat": "CycloneDX", "version": "1", "vulnerabilities": []},
        {"ok": False, "version": "1", "vulnerabilities": []},
        {"SchemaVersion": 2, "version": "1", "vulnerabilities": []},
        {"version": "2.1.0", "runs": []},
    ],
)
def test_other_documents_are_not_gitlab_container_scans(document: Any) -> None:
    assert not looks_like_gitlab(document)


# --- broken structure -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "document: expected an object, got a list"),
        (report(vulnerabilities={}), "vulnerabilities: expected a list, got an object"),
        (report(None), "vulnerabilities[0]: expected an object, got null"),
        (report(scan=[]), "scan: expected an object, got a list"),
        (report(entry(), scan={"scanner": "trivy"}), "scan.scanner: expected an object, got a string"),
        (report(entry(), scan={"end_time": 1}), "scan.end_time: expected a string, got a number"),
        (report(entry(severity=3)), "vulnerabilities[0].severity: expected a string, got a number"),
        (report(entry(location="img")), "vulnerabilities[0].location: expected an object, got a string"),
        (
            report(entry(location={"dependency": {"package": "x"}})),
            "vulnerabilities[0].location.dependency.package: expected an object, got a string",
        ),
        (
            report(entry(location={"dependency": {"package": {"name": 1}}})),
            "vulnerabilities[0].location.dependency.package.name: expected a string, got a number",
        ),
        (
            report(entry(location={"image": ["a"]})),
            "vulnerabilities[0].location.image: expected a string, got a list",
        ),
        (report(entry(identifiers={})), "vulnerabilities[0].identifiers: expected a list, got an object"),
        (
            report(entry(identifiers=[{"type": "cve", "value": 7}])),
            "vulnerabilities[0].identifiers[0].value: expected a string, got a number",
        ),
        (
            report(entry(id=None, identifiers=[], name=None)),
            "vulnerabilities[0]: missing identifiers, cve and id",
        ),
        (report(entry(solution=False)), "vulnerabilities[0].solution: expected a string, got a boolean"),
        (report(remediations=[{"fixes": "x"}]), "remediations[0].fixes: expected a list, got a string"),
        (report(remediations=[{"fixes": [1]}]), "remediations[0].fixes[0]: expected an object, got a number"),
        (
            report(
                entry(solution="No solution provided"),
                remediations=[{"fixes": [{"id": "CVE-2024-0001"}], "summary": 5}],
            ),
            "remediations[0].summary: expected a string, got a number",
        ),
        (
            {"version": "14.0.6", "vulnerabilities": [{**entry(), "scanner": "trivy"}]},
            "vulnerabilities[0].scanner: expected an object, got a string",
        ),
    ],
)
def test_broken_structure_is_invalid_naming_the_path(document: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_gitlab(document)
    assert raised.value.message == message
    path, problem = message.split(": ", 1)
    assert raised.value.details == [{"path": path, "problem": problem}]


def test_no_wrongly_typed_value_anywhere_escapes_as_a_crash() -> None:
    document = report(
        entry(),
        entry("e1", identifiers=[], cve="debian:9:apt:CVE-2019-3462", solution="No solution provided"),
        remediations=[{"fixes": [{"id": "e1", "cve": "CVE-1"}, {"cve": "x"}], "summary": "Upgrade a to 1"}],
    )
    legacy = {"version": "14.0.6", "vulnerabilities": [{**entry(), "scanner": {"id": "trivy"}}]}
    crashes = []
    for original in (document, legacy):
        for path in list(paths_of(original))[1:]:
            for value in WRONG_VALUES:
                try:
                    parse_gitlab(replaced(original, path, value))
                except InvalidInput:
                    pass
                except Exception as error:
                    crashes.append((path, value, repr(error)))
    assert crashes == []


# --- severity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("Critical", Severity.CRITICAL),
        ("High", Severity.HIGH),
        ("Medium", Severity.MEDIUM),
        ("Low", Severity.LOW),
        ("Info", Severity.NEGLIGIBLE),
        ("Unknown", Severity.UNKNOWN),
        ("Whatever", Severity.UNKNOWN),
        (None, Severity.UNKNOWN),
    ],
)
def test_severity_is_the_word_as_written(word: str | None, severity: Severity) -> None:
    assert only(report(entry(severity=word))).severity is severity


def test_an_entry_without_severity_is_unknown() -> None:
    document = report(entry())
    del document["vulnerabilities"][0]["severity"]
    assert only(document).severity is Severity.UNKNOWN


# --- fixes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("solution", "fixed_version"),
    [
        ("Upgrade libssl1.1 to 1.1.1d-r0", "1.1.1d-r0"),
        ("Upgrade apt from 1.4.8 to 1.4.9", "1.4.9"),
        ("Upgrade guzzlehttp/guzzle to 7.4.3, 6.5.6", "7.4.3, 6.5.6"),
        ("Upgrade to 2.0.1", "2.0.1"),
        # Fixable by the README's rule, but no version can be read: the text stands for the fix.
        ("Upgrade systemd", "Upgrade systemd"),
        ("No solution provided", None),
        ("", None),
        (None, None),
        ("upgrade libssl1.1 to 1.1.1d-r0", None),
        ("Consider upgrading to 1.2", None),
    ],
)
def test_fixed_version_comes_from_an_upgrade_solution(
    solution: str | None, fixed_version: str | None
) -> None:
    finding = only(report(entry(solution=solution)))
    assert finding.fixed_version == fixed_version
    assert finding.fixable is (fixed_version is not None)


def test_an_absent_solution_is_no_fix() -> None:
    document = report(entry())
    del document["vulnerabilities"][0]["solution"]
    assert only(document).fixed_version is None


def test_the_package_name_may_hold_spaces_or_to() -> None:
    assert upgrade_version("Upgrade up to date to 1.2", "up to date") == "1.2"
    assert upgrade_version("Upgrade a to b", "other") == "b"


def test_a_remediation_naming_the_entry_makes_it_fixable() -> None:
    document = report(
        entry("aa" * 20, solution="No solution provided"),
        entry("bb" * 20, solution="No solution provided"),
        remediations=[
            {"fixes": [{"cve": "CVE-2024-0001", "id": "aa" * 20}], "summary": "Upgrade libssl1.1 to 1.1.1e"}
        ],
    )
    first, second = parse_gitlab(document).findings
    # The solution says no fix; the remediation's summary names the version.
    assert first.fixed_version == "1.1.1e"
    # Schema 14 lists the CVE too, but the same CVE in another entry is not what the fix names.
    assert second.fixed_version is None


def test_a_remediation_without_a_readable_version_still_makes_the_entry_fixable() -> None:
    document = report(
        entry("e1", solution="No solution provided"), remediations=[{"fixes": [{"id": "e1"}], "diff": "eA=="}]
    )
    assert only(document).fixed_version == UNDESCRIBED_FIX


def test_schema_2_remediations_name_the_entry_by_its_cve() -> None:
    legacy = entry(cve="debian:9:apt:CVE-2019-3462", solution="No solution provided")
    del legacy["id"]
    document = report(
        legacy,
        remediations=[{"fixes": [{"cve": "debian:9:apt:CVE-2019-3462"}], "summary": "Upgrade apt to 1.4.9"}],
    )
    assert only(document).fixed_version == "1.4.9"


# --- finding ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "finding_id"),
    [
        ({}, "CVE-2024-0001"),
        # trivy's template labels every id `cve`.
        (
            {"id": "GHSA-abcd-efgh-ijkl", "identifiers": [{"type": "cve", "value": "GHSA-abcd-efgh-ijkl"}]},
            "GHSA-abcd-efgh-ijkl",
        ),
        (
            {"identifiers": [{"type": "cwe", "value": "79"}, {"type": "ghsa", "value": "GHSA-1"}]},
            "GHSA-1",
        ),
        ({"identifiers": [{"type": "cwe", "value": "79"}, {"type": "elsa", "value": "ELSA-1"}]}, "ELSA-1"),
        ({"identifiers": [{"type": "cve", "name": "CVE-2"}]}, "CVE-2"),
        ({"id": "d" * 40, "identifiers": [], "cve": "CVE-3"}, "CVE-3"),
        # GitLab's SHA-1 is no vulnerability id; trivy's template writes the advisory id there.
        ({"id": "d" * 40, "identifiers": [], "name": "Title"}, "Title"),
        ({"id": "ALAS-2024-1", "identifiers": [], "name": "Title"}, "ALAS-2024-1"),
        ({"id": "d" * 40, "identifiers": [], "name": None}, "d" * 40),
    ],
)
def test_finding_id_prefers_advisory_identifiers(fields: dict[str, Any], finding_id: str) -> None:
    assert only(report(entry(**fields))).finding_id == finding_id


def test_fields_of_a_finding() -> None:
    assert only(report(entry())) == Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id="CVE-2024-0001",
        severity=Severity.HIGH,
        title="openssl: something bad",
        package="libssl1.1",
        installed_version="1.1.1c-r0",
        fixed_version="1.1.1d-r0",
        location="registry.example.com/team/app:1.2",
    )


def test_schema_14_title_is_the_message() -> None:
    assert only(report(entry(name=None, message="CVE-2024-0001 in libssl1.1-1.1.1c-r0"))).title == (
        "CVE-2024-0001 in libssl1.1-1.1.1c-r0"
    )


# --- location and identity --------------------------------------------------------------------------


def test_the_same_package_in_two_targets_stays_two_findings() -> None:
    findings = parse_gitlab(
        report(
            located("Node.js", "lodash", "4.17.20"),
            located("app/package-lock.json", "lodash", "4.17.20"),
            located("app/package-lock.json", "lodash", "4.17.20"),
        )
    ).findings
    assert [f.location for f in dedupe(findings)] == ["Node.js", "app/package-lock.json"]


def test_location_is_the_target_without_its_os_suffix_or_the_unknown_placeholder() -> None:
    assert only(report(located("alpine:3.10 (alpine 3.10.2)"))).location == "alpine:3.10"
    assert only(report(located("Unknown"))).location is None
    assert only(report(located(None))).location is None


def test_the_id_and_the_operating_system_are_not_part_of_the_identity() -> None:
    # GitLab's SHA-1 changes with the advisory text; trivy's templates before 0.57 write `Unknown`.
    first = entry("a" * 40, identifiers=[{"type": "cve", "value": "CVE-1"}])
    second = copy.deepcopy(first)
    second["id"] = "b" * 40
    second["location"]["operating_system"] = "Unknown"
    assert len(dedupe(parse_gitlab(report(first, second)).findings)) == 1


# --- image ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        (["registry.example.com/team/app:1.2"], ImageRef("registry.example.com", "team/app", "1.2", None)),
        (["alpine:3.10 (alpine 3.10.2)"], ImageRef("docker.io", "library/alpine", "3.10", None)),
        ([f"registry.example.com/app@{DIGEST}"], ImageRef("registry.example.com", "app", None, DIGEST)),
        (["registry.gitlab.com/g/p"], ImageRef("registry.gitlab.com", "g/p", "latest", None)),
        # Language targets of trivy's templates before 0.57 are not the image.
        (
            ["Node.js", "var/www/composer.lock", "ghcr.io/o/app:2", "ghcr.io/o/app:2"],
            ImageRef("ghcr.io", "o/app", "2", None),
        ),
        (["myapp", "myapp", "Node.js"], ImageRef("docker.io", "library/myapp", "latest", None)),
        (["team/app"], ImageRef("docker.io", "team/app", "latest", None)),
        (["Unknown"], None),
        ([None, ""], None),
        ([], None),
        (["testdata/fixtures/images/alpine-310.tar.gz"], None),
        (["XXXXXX.dkr.ecr.eu-west-3.amazonaws.com/XXX/tools:ci", "var/www/composer.lock", "Node.js"], None),
        (["usr/local/bin/app"], None),
        (["app/package-lock.json"], None),
        # Two unqualified names: nothing says which was scanned.
        (["myapp", "app/server"], None),
    ],
)
def test_report_image_among_the_entries_images(images: list[str | None], expected: ImageRef | None) -> None:
    assert report_image(images) == expected
    assert parse_gitlab(report(*(located(image) for image in images))).image == expected


def test_the_most_frequent_qualified_image_wins() -> None:
    assert report_image(["a.io/x:1", "b.io/y:2", "b.io/y:2"]) == ImageRef("b.io", "y", "2", None)
    assert report_image(["a.io/x:1", "b.io/y:2"]) == ImageRef("a.io", "x", "1", None)


def test_image_identity_is_stable_across_spellings() -> None:
    spelled = [
        report_image([name]) for name in ("alpine:3.10 (alpine 3.10.2)", "docker.io/library/alpine:3.10")
    ]
    assert spelled[0] is not None
    assert spelled[1] is not None
    assert spelled[0].image_id == spelled[1].image_id


# --- scanner and time -------------------------------------------------------------------------------


def test_scanner_and_time_come_from_scan() -> None:
    parsed = parse_gitlab(report(entry()))
    assert (parsed.scanner, parsed.scanner_version, parsed.created_at) == (
        "trivy",
        "0.50.0",
        "2024-03-01T10:00:05",
    )


def test_without_scan_the_entries_scanner_is_named_without_version_or_time() -> None:
    document = {"version": "14.0.6", "vulnerabilities": [{**entry(), "scanner": {"id": "trivy"}}]}
    parsed = parse_gitlab(document)
    assert (parsed.scanner, parsed.scanner_version, parsed.created_at) == ("trivy", None, None)


def test_empty_times_fall_back_to_the_start_time_or_none() -> None:
    start_only = report(
        scan={"scanner": {"name": "Grype"}, "start_time": "2024-01-01T00:00:00", "end_time": ""}
    )
    parsed = parse_gitlab(start_only)
    assert (parsed.scanner, parsed.created_at) == ("Grype", "2024-01-01T00:00:00")
    assert parse_gitlab({"version": "14.0.6", "vulnerabilities": [], "remediations": []}).created_at is None


def test_a_clean_report_has_no_findings_and_no_image() -> None:
    parsed = parse_gitlab(json.loads('{"version": "14.0.6", "vulnerabilities": [], "remediations": []}'))
    assert (parsed.findings, parsed.image, parsed.scanner) == ([], None, None)
