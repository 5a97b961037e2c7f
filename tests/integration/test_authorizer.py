"""The Lambda authorizer against a moto table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from riskgate.adapters.dynamo import to_item
from riskgate.adapters.identity_items import new_token_id, token_item
from riskgate.adapters.store import Store
from riskgate.auth.tokens import generate_token, hash_token
from riskgate.handlers.authorizer import handler
from tests.support.events import FakeLambdaContext

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/api/GET/v1/images"


def authorizer_event(authorization: str | None) -> dict[str, Any]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/v1/{proxy+}",
        "path": "/v1/images",
        "httpMethod": "GET",
        "headers": headers,
        "queryStringParameters": {},
        "pathParameters": {"proxy": "images"},
        "stageVariables": {},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "stage": "api",
            "requestId": "r-1",
            "identity": {"sourceIp": "203.0.113.9"},
            "resourcePath": "/v1/{proxy+}",
            "httpMethod": "GET",
            "path": "/api/v1/images",
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
