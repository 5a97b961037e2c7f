"""Settings: one typed object, read from the environment once. The only reader of os.environ."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from riskgate.resources import (
    DEFAULT_EXPIRY_REMINDER_DAYS,
    DEFAULT_FINDINGS_RETENTION_DAYS,
    DEFAULT_MAX_UPLOAD_BYTES,
)


@dataclass(frozen=True)
class Settings:
    table_name: str
    # Optional: where the evaluator announces status changes (the notifier subscribes later).
    events_topic_arn: str | None
    # The largest report accepted, decompressed and as sent (API Gateway and Lambda cap the latter too).
    max_report_bytes: int
    # Base URL of the API as callers see it; used for links in responses. Empty: relative links.
    public_base_url: str
    # How long security events stay in the table (TTL); the archive keeps its own retention.
    audit_retention_days: int
    # Where the audit forwarder sends each event: the EventBridge bus and the Object Lock archive bucket.
    audit_bus_name: str | None
    audit_archive_bucket: str | None
    # Where the re-evaluation planner sends chunks of image ids after a policy change.
    reevaluation_queue_url: str | None = None
    # Days before an acceptance's end at which a `risk_acceptance_expiring` event is recorded (once each).
    expiry_reminder_days: tuple[int, ...] = (7, 1)
    # Integration secrets (Telegram bot tokens, webhook signing secrets) are Secrets Manager secrets named
    # `<secrets_prefix>/integrations/<integration name>`; the deployed API may touch only those.
    secrets_prefix: str = "riskgate"
    # Hosts a webhook may reach over plain http (their addresses must still be public); else https only.
    webhook_insecure_hosts: frozenset[str] = frozenset()
    # Base URLs of the local stack's own HTTP sink (`http://127.0.0.1:<port>`): the one loopback destination
    # a webhook may have. Only the local stack sets it; deployed, every webhook must reach a public address.
    webhook_local_sinks: frozenset[str] = frozenset()
    # The same image with the same findings notifies a response policy at most once within this many hours.
    notify_window_hours: int = 24
    # Where Telegram's Bot API is reached (the local stack points it at its own sink).
    telegram_api_url: str = "https://api.telegram.org"
    # The Secrets Manager secret (name or ARN) whose value seals page tokens (`riskgate.auth.page_tokens`).
    page_token_secret_id: str | None = None
    # Failed authentications get one audit event per source address and minute for at most this many
    # addresses a minute; the rest of the minute's addresses share one more event (docs/architecture.md).
    auth_failure_addresses_per_minute: int = 100
    # Where reports too large for a request go (`POST /v1/scans/uploads`), and the largest object accepted.
    uploads_bucket: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    # How long the findings of a superseded scan stay readable once newer findings replaced them (TTL).
    findings_retention_days: int = DEFAULT_FINDINGS_RETENTION_DAYS
    # Where registry work goes (ECR / Inspector events, Harbor webhooks, sync pages): the ingester's queue.
    registry_work_queue_url: str | None = None
    # Hosts a Harbor connection may reach over plain http: loopback addresses in the local stack only.
    registry_insecure_hosts: frozenset[str] = frozenset()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        table_name=os.environ.get("RISKGATE_TABLE_NAME", "riskgate"),
        events_topic_arn=os.environ.get("RISKGATE_EVENTS_TOPIC_ARN") or None,
        max_report_bytes=int(os.environ.get("RISKGATE_MAX_REPORT_BYTES", str(32 * 1024 * 1024))),
        public_base_url=os.environ.get("RISKGATE_PUBLIC_BASE_URL", "").rstrip("/"),
        audit_retention_days=int(os.environ.get("RISKGATE_AUDIT_RETENTION_DAYS", "365")),
        auth_failure_addresses_per_minute=int(
            os.environ.get("RISKGATE_AUTH_FAILURE_ADDRESSES_PER_MINUTE", "100")
        ),
        audit_bus_name=os.environ.get("RISKGATE_AUDIT_BUS_NAME") or None,
        audit_archive_bucket=os.environ.get("RISKGATE_AUDIT_ARCHIVE_BUCKET") or None,
        reevaluation_queue_url=os.environ.get("RISKGATE_REEVALUATION_QUEUE_URL") or None,
        expiry_reminder_days=_days(
            os.environ.get("RISKGATE_EXPIRY_REMINDER_DAYS", DEFAULT_EXPIRY_REMINDER_DAYS)
        ),
        secrets_prefix=os.environ.get("RISKGATE_SECRETS_PREFIX", "").strip("/") or "riskgate",
        webhook_insecure_hosts=_hosts(os.environ.get("RISKGATE_WEBHOOK_INSECURE_HOSTS", "")),
        webhook_local_sinks=_local_sinks(os.environ.get("RISKGATE_WEBHOOK_LOCAL_SINKS", "")),
        notify_window_hours=int(os.environ.get("RISKGATE_NOTIFY_WINDOW_HOURS", "24")),
        telegram_api_url=os.environ.get("RISKGATE_TELEGRAM_API_URL", "").rstrip("/")
        or "https://api.telegram.org",
        page_token_secret_id=os.environ.get("RISKGATE_PAGE_TOKEN_SECRET_ID") or None,
        uploads_bucket=os.environ.get("RISKGATE_UPLOADS_BUCKET") or None,
        max_upload_bytes=int(os.environ.get("RISKGATE_MAX_UPLOAD_BYTES", str(DEFAULT_MAX_UPLOAD_BYTES))),
        findings_retention_days=int(
            os.environ.get("RISKGATE_FINDINGS_RETENTION_DAYS", str(DEFAULT_FINDINGS_RETENTION_DAYS))
        ),
        registry_work_queue_url=os.environ.get("RISKGATE_REGISTRY_WORK_QUEUE_URL") or None,
        registry_insecure_hosts=_hosts(os.environ.get("RISKGATE_REGISTRY_INSECURE_HOSTS", "")),
    )


def _days(text: str) -> tuple[int, ...]:
    """`7,1` → (7, 1); empty → no reminders."""
    return tuple(sorted({int(part) for part in text.split(",") if part.strip()}, reverse=True))


def _local_sinks(text: str) -> frozenset[str]:
    """`http://127.0.0.1:8025` (comma-separated) → those base URLs. Each must be plain http to a loopback
    address with its port: anything wider would let webhooks reach internal services (ValueError)."""
    sinks = frozenset(part.strip().rstrip("/") for part in text.split(",") if part.strip())
    for sink in sinks:
        parts = urlsplit(sink)
        try:
            loopback = ipaddress.ip_address(parts.hostname or "").is_loopback and parts.port is not None
        except ValueError:
            loopback = False
        if parts.scheme != "http" or not loopback or parts.path or parts.query or parts.username:
            raise ValueError(f"RISKGATE_WEBHOOK_LOCAL_SINKS: {sink!r} is not http://<loopback IP>:<port>")
    return sinks


def _hosts(text: str) -> frozenset[str]:
    """`localhost, 127.0.0.1` → {"localhost", "127.0.0.1"}; empty → none."""
    return frozenset(part.strip().lower() for part in text.split(",") if part.strip())
