"""Domain errors. They say what is wrong; `riskgate.handlers.api.errors` alone decides the HTTP status."""

from __future__ import annotations

from typing import Any


class RiskgateError(Exception):
    """Base of every error the API reports to callers."""

    code = "error"

    def __init__(self, message: str, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class MalformedInput(RiskgateError):
    """The request cannot be read: not JSON, broken gzip, a bad pagination token."""

    code = "malformed_request"


class InvalidInput(RiskgateError):
    """Well-formed but not acceptable: unsupported report format, no image name, bad field values."""

    code = "invalid_request"


class UnsupportedFormat(InvalidInput):
    code = "unsupported_format"


class MissingImage(InvalidInput):
    code = "image_unknown"


class PayloadTooLarge(RiskgateError):
    code = "payload_too_large"


class NotFound(RiskgateError):
    code = "not_found"


class Conflict(RiskgateError):
    code = "conflict"


class Unauthenticated(RiskgateError):
    code = "unauthorized"


class PermissionDenied(RiskgateError):
    code = "forbidden"


class NotConfigured(RiskgateError):
    """The deployment lacks what the request needs (e.g. no registry work queue): nothing was changed."""

    code = "service_unavailable"
