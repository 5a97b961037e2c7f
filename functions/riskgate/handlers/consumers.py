"""The one wiring of every stream and queue consumer: Powertools' batch utility over the event's records,
partial batch failures reported (``batchItemFailures``), the Lambda context in the logs.

A consumer module declares its record handler and takes its Lambda entry point from here::

    def record_handler(record: SQSRecord) -> None: ...

    handler = queue_consumer(record_handler, logger)

A record handler that raises fails its record alone: Lambda retries it (a stream bisects and retries from
it; a queue makes the message visible again), the others of the batch are done. `per_batch` gives a
record handler arguments read once per batch (the evaluator's policies and acceptances) instead of once
per record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Concatenate

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

# What Lambda calls: the event of a batch → the records that failed.
ConsumerHandler = Callable[[dict[str, Any], LambdaContext], PartialItemFailureResponse]
# Keyword arguments for the record handler, made once at the start of each batch.
BatchArguments = Callable[[], Mapping[str, Any]]


def stream_consumer(
    record_handler: Callable[Concatenate[DynamoDBRecord, ...], None],
    logger: Logger,
    *,
    per_batch: BatchArguments | None = None,
) -> ConsumerHandler:
    """The handler of a DynamoDB Streams event source (itemIdentifier: the record's sequence number)."""
    return _batch_consumer(EventType.DynamoDBStreams, record_handler, logger, per_batch)


def queue_consumer(
    record_handler: Callable[Concatenate[SQSRecord, ...], None],
    logger: Logger,
    *,
    per_batch: BatchArguments | None = None,
) -> ConsumerHandler:
    """The handler of an SQS event source (itemIdentifier: the message id)."""
    return _batch_consumer(EventType.SQS, record_handler, logger, per_batch)


def _batch_consumer(
    event_type: EventType,
    record_handler: Callable[..., None],
    logger: Logger,
    per_batch: BatchArguments | None,
) -> ConsumerHandler:
    # A processor keeps the state of the batch in hand: one per function, never shared between two.
    processor = BatchProcessor(event_type=event_type)

    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        bound = record_handler if per_batch is None else partial(record_handler, **per_batch())
        return process_partial_response(
            event=event, record_handler=bound, processor=processor, context=context
        )

    return handler
