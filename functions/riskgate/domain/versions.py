"""Optimistic concurrency as callers see it: a change may name the version it was made from.

Every changeable entity carries `version`, which each change raises by one. A caller that sends the
version it read (`If-Match`) gets its change applied only to that version: of two people editing from
the same read, one wins and the other gets a conflict instead of silently undoing the first change.
Without it, a change applies to whatever is current (the store still never loses a concurrent write).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from riskgate.domain.errors import Conflict

IF_MATCH_LOCATION = "header.If-Match"


def ensure_version(what: str, current: Mapping[str, Any], expected: int | None) -> None:
    """Refuse a change made from another version of `what` than the one stored."""
    if expected is None:
        return
    actual = int(current.get("version") or 0)
    if actual != expected:
        raise Conflict(
            f"{what} is at version {actual}, not {expected}: it changed since you read it; "
            "read it again and retry",
            details=[{"location": IF_MATCH_LOCATION, "message": f"current version is {actual}"}],
        )
