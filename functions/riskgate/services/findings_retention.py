"""Bounded storage: the findings an image no longer shows are kept for a retention period, then the table's
TTL deletes them. Scan records, verdicts and decision records stay (riskgate.adapters.store explains how
findings are shared between scans and why a retired partition never becomes current again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from riskgate.domain.images import findings_scan_id


class RetiringStore(Protocol):
    def retire_findings(self, scan_id: str, now_epoch: int, retention_days: int) -> int: ...


def replaced_findings(old_image: Mapping[str, Any] | None, new_image: Mapping[str, Any] | None) -> str | None:
    """The partition an image summary's change stopped showing: its findings were replaced by others
    (a re-scan that found the same keeps its partition; an evaluation changes none)."""
    if not old_image or not new_image:
        return None
    old, new = findings_scan_id(old_image), findings_scan_id(new_image)
    return old if old and new and old != new else None


def retire_replaced_findings(
    store: RetiringStore,
    old_image: Mapping[str, Any] | None,
    new_image: Mapping[str, Any] | None,
    *,
    now_epoch: int,
    retention_days: int,
) -> tuple[str, int] | None:
    """Give the replaced partition's findings their end of life: which partition, and how many items
    were written (0 when a redelivered record finds them retiring already)."""
    replaced = replaced_findings(old_image, new_image)
    if replaced is None:
        return None
    return replaced, store.retire_findings(replaced, now_epoch, retention_days)
