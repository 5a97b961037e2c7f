"""Stream evaluation: the evaluator function on the table's stream, and where failed batches go."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sns as sns
from constructs import Construct

from riskgate.resources import (
    EVALUATOR_BATCH_SIZE,
    EVALUATOR_FUNCTION,
    EVALUATOR_RETRY_ATTEMPTS,
    EVALUATOR_STREAM_FILTER,
)
from riskgate_infra.constructs.functions import LambdaFactory
from riskgate_infra.constructs.stream_consumer import consume_table_stream
from riskgate_infra.nag import acknowledge_table_grant


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
        events_topic.grant_publish(self.function)
        acknowledge_table_grant(factory.role_of(self.function), table, writes=True)

        consumer = consume_table_stream(
            self,
            function=self.function,
            role=factory.role_of(self.function),
            table=table,
            filter_pattern=EVALUATOR_STREAM_FILTER,
            batch_size=EVALUATOR_BATCH_SIZE,
            retry_attempts=EVALUATOR_RETRY_ATTEMPTS,
            alarm_description=(
                "Riskgate: stream records the evaluator gave up on; those images keep a stale status "
                "until the records are replayed."
            ),
        )
        self.failure_queue = consumer.failure_queue
        self.poison_queue = consumer.poison_queue
        self.failure_alarm = consumer.failure_alarm
