"""The expiry run of risk acceptances: those whose period has ended marked expired and the reminders due
recorded, each once; and an `until_fixed` acceptance ended when a scan shows its fix. Each records its
trigger event (`acceptance_event`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from riskgate.clock import iso
from riskgate.domain.acceptances import FIX_AVAILABLE, PERIOD_ENDED, RiskAcceptance, acceptance_snapshot
from riskgate.services.acceptances import AcceptancePort

# Due items handled per run at most; the rest wait for the next run (minutes later).
EXPIRY_RUN_LIMIT = 1000
# Trigger events recorded here (issue 6 publishes them and adds the image triggers).
EXPIRATION_EVENT = "risk_acceptance_expiration"
EXPIRING_EVENT = "risk_acceptance_expiring"


def acceptance_event(
    event_type: str, snapshot: Mapping[str, Any], now: datetime, **extra: Any
) -> dict[str, Any]:
    return {"type": event_type, "occurred_at": iso(now), "acceptance": dict(snapshot), **extra}


# --- the expiry run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiryRun:
    as_of: str
    due: int
    expired: int
    reminded: int
    skipped: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_expiry_check(port: AcceptancePort, now: datetime, *, limit: int = EXPIRY_RUN_LIMIT) -> ExpiryRun:
    """Mark every acceptance whose period ended by `now` expired, and record the reminders due.

    Reads only what is due (the `DUE` index); each write is conditional, so a run that overlaps
    another, or is retried, changes and records each thing once (`skipped` counts those found done).
    """
    due = port.due_items(now, limit)
    expired = reminded = skipped = 0
    for item in due:
        if item.get("sk") == "META":
            snapshot = acceptance_snapshot(item)
            event = acceptance_event(EXPIRATION_EVENT, snapshot, now, ended_reason=PERIOD_ENDED)
            if port.expire_acceptance(str(item["id"]), now=now, reason=PERIOD_ENDED, event=event):
                expired += 1
            else:
                skipped += 1
        elif str(item.get("expires_at") or "") <= iso(now):
            # Its acceptance has ended too (it is due in this same run, which deletes the reminders):
            # "ends in 7 days" would be false now.
            skipped += 1
        else:
            event = acceptance_event(
                EXPIRING_EVENT, item.get("acceptance") or {}, now, days=int(item.get("days") or 0)
            )
            if port.send_reminder(item, now=now, event=event):
                reminded += 1
            else:
                skipped += 1
    return ExpiryRun(as_of=iso(now), due=len(due), expired=expired, reminded=reminded, skipped=skipped)


def end_by_fix(port: AcceptancePort, acceptance: RiskAcceptance, now: datetime) -> bool:
    """End an `until_fixed` acceptance because a scan shows a fixed version for its finding."""
    snapshot = acceptance_snapshot(acceptance.extra)
    event = acceptance_event(EXPIRATION_EVENT, snapshot, now, ended_reason=FIX_AVAILABLE)
    return port.expire_acceptance(
        acceptance.id, now=now, reason=FIX_AVAILABLE, event=event, until_fixed_only=True
    )
