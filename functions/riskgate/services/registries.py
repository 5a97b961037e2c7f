"""Managing registry connections, asking for a sync, and taking Harbor's webhooks: the rules (the API
models check shapes; the port owns storage, secrets and concurrency; the queue carries the work to the
registry ingester).

**Access.** A connection belongs to the whole account, as users, roles and scopes do: reading one needs
`registries:read`, changing one (and asking for a sync) `registries:manage`, each granted in the global
scope — a grant in a narrower scope does not reach them (403). What a connection shows never holds a
secret: `secrets_set` names the secret fields stored. A change may name the version it was made from
(`If-Match`, riskgate.domain.versions): else 409.

**A sync** (`request_sync`) marks the connection's sync as running (refused, 409, while another runs that
started less than an hour ago), with its audit event (action `sync`) in the same transaction, then puts
`{"kind": "sync", "registry_id", "job_id", "cursor": null}` on the registry work queue; the ingester walks
the registry a page at a time from there. A message that could not be queued ends the sync `failed`, so
that asking again is not refused.

**A Harbor webhook** (`receive_webhook`) carries no bearer token: Harbor sends the connection's
`webhook_secret` as its `Authorization` header (as is, or after `Bearer `), compared in constant time.
In that order: no Harbor connection of that id → 404 (nothing else said); a missing or wrong secret →
401, counted in the security event log as a failed authentication (as the authorizer counts refused
tokens), nothing queued; a body that is not a Harbor event → 400 (413 past MAX_WEBHOOK_BYTES); else
`{"kind": "harbor", "registry_id", "event": <the payload>}` is queued, the connection's state takes
`last_event_at`, and the answer is `{"accepted": true, "type": <Harbor's event type>}`.
"""

from __future__ import annotations

import hmac
import json
import secrets as random
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from riskgate.adapters.dynamo import Page
from riskgate.domain.access import Access
from riskgate.domain.audit import Actor, FailedAuthentication
from riskgate.domain.errors import (
    MalformedInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
)
from riskgate.domain.permissions import Permission
from riskgate.domain.registries.connections import (
    ConnectionType,
    connection_type,
    revise_connection,
    validate_connection,
)
from riskgate.domain.registries.harbor import harbor_event
from riskgate.domain.versions import ensure_version
from riskgate.services.entities import Check, body_fields

logger = Logger(child=True)

READ = Permission.REGISTRIES_READ
MANAGE = Permission.REGISTRIES_MANAGE
READ_REFUSAL = (
    "registry connections belong to the whole account: reading them needs registries:read in the global scope"
)
MANAGE_REFUSAL = (
    "registry connections belong to the whole account: managing them needs registries:manage in the "
    "global scope"
)
# Where a stored connection keeps its secret: bookkeeping, never shown (`secrets_set` instead).
_SECRET_BOOKKEEPING = ("secret_arn", "secret_version", "secret_fields")
# Harbor's payloads are a few KiB; anything much larger is not one (and would not fit an SQS message).
MAX_WEBHOOK_BYTES = 64 * 1024
UNAUTHENTICATED = "missing or invalid webhook secret"
NO_HEADER = "no Authorization header"
WRONG_SECRET = "wrong webhook secret"


# Called with the connection as read: the public fields to change, and the secret fields sent (or None).
Revise = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str] | None]]


class RegistryPort(Protocol):
    def get(self, entity_id: str) -> dict[str, Any] | None: ...
    def get_connection(self, registry_id: str) -> dict[str, Any] | None: ...
    def list_connections(self, limit: int, next_token: str | None) -> Page: ...
    # Both answer the connection with its `state`, as `get_connection` does.
    def create_connection(
        self, name: str, kind: str, config: Mapping[str, Any], secrets: Mapping[str, str], actor: Actor
    ) -> dict[str, Any]: ...
    def update_connection(self, registry_id: str, revise: Revise, actor: Actor) -> dict[str, Any]: ...
    def delete_connection(self, registry_id: str, actor: Actor, check: Check) -> None: ...
    def list_events(self, registry_id: str, limit: int, next_token: str | None) -> Page: ...
    def read_secret(self, registry_id: str) -> dict[str, str]: ...
    def start_sync(
        self, registry_id: str, job_id: str, at: datetime, *, actor: Actor | None = None
    ) -> dict[str, Any]: ...
    def finish_sync(
        self, registry_id: str, job_id: str, state: str, at: datetime, error: str | None = None
    ) -> bool: ...
    def record_receipt(self, registry_id: str, at: datetime) -> None: ...
    def record_failed_authentication(self, failure: FailedAuthentication) -> None: ...


class QueuePort(Protocol):
    def send(self, message: dict[str, Any]) -> None: ...


# --- access ---------------------------------------------------------------------------------------


def _ensure(access: Access, permission: Permission, refusal: str) -> None:
    """The routes refuse the same before they run; the rule is stated here too, where it is the use
    case's."""
    if not access.has_globally(permission):
        raise PermissionDenied(refusal)


def _not_found(registry_id: str) -> NotFound:
    return NotFound(f"registry connection {registry_id} not found")


def _versioned(registry_id: str, expected_version: int | None) -> Check:
    def check(current: dict[str, Any]) -> None:
        ensure_version(f"registry connection {registry_id}", current, expected_version)

    return check


# --- reading --------------------------------------------------------------------------------------


def shown(connection: Mapping[str, Any]) -> dict[str, Any]:
    """A connection as the API answers it: no trace of a secret but the names of those stored."""
    view = {key: value for key, value in connection.items() if key not in _SECRET_BOOKKEEPING}
    return {**view, "secrets_set": sorted(connection.get("secret_fields") or ())}


def list_connections(port: RegistryPort, access: Access, limit: int, next_token: str | None) -> Page:
    """By name, each with its state."""
    _ensure(access, READ, READ_REFUSAL)
    return port.list_connections(limit, next_token).mapped(shown)


def get_connection(port: RegistryPort, access: Access, registry_id: str) -> dict[str, Any]:
    """The connection with its state; 404 when there is none."""
    _ensure(access, READ, READ_REFUSAL)
    connection = port.get_connection(registry_id)
    if connection is None:
        raise _not_found(registry_id)
    return shown(connection)


def list_events(
    port: RegistryPort, access: Access, registry_id: str, limit: int, next_token: str | None
) -> Page:
    """The connection's events, newest first; 404 when there is no such connection."""
    _ensure(access, READ, READ_REFUSAL)
    if port.get(registry_id) is None:
        raise _not_found(registry_id)
    return port.list_events(registry_id, limit, next_token)


# --- changing -------------------------------------------------------------------------------------


def create_connection(
    port: RegistryPort,
    access: Access,
    actor: Actor,
    *,
    name: str,
    kind: str,
    config: Mapping[str, Any],
    insecure_hosts: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """A new connection; its secret fields go to the port's secret store, never into the item."""
    _ensure(access, MANAGE, MANAGE_REFUSAL)
    with body_fields():
        kind = connection_type(kind).value
        public, secrets = validate_connection(kind, dict(config), insecure_hosts=insecure_hosts)
    return shown(port.create_connection(name, kind, public, secrets, actor))


def update_connection(
    port: RegistryPort,
    access: Access,
    actor: Actor,
    registry_id: str,
    changes: Mapping[str, Any],
    *,
    insecure_hosts: frozenset[str] = frozenset(),
    expected_version: int | None = None,
) -> dict[str, Any]:
    """`changes`: `name`, and/or `config` with the fields to change (null: back to the default; a secret
    replaced only when sent). The type stays as created."""
    _ensure(access, MANAGE, MANAGE_REFUSAL)
    check = _versioned(registry_id, expected_version)

    def revise(current: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str] | None]:
        check(current)
        fields: dict[str, Any] = {}
        if changes.get("name") is not None:
            fields["name"] = changes["name"]
        secrets = None
        if changes.get("config") is not None:
            with body_fields():
                fields["config"], secrets = revise_connection(
                    current["type"],
                    current.get("config") or {},
                    dict(changes["config"]),
                    stored_secrets=frozenset(current.get("secret_fields") or ()),
                    insecure_hosts=insecure_hosts,
                )
        return fields, secrets

    return shown(port.update_connection(registry_id, revise, actor))


def delete_connection(
    port: RegistryPort, access: Access, actor: Actor, registry_id: str, *, expected_version: int | None = None
) -> None:
    _ensure(access, MANAGE, MANAGE_REFUSAL)
    port.delete_connection(registry_id, actor, _versioned(registry_id, expected_version))


# --- syncs ----------------------------------------------------------------------------------------


def request_sync(
    port: RegistryPort, queue: QueuePort, access: Access, actor: Actor, registry_id: str, now: datetime
) -> dict[str, Any]:
    """Start a sync of the connection: `{"registry_id", "job_id", "state": "running", "started_at", …}`.
    404 when there is no such connection, 409 while another sync runs."""
    _ensure(access, MANAGE, MANAGE_REFUSAL)
    if port.get(registry_id) is None:
        raise _not_found(registry_id)
    job_id = "job-" + random.token_hex(8)
    sync = port.start_sync(registry_id, job_id, now, actor=actor)
    try:
        queue.send({"kind": "sync", "registry_id": registry_id, "job_id": job_id, "cursor": None})
    except Exception:
        # Not queued: the sync will not run, so it must not keep the next request out for an hour.
        port.finish_sync(registry_id, job_id, "failed", now, error="the sync could not be queued")
        raise
    return {"registry_id": registry_id, **sync}


# --- Harbor's webhook -----------------------------------------------------------------------------


def receive_webhook(
    port: RegistryPort,
    queue: QueuePort,
    registry_id: str,
    authorization_header: str | None,
    body: bytes,
    source_ip: str | None,
    now: datetime,
    *,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Take one Harbor webhook for the connection (see the module's docstring for the order of checks)."""
    connection = port.get(registry_id)
    if connection is None or connection.get("type") != ConnectionType.HARBOR.value:
        raise _not_found(registry_id)
    refusal = _refusal(authorization_header, port.read_secret(registry_id).get("webhook_secret"))
    if refusal is not None:
        port.record_failed_authentication(
            FailedAuthentication(
                at=now,
                source_ip=source_ip,
                request_id=request_id,
                reason=refusal,
                method="POST",
                path=f"/v1/registries/{registry_id}/webhook",
            )
        )
        raise Unauthenticated(UNAUTHENTICATED)
    if len(body) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge(
            f"a Harbor webhook is at most {MAX_WEBHOOK_BYTES} bytes; this one has {len(body)}"
        )
    payload = _payload(body)
    event = harbor_event(payload)  # MalformedInput (400) for anything that is not a Harbor event
    queue.send({"kind": "harbor", "registry_id": registry_id, "event": payload})
    try:
        port.record_receipt(registry_id, now)
    except Exception:
        # Queued already: the work goes on; only the connection's `last_event_at` is behind.
        logger.exception("could not record a webhook's receipt", registry_id=registry_id)
    return {"accepted": True, "type": event.type}


def _refusal(header: str | None, secret: str | None) -> str | None:
    """Why the header does not prove the sender knows the webhook secret; None when it does. Both forms
    Harbor can be set up to send (the secret, or `Bearer <secret>`) are compared, each in constant time."""
    if not header:
        return NO_HEADER
    if not secret:
        return WRONG_SECRET  # a connection without one accepts nothing
    given, expected = header.encode("utf-8"), secret.encode("utf-8")
    matches = [hmac.compare_digest(given, expected), hmac.compare_digest(given, b"Bearer " + expected)]
    return None if any(matches) else WRONG_SECRET


def _payload(body: bytes) -> Any:
    """The webhook's JSON (a leading BOM dropped); 400 when it is not JSON."""
    if not body.strip():
        raise MalformedInput("the body is empty: expected a Harbor webhook event (JSON)")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MalformedInput(f"body is not UTF-8 text: invalid byte at offset {error.start}") from error
    try:
        return json.loads(text)
    except RecursionError as error:
        raise MalformedInput("body is not valid JSON: it is nested too deeply") from error
    except ValueError as error:
        raise MalformedInput(f"body is not valid JSON: {error}") from error
