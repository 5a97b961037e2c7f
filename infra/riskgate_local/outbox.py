"""Where the local stack's notifications end up: e-mail in moto's SES, everything sent over HTTP (Telegram's
Bot API, webhooks) in a local sink; `Outbox` shows both as one list, served at `GET /_local/outbox`.

The sink is a small HTTP server on a loopback port. It records every request (method, path, headers,
body) and answers as Telegram's Bot API does on success, `200 {"ok": true, "result": {}}`, whatever the
path, so it stands in for Telegram (the local `RISKGATE_TELEGRAM_API_URL`) and for any webhook (an
integration whose URL points at it: the local stack names the sink's base URL in
`RISKGATE_WEBHOOK_LOCAL_SINKS`, the one loopback destination a webhook may have). Failures on demand, for
retry tests:

- a path with a `/fail/` segment answers `500 {"ok": false, ...}`;
- a path with `/status/<code>/` answers that status; 429 comes as Telegram sends it, with
  `{"parameters": {"retry_after": 1}}` and `Retry-After: 1`.

Failed requests are recorded too (they were sent), but are not in the outbox: it shows what arrived.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message as EmailMessage
from email.utils import getaddresses
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

from riskgate_local.aws import ACCOUNT_ID, REGION

logger = logging.getLogger(__name__)

SINK_OK_BODY = {"ok": True, "result": {}}
# `/status/<code>/` anywhere in a path: the sink answers that status.
_STATUS_PATH = re.compile(r"/status/(?P<code>[1-5]\d\d)(?:/|$)")
# Telegram's Bot API paths: `/bot<token>/<method>`; the token is hidden wherever the outbox shows one.
_TELEGRAM_PATH = re.compile(r"^/bot(?P<token>[^/]+)(?P<rest>/.*)?$")
HIDDEN_TOKEN = "***"
RETRY_AFTER_SECONDS = 1
# A request body larger than this is cut (and the cut recorded): the sink is not a file store.
MAX_RECORDED_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SinkRequest:
    """One request the sink received, and the status it answered."""

    method: str
    # Path and query string, as sent (a Telegram path still carries its token here: tests may need it).
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int
    received_at: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        found = None
        for header_name, value in self.headers:
            if header_name.lower() == name.lower():
                found = value
        return found


def answer_for(path: str) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
    """What the sink answers a request for `path`: status, JSON body, extra headers."""
    route = urlsplit(path).path
    match = _STATUS_PATH.search(route)
    status = int(match["code"]) if match else 500 if "/fail/" in route + "/" else 200
    if status < 300:
        return status, SINK_OK_BODY, []
    body: dict[str, Any] = {
        "ok": False,
        "error_code": status,
        "description": f"local sink: {status} as the path asked",
    }
    headers: list[tuple[str, str]] = []
    if status == 429:
        body["parameters"] = {"retry_after": RETRY_AFTER_SECONDS}
        headers.append(("Retry-After", str(RETRY_AFTER_SECONDS)))
    return status, body, headers


class _SinkHTTPServer(ThreadingHTTPServer):
    sink: LocalSink
    daemon_threads = True
    request_queue_size = 64


class _SinkRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "riskgate-local-sink"
    timeout = 30

    def do_POST(self) -> None:
        self._record_and_answer()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def _record_and_answer(self) -> None:
        sink = cast(_SinkHTTPServer, self.server).sink
        body = self._read_body()
        status, answer, extra_headers = answer_for(self.path)
        sink._record(
            SinkRequest(
                method=self.command,
                path=self.path,
                headers=tuple(self.headers.items()),
                body=body,
                status=status,
                received_at=time.time(),
            )
        )
        payload = json.dumps(answer).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in extra_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537).strip():
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)[:MAX_RECORDED_BODY_BYTES]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_RECORDED_BODY_BYTES))
        remaining = length - len(body)
        while remaining > 0:  # the rest is read and dropped, so the connection stays usable
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)
        return body

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)


class LocalSink:
    """The HTTP sink, served from a background thread on `host` (loopback) and `port` (0: any free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: _SinkHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._requests: list[SinkRequest] = []

    def start(self) -> str:
        self._server = _SinkHTTPServer((self._host, self._port), _SinkRequestHandler)
        self._server.sink = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="riskgate-local-sink",
            daemon=True,
        )
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:54321` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the sink is not running")
        host, port = self._server.server_address[:2]
        address = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{address}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def requests(self) -> list[SinkRequest]:
        """Every request received so far, in arrival order (failed ones included)."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, request: SinkRequest) -> None:
        with self._lock:
            self._requests.append(request)
        logger.info("sink: %s %s → %d", request.method, hide_telegram_token(request.path), request.status)


def hide_telegram_token(path: str) -> str:
    """`/bot123:ABC/sendMessage` → `/bot***/sendMessage`; any other path as it is."""
    match = _TELEGRAM_PATH.match(path)
    if match is None:
        return path
    return f"/bot{HIDDEN_TOKEN}{match['rest'] or ''}"


def sink_item(request: SinkRequest, base_url: str) -> dict[str, Any]:
    """A sink request as an outbox item: Telegram when the path is the Bot API's, else a webhook."""
    telegram = _TELEGRAM_PATH.match(request.path) is not None
    return {
        "channel": "telegram" if telegram else "webhook",
        "to": base_url + hide_telegram_token(request.path),
        "subject": None,
        "body": request.text,
    }


def email_item(message: Any) -> dict[str, Any]:
    """A message moto's SES kept (SendEmail or SendRawEmail, SES v1 or v2) as an outbox item."""
    raw = getattr(message, "raw_data", None)
    if raw is not None:  # RawMessage: a whole MIME message
        # From bytes: a message parsed from str decodes 8-bit non-ASCII parts wrongly.
        data = raw.encode("utf-8", errors="surrogateescape") if isinstance(raw, str) else bytes(raw)
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        # moto adds the message's To/Cc/Bcc headers to the destinations given: each address once.
        recipients = _unique_addresses(getattr(message, "destinations", []) or [])
        return {
            "channel": "email",
            "to": recipients,
            "subject": str(parsed.get("Subject", "")) or None,
            "body": _mime_text(parsed),
        }
    destinations: Mapping[str, Any] = getattr(message, "destinations", None) or {}
    recipients = [
        str(address)
        for key in ("ToAddresses", "CcAddresses", "BccAddresses")
        for address in destinations.get(key) or []
    ]
    body = str(getattr(message, "body", "") or "")
    return {
        "channel": "email",
        "to": recipients,
        "subject": getattr(message, "subject", None),
        # moto keeps the HTML part alone when a message has both: the outbox shows its text.
        "body": html_text(body) if _looks_like_html(body) else body,
    }


def _unique_addresses(values: Any) -> list[str]:
    seen: dict[str, None] = {}
    for _, address in getaddresses([str(value) for value in values]):
        if address:
            seen.setdefault(address, None)
    return list(seen)


def _mime_text(message: EmailMessage) -> str:
    """The text/plain part of a MIME message, else the text of its HTML part."""
    for wanted in ("text/plain", "text/html"):
        for part in message.walk():
            if part.get_content_type() == wanted and not part.is_multipart():
                try:
                    text = str(part.get_content())  # type: ignore[attr-defined]
                except (LookupError, ValueError):
                    payload = part.get_payload(decode=True)
                    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
                return text if wanted == "text/plain" else html_text(text)
    return ""


_HTML_TAG = re.compile(r"<\s*(html|body|p|div|br|table|h[1-6]|ul|li|a|strong|em|span)\b", re.IGNORECASE)


def _looks_like_html(text: str) -> bool:
    return _HTML_TAG.search(text) is not None


class _TextExtractor(HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skipping:
            self._skipping -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The text an HTML body shows, one block a line."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)


class Outbox:
    """What the local stack delivered: e-mail from moto's SES (of its account and region), in sending
    order, then what reached the sink, in arrival order (requests it answered with an error excluded).

    Items: `{"channel": "email", "to": [addresses], "subject", "body"}`, and `{"channel": "telegram" |
    "webhook", "to": <URL, a Telegram token hidden>, "subject": None, "body": <request body as text>}`.
    """

    def __init__(self, sink: LocalSink, *, account_id: str = ACCOUNT_ID, region: str = REGION) -> None:
        self._sink = sink
        self._account_id = account_id
        self._region = region

    def emails(self) -> list[dict[str, Any]]:
        from moto.ses.models import ses_backends

        backend = ses_backends[self._account_id][self._region]
        messages = list(backend.sent_messages)
        return [
            email_item(message)
            for message in messages
            if hasattr(message, "raw_data") or hasattr(message, "body")  # not templated sends
        ]

    def items(self) -> list[dict[str, Any]]:
        base_url = self._sink.url
        delivered = [request for request in self._sink.requests if request.status < 300]
        return self.emails() + [sink_item(request, base_url) for request in delivered]
