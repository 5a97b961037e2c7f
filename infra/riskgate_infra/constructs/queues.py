"""The queues of the stack, built one way: SQS-managed encryption, TLS only, 14 days of retention; the
last queue of a chain acknowledged as such; an alarm while anything waits in a queue nobody consumes.

Functions, not constructs: each resource is created directly in the caller's scope under the id it is
given, so queues keep the logical ids they had before they were built here (a queue replaced loses the
messages it holds).

Every queue's messages name things (an id, a stream position, an S3 object, a scheduled time), never
data from the table: SQS-managed encryption rather than the data key, which also lets SNS and
EventBridge deliver to them without any key policy.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from riskgate_infra.nag import acknowledge

QUEUE_RETENTION = Duration.days(14)
# How often a queue nobody consumes is looked at; the alarm fires on the first message seen.
BACKLOG_PERIOD = Duration.minutes(5)


def queue(
    scope: Construct,
    construct_id: str,
    *,
    queue_name: str | None = None,
    visibility_timeout: Duration | None = None,
    dead_letter_queue: sqs.DeadLetterQueue | None = None,
) -> sqs.Queue:
    """A queue with the stack's defaults (see the module)."""
    return sqs.Queue(
        scope,
        construct_id,
        queue_name=queue_name,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=QUEUE_RETENTION,
        visibility_timeout=visibility_timeout,
        dead_letter_queue=dead_letter_queue,
    )


def last_queue(
    scope: Construct, construct_id: str, *, dead_letters_of: str, queue_name: str | None = None
) -> sqs.Queue:
    """A queue at the end of a chain: what keeps failing in `dead_letters_of` lands here and stays (it
    has no dead-letter queue of its own; alarm it with `backlog_alarm`)."""
    last = queue(scope, construct_id, queue_name=queue_name)
    acknowledge(
        last,
        "Serverless-SQSRedrivePolicy",
        f"The last queue of the chain: it is itself the dead-letter queue of {dead_letters_of}.",
    )
    return last


def backlog_alarm(
    scope: Construct, construct_id: str, *, queue: sqs.IQueue, description: str
) -> cloudwatch.Alarm:
    """Fires while any message is visible in `queue` (one that only ever holds failures)."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=queue.metric_approximate_number_of_messages_visible(
            period=BACKLOG_PERIOD, statistic=cloudwatch.Stats.MAXIMUM
        ),
        threshold=0,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
