"""Notifications in the table: the delivery log, its dedup markers and the per-integration rate counters.

Items (docs/architecture.md, "Contracts between the parts"):
- notification `NOTIFICATION#<id>` / `NOTIFICATION`, gsi2 `NOTIFICATIONS` / `<created_at>#<id>`: id
  (`ntf-…`), event_id, event (the trigger event's fields), policy_id, policy_name, policy_scope (whose
  readers see it), trigger, subject, output, integration, status (`pending` → `sending` → `sent` or
  `failed`), attempts, last_error, created_at, sent_at; kept (TTL) as long as security events are;
- dedup marker `NOTIFY_DEDUP#<key>` / `DEDUP`, TTL `expires_at_epoch` = the end of the window;
- rate counter `RATE#<integration>#<epoch minute>` / `RATE`, TTL an hour.

Every decision is a conditional write, so that concurrent and repeated deliveries of the same stream
record or SNS message settle in the table: the marker and the records of one policy's firing are one
transaction (a marker still held: nothing is recorded), and only one notifier at a time moves a
notification to `sending` (a sent one never again).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from riskgate.adapters.audit_log import SECONDS_PER_DAY
from riskgate.adapters.dynamo import (
    Page,
    TableClient,
    expression_values,
    from_item,
    public_fields,
    query_page,
    to_item,
)
from riskgate.adapters.store import default_store
from riskgate.clock import iso
from riskgate.resources import NOTIFIER_FUNCTION, TABLE
from riskgate.settings import get_settings

logger = Logger(child=True)

NOTIFICATIONS_PARTITION = "NOTIFICATIONS"
TTL = TABLE.ttl_attribute
# A rate counter outlives its minute by an hour, then TTL removes it.
RATE_COUNTER_TTL_SECONDS = 3600
# A notifier that moved a notification to `sending` and then died (a timeout) holds it this long; after
# that, a redelivery of its message may try again. SQS redelivers only after the visibility timeout,
# which is longer.
SENDING_LEASE_SECONDS = NOTIFIER_FUNCTION.timeout_seconds
# A transaction cancelled because another was in flight on the same items is sent again this often.
CONFLICT_ATTEMPTS = 3
# Recording a delivery that went out is tried this often, 0.1 s, 0.2 s, 0.4 s, … apart (1.5 s at most).
SENT_RECORD_ATTEMPTS = 5
SENT_RECORD_BACKOFF_SECONDS = 0.1
# The error kept in the delivery log is cut to this length.
MAX_ERROR_LENGTH = 1000
# Bookkeeping the delivery log does not show.
_HIDDEN_FIELDS = frozenset({TTL, "lease_expires_at_epoch", "permanent"})


def notification_key(notification_id: str) -> dict[str, str]:
    return {"pk": f"NOTIFICATION#{notification_id}", "sk": "NOTIFICATION"}


def dedup_marker_key(dedup_key: str) -> dict[str, str]:
    return {"pk": f"NOTIFY_DEDUP#{dedup_key}", "sk": "DEDUP"}


def rate_counter_key(integration: str, minute: int) -> dict[str, str]:
    return {"pk": f"RATE#{integration}#{minute}", "sk": "RATE"}


def notification_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """A notification as the delivery log shows it: without keys nor bookkeeping."""
    return {key: value for key, value in public_fields(dict(item)).items() if key not in _HIDDEN_FIELDS}


class NotificationStore(TableClient):
    """The delivery log. `client` is created lazily when not given."""

    def __init__(
        self, table_name: str, client: Any | None = None, *, retention_days: int | None = None
    ) -> None:
        super().__init__(table_name, client)
        self.retention_days = retention_days or get_settings().audit_retention_days

    # --- recording --------------------------------------------------------------------------------

    def record(
        self,
        notifications: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        dedup_key: str,
        window_ends_epoch: int,
        now_epoch: int,
    ) -> bool:
        """Write the dedup marker and the notification records (a policy's outputs) in one transaction.

        False when nothing was written: the marker is held (the same news within the window), or a
        record exists already (a redelivered stream record: it was recorded before).
        """
        records = [notifications] if isinstance(notifications, Mapping) else list(notifications)
        entries: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": to_item(
                        {
                            **dedup_marker_key(dedup_key),
                            "item_type": "notify_dedup",
                            "notification_ids": [str(record["id"]) for record in records],
                            TTL: window_ends_epoch,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk) OR #ttl < :now",
                    "ExpressionAttributeNames": {"#ttl": TTL},
                    "ExpressionAttributeValues": expression_values({":now": now_epoch}),
                }
            }
        ]
        expires = now_epoch + self.retention_days * SECONDS_PER_DAY
        for record in records:
            item = {
                **record,
                **notification_key(str(record["id"])),
                "item_type": "notification",
                "gsi2pk": NOTIFICATIONS_PARTITION,
                "gsi2sk": f"{record['created_at']}#{record['id']}",
                TTL: expires,
            }
            entries.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": to_item(item),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=entries)
                return True
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons") or []]
                if "ConditionalCheckFailed" in reasons or (
                    not reasons and "ConditionalCheckFailed" in error.response["Error"].get("Message", "")
                ):
                    return False
                if "TransactionConflict" not in reasons or attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- reading ----------------------------------------------------------------------------------

    def get(self, notification_id: str) -> dict[str, Any] | None:
        item = self._get(notification_key(notification_id))
        return notification_fields(item) if item else None

    def list(
        self, limit: int, next_token: str | None, filters: Mapping[str, str | None] | None = None
    ) -> Page:
        """Newest first; `filters` (status, trigger, policy_id) must each equal (a page may hold fewer)."""
        wanted = {key: value for key, value in (filters or {}).items() if value is not None}
        page = query_page(
            self.client,
            self.table_name,
            index="gsi2",
            partition=("gsi2pk", NOTIFICATIONS_PARTITION),
            limit=limit,
            next_token=next_token,
            newest_first=True,
            equals_filters=wanted or None,
        )
        return page.mapped(notification_fields)

    # --- delivering -------------------------------------------------------------------------------

    def begin_attempt(self, notification_id: str, now: datetime) -> dict[str, Any] | None:
        """Move the notification to `sending` (attempts + 1) and return it; None when it is not this
        caller's to send: sent already, failed for good, being sent by another (its lease running), or
        unknown."""
        now_epoch = int(now.timestamp())
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=to_item(notification_key(notification_id)),
                UpdateExpression=(
                    "SET #status = :sending, attempts = if_not_exists(attempts, :zero) + :one, "
                    "attempt_started_at = :now, lease_expires_at_epoch = :lease"
                ),
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(permanent) OR permanent = :false) "
                    "AND (#status IN (:pending, :failed) "
                    "OR (#status = :sending AND lease_expires_at_epoch < :epoch))"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=expression_values(
                    {
                        ":sending": "sending",
                        ":pending": "pending",
                        ":failed": "failed",
                        ":zero": 0,
                        ":one": 1,
                        ":false": False,
                        ":now": iso(now),
                        ":epoch": now_epoch,
                        ":lease": now_epoch + SENDING_LEASE_SECONDS,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return notification_fields(from_item(response["Attributes"]))

    def mark_sent(self, notification_id: str, now: datetime, detail: Mapping[str, Any] | None = None) -> None:
        """Sent: whatever happened to the record meanwhile, the message went out.

        Tried again a few times (with backoff) when DynamoDB fails, beyond the SDK's own retries: the
        message is out, and a notification not recorded as sent is sent again once its lease has run out
        (a redelivered message finds it `sending` past its lease). The last failure is raised."""
        for attempt in range(SENT_RECORD_ATTEMPTS):
            try:
                self._finish(
                    notification_id,
                    "SET #status = :sent, sent_at = :now, delivery = :detail REMOVE lease_expires_at_epoch",
                    {":sent": "sent", ":now": iso(now), ":detail": dict(detail or {})},
                    "attribute_exists(pk)",
                )
                return
            except (ClientError, BotoCoreError):
                if attempt == SENT_RECORD_ATTEMPTS - 1:
                    raise
                time.sleep(SENT_RECORD_BACKOFF_SECONDS * 2**attempt)

    def mark_failed(self, notification_id: str, now: datetime, error: str, permanent: bool) -> None:
        """Failed, with the error; `permanent`: never tried again. A sent record stays sent."""
        self._finish(
            notification_id,
            "SET #status = :failed, last_error = :error, failed_at = :now, permanent = :permanent "
            "REMOVE lease_expires_at_epoch",
            {
                ":failed": "failed",
                ":error": error[:MAX_ERROR_LENGTH],
                ":now": iso(now),
                ":permanent": permanent,
                ":sent": "sent",
            },
            "attribute_exists(pk) AND #status <> :sent",
        )

    def check_rate(self, integration: str, minute: int, limit: int) -> bool:
        """Count one delivery through `integration` in the epoch minute `minute`; False (nothing counted)
        when `limit` deliveries were counted in it already."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=to_item(rate_counter_key(integration, minute)),
                UpdateExpression="ADD deliveries :one SET #ttl = :expires, item_type = :type",
                ConditionExpression="attribute_not_exists(deliveries) OR deliveries < :limit",
                ExpressionAttributeNames={"#ttl": TTL},
                ExpressionAttributeValues=expression_values(
                    {
                        ":one": 1,
                        ":limit": limit,
                        ":expires": (minute + 1) * 60 + RATE_COUNTER_TTL_SECONDS,
                        ":type": "rate_counter",
                    }
                ),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # --- helpers ----------------------------------------------------------------------------------

    def _finish(self, notification_id: str, update: str, values: dict[str, Any], condition: str) -> None:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=to_item(notification_key(notification_id)),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=expression_values(values),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            logger.warning("notification not updated: gone, or sent already", notification_id=notification_id)


def default_notification_store() -> NotificationStore:
    """The delivery log of the configured table, sharing the store's client (and its lifetime)."""
    store = default_store()
    return NotificationStore(store.table_name, client=store.client)
