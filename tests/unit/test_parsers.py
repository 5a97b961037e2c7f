"""Report parsing on small hand-built documents: field mapping, format sniffing, subjects and refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput, UnsupportedFormat
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers import SUPPORTED_FORMATS, parse_report, parse_reports
from tests.support.scanner_documents import WRONG_VALUES, paths_of, replaced

DIGEST = "sha256:" + "d" * 64
SUPPORTED_TEXT = ", ".join(SUPPORTED_FORMATS)


# --- builders ---------------------------------------------------------------------------------------


def trivy_vulnerability(vulnerability_id: str = "CVE-2024-0001", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "VulnerabilityID": vulnerability_id,
        "PkgName": "openssl",
        "InstalledVersion": "1.1.1k-r0",
        "FixedVersion": "1.1.1l-r0",
        "Status": "fixed",
        "Severity": "HIGH",
        "Title": "openssl: something bad",
        "CVSS": {"nvd": {"V3Score": 7.5, "V2Score": 5.0}, "redhat": {"V3Score": 8.1}},
    }
    entry.update(fields)
    return entry


def trivy_report(*results: dict[str, Any], **fields: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "SchemaVersion": 2,
        "CreatedAt": "2025-01-02T03:04:05Z",
        "ArtifactName": "alpine:3.10",
        "ArtifactType": "container_image",
        "Trivy": {"Version": "0.72.0"},
        "Results": list(results),
    }
    report.update(fields)
    return report


def os_result(*vulnerabilities: Any) -> dict[str, Any]:
    return {
        "Target": "alpine:3.10 (alpine 3.10.9)",
        "Class": "os-pkgs",
        "Vulnerabilities": list(vulnerabilities),
    }


def grype_match(vulnerability_id: str = "CVE-2024-0002", **vulnerability: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": vulnerability_id,
        "severity": "Critical",
        "fix": {"versions": ["1.2.4"], "state": "fixed"},
        "cvss": [
            {"version": "3.1", "metrics": {"baseScore": 9.8}},
            {"version": "2.0", "metrics": {"baseScore": 7.5}},
        ],
    }
    fields.update(vulnerability)
    return {
        "vulnerability": fields,
        "matchDetails": [{"type": "exact-direct-match", "matcher": "dpkg-matcher"}],
        "artifact": {
            "name": "libssl",
            "version": "1.2.3",
            "locations": [
                {"path": "/var/lib/dpkg/status.d/libssl"},
                {"path": "/usr/share/doc/libssl/copyright"},
            ],
        },
    }


def grype_report(*matches: dict[str, Any], **fields: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "matches": list(matches),
        "source": {
            "type": "image",
            "target": {
                "userInput": "redis:7.2",
                "repoDigests": [f"docker.io/library/redis@{DIGEST}"],
                "manifestDigest": "sha256:" + "e" * 64,
            },
        },
        "distro": {"name": "debian", "version": "12"},
        "descriptor": {"name": "grype", "version": "0.97.1", "timestamp": "2025-09-15T17:21:04Z"},
    }
    report.update(fields)
    return report


def cyclonedx_report(*vulnerabilities: dict[str, Any], **fields: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "metadata": {
            "timestamp": "2025-01-01T00:00:00Z",
            "tools": {"components": [{"type": "application", "name": "trivy", "version": "0.60.0"}]},
            "component": {
                "type": "container",
                "name": "app.tar",
                "properties": [
                    {"name": "aquasecurity:trivy:RepoTag", "value": "ghcr.io/org/app:1.0"},
                    {"name": "aquasecurity:trivy:RepoDigest", "value": f"ghcr.io/org/app@{DIGEST}"},
                ],
            },
        },
        "components": [
            {
                "bom-ref": "os",
                "type": "operating-system",
                "name": "debian",
                "components": [{"bom-ref": "pkg:deb/debian/bash@5.0-4", "name": "bash", "version": "5.0-4"}],
            }
        ],
        "vulnerabilities": list(vulnerabilities),
    }
    report.update(fields)
    return report


def cyclonedx_vulnerability(vulnerability_id: str = "CVE-2024-0003", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": vulnerability_id,
        "ratings": [
            {"source": {"name": "ubuntu"}, "severity": "medium"},
            {"source": {"name": "nvd"}, "score": 9.8, "severity": "critical", "method": "CVSSv31"},
            {"source": {"name": "redhat"}, "score": 5.6, "severity": "medium", "method": "CVSSv3"},
        ],
        "recommendation": "Upgrade bash to version 5.0-4+deb10u1",
        "affects": [{"ref": "pkg:deb/debian/bash@5.0-4"}],
    }
    entry.update(fields)
    return entry


# --- Trivy ------------------------------------------------------------------------------------------


def test_trivy_vulnerability_fields_are_mapped() -> None:
    # Given a SchemaVersion 2 report with one vulnerability
    report = parse_report(trivy_report(os_result(trivy_vulnerability())))
    # Then the finding carries Trivy's fields, the highest v3 score across sources and the Status
    assert report.format == "trivy"
    assert (report.scanner, report.scanner_version, report.created_at) == (
        "trivy",
        "0.72.0",
        "2025-01-02T03:04:05Z",
    )
    assert report.findings == [
        Finding(
            kind=FindingKind.VULNERABILITY,
            finding_id="CVE-2024-0001",
            severity=Severity.HIGH,
            title="openssl: something bad",
            package="openssl",
            installed_version="1.1.1k-r0",
            fixed_version="1.1.1l-r0",
            location="alpine:3.10 (alpine 3.10.9)",
            cvss_score=8.1,
            fix_state="fixed",
        )
    ]


def test_trivy_location_joins_target_and_package_path() -> None:
    result = {"Target": "Java", "Vulnerabilities": [trivy_vulnerability(PkgPath="app/lib/catalina.jar")]}
    [finding] = parse_report(trivy_report(result)).findings
    assert finding.location == "Java:app/lib/catalina.jar"


def test_trivy_empty_fixed_version_means_no_fix() -> None:
    vulnerability = trivy_vulnerability(FixedVersion="", Status="affected")
    [finding] = parse_report(trivy_report(os_result(vulnerability))).findings
    assert finding.fixed_version is None
    assert not finding.fixable


@pytest.mark.parametrize(
    ("cvss", "expected"),
    [
        ({"ghsa": {"V40Score": 6.3}, "redhat": {"V3Score": 5.3}}, 5.3),
        ({"ghsa": {"V40Score": 6.3, "V2Score": 9.0}}, 6.3),
        ({"nvd": {"V2Score": 5}}, 5.0),
        ({}, None),
    ],
    ids=["v3 wins over v4", "v4 when no v3", "v2 last", "none"],
)
def test_trivy_cvss_score_prefers_v3_then_v4_then_v2(cvss: dict[str, Any], expected: float | None) -> None:
    [finding] = parse_report(trivy_report(os_result(trivy_vulnerability(CVSS=cvss)))).findings
    assert finding.cvss_score == expected


def test_a_score_too_large_to_represent_is_invalid_naming_its_path() -> None:
    # `"V3Score": 1e999999` is valid JSON that json.loads turns into infinity.
    document = json.loads(
        json.dumps(trivy_report(os_result(trivy_vulnerability(CVSS={"nvd": {"V3Score": 1.0}})))).replace(
            '"V3Score": 1.0', '"V3Score": 1e999999'
        )
    )
    with pytest.raises(InvalidInput) as refused:
        parse_report(document)
    assert "Results[0].Vulnerabilities[0].CVSS.nvd.V3Score" in refused.value.message
    assert "finite" in refused.value.message


def test_trivy_secrets_and_failed_misconfigurations_only() -> None:
    # Given a secret, one failed check, one passed check and one check without Status
    secrets = {
        "Target": "app/.env",
        "Class": "secret",
        "Secrets": [
            {
                "RuleID": "aws-access-key-id",
                "Severity": "CRITICAL",
                "Title": "AWS Access Key ID",
                "StartLine": 3,
            }
        ],
    }
    misconfigurations = {
        "Target": "main.tf",
        "Class": "config",
        "Misconfigurations": [
            {
                "ID": "AWS-0086",
                "Status": "FAIL",
                "Severity": "HIGH",
                "Title": "S3 Access block should block public ACL",
                "CauseMetadata": {"Resource": "aws_s3_bucket.bucket", "StartLine": 8},
            },
            {"ID": "AWS-0087", "Status": "PASS", "Severity": "HIGH"},
            {"AVDID": "AVD-DS-0002", "Severity": "LOW"},
        ],
    }
    # When parsed
    report = parse_report(trivy_report(secrets, misconfigurations))
    # Then the secret is sensitive data, the failure and the status-less check are misconfigurations
    assert [(f.kind, f.finding_id, f.location, f.detail, f.severity) for f in report.findings] == [
        (FindingKind.SENSITIVE_DATA, "aws-access-key-id", "app/.env", "3", Severity.CRITICAL),
        (FindingKind.MISCONFIGURATION, "AWS-0086", "main.tf", "aws_s3_bucket.bucket:8", Severity.HIGH),
        (FindingKind.MISCONFIGURATION, "AVD-DS-0002", "main.tf", None, Severity.LOW),
    ]
    assert report.counts.sensitive_data == 1
    assert report.counts.misconfigurations == 2


def test_trivy_suppressed_findings_licenses_and_packages_are_ignored() -> None:
    result = os_result(trivy_vulnerability())
    result["ExperimentalModifiedFindings"] = [
        {"Type": "vulnerability", "Status": "ignored", "Finding": trivy_vulnerability("CVE-2024-9999")}
    ]
    result["Licenses"] = [{"Severity": "HIGH", "Name": "GPL-3.0"}]
    result["Packages"] = [{"Name": "openssl", "Version": "1.1.1k-r0"}]
    report = parse_report(trivy_report(result))
    assert [f.finding_id for f in report.findings] == ["CVE-2024-0001"]


def test_trivy_results_may_be_absent_or_clean() -> None:
    report = parse_report(trivy_report(**{"Results": None}))
    assert report.findings == []
    clean = parse_report(trivy_report({"Target": "alpine:3.10 (alpine 3.10.9)", "Class": "os-pkgs"}))
    assert clean.findings == []


def test_trivy_image_comes_from_repo_tags_and_digests() -> None:
    # Given a scanned tarball whose metadata names the image
    report = parse_report(
        trivy_report(
            ArtifactName="testdata/alpine-310.tar.gz",
            Metadata={
                "RepoTags": ["ghcr.io/org/alpine:3.10"],
                "RepoDigests": [f"ghcr.io/org/alpine@{DIGEST}"],
            },
        )
    )
    assert report.image == ImageRef("ghcr.io", "org/alpine", "3.10", DIGEST)


def test_trivy_image_falls_back_to_the_artifact_name() -> None:
    assert parse_report(trivy_report()).image == ImageRef("docker.io", "library/alpine", "3.10", None)


@pytest.mark.parametrize(
    "fields",
    [
        {"ArtifactName": "testdata/fixtures/images/alpine-310.tar.gz"},
        {"ArtifactName": "/tmp/image.tar"},
        {"ArtifactName": ".", "ArtifactType": "filesystem"},
        {"ArtifactName": "https://github.com/org/repo", "ArtifactType": "repository"},
        {"ArtifactName": "Not A Name"},
    ],
)
def test_trivy_without_a_usable_image_name_has_no_image(fields: dict[str, Any]) -> None:
    assert parse_report(trivy_report(**fields)).image is None


def test_trivy_legacy_null_is_an_empty_report() -> None:
    report = parse_report(None)
    assert (report.format, report.scanner, report.image, report.findings) == (
        "trivy-legacy",
        "trivy",
        None,
        [],
    )


def test_trivy_legacy_list_is_the_results_array() -> None:
    # Given a pre-0.20 report: a list of results, the artifact only in the first Target
    document = [
        {"Target": "debian (debian 10.8)", "Type": "debian", "Vulnerabilities": [trivy_vulnerability()]},
        {"Target": "app/requirements.txt", "Type": "pip", "Vulnerabilities": None},
    ]
    report = parse_report(document)
    assert report.format == "trivy-legacy"
    assert [f.finding_id for f in report.findings] == ["CVE-2024-0001"]
    assert report.image == ImageRef("docker.io", "library/debian", "latest", None)


def test_trivy_legacy_tarball_target_names_no_image() -> None:
    document = [
        {"Target": "testdata/fixtures/images/centos-7.tar.gz (centos 7.6.1810)", "Vulnerabilities": []}
    ]
    assert parse_report(document).image is None


# --- Grype ------------------------------------------------------------------------------------------


def test_grype_match_fields_are_mapped() -> None:
    report = parse_report(grype_report(grype_match()))
    assert report.format == "grype"
    assert (report.scanner, report.scanner_version, report.created_at) == (
        "grype",
        "0.97.1",
        "2025-09-15T17:21:04Z",
    )
    assert report.findings == [
        Finding(
            kind=FindingKind.VULNERABILITY,
            finding_id="CVE-2024-0002",
            severity=Severity.CRITICAL,
            package="libssl",
            installed_version="1.2.3",
            fixed_version="1.2.4",
            location="/usr/share/doc/libssl/copyright, /var/lib/dpkg/status.d/libssl",
            cvss_score=9.8,
            fix_state="fixed",
        )
    ]


@pytest.mark.parametrize(
    ("fix", "expected"),
    [
        ({"versions": ["2.0", "1.9.1"], "state": "fixed"}, "2.0, 1.9.1"),
        ({"versions": ["2.0"], "state": "wont-fix"}, None),
        ({"versions": [], "state": "not-fixed"}, None),
        ({"versions": [], "state": ""}, None),
        ({"versions": [], "state": "fixed"}, None),
    ],
)
def test_grype_fixed_version_is_set_only_when_state_is_fixed(
    fix: dict[str, Any], expected: str | None
) -> None:
    [finding] = parse_report(grype_report(grype_match(fix=fix))).findings
    assert finding.fixed_version == expected
    assert finding.fix_state == (fix["state"] or None)


def test_grype_0_7_states_a_fix_with_fixed_in_version() -> None:
    match = grype_match(
        fixedInVersion="4.19.171-2", cvss=None, cvssV2={"baseScore": 4.3}, cvssV3={"baseScore": 6.1}
    )
    del match["vulnerability"]["fix"]
    [finding] = parse_report(grype_report(match)).findings
    assert (finding.fixed_version, finding.fix_state, finding.cvss_score) == ("4.19.171-2", None, 6.1)


def test_grype_missing_severity_is_unknown() -> None:
    match = grype_match()
    del match["vulnerability"]["severity"]
    report = parse_report(grype_report(match))
    assert report.findings[0].severity is Severity.UNKNOWN
    assert report.counts.vulnerabilities["unknown"] == 1


def test_grype_nul_characters_are_stripped_from_versions() -> None:
    match = grype_match(fix={"versions": ["2.17.1\x00"], "state": "fixed"})
    match["artifact"]["version"] = "2.14.0\x00\x00"
    [finding] = parse_report(grype_report(match)).findings
    assert (finding.installed_version, finding.fixed_version) == ("2.14.0", "2.17.1")


def test_grype_ignored_matches_are_not_findings() -> None:
    report = parse_report(grype_report(grype_match(), ignoredMatches=[grype_match("CVE-2024-9999")]))
    assert [f.finding_id for f in report.findings] == ["CVE-2024-0002"]


def test_grype_image_from_user_input_and_repo_digest() -> None:
    assert parse_report(grype_report()).image == ImageRef("docker.io", "library/redis", "7.2", DIGEST)


def test_grype_local_manifest_digest_is_not_the_image_digest() -> None:
    # Given an image never pushed: no repoDigests, only the local platform manifest's digest
    document = grype_report()
    document["source"]["target"]["repoDigests"] = []
    # Then the image is identified by its tag, as Trivy's report of the same image would be
    assert parse_report(document).image == ImageRef("docker.io", "library/redis", "7.2", None)


def test_grype_source_scheme_is_not_part_of_the_name() -> None:
    document = grype_report()
    document["source"]["target"]["userInput"] = "registry:ghcr.io/org/app:1.0"
    assert parse_report(document).image == ImageRef("ghcr.io", "org/app", "1.0", DIGEST)


@pytest.mark.parametrize(
    "source",
    [
        {"type": "directory", "target": "."},
        {"type": "image", "target": {"userInput": "docker-archive:/tmp/app.tar"}},
        {"type": "image", "target": {"userInput": "REDACTED", "repoDigests": ["REDACTED"]}},
        {"type": "sbom-file", "target": {"userInput": "sbom.json"}},
    ],
)
def test_grype_without_a_usable_image_name_has_no_image(source: dict[str, Any]) -> None:
    assert parse_report(grype_report(source=source)).image is None


# --- CycloneDX --------------------------------------------------------------------------------------


def test_cyclonedx_takes_the_highest_rating_and_score() -> None:
    report = parse_report(cyclonedx_report(cyclonedx_vulnerability()))
    assert report.format == "cyclonedx"
    assert (report.scanner, report.scanner_version, report.created_at) == (
        "trivy",
        "0.60.0",
        "2025-01-01T00:00:00Z",
    )
    assert report.findings == [
        Finding(
            kind=FindingKind.VULNERABILITY,
            finding_id="CVE-2024-0003",
            severity=Severity.CRITICAL,
            package="bash",
            installed_version="5.0-4",
            fixed_version="5.0-4+deb10u1",
            location="pkg:deb/debian/bash@5.0-4",
            cvss_score=9.8,
        )
    ]


@pytest.mark.parametrize(
    ("ratings", "expected"),
    [
        ([{"severity": "info"}, {"severity": "none"}], Severity.NEGLIGIBLE),
        ([{"severity": "unknown"}, {"severity": "low"}], Severity.LOW),
        ([], Severity.UNKNOWN),
    ],
)
def test_cyclonedx_severity_words(ratings: list[dict[str, Any]], expected: Severity) -> None:
    [finding] = parse_report(cyclonedx_report(cyclonedx_vulnerability(ratings=ratings))).findings
    assert finding.severity is expected
    assert finding.cvss_score is None


def test_cyclonedx_gives_one_finding_per_affected_component() -> None:
    # Given a vulnerability affecting a known component and one known only by its PURL
    vulnerability = cyclonedx_vulnerability(
        affects=[{"ref": "pkg:deb/debian/bash@5.0-4"}, {"ref": "pkg:npm/%40scope/left-pad@1.3.0?x=y#sub"}],
        recommendation=None,
    )
    findings = parse_report(cyclonedx_report(vulnerability)).findings
    assert [(f.package, f.installed_version, f.fixed_version) for f in findings] == [
        ("bash", "5.0-4", None),
        ("left-pad", "1.3.0", None),
    ]


def test_cyclonedx_vulnerability_without_affects_is_kept() -> None:
    [finding] = parse_report(cyclonedx_report(cyclonedx_vulnerability(affects=[]))).findings
    assert (finding.finding_id, finding.package, finding.location) == ("CVE-2024-0003", None, None)


def test_cyclonedx_without_vulnerabilities_has_no_findings() -> None:
    document = cyclonedx_report()
    del document["vulnerabilities"]
    assert parse_report(document).findings == []


def test_cyclonedx_trivy_image_from_repo_tag_properties() -> None:
    assert parse_report(cyclonedx_report()).image == ImageRef("ghcr.io", "org/app", "1.0", DIGEST)


def test_cyclonedx_grype_image_from_name_and_version_with_1_4_tools_list() -> None:
    metadata = {
        "tools": [{"vendor": "anchore", "name": "grype", "version": "0.59.1"}],
        "component": {"type": "container", "name": "example/example:dev", "version": DIGEST},
    }
    report = parse_report(cyclonedx_report(metadata=metadata))
    assert (report.scanner, report.scanner_version) == ("grype", "0.59.1")
    assert report.image == ImageRef("docker.io", "example/example", "dev", DIGEST)


def test_cyclonedx_of_a_tarball_or_a_library_has_no_image() -> None:
    tarball = {"component": {"type": "container", "name": "images/app.tar.gz"}}
    library = {"component": {"type": "application", "name": "my-app"}}
    assert parse_report(cyclonedx_report(metadata=tarball)).image is None
    assert parse_report(cyclonedx_report(metadata=library)).image is None


# --- duplicates -------------------------------------------------------------------------------------


def test_duplicates_by_identity_collapse_to_the_first() -> None:
    # Given the same vulnerability twice in one place and once elsewhere
    first = trivy_vulnerability(Title="first")
    again = trivy_vulnerability(Title="again")
    elsewhere = {"Target": "other (alpine 3.10.9)", "Vulnerabilities": [trivy_vulnerability()]}
    report = parse_report(trivy_report(os_result(first, again), elsewhere))
    # Then one finding per identity remains, the first seen
    assert [(f.location, f.title) for f in report.findings] == [
        ("alpine:3.10 (alpine 3.10.9)", "first"),
        ("other (alpine 3.10.9)", "openssl: something bad"),
    ]
    assert report.counts.vulnerabilities["high"] == 2


def test_grype_duplicate_matches_collapse() -> None:
    report = parse_report(grype_report(grype_match(), grype_match(), grype_match("CVE-2024-0004")))
    assert [f.finding_id for f in report.findings] == ["CVE-2024-0002", "CVE-2024-0004"]


# --- format recognition -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"SchemaVersion": 3, "Results": []}, "Trivy JSON SchemaVersion 3 is not supported"),
        ({"SchemaVersion": "2", "Results": []}, 'Trivy JSON SchemaVersion "2" is not supported'),
        (
            {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "alpine:3.19", "packages": []},
            "SPDX documents are not supported",
        ),
        (
            {"spdxVersion": "SPDX-2.2", "SPDXID": "SPDXRef-DOCUMENT", "relationships": []},
            "SPDX documents are not supported",
        ),
        ([{"vulnerabilities": [], "ok": True}], "Snyk reports are not supported"),
        (
            # Kubernetes-looking keys do not make an SPDX document a Trivy Operator resource.
            {"spdxVersion": "SPDX-2.3", "apiVersion": "spdx.example.com/v1", "kind": "SBOM"},
            "SPDX documents are not supported",
        ),
        (
            {"spdxVersion": "SPDX-2.3", "apiVersion": "v1", "kind": "List"},
            "SPDX documents are not supported",
        ),
        ({"spdxVersion": "SPDX-2.3", "bomFormat": "SPDX"}, "SPDX documents are not supported"),
        ({"spdxVersion": "SPDX-2.3"}, "SPDX documents are not supported"),
    ],
)
def test_recognized_unsupported_formats_are_named(document: Any, named: str) -> None:
    with pytest.raises(UnsupportedFormat) as raised:
        parse_report(document)
    assert named in raised.value.message
    assert SUPPORTED_TEXT in raised.value.message


@pytest.mark.parametrize(
    ("document", "report_format", "scanner"),
    [
        (
            {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}, "results": []}]},
            "sarif",
            "trivy",
        ),
        ({"vulnerabilities": [], "ok": True, "packageManager": "deb"}, "snyk", "snyk"),
        ({"image": "ubuntu", "unapproved": [], "vulnerabilities": []}, "clair", "clair-scanner"),
        ({"LayerCount": 9, "Vulnerabilities": {}}, "clair", "klar"),
        (
            {"application/vnd.security.vulnerability.report; version=1.1": {"vulnerabilities": []}},
            "harbor",
            None,
        ),
        ({"version": "15.0.7", "vulnerabilities": [], "remediations": []}, "gitlab", None),
    ],
)
def test_formats_sniffed_by_their_own_module_are_read(
    document: Any, report_format: str, scanner: Any
) -> None:
    report = parse_report(document)
    assert (report.format, report.scanner, report.findings) == (report_format, scanner, [])


def test_a_broken_document_of_a_sniffed_format_names_the_path() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_report({"version": "2.1.0", "runs": "odd"})
    assert raised.value.message == "runs: expected a list, got a string"


@pytest.mark.parametrize(
    "document",
    [{"hello": "world"}, {}, [], [1, 2], ["Target"], 42, "a string", True, 1.5],
    ids=[
        "object",
        "empty object",
        "empty list",
        "numbers",
        "strings",
        "number",
        "string",
        "boolean",
        "float",
    ],
)
def test_anything_else_is_unsupported_and_lists_the_supported_formats(document: Any) -> None:
    with pytest.raises(UnsupportedFormat) as raised:
        parse_report(document)
    assert raised.value.message.endswith(
        "Supported formats: Trivy JSON (SchemaVersion 2 or the legacy pre-0.20 list), Grype JSON, "
        "CycloneDX JSON with vulnerabilities, SARIF 2.1.0 (Trivy, Grype, Docker Scout, Snyk), Snyk JSON, "
        "Clair (clair-scanner, klar, Clair v4), Harbor scanner-adapter reports, GitLab container-scanning "
        "reports, Trivy Operator resources (vulnerability, exposed-secret, config-audit, RBAC and infra "
        "assessment reports; one resource, a List, an array or lists keyed by resource), Trivy Kubernetes "
        "reports (trivy k8s)."
    )


# --- reports of many subjects -----------------------------------------------------------------------


OPERATOR_API_VERSION = "aquasecurity.github.io/v1alpha1"


def config_audit_report(name: str = "app-5d8f", *checks: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": OPERATOR_API_VERSION,
        "kind": "ConfigAuditReport",
        "metadata": {
            "name": f"replicaset-{name}",
            "namespace": "shop",
            "labels": {
                "trivy-operator.resource.kind": "ReplicaSet",
                "trivy-operator.resource.name": name,
                "trivy-operator.resource.namespace": "shop",
            },
        },
        "report": {"checks": list(checks), "scanner": {"name": "Trivy", "version": "0.50.1"}},
    }


def test_single_subject_formats_give_one_report_as_parse_report_does() -> None:
    for document in (trivy_report(os_result(trivy_vulnerability())), grype_report(grype_match()), None):
        assert parse_reports(document) == [parse_report(document)]
    # The caller names the image of a report that names none.
    [report] = parse_reports(trivy_report(ArtifactName="/tmp/image.tar"))
    assert report.image is None


def test_trivy_k8s_reports_are_read_before_their_schema_version() -> None:
    resource = {"Namespace": "shop", "Kind": "Service", "Name": "web", "Results": []}
    document = {"ClusterName": "prod", "SchemaVersion": 2, "Resources": [resource]}
    [report] = parse_reports(document)
    assert (report.format, report.image) == (
        "trivy-k8s",
        ImageRef("k8s://prod", "shop/service/web", None, None),
    )
    # One subject: parse_report reads it too.
    assert parse_report(document) == report


def test_a_config_audit_report_is_a_workload_subject() -> None:
    check = {"checkID": "KSV001", "severity": "MEDIUM", "title": "Privilege escalation", "success": False}
    report = parse_report(
        config_audit_report("app-5d8f", check, {**check, "checkID": "KSV002", "success": True})
    )
    assert report.format == "trivy-operator"
    assert report.image == ImageRef("k8s://default", "shop/replicaset/app-5d8f", None, None)
    assert [(f.kind, f.finding_id, f.location) for f in report.findings] == [
        (FindingKind.MISCONFIGURATION, "KSV001", "ReplicaSet/app-5d8f")
    ]


def test_every_subject_of_a_multi_subject_report_is_deduplicated_and_named() -> None:
    check = {"checkID": "KSV001", "severity": "MEDIUM", "success": False}
    document = [
        config_audit_report("a", check, check),
        config_audit_report("b", check),
        config_audit_report("a", {**check, "checkID": "KSV003"}),
    ]
    reports = parse_reports(document)
    assert [
        (r.image.repository if r.image else None, [f.finding_id for f in r.findings]) for r in reports
    ] == [
        ("shop/replicaset/a", ["KSV001", "KSV003"]),
        ("shop/replicaset/b", ["KSV001"]),
    ]
    with pytest.raises(InvalidInput) as refused:
        parse_report(document)
    assert refused.value.message == (
        "the trivy-operator report covers 2 subjects (images or Kubernetes resources); only a report about "
        "one subject can be read as one"
    )
    assert not isinstance(refused.value, UnsupportedFormat)


@pytest.mark.parametrize(
    ("document", "message", "unsupported"),
    [
        ({"ClusterName": "", "Vulnerabilities": []}, "the trivy k8s report holds no resources", False),
        (
            {"vulnerabilityreports.aquasecurity.github.io": {"items": []}},
            "the object of resource lists holds no VulnerabilityReport",
            False,
        ),
        ({"apiVersion": "v1", "kind": "List", "items": []}, "the List holds no VulnerabilityReport", False),
        # Only kinds Riskgate does not read: a format it does not read.
        (
            [{"apiVersion": OPERATOR_API_VERSION, "kind": "SbomReport"}],
            "the array holds no VulnerabilityReport",
            True,
        ),
    ],
)
def test_multi_subject_documents_with_nothing_to_store_say_why(
    document: Any, message: str, unsupported: bool
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_reports(document)
    assert refused.value.message.startswith(message)
    assert "nothing to store" in refused.value.message
    assert isinstance(refused.value, UnsupportedFormat) is unsupported


def test_a_lone_surrogate_in_a_subject_of_many_is_invalid() -> None:
    # JSON's `\\ud800` escape decodes to a lone surrogate, in the second subject's check title here.
    check = {"checkID": "KSV001", "title": "open\ud800", "success": False}
    with pytest.raises(InvalidInput) as refused:
        parse_reports([config_audit_report("a"), config_audit_report("b", check)])
    assert refused.value.details[0]["path"] == "[1].report.checks[0].title"
    assert "surrogate" in refused.value.message


# --- broken structure -------------------------------------------------------------------------------


def test_missing_vulnerability_id_is_invalid_naming_the_path() -> None:
    # Given the sixth vulnerability of the third result has no VulnerabilityID
    results = [os_result(*(trivy_vulnerability(f"CVE-2024-{i}") for i in range(6))) for _ in range(3)]
    del results[2]["Vulnerabilities"][5]["VulnerabilityID"]
    with pytest.raises(InvalidInput) as raised:
        parse_report(trivy_report(*results))
    assert raised.value.message == "Results[2].Vulnerabilities[5]: missing VulnerabilityID"
    assert not isinstance(raised.value, UnsupportedFormat)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (trivy_report(**{"Results": "none"}), "Results: expected a list, got a string"),
        (
            trivy_report(os_result(trivy_vulnerability(), "CVE-1")),
            "Results[0].Vulnerabilities[1]: expected an object, got a string",
        ),
        (
            trivy_report(os_result(trivy_vulnerability(PkgName=7))),
            "Results[0].Vulnerabilities[0].PkgName: expected a string, got a number",
        ),
        (
            trivy_report(os_result(trivy_vulnerability(CVSS={"nvd": 7.5}))),
            "Results[0].Vulnerabilities[0].CVSS.nvd: expected an object, got a number",
        ),
        (
            trivy_report({"Target": "x", "Secrets": [{"Severity": "HIGH"}]}),
            "Results[0].Secrets[0]: missing RuleID",
        ),
        (
            trivy_report({"Target": "x", "Misconfigurations": [{"Status": "FAIL"}]}),
            "Results[0].Misconfigurations[0]: missing ID",
        ),
        (trivy_report(Trivy="0.72"), "Trivy: expected an object, got a string"),
        ([{"Target": "debian (debian 10)"}, None], "[1]: expected an object, got null"),
        (grype_report(**{"matches": {}}), "matches: expected a list, got an object"),
        (grype_report({"artifact": {"name": "x"}}), "matches[0].vulnerability: expected an object, got null"),
        (grype_report(grype_match(id="")), "matches[0].vulnerability: missing id"),
        (
            grype_report(grype_match(fix={"versions": "1.0", "state": "fixed"})),
            "matches[0].vulnerability.fix.versions: expected a list, got a string",
        ),
        (
            grype_report(grype_match(cvss=[{"metrics": {"baseScore": "9.8"}}])),
            "matches[0].vulnerability.cvss[0].metrics.baseScore: expected a number, got a string",
        ),
        (
            cyclonedx_report(cyclonedx_vulnerability(affects=[{}])),
            "vulnerabilities[0].affects[0]: missing ref",
        ),
        (
            cyclonedx_report(cyclonedx_vulnerability(ratings=[{"score": True}])),
            "vulnerabilities[0].ratings[0].score: expected a number, got a boolean",
        ),
        (
            cyclonedx_report(metadata={"tools": "trivy"}),
            "metadata.tools: expected a list or an object, got a string",
        ),
    ],
)
def test_broken_structure_of_a_supported_format_is_invalid_naming_the_path(
    document: Any, message: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_report(document)
    assert raised.value.message == message
    assert raised.value.details == [{"path": message.split(": ", 1)[0], "problem": message.split(": ", 1)[1]}]


@pytest.mark.parametrize(
    "document",
    [
        trivy_report(
            os_result(trivy_vulnerability(PkgPath="x/y")),
            {"Target": "t", "Secrets": [{"RuleID": "r", "StartLine": 1}]},
            {
                "Target": "t",
                "Misconfigurations": [{"ID": "c", "CauseMetadata": {"Resource": "r", "StartLine": 2}}],
            },
            Metadata={"RepoTags": ["a:1"], "RepoDigests": [f"a@{DIGEST}"]},
        ),
        [{"Target": "debian (debian 10)", "Vulnerabilities": [trivy_vulnerability()]}],
        grype_report(
            grype_match(),
            {
                **grype_match(),
                "vulnerability": {"id": "C", "fixedInVersion": "1", "cvssV2": {"baseScore": 1}},
            },
        ),
        cyclonedx_report(cyclonedx_vulnerability()),
    ],
    ids=["trivy", "trivy-legacy", "grype", "cyclonedx"],
)
def test_no_wrongly_typed_value_anywhere_escapes_as_a_crash(document: Any) -> None:
    # Given every value of a valid report replaced, one at a time, by values of every JSON type
    crashes = []
    for path in list(paths_of(document))[1:]:
        for value in WRONG_VALUES:
            # When parsed
            try:
                parse_report(replaced(document, path, value))
            except InvalidInput:
                pass
            except Exception as error:
                crashes.append((path, value, repr(error)))
    # Then each was accepted or refused as invalid input: never a KeyError, TypeError or other error
    assert crashes == []


def test_a_lone_surrogate_in_a_kept_string_is_invalid_naming_its_place() -> None:
    document = trivy_report(os_result(trivy_vulnerability(PkgName="open\ud800ssl")))
    with pytest.raises(InvalidInput) as refused:
        parse_report(document)
    assert "PkgName" in refused.value.message
    assert "surrogate" in refused.value.message


@pytest.mark.parametrize("score", [1e-300, -1.0, 10.5, 81.0])
def test_a_score_that_is_no_cvss_score_is_left_out(score: float) -> None:
    [finding] = parse_report(
        trivy_report(os_result(trivy_vulnerability(CVSS={"nvd": {"V3Score": score}})))
    ).findings
    assert finding.cvss_score is None
    assert finding.severity is Severity.HIGH
