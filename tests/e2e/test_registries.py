"""Registries feeding Riskgate by themselves, over HTTP against `make run`'s stack (issue 14): an ECR
image's basic scan (findings seeded in the embedded moto server through its own endpoints, found at the
port RISKGATE_AWS_PORT fixes), announced by `POST /_local/eventbridge` as EventBridge would, becomes a
scan with its verdict; a Harbor webhook makes the stack pull the artifact's report from a (fake) Harbor
and store it; a webhook with a wrong secret is refused and queues nothing."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from riskgate_local.aws import ACCOUNT_ID, REGION
from tests.conftest import SCANNER_FIXTURES
from tests.e2e.conftest import RunningStack, free_port, start_local_stack
from tests.support.fake_harbor import FakeHarbor

pytestmark = pytest.mark.e2e

REGISTRY_FIXTURES = SCANNER_FIXTURES.parent / "registries"
HARBOR_REPORT = SCANNER_FIXTURES / "harbor" / "dd_harbor-trivy-adapter.json"
REPORT_MIME = "application/vnd.security.vulnerability.report; version=1.1"
WEBHOOK_SECRET = "harbor-webhook-secret-for-the-e2e-test"
TIMEOUT_SECONDS = 60


def fixture(relative: str) -> Any:
    return json.loads((REGISTRY_FIXTURES / relative).read_text())


@pytest.fixture(scope="module")
def aws_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, aws_port: int) -> Iterator[RunningStack]:
    running = start_local_stack(
        tmp_path_factory.mktemp("local-stack") / "stderr.log", {"RISKGATE_AWS_PORT": str(aws_port)}
    )
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def call(stack: RunningStack, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    response = stack.request(
        method,
        path,
        token=stack.admin_token,
        body=data,
        headers={"Content-Type": "application/json", **headers},
    )
    return response.status, response.json() if response.body else None


def wait_for_image(stack: RunningStack, registry: str, repository: str) -> dict[str, Any]:
    """The image once the stack stored a scan of it (the ingester runs behind a queue)."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        status, page = call(stack, "GET", f"/v1/images?registry={registry}&repository={repository}")
        assert status == 200, page
        if page["items"]:
            return dict(page["items"][0])
        time.sleep(0.5)
    pytest.fail(f"no image {registry}/{repository} within {TIMEOUT_SECONDS} s{stack.log_tail()}")


def test_an_ecr_scan_event_becomes_a_scan_with_its_verdict(stack: RunningStack, aws_port: int) -> None:
    endpoint = f"http://127.0.0.1:{aws_port}"
    # The registry as a person would prepare it, with boto3 against the moto port the stack logged.
    ecr = boto3.client("ecr", endpoint_url=endpoint, region_name=REGION)
    repository = "team-a/api"
    ecr.create_repository(repositoryName=repository)
    layer = "sha256:" + hashlib.sha256(b"team-a/api").hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": layer},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2, "digest": layer}
        ],
    }
    pushed = ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag="1.4.2")
    digest = pushed["image"]["imageId"]["imageDigest"]
    ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})  # scan on push
    findings = fixture("ecr/scan-findings-example-b.json")
    findings.update(registryId=ACCOUNT_ID, repositoryName=repository, imageId={"imageDigest": digest})
    seed = urllib.request.Request(
        f"{endpoint}/moto-api/static/ecr/scan-finding-results",
        data=json.dumps({"results": [findings], "account_id": ACCOUNT_ID, "region": REGION}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(seed, timeout=10) as seeded:
        assert seeded.status == 201

    status, connection = call(
        stack,
        "POST",
        "/v1/registries",
        {
            "name": "ecr-team-a",
            "type": "ecr",
            "config": {"account_id": ACCOUNT_ID, "region": REGION, "repositories": ["team-a/*"]},
        },
    )
    assert status == 201, connection

    # ECR says the scan finished (the real event, about this image), twice: EventBridge may repeat itself.
    event = fixture("ecr/ecr-image-scan-event.json")
    event.update(account=ACCOUNT_ID, region=REGION)
    event["detail"].update({"repository-name": repository, "image-digest": digest, "image-tags": ["1.4.2"]})
    for _ in range(2):
        status, delivered = call(stack, "POST", "/_local/eventbridge", event)
        assert status == 200, delivered
        assert delivered["rules"], delivered

    registry = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com"
    image = wait_for_image(stack, registry, repository)
    # The fixture README's figures: 257 findings, CRITICAL 1, HIGH 5, MEDIUM 32, LOW 25,
    # INFORMATIONAL 183, UNDEFINED 11.
    assert image["counts"]["vulnerabilities"] == {
        "critical": 1,
        "high": 5,
        "medium": 32,
        "low": 25,
        "negligible": 183,
        "unknown": 11,
    }
    assert image["status"] == "non_compliant"
    assert image["digest"] == digest
    assert "1.4.2" in image["tags"]

    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        status, events = call(stack, "GET", f"/v1/registries/{connection['id']}/events")
        kinds = [item["kind"] for item in events["items"]]
        if "imported" in kinds and len(kinds) >= 2:
            break
        time.sleep(0.5)
    assert kinds.count("imported") == 1, events  # the repeated event wrote nothing twice
    status, scans = call(stack, "GET", f"/v1/images/{image['id']}/scans")
    assert status == 200
    assert len(scans["items"]) == 1, scans
    assert scans["items"][0]["format"] == "ecr"
    status, shown = call(stack, "GET", f"/v1/registries/{connection['id']}")
    assert shown["state"]["last_event_at"]
    assert shown["state"]["last_error"] is None


def test_a_harbor_webhook_makes_the_stack_pull_the_artifacts_report(stack: RunningStack) -> None:
    completed = fixture("harbor/scanning_completed.json")
    resource = completed["event_data"]["resources"][0]
    with FakeHarbor() as harbor:
        # Harbor's answer: the adapter's report under its media type, as the fixture holds it.
        harbor.set_report("test", "alpine/helm", resource["digest"], json.loads(HARBOR_REPORT.read_text()))
        status, connection = call(
            stack,
            "POST",
            "/v1/registries",
            {
                "name": "harbor-test",
                "type": "harbor",
                "config": {
                    "url": harbor.url,
                    "projects": ["test"],
                    "robot_name": harbor.robot_name,
                    "robot_secret": harbor.robot_secret,
                    "webhook_secret": WEBHOOK_SECRET,
                },
            },
        )
        assert status == 201, connection
        assert "robot_secret" not in json.dumps(connection["config"])
        webhook = f"/v1/registries/{connection['id']}/webhook"

        # Harbor sends its configured auth header; no bearer token.
        wrong = stack.request(
            "POST", webhook, body=json.dumps(completed).encode(), headers={"Authorization": "nope"}
        )
        assert wrong.status == 401
        right = stack.request(
            "POST", webhook, body=json.dumps(completed).encode(), headers={"Authorization": WEBHOOK_SECRET}
        )
        assert right.status == 202, right.body
        not_harbor = stack.request(
            "POST", webhook, body=b'{"hello": "world"}', headers={"Authorization": WEBHOOK_SECRET}
        )
        assert not_harbor.status == 400

        registry = harbor.url.removeprefix("http://")
        image = wait_for_image(stack, registry, "test/alpine/helm")
        assert sum(image["counts"]["vulnerabilities"].values()) == 3
        assert image["digest"] == resource["digest"]
        pulls = [r for r in harbor.requests if r.path.endswith("/additions/vulnerabilities")]
        assert len(pulls) == 1  # the refused webhooks queued nothing
        assert "alpine%252Fhelm" in pulls[0].target
        assert pulls[0].header("X-Accept-Vulnerabilities") == REPORT_MIME
