"""Where audit events go after the table: the EventBridge audit bus and the Object Lock archive (S3).

Clients are created on first use (never at import), so tests and the local stack point them elsewhere
through the environment first.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

from riskgate.resources import AUDIT_EVENT_DETAIL_TYPE, AUDIT_EVENT_SOURCE
from riskgate.settings import get_settings

# S3's answers to `If-None-Match: *` when the key already has an object.
_ALREADY_EXISTS = frozenset({"PreconditionFailed", "412"})


class AuditDeliveryError(RuntimeError):
    """A destination refused an event; the stream record fails and is retried."""


class AuditBus:
    """The EventBridge bus SIEMs subscribe to (a rule on `source: riskgate.audit`)."""

    def __init__(self, bus_name: str, client: Any | None = None) -> None:
        self.bus_name = bus_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("events")
        return self._client

    def put_event(self, detail: str, time: datetime) -> None:
        response = self.client.put_events(
            Entries=[
                {
                    "EventBusName": self.bus_name,
                    "Source": AUDIT_EVENT_SOURCE,
                    "DetailType": AUDIT_EVENT_DETAIL_TYPE,
                    "Detail": detail,
                    "Time": time,
                }
            ]
        )
        # PutEvents reports a refused entry in its answer, not as an error.
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            raise AuditDeliveryError(
                f"EventBridge refused the event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
            )


class AuditArchive:
    """The archive bucket: Object Lock in compliance mode, so what is written here stays.

    Writes are conditional (`If-None-Match: *`): a redelivered event finds its key taken and S3 answers
    412, which means "archived already" — no second object version, and no read-then-write race between
    two deliveries of the same record. (A HeadObject check first would need s3:GetObject too and still
    race; moto supports the condition, so the tests exercise this very path.)
    """

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("s3")
        return self._client

    def put_once(self, key: str, body: bytes) -> bool:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                IfNoneMatch="*",
                # S3 requires an integrity checksum on uploads to a bucket with Object Lock retention.
                ChecksumAlgorithm="SHA256",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _ALREADY_EXISTS:
                return False
            raise
        return True


@cache
def default_sinks() -> tuple[AuditBus, AuditArchive]:
    """The configured bus and archive, created once per execution environment on first use."""
    settings = get_settings()
    if not settings.audit_bus_name or not settings.audit_archive_bucket:
        raise RuntimeError(
            "RISKGATE_AUDIT_BUS_NAME and RISKGATE_AUDIT_ARCHIVE_BUCKET must be set for the audit forwarder"
        )
    return AuditBus(settings.audit_bus_name), AuditArchive(settings.audit_archive_bucket)
