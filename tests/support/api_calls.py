"""Calling the API handler directly with JSON bodies, as the policy and verdict tests do."""

from __future__ import annotations

import json
from typing import Any

from riskgate.handlers.api import handler
from tests.support.events import FakeLambdaContext, api_event, response_json

CONTEXT: Any = FakeLambdaContext()
Bindings = list[dict[str, str]]


def call(
    method: str, path: str, body: Any = None, *, as_: Bindings | None = None, **kwargs: Any
) -> tuple[int, Any]:
    """Status and JSON answer; `as_` gives the caller's role bindings (default: administrator)."""
    event = api_event(
        method, path, body=json.dumps(body) if body is not None else None, role_bindings=as_, **kwargs
    )
    response = handler(event, CONTEXT)
    return response["statusCode"], response_json(response) if response.get("body") else None


def ok(method: str, path: str, body: Any = None, status: int = 200, **kwargs: Any) -> Any:
    """The answer of a call that must succeed with `status`."""
    got, answer = call(method, path, body, **kwargs)
    assert got == status, answer
    return answer
