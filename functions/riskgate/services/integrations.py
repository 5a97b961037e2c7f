"""Managing integrations: the rules about meaning and access (the API models check shapes; the port owns
storage, secrets and concurrency).

Integrations are account-wide, like users and scopes: reading them needs `integrations:read`, changing
them `integrations:manage`, granted in the global scope (else 403). What an integration shows never
contains a secret: `has_secret` says whether one is stored.

**Test message** (`send_test_message`, `integrations:manage`): a sample event of type `test` rendered
and delivered through the integration exactly as the notifier delivers a notification, once, without
retry or rate limit; a delivery that fails is an outcome (`delivered: false`, the error, whether trying
again may help), not an error of the call. Nothing is stored but its audit event (action `test`, the
outcome as details); no outcome ever holds a secret.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.clock import iso
from riskgate.domain.access import Access
from riskgate.domain.audit import Actor
from riskgate.domain.errors import InvalidInput, NotFound, PermissionDenied
from riskgate.domain.integrations import integration_type, revise_integration, validate_integration
from riskgate.domain.notifications import TEST_TRIGGER
from riskgate.domain.permissions import Permission

READ = Permission.INTEGRATIONS_READ
MANAGE = Permission.INTEGRATIONS_MANAGE

# Where a stored integration keeps its secret: bookkeeping, never shown (`has_secret` instead).
_SECRET_FIELDS = ("secret_arn", "secret_version")
# The image a test message is about: an example, so that the receiver sees a real message's shape.
SAMPLE_IMAGE = {
    "registry": "registry.example.com",
    "repository": "riskgate/example",
    "tags": ["latest"],
    "digest": "sha256:" + "0" * 64,
}
# What a secret that still found its way into a receiver's answer is replaced with.
REDACTED = "[redacted]"


class IntegrationPort(Protocol):
    def get_integration(self, name: str) -> dict[str, Any] | None: ...
    def list_integrations(self, limit: int, next_token: str | None) -> Page: ...
    def create_integration(
        self, name: str, kind: str, config: Mapping[str, Any], secrets: Mapping[str, str], actor: Actor
    ) -> dict[str, Any]: ...
    def update_integration(
        self,
        name: str,
        revise: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str] | None]],
        actor: Actor,
    ) -> dict[str, Any]: ...
    def delete_integration(self, name: str, actor: Actor) -> None: ...
    def read_secret(self, name: str) -> dict[str, str]: ...
    def record_test(self, name: str, actor: Actor, outcome: Mapping[str, Any]) -> None: ...


# --- access ---------------------------------------------------------------------------------------


def _ensure_globally(access: Access, permission: Permission, doing: str) -> None:
    if not access.has_globally(permission):
        raise PermissionDenied(f"{doing} integrations needs {permission.value} in the global scope")


# --- reading --------------------------------------------------------------------------------------


def shown(integration: Mapping[str, Any]) -> dict[str, Any]:
    """An integration as the API answers it: no trace of a secret but whether there is one."""
    view = {key: value for key, value in integration.items() if key not in _SECRET_FIELDS}
    return {**view, "has_secret": bool(integration.get("secret_arn"))}


def get_integration(port: IntegrationPort, access: Access, name: str) -> dict[str, Any]:
    _ensure_globally(access, READ, "reading")
    integration = port.get_integration(name)
    if integration is None:
        raise NotFound(f"integration {name} not found")
    return shown(integration)


def list_integrations(port: IntegrationPort, access: Access, limit: int, next_token: str | None) -> Page:
    _ensure_globally(access, READ, "reading")
    page = port.list_integrations(limit, next_token)
    return Page(items=[shown(item) for item in page.items], next_token=page.next_token)


# --- changing -------------------------------------------------------------------------------------


def create_integration(
    port: IntegrationPort,
    access: Access,
    actor: Actor,
    *,
    name: str,
    kind: str,
    config: Mapping[str, Any],
    insecure_hosts: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    _ensure_globally(access, MANAGE, "managing")
    with body_fields():
        public, secrets = validate_integration(kind, dict(config), insecure_hosts=insecure_hosts)
    return shown(port.create_integration(name, integration_type(kind).value, public, secrets, actor))


def update_integration(
    port: IntegrationPort,
    access: Access,
    actor: Actor,
    name: str,
    config: Mapping[str, Any],
    *,
    insecure_hosts: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """`config` holds the fields to change (null: back to the default; a secret: removed where optional)."""
    _ensure_globally(access, MANAGE, "managing")

    def revise(current: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str] | None]:
        with body_fields():
            return revise_integration(
                current["type"],
                current.get("config") or {},
                dict(config),
                has_secret=bool(current.get("secret_arn")),
                insecure_hosts=insecure_hosts,
            )

    return shown(port.update_integration(name, revise, actor))


def delete_integration(port: IntegrationPort, access: Access, actor: Actor, name: str) -> None:
    _ensure_globally(access, MANAGE, "managing")
    port.delete_integration(name, actor)


# --- testing --------------------------------------------------------------------------------------


def sample_event(event_id: str, now: datetime) -> dict[str, Any]:
    """The trigger event a test message renders: type `test`, about the sample image."""
    return {
        "id": event_id,
        "type": TEST_TRIGGER,
        "occurred_at": iso(now),
        "image": {**SAMPLE_IMAGE, "tags": list(SAMPLE_IMAGE["tags"])},
    }


def send_test_message(
    port: IntegrationPort,
    access: Access,
    actor: Actor,
    name: str,
    *,
    render: Callable[..., Any],
    deliver: Callable[..., Any],
    now: datetime,
    api_base_url: str = "",
) -> dict[str, Any]:
    """Send a test message through the integration (404 if there is none) and say what happened:
    `{"integration", "type", "delivered", "detail", "error", "retryable"}`. `render` and `deliver` are
    the notifier's (riskgate.domain.notifications.render, riskgate.adapters.channels.deliver with its
    clients and Telegram's base URL bound)."""
    # Imported here: services.notifications imports (through response policies) this module; and the
    # API loads the channels only for this.
    from riskgate.adapters.channels import DeliveryError, TransientDeliveryError
    from riskgate.services.notifications import send_event

    _ensure_globally(access, MANAGE, "testing")
    integration = port.get_integration(name)
    if integration is None:
        raise NotFound(f"integration {name} not found")
    secrets = port.read_secret(name)
    delivery_id = "test-" + uuid.uuid4().hex[:24]
    kind = str(integration.get("type") or "")
    try:
        result = send_event(
            sample_event(delivery_id, now),
            integration,
            secrets,
            policy_name=f"integration test ({name})",
            delivery_id=delivery_id,
            render=render,
            deliver=deliver,
            api_base_url=api_base_url,
        )
    except DeliveryError as error:
        retryable = isinstance(error, TransientDeliveryError)
        outcome = {
            "integration": name,
            "type": kind,
            "delivered": False,
            "detail": (
                "the test message was not delivered; trying again later may help"
                if retryable
                else "the test message was not delivered; the integration or its receiver must change"
            ),
            "error": _without_secrets(str(error) or type(error).__name__, secrets),
            "retryable": retryable,
        }
    else:
        detail = str(getattr(result, "detail", "") or "delivered")
        outcome = {
            "integration": name,
            "type": kind,
            "delivered": True,
            "detail": _without_secrets(detail, secrets),
            "error": None,
            "retryable": False,
        }
    port.record_test(name, actor, outcome)
    return outcome


def _without_secrets(text: str, secrets: Mapping[str, str]) -> str:
    """The channels never repeat a secret; this makes sure of it for whatever a receiver answered."""
    for value in secrets.values():
        if value:
            text = text.replace(value, REDACTED)
    return text


@contextmanager
def body_fields() -> Iterator[None]:
    """Domain 422s name fields (`config.to[1]`); the API's name the part of the request too
    (`body.config.to[1]`), as its other 422s do."""
    try:
        yield
    except InvalidInput as error:
        details = [
            {"location": f"body.{detail['field']}", "message": error.message}
            for detail in error.details
            if isinstance(detail, dict) and "field" in detail
        ]
        raise InvalidInput(error.message, details=details or error.details) from error
