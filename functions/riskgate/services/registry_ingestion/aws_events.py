"""ECR and Inspector events: the covering connections of an EventBridge scan event import its scan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from riskgate.adapters.registry_sources import NotReady, PullRefused
from riskgate.domain.errors import InvalidInput
from riskgate.domain.parsers import ParsedReport
from riskgate.domain.registries import (
    SCANNER_ECR,
    SCANNER_INSPECTOR,
    RegistryImage,
    ScanFinished,
    matches_any,
    registry_report,
)
from riskgate.domain.registries.connections import ConnectionType
from riskgate.domain.registries.ecr import (
    answered_scanner,
    basic_findings,
    scan_completed_at,
    scan_failed,
    scan_finished,
    scanned_image,
)
from riskgate.domain.registries.inspector import inspector_findings
from riskgate.services.registry_ingestion.outcomes import Outcome, Step, finished_outcome, ignored
from riskgate.services.registry_ingestion.ports import (
    ALL,
    BOTH_SCANS,
    SCAN_SETTING,
    Connections,
    Pulls,
    StoreScan,
)
from riskgate.services.registry_ingestion.steps import (
    connection_config,
    duplicate,
    not_newer,
    not_ready,
    pull_failed,
    reason,
    record_scan_failed,
    store,
)


def ingest_scan_event(
    event: Mapping[str, Any],
    *,
    connections: Connections,
    pull: Pulls,
    store_scan: StoreScan,
    now: datetime,
    attempt: int = 1,
) -> Outcome:
    """An EventBridge event of ECR (`ECR Image Scan`) or Inspector (`Inspector2 Scan`): each covering
    connection imports the scan it announces (or records that ECR's scan failed). `attempt` is this
    message's receive count. A malformed event is ignored (re-reading it would not help)."""
    try:
        finished = scan_finished(event)
        failure = None if finished else scan_failed(event)
        image = finished.image if finished else scanned_image(event) if failure else None
    except InvalidInput as problem:
        return ignored(f"not a readable registry event: {problem.message}")
    if image is None:
        return ignored("the event announces no image scan")
    scanner = finished.scanner if finished else SCANNER_ECR
    covering = covering_connections(connections.list_all(), image, scanner)
    if not covering:
        return ignored(f"no connection covers {image.registry}/{image.repository} ({scanner})")
    steps = []
    for connection in covering:
        if finished is None:
            steps.append(record_scan_failed(connections, connection, image.image_ref, failure or "", now))
        else:
            steps.append(
                _import_aws_scan(
                    finished,
                    connection,
                    connections=connections,
                    pull=pull,
                    store_scan=store_scan,
                    now=now,
                    attempt=attempt,
                    announced=announced_findings(event),
                )
            )
    return finished_outcome(steps, attempt)


def covering_connections(
    connections: Sequence[Mapping[str, Any]], image: RegistryImage, scanner: str
) -> list[Mapping[str, Any]]:
    """The ECR connections of the image's account and region whose repository globs match it and that
    take scans of `scanner`."""
    return [
        connection
        for connection in connections
        if connection.get("type") == ConnectionType.ECR.value
        and connection_config(connection).get("account_id") == image.account_id
        and connection_config(connection).get("region") == image.region
        and matches_any(connection_config(connection).get("repositories") or ALL, image.repository)
        and SCAN_SETTING.get(scanner) in (connection_config(connection).get("scans") or BOTH_SCANS)
    ]


def announced_findings(event: Mapping[str, Any]) -> int:
    """How many findings an event's `finding-severity-counts` announce (Inspector's TOTAL when it gives
    one, else the sum); 0 when it says nothing. Inspector lists an image's findings a little after its
    scan event: an empty list after an event announcing findings means "not yet", not "clean"."""
    detail = event.get("detail")
    counts = detail.get("finding-severity-counts") if isinstance(detail, Mapping) else None
    if not isinstance(counts, Mapping):
        return 0
    numbers = {str(key): value for key, value in counts.items() if isinstance(value, int)}
    return numbers["TOTAL"] if "TOTAL" in numbers else sum(numbers.values())


def _import_aws_scan(
    finished: ScanFinished,
    connection: Mapping[str, Any],
    *,
    connections: Connections,
    pull: Pulls,
    store_scan: StoreScan,
    now: datetime,
    attempt: int,
    announced: int,
) -> Step:
    registry_id = str(connection["id"])
    image = finished.image
    reference = image.image_ref.reference
    seen = connections.seen_scan(registry_id, finished.scanner, image.digest)
    if not_newer(finished.scanned_at, seen):
        return duplicate(connections, registry_id, reference, finished.scanned_at, now)
    try:
        report, scanned_at = pull_aws(pull, finished.scanner, image, finished.scanned_at)
        if finished.scanner == SCANNER_INSPECTOR and announced and not report.findings:
            raise NotReady(f"Inspector lists no findings of {reference} yet; its event announced {announced}")
        if report.scanner != finished.scanner:
            # ECR announced a basic scan and now answers with an enhanced one: the registry's scanning
            # was switched meanwhile. Inspector's own event brings that scan.
            raise PullRefused(f"ECR now scans {reference} with Inspector (enhanced scanning), not basic")
    except NotReady as error:
        return not_ready(connections, registry_id, reference, str(error), now, attempt)
    except (PullRefused, InvalidInput) as error:
        return pull_failed(connections, registry_id, reference, reason(error), now)
    if not_newer(scanned_at, seen):
        return duplicate(connections, registry_id, reference, scanned_at, now)
    return store(
        connections,
        store_scan,
        registry_id,
        finished.scanner,
        image.digest,
        report,
        scanned_at,
        now,
        request_id=finished.event_id,
    )


def pull_aws(pull: Pulls, scanner: str, image: RegistryImage, fallback_time: str) -> tuple[ParsedReport, str]:
    """The report of the image's current scan by `scanner`, and that scan's time (ECR's completion time;
    for Inspector, which does not say, `fallback_time`)."""
    if scanner == SCANNER_ECR:
        return pull_ecr(pull, image, fallback_time)
    items = pull.aws.inspector_findings(
        image.region, account_id=image.account_id, repository=image.repository, digest=image.digest
    )
    findings = inspector_findings(items, digest=image.digest)
    return registry_report(SCANNER_INSPECTOR, image.image_ref, findings, fallback_time), fallback_time


def pull_ecr(pull: Pulls, image: RegistryImage, fallback_time: str) -> tuple[ParsedReport, str]:
    """ECR's answer about the image's current scan (every page) and that scan's time (ECR's completion
    time, else `fallback_time`). The report's scanner says whose scan it is: an enhanced scan is
    Inspector's findings read through ECR (`answered_scanner`)."""
    pages = pull.aws.ecr_scan_findings(
        image.region, registry_id=image.account_id, repository=image.repository, digest=image.digest
    )
    scanned_at = next((at for at in map(scan_completed_at, pages) if at), None) or fallback_time
    report = registry_report(answered_scanner(pages), image.image_ref, basic_findings(pages), scanned_at)
    return report, scanned_at
