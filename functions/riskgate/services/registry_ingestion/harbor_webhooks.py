"""Harbor webhooks: a connection's Harbor said an artifact's scan finished (or failed)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from riskgate.adapters.registry_sources import NotReady, PullRefused
from riskgate.domain.errors import InvalidInput, MalformedInput
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers import ParsedReport
from riskgate.domain.registries import SCANNER_HARBOR, matches_any
from riskgate.domain.registries.connections import ConnectionType
from riskgate.domain.registries.harbor import (
    HARBOR_REPORT_MIME,
    SCANNING_COMPLETED,
    HarborEvent,
    harbor_event,
    harbor_image_ref,
    harbor_report,
    report_path,
)
from riskgate.services.registry_ingestion.outcomes import Outcome, Step, finished_outcome, ignored
from riskgate.services.registry_ingestion.ports import ALL, Connections, HarborApi, Pulls, StoreScan
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


def ingest_harbor(
    message: Mapping[str, Any],
    *,
    connections: Connections,
    pull: Pulls,
    store_scan: StoreScan,
    now: datetime,
    attempt: int = 1,
) -> Outcome:
    """`{"registry_id", "event"}`, queued by the webhook route: SCANNING_COMPLETED imports the artifact's
    report; SCANNING_FAILED (and STOPPED) is recorded on the connection; any other event is acknowledged
    and nothing else. A project outside the connection's globs, or a connection deleted since, is ignored."""
    registry_id = message.get("registry_id")
    if not isinstance(registry_id, str):
        return ignored("the Harbor message names no connection")
    connection = connections.get(registry_id)
    if connection is None or connection.get("type") != ConnectionType.HARBOR.value:
        return ignored(f"no Harbor connection {registry_id}", registry_id)
    try:
        event = harbor_event(message.get("event"))
    except MalformedInput as problem:
        return ignored(problem.message, registry_id)
    if not matches_any(connection_config(connection).get("projects") or ALL, event.project):
        return ignored(f"project {event.project} is not one of the connection's", registry_id)
    image = harbor_image_ref(harbor_host(connection), event)
    if event.failure is not None:
        return Outcome((record_scan_failed(connections, connection, image, event.failure, now),))
    if event.type != SCANNING_COMPLETED:
        return ignored(f"Harbor event {event.type} asks for nothing", registry_id)
    return finished_outcome(
        [_import_harbor(event, connection, connections, pull, store_scan, now, attempt)], attempt
    )


def harbor_host(connection: Mapping[str, Any]) -> str:
    """The registry a Harbor connection's images are in: its URL's host, with the port when it has one
    (`harbor.example.com`, `127.0.0.1:8443`)."""
    return urlsplit(str(connection_config(connection).get("url") or "")).netloc.rpartition("@")[2].lower()


def _import_harbor(
    event: HarborEvent,
    connection: Mapping[str, Any],
    connections: Connections,
    pull: Pulls,
    store_scan: StoreScan,
    now: datetime,
    attempt: int,
) -> Step:
    registry_id = str(connection["id"])
    image = harbor_image_ref(harbor_host(connection), event)
    artifact = event.digest or event.tag
    if artifact is None:
        return pull_failed(connections, registry_id, image.reference, "the event names no artifact", now)
    seen = connections.seen_scan(registry_id, SCANNER_HARBOR, artifact)
    if not_newer(event.occurred_at, seen):
        return duplicate(connections, registry_id, image.reference, event.occurred_at, now)
    try:
        report = pull_harbor(pull.harbor(connection), event, image, artifact)
    except NotReady as error:
        return not_ready(connections, registry_id, image.reference, str(error), now, attempt)
    except (PullRefused, InvalidInput) as error:
        return pull_failed(connections, registry_id, image.reference, reason(error), now)
    return store(
        connections, store_scan, registry_id, SCANNER_HARBOR, artifact, report, event.occurred_at, now
    )


def pull_harbor(harbor: HarborApi, event: HarborEvent, image: ImageRef, artifact: str) -> ParsedReport:
    """The report of the artifact (its digest, else its tag) as Harbor has it now."""
    answer = harbor.vulnerability_report(
        report_path(event.project, event.repository, artifact), HARBOR_REPORT_MIME
    )
    return harbor_report(answer, image)
