"""API Gateway (REST API, Lambda proxy integration, REQUEST authorizer) in front of the handlers.

`RestApiGateway` turns an HTTP request into the events API Gateway sends and the handler's answer
back into HTTP; `GatewayServer` serves it with the standard library's threading HTTP server.
What API Gateway answers by itself (no token, refused token, too large, a broken integration) it
answers here too, so the handlers meet locally exactly the cases they meet on AWS.

Besides the API, the local gateway serves a few *local routes* under `/_local/` (no authorizer, no
counterpart on AWS): levers for what AWS does on its own, e.g. `POST /_local/expiry-check` runs the
expiry checker as its schedule would, for a given time, and windows on what AWS would deliver elsewhere,
e.g. `GET /_local/outbox` lists the notifications sent (e-mail in moto's SES, the local sink's requests).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, unquote

from riskgate.clock import parse_iso
from riskgate.resources import API_STAGE, GATEWAY_ERROR_BODIES, GATEWAY_MAX_BODY_BYTES, PUBLIC_ROUTES
from riskgate_local.aws import ACCOUNT_ID, REGION
from riskgate_local.lambdas import LocalFunction

logger = logging.getLogger(__name__)

# The resources of the deployed API (riskgate_infra.constructs.api): every public route has one of its
# own, without the authorizer (a `{name}` segment of its path matches any one segment); everything else
# under /v1 goes through the authorizer first. No other path has a method, and API Gateway answers those
# itself (404 there).
PROXY_PARENT = "/v1"
PROXY_RESOURCE = PROXY_PARENT + "/{proxy+}"
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")
# What the local API calls itself in ARNs and request contexts; the stage is the deployed one's.
API_ID = "local"
STAGE = API_STAGE


@dataclass(frozen=True)
class HttpRequest:
    method: str
    # The request target as sent: path and query string, still percent-encoded.
    target: str
    # Every header line, in order, duplicates included.
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


# A local route: the request in, the answer out, nothing of API Gateway in between.
LocalRoute = Callable[[HttpRequest], HttpResponse]
LOCAL_ROUTE_PREFIX = "/_local/"
LOCAL_EXPIRY_CHECK_ROUTE = ("POST", LOCAL_ROUTE_PREFIX + "expiry-check")
LOCAL_OUTBOX_ROUTE = ("GET", LOCAL_ROUTE_PREFIX + "outbox")
LOCAL_EVENTBRIDGE_ROUTE = ("POST", LOCAL_ROUTE_PREFIX + "eventbridge")


class AuthorizerResponseError(ValueError):
    """The authorizer answered with something API Gateway rejects (AuthorizerConfigurationException)."""


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": []}}


def gateway_response(status: int, body: Mapping[str, Any], request_id: str, error_type: str) -> HttpResponse:
    """An answer API Gateway gives itself (a "gateway response"), in the API's error shape."""
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", error_type),
    ]
    if status == 401:
        headers.append(("WWW-Authenticate", "Bearer"))  # as the deployed UNAUTHORIZED response has
    return HttpResponse(status=status, headers=headers, body=json.dumps(body).encode("utf-8"))


def json_response(status: int, body: Any, request_id: str) -> HttpResponse:
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
    return HttpResponse(status=status, headers=headers, body=json.dumps(body).encode("utf-8"))


def malformed_request(message: str, location: str | None, request_id: str) -> HttpResponse:
    """400 in the API's error shape (as the API answers a body it cannot read)."""
    details = [{"location": location, "message": message}] if location else []
    body = {"error": {"code": "malformed_request", "message": message, "details": details}}
    return json_response(400, body, request_id)


def unauthorized(request_id: str) -> HttpResponse:
    return gateway_response(401, GATEWAY_ERROR_BODIES[401], request_id, "UnauthorizedException")


def authorizer_error(request_id: str, error_type: str) -> HttpResponse:
    # The deployed API answers authorizer errors with its DEFAULT_5XX response: code internal_error.
    return gateway_response(500, error_body("internal_error", "authorizer error"), request_id, error_type)


def method_arn(method: str, path: str) -> str:
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{STAGE}/{method}{path}"


def policy_allows(policy_document: Any, resource_arn: str) -> bool:
    """IAM evaluation as API Gateway applies it to an authorizer's policy: an explicit Deny wins,
    otherwise some statement must Allow execute-api:Invoke on the method's ARN."""
    if not isinstance(policy_document, Mapping):
        raise AuthorizerResponseError("policyDocument is not an object")
    statements = policy_document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        raise AuthorizerResponseError("policyDocument.Statement is neither a statement nor a list")
    allowed = False
    for statement in statements:
        if not isinstance(statement, Mapping) or statement.get("Effect") not in ("Allow", "Deny"):
            raise AuthorizerResponseError(f"invalid policy statement {statement!r}")
        if not (
            _any_matches(statement.get("Action"), "execute-api:Invoke")
            and _any_matches(statement.get("Resource"), resource_arn)
        ):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


def _any_matches(patterns: Any, value: str) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list):
        return False
    return any(isinstance(pattern, str) and _iam_pattern(pattern).fullmatch(value) for pattern in patterns)


@lru_cache(maxsize=256)
def _iam_pattern(pattern: str) -> re.Pattern[str]:
    # IAM wildcards: * any run of characters ("/" included), ? one character; nothing else is special.
    return re.compile(".*".join(".".join(map(re.escape, part.split("?"))) for part in pattern.split("*")))


def authorizer_context(result: Any, latency_ms: int) -> dict[str, Any]:
    """What the authorizer's answer puts under requestContext.authorizer of the proxy event.

    API Gateway accepts only a flat context of strings, numbers and booleans (anything else fails the
    request with a 500) and hands every value on as a string, so handlers see the same here.
    """
    if not isinstance(result, Mapping):
        raise AuthorizerResponseError(f"the authorizer returned {type(result).__name__}, not an object")
    principal_id = result.get("principalId")
    if not isinstance(principal_id, str) or not principal_id:
        raise AuthorizerResponseError("the authorizer's response has no principalId")
    context = result.get("context") or {}
    if not isinstance(context, Mapping):
        raise AuthorizerResponseError("the authorizer's context is not an object")
    passed_on: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            passed_on[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            passed_on[key] = str(value)
        else:
            raise AuthorizerResponseError(
                f"authorizer context value {key!r} is {type(value).__name__}; only strings, numbers and "
                "booleans are allowed"
            )
    return {**passed_on, "principalId": principal_id, "integrationLatency": latency_ms}


def _multi_value(
    pairs: Iterable[tuple[str, str]],
) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """API Gateway's two views of repeated names: the last value, and all values (None when empty)."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return (single or None, multi or None)


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    found = None
    for header_name, value in headers:
        if header_name.lower() == name.lower():
            found = value
    return found


def _request_context(
    request: HttpRequest, path: str, resource: str, headers: list[tuple[str, str]], request_id: str
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": _header(headers, "Host") or "localhost",
        "extendedRequestId": request_id,
        "httpMethod": request.method,
        "identity": {
            "accessKey": None,
            "accountId": None,
            "caller": None,
            "sourceIp": request.source_ip,
            "user": None,
            "userAgent": _header(headers, "User-Agent"),
            "userArn": None,
        },
        # The path callers used. Locally the API is served at the root, as behind a custom domain
        # mapped without a base path: no stage prefix, so links and Swagger's "Try it out" work.
        "path": path,
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "resourceId": API_ID,
        "resourcePath": resource,
        "stage": STAGE,
    }


def expiry_check_route(run: Callable[[datetime | None], Mapping[str, Any]]) -> LocalRoute:
    """`POST /_local/expiry-check` with `{"as_of": "<ISO time with a zone>"}` (or no body: now) →
    `run(as_of)` — the expiry checker invoked with a scheduled event of that time — and its result, 200.

    A body that is not a JSON object, or an `as_of` that is not an ISO time with a zone, is 400.
    """

    def route(request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        as_of: datetime | None = None
        if request.body.strip():
            try:
                body = json.loads(request.body)
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                return malformed_request(f"the body is not JSON: {error}", None, request_id)
            if not isinstance(body, dict):
                return malformed_request(
                    'the body must be a JSON object: {"as_of": "<ISO time>"}', None, request_id
                )
            value = body.get("as_of")
            if value is not None:
                if not isinstance(value, str):
                    return malformed_request(
                        "as_of must be an ISO 8601 time with a zone", "as_of", request_id
                    )
                try:
                    as_of = parse_iso(value)
                except ValueError as error:
                    return malformed_request(
                        f"as_of must be an ISO 8601 time with a zone: {error}", "as_of", request_id
                    )
        try:
            result = run(as_of)
        except Exception:
            logger.exception("the expiry check failed")
            return json_response(
                500, error_body("internal_error", "the expiry check failed; see the log"), request_id
            )
        return json_response(200, dict(result), request_id)

    return route


def eventbridge_route(deliver: Callable[[Mapping[str, Any]], Mapping[str, Any]]) -> LocalRoute:
    """`POST /_local/eventbridge` with an AWS service's event (`source`, `detail-type`, `detail`, …) →
    `deliver(event)`: the event routed by the default bus's rules as EventBridge would (an ECR or
    Inspector scan event reaches the registry-work queue), 200 with what it matched. A body that is not
    a JSON object, or an event the bus would refuse (riskgate_local.eventbridge.EventError), is 400."""

    def route(request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        try:
            event = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return malformed_request(f"the body is not JSON: {error}", None, request_id)
        if not isinstance(event, dict):
            return malformed_request("the body must be an EventBridge event (an object)", None, request_id)
        try:
            delivered = deliver(event)
        except ValueError as error:  # EventError: what PutEvents would refuse
            return malformed_request(str(error), None, request_id)
        return json_response(200, dict(delivered), request_id)

    return route


def outbox_route(items: Callable[[], Iterable[Mapping[str, Any]]]) -> LocalRoute:
    """`GET /_local/outbox` → 200 `{"items": items()}`: what the local stack delivered
    (riskgate_local.outbox)."""

    def route(request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        try:
            listed = [dict(item) for item in items()]
        except Exception:
            logger.exception("listing the outbox failed")
            return json_response(
                500, error_body("internal_error", "listing the outbox failed; see the log"), request_id
            )
        return json_response(200, {"items": listed}, request_id)

    return route


def _api_or_local(path: str) -> bool:
    return path == PROXY_PARENT or path.startswith((PROXY_PARENT + "/", LOCAL_ROUTE_PREFIX))


def _resource_pattern(resource: str) -> re.Pattern[str]:
    """A resource path (`/v1/registries/{registry_id}/webhook`) as a pattern of the paths it serves: a
    `{name}` segment is any one segment, captured as `name`."""
    parts = _PATH_PARAMETER.split(resource)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)" for index, part in enumerate(parts)
    )
    return re.compile(f"^{pattern}$")


class RestApiGateway:
    """Requests in, API Gateway REST proxy events to the handlers, their answers out.

    `local_routes` ((method, path) → route) are answered before anything else, without the authorizer:
    they exist only locally. `site` answers GET and HEAD outside `/v1` and `/_local/` (the console,
    riskgate_local.console), as CloudFront does in front of the deployed API.
    """

    def __init__(
        self,
        api: LocalFunction,
        authorizer: LocalFunction,
        *,
        public_routes: Iterable[tuple[str, str]] = PUBLIC_ROUTES,
        max_body_bytes: int = GATEWAY_MAX_BODY_BYTES,
        local_routes: Mapping[tuple[str, str], LocalRoute] | None = None,
        site: LocalRoute | None = None,
    ) -> None:
        self._api = api
        self._authorizer = authorizer
        self._public_routes = [
            (method, resource, _resource_pattern(resource)) for method, resource in public_routes
        ]
        self.max_body_bytes = max_body_bytes
        self._local_routes = dict(local_routes or {})
        self._site = site

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        if request.method not in SERVED_METHODS:
            # API Gateway refuses a method it does not know (TRACE, QUERY, anything made up) itself,
            # with a 403, before any route, authorizer or body limit.
            return gateway_response(
                403,
                error_body("forbidden", f"the method {request.method} is not served"),
                request_id,
                "ForbiddenException",
            )
        if len(request.body) > self.max_body_bytes:
            return self.too_large(request_id)
        raw_path, _, query = request.target.partition("?")
        path = unquote(raw_path) or "/"
        local_route = self._local_routes.get((request.method, path))
        if local_route is not None:
            return local_route(request)
        matched = self._public_resource(path)
        public = matched is not None and request.method in matched[0]
        proxied = path.startswith(PROXY_PARENT + "/") and matched is None
        if not (public or proxied):
            if self._site is not None and request.method in ("GET", "HEAD") and not _api_or_local(path):
                return self._site(request)
            # No method on the resource the path matches: MISSING_AUTHENTICATION_TOKEN, which the
            # deployed API answers with 404.
            return gateway_response(
                404,
                error_body("not_found", "no such route"),
                request_id,
                "MissingAuthenticationTokenException",
            )
        if matched is not None:
            _, resource, path_parameters = matched
        else:
            resource, path_parameters = PROXY_RESOURCE, {"proxy": path.removeprefix(PROXY_PARENT + "/")}
        headers = self._forwarded_headers(request)
        single_headers, multi_headers = _multi_value(headers)
        single_query, multi_query = _multi_value(parse_qsl(query, keep_blank_values=True))
        request_context = _request_context(request, path, resource, headers, request_id)
        common = {
            "resource": resource,
            "path": path,
            "httpMethod": request.method,
            "headers": single_headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": single_query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": path_parameters,
            "stageVariables": None,
        }
        if not public:
            authorized = self._authorize(request.method, path, headers, common, request_context, request_id)
            if isinstance(authorized, HttpResponse):
                return authorized
            request_context = {**request_context, "authorizer": authorized}
        # The deployed API declares binaryMediaTypes */*, so API Gateway base64-encodes every body.
        event = {
            **common,
            "requestContext": request_context,
            "body": base64.b64encode(request.body).decode("ascii") if request.body else None,
            "isBase64Encoded": bool(request.body),
        }
        try:
            result = self._api.invoke(event)
        except Exception:
            # The handler is meant never to let an exception out; API Gateway answers 502 when it does.
            logger.exception("the API handler raised; answering 502 as API Gateway does")
            return self._bad_gateway(request_id)
        try:
            return self._integration_response(result, request_id)
        except ValueError as problem:
            logger.error("malformed Lambda proxy response (%s); answering 502 as API Gateway does", problem)
            return self._bad_gateway(request_id)

    def _public_resource(self, path: str) -> tuple[set[str], str, dict[str, str] | None] | None:
        """The public resource whose path `path` is: its methods, its path as API Gateway writes it, and
        its path parameters (None when it has none); None when `path` is no public resource's."""
        for _, resource, pattern in self._public_routes:
            found = pattern.match(path)
            if found is not None:
                methods = {method for method, other, _ in self._public_routes if other == resource}
                return methods, resource, found.groupdict() or None
        return None

    def too_large(self, request_id: str | None = None) -> HttpResponse:
        return gateway_response(
            413,
            error_body("payload_too_large", f"the request body exceeds {self.max_body_bytes} bytes"),
            request_id or str(uuid.uuid4()),
            "RequestTooLarge",
        )

    def _forwarded_headers(self, request: HttpRequest) -> list[tuple[str, str]]:
        headers = list(request.headers)
        present = {name.lower() for name, _ in headers}
        added = {
            "X-Forwarded-For": request.source_ip,
            "X-Forwarded-Proto": "http",
        }
        headers += [(name, value) for name, value in added.items() if name.lower() not in present]
        return headers

    def _authorize(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        common: Mapping[str, Any],
        request_context: Mapping[str, Any],
        request_id: str,
    ) -> dict[str, Any] | HttpResponse:
        """The authorizer's context for the proxy event, or API Gateway's own answer.

        API Gateway caches authorizer results for a short TTL; locally every request calls the
        authorizer, which costs nothing and shows token changes at once.
        """
        if not _header(headers, "Authorization"):
            # The identity source (the Authorization header) is missing: API Gateway refuses the
            # request without calling the authorizer.
            return unauthorized(request_id)
        arn = method_arn(method, path)
        event = {"type": "REQUEST", "methodArn": arn, **common, "requestContext": dict(request_context)}
        started = time.monotonic()
        try:
            result = self._authorizer.invoke(event)
        except Exception as error:
            # Raising "Unauthorized" is how a Lambda authorizer asks API Gateway for a 401.
            if str(error) == "Unauthorized":
                return unauthorized(request_id)
            logger.exception("the authorizer raised; answering 500 as API Gateway does")
            return authorizer_error(request_id, "AuthorizerFailureException")
        latency_ms = int((time.monotonic() - started) * 1000)
        try:
            context = authorizer_context(result, latency_ms)
            allowed = policy_allows(result.get("policyDocument"), arn)
        except AuthorizerResponseError as problem:
            logger.error("invalid authorizer response (%s); answering 500 as API Gateway does", problem)
            return authorizer_error(request_id, "AuthorizerConfigurationException")
        if not allowed:
            return gateway_response(403, GATEWAY_ERROR_BODIES[403], request_id, "AccessDeniedException")
        return context

    def _integration_response(self, result: Any, request_id: str) -> HttpResponse:
        if not isinstance(result, Mapping):
            raise ValueError(f"the handler returned {type(result).__name__}, not an object")
        status = result.get("statusCode")
        if isinstance(status, str) and status.isdigit():
            status = int(status)
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise ValueError(f"statusCode {status!r} is not an HTTP status")
        body = result.get("body")
        if body is None:
            payload = b""
        elif not isinstance(body, str):
            raise ValueError(f"body is {type(body).__name__}, not a string")
        elif result.get("isBase64Encoded"):
            payload = base64.b64decode(body, validate=True)
        else:
            payload = body.encode("utf-8")
        merged: dict[str, tuple[str, list[str]]] = {}
        headers = result.get("headers") or {}
        multi_headers = result.get("multiValueHeaders") or {}
        if not isinstance(headers, Mapping) or not isinstance(multi_headers, Mapping):
            raise ValueError("headers and multiValueHeaders must be objects")
        for name, value in headers.items():
            merged[name.lower()] = (name, [str(value)])
        # A name in both: API Gateway keeps the multi-value header's values.
        for name, values in multi_headers.items():
            if not isinstance(values, list):
                raise ValueError(f"multiValueHeaders[{name!r}] is not a list")
            merged[name.lower()] = (name, [str(value) for value in values])
        # The server frames the body itself; the integration's framing headers do not apply.
        for framing in ("content-length", "transfer-encoding", "connection"):
            merged.pop(framing, None)
        merged.setdefault("content-type", ("Content-Type", ["application/json"]))
        merged["x-amzn-requestid"] = ("x-amzn-RequestId", [request_id])
        pairs = [(name, value) for name, values in merged.values() for value in values]
        return HttpResponse(status=status, headers=pairs, body=payload)

    @staticmethod
    def _bad_gateway(request_id: str) -> HttpResponse:
        # The deployed API's DEFAULT_5XX gateway response says internal_error; so does the local one.
        return gateway_response(
            502,
            error_body("internal_error", "internal server error"),
            request_id,
            "InternalServerErrorException",
        )


# Up to this much of an oversized body is read (and dropped) so that the client gets its 413; beyond
# it the connection is closed instead.
_DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


class _GatewayHTTPServer(ThreadingHTTPServer):
    gateway: RestApiGateway
    # socketserver's default backlog is 5: a CI fleet (or a test) opening more connections at once would
    # see them reset, which API Gateway never does.
    request_queue_size = 128


# The methods a REST API's ANY method stands for; API Gateway answers every other one with its own 403.
SERVED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _GatewayRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as CI clients expect from an HTTPS API
    server_version = "riskgate-local"
    # An idle keep-alive connection gives its thread back after this many seconds.
    timeout = 60

    @property
    def gateway(self) -> RestApiGateway:
        return cast(_GatewayHTTPServer, self.server).gateway

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with a bare 501; the gateway decides instead.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def handle_expect_100(self) -> bool:
        # Refuse an oversized upload before the client sends it (curl asks first for large bodies).
        try:
            declared = self._declared_length() or 0
        except ValueError:
            declared = 0  # _read_body answers 400
        if declared > self.gateway.max_body_bytes:
            self._send(self.gateway.too_large())
            self.close_connection = True
            return False
        return super().handle_expect_100()

    def _dispatch(self) -> None:
        started = time.monotonic()
        body = self._read_body()
        if body is None:
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        response = self.gateway.handle(request)
        self._send(response)
        logger.info(
            "%s %s %d (%.0f ms)",
            self.command,
            self.path,
            response.status,
            (time.monotonic() - started) * 1000,
        )

    def _declared_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        if not value.strip().isdigit():
            raise ValueError(f"Content-Length {value!r}")
        return int(value)

    def _read_body(self) -> bytes | None:
        """The request body, or None once an error response has been sent."""
        limit = self.gateway.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        try:
            length = self._declared_length() or 0
        except ValueError:
            self.send_error(400, "invalid Content-Length")
            return None
        if length > limit:
            # Read the body before answering, as API Gateway does: a client still sending would
            # otherwise see a reset connection instead of the 413.
            if length <= _DRAIN_LIMIT_BYTES:
                self._discard(length)
            else:
                self.close_connection = True
            self._send(self.gateway.too_large())
            return None
        return self.rfile.read(length)

    def _discard(self, length: int) -> None:
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                return
            remaining -= len(chunk)

    def _read_chunked(self, limit: int) -> bytes | None:
        """A chunked body; one over `limit` is read to its end, dropped and answered with 413."""
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                chunk_size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.send_error(400, "invalid chunked encoding")
                return None
            if chunk_size == 0:
                while self.rfile.readline(65537).strip():  # trailers
                    pass
                break
            if size > _DRAIN_LIMIT_BYTES:
                self.close_connection = True
                break
            chunk = self.rfile.read(chunk_size)
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            self.rfile.readline(3)  # the CRLF after each chunk
        if size > limit:
            self._send(self.gateway.too_large())
            return None
        return b"".join(chunks)

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has the headers of a GET answer, never its body
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        # _dispatch logs each request once; the base class would print a second line to stderr.
        logger.debug(format, *args)


class GatewayServer:
    """The gateway on a loopback (or given) address, served from a background thread."""

    def __init__(self, gateway: RestApiGateway, host: str = "127.0.0.1", port: int = 8000) -> None:
        self._gateway = gateway
        self._host = host
        self._port = port
        self._server: _GatewayHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Bind (port 0: any free port) and serve; returns the base URL."""
        self._server = _GatewayHTTPServer((self._host, self._port), _GatewayRequestHandler)
        self._server.gateway = self._gateway
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="riskgate-local-http",
            daemon=True,
        )
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the gateway server is not running")
        host, port = self._server.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else str(host)  # noqa: S104 - display only
        return f"http://{shown}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
