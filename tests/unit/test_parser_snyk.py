"""Snyk JSON (`snyk container test --json`): the real reports of ../shared and hand-built documents."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Finding, FindingKind, Severity, dedupe
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers._common import ParsedReport
from riskgate.domain.parsers.clair import looks_like_clair
from riskgate.domain.parsers.harbor import looks_like_harbor
from riskgate.domain.parsers.snyk import looks_like_snyk, parse_snyk
from tests.support.scanner_documents import (
    WRONG_VALUES,
    fixtures_other_than,
    load,
    paths_of,
    replaced,
    severities,
)

OWN = ["snyk/dd_container-juiceshop-deb.json", "snyk/dd_container-rpm-none-cvss.json"]
DIGEST = "sha256:" + "a" * 64


# --- builders ---------------------------------------------------------------------------------------


def vulnerability(
    vulnerability_id: str = "SNYK-DEBIAN12-OPENSSL-1", *, from_: Any = None, **fields: Any
) -> dict[str, Any]:
    """An entry of `vulnerabilities[]`; `from_` is its `from` (a Python keyword)."""
    entry: dict[str, Any] = {
        "id": vulnerability_id,
        "title": "CVE-2024-0001",
        "severity": "high",
        "nvdSeverity": "critical",
        "severityWithCritical": "high",
        "cvssScore": 9.8,
        "packageName": "openssl",
        "name": "openssl/libssl3",
        "version": "3.0.11-1",
        "fixedIn": ["3.0.13-1"],
        "isUpgradable": False,
        "from": ["docker-image|alpine@3.19", "openssl/libssl3@3.0.11-1"],
    }
    entry.update(fields)
    if from_ is not None:
        entry["from"] = from_
    return entry


def project(*vulnerabilities: Any, **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "vulnerabilities": list(vulnerabilities),
        "ok": not vulnerabilities,
        "dependencyCount": 40,
        "packageManager": "deb",
        "projectName": "docker-image|alpine",
        "platform": "linux/amd64",
        "docker": {"baseImage": "debian:12"},
        "summary": f"{len(vulnerabilities)} vulnerable dependency paths",
        "uniqueCount": len(vulnerabilities),
        "path": "alpine:3.19",
    }
    document.update(fields)
    return document


def application(*vulnerabilities: Any, **fields: Any) -> dict[str, Any]:
    document = project(
        *vulnerabilities,
        packageManager="npm",
        projectName="web",
        targetFile="/app/package.json",
        displayTargetFile="/app/package.json",
        docker={},
    )
    document.update(fields)
    return document


def npm_vulnerability(vulnerability_id: str = "SNYK-JS-LODASH-1", **fields: Any) -> dict[str, Any]:
    entry = vulnerability(
        vulnerability_id,
        severity="critical",
        packageName="lodash",
        name="lodash",
        version="4.17.15",
        fixedIn=["4.17.21"],
        from_=["web@1.0.0", "lodash@4.17.15"],
    )
    entry.update(fields)
    return entry


# --- the real reports -------------------------------------------------------------------------------


def test_juiceshop_deb_has_the_readme_figures_plus_its_application_projects() -> None:
    report = parse_snyk(load("snyk/dd_container-juiceshop-deb.json"))
    image_findings = [f for f in report.findings if f.location is None]
    app_findings = [f for f in report.findings if f.location is not None]
    # README row: Vulns 25, Low 25, fixable 0/25, no secrets, no misconfigurations.
    assert len(image_findings) == 25
    assert severities(image_findings) == {"low": 25}
    assert sum(f.fixable for f in image_findings) == 0
    # Beyond the README (it counts the top-level vulnerabilities[] only): `applications[0]`, the
    # image's npm project /juice-shop/package.json, 12 entries, 11 with a fixedIn version.
    assert len(app_findings) == 12
    assert {f.location for f in app_findings} == {"/juice-shop/package.json"}
    assert severities(app_findings) == {"critical": 1, "high": 2, "medium": 9}
    assert sum(f.fixable for f in app_findings) == 11
    assert {f.kind for f in report.findings} == {FindingKind.VULNERABILITY}
    # One entry per dependency path: the path keeps all 37 apart.
    assert len(dedupe(report.findings)) == 37
    assert report.format == "snyk"
    assert report.scanner == "snyk"
    assert report.scanner_version is None
    assert report.created_at is None
    # `path` "sarim04/juiceshop:latest/juiceshop" does not parse; the `docker-image|…@latest` root and
    # the application's `path` "sarim04/juiceshop:latest" both name the image.
    assert report.image == ImageRef("docker.io", "sarim04/juiceshop", "latest", None)


def test_juiceshop_dependency_paths_keep_one_package_reached_twice_apart() -> None:
    report = parse_snyk(load("snyk/dd_container-juiceshop-deb.json"))
    gcc = [f for f in report.findings if f.finding_id == "SNYK-DEBIAN11-GCC10-5901313"]
    assert [f.detail for f in gcc] == [
        "gcc-10/libgcc-s1@10.2.1-6",
        "gcc-10/libstdc++6@10.2.1-6 > gcc-10/libgcc-s1@10.2.1-6",
        "gcc-10/libgomp1@10.2.1-6",
        "gcc-10/libstdc++6@10.2.1-6",
    ]
    assert {(f.package, f.installed_version, f.title, f.cvss_score) for f in gcc} == {
        ("gcc-10", "10.2.1-6", "CVE-2023-4039", 4.8)
    }


def test_rpm_none_cvss_has_the_readme_figures_and_names_no_image() -> None:
    report = parse_snyk(load("snyk/dd_container-rpm-none-cvss.json"))
    # README row: Vulns 1, Low 1, fixable 0/1.
    assert len(report.findings) == 1
    assert severities(report.findings) == {"low": 1}
    [finding] = report.findings
    assert finding.fixed_version is None  # "fixedIn": null
    assert finding.cvss_score is None  # "cvssScore": null
    assert finding.finding_id == "SNYK-SLES153-PERMISSIONS-2648113"
    assert finding.package == "permissions"
    # Scanned from docker-archive:a_container-engine-tls:8.2.0-28.tar: a tarball is no image.
    assert report.image is None


# --- sniffing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("relative", OWN)
def test_each_snyk_fixture_is_recognized(relative: str) -> None:
    assert looks_like_snyk(load(relative))


@pytest.mark.parametrize("relative", fixtures_other_than(["snyk"]))
def test_no_other_fixture_is_taken_for_snyk(relative: str) -> None:
    assert not looks_like_snyk(load(relative))


@pytest.mark.parametrize("relative", OWN)
def test_snyk_fixtures_are_not_taken_for_clair_or_harbor(relative: str) -> None:
    document = load(relative)
    assert not looks_like_clair(document)
    assert not looks_like_harbor(document)


@pytest.mark.parametrize(
    "document",
    [
        project(vulnerability()),
        [project(vulnerability()), application(npm_vulnerability())],
        [{"ok": False, "error": "image not found", "path": "x:1"}, project()],
        {"ok": False, "error": "Could not connect", "path": "alpine:3.19"},
    ],
    ids=["project", "list", "list-starting-with-an-error", "error-result"],
)
def test_snyk_shapes_are_recognized(document: Any) -> None:
    assert looks_like_snyk(document)
    assert not looks_like_clair(document)
    assert not looks_like_harbor(document)


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        {},
        [1],
        {"vulnerabilities": [], "ok": True},
        {"version": "15.0.7", "vulnerabilities": [], "remediations": []},
        {"image": "alpine", "unapproved": [], "vulnerabilities": []},
        {"LayerCount": 3, "Vulnerabilities": {}},
        {"manifest_hash": DIGEST, "packages": {}, "vulnerabilities": {}, "package_vulnerabilities": {}},
        {"application/vnd.security.vulnerability.report; version=1.1": {"vulnerabilities": []}},
        {"generated_at": "2024-01-01T00:00:00Z", "scanner": {"name": "Trivy"}, "vulnerabilities": []},
        [{"Target": "alpine", "Vulnerabilities": []}],
        {"ok": True, "error": "x", "path": "y"},
    ],
    ids=[
        "null",
        "empty-list",
        "empty-object",
        "numbers",
        "bare-ok",
        "gitlab",
        "clair-scanner",
        "klar",
        "clair-v4",
        "harbor-keyed",
        "harbor-bare",
        "trivy-legacy",
        "ok-with-error",
    ],
)
def test_other_documents_are_not_snyk(document: Any) -> None:
    assert not looks_like_snyk(document)


# --- fields -----------------------------------------------------------------------------------------


def test_snyk_vulnerability_fields_are_mapped() -> None:
    [finding] = parse_snyk(project(vulnerability())).findings
    assert finding == Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id="SNYK-DEBIAN12-OPENSSL-1",
        severity=Severity.HIGH,
        title="CVE-2024-0001",
        package="openssl",
        installed_version="3.0.11-1",
        fixed_version="3.0.13-1",
        location=None,
        cvss_score=9.8,
        fix_state=None,
        detail="openssl/libssl3@3.0.11-1",
    )


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("critical", Severity.CRITICAL),
        ("high", Severity.HIGH),
        ("medium", Severity.MEDIUM),
        ("low", Severity.LOW),
        ("HIGH", Severity.HIGH),
        ("bogus", Severity.UNKNOWN),
        (None, Severity.UNKNOWN),
    ],
)
def test_severity_is_snyks_own_word_not_nvd_or_cvss(word: str | None, expected: Severity) -> None:
    # nvdSeverity "critical" and cvssScore 9.8 do not change the entry's own severity.
    [finding] = parse_snyk(project(vulnerability(severity=word))).findings
    assert finding.severity is expected


@pytest.mark.parametrize(
    ("fixed_in", "expected"),
    [
        (["1.2.4"], "1.2.4"),
        (["2.3.2", "2.2.5"], "2.3.2, 2.2.5"),
        ([], None),
        (None, None),
        ([""], None),
    ],
)
def test_fixed_version_joins_fixed_in(fixed_in: list[str] | None, expected: str | None) -> None:
    [finding] = parse_snyk(project(vulnerability(fixedIn=fixed_in, isUpgradable=True))).findings
    assert finding.fixed_version == expected
    assert finding.fixable is (expected is not None)


def test_fixed_in_absent_is_no_fix() -> None:
    entry = vulnerability()
    del entry["fixedIn"]
    [finding] = parse_snyk(project(entry)).findings
    assert finding.fixed_version is None


def test_package_falls_back_to_name() -> None:
    entry = vulnerability()
    del entry["packageName"]
    [finding] = parse_snyk(project(entry)).findings
    assert finding.package == "openssl/libssl3"


def test_group_issues_entries_have_no_path_and_every_name() -> None:
    # `--group-issues`: `from` is a list of paths and `name` a list of names.
    entry = vulnerability(
        name=["openssl/libssl3", "openssl/openssl"],
        from_=[["docker-image|alpine@3.19", "openssl/libssl3@3"], ["docker-image|alpine@3.19", "x@1"]],
    )
    [finding] = parse_snyk(project(entry)).findings
    assert finding.detail is None
    assert finding.package == "openssl"
    del entry["packageName"]
    [finding] = parse_snyk(project(entry)).findings
    assert finding.package == "openssl/libssl3, openssl/openssl"


def test_license_issues_are_not_vulnerabilities() -> None:
    license_issue = vulnerability("snyk:lic:npm:x:GPL-2.0", type="license", severity="high")
    report = parse_snyk(project(vulnerability(), license_issue))
    assert [f.finding_id for f in report.findings] == ["SNYK-DEBIAN12-OPENSSL-1"]


def test_application_projects_are_read_with_their_target_file_as_location() -> None:
    document = project(vulnerability(), applications=[application(npm_vulnerability())])
    image_finding, app_finding = parse_snyk(document).findings
    assert image_finding.location is None
    assert app_finding.location == "/app/package.json"
    assert app_finding.package == "lodash"
    assert app_finding.severity is Severity.CRITICAL
    assert app_finding.detail == "lodash@4.17.15"


def test_a_list_of_projects_of_one_image_is_one_report() -> None:
    # `--experimental`: the image's own project, then its applications, as a list.
    report = parse_snyk([project(vulnerability()), application(npm_vulnerability(), path="alpine:3.19")])
    assert [f.finding_id for f in report.findings] == ["SNYK-DEBIAN12-OPENSSL-1", "SNYK-JS-LODASH-1"]
    assert report.image == ImageRef("docker.io", "library/alpine", "3.19", None)


def test_one_package_reached_by_two_paths_is_two_findings() -> None:
    first = vulnerability(from_=["docker-image|alpine@3.19", "openssl/libssl3@3.0.11-1"])
    second = vulnerability(from_=["docker-image|alpine@3.19", "curl@8", "openssl/libssl3@3.0.11-1"])
    findings = dedupe(parse_snyk(project(first, second)).findings)
    assert [f.detail for f in findings] == ["openssl/libssl3@3.0.11-1", "curl@8 > openssl/libssl3@3.0.11-1"]
    # The same entry twice is one finding.
    assert len(dedupe(parse_snyk(project(first, copy.deepcopy(first))).findings)) == 1


def test_a_score_that_is_no_cvss_score_is_left_out() -> None:
    [finding] = parse_snyk(project(vulnerability(cvssScore=81))).findings
    assert finding.cvss_score is None
    assert finding.severity is Severity.HIGH


def test_an_empty_project_has_no_findings() -> None:
    report = parse_snyk(project())
    assert report.findings == []
    assert report.image == ImageRef("docker.io", "library/alpine", "3.19", None)


# --- the image --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"path": "alpine:3.19"}, ImageRef("docker.io", "library/alpine", "3.19", None)),
        ({"path": "gcr.io/team/app:1.2"}, ImageRef("gcr.io", "team/app", "1.2", None)),
        ({"path": f"alpine@{DIGEST}"}, ImageRef("docker.io", "library/alpine", None, DIGEST)),
        # `path` unusable: the dependency-path root `docker-image|alpine@3.19` names it.
        ({"path": "alpine:3.19/alpine"}, ImageRef("docker.io", "library/alpine", "3.19", None)),
        ({"path": None}, ImageRef("docker.io", "library/alpine", "3.19", None)),
        # A tarball or a directory is no image, whatever the project name says.
        ({"path": "docker-archive:app.tar"}, None),
        ({"path": "/builds/app.tar"}, None),
    ],
)
def test_image_is_the_path_the_user_named(fields: dict[str, Any], expected: ImageRef | None) -> None:
    assert parse_snyk(project(vulnerability(), **fields)).image == expected


def test_image_of_the_root_digest() -> None:
    entry = vulnerability(from_=[f"docker-image|alpine@{DIGEST}", "x@1"])
    assert parse_snyk(project(entry, path=None)).image == ImageRef(
        "docker.io", "library/alpine", None, DIGEST
    )


def test_image_of_the_project_name_when_nothing_else_names_it() -> None:
    report = parse_snyk(project(path=None, projectName="docker-image|quay.io/org/app"))
    assert report.image == ImageRef("quay.io", "org/app", "latest", None)


def test_an_open_source_project_names_no_image() -> None:
    # `snyk test --json` in a directory: its path is no image even when it parses as one.
    document = application(npm_vulnerability(), path="web")
    del document["docker"]
    assert parse_snyk(document).image is None
    assert parse_snyk([document, copy.deepcopy(document)]).image is None


def test_projects_of_one_image_agree_on_tag_and_digest() -> None:
    report = parse_snyk([project(path="alpine:3.19"), application(path=f"alpine@{DIGEST}")])
    assert report.image == ImageRef("docker.io", "library/alpine", "3.19", DIGEST)


@pytest.mark.parametrize(
    "other_path",
    ["debian:12", "alpine:3.18", "alpine@sha256:" + "b" * 64],
)
def test_a_report_of_several_images_is_refused(other_path: str) -> None:
    document = [project(path=f"alpine:3.19@{DIGEST}"), project(path=other_path)]
    with pytest.raises(InvalidInput) as refused:
        parse_snyk(document)
    assert refused.value.message.startswith("[1]: the report covers more than one image")
    assert "a report must be of one image" in refused.value.message


def test_an_application_of_another_image_is_refused() -> None:
    # Old CLIs put the second image of `snyk container test a b` under `applications`.
    document = project(applications=[project(path="debian:12", projectName="docker-image|debian")])
    with pytest.raises(InvalidInput) as refused:
        parse_snyk(document)
    assert refused.value.message.startswith("applications[0]: the report covers more than one image")


# --- refusals and broken structure ------------------------------------------------------------------


def test_a_project_snyk_could_not_test_makes_the_report_incomplete() -> None:
    document = [project(vulnerability()), {"ok": False, "error": "Failed to get image", "path": "web:1"}]
    with pytest.raises(InvalidInput) as refused:
        parse_snyk(document)
    assert refused.value.message == (
        "[1].error: Snyk could not test 'web:1', so the report is incomplete: Failed to get image"
    )


def test_a_lone_error_result_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_snyk({"ok": False, "error": "unauthorized", "path": "alpine:3.19"})
    assert refused.value.message.startswith("error: Snyk could not test 'alpine:3.19'")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (project(vulnerabilities={}), "vulnerabilities: expected a list, got an object"),
        (project(vulnerability(), "x"), "vulnerabilities[1]: expected an object, got a string"),
        (project(vulnerability(id=None)), "vulnerabilities[0]: missing id"),
        (
            project(vulnerability(packageName=3)),
            "vulnerabilities[0].packageName: expected a string, got a number",
        ),
        (project(vulnerability(fixedIn="1.0")), "vulnerabilities[0].fixedIn: expected a list, got a string"),
        (
            project(vulnerability(fixedIn=[1])),
            "vulnerabilities[0].fixedIn[0]: expected a string, got a number",
        ),
        (project(vulnerability(severity=7)), "vulnerabilities[0].severity: expected a string, got a number"),
        (
            project(vulnerability(cvssScore="9.8")),
            "vulnerabilities[0].cvssScore: expected a number, got a string",
        ),
        (
            project(vulnerability(from_="a > b")),
            "vulnerabilities[0].from: expected a list, got a string",
        ),
        (
            project(vulnerability(from_=["a", 2])),
            "vulnerabilities[0].from[1]: expected a string, got a number",
        ),
        (
            project(vulnerability(from_=[["a"], "b"])),
            "vulnerabilities[0].from[1]: expected a list, got a string",
        ),
        (project(applications={}), "applications: expected a list, got an object"),
        (
            project(applications=[application(npm_vulnerability(version=[]))]),
            "applications[0].vulnerabilities[0].version: expected a string, got a list",
        ),
        ([project(), 3], "[1]: expected an object, got a number"),
        (project(path=5), "path: expected a string, got a number"),
        ([project(), {"ok": False, "error": 5, "path": "x"}], "[1].error: expected a string, got a number"),
    ],
)
def test_broken_structure_is_invalid_naming_the_path(document: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_snyk(document)
    assert raised.value.message == message
    assert raised.value.details == [{"path": message.split(": ", 1)[0], "problem": message.split(": ", 1)[1]}]


@pytest.mark.parametrize(
    "document",
    [
        project(vulnerability(), applications=[application(npm_vulnerability())]),
        [project(vulnerability(), path=None), application(npm_vulnerability())],
    ],
    ids=["project", "list"],
)
def test_no_wrongly_typed_value_anywhere_escapes_as_a_crash(document: Any) -> None:
    crashes = []
    for path in list(paths_of(document))[1:]:
        for value in WRONG_VALUES:
            try:
                report: ParsedReport = parse_snyk(replaced(document, path, value))
                dedupe(report.findings)
            except InvalidInput:
                pass
            except Exception as error:
                crashes.append((path, value, repr(error)))
    assert crashes == []
