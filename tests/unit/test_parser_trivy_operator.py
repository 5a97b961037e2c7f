"""Trivy Operator VulnerabilityReport / ExposedSecretReport objects: the real reports of ../shared and
built documents."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import FindingKind, Severity, dedupe
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers.trivy_operator import (
    looks_like_trivy_operator_image_report,
    parse_trivy_operator,
)
from tests.support.scanner_documents import fixtures_other_than, load, severities

OWN = [
    "trivy-operator/dd_vulnerabilityreport-nginx.json",
    "trivy-operator/dd_vulnerabilityreport-empty.json",
    "trivy-operator/dd_exposedsecretreport.json",
]
DIGEST = "sha256:" + "a" * 64
API_VERSION = "aquasecurity.github.io/v1alpha1"


# --- builders ---------------------------------------------------------------------------------------


def vulnerability(vulnerability_id: str = "CVE-2024-0001", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "vulnerabilityID": vulnerability_id,
        "resource": "openssl",
        "installedVersion": "3.0.1-r0",
        "fixedVersion": "3.0.2-r0",
        "severity": "HIGH",
        "title": "openssl: something bad",
        "primaryLink": "https://avd.aquasec.com/nvd/" + vulnerability_id.lower(),
        "links": [],
        "score": 7.5,
        "target": "",
    }
    entry.update(fields)
    return entry


def secret(rule_id: str = "aws-access-key-id", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ruleID": rule_id,
        "category": "AWS",
        "severity": "CRITICAL",
        "title": "AWS Access Key ID",
        "target": "app/.env",
        "match": "AWS_ACCESS_KEY_ID=AKIAREALLYSECRETVALUE",
    }
    entry.update(fields)
    return entry


def resource(kind: str = "VulnerabilityReport", **report_fields: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "artifact": {"repository": "team/app", "tag": "1.0"},
        "registry": {"server": "registry.example.com:5000"},
        "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.50.1"},
        "summary": {},
        "updateTimestamp": "2024-05-01T10:00:00Z",
    }
    report.update(report_fields)
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {
            "name": "replicaset-app-123-app",
            "namespace": "default",
            "creationTimestamp": "2024-04-30T09:00:00Z",
            "labels": {
                "trivy-operator.resource.kind": "ReplicaSet",
                "trivy-operator.resource.name": "app-123",
                "trivy-operator.resource.namespace": "default",
                "trivy-operator.container.name": "app",
            },
        },
        "report": report,
    }


# --- the real reports --------------------------------------------------------------------------------


def test_nginx_vulnerability_report_matches_the_readme() -> None:
    parsed = parse_trivy_operator(load("trivy-operator/dd_vulnerabilityreport-nginx.json"))
    assert parsed.format == "trivy-operator"
    assert parsed.scanner == "trivy"
    assert parsed.scanner_version == "0.38.2"
    assert parsed.created_at == "2023-03-23T16:23:01Z"
    assert parsed.image == ImageRef("docker.io", "library/nginx", "alpine", None)
    assert len(parsed.findings) == 41
    assert len(dedupe(parsed.findings)) == 41
    assert all(f.kind is FindingKind.VULNERABILITY for f in parsed.findings)
    assert severities(parsed.findings) == {"critical": 2, "high": 3, "medium": 25, "low": 11}
    fixable = sum(f.fixable for f in parsed.findings)
    assert (fixable, len(parsed.findings) - fixable) == (39, 2)
    first = parsed.findings[0]
    assert (first.finding_id, first.package, first.installed_version, first.fixed_version) == (
        "CVE-2023-23914",
        "curl",
        "7.87.0-r1",
        "7.87.0-r2",
    )
    assert first.cvss_score == 4.2
    assert first.title == "curl: HSTS ignored on multiple requests"
    # `target: ""` names no location.
    assert first.location is None


def test_empty_vulnerability_report_matches_the_readme() -> None:
    parsed = parse_trivy_operator(load("trivy-operator/dd_vulnerabilityreport-empty.json"))
    assert parsed.findings == []
    assert parsed.image == ImageRef("docker.io", "library/nginx", "alpine", None)
    assert parsed.scanner_version == "0.38.2"


def test_exposed_secret_report_matches_the_readme() -> None:
    document = load("trivy-operator/dd_exposedsecretreport.json")
    parsed = parse_trivy_operator(document)
    assert len(parsed.findings) == 2
    assert len(dedupe(parsed.findings)) == 2
    assert all(f.kind is FindingKind.SENSITIVE_DATA for f in parsed.findings)
    assert severities(parsed.findings) == {"critical": 2}
    assert [(f.finding_id, f.location) for f in parsed.findings] == [
        ("aws-secret-access-key", "root/aws_secret.txt"),
        ("github-pat", "root/github_secret.txt"),
    ]
    assert parsed.image == ImageRef("docker.io", "library/secret", "latest", None)
    assert parsed.created_at == "2023-03-24T08:34:18Z"


# --- sniffing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("relative", OWN)
def test_own_fixtures_are_recognized(relative: str) -> None:
    assert looks_like_trivy_operator_image_report(load(relative))


@pytest.mark.parametrize("relative", fixtures_other_than(OWN))
def test_other_fixtures_are_not_recognized(relative: str) -> None:
    assert not looks_like_trivy_operator_image_report(load(relative))


def test_multi_resource_documents_are_not_recognized() -> None:
    single = resource()
    assert looks_like_trivy_operator_image_report(single)
    assert not looks_like_trivy_operator_image_report([single])
    assert not looks_like_trivy_operator_image_report({"apiVersion": "v1", "kind": "List", "items": [single]})
    assert not looks_like_trivy_operator_image_report(
        {"vulnerabilityreports.aquasecurity.github.io": [single]}
    )
    assert not looks_like_trivy_operator_image_report({**single, "kind": "ConfigAuditReport"})
    assert not looks_like_trivy_operator_image_report({**single, "kind": "VulnerabilityReportList"})
    assert not looks_like_trivy_operator_image_report({**single, "apiVersion": "example.com/v1"})
    assert not looks_like_trivy_operator_image_report(None)


# --- fields ------------------------------------------------------------------------------------------


def test_severity_words_map_to_our_scale() -> None:
    words = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN", "bogus"]
    entries = [vulnerability(f"CVE-2024-000{i}", severity=word) for i, word in enumerate(words)]
    parsed = parse_trivy_operator(resource(vulnerabilities=[*entries, vulnerability("CVE-X", severity=None)]))
    assert [f.severity for f in parsed.findings] == [
        Severity.CRITICAL,
        Severity.HIGH,
        Severity.MEDIUM,
        Severity.LOW,
        Severity.NEGLIGIBLE,
        Severity.UNKNOWN,
        Severity.UNKNOWN,
        Severity.UNKNOWN,
    ]


def test_fixed_version_only_when_given() -> None:
    parsed = parse_trivy_operator(
        resource(
            vulnerabilities=[
                vulnerability("CVE-1"),
                vulnerability("CVE-2", fixedVersion=""),
                vulnerability("CVE-3", fixedVersion=None),
                {key: value for key, value in vulnerability("CVE-4").items() if key != "fixedVersion"},
            ]
        )
    )
    assert [f.fixed_version for f in parsed.findings] == ["3.0.2-r0", None, None, None]
    assert [f.fixable for f in parsed.findings] == [True, False, False, False]


def test_location_from_target_and_package_path() -> None:
    parsed = parse_trivy_operator(
        resource(
            vulnerabilities=[
                vulnerability("CVE-1", target="Java", packagePath="app/lib/log4j-core.jar"),
                vulnerability("CVE-1", target="Java", pkgPath="app/lib/other/log4j-core.jar"),
                vulnerability("CVE-2", target="app/package-lock.json"),
                vulnerability("CVE-3", target="", packagePath="usr/lib/x.jar"),
            ]
        )
    )
    assert [f.location for f in parsed.findings] == [
        "Java:app/lib/log4j-core.jar",
        "Java:app/lib/other/log4j-core.jar",
        "app/package-lock.json",
        "usr/lib/x.jar",
    ]
    # The same CVE in two jar files stays two findings.
    assert len(dedupe(parsed.findings)) == 4


def test_cvss_score_out_of_range_is_left_out() -> None:
    parsed = parse_trivy_operator(
        resource(vulnerabilities=[vulnerability("CVE-1", score=9.8), vulnerability("CVE-2", score=42)])
    )
    assert [f.cvss_score for f in parsed.findings] == [9.8, None]


def test_secret_match_text_is_never_kept() -> None:
    parsed = parse_trivy_operator(resource("ExposedSecretReport", secrets=[secret()]))
    (finding,) = parsed.findings
    assert finding.kind is FindingKind.SENSITIVE_DATA
    assert (finding.finding_id, finding.title, finding.location) == (
        "aws-access-key-id",
        "AWS Access Key ID",
        "app/.env",
    )
    assert "AKIAREALLYSECRETVALUE" not in repr(finding)


def test_each_kind_reads_its_own_list() -> None:
    both: dict[str, Any] = {"vulnerabilities": [vulnerability()], "secrets": [secret()]}
    vulnerabilities = parse_trivy_operator(resource(**both)).findings
    secrets = parse_trivy_operator(resource("ExposedSecretReport", **both)).findings
    assert [f.kind for f in vulnerabilities] == [FindingKind.VULNERABILITY]
    assert [f.kind for f in secrets] == [FindingKind.SENSITIVE_DATA]


def test_scanner_and_timestamps() -> None:
    parsed = parse_trivy_operator(resource())
    assert (parsed.scanner, parsed.scanner_version, parsed.created_at) == (
        "trivy",
        "0.50.1",
        "2024-05-01T10:00:00Z",
    )
    document = resource()
    del document["report"]["updateTimestamp"]
    del document["report"]["scanner"]
    parsed = parse_trivy_operator(document)
    assert (parsed.scanner, parsed.scanner_version, parsed.created_at) == (None, None, "2024-04-30T09:00:00Z")


# --- image -------------------------------------------------------------------------------------------


def test_image_from_registry_repository_tag_and_digest() -> None:
    parsed = parse_trivy_operator(resource())
    assert parsed.image == ImageRef("registry.example.com:5000", "team/app", "1.0", None)
    with_digest = parse_trivy_operator(
        resource(artifact={"repository": "team/app", "tag": "1.0", "digest": DIGEST})
    )
    assert with_digest.image == ImageRef("registry.example.com:5000", "team/app", "1.0", DIGEST)
    digest_only = parse_trivy_operator(resource(artifact={"repository": "team/app", "digest": DIGEST}))
    assert digest_only.image == ImageRef("registry.example.com:5000", "team/app", None, DIGEST)


def test_docker_hub_spellings_give_one_image() -> None:
    images = {
        parse_trivy_operator(
            resource(registry={"server": server}, artifact={"repository": repository, "tag": "alpine"})
        ).image
        for server, repository in [
            ("index.docker.io", "library/nginx"),
            ("docker.io", "nginx"),
            ("", "nginx"),
            ("registry-1.docker.io", "library/nginx"),
        ]
    }
    assert images == {ImageRef("docker.io", "library/nginx", "alpine", None)}
    untagged = parse_trivy_operator(resource(registry={}, artifact={"repository": "nginx"})).image
    assert untagged == ImageRef("docker.io", "library/nginx", "latest", None)


def test_bad_digest_keeps_the_tag_and_no_repository_means_no_image() -> None:
    bad_digest = parse_trivy_operator(
        resource(artifact={"repository": "team/app", "tag": "1.0", "digest": "sha256:zz"})
    )
    assert bad_digest.image == ImageRef("registry.example.com:5000", "team/app", "1.0", None)
    assert parse_trivy_operator(resource(artifact={})).image is None
    assert parse_trivy_operator(resource(artifact={"repository": "Not A Name"})).image is None


# --- broken structure --------------------------------------------------------------------------------


def _broken(document: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_trivy_operator(document)
    assert caught.value.details[0]["path"] == path


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d.__setitem__("report", []), "report"),
        (lambda d: d["report"].__setitem__("vulnerabilities", {}), "report.vulnerabilities"),
        (lambda d: d["report"]["vulnerabilities"].append("CVE-1"), "report.vulnerabilities[1]"),
        (
            lambda d: d["report"]["vulnerabilities"][0].__setitem__("resource", 1),
            "report.vulnerabilities[0].resource",
        ),
        (
            lambda d: d["report"]["vulnerabilities"][0].__setitem__("score", "9.8"),
            "report.vulnerabilities[0].score",
        ),
        (lambda d: d["report"]["vulnerabilities"][0].pop("vulnerabilityID"), "report.vulnerabilities[0]"),
        (lambda d: d["report"].__setitem__("artifact", "nginx"), "report.artifact"),
        (lambda d: d["report"]["artifact"].__setitem__("tag", 1), "report.artifact.tag"),
        (lambda d: d["report"].__setitem__("registry", {"server": []}), "report.registry.server"),
        (lambda d: d["report"].__setitem__("scanner", "Trivy"), "report.scanner"),
    ],
)
def test_broken_vulnerability_report_names_the_path(change: Any, path: str) -> None:
    document = resource(vulnerabilities=[vulnerability()])
    change(document)
    _broken(document, path)


def test_broken_secret_report_names_the_path() -> None:
    document = resource("ExposedSecretReport", secrets=[secret(match=["x"])])
    _broken(document, "report.secrets[0].match")
    document = resource("ExposedSecretReport", secrets=[secret(ruleID=None)])
    _broken(document, "report.secrets[0]")
    document = resource("ExposedSecretReport", secrets=[secret(), 5])
    _broken(document, "report.secrets[1]")


def test_absent_and_null_lists_are_nothing_there() -> None:
    fixture_like = resource(vulnerabilities=None)
    assert parse_trivy_operator(fixture_like).findings == []
    bare = copy.deepcopy(resource())
    del bare["report"]
    parsed = parse_trivy_operator(bare)
    assert (parsed.findings, parsed.image, parsed.scanner) == ([], None, None)
