"""Trivy Operator resources: the real reports of ../shared and built documents, one resource (image
reports and check reports about a workload) and many (List, array, lists keyed by resource)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import FindingKind, Severity, dedupe
from riskgate.domain.images import ImageRef, workload_ref
from riskgate.domain.parsers import ParsedReport, parse_report, parse_reports
from riskgate.domain.parsers.trivy_operator import looks_like_trivy_operator, parse_trivy_operator
from tests.support.scanner_documents import (
    WRONG_VALUES,
    fixtures_other_than,
    load,
    paths_of,
    replaced,
    severities,
)

OWN = [
    "trivy-operator/dd_vulnerabilityreport-nginx.json",
    "trivy-operator/dd_vulnerabilityreport-empty.json",
    "trivy-operator/dd_exposedsecretreport.json",
    "trivy-operator/dd_configauditreport.json",
    "trivy-operator/dd_all-reports-in-dict.json",
]
NGINX = "trivy-operator/dd_vulnerabilityreport-nginx.json"
SECRET = "trivy-operator/dd_exposedsecretreport.json"
CONFIG_AUDIT = "trivy-operator/dd_configauditreport.json"
ALL_IN_DICT = "trivy-operator/dd_all-reports-in-dict.json"
NGINX_IMAGE = ImageRef("docker.io", "library/nginx", "alpine", None)
SECRET_IMAGE = ImageRef("docker.io", "library/secret", "latest", None)
# Resources name no cluster: their workloads are in the default one until the API moves them.
NGINX_REPLICASET = ImageRef("k8s://default", "default/replicaset/nginx-deployment-965685897", None, None)
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


def parse_one(document: Any) -> ParsedReport:
    """The one subject of a document about one resource."""
    [report] = parse_trivy_operator(document)
    return report


def check(check_id: str = "KSV014", success: Any = False, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "category": "Kubernetes Security Check",
        "checkID": check_id,
        "description": "An immutable root file system prevents tampering.",
        "messages": ["Container 'app' of ReplicaSet 'app-123' should set 'readOnlyRootFilesystem'"],
        "severity": "LOW",
        "success": success,
        "title": "Root file system is not read-only",
    }
    entry.update(fields)
    return entry


def check_report(kind: str = "ConfigAuditReport", *checks: Any) -> dict[str, Any]:
    document = resource(kind, checks=list(checks))
    for key in ("artifact", "registry"):
        del document["report"][key]
    return document


def kubernetes_list(*items: Any, kind: str = "List", api_version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "items": list(items),
        "metadata": {"resourceVersion": ""},
    }


def subjects(reports: list[ParsedReport]) -> list[tuple[str | None, int, int, int]]:
    """(subject reference, vulnerabilities, secrets, misconfigurations) of each report."""
    return [
        (
            report.image.reference if report.image else None,
            sum(report.counts.vulnerabilities.values()),
            report.counts.sensitive_data,
            report.counts.misconfigurations,
        )
        for report in reports
    ]


# --- the real reports --------------------------------------------------------------------------------


def test_nginx_vulnerability_report_matches_the_readme() -> None:
    parsed = parse_one(load("trivy-operator/dd_vulnerabilityreport-nginx.json"))
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
    parsed = parse_one(load("trivy-operator/dd_vulnerabilityreport-empty.json"))
    assert parsed.findings == []
    assert parsed.image == ImageRef("docker.io", "library/nginx", "alpine", None)
    assert parsed.scanner_version == "0.38.2"


def test_exposed_secret_report_matches_the_readme() -> None:
    document = load("trivy-operator/dd_exposedsecretreport.json")
    parsed = parse_one(document)
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
    assert looks_like_trivy_operator(load(relative))


@pytest.mark.parametrize("relative", fixtures_other_than(OWN))
def test_other_fixtures_are_not_recognized(relative: str) -> None:
    assert not looks_like_trivy_operator(load(relative))


def test_every_shape_of_operator_resources_is_recognized() -> None:
    single = resource()
    assert looks_like_trivy_operator(single)
    assert looks_like_trivy_operator({**single, "kind": "ConfigAuditReport"})
    assert looks_like_trivy_operator({**single, "kind": "SbomReport"})
    assert looks_like_trivy_operator([single])
    assert looks_like_trivy_operator([{"apiVersion": "v1", "kind": "Pod"}, single])
    assert looks_like_trivy_operator(kubernetes_list(single))
    assert looks_like_trivy_operator(
        kubernetes_list(single, kind="VulnerabilityReportList", api_version=API_VERSION)
    )
    assert looks_like_trivy_operator(kubernetes_list(kind="VulnerabilityReportList", api_version=API_VERSION))
    # kubectl's answer when there is no resource of the kinds asked for.
    assert looks_like_trivy_operator(kubernetes_list())
    assert looks_like_trivy_operator({"vulnerabilityreports.aquasecurity.github.io": [single]})
    assert looks_like_trivy_operator({"sbomreports.aquasecurity.github.io": []})


def test_other_kubernetes_documents_are_not_recognized() -> None:
    single = resource()
    assert not looks_like_trivy_operator({**single, "apiVersion": "example.com/v1"})
    assert not looks_like_trivy_operator({**single, "apiVersion": "aquasecurity.github.io.example.com/v1"})
    assert not looks_like_trivy_operator(kubernetes_list({"apiVersion": "v1", "kind": "Pod"}))
    assert not looks_like_trivy_operator([{"apiVersion": "v1", "kind": "Pod"}])
    assert not looks_like_trivy_operator({"pods": [single]})
    documents: list[Any] = [None, [], {}, "VulnerabilityReport", 1, [None]]
    for document in documents:
        assert not looks_like_trivy_operator(document)


# --- fields ------------------------------------------------------------------------------------------


def test_severity_words_map_to_our_scale() -> None:
    words = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE", "UNKNOWN", "bogus"]
    entries = [vulnerability(f"CVE-2024-000{i}", severity=word) for i, word in enumerate(words)]
    parsed = parse_one(resource(vulnerabilities=[*entries, vulnerability("CVE-X", severity=None)]))
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
    parsed = parse_one(
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
    parsed = parse_one(
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
    parsed = parse_one(
        resource(vulnerabilities=[vulnerability("CVE-1", score=9.8), vulnerability("CVE-2", score=42)])
    )
    assert [f.cvss_score for f in parsed.findings] == [9.8, None]


def test_secret_match_text_is_never_kept() -> None:
    parsed = parse_one(resource("ExposedSecretReport", secrets=[secret()]))
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
    vulnerabilities = parse_one(resource(**both)).findings
    secrets = parse_one(resource("ExposedSecretReport", **both)).findings
    assert [f.kind for f in vulnerabilities] == [FindingKind.VULNERABILITY]
    assert [f.kind for f in secrets] == [FindingKind.SENSITIVE_DATA]


def test_scanner_and_timestamps() -> None:
    parsed = parse_one(resource())
    assert (parsed.scanner, parsed.scanner_version, parsed.created_at) == (
        "trivy",
        "0.50.1",
        "2024-05-01T10:00:00Z",
    )
    document = resource()
    del document["report"]["updateTimestamp"]
    del document["report"]["scanner"]
    parsed = parse_one(document)
    assert (parsed.scanner, parsed.scanner_version, parsed.created_at) == (None, None, "2024-04-30T09:00:00Z")


# --- image -------------------------------------------------------------------------------------------


def test_image_from_registry_repository_tag_and_digest() -> None:
    parsed = parse_one(resource())
    assert parsed.image == ImageRef("registry.example.com:5000", "team/app", "1.0", None)
    with_digest = parse_one(resource(artifact={"repository": "team/app", "tag": "1.0", "digest": DIGEST}))
    assert with_digest.image == ImageRef("registry.example.com:5000", "team/app", "1.0", DIGEST)
    digest_only = parse_one(resource(artifact={"repository": "team/app", "digest": DIGEST}))
    assert digest_only.image == ImageRef("registry.example.com:5000", "team/app", None, DIGEST)


def test_docker_hub_spellings_give_one_image() -> None:
    images = {
        parse_one(
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
    untagged = parse_one(resource(registry={}, artifact={"repository": "nginx"})).image
    assert untagged == ImageRef("docker.io", "library/nginx", "latest", None)


def test_bad_digest_keeps_the_tag_and_no_repository_means_the_workload() -> None:
    bad_digest = parse_one(resource(artifact={"repository": "team/app", "tag": "1.0", "digest": "sha256:zz"}))
    assert bad_digest.image == ImageRef("registry.example.com:5000", "team/app", "1.0", None)
    # Without a usable image the findings stay on the workload the report was made for (its labels).
    workload = ImageRef("k8s://default", "default/replicaset/app-123", None, None)
    no_repository = parse_one(resource(artifact={}, vulnerabilities=[vulnerability()]))
    assert no_repository.image == workload
    assert [f.finding_id for f in no_repository.findings] == ["CVE-2024-0001"]
    assert parse_one(resource(artifact={"repository": "Not A Name"})).image == workload


# --- broken structure --------------------------------------------------------------------------------


def _broken(document: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_one(document)
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
    assert parse_one(fixture_like).findings == []
    bare = copy.deepcopy(resource())
    del bare["report"]
    parsed = parse_one(bare)
    workload = ImageRef("k8s://default", "default/replicaset/app-123", None, None)
    assert (parsed.findings, parsed.image, parsed.scanner) == ([], workload, None)
    assert parse_one(check_report("ConfigAuditReport")).findings == []


# --- check reports: a workload's misconfigurations -----------------------------------------------------


def test_config_audit_report_is_one_workload_with_its_failed_checks() -> None:
    [parsed] = parse_trivy_operator(load(CONFIG_AUDIT))
    assert parsed.image == NGINX_REPLICASET
    assert parsed.image == workload_ref(None, "default", "ReplicaSet", "nginx-deployment-965685897")
    assert (parsed.format, parsed.scanner, parsed.scanner_version, parsed.created_at) == (
        "trivy-operator",
        "trivy",
        "dev",
        "2023-03-23T16:22:54Z",
    )
    assert len(parsed.findings) == 13
    assert all(f.kind is FindingKind.MISCONFIGURATION for f in parsed.findings)
    assert severities(parsed.findings) == {"medium": 2, "low": 11}
    first = parsed.findings[0]
    assert (first.finding_id, first.title, first.location, first.detail) == (
        "KSV014",
        "Root file system is not read-only",
        "ReplicaSet/nginx-deployment-965685897",
        None,
    )


def test_passed_checks_are_not_findings_and_a_check_without_success_failed() -> None:
    document = check_report(
        "ConfigAuditReport",
        check("KSV001"),
        check("KSV002", success=True),
        check("KSV003", success=None),
        {key: value for key, value in check("KSV004").items() if key != "success"},
    )
    assert [f.finding_id for f in parse_one(document).findings] == ["KSV001", "KSV003", "KSV004"]


@pytest.mark.parametrize(
    "kind",
    [
        "ConfigAuditReport",
        "ClusterConfigAuditReport",
        "RbacAssessmentReport",
        "ClusterRbacAssessmentReport",
        "InfraAssessmentReport",
        "ClusterInfraAssessmentReport",
    ],
)
def test_every_check_report_kind_reads_its_checks(kind: str) -> None:
    parsed = parse_one(check_report(kind, check("KSV014", severity="HIGH")))
    [finding] = parsed.findings
    assert (finding.kind, finding.finding_id, finding.severity) == (
        FindingKind.MISCONFIGURATION,
        "KSV014",
        Severity.HIGH,
    )
    assert parsed.image == ImageRef("k8s://default", "default/replicaset/app-123", None, None)


def test_the_workload_is_named_by_labels_then_owner_then_the_report_itself() -> None:
    document = check_report("ConfigAuditReport", check())
    metadata = document["metadata"]
    metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"}]
    assert parse_one(document).image == ImageRef("k8s://default", "default/replicaset/app-123", None, None)
    del metadata["labels"]
    owned = parse_one(document)
    assert owned.image == ImageRef("k8s://default", "default/deployment/app", None, None)
    assert owned.findings[0].location == "Deployment/app"
    del metadata["ownerReferences"]
    own = parse_one(document)
    assert own.image == ImageRef(
        "k8s://default", "default/configauditreport/replicaset-app-123-app", None, None
    )


def test_cluster_scoped_resources_have_no_namespace() -> None:
    document = check_report("ClusterRbacAssessmentReport", check("KSV041"))
    document["metadata"] = {
        "name": "clusterrole-admin",
        "labels": {"trivy-operator.resource.kind": "ClusterRole", "trivy-operator.resource.name": "admin"},
    }
    assert parse_one(document).image == ImageRef("k8s://default", "_cluster/clusterrole/admin", None, None)


def test_a_workload_without_any_name_is_invalid_naming_the_metadata() -> None:
    document = check_report("ConfigAuditReport", check())
    document["metadata"] = {"namespace": "default"}
    with pytest.raises(InvalidInput) as refused:
        parse_trivy_operator(document)
    assert refused.value.details[0]["path"] == "metadata"
    assert "missing name" in refused.value.message


def test_broken_check_report_names_the_path() -> None:
    _broken(check_report("ConfigAuditReport", check(success="false")), "report.checks[0].success")
    _broken(check_report("ConfigAuditReport", check(checkID=None)), "report.checks[0]")
    _broken(check_report("ConfigAuditReport", check(), "KSV001"), "report.checks[1]")
    _broken(check_report("ConfigAuditReport", check(title=["x"])), "report.checks[0].title")
    document = check_report("ConfigAuditReport", check())
    document["metadata"]["labels"]["trivy-operator.resource.kind"] = 3
    _broken(document, "metadata.labels.trivy-operator.resource.kind")
    document = check_report("ConfigAuditReport", check())
    del document["metadata"]["labels"]
    document["metadata"]["ownerReferences"] = {"kind": "Deployment"}
    _broken(document, "metadata.ownerReferences")


# --- many resources -------------------------------------------------------------------------------------


def test_all_reports_in_dict_gives_a_subject_per_image_and_workload() -> None:
    reports = parse_trivy_operator(load(ALL_IN_DICT))
    assert subjects(reports) == [
        (NGINX_REPLICASET.reference, 0, 0, 1),
        (SECRET_IMAGE.reference, 0, 1, 0),
        (NGINX_IMAGE.reference, 41, 0, 0),
    ]
    # Together they hold what its README row counts: 41 vulnerabilities, 1 secret, 1 misconfiguration.
    findings = [finding for report in reports for finding in report.findings]
    assert severities([f for f in findings if f.kind is FindingKind.VULNERABILITY]) == {
        "critical": 2,
        "high": 3,
        "medium": 25,
        "low": 11,
    }
    assert sum(f.fixable for f in findings) == 39
    assert [f.severity for f in findings if f.kind is not FindingKind.VULNERABILITY] == [
        Severity.LOW,
        Severity.CRITICAL,
    ]
    assert parse_reports(load(ALL_IN_DICT)) == reports


def _three_resources() -> list[Any]:
    return [load(NGINX), load(SECRET), load(CONFIG_AUDIT)]


EXPECTED_THREE = [
    (NGINX_IMAGE.reference, 41, 0, 0),
    (SECRET_IMAGE.reference, 0, 2, 0),
    (NGINX_REPLICASET.reference, 0, 0, 13),
]


@pytest.mark.parametrize(
    "shape",
    [
        lambda items: kubernetes_list(*items),
        lambda items: kubernetes_list(*items, kind="VulnerabilityReportList", api_version=API_VERSION),
        lambda items: items,
        lambda items: {
            "vulnerabilityreports.aquasecurity.github.io": [items[0]],
            "sbomreports.aquasecurity.github.io": [],
            "exposedsecretreports.aquasecurity.github.io": kubernetes_list(items[1]),
            "configauditreports.aquasecurity.github.io": [items[2]],
        },
    ],
    ids=["kind List", "VulnerabilityReportList", "array", "lists keyed by resource"],
)
def test_every_shape_gives_the_subjects_of_its_resources_in_order(shape: Any) -> None:
    document = shape(_three_resources())
    assert looks_like_trivy_operator(document)
    assert subjects(parse_trivy_operator(document)) == EXPECTED_THREE
    assert subjects(parse_reports(document)) == EXPECTED_THREE


def test_kinds_without_findings_and_other_resources_are_skipped() -> None:
    sbom = {**resource("SbomReport"), "report": {"components": {"components": []}}}
    compliance = {"apiVersion": API_VERSION, "kind": "ClusterComplianceReport", "status": {}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app"}}
    document = kubernetes_list(sbom, load(NGINX), compliance, pod)
    assert subjects(parse_trivy_operator(document)) == [(NGINX_IMAGE.reference, 41, 0, 0)]


def test_reports_of_one_image_are_merged_into_one_subject() -> None:
    # Given two workloads running nginx:alpine (two VulnerabilityReports) and a secret report of it
    nginx = load(NGINX)
    other_workload = copy.deepcopy(nginx)
    other_workload["metadata"]["name"] = "replicaset-other-123-nginx"
    other_workload["report"]["vulnerabilities"].append(vulnerability("CVE-2024-9999"))
    secrets = load(SECRET)
    secrets["report"]["artifact"] = {"repository": "library/nginx", "tag": "alpine"}
    document = kubernetes_list(nginx, other_workload, secrets, load(CONFIG_AUDIT))
    # When parsed
    reports = parse_reports(document)
    # Then the image is one subject: its findings once each, the other workload's new one, the secrets
    assert subjects(reports) == [(NGINX_IMAGE.reference, 42, 2, 0), (NGINX_REPLICASET.reference, 0, 0, 13)]
    assert reports[0].findings[41].finding_id == "CVE-2024-9999"
    assert (reports[0].scanner, reports[0].created_at) == ("trivy", "2023-03-23T16:23:01Z")
    # The parser itself gives one report per resource; parse_reports merges them.
    assert len(parse_trivy_operator(document)) == 4


def test_one_subject_in_a_list_is_a_report_parse_report_reads() -> None:
    report = parse_report(kubernetes_list(load(NGINX)))
    assert (report.image, len(report.findings)) == (NGINX_IMAGE, 41)


def test_parse_report_refuses_a_document_of_several_subjects() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_report(load(ALL_IN_DICT))
    assert refused.value.message.startswith(
        "the trivy-operator report covers 3 subjects (images or Kubernetes resources); "
    )


@pytest.mark.parametrize(
    ("document", "holds"),
    [
        (kubernetes_list(), "the List holds no VulnerabilityReport, ClusterVulnerabilityReport, "),
        ([resource("SbomReport"), resource("SbomReport")], "the array holds no VulnerabilityReport"),
        ({"vulnerabilityreports.aquasecurity.github.io": []}, "the object of resource lists holds no"),
        (resource("ClusterComplianceReport"), "the document holds no VulnerabilityReport"),
    ],
    ids=["empty List", "array of SBOMs", "empty lists", "compliance report"],
)
def test_nothing_to_store_is_refused_saying_why(document: Any, holds: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_reports(document)
    assert refused.value.message.startswith(holds)
    assert ": nothing to store (" in refused.value.message


def test_nothing_to_store_names_the_kinds_seen() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod"}
    document = kubernetes_list(resource("SbomReport"), pod, resource("SbomReport"))
    with pytest.raises(InvalidInput) as refused:
        parse_reports(document)
    assert refused.value.message == (
        "the List holds no VulnerabilityReport, ClusterVulnerabilityReport, ExposedSecretReport, "
        "ConfigAuditReport, ClusterConfigAuditReport, RbacAssessmentReport, ClusterRbacAssessmentReport, "
        "InfraAssessmentReport, ClusterInfraAssessmentReport: nothing to store (it holds 2 SbomReport, 1 Pod)"
    )
    assert refused.value.details[0]["kinds_seen"] == {"SbomReport": 2, "Pod": 1}
    with pytest.raises(InvalidInput, match=r"\(it holds no resource at all\)"):
        parse_reports(kubernetes_list())


def test_cluster_vulnerability_report_is_about_its_image() -> None:
    parsed = parse_one(resource("ClusterVulnerabilityReport", vulnerabilities=[vulnerability()]))
    assert parsed.image == ImageRef("registry.example.com:5000", "team/app", "1.0", None)
    assert [f.kind for f in parsed.findings] == [FindingKind.VULNERABILITY]


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (kubernetes_list(resource(), "VulnerabilityReport"), "items[1]"),
        ([resource(), None], "[1]"),
        (
            {"vulnerabilityreports.aquasecurity.github.io": [7]},
            "vulnerabilityreports.aquasecurity.github.io[0]",
        ),
        (
            {"vulnerabilityreports.aquasecurity.github.io": "none"},
            "vulnerabilityreports.aquasecurity.github.io",
        ),
        (
            {"vulnerabilityreports.aquasecurity.github.io": {"items": [resource(), []]}},
            "vulnerabilityreports.aquasecurity.github.io.items[1]",
        ),
        (kubernetes_list({"apiVersion": API_VERSION}), "items[0]"),
        (kubernetes_list({**resource(), "kind": 5}), "items[0].kind"),
        (
            kubernetes_list(resource(), resource(vulnerabilities=[vulnerability(score="high")])),
            "items[1].report.vulnerabilities[0].score",
        ),
        (
            [check_report("ConfigAuditReport", check(checkID=1))],
            "[0].report.checks[0].checkID",
        ),
    ],
)
def test_broken_lists_name_the_path(document: Any, path: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_trivy_operator(document)
    assert refused.value.details[0]["path"] == path


def test_no_wrongly_typed_value_anywhere_escapes_as_a_crash() -> None:
    # Given a List of every kind read, each value replaced in turn by values of every JSON type
    document = kubernetes_list(
        resource(vulnerabilities=[vulnerability(packagePath="a.jar")]),
        resource("ExposedSecretReport", secrets=[secret()]),
        {
            **check_report("ConfigAuditReport", check()),
            "metadata": {"name": "n", "namespace": "ns", "ownerReferences": [{"kind": "Pod", "name": "p"}]},
        },
    )
    crashes = []
    for path in list(paths_of(document))[1:]:
        for value in WRONG_VALUES:
            try:
                reports = parse_reports(replaced(document, path, value))
            except InvalidInput:
                continue
            except Exception as error:
                crashes.append((path, value, repr(error)))
                continue
            # Then it is refused as invalid input or read, every subject named
            if any(report.image is None for report in reports):
                crashes.append((path, value, "a subject without image"))
    assert crashes == []
