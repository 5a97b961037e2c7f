"""Report uploads in DynamoDB (the upload item, `UPLOAD#<id>` / `META`) and S3 (the uploaded object).

The item's `status` moves pending → processing → done | failed under conditions, so two deliveries of one
object cannot both finish it and a finished upload is never taken up again.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from functools import cache
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from riskgate.adapters.audit_log import audit_put
from riskgate.adapters.dynamo import TableClient, expression_values, from_item, to_item
from riskgate.clock import iso
from riskgate.domain.audit import AuditEvent
from riskgate.domain.uploads import UploadRequest, UploadStatus
from riskgate.resources import TABLE, UPLOAD_ITEM_TTL_DAYS
from riskgate.settings import get_settings

META = "META"


def upload_key(upload_id: str) -> dict[str, str]:
    return {"pk": f"UPLOAD#{upload_id}", "sk": META}


class UploadTable(TableClient):
    def create(self, request: UploadRequest, audit: AuditEvent) -> None:
        """The upload item and its audit event, in one transaction."""
        expires = request.created_at + timedelta(days=UPLOAD_ITEM_TTL_DAYS)
        item = {
            **upload_key(request.upload_id),
            "item_type": "upload",
            **request.as_item(),
            TABLE.ttl_attribute: int(expires.timestamp()),
        }
        put = {
            "Put": {
                "TableName": self.table_name,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        self.client.transact_write_items(
            TransactItems=[put, audit_put(self.table_name, audit, get_settings().audit_retention_days)]
        )

    def get(self, upload_id: str) -> dict[str, Any] | None:
        item = self._get(upload_key(upload_id))
        if item is None:
            return None
        answer = item.pop("answer_gz", None)
        if answer is not None:
            item["answer"] = json.loads(gzip.decompress(bytes(answer)))
        return item

    def start_processing(self, upload_id: str, now: datetime) -> dict[str, Any] | None:
        """Marks the upload `processing` and returns it; None when it is finished or unknown.

        A second delivery of the same object (the first one's invocation died) takes it up again with the
        same `processing_started_at`: the scans it stores carry that time, so it finds those already
        written."""
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=to_item(upload_key(upload_id)),
                UpdateExpression=(
                    "SET #status = :processing, "
                    "processing_started_at = if_not_exists(processing_started_at, :now), "
                    "attempts = if_not_exists(attempts, :zero) + :one"
                ),
                ConditionExpression="attribute_exists(pk) AND #status IN (:pending, :processing)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=expression_values(
                    {
                        ":processing": UploadStatus.PROCESSING.value,
                        ":pending": UploadStatus.PENDING.value,
                        ":now": iso(now),
                        ":zero": 0,
                        ":one": 1,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return from_item(response["Attributes"])

    def finish(self, upload_id: str, answer: dict[str, Any], now: datetime) -> None:
        # Compressed: the answer of a report of hundreds of images would not fit an item otherwise.
        packed = gzip.compress(json.dumps(answer, separators=(",", ":")).encode())
        self._end(upload_id, now, "answer_gz = :answer", {":answer": packed}, UploadStatus.DONE)

    def fail(self, upload_id: str, status: int, error: dict[str, Any], now: datetime) -> None:
        self._end(
            upload_id,
            now,
            "error_status = :error_status, #error = :error",
            {":error_status": status, ":error": error},
            UploadStatus.FAILED,
            names={"#error": "error"},
        )

    def _end(
        self,
        upload_id: str,
        now: datetime,
        sets: str,
        values: dict[str, Any],
        status: UploadStatus,
        names: dict[str, str] | None = None,
    ) -> None:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=to_item(upload_key(upload_id)),
                UpdateExpression=f"SET #status = :status, finished_at = :now, {sets}",
                ConditionExpression="#status = :processing",
                ExpressionAttributeNames={"#status": "status", **(names or {})},
                ExpressionAttributeValues=expression_values(
                    {
                        ":status": status.value,
                        ":processing": UploadStatus.PROCESSING.value,
                        ":now": iso(now),
                        **values,
                    }
                ),
            )
        except ClientError as error:
            # Two deliveries of one object ran at once (SQS delivers at least once) and the other one
            # finished it first, with the same scans: its answer stands.
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise


class UploadObjects:
    """The uploads bucket: presigned POSTs for clients, streaming reads and deletes for the ingester."""

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            # Signature version 4: the only one S3 takes for objects encrypted with KMS, and the one that
            # carries the function's session token in the presigned POST's policy.
            self._client = boto3.client("s3", config=Config(signature_version="s3v4"))
        return self._client

    def presigned_post(self, key: str, max_bytes: int, expires_in: int) -> dict[str, Any]:
        """`{"url", "fields"}`: a form POST of the fields and then the file creates `key`; S3 refuses a
        file over `max_bytes` (the policy's content-length-range) and any POST after `expires_in` s."""
        post: dict[str, Any] = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Conditions=[["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        return post

    def size(self, key: str) -> int | None:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def open(self, key: str) -> IO[bytes]:
        body: IO[bytes] = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


@cache
def default_uploads() -> UploadTable:
    return UploadTable(get_settings().table_name)


@cache
def default_objects() -> UploadObjects:
    bucket = get_settings().uploads_bucket
    if not bucket:
        raise RuntimeError("RISKGATE_UPLOADS_BUCKET is not set")
    return UploadObjects(bucket)
