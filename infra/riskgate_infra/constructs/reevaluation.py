"""Re-evaluation after a policy change: the planner on the table's stream, the work queue, the
re-evaluator on the queue, and where work that keeps failing goes."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
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
from riskgate_infra.constructs.stream_consumer import QUEUE_RETENTION, consume_table_stream
from riskgate_infra.nag import acknowledge, acknowledge_table_grant


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
        prefix = Stack.of(self).stack_name.lower()

        # Messages hold policy ids and image ids, no findings: SQS-managed encryption, as the failure
        # queues of the stream consumers.
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            queue_name=prefix + REEVALUATION_DEAD_LETTER_QUEUE_SUFFIX,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=QUEUE_RETENTION,
        )
        acknowledge(
            self.dead_letter_queue,
            "Serverless-SQSRedrivePolicy",
            "The last queue of the chain: it is itself the dead-letter queue of the work queue.",
        )
        self.queue = sqs.Queue(
            self,
            "Work",
            queue_name=prefix + REEVALUATION_QUEUE_SUFFIX,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=QUEUE_RETENTION,
            # A message is hidden while an invocation works it, with room for Lambda's own retries.
            visibility_timeout=Duration.seconds(REEVALUATION_VISIBILITY_TIMEOUT_SECONDS),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=REEVALUATION_MAX_RECEIVE_COUNT, queue=self.dead_letter_queue
            ),
        )

        self.planner = factory.create(
            self,
            "Planner",
            spec=REEVALUATION_PLANNER_FUNCTION,
            description="Riskgate re-evaluation planner: policy changed → its scope's images queued",
            environment={"RISKGATE_REEVALUATION_QUEUE_URL": self.queue.queue_url},
        )
        planner_role = factory.role_of(self.planner)
        # Reads images (gsi2) and scopes; writes the progress record on the policy item.
        table.grant_read_write_data(self.planner)
        acknowledge_table_grant(planner_role, table, writes=True)
        self.queue.grant_send_messages(self.planner)
        consumer = consume_table_stream(
            self,
            function=self.planner,
            role=planner_role,
            table=table,
            filter_pattern=POLICY_STREAM_FILTER,
            batch_size=REEVALUATION_PLANNER_BATCH_SIZE,
            retry_attempts=REEVALUATION_PLANNER_RETRY_ATTEMPTS,
            alarm_description=(
                "Riskgate: policy changes the re-evaluation planner gave up on; images in those policies' "
                "scopes keep verdicts from before the change until the records are replayed."
            ),
        )
        self.failure_queue = consumer.failure_queue
        self.failure_alarm = consumer.failure_alarm

        self.reevaluator = factory.create(
            self,
            "Reevaluator",
            spec=REEVALUATOR_FUNCTION,
            description="Riskgate re-evaluator: a chunk of images judged again with the current policies",
        )
        reevaluator_role = factory.role_of(self.reevaluator)
        table.grant_read_write_data(self.reevaluator)
        acknowledge_table_grant(reevaluator_role, table, writes=True)
        # The event source grants receiving and deleting messages of this queue.
        self.reevaluator.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=REEVALUATOR_BATCH_SIZE,
                report_batch_item_failures=True,
                max_concurrency=REEVALUATOR_MAX_CONCURRENCY,
            )
        )
        acknowledge(
            self.reevaluator,
            "Serverless-LambdaDLQ",
            "Invoked by the queue's event source mapping, never asynchronously: a message that keeps "
            "failing goes to the work queue's dead-letter queue, which a function DLQ would not see.",
        )
        acknowledge(
            self.reevaluator,
            "Serverless-LambdaEventSourceMappingDestination",
            "An SQS event source has no on-failure destination (streams and Kafka do): a failed message "
            f"returns to the queue, and after {REEVALUATION_MAX_RECEIVE_COUNT} receives the queue's redrive "
            "policy moves it to DeadLetters, which is alarmed.",
        )

        self.dead_letter_alarm = cloudwatch.Alarm(
            self,
            "DeadLettersAlarm",
            alarm_description=(
                "Riskgate: re-evaluation chunks that failed repeatedly; their images keep verdicts from "
                "before a policy change and the policy's re-evaluation never shows finished. Redrive "
                "the messages to the work queue once the cause is fixed (safe: chunks count once)."
            ),
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
