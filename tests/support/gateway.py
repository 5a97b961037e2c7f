"""The local stack's API Gateway emulation, in-process, in front of the real authorizer and API handler.

Requests go through exactly what `make run` does — bearer token → REQUEST authorizer → 401/403 or the
authorizer's context → API handler — without an HTTP server, against whatever moto backs the test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from riskgate.resources import API_FUNCTION, AUTHORIZER_FUNCTION
from riskgate_local.gateway import HttpRequest, RestApiGateway
from riskgate_local.lambdas import LocalFunction


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


class InProcessGateway:
    def __init__(self) -> None:
        self._gateway = RestApiGateway(
            LocalFunction("api", API_FUNCTION.handler, timeout_seconds=API_FUNCTION.timeout_seconds),
            LocalFunction(
                "authorizer", AUTHORIZER_FUNCTION.handler, timeout_seconds=AUTHORIZER_FUNCTION.timeout_seconds
            ),
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
        all_headers = [("Content-Type", "application/json"), *(headers or {}).items()]
        if token:
            all_headers.append(("Authorization", f"Bearer {token}"))
        target = path + ("?" + urlencode(query) if query else "")
        response = self._gateway.handle(
            HttpRequest(method=method, target=target, headers=all_headers, body=raw, source_ip="198.51.100.4")
        )
        text = response.body.decode() if response.body else ""
        return Reply(
            status=response.status, body=json.loads(text) if text.strip().startswith(("{", "[")) else text
        )
