"""The one place that turns errors into HTTP responses, in the API's error shape."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from riskgate.domain.errors import (
    Conflict,
    InvalidInput,
    MalformedInput,
    NotConfigured,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RiskgateError,
    Unauthenticated,
)

STATUS_BY_ERROR: dict[type[RiskgateError], int] = {
    MalformedInput: 400,
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    InvalidInput: 422,
    NotConfigured: 503,
}


# Error codes of AWS answers that mean "busy, try again": throttling, a transient server error, or a
# transaction that lost to a concurrent one on the same items.
TRANSIENT_AWS_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
RETRY_AFTER_SECONDS = 1


def is_transient(error: Any) -> bool:
    """Whether a botocore ClientError says the service is busy (a cancelled transaction counts when
    every reason it gives is a conflict or throttling, not a failed condition)."""
    response = getattr(error, "response", None) or {}
    code = (response.get("Error") or {}).get("Code", "")
    if code in TRANSIENT_AWS_ERRORS:
        return True
    if code == "TransactionCanceledException":
        reasons = [
            r.get("Code") for r in response.get("CancellationReasons") or [] if r.get("Code") != "None"
        ]
        return bool(reasons) and all(
            r in ("TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded") for r in reasons
        )
    return False


def status_for(error: RiskgateError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_response(status: int, code: str, message: str, details: list[Any] | None = None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def response_for(error: RiskgateError) -> Response:
    return error_response(status_for(error), error.code, error.message, error.details)


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """Powertools/pydantic validation errors as `{"location", "message"}` items naming the field."""
    details = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        details.append({"location": ".".join(location), "message": error.get("msg", "invalid")})
    return details
