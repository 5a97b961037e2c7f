"""The one wiring of stream and queue consumers (riskgate.handlers.consumers), and every consumer on it."""

from __future__ import annotations

import importlib
import inspect
import io
import json
import uuid
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from riskgate.handlers.consumers import queue_consumer, stream_consumer
from tests.support.events import FakeLambdaContext

CONTEXT: Any = FakeLambdaContext()

CONSUMERS = (
    "evaluator",
    "audit_forwarder",
    "reevaluation_planner",
    "dispatcher",
    "reevaluator",
    "notifier",
    "upload_ingester",
    "findings_retirer",
    "registry_ingester",
)


def stream_event(*keys: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventID": f"evt-{key}",
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "dynamodb": {"Keys": {"pk": {"S": key}}, "SequenceNumber": f"10{index}"},
            }
            for index, key in enumerate(keys)
        ]
    }


def queue_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"msg-{index}", "receiptHandle": "h", "body": body, "eventSource": "aws:sqs"}
            for index, body in enumerate(bodies)
        ]
    }


def test_a_failing_stream_record_is_reported_by_its_sequence_number_and_the_others_are_handled() -> None:
    handled: list[str] = []

    def record_handler(record: Any) -> None:
        key = record.dynamodb.keys["pk"]
        if key == "bad":
            raise ValueError("poison")
        handled.append(key)

    handler = stream_consumer(record_handler, Logger(service="consumers-test", stream=io.StringIO()))

    response = handler(stream_event("a", "bad", "c"), CONTEXT)

    assert response == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert handled == ["a", "c"]


def test_a_failing_message_is_reported_by_its_message_id() -> None:
    def record_handler(record: Any) -> None:
        if record.body == "bad":
            raise ValueError("poison")

    handler = queue_consumer(record_handler, Logger(service="consumers-test", stream=io.StringIO()))

    assert handler(queue_event("ok", "bad"), CONTEXT) == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    assert handler(queue_event("ok"), CONTEXT) == {"batchItemFailures": []}


def test_per_batch_arguments_are_made_once_a_batch_and_given_to_every_record() -> None:
    made: list[int] = []
    seen: list[tuple[str, int]] = []

    def per_batch() -> dict[str, Any]:
        made.append(len(made))
        return {"batch": made[-1]}

    def record_handler(record: Any, batch: int) -> None:
        seen.append((record.body, batch))

    handler = queue_consumer(
        record_handler, Logger(service="consumers-test", stream=io.StringIO()), per_batch=per_batch
    )

    handler(queue_event("a", "b"), CONTEXT)
    handler(queue_event("c"), CONTEXT)

    assert made == [0, 1]
    assert seen == [("a", 0), ("b", 0), ("c", 1)]


def test_the_lambda_context_is_in_the_record_handlers_logs() -> None:
    output = io.StringIO()
    # A service of its own: Powertools loggers of one service share the first one's stream.
    logger = Logger(service=f"consumers-test-{uuid.uuid4().hex}", stream=output)

    def record_handler(record: Any) -> None:
        logger.info("handled", body=record.body)

    queue_consumer(record_handler, logger)(queue_event("a"), CONTEXT)

    (line,) = [json.loads(text) for text in output.getvalue().splitlines()]
    assert line["message"] == "handled"
    assert line["function_name"] == FakeLambdaContext.function_name
    assert line["function_request_id"] == FakeLambdaContext.aws_request_id


@pytest.mark.parametrize("name", CONSUMERS)
def test_every_consumer_declares_its_record_handler_and_takes_the_shared_wiring(name: str) -> None:
    module = importlib.import_module(f"riskgate.handlers.{name}")
    source = inspect.getsource(module)

    assert callable(module.record_handler)
    assert callable(module.handler)
    assert "process_partial_response" not in source
    assert "BatchProcessor" not in source
