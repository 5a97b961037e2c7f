"""Delivery through each channel: SES and SNS in moto, Telegram and webhooks against a local HTTP server.

What is checked is what a receiver sees (path, headers, body, a signature it can verify) and how each
answer is classified: transient (try again, after `retry_after`) or permanent. A Telegram bot token is
in the request URL; it must never be in what an error says.

Webhooks reach only public addresses (issue 16): the local receivers here listen on loopback, so the
tests of what a receiver sees allow them as the local stack allows its own sink (`local_sinks`); the
tests of destinations give no such allowance and stand in for DNS with a fake `getaddrinfo` — no test
reaches the network.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from riskgate.adapters import outbound_http
from riskgate.adapters.channels import DeliveryResult, deliver
from riskgate.adapters.delivery_errors import (
    DestinationNotAllowed,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from riskgate.domain.integrations import address_refusal
from riskgate.domain.notifications import Message, render
from tests.unit.test_notifications import (
    CRITICAL_VULNERABILITIES,
    acceptance,
    expiring_event,
    findings_of,
    image_event,
)

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SIGNING_SECRET = "s3cret-signing-key-0123456789"
DELIVERY_ID = "ntf-0123456789abcdef"
NOW = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)
REGION = "us-east-1"
SENDER = "riskgate@example.com"


# --- a local receiver --------------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b'{"ok": true, "result": {"message_id": 42}}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Sink:
    """Answers each request with the next queued answer (200 when none is left) and records it. With
    `tls`, over HTTPS (the context holds its certificate)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.received: list[Received] = []
        self.answers: list[Answer] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        # A short poll interval: shutting the server down waits for one.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        host = self.server.server_address[0]
        return f"{self.scheme}://{host!s}:{self.port}"

    def answer(self, status: int, body: bytes | dict[str, Any] = b"", **kwargs: Any) -> None:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        self.answers.append(Answer(status, raw, **kwargs))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.received.append(Received("POST", self.path, dict(self.headers.items()), body))
                answer = sink.answers.pop(0) if sink.answers else Answer()
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def sink() -> Iterator[Sink]:
    receiver = Sink()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def other_sink() -> Iterator[Sink]:
    receiver = Sink()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def everything_said(error: BaseException) -> str:
    """The error as a log line with its traceback would show it."""
    return "".join(traceback.format_exception(error)) + repr(error) + str(vars(error))


@pytest.fixture
def event(scanner_fixtures: Path) -> dict[str, Any]:
    return image_event("critical_vulnerabilities", findings_of(scanner_fixtures, CRITICAL_VULNERABILITIES))


def rendered(event: dict[str, Any], integration_type: str, **kwargs: Any) -> Message:
    return render(
        event,
        policy_name="Critical to on-call",
        integration_type=integration_type,
        api_base_url="https://riskgate.example.com",
        **kwargs,
    )


# --- Telegram -------------------------------------------------------------------------------------------


def send_telegram(sink_url: str, message: Message, **kwargs: Any) -> DeliveryResult:
    return deliver(
        {"name": "oncall", "type": "telegram", "config": {"chat_id": -1001234567890}},
        {"bot_token": BOT_TOKEN},
        message,
        delivery_id=DELIVERY_ID,
        telegram_api_url=sink_url + "/",
        **kwargs,
    )


def test_telegram_posts_send_message_with_the_chat_and_html_text(sink: Sink, event: dict[str, Any]) -> None:
    message = rendered(event, "telegram")
    result = send_telegram(sink.url, message)

    assert result.detail == "Telegram message 42 sent to chat -1001234567890"
    (request,) = sink.received
    assert request.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "chat_id": -1001234567890,
        "text": message.text,
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }


def test_telegram_429_honours_retry_after_and_hides_the_token(sink: Sink, event: dict[str, Any]) -> None:
    sink.answer(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    with pytest.raises(TransientDeliveryError) as raised:
        send_telegram(sink.url, rendered(event, "telegram"))
    assert raised.value.retry_after == 7
    assert "429" in str(raised.value)
    assert BOT_TOKEN.split(":")[1] not in everything_said(raised.value)


def test_telegram_400_is_permanent_and_says_why(sink: Sink, event: dict[str, Any]) -> None:
    sink.answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    with pytest.raises(PermanentDeliveryError, match="chat not found") as raised:
        send_telegram(sink.url, rendered(event, "telegram"))
    assert BOT_TOKEN.split(":")[1] not in everything_said(raised.value)


def test_telegram_never_repeats_the_token_even_when_the_answer_does(
    sink: Sink, event: dict[str, Any]
) -> None:
    sink.answer(401, {"ok": False, "error_code": 401, "description": f"Unauthorized: bot{BOT_TOKEN}"})
    with pytest.raises(PermanentDeliveryError) as raised:
        send_telegram(sink.url, rendered(event, "telegram"))
    assert BOT_TOKEN.split(":")[1] not in everything_said(raised.value)
    assert "<bot-token>" in str(raised.value)


def test_telegram_500_is_transient(sink: Sink, event: dict[str, Any]) -> None:
    sink.answer(500, b"oops")
    with pytest.raises(TransientDeliveryError) as raised:
        send_telegram(sink.url, rendered(event, "telegram"))
    assert raised.value.retry_after is None
    assert BOT_TOKEN.split(":")[1] not in everything_said(raised.value)


def test_telegram_unreachable_or_slow_is_transient(sink: Sink, event: dict[str, Any]) -> None:
    message = rendered(event, "telegram")
    with pytest.raises(TransientDeliveryError, match="could not be reached") as unreachable:
        send_telegram(closed_port_url(), message)
    assert BOT_TOKEN.split(":")[1] not in everything_said(unreachable.value)

    sink.answer(200, delay=1.0)
    with pytest.raises(TransientDeliveryError, match="did not answer in time") as slow:
        send_telegram(sink.url, message, timeout=0.2)
    assert BOT_TOKEN.split(":")[1] not in everything_said(slow.value)


def test_telegram_without_a_token_is_permanent(event: dict[str, Any]) -> None:
    with pytest.raises(PermanentDeliveryError, match="no bot token"):
        deliver(
            {"type": "telegram", "config": {"chat_id": 1}},
            {},
            rendered(event, "telegram"),
            delivery_id=DELIVERY_ID,
            telegram_api_url="http://127.0.0.1:9",
        )


# --- webhooks -------------------------------------------------------------------------------------------


def base_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def send_webhook(
    url: str,
    message: Message,
    *,
    secret: str | None = SIGNING_SECRET,
    local_sinks: tuple[str, ...] | None = None,
    **kwargs: Any,
) -> DeliveryResult:
    """Through a webhook to `url`; its loopback receiver allowed as the local stack's sink is, unless
    `local_sinks` says otherwise."""
    return deliver(
        {"name": "sec-hook", "type": "webhook", "config": {"url": url, "preset": "generic"}},
        {"secret": secret} if secret else {},
        message,
        delivery_id=DELIVERY_ID,
        telegram_api_url="http://127.0.0.1:9",
        clock=lambda: NOW,
        local_sinks=(base_of(url),) if local_sinks is None else local_sinks,
        **kwargs,
    )


def test_a_webhook_gets_the_payload_signed(sink: Sink, event: dict[str, Any]) -> None:
    message = rendered(event, "webhook")
    result = send_webhook(sink.url + "/hooks/riskgate", message)

    assert (result.detail, result.status) == ("the webhook answered 200", 200)
    (request,) = sink.received
    assert request.path == "/hooks/riskgate"
    assert json.loads(request.body) == message.payload
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "riskgate"
    assert request.headers["X-Riskgate-Delivery"] == DELIVERY_ID
    assert request.headers["X-Riskgate-Event"] == "critical_vulnerabilities"
    timestamp = request.headers["X-Riskgate-Timestamp"]
    assert timestamp == str(int(NOW.timestamp()))
    # What a receiver does: HMAC-SHA256 over "<timestamp>.<raw body>" with the shared secret.
    expected = hmac.new(
        SIGNING_SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(request.headers["X-Riskgate-Signature"], f"sha256={expected}")


def test_a_webhook_without_a_secret_is_not_signed(sink: Sink, event: dict[str, Any]) -> None:
    send_webhook(sink.url, rendered(event, "webhook", preset="slack"), secret=None)
    (request,) = sink.received
    assert "X-Riskgate-Signature" not in request.headers
    assert "X-Riskgate-Timestamp" not in request.headers
    assert "blocks" in json.loads(request.body)


def test_a_templated_webhook_sends_the_template_as_is(sink: Sink) -> None:
    message = rendered(expiring_event(acceptance()), "webhook", template="Riskgate: {trigger} on {image}\n")
    send_webhook(sink.url, message)
    (request,) = sink.received
    assert request.body == b"Riskgate: risk_acceptance_expiring on ghcr.io/acme/payments\n"
    assert request.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert request.headers["X-Riskgate-Event"] == "risk_acceptance_expiring"


def test_a_webhook_429_or_503_is_transient_and_honours_retry_after(sink: Sink, event: dict[str, Any]) -> None:
    message = rendered(event, "webhook")
    sink.answer(429, b"slow down", headers={"Retry-After": "30"})
    with pytest.raises(TransientDeliveryError, match="429: slow down") as too_many:
        send_webhook(sink.url, message)
    assert too_many.value.retry_after == 30
    assert too_many.value.status == 429

    later = datetime.now(UTC) + timedelta(seconds=120)
    sink.answer(503, headers={"Retry-After": format_datetime(later, usegmt=True)})
    with pytest.raises(TransientDeliveryError) as unavailable:
        send_webhook(sink.url, message)
    assert unavailable.value.retry_after is not None
    assert 100 < unavailable.value.retry_after <= 120


def test_a_webhook_500_is_transient_and_400_permanent(sink: Sink, event: dict[str, Any]) -> None:
    message = rendered(event, "webhook")
    sink.answer(500)
    with pytest.raises(TransientDeliveryError) as failed:
        send_webhook(sink.url, message)
    assert failed.value.retry_after is None

    sink.answer(400, b'{"error": "unknown field"}')
    with pytest.raises(PermanentDeliveryError, match="400"):
        send_webhook(sink.url, message)
    assert SIGNING_SECRET not in str(failed.value)


def test_a_webhook_redirect_elsewhere_is_refused(sink: Sink, other_sink: Sink, event: dict[str, Any]) -> None:
    for status in (302, 307, 308):
        sink.answer(status, headers={"Location": other_sink.url + "/stolen"})
        with pytest.raises(PermanentDeliveryError, match="redirect"):
            send_webhook(sink.url, rendered(event, "webhook"))
    assert other_sink.received == []


def test_a_webhook_307_to_the_same_host_is_followed_with_body_and_signature(
    sink: Sink, event: dict[str, Any]
) -> None:
    sink.answer(307, headers={"Location": "/v2/hooks"})
    message = rendered(event, "webhook")
    send_webhook(sink.url + "/v1/hooks", message)

    first, second = sink.received
    assert (first.path, second.path) == ("/v1/hooks", "/v2/hooks")
    assert second.method == "POST"
    assert second.body == first.body == message.text.encode()
    assert second.headers["X-Riskgate-Signature"] == first.headers["X-Riskgate-Signature"]


def test_a_webhook_that_cannot_be_reached_is_transient(event: dict[str, Any]) -> None:
    with pytest.raises(TransientDeliveryError, match="could not be reached") as unreachable:
        send_webhook(closed_port_url(), rendered(event, "webhook"))
    assert unreachable.value.status is None


# --- webhook destinations (issue 16: no SSRF) ------------------------------------------------------------


class FakeDns:
    """Stands in for the resolver: `names` maps a host to the addresses it resolves to, one list per
    lookup (the last one repeats); every lookup is counted. Numeric hosts resolve as themselves."""

    def __init__(self, names: dict[str, list[list[str]]]) -> None:
        self.names = names
        self.lookups: list[str] = []
        self.real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        self.lookups.append(str(host))
        answers = self.names.get(str(host))
        if answers is None:
            return self.real(host, port, *args, **kwargs)
        addresses = answers[min(len(self.lookups_of(str(host))), len(answers)) - 1]
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, port, 0, 0) if ":" in address else (address, port),
            )
            for address in addresses
        ]

    def lookups_of(self, host: str) -> list[str]:
        return [looked for looked in self.lookups if looked == host]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[list[str]]]], FakeDns]:
    def install(names: dict[str, list[list[str]]]) -> FakeDns:
        fake = FakeDns(names)
        monkeypatch.setattr(socket, "getaddrinfo", fake)
        return fake

    return install


@pytest.fixture
def loopback_counts_as_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 judged as a public address would be: the local receivers then stand for public hosts,
    and what is tested is where the connection goes (the classification has its own tests)."""

    def refusal(address: Any) -> str | None:
        return None if address == ipaddress.ip_address("127.0.0.1") else address_refusal(address)

    monkeypatch.setattr(outbound_http, "address_refusal", refusal)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]", "[::1]"],
)
def test_a_webhook_to_an_internal_address_is_refused_and_nothing_is_sent(
    sink: Sink, event: dict[str, Any], host: str
) -> None:
    url = f"http://{host}:{sink.port}/hook"
    with pytest.raises(DestinationNotAllowed, match="destination address not allowed") as refused:
        send_webhook(url, rendered(event, "webhook"), local_sinks=())
    assert isinstance(refused.value, PermanentDeliveryError)  # never retried
    assert refused.value.status is None
    assert sink.received == []


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://169.254.170.2/v2/credentials",
        "https://10.0.0.5/",
        "https://[fd00:ec2::254]/",
        "https://100.100.100.200/",
    ],
)
def test_metadata_and_private_addresses_are_refused_without_a_connection(
    event: dict[str, Any], url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_connection(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a refused destination must not be connected to")

    monkeypatch.setattr(socket.socket, "connect", no_connection)
    with pytest.raises(DestinationNotAllowed):
        send_webhook(url, rendered(event, "webhook"), local_sinks=())


def test_a_name_resolving_to_any_internal_address_is_refused(
    dns: Callable[[dict[str, list[list[str]]]], FakeDns], event: dict[str, Any]
) -> None:
    # A public address first does not help: a client could connect to either.
    dns({"hooks.example.test": [["93.184.216.34", "10.0.0.5"]], "v6.example.test": [["fe80::1"]]})
    for url in ("https://hooks.example.test/hook", "https://v6.example.test/hook"):
        with pytest.raises(DestinationNotAllowed) as refused:
            send_webhook(url, rendered(event, "webhook"), local_sinks=())
        # Neither which address nor why: that would describe the internal network.
        assert "10.0.0.5" not in str(refused.value)
        assert "fe80" not in str(refused.value)


def test_the_connection_goes_to_the_vetted_address_and_the_name_is_not_resolved_again(
    sink: Sink,
    event: dict[str, Any],
    dns: Callable[[dict[str, list[list[str]]]], FakeDns],
    loopback_counts_as_public: None,
) -> None:
    """DNS rebinding: the name answers a public address when checked, the metadata address after; the
    request still goes where the check looked, redirect included."""
    fake = dns({"hooks.example.test": [["127.0.0.1"], ["169.254.169.254"]]})
    sink.answer(307, headers={"Location": "/v2/hook"})

    result = send_webhook(
        f"http://hooks.example.test:{sink.port}/v1/hook", rendered(event, "webhook"), local_sinks=()
    )

    assert result.status == 200
    assert fake.lookups_of("hooks.example.test") == ["hooks.example.test"]
    first, second = sink.received
    assert (first.path, second.path) == ("/v1/hook", "/v2/hook")
    assert first.headers["Host"] == f"hooks.example.test:{sink.port}"


def test_a_proxy_in_the_environment_is_not_used(
    sink: Sink,
    event: dict[str, Any],
    dns: Callable[[dict[str, list[list[str]]]], FakeDns],
    loopback_counts_as_public: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy would connect to the name itself, past the vetting."""
    dns({"hooks.example.test": [["127.0.0.1"]]})
    monkeypatch.setenv("http_proxy", closed_port_url())
    monkeypatch.setenv("https_proxy", closed_port_url())
    send_webhook(f"http://hooks.example.test:{sink.port}/hook", rendered(event, "webhook"), local_sinks=())
    assert [request.path for request in sink.received] == ["/hook"]


# A certificate authority of the test's own, and a receiver's certificate for one name only.


@dataclass(frozen=True)
class Pki:
    ca_pem: bytes
    server: ssl.SSLContext


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("riskgate test CA"))
        .issuer_name(_name("riskgate test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("hooks.example.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.example.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("pki")
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (directory / "leaf.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "leaf.pem", directory / "leaf.key")
    return Pki(ca.public_bytes(serialization.Encoding.PEM), server)


@pytest.fixture
def tls_sink(pki: Pki) -> Iterator[tuple[Sink, list[str | None]]]:
    """An HTTPS receiver on loopback, and the server names (SNI) its clients asked for."""
    names: list[str | None] = []

    def remember(sock: ssl.SSLSocket, name: str | None, context: ssl.SSLContext) -> None:
        names.append(name)

    pki.server.sni_callback = remember
    receiver = Sink(pki.server)
    receiver.thread.start()
    yield receiver, names
    receiver.server.shutdown()
    receiver.server.server_close()


def test_tls_goes_to_the_vetted_address_but_verifies_the_urls_host_name(
    tls_sink: tuple[Sink, list[str | None]],
    pki: Pki,
    event: dict[str, Any],
    dns: Callable[[dict[str, list[list[str]]]], FakeDns],
    loopback_counts_as_public: None,
) -> None:
    sink, server_names = tls_sink
    dns({"hooks.example.test": [["127.0.0.1"]], "other.example.test": [["127.0.0.1"]]})
    trusted = ssl.create_default_context(cadata=pki.ca_pem.decode())

    result = send_webhook(
        f"https://hooks.example.test:{sink.port}/hook",
        rendered(event, "webhook"),
        local_sinks=(),
        tls_context=trusted,
    )

    assert result.status == 200
    (request,) = sink.received
    assert request.headers["Host"] == f"hooks.example.test:{sink.port}"
    assert server_names == ["hooks.example.test"]
    # The same address under a name the certificate does not carry: refused by TLS, for good.
    with pytest.raises(PermanentDeliveryError, match="certificate does not verify"):
        send_webhook(
            f"https://other.example.test:{sink.port}/hook",
            rendered(event, "webhook"),
            local_sinks=(),
            tls_context=trusted,
        )
    # And a certificate of an authority the system does not trust is refused as well.
    with pytest.raises(PermanentDeliveryError, match="certificate does not verify"):
        send_webhook(
            f"https://hooks.example.test:{sink.port}/hook", rendered(event, "webhook"), local_sinks=()
        )
    assert len(sink.received) == 1


# --- SES ------------------------------------------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_email_goes_through_ses_with_text_and_html(aws: None, event: dict[str, Any]) -> None:
    ses = boto3.client("ses", region_name=REGION)
    ses.verify_email_identity(EmailAddress=SENDER)
    sent: list[dict[str, Any]] = []
    ses.meta.events.register("provide-client-params.ses.SendEmail", lambda params, **_: sent.append(params))
    message = rendered(event, "email")

    result = deliver(
        {"type": "email", "config": {"from": SENDER, "to": ["a@example.com", "b@example.com"]}},
        {},
        message,
        delivery_id=DELIVERY_ID,
        telegram_api_url="http://127.0.0.1:9",
        ses_client=ses,
    )

    assert result.detail.startswith("e-mail sent to 2 recipients (SES message ")
    (stored,) = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert stored.source == SENDER
    assert stored.destinations == {"ToAddresses": ["a@example.com", "b@example.com"]}
    assert stored.subject == message.subject
    assert stored.subject.startswith("[Riskgate] Critical vulnerabilities in ghcr.io/acme/payments:1.4.2")
    assert stored.body == message.html  # moto keeps the HTML part when there is one
    (params,) = sent
    assert params["Message"]["Body"]["Text"]["Data"] == message.text
    assert params["Message"]["Body"]["Html"]["Data"] == message.html
    assert ses.get_send_statistics()["SendDataPoints"][0]["DeliveryAttempts"] == 2


def test_email_from_an_unverified_sender_is_permanent(aws: None, event: dict[str, Any]) -> None:
    ses = boto3.client("ses", region_name=REGION)
    with pytest.raises(PermanentDeliveryError, match="MessageRejected"):
        deliver(
            {"type": "email", "config": {"from": "nobody@example.com", "to": ["a@example.com"]}},
            {},
            rendered(event, "email"),
            delivery_id=DELIVERY_ID,
            telegram_api_url="http://127.0.0.1:9",
            ses_client=ses,
        )


def test_ses_throttling_is_transient(event: dict[str, Any]) -> None:
    ses = boto3.client("ses", region_name=REGION)
    with Stubber(ses) as stub:
        stub.add_client_error(
            "send_email", "Throttling", "Maximum sending rate exceeded.", http_status_code=400
        )
        with pytest.raises(TransientDeliveryError, match="Maximum sending rate exceeded"):
            deliver(
                {"type": "email", "config": {"from": SENDER, "to": ["a@example.com"]}},
                {},
                rendered(event, "email"),
                delivery_id=DELIVERY_ID,
                telegram_api_url="http://127.0.0.1:9",
                ses_client=ses,
            )


# --- SNS ------------------------------------------------------------------------------------------------


def test_sns_publishes_subject_and_json_message(aws: None, event: dict[str, Any]) -> None:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="customer-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="customer-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    message = rendered(event, "sns")

    result = deliver(
        {"type": "sns", "config": {"topic_arn": topic_arn}},
        {},
        message,
        delivery_id=DELIVERY_ID,
        telegram_api_url="http://127.0.0.1:9",
        sns_client=sns,
    )

    assert result.detail.startswith(f"published to {topic_arn} (SNS message ")
    (received,) = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)["Messages"]
    envelope = json.loads(received["Body"])
    assert envelope["Subject"] == message.subject
    assert len(envelope["Subject"]) <= 100
    assert json.loads(envelope["Message"]) == message.payload
    assert json.loads(envelope["Message"])["type"] == "critical_vulnerabilities"


def test_sns_to_a_missing_topic_is_permanent(aws: None, event: dict[str, Any]) -> None:
    topic_arn = f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:gone"
    with pytest.raises(PermanentDeliveryError, match="NotFound"):
        deliver(
            {"type": "sns", "config": {"topic_arn": topic_arn}},
            {},
            rendered(event, "sns"),
            delivery_id=DELIVERY_ID,
            telegram_api_url="http://127.0.0.1:9",
            sns_client=boto3.client("sns", region_name=REGION),
        )


def test_sns_to_a_topic_in_another_region_uses_that_region(aws: None, event: dict[str, Any]) -> None:
    topic_arn = boto3.client("sns", region_name="eu-west-1").create_topic(Name="eu-alerts")["TopicArn"]
    result = deliver(
        {"type": "sns", "config": {"topic_arn": topic_arn}},
        {},
        rendered(event, "sns"),
        delivery_id=DELIVERY_ID,
        telegram_api_url="http://127.0.0.1:9",
        sns_client=boto3.client("sns", region_name=REGION),
    )
    assert result.detail.startswith(f"published to {topic_arn}")
