"""Minimal Lambda events, shaped as API Gateway and DynamoDB Streams deliver them."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from typing import Any

ADMIN_BINDINGS = [{"role": "administrator", "scope": "global"}]


def api_event(
    method: str,
    path: str,
    *,
    body: bytes | str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    role_bindings: list[dict[str, str]] | None = None,
    authorized: bool = True,
    gzip_body: bool = False,
    user_id: str = "admin",
) -> dict[str, Any]:
    """A REST API proxy event; the body is base64 as API Gateway sends it with binary media `*/*`."""
    raw = body.encode() if isinstance(body, str) else body
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if raw is not None and gzip_body:
        raw = gzip.compress(raw)
        all_headers["Content-Encoding"] = "gzip"
    authorizer = None
    if authorized:
        authorizer = {
            "principalId": user_id,
            "user_id": user_id,
            "token_id": "tok-test",
            "role_bindings": json.dumps(ADMIN_BINDINGS if role_bindings is None else role_bindings),
        }
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "203.0.113.7"},
            "authorizer": authorizer,
        },
        "body": base64.b64encode(raw).decode() if raw is not None else None,
        "isBase64Encoded": raw is not None,
    }


class FakeLambdaContext:
    function_name = "riskgate-test"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:riskgate-test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/riskgate-test"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def response_json(response: dict[str, Any]) -> Any:
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body)
    return json.loads(body)
