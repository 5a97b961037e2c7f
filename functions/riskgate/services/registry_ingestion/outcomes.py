"""What a piece of registry work did: the `Step` of each connection and image, the `Outcome` of a message."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from riskgate.resources import REGISTRY_RETRY_BASE_SECONDS, REGISTRY_RETRY_MAX_SECONDS
from riskgate.services.registry_ingestion.ports import StoredImport
from riskgate.services.scans import ReceivedScan


class Result(StrEnum):
    # A scan imported: stored (or found stored by an earlier delivery that died before finishing) and marked.
    IMPORTED = "imported"
    # This scan, or a newer one, was imported before: nothing written.
    DUPLICATE = "duplicate"
    # Nothing to do: no connection covers it, or it announces nothing to pull (a push, a deleted connection).
    IGNORED = "ignored"
    # The registry's own scan failed: recorded on the connection.
    SCAN_FAILED = "scan_failed"
    # Refused, unreadable, or still not readable at the last attempt: recorded on the connection.
    PULL_FAILED = "pull_failed"
    # Not readable yet: the message should come back later.
    NOT_READY = "not_ready"
    # A sync passed over an image it could not read (no scan yet, scan failed): nothing recorded.
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Step:
    """What one piece of work did for one connection (and one image, when there is one)."""

    result: Result
    registry_id: str | None = None
    image: str | None = None
    reason: str | None = None
    stored: StoredImport | None = None


@dataclass(frozen=True)
class Outcome:
    """What a message did. `retry_in`: seconds after which the message should be received again (some
    findings not readable yet); None: the message is done with."""

    steps: tuple[Step, ...] = ()
    retry_in: int | None = None
    # A sync page: how many images it looked at and imported, and the message of the next page (None:
    # the sync is finished, failed or replaced).
    images_seen: int = 0
    images_imported: int = 0
    next_message: dict[str, Any] | None = None
    messages_sent: int = 0

    def count(self, result: Result) -> int:
        return sum(1 for step in self.steps if step.result is result)

    @property
    def written(self) -> list[ReceivedScan]:
        """The scans this delivery wrote (not those an earlier delivery had)."""
        return [step.stored.scan for step in self.steps if step.stored is not None and step.stored.written]

    def as_log(self) -> dict[str, Any]:
        """The outcome as log fields: results and their reasons, a sync page's figures."""
        return {
            "results": [step.result.value for step in self.steps],
            "reasons": [step.reason for step in self.steps if step.reason],
            "registries": sorted({step.registry_id for step in self.steps if step.registry_id}),
            "retry_in": self.retry_in,
            "images_seen": self.images_seen,
            "images_imported": self.images_imported,
            "messages_sent": self.messages_sent,
        }


def ignored(reason: str, registry_id: str | None = None) -> Outcome:
    return Outcome((Step(Result.IGNORED, registry_id, reason=reason),))


def retry_delay(attempt: int) -> int:
    """Seconds before the `attempt`-th receive (from 1) of a message whose findings were not readable is
    tried again: 30 s, 60 s, 120 s … at most REGISTRY_RETRY_MAX_SECONDS."""
    return min(REGISTRY_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0), REGISTRY_RETRY_MAX_SECONDS)


def finished_outcome(steps: list[Step], attempt: int) -> Outcome:
    """The outcome of `steps`, asking for the message again when one of them was not ready."""
    waiting = any(step.result is Result.NOT_READY for step in steps)
    return Outcome(tuple(steps), retry_in=retry_delay(attempt) if waiting else None)
