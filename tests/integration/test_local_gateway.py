"""The local API Gateway: HTTP in, API Gateway REST proxy events to stub handlers, their answers out."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from riskgate.resources import GATEWAY_ERROR_BODIES
from riskgate_local.gateway import (
    PROXY_RESOURCE,
    GatewayServer,
    RestApiGateway,
    authorizer_context,
    method_arn,
    policy_allows,
)
from riskgate_local.lambdas import LocalFunction

TOKEN = "rg_test-token"
SMALL_LIMIT = 1024


def allow_all(event: dict[str, Any], context: Any) -> dict[str, Any]:
    api_arn = event["methodArn"].split("/", 1)[0]
    return {
        "principalId": "admin",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{api_arn}/*/*"}],
        },
        "context": {"user_id": "admin", "bindings": '[{"role":"administrator"}]', "level": 3, "human": True},
    }


def echo_api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"ok": True}),
    }


@dataclass
class Recorder:
    """Stands in for a handler: answers with `respond` and keeps every event it was given."""

    respond: Callable[[dict[str, Any], Any], Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        return self.respond(event, context)


@dataclass
class Gateway:
    url: str
    api: Recorder
    authorizer: Recorder

    def call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = TOKEN,
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    api = Recorder(echo_api)
    authorizer = Recorder(allow_all)
    server = GatewayServer(
        RestApiGateway(
            LocalFunction("test-api", api, timeout_seconds=29),
            LocalFunction("test-authorizer", authorizer, timeout_seconds=10),
            max_body_bytes=SMALL_LIMIT,
        ),
        port=0,
    )
    url = server.start()
    yield Gateway(url, api, authorizer)
    server.stop()


def test_a_public_route_reaches_the_api_without_the_authorizer(gateway: Gateway) -> None:
    status, _, body = gateway.call("GET", "/v1/health", token=None)

    assert status == 200
    assert json.loads(body) == {"ok": True}
    assert gateway.authorizer.events == []
    event = gateway.api.events[0]
    assert event["resource"] == "/v1/health"
    assert event["path"] == "/v1/health"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] is None
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    assert "authorizer" not in event["requestContext"]


def test_an_authorized_request_becomes_a_rest_proxy_event(gateway: Gateway) -> None:
    status, headers, _ = gateway.call(
        "POST",
        "/v1/scans?tag=a&tag=b&empty=",
        body=b'{"report": true}',
        headers={"Content-Type": "application/json", "X-Custom": "1"},
    )

    assert status == 200
    assert headers["x-amzn-RequestId"]
    event = gateway.api.events[0]
    assert event["resource"] == PROXY_RESOURCE
    assert event["pathParameters"] == {"proxy": "scans"}
    assert event["path"] == "/v1/scans"
    assert event["httpMethod"] == "POST"
    assert event["queryStringParameters"] == {"tag": "b", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "empty": [""]}
    assert event["headers"]["X-Custom"] == "1"
    assert event["multiValueHeaders"]["X-Custom"] == ["1"]
    assert event["stageVariables"] is None
    # binaryMediaTypes */*: every body arrives base64-encoded.
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b'{"report": true}'
    context = event["requestContext"]
    assert context["httpMethod"] == "POST"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["path"].endswith("/v1/scans")
    assert isinstance(context["requestTimeEpoch"], int)
    assert context["requestId"] == headers["x-amzn-RequestId"]
    # API Gateway hands every authorizer context value on as a string.
    authorizer = context["authorizer"]
    assert authorizer["principalId"] == "admin"
    assert authorizer["user_id"] == "admin"
    assert authorizer["bindings"] == '[{"role":"administrator"}]'
    assert authorizer["level"] == "3"
    assert authorizer["human"] == "true"
    assert gateway.api.contexts[0].function_name == "test-api"
    assert gateway.api.contexts[0].get_remaining_time_in_millis() > 0


def test_the_authorizer_gets_a_request_authorizer_event(gateway: Gateway) -> None:
    gateway.call("GET", "/v1/images?limit=5")

    event = gateway.authorizer.events[0]
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == method_arn("GET", "/v1/images")
    assert event["methodArn"].startswith("arn:aws:execute-api:us-east-1:")
    assert event["methodArn"].endswith("/GET/v1/images")
    assert event["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert event["queryStringParameters"] == {"limit": "5"}
    assert event["requestContext"]["httpMethod"] == "GET"
    assert "body" not in event


def test_no_authorization_header_is_refused_without_calling_the_authorizer(gateway: Gateway) -> None:
    status, headers, body = gateway.call("GET", "/v1/images", token=None)

    assert status == 401
    assert json.loads(body) == GATEWAY_ERROR_BODIES[401]
    assert headers["Content-Type"] == "application/json"
    assert headers["WWW-Authenticate"] == "Bearer"
    assert gateway.authorizer.events == []
    assert gateway.api.events == []


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/v2/images"), ("POST", "/v1/health")])
def test_a_path_without_a_method_is_404_from_the_gateway(gateway: Gateway, method: str, path: str) -> None:
    status, _, body = gateway.call(method, path, body=b"{}" if method == "POST" else None)

    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"
    assert gateway.authorizer.events == []
    assert gateway.api.events == []


def test_an_authorizer_failing_otherwise_means_500(gateway: Gateway) -> None:
    def crash(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("table unreachable")

    gateway.authorizer.respond = crash

    status, _, body = gateway.call("GET", "/v1/images")

    assert status == 500
    assert json.loads(body)["error"]["code"] == "internal_error"
    assert gateway.api.events == []


def test_an_authorizer_raising_unauthorized_means_401(gateway: Gateway) -> None:
    def refuse(event: dict[str, Any], context: Any) -> Any:
        raise Exception("Unauthorized")

    gateway.authorizer.respond = refuse

    status, _, body = gateway.call("GET", "/v1/images", token="rg_wrong")

    assert status == 401
    assert json.loads(body) == GATEWAY_ERROR_BODIES[401]
    assert gateway.api.events == []


def test_a_denying_policy_means_403(gateway: Gateway) -> None:
    def deny(event: dict[str, Any], context: Any) -> Any:
        allowed = allow_all(event, context)
        allowed["policyDocument"]["Statement"].append(
            {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": event["methodArn"]}
        )
        return allowed

    gateway.authorizer.respond = deny

    status, _, body = gateway.call("GET", "/v1/images")

    assert status == 403
    assert json.loads(body) == GATEWAY_ERROR_BODIES[403]
    assert gateway.api.events == []


def test_a_policy_allowing_another_method_only_means_403(gateway: Gateway) -> None:
    def allow_get_only(event: dict[str, Any], context: Any) -> Any:
        allowed = allow_all(event, context)
        allowed["policyDocument"]["Statement"][0]["Resource"] = event["methodArn"].replace("/POST/", "/GET/")
        return allowed

    gateway.authorizer.respond = allow_get_only

    status, _, _ = gateway.call("POST", "/v1/scans", body=b"{}")

    assert status == 403


def test_a_nested_authorizer_context_fails_as_on_aws(gateway: Gateway) -> None:
    def nested(event: dict[str, Any], context: Any) -> Any:
        return {**allow_all(event, context), "context": {"roles": ["administrator"]}}

    gateway.authorizer.respond = nested

    status, _, body = gateway.call("GET", "/v1/images")

    assert status == 500
    assert json.loads(body)["error"]["code"] == "internal_error"
    assert gateway.api.events == []


def test_a_body_over_the_gateway_limit_is_refused_with_413(gateway: Gateway) -> None:
    status, _, body = gateway.call("POST", "/v1/scans", body=b"x" * (SMALL_LIMIT + 1))

    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert gateway.authorizer.events == []
    assert gateway.api.events == []


def test_a_chunked_body_arrives_whole(gateway: Gateway) -> None:
    status, _, _ = gateway.call("POST", "/v1/scans", body=iter([b'{"a": ', b"1}"]))

    assert status == 200
    assert base64.b64decode(gateway.api.events[0]["body"]) == b'{"a": 1}'


def test_a_chunked_body_over_the_limit_is_refused_with_413(gateway: Gateway) -> None:
    chunks = iter([b"x" * 600, b"y" * 600])

    status, _, _ = gateway.call("POST", "/v1/scans", body=chunks)

    assert status == 413
    assert gateway.api.events == []


def test_an_exception_from_the_api_handler_is_a_502(gateway: Gateway) -> None:
    def crash(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    gateway.api.respond = crash

    status, _, body = gateway.call("GET", "/v1/images")

    assert status == 502
    assert json.loads(body)["error"]["code"] == "internal_error"


def test_a_malformed_proxy_response_is_a_502(gateway: Gateway) -> None:
    gateway.api.respond = lambda event, context: {"body": "no status"}

    status, _, _ = gateway.call("GET", "/v1/images")

    assert status == 502


def test_the_handlers_response_is_written_as_is(gateway: Gateway) -> None:
    gateway.api.respond = lambda event, context: {
        "statusCode": 201,
        "headers": {"Content-Type": "application/gzip", "X-Single": "a"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": base64.b64encode(b"\x1f\x8b binary").decode(),
        "isBase64Encoded": True,
    }

    status, headers, body = gateway.call("GET", "/v1/images")

    assert status == 201
    assert body == b"\x1f\x8b binary"
    assert headers["Content-Type"] == "application/gzip"
    assert headers["X-Single"] == "a"


@pytest.mark.parametrize(
    ("resource", "allowed"),
    [
        ("arn:aws:execute-api:us-east-1:123456789012:local/api/*/*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:local/api/GET/v1/*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:local/api/POST/*", False),
        ("arn:aws:execute-api:us-east-1:123456789012:local/api/GET/v1/image?", True),
        ("arn:aws:execute-api:us-east-1:123456789012:other/api/*/*", False),
    ],
)
def test_policy_resources_match_with_iam_wildcards(resource: str, allowed: bool) -> None:
    policy = {"Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}]}

    assert policy_allows(policy, method_arn("GET", "/v1/images")) is allowed


def test_an_explicit_deny_wins_over_an_allow() -> None:
    arn = method_arn("GET", "/v1/images")
    policy = {
        "Statement": [
            {"Action": "execute-api:*", "Effect": "Allow", "Resource": ["*"]},
            {"Action": ["execute-api:Invoke"], "Effect": "Deny", "Resource": arn},
        ]
    }

    assert policy_allows(policy, arn) is False


def test_the_authorizer_context_must_have_a_principal() -> None:
    with pytest.raises(ValueError, match="principalId"):
        authorizer_context({"policyDocument": {}}, latency_ms=1)
