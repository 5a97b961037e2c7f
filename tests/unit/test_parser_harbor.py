"""Harbor scanner-adapter reports: the real report of ../shared and hand-built documents."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Finding, FindingKind, Severity, dedupe
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers.clair import looks_like_clair
from riskgate.domain.parsers.harbor import (
    LEGACY_REPORT_MEDIA_TYPE,
    REPORT_MEDIA_TYPE,
    looks_like_harbor,
    parse_harbor,
)
from riskgate.domain.parsers.snyk import looks_like_snyk
from tests.support.scanner_documents import WRONG_VALUES, fixtures_other_than, load, paths_of, replaced

OWN = ["harbor/dd_harbor-trivy-adapter.json"]
DIGEST = "sha256:" + "e" * 64
SBOM_MEDIA_TYPE = "application/vnd.security.sbom.report+json; version=1.0"


# --- builders ---------------------------------------------------------------------------------------


def item(vulnerability_id: str = "CVE-2024-0001", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": vulnerability_id,
        "package": "openssl",
        "version": "3.0.11-1",
        "fix_version": "3.0.13-1",
        "severity": "High",
        "description": "something bad",
        "links": ["https://avd.aquasec.com/nvd/" + vulnerability_id.lower()],
        "layer": {"digest": DIGEST, "diff_id": DIGEST},
        "preferred_cvss": {"score_v3": 7.5, "score_v2": 5.0, "vector_v3": "CVSS:3.1/AV:N", "vector_v2": ""},
        "cwe_ids": ["CWE-125"],
        "vendor_attributes": {"CVSS": {"nvd": {"V3Score": 9.8}}},
    }
    entry.update(fields)
    return entry


def report(*items: Any, **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "generated_at": "2024-05-06T07:08:09.123456789Z",
        "artifact": {"repository": "library/nginx", "digest": DIGEST, "tag": "1.25", "mime_type": "x"},
        "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.50.1"},
        "severity": "High",
        "vulnerabilities": list(items),
    }
    document.update(fields)
    return document


def keyed(*items: Any, media_type: str = REPORT_MEDIA_TYPE, **fields: Any) -> dict[str, Any]:
    return {media_type: report(*items, **fields)}


# --- the real report --------------------------------------------------------------------------------


def test_harbor_trivy_adapter_has_the_readme_figures() -> None:
    parsed = parse_harbor(load("harbor/dd_harbor-trivy-adapter.json"))
    # README row: Vulns 3, High 1, Low 2, fixable 0/3.
    assert len(parsed.findings) == 3
    assert Counter(f.severity.value for f in parsed.findings) == {"high": 1, "low": 2}
    assert sum(f.fixable for f in parsed.findings) == 0
    assert {f.kind for f in parsed.findings} == {FindingKind.VULNERABILITY}
    assert len(dedupe(parsed.findings)) == 3
    assert parsed.format == "harbor"
    assert parsed.scanner == "Trivy"
    assert parsed.scanner_version == "v0.44.0"
    assert parsed.created_at == "2023-09-08T00:19:11.258693685Z"
    # No `artifact` in this report: no image.
    assert parsed.image is None
    first = parsed.findings[0]
    assert (first.finding_id, first.package, first.installed_version, first.cvss_score) == (
        "CVE-2022-1304",
        "e2fsprogs",
        "1.46.2-2",
        7.8,
    )


# --- sniffing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("relative", OWN)
def test_the_harbor_fixture_is_recognized_by_harbor_only(relative: str) -> None:
    document = load(relative)
    assert looks_like_harbor(document)
    assert not looks_like_snyk(document)
    assert not looks_like_clair(document)


@pytest.mark.parametrize("relative", fixtures_other_than(["harbor"]))
def test_no_other_fixture_is_taken_for_harbor(relative: str) -> None:
    assert not looks_like_harbor(load(relative))


@pytest.mark.parametrize(
    "document",
    [
        keyed(item()),
        keyed(item(), media_type=LEGACY_REPORT_MEDIA_TYPE),
        report(item()),
        {REPORT_MEDIA_TYPE: report(), SBOM_MEDIA_TYPE: {"sbom": {}}},
        # An adapter omits an empty list.
        {k: v for k, v in report().items() if k != "vulnerabilities"},
    ],
    ids=["keyed-1.1", "keyed-1.0", "bare", "keyed-with-sbom", "bare-clean"],
)
def test_harbor_shapes_are_recognized_by_harbor_only(document: Any) -> None:
    assert looks_like_harbor(document)
    assert not looks_like_snyk(document)
    assert not looks_like_clair(document)


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        {},
        [keyed(item())],
        {SBOM_MEDIA_TYPE: {"sbom": {}}},
        {"generated_at": "x", "scanner": {"name": "Trivy"}, "media_type": "spdx", "sbom": {}},
        {"generated_at": "x", "scanner": "Trivy", "vulnerabilities": []},
        {"scanner": {"name": "Trivy"}, "vulnerabilities": []},
        {"version": "15.0.7", "vulnerabilities": [], "remediations": [], "scan": {"scanner": {}}},
        {"vulnerabilities": [], "ok": True, "packageManager": "deb"},
        {"image": "alpine", "unapproved": [], "vulnerabilities": []},
        {"LayerCount": 3, "Vulnerabilities": {}},
        {"manifest_hash": DIGEST, "packages": {}, "vulnerabilities": {}, "package_vulnerabilities": {}},
        {
            "apiVersion": "aquasecurity.github.io/v1alpha1",
            "kind": "VulnerabilityReport",
            "report": {"scanner": {"name": "Trivy"}, "vulnerabilities": [], "updateTimestamp": "x"},
        },
        {"bomFormat": "CycloneDX", "vulnerabilities": []},
    ],
    ids=[
        "null",
        "list",
        "object",
        "list-of-keyed",
        "sbom-only",
        "bare-sbom",
        "scanner-not-an-object",
        "no-generated-at",
        "gitlab",
        "snyk",
        "clair-scanner",
        "klar",
        "clair-v4",
        "trivy-operator",
        "cyclonedx",
    ],
)
def test_other_documents_are_not_harbor(document: Any) -> None:
    assert not looks_like_harbor(document)


# --- fields -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("document", [keyed(item()), report(item())], ids=["keyed", "bare"])
def test_harbor_fields_are_mapped(document: dict[str, Any]) -> None:
    parsed = parse_harbor(document)
    assert parsed.findings == [
        Finding(
            kind=FindingKind.VULNERABILITY,
            finding_id="CVE-2024-0001",
            severity=Severity.HIGH,
            package="openssl",
            installed_version="3.0.11-1",
            fixed_version="3.0.13-1",
            cvss_score=7.5,
        )
    ]
    assert (parsed.scanner, parsed.scanner_version) == ("Trivy", "v0.50.1")
    assert parsed.created_at == "2024-05-06T07:08:09.123456789Z"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Critical", Severity.CRITICAL),
        ("High", Severity.HIGH),
        ("Medium", Severity.MEDIUM),
        ("Low", Severity.LOW),
        ("Negligible", Severity.NEGLIGIBLE),
        ("None", Severity.NEGLIGIBLE),
        ("Unknown", Severity.UNKNOWN),
        (None, Severity.UNKNOWN),
    ],
)
def test_severity_is_the_entry_word(word: str | None, expected: Severity) -> None:
    # The report's overall `severity` ("High") is not the entry's.
    [finding] = parse_harbor(keyed(item(severity=word))).findings
    assert finding.severity is expected


@pytest.mark.parametrize(("fix_version", "expected"), [("1.2.4", "1.2.4"), ("", None), (None, None)])
def test_empty_fix_version_is_no_fix(fix_version: str | None, expected: str | None) -> None:
    [finding] = parse_harbor(keyed(item(fix_version=fix_version))).findings
    assert finding.fixed_version == expected
    assert finding.fixable is (expected is not None)


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [
        ({"score_v3": 9.1, "score_v2": 5.0}, 9.1),
        ({"score_v3": None, "score_v2": 5}, 5.0),
        ({}, None),
        (None, None),
        ({"score_v3": 99.0, "score_v2": 4.3}, 4.3),
    ],
)
def test_cvss_is_the_preferred_v3_score_else_v2(
    preferred: dict[str, Any] | None, expected: float | None
) -> None:
    [finding] = parse_harbor(keyed(item(preferred_cvss=preferred))).findings
    assert finding.cvss_score == expected


def test_absent_or_null_vulnerabilities_are_a_clean_image() -> None:
    bare = report()
    del bare["vulnerabilities"]
    assert parse_harbor(bare).findings == []
    assert parse_harbor(keyed(vulnerabilities=None)).findings == []


def test_every_vulnerability_report_key_is_read_and_the_sbom_is_not() -> None:
    document = {
        LEGACY_REPORT_MEDIA_TYPE: report(item("CVE-1"), scanner={"name": "Clair", "version": "v2.1.4"}),
        SBOM_MEDIA_TYPE: {"sbom": {"vulnerabilities": [item("CVE-9")]}},
        REPORT_MEDIA_TYPE: report(item("CVE-1"), item("CVE-2")),
    }
    parsed = parse_harbor(document)
    assert [f.finding_id for f in dedupe(parsed.findings)] == ["CVE-1", "CVE-2"]
    assert (parsed.scanner, parsed.scanner_version) == ("Clair", "v2.1.4")


def test_a_null_report_under_its_media_type_is_skipped() -> None:
    parsed = parse_harbor({REPORT_MEDIA_TYPE: None})
    assert parsed.findings == []
    assert parsed.scanner is None


def test_the_scan_overview_is_refused_not_read_as_clean() -> None:
    overview = {
        REPORT_MEDIA_TYPE: {
            "report_id": "f4d6c1f0",
            "scan_status": "Success",
            "severity": "Critical",
            "duration": 12,
            "summary": {"total": 3, "fixable": 0, "summary": {"High": 1, "Low": 2}},
            "complete_percent": 100,
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.44.0"},
        }
    }
    with pytest.raises(InvalidInput) as refused:
        parse_harbor(overview)
    assert refused.value.message.startswith(
        f"{REPORT_MEDIA_TYPE}: no vulnerabilities list: this is Harbor's scan overview"
    )


def test_same_vulnerability_of_the_same_package_version_is_one_finding() -> None:
    # Harbor names no file: entries differing only in their layer are one finding.
    other_layer = item(layer={"digest": "sha256:" + "f" * 64})
    assert len(dedupe(parse_harbor(keyed(item(), other_layer)).findings)) == 1
    assert len(dedupe(parse_harbor(keyed(item(), item(version="3.0.12-1"))).findings)) == 2


# --- the image --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("artifact", "expected"),
    [
        # Harbor's repository is project/repository inside Harbor: no host, so no image.
        ({"repository": "library/nginx", "digest": DIGEST, "tag": "1.25"}, None),
        ({"repository": "nginx", "tag": "1.25"}, None),
        (None, None),
        ({}, None),
        (
            {"repository": "harbor.example.com/library/nginx", "digest": DIGEST, "tag": "1.25"},
            ImageRef("harbor.example.com", "library/nginx", "1.25", DIGEST),
        ),
        (
            {"repository": "harbor.example.com:8443/proj/app", "digest": DIGEST},
            ImageRef("harbor.example.com:8443", "proj/app", None, DIGEST),
        ),
        (
            {"repository": "localhost/proj/app", "tag": "dev"},
            ImageRef("localhost", "proj/app", "dev", None),
        ),
        ({"repository": "harbor.example.com/Bad Name", "tag": "1"}, None),
    ],
)
def test_image_only_when_the_repository_names_its_registry(
    artifact: dict[str, Any] | None, expected: ImageRef | None
) -> None:
    assert parse_harbor(keyed(item(), artifact=artifact)).image == expected


# --- broken structure -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (keyed(vulnerabilities={}), f"{REPORT_MEDIA_TYPE}.vulnerabilities: expected a list, got an object"),
        ({REPORT_MEDIA_TYPE: []}, f"{REPORT_MEDIA_TYPE}: expected an object, got a list"),
        (keyed(item(), "x"), f"{REPORT_MEDIA_TYPE}.vulnerabilities[1]: expected an object, got a string"),
        (keyed(item(id="")), f"{REPORT_MEDIA_TYPE}.vulnerabilities[0]: missing id"),
        (
            keyed(item(package=1)),
            f"{REPORT_MEDIA_TYPE}.vulnerabilities[0].package: expected a string, got a number",
        ),
        (
            keyed(item(fix_version=["1"])),
            f"{REPORT_MEDIA_TYPE}.vulnerabilities[0].fix_version: expected a string, got a list",
        ),
        (
            keyed(item(severity=3)),
            f"{REPORT_MEDIA_TYPE}.vulnerabilities[0].severity: expected a string, got a number",
        ),
        (
            keyed(item(preferred_cvss=7.5)),
            f"{REPORT_MEDIA_TYPE}.vulnerabilities[0].preferred_cvss: expected an object, got a number",
        ),
        (
            keyed(item(preferred_cvss={"score_v3": "7.5"})),
            f"{REPORT_MEDIA_TYPE}.vulnerabilities[0].preferred_cvss.score_v3: "
            "expected a number, got a string",
        ),
        (keyed(scanner="Trivy"), f"{REPORT_MEDIA_TYPE}.scanner: expected an object, got a string"),
        (keyed(generated_at=1), f"{REPORT_MEDIA_TYPE}.generated_at: expected a string, got a number"),
        (keyed(artifact=[]), f"{REPORT_MEDIA_TYPE}.artifact: expected an object, got a list"),
        (
            keyed(artifact={"repository": 5}),
            f"{REPORT_MEDIA_TYPE}.artifact.repository: expected a string, got a number",
        ),
        (report(vulnerabilities="none"), "vulnerabilities: expected a list, got a string"),
        (report(item(version=False)), "vulnerabilities[0].version: expected a string, got a boolean"),
    ],
)
def test_broken_structure_is_invalid_naming_the_path(document: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_harbor(document)
    assert raised.value.message == message
    path, problem = message.split(": ", 1)
    assert raised.value.details == [{"path": path, "problem": problem}]


@pytest.mark.parametrize(
    "document",
    [
        keyed(item(), artifact={"repository": "harbor.example.com/p/r", "digest": DIGEST, "tag": "1"}),
        report(item(), item("CVE-2")),
    ],
    ids=["keyed", "bare"],
)
def test_no_wrongly_typed_value_anywhere_escapes_as_a_crash(document: Any) -> None:
    crashes = []
    for path in list(paths_of(document))[1:]:
        for value in WRONG_VALUES:
            changed = replaced(document, path, value)
            if not looks_like_harbor(changed):
                continue
            try:
                dedupe(parse_harbor(changed).findings)
            except InvalidInput:
                pass
            except Exception as error:
                crashes.append((path, value, repr(error)))
    assert crashes == []


def test_a_report_wrapped_twice_is_refused_not_taken_for_a_clean_image() -> None:
    # e.g. Harbor's `/additions/vulnerabilities` answer posted under its media type once more
    with pytest.raises(InvalidInput, match="not a Harbor vulnerability report"):
        parse_harbor({REPORT_MEDIA_TYPE: {REPORT_MEDIA_TYPE: report(item("CVE-1"))}})
