"""The API's resolver: routers, OpenAPI, and the mapping of every error to the API's error shape.

**Route modules load on demand.** Importing this module (the function's cold start) builds the resolver
and the error mapping, nothing of the routes: a route module — its models, services and adapters — is
imported and its router included on the first request whose path one of its rules matches
(`ROUTE_MODULES`, in the order the API has always included them). A request therefore loads what its
route needs: `GET /v1/verdict` never imports the report parsers, the directory or the integrations.
No path is matched by rules of two modules (`tests/unit/test_route_modules.py`), so the order in which
modules happen to load cannot change which route answers. The OpenAPI document is generated from a
resolver of its own with every module in that order: it is the same whatever was loaded before.
"""

from __future__ import annotations

import importlib
import json
import re
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from riskgate.domain.errors import MalformedInput, RiskgateError
from riskgate.handlers.api.bodies import raw_body
from riskgate.handlers.api.errors import (
    RETRY_AFTER_SECONDS,
    error_response,
    is_transient,
    response_for,
    validation_details,
)

logger = Logger(child=True)

# Every route module of `riskgate.handlers.api`, in the order their routers are included, with the rules
# of its routes (checked against the routers themselves by tests/unit/test_route_modules.py). A new route
# module gets a row here; a new route of a module, its rule.
ROUTE_MODULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("routes_meta", ("/v1/health", "/v1/openapi.json", "/v1/docs")),
    ("routes_me", ("/v1/me",)),
    ("routes_scans", ("/v1/scans",)),
    ("routes_uploads", ("/v1/scans/uploads", "/v1/scans/uploads/<upload_id>")),
    (
        "routes_images",
        (
            "/v1/images",
            "/v1/images/<image_id>",
            "/v1/images/<image_id>/findings",
            "/v1/images/<image_id>/scans",
            "/v1/vulnerabilities/<vulnerability_id>/images",
        ),
    ),
    ("routes_audit", ("/v1/audit-events",)),
    (
        "routes_directory",
        (
            "/v1/roles",
            "/v1/roles/<name>",
            "/v1/scopes",
            "/v1/scopes/<scope_id>",
            "/v1/users",
            "/v1/users/<user_id>",
            "/v1/users/<user_id>/tokens",
            "/v1/users/<user_id>/tokens/<token_id>",
        ),
    ),
    ("routes_policies", ("/v1/assurance-policies", "/v1/assurance-policies/<policy_id>")),
    ("routes_verdicts", ("/v1/images/<image_id>/verdict", "/v1/images/<image_id>/verdicts", "/v1/verdict")),
    (
        "routes_acceptances",
        (
            "/v1/events",
            "/v1/risk-acceptances",
            "/v1/risk-acceptances/<acceptance_id>",
            "/v1/risk-acceptances/<acceptance_id>/extend",
            "/v1/risk-acceptances/<acceptance_id>/revoke",
            "/v1/risk-acceptances/export",
        ),
    ),
    ("routes_integrations", ("/v1/integrations", "/v1/integrations/<name>", "/v1/integrations/<name>/test")),
    (
        "routes_response_policies",
        (
            "/v1/response-policies",
            "/v1/response-policies/<policy_id>",
            "/v1/response-policies/<policy_id>/disable",
            "/v1/response-policies/<policy_id>/enable",
        ),
    ),
    ("routes_notifications", ("/v1/notifications",)),
    (
        "routes_registries",
        (
            "/v1/registries",
            "/v1/registries/<registry_id>",
            "/v1/registries/<registry_id>/events",
            "/v1/registries/<registry_id>/sync",
            "/v1/registries/<registry_id>/webhook",
        ),
    ),
)

API_TITLE = "Riskgate"
API_VERSION = "1.0.0"
API_DESCRIPTION = """Container-risk service: scanner reports in, findings and CI verdicts out.

**Authentication.** Every route but health and these documents needs `Authorization: Bearer <token>`
(401 otherwise). A token acts as its user.

**Permissions and scopes.** Each operation names the permission it needs (`x-riskgate-permission`).
A user's role bindings grant a role's permissions in a scope: `global` covers everything; a custom
scope covers the images its selectors match (globs over registry, repository, tag). Without the
permission anywhere: 403. An object outside the caller's scopes: 404 (creating one there: 403), and
lists show only what the caller may see. Users, roles, scopes and the security event log are
account-wide: they need the permission granted in `global`. System roles: administrator,
security_officer, developer, ci_pipeline, auditor.

**Audit.** Every change leaves one event in the security event log (`GET /v1/audit-events`), written
in the same transaction as the change.

**Errors** are `{"error": {"code", "message", "details"}}`; lists take `limit` and `next_token`."""

# A JSON body nested deeper than this is malformed (400). No API body needs more than a handful of levels,
# and DynamoDB stores documents at most 32 levels deep; the bound is checked iteratively after parsing,
# and Python's own recursion limit (RecursionError) stops anything absurd while parsing.
MAX_BODY_DEPTH = 32


def body_text(raw_event: dict[str, Any]) -> str | None:
    """The request body as text, for the routes that take a JSON body; None when there is none.

    Bytes that are not UTF-8 are the caller's mistake (400), not a crash. A leading BOM is dropped, as
    `POST /v1/scans` does (Windows shells add one when redirecting to a file).
    """
    raw = raw_body(raw_event)
    if not raw:
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MalformedInput(
            f"body is not UTF-8 text: invalid byte 0x{raw[error.start]:02x} at offset {error.start}",
            details=[{"offset": error.start}],
        ) from error


def body_json(text: str) -> Any:
    """A request body's JSON value: not JSON, or nested deeper than MAX_BODY_DEPTH, is a 400.

    JSON's NaN and Infinity are read as numbers here, so that the models refuse them (422) naming the
    field, as any other invalid value.
    """
    try:
        value = json.loads(text)
    except RecursionError as error:
        raise _nested_too_deeply() from error
    except json.JSONDecodeError as error:
        raise MalformedInput(
            f"body is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}",
            details=[{"line": error.lineno, "column": error.colno}],
        ) from error
    except ValueError as error:
        # An integer longer than Python converts (4300 digits).
        raise MalformedInput(f"body is not valid JSON: {error}") from error
    if _deeper_than(value, MAX_BODY_DEPTH):
        raise _nested_too_deeply()
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels; iterative, so no depth can crash it."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _nested_too_deeply() -> MalformedInput:
    return MalformedInput(
        # The words of `POST /v1/scans` for the same problem.
        f"body is not valid JSON: it is nested too deeply (more than {MAX_BODY_DEPTH} levels)",
        details=[{"limit": MAX_BODY_DEPTH}],
    )


class _RequestEvent(APIGatewayProxyEvent):
    """The REST event with the body decoded by `body_text`: Powertools' own decoding raises
    UnicodeDecodeError (a 500) on bytes that are not UTF-8."""

    @cached_property
    def decoded_body(self) -> str | None:
        return body_text(self.raw_event)


class _Resolver(APIGatewayRestResolver):
    """Powertools' REST resolver whose request validation reads bodies through `body_text` and
    `body_json`, so that every route with a JSON body refuses a malformed one the same way (400)."""

    def __init__(self) -> None:
        super().__init__(enable_validation=True, json_body_deserializer=body_json)
        self._included: set[str] = set()

    def _to_proxy_event(self, event: dict[str, Any]) -> APIGatewayProxyEvent:
        # The one place Powertools builds `current_event` (and so decodes the body) from the raw event.
        return _RequestEvent(event, self._json_body_deserializer)

    def include_modules(self, modules: list[str]) -> None:
        """Import the route modules named and include those not included yet."""
        for module in modules:
            if module not in self._included:
                self.include_router(route_router(module))
                self._included.add(module)

    def resolve(self, event: Any, context: LambdaContext) -> dict[str, Any]:
        self.include_modules(modules_for(str(event.get("path") or "")))
        return super().resolve(event, context)


app = _Resolver()


def route_router(module: str) -> Router:
    """The router of a route module (imported on first use)."""
    router: Router = importlib.import_module(f"{__package__}.{module}").router
    return router


@cache
def _rule_pattern(rule: str) -> re.Pattern[str]:
    """A rule as a pattern matching at least every path Powertools matches it with (a `<name>` segment:
    anything but `/`): loading a module for a path it does not serve would only cost time."""
    return re.compile("^" + "[^/]+".join(re.escape(part) for part in re.split(r"<\w+>", rule)) + "$")


def modules_for(path: str) -> list[str]:
    """The route modules with a rule matching `path`, in `ROUTE_MODULES` order."""
    return [
        module for module, rules in ROUTE_MODULES if any(_rule_pattern(rule).match(path) for rule in rules)
    ]


def all_route_modules() -> list[str]:
    return [module for module, _ in ROUTE_MODULES]


def base_path() -> str:
    """The stage prefix callers see (`/api` on AWS, empty locally), so "Try it out" hits the right URL."""
    event = app.current_event
    full_path = (event.raw_event.get("requestContext") or {}).get("path") or event.path
    return full_path[: -len(event.path)] if full_path.endswith(event.path) else ""


def openapi_json(server_url: str = "") -> str:
    # The OpenAPI models are imported only when a document is asked for: they cost ~150 ms of cold start.
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server

    from riskgate.handlers.api.openapi_contract import apply_contract
    from riskgate.settings import get_settings

    generated = _document_resolver().get_openapi_json_schema(
        title=API_TITLE,
        version=API_VERSION,
        description=API_DESCRIPTION,
        servers=[Server(url=server_url or "/")],
        security_schemes={"bearerAuth": HTTPBearer(description="API token (rg_…)")},
    )
    document = apply_contract(json.loads(generated), max_report_bytes=get_settings().max_report_bytes)
    return json.dumps(document, indent=2)


@cache
def _document_resolver() -> _Resolver:
    """A resolver with every route module, in `ROUTE_MODULES` order, that only generates the document: the
    operations and schemas come out in that order whatever the requests so far have loaded into `app`.

    Including a router points it at the resolver (`Router.api_resolver`, through which routes read the
    request's context); each is pointed back where it was, at `app` or at nothing yet."""
    document = _Resolver()
    for module in all_route_modules():
        router = route_router(module)
        serving = router.api_resolver
        document.include_modules([module])
        router.api_resolver = serving
    return document


def swagger_html(spec: str) -> str:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent  # Powertools ships Swagger UI: no CDN needed
    return generate_swagger_html(
        spec.replace("</", "<\\/"),  # the spec is inlined in a <script> element
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
        False,
    )


@app.exception_handler(RiskgateError)
def handle_domain_error(error: RiskgateError) -> Response:
    if isinstance(error, RiskgateError):
        logger.info("request refused", code=error.code, error_message=error.message)
    return response_for(error)


@app.exception_handler(RequestValidationError)
def handle_validation_error(error: RequestValidationError) -> Response:
    details = validation_details(error.errors())
    fields = ", ".join(d["location"] for d in details) or "request"
    return error_response(422, "invalid_request", f"invalid {fields}", details)


@app.not_found
def handle_not_found(_: NotFoundError) -> Response:
    event = app.current_event
    return error_response(404, "not_found", f"no route for {event.http_method} {event.path}")


@app.exception_handler(ClientError)
def handle_aws_error(error: ClientError) -> Response:
    """DynamoDB (or another service) busy after the SDK's own retries: the caller retries later. Every
    write path is one transaction or idempotent, so a refused request changed nothing a reader sees."""
    if not is_transient(error):
        return handle_bug(error)
    logger.warning("store busy", error_code=error.response.get("Error", {}).get("Code"))
    response = error_response(
        503, "service_unavailable", "the service is busy: retry after the number of seconds in Retry-After"
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@app.exception_handler(Exception)
def handle_bug(error: Exception) -> Response:
    # A 500 is a bug: log it with the stack, tell the caller only the request id to quote.
    logger.exception("unhandled error")
    request_id = (app.current_event.raw_event.get("requestContext") or {}).get("requestId", "")
    return error_response(500, "internal_error", f"internal error (request id {request_id})")
