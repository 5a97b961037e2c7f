"""Managing integrations: the rules about meaning and access (the API models check shapes; the port owns
storage, secrets and concurrency).

An integration has a scope of its own, as a response policy does (`global` unless created in another;
fixed at creation, like its name and type; an item stored before scopes existed is `global`). A caller
sees it with `integrations:read` granted in that scope or in `global` (else it does not exist for them:
404, and lists leave it out), and changes, deletes or tests it with `integrations:manage` there — plus
`scopes:global` when the scope is `global` — else 403. What an integration shows never contains a
secret: `has_secret` says whether one is stored.

**Test message** (`send_test_message`, `integrations:manage`): a sample event of type `test` rendered
and delivered through the integration exactly as the notifier delivers a notification, once, without
retry or rate limit; a delivery that fails is an outcome (`delivered: false`, whether trying again may
help), not an error of the call. Nothing is stored but its audit event (action `test`, the outcome as
details); no outcome ever holds a secret. A webhook's outcome says only whether it was delivered and the
HTTP status its receiver answered: never a connection or TLS error's text nor any of the answer, so
that the test cannot serve to probe hosts (its destination is vetted too, see
`riskgate.adapters.channels`). The other types' receivers are fixed by configuration (SES, SNS,
Telegram's API), and what they say about the integration's own settings is shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, Protocol

from riskgate.adapters.dynamo import Page
from riskgate.clock import iso
from riskgate.domain.access import Access
from riskgate.domain.audit import Actor
from riskgate.domain.integrations import (
    IntegrationType,
    integration_scope,
    integration_type,
    revise_integration,
    validate_integration,
)
from riskgate.domain.notifications import TEST_TRIGGER
from riskgate.domain.permissions import GLOBAL_SCOPE, Permission
from riskgate.services import entities
from riskgate.services.delivery import send_event
from riskgate.services.entities import Check, EntityRules, body_fields

RULES = EntityRules(
    what="integration",
    one="an integration",
    read=Permission.INTEGRATIONS_READ,
    manage=Permission.INTEGRATIONS_MANAGE,
    scope_of=integration_scope,
)

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
# What a webhook test says when the receiver gave no HTTP answer (refused, timed out, TLS failed, …).
WEBHOOK_UNREACHABLE = "the webhook could not be reached"
WEBHOOK_NOT_ALLOWED = "destination address not allowed"


class IntegrationPort(Protocol):
    def get_integration(self, name: str) -> dict[str, Any] | None: ...
    def list_integrations(self, limit: int, next_token: str | None) -> Page: ...
    def create_integration(
        self,
        name: str,
        kind: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        actor: Actor,
        *,
        scope: str = GLOBAL_SCOPE,
    ) -> dict[str, Any]: ...
    def update_integration(
        self,
        name: str,
        revise: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str] | None]],
        actor: Actor,
    ) -> dict[str, Any]: ...
    def delete_integration(self, name: str, actor: Actor, check: Check) -> None: ...
    def read_secret(self, name: str) -> dict[str, str]: ...
    def record_test(self, name: str, actor: Actor, outcome: Mapping[str, Any]) -> None: ...


# --- reading --------------------------------------------------------------------------------------


def shown(integration: Mapping[str, Any]) -> dict[str, Any]:
    """An integration as the API answers it: no trace of a secret but whether there is one; its scope
    (`global` for one stored before scopes existed)."""
    view = {key: value for key, value in integration.items() if key not in _SECRET_FIELDS}
    return {
        **view,
        "scope": integration_scope(integration),
        "has_secret": bool(integration.get("secret_arn")),
    }


def _readable(port: IntegrationPort, access: Access, name: str) -> dict[str, Any]:
    """The integration as stored; 404 alike when there is none and when the caller may not see it."""
    return RULES.readable(access, name, port.get_integration(name))


def get_integration(port: IntegrationPort, access: Access, name: str) -> dict[str, Any]:
    return shown(_readable(port, access, name))


def list_integrations(port: IntegrationPort, access: Access, limit: int, next_token: str | None) -> Page:
    """By name, only those the caller may see."""
    return entities.list_visible(RULES, port.list_integrations, access, limit, next_token).mapped(shown)


# --- changing -------------------------------------------------------------------------------------


def create_integration(
    port: IntegrationPort,
    access: Access,
    actor: Actor,
    *,
    name: str,
    kind: str,
    config: Mapping[str, Any],
    scope: str = GLOBAL_SCOPE,
    insecure_hosts: frozenset[str] = frozenset(),
    local_sinks: Collection[str] = frozenset(),
) -> dict[str, Any]:
    """A new integration in `scope` (the port refuses, 422 on `body.scope`, a scope that does not exist)."""
    RULES.ensure_may_manage(access, scope, "creating")
    with body_fields():
        public, secrets = validate_integration(
            kind, dict(config), insecure_hosts=insecure_hosts, local_sinks=local_sinks
        )
    created = port.create_integration(name, integration_type(kind).value, public, secrets, actor, scope=scope)
    return shown(created)


def update_integration(
    port: IntegrationPort,
    access: Access,
    actor: Actor,
    name: str,
    config: Mapping[str, Any],
    *,
    insecure_hosts: frozenset[str] = frozenset(),
    local_sinks: Collection[str] = frozenset(),
    expected_version: int | None = None,
) -> dict[str, Any]:
    """`config` holds the fields to change (null: back to the default; a secret: removed where optional).
    The scope, like the name and the type, stays as created."""
    check = RULES.check_for(access, name, expected_version=expected_version)

    def revise(current: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str] | None]:
        check(current)
        with body_fields():
            return revise_integration(
                current["type"],
                current.get("config") or {},
                dict(config),
                has_secret=bool(current.get("secret_arn")),
                insecure_hosts=insecure_hosts,
                local_sinks=local_sinks,
            )

    return shown(port.update_integration(name, revise, actor))


def delete_integration(
    port: IntegrationPort, access: Access, actor: Actor, name: str, *, expected_version: int | None = None
) -> None:
    port.delete_integration(
        name, actor, RULES.check_for(access, name, doing="deleting", expected_version=expected_version)
    )


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
    """Send a test message through the integration (404 if there is none the caller may see) and say
    what happened: `{"integration", "type", "delivered", "status", "detail", "error", "retryable"}`.
    `render` and `deliver` are the notifier's (riskgate.domain.notifications.render,
    riskgate.adapters.channels.deliver with its clients and Telegram's base URL bound)."""
    # Imported here: the API loads the channels only for this.
    from riskgate.adapters.delivery_errors import DeliveryError, DestinationNotAllowed, TransientDeliveryError

    integration = _readable(port, access, name)
    RULES.check_for(access, name, doing="testing")(integration)
    secrets = port.read_secret(name)
    delivery_id = "test-" + uuid.uuid4().hex[:24]
    kind = str(integration.get("type") or "")
    webhook = kind == IntegrationType.WEBHOOK.value
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
        status = error.status
        if not webhook:
            said = str(error) or type(error).__name__
        elif isinstance(error, DestinationNotAllowed):
            said = WEBHOOK_NOT_ALLOWED
        else:
            # Only the status: an error's text or the answer would make the test a probe of hosts.
            said = f"the webhook answered {status}" if status is not None else WEBHOOK_UNREACHABLE
        outcome = {
            "integration": name,
            "type": kind,
            "delivered": False,
            "status": status,
            "detail": (
                "the test message was not delivered; trying again later may help"
                if retryable
                else "the test message was not delivered; the integration or its receiver must change"
            ),
            "error": _without_secrets(said, secrets),
            "retryable": retryable,
        }
    else:
        status = getattr(result, "status", None)
        if webhook:
            detail = f"the webhook answered {status}" if status is not None else "delivered"
        else:
            detail = str(getattr(result, "detail", "") or "delivered")
        outcome = {
            "integration": name,
            "type": kind,
            "delivered": True,
            "status": status,
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
