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
            table=table,
        )
        events_topic.grant_publish(self.function)

        self.stream = consume_table_stream(
            self,
            function=self.function,
            table=table,
            filter_pattern=EVALUATOR_STREAM_FILTER,
            batch_size=EVALUATOR_BATCH_SIZE,
            retry_attempts=EVALUATOR_RETRY_ATTEMPTS,
            alarm_description=(
                "Riskgate: stream records the evaluator gave up on; those images keep a stale status "
                "until the records are replayed."
            ),
        )
