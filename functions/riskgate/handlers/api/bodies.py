"""A request's body as sent: API Gateway base64-encodes it (binary media types `*/*`)."""

from __future__ import annotations

import base64
import binascii

from riskgate.domain.errors import MalformedInput


def raw_body(event: dict[str, object]) -> bytes:
    """The request body as sent (the same reading as `routes_scans.raw_body`, without importing the
    scans route and its parsers for every request that has a body)."""
    body = event.get("body")
    if not body:
        return b""
    if not isinstance(body, str):
        raise MalformedInput("request body is not text or base64")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise MalformedInput("request body is not valid base64") from error
    return body.encode("utf-8")
