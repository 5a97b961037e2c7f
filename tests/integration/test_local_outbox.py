"""The local stack's notification plumbing: the notify queue subscribed to the events topic, moto's SES
taking every sender, the HTTP sink standing in for Telegram and webhooks, and `GET /_local/outbox`
showing what was delivered.

One in-process stack for the module. The notifier is a recorder (what reaches it is the subscription's
business, tested here; what it does with a notification is the notifier's, tested with it); the other
handlers are the real ones.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import boto3
import pytest

from riskgate.resources import (
    NOTIFICATION_MESSAGE_KIND,
    NOTIFY_DEAD_LETTER_QUEUE_SUFFIX,
    NOTIFY_MAX_RECEIVE_COUNT,
    NOTIFY_QUEUE_SUFFIX,
)
from riskgate_local import LocalStack
from riskgate_local.outbox import SINK_OK_BODY, html_text
from tests.e2e.conftest import http_request

pytestmark = pytest.mark.e2e

DELIVERY_TIMEOUT_SECONDS = 10
SENDER = "riskgate@unverified.example"  # never verified: the local stack takes every sender


class RecordingNotifier:
    """Stands in for the notifier: keeps the body and attributes of every SQS record it is given."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.records.extend(event["Records"])
        return {"batchItemFailures": []}

    def bodies(self) -> list[str]:
        with self._lock:
            return [record["body"] for record in self.records]


notifier = RecordingNotifier()


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, notifier=notifier, name_prefix="riskgate-outbox") as running:
        yield running


def outbox(stack: LocalStack) -> list[dict[str, Any]]:
    response = http_request(stack.url, "GET", "/_local/outbox")
    assert response.status == 200, response.body
    body = response.json()
    assert set(body) == {"items"}
    return list(body["items"])


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {DELIVERY_TIMEOUT_SECONDS} s"
        time.sleep(0.05)


# --- the stack's wiring ----------------------------------------------------------------------------


def test_the_notify_queue_is_named_like_the_deployed_one_and_dead_letters_after_the_same_receives(
    stack: LocalStack,
) -> None:
    sqs = boto3.client("sqs")
    resources = stack.resources

    assert resources.notify_queue_url.endswith("/riskgate-outbox" + NOTIFY_QUEUE_SUFFIX)
    assert resources.notify_dead_letter_queue_url.endswith(
        "/riskgate-outbox" + NOTIFY_DEAD_LETTER_QUEUE_SUFFIX
    )
    attributes = sqs.get_queue_attributes(QueueUrl=resources.notify_queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == NOTIFY_MAX_RECEIVE_COUNT
    dead_letters_arn = sqs.get_queue_attributes(
        QueueUrl=resources.notify_dead_letter_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert redrive["deadLetterTargetArn"] == dead_letters_arn

    subscription = boto3.client("sns").get_subscription_attributes(
        SubscriptionArn=resources.notify_subscription_arn
    )["Attributes"]
    assert subscription["TopicArn"] == resources.events_topic_arn
    assert subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"] == attributes["QueueArn"]
    assert subscription["RawMessageDelivery"] == "true"
    assert json.loads(subscription["FilterPolicy"]) == {"kind": [NOTIFICATION_MESSAGE_KIND]}


def test_the_telegram_api_is_the_sink_and_the_pollers_are_registered(stack: LocalStack) -> None:
    assert os.environ["RISKGATE_TELEGRAM_API_URL"] == stack.sink_url
    assert stack.sink_url.startswith("http://127.0.0.1:")
    # Webhook integrations may point at the sink over plain http.
    assert set(os.environ["RISKGATE_WEBHOOK_INSECURE_HOSTS"].split(",")) == {"127.0.0.1", "localhost"}
    names = {task.name for task in stack.periodic_tasks}
    assert {"stream-poller-dispatcher", "queue-poller-notifier"} <= names


def test_a_notification_published_on_the_events_topic_reaches_the_notifier_and_nothing_else_does(
    stack: LocalStack,
) -> None:
    sns = boto3.client("sns")
    topic = stack.resources.events_topic_arn
    marker = f"ntf-{time.monotonic_ns()}"

    # Given one message marked as a notification and two that are not (another kind, no attribute)
    sns.publish(
        TopicArn=topic,
        Message=json.dumps({"notification_id": marker}),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": NOTIFICATION_MESSAGE_KIND}},
    )
    sns.publish(
        TopicArn=topic,
        Message=json.dumps({"notification_id": marker + "-other-kind"}),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "status_changed"}},
    )
    sns.publish(TopicArn=topic, Message=json.dumps({"notification_id": marker + "-no-kind"}))

    # Then the notifier gets the first, raw (the message itself, not SNS's envelope), with its attribute
    wait_for(
        lambda: any(marker in body for body in notifier.bodies()), "the notification reached the notifier"
    )
    time.sleep(1)  # room for the others to show up, were they let through
    received = [record for record in notifier.records if marker in record["body"]]
    (record,) = received
    assert json.loads(record["body"]) == {"notification_id": marker}
    assert record["eventSource"] == "aws:sqs"
    assert record["messageAttributes"]["kind"]["StringValue"] == NOTIFICATION_MESSAGE_KIND
    # And the message was deleted once handled
    visible = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.resources.notify_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert visible == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


# --- e-mail ----------------------------------------------------------------------------------------


def test_an_email_sent_through_ses_from_any_sender_is_in_the_outbox(stack: LocalStack) -> None:
    subject = f"non_compliant: alpine:3.10 ({time.monotonic_ns()})"

    boto3.client("ses").send_email(
        Source=SENDER,
        Destination={"ToAddresses": ["team@example.com", "lead@example.com"]},
        Message={
            "Subject": {"Data": subject},
            "Body": {
                "Text": {"Data": "alpine:3.10 is non-compliant"},
                "Html": {"Data": "<html><body><p>alpine:3.10 is <b>non-compliant</b></p></body></html>"},
            },
        },
    )

    (item,) = [item for item in outbox(stack) if item["subject"] == subject]
    assert item == {
        "channel": "email",
        "to": ["team@example.com", "lead@example.com"],
        "subject": subject,
        # moto keeps the HTML part of a two-part message; the outbox shows its text.
        "body": "alpine:3.10 is non-compliant",
    }


def test_a_raw_mime_email_shows_its_text_part(stack: LocalStack) -> None:
    subject = f"malware: busybox ({time.monotonic_ns()})"
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "team@example.com"
    message["Subject"] = subject
    message.set_content("busybox carries malware — EICAR")
    message.add_alternative("<p>busybox carries <b>malware</b></p>", subtype="html")

    boto3.client("sesv2").send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": ["team@example.com"]},
        Content={"Raw": {"Data": message.as_bytes()}},
    )

    (item,) = [item for item in outbox(stack) if item["subject"] == subject]
    assert item["channel"] == "email"
    assert item["to"] == ["team@example.com"]
    assert item["body"].strip() == "busybox carries malware — EICAR"


def test_html_text_keeps_the_words_one_block_a_line() -> None:
    html = (
        "<html><head><style>p {color: red}</style></head><body><h1>Title</h1><p>one  <b>two</b></p>"
        "<table><tr><th>Image</th><td>alpine:3.10</td></tr></table></body>"
    )
    assert html_text(html) == "Title\none two\nImage alpine:3.10"


# --- the sink --------------------------------------------------------------------------------------


def test_a_webhook_call_to_the_sink_is_answered_like_telegram_and_shows_in_the_outbox(
    stack: LocalStack,
) -> None:
    path = f"/hooks/team-a/{time.monotonic_ns()}"
    payload = json.dumps({"text": "critical_vulnerabilities on alpine:3.10"}).encode()

    status, answer = post(stack.sink_url + path, payload, {"X-Riskgate-Signature": "sha256=abc"})

    assert (status, answer) == (200, SINK_OK_BODY)
    (item,) = [item for item in outbox(stack) if item["to"] == stack.sink_url + path]
    assert item == {
        "channel": "webhook",
        "to": stack.sink_url + path,
        "subject": None,
        "body": payload.decode(),
    }
    # The sink keeps the request whole, headers included (for signature checks)
    (request,) = [request for request in stack.sink.requests if request.path == path]
    assert request.method == "POST"
    assert request.header("X-Riskgate-Signature") == "sha256=abc"


def test_a_telegram_call_shows_in_the_outbox_without_the_bot_token(stack: LocalStack) -> None:
    token = "123456:AAE-secret-token"
    text = f"sensitive_data on ruby:3.0 ({time.monotonic_ns()})"
    payload = json.dumps({"chat_id": "-100200300", "text": text}).encode()

    status, answer = post(f"{os.environ['RISKGATE_TELEGRAM_API_URL']}/bot{token}/sendMessage", payload)

    assert (status, answer) == (200, SINK_OK_BODY)
    (item,) = [item for item in outbox(stack) if text in item["body"]]
    assert item["channel"] == "telegram"
    assert item["to"] == stack.sink_url + "/bot***/sendMessage"
    assert json.loads(item["body"]) == {"chat_id": "-100200300", "text": text}
    assert token not in json.dumps(outbox(stack))


def test_paths_can_ask_the_sink_to_fail_and_failed_calls_are_not_in_the_outbox(stack: LocalStack) -> None:
    marker = str(time.monotonic_ns())

    failed, failure = post(f"{stack.sink_url}/hooks/fail/{marker}", b"{}")
    limited, limit = post(f"{stack.sink_url}/bot1:x/status/429/sendMessage?{marker}", b"{}")

    assert failed == 500
    assert failure["ok"] is False
    assert limited == 429
    assert limit["parameters"] == {"retry_after": 1}
    assert not [item for item in outbox(stack) if marker in item["to"]]
    # The sink saw both attempts
    assert [request.status for request in stack.sink.requests if marker in request.path] == [500, 429]


def test_the_outbox_answers_without_a_token_and_only_to_get(stack: LocalStack) -> None:
    assert http_request(stack.url, "GET", "/_local/outbox").status == 200
    # Any other method is no route at all, as for any unknown path
    assert http_request(stack.url, "POST", "/_local/outbox", body=b"{}").status == 404


def test_a_non_ascii_email_is_decoded(stack: LocalStack) -> None:
    subject = f"Ablauf: Risikoakzeptanz ({time.monotonic_ns()})"
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = SENDER
    message["To"] = "team@example.com"
    message.set_content("Gültig bis 2031-06-30 — ÄÖÜ")

    boto3.client("sesv2").send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": ["team@example.com"]},
        Content={"Raw": {"Data": message.as_bytes()}},
    )

    (item,) = [item for item in outbox(stack) if item["subject"] == subject]
    assert item["body"].strip() == "Gültig bis 2031-06-30 — ÄÖÜ"
