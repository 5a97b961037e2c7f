"""Registry connections through the API handler against moto (DynamoDB, Secrets Manager, SQS): CRUD of
both types, validation naming the field, secrets kept in Secrets Manager and nowhere else, one audit
event per change, versions and unique names, account-wide access, the connection's events and state,
syncs queued once, and Harbor's webhook — its shared secret instead of a bearer token."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from riskgate.adapters.registries import RegistryStore
from riskgate.domain.errors import Conflict
from riskgate.handlers.api import handler
from tests.integration.conftest import TABLE_NAME, forget_cached_ports
from tests.support.api_calls import CONTEXT, call, ok
from tests.support.events import api_event, response_json
from tests.support.gateway import InProcessGateway

REGISTRIES = "/v1/registries"
ROBOT_SECRET = "robot-secret-0123456789-abcdef"
NEW_ROBOT_SECRET = "robot-secret-9876543210-fedcba"
WEBHOOK_SECRET = "webhook-shared-secret-0123456789"
SECRETS = (ROBOT_SECRET, NEW_ROBOT_SECRET, WEBHOOK_SECRET)

ECR = {"name": "prod-ecr", "type": "ecr", "config": {"account_id": "123456789012", "region": "eu-west-1"}}
HARBOR = {
    "name": "harbor",
    "type": "harbor",
    "config": {
        "url": "https://harbor.example.com/",
        "projects": ["library", "team-*"],
        "robot_name": "robot$riskgate",
        "robot_secret": ROBOT_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
    },
}
DIGEST = "sha256:" + "b" * 64
# Harbor's default payload of a finished scan (trimmed to what the webhook reads).
SCAN_COMPLETED = {
    "type": "SCANNING_COMPLETED",
    "occur_at": 1648715576,
    "operator": "auto",
    "event_data": {
        "resources": [
            {"digest": DIGEST, "tag": "3.8.1", "resource_url": "harbor.example.com/library/helm:3.8.1"}
        ],
        "repository": {"name": "helm", "namespace": "library", "repo_full_name": "library/helm"},
    },
}


def store() -> RegistryStore:
    return RegistryStore(TABLE_NAME, client=boto3.client("dynamodb"))


def with_config(base: dict[str, Any], **config: Any) -> dict[str, Any]:
    return {**base, "config": {**base["config"], **config}}


def error_location(body: Any) -> list[str]:
    return [detail.get("location") for detail in body["error"]["details"]]


def events_of(registry_id: str) -> list[dict[str, Any]]:
    query = {"entity_type": "registry", "entity_id": registry_id}
    items: list[dict[str, Any]] = ok("GET", "/v1/audit-events", query=query)["items"]
    return items


def stored_secret(registry_id: str) -> dict[str, Any]:
    answer = boto3.client("secretsmanager").get_secret_value(SecretId=f"riskgate/registries/{registry_id}")
    value: dict[str, Any] = json.loads(answer["SecretString"])
    return value


def assert_no_secret_in(answer: Any) -> None:
    text = json.dumps(answer)
    for secret in SECRETS:
        assert secret not in text
    # No place for one either (their names appear only as values, in `secrets_set`).
    assert '"robot_secret":' not in text
    assert '"webhook_secret":' not in text


@pytest.fixture
def queue(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The registry work queue (moto SQS), configured as the stack configures it."""
    url: str = boto3.client("sqs").create_queue(QueueName="riskgate-test-registry-work")["QueueUrl"]
    monkeypatch.setenv("RISKGATE_REGISTRY_WORK_QUEUE_URL", url)
    forget_cached_ports()
    return url


def queued(url: str) -> list[dict[str, Any]]:
    """Every message on the queue (received once: they stay invisible afterwards)."""
    messages: list[dict[str, Any]] = []
    sqs = boto3.client("sqs")
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        messages += [json.loads(message["Body"]) for message in batch]


# --- CRUD -----------------------------------------------------------------------------------------


def test_an_ecr_connection_is_created_read_listed_changed_and_deleted_with_one_event_each(
    dynamodb: Any,
) -> None:
    created = ok("POST", REGISTRIES, ECR, 201)
    registry_id = created["id"]
    assert registry_id.startswith("reg-")
    assert created["config"] == {
        "account_id": "123456789012",
        "region": "eu-west-1",
        "repositories": ["*"],
        "scans": ["basic", "enhanced"],
    }
    assert (created["type"], created["version"], created["secrets_set"]) == ("ecr", 1, [])
    assert created["state"] == {"last_event_at": None, "last_error": None, "events": {}, "sync": None}
    assert created["created_by"] == "admin"
    assert ok("GET", f"{REGISTRIES}/{registry_id}") == created
    assert [r["id"] for r in ok("GET", REGISTRIES)["items"]] == [registry_id]

    changed = ok(
        "PATCH",
        f"{REGISTRIES}/{registry_id}",
        {"name": "ecr-main", "config": {"repositories": ["team-a/*"], "scans": ["enhanced"]}},
    )
    assert (changed["name"], changed["version"]) == ("ecr-main", 2)
    assert changed["config"]["repositories"] == ["team-a/*"]
    assert changed["config"]["scans"] == ["enhanced"]
    # null goes back to the default; nothing changed writes nothing
    assert ok("PATCH", f"{REGISTRIES}/{registry_id}", {"config": {"scans": None}})["config"]["scans"] == [
        "basic",
        "enhanced",
    ]
    assert ok("PATCH", f"{REGISTRIES}/{registry_id}", {"config": {"region": "eu-west-1"}})["version"] == 3
    assert ok("PATCH", f"{REGISTRIES}/{registry_id}", {})["version"] == 3

    assert call("DELETE", f"{REGISTRIES}/{registry_id}") == (204, None)
    assert call("GET", f"{REGISTRIES}/{registry_id}")[0] == 404
    assert call("DELETE", f"{REGISTRIES}/{registry_id}")[0] == 404
    assert ok("GET", REGISTRIES)["items"] == []
    assert [e["action"] for e in events_of(registry_id)] == ["delete", "update", "update", "create"]


def test_the_list_pages_by_name(dynamodb: Any) -> None:
    for name in ("c-ecr", "a-ecr", "b-ecr"):
        ok("POST", REGISTRIES, {**ECR, "name": name}, 201)
    first = ok("GET", REGISTRIES, query={"limit": "2"})
    assert first["next_token"]
    second = ok("GET", REGISTRIES, query={"limit": "2", "next_token": first["next_token"]})
    assert [r["name"] for r in first["items"] + second["items"]] == ["a-ecr", "b-ecr", "c-ecr"]


def test_a_harbor_url_loses_its_trailing_slash_and_http_needs_an_insecure_host(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = ok("POST", REGISTRIES, HARBOR, 201)
    assert created["config"] == {
        "url": "https://harbor.example.com",
        "projects": ["library", "team-*"],
        "robot_name": "robot$riskgate",
    }
    local = with_config(HARBOR, url="http://127.0.0.1:8099")
    status, body = call("POST", REGISTRIES, {**local, "name": "local"})
    assert (status, error_location(body)) == (422, ["body.config.url"])
    monkeypatch.setenv("RISKGATE_REGISTRY_INSECURE_HOSTS", "127.0.0.1")
    forget_cached_ports()
    assert ok("POST", REGISTRIES, {**local, "name": "local"}, 201)["config"]["url"] == "http://127.0.0.1:8099"


@pytest.mark.parametrize(
    ("body", "location"),
    [
        (with_config(ECR, account_id="12345"), "body.config.account_id"),
        (with_config(ECR, account_id=123456789012), "body.config.account_id"),
        (with_config(ECR, region="Europe"), "body.config.region"),
        (with_config(ECR, repositories=[]), "body.config.repositories"),
        (with_config(ECR, repositories=["ok/*", "has space"]), "body.config.repositories[1]"),
        (with_config(ECR, scans=["basic", "deep"]), "body.config.scans[1]"),
        (with_config(ECR, scans=[]), "body.config.scans"),
        (with_config(ECR, tags=["x"]), "body.config.tags"),
        ({**ECR, "config": {"region": "eu-west-1"}}, "body.config.account_id"),
        (with_config(HARBOR, url="http://harbor.example.com"), "body.config.url"),
        (with_config(HARBOR, url="https://user:pw@harbor.example.com"), "body.config.url"),
        (with_config(HARBOR, url="https://harbor.example.com/?x=1"), "body.config.url"),
        (with_config(HARBOR, url="https://harbor.example.com/#top"), "body.config.url"),
        (with_config(HARBOR, url="not a url"), "body.config.url"),
        (with_config(HARBOR, robot_secret=None), "body.config.robot_secret"),
        (with_config(HARBOR, webhook_secret="short"), "body.config.webhook_secret"),
        (with_config(HARBOR, robot_name="robot:x"), "body.config.robot_name"),
        (with_config(HARBOR, projects="library"), "body.config.projects"),
        ({"name": "q", "type": "quay", "config": {}}, "body.type"),
        ({**ECR, "name": "has space"}, "body.name"),
    ],
)
def test_invalid_connections_are_422_naming_the_field(
    dynamodb: Any, body: dict[str, Any], location: str
) -> None:
    status, answer = call("POST", REGISTRIES, body)
    assert status == 422, answer
    assert location in error_location(answer)
    assert_no_secret_in(answer)
    assert ok("GET", REGISTRIES)["items"] == []


def test_a_patch_is_checked_as_a_create_and_cannot_change_the_type(dynamodb: Any) -> None:
    registry_id = ok("POST", REGISTRIES, HARBOR, 201)["id"]
    for changes, location in (
        ({"config": {"url": "ftp://harbor.example.com"}}, "body.config.url"),
        ({"config": {"webhook_secret": None}}, "body.config.webhook_secret"),
        ({"config": {"webhook_secret": "too-short"}}, "body.config.webhook_secret"),
        ({"config": {"account_id": "123456789012"}}, "body.config.account_id"),
        ({"type": "ecr"}, "body.type"),
        ({"name": None}, "body.name"),
    ):
        status, answer = call("PATCH", f"{REGISTRIES}/{registry_id}", changes)
        assert (status, error_location(answer)) == (422, [location]), (changes, answer)
    assert ok("GET", f"{REGISTRIES}/{registry_id}")["version"] == 1
    assert call("PATCH", f"{REGISTRIES}/reg-0000000000000000", {"config": {}})[0] == 404


# --- secrets --------------------------------------------------------------------------------------


def test_secrets_live_in_secrets_manager_and_in_no_answer_event_or_item(dynamodb: Any) -> None:
    created = ok("POST", REGISTRIES, HARBOR, 201)
    registry_id = created["id"]
    assert created["secrets_set"] == ["robot_secret", "webhook_secret"]
    assert stored_secret(registry_id) == {"robot_secret": ROBOT_SECRET, "webhook_secret": WEBHOOK_SECRET}

    # A new robot secret alone: the webhook secret stays.
    changed = ok("PATCH", f"{REGISTRIES}/{registry_id}", {"config": {"robot_secret": NEW_ROBOT_SECRET}})
    assert (changed["version"], changed["secrets_set"]) == (2, ["robot_secret", "webhook_secret"])
    assert store().read_secret(registry_id) == {
        "robot_secret": NEW_ROBOT_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
    }
    update = events_of(registry_id)[0]
    assert update["before"]["secret_version"] != update["after"]["secret_version"]

    answers = [created, changed, ok("GET", f"{REGISTRIES}/{registry_id}"), ok("GET", REGISTRIES)]
    answers.append(ok("GET", "/v1/audit-events", query={"entity_type": "registry"}))
    for answer in answers:
        assert_no_secret_in(answer)
    item = dynamodb.get_item(
        TableName=TABLE_NAME, Key={"pk": {"S": f"REGISTRY#{registry_id}"}, "sk": {"S": "META"}}
    )
    assert_no_secret_in(item["Item"])
    assert item["Item"]["secret_arn"]["S"].startswith("arn:aws:secretsmanager:")

    ok("DELETE", f"{REGISTRIES}/{registry_id}", status=204)
    described = boto3.client("secretsmanager").describe_secret(SecretId=f"riskgate/registries/{registry_id}")
    assert "DeletedDate" in described


def test_a_name_is_unique_and_a_refused_create_leaves_no_secret(dynamodb: Any) -> None:
    first = ok("POST", REGISTRIES, HARBOR, 201)
    status, body = call("POST", REGISTRIES, HARBOR)
    assert (status, error_location(body)) == (409, ["body.name"])
    secrets = boto3.client("secretsmanager").list_secrets()["SecretList"]
    assert [s["Name"] for s in secrets if "/registries/" in s["Name"]] == [
        f"riskgate/registries/{first['id']}"
    ]
    # A rename onto a taken name too; the name is free again once its connection is gone.
    other = ok("POST", REGISTRIES, ECR, 201)
    status, body = call("PATCH", f"{REGISTRIES}/{other['id']}", {"name": "harbor"})
    assert (status, error_location(body)) == (409, ["body.name"])
    ok("DELETE", f"{REGISTRIES}/{first['id']}", status=204)
    assert ok("PATCH", f"{REGISTRIES}/{other['id']}", {"name": "harbor"})["name"] == "harbor"


def test_changes_follow_if_match(dynamodb: Any) -> None:
    registry_id = ok("POST", REGISTRIES, ECR, 201)["id"]
    status, body = call("PATCH", f"{REGISTRIES}/{registry_id}", {"name": "x"}, headers={"If-Match": '"2"'})
    assert status == 409, body
    assert (
        ok("PATCH", f"{REGISTRIES}/{registry_id}", {"name": "x"}, headers={"If-Match": "1"})["version"] == 2
    )
    assert call("DELETE", f"{REGISTRIES}/{registry_id}", headers={"If-Match": "1"})[0] == 409
    assert call("DELETE", f"{REGISTRIES}/{registry_id}", headers={"If-Match": "2"}) == (204, None)


# --- access ---------------------------------------------------------------------------------------


def test_connections_belong_to_the_whole_account(dynamodb: Any) -> None:
    registry_id = ok("POST", REGISTRIES, ECR, 201)["id"]
    team_a = ok("POST", "/v1/scopes", {"name": "team-a", "resources": [{"repository": "team-a/*"}]}, 201)[
        "id"
    ]
    officer_a = [{"role": "security_officer", "scope": team_a}]
    for method, path, body in (
        ("GET", REGISTRIES, None),
        ("GET", f"{REGISTRIES}/{registry_id}", None),
        ("GET", f"{REGISTRIES}/{registry_id}/events", None),
        ("POST", REGISTRIES, {**ECR, "name": "mine"}),
        ("PATCH", f"{REGISTRIES}/{registry_id}", {"name": "mine"}),
        ("DELETE", f"{REGISTRIES}/{registry_id}", None),
        ("POST", f"{REGISTRIES}/{registry_id}/sync", None),
    ):
        status, answer = call(method, path, body, as_=officer_a)
        assert status == 403, (method, path, answer)
        assert "global scope" in answer["error"]["message"]
    # Without the permission at all: 403 naming it.
    status, answer = call("GET", REGISTRIES, as_=[{"role": "developer", "scope": "global"}])
    assert status == 403
    assert "registries:read" in answer["error"]["message"]
    # An auditor reads, and changes nothing; a security officer in global manages.
    auditor = [{"role": "auditor", "scope": "global"}]
    assert [r["id"] for r in ok("GET", REGISTRIES, as_=auditor)["items"]] == [registry_id]
    assert call("DELETE", f"{REGISTRIES}/{registry_id}", as_=auditor)[0] == 403
    officer = [{"role": "security_officer", "scope": "global"}]
    assert ok("PATCH", f"{REGISTRIES}/{registry_id}", {"name": "main"}, as_=officer)["version"] == 2
    assert [e["action"] for e in events_of(registry_id)] == ["update", "create"]


# --- events and state -----------------------------------------------------------------------------


def test_a_connections_events_are_listed_newest_first_and_counted_in_its_state(dynamodb: Any) -> None:
    registry_id = ok("POST", REGISTRIES, ECR, 201)["id"]
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@" + DIGEST
    store().record_event(registry_id, "imported", at=start, message="scan imported", image=image, error=False)
    store().record_event(
        registry_id, "scan_failed", at=start + timedelta(minutes=1), message="the scan failed", error=True
    )
    store().record_event(
        registry_id, "imported", at=start + timedelta(minutes=2), message="scan imported", error=False
    )

    first = ok("GET", f"{REGISTRIES}/{registry_id}/events", query={"limit": "2"})
    second = ok(
        "GET", f"{REGISTRIES}/{registry_id}/events", query={"limit": "2", "next_token": first["next_token"]}
    )
    listed = first["items"] + second["items"]
    assert [e["kind"] for e in listed] == ["imported", "scan_failed", "imported"]
    assert listed[1] == {
        "at": "2026-03-01T12:01:00.000000Z",
        "kind": "scan_failed",
        "message": "the scan failed",
        "image": None,
        "error": True,
    }
    assert listed[2]["image"] == image
    state = ok("GET", f"{REGISTRIES}/{registry_id}")["state"]
    assert state["events"] == {"imported": 2, "scan_failed": 1}
    assert state["last_event_at"] == "2026-03-01T12:02:00.000000Z"
    assert state["last_error"] == {
        "at": "2026-03-01T12:01:00.000000Z",
        "message": "the scan failed",
        "image": None,
    }
    # Events expire through the table's TTL.
    item = dynamodb.query(
        TableName=TABLE_NAME,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :events)",
        ExpressionAttributeValues={":pk": {"S": f"REGISTRY#{registry_id}"}, ":events": {"S": "EVENT#"}},
    )["Items"][0]
    assert int(item["expires_at_epoch"]["N"]) == int((start + timedelta(days=90)).timestamp())
    # Recording events is no change of the connection: no version, no audit event.
    assert ok("GET", f"{REGISTRIES}/{registry_id}")["version"] == 1
    assert len(events_of(registry_id)) == 1
    assert call("GET", f"{REGISTRIES}/reg-0000000000000000/events")[0] == 404


def test_markers_accept_only_newer_scans(dynamodb: Any) -> None:
    registry_id = ok("POST", REGISTRIES, ECR, 201)["id"]
    registries = store()
    assert registries.seen_scan(registry_id, "ecr", DIGEST) is None
    assert registries.mark_seen(registry_id, "ecr", DIGEST, "2026-03-01T12:00:00Z") is True
    assert registries.mark_seen(registry_id, "ecr", DIGEST, "2026-03-01T12:00:00+00:00") is False  # the same
    assert registries.mark_seen(registry_id, "ecr", DIGEST, datetime(2026, 3, 1, 11, tzinfo=UTC)) is False
    assert registries.mark_seen(registry_id, "ecr", DIGEST, datetime(2026, 3, 2, tzinfo=UTC)) is True
    assert registries.seen_scan(registry_id, "ecr", DIGEST) == "2026-03-02T00:00:00.000000Z"
    assert registries.seen_scan(registry_id, "inspector", DIGEST) is None


def test_deleting_a_connection_deletes_its_state(dynamodb: Any) -> None:
    registry_id = ok("POST", REGISTRIES, ECR, 201)["id"]
    store().record_event(registry_id, "imported", at=datetime.now(UTC), message="m", error=False)
    ok("DELETE", f"{REGISTRIES}/{registry_id}", status=204)
    state = dynamodb.get_item(
        TableName=TABLE_NAME, Key={"pk": {"S": f"REGISTRY#{registry_id}"}, "sk": {"S": "STATE"}}
    )
    assert "Item" not in state
    assert store().list_all() == []


# --- syncs ----------------------------------------------------------------------------------------


def test_a_sync_queues_one_message_and_a_second_one_waits_for_it(dynamodb: Any, queue: str) -> None:
    registry_id = ok("POST", REGISTRIES, ECR, 201)["id"]

    job = ok("POST", f"{REGISTRIES}/{registry_id}/sync", status=202)
    assert job["registry_id"] == registry_id
    assert job["job_id"].startswith("job-")
    assert job["state"] == "running"
    assert queued(queue) == [
        {"kind": "sync", "registry_id": registry_id, "job_id": job["job_id"], "cursor": None}
    ]
    sync = ok("GET", f"{REGISTRIES}/{registry_id}")["state"]["sync"]
    assert (sync["job_id"], sync["state"], sync["images_seen"]) == (job["job_id"], "running", 0)
    (event, _) = events_of(registry_id)
    assert (event["action"], event["details"]) == ("sync", {"job_id": job["job_id"]})

    status, answer = call("POST", f"{REGISTRIES}/{registry_id}/sync")
    assert status == 409, answer
    assert queued(queue) == []
    assert len(events_of(registry_id)) == 2

    # The ingester's pages and its end; then another sync may start.
    registries = store()
    assert registries.sync_progress(registry_id, job["job_id"], seen=50, imported=3, cursor="page-2")
    assert registries.sync_progress(registry_id, job["job_id"], seen=7, imported=1, cursor=None)
    assert not registries.sync_progress(registry_id, "job-other", seen=1, imported=1, cursor=None)
    assert registries.finish_sync(registry_id, job["job_id"], "done", datetime.now(UTC))
    assert not registries.finish_sync(registry_id, job["job_id"], "failed", datetime.now(UTC), error="late")
    sync = ok("GET", f"{REGISTRIES}/{registry_id}")["state"]["sync"]
    assert (sync["state"], sync["images_seen"], sync["images_imported"]) == ("done", 57, 4)
    assert sync["finished_at"]
    assert sync["cursor"] is None
    again = ok("POST", f"{REGISTRIES}/{registry_id}/sync", status=202)
    assert [m["job_id"] for m in queued(queue)] == [again["job_id"]]


def test_a_sync_running_for_over_an_hour_no_longer_blocks_another(dynamodb: Any) -> None:
    registry_id = ok("POST", REGISTRIES, ECR, 201)["id"]
    registries = store()
    started = datetime(2026, 3, 1, 12, tzinfo=UTC)
    registries.start_sync(registry_id, "job-1", started)
    with pytest.raises(Conflict):
        registries.start_sync(registry_id, "job-2", started + timedelta(minutes=59))
    assert registries.start_sync(registry_id, "job-3", started + timedelta(minutes=61))["job_id"] == "job-3"
    assert registries.get_state(registry_id)["sync"]["job_id"] == "job-3"


def test_a_sync_of_an_unknown_connection_is_404_and_without_a_queue_503(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RISKGATE_REGISTRY_WORK_QUEUE_URL", raising=False)
    forget_cached_ports()
    registry_id = ok("POST", REGISTRIES, ECR, 201)["id"]
    status, answer = call("POST", f"{REGISTRIES}/{registry_id}/sync")
    assert status == 503, answer
    assert answer["error"]["code"] == "service_unavailable"
    assert "queue is not configured" in answer["error"]["message"]
    assert ok("GET", f"{REGISTRIES}/{registry_id}")["state"]["sync"] is None
    monkeypatch.setenv("RISKGATE_REGISTRY_WORK_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/nothing")
    forget_cached_ports()
    assert call("POST", f"{REGISTRIES}/reg-0000000000000000/sync")[0] == 404


# --- Harbor's webhook -----------------------------------------------------------------------------


def webhook(registry_id: str, body: Any, authorization: str | None = WEBHOOK_SECRET) -> tuple[int, Any]:
    """Harbor's request: no authorizer context (the route has no bearer token), its own header."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": authorization} if authorization is not None else {}
    event = api_event(
        "POST", f"{REGISTRIES}/{registry_id}/webhook", body=raw, headers=headers, authorized=False
    )
    response = handler(event, CONTEXT)
    return response["statusCode"], response_json(response) if response.get("body") else None


def failed_authentications() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok("GET", "/v1/audit-events", query={"entity_type": "authentication"})[
        "items"
    ]
    return items


def test_a_webhook_with_the_right_secret_is_queued_and_counted(dynamodb: Any, queue: str) -> None:
    registry_id = ok("POST", REGISTRIES, HARBOR, 201)["id"]

    assert webhook(registry_id, SCAN_COMPLETED) == (202, {"accepted": True, "type": "SCANNING_COMPLETED"})
    assert webhook(registry_id, SCAN_COMPLETED, f"Bearer {WEBHOOK_SECRET}")[0] == 202

    message = {"kind": "harbor", "registry_id": registry_id, "event": SCAN_COMPLETED}
    assert queued(queue) == [message, message]
    state = ok("GET", f"{REGISTRIES}/{registry_id}")["state"]
    assert state["events"] == {"received": 2}
    assert state["last_event_at"]
    assert failed_authentications() == []


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "no Authorization header"),
        ("", "no Authorization header"),
        ("webhook-shared-secret-012345678", "wrong webhook secret"),
        (f"Basic {WEBHOOK_SECRET}", "wrong webhook secret"),
        (ROBOT_SECRET, "wrong webhook secret"),
    ],
)
def test_a_webhook_without_the_secret_is_401_queues_nothing_and_is_a_failed_authentication(
    dynamodb: Any, queue: str, authorization: str | None, reason: str
) -> None:
    registry_id = ok("POST", REGISTRIES, HARBOR, 201)["id"]

    status, answer = webhook(registry_id, SCAN_COMPLETED, authorization)

    assert status == 401, answer
    assert answer["error"]["code"] == "unauthorized"
    assert WEBHOOK_SECRET not in json.dumps(answer)
    assert queued(queue) == []
    (failure,) = failed_authentications()
    assert failure["action"] == "authentication.fail"
    assert failure["source_ip"] == "203.0.113.7"
    assert failure["details"]["reasons"] == [reason]
    assert failure["details"]["paths"] == [f"POST {REGISTRIES}/{registry_id}/webhook"]
    assert ok("GET", f"{REGISTRIES}/{registry_id}")["state"]["events"] == {}


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b"\xff\xfe", b"[]", b'{"type": "SCANNING_COMPLETED"}', b'{"specversion": "1.0"}'],
)
def test_a_body_that_is_not_a_harbor_event_is_400(dynamodb: Any, queue: str, body: bytes) -> None:
    registry_id = ok("POST", REGISTRIES, HARBOR, 201)["id"]
    status, answer = webhook(registry_id, body)
    assert status == 400, answer
    assert answer["error"]["code"] == "malformed_request"
    assert queued(queue) == []


def test_a_webhook_too_large_for_a_harbor_event_is_413(dynamodb: Any, queue: str) -> None:
    registry_id = ok("POST", REGISTRIES, HARBOR, 201)["id"]
    padded = {**SCAN_COMPLETED, "operator": "x" * 70_000}
    assert webhook(registry_id, padded)[0] == 413
    assert queued(queue) == []


def test_a_webhook_for_no_harbor_connection_is_404_and_says_nothing_else(dynamodb: Any, queue: str) -> None:
    ecr_id = ok("POST", REGISTRIES, ECR, 201)["id"]
    for registry_id in ("reg-0000000000000000", ecr_id):
        status, answer = webhook(registry_id, SCAN_COMPLETED)
        assert status == 404, answer
        assert answer["error"]["message"] == f"registry connection {registry_id} not found"
    assert queued(queue) == []
    assert failed_authentications() == []


def test_the_webhook_without_a_queue_is_503_once_it_is_authenticated(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RISKGATE_REGISTRY_WORK_QUEUE_URL", raising=False)
    forget_cached_ports()
    registry_id = ok("POST", REGISTRIES, HARBOR, 201)["id"]
    assert webhook("reg-0000000000000000", SCAN_COMPLETED)[0] == 404
    assert webhook(registry_id, SCAN_COMPLETED, "wrong")[0] == 401
    status, answer = webhook(registry_id, SCAN_COMPLETED)
    assert status == 503, answer
    assert answer["error"]["code"] == "service_unavailable"
    assert ok("GET", f"{REGISTRIES}/{registry_id}")["state"]["events"] == {}


def test_through_the_gateway_only_the_webhook_answers_without_a_bearer_token(
    dynamodb: Any, queue: str
) -> None:
    """The local gateway stands for API Gateway: the webhook's resource has no authorizer, every other
    path of the registries still has it."""
    gateway = InProcessGateway()
    registry_id = ok("POST", REGISTRIES, HARBOR, 201)["id"]
    webhook_path = f"{REGISTRIES}/{registry_id}/webhook"

    accepted = gateway.send(
        "POST", webhook_path, body=SCAN_COMPLETED, headers={"Authorization": WEBHOOK_SECRET}
    )
    assert (accepted.status, accepted.body) == (202, {"accepted": True, "type": "SCANNING_COMPLETED"})
    assert len(queued(queue)) == 1
    refused = gateway.send("POST", webhook_path, body=SCAN_COMPLETED, headers={"Authorization": "Bearer x"})
    assert (refused.status, refused.body["error"]["code"]) == (401, "unauthorized")
    # Another method on the webhook's resource: none (API Gateway's own 404).
    assert gateway.send("GET", webhook_path).status == 404
    for method, path in (
        ("GET", REGISTRIES),
        ("GET", f"{REGISTRIES}/{registry_id}"),
        ("GET", f"{REGISTRIES}/{registry_id}/events"),
        ("POST", f"{REGISTRIES}/{registry_id}/sync"),
    ):
        reply = gateway.send(method, path, headers={"Authorization": WEBHOOK_SECRET})
        assert reply.status == 401, (method, path, reply.body)
    assert queued(queue) == []
