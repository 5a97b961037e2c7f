"""The URLs Riskgate calls out to (a webhook integration's receiver, a Harbor registry): the checks both
make of a configured URL, each failure naming the field. What each adds (a webhook's public-host check,
Harbor's "no query") stays with its own validation."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from riskgate.domain.errors import InvalidInput

MAX_URL_LENGTH = 2048


def invalid(field: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{field} {problem}", details=[{"field": field}])


@dataclass(frozen=True)
class OutboundUrl:
    text: str  # as given, without surrounding blanks
    parts: SplitResult
    host: str  # lower-case
    port: int | None


def outbound_url(value: object, field: str, *, credentials_instead: str) -> OutboundUrl:
    """A URL with a host and no user or password in it (they would be shown to every reader of the
    entity: `credentials_instead` says what to use for them)."""
    text = value.strip() if isinstance(value, str) else None
    if not text or len(text) > MAX_URL_LENGTH:
        raise invalid(field, f"must be an https:// URL of at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise invalid(field, "is not a URL") from None
    if not host:
        raise invalid(field, "must name a host")
    if parts.username is not None or parts.password is not None:
        raise invalid(field, f"must not carry credentials; {credentials_instead}")
    return OutboundUrl(text, parts, host, port)


def require_https(url: OutboundUrl, field: str, insecure_hosts: frozenset[str]) -> None:
    """https, or plain http to a host (or host:port) the deployment allows it for (the local stack's
    loopback addresses)."""
    insecure = url.parts.scheme == "http" and (
        url.host in insecure_hosts or f"{url.host}:{url.port}" in insecure_hosts
    )
    if url.parts.scheme != "https" and not insecure:
        raise invalid(field, f"must use https, not {url.parts.scheme or 'no scheme'}")
