"""Clair reports (clair-scanner, klar, Clair v4): the real reports of ../shared and built documents."""

from __future__ import annotations

from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Finding, FindingKind, Severity, dedupe
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers.clair import clair_severity, looks_like_clair, parse_clair
from riskgate.domain.parsers.harbor import looks_like_harbor
from riskgate.domain.parsers.snyk import looks_like_snyk
from tests.support.scanner_documents import (
    WRONG_VALUES,
    fixtures_other_than,
    load,
    paths_of,
    replaced,
    severities,
)

OWN = ["clair/dd_clairctl-ubuntu-bionic.json", "clair/dd_klar-mixed.json", "clair/dd_klar-empty.json"]
MANIFEST = "sha256:" + "c" * 64
LAYER = "sha256:" + "1" * 64
CVSS_ENRICHMENT = (
    "message/vnd.clair.map.vulnerability; enricher=clair.cvss "
    "schema=https://csrc.nist.gov/schema/nvd/feed/1.1/cvss-v3.x.json"
)


# --- builders ---------------------------------------------------------------------------------------


def scanner_entry(vulnerability: str = "CVE-2024-0001", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "featurename": "openssl",
        "featureversion": "1.1.1-1ubuntu2.1",
        "vulnerability": vulnerability,
        "namespace": "ubuntu:18.04",
        "description": "something bad",
        "link": "https://ubuntu.com/security/" + vulnerability,
        "severity": "High",
        "fixedby": "1.1.1-1ubuntu2.2",
    }
    entry.update(fields)
    return entry


def clair_scanner_report(*entries: Any, **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "image": "registry.example.com:5000/team/app:1.0",
        "unapproved": [entry["vulnerability"] for entry in entries if isinstance(entry, dict)],
        "vulnerabilities": list(entries),
    }
    document.update(fields)
    return document


def klar_entry(name: str = "RHSA-2019:0109", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Name": name,
        "NamespaceName": "centos:7",
        "Description": "perl",
        "Link": "https://access.redhat.com/errata/" + name,
        "Severity": "High",
        "FixedBy": "4:5.16.3-294.el7_6",
        "FeatureName": "perl",
        "FeatureVersion": "4:5.16.3-293.el7",
    }
    entry.update(fields)
    return entry


def klar_report(**buckets: Any) -> dict[str, Any]:
    return {"LayerCount": 5, "Vulnerabilities": buckets}


def vulnerability_report() -> dict[str, Any]:
    """A Clair v4 VulnerabilityReport built from Clair's OpenAPI schema (openapi.yaml, v1.2)."""
    distribution = {
        "id": "1",
        "did": "ubuntu",
        "name": "Ubuntu",
        "version": "22.04 (Jammy Jellyfish)",
        "version_code_name": "jammy",
        "version_id": "22.04",
        "arch": "",
        "cpe": "",
        "pretty_name": "Ubuntu 22.04.3 LTS",
    }
    openssl_source = {"id": "9", "name": "openssl", "version": "3.0.2-0ubuntu1.10", "kind": "source"}
    return {
        "manifest_hash": MANIFEST,
        "packages": {
            "10": {
                "id": "10",
                "name": "libssl3",
                "version": "3.0.2-0ubuntu1.10",
                "kind": "binary",
                "source": openssl_source,
                "normalized_version": "",
                "arch": "amd64",
                "module": "",
                "cpe": "",
            },
            "20": {"id": "20", "name": "requests", "version": "2.25.0", "kind": "binary", "source": None},
            "30": {"id": "30", "name": "zlib", "version": "1.2.11", "kind": "binary"},
        },
        "distributions": {"1": distribution},
        "repository": {"4": {"id": "4", "name": "pypi", "uri": "https://pypi.org/simple"}},
        "environments": {
            "10": [{"package_db": "var/lib/dpkg/status", "introduced_in": LAYER, "distribution_id": "1"}],
            "20": [
                {
                    "package_db": "usr/lib/python3/site-packages",
                    "introduced_in": LAYER,
                    "repository_ids": ["4"],
                },
                {"package_db": "opt/app/venv/site-packages", "introduced_in": LAYER, "repository_ids": ["4"]},
            ],
            "30": [{"package_db": "var/lib/rpm/Packages", "introduced_in": LAYER}],
        },
        "vulnerabilities": {
            "356835": {
                "id": "356835",
                "updater": "ubuntu/updater/jammy",
                "name": "CVE-2023-0286",
                "description": "X.400 address type confusion in X.509 GeneralName",
                "issued": "2023-02-08T00:00:00Z",
                "links": "https://ubuntu.com/security/CVE-2023-0286",
                "severity": "High",
                "normalized_severity": "High",
                "package": openssl_source,
                "distribution": distribution,
                "repository": None,
                "fixed_in_version": "3.0.2-0ubuntu1.8",
                "arch_op": "equals",
            },
            "356836": {
                "id": "356836",
                "updater": "ubuntu/updater/jammy",
                "name": "CVE-2024-0727",
                "description": "PKCS12 NULL pointer",
                "issued": "2024-01-26T00:00:00Z",
                "links": "",
                "severity": "Low",
                "normalized_severity": "Low",
                "package": openssl_source,
                "fixed_in_version": "",
            },
            "7000": {
                "id": "7000",
                "updater": "osv/pypi",
                "name": "GHSA-j8r2-6x86-q33q",
                "description": "Requests Proxy-Authorization leak",
                "issued": "2023-05-22T00:00:00Z",
                "links": "https://github.com/advisories/GHSA-j8r2-6x86-q33q",
                "severity": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N",
                "normalized_severity": "Unknown",
                "package": {"id": "", "name": "requests", "version": "", "kind": "binary"},
                "repository": {"id": "", "name": "pypi", "uri": "https://pypi.org/simple"},
                "fixed_in_version": "fixed=2.31.0&introduced=2.3.0",
            },
            "8000": {
                "id": "8000",
                "updater": "RHEL8-rhel-8-including-unpatched",
                "name": "RHSA-2022:2201: zlib security update (Important)",
                "description": "zlib memory corruption",
                "issued": "2022-05-10T00:00:00Z",
                "links": "https://access.redhat.com/errata/RHSA-2022:2201",
                "severity": "Important",
                "normalized_severity": "High",
                "package": {"id": "", "name": "zlib", "version": "", "kind": "binary"},
                "fixed_in_version": "0:1.2.11-18.el8_5",
            },
        },
        "package_vulnerabilities": {"10": ["356835", "356836"], "20": ["7000"], "30": ["8000"]},
        "enrichments": {
            CVSS_ENRICHMENT: [
                {
                    "356835": [
                        {
                            "version": "3.1",
                            "vectorString": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:H",
                            "baseScore": 7.4,
                            "baseSeverity": "HIGH",
                        }
                    ],
                    "7000": [
                        {
                            "version": "3.1",
                            "vectorString": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N",
                            "baseScore": 6.1,
                            "baseSeverity": "MEDIUM",
                        }
                    ],
                }
            ]
        },
    }


# --- the real reports -------------------------------------------------------------------------------


def test_clairctl_ubuntu_bionic_has_the_readme_figures() -> None:
    report = parse_clair(load("clair/dd_clairctl-ubuntu-bionic.json"))
    # README row: Vulns 35, Medium 9, Low 15, Negligible 11, fixable 3/32.
    assert len(report.findings) == 35
    assert severities(report.findings) == {"medium": 9, "low": 15, "negligible": 11}
    assert sum(f.fixable for f in report.findings) == 3
    assert {f.kind for f in report.findings} == {FindingKind.VULNERABILITY}
    assert len(dedupe(report.findings)) == 35
    assert report.format == "clair"
    assert report.scanner == "clair-scanner"
    assert report.scanner_version is None
    assert report.created_at is None
    assert report.image == ImageRef(
        "default-docker-3rdparty.bahnhub.tech.rz.db.de:443", "ubuntu", "bionic-20190912.1", None
    )
    e2fsprogs = next(f for f in report.findings if f.finding_id == "CVE-2019-5094")
    assert (e2fsprogs.package, e2fsprogs.installed_version, e2fsprogs.fixed_version) == (
        "e2fsprogs",
        "1.44.1-1ubuntu1.1",
        "1.44.1-1ubuntu1.2",
    )


def test_klar_mixed_has_the_readme_figures_with_defcon1_as_critical() -> None:
    report = parse_clair(load("clair/dd_klar-mixed.json"))
    # README row: Vulns 6, Critical 1, High 1, Medium 1, Low 1, Unknown 1, Critical(Defcon1) 1, fixable 6/0.
    assert len(report.findings) == 6
    assert severities(report.findings) == {"critical": 2, "high": 1, "medium": 1, "low": 1, "unknown": 1}
    assert sum(f.fixable for f in report.findings) == 6
    assert len(dedupe(report.findings)) == 6
    assert report.scanner == "klar"
    assert report.image is None
    defcon1 = report.findings[0]
    assert (defcon1.finding_id, defcon1.package, defcon1.severity) == (
        "RHSA-2019:0109",
        "perl-libs",
        Severity.CRITICAL,
    )


def test_klar_empty_has_the_readme_figures() -> None:
    report = parse_clair(load("clair/dd_klar-empty.json"))
    # README row: Vulns 0.
    assert report.findings == []
    assert report.scanner == "klar"
    assert report.image is None


# --- sniffing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("relative", OWN)
def test_each_clair_fixture_is_recognized(relative: str) -> None:
    assert looks_like_clair(load(relative))


@pytest.mark.parametrize("relative", fixtures_other_than(["clair"]))
def test_no_other_fixture_is_taken_for_clair(relative: str) -> None:
    assert not looks_like_clair(load(relative))


@pytest.mark.parametrize("relative", OWN)
def test_clair_fixtures_are_not_taken_for_snyk_or_harbor(relative: str) -> None:
    document = load(relative)
    assert not looks_like_snyk(document)
    assert not looks_like_harbor(document)


@pytest.mark.parametrize(
    "document",
    [clair_scanner_report(scanner_entry()), klar_report(High=[klar_entry()]), vulnerability_report()],
    ids=["clair-scanner", "klar", "clair-v4"],
)
def test_clair_shapes_are_recognized_by_clair_only(document: Any) -> None:
    assert looks_like_clair(document)
    assert not looks_like_snyk(document)
    assert not looks_like_harbor(document)


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        {},
        {"image": "alpine", "vulnerabilities": []},
        {"LayerCount": 3},
        {"manifest_hash": MANIFEST, "state": "IndexFinished", "packages": {}, "success": True},
        {"version": "15.0.7", "vulnerabilities": [], "remediations": []},
        {"vulnerabilities": [], "ok": True, "packageManager": "deb"},
        {"application/vnd.security.vulnerability.report; version=1.1": {"vulnerabilities": []}},
        [{"image": "alpine", "unapproved": [], "vulnerabilities": []}],
    ],
    ids=[
        "null",
        "list",
        "object",
        "image-without-unapproved",
        "layer-count-only",
        "clair-v4-index-report",
        "gitlab",
        "snyk",
        "harbor",
        "list-of-clair-scanner",
    ],
)
def test_other_documents_are_not_clair(document: Any) -> None:
    assert not looks_like_clair(document)


# --- clair-scanner ----------------------------------------------------------------------------------


def test_clair_scanner_fields_are_mapped() -> None:
    report = parse_clair(clair_scanner_report(scanner_entry()))
    assert report.findings == [
        Finding(
            kind=FindingKind.VULNERABILITY,
            finding_id="CVE-2024-0001",
            severity=Severity.HIGH,
            package="openssl",
            installed_version="1.1.1-1ubuntu2.1",
            fixed_version="1.1.1-1ubuntu2.2",
        )
    ]
    assert report.image == ImageRef("registry.example.com:5000", "team/app", "1.0", None)


def test_clair_scanner_approved_vulnerabilities_are_findings_too() -> None:
    report = parse_clair(
        clair_scanner_report(scanner_entry("CVE-1"), scanner_entry("CVE-2"), unapproved=["CVE-2"])
    )
    assert [f.finding_id for f in report.findings] == ["CVE-1", "CVE-2"]


def test_clair_scanner_null_lists_are_a_clean_image() -> None:
    report = parse_clair({"image": "alpine:3.19", "unapproved": None, "vulnerabilities": None})
    assert report.findings == []
    assert report.image == ImageRef("docker.io", "library/alpine", "3.19", None)


@pytest.mark.parametrize("image", ["", None, "/tmp/image.tar", "Not A Name"])
def test_clair_scanner_without_a_usable_image_name_has_no_image(image: str | None) -> None:
    assert parse_clair(clair_scanner_report(scanner_entry(), image=image)).image is None


@pytest.mark.parametrize(("fixed_by", "expected"), [("1.2-3", "1.2-3"), ("", None), (None, None)])
def test_clair_scanner_fixedby_empty_is_no_fix(fixed_by: str | None, expected: str | None) -> None:
    [finding] = parse_clair(clair_scanner_report(scanner_entry(fixedby=fixed_by))).findings
    assert finding.fixed_version == expected


# --- klar -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Defcon1", Severity.CRITICAL),
        ("defcon1", Severity.CRITICAL),
        ("Critical", Severity.CRITICAL),
        ("High", Severity.HIGH),
        ("Medium", Severity.MEDIUM),
        ("Low", Severity.LOW),
        ("Negligible", Severity.NEGLIGIBLE),
        ("Unknown", Severity.UNKNOWN),
        ("Whatever", Severity.UNKNOWN),
        (None, Severity.UNKNOWN),
    ],
)
def test_clair_severity_words(word: str | None, expected: Severity) -> None:
    assert clair_severity(word) is expected


def test_klar_takes_the_entry_severity_else_its_bucket() -> None:
    report = parse_clair(
        klar_report(
            Defcon1=[klar_entry("A", Severity="Defcon1")],
            High=[klar_entry("B", Severity=None), klar_entry("C", Severity="")],
            Negligible=[klar_entry("D")],
        )
    )
    assert [(f.finding_id, f.severity) for f in report.findings] == [
        ("A", Severity.CRITICAL),
        ("B", Severity.HIGH),
        ("C", Severity.HIGH),
        ("D", Severity.HIGH),
    ]


def test_klar_fields_and_nvd_metadata_score() -> None:
    metadata = {"NVD": {"CVSSv2": {"Score": 5.0, "Vectors": "AV:N"}, "CVSSv3": {"Score": 7.5}}}
    [finding] = parse_clair(klar_report(High=[klar_entry(Metadata=metadata, FixedBy="")])).findings
    assert finding == Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id="RHSA-2019:0109",
        severity=Severity.HIGH,
        package="perl",
        installed_version="4:5.16.3-293.el7",
        fixed_version=None,
        cvss_score=7.5,
    )


@pytest.mark.parametrize("metadata", [None, "x", {"NVD": "x"}, {"NVD": {"CVSSv2": 5}}, {"Other": {}}])
def test_klar_free_form_metadata_of_another_shape_has_no_score(metadata: Any) -> None:
    [finding] = parse_clair(klar_report(High=[klar_entry(Metadata=metadata)])).findings
    assert finding.cvss_score is None


def test_klar_null_bucket_is_empty() -> None:
    assert parse_clair(klar_report(High=None)).findings == []


# --- Clair v4 ---------------------------------------------------------------------------------------


def test_clair_v4_gives_one_finding_per_package_and_vulnerability() -> None:
    report = parse_clair(vulnerability_report())
    assert report.scanner == "clair"
    assert report.format == "clair"
    # The report names the manifest digest only, no repository: no image.
    assert report.image is None
    assert report.findings == [
        Finding(
            kind=FindingKind.VULNERABILITY,
            finding_id="CVE-2023-0286",
            severity=Severity.HIGH,
            package="libssl3",
            installed_version="3.0.2-0ubuntu1.10",
            fixed_version="3.0.2-0ubuntu1.8",
            location="var/lib/dpkg/status",
            cvss_score=7.4,
        ),
        Finding(
            kind=FindingKind.VULNERABILITY,
            finding_id="CVE-2024-0727",
            severity=Severity.LOW,
            package="libssl3",
            installed_version="3.0.2-0ubuntu1.10",
            fixed_version=None,
            location="var/lib/dpkg/status",
        ),
        Finding(
            kind=FindingKind.VULNERABILITY,
            finding_id="GHSA-j8r2-6x86-q33q",
            # normalized_severity Unknown: the CVSS enrichment's baseSeverity.
            severity=Severity.MEDIUM,
            package="requests",
            installed_version="2.25.0",
            fixed_version="2.31.0",
            location="opt/app/venv/site-packages, usr/lib/python3/site-packages",
            cvss_score=6.1,
        ),
        Finding(
            kind=FindingKind.VULNERABILITY,
            finding_id="RHSA-2022:2201",
            severity=Severity.HIGH,
            title="zlib security update (Important)",
            package="zlib",
            installed_version="1.2.11",
            fixed_version="0:1.2.11-18.el8_5",
            location="var/lib/rpm/Packages",
        ),
    ]


@pytest.mark.parametrize(
    ("fixed_in_version", "expected"),
    [
        ("1.2.3-1", "1.2.3-1"),
        ("", None),
        (None, None),
        ("fixed=2.31.0", "2.31.0"),
        ("introduced=1.0&fixed=1.5&fixed=2.1", "1.5, 2.1"),
        ("introduced=0&lastAffected=1.4", None),
        ("epoch=1&odd", "epoch=1&odd"),
    ],
)
def test_clair_v4_fixed_in_version(fixed_in_version: str | None, expected: str | None) -> None:
    document = vulnerability_report()
    document["vulnerabilities"]["356835"]["fixed_in_version"] = fixed_in_version
    assert parse_clair(document).findings[0].fixed_version == expected


def test_clair_v4_unknown_severity_without_enrichment_stays_unknown() -> None:
    document = vulnerability_report()
    del document["enrichments"]
    requests = next(f for f in parse_clair(document).findings if f.package == "requests")
    assert requests.severity is Severity.UNKNOWN
    assert requests.cvss_score is None


def test_clair_v4_normalized_severity_wins_over_the_vendor_word_and_the_enrichment() -> None:
    document = vulnerability_report()
    document["vulnerabilities"]["356835"]["severity"] = "Critical"
    document["enrichments"][CVSS_ENRICHMENT][0]["356835"][0]["baseSeverity"] = "CRITICAL"
    assert parse_clair(document).findings[0].severity is Severity.HIGH


def test_clair_v4_clean_report_and_other_enrichments() -> None:
    document = vulnerability_report()
    document["package_vulnerabilities"] = {}
    document["enrichments"] = {"message/vnd.clair.map.layer; enricher=other": [{"x": 1}, "y"]}
    assert parse_clair(document).findings == []


def test_clair_v4_same_package_in_two_databases_stays_two_findings() -> None:
    document = vulnerability_report()
    document["packages"]["21"] = dict(document["packages"]["20"], id="21")
    document["environments"]["20"] = [{"package_db": "usr/lib/python3/site-packages"}]
    document["environments"]["21"] = [{"package_db": "opt/app/venv/site-packages"}]
    document["package_vulnerabilities"]["21"] = ["7000"]
    requests = [f for f in dedupe(parse_clair(document).findings) if f.package == "requests"]
    assert [f.location for f in requests] == ["usr/lib/python3/site-packages", "opt/app/venv/site-packages"]


# --- broken structure -------------------------------------------------------------------------------


def _v4_with(change: Any) -> dict[str, Any]:
    document = vulnerability_report()
    change(document)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (clair_scanner_report(vulnerabilities={}), "vulnerabilities: expected a list, got an object"),
        (clair_scanner_report(scanner_entry(), 3), "vulnerabilities[1]: expected an object, got a number"),
        (clair_scanner_report(scanner_entry(vulnerability="")), "vulnerabilities[0]: missing vulnerability"),
        (
            clair_scanner_report(scanner_entry(featurename=["x"])),
            "vulnerabilities[0].featurename: expected a string, got a list",
        ),
        (clair_scanner_report(image=7), "image: expected a string, got a number"),
        ({"LayerCount": 1, "Vulnerabilities": []}, "Vulnerabilities: expected an object, got a list"),
        (klar_report(High={"Name": "x"}), "Vulnerabilities.High: expected a list, got an object"),
        (klar_report(High=["x"]), "Vulnerabilities.High[0]: expected an object, got a string"),
        (klar_report(High=[klar_entry(Name=None)]), "Vulnerabilities.High[0]: missing Name"),
        (
            klar_report(High=[klar_entry(FixedBy=1)]),
            "Vulnerabilities.High[0].FixedBy: expected a string, got a number",
        ),
        (
            klar_report(High=[klar_entry(Metadata={"NVD": {"CVSSv3": {"Score": "7"}}})]),
            "Vulnerabilities.High[0].Metadata.NVD.CVSSv3.Score: expected a number, got a string",
        ),
        (
            _v4_with(lambda d: d.update(packages=[])),
            "packages: expected an object, got a list",
        ),
        (
            _v4_with(lambda d: d["package_vulnerabilities"].update({"10": "356835"})),
            "package_vulnerabilities.10: expected a list, got a string",
        ),
        (
            _v4_with(lambda d: d["package_vulnerabilities"].update({"99": ["356835"]})),
            "package_vulnerabilities.99: refers to '99', which is not in packages",
        ),
        (
            _v4_with(lambda d: d["package_vulnerabilities"].update({"10": ["404"]})),
            "package_vulnerabilities.10: refers to '404', which is not in vulnerabilities",
        ),
        (
            _v4_with(lambda d: d["packages"].update({"10": "libssl3"})),
            "packages.10: expected an object, got a string",
        ),
        (
            _v4_with(lambda d: d["packages"]["10"].pop("name")),
            "packages.10: missing name",
        ),
        (
            _v4_with(lambda d: d["vulnerabilities"]["356835"].update(name=None)),
            "vulnerabilities.356835: missing name",
        ),
        (
            _v4_with(lambda d: d["vulnerabilities"]["356835"].update(normalized_severity=3)),
            "vulnerabilities.356835.normalized_severity: expected a string, got a number",
        ),
        (
            _v4_with(lambda d: d["environments"].update({"10": {"package_db": "x"}})),
            "environments.10: expected a list, got an object",
        ),
        (
            _v4_with(lambda d: d["enrichments"].update({CVSS_ENRICHMENT: {}})),
            f"enrichments.{CVSS_ENRICHMENT}: expected a list, got an object",
        ),
        (
            _v4_with(lambda d: d["enrichments"][CVSS_ENRICHMENT][0].update({"356835": [{"baseScore": "7"}]})),
            f"enrichments.{CVSS_ENRICHMENT}[0].356835[0].baseScore: expected a number, got a string",
        ),
    ],
)
def test_broken_structure_is_invalid_naming_the_path(document: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_clair(document)
    assert raised.value.message == message
    path, problem = message.split(": ", 1)
    assert raised.value.details == [{"path": path, "problem": problem}]


@pytest.mark.parametrize(
    "document",
    [
        clair_scanner_report(scanner_entry()),
        klar_report(Defcon1=[klar_entry(Metadata={"NVD": {"CVSSv2": {"Score": 5}}})]),
        vulnerability_report(),
    ],
    ids=["clair-scanner", "klar", "clair-v4"],
)
def test_no_wrongly_typed_value_anywhere_escapes_as_a_crash(document: Any) -> None:
    crashes = []
    for path in list(paths_of(document))[1:]:
        for value in WRONG_VALUES:
            changed = replaced(document, path, value)
            if not looks_like_clair(changed):
                continue
            try:
                dedupe(parse_clair(changed).findings)
            except InvalidInput:
                pass
            except Exception as error:
                crashes.append((path, value, repr(error)))
    assert crashes == []
