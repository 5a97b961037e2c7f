"""Reports of any size: an upload is created by the API, filled by the client straight into S3, and
ingested from there by the upload ingester with the same parsing, judging and storing as `POST /v1/scans`.

The tables and the bucket are passed in (ports); the caller's access is rebuilt by a function passed in.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Protocol

from riskgate.clock import iso, parse_iso
from riskgate.domain.audit import Actor, AuditAction, AuditEvent, audit_event
from riskgate.domain.errors import MalformedInput, NotFound, RiskgateError
from riskgate.domain.images import ImageRef, parse_image_reference
from riskgate.domain.parsers import ParsedReport, decode_report, parse_reports
from riskgate.domain.parsers.streaming import read_streamed_trivy_report, spool_report
from riskgate.domain.uploads import (
    UploadRequest,
    UploadStatus,
    effective_status,
    new_upload_id,
    object_key,
    scan_id_for,
    too_large,
    url_expiry,
)
from riskgate.resources import (
    UPLOAD_IN_MEMORY_BYTES,
    UPLOAD_MAX_DECOMPRESSED_BYTES,
    UPLOAD_URL_EXPIRY_SECONDS,
    UPLOADS_PREFIX,
)
from riskgate.services.evaluation import AcceptancesFor
from riskgate.services.policies import PoliciesFor
from riskgate.services.scans import Authorize, ScanStore, accepted_answer, store_reports


class Uploads(Protocol):
    def create(self, request: UploadRequest, audit: AuditEvent) -> None: ...

    def get(self, upload_id: str) -> dict[str, Any] | None: ...

    def start_processing(self, upload_id: str, now: datetime) -> dict[str, Any] | None: ...

    def finish(self, upload_id: str, answer: dict[str, Any], now: datetime) -> None: ...

    def fail(self, upload_id: str, status: int, error: dict[str, Any], now: datetime) -> None: ...


class Objects(Protocol):
    def presigned_post(self, key: str, max_bytes: int, expires_in: int) -> dict[str, Any]: ...

    def size(self, key: str) -> int | None: ...

    def open(self, key: str) -> IO[bytes]: ...

    def delete(self, key: str) -> None: ...


# --- creating and reading uploads (the API) ---------------------------------------------------------


def create_upload(
    uploads: Uploads,
    objects: Objects,
    *,
    actor: Actor,
    role_bindings: list[dict[str, str]],
    authorize: Authorize,
    image: str | None,
    cluster: str | None,
    max_bytes: int,
    now: datetime,
) -> dict[str, Any]:
    """An upload and the presigned POST that fills it (audited). A named `image` is checked now, its name
    and the caller's right to submit scans of it, so that a mistake fails here rather than after the
    upload; the ingester checks every image of the report again, with the access the caller has then."""
    if image:
        authorize(parse_image_reference(image), ())
    request = UploadRequest(
        upload_id=new_upload_id(),
        user_id=actor.user_id or "",
        token_id=actor.token_id,
        role_bindings=role_bindings,
        source_ip=actor.source_ip,
        request_id=actor.request_id,
        image=image,
        cluster=cluster,
        max_bytes=max_bytes,
        created_at=now,
        url_expires_at=url_expiry(now, UPLOAD_URL_EXPIRY_SECONDS),
    )
    post = objects.presigned_post(
        object_key(UPLOADS_PREFIX, request.upload_id), max_bytes, UPLOAD_URL_EXPIRY_SECONDS
    )
    uploads.create(
        request,
        audit_event(
            actor,
            AuditAction.CREATE,
            "upload",
            request.upload_id,
            after={"image": image, "cluster": cluster, "max_bytes": max_bytes},
        ),
    )
    return {
        "upload_id": request.upload_id,
        "status": UploadStatus.PENDING.value,
        "url": post["url"],
        "method": "POST",
        "fields": post["fields"],
        "file_field": "file",
        "max_bytes": max_bytes,
        "created_at": iso(now),
        "expires_at": iso(request.url_expires_at),
    }


def read_upload(uploads: Uploads, upload_id: str, user_id: str | None, now: datetime) -> dict[str, Any]:
    """The upload as its creator sees it; someone else's upload does not exist for the caller."""
    item = uploads.get(upload_id)
    if item is None or item.get("user_id") != user_id:
        raise NotFound(f"upload {upload_id} not found")
    status, error, error_status = effective_status(item, now)
    return {
        "upload_id": upload_id,
        "status": status,
        "image": item.get("image"),
        "cluster": item.get("cluster"),
        "max_bytes": item["max_bytes"],
        "created_at": item["created_at"],
        "expires_at": item["url_expires_at"],
        "finished_at": item.get("finished_at"),
        "result": item.get("answer") if status == UploadStatus.DONE else None,
        "error": error,
        "error_status": error_status,
    }


# --- ingesting an uploaded object (the ingester) ----------------------------------------------------


@dataclass(frozen=True)
class Ingestion:
    """What one delivery of an object did: `skipped` when the upload was finished already or unknown."""

    upload_id: str
    status: str
    scans: int = 0
    error_status: int | None = None


AccessFor = Callable[[dict[str, Any]], Authorize]


def ingest_upload(
    upload_id: str,
    *,
    uploads: Uploads,
    objects: Objects,
    store: ScanStore,
    authorize_for: AccessFor,
    policies_for: PoliciesFor,
    acceptances_for: AcceptancesFor,
    already_stored: Callable[[ImageRef, str, str], bool],
    status_for: Callable[[RiskgateError], int],
    now: datetime,
) -> Ingestion:
    """Reads the uploaded object, stores its scans as its creator (with their access as it is now), and
    records the answer or the error a synchronous POST would have given; the object is then deleted.

    Errors of the report (RiskgateError: not JSON, unsupported, too large, not permitted) end the upload
    `failed`; anything else (AWS busy, the function dying) leaves it `processing` and raises, so that the
    queue delivers the object again, and the next delivery finds the scans already written.
    """
    key = object_key(UPLOADS_PREFIX, upload_id)
    item = uploads.start_processing(upload_id, now)
    if item is None:
        objects.delete(key)
        return Ingestion(upload_id, "skipped")
    started = parse_iso(str(item["processing_started_at"]))
    try:
        reports = _read_reports(objects, key, int(item["max_bytes"]))
        received = store_reports(
            store,
            reports,
            image_param=item.get("image"),
            cluster_param=item.get("cluster"),
            actor=Actor(
                user_id=item.get("user_id"),
                token_id=item.get("token_id"),
                source_ip=item.get("source_ip"),
                request_id=item.get("request_id"),
            ),
            authorize=authorize_for(item),
            policies_for=policies_for,
            acceptances_for=acceptances_for,
            now=started,
            scan_id_for=lambda image: scan_id_for(upload_id, image),
            already_stored=already_stored,
        )
    except RiskgateError as error:
        # The status the API's one mapping gives: a failed upload says what a POST would have said.
        status = status_for(error)
        uploads.fail(
            upload_id, status, {"code": error.code, "message": error.message, "details": error.details}, now
        )
        objects.delete(key)
        return Ingestion(upload_id, UploadStatus.FAILED.value, error_status=status)
    uploads.finish(upload_id, accepted_answer(received), now)
    objects.delete(key)
    return Ingestion(upload_id, UploadStatus.DONE.value, scans=len(received.scans))


def _read_reports(objects: Objects, key: str, max_bytes: int) -> list[ParsedReport]:
    size = objects.size(key)
    if size is None:
        raise MalformedInput("the uploaded object is no longer there: create a new upload")
    if size > max_bytes:
        raise too_large(size, max_bytes)
    with tempfile.TemporaryFile() as spool:
        with objects.open(key) as body:
            written = spool_report(body, spool, UPLOAD_MAX_DECOMPRESSED_BYTES)
        spool.seek(0)
        if written <= UPLOAD_IN_MEMORY_BYTES:
            document = decode_report(spool.read(), None, UPLOAD_IN_MEMORY_BYTES)
        else:
            document = read_streamed_trivy_report(spool, written, UPLOAD_IN_MEMORY_BYTES)
    return parse_reports(document)
