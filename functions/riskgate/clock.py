"""The one place that reads the system clock, and the one format times are written in.

Code that decides something by time takes the moment as an argument (`now: datetime`) or a `Clock`, so
tests and the expiry checker (whose "now" is its scheduled event's time) choose it. Only entry points
call `system_now()`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]

# Microseconds, so that times written within one second still sort by order; strings in this format
# sort as the moments do, which is what index sort keys rely on.
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def system_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """A moment as stored and shown: UTC, ISO 8601, microseconds, `Z`."""
    if moment.tzinfo is None:
        raise ValueError("a moment must carry its time zone")
    return moment.astimezone(UTC).strftime(ISO_FORMAT)


def now_iso() -> str:
    return iso(system_now())


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time with a zone (`Z` or an offset); a time without one is refused (ValueError)."""
    moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; add Z for UTC")
    return moment.astimezone(UTC)
