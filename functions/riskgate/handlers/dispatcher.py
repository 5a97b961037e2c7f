"""The dispatcher: new trigger events on the stream → notifications recorded for the response policies
they concern, their ids published to the events topic. Wiring only (riskgate.services.notifications).

Partial batch failures are reported, so one failing event is retried (and bisected) alone; a retried
event records nothing twice (its notifications' ids are derived from it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from riskgate.adapters.dynamo import from_item
from riskgate.adapters.notifications import default_notification_store
from riskgate.adapters.response_policies import default_response_policy_store
from riskgate.clock import system_now
from riskgate.handlers.consumers import stream_consumer
from riskgate.handlers.judging import scope_definitions
from riskgate.resources import NOTIFICATION_MESSAGE_KIND
from riskgate.services.notifications import dispatch
from riskgate.settings import get_settings

logger = Logger()

EVENT_PK_PREFIX = "EVENT#"
EVENT_SK = "EVENT"


@lru_cache(maxsize=1)
def sns_client() -> Any:
    return boto3.client("sns")


def publish(message: Mapping[str, str]) -> None:
    """To the events topic, marked `kind=notification` for the notifier queue's subscription filter."""
    topic_arn = get_settings().events_topic_arn
    if not topic_arn:
        raise RuntimeError("RISKGATE_EVENTS_TOPIC_ARN is not set: notifications cannot be published")
    sns_client().publish(
        TopicArn=topic_arn,
        Message=json.dumps(dict(message), separators=(",", ":")),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": NOTIFICATION_MESSAGE_KIND}},
    )


def trigger_event(record: DynamoDBRecord) -> dict[str, Any] | None:
    """The event a stream record inserts, as plain values; None for any other record (Lambda's filter
    keeps only those on AWS; the check is repeated whatever the event source sends)."""
    raw = record.raw_event.get("dynamodb") or {}
    if record.raw_event.get("eventName") != "INSERT" or not raw.get("NewImage"):
        return None
    item = from_item(raw["NewImage"])
    if not str(item.get("pk", "")).startswith(EVENT_PK_PREFIX) or item.get("sk") != EVENT_SK:
        return None
    return item


def record_handler(record: DynamoDBRecord) -> None:
    event = trigger_event(record)
    if event is None:
        return
    result = dispatch(
        event,
        policies_for_trigger=default_response_policy_store().enabled_for_trigger,
        scopes=scope_definitions,
        store=default_notification_store(),
        publish=publish,
        now=system_now(),
        window_hours=get_settings().notify_window_hours,
    )
    logger.info(
        "trigger event dispatched",
        event_id=result.event_id,
        trigger=result.trigger,
        matched=result.matched,
        recorded=result.recorded,
        deduplicated=result.deduplicated,
        republished=result.republished,
    )


handler = stream_consumer(record_handler, logger)
