"""Stream evaluation: the evaluator function on the table's stream, and where failed batches go."""

from __future__ import annotations

import copy

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from riskgate.resources import (
    EVALUATOR_BATCH_SIZE,
    EVALUATOR_FUNCTION,
    EVALUATOR_RETRY_ATTEMPTS,
    EVALUATOR_STREAM_FILTER,
)
from riskgate_infra.constructs.functions import LambdaFactory
from riskgate_infra.nag import acknowledge, acknowledge_table_grant

# Poison records are retried alone (bisect + partial batch responses), at most this many times each.
# Below the stream's 24 h retention: a record the evaluator cannot process in time lands in the failure
# queue instead of silently expiring from the stream.
MAX_RECORD_AGE = Duration.hours(12)
QUEUE_RETENTION = Duration.days(14)


class StreamEvaluation(Construct):
    """Image summary changes on the stream → the evaluator recomputes the image's status.

    Lambda filters the stream with `EVALUATOR_STREAM_FILTER` (the local poller applies the same pattern),
    so the function is not even invoked for findings, scans or tokens.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        table: dynamodb.Table,
        events_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)

        self.function = factory.create(
            self,
            "Evaluator",
            spec=EVALUATOR_FUNCTION,
            description="Riskgate evaluator: image summary changed → security status recomputed",
        )
        table.grant_read_write_data(self.function)
        table.grant_stream_read(self.function)
        events_topic.grant_publish(self.function)
        acknowledge_table_grant(factory.role_of(self.function), table, writes=True)
        acknowledge(
            factory.role_of(self.function),
            "AwsSolutions-IAM5[Resource::*]",
            "Besides X-Ray: dynamodb:ListStreams (granted with the stream read) supports no resource-level "
            "permissions; reading records is limited to this table's stream ARN.",
        )

        # The failure records hold only the stream positions of a failed batch (not item data), so the
        # queues use SQS-managed encryption rather than the data key.
        self.poison_queue = sqs.Queue(
            self,
            "PoisonQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=QUEUE_RETENTION,
        )
        acknowledge(
            self.poison_queue,
            "Serverless-SQSRedrivePolicy",
            "The last queue of the chain: it is itself the dead-letter queue of FailedBatches.",
        )
        self.failure_queue = sqs.Queue(
            self,
            "FailedBatches",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=QUEUE_RETENTION,
            # Whatever replays failed batches and keeps failing on one parks it here.
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=self.poison_queue),
        )

        self.function.add_event_source(
            event_sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=EVALUATOR_BATCH_SIZE,
                bisect_batch_on_error=True,
                retry_attempts=EVALUATOR_RETRY_ATTEMPTS,
                report_batch_item_failures=True,
                max_record_age=MAX_RECORD_AGE,
                on_failure=event_sources.SqsDlq(self.failure_queue),
                # The shared pattern is already in Lambda's filter syntax (`{"prefix": ...}` included).
                filters=[lambda_.FilterCriteria.filter(copy.deepcopy(EVALUATOR_STREAM_FILTER))],
            )
        )
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            "Invoked by the stream's event source mapping, never asynchronously: failed batches go to "
            "the mapping's on-failure destination (FailedBatches), which a function DLQ would not see.",
        )

        self.failure_alarm = cloudwatch.Alarm(
            self,
            "FailedBatchesAlarm",
            alarm_description=(
                "Riskgate: stream records the evaluator gave up on; those images keep a stale status "
                "until the records are replayed."
            ),
            metric=self.failure_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
