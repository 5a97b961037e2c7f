"""Integrations as data: named, pre-configured channels a response policy's outputs send through.

An integration has a type (e-mail, Telegram, an SNS topic, a webhook) and a `config` checked here. Some
config fields are secrets (a Telegram bot token, a webhook's signing secret): write-only, they are split
off from the public config and kept apart (Secrets Manager); nothing shows them again. No AWS.

**Where a webhook may send.** Its URL names a public host: never one that reaches the machine itself, the
cloud's instance metadata or a private network (SSRF). `host_refusal` judges a host as written, with no
network: a name (internal names refused; what it resolves to is judged again when sending, by
`address_refusal` over every resolved address) or an address in any spelling a resolver accepts —
`2130706433`, `0x7f000001`, `0177.0.0.1` and `127.1` are all 127.0.0.1. The local stack's own sink is the
one exception, and only where the settings name it (`local_sinks`).

**Scope.** An integration belongs to a scope (`global` unless created elsewhere; items stored before
scopes existed count as `global`); it is fixed at creation, as its name and type are.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import SplitResult, urlsplit

from riskgate.domain.outbound_urls import invalid, outbound_url, require_https
from riskgate.domain.permissions import GLOBAL_SCOPE


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
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that reach the machine itself or a cloud's instance metadata whatever they resolve to today
# (a resolver's search domains, /etc/hosts and the cloud's own DNS decide that, not the URL).
_INTERNAL_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal", "instance-data"})
_INTERNAL_SUFFIXES = (".localhost", ".internal")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
# A host whose last label is a number is an IPv4 address to a resolver (and to browsers): all of it must
# then parse as one, in any of the legacy spellings.
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$")
_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # IPv6 spelling of an IPv4 address, through a NAT64 gateway
_DEFAULT_PORTS = {"http": 80, "https": 443}


def integration_type(raw: object) -> IntegrationType:
    if isinstance(raw, str) and raw in set(IntegrationType):
        return IntegrationType(raw)
    known = ", ".join(kind.value for kind in IntegrationType)
    raise invalid("type", f"{raw!r} is not an integration type; known: {known}")


def integration_scope(integration: Mapping[str, Any]) -> str:
    """The scope an (as stored) integration belongs to: one stored before scopes existed is global."""
    return str(integration.get("scope") or GLOBAL_SCOPE)


def validate_integration(
    kind: IntegrationType | str,
    config: object,
    *,
    insecure_hosts: frozenset[str] = frozenset(),
    local_sinks: Collection[str] = frozenset(),
    has_secret: bool = False,
) -> tuple[dict[str, Any], Secrets]:
    """A `config` as (public config, secrets); `InvalidInput` naming the field (`config.to[1]`) if wrong.

    A field given as null counts as not given. `has_secret`: the integration's secret is stored already,
    so a required one need not be sent again. `insecure_hosts`: hosts a webhook may reach over http (they
    must still be public). `local_sinks`: base URLs (`http://127.0.0.1:8025`) of the local stack's own
    sink, which a webhook may reach though it is loopback. Messages about a secret never repeat its value.
    """
    kind = integration_type(kind)
    if not isinstance(config, dict):
        raise invalid("config", "must be an object")
    unknown = sorted(str(key) for key in config if key not in _FIELDS[kind])
    if unknown:
        raise invalid(
            f"config.{unknown[0]}", f"is not a {kind.value} field; known: {', '.join(_FIELDS[kind])}"
        )
    given = {key: value for key, value in config.items() if value is not None}
    secrets: Secrets = {}
    for name in SECRET_FIELDS[kind]:
        if name in given:
            secrets[name] = _secret(given.pop(name), name, kind)
        elif name in REQUIRED_SECRETS.get(kind, ()) and not has_secret:
            raise invalid(f"config.{name}", "is required")
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
        public = _webhook(given, insecure_hosts, local_sinks)
    return public, secrets


def revise_integration(
    kind: IntegrationType | str,
    current: Mapping[str, Any],
    changes: object,
    *,
    has_secret: bool,
    insecure_hosts: frozenset[str] = frozenset(),
    local_sinks: Collection[str] = frozenset(),
) -> tuple[dict[str, Any], Secrets | None]:
    """A PATCH's `config` over the stored public one: a field sent replaces, one sent as null goes back to
    its default (an optional secret: removed), one left out stays. Returns the whole new public config and
    what happens to the secrets: None keep them, {} remove them, else the new values."""
    kind = integration_type(kind)
    if not isinstance(changes, dict):
        raise invalid("config", "must be an object")
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    removed = [name for name in SECRET_FIELDS[kind] if name in changes and changes[name] is None]
    public, secrets = validate_integration(
        kind,
        merged,
        insecure_hosts=insecure_hosts,
        local_sinks=local_sinks,
        has_secret=has_secret and not removed,
    )
    if secrets:
        return public, secrets
    return public, ({} if removed and has_secret else None)


# --- where a webhook may send ---------------------------------------------------------------------------


def numeric_host(host: str) -> Address | None:
    """The address a URL's host (without brackets) stands for when it is spelt as one: an IPv6 literal, or
    IPv4 in any form a resolver takes (dotted, `2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`); None
    for a name. ValueError for a host that ends in a number yet is no address (a resolver would not look
    it up as a name either)."""
    text = host.lower()
    text = text[:-1] if text.endswith(".") else text
    if ":" in text:
        return ipaddress.IPv6Address(text)
    if not _NUMERIC_LABEL.match(text.rsplit(".", 1)[-1]):
        return None
    if not _NUMERIC_HOST.match(text):
        raise ValueError(f"{host} is not an IPv4 address")
    try:
        # The C library's parser: it reads the legacy forms exactly as getaddrinfo will. (The check above
        # keeps out what it would ignore after a space.)
        packed = socket.inet_aton(text)
    except OSError:
        raise ValueError(f"{host} is not an IPv4 address") from None
    return ipaddress.IPv4Address(packed)


def address_refusal(address: Address) -> str | None:
    """Why nothing may be sent to `address` (e.g. "a loopback address"); None for a public one.

    IPv6 spellings of an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by that IPv4 address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_refusal(embedded)
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return "a shared (carrier-grade NAT) address"
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return "a unique local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local):
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def host_refusal(host: str) -> str | None:
    """Why a webhook may not name `host` (a URL's host, without brackets), judged as written, with no
    network; None when it may. A name passes unless it is internal or single-label (resolved through
    search domains): what it resolves to is judged when sending."""
    try:
        address = numeric_host(host)
    except ValueError:
        return "neither a host name nor an IP address"
    if address is not None:
        reason = address_refusal(address)
        # Say which address an unusual spelling stands for (0x7f000001 is 127.0.0.1).
        shown = str(_embedded_ipv4(address) or address).split("%")[0]
        return f"{reason} ({shown})" if reason and shown != host.lower().rstrip(".") else reason
    name = host.lower()
    name = name[:-1] if name.endswith(".") else name
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return "not a valid host name"
    labels = name.split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        return "not a valid host name"
    if name in _INTERNAL_NAMES or name.endswith(_INTERNAL_SUFFIXES):
        return "an internal name"
    if len(labels) == 1:
        return "a single-label name (resolved through the resolver's search domains)"
    return None


def url_origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, the port made explicit; None when it has none or is no URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    return _origin(parts, port)


def is_local_sink(url: str, local_sinks: Collection[str]) -> bool:
    """Whether `url` reaches one of `local_sinks` (base URLs): same scheme, host and port."""
    origin = url_origin(url)
    return origin is not None and any(origin == url_origin(sink) for sink in local_sinks)


def _origin(parts: SplitResult, port: int | None) -> tuple[str, str, int] | None:
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not host or (port is None and scheme not in _DEFAULT_PORTS):
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def template_placeholders(template: str) -> list[str]:
    """The `{name}` placeholders a template uses, in order of first use."""
    names: list[str] = []
    for name in PLACEHOLDER.findall(template):
        if name not in names:
            names.append(name)
    return names


# --- the fields -----------------------------------------------------------------------------------


def _required(given: dict[str, Any], name: str) -> Any:
    if name not in given:
        raise invalid(f"config.{name}", "is required")
    return given[name]


def _address(value: object, field: str) -> str:
    text = value.strip() if isinstance(value, str) else None
    if not text or len(text) > _MAX_EMAIL_LENGTH or not _EMAIL.match(text):
        raise invalid(field, f"must be an e-mail address such as alerts@example.com, not {value!r}")
    return text


def _recipients(given: dict[str, Any]) -> list[str]:
    value = _required(given, "to")
    if not isinstance(value, list) or not value:
        raise invalid("config.to", "must be a list of 1 to 50 e-mail addresses")
    if len(value) > MAX_RECIPIENTS:
        raise invalid("config.to", f"has {len(value)} addresses; at most {MAX_RECIPIENTS}")
    recipients: list[str] = []
    for index, item in enumerate(value):
        address = _address(item, f"config.to[{index}]")
        if address.lower() not in (known.lower() for known in recipients):
            recipients.append(address)
    return recipients


def _secret(value: object, name: str, kind: IntegrationType) -> str:
    # Never repeat the value: a message may be logged.
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"config.{name}", "must be a non-empty string")
    text = value.strip()
    if kind is IntegrationType.TELEGRAM and not _BOT_TOKEN.match(text):
        raise invalid(f"config.{name}", "is not a Telegram bot token (<digits>:<letters, digits, _ or ->)")
    if kind is IntegrationType.WEBHOOK and not MIN_SIGNING_SECRET_LENGTH <= len(text) <= MAX_SECRET_LENGTH:
        raise invalid(
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
    raise invalid("config.chat_id", f"must be a chat number or a channel's @username, not {value!r}")


def _topic_arn(value: object) -> str:
    text = value.strip() if isinstance(value, str) else None
    if not text or not _TOPIC_ARN.match(text):
        raise invalid(
            "config.topic_arn",
            f"must be an SNS topic ARN (arn:aws:sns:<region>:<12-digit account>:<topic>), not {value!r}",
        )
    return text


def _webhook(
    given: dict[str, Any], insecure_hosts: frozenset[str], local_sinks: Collection[str]
) -> dict[str, Any]:
    public: dict[str, Any] = {
        "url": _url(_required(given, "url"), insecure_hosts, local_sinks),
        "preset": _preset(given.get("preset", WebhookPreset.GENERIC.value)),
        "rate_limit_per_minute": _rate_limit(given.get("rate_limit_per_minute", DEFAULT_RATE_LIMIT)),
    }
    if "template" in given:
        public["template"] = _template(given["template"])
    return public


def _url(value: object, insecure_hosts: frozenset[str], local_sinks: Collection[str]) -> str:
    url = outbound_url(value, "config.url", credentials_instead="use config.secret to sign requests")
    if is_local_sink(url.text, local_sinks):
        return url.text  # the local stack's own sink: loopback and plain http, as its settings say
    require_https(url, "config.url", insecure_hosts)
    refusal = host_refusal(url.host)
    if refusal is not None:
        # Checked again when sending, against what the name then resolves to (DNS can change).
        raise invalid("config.url", f"must name a public host: {url.host} is {refusal}")
    return url.text


def _preset(value: object) -> str:
    if isinstance(value, str) and value in set(WebhookPreset):
        return value
    known = ", ".join(preset.value for preset in WebhookPreset)
    raise invalid("config.preset", f"{value!r} is not a preset; known: {known}")


def _template(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEMPLATE_LENGTH:
        raise invalid(
            "config.template", f"must be a non-empty string of at most {MAX_TEMPLATE_LENGTH} characters"
        )
    unknown = [name for name in template_placeholders(value) if name not in TEMPLATE_PLACEHOLDERS]
    if unknown:
        known = ", ".join("{" + name + "}" for name in sorted(TEMPLATE_PLACEHOLDERS))
        raise invalid("config.template", f"names an unknown placeholder {{{unknown[0]}}}; known: {known}")
    return value


def _rate_limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_RATE_LIMIT <= value <= MAX_RATE_LIMIT:
        raise invalid(
            "config.rate_limit_per_minute",
            f"must be a whole number from {MIN_RATE_LIMIT} to {MAX_RATE_LIMIT}, not {value!r}",
        )
    return value
