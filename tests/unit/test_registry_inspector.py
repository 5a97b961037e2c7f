"""Inspector2 findings (also ECR's enhanced findings): the real ListFindings answers of ../shared and
hand-made variations of them."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.registries.inspector import finding_of, inspector_findings
from tests.conftest import SCANNER_FIXTURES

REGISTRY_FIXTURES = SCANNER_FIXTURES.parent / "registries"
MANY = "inspector2/aws_inspector2_many_vul.json"
ONE = "inspector2/aws_inspector2_one_vul.json"
FINDING_EVENT = "inspector2/awsdocs_inspector2-finding-event.json"
MANY_DIGEST = "sha256:d667ad018b538adadb5bd1db75836c8561b23bc7d31d9cd8941fa74f5df93802"


def registry_fixture(relative: str) -> Any:
    """A registry fixture of ../shared as JSON; the test skips, saying why, without it."""
    path = REGISTRY_FIXTURES / relative
    if not path.is_file():
        pytest.skip(f"registry fixtures not found at {REGISTRY_FIXTURES}")
    return json.loads(path.read_text(encoding="utf-8"))


def one_finding() -> dict[str, Any]:
    item: dict[str, Any] = registry_fixture(ONE)["findings"][0]
    return item


def package_of(item: dict[str, Any]) -> dict[str, Any]:
    package: dict[str, Any] = item["packageVulnerabilityDetails"]["vulnerablePackages"][0]
    return package


# --- the real answers -------------------------------------------------------------------------------


def test_only_active_findings_of_ecr_images_count() -> None:
    findings = inspector_findings(registry_fixture(MANY)["findings"])

    ids = [finding.finding_id for finding in findings]
    # CVE-2021-3744 is CLOSED, CVE-2015-8035 concerns an EC2 instance; CVE-2022-29824 names two packages.
    assert ids == [
        "CVE-2024-37021",
        "CVE-2021-3640",
        "CVE-2021-47013",
        "CVE-2022-29824",
        "CVE-2022-29824",
        "CVE-2023-42753",
        "CVE-2020-27170",
    ]
    assert Counter(finding.severity.value for finding in findings) == {"high": 2, "medium": 3, "unknown": 2}


def test_untriaged_is_unknown_and_not_available_is_no_fix() -> None:
    findings = {
        finding.finding_id: finding for finding in inspector_findings(registry_fixture(MANY)["findings"])
    }

    untriaged = findings["CVE-2024-37021"]
    assert untriaged.severity is Severity.UNKNOWN
    assert untriaged.cvss_score is None
    assert untriaged.fixed_version is None
    assert not untriaged.fixable
    assert untriaged.fix_state == "NO"
    assert findings["CVE-2021-47013"].severity is Severity.UNKNOWN
    assert findings["CVE-2021-47013"].fixed_version == "0:4.19.194-1"


def test_one_package_listed_twice_with_two_releases_is_two_findings() -> None:
    findings = inspector_findings(registry_fixture(MANY)["findings"])

    libxml2 = [(f.package, f.installed_version) for f in findings if f.finding_id == "CVE-2022-29824"]
    assert libxml2 == [("libxml2", "2.9.4+dfsg1-7+b3"), ("libxml2", "2.9.4+dfsg1-7")]


def test_the_digest_selects_the_findings_of_that_image() -> None:
    items = registry_fixture(MANY)["findings"]

    assert len(inspector_findings(items, digest=MANY_DIGEST)) == 7
    assert inspector_findings(items, digest="sha256:" + "0" * 64) == []


def test_the_one_finding_answer() -> None:
    findings = inspector_findings(registry_fixture(ONE)["findings"])

    assert findings == [
        Finding(
            kind=FindingKind.VULNERABILITY,
            finding_id="CVE-2021-3744",
            severity=Severity.MEDIUM,
            title="CVE-2021-3744 - linux",
            package="linux",
            # version 4.19.118, release 2: Debian's 4.19.118-2.
            installed_version="4.19.118-2",
            fixed_version="0:4.19.232-1",
            cvss_score=5.5,
            fix_state="YES",
        )
    ]


def test_an_answer_without_findings_is_none() -> None:
    assert inspector_findings(registry_fixture("inspector2/aws_inspector2_zero_vul.json")["findings"]) == []


def test_inspectors_score_comes_before_the_highest_cvss_and_the_highest_cvss_after_it() -> None:
    item = registry_fixture(FINDING_EVENT)["detail"]

    assert [finding.cvss_score for finding in finding_of(item)] == [6.5]
    del item["inspectorScore"]
    # cvss[] holds 6.5 (3.0), 5.8 (2.0) and 8.1 (3.1).
    assert [finding.cvss_score for finding in finding_of(item)] == [8.1]


def test_the_aws_doc_finding_has_its_release_and_no_fix() -> None:
    (finding,) = finding_of(registry_fixture(FINDING_EVENT)["detail"])

    assert (finding.package, finding.installed_version, finding.fixed_version) == (
        "libssh2",
        "1.4.3-12.amzn2.2",
        None,
    )
    assert finding.fix_state is None


# --- variations -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", "CLOSED"), ("status", "SUPPRESSED"), ("type", "NETWORK_REACHABILITY"), ("type", None)],
)
def test_findings_that_are_no_active_package_vulnerability_are_left_out(field: str, value: Any) -> None:
    item = one_finding()
    if value is None:
        del item[field]
    else:
        item[field] = value

    assert finding_of(item) == []


def test_a_finding_without_status_counts() -> None:
    item = one_finding()
    del item["status"]

    assert [finding.finding_id for finding in finding_of(item)] == ["CVE-2021-3744"]


def test_ecrs_score_name_is_read() -> None:
    item = one_finding()
    item["score"] = 9.1
    del item["inspectorScore"]

    assert finding_of(item)[0].cvss_score == 9.1


def test_the_file_path_of_a_language_package_is_its_location_and_an_epoch_prefixes_the_version() -> None:
    item = one_finding()
    package_of(item).update(
        {"name": "lodash", "version": "4.17.20", "filePath": "app/package-lock.json", "epoch": 1}
    )
    del package_of(item)["release"]

    (finding,) = finding_of(item)

    assert (finding.package, finding.installed_version, finding.location) == (
        "lodash",
        "1:4.17.20",
        "app/package-lock.json",
    )


def test_informational_is_negligible() -> None:
    item = one_finding() | {"severity": "INFORMATIONAL"}

    assert finding_of(item)[0].severity is Severity.NEGLIGIBLE


def test_a_vulnerability_naming_no_package_is_kept_without_one() -> None:
    item = one_finding()
    item["packageVulnerabilityDetails"]["vulnerablePackages"] = []

    (finding,) = finding_of(item)

    assert (finding.finding_id, finding.package, finding.cvss_score) == ("CVE-2021-3744", None, 5.5)


def test_the_same_finding_on_two_pages_is_one() -> None:
    item = one_finding()

    assert len(inspector_findings([item, copy.deepcopy(item)])) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda item: item["packageVulnerabilityDetails"].pop("vulnerabilityId"),
            r"findings\[0\]\.packageVulnerabilityDetails: missing vulnerabilityId",
        ),
        (
            lambda item: item["packageVulnerabilityDetails"].update(vulnerablePackages={"name": "x"}),
            r"findings\[0\]\.packageVulnerabilityDetails\.vulnerablePackages: expected a list",
        ),
        (
            lambda item: item.update(resources="AWS_ECR_CONTAINER_IMAGE"),
            r"findings\[0\]\.resources: expected a list",
        ),
    ],
)
def test_a_broken_finding_is_invalid_input_naming_the_path(change: Any, message: str) -> None:
    item = one_finding()
    change(item)

    with pytest.raises(InvalidInput, match=message):
        inspector_findings([item])
