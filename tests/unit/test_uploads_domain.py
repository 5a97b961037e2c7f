"""Report uploads as plain data: upload ids, object keys, per-subject scan ids, and the status a reader
sees (a pending upload whose URL expired reads failed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskgate.clock import iso
from riskgate.domain.errors import PayloadTooLarge
from riskgate.domain.images import parse_image_reference
from riskgate.domain.uploads import (
    NEVER_UPLOADED_CODE,
    NEVER_UPLOADED_STATUS,
    UPLOAD_ID_PREFIX,
    UploadRequest,
    UploadStatus,
    effective_status,
    is_upload_id,
    new_upload_id,
    object_key,
    scan_id_for,
    too_large,
    upload_id_of_key,
    url_expiry,
)

PREFIX = "uploads/"
UPLOAD_ID = "upl-0123456789abcdef01234567"
OTHER_UPLOAD_ID = "upl-fedcba9876543210fedcba98"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ALPINE = parse_image_reference("alpine:3.10")
NGINX = parse_image_reference("ghcr.io/org/nginx:1.25")


# --- upload ids and object keys ---------------------------------------------------------------------


def test_a_new_upload_id_is_an_upload_id() -> None:
    upload_id = new_upload_id()

    assert upload_id.startswith(UPLOAD_ID_PREFIX)
    assert len(upload_id) == len("upl-") + 24
    assert is_upload_id(upload_id)


def test_new_upload_ids_differ() -> None:
    assert len({new_upload_id() for _ in range(100)}) == 100


@pytest.mark.parametrize(
    "text",
    [
        "",
        "upl-",
        "upl-0123456789abcdef0123456",  # 23 hex digits
        "upl-0123456789abcdef012345678",  # 25
        "upl-0123456789ABCDEF01234567",  # upper case
        "upl-0123456789abcdef0123456g",
        "UPL-0123456789abcdef01234567",
        "upl_0123456789abcdef01234567",
        "0123456789abcdef01234567",
        " upl-0123456789abcdef01234567",
        "upl-0123456789abcdef01234567\n",
        "upl-0123456789abcdef0123456\u0663",  # a digit, but not an ASCII one
        "upl-../../../etc/passwd/aaaa",
    ],
)
def test_other_text_is_not_an_upload_id(text: str) -> None:
    assert not is_upload_id(text)


def test_an_object_key_names_its_upload() -> None:
    key = object_key(PREFIX, UPLOAD_ID)

    assert key == f"uploads/{UPLOAD_ID}"
    assert upload_id_of_key(PREFIX, key) == UPLOAD_ID


@pytest.mark.parametrize(
    "key",
    [
        f"other/{UPLOAD_ID}",
        UPLOAD_ID,
        f"x/uploads/{UPLOAD_ID}",
        "uploads/",
        "uploads/upl-nothex",
        "uploads/../x",
        f"uploads/../{UPLOAD_ID}",
        f"uploads/../uploads/{UPLOAD_ID}",
        f"uploads/{UPLOAD_ID}/",
        f"uploads/{UPLOAD_ID}/../x",
        f"uploads/{UPLOAD_ID}.gz",
        f"uploads//{UPLOAD_ID}",
        f"UPLOADS/{UPLOAD_ID}",
    ],
)
def test_other_keys_belong_to_no_upload(key: str) -> None:
    assert upload_id_of_key(PREFIX, key) is None


# --- scan ids ---------------------------------------------------------------------------------------


def test_the_scan_id_of_a_subject_is_the_same_on_every_delivery() -> None:
    scan_id = scan_id_for(UPLOAD_ID, ALPINE)

    assert scan_id == scan_id_for(UPLOAD_ID, ALPINE)
    assert scan_id == scan_id_for(UPLOAD_ID, parse_image_reference("docker.io/library/alpine:3.10"))
    assert scan_id.startswith("scan-")
    assert len(scan_id) == len("scan-") + 20
    assert all(c in "0123456789abcdef" for c in scan_id[len("scan-") :])


def test_scan_ids_differ_across_subjects_and_uploads() -> None:
    ids = {
        scan_id_for(UPLOAD_ID, ALPINE),
        scan_id_for(UPLOAD_ID, NGINX),
        scan_id_for(OTHER_UPLOAD_ID, ALPINE),
        scan_id_for(OTHER_UPLOAD_ID, NGINX),
        scan_id_for(UPLOAD_ID, parse_image_reference("alpine:3.11")),
    }

    assert len(ids) == 5


# --- the status a reader sees -----------------------------------------------------------------------


def item(status: str, expires_at: datetime, **extra: Any) -> dict[str, Any]:
    return {"upload_id": UPLOAD_ID, "status": status, "url_expires_at": iso(expires_at), **extra}


def test_a_pending_upload_before_its_url_expires_is_pending() -> None:
    assert effective_status(item("pending", NOW + timedelta(microseconds=1)), NOW) == ("pending", None, None)


@pytest.mark.parametrize("after", [timedelta(0), timedelta(microseconds=1), timedelta(days=3)])
def test_a_pending_upload_at_or_after_its_url_expiry_failed_as_never_uploaded(after: timedelta) -> None:
    status, error, error_status = effective_status(item("pending", NOW), NOW + after)

    assert status == "failed"
    assert error is not None
    assert error["code"] == NEVER_UPLOADED_CODE == "upload_expired"
    assert "never uploaded" in error["message"]
    assert error["details"] == []
    assert error_status == NEVER_UPLOADED_STATUS == 400


def test_the_expiry_is_read_in_any_zone() -> None:
    expires = NOW.astimezone(UTC).replace(tzinfo=None).isoformat() + "+00:00"
    pending = {"status": "pending", "url_expires_at": expires}

    assert effective_status(pending, NOW - timedelta(seconds=1))[0] == "pending"
    assert effective_status(pending, NOW)[0] == "failed"


def test_a_processing_upload_stays_processing_after_its_url_expired() -> None:
    """The object arrived: the URL's expiry no longer matters."""
    assert effective_status(item("processing", NOW), NOW + timedelta(hours=1)) == ("processing", None, None)


def test_a_done_upload_passes_through_after_its_url_expired() -> None:
    done = item("done", NOW - timedelta(hours=1), result={"scan_id": "scan-1"})

    assert effective_status(done, NOW) == ("done", None, None)


def test_a_failed_upload_passes_through_with_its_error() -> None:
    error = {"code": "invalid_request", "message": "Results[0] is not an object", "details": []}
    failed = item("failed", NOW + timedelta(hours=1), error=error, error_status=422)

    assert effective_status(failed, NOW) == ("failed", error, 422)
    assert effective_status(failed, NOW + timedelta(days=1)) == ("failed", error, 422)


def test_an_error_that_is_not_an_object_is_not_passed_on() -> None:
    failed = item("failed", NOW, error="boom", error_status=500)

    assert effective_status(failed, NOW) == ("failed", None, 500)


def test_an_upload_request_is_stored_pending_until_its_url_expires() -> None:
    request = UploadRequest(
        upload_id=UPLOAD_ID,
        user_id="user-1",
        token_id=None,
        role_bindings=[{"role": "submitter", "scope": "*"}],
        source_ip="192.0.2.1",
        request_id="req-1",
        image="alpine:3.10",
        cluster=None,
        max_bytes=1000,
        created_at=NOW,
        url_expires_at=url_expiry(NOW, 900),
    )

    stored = request.as_item()

    assert stored["status"] == UploadStatus.PENDING == "pending"
    assert stored["created_at"] == "2026-12-03T12:00:00.000000Z"
    assert stored["url_expires_at"] == "2026-12-03T12:15:00.000000Z"
    assert effective_status(stored, NOW + timedelta(seconds=899)) == ("pending", None, None)
    assert effective_status(stored, NOW + timedelta(seconds=900))[0] == "failed"


# --- size -------------------------------------------------------------------------------------------


def test_too_large_names_the_size_and_the_limit() -> None:
    error = too_large(2_000_001, 2_000_000)

    assert isinstance(error, PayloadTooLarge)
    assert error.code == "payload_too_large"
    assert error.message == (
        "the uploaded object is 2000001 bytes, larger than the upload limit of 2000000 bytes"
    )
    assert error.details == [{"limit_bytes": 2_000_000}]
