"""Response policies end to end through the local stack over HTTP, on real reports: ingest → stream →
evaluator (trigger events) → dispatcher → SNS → notify queue → notifier → SES in moto / the local sink →
`GET /_local/outbox`.

The stack runs in-process (the same `LocalStack` `make run` starts) so that the test can read what the
sink received — headers included, to check webhook signatures — and the notify queue's dead letters.
Malware is not exercised here: no supported report format carries malware findings; its trigger is
covered by the unit tests of `riskgate.domain.triggers` and the dispatcher's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from riskgate_local import LocalStack
from tests.e2e.conftest import HttpResult, http_request

pytestmark = pytest.mark.e2e

TRIVY_ALPINE = "trivy/ci_alpine-3.10_trivy-0.72.json"  # alpine:3.10, one critical vulnerability
ALPINE_CRITICAL = "CVE-2021-36159"
TRIVY_BUSTER = "trivy/golden_debian-buster.json"  # a different critical: CVE-2019-18224
TRIVY_SECRETS = "trivy/golden_secrets.json"  # exposed secrets
BOT_TOKEN = "123456:AAE-e2e-bot-token-never-shown"
WEBHOOK_SECRET = "e2e-webhook-signing-secret-0123"
WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # Retries come back after 1 s instead of the deployed visibility timeout: the DLQ test stays short.
    with LocalStack(port=0, notify_visibility_timeout_seconds=1) as running:
        yield running


def call(stack: LocalStack, method: str, path: str, body: Any = None) -> HttpResult:
    data = json.dumps(body).encode() if body is not None else None
    return http_request(stack.url, method, path, token=stack.admin_token, body=data)


def ok(stack: LocalStack, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    result = call(stack, method, path, body)
    assert result.status == status, result.body
    return result.json() if result.body else None


def submit(stack: LocalStack, scanner_fixtures: Path, report: str, image: str) -> dict[str, Any]:
    result = http_request(
        stack.url,
        "POST",
        f"/v1/scans?image={image}",
        token=stack.admin_token,
        body=(scanner_fixtures / report).read_bytes(),
    )
    assert result.status == 201, result.body
    return dict(result.json())


def outbox(stack: LocalStack) -> list[dict[str, Any]]:
    result = http_request(stack.url, "GET", "/_local/outbox")
    assert result.status == 200, result.body
    return list(result.json()["items"])


def wait_for(what: str, found: Callable[[], list[Any]]) -> list[Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        items = found()
        if items:
            return items
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not arrive within {WAIT_SECONDS} s")
        time.sleep(0.2)


def settle(stack: LocalStack) -> None:
    """Let every change made so far go through the stream, the topic and the queue."""
    stack.wait_until_idle(timeout=WAIT_SECONDS)
    time.sleep(1.5)
    stack.wait_until_idle(timeout=WAIT_SECONDS)


def integration(stack: LocalStack, name: str, kind: str, config: dict[str, Any]) -> None:
    ok(stack, "POST", "/v1/integrations", {"name": name, "type": kind, "config": config}, 201)


def policy(
    stack: LocalStack, name: str, trigger: str, output: str, integration_name: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "name": name,
        "description": f"e2e: {trigger}",
        "trigger": trigger,
        "outputs": [{"output": output, "integration": integration_name}],
        **extra,
    }
    created: dict[str, Any] = ok(stack, "POST", "/v1/response-policies", body, 201)
    return created


def webhooks_to(stack: LocalStack, path: str) -> list[dict[str, Any]]:
    return [item for item in outbox(stack) if item["channel"] == "webhook" and path in item["to"]]


def test_a_response_policy_emails_on_non_compliance(stack: LocalStack, scanner_fixtures: Path) -> None:
    integration(
        stack, "security-mail", "email", {"from": "riskgate@example.com", "to": ["secops@example.com"]}
    )
    policy(stack, "Non-compliant images", "non_compliant", "email", "security-mail")

    scan = submit(stack, scanner_fixtures, TRIVY_ALPINE, "registry.example/notify/app:1")

    mails = wait_for("the e-mail", lambda: [i for i in outbox(stack) if i["channel"] == "email"])
    [mail] = mails
    assert mail["to"] == ["secops@example.com"]
    assert "non" in mail["subject"].lower()
    assert "registry.example/notify/app" in mail["subject"]
    assert ALPINE_CRITICAL in mail["body"]
    log = ok(stack, "GET", "/v1/notifications?trigger=non_compliant")["items"]
    assert [(n["status"], n["attempts"], n["subject"]["id"]) for n in log] == [("sent", 1, scan["image_id"])]

    # The same image with the same findings: no second e-mail within the window.
    submit(stack, scanner_fixtures, TRIVY_ALPINE, "registry.example/notify/app:1")
    settle(stack)
    assert len([i for i in outbox(stack) if i["channel"] == "email"]) == 1
    # A new finding on the same image (another report of it): a new e-mail.
    submit(stack, scanner_fixtures, TRIVY_BUSTER, "registry.example/notify/app:1")
    mails = wait_for("the second e-mail", lambda: [i for i in outbox(stack) if i["channel"] == "email"][1:])
    assert "CVE-2019-18224" in mails[0]["body"]


def test_critical_vulnerabilities_reach_telegram_and_secrets_never_show(
    stack: LocalStack,
    scanner_fixtures: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    integration(stack, "secops-telegram", "telegram", {"bot_token": BOT_TOKEN, "chat_id": "@secops"})
    policy(stack, "Criticals to the chat", "critical_vulnerabilities", "telegram", "secops-telegram")

    submit(stack, scanner_fixtures, TRIVY_ALPINE, "registry.example/notify/chat:1")

    [message] = wait_for(
        "the Telegram message", lambda: [i for i in outbox(stack) if i["channel"] == "telegram"]
    )
    assert ALPINE_CRITICAL in message["body"]
    assert BOT_TOKEN not in json.dumps(message)
    listed = call(stack, "GET", "/v1/integrations")
    shown = call(stack, "GET", "/v1/integrations/secops-telegram")
    audit = call(stack, "GET", "/v1/audit-events?entity_type=integration&limit=200")
    for answer in (listed, shown, audit):
        assert answer.status == 200
        assert BOT_TOKEN.encode() not in answer.body
        assert BOT_TOKEN.split(":")[1].encode() not in answer.body
    # Nor in any log line of the handlers (JSON on stdout) or of the local stack (logging).
    settle(stack)
    written = capfd.readouterr()
    logged = written.out + written.err + caplog.text
    assert "notification handled" in logged  # the notifier's own log is in what was read
    assert BOT_TOKEN.split(":")[1] not in logged


def test_sensitive_data_reaches_a_signed_webhook_and_narrower_policies_stay_silent(
    stack: LocalStack, scanner_fixtures: Path
) -> None:
    hook = f"{stack.sink_url}/hooks/secrets"
    integration(stack, "secrets-hook", "webhook", {"url": hook, "secret": WEBHOOK_SECRET})
    policy(stack, "Secrets", "sensitive_data", "webhook", "secrets-hook")
    integration(stack, "disabled-hook", "webhook", {"url": f"{stack.sink_url}/hooks/disabled"})
    policy(stack, "Disabled", "sensitive_data", "webhook", "disabled-hook", enabled=False)
    scope = ok(
        stack, "POST", "/v1/scopes", {"name": "team-x", "resources": [{"repository": "team-x/*"}]}, 201
    )
    integration(stack, "team-x-hook", "webhook", {"url": f"{stack.sink_url}/hooks/team-x"})
    policy(stack, "Team X secrets", "sensitive_data", "webhook", "team-x-hook", scope=scope["id"])

    submit(stack, scanner_fixtures, TRIVY_SECRETS, "registry.example/notify/secrets:1")

    [delivered] = wait_for("the webhook call", lambda: webhooks_to(stack, "/hooks/secrets"))
    payload = json.loads(delivered["body"])
    assert "sensitive_data" in json.dumps(payload)
    [request] = [r for r in stack.sink.requests if r.path.endswith("/hooks/secrets")]
    timestamp = request.header("X-Riskgate-Timestamp")
    expected = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256)
    assert request.header("X-Riskgate-Signature") == f"sha256={expected.hexdigest()}"
    settle(stack)
    assert webhooks_to(stack, "/hooks/disabled") == []
    assert webhooks_to(stack, "/hooks/team-x") == []  # the image is outside the policy's scope


def test_acceptances_expiring_and_expired_are_announced(stack: LocalStack, scanner_fixtures: Path) -> None:
    integration(stack, "acceptance-hook", "webhook", {"url": f"{stack.sink_url}/hooks/acceptances"})
    policy(stack, "Expiring", "risk_acceptance_expiring", "webhook", "acceptance-hook")
    policy(stack, "Expired", "risk_acceptance_expiration", "webhook", "acceptance-hook")
    scan = submit(stack, scanner_fixtures, TRIVY_ALPINE, "registry.example/notify/accepted:1")
    accepted = ok(
        stack,
        "POST",
        "/v1/risk-acceptances",
        {
            "finding": {"kind": "vulnerability", "id": ALPINE_CRITICAL},
            "scope": {"image": scan["image_id"]},
            "period": "30d",
            "reason": "apk is not used at run time",
        },
        201,
    )
    ends = datetime.fromisoformat(accepted["expires_at"].replace("Z", "+00:00"))

    for moment in (ends - timedelta(days=5), ends + timedelta(minutes=1)):
        as_of = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        run = http_request(
            stack.url, "POST", "/_local/expiry-check", body=json.dumps({"as_of": as_of}).encode()
        )
        assert run.status == 200, run.body

    calls = wait_for("both announcements", lambda: webhooks_to(stack, "/hooks/acceptances")[1:])
    bodies = [json.dumps(json.loads(c["body"])) for c in webhooks_to(stack, "/hooks/acceptances")]
    assert any("risk_acceptance_expiring" in body for body in bodies)
    assert any("risk_acceptance_expiration" in body and accepted["id"] in body for body in bodies)
    assert len(calls) >= 1


def test_a_failing_webhook_is_retried_then_dead_lettered(stack: LocalStack, scanner_fixtures: Path) -> None:
    integration(stack, "flaky-hook", "webhook", {"url": f"{stack.sink_url}/status/429/hooks/flaky"})
    policy(stack, "Flaky", "critical_vulnerabilities", "webhook", "flaky-hook")

    submit(stack, scanner_fixtures, TRIVY_BUSTER, "registry.example/notify/flaky:1")

    sqs = boto3.client("sqs")  # the stack points the environment at its moto server

    def dead_letters() -> list[Any]:
        attributes = sqs.get_queue_attributes(
            QueueUrl=stack.resources.notify_dead_letter_queue_url,
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]
        return [1] * int(attributes["ApproximateNumberOfMessages"])

    wait_for("the dead letter", dead_letters)
    failed = [
        n
        for n in ok(stack, "GET", "/v1/notifications?limit=200")["items"]
        if n["integration"] == "flaky-hook"
    ]
    [notification] = failed
    assert notification["status"] == "failed"
    assert notification["attempts"] >= 2
    assert notification["last_error"]
    attempts = [r for r in stack.sink.requests if "/hooks/flaky" in r.path]
    assert len(attempts) == notification["attempts"]


def test_webhooks_reach_the_sink_and_no_other_local_address(stack: LocalStack) -> None:
    """Issue 16: the local stack allows its own sink, by its exact base URL, and nothing else local —
    not its own API, not the metadata address — and a test message says only the status."""
    for url in (
        f"{stack.url}/v1/health",  # the local API, on another loopback port
        stack.sink_url.replace("127.0.0.1", "localhost") + "/hooks/x",
        stack.sink_url.replace("127.0.0.1", "2130706433") + "/hooks/x",
        "https://169.254.169.254/latest/meta-data/",
    ):
        result = call(
            stack, "POST", "/v1/integrations", {"name": "probe", "type": "webhook", "config": {"url": url}}
        )
        assert result.status == 422, (url, result.body)
        assert [d["location"] for d in result.json()["error"]["details"]] == ["body.config.url"]

    integration(stack, "failing-sink", "webhook", {"url": f"{stack.sink_url}/status/418/hooks/probe"})
    answer = ok(stack, "POST", "/v1/integrations/failing-sink/test")
    assert answer == {
        "integration": "failing-sink",
        "type": "webhook",
        "delivered": False,
        "status": 418,
        "detail": "the test message was not delivered; the integration or its receiver must change",
        "error": "the webhook answered 418",
        "retryable": False,
    }
    assert [r.path for r in stack.sink.requests if "/hooks/probe" in r.path] == ["/status/418/hooks/probe"]
