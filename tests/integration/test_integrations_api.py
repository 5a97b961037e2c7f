"""Integrations through the API handler against moto (DynamoDB and Secrets Manager): CRUD of each type,
validation naming the field, unique names, secrets kept in Secrets Manager and nowhere else, access by
the integration's scope, and one audit event per change. Test messages: through a moto SNS topic (an SQS
subscriber shows what arrived), moto SES, and a local webhook receiver that fails; webhooks to internal
addresses are refused when saved and when tested, and a test says no more than the status."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from riskgate.adapters.integrations import IntegrationStore
from tests.integration.conftest import TABLE_NAME, forget_cached_ports
from tests.support.api_calls import call, ok

INTEGRATIONS = "/v1/integrations"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
NEW_BOT_TOKEN = "123456789:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SIGNING_SECRET = "whsec-0123456789abcdef-signing"
SECRETS = (BOT_TOKEN, NEW_BOT_TOKEN, SIGNING_SECRET)

EXAMPLES: dict[str, dict[str, Any]] = {
    "email": {"from": "riskgate@example.com", "to": ["secops@example.com", "oncall@example.com"]},
    "telegram": {"bot_token": BOT_TOKEN, "chat_id": -1001234567890},
    "sns": {"topic_arn": "arn:aws:sns:eu-west-1:123456789012:security-alerts"},
    "webhook": {
        "url": "https://hooks.example.com/riskgate",
        "secret": SIGNING_SECRET,
        "preset": "slack",
        "template": '{"text": "{policy_name}: {trigger} on {image}"}',
    },
}


def integration(name: str, kind: str, **config: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "config": {**EXAMPLES[kind], **config}}


def events_of(name: str) -> list[dict[str, Any]]:
    query = {"entity_type": "integration", "entity_id": name}
    items: list[dict[str, Any]] = ok("GET", "/v1/audit-events", query=query)["items"]
    return items


def error_location(body: Any) -> list[str]:
    return [detail.get("location") for detail in body["error"]["details"]]


def store() -> IntegrationStore:
    return IntegrationStore(TABLE_NAME, client=boto3.client("dynamodb"))


def stored_secret(name: str) -> dict[str, Any]:
    answer = boto3.client("secretsmanager").get_secret_value(SecretId=f"riskgate/integrations/{name}")
    value: dict[str, Any] = json.loads(answer["SecretString"])
    return value


def secret_deleted(name: str) -> bool:
    described = boto3.client("secretsmanager").describe_secret(SecretId=f"riskgate/integrations/{name}")
    return "DeletedDate" in described


def assert_no_secret_in(answer: Any, *, nor_its_field: bool = True) -> None:
    text = json.dumps(answer)
    for secret in SECRETS:
        assert secret not in text
    if nor_its_field:  # an answer about an integration has no place for a secret at all
        assert '"bot_token"' not in text
        assert '"secret"' not in text


# --- CRUD -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["email", "telegram", "sns", "webhook"])
def test_each_type_is_created_read_listed_and_deleted_with_one_event_each(dynamodb: Any, kind: str) -> None:
    status, created = call("POST", INTEGRATIONS, integration(f"ops-{kind}", kind))
    assert status == 201, created
    assert created["name"] == f"ops-{kind}"
    assert created["type"] == kind
    assert created["version"] == 1
    assert created["created_by"] == "admin"
    assert created["has_secret"] is (kind in ("telegram", "webhook"))
    assert ok("GET", f"{INTEGRATIONS}/ops-{kind}") == created
    assert [i["name"] for i in ok("GET", INTEGRATIONS)["items"]] == [f"ops-{kind}"]
    assert [e["action"] for e in events_of(f"ops-{kind}")] == ["create"]

    assert call("DELETE", f"{INTEGRATIONS}/ops-{kind}") == (204, None)
    assert call("GET", f"{INTEGRATIONS}/ops-{kind}")[0] == 404
    assert call("DELETE", f"{INTEGRATIONS}/ops-{kind}")[0] == 404
    assert [e["action"] for e in events_of(f"ops-{kind}")] == ["delete", "create"]


def test_configs_are_stored_in_their_checked_form(dynamodb: Any) -> None:
    telegram = ok("POST", INTEGRATIONS, integration("tg", "telegram", chat_id="-42"), 201)
    assert telegram["config"] == {"chat_id": -42}
    webhook = ok("POST", INTEGRATIONS, integration("hook", "webhook"), 201)
    assert webhook["config"] == {
        "url": "https://hooks.example.com/riskgate",
        "preset": "slack",
        "template": '{"text": "{policy_name}: {trigger} on {image}"}',
        "rate_limit_per_minute": 60,
    }
    plain = ok(
        "POST",
        INTEGRATIONS,
        {"name": "plain", "type": "webhook", "config": {"url": "https://x.example"}},
        201,
    )
    assert (plain["config"]["preset"], plain["has_secret"]) == ("generic", False)


def test_the_list_pages_by_name(dynamodb: Any) -> None:
    for name in ("c-mail", "a-mail", "b-mail"):
        ok("POST", INTEGRATIONS, integration(name, "email"), 201)
    first = ok("GET", INTEGRATIONS, query={"limit": "2"})
    assert first["next_token"]
    second = ok("GET", INTEGRATIONS, query={"limit": "2", "next_token": first["next_token"]})
    assert [i["name"] for i in first["items"] + second["items"]] == ["a-mail", "b-mail", "c-mail"]


def test_a_name_is_unique_and_a_second_create_leaves_the_first_ones_secret(dynamodb: Any) -> None:
    ok("POST", INTEGRATIONS, integration("ops", "telegram"), 201)
    status, body = call("POST", INTEGRATIONS, integration("ops", "telegram", bot_token=NEW_BOT_TOKEN))
    assert status == 409, body
    assert error_location(body) == ["body.name"]
    assert stored_secret("ops") == {"bot_token": BOT_TOKEN}
    assert store().read_secret("ops") == {"bot_token": BOT_TOKEN}
    assert len(events_of("ops")) == 1


@pytest.mark.parametrize(
    ("body", "location"),
    [
        (integration("w", "webhook", url="http://hooks.example.com/x"), "body.config.url"),
        (integration("w", "webhook", template="{image} on {cluster}"), "body.config.template"),
        (integration("w", "webhook", rate_limit_per_minute=1000), "body.config.rate_limit_per_minute"),
        (integration("w", "webhook", preset="discord"), "body.config.preset"),
        (integration("e", "email", to=["ok@example.com", "not-an-address"]), "body.config.to[1]"),
        (integration("e", "email", **{"from": "nobody"}), "body.config.from"),
        (integration("s", "sns", topic_arn="arn:aws:sns:us-east-1:12:x"), "body.config.topic_arn"),
        ({"name": "t", "type": "telegram", "config": {"chat_id": 5}}, "body.config.bot_token"),
        (integration("t", "telegram", chat_id="somebody"), "body.config.chat_id"),
        (integration("e", "email", cc=["x@example.com"]), "body.config.cc"),
        ({"name": "p", "type": "pager", "config": {}}, "body.type"),
        (integration("has space", "email"), "body.name"),
    ],
)
def test_invalid_integrations_are_422_naming_the_field(
    dynamodb: Any, body: dict[str, Any], location: str
) -> None:
    status, answer = call("POST", INTEGRATIONS, body)
    assert status == 422, answer
    assert location in error_location(answer)
    assert_no_secret_in(answer, nor_its_field=False)
    assert ok("GET", INTEGRATIONS)["items"] == []


def test_http_webhooks_are_allowed_to_the_configured_hosts_only(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = {"name": "plain", "type": "webhook", "config": {"url": "http://hooks.example.com/webhook"}}
    assert call("POST", INTEGRATIONS, plain)[0] == 422
    monkeypatch.setenv("RISKGATE_WEBHOOK_INSECURE_HOSTS", "hooks.example.com")
    forget_cached_ports()
    assert ok("POST", INTEGRATIONS, plain, 201)["config"]["url"] == "http://hooks.example.com/webhook"


def test_only_the_local_sink_named_in_the_settings_is_an_allowed_loopback_destination(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = {"name": "sink", "type": "webhook", "config": {"url": "http://127.0.0.1:8025/webhook"}}
    # Plain http to loopback hosts is not enough (it was, before issue 16): any local port was reachable.
    monkeypatch.setenv("RISKGATE_WEBHOOK_INSECURE_HOSTS", "localhost, 127.0.0.1")
    forget_cached_ports()
    status, body = call("POST", INTEGRATIONS, sink)
    assert (status, error_location(body)) == (422, ["body.config.url"])
    assert "loopback" in body["error"]["message"]
    # The local stack names its sink's base URL: that one, and only that one, may be reached.
    monkeypatch.setenv("RISKGATE_WEBHOOK_LOCAL_SINKS", "http://127.0.0.1:8025")
    forget_cached_ports()
    assert ok("POST", INTEGRATIONS, sink, 201)["config"]["url"] == "http://127.0.0.1:8025/webhook"
    other_port = {"name": "other", "type": "webhook", "config": {"url": "http://127.0.0.1:8026/x"}}
    assert call("POST", INTEGRATIONS, other_port)[0] == 422
    status, body = call("PATCH", f"{INTEGRATIONS}/sink", {"config": {"url": "http://127.0.0.1:9001/"}})
    assert (status, error_location(body)) == (422, ["body.config.url"])


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5",
        "https://[::1]",
        "https://0x7f000001",
        "https://2130706433",
        "https://metadata.google.internal",
        "https://0177.0.0.1/",
        "https://127.1/",
        "https://100.64.0.1/",
        "https://[fd00::1]/",
        "https://[::ffff:169.254.169.254]/",
    ],
)
def test_a_webhook_to_an_internal_address_is_refused_on_create_and_patch(dynamodb: Any, url: str) -> None:
    status, body = call("POST", INTEGRATIONS, integration("hook", "webhook", url=url))
    assert (status, error_location(body)) == (422, ["body.config.url"]), body
    ok("POST", INTEGRATIONS, integration("good", "webhook"), 201)
    status, body = call("PATCH", f"{INTEGRATIONS}/good", {"config": {"url": url}})
    assert (status, error_location(body)) == (422, ["body.config.url"]), body
    assert ok("GET", f"{INTEGRATIONS}/good")["config"]["url"] == EXAMPLES["webhook"]["url"]
    assert [i["name"] for i in ok("GET", INTEGRATIONS)["items"]] == ["good"]


# --- secrets --------------------------------------------------------------------------------------


def test_secrets_live_in_secrets_manager_and_in_no_answer_or_event(dynamodb: Any) -> None:
    answers = [
        ok("POST", INTEGRATIONS, integration("tg", "telegram"), 201),
        ok("POST", INTEGRATIONS, integration("hook", "webhook"), 201),
        ok("GET", f"{INTEGRATIONS}/tg"),
        ok("GET", INTEGRATIONS),
        ok("PATCH", f"{INTEGRATIONS}/tg", {"config": {"bot_token": NEW_BOT_TOKEN}}),
        ok("PATCH", f"{INTEGRATIONS}/hook", {"config": {"preset": "teams"}}),
    ]
    assert stored_secret("tg") == {"bot_token": NEW_BOT_TOKEN}
    assert stored_secret("hook") == {"secret": SIGNING_SECRET}
    ok("DELETE", f"{INTEGRATIONS}/hook", status=204)
    answers.append(ok("GET", "/v1/audit-events", query={"entity_type": "integration"}))
    assert len(answers[-1]["items"]) == 5
    for answer in answers:
        assert_no_secret_in(answer)
    # Nor in the table.
    item = dynamodb.get_item(TableName=TABLE_NAME, Key={"pk": {"S": "INTEGRATION#tg"}, "sk": {"S": "META"}})
    assert_no_secret_in(item["Item"])
    assert item["Item"]["secret_arn"]["S"].startswith("arn:aws:secretsmanager:")


def test_a_patch_merges_the_config_and_replaces_a_secret_only_when_sent(dynamodb: Any) -> None:
    ok("POST", INTEGRATIONS, integration("tg", "telegram"), 201)
    changed = ok("PATCH", f"{INTEGRATIONS}/tg", {"config": {"chat_id": "@riskgate_ops"}})
    assert (changed["config"], changed["has_secret"], changed["version"]) == (
        {"chat_id": "@riskgate_ops"},
        True,
        2,
    )
    assert store().read_secret("tg") == {"bot_token": BOT_TOKEN}

    changed = ok("PATCH", f"{INTEGRATIONS}/tg", {"config": {"bot_token": NEW_BOT_TOKEN}})
    assert (changed["config"], changed["version"]) == ({"chat_id": "@riskgate_ops"}, 3)
    assert store().read_secret("tg") == {"bot_token": NEW_BOT_TOKEN}
    update = events_of("tg")[0]
    assert update["before"]["secret_version"] != update["after"]["secret_version"]

    # A required secret cannot be removed; the type cannot change; nothing changed writes nothing.
    status, body = call("PATCH", f"{INTEGRATIONS}/tg", {"config": {"bot_token": None}})
    assert (status, error_location(body)) == (422, ["body.config.bot_token"])
    assert call("PATCH", f"{INTEGRATIONS}/tg", {"type": "email"})[0] == 422
    assert ok("PATCH", f"{INTEGRATIONS}/tg", {"config": {"chat_id": "@riskgate_ops"}})["version"] == 3
    assert ok("PATCH", f"{INTEGRATIONS}/tg", {})["version"] == 3
    assert [e["action"] for e in events_of("tg")] == ["update", "update", "create"]
    assert call("PATCH", f"{INTEGRATIONS}/nobody", {"config": {}})[0] == 404


def test_an_optional_secret_is_removed_with_null_and_can_come_back(dynamodb: Any) -> None:
    ok("POST", INTEGRATIONS, integration("hook", "webhook"), 201)
    removed = ok("PATCH", f"{INTEGRATIONS}/hook", {"config": {"secret": None, "template": None}})
    assert removed["has_secret"] is False
    assert "template" not in removed["config"]
    assert store().read_secret("hook") == {}
    assert secret_deleted("hook")

    back = ok("PATCH", f"{INTEGRATIONS}/hook", {"config": {"secret": SIGNING_SECRET + "-2"}})
    assert back["has_secret"] is True
    assert not secret_deleted("hook")
    assert store().read_secret("hook") == {"secret": SIGNING_SECRET + "-2"}


def test_deleting_schedules_the_secret_for_deletion_and_the_name_can_be_used_again(dynamodb: Any) -> None:
    ok("POST", INTEGRATIONS, integration("tg", "telegram"), 201)
    ok("DELETE", f"{INTEGRATIONS}/tg", status=204)
    assert secret_deleted("tg")
    again = ok("POST", INTEGRATIONS, integration("tg", "telegram", bot_token=NEW_BOT_TOKEN), 201)
    assert again["version"] == 1
    assert not secret_deleted("tg")
    assert store().read_secret("tg") == {"bot_token": NEW_BOT_TOKEN}


# --- access ---------------------------------------------------------------------------------------


def make_scope(name: str) -> str:
    scope_id: str = ok("POST", "/v1/scopes", {"name": name, "resources": [{"repository": f"{name}/*"}]}, 201)[
        "id"
    ]
    return scope_id


def test_an_integration_is_global_unless_created_in_a_scope_and_its_scope_is_fixed(dynamodb: Any) -> None:
    team_a = make_scope("team-a")
    assert ok("POST", INTEGRATIONS, integration("ops", "email"), 201)["scope"] == "global"
    created = ok("POST", INTEGRATIONS, {**integration("team-a-mail", "email"), "scope": team_a}, 201)
    assert created["scope"] == team_a
    assert ok("GET", f"{INTEGRATIONS}/team-a-mail")["scope"] == team_a
    # Fixed at creation, as name and type are.
    status, body = call("PATCH", f"{INTEGRATIONS}/team-a-mail", {"scope": "global"})
    assert (status, error_location(body)) == (422, ["body.scope"])
    status, body = call("POST", INTEGRATIONS, {**integration("x", "email"), "scope": "scp-0000000000000000"})
    assert (status, error_location(body)) == (422, ["body.scope"])
    assert events_of("x") == []


def test_an_item_stored_before_scopes_existed_counts_as_global(dynamodb: Any) -> None:
    ok("POST", INTEGRATIONS, integration("old", "email"), 201)
    dynamodb.update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": "INTEGRATION#old"}, "sk": {"S": "META"}},
        UpdateExpression="REMOVE #scope",
        ExpressionAttributeNames={"#scope": "scope"},
    )
    assert ok("GET", f"{INTEGRATIONS}/old")["scope"] == "global"
    team_a = make_scope("team-a")
    officer_a = [{"role": "security_officer", "scope": team_a}]
    assert call("GET", f"{INTEGRATIONS}/old", as_=officer_a)[0] == 404
    assert ok("GET", INTEGRATIONS, as_=officer_a)["items"] == []


def test_integrations_follow_the_scope_rules_of_response_policies(dynamodb: Any) -> None:
    team_a, team_b = make_scope("team-a"), make_scope("team-b")
    ok("POST", INTEGRATIONS, integration("ops", "email"), 201)
    ok("POST", INTEGRATIONS, {**integration("a-hook", "webhook"), "scope": team_a}, 201)
    ok("POST", INTEGRATIONS, {**integration("b-hook", "webhook"), "scope": team_b}, 201)
    officer_a = [{"role": "security_officer", "scope": team_a}]

    # Team A sees its own and nothing else: another scope's or a global one is not there for it (404).
    assert [i["name"] for i in ok("GET", INTEGRATIONS, as_=officer_a)["items"]] == ["a-hook"]
    assert ok("GET", f"{INTEGRATIONS}/a-hook", as_=officer_a)["scope"] == team_a
    for method, path, body in (
        ("GET", f"{INTEGRATIONS}/b-hook", None),
        ("GET", f"{INTEGRATIONS}/ops", None),
        ("PATCH", f"{INTEGRATIONS}/b-hook", {"config": {"preset": "teams"}}),
        ("DELETE", f"{INTEGRATIONS}/b-hook", None),
        ("POST", f"{INTEGRATIONS}/b-hook/test", None),
        ("GET", f"{INTEGRATIONS}/nobody", None),
    ):
        status, answer = call(method, path, body, as_=officer_a)
        assert status == 404, (method, path, answer)
        assert answer["error"]["message"] == f"integration {path.split('/')[3]} not found"
    # Creating elsewhere is refused (403), as is creating in global without scopes:global.
    for scope in (team_b, "global"):
        status, answer = call(
            "POST", INTEGRATIONS, {**integration("new", "email"), "scope": scope}, as_=officer_a
        )
        assert status == 403, answer
    assert "scopes:global" in answer["error"]["message"]
    # In its own scope, everything.
    ok("POST", INTEGRATIONS, {**integration("a-mail", "email"), "scope": team_a}, 201, as_=officer_a)
    assert (
        ok("PATCH", f"{INTEGRATIONS}/a-hook", {"config": {"preset": "teams"}}, as_=officer_a)["version"] == 2
    )
    ok("DELETE", f"{INTEGRATIONS}/a-mail", status=204, as_=officer_a)
    assert ok("GET", f"{INTEGRATIONS}/b-hook")["version"] == 1
    assert [e["action"] for e in events_of("b-hook")] == ["create"]

    # Reading needs integrations:read; managing global ones needs scopes:global too.
    assert call("GET", INTEGRATIONS, as_=[{"role": "developer", "scope": "global"}])[0] == 403
    auditor = [{"role": "auditor", "scope": "global"}]
    assert [i["name"] for i in ok("GET", INTEGRATIONS, as_=auditor)["items"]] == ["a-hook", "b-hook", "ops"]
    assert call("DELETE", f"{INTEGRATIONS}/ops", as_=auditor)[0] == 403
    ok(
        "POST",
        "/v1/roles",
        {"name": "integrator", "permissions": ["integrations:read", "integrations:manage"]},
        201,
    )
    integrator = [{"role": "integrator", "scope": "global"}]
    status, answer = call(
        "PATCH", f"{INTEGRATIONS}/ops", {"config": {"to": ["x@example.com"]}}, as_=integrator
    )
    assert status == 403
    assert "scopes:global" in answer["error"]["message"]
    assert (
        ok("PATCH", f"{INTEGRATIONS}/b-hook", {"config": {"preset": "teams"}}, as_=integrator)["version"] == 2
    )
    officer = [{"role": "security_officer", "scope": "global"}]
    assert (
        ok("PATCH", f"{INTEGRATIONS}/ops", {"config": {"to": ["x@example.com"]}}, as_=officer)["version"] == 2
    )
    assert len(events_of("ops")) == 2


def test_an_integration_is_a_use_of_its_scope(dynamodb: Any) -> None:
    team_a = make_scope("team-a")
    ok("POST", INTEGRATIONS, {**integration("a-hook", "webhook"), "scope": team_a}, 201)
    reference = dynamodb.get_item(
        TableName=TABLE_NAME, Key={"pk": {"S": f"USES#scope#{team_a}"}, "sk": {"S": "integration#a-hook"}}
    )
    assert reference["Item"]["referrer_name"]["S"] == "a-hook"

    status, body = call("DELETE", f"/v1/scopes/{team_a}")
    assert status == 409, body
    assert body["error"]["details"] == [{"type": "integration", "id": "a-hook", "name": "a-hook"}]

    ok("DELETE", f"{INTEGRATIONS}/a-hook", status=204)
    assert call("DELETE", f"/v1/scopes/{team_a}") == (204, None)


# --- test messages ----------------------------------------------------------------------------------


class FailingReceiver(BaseHTTPRequestHandler):
    """A webhook receiver with a bug: 500 to everything. Records what it was sent."""

    requests: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        FailingReceiver.requests.append((dict(self.headers.items()), body))
        answer = b"internal error"
        self.send_response(500)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def failing_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The receiver's URL; it may be reached (loopback, plain http) as the local stack's own sink is."""
    FailingReceiver.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingReceiver)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("RISKGATE_WEBHOOK_LOCAL_SINKS", base)
    forget_cached_ports()
    yield f"{base}/hook"
    server.shutdown()
    server.server_close()


def test_a_test_message_reaches_an_sns_topic_and_leaves_one_event(dynamodb: Any) -> None:
    # Given an SNS integration to a customer's topic, a queue subscribed to it
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name="security-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="customer-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    ok("POST", INTEGRATIONS, integration("alerts", "sns", topic_arn=topic_arn), 201)

    # When it is tested
    answer = ok("POST", f"{INTEGRATIONS}/alerts/test")

    # Then the test message was published, and the answer says so
    assert answer["integration"] == "alerts"
    assert answer["type"] == "sns"
    assert answer["delivered"] is True
    assert answer["error"] is None
    assert answer["retryable"] is False
    assert answer["detail"].startswith(f"published to {topic_arn} (SNS message ")
    (received,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(received["Body"])
    assert envelope["Subject"].startswith("[Riskgate] Test message for ")
    message = json.loads(envelope["Message"])
    assert message["type"] == "test"
    assert message["policy"] == {"name": "integration test (alerts)"}
    # And one audit event says what happened; nothing else was written
    (event,) = [e for e in events_of("alerts") if e["action"] == "test"]
    assert event["details"] == {key: value for key, value in answer.items() if value is not None}
    assert [e["action"] for e in events_of("alerts")] == ["test", "create"]
    assert ok("GET", "/v1/notifications")["items"] == []
    assert ok("GET", f"{INTEGRATIONS}/alerts")["version"] == 1


def test_a_test_email_goes_through_ses(dynamodb: Any) -> None:
    boto3.client("ses").verify_email_identity(EmailAddress="riskgate@example.com")
    ok("POST", INTEGRATIONS, integration("mail", "email"), 201)

    answer = ok("POST", f"{INTEGRATIONS}/mail/test")

    assert answer["delivered"] is True, answer
    assert (answer["type"], answer["error"]) == ("email", None)
    assert answer["detail"].startswith("e-mail sent to 2 recipients (SES message ")
    (sent,) = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    assert sent.source == "riskgate@example.com"
    assert sent.destinations == {"ToAddresses": ["secops@example.com", "oncall@example.com"]}
    assert sent.subject.startswith("[Riskgate] Test message for ")


def test_an_unverified_sender_is_a_permanent_failure_not_an_error(dynamodb: Any) -> None:
    ok("POST", INTEGRATIONS, integration("mail", "email"), 201)

    answer = ok("POST", f"{INTEGRATIONS}/mail/test")

    assert answer["delivered"] is False
    assert answer["retryable"] is False
    assert answer["error"].startswith("SES refused: MessageRejected")


def test_a_failing_webhook_is_a_200_saying_it_was_not_delivered_and_may_be_retried(
    dynamodb: Any, failing_webhook: str
) -> None:
    # Given a signed webhook whose receiver answers 500
    ok("POST", INTEGRATIONS, integration("hook", "webhook", url=failing_webhook, template=None), 201)

    # When it is tested
    status, answer = call("POST", f"{INTEGRATIONS}/hook/test")

    # Then the call worked (200) and says the delivery did not, with the status only, and that a retry
    # may help; nothing of the receiver's answer ("internal error")
    assert status == 200, answer
    assert answer["integration"] == "hook"
    assert answer["type"] == "webhook"
    assert answer["delivered"] is False
    assert answer["retryable"] is True
    assert answer["status"] == 500
    assert answer["error"] == "the webhook answered 500"
    assert "internal error" not in json.dumps(answer)
    assert answer["detail"]
    # The receiver got one signed test message (no retry), in the integration's preset's shape (Slack)
    ((headers, body),) = FailingReceiver.requests
    assert headers["X-Riskgate-Event"] == "test"
    assert headers["X-Riskgate-Signature"].startswith("sha256=")
    assert headers["X-Riskgate-Delivery"].startswith("test-")
    assert "blocks" in json.loads(body)
    # And one audit event holds the outcome, without the secret; no answer holds it either
    (event,) = [e for e in events_of("hook") if e["action"] == "test"]
    assert event["details"] == answer
    assert event["before"] is None
    assert event["after"] is None
    assert_no_secret_in(answer)
    assert_no_secret_in(events_of("hook"))


class ChattyReceiver(BaseHTTPRequestHandler):
    """A receiver that answers 200 with a body a probe would want to read."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = b"ami-id\ninstance-id\nsecret-internal-page"
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_delivered_test_says_the_status_and_nothing_of_the_answer(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChattyReceiver)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("RISKGATE_WEBHOOK_LOCAL_SINKS", base)
        forget_cached_ports()
        ok("POST", INTEGRATIONS, integration("hook", "webhook", url=f"{base}/hook", template=None), 201)

        answer = ok("POST", f"{INTEGRATIONS}/hook/test")
    finally:
        server.shutdown()
        server.server_close()

    assert answer == {
        "integration": "hook",
        "type": "webhook",
        "delivered": True,
        "status": 200,
        "detail": "the webhook answered 200",
        "error": None,
        "retryable": False,
    }
    (event,) = [e for e in events_of("hook") if e["action"] == "test"]
    assert "secret-internal-page" not in json.dumps(event)


def test_a_webhook_stored_with_an_internal_address_is_not_contacted_by_a_test(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, failing_webhook: str
) -> None:
    """Saved while the URL was allowed (here: as the sink; on AWS: a name that resolved elsewhere then),
    tested once it no longer is: refused before any connection, for good, and said in those words only."""
    ok("POST", INTEGRATIONS, integration("hook", "webhook", url=failing_webhook, template=None), 201)
    monkeypatch.delenv("RISKGATE_WEBHOOK_LOCAL_SINKS")
    forget_cached_ports()

    answer = ok("POST", f"{INTEGRATIONS}/hook/test")

    assert answer["delivered"] is False
    assert answer["retryable"] is False
    assert answer["status"] is None
    assert answer["error"] == "destination address not allowed"
    assert FailingReceiver.requests == []

    # A name that does not resolve (the resolver stands in: no test reaches the network): unreachable,
    # and not a word of why.
    def no_such_name(host: Any, *args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    dynamodb.update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": "INTEGRATION#hook"}, "sk": {"S": "META"}},
        UpdateExpression="SET config.#url = :url",
        ExpressionAttributeNames={"#url": "url"},
        ExpressionAttributeValues={":url": {"S": "https://unreachable.example.com/hook"}},
    )
    answer = ok("POST", f"{INTEGRATIONS}/hook/test")
    assert (answer["delivered"], answer["status"], answer["retryable"]) == (False, None, True)
    assert answer["error"] == "the webhook could not be reached"
    assert "Name or service" not in json.dumps(answer)


def test_testing_an_unknown_integration_is_404_and_leaves_no_event(dynamodb: Any) -> None:
    status, answer = call("POST", f"{INTEGRATIONS}/nobody/test")
    assert status == 404, answer
    assert events_of("nobody") == []


def test_testing_needs_integrations_manage_in_the_integrations_scope(dynamodb: Any) -> None:
    ok("POST", INTEGRATIONS, integration("mail", "email"), 201)
    team_a = make_scope("team-a")
    status, answer = call("POST", f"{INTEGRATIONS}/mail/test", as_=[{"role": "auditor", "scope": "global"}])
    assert status == 403, answer
    # A global integration does not exist for a caller bound in team-a only.
    status, answer = call(
        "POST", f"{INTEGRATIONS}/mail/test", as_=[{"role": "security_officer", "scope": team_a}]
    )
    assert status == 404, answer
    assert [e["action"] for e in events_of("mail")] == ["create"]
