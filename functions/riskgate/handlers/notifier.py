"""The notifier: notification ids from the SQS queue subscribed to the events topic → each delivered
once through its integration's channel. Wiring only (riskgate.services.notifications.notify).

A message body is the SNS message itself (raw message delivery) or SNS's envelope around it. Partial
batch failures are reported: a delivery that failed transiently leaves its message on the queue, made
visible again after the channel's `retry_after` or a growing backoff; after 5 receives it goes to the
dead-letter queue (alarmed). A redelivered message of a sent notification sends nothing.

Each delivery sent counts as NotificationsSent, each failed attempt (failed for good, or to be retried)
as NotificationsFailed: emitted once per batch (riskgate.metrics).
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from riskgate import metrics
from riskgate.adapters import channels
from riskgate.adapters.delivery_errors import TransientDeliveryError
from riskgate.adapters.integrations import default_integration_store
from riskgate.adapters.notifications import default_notification_store
from riskgate.clock import system_now
from riskgate.domain import notifications as messages
from riskgate.handlers.consumers import queue_consumer
from riskgate.resources import METRIC_NOTIFICATIONS_FAILED, METRIC_NOTIFICATIONS_SENT
from riskgate.services.notifications import notification_id_from_body, notify, retry_delay
from riskgate.settings import get_settings

logger = Logger()


@lru_cache(maxsize=1)
def clients() -> tuple[Any, Any, Any]:
    """SES, SNS (customer topics) and SQS, created once per execution environment."""
    return boto3.client("ses"), boto3.client("sns"), boto3.client("sqs")


def record_handler(record: SQSRecord) -> None:
    notification_id = notification_id_from_body(record.body)
    ses, sns, _ = clients()
    settings = get_settings()
    try:
        result = notify(
            notification_id,
            store=default_notification_store(),
            integrations=default_integration_store(),
            render=messages.render,
            deliver=partial(
                channels.deliver, ses_client=ses, sns_client=sns, telegram_api_url=settings.telegram_api_url
            ),
            now=system_now(),
            api_base_url=settings.public_base_url,
        )
    except TransientDeliveryError as error:
        metrics.count(METRIC_NOTIFICATIONS_FAILED)
        delay = retry_delay(_receive_count(record), error.retry_after)
        logger.warning(
            "delivery failed, tried again later",
            notification_id=notification_id,
            retry_in_seconds=delay,
            error_type=type(error).__name__,
        )
        _retry_in(record, delay)
        raise
    if result.status in ("sent", "sent_unrecorded"):
        metrics.count(METRIC_NOTIFICATIONS_SENT)
    elif result.status == "failed":
        metrics.count(METRIC_NOTIFICATIONS_FAILED)
    if result.status == "sent_unrecorded":
        # Not failed (a redelivery would send it twice), but the delivery log will say `sending`.
        logger.error(
            "notification sent, but not recorded as sent",
            notification_id=notification_id,
            attempts=result.attempts,
        )
        return
    logger.info(
        "notification handled",
        notification_id=notification_id,
        status=result.status,
        attempts=result.attempts,
    )


def _receive_count(record: SQSRecord) -> int:
    count = str((record.raw_event.get("attributes") or {}).get("ApproximateReceiveCount") or "1")
    return int(count) if count.isdigit() else 1


def _retry_in(record: SQSRecord, seconds: int) -> None:
    """Make the failed message visible again in `seconds` (a failure to do so leaves the queue's own
    visibility timeout)."""
    try:
        _, _, sqs = clients()
        queue_name, account = _queue_of(record.event_source_arn)
        queue_url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=seconds
        )
    except (BotoCoreError, ClientError, ValueError) as error:
        logger.warning("could not set the retry delay", error_type=type(error).__name__)


def _queue_of(arn: str) -> tuple[str, str]:
    """`arn:aws:sqs:<region>:<account>:<name>` → (name, account)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"not a queue ARN: {arn}")
    return parts[5], parts[4]


handler = metrics.per_invocation(queue_consumer(record_handler, logger))
