"""The AWS side of the local stack: an in-process moto server and the resources the CDK stack declares."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from riskgate.resources import (
    AUDIT_ARCHIVE_BUCKET_SUFFIX,
    AUDIT_BUS_NAME_SUFFIX,
    NOTIFICATION_MESSAGE_KIND,
    NOTIFY_DEAD_LETTER_QUEUE_SUFFIX,
    NOTIFY_MAX_RECEIVE_COUNT,
    NOTIFY_QUEUE_SUFFIX,
    NOTIFY_VISIBILITY_TIMEOUT_SECONDS,
    REEVALUATION_DEAD_LETTER_QUEUE_SUFFIX,
    REEVALUATION_MAX_RECEIVE_COUNT,
    REEVALUATION_QUEUE_SUFFIX,
    REEVALUATION_VISIBILITY_TIMEOUT_SECONDS,
    REGISTRY_SCAN_EVENT_PATTERN,
    REGISTRY_WORK_DEAD_LETTER_QUEUE_SUFFIX,
    REGISTRY_WORK_MAX_RECEIVE_COUNT,
    REGISTRY_WORK_QUEUE_SUFFIX,
    REGISTRY_WORK_VISIBILITY_TIMEOUT_SECONDS,
    TABLE,
    UPLOAD_DEAD_LETTER_QUEUE_SUFFIX,
    UPLOAD_INGEST_MAX_RECEIVE_COUNT,
    UPLOAD_INGEST_VISIBILITY_TIMEOUT_SECONDS,
    UPLOAD_QUEUE_SUFFIX,
    UPLOADS_BUCKET_SUFFIX,
    upload_object_created_pattern,
)

REGION = "us-east-1"
# moto's default account: every ARN moto hands out carries it, so the local ARNs we build do too.
ACCOUNT_ID = "123456789012"

# The SNS message attribute the notify queue's subscription filters on (as the CDK stack's does).
MESSAGE_KIND_ATTRIBUTE = "kind"

logger = logging.getLogger(__name__)


_DYNAMODB_REQUEST_LOCK = threading.Lock()


def make_dynamodb_requests_atomic() -> None:
    """DynamoDB applies each request atomically; moto's server applies one without a lock (a
    transaction by copying and restoring whole tables), so the gateway's concurrent requests could
    corrupt its state or both pass one condition. Here moto handles one DynamoDB request at a time —
    what DynamoDB guarantees, no more: concurrent read-then-conditional-write sequences still interleave.
    Process-wide and idempotent."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    # Stream reads too: a rolled-back transaction's records must never be seen half-way.
    for handler_class in (DynamoHandler, DynamoDBStreamsHandler):
        if getattr(handler_class, "riskgate_atomic", False):
            continue
        handler_class.call_action = _atomic(handler_class.call_action)  # type: ignore[method-assign]
        setattr(handler_class, "riskgate_atomic", True)  # noqa: B010 (a marker moto does not declare)


def _atomic(call_action: Any) -> Any:
    def locked(self: Any) -> Any:
        with _DYNAMODB_REQUEST_LOCK:
            return call_action(self)

    return locked


class MotoServer:
    """moto's threaded server on a loopback port; every boto3 client in this process talks to it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # verbose=False: moto would otherwise print its start-up banner on stdout.
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._endpoint_url: str | None = None

    def start(self) -> str:
        """Start serving, empty: moto keeps its state per process, so whatever an earlier server (or
        moto decorator) of this process left behind is dropped first."""
        make_dynamodb_requests_atomic()
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._endpoint_url = f"http://{host}:{port}"
        # moto's own API for that (POST /moto-api/reset), on a loopback address of our own making.
        reset = urllib.request.Request(  # noqa: S310
            f"{self._endpoint_url}/moto-api/reset", data=b"", method="POST"
        )
        with urllib.request.urlopen(reset, timeout=10):  # noqa: S310
            pass
        return self._endpoint_url

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError("the moto server is not running")
        return self._endpoint_url

    def stop(self) -> None:
        if self._endpoint_url is not None:
            self._server.stop()
            self._endpoint_url = None


def accept_every_ses_sender(account_id: str = ACCOUNT_ID, region: str = REGION) -> None:
    """Make moto's SES (v1 and v2: one backend) treat every sender as a verified identity.

    SES refuses to send from an address or domain that is not verified in the account, and so does moto.
    The local stack stands for an account whose senders are verified (on AWS that is set up once, outside
    Riskgate, and e-mail integrations name such senders); verifying each address an integration names
    would be local-only code in the handlers or a step for every user. Malformed addresses are still
    refused. Applies to the backend of this account and region, created afresh by each moto reset, so it
    is called after the server started (and reset) and lasts until the next reset.
    """
    from moto.ses.models import ses_backends

    backend = ses_backends[account_id][region]
    backend._is_verified_address = lambda source: True  # type: ignore[method-assign]


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """Variables that point every boto3 client of this process at moto, with fake credentials.

    boto3 reads AWS_ENDPOINT_URL for every service, so the handlers need no local-only code path.
    The credentials are set even when real ones exist: the local stack must never reach AWS.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def overriding_aws_variables(environment: Mapping[str, str]) -> list[str]:
    """Variables that would send some client somewhere else than moto: a profile, per-service
    endpoints (they beat AWS_ENDPOINT_URL) and the switch that ignores configured endpoints."""
    return [
        name
        for name in environment
        if name in ("AWS_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        or name.startswith("AWS_ENDPOINT_URL_")
    ]


class EnvironmentPatch:
    """Sets variables in os.environ and puts the previous values back, so an in-process stack
    (in tests) leaves the environment as it found it."""

    def __init__(self) -> None:
        self._previous: dict[str, str | None] = {}

    def set(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self._previous.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def unset(self, *names: str) -> None:
        for name in names:
            self._previous.setdefault(name, os.environ.get(name))
            os.environ.pop(name, None)

    def restore(self) -> None:
        for name, value in self._previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._previous.clear()


@dataclass(frozen=True)
class LocalResources:
    table_name: str
    stream_arn: str
    events_topic_arn: str
    evaluator_failure_queue_url: str
    # The security event log's delivery: the EventBridge bus (subscribe with a rule on source
    # `riskgate.audit`), the archive bucket (one object per event, `events/YYYY/MM/DD/<event id>.json`,
    # Object Lock in compliance mode) and the forwarder's on-failure queue.
    audit_bus_name: str
    audit_archive_bucket: str
    audit_forwarder_failure_queue_url: str
    # Re-evaluation after a policy change: the work queue (with its dead-letter queue, as the CDK stack
    # declares them) and the planner's on-failure queue.
    reevaluation_queue_url: str
    reevaluation_dead_letter_queue_url: str
    reevaluation_planner_failure_queue_url: str
    # Notifications: the notify queue subscribed to the events topic (raw delivery, only messages whose
    # attribute `kind` is `notification`), its dead-letter queue, and the dispatcher's on-failure queue.
    notify_queue_url: str
    notify_dead_letter_queue_url: str
    notify_subscription_arn: str
    dispatcher_failure_queue_url: str
    # The secret whose value seals page tokens (the stack creates one with a generated value, as here).
    page_token_secret_arn: str
    # Reports of any size: the uploads bucket (its object-created events go to EventBridge, whose rule
    # sends them to the upload queue, as the CDK stack declares it) and the queue's dead letters.
    uploads_bucket: str = ""
    upload_queue_url: str = ""
    upload_dead_letter_queue_url: str = ""
    # The findings retirer's on-failure queue (it reads image summaries from the stream).
    findings_retirer_failure_queue_url: str = ""
    # Registry connections: the registry-work queue (fed by the rule on the default bus taking ECR's and
    # Inspector's scan events, as the CDK stack declares it, and by the API) and its dead letters.
    registry_work_queue_url: str = ""
    registry_work_dead_letter_queue_url: str = ""


def create_resources(
    name_prefix: str,
    *,
    audit_retention_days: int,
    notify_visibility_timeout_seconds: int = NOTIFY_VISIBILITY_TIMEOUT_SECONDS,
) -> LocalResources:
    """Create the table (from the same definition as the CDK stack), the events topic, the audit bus and
    archive, the re-evaluation work queue, the notify queue and its subscription to the topic, the uploads
    bucket and queue, the registry-work queue, and the queues that stand for the stream consumers'
    on-failure destinations. Needs aws_environment() in os.environ."""
    table_name = f"{name_prefix}-table"
    dynamodb = boto3.client("dynamodb")
    created = dynamodb.create_table(**TABLE.create_table_kwargs(table_name))
    dynamodb.get_waiter("table_exists").wait(TableName=table_name)
    dynamodb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE.ttl_attribute},
    )
    topic_arn = boto3.client("sns").create_topic(Name=f"{name_prefix}-events")["TopicArn"]
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"{name_prefix}-evaluator-failures")["QueueUrl"]
    audit_queue_url = sqs.create_queue(QueueName=f"{name_prefix}-audit-forwarder-failures")["QueueUrl"]
    work_url, dead_letters_url = create_work_queue(
        f"{name_prefix}{REEVALUATION_QUEUE_SUFFIX}",
        f"{name_prefix}{REEVALUATION_DEAD_LETTER_QUEUE_SUFFIX}",
        visibility_timeout_seconds=REEVALUATION_VISIBILITY_TIMEOUT_SECONDS,
        max_receive_count=REEVALUATION_MAX_RECEIVE_COUNT,
    )
    planner_queue_url = sqs.create_queue(QueueName=f"{name_prefix}-reevaluation-planner-failures")["QueueUrl"]
    notify_url, notify_dead_letters_url, subscription_arn = create_notify_queue(
        name_prefix, topic_arn, visibility_timeout_seconds=notify_visibility_timeout_seconds
    )
    dispatcher_queue_url = sqs.create_queue(QueueName=f"{name_prefix}-dispatcher-failures")["QueueUrl"]
    retirer_queue_url = sqs.create_queue(QueueName=f"{name_prefix}-findings-retirer-failures")["QueueUrl"]
    bus_name = f"{name_prefix}{AUDIT_BUS_NAME_SUFFIX}"
    boto3.client("events").create_event_bus(Name=bus_name)
    bucket = f"{name_prefix}{AUDIT_ARCHIVE_BUCKET_SUFFIX}"
    create_audit_archive(bucket, retention_days=audit_retention_days)
    page_token_secret_arn = boto3.client("secretsmanager").create_secret(
        Name=f"{name_prefix}/page-token-key", SecretString=secrets.token_urlsafe(48)
    )["ARN"]
    uploads_bucket, upload_queue_url, upload_dead_letters_url = create_uploads(name_prefix)
    registry_work_url, registry_dead_letters_url = create_registry_work(name_prefix)
    resources = LocalResources(
        registry_work_queue_url=registry_work_url,
        registry_work_dead_letter_queue_url=registry_dead_letters_url,
        uploads_bucket=uploads_bucket,
        upload_queue_url=upload_queue_url,
        upload_dead_letter_queue_url=upload_dead_letters_url,
        table_name=table_name,
        stream_arn=created["TableDescription"]["LatestStreamArn"],
        events_topic_arn=topic_arn,
        evaluator_failure_queue_url=queue_url,
        audit_bus_name=bus_name,
        audit_archive_bucket=bucket,
        audit_forwarder_failure_queue_url=audit_queue_url,
        reevaluation_queue_url=work_url,
        reevaluation_dead_letter_queue_url=dead_letters_url,
        reevaluation_planner_failure_queue_url=planner_queue_url,
        notify_queue_url=notify_url,
        notify_dead_letter_queue_url=notify_dead_letters_url,
        notify_subscription_arn=subscription_arn,
        dispatcher_failure_queue_url=dispatcher_queue_url,
        findings_retirer_failure_queue_url=retirer_queue_url,
        page_token_secret_arn=page_token_secret_arn,
    )
    logger.info("local resources created: %s", resources)
    return resources


def create_notify_queue(
    name_prefix: str, topic_arn: str, *, visibility_timeout_seconds: int
) -> tuple[str, str, str]:
    """The notify queue as the CDK stack declares it: redrive to its dead-letter queue after
    `NOTIFY_MAX_RECEIVE_COUNT` receives, subscribed to the events topic with raw delivery and a filter
    policy on the message attribute `kind`, what SNS cannot deliver going to the same dead letters. moto
    delivers a publish to the queue in-process. Returns the queue's URL, the dead letters' URL and the
    subscription's ARN."""
    queue_url, dead_letters_url = create_work_queue(
        f"{name_prefix}{NOTIFY_QUEUE_SUFFIX}",
        f"{name_prefix}{NOTIFY_DEAD_LETTER_QUEUE_SUFFIX}",
        visibility_timeout_seconds=visibility_timeout_seconds,
        max_receive_count=NOTIFY_MAX_RECEIVE_COUNT,
    )
    dead_letters_arn = queue_arn(dead_letters_url)
    subscription = boto3.client("sns").subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn(queue_url),
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({MESSAGE_KIND_ATTRIBUTE: [NOTIFICATION_MESSAGE_KIND]}),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_letters_arn}),
        },
        ReturnSubscriptionArn=True,
    )
    return queue_url, dead_letters_url, str(subscription["SubscriptionArn"])


def create_uploads(name_prefix: str) -> tuple[str, str, str]:
    """The uploads bucket, sending its events to EventBridge; the upload queue with its dead letters; the
    rule on the default bus that sends the bucket's object-created events to the queue (moto evaluates
    the same pattern). Returns the bucket's name and the two queues' URLs."""
    bucket = f"{name_prefix}{UPLOADS_BUCKET_SUFFIX}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    queue_url, dead_letters_url = create_work_queue(
        f"{name_prefix}{UPLOAD_QUEUE_SUFFIX}",
        f"{name_prefix}{UPLOAD_DEAD_LETTER_QUEUE_SUFFIX}",
        visibility_timeout_seconds=UPLOAD_INGEST_VISIBILITY_TIMEOUT_SECONDS,
        max_receive_count=UPLOAD_INGEST_MAX_RECEIVE_COUNT,
    )
    route_events(
        f"{name_prefix}-upload-arrived", upload_object_created_pattern(bucket), queue_url, "upload-queue"
    )
    return bucket, queue_url, dead_letters_url


def create_registry_work(name_prefix: str) -> tuple[str, str]:
    """The registry-work queue with its dead letters, and the rule on the default bus that puts ECR's and
    Inspector's scan events on it as they are (`riskgate_local.eventbridge.deliver_event` brings such an
    event). Returns the two queues' URLs."""
    queue_url, dead_letters_url = create_work_queue(
        f"{name_prefix}{REGISTRY_WORK_QUEUE_SUFFIX}",
        f"{name_prefix}{REGISTRY_WORK_DEAD_LETTER_QUEUE_SUFFIX}",
        visibility_timeout_seconds=REGISTRY_WORK_VISIBILITY_TIMEOUT_SECONDS,
        max_receive_count=REGISTRY_WORK_MAX_RECEIVE_COUNT,
    )
    route_events(f"{name_prefix}-registry-scan", REGISTRY_SCAN_EVENT_PATTERN, queue_url, "registry-work")
    return queue_url, dead_letters_url


def create_work_queue(
    queue_name: str, dead_letter_queue_name: str, *, visibility_timeout_seconds: int, max_receive_count: int
) -> tuple[str, str]:
    """A queue and its dead-letter queue as `WorkQueue` declares them in the CDK stack: a message received
    `max_receive_count` times moves to the dead letters. Returns both URLs."""
    sqs = boto3.client("sqs")
    dead_letters_url = sqs.create_queue(QueueName=dead_letter_queue_name)["QueueUrl"]
    queue_url = sqs.create_queue(
        QueueName=queue_name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": queue_arn(dead_letters_url), "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]
    return queue_url, dead_letters_url


def route_events(rule: str, pattern: Mapping[str, Any], queue_url: str, target_id: str) -> None:
    """A rule on moto's default bus sending the events `pattern` matches to the queue, as they are."""
    events = boto3.client("events")
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": target_id, "Arn": queue_arn(queue_url)}])


def queue_arn(queue_url: str) -> str:
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def create_audit_archive(bucket: str, *, retention_days: int) -> None:
    """The archive bucket as the CDK stack declares it, as far as moto goes: versioned by Object Lock,
    every new object locked in compliance mode for `retention_days`. (Its bucket policy is not created:
    moto does not evaluate bucket policies.)"""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": retention_days}},
        },
    )


def send_to_queue(queue_url: str, message: Mapping[str, Any]) -> None:
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(message, default=str))
