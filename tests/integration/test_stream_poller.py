"""The local stream poller: the table's real stream (moto), filtered, in Lambda's shape, with retries.

The poller runs against moto's server, as in the local stack (moto 5.2.5's in-process decorator mode
answers DescribeStream with "Not yet implemented").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from riskgate.resources import EVALUATOR_STREAM_FILTER, TABLE
from riskgate_local.aws import MotoServer
from riskgate_local.lambdas import LocalFunction
from riskgate_local.periodic import PeriodicTask
from riskgate_local.streams import StreamPoller, first_failed_index, lambda_stream_record, matches_filter


def succeed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"batchItemFailures": []}


@dataclass
class Evaluator:
    """Stands in for the evaluator: answers with `respond` and keeps every batch it was given."""

    respond: Callable[[dict[str, Any], Any], Any] = succeed
    batches: list[list[dict[str, Any]]] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.batches.append(event["Records"])
        return self.respond(event, context)

    @property
    def image_ids(self) -> list[str]:
        return [record["dynamodb"]["Keys"]["pk"]["S"] for batch in self.batches for record in batch]


@dataclass
class Stream:
    endpoint_url: str
    table_name: str
    dynamodb: Any
    stream_arn: str
    evaluator: Evaluator
    failures: list[dict[str, Any]]

    def poller(self, **options: Any) -> StreamPoller:
        return StreamPoller(
            self.stream_arn,
            LocalFunction("test-evaluator", self.evaluator, timeout_seconds=60),
            filter_pattern=EVALUATOR_STREAM_FILTER,
            on_failure=self.failures.append,
            client=boto3.client("dynamodbstreams", endpoint_url=self.endpoint_url),
            **options,
        )

    def put(self, pk: str, sk: str, **attributes: str) -> None:
        item = {"pk": {"S": pk}, "sk": {"S": sk}} | {name: {"S": value} for name, value in attributes.items()}
        self.dynamodb.put_item(TableName=self.table_name, Item=item)

    def put_image(self, image_id: str, **attributes: str) -> None:
        self.put(f"IMAGE#{image_id}", "META", **attributes)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = MotoServer()
    yield server.start()
    server.stop()


@pytest.fixture
def stream(moto_endpoint: str) -> Stream:
    # A table of its own for every test: one moto server serves the whole module.
    table_name = f"poller-{uuid.uuid4().hex[:12]}"
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    created = dynamodb.create_table(**TABLE.create_table_kwargs(table_name))
    stream_arn = created["TableDescription"]["LatestStreamArn"]
    return Stream(moto_endpoint, table_name, dynamodb, stream_arn, Evaluator(), [])


def test_only_image_summaries_reach_the_evaluator_in_lambdas_shape(stream: Stream) -> None:
    stream.put_image("img-1", current_scan_id="scan-1")
    stream.put("IMAGE#img-1", "SCAN#x")
    stream.put("SCAN#scan-1", "META")
    stream.put_image("img-1", current_scan_id="scan-2")
    poller = stream.poller()

    poller.poll_once()

    (batch,) = stream.evaluator.batches
    assert [record["eventName"] for record in batch] == ["INSERT", "MODIFY"]
    inserted, modified = batch
    assert inserted["eventVersion"] == "1.1"
    assert inserted["eventSource"] == "aws:dynamodb"
    assert inserted["awsRegion"] == "us-east-1"
    assert inserted["eventSourceARN"] == stream.stream_arn
    assert isinstance(inserted["eventID"], str)
    dynamodb = inserted["dynamodb"]
    assert isinstance(dynamodb["ApproximateCreationDateTime"], int)
    assert dynamodb["Keys"] == {"pk": {"S": "IMAGE#img-1"}, "sk": {"S": "META"}}
    assert dynamodb["NewImage"]["current_scan_id"] == {"S": "scan-1"}
    assert "OldImage" not in dynamodb
    assert dynamodb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(dynamodb["SequenceNumber"], str)
    assert isinstance(dynamodb["SizeBytes"], int)
    assert modified["dynamodb"]["OldImage"]["current_scan_id"] == {"S": "scan-1"}
    assert modified["dynamodb"]["NewImage"]["current_scan_id"] == {"S": "scan-2"}


def test_records_are_delivered_once_and_later_writes_on_a_later_poll(stream: Stream) -> None:
    poller = stream.poller()
    stream.put_image("img-1")
    poller.poll_once()

    stream.put_image("img-2")
    poller.poll_once()
    idle = poller.poll_once()

    assert stream.evaluator.image_ids == ["IMAGE#img-1", "IMAGE#img-2"]
    assert idle is True


def test_batches_hold_at_most_batch_size_records(stream: Stream) -> None:
    for number in range(5):
        stream.put_image(f"img-{number}")

    stream.poller(batch_size=2).poll_once()

    assert [len(batch) for batch in stream.evaluator.batches] == [2, 2, 1]


def test_a_reported_item_failure_is_retried_from_that_record(stream: Stream) -> None:
    for number in range(3):
        stream.put_image(f"img-{number}")
    attempts: list[int] = []

    def fail_second_once(event: dict[str, Any], context: Any) -> dict[str, Any]:
        attempts.append(len(event["Records"]))
        if len(attempts) == 1:
            return {
                "batchItemFailures": [{"itemIdentifier": event["Records"][1]["dynamodb"]["SequenceNumber"]}]
            }
        return {"batchItemFailures": []}

    stream.evaluator.respond = fail_second_once
    poller = stream.poller()

    first_idle = poller.poll_once()
    poller.poll_once()

    assert first_idle is False
    assert stream.evaluator.image_ids == [
        "IMAGE#img-0",
        "IMAGE#img-1",
        "IMAGE#img-2",
        "IMAGE#img-1",
        "IMAGE#img-2",
    ]
    assert stream.failures == []


def test_an_exception_fails_the_whole_batch_and_it_is_retried(stream: Stream) -> None:
    stream.put_image("img-1")
    calls: list[int] = []

    def crash_once(event: dict[str, Any], context: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("table busy")

    stream.evaluator.respond = crash_once
    poller = stream.poller()

    poller.poll_once()
    poller.poll_once()

    assert stream.evaluator.image_ids == ["IMAGE#img-1", "IMAGE#img-1"]
    assert stream.failures == []


def test_after_the_retries_the_batch_goes_to_the_failure_destination_and_the_shard_moves_on(
    stream: Stream,
) -> None:
    stream.put_image("poison")
    stream.put_image("healthy")

    def reject_poison(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failed = [
            {"itemIdentifier": record["dynamodb"]["SequenceNumber"]}
            for record in event["Records"]
            if record["dynamodb"]["Keys"]["pk"]["S"] == "IMAGE#poison"
        ]
        return {"batchItemFailures": failed}

    stream.evaluator.respond = reject_poison
    poller = stream.poller(max_retry_attempts=2)

    for _ in range(3):
        poller.poll_once()
    stream.put_image("later")
    poller.poll_once()

    # The first attempt and two retries; then Lambda gives up on the rest of the batch (without
    # bisecting, the healthy record goes with it) and carries on with the shard.
    assert stream.evaluator.image_ids == ["IMAGE#poison", "IMAGE#healthy"] * 3 + ["IMAGE#later"]
    (failure,) = stream.failures
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    info = failure["DDBStreamBatchInfo"]
    assert info["streamArn"] == stream.stream_arn
    assert info["batchSize"] == 2
    assert info["startSequenceNumber"] < info["endSequenceNumber"]
    assert poller.poll_once() is True


def test_wait_until_idle_waits_for_changes_made_before_the_call(stream: Stream) -> None:
    poller = stream.poller()
    polling = PeriodicTask("poller", 0.05, poller.poll_once)
    polling.start()
    try:
        stream.put_image("img-1")

        caught_up = poller.wait_until_idle(timeout=5)

        assert caught_up is True
        assert stream.evaluator.image_ids == ["IMAGE#img-1"]
    finally:
        polling.stop()


def test_wait_until_idle_gives_up_when_nothing_polls(stream: Stream) -> None:
    assert stream.poller().wait_until_idle(timeout=0.05) is False


@pytest.mark.parametrize(
    ("keys", "matches"),
    [
        ({"pk": {"S": "IMAGE#img-1"}, "sk": {"S": "META"}}, True),
        ({"pk": {"S": "IMAGE#img-1"}, "sk": {"S": "SCAN#2024"}}, False),
        ({"pk": {"S": "SCAN#1"}, "sk": {"S": "META"}}, False),
        ({"pk": {"S": "IMAGE#img-1"}}, False),
        ({"pk": {"N": "1"}, "sk": {"S": "META"}}, False),
    ],
)
def test_the_evaluator_filter_matches_as_lambda_does(keys: dict[str, Any], matches: bool) -> None:
    assert matches_filter(EVALUATOR_STREAM_FILTER, {"dynamodb": {"Keys": keys}}) is matches


def test_filter_values_match_any_element_of_an_array_and_exact_types() -> None:
    assert matches_filter({"tags": ["a"]}, {"tags": ["b", "a"]}) is True
    assert matches_filter({"flag": [True]}, {"flag": 1}) is False
    assert matches_filter({"count": [1]}, {"count": 1}) is True


def test_an_unsupported_filter_rule_fails_loudly() -> None:
    with pytest.raises(ValueError, match="not supported"):
        matches_filter({"n": [{"numeric": [">", 1]}]}, {"n": 2})


def test_binary_attributes_are_base64_text_as_lambda_sends_them() -> None:
    record = {
        "eventID": str(uuid.uuid4()),
        "eventName": "INSERT",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": {"S": "IMAGE#x"}},
            "NewImage": {"blob": {"B": b"\x00\x01"}, "nested": {"M": {"set": {"BS": [b"\xff"]}}}},
            "SequenceNumber": "1",
        },
    }

    converted = lambda_stream_record(record, "arn:stream")

    assert converted["dynamodb"]["NewImage"] == {
        "blob": {"B": "AAE="},
        "nested": {"M": {"set": {"BS": ["/w=="]}}},
    }


def test_an_unknown_item_identifier_fails_the_whole_batch() -> None:
    batch = [{"dynamodb": {"SequenceNumber": "10"}}, {"dynamodb": {"SequenceNumber": "11"}}]

    assert first_failed_index({"batchItemFailures": [{"itemIdentifier": "11"}]}, batch) == 1
    assert first_failed_index({"batchItemFailures": [{"itemIdentifier": ""}]}, batch) == 0
    assert first_failed_index({"batchItemFailures": []}, batch) is None
    assert first_failed_index(None, batch) is None
