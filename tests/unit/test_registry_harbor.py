"""Harbor: the webhook payloads of ../shared (and their CloudEvents form), the report path, and the
`/additions/vulnerabilities` answer read from the real scanner-adapter report."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput, MalformedInput
from riskgate.domain.images import ImageRef
from riskgate.domain.registries.harbor import (
    HARBOR_REPORT_MIME,
    HarborEvent,
    harbor_event,
    harbor_image_ref,
    harbor_report,
    report_path,
)
from tests.conftest import SCANNER_FIXTURES
from tests.support.scanner_documents import load as scanner_report

REGISTRY_FIXTURES = SCANNER_FIXTURES.parent / "registries"
COMPLETED = "harbor/scanning_completed.json"
HELM_DIGEST = "sha256:b50334049354ed01330403212605dce2f4676a4e787ed113506861d9cf3c5424"
ADAPTER_REPORT = "harbor/dd_harbor-trivy-adapter.json"


def registry_fixture(relative: str) -> Any:
    """A registry fixture of ../shared as JSON; the test skips, saying why, without it."""
    path = REGISTRY_FIXTURES / relative
    if not path.is_file():
        pytest.skip(f"registry fixtures not found at {REGISTRY_FIXTURES}")
    return json.loads(path.read_text(encoding="utf-8"))


def as_cloudevent(default: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The CloudEvents payload Harbor sends for the same event (formats/cloudevents.go)."""
    return {
        "specversion": "1.0",
        "requestid": "2eedfab8-61d3-4f3c-8ec3-8f82d1ec4c84",
        "id": "4b2f89a6-548d-4c12-9993-a1f5790b97d2",
        "source": "/projects/1/webhook/policies/3",
        "type": event_type,
        "datacontenttype": "application/json",
        "time": "2022-03-31T08:32:56Z",
        "data": copy.deepcopy(default["event_data"]),
        "operator": default.get("operator", "admin"),
    }


# --- webhooks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        (
            COMPLETED,
            HarborEvent(
                type="SCANNING_COMPLETED",
                project="test",
                repository="alpine/helm",
                digest=HELM_DIGEST,
                tag="3.8.1",
                occurred_at="2022-03-31T08:32:56.000000Z",
                registry_host="harbor.xxx.xxxx.com",
                failure=None,
            ),
        ),
        (
            # `tag` is missing; resource_url still ends in :3.8.1.
            "harbor/scanning_completed_no_tag.json",
            HarborEvent(
                type="SCANNING_COMPLETED",
                project="test",
                repository="alpine/helm",
                digest=HELM_DIGEST,
                tag="3.8.1",
                occurred_at="2022-03-31T08:32:56.000000Z",
                registry_host="harbor.xxx.xxxx.com",
                failure=None,
            ),
        ),
        (
            "harbor/scanning_failed.json",
            HarborEvent(
                type="SCANNING_FAILED",
                project="library",
                repository="redis",
                digest="sha256:c50334049354ed01330403212605dce2f4676a4e787ed113506861d9cf3c5424",
                tag="v2.0",
                occurred_at="2019-10-17T17:56:19.000000Z",
                registry_host="harbor.example.com",
                failure="the scan failed in Harbor",
            ),
        ),
        (
            "harbor/push_image.json",
            HarborEvent(
                type="PUSH_ARTIFACT",
                project="example",
                repository="test",
                digest="sha256:d72f37f783ed6a8d58ac70b4db052707d1ec9d4ea010ef5ccd84652faf9ed844",
                tag="latest",
                occurred_at="2019-10-17T17:50:32.000000Z",
                registry_host="harbor.example.com",
                failure=None,
            ),
        ),
    ],
)
def test_every_harbor_fixture_is_read(relative: str, expected: HarborEvent) -> None:
    assert harbor_event(registry_fixture(relative)) == expected


@pytest.mark.parametrize(
    ("event_type", "expected_type"),
    [
        ("harbor.scan.completed", "SCANNING_COMPLETED"),
        ("harbor.scanning.completed", "SCANNING_COMPLETED"),
        ("harbor.artifact.pushed", "PUSH_ARTIFACT"),
        ("harbor.replication.status.changed", "REPLICATION"),
    ],
)
def test_the_cloudevents_form_reads_as_the_default_one(event_type: str, expected_type: str) -> None:
    default = registry_fixture(COMPLETED)

    event = harbor_event(as_cloudevent(default, event_type))

    assert event.type == expected_type
    assert event == harbor_event(default | {"type": expected_type})


def test_a_failed_scan_in_cloudevents_form_says_it_failed_with_the_status_harbor_gives() -> None:
    default = registry_fixture(COMPLETED)
    overview = default["event_data"]["resources"][0]["scan_overview"][HARBOR_REPORT_MIME]
    overview.update(scan_status="Error", summary=None)

    event = harbor_event(as_cloudevent(default, "harbor.scan.failed"))

    assert event.type == "SCANNING_FAILED"
    assert event.failure == "the scan failed in Harbor (scan status Error)"


def test_a_tag_that_is_a_digest_is_no_tag() -> None:
    # Harbor writes the digest as the tag of an artifact pulled by digest, with a resource_url @digest.
    payload = registry_fixture(COMPLETED)
    resource = payload["event_data"]["resources"][0]
    resource["tag"] = HELM_DIGEST
    resource["resource_url"] = f"harbor.xxx.xxxx.com/test/alpine/helm@{HELM_DIGEST}"

    event = harbor_event(payload)

    assert (event.tag, event.digest) == (None, HELM_DIGEST)


def test_the_project_and_repository_come_from_the_full_name_when_harbor_leaves_out_the_namespace() -> None:
    payload = registry_fixture(COMPLETED)
    del payload["event_data"]["repository"]["namespace"]
    del payload["event_data"]["repository"]["name"]

    event = harbor_event(payload)

    assert (event.project, event.repository) == ("test", "alpine/helm")


def test_an_event_of_no_repository_is_still_an_event_to_acknowledge() -> None:
    # Harbor sends every type a webhook policy selects; replication and retention name no repository.
    event = harbor_event({"type": "REPLICATION", "occur_at": 1571334632, "event_data": {"replication": {}}})

    assert (event.type, event.project, event.repository, event.digest) == ("REPLICATION", "", "", None)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "not a Harbor webhook event: document: expected an object, got a list"),
        ({}, "not a Harbor webhook event: type: missing"),
        ({"type": 3}, "not a Harbor webhook event: type: expected a string, got a number"),
        ({"type": "PUSH_ARTIFACT"}, "not a Harbor webhook event: occur_at: missing"),
        (
            {"type": "PUSH_ARTIFACT", "occur_at": 1571334632},
            "not a Harbor webhook event: event_data: missing",
        ),
        (
            {"type": "PUSH_ARTIFACT", "occur_at": "yesterday", "event_data": {}},
            "not a Harbor webhook event: occur_at: expected an ISO 8601 time with a zone",
        ),
        (
            {"type": "SCANNING_COMPLETED", "occur_at": 1571334632, "event_data": {}},
            "not a Harbor webhook event: event_data.repository.namespace: missing",
        ),
        (
            {"specversion": "1.0", "type": "com.example.object.created", "time": "2022-03-31T08:32:56Z"},
            "not a Harbor webhook event: type: expected a Harbor event type (harbor.…)",
        ),
        (
            {"specversion": "1.0", "type": "harbor.scan.completed"},
            "not a Harbor webhook event: time: missing",
        ),
    ],
)
def test_what_is_not_a_harbor_event_is_malformed_input_saying_what_is_missing(
    payload: Any, message: str
) -> None:
    with pytest.raises(MalformedInput) as raised:
        harbor_event(payload)

    assert raised.value.message.startswith(message)


def test_a_trivy_report_is_not_a_harbor_event() -> None:
    with pytest.raises(MalformedInput, match="not a Harbor webhook event: type: missing"):
        harbor_event(scanner_report("trivy/golden_alpine-310.json"))


def test_a_resource_of_the_wrong_type_is_named() -> None:
    payload = registry_fixture(COMPLETED)
    payload["event_data"]["resources"][0]["digest"] = 7

    with pytest.raises(MalformedInput, match=r"event_data\.resources\[0\]\.digest: expected a string"):
        harbor_event(payload)


# --- the report -------------------------------------------------------------------------------------


def test_the_report_path_encodes_a_nested_repository_twice() -> None:
    assert report_path("test", "alpine/helm", HELM_DIGEST) == (
        f"/api/v2.0/projects/test/repositories/alpine%252Fhelm/artifacts/{HELM_DIGEST}/additions/vulnerabilities"
    )
    assert report_path("library", "redis", "v2.0") == (
        "/api/v2.0/projects/library/repositories/redis/artifacts/v2.0/additions/vulnerabilities"
    )
    # Anything else that would break the path is encoded once.
    assert (
        report_path("a b", "c", "d/e")
        == "/api/v2.0/projects/a%20b/repositories/c/artifacts/d%2Fe/additions/vulnerabilities"
    )


def test_the_image_is_the_connections_host_with_project_and_repository() -> None:
    event = harbor_event(registry_fixture(COMPLETED))

    image = harbor_image_ref("Harbor.Example.com:8443", event)

    assert image == ImageRef("harbor.example.com:8443", "test/alpine/helm", "3.8.1", HELM_DIGEST)


def test_the_additions_answer_gives_the_adapters_vulnerabilities_about_the_image_of_the_event() -> None:
    answer = scanner_report(ADAPTER_REPORT)
    assert list(answer) == [HARBOR_REPORT_MIME]
    image = ImageRef("harbor.example.com", "test/alpine/helm", "3.8.1", HELM_DIGEST)

    report = harbor_report(answer, image)

    assert report.format == "harbor"
    assert (report.scanner, report.scanner_version) == ("Trivy", "v0.44.0")
    assert report.image == image
    assert report.created_at == "2023-09-08T00:19:11.258693685Z"
    assert [(f.finding_id, f.package, f.severity.value, f.cvss_score) for f in report.findings] == [
        ("CVE-2022-1304", "e2fsprogs", "high", 7.8),
        ("CVE-2019-1010023", "libc6", "low", 8.8),
        ("CVE-2019-1010024", "libc6", "low", 5.3),
    ]


def test_the_image_named_by_a_report_is_not_the_one_kept() -> None:
    answer = scanner_report(ADAPTER_REPORT)
    answer[HARBOR_REPORT_MIME]["artifact"] = {
        "repository": "elsewhere.example.com/library/other",
        "digest": "sha256:" + "1" * 64,
    }
    image = ImageRef("harbor.example.com", "test/alpine/helm", None, HELM_DIGEST)

    assert harbor_report(answer, image).image == image


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({}, "no vulnerability report"),
        ({HARBOR_REPORT_MIME: None}, "no vulnerability report"),
        ({"application/vnd.security.sbom.report+json; version=1.0": {"sbom": {}}}, "no vulnerability report"),
        ([], "expected an object, got a list"),
        (
            {
                HARBOR_REPORT_MIME: {
                    "report_id": "65e8a295",
                    "scan_status": "Success",
                    "summary": {"total": 5},
                }
            },
            "scan overview",
        ),
    ],
)
def test_an_answer_without_a_report_is_invalid_input_naming_it(answer: Any, message: str) -> None:
    image = ImageRef("harbor.example.com", "test/alpine/helm", None, HELM_DIGEST)

    with pytest.raises(InvalidInput, match=message):
        harbor_report(answer, image)
