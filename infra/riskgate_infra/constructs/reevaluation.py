"""Re-evaluation after a policy change: the planner on the table's stream, the work queue, the
re-evaluator on the queue, and where work that keeps failing goes."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from riskgate.resources import (
    POLICY_STREAM_FILTER,
    REEVALUATION_DEAD_LETTER_QUEUE_SUFFIX,
    REEVALUATION_MAX_RECEIVE_COUNT,
    REEVALUATION_PLANNER_BATCH_SIZE,
    REEVALUATION_PLANNER_FUNCTION,
    REEVALUATION_PLANNER_RETRY_ATTEMPTS,
    REEVALUATION_QUEUE_SUFFIX,
    REEVALUATION_VISIBILITY_TIMEOUT_SECONDS,
    REEVALUATOR_BATCH_SIZE,
    REEVALUATOR_FUNCTION,
    REEVALUATOR_MAX_CONCURRENCY,
)
from riskgate_infra.constructs.functions import LambdaFactory
from riskgate_infra.constructs.stream_consumer import consume_table_stream
from riskgate_infra.constructs.work_queue import IN_PLACE, WorkQueue


class PolicyReevaluation(Construct):
    """Policy item written → the planner queues the ids of the images in its scope, in chunks →
    re-evaluators judge each chunk again and count it on the policy item's `reevaluation` progress.

    The fan-out keeps every invocation short whatever the number of images: the planner only lists ids,
    each work message is a bounded chunk (`REEVALUATION_CHUNK_SIZE`).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, factory: LambdaFactory, table: dynamodb.Table
    ) -> None:
        super().__init__(scope, construct_id)

        # -- the work queue and the re-evaluator on it: messages hold policy ids and image ids -------
        self.reevaluator = factory.create(
            self,
            "Reevaluator",
            spec=REEVALUATOR_FUNCTION,
            description="Riskgate re-evaluator: a chunk of images judged again with the current policies",
            table=table,
        )
        self.work = WorkQueue(
            self,
            IN_PLACE,
            consumer=self.reevaluator,
            queue_id="Work",
            name_suffix=REEVALUATION_QUEUE_SUFFIX,
            dead_letter_name_suffix=REEVALUATION_DEAD_LETTER_QUEUE_SUFFIX,
            visibility_timeout_seconds=REEVALUATION_VISIBILITY_TIMEOUT_SECONDS,
            max_receive_count=REEVALUATION_MAX_RECEIVE_COUNT,
            batch_size=REEVALUATOR_BATCH_SIZE,
            max_concurrency=REEVALUATOR_MAX_CONCURRENCY,
            label="the work queue",
            message="a re-evaluation chunk",
            alarm_description=(
                "Riskgate: re-evaluation chunks that failed repeatedly; their images keep verdicts from "
                "before a policy change and the policy's re-evaluation never shows finished. Redrive "
                "the messages to the work queue once the cause is fixed (safe: chunks count once)."
            ),
        )

        # -- the planner on the stream: reads images (gsi2) and scopes, writes the progress record on the
        # policy item, sends work.
        self.planner = factory.create(
            self,
            "Planner",
            spec=REEVALUATION_PLANNER_FUNCTION,
            description="Riskgate re-evaluation planner: policy changed → its scope's images queued",
            environment={"RISKGATE_REEVALUATION_QUEUE_URL": self.work.queue.queue_url},
            table=table,
        )
        self.work.queue.grant_send_messages(self.planner)
        self.stream = consume_table_stream(
            self,
            function=self.planner,
            table=table,
            filter_pattern=POLICY_STREAM_FILTER,
            batch_size=REEVALUATION_PLANNER_BATCH_SIZE,
            retry_attempts=REEVALUATION_PLANNER_RETRY_ATTEMPTS,
            alarm_description=(
                "Riskgate: policy changes the re-evaluation planner gave up on; images in those policies' "
                "scopes keep verdicts from before the change until the records are replayed."
            ),
        )
