"""Registry connections as data: which registry Riskgate takes scan results from, and how to reach it.

A connection has a type and a `config` checked here, split into the public config (shown to readers)
and its secrets (write-only, kept in Secrets Manager, never shown again):

- `ecr`: `account_id` (12 digits), `region` (an AWS region name), `repositories` (globs, `["*"]` when not
  given), `scans` (`basic`, `enhanced`: which of ECR's scans to take; both when not given). No secret:
  the stack's own role reads ECR and Inspector.
- `harbor`: `url` (https; plain http only to a host the settings name — the local stack's loopback
  Harbor), `projects` (globs, `["*"]` when not given), `robot_name`; secrets `robot_secret` (the robot
  account's) and `webhook_secret` (what Harbor sends as its `Authorization` header, at least 16
  characters), both required when the connection is created.

A Harbor URL is not vetted for private addresses, unlike a webhook's: Harbor is commonly self-hosted on a
private network, and only a holder of `registries:manage` in the global scope may set it (see
riskgate.adapters.harbor_api). What protects the robot's secret is kept: https, and no credentials,
query or fragment in the URL (they would be shown to every reader, or change the API paths built on it).

Errors are `InvalidInput` naming the field (`config.account_id`, `config.repositories[2]`). No AWS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from riskgate.domain.outbound_urls import invalid, outbound_url, require_https


class ConnectionType(StrEnum):
    ECR = "ecr"
    HARBOR = "harbor"


class EcrScan(StrEnum):
    BASIC = "basic"
    ENHANCED = "enhanced"


# A connection's name: unique, shown in lists and events.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

# Config fields that are secrets, per type: write-only, never in the public config; all required when the
# connection is created.
SECRET_FIELDS: dict[ConnectionType, tuple[str, ...]] = {
    ConnectionType.ECR: (),
    ConnectionType.HARBOR: ("robot_secret", "webhook_secret"),
}
_FIELDS: dict[ConnectionType, tuple[str, ...]] = {
    ConnectionType.ECR: ("account_id", "region", "repositories", "scans"),
    ConnectionType.HARBOR: ("url", "projects", "robot_name", "robot_secret", "webhook_secret"),
}

MAX_GLOBS = 100
MAX_GLOB_LENGTH = 256
MAX_SECRET_LENGTH = 1024
MIN_WEBHOOK_SECRET_LENGTH = 16
MAX_ROBOT_NAME_LENGTH = 255

_ACCOUNT_ID = re.compile(r"^\d{12}$")
# us-east-1, eu-central-2, ap-southeast-4, us-gov-west-1, cn-northwest-1, us-isob-east-1 …
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
# Printable, no white space: a glob over repository or project names.
_GLOB = re.compile(r"^[^\s\x00-\x1f\x7f]+$")
# Harbor robot accounts: `robot$name`, `robot$project+name` (the prefix is configurable in Harbor).
_ROBOT_NAME = re.compile(r"^[^\s\x00-\x1f\x7f:]+$")

Secrets = dict[str, str]


def connection_type(raw: object) -> ConnectionType:
    if isinstance(raw, str) and raw in set(ConnectionType):
        return ConnectionType(raw)
    known = ", ".join(kind.value for kind in ConnectionType)
    raise invalid("type", f"{raw!r} is not a registry type; known: {known}")


def validate_connection(
    kind: ConnectionType | str,
    config: object,
    *,
    insecure_hosts: frozenset[str] = frozenset(),
    stored_secrets: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], Secrets]:
    """A `config` as (public config, secrets); `InvalidInput` naming the field if wrong.

    A field given as null counts as not given. `stored_secrets`: the secret fields the connection has
    stored already, which need not be sent again. `insecure_hosts`: hosts (or `host:port`) a Harbor URL
    may reach over plain http. Messages about a secret never repeat its value."""
    kind = connection_type(kind)
    if not isinstance(config, dict):
        raise invalid("config", "must be an object")
    unknown = sorted(str(key) for key in config if key not in _FIELDS[kind])
    if unknown:
        raise invalid(
            f"config.{unknown[0]}",
            f"is not a field of {kind.value} connections; known: {', '.join(_FIELDS[kind])}",
        )
    given = {key: value for key, value in config.items() if value is not None}
    secrets: Secrets = {}
    for name in SECRET_FIELDS[kind]:
        if name in given:
            secrets[name] = _secret(given.pop(name), name)
        elif name not in stored_secrets:
            raise invalid(f"config.{name}", "is required")
    if kind is ConnectionType.ECR:
        public: dict[str, Any] = {
            "account_id": _account_id(_required(given, "account_id")),
            "region": _region(_required(given, "region")),
            "repositories": _globs(given.get("repositories", ["*"]), "config.repositories"),
            "scans": _scans(given.get("scans", [scan.value for scan in EcrScan])),
        }
    else:
        public = {
            "url": _url(_required(given, "url"), insecure_hosts),
            "projects": _globs(given.get("projects", ["*"]), "config.projects"),
            "robot_name": _robot_name(_required(given, "robot_name")),
        }
    return public, secrets


def revise_connection(
    kind: ConnectionType | str,
    current: Mapping[str, Any],
    changes: object,
    *,
    stored_secrets: frozenset[str],
    insecure_hosts: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], Secrets | None]:
    """A PATCH's `config` over the stored public one: a field sent replaces, one sent as null goes back to
    its default (a required one: 422), one left out stays. Returns the whole new public config and the
    secret fields sent (None: none sent, the stored ones stay); a secret not sent keeps its value."""
    kind = connection_type(kind)
    if not isinstance(changes, dict):
        raise invalid("config", "must be an object")
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    # A secret sent as null would remove it; every secret of a connection is required.
    removed = [name for name in SECRET_FIELDS[kind] if name in changes and changes[name] is None]
    if removed:
        raise invalid(f"config.{removed[0]}", "is required: send a new value to replace it")
    public, secrets = validate_connection(
        kind, merged, insecure_hosts=insecure_hosts, stored_secrets=stored_secrets
    )
    return public, (secrets or None)


# --- the fields -----------------------------------------------------------------------------------


def _required(given: dict[str, Any], name: str) -> Any:
    if name not in given:
        raise invalid(f"config.{name}", "is required")
    return given[name]


def _account_id(value: object) -> str:
    if isinstance(value, str) and _ACCOUNT_ID.match(value):
        return value
    raise invalid(
        "config.account_id", f"must be an AWS account id: 12 digits as a string, not {str(value)[:40]!r}"
    )


def _region(value: object) -> str:
    if isinstance(value, str) and _REGION.match(value):
        return value
    raise invalid("config.region", f"must be an AWS region name such as eu-west-1, not {str(value)[:40]!r}")


def _globs(value: object, field: str) -> list[str]:
    """Globs over names (`*`, `?`, `[…]`), in the order given, each once."""
    if not isinstance(value, list) or not value:
        raise invalid(field, f'must be a list of 1 to {MAX_GLOBS} globs, such as ["team-a/*"]')
    if len(value) > MAX_GLOBS:
        raise invalid(field, f"has {len(value)} globs; at most {MAX_GLOBS}")
    globs: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or len(item) > MAX_GLOB_LENGTH or not _GLOB.match(item):
            raise invalid(
                f"{field}[{index}]",
                f"must be a glob of 1 to {MAX_GLOB_LENGTH} characters without white space",
            )
        if item not in globs:
            globs.append(item)
    return globs


def _scans(value: object) -> list[str]:
    """Which of ECR's scans to take, in a fixed order (basic, enhanced), each once."""
    known = [scan.value for scan in EcrScan]
    if not isinstance(value, list) or not value:
        raise invalid("config.scans", f"must name at least one of {', '.join(known)}")
    for index, item in enumerate(value):
        if not isinstance(item, str) or item not in known:
            raise invalid(f"config.scans[{index}]", f"{item!r} is not a scan; known: {', '.join(known)}")
    return [scan for scan in known if scan in value]


def _url(value: object, insecure_hosts: frozenset[str]) -> str:
    """Harbor's base URL, without a trailing slash: the API paths are built on it."""
    url = outbound_url(value, "config.url", credentials_instead="use robot_name and robot_secret")
    if url.parts.query or url.parts.fragment or url.text.endswith(("?", "#")):
        raise invalid("config.url", "must not have a query or a fragment: it is Harbor's base URL")
    require_https(url, "config.url", insecure_hosts)
    return url.text.rstrip("/")


def _robot_name(value: object) -> str:
    text = value.strip() if isinstance(value, str) else None
    if not text or len(text) > MAX_ROBOT_NAME_LENGTH or not _ROBOT_NAME.match(text):
        raise invalid(
            "config.robot_name",
            f"must be a Harbor robot account's name (such as robot$riskgate), at most "
            f"{MAX_ROBOT_NAME_LENGTH} characters, without white space or ':'",
        )
    return text


def _secret(value: object, name: str) -> str:
    # The value is never repeated: a message may be logged or shown.
    field = f"config.{name}"
    minimum = MIN_WEBHOOK_SECRET_LENGTH if name == "webhook_secret" else 1
    if not isinstance(value, str) or not minimum <= len(value) <= MAX_SECRET_LENGTH:
        raise invalid(field, f"must be a string of {minimum} to {MAX_SECRET_LENGTH} characters")
    if value != value.strip() or any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise invalid(field, "must not have leading or trailing white space or control characters")
    return value
