"""SARIF 2.1.0 from Trivy, Grype, Docker Scout and Snyk: the real fixtures against their README figures,
sniffing, and the rules for severity, package, fix, score, identity and image on hand-built documents."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Finding, FindingKind, Severity, dedupe
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers import decode_report
from riskgate.domain.parsers._common import ParsedReport
from riskgate.domain.parsers.sarif import looks_like_sarif, parse_sarif
from tests.support.scanner_documents import WRONG_VALUES, paths_of, replaced

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures/scanners"
MAX_BYTES = 20 * 1024 * 1024
DIGEST = "sha256:" + "e" * 64

needs_fixtures = pytest.mark.skipif(
    not (FIXTURES / "README.md").is_file(), reason=f"scanner fixtures not found at {FIXTURES}"
)


def load(relative: str) -> Any:
    return decode_report((FIXTURES / relative).read_bytes(), None, MAX_BYTES)


def severities(report: ParsedReport) -> dict[str, int]:
    return {word: count for word, count in report.counts.vulnerabilities.items() if count}


# --- the real reports against the README ------------------------------------------------------------

# path: (vulnerabilities by severity, secrets, failed misconfigurations), copied from the README's rows.
README_FIGURES: dict[str, tuple[dict[str, int], int, int]] = {
    "trivy/golden_alpine-310.sarif.json": ({"medium": 4}, 0, 0),
    "trivy/wild_lab-6.sarif.json": ({"critical": 4, "high": 12, "medium": 15, "low": 5}, 2, 0),
    "grype/wild_empty.sarif.json": ({}, 0, 0),
    "docker-scout/wild_lab-6.sarif.json": ({"critical": 5, "high": 23}, 0, 0),
}


@needs_fixtures
def test_every_sarif_fixture_has_its_readme_figures_here() -> None:
    on_disk = {path.relative_to(FIXTURES).as_posix() for path in FIXTURES.glob("*/*.sarif*")}
    assert on_disk == set(README_FIGURES)


@needs_fixtures
@pytest.mark.parametrize("relative", sorted(README_FIGURES))
def test_fixture_parses_to_the_readme_figures(relative: str) -> None:
    by_severity, secrets, misconfigurations = README_FIGURES[relative]
    report = parse_sarif(load(relative))
    assert report.format == "sarif"
    assert severities(report) == by_severity
    assert report.counts.sensitive_data == secrets
    assert report.counts.misconfigurations == misconfigurations
    # No two results of these reports are the same finding: de-duplication keeps every one.
    assert len(dedupe(report.findings)) == len(report.findings)


@needs_fixtures
@pytest.mark.parametrize(
    ("relative", "scanner", "version", "image"),
    [
        (
            "trivy/golden_alpine-310.sarif.json",
            "trivy",
            "dev",
            ImageRef("ghcr.io", "aquasecurity/trivy-test-images", "alpine-310", None),
        ),
        ("trivy/wild_lab-6.sarif.json", "trivy", "0.56.1", None),
        ("grype/wild_empty.sarif.json", "grype", "0.85.0", None),
        ("docker-scout/wild_lab-6.sarif.json", "docker scout", "1.18.2", None),
    ],
)
def test_fixture_scanner_and_image(relative: str, scanner: str, version: str, image: ImageRef | None) -> None:
    report = parse_sarif(load(relative))
    assert (report.scanner, report.scanner_version, report.image) == (scanner, version, image)
    assert report.created_at is None


@needs_fixtures
def test_trivy_fixture_package_versions_and_fix_come_from_the_message() -> None:
    findings = parse_sarif(load("trivy/golden_alpine-310.sarif.json")).findings
    assert findings[0] == Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id="CVE-2019-1549",
        severity=Severity.MEDIUM,
        title="openssl: information disclosure in fork()",
        package="libcrypto1.1",
        installed_version="1.1.1c-r0",
        fixed_version="1.1.1d-r0",
        location="testdata/fixtures/images/alpine-310.tar.gz",
        cvss_score=5.3,
    )
    # One rule per CVE, one result per package: the package is the result's, not the rule's.
    assert [(f.finding_id, f.package) for f in findings] == [
        ("CVE-2019-1549", "libcrypto1.1"),
        ("CVE-2019-1551", "libcrypto1.1"),
        ("CVE-2019-1549", "libssl1.1"),
        ("CVE-2019-1551", "libssl1.1"),
    ]


@needs_fixtures
def test_trivy_fixture_severity_tag_beats_the_score_and_secrets_keep_their_line() -> None:
    findings = {
        (f.finding_id, f.location, f.detail): f
        for f in parse_sarif(load("trivy/wild_lab-6.sarif.json")).findings
    }
    # Tagged HIGH with security-severity 5.9: Trivy's word wins, the score is a real CVSS score.
    urllib3 = findings[("CVE-2023-43804", "requirements.txt", None)]
    assert (urllib3.severity, urllib3.cvss_score) == (Severity.HIGH, 5.9)
    assert urllib3.fixed_version == "2.0.6, 1.26.17"
    secret = findings[("jwt-token", "introduction/static/js/a9.js", "18")]
    assert secret.kind is FindingKind.SENSITIVE_DATA
    assert (secret.severity, secret.title, secret.package, secret.cvss_score) == (
        Severity.MEDIUM,
        "JWT token",
        None,
        None,
    )


@needs_fixtures
def test_scout_fixture_package_from_the_purl_and_not_fixed_is_no_fix() -> None:
    findings = {f.finding_id: f for f in parse_sarif(load("docker-scout/wild_lab-6.sarif.json")).findings}
    openssl = findings["CVE-2024-4741"]
    assert (openssl.package, openssl.installed_version, openssl.fixed_version) == (
        "openssl",
        "1.1.1w-0+deb11u1",
        "1.1.1w-0+deb11u2",
    )
    # No cvssV3 on this rule: its security-severity is the score.
    assert (openssl.severity, openssl.cvss_score) == (Severity.HIGH, 7.5)
    assert "/usr/share/doc/libssl1.1/copyright" in str(openssl.location)
    expat = findings["CVE-2025-59375"]
    assert (expat.fixed_version, expat.fix_state, expat.fixable) == (None, "not fixed", False)
    pillow = findings["CVE-2024-28219"]
    assert (pillow.package, pillow.installed_version, pillow.fixed_version, pillow.cvss_score) == (
        "pillow",
        "9.4.0",
        "10.3.0",
        7.3,
    )
    assert pillow.location == ", ".join(
        f"/usr/local/lib/python3.8/site-packages/Pillow-9.4.0.dist-info/{name}"
        for name in ("METADATA", "RECORD", "top_level.txt")
    )


# --- sniffing ---------------------------------------------------------------------------------------


@needs_fixtures
@pytest.mark.parametrize("relative", sorted(README_FIGURES))
def test_sarif_fixtures_are_recognized(relative: str) -> None:
    assert looks_like_sarif(load(relative))


@needs_fixtures
def test_no_other_fixture_is_taken_for_sarif() -> None:
    others = sorted(
        path.relative_to(FIXTURES).as_posix()
        for path in FIXTURES.glob("*/*.json")
        if path.relative_to(FIXTURES).as_posix() not in README_FIGURES
    )
    assert len(others) > 50
    assert [relative for relative in others if looks_like_sarif(load(relative))] == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"version": "2.1.0", "runs": []}, True),
        ({"version": "2.1.0", "runs": "odd"}, True),
        ({"runs": [{"tool": {"driver": {"name": "x"}}}]}, True),
        ({"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "runs": []}, True),
        # SARIF 1.0: another structure (tool.name, no driver).
        ({"version": "1.0.0", "runs": [{"tool": {"name": "x"}, "results": []}]}, False),
        ({"runs": [{"tool": {"name": "x"}}]}, False),
        ({"version": 2.1, "runs": []}, False),
        ({"SchemaVersion": 2, "Results": []}, False),
        ({"matches": [], "source": {}}, False),
        ({"bomFormat": "CycloneDX", "vulnerabilities": []}, False),
        ([{"runs": []}], False),
        (None, False),
        ("runs", False),
    ],
)
def test_sniffing_hand_built_documents(document: Any, expected: bool) -> None:
    assert looks_like_sarif(document) is expected


# --- builders ---------------------------------------------------------------------------------------


def sarif(
    name: str, rules: list[dict[str, Any]], results: list[dict[str, Any]], **run: Any
) -> dict[str, Any]:
    driver: dict[str, Any] = {"name": name, "version": "1.2.3", "rules": rules}
    return {"version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results, **run}]}


def location(uri: str, line: int = 1) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": line}}}


def trivy_rule(rule_id: str = "CVE-2024-0001", severity: str = "HIGH", **properties: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": "OsPackageVulnerability",
        "shortDescription": {"text": "openssl: something bad"},
        "help": {
            "text": f"Vulnerability {rule_id}\nSeverity: {severity}\nPackage: libssl3\nFixed Version: 3.0.9"
        },
        "properties": {
            "precision": "very-high",
            "tags": ["vulnerability", "security", severity],
            **properties,
        },
    }


def trivy_result(
    rule_id: str = "CVE-2024-0001",
    package: str = "libssl3",
    installed: str = "3.0.8-r0",
    fixed: str = "3.0.9-r0",
    uri: str = "library/alpine",
) -> dict[str, Any]:
    message = (
        f"Package: {package}\nInstalled Version: {installed}\nVulnerability {rule_id}\nSeverity: HIGH\n"
        f"Fixed Version: {fixed}\nLink: [{rule_id}](https://avd.aquasec.com/nvd/{rule_id.lower()})"
    )
    return {
        "ruleId": rule_id,
        "ruleIndex": 0,
        "level": "error",
        "message": {"text": message},
        "locations": [location(uri)],
    }


def trivy_report(
    *results: dict[str, Any], rules: list[dict[str, Any]] | None = None, **run: Any
) -> dict[str, Any]:
    return sarif(
        "Trivy", [trivy_rule()] if rules is None else rules, list(results) or [trivy_result()], **run
    )


def grype_rule(
    vulnerability: str = "CVE-2024-0002", package: str = "libssl", **properties: Any
) -> dict[str, Any]:
    return {
        "id": f"{vulnerability}-{package}",
        "name": "ApkMatcherExactDirectMatch",
        "shortDescription": {"text": f"{vulnerability} high vulnerability for {package} package"},
        "help": {
            "text": f"Vulnerability {vulnerability}\nSeverity: high\nPackage: {package}\nVersion: 1.1\n"
            f"Fix Version: 1.2\nType: apk\nLocation: /lib/apk/db/installed\nData Namespace: alpine\n"
            f"Link: {vulnerability}"
        },
        "properties": {"security-severity": "7.5", **properties},
    }


def grype_result(
    vulnerability: str = "CVE-2024-0002",
    package: str = "libssl",
    version: str = "1.1",
    image: str = "alpine:3.18",
) -> dict[str, Any]:
    return {
        "ruleId": f"{vulnerability}-{package}",
        "message": {
            "text": f"A high vulnerability in apk package: {package}, version {version} was found "
            f"in image {image} at: /lib/apk/db/installed"
        },
        "locations": [location("alpine/lib/apk/db/installed")],
    }


def grype_report(*results: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return sarif("grype", [grype_rule()] if rules is None else rules, list(results) or [grype_result()])


def scout_rule(rule_id: str = "CVE-2024-0003", **properties: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": "OsPackageVulnerability",
        "shortDescription": {"text": f"{rule_id}: Out-of-bounds Write"},
        "help": {"text": "Advisory prose.\nFixed by: https://example.test/commit/1\nPackage: not-this-one\n"},
        "properties": {
            "affected_version": "<2.2.3",
            "cvssV3": 9.8,
            "cvssV3_severity": "CRITICAL",
            "fixed_version": "2.2.3",
            "purls": ["pkg:pypi/werkzeug@2.1.2"],
            "security-severity": "9.8",
            "tags": ["CRITICAL"],
            **properties,
        },
    }


def scout_result(
    rule_id: str = "CVE-2024-0003", purl: str = "pkg:pypi/werkzeug@2.1.2", fixed: str = "2.2.3"
) -> dict[str, Any]:
    message = (
        f"  Vulnerability   : {rule_id}   \n  Severity        : CRITICAL  \n  Package         : {purl}  \n"
        f"  Affected range  : <2.2.3  \n  Fixed version   : {fixed}  \n"
    )
    return {
        "ruleId": rule_id,
        "ruleIndex": 0,
        "kind": "fail",
        "level": "error",
        "message": {"text": message},
        "locations": [
            location("/usr/lib/python3/werkzeug/METADATA"),
            location("/usr/lib/python3/werkzeug/RECORD"),
        ],
    }


def scout_report(*results: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return sarif(
        "docker scout", [scout_rule()] if rules is None else rules, list(results) or [scout_result()]
    )


def snyk_rule(severity: str = "Low", score: Any = 7.5) -> dict[str, Any]:
    return {
        "id": "SNYK-DEBIAN12-OPENSSL-0001",
        "shortDescription": {"text": f"{severity} severity - Out-of-bounds Read vulnerability in openssl"},
        "fullDescription": {"text": "(CVE-2024-0004) openssl/libssl3@3.0.11-1~deb12u1"},
        "help": {"text": "", "markdown": "## Overview"},
        "defaultConfiguration": {"level": "warning"},
        "properties": {
            "tags": ["security", "CWE-125", "deb"],
            "cvssv3_baseScore": score,
            "security-severity": str(score),
        },
    }


def snyk_result(severity: str = "low", **fields: Any) -> dict[str, Any]:
    return {
        "ruleId": "SNYK-DEBIAN12-OPENSSL-0001",
        "level": "note",
        "message": {
            "text": "This file introduces a vulnerable openssl package "
            f"with a {severity} severity vulnerability."
        },
        "locations": [
            {"physicalLocation": {"artifactLocation": {"uri": "Dockerfile"}, "region": {"startLine": 1}}}
        ],
        **fields,
    }


def snyk_report(*results: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return sarif(
        "Snyk Container", [snyk_rule()] if rules is None else rules, list(results) or [snyk_result()]
    )


def only(document: dict[str, Any]) -> Finding:
    [finding] = parse_sarif(document).findings
    return finding


# --- severity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ("10.0", Severity.CRITICAL),
        ("9.0", Severity.CRITICAL),
        ("8.9", Severity.HIGH),
        ("7.0", Severity.HIGH),
        ("6.9", Severity.MEDIUM),
        ("4.0", Severity.MEDIUM),
        ("3.9", Severity.LOW),
        ("0.1", Severity.LOW),
        ("0.0", Severity.NEGLIGIBLE),
        (5.3, Severity.MEDIUM),
    ],
)
def test_without_a_severity_word_the_security_severity_score_is_bucketed(
    score: Any, expected: Severity
) -> None:
    rule = grype_rule(**{"security-severity": score})
    assert only(grype_report(rules=[rule])).severity is expected


@pytest.mark.parametrize(
    ("rule", "result", "expected"),
    [
        (
            {"properties": {"tags": ["vulnerability", "security", "CRITICAL"], "security-severity": "2.0"}},
            {},
            Severity.CRITICAL,
        ),
        ({"properties": {"tags": ["security", "UNKNOWN"], "security-severity": "9.8"}}, {}, Severity.UNKNOWN),
        ({"properties": {"cvssV3_severity": "LOW", "security-severity": "9.8"}}, {}, Severity.LOW),
        # Scout's UNSPECIFIED is its own word for "none assigned".
        (
            {
                "properties": {
                    "cvssV3_severity": "UNSPECIFIED",
                    "tags": ["UNSPECIFIED"],
                    "security-severity": "3.1",
                }
            },
            {},
            Severity.UNKNOWN,
        ),
        ({"properties": {"tags": ["security", "CWE-79"], "security-severity": "7.1"}}, {}, Severity.HIGH),
        # Properties of the result itself are read first.
        ({"properties": {"security-severity": "9.1"}}, {"properties": {"tags": ["LOW"]}}, Severity.LOW),
        # Text that is no number is no score: then a `Severity:` line, then the level.
        (
            {"properties": {"security-severity": "undefined"}, "help": {"text": "Severity: Medium"}},
            {},
            Severity.MEDIUM,
        ),
        ({"properties": {"security-severity": "null"}}, {"level": "error"}, Severity.HIGH),
        ({}, {"level": "warning"}, Severity.MEDIUM),
        ({"defaultConfiguration": {"level": "note"}}, {}, Severity.LOW),
        ({"defaultConfiguration": {"level": "none"}}, {}, Severity.UNKNOWN),
        ({}, {}, Severity.UNKNOWN),
        # Out of CVSS range: not a score.
        ({"properties": {"security-severity": "42"}}, {"level": "note"}, Severity.LOW),
    ],
)
def test_severity_rules_in_order(rule: dict[str, Any], result: dict[str, Any], expected: Severity) -> None:
    document = sarif(
        "SomeScanner", [{"id": "R1", **rule}], [{"ruleId": "R1", "message": {"text": "found"}, **result}]
    )
    assert only(document).severity is expected


def test_snyk_own_severity_word_beats_the_cvss_bucket() -> None:
    # Snyk calls it low although its CVSS score is 7.5: the scanner's word is kept.
    finding = only(snyk_report())
    assert (finding.severity, finding.cvss_score) == (Severity.LOW, 7.5)
    # Without the rule, the message says it.
    document = snyk_report(snyk_result("critical"), rules=[])
    assert only(document).severity is Severity.CRITICAL


# --- package, fix, id, score ------------------------------------------------------------------------


def test_trivy_result_fields() -> None:
    finding = only(
        trivy_report(
            rules=[trivy_rule(cvssv3_baseScore=7.4, cvssv2_score=5.0, **{"security-severity": "7.4"})]
        )
    )
    assert finding == Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id="CVE-2024-0001",
        severity=Severity.HIGH,
        title="openssl: something bad",
        package="libssl3",
        installed_version="3.0.8-r0",
        fixed_version="3.0.9-r0",
        location="library/alpine",
        cvss_score=7.4,
    )


def test_trivy_empty_fixed_version_means_no_fix() -> None:
    finding = only(trivy_report(trivy_result(fixed="")))
    assert (finding.fixed_version, finding.fixable) == (None, False)


def test_trivy_old_template_result_takes_the_package_from_the_rule_help() -> None:
    result = {"ruleId": "CVE-2024-0001", "message": {"text": "A description."}, "locations": [location("x")]}
    finding = only(trivy_report(result))
    assert (finding.package, finding.installed_version, finding.fixed_version) == ("libssl3", None, "3.0.9")


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"security-severity": "8.0"}, None),  # Trivy's stand-in for HIGH without a CVSS v3 score
        ({"security-severity": "7.5"}, 7.5),
        ({"cvssv40_baseScore": 8.7, "cvssv2_score": 6.8, "security-severity": "8.0"}, 8.7),
        ({"cvssv2_score": 6.8, "security-severity": "8.0"}, 6.8),
        ({"cvssv3_baseScore": 42.0, "security-severity": "7.5"}, 7.5),
    ],
)
def test_trivy_cvss_score(properties: dict[str, Any], expected: float | None) -> None:
    assert only(trivy_report(rules=[trivy_rule(**properties)])).cvss_score == expected


def test_trivy_secrets_and_misconfigurations_keep_their_line_and_no_stand_in_score() -> None:
    secret_rule = {
        "id": "aws-access-key-id",
        "name": "Secret",
        "shortDescription": {"text": "AWS Access Key ID"},
        "properties": {"tags": ["secret", "security", "CRITICAL"], "security-severity": "9.5"},
    }
    check_rule = {
        "id": "DS-0002",
        "name": "Misconfiguration",
        "shortDescription": {"text": "Image user should not be 'root'"},
        "properties": {"tags": ["misconfiguration", "security", "HIGH"], "security-severity": "8.0"},
    }
    secret_message = {
        "text": "Artifact: app/.env\nType: \nSecret AWS Access Key ID\nSeverity: CRITICAL\nMatch: AWS=****"
    }
    results = [
        {
            "ruleId": "aws-access-key-id",
            "ruleIndex": 0,
            "message": secret_message,
            "locations": [location("app/.env", 3)],
        },
        {
            "ruleId": "aws-access-key-id",
            "ruleIndex": 0,
            "message": secret_message,
            "locations": [location("app/.env", 9)],
        },
        {
            "ruleId": "DS-0002",
            "ruleIndex": 1,
            "message": {"text": "Artifact: Dockerfile\nType: dockerfile"},
            "locations": [location("Dockerfile", 1)],
        },
    ]
    report = parse_sarif(trivy_report(*results, rules=[secret_rule, check_rule]))
    assert [(f.kind, f.severity, f.location, f.detail, f.cvss_score, f.package) for f in report.findings] == [
        (FindingKind.SENSITIVE_DATA, Severity.CRITICAL, "app/.env", "3", None, None),
        (FindingKind.SENSITIVE_DATA, Severity.CRITICAL, "app/.env", "9", None, None),
        (FindingKind.MISCONFIGURATION, Severity.HIGH, "Dockerfile", "1", None, None),
    ]
    # The same rule matching twice in one file is two findings.
    assert len(dedupe(report.findings)) == 3


def test_trivy_licence_results_and_passed_checks_are_no_findings() -> None:
    licence_rule = {
        "id": "musl:MIT",
        "name": "License",
        "properties": {"tags": ["license", "security", "LOW"]},
    }
    results = [
        trivy_result(),
        {"ruleId": "musl:MIT", "message": {"text": "Artifact: x\nLicense MIT"}},
        {**trivy_result(), "kind": "pass"},
        {**trivy_result(), "kind": "notApplicable"},
    ]
    report = parse_sarif(trivy_report(*results, rules=[trivy_rule(), licence_rule]))
    assert [f.finding_id for f in report.findings] == ["CVE-2024-0001"]


def test_grype_result_fields() -> None:
    finding = only(grype_report())
    assert finding == Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id="CVE-2024-0002",
        severity=Severity.HIGH,
        title=None,
        package="libssl",
        installed_version="1.1",
        fixed_version="1.2",
        location="alpine/lib/apk/db/installed",
        cvss_score=7.5,
    )


def test_grype_rule_covers_every_version_of_a_package_and_each_result_keeps_its_own() -> None:
    report = parse_sarif(grype_report(grype_result(version="1.1"), grype_result(version="1.3")))
    assert [f.installed_version for f in dedupe(report.findings)] == ["1.1", "1.3"]


def test_grype_older_message_and_id_without_help() -> None:
    rule = {"id": "CVE-2024-0002-libssl", "properties": {"security-severity": "9.1"}}
    result = {
        "ruleId": "CVE-2024-0002-libssl",
        "message": {
            "text": "The path /lib/apk/db/installed reports libssl at version 1.1  "
            "which is a vulnerable (apk) package installed in the container"
        },
    }
    finding = only(grype_report(result, rules=[rule]))
    assert (finding.finding_id, finding.package, finding.installed_version, finding.severity) == (
        "CVE-2024-0002",
        "libssl",
        "1.1",
        Severity.CRITICAL,
    )


@pytest.mark.parametrize(
    ("score", "expected"),
    [("7.0", None), ("7.5", 7.5), ("0.0", None)],  # 7.0 is Grype's stand-in for "high" without CVSS
)
def test_grype_stand_in_scores_are_no_cvss_scores(score: str, expected: float | None) -> None:
    assert only(grype_report(rules=[grype_rule(**{"security-severity": score})])).cvss_score == expected


def test_grype_without_fix_version_has_no_fix() -> None:
    rule = grype_rule()
    rule["help"]["text"] = rule["help"]["text"].replace("Fix Version: 1.2", "Fix Version: ")
    assert only(grype_report(rules=[rule])).fixed_version is None


def test_scout_result_fields_come_from_the_message_per_package() -> None:
    # One rule, two packages: each result names its own.
    rule = scout_rule(purls=["pkg:pypi/werkzeug@2.1.2", "pkg:npm/%40scope/werk@2.0.0"])
    results = [scout_result(), scout_result(purl="pkg:npm/%40scope/werk@2.0.0", fixed="not fixed")]
    report = parse_sarif(scout_report(*results, rules=[rule]))
    assert [(f.package, f.installed_version, f.fixed_version, f.fix_state) for f in report.findings] == [
        ("werkzeug", "2.1.2", "2.2.3", None),
        ("werk", "2.0.0", None, "not fixed"),
    ]
    assert report.findings[0].title == "CVE-2024-0003: Out-of-bounds Write"
    assert report.findings[0].cvss_score == 9.8
    assert (
        report.findings[0].location == "/usr/lib/python3/werkzeug/METADATA, /usr/lib/python3/werkzeug/RECORD"
    )


def test_scout_without_message_fields_reads_the_rule_properties_never_the_prose() -> None:
    result = {"ruleId": "CVE-2024-0003", "message": {"text": "vulnerable"}}
    rule = scout_rule()
    del rule["properties"]["purls"]
    rule["properties"]["purl"] = "pkg:maven/com.example/lib@1.4.5"
    finding = only(scout_report(result, rules=[rule]))
    assert (finding.package, finding.installed_version, finding.fixed_version) == ("lib", "1.4.5", "2.2.3")


def test_snyk_package_version_and_fix() -> None:
    upgrade = {"description": {"text": "Upgrade to openssl@3.0.13-1~deb12u1"}}
    finding = only(snyk_report(snyk_result(fixes=[upgrade])))
    assert (finding.finding_id, finding.package, finding.installed_version, finding.fixed_version) == (
        "SNYK-DEBIAN12-OPENSSL-0001",
        "openssl",
        "3.0.11-1~deb12u1",
        "3.0.13-1~deb12u1",
    )
    assert finding.location == "Dockerfile"
    # An upgrade of another package is no fixed version of this one.
    other = {"description": {"text": "Upgrade to express@4.17.3"}}
    assert only(snyk_report(snyk_result(fixes=[other]))).fixed_version is None


def test_snyk_logical_location_names_the_version() -> None:
    result = snyk_result()
    result["locations"][0]["logicalLocations"] = [{"fullyQualifiedName": "openssl@3.0.15-1~deb12u1"}]
    assert only(snyk_report(result)).installed_version == "3.0.15-1~deb12u1"


def test_snyk_score_text_undefined_is_no_score() -> None:
    finding = only(snyk_report(rules=[snyk_rule(score=None)]))
    assert (finding.cvss_score, finding.severity) == (None, Severity.LOW)


# --- rules, identity --------------------------------------------------------------------------------


def test_rule_is_found_by_id_before_a_wrong_index() -> None:
    # Old Grype wrote ruleIndex 0 on every result.
    rules = [grype_rule("CVE-1"), grype_rule("CVE-2", **{"security-severity": "9.8"})]
    result = {**grype_result("CVE-2"), "ruleIndex": 0}
    assert only(grype_report(result, rules=rules)).severity is Severity.CRITICAL


def test_rule_is_found_by_index_without_an_id() -> None:
    rules = [{"id": "R0"}, {"id": "R1", "properties": {"tags": ["LOW"]}}]
    finding = only(sarif("x", rules, [{"ruleIndex": 1, "message": {"text": "m"}}]))
    assert (finding.finding_id, finding.severity) == ("R1", Severity.LOW)


def test_results_repeating_one_finding_collapse_under_dedupe() -> None:
    report = parse_sarif(trivy_report(trivy_result(), trivy_result(), trivy_result(uri="usr/lib/other")))
    assert len(report.findings) == 3
    assert [f.location for f in dedupe(report.findings)] == ["library/alpine", "usr/lib/other"]


# --- image and time ---------------------------------------------------------------------------------


def test_trivy_image_from_repo_tags_and_digests() -> None:
    properties = {
        "imageName": "alpine:3.18",
        "repoTags": ["registry.example.com/team/alpine:3.18"],
        "repoDigests": [f"registry.example.com/team/alpine@{DIGEST}"],
        "imageID": "sha256:" + "1" * 64,
    }
    image = parse_sarif(trivy_report(properties=properties)).image
    assert image == ImageRef("registry.example.com", "team/alpine", "3.18", DIGEST)


def test_trivy_image_from_the_image_name_and_none_for_a_tarball() -> None:
    assert parse_sarif(
        trivy_report(properties={"imageName": "alpine:3.18", "repoTags": None})
    ).image == ImageRef("docker.io", "library/alpine", "3.18", None)
    assert parse_sarif(trivy_report(properties={"imageName": "images/alpine.tar"})).image is None
    assert parse_sarif(trivy_report()).image is None


def test_grype_image_from_the_result_message() -> None:
    assert parse_sarif(grype_report()).image == ImageRef("docker.io", "library/alpine", "3.18", None)
    scheme = grype_report(grype_result(image="registry:ghcr.io/acme/app:1.0"))
    assert parse_sarif(scheme).image == ImageRef("ghcr.io", "acme/app", "1.0", None)
    archive = grype_report(grype_result(image="docker-archive:/tmp/app.tar"))
    assert parse_sarif(archive).image is None


def test_scout_and_snyk_name_no_image() -> None:
    assert parse_sarif(scout_report()).image is None
    assert parse_sarif(snyk_report()).image is None


def test_created_at_from_the_invocation() -> None:
    invocations = [
        {
            "executionSuccessful": True,
            "startTimeUtc": "2025-01-02T03:04:05Z",
            "endTimeUtc": "2025-01-02T03:04:09Z",
        }
    ]
    assert parse_sarif(trivy_report(invocations=invocations)).created_at == "2025-01-02T03:04:09Z"


def test_first_named_run_gives_the_scanner_and_every_run_gives_findings() -> None:
    document = snyk_report()
    document["runs"].append(copy.deepcopy(document["runs"][0]))
    report = parse_sarif(document)
    assert (report.scanner, report.scanner_version, len(report.findings)) == ("snyk container", "1.2.3", 2)


def test_empty_runs_and_null_results_are_empty_reports() -> None:
    assert parse_sarif({"version": "2.1.0", "runs": []}).findings == []
    assert (
        parse_sarif(
            {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "grype"}}, "results": None}]}
        ).findings
        == []
    )


# --- broken structure -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"version": "2.1.0", "runs": "odd"}, "runs: expected a list, got a string"),
        ({"version": "2.1.0", "runs": [None]}, "runs[0]: expected an object, got null"),
        (
            replaced(trivy_report(), ("runs", 0, "tool"), "Trivy"),
            "runs[0].tool: expected an object, got a string",
        ),
        (
            replaced(trivy_report(), ("runs", 0, "tool", "driver", "rules", 0, "properties", "tags"), "HIGH"),
            "runs[0].tool.driver.rules[0].properties.tags: expected a list, got a string",
        ),
        (
            replaced(trivy_report(), ("runs", 0, "results", 0, "message", "text"), 7),
            "runs[0].results[0].message.text: expected a string, got a number",
        ),
        (
            replaced(
                trivy_report(),
                ("runs", 0, "results", 0, "locations", 0, "physicalLocation", "artifactLocation", "uri"),
                [],
            ),
            "runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri: "
            "expected a string, got a list",
        ),
        (
            replaced(trivy_report(), ("runs", 0, "results", 0, "ruleIndex"), "0"),
            "runs[0].results[0].ruleIndex: expected an integer, got a string",
        ),
        (
            replaced(
                grype_report(),
                ("runs", 0, "tool", "driver", "rules", 0, "properties", "security-severity"),
                [7.5],
            ),
            "runs[0].tool.driver.rules[0].properties.security-severity: expected a number, got a list",
        ),
        (
            # Read when the message names no package.
            replaced(
                scout_report({"ruleId": "CVE-2024-0003", "message": {"text": "vulnerable"}}),
                ("runs", 0, "tool", "driver", "rules", 0, "properties", "purls"),
                "pkg:pypi/x@1",
            ),
            "runs[0].tool.driver.rules[0].properties.purls: expected a list, got a string",
        ),
        (sarif("x", [], [{"message": {"text": "no rule"}}]), "runs[0].results[0]: missing ruleId"),
        ([], "document: expected an object, got a list"),
    ],
)
def test_broken_structure_is_invalid_naming_the_path(document: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_sarif(document)
    assert raised.value.message == message


@pytest.mark.parametrize(
    "document",
    [
        trivy_report(
            properties={"imageName": "a:1", "repoTags": ["a:1"], "repoDigests": [f"a@{DIGEST}"]},
            invocations=[{"endTimeUtc": "2025-01-01T00:00:00Z"}],
        ),
        grype_report(),
        scout_report(),
        snyk_report(snyk_result(fixes=[{"description": {"text": "Upgrade to openssl@3"}}])),
    ],
    ids=["trivy", "grype", "scout", "snyk"],
)
def test_no_wrongly_typed_value_anywhere_escapes_as_a_crash(document: dict[str, Any]) -> None:
    crashes = []
    for path in list(paths_of(document))[1:]:
        for value in WRONG_VALUES:
            try:
                parse_sarif(replaced(document, path, value))
            except InvalidInput:
                pass
            except Exception as error:
                crashes.append((path, value, repr(error)))
    assert crashes == []


def test_counts_by_severity_of_a_mixed_report() -> None:
    rules = [
        grype_rule("CVE-1", **{"security-severity": "9.8"}),
        grype_rule("CVE-2", **{"security-severity": "0.0"}),
    ]
    report = parse_sarif(
        grype_report(
            grype_result("CVE-1"), grype_result("CVE-2"), grype_result("CVE-2", version="2"), rules=rules
        )
    )
    assert Counter(f.severity for f in report.findings) == {Severity.CRITICAL: 1, Severity.NEGLIGIBLE: 2}
