"""Integrations as data: each type's config, split into what may be shown and the write-only secrets."""

from __future__ import annotations

from typing import Any

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.integrations import (
    DEFAULT_RATE_LIMIT,
    TEMPLATE_PLACEHOLDERS,
    IntegrationType,
    WebhookPreset,
    revise_integration,
    template_placeholders,
    validate_integration,
)

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SIGNING_SECRET = "s3cret-signing-key-0123456789"


def field_of(error: pytest.ExceptionInfo[InvalidInput]) -> str:
    (detail,) = error.value.details
    field: str = detail["field"]
    return field


def test_an_email_integration_has_a_sender_and_recipients() -> None:
    public, secrets = validate_integration(
        "email", {"from": "riskgate@example.com", "to": ["a@example.com", "B@example.com", "b@example.com"]}
    )
    assert public == {"from": "riskgate@example.com", "to": ["a@example.com", "B@example.com"]}
    assert secrets == {}


def test_a_telegram_integration_keeps_its_bot_token_apart() -> None:
    public, secrets = validate_integration("telegram", {"bot_token": BOT_TOKEN, "chat_id": "-1001234567890"})
    assert public == {"chat_id": -1001234567890}
    assert secrets == {"bot_token": BOT_TOKEN}
    public, _ = validate_integration(
        IntegrationType.TELEGRAM, {"bot_token": BOT_TOKEN, "chat_id": "@riskgate_ops"}
    )
    assert public == {"chat_id": "@riskgate_ops"}
    # Stored already: a change need not send it again.
    public, secrets = validate_integration("telegram", {"chat_id": 42}, has_secret=True)
    assert (public, secrets) == ({"chat_id": 42}, {})


def test_an_sns_integration_names_a_topic() -> None:
    arn = "arn:aws:sns:eu-west-1:123456789012:security-alerts"
    assert validate_integration("sns", {"topic_arn": arn}) == ({"topic_arn": arn}, {})
    fifo = "arn:aws-us-gov:sns:us-gov-west-1:123456789012:alerts.fifo"
    assert validate_integration("sns", {"topic_arn": fifo})[0] == {"topic_arn": fifo}


def test_a_webhook_has_defaults_and_an_optional_secret_and_template() -> None:
    public, secrets = validate_integration("webhook", {"url": "https://hooks.example.com/x"})
    assert public == {
        "url": "https://hooks.example.com/x",
        "preset": WebhookPreset.GENERIC.value,
        "rate_limit_per_minute": DEFAULT_RATE_LIMIT,
    }
    assert secrets == {}
    template = '{"text": "{policy_name}: {trigger} on {image} ({registry}) {verdict} {counts}"}'
    public, secrets = validate_integration(
        "webhook",
        {
            "url": "https://hooks.example.com/x",
            "secret": SIGNING_SECRET,
            "preset": "slack",
            "template": template,
            "rate_limit_per_minute": 600,
        },
    )
    assert public["template"] == template
    assert public["preset"] == "slack"
    assert "secret" not in public
    assert secrets == {"secret": SIGNING_SECRET}
    assert template_placeholders(template) == [
        "policy_name",
        "trigger",
        "image",
        "registry",
        "verdict",
        "counts",
    ]
    assert set(template_placeholders(template)) == TEMPLATE_PLACEHOLDERS


def test_http_is_allowed_only_to_the_configured_hosts() -> None:
    with pytest.raises(InvalidInput, match="https") as error:
        validate_integration("webhook", {"url": "http://hooks.example.com/sink"})
    assert field_of(error) == "config.url"
    public, _ = validate_integration(
        "webhook", {"url": "http://hooks.example.com/sink"}, insecure_hosts=frozenset({"hooks.example.com"})
    )
    assert public["url"] == "http://hooks.example.com/sink"
    with pytest.raises(InvalidInput):
        validate_integration(
            "webhook", {"url": "http://example.com/"}, insecure_hosts=frozenset({"hooks.example.com"})
        )


def test_plain_http_to_a_loopback_host_is_still_not_a_public_destination() -> None:
    """http being allowed to a host does not make an internal host public (the local stack's sink is
    allowed by its exact base URL, see tests/unit/test_destinations.py)."""
    with pytest.raises(InvalidInput, match="loopback") as error:
        validate_integration(
            "webhook", {"url": "http://127.0.0.1:9000/sink"}, insecure_hosts=frozenset({"127.0.0.1"})
        )
    assert field_of(error) == "config.url"


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("email", {"from": "not an address", "to": ["a@example.com"]}, "config.from"),
        ("email", {"from": "a@example.com", "to": ["b@example.com", "b@"]}, "config.to[1]"),
        ("email", {"from": "a@example.com", "to": []}, "config.to"),
        ("email", {"from": "a@example.com", "to": [f"u{n}@example.com" for n in range(51)]}, "config.to"),
        ("email", {"from": "a@example.com"}, "config.to"),
        ("email", {"from": "a@example.com", "to": ["b@example.com"], "cc": []}, "config.cc"),
        ("telegram", {"chat_id": 1}, "config.bot_token"),
        ("telegram", {"bot_token": "nope", "chat_id": 1}, "config.bot_token"),
        ("telegram", {"bot_token": BOT_TOKEN, "chat_id": True}, "config.chat_id"),
        ("telegram", {"bot_token": BOT_TOKEN, "chat_id": "my chat"}, "config.chat_id"),
        ("telegram", {"bot_token": BOT_TOKEN}, "config.chat_id"),
        ("sns", {"topic_arn": "arn:aws:sqs:us-east-1:123456789012:queue"}, "config.topic_arn"),
        ("sns", {"topic_arn": "arn:aws:sns:us-east-1:1234:topic"}, "config.topic_arn"),
        ("webhook", {"url": "ftp://example.com/"}, "config.url"),
        ("webhook", {"url": "https:///nohost"}, "config.url"),
        ("webhook", {"url": "https://user:pw@example.com/"}, "config.url"),
        ("webhook", {"url": "https://example.com/", "preset": "discord"}, "config.preset"),
        ("webhook", {"url": "https://example.com/", "template": "{image} {tag}"}, "config.template"),
        ("webhook", {"url": "https://example.com/", "template": ""}, "config.template"),
        (
            "webhook",
            {"url": "https://example.com/", "rate_limit_per_minute": 0},
            "config.rate_limit_per_minute",
        ),
        (
            "webhook",
            {"url": "https://example.com/", "rate_limit_per_minute": 601},
            "config.rate_limit_per_minute",
        ),
        ("webhook", {"url": "https://example.com/", "secret": "short"}, "config.secret"),
        ("pager", {}, "type"),
    ],
)
def test_invalid_configs_name_the_field(kind: str, config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_integration(kind, config)
    assert field_of(error) == field


def test_an_invalid_secret_is_never_repeated_in_the_message() -> None:
    almost = "123:short-token-value"
    with pytest.raises(InvalidInput) as error:
        validate_integration("telegram", {"bot_token": almost, "chat_id": 1})
    assert almost not in error.value.message
    with pytest.raises(InvalidInput) as error:
        validate_integration("webhook", {"url": "https://example.com/", "secret": "tiny-secret"})
    assert "tiny-secret" not in error.value.message


def test_a_revision_merges_config_and_says_what_becomes_of_the_secret() -> None:
    current = {"url": "https://a.example.com/", "preset": "slack", "rate_limit_per_minute": 10}
    # Fields sent replace, the others stay; the stored secret is kept.
    public, secrets = revise_integration("webhook", current, {"preset": "teams"}, has_secret=True)
    assert public == {**current, "preset": "teams"}
    assert secrets is None
    # null: back to the default.
    public, _ = revise_integration("webhook", current, {"rate_limit_per_minute": None}, has_secret=True)
    assert public["rate_limit_per_minute"] == DEFAULT_RATE_LIMIT
    # A new secret replaces it; null removes it.
    _, secrets = revise_integration("webhook", current, {"secret": SIGNING_SECRET}, has_secret=True)
    assert secrets == {"secret": SIGNING_SECRET}
    _, secrets = revise_integration("webhook", current, {"secret": None}, has_secret=True)
    assert secrets == {}
    _, secrets = revise_integration("webhook", current, {"secret": None}, has_secret=False)
    assert secrets is None
    # A required secret cannot be removed.
    with pytest.raises(InvalidInput) as error:
        revise_integration("telegram", {"chat_id": 1}, {"bot_token": None}, has_secret=True)
    assert field_of(error) == "config.bot_token"
    assert revise_integration("telegram", {"chat_id": 1}, {"chat_id": 2}, has_secret=True) == (
        {"chat_id": 2},
        None,
    )
