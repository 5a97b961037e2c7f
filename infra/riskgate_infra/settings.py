"""Deployment parameters, read once from CDK context with safe defaults.

Override any of them per deployment without touching code, e.g.
`cdk deploy -c riskgate:authorizerCacheTtlSeconds=0 -c riskgate:throttleRateLimit=200`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_logs as logs
from constructs import Node

from riskgate.resources import DEFAULT_AUDIT_RETENTION_DAYS, DEFAULT_EXPIRY_REMINDER_DAYS

PREFIX = "riskgate:"
MAX_AUDIT_RETENTION_DAYS = 36_500
# A reminder further ahead than this is surely a typo (the longest acceptance period is far shorter).
MAX_EXPIRY_REMINDER_DAYS = 365


@dataclass(frozen=True)
class Settings:
    # How long API Gateway caches the authorizer's answer per token: short, so a revoked token stops
    # working within seconds, yet long enough to spare DynamoDB on a busy pipeline. 0 turns caching off.
    authorizer_cache_ttl_seconds: int = 30
    # Stage-wide throttle (requests per second, burst) protecting the table and the functions.
    throttle_rate_limit: float = 50
    throttle_burst_limit: int = 100
    # The routes anyone can call without a token get a tighter throttle of their own.
    public_throttle_rate_limit: float = 10
    public_throttle_burst_limit: int = 20
    # A `logs.RetentionDays` member name, for every log group of the stack.
    log_retention: str = "ONE_MONTH"
    # Application log level of the functions (Lambda's JSON log filter and Powertools agree on it).
    log_level: str = "INFO"
    # How long security events are kept: in the table (TTL), and locked in the archive (Object Lock in
    # compliance mode: not even the account root can shorten it once an event is archived).
    audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS
    # Days before an acceptance ends at which the expiry checker records a `risk_acceptance_expiring`
    # event, comma-separated as RISKGATE_EXPIRY_REMINDER_DAYS carries them ("" for no reminders).
    expiry_reminder_days: str = DEFAULT_EXPIRY_REMINDER_DAYS

    def __post_init__(self) -> None:
        if not 0 <= self.authorizer_cache_ttl_seconds <= 3600:
            raise ValueError(
                "riskgate:authorizerCacheTtlSeconds must be between 0 and 3600 (API Gateway's limit)"
            )
        for name in (
            "throttle_rate_limit",
            "throttle_burst_limit",
            "public_throttle_rate_limit",
            "public_throttle_burst_limit",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not hasattr(logs.RetentionDays, self.log_retention):
            raise ValueError(
                f"riskgate:logRetention: {self.log_retention!r} is not a logs.RetentionDays member"
            )
        if self.log_level not in {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}:
            raise ValueError(f"riskgate:logLevel: {self.log_level!r} is not a Lambda application log level")
        # S3 Object Lock accepts a default retention of 1 day up to 100 years.
        if not 1 <= self.audit_retention_days <= MAX_AUDIT_RETENTION_DAYS:
            raise ValueError(
                f"riskgate:auditRetentionDays must be between 1 and {MAX_AUDIT_RETENTION_DAYS} "
                "(S3 Object Lock's limits)"
            )
        reminder_days = [part.strip() for part in self.expiry_reminder_days.split(",") if part.strip()]
        if not all(day.isdigit() and 1 <= int(day) <= MAX_EXPIRY_REMINDER_DAYS for day in reminder_days):
            raise ValueError(
                f"riskgate:expiryReminderDays: {self.expiry_reminder_days!r} is not a comma-separated list "
                f'of whole days between 1 and {MAX_EXPIRY_REMINDER_DAYS} (e.g. "7,1")'
            )

    @property
    def retention(self) -> logs.RetentionDays:
        return getattr(logs.RetentionDays, self.log_retention)

    @classmethod
    def from_context(cls, node: Node) -> Settings:
        """Settings from `riskgate:<camelCaseName>` context keys; values given with `-c` arrive as strings."""

        def get(name: str, default: Any, convert: Callable[[Any], Any]) -> Any:
            key = PREFIX + "".join(
                part if i == 0 else part.capitalize() for i, part in enumerate(name.split("_"))
            )
            value = node.try_get_context(key)
            return default if value is None else convert(value)

        defaults = cls()
        return cls(
            authorizer_cache_ttl_seconds=get(
                "authorizer_cache_ttl_seconds", defaults.authorizer_cache_ttl_seconds, int
            ),
            throttle_rate_limit=get("throttle_rate_limit", defaults.throttle_rate_limit, float),
            throttle_burst_limit=get("throttle_burst_limit", defaults.throttle_burst_limit, int),
            public_throttle_rate_limit=get(
                "public_throttle_rate_limit", defaults.public_throttle_rate_limit, float
            ),
            public_throttle_burst_limit=get(
                "public_throttle_burst_limit", defaults.public_throttle_burst_limit, int
            ),
            log_retention=get("log_retention", defaults.log_retention, str),
            log_level=get("log_level", defaults.log_level, str).upper(),
            audit_retention_days=get("audit_retention_days", defaults.audit_retention_days, int),
            expiry_reminder_days=get("expiry_reminder_days", defaults.expiry_reminder_days, _day_list),
        )


def _day_list(value: Any) -> str:
    """`-c riskgate:expiryReminderDays=7,1` arrives as "7,1"; cdk.json may also hold [7, 1] or 7."""
    if isinstance(value, list | tuple):
        return ",".join(str(part) for part in value)
    return str(value)
