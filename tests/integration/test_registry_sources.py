"""What AWS registries know, read by riskgate.adapters.registry_sources: ECR scan findings and Inspector2
findings seeded through moto's own API, what each failure becomes (`NotReady` or `PullRefused`), paging
with stubbed clients (moto answers one page only), and the resumable walk of a registry's images."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.inspector2.models import inspector2_backends

from riskgate.adapters.registry_sources import (
    NotReady,
    PullRefused,
    ecr_images,
    ecr_scan_findings,
    inspector_findings,
)
from tests.conftest import SCANNER_FIXTURES

ACCOUNT = "123456789012"
REGION = "us-east-1"
MOTO_API = "http://motoapi.amazonaws.com/moto-api/static"
REGISTRY_FIXTURES = SCANNER_FIXTURES.parent / "registries"
DIGEST = "sha256:" + "d" * 64


@pytest.fixture
def registry_fixtures() -> Path:
    if not (REGISTRY_FIXTURES / "README.md").is_file():
        pytest.skip(f"registry fixtures not found at {REGISTRY_FIXTURES} (clone with ../shared beside it)")
    return REGISTRY_FIXTURES


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def ecr(aws: None) -> Any:
    return boto3.client("ecr", region_name=REGION)


def push_image(ecr: Any, repository: str, tag: str) -> str:
    """A minimal image manifest put into `repository`, its one layer named by repository and tag; the
    image's digest (moto derives it from the layers)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + "c" * 64,
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 2,
                "digest": "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest(),
            }
        ],
    }
    put = ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
    return str(put["image"]["imageId"]["imageDigest"])


def seed_scan_result(repository: str, digest: str, result: dict[str, Any]) -> None:
    """What moto's DescribeImageScanFindings answers for this image (moto's documented API)."""
    answer = {**result, "repositoryName": repository, "imageId": {"imageDigest": digest}}
    posted = requests.post(f"{MOTO_API}/ecr/scan-finding-results", json={"results": [answer]}, timeout=5)
    assert posted.status_code == 201


@pytest.fixture
def scanned_image(ecr: Any) -> str:
    """An image of team/app whose scan ECR has started."""
    ecr.create_repository(repositoryName="team/app")
    digest = push_image(ecr, "team/app", "v1")
    ecr.start_image_scan(repositoryName="team/app", imageId={"imageDigest": digest})
    return digest


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": f"{code} said"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Op",
    )


# --- ECR scan findings ----------------------------------------------------------------------------------


def test_a_completed_basic_scan_is_read_as_ecr_answered_it(
    ecr: Any, scanned_image: str, registry_fixtures: Path
) -> None:
    # Given a real basic-scan answer (257 findings) seeded for the image
    answer = json.loads(
        (registry_fixtures / "ecr" / "scan-findings-example-b.json").read_text(encoding="utf-8")
    )
    seed_scan_result("team/app", scanned_image, answer)

    # When its findings are read
    pages = ecr_scan_findings(ecr, registry_id=ACCOUNT, repository="team/app", digest=scanned_image)

    # Then the one page is ECR's answer
    (page,) = pages
    assert page["imageScanStatus"]["status"] == "COMPLETE"
    findings = page["imageScanFindings"]["findings"]
    assert len(findings) == 257
    assert [finding["name"] for finding in findings] == [
        finding["name"] for finding in answer["imageScanFindings"]["findings"]
    ]
    assert "ResponseMetadata" not in page


def test_an_image_ecr_has_not_scanned_yet_is_not_ready(ecr: Any) -> None:
    ecr.create_repository(repositoryName="team/app")
    digest = push_image(ecr, "team/app", "v1")
    with pytest.raises(NotReady, match="no scan"):
        ecr_scan_findings(ecr, registry_id=ACCOUNT, repository="team/app", digest=digest)


@pytest.mark.parametrize("status", ["IN_PROGRESS", "PENDING"])
def test_a_scan_in_progress_is_not_ready(ecr: Any, scanned_image: str, status: str) -> None:
    seed_scan_result("team/app", scanned_image, {"imageScanStatus": {"status": status}})
    with pytest.raises(NotReady, match=status):
        ecr_scan_findings(ecr, registry_id=ACCOUNT, repository="team/app", digest=scanned_image)


@pytest.mark.parametrize("status", ["FAILED", "UNSUPPORTED_IMAGE", "FINDINGS_UNAVAILABLE"])
def test_a_scan_that_cannot_have_findings_is_refused_saying_why(
    ecr: Any, scanned_image: str, status: str
) -> None:
    description = "The operating system and/or package manager are not supported."
    seed_scan_result(
        "team/app", scanned_image, {"imageScanStatus": {"status": status, "description": description}}
    )
    with pytest.raises(PullRefused, match=f"{status}: {description}"):
        ecr_scan_findings(ecr, registry_id=ACCOUNT, repository="team/app", digest=scanned_image)


def test_a_deleted_repository_is_refused(ecr: Any, scanned_image: str) -> None:
    ecr.delete_repository(repositoryName="team/app", force=True)
    with pytest.raises(PullRefused, match=r"repository team/app in registry \d+ was deleted"):
        ecr_scan_findings(ecr, registry_id=ACCOUNT, repository="team/app", digest=scanned_image)


def test_a_deleted_image_is_refused(ecr: Any, scanned_image: str) -> None:
    ecr.batch_delete_image(repositoryName="team/app", imageIds=[{"imageDigest": scanned_image}])
    with pytest.raises(PullRefused, match=f"image team/app@{scanned_image} no longer exists"):
        ecr_scan_findings(ecr, registry_id=ACCOUNT, repository="team/app", digest=scanned_image)


def test_every_page_of_findings_is_read() -> None:
    # Given ECR answering two pages (moto answers one: stubbed)
    client = boto3.client("ecr", region_name=REGION)
    request = {
        "registryId": ACCOUNT,
        "repositoryName": "team/app",
        "imageId": {"imageDigest": DIGEST},
        "maxResults": 1000,
    }
    complete = {"status": "COMPLETE", "description": "The scan was completed successfully."}
    first = {
        "imageScanStatus": complete,
        "imageScanFindings": {"findings": [{"name": "CVE-1"}]},
        "nextToken": "page-2",
    }
    second = {"imageScanStatus": complete, "imageScanFindings": {"findings": [{"name": "CVE-2"}]}}
    with Stubber(client) as stubber:
        stubber.add_response("describe_image_scan_findings", first, request)
        stubber.add_response("describe_image_scan_findings", second, {**request, "nextToken": "page-2"})

        # When the findings are read
        pages = ecr_scan_findings(client, registry_id=ACCOUNT, repository="team/app", digest=DIGEST)

        # Then both pages are, in order
        stubber.assert_no_pending_responses()
    assert [page["imageScanFindings"]["findings"][0]["name"] for page in pages] == ["CVE-1", "CVE-2"]


def test_an_enhanced_scan_that_is_active_is_read() -> None:
    client = boto3.client("ecr", region_name=REGION)
    answer = {
        "imageScanStatus": {"status": "ACTIVE"},
        "imageScanFindings": {"enhancedFindings": [{"type": "PACKAGE_VULNERABILITY"}]},
    }
    with Stubber(client) as stubber:
        stubber.add_response("describe_image_scan_findings", answer)
        (page,) = ecr_scan_findings(client, registry_id=ACCOUNT, repository="team/app", digest=DIGEST)
    assert page["imageScanFindings"]["enhancedFindings"] == [{"type": "PACKAGE_VULNERABILITY"}]


def test_access_denied_is_refused() -> None:
    client = boto3.client("ecr", region_name=REGION)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "describe_image_scan_findings", "AccessDeniedException", "not authorized", 400
        )
        with pytest.raises(PullRefused, match="AccessDeniedException: not authorized"):
            ecr_scan_findings(client, registry_id=ACCOUNT, repository="team/app", digest=DIGEST)


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 400), ("ServerException", 500)])
def test_throttling_and_aws_failures_propagate_for_the_queue_to_retry(code: str, status: int) -> None:
    client = boto3.client("ecr", region_name=REGION)
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_image_scan_findings", code, "try later", status)
        with pytest.raises(ClientError) as raised:
            ecr_scan_findings(client, registry_id=ACCOUNT, repository="team/app", digest=DIGEST)
    assert raised.value.response["Error"]["Code"] == code


# --- Inspector2 findings --------------------------------------------------------------------------------


def expected_criteria(repository: str, digest: str) -> dict[str, Any]:
    def equals(value: str) -> list[dict[str, str]]:
        return [{"comparison": "EQUALS", "value": value}]

    return {
        "awsAccountId": equals(ACCOUNT),
        "ecrImageRepositoryName": equals(repository),
        "ecrImageHash": equals(digest),
        "findingStatus": equals("ACTIVE"),
        "resourceType": equals("AWS_ECR_CONTAINER_IMAGE"),
    }


def test_inspector_findings_of_one_image_are_asked_for_and_read(aws: None, registry_fixtures: Path) -> None:
    # Given Inspector2's answer for an image, seeded through moto's API
    answer = json.loads(
        (registry_fixtures / "inspector2" / "aws_inspector2_one_vul.json").read_text(encoding="utf-8")
    )
    posted = requests.post(
        f"{MOTO_API}/inspector2/findings-results", json={"results": [answer["findings"]]}, timeout=5
    )
    assert posted.status_code == 201
    client = boto3.client("inspector2", region_name=REGION)
    digest = answer["findings"][0]["resources"][0]["details"]["awsEcrContainerImage"]["imageHash"]

    # When the image's findings are read
    findings = inspector_findings(
        client, account_id=ACCOUNT, repository="my-awesome-docker-image", digest=digest
    )

    # Then they are Inspector2's, asked for with the image's filter alone (moto keys its answer by it)
    assert [finding["findingArn"] for finding in findings] == [answer["findings"][0]["findingArn"]]
    (asked,) = inspector2_backends[ACCOUNT][REGION].findings
    criteria, max_results, _, _ = asked.rsplit("--", 3)
    assert json.loads(criteria) == expected_criteria("my-awesome-docker-image", digest)
    assert max_results == "100"


def test_inspector_with_nothing_to_say_is_an_empty_list(aws: None) -> None:
    client = boto3.client("inspector2", region_name=REGION)
    assert inspector_findings(client, account_id=ACCOUNT, repository="team/app", digest=DIGEST) == []


def minimal_finding(arn: str) -> dict[str, Any]:
    """A finding with the fields Inspector2's model requires, so that the stubbed answer validates."""
    return {
        "findingArn": arn,
        "awsAccountId": ACCOUNT,
        "type": "PACKAGE_VULNERABILITY",
        "description": "a vulnerability",
        "remediation": {},
        "severity": "HIGH",
        "firstObservedAt": "2024-02-02T16:30:33Z",
        "lastObservedAt": "2024-02-02T16:30:33Z",
        "status": "ACTIVE",
        "resources": [{"type": "AWS_ECR_CONTAINER_IMAGE", "id": "arn:aws:ecr:image"}],
    }


def test_every_page_of_inspector_findings_is_read() -> None:
    client = boto3.client("inspector2", region_name=REGION)
    request = {"filterCriteria": expected_criteria("team/app", DIGEST), "maxResults": 100}
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_findings", {"findings": [minimal_finding("arn:1")], "nextToken": "t2"}, request
        )
        stubber.add_response(
            "list_findings", {"findings": [minimal_finding("arn:2")]}, {**request, "nextToken": "t2"}
        )
        findings = inspector_findings(client, account_id=ACCOUNT, repository="team/app", digest=DIGEST)
        stubber.assert_no_pending_responses()
    assert [finding["findingArn"] for finding in findings] == ["arn:1", "arn:2"]


def test_inspector_refusing_access_is_refused() -> None:
    client = boto3.client("inspector2", region_name=REGION)
    with Stubber(client) as stubber:
        stubber.add_client_error("list_findings", "AccessDeniedException", "Inspector2 is not enabled", 403)
        with pytest.raises(PullRefused, match="Inspector2 is not enabled"):
            inspector_findings(client, account_id=ACCOUNT, repository="team/app", digest=DIGEST)


# --- ECR images, for a sync -----------------------------------------------------------------------------


def walk(client: Any, page_size: int, matches: Any) -> tuple[list[tuple[str, str]], int]:
    """Every step of a sync from the start, each cursor through JSON as in a queue message: the images
    seen, in order, and the number of steps."""
    seen: list[tuple[str, str]] = []
    cursor: dict[str, Any] | None = None
    steps = 0
    while True:
        images, cursor = ecr_images(
            client, registry_id=ACCOUNT, matches=matches, cursor=cursor, page_size=page_size
        )
        steps += 1
        assert len(images) <= page_size
        seen.extend((image["repository"], image["digest"]) for image in images)
        if cursor is None:
            return seen, steps
        cursor = json.loads(json.dumps(cursor))
        assert steps < 100, "the walk does not end"


def team_glob(name: str) -> bool:
    return fnmatchcase(name, "team/*")


def test_a_sync_sees_every_image_of_the_matching_repositories_once_whatever_the_page_size(ecr: Any) -> None:
    # Given repositories the connection covers (one empty) and one it does not
    expected = set()
    for repository, count in [("team/app", 3), ("team/db", 2), ("team/empty", 0), ("other/tool", 2)]:
        ecr.create_repository(repositoryName=repository)
        for n in range(count):
            digest = push_image(ecr, repository, f"v{n}")
            if repository.startswith("team/"):
                expected.add((repository, digest))

    for page_size in range(1, 7):
        # When the registry is walked a page at a time
        seen, steps = walk(ecr, page_size, team_glob)

        # Then each covered image is seen exactly once
        assert sorted(seen) == sorted(expected), f"page_size {page_size}"
        assert steps <= len(expected) // page_size + 2


def test_an_image_is_described_by_repository_digest_tags_and_push_time(ecr: Any) -> None:
    ecr.create_repository(repositoryName="team/app")
    digest = push_image(ecr, "team/app", "v1")
    (image,), cursor = ecr_images(ecr, registry_id=ACCOUNT, matches=team_glob, cursor=None, page_size=10)
    assert cursor is None
    assert {key: image[key] for key in ("repository", "digest", "tags")} == {
        "repository": "team/app",
        "digest": digest,
        "tags": ["v1"],
    }
    assert isinstance(image["pushed_at"], str)
    assert image["pushed_at"].startswith("20")


class PagingEcr:
    """ECR's DescribeRepositories / DescribeImages over an in-memory registry, paged as ECR pages them
    (at most maxResults, with nextToken), repositories in no particular order: what moto does not do."""

    def __init__(self, registry: dict[str, list[dict[str, Any]]], repositories_per_page: int) -> None:
        self.registry = registry
        self.repositories_per_page = repositories_per_page

    def describe_repositories(
        self, *, registryId: str, maxResults: int, nextToken: str | None = None
    ) -> dict[str, Any]:
        names = list(self.registry)
        return self._page(
            "repositories",
            [{"repositoryName": name} for name in names],
            self.repositories_per_page,
            nextToken,
        )

    def describe_images(
        self, *, registryId: str, repositoryName: str, maxResults: int, nextToken: str | None = None
    ) -> dict[str, Any]:
        if repositoryName not in self.registry:
            raise client_error("RepositoryNotFoundException")
        return self._page("imageDetails", self.registry[repositoryName], maxResults, nextToken)

    @staticmethod
    def _page(key: str, items: list[Any], size: int, token: str | None) -> dict[str, Any]:
        start = int(token.removeprefix("at-")) if token else 0
        answer: dict[str, Any] = {key: copy.deepcopy(items[start : start + size])}
        if start + size < len(items):
            answer["nextToken"] = f"at-{start + size}"
        return answer


def paged_registry() -> dict[str, list[dict[str, Any]]]:
    def images(repository: str, count: int) -> list[dict[str, Any]]:
        return [{"imageDigest": f"sha256:{repository}-{n}", "imageTags": [f"v{n}"]} for n in range(count)]

    return {
        "team/zeta": images("zeta", 4),
        "other/tool": images("tool", 3),
        "team/alpha": [*images("alpha", 5), {"imageTags": ["no-digest"]}],
        "team/empty": [],
        "team/mid": images("mid", 1),
        "team/beta": images("beta", 2),
    }


@pytest.mark.parametrize("repositories_per_page", [1, 2, 4, 10])
def test_a_paged_registry_is_walked_resuming_from_every_cursor(repositories_per_page: int) -> None:
    registry = paged_registry()
    expected = sorted(
        (name, str(image["imageDigest"]))
        for name, images in registry.items()
        if team_glob(name)
        for image in images
        if "imageDigest" in image
    )
    for page_size in range(1, len(expected) + 2):
        seen, _ = walk(PagingEcr(registry, repositories_per_page), page_size, team_glob)
        assert len(seen) == len(set(seen)), f"an image seen twice with page_size {page_size}"
        assert sorted(seen) == expected, f"page_size {page_size}"


def test_a_repository_deleted_between_two_steps_is_passed_over() -> None:
    # Given a walk that stopped inside team/alpha
    registry = paged_registry()
    client = PagingEcr(registry, repositories_per_page=10)
    images, cursor = ecr_images(client, registry_id=ACCOUNT, matches=team_glob, cursor=None, page_size=2)
    assert {image["repository"] for image in images} == {"team/alpha"}
    assert cursor is not None

    # When team/alpha is deleted before the next step
    del registry["team/alpha"]
    rest: list[str] = []
    while cursor is not None:
        images, cursor = ecr_images(
            client, registry_id=ACCOUNT, matches=team_glob, cursor=cursor, page_size=2
        )
        rest.extend(image["repository"] for image in images)

    # Then the walk goes on with the next repository by name, and sees the others whole
    assert rest == ["team/beta"] * 2 + ["team/mid"] + ["team/zeta"] * 4


def test_a_registry_that_cannot_be_listed_is_refused() -> None:
    client = boto3.client("ecr", region_name=REGION)
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_repositories", "AccessDeniedException", "no", 400)
        with pytest.raises(PullRefused, match="repositories of registry"):
            ecr_images(client, registry_id=ACCOUNT, matches=team_glob, cursor=None, page_size=10)
