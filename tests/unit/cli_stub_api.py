"""A scripted stand-in for `POST /v1/scans` on 127.0.0.1, for the CLI's tests: each request gets the next
scripted reply (an answer, a connection closed without an answer, or an answer cut short) and is kept
with its headers and body."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMPLIANT: dict[str, Any] = {
    "scan_id": "scan-stub",
    "image": {"reference": "registry.example/shop/api:1.0"},
    "verdict": {"status": "compliant", "block": False, "reasons": []},
}
BLOCKED: dict[str, Any] = {
    "scan_id": "scan-stub",
    "image": {"reference": "registry.example/shop/api:1.0"},
    "verdict": {
        "status": "non_compliant",
        "block": True,
        "reasons": [{"policy_name": "Default", "condition": "severity_at_least", "findings_total": 1}],
    },
}
RESET = "reset"  # close the connection without answering (the client sees a reset / remote disconnect)
CUT_SHORT = "cut-short"  # send headers promising a body, then close half-way (an incomplete read)


@dataclass
class Reply:
    status: int
    document: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class StubApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *script: Reply | str) -> None:
        self.script = list(script)
        self.received: list[Received] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), StubHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_reply(self, request: Received) -> Reply | str:
        with self.lock:
            self.received.append(request)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class StubHandler(BaseHTTPRequestHandler):
    server: StubApi
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        reply = self.server.next_reply(Received("POST", self.path, dict(self.headers), body))
        if reply == RESET:
            self.close_connection = True
            return
        if reply == CUT_SHORT:
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"scan_id": ')
            self.wfile.flush()
            self.close_connection = True
            return
        assert isinstance(reply, Reply)
        payload = b"" if reply.document is None else json.dumps(reply.document).encode()
        self.send_response(reply.status)
        for name, value in {"Content-Type": "application/json", **reply.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read what they need from `received`."""


@contextmanager
def stub_api(*script: Reply | str) -> Iterator[StubApi]:
    server = StubApi(*script)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def error_body(message: str) -> dict[str, Any]:
    return {"error": {"code": "x", "message": message, "details": []}}
