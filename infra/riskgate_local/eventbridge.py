"""An AWS service's event on the local default bus, delivered as EventBridge delivers it.

On AWS, ECR and Inspector put their scan events on the account's default bus, and the stack's rule puts
each one on the registry-work queue unchanged: the message body is the whole event (`version`, `id`,
`detail-type`, `source`, `account`, `time`, `region`, `resources`, `detail`). Locally nothing scans, so
`deliver_event` stands in for the service: `POST /_local/eventbridge` calls it with the event.

Why not moto's PutEvents: moto routes a put event through the bus's rules, but builds the event anew —
its own account and region in place of the event's (an ECR event names the registry's account and
region, which is how the ingester finds the connections covering it) and, for an SQS target, without
the `account` field at all. So the event is routed here instead: the default bus's rules are read from
moto (ListRules, ListTargetsByRule), each enabled rule's pattern is matched with moto's own matcher (the
one its PutEvents uses), and the event is sent, as it is, to each SQS target of the rules that match —
what the local stack's rules have (`riskgate_local.aws.route_events`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import boto3
from moto.events.models import EventPattern

from riskgate.clock import parse_iso
from riskgate_local.aws import ACCOUNT_ID, REGION

if TYPE_CHECKING:
    from moto.events.utils import EventMessageType

# An event's fields, in the order EventBridge writes them.
EVENT_FIELDS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
REQUIRED_FIELDS = ("source", "detail-type", "detail")
# EventBridge's time format: UTC, to the second.
EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ACCOUNT_PATTERN = re.compile(r"\d{12}")
# What a target may be asked to do with an event besides passing it on: locally, nothing.
TRANSFORMATIONS = ("Input", "InputPath", "InputTransformer")


class EventError(ValueError):
    """What was given is not an event EventBridge would accept (the local route answers 400)."""


def deliver_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """Put `event` (`source`, `detail-type`, `detail`; optionally `account`, `region`, `time`,
    `resources`, `id`, `version`) on moto's default bus: every enabled rule whose pattern matches it sends
    it to its SQS targets, as EventBridge would. Returns `{"entries": [{"EventId": <id>}], "rules": [<the
    rules that matched>]}` (no rule matching is no error, as on EventBridge).

    The fields left out are filled in as EventBridge fills them: the local account and region, the current
    time, no resources, a new id. EventError for anything that is not an event; needs the local stack's
    environment (`riskgate_local.aws.aws_environment`)."""
    delivered = eventbridge_event(event)
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    matched: list[str] = []
    for rule in _default_bus_rules(events):
        if rule.get("State") != "ENABLED" or not rule.get("EventPattern"):
            continue
        if not EventPattern.load(rule["EventPattern"]).matches_event(cast("EventMessageType", delivered)):
            continue
        matched.append(str(rule["Name"]))
        for target in _targets(events, rule["Name"]):
            _send(sqs, rule["Name"], target, delivered)
    return {"entries": [{"EventId": delivered["id"]}], "rules": matched}


def eventbridge_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """`event` as EventBridge delivers it: every field, in EventBridge's order, the missing ones filled in.
    EventError when it is not one."""
    if not isinstance(event, Mapping):
        raise EventError("an event is a JSON object")
    unknown = sorted(set(event) - set(EVENT_FIELDS))
    if unknown:
        raise EventError(f"not fields of an EventBridge event: {', '.join(unknown)}")
    missing = [field for field in REQUIRED_FIELDS if field not in event]
    if missing:
        raise EventError(f"an event needs {', '.join(missing)}")
    for field in ("source", "detail-type"):
        if not isinstance(event[field], str) or not event[field]:
            raise EventError(f"{field} must be a non-empty string")
    if not isinstance(event["detail"], Mapping):
        raise EventError("detail must be a JSON object")
    if event.get("version", "0") != "0":
        raise EventError('version must be "0"')
    event_id = event.get("id", str(uuid.uuid4()))
    if not isinstance(event_id, str) or not event_id:
        raise EventError("id must be a non-empty string")
    account = event.get("account", ACCOUNT_ID)
    if not isinstance(account, str) or not ACCOUNT_PATTERN.fullmatch(account):
        raise EventError("account must be a 12-digit AWS account id")
    region = event.get("region", REGION)
    if not isinstance(region, str) or not region:
        raise EventError("region must be a non-empty string")
    resources = event.get("resources", [])
    if not isinstance(resources, list) or not all(isinstance(resource, str) for resource in resources):
        raise EventError("resources must be a list of strings (ARNs)")
    return {
        "version": "0",
        "id": event_id,
        "detail-type": event["detail-type"],
        "source": event["source"],
        "account": account,
        "time": _event_time(event.get("time")),
        "region": region,
        "resources": list(resources),
        "detail": dict(event["detail"]),
    }


def _event_time(value: Any) -> str:
    """An ISO 8601 time with its zone, in EventBridge's format; now when there is none."""
    if value is None:
        return datetime.now(UTC).strftime(EVENT_TIME_FORMAT)
    if not isinstance(value, str):
        raise EventError("time must be an ISO 8601 time with a zone")
    try:
        return parse_iso(value).strftime(EVENT_TIME_FORMAT)
    except ValueError as error:
        raise EventError(f"time must be an ISO 8601 time with a zone: {error}") from error


def _default_bus_rules(events: Any) -> Iterator[dict[str, Any]]:
    for page in events.get_paginator("list_rules").paginate(EventBusName="default"):
        yield from page["Rules"]


def _targets(events: Any, rule: str) -> Iterator[dict[str, Any]]:
    for page in events.get_paginator("list_targets_by_rule").paginate(Rule=rule, EventBusName="default"):
        yield from page["Targets"]


def _send(sqs: Any, rule: str, target: Mapping[str, Any], event: Mapping[str, Any]) -> None:
    """The event on the target's queue, the whole event as the message body (EventBridge's SQS delivery)."""
    arn = str(target["Arn"])
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs" or any(key in target for key in TRANSFORMATIONS):
        raise NotImplementedError(
            f"rule {rule}: the local stack delivers events unchanged to SQS queues only, not to {arn}"
        )
    _, _, _, _, account, queue_name = parts
    queue_url = sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))
