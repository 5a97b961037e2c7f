"""Sending one event through one integration: rendered for its type (and a webhook's preset or template)
and delivered once. The notifier (riskgate.services.notifications.notify) and the integration test
(riskgate.services.integrations.send_test_message) both send this way; neither depends on the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# riskgate.domain.notifications.render and riskgate.adapters.channels.deliver, the clients bound.
Render = Callable[..., Any]
Deliver = Callable[..., Any]


def send_event(
    event: Mapping[str, Any],
    integration: Mapping[str, Any],
    secrets: Mapping[str, str],
    *,
    policy_name: str,
    delivery_id: str,
    render: Render,
    deliver: Deliver,
    api_base_url: str,
) -> Any:
    """`event` rendered for the integration (its type, and a webhook's preset or template) and delivered
    once through it: the channel's answer, or its `DeliveryError`. The notifier's delivery and the
    integration test's (riskgate.services.integrations.send_test_message) are both this."""
    config = integration.get("config") or {}
    message = render(
        event,
        policy_name=policy_name,
        integration_type=str(integration["type"]),
        preset=config.get("preset"),
        template=config.get("template"),
        api_base_url=api_base_url,
    )
    return deliver(integration, secrets, message, delivery_id=delivery_id)
