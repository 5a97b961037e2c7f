"""Registry connections on the local stack (issue 14): a registry's scan event put on moto's default bus
(`deliver_event`, what `POST /_local/eventbridge` calls) reaches the registry-work queue as EventBridge
delivers it, and the queue's poller hands it to the registry ingester; the functions know the queue and
the hosts a local Harbor may use; `RISKGATE_AWS_PORT` fixes moto's port.

One in-process stack for the module, started as `make run` starts it (from its environment). The ingester
is a recorder: what it does with a message is its own business (tested there), here only the wiring is.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from riskgate.resources import (
    REGISTRY_INGESTER_FUNCTION,
    REGISTRY_WORK_MAX_RECEIVE_COUNT,
    REGISTRY_WORK_VISIBILITY_TIMEOUT_SECONDS,
)
from riskgate_local import LocalStack
from riskgate_local.__main__ import local_stack_from_environment
from riskgate_local.aws import ACCOUNT_ID, REGION, queue_arn
from riskgate_local.eventbridge import EventError, deliver_event
from tests.conftest import SCANNER_FIXTURES
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

REGISTRY_FIXTURES = SCANNER_FIXTURES.parent / "registries"
ECR_SCAN_EVENT = REGISTRY_FIXTURES / "ecr" / "ecr-image-scan-event.json"
INSPECTOR_SCAN_EVENT = REGISTRY_FIXTURES / "inspector2" / "awsdocs_inspector2-scan-event.json"
ECR_PUSH_EVENT = REGISTRY_FIXTURES / "ecr" / "ecr-image-push-event.json"
ARRIVAL_TIMEOUT_SECONDS = 10
SCAN_RULE = "riskgate-local-registry-scan"

# Every SQS record the registry ingester was invoked with, in order.
ingested: list[dict[str, Any]] = []


def recording_ingester(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ingested.extend(event["Records"])
    return {"batchItemFailures": []}


class Remembered(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def aws_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def start_log() -> Remembered:
    return Remembered()


@pytest.fixture(scope="module")
def stack(aws_port: int, start_log: Remembered) -> Iterator[LocalStack]:
    if not ECR_SCAN_EVENT.is_file():
        pytest.skip(f"registry fixtures not found at {REGISTRY_FIXTURES} (clone with ../shared beside it)")
    ingested.clear()
    stack_logger = logging.getLogger("riskgate_local.stack")
    stack_logger.addHandler(start_log)
    previous_level = stack_logger.level
    stack_logger.setLevel(logging.INFO)
    environment = {"RISKGATE_PORT": "0", "RISKGATE_AWS_PORT": str(aws_port)}
    try:
        with local_stack_from_environment(environment, registry_ingester=recording_ingester) as running:
            yield running
    finally:
        stack_logger.removeHandler(start_log)
        stack_logger.setLevel(previous_level)


def fixture_event(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def arrived(event_id: str) -> dict[str, Any]:
    """The ingester's record of the message carrying the event `event_id`, once the poller delivered it."""
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_SECONDS
    while True:
        for record in list(ingested):
            if json.loads(record["body"]).get("id") == event_id:
                return record
        assert time.monotonic() < deadline, f"event {event_id} never reached the registry ingester"
        time.sleep(0.05)


# --- moto's port -----------------------------------------------------------------------------------


def test_riskgate_aws_port_fixes_the_moto_servers_port_and_the_endpoint_is_logged(
    stack: LocalStack, aws_port: int, start_log: Remembered
) -> None:
    endpoint = f"http://127.0.0.1:{aws_port}"

    assert stack.aws_endpoint_url == endpoint
    assert os.environ["AWS_ENDPOINT_URL"] == endpoint
    assert f"AWS endpoint (moto): {endpoint}" in start_log.messages
    # Reachable there by any client, e.g. to seed ECR through moto's own endpoints
    queues = boto3.client("sqs", endpoint_url=endpoint).list_queues()["QueueUrls"]
    assert stack.resources.registry_work_queue_url in queues


def test_a_negative_aws_port_is_refused() -> None:
    with pytest.raises(ValueError, match="aws_port"):
        LocalStack(aws_port=-1)


# --- the queue, its consumer and what the functions are told ---------------------------------------


def test_the_registry_work_queue_is_created_as_the_cdk_stack_declares_it(stack: LocalStack) -> None:
    resources = stack.resources
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=resources.registry_work_queue_url, AttributeNames=["All"]
    )["Attributes"]

    assert resources.registry_work_queue_url.endswith("/riskgate-local-registry-work")
    assert resources.registry_work_dead_letter_queue_url.endswith(
        "/riskgate-local-registry-work-dead-letters"
    )
    assert int(attributes["VisibilityTimeout"]) == REGISTRY_WORK_VISIBILITY_TIMEOUT_SECONDS
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": queue_arn(resources.registry_work_dead_letter_queue_url),
        "maxReceiveCount": REGISTRY_WORK_MAX_RECEIVE_COUNT,
    }
    # Polled for the ingester, as its event source mapping would
    assert any(task.name == "queue-poller-registry-ingester" for task in stack.periodic_tasks)
    assert stack.registry_ingester_function.timeout_seconds == REGISTRY_INGESTER_FUNCTION.timeout_seconds


def test_the_api_and_the_ingester_know_the_queue_and_the_hosts_a_local_harbor_may_use(
    stack: LocalStack,
) -> None:
    from riskgate.settings import get_settings

    # One process: every local function reads the same environment
    assert os.environ["RISKGATE_REGISTRY_WORK_QUEUE_URL"] == stack.resources.registry_work_queue_url
    settings = get_settings()
    assert settings.registry_work_queue_url == stack.resources.registry_work_queue_url
    assert settings.registry_insecure_hosts == {"127.0.0.1", "localhost", "::1"}


# --- a registry's event, delivered -----------------------------------------------------------------


def test_an_ecr_scan_event_reaches_the_ingester_as_eventbridge_delivers_it(stack: LocalStack) -> None:
    # Given ECR's event that it finished scanning an image (another account's and region's)
    event = fixture_event(ECR_SCAN_EVENT)

    # When it is put on the default bus
    result = deliver_event(event)

    # Then the stack's rule puts it, whole and unchanged, on the registry-work queue
    assert result == {"entries": [{"EventId": event["id"]}], "rules": [SCAN_RULE]}
    record = arrived(event["id"])
    assert json.loads(record["body"]) == event
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue_arn(stack.resources.registry_work_queue_url)


def test_an_inspector_scan_event_reaches_the_ingester_too(stack: LocalStack) -> None:
    event = fixture_event(INSPECTOR_SCAN_EVENT)

    result = stack.deliver_event(event)

    assert result["rules"] == [SCAN_RULE]
    assert json.loads(arrived(event["id"])["body"]) == event


def test_an_event_no_rule_matches_goes_nowhere(stack: LocalStack) -> None:
    # An image pushed is not an image scanned
    result = deliver_event(fixture_event(ECR_PUSH_EVENT))

    assert result["rules"] == []
    assert len(result["entries"]) == 1


def test_what_an_event_leaves_out_is_filled_in_as_eventbridge_fills_it(stack: LocalStack) -> None:
    detail = fixture_event(ECR_SCAN_EVENT)["detail"]

    result = deliver_event({"source": "aws.ecr", "detail-type": "ECR Image Scan", "detail": detail})

    [entry] = result["entries"]
    delivered = json.loads(arrived(entry["EventId"])["body"])
    assert list(delivered) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert delivered["version"] == "0"
    assert delivered["account"] == ACCOUNT_ID
    assert delivered["region"] == REGION
    assert delivered["resources"] == []
    assert delivered["detail"] == detail
    assert delivered["time"].endswith("Z")
    assert len(delivered["time"]) == len("2019-10-30T21:32:27Z")


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "JSON object"),
        ({"source": "aws.ecr", "detail-type": "ECR Image Scan"}, "needs detail"),
        ({"source": "aws.ecr", "detail-type": "ECR Image Scan", "detail": "{}"}, "detail must be"),
        ({"Source": "aws.ecr", "DetailType": "ECR Image Scan", "Detail": "{}"}, "not fields"),
        ({"source": "", "detail-type": "ECR Image Scan", "detail": {}}, "source"),
        ({"source": "aws.ecr", "detail-type": "ECR Image Scan", "detail": {}, "account": "1"}, "account"),
        ({"source": "aws.ecr", "detail-type": "ECR Image Scan", "detail": {}, "time": "yesterday"}, "time"),
        (
            {
                "source": "aws.ecr",
                "detail-type": "ECR Image Scan",
                "detail": {},
                "time": "2019-10-30T21:32:27",
            },
            "time",
        ),
        (
            {"source": "aws.ecr", "detail-type": "ECR Image Scan", "detail": {}, "resources": "arn"},
            "resources",
        ),
    ],
)
def test_what_is_not_an_event_is_refused(stack: LocalStack, event: Any, message: str) -> None:
    with pytest.raises(EventError, match=message):
        deliver_event(event)
