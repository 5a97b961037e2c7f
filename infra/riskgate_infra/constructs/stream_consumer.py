"""A function consuming the table's stream reliably: what the evaluator and the audit forwarder share.

Poison records are retried alone (bisect + partial batch responses), a bounded number of times, then their
stream positions go to an SQS queue (with a queue of its own for what a replay keeps failing on), and an
alarm fires while anything waits there.

A function rather than a construct of its own: the queues and the alarm are created directly in the
caller's scope, so the evaluator's kept the logical ids they had before this was shared (a deployed
queue is not replaced, and the failure records it holds are not lost).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from riskgate_infra.constructs.functions import LambdaFactory
from riskgate_infra.constructs.queues import backlog_alarm, last_queue, queue
from riskgate_infra.nag import acknowledge

# Below the stream's 24 h retention: a record the function cannot process in time lands in the failure
# queue instead of silently expiring from the stream.
MAX_RECORD_AGE = Duration.hours(12)


@dataclass(frozen=True)
class StreamConsumer:
    failure_queue: sqs.Queue
    poison_queue: sqs.Queue
    failure_alarm: cloudwatch.Alarm


def consume_table_stream(
    scope: Construct,
    *,
    function: lambda_.Function,
    table: dynamodb.Table,
    filter_pattern: Mapping[str, Any],
    batch_size: int,
    retry_attempts: int,
    alarm_description: str,
) -> StreamConsumer:
    """Attach `function` (one of `LambdaFactory`'s) to `table`'s stream, filtered by `filter_pattern`
    (Lambda's filter syntax, the same pattern the local poller applies), with the failure handling
    described above."""
    table.grant_stream_read(function)
    acknowledge(
        LambdaFactory.role_of(function),
        "AwsSolutions-IAM5[Resource::*]",
        "Besides X-Ray: dynamodb:ListStreams (granted with the stream read) supports no resource-level "
        "permissions; reading records is limited to this table's stream ARN.",
    )

    # The failure records hold only the stream positions of a failed batch (not item data).
    poison_queue = last_queue(scope, "PoisonQueue", dead_letters_of="FailedBatches")
    failure_queue = queue(
        scope,
        "FailedBatches",
        # Whatever replays failed batches and keeps failing on one parks it here.
        dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=poison_queue),
    )

    function.add_event_source(
        event_sources.DynamoEventSource(
            table,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=batch_size,
            bisect_batch_on_error=True,
            retry_attempts=retry_attempts,
            report_batch_item_failures=True,
            max_record_age=MAX_RECORD_AGE,
            on_failure=event_sources.SqsDlq(failure_queue),
            # The shared pattern is already in Lambda's filter syntax (`{"prefix": ...}` included).
            filters=[lambda_.FilterCriteria.filter(copy.deepcopy(dict(filter_pattern)))],
        )
    )
    acknowledge(
        function,
        "Serverless-LambdaDLQ",
        "Invoked by the stream's event source mapping, never asynchronously: failed batches go to "
        "the mapping's on-failure destination (FailedBatches), which a function DLQ would not see.",
    )

    failure_alarm = backlog_alarm(
        scope, "FailedBatchesAlarm", queue=failure_queue, description=alarm_description
    )
    return StreamConsumer(failure_queue=failure_queue, poison_queue=poison_queue, failure_alarm=failure_alarm)
