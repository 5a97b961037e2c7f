"""Settings: one typed object, read from the environment once. The only reader of os.environ."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from riskgate.resources import DEFAULT_EXPIRY_REMINDER_DAYS


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
    # Hosts a webhook may reach over plain http (the local stack's own sink); everything else needs https.
    webhook_insecure_hosts: frozenset[str] = frozenset()
    # The same image with the same findings notifies a response policy at most once within this many hours.
    notify_window_hours: int = 24
    # Where Telegram's Bot API is reached (the local stack points it at its own sink).
    telegram_api_url: str = "https://api.telegram.org"
    # The Secrets Manager secret (name or ARN) whose value seals page tokens (`riskgate.auth.page_tokens`).
    page_token_secret_id: str | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        table_name=os.environ.get("RISKGATE_TABLE_NAME", "riskgate"),
        events_topic_arn=os.environ.get("RISKGATE_EVENTS_TOPIC_ARN") or None,
        max_report_bytes=int(os.environ.get("RISKGATE_MAX_REPORT_BYTES", str(32 * 1024 * 1024))),
        public_base_url=os.environ.get("RISKGATE_PUBLIC_BASE_URL", "").rstrip("/"),
        audit_retention_days=int(os.environ.get("RISKGATE_AUDIT_RETENTION_DAYS", "365")),
        audit_bus_name=os.environ.get("RISKGATE_AUDIT_BUS_NAME") or None,
        audit_archive_bucket=os.environ.get("RISKGATE_AUDIT_ARCHIVE_BUCKET") or None,
        reevaluation_queue_url=os.environ.get("RISKGATE_REEVALUATION_QUEUE_URL") or None,
        expiry_reminder_days=_days(
            os.environ.get("RISKGATE_EXPIRY_REMINDER_DAYS", DEFAULT_EXPIRY_REMINDER_DAYS)
        ),
        secrets_prefix=os.environ.get("RISKGATE_SECRETS_PREFIX", "").strip("/") or "riskgate",
        webhook_insecure_hosts=_hosts(os.environ.get("RISKGATE_WEBHOOK_INSECURE_HOSTS", "")),
        notify_window_hours=int(os.environ.get("RISKGATE_NOTIFY_WINDOW_HOURS", "24")),
        telegram_api_url=os.environ.get("RISKGATE_TELEGRAM_API_URL", "").rstrip("/")
        or "https://api.telegram.org",
        page_token_secret_id=os.environ.get("RISKGATE_PAGE_TOKEN_SECRET_ID") or None,
    )


def _days(text: str) -> tuple[int, ...]:
    """`7,1` → (7, 1); empty → no reminders."""
    return tuple(sorted({int(part) for part in text.split(",") if part.strip()}, reverse=True))


def _hosts(text: str) -> frozenset[str]:
    """`localhost, 127.0.0.1` → {"localhost", "127.0.0.1"}; empty → none."""
    return frozenset(part.strip().lower() for part in text.split(",") if part.strip())
