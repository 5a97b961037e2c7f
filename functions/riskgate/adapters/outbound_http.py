"""Outbound HTTP for the channels, on urllib: a POST whose outcome is an answer or a `DeliveryError`,
redirects followed only to the same origin, and a webhook's destination vetted (its host resolved once,
every address public, connections to those addresses alone: see the docstring of
`riskgate.adapters.channels`). `Retry-After` is read here too.
"""

from __future__ import annotations

import http.client
import ipaddress
import math
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from email.message import Message as HeaderMessage
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from riskgate.adapters.delivery_errors import (
    DeliveryError,
    DestinationNotAllowed,
    PermanentDeliveryError,
    TransientDeliveryError,
    one_line,
)
from riskgate.clock import system_now
from riskgate.domain.integrations import address_refusal, is_local_sink

# A receiver's answer is read up to this much: enough for an error description, not a flood.
MAX_RESPONSE_BYTES = 64 * 1024


# --- HTTP -----------------------------------------------------------------------------------------------


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows only a 307/308 (which keep the method and body) to the same scheme, host and port; any
    other redirect is left as the 3xx answer it is (and reported as a permanent failure)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: HeaderMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if code not in (307, 308) or _origin(newurl) != _origin(req.full_url):
            return None
        return urllib.request.Request(  # noqa: S310 - same scheme, host and port as the checked URL
            newurl, data=req.data, headers=dict(req.header_items()), method=req.get_method()
        )


_OPENER = urllib.request.build_opener(_SameOriginRedirects())


# --- webhook destinations -------------------------------------------------------------------------------

NOT_ALLOWED = "destination address not allowed"


@dataclass(frozen=True)
class _Vetted:
    """Where a webhook's host was resolved to, each address checked: (family, socket address) pairs."""

    host: str
    port: int
    addresses: tuple[tuple[int, Any], ...]

    def connect(self, host: str, port: int | None, timeout: object) -> socket.socket:
        """A TCP connection to the first vetted address that answers; never to anything else."""
        if host.lower() != self.host or port != self.port:
            # Only a same-origin redirect is followed, so this cannot happen: but never connect unvetted.
            raise DestinationNotAllowed(f"{NOT_ALLOWED}: the webhook tried to reach a host not checked")
        failure: OSError | None = None
        for family, address in self.addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if isinstance(timeout, int | float):
                    sock.settimeout(timeout)
                sock.connect(address)
            except OSError as error:
                sock.close()
                failure = error
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        raise failure or OSError("no address to connect to")


def _vet(url: str, local_sinks: Collection[str]) -> _Vetted:
    """Resolve the URL's host once and check every address (unless the URL is the local stack's sink):
    `DestinationNotAllowed` if any is internal; a name that does not resolve is transient, as DNS can be."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        raise PermanentDeliveryError("the webhook's URL cannot be used: ValueError") from None
    if parts.scheme not in ("http", "https") or not host:
        raise PermanentDeliveryError("the webhook's URL is not http(s)")
    port = port if port is not None else (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as error:
        raise _unreachable("the webhook", error) from None
    addresses = tuple(
        (family, address) for family, _, _, _, address in found if family in (socket.AF_INET, socket.AF_INET6)
    )
    if not is_local_sink(url, local_sinks):
        for _, address in addresses:
            try:
                refusal = address_refusal(ipaddress.ip_address(address[0]))
            except ValueError:
                refusal = "not an IP address"
            if refusal is not None:
                # Which address, and why, would tell a caller about the internal network: not said.
                raise DestinationNotAllowed(
                    f"{NOT_ALLOWED}: the webhook's host is or resolves to an internal address"
                )
    if not addresses:
        raise TransientDeliveryError("the webhook could not be reached: its host has no address")
    return _Vetted(host, port, addresses)


class _VettedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, vetted: _Vetted, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._vetted = vetted

    def connect(self) -> None:
        self.sock = self._vetted.connect(self.host, self.port, self.timeout)


class _VettedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a vetted address, verified for the URL's host name (SNI, certificate and Host)."""

    def __init__(self, host: str, *, vetted: _Vetted, tls: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(host, context=tls, **kwargs)
        self._vetted = vetted
        self._tls = tls

    def connect(self) -> None:
        sock = self._vetted.connect(self.host, self.port, self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class _VettedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, vetted: _Vetted) -> None:
        super().__init__()
        self._vetted = vetted

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            return _VettedHTTPConnection(host, vetted=self._vetted, **kwargs)

        return self.do_open(connection, req)


class _VettedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, vetted: _Vetted, tls: ssl.SSLContext) -> None:
        super().__init__(context=tls)
        self._vetted = vetted
        self._tls = tls

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            return _VettedHTTPSConnection(host, vetted=self._vetted, tls=self._tls, **kwargs)

        return self.do_open(connection, req)


@lru_cache(maxsize=1)
def _system_tls() -> ssl.SSLContext:
    """The system's trusted certificates, hostnames checked: loaded once per execution environment."""
    return ssl.create_default_context()


def vetted_opener(
    url: str, local_sinks: Collection[str], tls_context: ssl.SSLContext | None
) -> urllib.request.OpenerDirector:
    """An opener for this webhook only: no proxy (it would connect elsewhere), same-origin redirects,
    connections to the vetted addresses of its host."""
    vetted = _vet(url, local_sinks)
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _SameOriginRedirects(),
        _VettedHTTPHandler(vetted),
        _VettedHTTPSHandler(vetted, tls_context or _system_tls()),
    )


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", "", None


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    receiver: str,
    opener: urllib.request.OpenerDirector = _OPENER,
) -> tuple[int, bytes, HeaderMessage]:
    """POST; the status, (the start of) the answer and its headers, whatever the status. A receiver that
    cannot be reached, or does not answer in time, is a transient failure; a URL that cannot be used,
    or a certificate that does not verify, a permanent one. Messages never repeat the URL."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise PermanentDeliveryError(f"{receiver}'s URL is not http(s)")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read(MAX_RESPONSE_BYTES), response.headers
    except urllib.error.HTTPError as error:
        try:
            answer = error.read(MAX_RESPONSE_BYTES) if error.fp is not None else b""
        except (OSError, http.client.HTTPException):
            answer = b""
        finally:
            error.close()
        if 300 <= error.code < 400:
            where = _origin(str(error.headers.get("Location") or ""))[1] or "elsewhere"
            raise PermanentDeliveryError(
                f"{receiver} answered {error.code}, a redirect to {where}; not followed "
                "(only a 307 or 308 to the same host is)",
                status=error.code,
            ) from None
        return int(error.code), answer, error.headers
    except urllib.error.URLError as error:
        raise _unreachable(receiver, error.reason) from None
    except OSError as error:  # a timeout, a refused or reset connection
        raise _unreachable(receiver, error) from None
    except http.client.HTTPException as error:  # an answer cut short, or not HTTP
        raise TransientDeliveryError(f"{receiver} gave a broken answer: {type(error).__name__}") from None
    except ValueError as error:  # a URL http.client cannot use (a bad port, …)
        raise PermanentDeliveryError(f"{receiver}'s URL cannot be used: {type(error).__name__}") from None


def _unreachable(receiver: str, reason: object) -> DeliveryError:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return PermanentDeliveryError(
            f"{receiver}'s TLS certificate does not verify: {reason.verify_message}"
        )
    if isinstance(reason, TimeoutError):
        return TransientDeliveryError(f"{receiver} did not answer in time")
    name = type(reason).__name__ if not isinstance(reason, str) else "error"
    text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    return TransientDeliveryError(f"{receiver} could not be reached: {name}: {one_line(text)}")


def retry_after(headers: HeaderMessage | None) -> float | None:
    """`Retry-After` as seconds (its number, or its HTTP date from now); None when absent or unreadable."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    number = delay_seconds(value.strip())
    if number is not None:
        return number
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - system_now()).total_seconds())


def delay_seconds(value: object) -> float | None:
    """A wait a receiver asked for (a number or its text), at least 0; None unless a finite number."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None
