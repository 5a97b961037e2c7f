"""ECR ingestion, pure part: the EventBridge events of ../shared's registry fixtures, the real
DescribeImageScanFindings answer, and what every registry shares (images, reports, scan ids, globs)."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef
from riskgate.domain.registries import (
    RegistryImage,
    matches_any,
    registry_report,
    registry_scan_id,
)
from riskgate.domain.registries.ecr import (
    basic_findings,
    scan_completed_at,
    scan_failed,
    scan_finished,
    scan_status,
    scanned_image,
)
from tests.conftest import SCANNER_FIXTURES

REGISTRY_FIXTURES = SCANNER_FIXTURES.parent / "registries"
SCAN_EVENT = "ecr/ecr-image-scan-event.json"
INSPECTOR_SCAN_EVENT = "inspector2/awsdocs_inspector2-scan-event.json"
FINDINGS_B = "ecr/scan-findings-example-b.json"
SCAN_EVENT_DIGEST = "sha256:d4a96ee9443e641fc100e763a0c10928720b50c6e3ea3342d05d7c3435fc5355"


def registry_fixture(relative: str) -> Any:
    """A registry fixture of ../shared as JSON; the test skips, saying why, without it."""
    path = REGISTRY_FIXTURES / relative
    if not path.is_file():
        pytest.skip(f"registry fixtures not found at {REGISTRY_FIXTURES}")
    return json.loads(path.read_text(encoding="utf-8"))


def basic_item(name: str = "CVE-2024-0001", **attributes: str) -> dict[str, Any]:
    return {
        "name": name,
        "severity": "HIGH",
        "attributes": [{"key": key, "value": value} for key, value in attributes.items()],
    }


def findings_page(*items: dict[str, Any], enhanced: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    scan: dict[str, Any] = {"findings": list(items)}
    if enhanced is not None:
        scan["enhancedFindings"] = enhanced
    return {"imageScanFindings": scan, "imageScanStatus": {"status": "COMPLETE"}}


# --- events -----------------------------------------------------------------------------------------


def test_an_ecr_image_scan_event_names_the_image_and_the_time_of_its_scan() -> None:
    finished = scan_finished(registry_fixture(SCAN_EVENT))

    assert finished is not None
    assert finished.scanner == "ecr"
    assert finished.image == RegistryImage(
        account_id="123456789012",
        region="eu-north-1",
        repository="tribble-image-scan-test",
        digest=SCAN_EVENT_DIGEST,
        tags=("1572471135",),
    )
    assert finished.scanned_at == "2019-10-30T21:32:27.000000Z"
    assert finished.event_id == "01234567-0123-0123-0123-012345678901"
    assert finished.image.image_ref.reference == (
        "123456789012.dkr.ecr.eu-north-1.amazonaws.com/tribble-image-scan-test:1572471135@"
        + SCAN_EVENT_DIGEST
    )


def test_a_scan_event_without_tags_names_the_image_by_digest_and_keeps_placeholder_digests() -> None:
    finished = scan_finished(
        registry_fixture("ecr/example-ecr-image-scan-event-with-missing-severities.json")
    )

    assert finished is not None
    assert finished.image.tags == ()
    # 60 hex characters: AWS's sample, not a valid sha256; it is only used to ask ECR.
    assert finished.image.digest == "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
    assert finished.image.image_ref.tag is None
    assert finished.image.region == "us-east-1"


def test_an_inspector_scan_event_reads_account_region_and_nested_name_from_the_repository_arn() -> None:
    event = registry_fixture(INSPECTOR_SCAN_EVENT)
    # The envelope's account and region say otherwise: the ARN names the repository's.
    event["account"], event["region"] = "999999999999", "eu-west-1"

    finished = scan_finished(event)

    assert finished is not None
    assert finished.scanner == "inspector"
    assert finished.image.repository == "amazon/amazon-ecs-sample"
    assert (finished.image.account_id, finished.image.region) == ("123456789012", "us-east-2")
    assert finished.image.tags == ("latest",)
    assert finished.image.digest == "sha256:36c7b282abd0186e01419f2e58743e1bf635808231049bbc9d77e5EXAMPLE"
    assert finished.scanned_at == "2021-12-03T18:03:16.000000Z"
    assert finished.image.registry == "123456789012.dkr.ecr.us-east-2.amazonaws.com"


@pytest.mark.parametrize(
    "relative",
    [
        "ecr/ecr-image-push-event.json",
        "ecr/awsdocs_ecr-scan-resource-change-event.json",
        "inspector2/awsdocs_inspector2-finding-event.json",
    ],
)
def test_events_that_announce_no_finished_scan_are_none(relative: str) -> None:
    event = registry_fixture(relative)

    assert scan_finished(event) is None
    assert scan_failed(event) is None
    assert scanned_image(event) is None


@pytest.mark.parametrize("event", [{}, [], "text", None, {"source": "aws.ecr"}, {"detail-type": 3}])
def test_anything_else_is_no_scan(event: Any) -> None:
    assert scan_finished(event) is None


def test_an_inspector_scan_of_a_lambda_function_is_no_image_scan() -> None:
    lambda_scan = {
        "id": "c1a71a02",
        "detail-type": "Inspector2 Scan",
        "source": "aws.inspector2",
        "account": "123456789123",
        "time": "2022-12-13T16:53:15Z",
        "region": "us-west-2",
        "detail": {"scan-status": "INITIAL_SCAN_COMPLETE", "finding-severity-counts": {"TOTAL": 0}},
    }

    assert scan_finished(lambda_scan) is None


def test_a_failed_basic_scan_is_no_finished_scan_but_says_why() -> None:
    event = registry_fixture(SCAN_EVENT)
    event["detail"]["scan-status"] = "FAILED"

    assert scan_finished(event) is None
    assert scan_failed(event) == "the ECR image scan ended with status FAILED"
    # The image of the failed scan is still known, for the connection's event.
    image = scanned_image(event)
    assert image is not None
    assert image.repository == "tribble-image-scan-test"


def test_a_completed_scan_has_no_failure() -> None:
    assert scan_failed(registry_fixture(SCAN_EVENT)) is None


@pytest.mark.parametrize(
    ("relative", "path", "value", "message"),
    [
        (SCAN_EVENT, ("detail", "image-digest"), None, "detail.image-digest: missing"),
        (SCAN_EVENT, ("detail", "repository-name"), None, "detail.repository-name: missing"),
        (SCAN_EVENT, ("detail", "scan-status"), None, "detail.scan-status: missing"),
        (SCAN_EVENT, ("detail", "image-tags"), [1572471135], "detail.image-tags[0]: expected a string"),
        (SCAN_EVENT, ("detail", "image-digest"), 42, "detail.image-digest: expected a string"),
        (SCAN_EVENT, ("time",), None, "time: missing"),
        (SCAN_EVENT, ("time",), "2019-10-30 21:32:27", "time: expected an ISO 8601 time with a zone"),
        (SCAN_EVENT, ("id",), None, "id: missing"),
        (SCAN_EVENT, ("account",), None, "account: missing"),
        (SCAN_EVENT, ("region",), None, "region: missing"),
        (SCAN_EVENT, ("detail",), [], "detail: expected an object"),
        (INSPECTOR_SCAN_EVENT, ("detail", "image-digest"), None, "detail.image-digest: missing"),
        (
            INSPECTOR_SCAN_EVENT,
            ("detail", "repository-name"),
            "arn:aws:lambda:us-east-2:123456789012:function:f",
            "detail.repository-name: expected a repository name or an ECR repository ARN",
        ),
    ],
)
def test_a_malformed_scan_event_is_invalid_input_naming_the_path(
    relative: str, path: tuple[str, ...], value: Any, message: str
) -> None:
    event = registry_fixture(relative)
    parent = event
    for key in path[:-1]:
        parent = parent[key]
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value

    with pytest.raises(InvalidInput) as raised:
        scan_finished(event)

    assert raised.value.message.startswith(message)


# --- DescribeImageScanFindings ----------------------------------------------------------------------


def test_the_real_basic_scan_gives_all_257_findings_with_their_severities() -> None:
    findings = basic_findings([registry_fixture(FINDINGS_B)])

    assert len(findings) == 257
    assert Counter(finding.severity.value for finding in findings) == {
        "negligible": 183,
        "medium": 32,
        "low": 25,
        "unknown": 11,
        "high": 5,
        "critical": 1,
    }
    assert findings[0] == Finding(
        kind=FindingKind.VULNERABILITY,
        finding_id="CVE-2019-19814",
        severity=Severity.CRITICAL,
        title=(
            "In the Linux kernel 5.0.21, mounting a crafted f2fs filesystem image can cause "
            "__remove_dirty_segment slab-out-of-bounds write access because an array is bounded by the "
            "number of dirty types (8) but the array index can exceed this."
        ),
        package="linux",
        installed_version="4.19.181-1",
        cvss_score=9.3,
    )
    # 238 findings carry CVSS2_SCORE; 16 have no description; a basic scan states no fixed version.
    assert sum(finding.cvss_score is not None for finding in findings) == 238
    assert sum(finding.title is None for finding in findings) == 16
    assert not any(finding.fixable for finding in findings)


def test_every_page_of_findings_is_read() -> None:
    response = registry_fixture(FINDINGS_B)
    items = response["imageScanFindings"]["findings"]
    first, second = copy.deepcopy(response), copy.deepcopy(response)
    first["imageScanFindings"]["findings"] = items[:100]
    second["imageScanFindings"]["findings"] = items[100:]

    assert basic_findings([first, second]) == basic_findings([response])


def test_cvss3_is_preferred_to_cvss2_and_a_score_that_is_no_number_is_none() -> None:
    page = findings_page(
        basic_item("CVE-1", CVSS2_SCORE="5.0", CVSS3_SCORE="7.5"),
        basic_item("CVE-2", CVSS2_SCORE="5.0"),
        basic_item("CVE-3", CVSS3_SCORE="n/a", CVSS2_SCORE="4.3"),
        basic_item("CVE-4", CVSS3_SCORE="11"),
        basic_item("CVE-5", package_name="zlib"),
    )

    assert [finding.cvss_score for finding in basic_findings([page])] == [7.5, 5.0, 4.3, None, None]


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("INFORMATIONAL", Severity.NEGLIGIBLE), ("UNDEFINED", Severity.UNKNOWN), ("MEDIUM", Severity.MEDIUM)],
)
def test_basic_severities(severity: str, expected: Severity) -> None:
    item = basic_item() | {"severity": severity}

    assert basic_findings([findings_page(item)])[0].severity is expected


def test_enhanced_findings_are_read_as_inspector_findings_with_ecrs_score_name() -> None:
    # ECR answers an enhanced scan with Inspector's finding shape, naming `inspectorScore` `score`.
    inspector_item = registry_fixture("inspector2/aws_inspector2_one_vul.json")["findings"][0]
    inspector_item["score"] = inspector_item.pop("inspectorScore")
    inspector_item["packageVulnerabilityDetails"]["cvss"] = []

    findings = basic_findings([findings_page(enhanced=[inspector_item])])

    assert [(f.finding_id, f.package, f.fixed_version, f.cvss_score) for f in findings] == [
        ("CVE-2021-3744", "linux", "0:4.19.232-1", 5.5)
    ]


def test_a_broken_findings_page_is_invalid_input_naming_the_path() -> None:
    page = findings_page(basic_item(), {"severity": "HIGH"})

    with pytest.raises(InvalidInput, match=r"imageScanFindings\.findings\[1\]: missing name"):
        basic_findings([page])


@pytest.mark.parametrize(
    ("completed_at", "expected"),
    [
        ("2021-04-02T00:50:08+11:00", "2021-04-01T13:50:08.000000Z"),
        (datetime(2021, 4, 2, 0, 50, 8, tzinfo=timezone(timedelta(hours=11))), "2021-04-01T13:50:08.000000Z"),
        (datetime(2021, 4, 1, 13, 50, 8), "2021-04-01T13:50:08.000000Z"),
        (1579839105.0, "2020-01-24T04:11:45.000000Z"),
    ],
)
def test_the_time_a_scan_completed_is_iso_utc_whatever_the_client_gave(
    completed_at: Any, expected: str
) -> None:
    response = findings_page()
    response["imageScanFindings"]["imageScanCompletedAt"] = completed_at

    assert scan_completed_at(response) == expected


def test_the_real_answers_time_and_status() -> None:
    response = registry_fixture(FINDINGS_B)

    assert scan_completed_at(response) == "2021-04-01T13:50:08.000000Z"
    assert scan_status(response) == "COMPLETE"
    assert scan_completed_at({}) is None
    assert scan_status({"imageScanStatus": {"status": "IN_PROGRESS"}}) == "IN_PROGRESS"
    assert scan_status({}) is None


@pytest.mark.parametrize("completed_at", ["yesterday", True, [], float("inf")])
def test_a_value_that_is_no_time_is_invalid_input(completed_at: Any) -> None:
    response = findings_page()
    response["imageScanFindings"]["imageScanCompletedAt"] = completed_at

    with pytest.raises(InvalidInput, match=r"imageScanFindings\.imageScanCompletedAt"):
        scan_completed_at(response)


# --- what every registry shares ----------------------------------------------------------------------


def test_an_ecr_image_is_tagged_with_its_first_tag_in_sorted_order() -> None:
    image = RegistryImage(
        "123456789012", "eu-north-1", "team/api", "sha256:" + "a" * 64, ("v2", "latest", "1.0")
    )

    assert image.image_ref == ImageRef(
        registry="123456789012.dkr.ecr.eu-north-1.amazonaws.com",
        repository="team/api",
        tag="1.0",
        digest="sha256:" + "a" * 64,
    )


def test_an_image_in_a_china_region_has_the_china_domain() -> None:
    image = RegistryImage("123456789012", "cn-north-1", "api", "sha256:" + "a" * 64, ())

    assert image.registry == "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"


def test_a_registry_report_has_the_scanner_as_format_the_image_and_no_repeated_finding() -> None:
    image = ImageRef("r.example.com", "api", "1.0", None)
    finding = Finding(
        FindingKind.VULNERABILITY, "CVE-1", Severity.HIGH, package="zlib", installed_version="1"
    )

    report = registry_report("inspector", image, [finding, finding], "2021-04-01T13:50:08.000000Z", "2")

    assert (report.format, report.scanner, report.scanner_version) == ("inspector", "inspector", "2")
    assert report.image == image
    assert report.findings == [finding]
    assert report.created_at == "2021-04-01T13:50:08.000000Z"


def test_a_registry_scan_id_is_derived_from_connection_scanner_digest_and_time() -> None:
    scan_id = registry_scan_id("reg-1", "ecr", SCAN_EVENT_DIGEST, "2019-10-30T21:32:27.000000Z")

    assert scan_id.startswith("scan-")
    assert len(scan_id) == len("scan-") + 20
    assert all(character in "0123456789abcdef" for character in scan_id.removeprefix("scan-"))
    # A redelivery names the same scan, whichever spelling of the moment it carries…
    assert registry_scan_id("reg-1", "ecr", SCAN_EVENT_DIGEST, "2019-10-30T22:32:27+01:00") == scan_id
    # …and any other connection, scanner, image or time another one.
    others = {
        registry_scan_id("reg-2", "ecr", SCAN_EVENT_DIGEST, "2019-10-30T21:32:27Z"),
        registry_scan_id("reg-1", "inspector", SCAN_EVENT_DIGEST, "2019-10-30T21:32:27Z"),
        registry_scan_id("reg-1", "ecr", "sha256:" + "0" * 64, "2019-10-30T21:32:27Z"),
        registry_scan_id("reg-1", "ecr", SCAN_EVENT_DIGEST, "2019-10-30T21:32:28Z"),
    }
    assert scan_id not in others
    assert len(others) == 4


@pytest.mark.parametrize(
    ("globs", "name", "expected"),
    [
        (["*"], "development/bff-version", True),
        (["team/*"], "team/api", True),
        (["team/*"], "team/tools/lint", True),
        (["team/*"], "other/api", False),
        (["api", "web-?"], "web-1", True),
        (["Team/*"], "team/api", False),
        ([], "api", False),
    ],
)
def test_repository_globs(globs: list[str], name: str, expected: bool) -> None:
    assert matches_any(globs, name) is expected
