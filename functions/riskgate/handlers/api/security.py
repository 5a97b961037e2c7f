"""Every route declares the permission it needs; one decorator registers the route and enforces it.

The permission is also written into the route's OpenAPI operation (`x-riskgate-permission`), which is
how a test proves that no route exists without one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from riskgate.adapters.access_definitions import load_access_definitions
from riskgate.adapters.config_source import default_config_source
from riskgate.adapters.config_version import FirstReads
from riskgate.adapters.page_keys import page_token_key
from riskgate.adapters.store import Store, default_store
from riskgate.auth.page_tokens import binding, seal, unseal
from riskgate.domain.access import Access, grants_for
from riskgate.domain.audit import Actor
from riskgate.domain.errors import PermissionDenied, Unauthenticated
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission, Principal, RoleBinding
from riskgate.resources import PUBLIC_ROUTES
from riskgate.services.config_cache import ConfigCache, Snapshot

PERMISSION_EXTENSION = "x-riskgate-permission"
PUBLIC_EXTENSION = "x-riskgate-public"
# Routes about the caller themselves (what their token is and may do): any valid token, no permission.
CALLER_EXTENSION = "x-riskgate-caller"
CALLER_ROUTES: tuple[tuple[str, str], ...] = (("GET", "/v1/me"),)
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]

# What a route reads first, by key, given its validated arguments: read together with the configuration
# version, before the permission check (nothing of it is shown before the route runs). Raises nothing: a
# malformed argument gives no key, and the route itself then refuses it.
FirstKeys = Callable[[dict[str, Any]], list[dict[str, str]]]


def principal_from_event(raw_event: dict[str, Any]) -> Principal:
    """The caller as the authorizer described it in `requestContext.authorizer`."""
    context = (raw_event.get("requestContext") or {}).get("authorizer") or {}
    user_id = context.get("user_id") or context.get("principalId")
    if not user_id:
        # Only reachable if a route were deployed without the authorizer: fail closed.
        raise Unauthenticated("missing or invalid bearer token")
    try:
        bindings = json.loads(context.get("role_bindings") or "[]")
        role_bindings = tuple(RoleBinding(b["role"], b.get("scope", GLOBAL_SCOPE)) for b in bindings)
    except (ValueError, TypeError, KeyError) as error:
        raise Unauthenticated("malformed authorizer context") from error
    return Principal(user_id=user_id, token_id=context.get("token_id", ""), role_bindings=role_bindings)


def actor_from_event(raw_event: dict[str, Any], principal: Principal | None) -> Actor:
    context = raw_event.get("requestContext") or {}
    return Actor(
        user_id=principal.user_id if principal else None,
        token_id=principal.token_id if principal else None,
        source_ip=(context.get("identity") or {}).get("sourceIp"),
        request_id=context.get("requestId"),
    )


def access_for(principal: Principal, config: Snapshot | None = None) -> Access:
    """The caller's grants: their bindings with custom roles and scopes read from the table, or taken
    from the configuration snapshot of this request's version (`config`) when it has them."""
    bindings = [(b.role, b.scope) for b in principal.role_bindings]
    role_names, scope_ids = {role for role, _ in bindings}, {scope for _, scope in bindings}
    if config is not None:
        roles, scopes = config.definitions(role_names, scope_ids)
    else:
        store = default_store()
        roles, scopes = load_access_definitions(store.client, store.table_name, role_names, scope_ids)
    return Access(
        user_id=principal.user_id,
        token_id=principal.token_id,
        grants=grants_for(bindings, roles, scopes),
    )


def _requires(
    permission: Permission, only_in_global: str | None = None, first_keys: FirstKeys | None = None
) -> Callable[..., Any]:
    """The caller must hold `permission` in some scope; routes then check the object's own scope. For
    what belongs to the whole account, `only_in_global` (the refusal's message): in the global scope.

    A route that declares `first_keys` gets them read with the configuration version in one
    BatchGetItem (`current_first_reads`), and the caller's roles and scopes — and the policies, for the
    route (`current_config`) — from the snapshot of that version: nothing more is read for them while no
    scope, role or policy changes. Other routes read the caller's custom roles and scopes each time.

    Lists' page tokens are opened and sealed here, for every route at once: routes and stores see only
    plain positions, callers only sealed tokens bound to them and to the list they asked for."""

    def middleware(app: Any, next_middleware: NextMiddleware) -> Any:
        raw_event = app.current_event.raw_event
        principal = principal_from_event(raw_event)
        # Validated route arguments (Powertools' request validation runs before route middlewares).
        route_args = app.context.get("_route_args") or {}
        config, first = None, FirstReads()
        if first_keys is not None:
            config, first = config_cache().read(first_keys(route_args))
        access = access_for(principal, config)
        if not access.has_anywhere(permission):
            raise PermissionDenied(f"this action needs the permission {permission.value}")
        if only_in_global is not None and not access.has_globally(permission):
            raise PermissionDenied(only_in_global)
        app.append_context(
            access=access,
            permission=permission,
            actor=actor_from_event(raw_event, principal),
            config=config,
            first_reads=first,
        )
        bound_to = page_binding(raw_event, principal.user_id)
        if route_args.get("next_token"):
            route_args["next_token"] = unseal(page_token_key(), route_args["next_token"], bound_to)
        response = next_middleware(app)
        body = getattr(response, "body", None)
        if isinstance(body, dict) and body.get("next_token"):
            body["next_token"] = seal(page_token_key(), body["next_token"], bound_to)
        return response

    return middleware


def page_binding(raw_event: dict[str, Any], user_id: str) -> bytes:
    """What a page token is bound to: the caller, the method and path, the query's filters."""
    multi = raw_event.get("multiValueQueryStringParameters") or {}
    single = raw_event.get("queryStringParameters") or {}
    query = [(name, value) for name, values in multi.items() for value in values or ()] or [
        (name, value) for name, value in single.items() if value is not None
    ]
    return binding(user_id, raw_event.get("httpMethod", ""), raw_event.get("path", ""), query)


def secured_route(
    router: Router,
    method: str,
    path: str,
    permission: Permission,
    *,
    only_in_global: str | None = None,
    first_keys: FirstKeys | None = None,
    **options: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `method path` needing `permission` (in the global scope when `only_in_global`, the
    message of the refusal, is given); `first_keys`: what it reads first, read with the configuration
    version (see `_requires`)."""
    return router.route(
        path,
        method,
        middlewares=[_requires(permission, only_in_global, first_keys)],
        security=BEARER,
        openapi_extensions={PERMISSION_EXTENSION: permission.value},
        **options,
    )


def public_route(
    router: Router, method: str, path: str, **options: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a route that answers without a token; it must be listed in resources.PUBLIC_ROUTES (where
    a `<name>` segment of the route is written `{name}`, as API Gateway and OpenAPI write it)."""
    if (method, re.sub(r"<(\w+)>", r"{\1}", path)) not in PUBLIC_ROUTES:
        raise ValueError(f"{method} {path} is not a public route in riskgate.resources.PUBLIC_ROUTES")
    return router.route(path, method, openapi_extensions={PUBLIC_EXTENSION: True}, **options)


def _caller_only() -> Callable[..., Any]:
    """Any valid token: the caller's grants and identity in the context, no permission checked."""

    def middleware(app: Any, next_middleware: NextMiddleware) -> Any:
        raw_event = app.current_event.raw_event
        principal = principal_from_event(raw_event)
        app.append_context(access=access_for(principal), actor=actor_from_event(raw_event, principal))
        return next_middleware(app)

    return middleware


def caller_route(
    router: Router, method: str, path: str, **options: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a route that tells callers about themselves: it needs a valid token (the authorizer) and
    no permission, so it must be listed in CALLER_ROUTES (a client asks it what it may do before doing
    anything)."""
    if (method, path) not in CALLER_ROUTES:
        raise ValueError(f"{method} {path} is not a caller route in CALLER_ROUTES")
    return router.route(
        path,
        method,
        middlewares=[_caller_only()],
        security=BEARER,
        openapi_extensions={CALLER_EXTENSION: True},
        **options,
    )


def current_access(router: Router) -> Access:
    """What the caller may do, and where (set by the route's permission check)."""
    access = router.context.get("access")
    if access is None:
        raise Unauthenticated("missing or invalid bearer token")
    assert isinstance(access, Access)
    return access


def current_actor(router: Router) -> Actor:
    """Who is acting, from where, in which request: for the security event log."""
    actor = router.context.get("actor")
    if actor is None:
        raise Unauthenticated("missing or invalid bearer token")
    assert isinstance(actor, Actor)
    return actor


def current_config(router: Router) -> Snapshot:
    """The configuration snapshot of this request's version (routes declared with `first_keys`)."""
    config = router.context.get("config")
    if config is None:
        raise Unauthenticated("missing or invalid bearer token")
    assert isinstance(config, Snapshot)
    return config


def current_first_reads(router: Router) -> FirstReads:
    """What the route's `first_keys` read (nothing for a route without them)."""
    first = router.context.get("first_reads")
    return first if isinstance(first, FirstReads) else FirstReads()


_config_cache: tuple[Store, ConfigCache] | None = None


def config_cache() -> ConfigCache:
    """This instance's configuration cache, bound to the store (and its client) it reads through: a new
    store (another table, a test's fresh one) starts an empty cache."""
    global _config_cache
    store = default_store()
    if _config_cache is None or _config_cache[0] is not store:
        _config_cache = (store, ConfigCache(default_config_source()))
    return _config_cache[1]
