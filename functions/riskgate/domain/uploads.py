"""Report uploads: a report too large for a request body goes to S3, and its scans are stored from there.

Plain data and rules, no AWS. An upload is `pending` from `POST /v1/scans/uploads` until its object
arrives, `processing` while the ingester reads it, then `done` (the answer a synchronous POST would have
given) or `failed` (the error it would have given). A pending upload whose URL expired without an object
reads `failed`: it was never uploaded.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from riskgate.clock import iso, parse_iso
from riskgate.domain.errors import PayloadTooLarge
from riskgate.domain.images import ImageRef

UPLOAD_ID_PREFIX = "upl-"


class UploadStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


# The error code and message of an upload that never came; the status a synchronous POST of no body gets.
NEVER_UPLOADED_CODE = "upload_expired"
NEVER_UPLOADED_STATUS = 400


def new_upload_id() -> str:
    return UPLOAD_ID_PREFIX + secrets.token_hex(12)


def is_upload_id(text: str) -> bool:
    return (
        text.startswith(UPLOAD_ID_PREFIX)
        and len(text) == len(UPLOAD_ID_PREFIX) + 24
        and all(c in "0123456789abcdef" for c in text[len(UPLOAD_ID_PREFIX) :])
    )


def object_key(prefix: str, upload_id: str) -> str:
    return f"{prefix}{upload_id}"


def upload_id_of_key(prefix: str, key: str) -> str | None:
    """The upload an object key belongs to; None for any other key."""
    if not key.startswith(prefix):
        return None
    upload_id = key[len(prefix) :]
    return upload_id if is_upload_id(upload_id) else None


def scan_id_for(upload_id: str, image: ImageRef) -> str:
    """The scan id of one subject of an upload: the same on every delivery of the same object, so a
    redelivered object finds the scans it already wrote instead of writing them twice."""
    digest = hashlib.sha256(f"{upload_id}\n{image.image_id}".encode()).hexdigest()[:20]
    return "scan-" + digest


@dataclass(frozen=True)
class UploadRequest:
    """What `POST /v1/scans/uploads` records: who asked, for which image, until when the URL works."""

    upload_id: str
    user_id: str
    token_id: str | None
    role_bindings: list[dict[str, str]]
    source_ip: str | None
    request_id: str | None
    image: str | None
    cluster: str | None
    max_bytes: int
    created_at: datetime
    url_expires_at: datetime

    def as_item(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id,
            "status": UploadStatus.PENDING.value,
            "user_id": self.user_id,
            "token_id": self.token_id,
            "role_bindings": self.role_bindings,
            "source_ip": self.source_ip,
            "request_id": self.request_id,
            "image": self.image,
            "cluster": self.cluster,
            "max_bytes": self.max_bytes,
            "created_at": iso(self.created_at),
            "url_expires_at": iso(self.url_expires_at),
        }


def url_expiry(now: datetime, seconds: int) -> datetime:
    return now + timedelta(seconds=seconds)


def effective_status(item: dict[str, Any], now: datetime) -> tuple[str, dict[str, Any] | None, int | None]:
    """(status, error, error status) as a reader sees the upload at `now`."""
    status = str(item["status"])
    if status == UploadStatus.PENDING and parse_iso(str(item["url_expires_at"])) <= now:
        return UploadStatus.FAILED.value, never_uploaded_error(), NEVER_UPLOADED_STATUS
    error = item.get("error")
    return status, error if isinstance(error, dict) else None, item.get("error_status")


def never_uploaded_error() -> dict[str, Any]:
    return {
        "code": NEVER_UPLOADED_CODE,
        "message": "the report was never uploaded: the upload URL expired before an object arrived; "
        "create a new upload",
        "details": [],
    }


def too_large(size: int, limit: int) -> PayloadTooLarge:
    """S3 enforces the limit of the presigned POST; this says the same of an object that got past it."""
    return PayloadTooLarge(
        f"the uploaded object is {size} bytes, larger than the upload limit of {limit} bytes",
        details=[{"limit_bytes": limit}],
    )
