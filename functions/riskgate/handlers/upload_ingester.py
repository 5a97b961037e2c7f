"""The upload ingester: an uploaded report's arrival (S3 → EventBridge → SQS) → its scans stored, the
upload marked done or failed, the object deleted. Wiring only (riskgate.services.uploads.ingest_upload).

One object per invocation. A failure that is not the report's fault (AWS busy, a timeout) fails the
record: SQS delivers it again after the visibility timeout, and the scans already written are found, not
written twice; after the last receive it goes to the dead-letter queue (alarmed).

Each scan written counts as ScansIngested, emitted once per invocation (riskgate.metrics), also when the
delivery then fails: the next delivery finds it and neither writes nor counts it again.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from riskgate import metrics
from riskgate.adapters.store import StoredScan, default_store
from riskgate.adapters.uploads import default_objects, default_uploads
from riskgate.clock import system_now
from riskgate.domain.images import ImageRef
from riskgate.domain.permissions import GLOBAL_SCOPE, Principal, RoleBinding
from riskgate.domain.uploads import upload_id_of_key
from riskgate.handlers import judging
from riskgate.handlers.api.errors import status_for
from riskgate.handlers.api.security import access_for
from riskgate.handlers.consumers import queue_consumer
from riskgate.resources import METRIC_FINDINGS_STORED, METRIC_SCANS_INGESTED, UPLOADS_PREFIX
from riskgate.services.scans import Authorize, ScanStore, may_submit_for
from riskgate.services.uploads import ingest_upload

logger = Logger()


def object_key_of(body: str) -> str | None:
    """The object key of an S3 "Object Created" event as EventBridge delivers it; None for anything else."""
    try:
        event = json.loads(body)
        key = event["detail"]["object"]["key"]
    except (ValueError, TypeError, KeyError):
        return None
    return key if isinstance(key, str) else None


def authorize_as_creator(upload: dict[str, Any]) -> Authorize:
    """The upload's creator's access as it is now (roles and scopes read again), for `scans:write`."""
    bindings = tuple(
        RoleBinding(binding["role"], binding.get("scope", GLOBAL_SCOPE))
        for binding in upload.get("role_bindings") or []
    )
    principal = Principal(
        user_id=str(upload.get("user_id")), token_id=upload.get("token_id") or "", role_bindings=bindings
    )
    return may_submit_for(access_for(principal))


class _CountingScans:
    """The scan store, counting each scan it writes as ScansIngested, and the finding items it wrote."""

    def __init__(self, store: ScanStore) -> None:
        self._store = store

    def get_image(self, image_id: str) -> dict[str, Any] | None:
        return self._store.get_image(image_id)

    def save_scan(self, **kwargs: Any) -> StoredScan:
        stored = self._store.save_scan(**kwargs)
        metrics.count(METRIC_SCANS_INGESTED)
        metrics.count(METRIC_FINDINGS_STORED, stored.findings_written)
        return stored


def record_handler(record: SQSRecord) -> None:
    key = object_key_of(record.body)
    upload_id = upload_id_of_key(UPLOADS_PREFIX, key) if key else None
    if upload_id is None:
        # Not an upload of ours: nothing to do, and retrying would not change that.
        logger.warning("message names no upload", key=key)
        return
    store = default_store()

    def already_stored(image: ImageRef, received_at: str, scan_id: str) -> bool:
        return store.scan_exists(image.image_id, received_at, scan_id)

    result = ingest_upload(
        upload_id,
        uploads=default_uploads(),
        objects=default_objects(),
        store=_CountingScans(store),
        authorize_for=authorize_as_creator,
        policies_for=judging.policies_for(),
        acceptances_for=judging.acceptances_for(),
        already_stored=already_stored,
        status_for=status_for,
        now=system_now(),
    )
    logger.info(
        "upload ingested",
        upload_id=upload_id,
        status=result.status,
        scans=result.scans,
        error_status=result.error_status,
    )


handler = metrics.per_invocation(queue_consumer(record_handler, logger))
