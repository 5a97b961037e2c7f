"""The steps every entry point shares: reading a connection's config, recognising a scan seen, storing
it and recording on the connection what happened."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from riskgate.clock import parse_iso
from riskgate.domain.errors import InvalidInput
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers import ParsedReport
from riskgate.domain.registries import registry_scan_id
from riskgate.resources import REGISTRY_MAX_ATTEMPTS
from riskgate.services.registry_ingestion.outcomes import Result, Step
from riskgate.services.registry_ingestion.ports import Connections, StoreScan, connection_actor


def connection_config(connection: Mapping[str, Any]) -> Mapping[str, Any]:
    config = connection.get("config")
    return config if isinstance(config, Mapping) else {}


def not_newer(scanned_at: str, seen: str | None) -> bool:
    """Whether a scan of `scanned_at` is no newer than the one imported (`seen`; None: none was)."""
    return seen is not None and parse_iso(seen) >= parse_iso(scanned_at)


def reason(error: Exception) -> str:
    return error.message if isinstance(error, InvalidInput) else str(error)


def store(
    connections: Connections,
    store_scan: StoreScan,
    registry_id: str,
    scanner: str,
    digest: str,
    report: ParsedReport,
    scanned_at: str,
    now: datetime,
    *,
    request_id: str | None = None,
) -> Step:
    """Store the scan, then mark it seen (a delivery dying in between is finished by the next one, which
    finds the scan stored), then record it. A scan another delivery marked first is that one's import."""
    stored = store_scan(
        report,
        scan_id=registry_scan_id(registry_id, scanner, digest, scanned_at),
        scanned_at=scanned_at,
        actor=connection_actor(registry_id, request_id),
    )
    reference = stored.scan.image.reference
    if not connections.mark_seen(registry_id, scanner, digest, scanned_at):
        return Step(Result.DUPLICATE, registry_id, reference, stored=stored)
    verdict = stored.scan.verdict.status
    connections.record_event(
        registry_id,
        Result.IMPORTED.value,
        at=now,
        message=f"{scanner} scan of {scanned_at}: {len(report.findings)} findings, verdict {verdict}",
        image=reference,
        error=False,
    )
    return Step(Result.IMPORTED, registry_id, reference, stored=stored)


def duplicate(connections: Connections, registry_id: str, image: str, scanned_at: str, now: datetime) -> Step:
    """Counted on the connection (`events.duplicate`), with an event saying which scan; no scan written."""
    reason = f"the scan of {scanned_at} or a newer one was imported already"
    connections.record_event(
        registry_id, Result.DUPLICATE.value, at=now, message=reason, image=image, error=False
    )
    return Step(Result.DUPLICATE, registry_id, image, reason=reason)


def not_ready(
    connections: Connections, registry_id: str, image: str, reason: str, now: datetime, attempt: int
) -> Step:
    if attempt < REGISTRY_MAX_ATTEMPTS:
        return Step(Result.NOT_READY, registry_id, image, reason=reason)
    return pull_failed(
        connections, registry_id, image, f"still not readable after {attempt} attempts: {reason}", now
    )


def pull_failed(connections: Connections, registry_id: str, image: str, reason: str, now: datetime) -> Step:
    connections.record_event(
        registry_id, Result.PULL_FAILED.value, at=now, message=reason, image=image, error=True
    )
    return Step(Result.PULL_FAILED, registry_id, image, reason=reason)


def record_scan_failed(
    connections: Connections, connection: Mapping[str, Any], image: ImageRef, reason: str, now: datetime
) -> Step:
    registry_id = str(connection["id"])
    connections.record_event(
        registry_id, Result.SCAN_FAILED.value, at=now, message=reason, image=image.reference, error=True
    )
    return Step(Result.SCAN_FAILED, registry_id, image.reference, reason=reason)
