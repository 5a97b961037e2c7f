"""The local API Gateway: HTTP in, API Gateway REST proxy events to stub handlers, their answers out."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from riskgate.clock import iso
from riskgate.resources import GATEWAY_ERROR_BODIES
from riskgate_local.gateway import (
    LOCAL_EXPIRY_CHECK_ROUTE,
    PROXY_RESOURCE,
    GatewayServer,
    RestApiGateway,
    authorizer_context,
    expiry_check_route,
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
class ExpiryChecks:
    """Stands in for the local stack's expiry check: answers as the checker does, keeps each `as_of`."""

    as_of: list[datetime | None] = field(default_factory=list)
    failure: Exception | None = None

    def __call__(self, as_of: datetime | None) -> dict[str, Any]:
        self.as_of.append(as_of)
        if self.failure is not None:
            raise self.failure
        return {"as_of": iso(as_of or datetime.now(UTC)), "due": 2, "expired": 1, "reminded": 1, "skipped": 0}


@dataclass
class Gateway:
    url: str
    api: Recorder
    authorizer: Recorder
    expiry_checks: ExpiryChecks

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
    expiry_checks = ExpiryChecks()
    server = GatewayServer(
        RestApiGateway(
            LocalFunction("test-api", api, timeout_seconds=29),
            LocalFunction("test-authorizer", authorizer, timeout_seconds=10),
            max_body_bytes=SMALL_LIMIT,
            local_routes={LOCAL_EXPIRY_CHECK_ROUTE: expiry_check_route(expiry_checks)},
        ),
        port=0,
    )
    url = server.start()
    yield Gateway(url, api, authorizer, expiry_checks)
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


# --- local routes ----------------------------------------------------------------------------------


def test_the_local_expiry_check_runs_for_the_time_given_without_a_token(gateway: Gateway) -> None:
    status, headers, body = gateway.call(
        "POST",
        "/_local/expiry-check",
        body=b'{"as_of": "2030-01-02T03:04:05+02:00"}',
        headers={"Content-Type": "application/json"},
        token=None,
    )

    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    assert gateway.expiry_checks.as_of == [datetime(2030, 1, 2, 1, 4, 5, tzinfo=UTC)]
    assert json.loads(body) == {
        "as_of": "2030-01-02T01:04:05.000000Z",
        "due": 2,
        "expired": 1,
        "reminded": 1,
        "skipped": 0,
    }
    # A local lever, not an API route: neither the authorizer nor the API sees it.
    assert gateway.authorizer.events == []
    assert gateway.api.events == []


@pytest.mark.parametrize("body", [None, b"", b"{}", b'{"as_of": null}'])
def test_the_local_expiry_check_without_a_time_runs_for_now(gateway: Gateway, body: bytes | None) -> None:
    status, _, answer = gateway.call("POST", "/_local/expiry-check", body=body, token=None)

    assert status == 200, answer
    assert gateway.expiry_checks.as_of == [None]
    assert set(json.loads(answer)) == {"as_of", "due", "expired", "reminded", "skipped"}


@pytest.mark.parametrize(
    ("body", "location"),
    [
        (b"not json", None),
        (b'["2030-01-02T03:04:05Z"]', None),
        (b'{"as_of": "yesterday"}', "as_of"),
        (b'{"as_of": "2030-01-02T03:04:05"}', "as_of"),  # no zone
        (b'{"as_of": 1893553445}', "as_of"),
    ],
)
def test_a_malformed_local_expiry_check_is_400_in_the_api_error_shape(
    gateway: Gateway, body: bytes, location: str | None
) -> None:
    status, headers, answer = gateway.call("POST", "/_local/expiry-check", body=body, token=None)

    assert status == 400
    assert headers["Content-Type"] == "application/json"
    error = json.loads(answer)["error"]
    assert error["code"] == "malformed_request"
    assert error["message"]
    assert [detail["location"] for detail in error["details"]] == ([location] if location else [])
    assert gateway.expiry_checks.as_of == []


def test_a_failing_local_expiry_check_is_500(gateway: Gateway) -> None:
    gateway.expiry_checks.failure = RuntimeError("table unreachable")

    status, _, body = gateway.call("POST", "/_local/expiry-check", body=b"{}", token=None)

    assert status == 500
    assert json.loads(body)["error"]["code"] == "internal_error"


def test_a_local_route_answers_only_its_method(gateway: Gateway) -> None:
    status, _, body = gateway.call("GET", "/_local/expiry-check", token=None)

    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"
    assert gateway.expiry_checks.as_of == []


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "PROPFIND", "BREW"])
def test_methods_the_api_does_not_serve_get_the_gateways_403_in_the_error_shape(
    gateway: Gateway, method: str
) -> None:
    """As API Gateway refuses them itself, before any route or authorizer (issue 10)."""
    for path in ("/v1/images", "/v1/health", "/nowhere"):
        status, headers, body = gateway.call(method, path)
        assert status == 403, (method, path)
        error = json.loads(body)["error"]
        assert error["code"] == "forbidden"
        assert method in error["message"]
        assert headers["Content-Type"] == "application/json"
    assert gateway.authorizer.events == []
    assert gateway.api.events == []


def test_head_is_answered_without_a_body(gateway: Gateway) -> None:
    # The health resource has a GET method only, as deployed: HEAD finds no method there.
    status, headers, body = gateway.call("HEAD", "/v1/health")
    assert status == 404
    assert body == b""
    assert int(headers["Content-Length"]) > 0  # the length the answer would have
