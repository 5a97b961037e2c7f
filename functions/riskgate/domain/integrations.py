"""Integrations as data: named, pre-configured channels a response policy's outputs send through.

An integration has a type (e-mail, Telegram, an SNS topic, a webhook) and a `config` checked here. Some
config fields are secrets (a Telegram bot token, a webhook's signing secret): write-only, they are split
off from the public config and kept apart (Secrets Manager); nothing shows them again. No AWS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from riskgate.domain.errors import InvalidInput


class IntegrationType(StrEnum):
    EMAIL = "email"
    TELEGRAM = "telegram"
    SNS = "sns"
    WEBHOOK = "webhook"


class WebhookPreset(StrEnum):
    """The shape of a webhook's body when it has no template of its own."""

    GENERIC = "generic"
    SLACK = "slack"
    TEAMS = "teams"


# What a webhook body template may name, as `{name}`; other braces (a JSON body's) are kept as they are.
TEMPLATE_PLACEHOLDERS = frozenset({"policy_name", "trigger", "image", "registry", "verdict", "counts"})
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Config fields that are secrets, per type: write-only, never in the public config.
SECRET_FIELDS: dict[IntegrationType, tuple[str, ...]] = {
    IntegrationType.EMAIL: (),
    IntegrationType.TELEGRAM: ("bot_token",),
    IntegrationType.SNS: (),
    IntegrationType.WEBHOOK: ("secret",),
}
# Secrets a type cannot work without: required when the integration is created.
REQUIRED_SECRETS: dict[IntegrationType, tuple[str, ...]] = {IntegrationType.TELEGRAM: ("bot_token",)}

# An integration's name is its key, part of its URL and of its secret's name.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

MAX_RECIPIENTS = 50
MIN_RATE_LIMIT, MAX_RATE_LIMIT, DEFAULT_RATE_LIMIT = 1, 600, 60
MAX_URL_LENGTH = 2048
MAX_TEMPLATE_LENGTH = 8000
MIN_SIGNING_SECRET_LENGTH, MAX_SECRET_LENGTH = 16, 1024

_FIELDS: dict[IntegrationType, tuple[str, ...]] = {
    IntegrationType.EMAIL: ("from", "to"),
    IntegrationType.TELEGRAM: ("bot_token", "chat_id"),
    IntegrationType.SNS: ("topic_arn",),
    IntegrationType.WEBHOOK: ("url", "secret", "preset", "template", "rate_limit_per_minute"),
}
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_MAX_EMAIL_LENGTH = 254
_BOT_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,100}$")
_CHAT_NUMBER = re.compile(r"^-?\d{1,20}$")
_CHANNEL = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{4,31}$")
_TOPIC_ARN = re.compile(
    r"^arn:aws(?:-[a-z]+)*:sns:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?$"
)

Secrets = dict[str, str]


def integration_type(raw: object) -> IntegrationType:
    if isinstance(raw, str) and raw in set(IntegrationType):
        return IntegrationType(raw)
    known = ", ".join(kind.value for kind in IntegrationType)
    raise _invalid("type", f"{raw!r} is not an integration type; known: {known}")


def validate_integration(
    kind: IntegrationType | str,
    config: object,
    *,
    insecure_hosts: frozenset[str] = frozenset(),
    has_secret: bool = False,
) -> tuple[dict[str, Any], Secrets]:
    """A `config` as (public config, secrets); `InvalidInput` naming the field (`config.to[1]`) if wrong.

    A field given as null counts as not given. `has_secret`: the integration's secret is stored already,
    so a required one need not be sent again. `insecure_hosts`: hosts a webhook may reach over http.
    Messages about a secret never repeat its value.
    """
    kind = integration_type(kind)
    if not isinstance(config, dict):
        raise _invalid("config", "must be an object")
    unknown = sorted(str(key) for key in config if key not in _FIELDS[kind])
    if unknown:
        raise _invalid(
            f"config.{unknown[0]}", f"is not a {kind.value} field; known: {', '.join(_FIELDS[kind])}"
        )
    given = {key: value for key, value in config.items() if value is not None}
    secrets: Secrets = {}
    for name in SECRET_FIELDS[kind]:
        if name in given:
            secrets[name] = _secret(given.pop(name), name, kind)
        elif name in REQUIRED_SECRETS.get(kind, ()) and not has_secret:
            raise _invalid(f"config.{name}", "is required")
    if kind is IntegrationType.EMAIL:
        public: dict[str, Any] = {
            "from": _address(_required(given, "from"), "config.from"),
            "to": _recipients(given),
        }
    elif kind is IntegrationType.TELEGRAM:
        public = {"chat_id": _chat_id(_required(given, "chat_id"))}
    elif kind is IntegrationType.SNS:
        public = {"topic_arn": _topic_arn(_required(given, "topic_arn"))}
    else:
        public = _webhook(given, insecure_hosts)
    return public, secrets


def revise_integration(
    kind: IntegrationType | str,
    current: Mapping[str, Any],
    changes: object,
    *,
    has_secret: bool,
    insecure_hosts: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], Secrets | None]:
    """A PATCH's `config` over the stored public one: a field sent replaces, one sent as null goes back to
    its default (an optional secret: removed), one left out stays. Returns the whole new public config and
    what happens to the secrets: None keep them, {} remove them, else the new values."""
    kind = integration_type(kind)
    if not isinstance(changes, dict):
        raise _invalid("config", "must be an object")
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    removed = [name for name in SECRET_FIELDS[kind] if name in changes and changes[name] is None]
    public, secrets = validate_integration(
        kind, merged, insecure_hosts=insecure_hosts, has_secret=has_secret and not removed
    )
    if secrets:
        return public, secrets
    return public, ({} if removed and has_secret else None)


def template_placeholders(template: str) -> list[str]:
    """The `{name}` placeholders a template uses, in order of first use."""
    names: list[str] = []
    for name in PLACEHOLDER.findall(template):
        if name not in names:
            names.append(name)
    return names


# --- the fields -----------------------------------------------------------------------------------


def _invalid(field: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{field} {problem}", details=[{"field": field}])


def _required(given: dict[str, Any], name: str) -> Any:
    if name not in given:
        raise _invalid(f"config.{name}", "is required")
    return given[name]


def _address(value: object, field: str) -> str:
    text = value.strip() if isinstance(value, str) else None
    if not text or len(text) > _MAX_EMAIL_LENGTH or not _EMAIL.match(text):
        raise _invalid(field, f"must be an e-mail address such as alerts@example.com, not {value!r}")
    return text


def _recipients(given: dict[str, Any]) -> list[str]:
    value = _required(given, "to")
    if not isinstance(value, list) or not value:
        raise _invalid("config.to", "must be a list of 1 to 50 e-mail addresses")
    if len(value) > MAX_RECIPIENTS:
        raise _invalid("config.to", f"has {len(value)} addresses; at most {MAX_RECIPIENTS}")
    recipients: list[str] = []
    for index, item in enumerate(value):
        address = _address(item, f"config.to[{index}]")
        if address.lower() not in (known.lower() for known in recipients):
            recipients.append(address)
    return recipients


def _secret(value: object, name: str, kind: IntegrationType) -> str:
    # Never repeat the value: a message may be logged.
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"config.{name}", "must be a non-empty string")
    text = value.strip()
    if kind is IntegrationType.TELEGRAM and not _BOT_TOKEN.match(text):
        raise _invalid(f"config.{name}", "is not a Telegram bot token (<digits>:<letters, digits, _ or ->)")
    if kind is IntegrationType.WEBHOOK and not MIN_SIGNING_SECRET_LENGTH <= len(text) <= MAX_SECRET_LENGTH:
        raise _invalid(
            f"config.{name}",
            f"must be {MIN_SIGNING_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters long",
        )
    return text


def _chat_id(value: object) -> int | str:
    """A chat's number (groups and channels are negative), or a public channel's @username."""
    if isinstance(value, int) and not isinstance(value, bool) and value != 0:
        return value
    if isinstance(value, str):
        text = value.strip()
        if _CHAT_NUMBER.match(text) and int(text) != 0:
            return int(text)
        if _CHANNEL.match(text):
            return text
    raise _invalid("config.chat_id", f"must be a chat number or a channel's @username, not {value!r}")


def _topic_arn(value: object) -> str:
    text = value.strip() if isinstance(value, str) else None
    if not text or not _TOPIC_ARN.match(text):
        raise _invalid(
            "config.topic_arn",
            f"must be an SNS topic ARN (arn:aws:sns:<region>:<12-digit account>:<topic>), not {value!r}",
        )
    return text


def _webhook(given: dict[str, Any], insecure_hosts: frozenset[str]) -> dict[str, Any]:
    public: dict[str, Any] = {
        "url": _url(_required(given, "url"), insecure_hosts),
        "preset": _preset(given.get("preset", WebhookPreset.GENERIC.value)),
        "rate_limit_per_minute": _rate_limit(given.get("rate_limit_per_minute", DEFAULT_RATE_LIMIT)),
    }
    if "template" in given:
        public["template"] = _template(given["template"])
    return public


def _url(value: object, insecure_hosts: frozenset[str]) -> str:
    text = value.strip() if isinstance(value, str) else None
    if not text or len(text) > MAX_URL_LENGTH:
        raise _invalid("config.url", f"must be an https:// URL of at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise _invalid("config.url", "is not a URL") from None
    if not host:
        raise _invalid("config.url", "must name a host")
    if parts.username is not None or parts.password is not None:
        # They would be shown to every reader of the integration: a signing secret is the way.
        raise _invalid("config.url", "must not carry credentials; use config.secret to sign requests")
    insecure = parts.scheme == "http" and (host in insecure_hosts or f"{host}:{port}" in insecure_hosts)
    if parts.scheme != "https" and not insecure:
        raise _invalid("config.url", f"must use https, not {parts.scheme or 'no scheme'}")
    return text


def _preset(value: object) -> str:
    if isinstance(value, str) and value in set(WebhookPreset):
        return value
    known = ", ".join(preset.value for preset in WebhookPreset)
    raise _invalid("config.preset", f"{value!r} is not a preset; known: {known}")


def _template(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEMPLATE_LENGTH:
        raise _invalid(
            "config.template", f"must be a non-empty string of at most {MAX_TEMPLATE_LENGTH} characters"
        )
    unknown = [name for name in template_placeholders(value) if name not in TEMPLATE_PLACEHOLDERS]
    if unknown:
        known = ", ".join("{" + name + "}" for name in sorted(TEMPLATE_PLACEHOLDERS))
        raise _invalid("config.template", f"names an unknown placeholder {{{unknown[0]}}}; known: {known}")
    return value


def _rate_limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_RATE_LIMIT <= value <= MAX_RATE_LIMIT:
        raise _invalid(
            "config.rate_limit_per_minute",
            f"must be a whole number from {MIN_RATE_LIMIT} to {MAX_RATE_LIMIT}, not {value!r}",
        )
    return value
