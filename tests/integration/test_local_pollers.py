"""What the local stack's pollers share (riskgate_local.pollers) and how a consumer row becomes a poller
(riskgate_local.consumers). No AWS: the queue poller is given a stand-in client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from riskgate.resources import EVALUATOR_STREAM_FILTER
from riskgate_local.consumers import STREAM, Consumer
from riskgate_local.lambdas import LocalFunction
from riskgate_local.pollers import failed_positions
from riskgate_local.queues import QueuePoller
from riskgate_local.streams import DEFAULT_MAX_RETRY_ATTEMPTS, StreamPoller

QUEUE_URL = "http://localhost/123456789012/work"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:work"


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "c"}, {"itemIdentifier": "b"}]}, {1, 2}),
        # Lambda's rules: a failure naming no record of the batch, or an answer that is no object, fails
        # the whole batch.
        ({"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "z"}]}, {0, 1, 2}),
        ({"batchItemFailures": [{"itemIdentifier": 1}]}, {0, 1, 2}),
        ({"batchItemFailures": ["b"]}, {0, 1, 2}),
        ("ok", {0, 1, 2}),
    ],
)
def test_failed_positions_follow_lambdas_rules(response: Any, failed: set[int]) -> None:
    assert failed_positions(response, ["a", "b", "c"]) == failed


@dataclass
class FakeSqs:
    """Hands out `waiting` in batches of the requested size; records what was deleted."""

    waiting: list[str]
    deleted: list[str] = field(default_factory=list)
    receives: int = 0

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": QUEUE_ARN}}

    def receive_message(self, *, MaxNumberOfMessages: int, **_: Any) -> dict[str, Any]:
        self.receives += 1
        batch, self.waiting = self.waiting[:MaxNumberOfMessages], self.waiting[MaxNumberOfMessages:]
        return {
            "Messages": [{"MessageId": body, "ReceiptHandle": f"rh-{body}", "Body": body} for body in batch]
        }

    def delete_message_batch(self, *, Entries: list[dict[str, str]], **_: Any) -> None:
        self.deleted.extend(entry["ReceiptHandle"].removeprefix("rh-") for entry in Entries)


def fail_body(bad: str) -> Any:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": record["messageId"]}
                for record in event["Records"]
                if record["body"] == bad
            ]
        }

    return handler


def test_a_queue_poller_runs_until_the_queue_is_empty_and_leaves_failed_messages() -> None:
    sqs = FakeSqs(["m1", "m2", "bad", "m4", "m5"])
    poller = QueuePoller(
        QUEUE_URL,
        LocalFunction("test-consumer", fail_body("bad"), timeout_seconds=5),
        batch_size=2,
        client=sqs,
    )

    poller.run(lambda: True)

    assert sqs.receives == 4  # three batches, then one that finds nothing
    assert sqs.deleted == ["m1", "m2", "m4", "m5"]


def test_a_function_that_raises_fails_every_message_of_its_batch() -> None:
    def raising(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("down")

    sqs = FakeSqs(["m1", "m2"])
    poller = QueuePoller(
        QUEUE_URL, LocalFunction("test-consumer", raising, timeout_seconds=5), batch_size=10, client=sqs
    )

    assert poller.poll_once() == 2
    assert sqs.deleted == []


def test_a_queue_poller_does_nothing_once_the_stack_stops() -> None:
    sqs = FakeSqs(["m1"])
    poller = QueuePoller(
        QUEUE_URL, LocalFunction("test-consumer", fail_body(""), timeout_seconds=5), batch_size=1, client=sqs
    )

    poller.run(lambda: False)

    assert sqs.receives == 0


def test_a_stream_row_becomes_a_stream_poller_with_its_filter_batch_size_and_retry_cap() -> None:
    function = LocalFunction("test-evaluator", fail_body(""), timeout_seconds=5)
    consumer = Consumer(
        "evaluator",
        function,
        STREAM,
        7,
        filter_pattern=EVALUATOR_STREAM_FILTER,
        retry_attempts=3,
        failure_queue_url=QUEUE_URL,
    )

    own = consumer.poller("arn:stream")
    capped = consumer.poller("arn:stream", max_retry_attempts=0)

    assert isinstance(own, StreamPoller)
    assert isinstance(capped, StreamPoller)
    assert (own.kind, own.stream_arn) == ("stream", "arn:stream")
    assert (own._batch_size, own._filter_pattern) == (7, EVALUATOR_STREAM_FILTER)
    assert (own._max_retry_attempts, capped._max_retry_attempts) == (3, 0)
    assert own._on_failure is not None
    without_cap = Consumer("evaluator", function, STREAM, 7).poller("arn:stream")
    assert isinstance(without_cap, StreamPoller)
    assert without_cap._max_retry_attempts == DEFAULT_MAX_RETRY_ATTEMPTS
    assert without_cap._on_failure is None


def test_a_queue_row_becomes_a_queue_poller_within_sqs_receive_limit() -> None:
    function = LocalFunction("test-notifier", fail_body(""), timeout_seconds=5)

    poller = Consumer("notifier", function, QUEUE_URL, 25).poller("arn:stream", max_retry_attempts=0)

    assert isinstance(poller, QueuePoller)
    assert (poller.kind, poller.queue_url, poller._batch_size) == ("queue", QUEUE_URL, 10)
