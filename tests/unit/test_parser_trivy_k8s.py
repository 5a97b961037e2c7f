"""`trivy k8s` reports: the real legacy report of ../shared, and the later layouts built from it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import FindingKind, Severity
from riskgate.domain.images import ImageRef, workload_ref
from riskgate.domain.parsers import ParsedReport, parse_report, parse_reports
from riskgate.domain.parsers.trivy_k8s import looks_like_trivy_k8s, parse_trivy_k8s
from tests.support.scanner_documents import (
    WRONG_VALUES,
    fixtures_other_than,
    load,
    paths_of,
    replaced,
    severities,
)

LEGACY = "trivy/dd_k8s-cluster-legacy.json"
CLUSTER = "k8s://monitoring-test-cluster"
FOLLOWER_IMAGE = "gcr.io/google_samples/gb-redis-follower:v2"
LEADER_IMAGE = "docker.io/library/redis:6.0.5"
DIGEST = "sha256:" + "b" * 64
OTHER_DIGEST = "sha256:" + "c" * 64


# --- builders ---------------------------------------------------------------------------------------


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


def newer_layout(legacy: dict[str, Any], key: str = "Resources") -> dict[str, Any]:
    """The legacy report as later versions write it: one entry per resource, its image and config
    results together (what trivy's consolidation does), and SchemaVersion 2."""
    resources: dict[tuple[Any, ...], dict[str, Any]] = {}
    for resource in [*legacy["Vulnerabilities"], *legacy["Misconfigurations"]]:
        identity = (resource.get("Namespace"), resource["Kind"], resource["Name"])
        merged = resources.setdefault(identity, {**resource, "Results": []})
        merged["Results"] = [*merged["Results"], *resource["Results"]]
    return {"SchemaVersion": 2, "ClusterName": legacy["ClusterName"], key: list(resources.values())}


def vulnerability(vulnerability_id: str = "CVE-2024-0001", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "VulnerabilityID": vulnerability_id,
        "PkgName": "openssl",
        "InstalledVersion": "3.0.1",
        "FixedVersion": "3.0.2",
        "Severity": "HIGH",
    }
    entry.update(fields)
    return entry


def os_result(
    target: str = "ghcr.io/org/app:1.0 (alpine 3.19.1)", *entries: dict[str, Any]
) -> dict[str, Any]:
    return {"Target": target, "Class": "os-pkgs", "Type": "alpine", "Vulnerabilities": list(entries)}


def lang_result(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"Target": "Java", "Class": "lang-pkgs", "Type": "jar", "Vulnerabilities": list(entries)}


def secret_result() -> dict[str, Any]:
    secret = {
        "RuleID": "aws-access-key-id",
        "Severity": "CRITICAL",
        "Title": "AWS Access Key",
        "StartLine": 2,
    }
    return {"Target": "/app/.env", "Class": "secret", "Secrets": [secret]}


def config_result(*checks: dict[str, Any], target: str = "Deployment/app") -> dict[str, Any]:
    return {"Target": target, "Class": "config", "Type": "kubernetes", "Misconfigurations": list(checks)}


def failed_check(check_id: str = "KSV001", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ID": check_id,
        "Title": "Process can elevate its own privileges",
        "Severity": "MEDIUM",
        "Status": "FAIL",
        "CauseMetadata": {"StartLine": 12},
    }
    entry.update(fields)
    return entry


def metadata(tag: str = "ghcr.io/org/app:1.0", digest: str = DIGEST) -> dict[str, Any]:
    name = tag.rsplit(":", 1)[0]
    return {"ImageID": "sha256:" + "e" * 64, "RepoTags": [tag], "RepoDigests": [f"{name}@{digest}"]}


def k8s_resource(*results: dict[str, Any], **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Namespace": "shop",
        "Kind": "Deployment",
        "Name": "app",
        "Results": list(results),
    }
    entry.update(fields)
    return entry


def k8s_report(*resources: dict[str, Any], **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"SchemaVersion": 2, "ClusterName": "prod-eu", "Resources": list(resources)}
    document.update(fields)
    return document


APP = ImageRef("ghcr.io", "org/app", "1.0", None)
APP_WORKLOAD = ImageRef("k8s://prod-eu", "shop/deployment/app", None, None)


# --- the real report --------------------------------------------------------------------------------


LEGACY_SUBJECTS = [
    (FOLLOWER_IMAGE, 5, 0, 0),
    (LEADER_IMAGE, 5, 0, 0),
    (f"{CLUSTER}/default/deployment/redis-follower", 0, 0, 5),
    (f"{CLUSTER}/default/deployment/redis-leader", 0, 0, 5),
    (f"{CLUSTER}/default/service/redis-follower", 0, 0, 0),
    (f"{CLUSTER}/default/service/redis-leader", 0, 0, 0),
]


def test_legacy_cluster_report_gives_images_and_workloads() -> None:
    reports = parse_reports(load(LEGACY))
    assert subjects(reports) == LEGACY_SUBJECTS
    assert {(r.format, r.scanner, r.scanner_version, r.created_at) for r in reports} == {
        ("trivy-k8s", "trivy", None, None)
    }
    # The EKS cluster's ARN names the cluster; the images are no cluster's.
    assert reports[2].image == workload_ref(
        "arn:aws:eks:us-east-1:576036489467:cluster/monitoring-test-cluster",
        "default",
        "Deployment",
        "redis-follower",
    )
    assert reports[0].image == ImageRef("gcr.io", "google_samples/gb-redis-follower", "v2", None)
    findings = [finding for report in reports for finding in report.findings]
    vulnerabilities = [f for f in findings if f.kind is FindingKind.VULNERABILITY]
    assert severities(vulnerabilities) == {"medium": 2, "low": 8}
    assert sum(f.fixable for f in vulnerabilities) == 2
    misconfigurations = [f for f in findings if f.kind is FindingKind.MISCONFIGURATION]
    assert severities(misconfigurations) == {"medium": 4, "low": 6}
    first = reports[2].findings[0]
    assert (first.finding_id, first.location, first.detail, first.severity) == (
        "KSV001",
        "Deployment/redis-follower",
        "132",
        Severity.MEDIUM,
    )
    assert reports[0].findings[0].location == "gcr.io/google_samples/gb-redis-follower:v2 (debian 10.4)"


def test_the_parser_gives_the_same_subjects() -> None:
    assert subjects(parse_trivy_k8s(load(LEGACY))) == LEGACY_SUBJECTS


@pytest.mark.parametrize("key", ["Resources", "Findings"])
def test_newer_layouts_give_the_same_subjects_per_resource(key: str) -> None:
    document = newer_layout(load(LEGACY), key)
    # SchemaVersion 2 does not make it an image report: ClusterName is looked at first.
    reports = parse_reports(document)
    assert sorted(subjects(reports)) == sorted(LEGACY_SUBJECTS)
    # In resource order: each deployment's image, then the deployment itself.
    assert [report.image.reference for report in reports if report.image][:2] == [
        FOLLOWER_IMAGE,
        f"{CLUSTER}/default/deployment/redis-follower",
    ]


def test_parse_report_refuses_a_report_of_several_subjects() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_report(load(LEGACY))
    assert refused.value.message.startswith(
        "the trivy-k8s report covers 6 subjects (images or Kubernetes resources); "
    )


# --- sniffing ---------------------------------------------------------------------------------------


def test_own_fixture_and_layouts_are_recognized() -> None:
    assert looks_like_trivy_k8s(load(LEGACY))
    assert looks_like_trivy_k8s(newer_layout(load(LEGACY)))
    assert looks_like_trivy_k8s({"ClusterName": "", "Resources": []})


@pytest.mark.parametrize("relative", fixtures_other_than([LEGACY]))
def test_other_fixtures_are_not_recognized(relative: str) -> None:
    assert not looks_like_trivy_k8s(load(relative))


# --- subjects of results ----------------------------------------------------------------------------


def test_image_results_follow_the_os_result_before_them() -> None:
    document = k8s_report(
        k8s_resource(
            os_result("ghcr.io/org/app:1.0 (alpine 3.19.1)", vulnerability("CVE-1")),
            lang_result(vulnerability("CVE-2", PkgName="log4j")),
            secret_result(),
            os_result("ghcr.io/org/sidecar:2 (debian 12.5)", vulnerability("CVE-3")),
            lang_result(vulnerability("CVE-4", PkgName="jackson")),
            config_result(failed_check()),
        )
    )
    reports = parse_reports(document)
    assert subjects(reports) == [
        ("ghcr.io/org/app:1.0", 2, 1, 0),
        ("ghcr.io/org/sidecar:2", 2, 0, 0),
        ("k8s://prod-eu/shop/deployment/app", 0, 0, 1),
    ]
    assert [f.finding_id for f in reports[1].findings] == ["CVE-3", "CVE-4"]
    assert reports[0].findings[1].location == "Java"


def test_image_results_without_an_os_result_go_to_the_only_image_of_the_metadata() -> None:
    only = k8s_resource(lang_result(vulnerability()), secret_result(), Metadata=[metadata()])
    assert subjects(parse_reports(k8s_report(only))) == [(f"ghcr.io/org/app:1.0@{DIGEST}", 1, 1, 0)]
    # Older versions write one Metadata object instead of a list.
    single = k8s_resource(lang_result(vulnerability()), Metadata=metadata())
    assert subjects(parse_reports(k8s_report(single))) == [(f"ghcr.io/org/app:1.0@{DIGEST}", 1, 0, 0)]


def test_image_results_of_no_resolvable_image_go_to_the_workload() -> None:
    two_images = [metadata(), metadata("ghcr.io/org/sidecar:2", OTHER_DIGEST)]
    document = k8s_report(
        k8s_resource(lang_result(vulnerability()), Metadata=two_images),
        k8s_resource(lang_result(vulnerability()), Name="bare"),
        k8s_resource(os_result("testdata/app.tar (alpine 3.19.1)", vulnerability()), Name="tarball"),
    )
    assert subjects(parse_reports(document)) == [
        ("k8s://prod-eu/shop/deployment/app", 1, 0, 0),
        ("k8s://prod-eu/shop/deployment/bare", 1, 0, 0),
        ("k8s://prod-eu/shop/deployment/tarball", 1, 0, 0),
    ]


def test_each_image_takes_the_digest_of_its_own_metadata_entry() -> None:
    document = k8s_report(
        k8s_resource(
            os_result("ghcr.io/org/app:1.0 (alpine 3.19.1)"),
            os_result("ghcr.io/org/sidecar:2 (alpine 3.19.1)"),
            os_result("ghcr.io/org/unlisted:3 (alpine 3.19.1)"),
            Metadata=[metadata("ghcr.io/org/sidecar:2", OTHER_DIGEST), metadata()],
        )
    )
    assert [report.image for report in parse_reports(document)] == [
        ImageRef("ghcr.io", "org/app", "1.0", DIGEST),
        ImageRef("ghcr.io", "org/sidecar", "2", OTHER_DIGEST),
        # No entry names it: another image's digest would name another image.
        ImageRef("ghcr.io", "org/unlisted", "3", None),
    ]


def test_a_digest_of_the_same_repository_is_taken_when_no_tag_matches() -> None:
    entry = {"RepoTags": [], "RepoDigests": [f"ghcr.io/org/app@{DIGEST}"]}
    document = k8s_report(k8s_resource(os_result("ghcr.io/org/app:1.0 (alpine 3.19.1)"), Metadata=[entry]))
    assert parse_reports(document)[0].image == ImageRef("ghcr.io", "org/app", "1.0", DIGEST)


def test_clean_resources_still_give_their_subject() -> None:
    document = k8s_report(
        k8s_resource(os_result(), config_result()),
        k8s_resource(Kind="Service", Name="web", Results=None),
        k8s_resource(Kind="CronJob", Name="backup", Results=[], Metadata=[metadata("ghcr.io/org/backup:7")]),
    )
    assert subjects(parse_reports(document)) == [
        ("ghcr.io/org/app:1.0", 0, 0, 0),
        ("k8s://prod-eu/shop/deployment/app", 0, 0, 0),
        ("k8s://prod-eu/shop/service/web", 0, 0, 0),
        (f"ghcr.io/org/backup:7@{DIGEST}", 0, 0, 0),
    ]


def test_a_resource_whose_scan_failed_claims_nothing_it_did_not_see() -> None:
    failed = k8s_resource(Name="broken", Error="unable to pull image")
    partly = k8s_resource(os_result(), Error="timeout scanning the sidecar")
    assert subjects(parse_reports(k8s_report(failed, partly))) == [("ghcr.io/org/app:1.0", 0, 0, 0)]
    with pytest.raises(InvalidInput) as refused:
        parse_reports(k8s_report(failed))
    assert "failed" in refused.value.message
    assert "Resources[0]: unable to pull image" in refused.value.message
    assert refused.value.message.endswith(": nothing to store")


@pytest.mark.parametrize(
    "document",
    [
        {"ClusterName": "prod", "SchemaVersion": 2, "Resources": []},
        {"ClusterName": "", "Vulnerabilities": [], "Misconfigurations": None},
        {"ClusterName": "prod"},
    ],
)
def test_a_report_without_resources_is_refused_saying_why(document: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_reports(document)
    assert refused.value.message == (
        "the trivy k8s report holds no resources (Resources, Findings, Vulnerabilities, "
        "Misconfigurations): nothing to store"
    )


def test_cluster_names_and_cluster_scoped_resources() -> None:
    resource = k8s_resource(config_result(failed_check()), Kind="ClusterRole", Name="admin")
    del resource["Namespace"]
    for name, label in [("", "default"), ("Prod EU", "prod-eu"), (None, "default")]:
        [report] = parse_reports(k8s_report(resource, ClusterName=name))
        assert report.image == ImageRef(f"k8s://{label}", "_cluster/clusterrole/admin", None, None)


def test_reports_of_one_image_in_several_resources_are_merged() -> None:
    # Given a Deployment and its ReplicaSet, both running the same image with the same findings
    results = [
        os_result("ghcr.io/org/app:1.0 (alpine 3.19.1)", vulnerability("CVE-1"), vulnerability("CVE-2"))
    ]
    document = k8s_report(
        k8s_resource(*results),
        k8s_resource(*copy.deepcopy(results), Kind="ReplicaSet", Name="app-5d8f"),
        CreatedAt="2025-03-01T10:00:00Z",
    )
    # Then the image is one subject with each finding once
    [report] = parse_reports(document)
    assert (report.image, [f.finding_id for f in report.findings]) == (APP, ["CVE-1", "CVE-2"])
    assert report.created_at == "2025-03-01T10:00:00Z"
    # (The parser gathers a subject's findings across resources; parse_reports removes the repeats.)
    [gathered] = parse_trivy_k8s(document)
    assert len(gathered.findings) == 4


# --- broken structure -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (k8s_report(ClusterName=5), "ClusterName"),
        (k8s_report(SchemaVersion="2"), "SchemaVersion"),
        (k8s_report(Resources="none"), "Resources"),
        ({"ClusterName": "c", "Vulnerabilities": [k8s_resource(), 3]}, "Vulnerabilities[1]"),
        (k8s_report(k8s_resource(Kind=None)), "Resources[0]"),
        (k8s_report(k8s_resource(Name=7)), "Resources[0].Name"),
        (k8s_report(k8s_resource(Error=True)), "Resources[0].Error"),
        (k8s_report(k8s_resource(Metadata="ghcr.io/org/app:1.0")), "Resources[0].Metadata"),
        (k8s_report(k8s_resource(Metadata=[metadata(), 1])), "Resources[0].Metadata[1]"),
        (k8s_report(k8s_resource(Metadata=[{"RepoTags": "a:1"}])), "Resources[0].Metadata[0].RepoTags"),
        (k8s_report(k8s_resource(Results={})), "Resources[0].Results"),
        (k8s_report(k8s_resource({"Class": 1})), "Resources[0].Results[0].Class"),
        (
            k8s_report(k8s_resource(os_result("a:1 (alpine 3)", vulnerability(PkgName=1)))),
            "Resources[0].Results[0].Vulnerabilities[0].PkgName",
        ),
        (
            k8s_report(k8s_resource(config_result(failed_check(ID=None)))),
            "Resources[0].Results[0].Misconfigurations[0]",
        ),
    ],
)
def test_broken_structure_names_the_path(document: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_reports(document)
    assert refused.value.details[0]["path"] == path


def test_no_wrongly_typed_value_anywhere_escapes_as_a_crash() -> None:
    # Given every value of a report replaced, one at a time, by values of every JSON type
    document = k8s_report(
        k8s_resource(
            os_result("ghcr.io/org/app:1.0 (alpine 3.19.1)", vulnerability(CVSS={"nvd": {"V3Score": 7.5}})),
            lang_result(vulnerability(PkgPath="app.jar")),
            secret_result(),
            config_result(failed_check()),
            Metadata=[metadata()],
            Error="",
        ),
        CreatedAt="2025-03-01T10:00:00Z",
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
