"""The Lambda authorizer against a moto table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskgate.adapters.dynamo import from_item, to_item
from riskgate.adapters.identity_items import new_token_id, token_item
from riskgate.adapters.store import Store, default_store
from riskgate.auth.tokens import generate_token, hash_token
from riskgate.domain.audit import FAILURE_SAMPLE_SLOTS, OTHER_ADDRESSES, PER_ADDRESS
from riskgate.handlers import authorizer
from riskgate.handlers.authorizer import handler
from riskgate.settings import get_settings
from tests.support.api_calls import ok
from tests.support.events import FakeLambdaContext

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/api/GET/v1/images"
ADDRESS = "203.0.113.9"
# Distinct addresses with their own events per minute in the aggregation tests (the default is 100).
CAP = 5
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


def authorizer_event(
    authorization: str | None, *, source_ip: str = ADDRESS, path: str = "/v1/images", request_id: str = "r-1"
) -> dict[str, Any]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/v1/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "queryStringParameters": {},
        "pathParameters": {"proxy": path.removeprefix("/v1/")},
        "stageVariables": {},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "stage": "api",
            "requestId": request_id,
            "identity": {"sourceIp": source_ip},
            "resourcePath": "/v1/{proxy+}",
            "httpMethod": "GET",
            "path": f"/api{path}",
        },
    }


def test_admin_token_is_allowed_with_its_bindings_in_the_context(store: Store) -> None:
    secret = generate_token()
    store.ensure_admin_token(secret)
    response = handler(authorizer_event(f"Bearer {secret}"), FakeLambdaContext())
    assert response["principalId"] == "admin"
    statement = response["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:abcdef1234/api/*/*"]
    assert json.loads(response["context"]["role_bindings"]) == [{"role": "administrator", "scope": "global"}]
    assert secret not in json.dumps(response)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer rg_unknownunknownunknownunknown",
        "Bearer not-a-token",
    ],
)
def test_missing_or_wrong_token_is_unauthorized(store: Store, authorization: str | None) -> None:
    store.ensure_admin_token(generate_token())
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(authorizer_event(authorization), FakeLambdaContext())


def put_token(
    dynamodb: Any, store: Store, secret: str, *, expires_at: str | None = None, revoked: bool = False
) -> None:
    item = token_item(
        token_id=new_token_id(),
        token_hash=hash_token(secret),
        user_id="admin",
        name="test",
        created_at="2026-01-01T00:00:00Z",
        expires_at=expires_at,
    )
    if revoked:
        item["revoked_at"] = "2026-01-02T00:00:00Z"
    dynamodb.put_item(TableName=store.table_name, Item=to_item(item))


def test_revoked_token_is_unauthorized(store: Store, dynamodb: Any) -> None:
    store.ensure_admin_token(generate_token())
    secret = generate_token()
    put_token(dynamodb, store, secret, revoked=True)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(authorizer_event(f"Bearer {secret}"), FakeLambdaContext())


def test_expired_token_and_disabled_user_are_unauthorized(store: Store, dynamodb: Any) -> None:
    secret = generate_token()
    store.ensure_admin_token(generate_token())
    put_token(dynamodb, store, secret, expires_at="2000-01-01T00:00:00Z")
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(authorizer_event(f"Bearer {secret}"), FakeLambdaContext())

    fresh = generate_token()
    put_token(dynamodb, store, fresh)
    assert handler(authorizer_event(f"Bearer {fresh}"), FakeLambdaContext())["principalId"] == "admin"
    dynamodb.update_item(
        TableName=store.table_name,
        Key={"pk": {"S": "USER#admin"}, "sk": {"S": "META"}},
        UpdateExpression="SET enabled = :f",
        ExpressionAttributeValues={":f": {"BOOL": False}},
    )
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(authorizer_event(f"Bearer {fresh}"), FakeLambdaContext())


def test_only_the_hash_is_stored(store: Store, dynamodb: Any) -> None:
    secret = generate_token()
    store.ensure_admin_token(secret)
    item = dynamodb.get_item(
        TableName=store.table_name, Key={"pk": {"S": f"TOKEN#{hash_token(secret)}"}, "sk": {"S": "TOKEN"}}
    )["Item"]
    assert secret not in json.dumps(item)


def test_tokens_never_reach_the_logs(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    # Given a valid and a guessed token, both used once
    secret = generate_token()
    store.ensure_admin_token(secret)
    guess = generate_token()
    handler(authorizer_event(f"Bearer {secret}"), FakeLambdaContext())
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(authorizer_event(f"Bearer {guess}"), FakeLambdaContext())
    # Then the structured logs said what happened, but never the secrets (record attributes included)
    output = "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert "authenticated" in output
    assert "authentication failed" in output
    assert secret not in output
    assert guess not in output
    assert hash_token(secret) not in output


# --- failed authentications are counted, not written one by one ---------------------------------------


class Clock:
    """The authorizer's `now`, held by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    held = Clock(datetime(2026, 3, 4, 12, 0, 5, tzinfo=UTC))
    monkeypatch.setattr(authorizer, "system_now", held)
    return held


@pytest.fixture
def capped(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RISKGATE_AUTH_FAILURE_ADDRESSES_PER_MINUTE", str(CAP))
    get_settings.cache_clear()
    store.ensure_admin_token(generate_token())
    yield
    get_settings.cache_clear()


def refuse(authorization: str | None = "Bearer not-a-token", **event: Any) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(authorizer_event(authorization, **event), FakeLambdaContext())


def failure_events() -> list[dict[str, Any]]:
    """The failed-authentication events as the API lists them, oldest first."""
    page = ok("GET", "/v1/audit-events", query={"entity_type": "authentication", "limit": "200"})
    assert page["next_token"] is None
    events: list[dict[str, Any]] = page["items"]
    return sorted(events, key=lambda event: (event["occurred_at"], event["id"]))


def failure_items(dynamodb: Any, store: Store) -> list[dict[str, Any]]:
    """The failed-authentication audit items in the table: each one is archived once, under Object Lock
    (the forwarder takes each INSERT of an audit item; the counting writes after it are MODIFYs)."""
    items = dynamodb.scan(TableName=store.table_name)["Items"]
    audit = [from_item(item) for item in items if item["pk"]["S"].startswith("AUDIT#")]
    return [item for item in audit if item.get("action") == "authentication.fail"]


def test_one_address_failing_50_times_in_a_minute_is_one_event_counting_50(
    capped: None, clock: Clock, dynamodb: Any, store: Store
) -> None:
    # Given 50 refused requests from one address within one minute, on many paths and for two reasons
    first = clock.now
    for number in range(50):
        clock.now = first + timedelta(seconds=number)
        authorization = "Bearer not-a-token" if number % 2 else None
        refuse(authorization, path=f"/v1/images/img-{number}", request_id=f"r-{number}")
    # Then the log holds one event for them, with the final count, the first and last times, the reasons,
    # a bounded sample of paths, and the first request's id and address
    [event] = failure_events()
    assert event["action"] == "authentication.fail"
    assert (event["actor"], event["source_ip"], event["request_id"]) == (None, ADDRESS, "r-0")
    details = event["details"]
    assert details["count"] == 50
    assert details["first_failure_at"] == event["occurred_at"] == "2026-03-04T12:00:05.000000Z"
    assert details["last_failure_at"] == "2026-03-04T12:00:54.000000Z"
    assert details["window_start"] == "2026-03-04T12:00:00.000000Z"
    assert details["aggregation"] == PER_ADDRESS
    assert details["reasons"] == ["no Authorization header", "not a Riskgate token"]
    assert 1 <= len(details["paths"]) <= FAILURE_SAMPLE_SLOTS
    assert all(path.startswith("GET /v1/images/img-") for path in details["paths"])
    # And the table holds that one audit item: one archived object for the 50 failures
    assert len(failure_items(dynamodb, store)) == 1


def test_failures_in_two_minutes_are_two_events(capped: None, clock: Clock) -> None:
    clock.now = datetime(2026, 3, 4, 12, 0, 59, 999_999, tzinfo=UTC)
    refuse()
    refuse()
    clock.now = datetime(2026, 3, 4, 12, 1, 0, tzinfo=UTC)
    refuse()
    events = failure_events()
    assert [(e["details"]["window_start"][11:16], e["details"]["count"]) for e in events] == [
        ("12:00", 2),
        ("12:01", 1),
    ]
    assert len({event["id"] for event in events}) == 2


def test_past_the_cap_of_addresses_a_minute_the_others_share_one_event(
    capped: None, clock: Clock, dynamodb: Any, store: Store
) -> None:
    # Given CAP + 5 addresses failing in one minute, the first CAP of them twice
    addresses = [f"198.51.100.{number}" for number in range(CAP + 5)]
    for address in addresses:
        refuse(source_ip=address)
    for address in addresses[:CAP]:
        refuse(source_ip=address)
    # Then there are CAP events of their own (each counting both failures) and one for the 5 others
    events = failure_events()
    own = [event for event in events if event["details"]["aggregation"] == PER_ADDRESS]
    assert sorted(event["source_ip"] for event in own) == sorted(addresses[:CAP])
    assert {event["details"]["count"] for event in own} == {2}
    [others] = [event for event in events if event["details"]["aggregation"] == OTHER_ADDRESSES]
    assert others["source_ip"] is None
    assert others["details"]["count"] == 5
    assert 1 <= len(others["details"]["addresses"]) <= FAILURE_SAMPLE_SLOTS
    assert set(others["details"]["addresses"]) <= set(addresses[CAP:])
    # And so the archive receives CAP + 1 events for the minute, whatever the number of addresses
    assert len(failure_items(dynamodb, store)) == CAP + 1
    # Even with many more addresses
    for number in range(20):
        refuse(source_ip=f"192.0.2.{number}")
    assert len(failure_items(dynamodb, store)) == CAP + 1
    assert [e["details"]["count"] for e in failure_events() if e["source_ip"] is None] == [25]


def test_a_failed_authentication_costs_at_most_two_writes(capped: None, clock: Clock) -> None:
    writes: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation in WRITES:
            writes.append(operation)

    default_store().client.meta.events.register("before-call.dynamodb", count)
    for scenario in range(3 * CAP):
        # A new address, a known one, and (past the cap) the other addresses' event
        writes.clear()
        refuse(source_ip=f"198.51.100.{scenario}")
        assert len(writes) <= 2, writes
        writes.clear()
        refuse(source_ip=f"198.51.100.{scenario}")
        assert len(writes) <= 2, writes


def test_no_own_events_when_the_cap_is_zero(
    store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKGATE_AUTH_FAILURE_ADDRESSES_PER_MINUTE", "0")
    get_settings.cache_clear()
    store.ensure_admin_token(generate_token())
    refuse(source_ip="198.51.100.1")
    refuse(source_ip="198.51.100.2")
    [event] = failure_events()
    assert (event["details"]["aggregation"], event["details"]["count"]) == (OTHER_ADDRESSES, 2)
    get_settings.cache_clear()
