"""The registry ingester as Lambda runs it, against moto (DynamoDB, SQS, ECR, Inspector2) and a fake Harbor:
real registry fixtures in, scans and verdicts stored, each scan once, what is not readable yet put back
on the queue for later, what is refused recorded on the connection. The rules one by one, with in-memory
ports: tests/unit/test_registry_ingestion.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto.core.utils import unix_time_millis
from moto.sqs.models import sqs_backends

from riskgate.adapters import registry_clients
from riskgate.adapters.registries import RegistryStore
from riskgate.adapters.store import Store
from riskgate.domain.audit import Actor
from riskgate.domain.images import ImageRef
from riskgate.handlers import registry_ingester
from riskgate.resources import (
    METRIC_FINDINGS_STORED,
    METRIC_REGISTRY_EVENTS_IGNORED,
    METRIC_REGISTRY_PULLS_FAILED,
    METRIC_REGISTRY_SCANS_IMPORTED,
    METRIC_SCANS_INGESTED,
    REGISTRY_MAX_ATTEMPTS,
)
from riskgate.settings import get_settings
from tests.conftest import SCANNER_FIXTURES
from tests.integration.conftest import TABLE_NAME
from tests.support.emf import emf_documents, figures
from tests.support.events import FakeLambdaContext
from tests.support.fake_harbor import FakeHarbor

REGISTRY_FIXTURES = SCANNER_FIXTURES.parent / "registries"
MOTO_API = "http://motoapi.amazonaws.com/moto-api/static"
ACCOUNT = "123456789012"  # moto's account
ECR_REGION = "eu-north-1"  # the region of the ECR event fixture
INSPECTOR_REGION = "us-east-1"  # the region of the Inspector findings fixture
REPOSITORY = "team/bff-version"
ADMIN = Actor(user_id="admin")
HELM_DIGEST = "sha256:b50334049354ed01330403212605dce2f4676a4e787ed113506861d9cf3c5424"
INSPECTED_DIGEST = "sha256:d667ad018b538adadb5bd1db75836c8561b23bc7d31d9cd8941fa74f5df93802"


@pytest.fixture
def registry_fixtures() -> Path:
    if not (REGISTRY_FIXTURES / "README.md").is_file():
        pytest.skip(f"registry fixtures not found at {REGISTRY_FIXTURES} (clone with ../shared beside it)")
    return REGISTRY_FIXTURES


def fixture(root: Path, relative: str) -> Any:
    return json.loads((root / relative).read_text(encoding="utf-8"))


@pytest.fixture
def work_queue(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The registry-work queue. Its visibility timeout is 0, so that a message is visible again at once
    unless the ingester put it back for later."""
    url = str(
        boto3.client("sqs").create_queue(
            QueueName="riskgate-test-registry-work", Attributes={"VisibilityTimeout": "0"}
        )["QueueUrl"]
    )
    monkeypatch.setenv("RISKGATE_REGISTRY_WORK_QUEUE_URL", url)
    monkeypatch.setenv("RISKGATE_REGISTRY_INSECURE_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
    # Clients made under another test's mock must not outlive it.
    registry_clients.aws_registries.cache_clear()
    registry_clients.sqs_client.cache_clear()
    yield url
    registry_clients.aws_registries.cache_clear()
    registry_clients.sqs_client.cache_clear()


@pytest.fixture
def registries(dynamodb: Any) -> RegistryStore:
    return RegistryStore(TABLE_NAME, client=dynamodb)


def ecr_connection(registries: RegistryStore, region: str = ECR_REGION, **config: Any) -> str:
    settings = {
        "account_id": ACCOUNT,
        "region": region,
        "repositories": ["*"],
        "scans": ["basic", "enhanced"],
    }
    created = registries.create_connection("aws-" + region, "ecr", {**settings, **config}, {}, ADMIN)
    return str(created["id"])


# --- the queue, as Lambda uses it -----------------------------------------------------------------------


def put(queue_url: str, message: dict[str, Any]) -> None:
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))


def receive(queue_url: str, count: int = 1) -> dict[str, Any] | None:
    """The next `count` visible messages as the event Lambda hands the function; None when none is."""
    answer = boto3.client("sqs").receive_message(
        QueueUrl=queue_url, AttributeNames=["All"], MaxNumberOfMessages=count
    )
    messages = answer.get("Messages") or []
    if not messages:
        return None
    records = [
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message["Attributes"],
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:riskgate-test-registry-work",
            "awsRegion": "us-east-1",
        }
        for message in messages
    ]
    return {"Records": records}


def run(queue_url: str, event: dict[str, Any]) -> dict[str, Any]:
    """The handler on `event`; then, as Lambda does, the records that did not fail are deleted. A batch
    whose every record failed makes the invocation fail (Powertools raises): all of them failed."""
    try:
        response: dict[str, Any] = registry_ingester.handler(event, FakeLambdaContext())
    except BatchProcessingError:
        response = {
            "batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in event["Records"]]
        }
    failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    for record in event["Records"]:
        if record["messageId"] not in failed:
            boto3.client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])
    return response


def seconds_until_visible(message_id: str) -> float:
    """When moto makes the message visible again, from now (moto's own record of the message)."""
    queue = sqs_backends[ACCOUNT]["us-east-1"].queues["riskgate-test-registry-work"]
    (message,) = [message for message in queue._messages if message.id == message_id]
    return (message.visible_at - unix_time_millis()) / 1000


def deliver(queue_url: str, message: dict[str, Any]) -> dict[str, Any]:
    """`message` put on the queue, received and handled."""
    put(queue_url, message)
    event = receive(queue_url)
    assert event is not None
    return run(queue_url, event)


def metrics_printed(capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    total: dict[str, float] = {}
    for document in emf_documents(capsys.readouterr().out):
        for name, value in figures(document).items():
            total[name] = total.get(name, 0) + value
    return total


# --- ECR and Inspector as moto has them -------------------------------------------------------------------


def pushed_image(repository: str, *, scanned: bool = True) -> str:
    """An image pushed to moto's ECR (its digest), its basic scan started unless `scanned` is False."""
    ecr = boto3.client("ecr", region_name=ECR_REGION)
    ecr.create_repository(repositoryName=repository)
    layer = "sha256:" + hashlib.sha256(repository.encode()).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": layer},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2, "digest": layer}
        ],
    }
    put_image = ecr.put_image(
        repositoryName=repository, imageManifest=json.dumps(manifest), imageTag="1572471135"
    )
    digest = str(put_image["image"]["imageId"]["imageDigest"])
    if scanned:
        ecr.start_image_scan(repositoryName=repository, imageId={"imageDigest": digest})
    return digest


def seed_basic_scan(root: Path, repository: str, digest: str) -> None:
    """The real DescribeImageScanFindings answer (257 findings), made about the seeded image."""
    answer = fixture(root, "ecr/scan-findings-example-b.json")
    answer.update(registryId=ACCOUNT, repositoryName=repository, imageId={"imageDigest": digest})
    seeded = {"results": [answer], "account_id": ACCOUNT, "region": ECR_REGION}
    assert requests.post(f"{MOTO_API}/ecr/scan-finding-results", json=seeded, timeout=5).status_code == 201


def ecr_scan_event(root: Path, repository: str, digest: str) -> dict[str, Any]:
    """The real `ECR Image Scan` event, about the seeded image."""
    event = fixture(root, "ecr/ecr-image-scan-event.json")
    event.update(account=ACCOUNT, region=ECR_REGION)
    event["resources"] = [f"arn:aws:ecr:{ECR_REGION}:{ACCOUNT}:repository/{repository}"]
    event["detail"].update({"repository-name": repository, "image-digest": digest})
    return dict(event)


def ecr_image_id(repository: str, digest: str) -> str:
    return ImageRef(
        f"{ACCOUNT}.dkr.ecr.{ECR_REGION}.amazonaws.com", repository, "1572471135", digest
    ).image_id


def test_an_ecr_scan_event_stores_the_scan_ecr_has_with_its_verdict(
    work_queue: str,
    registries: RegistryStore,
    store: Store,
    registry_fixtures: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a connection to the account's registry and an image whose basic scan found 257 vulnerabilities
    registry_id = ecr_connection(registries)
    digest = pushed_image(REPOSITORY)
    seed_basic_scan(registry_fixtures, REPOSITORY, digest)
    capsys.readouterr()

    # When ECR's event arrives
    response = deliver(work_queue, ecr_scan_event(registry_fixtures, REPOSITORY, digest))

    # Then the scan is stored with the counts the fixture's README gives, and the image judged
    assert response == {"batchItemFailures": []}
    image = store.get_image(ecr_image_id(REPOSITORY, digest))
    assert image is not None
    assert image["counts"]["vulnerabilities"] == {
        "critical": 1,
        "high": 5,
        "medium": 32,
        "low": 25,
        "negligible": 183,
        "unknown": 11,
    }
    assert image["status"] == "non_compliant"  # the default policy: a critical vulnerability
    assert image["verdict"]["reasons"]
    (scan,) = store.list_scans(image["image_id"], 10, None).items
    assert (scan["format"], scan["finding_count"]) == ("ecr", 257)
    assert scan["received_at"] == "2021-04-01T13:50:08.000000Z"  # imageScanCompletedAt, in UTC
    assert scan["submitted_by"] == f"system:registry:{registry_id}"
    (event,) = registries.list_events(registry_id, 10, None).items
    assert (event["kind"], event["error"]) == ("imported", False)
    assert "257 findings, verdict non_compliant" in event["message"]
    assert registries.get_state(registry_id)["events"] == {"imported": 1}
    assert metrics_printed(capsys) == {
        METRIC_REGISTRY_SCANS_IMPORTED: 1,
        METRIC_SCANS_INGESTED: 1,
        METRIC_FINDINGS_STORED: 257,
    }


def test_the_same_event_twice_stores_one_scan(
    work_queue: str, registries: RegistryStore, store: Store, registry_fixtures: Path
) -> None:
    registry_id = ecr_connection(registries)
    digest = pushed_image(REPOSITORY)
    seed_basic_scan(registry_fixtures, REPOSITORY, digest)
    event = ecr_scan_event(registry_fixtures, REPOSITORY, digest)

    first = deliver(work_queue, event)
    second = deliver(work_queue, event)

    assert first == second == {"batchItemFailures": []}
    assert len(store.list_scans(ecr_image_id(REPOSITORY, digest), 10, None).items) == 1
    assert registries.get_state(registry_id)["events"] == {"imported": 1, "duplicate": 1}


def test_an_event_no_connection_covers_is_ignored_and_counted(
    work_queue: str,
    registries: RegistryStore,
    store: Store,
    registry_fixtures: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ecr_connection(registries, repositories=["prod/*"])
    digest = pushed_image(REPOSITORY)
    capsys.readouterr()

    response = deliver(work_queue, ecr_scan_event(registry_fixtures, REPOSITORY, digest))

    assert response == {"batchItemFailures": []}
    assert store.get_image(ecr_image_id(REPOSITORY, digest)) is None
    assert metrics_printed(capsys) == {METRIC_REGISTRY_EVENTS_IGNORED: 1}


def test_an_inspector_scan_event_stores_the_active_findings_of_the_ecr_image(
    work_queue: str, registries: RegistryStore, store: Store, registry_fixtures: Path
) -> None:
    # Given Inspector's real findings (7 ECR findings, one of them CLOSED, and an EC2 instance's)
    ecr_connection(registries, INSPECTOR_REGION)
    listed = fixture(registry_fixtures, "inspector2/aws_inspector2_many_vul.json")["findings"]
    seeded = {"results": [listed], "account_id": ACCOUNT, "region": INSPECTOR_REGION}
    assert requests.post(f"{MOTO_API}/inspector2/findings-results", json=seeded, timeout=5).status_code == 201
    event = fixture(registry_fixtures, "inspector2/awsdocs_inspector2-scan-event.json")
    arn = f"arn:aws:ecr:{INSPECTOR_REGION}:{ACCOUNT}:repository/my-awesome-docker-image"
    event.update(account=ACCOUNT, region=INSPECTOR_REGION, resources=[arn])
    event["detail"].update({"repository-name": arn, "image-digest": INSPECTED_DIGEST})

    # When Inspector's scan event arrives
    response = deliver(work_queue, event)

    # Then the six active ECR findings are stored, one per vulnerable package (libxml2 twice)
    assert response == {"batchItemFailures": []}
    image_ref = ImageRef(
        f"{ACCOUNT}.dkr.ecr.{INSPECTOR_REGION}.amazonaws.com",
        "my-awesome-docker-image",
        "latest",
        INSPECTED_DIGEST,
    )
    image = store.get_image(image_ref.image_id)
    assert image is not None
    vulnerabilities = {severity: n for severity, n in image["counts"]["vulnerabilities"].items() if n}
    assert vulnerabilities == {"high": 2, "medium": 3, "unknown": 2}
    (scan,) = store.list_scans(image_ref.image_id, 10, None).items
    assert (scan["format"], scan["received_at"]) == ("inspector", "2021-12-03T18:03:16.000000Z")


# --- Harbor -----------------------------------------------------------------------------------------------


@pytest.fixture
def harbor() -> Iterator[FakeHarbor]:
    with FakeHarbor() as fake:
        yield fake


def harbor_connection(registries: RegistryStore, harbor: FakeHarbor) -> str:
    created = registries.create_connection(
        "harbor",
        "harbor",
        {"url": harbor.url, "projects": ["*"], "robot_name": harbor.robot_name},
        {"robot_secret": harbor.robot_secret, "webhook_secret": "w" * 24},
        ADMIN,
    )
    return str(created["id"])


def test_a_harbor_scan_is_pulled_from_harbor_and_stored_as_an_image_of_the_connection(
    work_queue: str, registries: RegistryStore, store: Store, harbor: FakeHarbor, registry_fixtures: Path
) -> None:
    # Given Harbor has the scanner adapter's report of the artifact its webhook names
    registry_id = harbor_connection(registries, harbor)
    report = fixture(SCANNER_FIXTURES, "harbor/dd_harbor-trivy-adapter.json")
    harbor.set_report("test", "alpine/helm", HELM_DIGEST, report)
    webhook = fixture(registry_fixtures, "harbor/scanning_completed.json")

    # When the webhook's message is handled
    response = deliver(work_queue, {"kind": "harbor", "registry_id": registry_id, "event": webhook})

    # Then the report is stored about the image in the connection's Harbor
    assert response == {"batchItemFailures": []}
    host = harbor.url.removeprefix("http://")
    image_ref = ImageRef(host, "test/alpine/helm", "3.8.1", HELM_DIGEST)
    image = store.get_image(image_ref.image_id)
    assert image is not None
    (scan,) = store.list_scans(image_ref.image_id, 10, None).items
    assert (scan["format"], scan["finding_count"]) == ("harbor", 3)
    assert scan["image_reference"] == f"{host}/test/alpine/helm:3.8.1@{HELM_DIGEST}"
    assert harbor.requests[-1].header("X-Accept-Vulnerabilities") == (
        "application/vnd.security.vulnerability.report; version=1.1"
    )
    assert registries.get_state(registry_id)["events"] == {"imported": 1}


def test_harbor_refusing_the_robot_is_recorded_at_once_and_the_message_let_go(
    work_queue: str,
    registries: RegistryStore,
    harbor: FakeHarbor,
    registry_fixtures: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry_id = harbor_connection(registries, harbor)
    harbor.answer_next(401, message="unauthorized: authentication required")
    webhook = fixture(registry_fixtures, "harbor/scanning_completed.json")
    capsys.readouterr()

    response = deliver(work_queue, {"kind": "harbor", "registry_id": registry_id, "event": webhook})

    assert response == {"batchItemFailures": []}
    assert receive(work_queue) is None
    (event,) = registries.list_events(registry_id, 10, None).items
    assert (event["kind"], event["error"]) == ("pull_failed", True)
    assert "401" in event["message"]
    state = registries.get_state(registry_id)
    assert state["last_error"]["message"] == event["message"]
    assert state["last_error"]["image"] == event["image"]
    assert metrics_printed(capsys) == {METRIC_REGISTRY_PULLS_FAILED: 1}


# --- not readable yet ----------------------------------------------------------------------------------


def test_findings_not_readable_yet_come_back_later_until_the_last_attempt_records_the_failure(
    work_queue: str, registries: RegistryStore, store: Store, registry_fixtures: Path
) -> None:
    # Given an image ECR has not scanned yet
    registry_id = ecr_connection(registries)
    digest = pushed_image(REPOSITORY, scanned=False)
    put(work_queue, ecr_scan_event(registry_fixtures, REPOSITORY, digest))
    put(work_queue, {"kind": "not registry work"})

    # When its event is handled the first time, in a batch with another message
    first = receive(work_queue, count=2)
    assert first is not None
    assert len(first["Records"]) == 2
    (scan_event,) = [record for record in first["Records"] if "aws.ecr" in record["body"]]
    response = run(work_queue, first)

    # Then its record fails alone, and it is not visible again at once (the queue's timeout is 0)
    assert response == {"batchItemFailures": [{"itemIdentifier": scan_event["messageId"]}]}
    assert receive(work_queue) is None
    assert 29 <= seconds_until_visible(scan_event["messageId"]) <= 30
    assert registries.list_events(registry_id, 10, None).items == []

    # When it is received for the last time (made visible again by hand, as each delay would)
    sqs = boto3.client("sqs")
    handle = scan_event["receiptHandle"]
    last = None
    for _ in range(REGISTRY_MAX_ATTEMPTS - 1):
        sqs.change_message_visibility(QueueUrl=work_queue, ReceiptHandle=handle, VisibilityTimeout=0)
        last = receive(work_queue)
        assert last is not None
        handle = last["Records"][0]["receiptHandle"]
    assert last is not None
    assert last["Records"][0]["attributes"]["ApproximateReceiveCount"] == str(REGISTRY_MAX_ATTEMPTS)
    response = run(work_queue, last)

    # Then the failure is recorded on the connection, and the message let go
    assert response == {"batchItemFailures": []}
    assert receive(work_queue) is None
    (event,) = registries.list_events(registry_id, 10, None).items
    assert (event["kind"], event["error"]) == ("pull_failed", True)
    assert f"after {REGISTRY_MAX_ATTEMPTS} attempts" in event["message"]
    assert registries.get_state(registry_id)["last_error"]["message"] == event["message"]
    assert store.get_image(ecr_image_id(REPOSITORY, digest)) is None


# --- syncs and other messages -----------------------------------------------------------------------------


def test_the_daily_sync_walks_the_registry_and_imports_what_it_finds(
    work_queue: str, registries: RegistryStore, store: Store, registry_fixtures: Path
) -> None:
    registry_id = ecr_connection(registries, scans=["basic"])
    digest = pushed_image(REPOSITORY)
    seed_basic_scan(registry_fixtures, REPOSITORY, digest)

    assert deliver(work_queue, {"kind": "sync_all"}) == {"batchItemFailures": []}
    sync_page = receive(work_queue)
    assert sync_page is not None
    assert json.loads(sync_page["Records"][0]["body"])["kind"] == "sync"
    assert run(work_queue, sync_page) == {"batchItemFailures": []}

    assert receive(work_queue) is None
    sync = registries.get_state(registry_id)["sync"]
    assert (sync["state"], sync["images_seen"], sync["images_imported"]) == ("done", 1, 1)
    image = store.get_image(ecr_image_id(REPOSITORY, digest))
    assert image is not None
    assert image["counts"]["vulnerabilities"]["critical"] == 1


def test_a_message_that_is_not_registry_work_is_dropped(work_queue: str, registries: RegistryStore) -> None:
    assert deliver(work_queue, {"kind": "something else"}) == {"batchItemFailures": []}
    put(work_queue, {"source": "aws.s3"})
    event = receive(work_queue)
    assert event is not None
    event["Records"][0]["body"] = "not json"
    assert run(work_queue, event) == {"batchItemFailures": []}
    assert receive(work_queue) is None
