"""Notifications end to end against moto, with the real handlers: a trigger event item on the stream →
the dispatcher records and publishes to the events topic → the notifier queue (raw delivery) → the
notifier delivers through the integration (a customer SNS topic; a failing local webhook) → the
delivery log `GET /v1/notifications`. Integrations and response policies are made through the API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from riskgate.adapters.dynamo import to_item
from riskgate.adapters.events import event_item
from riskgate.adapters.notifications import NotificationStore
from riskgate.handlers import dispatcher, notifier
from riskgate.settings import get_settings
from tests.integration.conftest import TABLE_NAME
from tests.support.api_calls import call, ok
from tests.support.events import FakeLambdaContext

ACCOUNT, REGION = "123456789012", "us-east-1"
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE_NAME}/stream/x"
TEAM_A = [{"registry": "ghcr.io", "repository": "team-a/*"}]
TEAM_B = [{"registry": "ghcr.io", "repository": "team-b/*"}]


@dataclass
class Bus:
    """The events topic with the notifier's queue (raw delivery, notifications only), and a customer's
    topic with the queue that shows what the customer received."""

    sqs: Any
    notify_queue_url: str
    notify_queue_arn: str
    customer_topic_arn: str
    customer_queue_url: str

    def notify_messages(self, visibility: int = 30) -> list[dict[str, Any]]:
        return self._drain(self.notify_queue_url, visibility, delete=False)

    def customer_received(self) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in self._drain(self.customer_queue_url, 30, delete=True)]

    def _drain(self, url: str, visibility: int, *, delete: bool) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=visibility, AttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return received
            received += batch
            for message in batch if delete else ():
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


@pytest.fixture
def bus(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    events_topic = sns.create_topic(Name="riskgate-test-events")["TopicArn"]
    notify_url, notify_arn = _queue(sqs, "riskgate-test-notifications")
    sns.subscribe(
        TopicArn=events_topic,
        Protocol="sqs",
        Endpoint=notify_arn,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"kind": ["notification"]})},
    )
    customer_topic = sns.create_topic(Name="security-alerts")["TopicArn"]
    customer_url, customer_arn = _queue(sqs, "customer-inbox")
    sns.subscribe(TopicArn=customer_topic, Protocol="sqs", Endpoint=customer_arn)
    monkeypatch.setenv("RISKGATE_EVENTS_TOPIC_ARN", events_topic)
    monkeypatch.setenv("RISKGATE_PUBLIC_BASE_URL", "https://riskgate.example.com/api")
    get_settings.cache_clear()
    dispatcher.sns_client.cache_clear()
    notifier.clients.cache_clear()
    yield Bus(sqs, notify_url, notify_arn, customer_topic, customer_url)
    dispatcher.sns_client.cache_clear()
    notifier.clients.cache_clear()


class FailingReceiver(BaseHTTPRequestHandler):
    """A webhook receiver that is down for maintenance: 503, come back in two minutes."""

    requests: list[bytes] = []

    def do_POST(self) -> None:
        FailingReceiver.requests.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        body = b"maintenance"
        self.send_response(503)
        self.send_header("Retry-After", "120")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def failing_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    FailingReceiver.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    # Reached as the local stack reaches its own sink: the one loopback destination a webhook may have.
    monkeypatch.setenv("RISKGATE_WEBHOOK_LOCAL_SINKS", base)
    get_settings.cache_clear()
    yield f"{base}/hook"
    server.shutdown()
    server.server_close()


# --- helpers ------------------------------------------------------------------------------------------


def response_policy(name: str, integration: str, output: str, **fields: Any) -> str:
    body = {
        "name": name,
        "scope": "global",
        "trigger": "critical_vulnerabilities",
        "outputs": [{"output": output, "integration": integration}],
        **fields,
    }
    policy_id: str = ok("POST", "/v1/response-policies", body, 201)["id"]
    return policy_id


def put_event(dynamodb: Any, event_id: str, repository: str = "team-a/app", fingerprint: str = "fp-1") -> Any:
    """A trigger event item as the evaluator writes it (docs/architecture.md, "Contracts"), DynamoDB-typed."""
    image_id = "img-" + repository.replace("/", "-")
    fields = {
        "id": event_id,
        "type": "critical_vulnerabilities",
        "occurred_at": "2026-05-01T12:00:00.000000Z",
        "subject": {"type": "image", "id": image_id},
        "image": {
            "image_id": image_id,
            "registry": "ghcr.io",
            "repository": repository,
            "tags": ["1.4.2"],
            "digest": "sha256:" + "b" * 64,
        },
        "verdict": {"status": "non_compliant", "block": True},
        "counts": {"vulnerabilities": {"critical": 1, "high": 2}, "malware": 0},
        "findings": [
            {
                "kind": "vulnerability",
                "id": "CVE-2026-0001",
                "severity": "critical",
                "package": "openssl",
                "installed_version": "3.0.1",
                "fixed_version": "3.0.9",
            }
        ],
        "findings_total": 1,
        "fingerprint": fingerprint,
    }
    item = event_item(fields, 365)
    dynamodb.put_item(TableName=TABLE_NAME, Item=to_item(item))
    key = {"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}}
    return dynamodb.get_item(TableName=TABLE_NAME, Key=key)["Item"]


def stream_record(item: dict[str, Any], sequence: str) -> dict[str, Any]:
    return {
        "eventID": f"event-{sequence}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": 1_700_000_000,
            "Keys": {"pk": item["pk"], "sk": item["sk"]},
            "NewImage": item,
            "SequenceNumber": sequence,
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }


def dispatch(*items: dict[str, Any]) -> Any:
    records = [stream_record(item, str(100 + number)) for number, item in enumerate(items)]
    return dispatcher.handler({"Records": records}, FakeLambdaContext())


def sqs_event(bus: Bus, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The messages as Lambda's SQS event source hands them over."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": bus.notify_queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def notifications(**query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok("GET", "/v1/notifications", query=query or None)["items"]
    return items


# --- end to end ---------------------------------------------------------------------------------------


def test_an_event_is_delivered_once_to_the_customers_topic_and_logged_as_sent(
    dynamodb: Any, bus: Bus
) -> None:
    ok(
        "POST",
        "/v1/integrations",
        {"name": "alerts", "type": "sns", "config": {"topic_arn": bus.customer_topic_arn}},
        201,
    )
    policy_id = response_policy("critical to alerts", "alerts", "sns")
    # Policies that must not fire: one disabled, one whose scope does not hold the image.
    ok("PATCH", f"/v1/response-policies/{response_policy('off', 'alerts', 'sns')}", {"enabled": False})
    team_b = ok("POST", "/v1/scopes", {"name": "team-b", "resources": TEAM_B}, 201)["id"]
    response_policy("team b only", "alerts", "sns", scope=team_b)

    # When the evaluator's event reaches the dispatcher
    assert dispatch(put_event(dynamodb, "evt-1")) == {"batchItemFailures": []}

    # Then one notification is published: the raw SNS message on the notifier's queue
    messages = bus.notify_messages()
    assert len(messages) == 1
    notification_id = json.loads(messages[0]["Body"])["notification_id"]
    assert notification_id.startswith("ntf-")
    (pending,) = notifications()
    assert (pending["id"], pending["status"], pending["attempts"]) == (notification_id, "pending", 0)

    # And the notifier delivers it to the customer's topic
    assert notifier.handler(sqs_event(bus, messages), FakeLambdaContext()) == {"batchItemFailures": []}
    (received,) = bus.customer_received()
    assert received["TopicArn"] == bus.customer_topic_arn
    assert "ghcr.io/team-a/app:1.4.2" in received["Message"]
    assert "CVE-2026-0001" in received["Message"]

    (sent,) = notifications()
    assert {key: sent[key] for key in ("id", "policy_id", "trigger", "output", "integration", "status")} == {
        "id": notification_id,
        "policy_id": policy_id,
        "trigger": "critical_vulnerabilities",
        "output": "sns",
        "integration": "alerts",
        "status": "sent",
    }
    assert sent["attempts"] == 1
    assert sent["sent_at"]
    assert sent["last_error"] is None
    assert sent["subject"] == {"type": "image", "id": "img-team-a-app"}
    assert sent["event"]["image"]["repository"] == "team-a/app"

    # A redelivered SQS message sends nothing more; a retried stream batch records and publishes nothing.
    assert notifier.handler(sqs_event(bus, messages), FakeLambdaContext()) == {"batchItemFailures": []}
    assert bus.customer_received() == []
    dispatch(put_event(dynamodb, "evt-1"))
    assert bus.notify_messages() == []  # nothing new (the first is still in flight)
    (after,) = notifications()
    assert (after["status"], after["attempts"]) == ("sent", 1)


def test_the_same_findings_notify_once_a_new_finding_again(dynamodb: Any, bus: Bus) -> None:
    ok(
        "POST",
        "/v1/integrations",
        {"name": "alerts", "type": "sns", "config": {"topic_arn": bus.customer_topic_arn}},
        201,
    )
    response_policy("critical to alerts", "alerts", "sns")
    dispatch(
        put_event(dynamodb, "evt-1", fingerprint="fp-1"), put_event(dynamodb, "evt-2", fingerprint="fp-1")
    )
    assert [n["event_id"] for n in notifications()] == ["evt-1"]
    dispatch(put_event(dynamodb, "evt-3", fingerprint="fp-2"))
    assert sorted(n["event_id"] for n in notifications()) == ["evt-1", "evt-3"]
    assert len(bus.notify_messages()) == 2


def test_a_failing_webhook_is_logged_failed_and_its_message_retried_later(
    dynamodb: Any, bus: Bus, failing_webhook: str
) -> None:
    ok(
        "POST",
        "/v1/integrations",
        {"name": "hook", "type": "webhook", "config": {"url": failing_webhook}},
        201,
    )
    response_policy("critical to hook", "hook", "webhook")
    dispatch(put_event(dynamodb, "evt-1"))
    messages = bus.notify_messages(visibility=1)

    # The only record of the batch fails: Powertools raises, and Lambda keeps the message.
    with pytest.raises(BatchProcessingError):
        notifier.handler(sqs_event(bus, messages), FakeLambdaContext())
    assert len(FailingReceiver.requests) == 1
    (failed,) = notifications(status="failed")
    assert failed["attempts"] == 1
    assert "503" in failed["last_error"]
    assert "maintenance" in failed["last_error"]
    # The message comes back after the receiver's Retry-After (120 s), not the 1 s it was received with.
    time.sleep(1.2)
    assert bus.notify_messages() == []


def test_the_delivery_log_is_filtered_and_shows_what_the_callers_policies_show(
    dynamodb: Any, bus: Bus
) -> None:
    ok(
        "POST",
        "/v1/integrations",
        {"name": "alerts", "type": "sns", "config": {"topic_arn": bus.customer_topic_arn}},
        201,
    )
    team_a = ok("POST", "/v1/scopes", {"name": "team-a", "resources": TEAM_A}, 201)["id"]
    everywhere = response_policy("everywhere", "alerts", "sns")
    team_a_policy = response_policy("team a", "alerts", "sns", scope=team_a)
    dispatch(put_event(dynamodb, "evt-1"))
    assert sorted(n["policy_id"] for n in notifications()) == sorted([everywhere, team_a_policy])
    assert [n["policy_id"] for n in notifications(policy_id=team_a_policy)] == [team_a_policy]
    assert notifications(status="sent") == []
    assert len(notifications(trigger="critical_vulnerabilities")) == 2
    assert notifications(trigger="malware") == []
    reader = [{"role": "auditor", "scope": team_a}]
    status, body = call("GET", "/v1/notifications", as_=reader)
    assert status == 200, body
    assert [n["policy_id"] for n in body["items"]] == [team_a_policy]
    status, body = call("GET", "/v1/notifications", query={"status": "lost"})
    assert status == 422, body


# --- the store's conditional writes -------------------------------------------------------------------


def record_fields(notification_id: str) -> dict[str, Any]:
    return {
        "id": notification_id,
        "event_id": "evt-1",
        "event": {"id": "evt-1", "type": "malware"},
        "policy_id": "rsp-1",
        "policy_name": "p",
        "policy_scope": "global",
        "trigger": "malware",
        "subject": {"type": "image", "id": "img-1"},
        "output": "email",
        "integration": "mail",
        "status": "pending",
        "attempts": 0,
        "created_at": "2026-05-01T12:00:00.000000Z",
    }


def test_the_marker_holds_for_its_window_and_a_record_is_written_once(dynamodb: Any) -> None:
    store = NotificationStore(TABLE_NAME, client=dynamodb)
    now = 1_800_000_000
    assert store.record([record_fields("ntf-1"), record_fields("ntf-2")], "key-1", now + 3600, now)
    assert not store.record(record_fields("ntf-3"), "key-1", now + 7200, now + 60)  # held
    assert store.get("ntf-3") is None
    assert not store.record(record_fields("ntf-1"), "key-2", now + 3600, now)  # exists
    assert store.record(record_fields("ntf-3"), "key-1", now + 7200, now + 3601)  # the window passed
    assert {n["id"] for n in store.list(10, None).items} == {"ntf-1", "ntf-2", "ntf-3"}


def test_one_attempt_at_a_time_and_never_after_sent_or_failed_for_good(dynamodb: Any) -> None:
    store = NotificationStore(TABLE_NAME, client=dynamodb)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    store.record([record_fields("ntf-1"), record_fields("ntf-2")], "key", int(now.timestamp()) + 60, 0)
    first = store.begin_attempt("ntf-1", now)
    assert first is not None
    assert (first["status"], first["attempts"]) == ("sending", 1)
    assert store.begin_attempt("ntf-1", now) is None  # another notifier is at it
    store.mark_failed("ntf-1", now, "the webhook answered 503", permanent=False)
    second = store.begin_attempt("ntf-1", now)
    assert second is not None
    assert second["attempts"] == 2
    assert second["last_error"] == "the webhook answered 503"
    store.mark_sent("ntf-1", now, {"detail": "ok"})
    store.mark_failed("ntf-1", now, "late", permanent=False)  # a sent one stays sent
    assert store.begin_attempt("ntf-1", now + timedelta(hours=1)) is None
    assert store.get("ntf-1")["status"] == "sent"  # type: ignore[index]
    # A notifier that died while sending holds it only for its lease.
    assert store.begin_attempt("ntf-2", now) is not None
    assert store.begin_attempt("ntf-2", now + timedelta(seconds=30)) is None
    assert store.begin_attempt("ntf-2", now + timedelta(minutes=5)) is not None
    store.mark_failed("ntf-2", now, "the webhook answered 404", permanent=True)
    assert store.begin_attempt("ntf-2", now + timedelta(hours=1)) is None
    assert store.begin_attempt("ntf-unknown", now) is None


def test_the_rate_counter_allows_the_limit_a_minute(dynamodb: Any) -> None:
    store = NotificationStore(TABLE_NAME, client=dynamodb)
    assert [store.check_rate("hook", 100, 2) for _ in range(3)] == [True, True, False]
    assert store.check_rate("hook", 101, 2)
    assert store.check_rate("other", 100, 2)
