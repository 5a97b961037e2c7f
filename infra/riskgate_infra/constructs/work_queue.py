"""A work queue and its consumer: what the re-evaluator, the notifier and the upload ingester share."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from riskgate_infra.constructs.queues import backlog_alarm, last_queue, queue
from riskgate_infra.nag import acknowledge

# The construct id that adds nothing to the logical ids below it (CDK leaves a `Default` path component
# out of them): a work queue built with it in a construct that built the same resources itself before
# keeps their logical ids, so no deployed queue is replaced and no message lost. One per scope.
IN_PLACE = "Default"


class WorkQueue(Construct):
    """Messages on `queue` → `consumer`, in batches, reporting partial batch failures; a message that
    keeps failing comes back after the visibility timeout, and after `max_receive_count` receives the
    queue moves it to `dead_letter_queue`, which is alarmed (`dead_letter_alarm`). Redriving the dead
    letters to the queue retries them.

    The consumer is built by the caller (`LambdaFactory.create`, with its grants); this attaches it to the
    queue, which grants receiving, deleting and changing the visibility of the queue's messages.
    Whatever else sends to the queue (a topic subscription, an EventBridge target) may send what it cannot
    deliver to `dead_letter_queue` too: name it in `also_dead_letters_of`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        consumer: lambda_.Function,
        name_suffix: str,
        dead_letter_name_suffix: str,
        visibility_timeout_seconds: int,
        max_receive_count: int,
        batch_size: int,
        max_concurrency: int | None = None,
        label: str,
        message: str,
        alarm_description: str,
        also_dead_letters_of: str | None = None,
        queue_id: str = "Queue",
    ) -> None:
        """`label` names the queue and `message` one of its messages in the acknowledgements' reasons
        ("the notify queue", "a notification"); queue names are the stack's name (lower case) followed by
        the suffixes."""
        super().__init__(scope, construct_id)
        prefix = Stack.of(self).stack_name.lower()
        self.consumer = consumer

        self.dead_letter_queue = last_queue(
            self,
            "DeadLetters",
            queue_name=prefix + dead_letter_name_suffix,
            dead_letters_of=label
            + (f" and of {also_dead_letters_of}" if also_dead_letters_of is not None else ""),
        )
        self.queue = queue(
            self,
            queue_id,
            queue_name=prefix + name_suffix,
            # A message is hidden while an invocation works it: room for the consumer's whole timeout and
            # Lambda's own retries, and the backoff before a failed message is tried again.
            visibility_timeout=Duration.seconds(visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=max_receive_count, queue=self.dead_letter_queue
            ),
        )

        consumer.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=batch_size,
                report_batch_item_failures=True,
                max_concurrency=max_concurrency,
            )
        )
        acknowledge(
            consumer,
            "Serverless-LambdaDLQ",
            f"Invoked by the queue's event source mapping, never asynchronously: {message} that keeps "
            f"failing goes to {label}'s dead-letter queue, which a function DLQ would not see.",
        )
        acknowledge(
            consumer,
            "Serverless-LambdaEventSourceMappingDestination",
            "An SQS event source has no on-failure destination (streams and Kafka do): a failed message "
            f"returns to the queue, and after {max_receive_count} receives the queue's redrive policy "
            "moves it to DeadLetters, which is alarmed.",
        )

        self.dead_letter_alarm = backlog_alarm(
            self, "DeadLettersAlarm", queue=self.dead_letter_queue, description=alarm_description
        )
