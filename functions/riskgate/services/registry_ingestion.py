"""Registry ingestion: a registry said a scan finished (or a sync walks it), so Riskgate pulls the findings
and stores them as a scan, exactly as a posted report is stored (docs/architecture.md, "Registry
connections (issue 14) — design").

Plain functions over ports (no boto3, no HTTP here): the connections and their state (`Connections`,
riskgate.adapters.registries.RegistryStore), what reads a registry (`Pulls`), what stores a scan
(`StoreScan`, made by `scan_storer` over riskgate.services.scans.store_reports) and what sends a message
to the registry-work queue (`Send`). Each entry point answers an `Outcome` the handler logs and counts.

The rules every entry point shares:

- **Which connections.** An ECR or Inspector event concerns the `ecr` connections of its account and
  region whose repository globs match its repository and whose `scans` take that scanner (`ecr` ↔
  `basic`, `inspector` ↔ `enhanced`); a Harbor webhook the connection it was sent to, if its project
  matches the connection's globs. Nothing covered: ignored (the handler counts RegistryEventsIgnored).
- **Each scan once.** A marker per connection, scanner and digest keeps the registry's time of the newest
  scan imported. A scan that is not newer is a duplicate (redelivered) or out of order (a stale event
  arriving late): nothing is written. The scan's id is derived from (connection, scanner, digest, scan
  time) and its time is the registry's scan time, so a delivery racing another one, or repeating one
  that died after storing, finds the scan already stored instead of writing a second one.
- **What was pulled is what is stored.** ECR says when the scan whose findings it returned completed:
  that time, not the event's, is the scan's. A late event of an older scan then pulls the current result,
  which is recognised as seen.
- **Failures.** Not readable yet (`NotReady`): the outcome asks for the message again after a growing
  delay (`retry_delay`), until REGISTRY_MAX_ATTEMPTS receives; then the failure is recorded on the
  connection and the message let go. A refusal (`PullRefused`) and an answer that cannot be read are
  recorded at once: asking again cannot help. Anything else (throttling, a bug) raises: the queue's own
  retries, then its dead-letter queue and alarm, are the answer to those.

A scan is stored as the connection (a system actor named after it) with every permission: a connection
is configured by an administrator in the global scope, and covers whatever its globs say.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from riskgate.adapters.registries import SYNC_DONE, SYNC_FAILED
from riskgate.adapters.registry_sources import NotReady, PullRefused
from riskgate.clock import iso, parse_iso
from riskgate.domain.audit import Actor
from riskgate.domain.errors import Conflict, InvalidInput, MalformedInput, NotFound
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers import ParsedReport
from riskgate.domain.registries import (
    SCANNER_ECR,
    SCANNER_HARBOR,
    SCANNER_INSPECTOR,
    RegistryImage,
    ScanFinished,
    matches_any,
    registry_report,
    registry_scan_id,
    registry_time,
)
from riskgate.domain.registries.connections import ConnectionType, EcrScan
from riskgate.domain.registries.ecr import (
    basic_findings,
    scan_completed_at,
    scan_failed,
    scan_finished,
    scanned_image,
)
from riskgate.domain.registries.harbor import (
    HARBOR_REPORT_MIME,
    SCANNING_COMPLETED,
    HarborEvent,
    harbor_event,
    harbor_image_ref,
    harbor_report,
    report_path,
)
from riskgate.domain.registries.inspector import inspector_findings
from riskgate.resources import (
    REGISTRY_MAX_ATTEMPTS,
    REGISTRY_RETRY_BASE_SECONDS,
    REGISTRY_RETRY_MAX_SECONDS,
    REGISTRY_SYNC_PAGE_SIZE,
)
from riskgate.services.evaluation import AcceptancesFor
from riskgate.services.policies import PoliciesFor
from riskgate.services.scans import ReceivedScan, ScanStore, store_reports

# The connection's `scans` setting each scanner is taken under.
SCAN_SETTING = {SCANNER_ECR: EcrScan.BASIC.value, SCANNER_INSPECTOR: EcrScan.ENHANCED.value}
# What a connection takes when its config says nothing (the connection's validation writes them anyway).
_ALL = ["*"]
_BOTH_SCANS = [EcrScan.BASIC.value, EcrScan.ENHANCED.value]
# Harbor's largest page, for the projects and repositories a sync walks.
HARBOR_LIST_PAGE = 100
# List calls one sync step may make before handing over to the next message: a Harbor of many empty or
# excluded projects is walked in steps too, each well inside the function's timeout.
HARBOR_LIST_CALLS_PER_STEP = 30
# Harbor's status of a scan whose report can be read.
HARBOR_SCAN_SUCCESS = "Success"


# --- ports ------------------------------------------------------------------------------------------


class Connections(Protocol):
    """The stored connections and what ingestion records about them (RegistryStore)."""

    def get(self, entity_id: str) -> dict[str, Any] | None: ...

    def list_all(self) -> list[dict[str, Any]]: ...

    def seen_scan(self, registry_id: str, scanner: str, digest: str) -> str | None: ...

    def mark_seen(self, registry_id: str, scanner: str, digest: str, scanned_at: str | datetime) -> bool: ...

    def record_event(
        self,
        registry_id: str,
        kind: str,
        *,
        at: datetime,
        message: str,
        image: str | None = None,
        error: bool,
    ) -> None: ...

    def start_sync(
        self, registry_id: str, job_id: str, at: datetime, *, actor: Actor | None = None
    ) -> dict[str, Any]: ...

    def sync_progress(
        self, registry_id: str, job_id: str, *, seen: int, imported: int, cursor: Any
    ) -> bool: ...

    def finish_sync(
        self, registry_id: str, job_id: str, state: str, at: datetime, error: str | None = None
    ) -> bool: ...


class AwsRegistries(Protocol):
    """ECR and Inspector2 in a region (riskgate.adapters.registry_clients.AwsRegistries): raw answers,
    `NotReady` / `PullRefused` as riskgate.adapters.registry_sources raises them."""

    def ecr_scan_findings(
        self, region: str, *, registry_id: str, repository: str, digest: str
    ) -> list[dict[str, Any]]: ...

    def inspector_findings(
        self, region: str, *, account_id: str, repository: str, digest: str
    ) -> list[dict[str, Any]]: ...

    def ecr_images(
        self,
        region: str,
        *,
        registry_id: str,
        matches: Callable[[str], bool],
        cursor: dict[str, Any] | None,
        page_size: int,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]: ...


class HarborApi(Protocol):
    """One Harbor as a connection's robot reads it (riskgate.adapters.harbor_api.HarborClient)."""

    def vulnerability_report(self, path: str, accept: str) -> dict[str, Any]: ...

    def projects(self, page: int, page_size: int) -> list[dict[str, Any]]: ...

    def repositories(self, project: str, page: int, page_size: int) -> list[dict[str, Any]]: ...

    def artifacts(
        self, project: str, repository: str, *, page: int, page_size: int
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Pulls:
    """Where findings are read: the AWS registries, and a Harbor client for a connection (made with its
    robot's secret; `PullRefused` when the connection's URL cannot be used)."""

    aws: AwsRegistries
    harbor: Callable[[Mapping[str, Any]], HarborApi]


@dataclass(frozen=True)
class StoredImport:
    scan: ReceivedScan
    # False when an earlier delivery had stored this very scan (same id, same time): nothing written now.
    written: bool


class StoreScan(Protocol):
    """Store a registry's report about one image as the scan `scan_id` of the registry's time
    `scanned_at`, submitted by `actor`."""

    def __call__(
        self, report: ParsedReport, *, scan_id: str, scanned_at: str, actor: Actor
    ) -> StoredImport: ...


# A message for the registry-work queue.
Send = Callable[[dict[str, Any]], None]


def scan_storer(
    store: ScanStore,
    *,
    policies_for: PoliciesFor,
    acceptances_for: AcceptancesFor,
    already_stored: Callable[[ImageRef, str, str], bool],
) -> StoreScan:
    """`StoreScan` through `services.scans.store_reports`, as the upload ingester stores: the derived scan
    id, `already_stored` finding what an earlier delivery wrote, every permission (see the module).

    The scan is received "at" the registry's scan time and judged as of then: that is what makes a
    redelivery name the same items, and what orders it among the image's other scans. The stream
    evaluator judges the image again as of now right after, so an acceptance made since still counts.
    """

    def store_scan(report: ParsedReport, *, scan_id: str, scanned_at: str, actor: Actor) -> StoredImport:
        found_stored: list[bool] = []

        def stored_before(image: ImageRef, received_at: str, candidate: str) -> bool:
            found_stored.append(already_stored(image, received_at, candidate))
            return found_stored[-1]

        received = store_reports(
            store,
            [report],
            image_param=None,
            cluster_param=None,
            actor=actor,
            authorize=_allow,
            policies_for=policies_for,
            acceptances_for=acceptances_for,
            now=parse_iso(scanned_at),
            scan_id_for=lambda image: scan_id,
            already_stored=stored_before,
        )
        return StoredImport(received.scans[0], written=not any(found_stored))

    return store_scan


def _allow(image: ImageRef, known_tags: tuple[str, ...]) -> None:
    """A connection may store scans of every image it covers."""


def connection_actor(connection_id: str, request_id: str | None = None) -> Actor:
    """Who stored a registry's scan: the system, on behalf of the connection (scans' `submitted_by`, audit
    events); `request_id` the event that asked for it, when there is one."""
    return Actor(user_id=f"system:registry:{connection_id}", request_id=request_id)


# --- outcomes ---------------------------------------------------------------------------------------


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


def _finished(steps: list[Step], attempt: int) -> Outcome:
    """The outcome of `steps`, asking for the message again when one of them was not ready."""
    waiting = any(step.result is Result.NOT_READY for step in steps)
    return Outcome(tuple(steps), retry_in=retry_delay(attempt) if waiting else None)


# --- ECR and Inspector events ------------------------------------------------------------------------


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
            steps.append(_record_scan_failed(connections, connection, image.image_ref, failure or "", now))
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
    return _finished(steps, attempt)


def covering_connections(
    connections: Sequence[Mapping[str, Any]], image: RegistryImage, scanner: str
) -> list[Mapping[str, Any]]:
    """The ECR connections of the image's account and region whose repository globs match it and that
    take scans of `scanner`."""
    return [
        connection
        for connection in connections
        if connection.get("type") == ConnectionType.ECR.value
        and _config(connection).get("account_id") == image.account_id
        and _config(connection).get("region") == image.region
        and matches_any(_config(connection).get("repositories") or _ALL, image.repository)
        and SCAN_SETTING.get(scanner) in (_config(connection).get("scans") or _BOTH_SCANS)
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
    if _not_newer(finished.scanned_at, seen):
        return _duplicate(connections, registry_id, reference, finished.scanned_at, now)
    try:
        report, scanned_at = _pull_aws(pull, finished.scanner, image, finished.scanned_at)
        if finished.scanner == SCANNER_INSPECTOR and announced and not report.findings:
            raise NotReady(f"Inspector lists no findings of {reference} yet; its event announced {announced}")
    except NotReady as error:
        return _not_ready(connections, registry_id, reference, str(error), now, attempt)
    except (PullRefused, InvalidInput) as error:
        return _pull_failed(connections, registry_id, reference, _reason(error), now)
    if _not_newer(scanned_at, seen):
        return _duplicate(connections, registry_id, reference, scanned_at, now)
    return _store(
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


def _pull_aws(
    pull: Pulls, scanner: str, image: RegistryImage, fallback_time: str
) -> tuple[ParsedReport, str]:
    """The report of the image's current scan by `scanner`, and that scan's time (ECR's completion time;
    for Inspector, which does not say, `fallback_time`)."""
    if scanner == SCANNER_ECR:
        pages = pull.aws.ecr_scan_findings(
            image.region, registry_id=image.account_id, repository=image.repository, digest=image.digest
        )
        scanned_at = next((at for at in map(scan_completed_at, pages) if at), None) or fallback_time
        return registry_report(SCANNER_ECR, image.image_ref, basic_findings(pages), scanned_at), scanned_at
    items = pull.aws.inspector_findings(
        image.region, account_id=image.account_id, repository=image.repository, digest=image.digest
    )
    findings = inspector_findings(items, digest=image.digest)
    return registry_report(SCANNER_INSPECTOR, image.image_ref, findings, fallback_time), fallback_time


# --- Harbor webhooks ---------------------------------------------------------------------------------


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
    if not matches_any(_config(connection).get("projects") or _ALL, event.project):
        return ignored(f"project {event.project} is not one of the connection's", registry_id)
    image = harbor_image_ref(harbor_host(connection), event)
    if event.failure is not None:
        return Outcome((_record_scan_failed(connections, connection, image, event.failure, now),))
    if event.type != SCANNING_COMPLETED:
        return ignored(f"Harbor event {event.type} asks for nothing", registry_id)
    return _finished(
        [_import_harbor(event, connection, connections, pull, store_scan, now, attempt)], attempt
    )


def harbor_host(connection: Mapping[str, Any]) -> str:
    """The registry a Harbor connection's images are in: its URL's host, with the port when it has one
    (`harbor.example.com`, `127.0.0.1:8443`)."""
    return urlsplit(str(_config(connection).get("url") or "")).netloc.rpartition("@")[2].lower()


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
        return _pull_failed(connections, registry_id, image.reference, "the event names no artifact", now)
    seen = connections.seen_scan(registry_id, SCANNER_HARBOR, artifact)
    if _not_newer(event.occurred_at, seen):
        return _duplicate(connections, registry_id, image.reference, event.occurred_at, now)
    try:
        report = _pull_harbor(pull.harbor(connection), event, image, artifact)
    except NotReady as error:
        return _not_ready(connections, registry_id, image.reference, str(error), now, attempt)
    except (PullRefused, InvalidInput) as error:
        return _pull_failed(connections, registry_id, image.reference, _reason(error), now)
    return _store(
        connections, store_scan, registry_id, SCANNER_HARBOR, artifact, report, event.occurred_at, now
    )


def _pull_harbor(harbor: HarborApi, event: HarborEvent, image: ImageRef, artifact: str) -> ParsedReport:
    """The report of the artifact (its digest, else its tag) as Harbor has it now."""
    answer = harbor.vulnerability_report(
        report_path(event.project, event.repository, artifact), HARBOR_REPORT_MIME
    )
    return harbor_report(answer, image)


# --- syncs -------------------------------------------------------------------------------------------


def sync_message(registry_id: str, job_id: str, cursor: Any = None) -> dict[str, Any]:
    """The message of one page of a sync (the first: `cursor` None)."""
    return {"kind": "sync", "registry_id": registry_id, "job_id": job_id, "cursor": cursor}


def new_sync_job_id() -> str:
    """A sync's id, as the API's sync request mints them (riskgate.services.registries)."""
    return "job-" + secrets.token_hex(8)


def sync_all(*, connections: Connections, send: Send, now: datetime) -> Outcome:
    """The daily reconcile: a sync of every connection, each started (its state says `running`) and its
    first page queued. A connection whose sync is still running is left to it. A sync that could not be
    queued is ended `failed` at once (else it would keep the next one out for an hour), and the error
    raised: the schedule's message comes back, and starts the syncs not started yet."""
    sent = 0
    steps = []
    for connection in connections.list_all():
        registry_id = str(connection["id"])
        job_id = new_sync_job_id()
        try:
            connections.start_sync(registry_id, job_id, now)
        except (Conflict, NotFound) as busy:  # running already, or deleted meanwhile
            steps.append(Step(Result.SKIPPED, registry_id, reason=busy.message))
            continue
        try:
            send(sync_message(registry_id, job_id))
        except Exception:
            connections.finish_sync(
                registry_id, job_id, SYNC_FAILED, now, error="the sync could not be queued"
            )
            raise
        sent += 1
    return Outcome(tuple(steps), messages_sent=sent)


def run_sync_page(
    message: Mapping[str, Any],
    *,
    connections: Connections,
    pull: Pulls,
    store_scan: StoreScan,
    send: Send,
    now: datetime,
    attempt: int = 1,
) -> Outcome:
    """`{"registry_id", "job_id", "cursor"}`: one page of a sync. Each image of the page is imported as an
    event would import it (its scans already imported are passed over), the progress is added to the
    connection's sync, and the next page is queued — or the sync finished. A listing not possible yet
    asks for the message again (see the module); refused, or still impossible at the last attempt, it
    ends the sync `failed` and is recorded. A job that is no longer the connection's running sync stops."""
    registry_id, job_id, cursor = message.get("registry_id"), message.get("job_id"), message.get("cursor")
    if not isinstance(registry_id, str) or not isinstance(job_id, str) or not isinstance(cursor, dict | None):
        return ignored("the sync message is not {registry_id, job_id, cursor}")
    connection = connections.get(registry_id)
    if connection is None:
        return ignored(f"registry connection {registry_id} no longer exists", registry_id)
    sync = _SyncPage(connection, job_id, connections, pull, store_scan, now)
    try:
        steps, next_cursor = sync.images(cursor)
    except NotReady as error:
        if attempt < REGISTRY_MAX_ATTEMPTS:
            return Outcome(
                (Step(Result.NOT_READY, registry_id, reason=str(error)),), retry_in=retry_delay(attempt)
            )
        return sync.failed(f"the sync gave up after {attempt} attempts: {error}")
    except (PullRefused, InvalidInput) as error:
        return sync.failed(f"the sync could not list the registry: {_reason(error)}")
    seen = len({step.image for step in steps})
    imported = len({step.image for step in steps if step.result is Result.IMPORTED})
    running = connections.sync_progress(registry_id, job_id, seen=seen, imported=imported, cursor=next_cursor)
    next_message = None
    if running and next_cursor is None:
        connections.finish_sync(registry_id, job_id, SYNC_DONE, now)
    elif running:
        next_message = sync_message(registry_id, job_id, next_cursor)
        send(next_message)
    return Outcome(
        tuple(steps),
        images_seen=seen,
        images_imported=imported,
        next_message=next_message,
        messages_sent=1 if next_message else 0,
    )


@dataclass
class _SyncPage:
    """One page of a connection's sync."""

    connection: Mapping[str, Any]
    job_id: str
    connections: Connections
    pull: Pulls
    store_scan: StoreScan
    now: datetime
    registry_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.registry_id = str(self.connection["id"])

    def images(self, cursor: dict[str, Any] | None) -> tuple[list[Step], dict[str, Any] | None]:
        if self.connection.get("type") == ConnectionType.HARBOR.value:
            return self._harbor_images(cursor)
        return self._ecr_images(cursor)

    def failed(self, reason: str) -> Outcome:
        self.connections.finish_sync(self.registry_id, self.job_id, SYNC_FAILED, self.now, error=reason)
        self.connections.record_event(
            self.registry_id, "sync_failed", at=self.now, message=reason, error=True
        )
        return Outcome((Step(Result.PULL_FAILED, self.registry_id, reason=reason),))

    # --- ECR --------------------------------------------------------------------------------------

    def _ecr_images(self, cursor: dict[str, Any] | None) -> tuple[list[Step], dict[str, Any] | None]:
        config = _config(self.connection)
        account_id, region = str(config["account_id"]), str(config["region"])
        globs = config.get("repositories") or _ALL
        found, next_cursor = self.pull.aws.ecr_images(
            region,
            registry_id=account_id,
            matches=lambda name: matches_any(globs, name),
            cursor=cursor,
            page_size=REGISTRY_SYNC_PAGE_SIZE,
        )
        scanners = [
            scanner
            for scanner, setting in SCAN_SETTING.items()
            if setting in (config.get("scans") or _BOTH_SCANS)
        ]
        steps = []
        for listed in found:
            image = RegistryImage(
                account_id=account_id,
                region=region,
                repository=str(listed["repository"]),
                digest=str(listed["digest"]),
                tags=tuple(str(tag) for tag in listed.get("tags") or ()),
            )
            steps += [self._ecr_image(image, scanner) for scanner in scanners]
        return steps, next_cursor

    def _ecr_image(self, image: RegistryImage, scanner: str) -> Step:
        """An image a sync found: imported when the registry has a scan of it newer than the one imported.
        Inspector says nothing of when it scanned, and lists nothing for an image it has not scanned:
        a sync takes its findings only for an image never imported with some to show, as of now (events
        keep the others current)."""
        reference = image.image_ref.reference
        seen = self.connections.seen_scan(self.registry_id, scanner, image.digest)
        if scanner == SCANNER_INSPECTOR and seen is not None:
            return Step(Result.DUPLICATE, self.registry_id, reference)
        try:
            report, scanned_at = _pull_aws(self.pull, scanner, image, iso(self.now))
        except (NotReady, PullRefused, InvalidInput) as error:
            return Step(Result.SKIPPED, self.registry_id, reference, reason=_reason(error))
        if scanner == SCANNER_INSPECTOR and not report.findings:
            return Step(Result.SKIPPED, self.registry_id, reference, reason="Inspector lists no findings")
        if _not_newer(scanned_at, seen):
            return Step(Result.DUPLICATE, self.registry_id, reference)
        return _store(
            self.connections,
            self.store_scan,
            self.registry_id,
            scanner,
            image.digest,
            report,
            scanned_at,
            self.now,
        )

    # --- Harbor -----------------------------------------------------------------------------------

    def _harbor_images(self, cursor: dict[str, Any] | None) -> tuple[list[Step], dict[str, Any] | None]:
        harbor = self.pull.harbor(self.connection)
        artifacts, next_cursor = harbor_artifacts_page(
            harbor, _config(self.connection).get("projects") or _ALL, cursor, REGISTRY_SYNC_PAGE_SIZE
        )
        steps = []
        for project, repository, artifact in artifacts:
            scanned = scanned_artifact(artifact)
            if scanned is None:
                where = f"{project}/{repository}@{artifact.get('digest')}"
                steps.append(Step(Result.SKIPPED, self.registry_id, where, reason="no successful scan"))
                continue
            steps.append(self._harbor_artifact(harbor, project, repository, *scanned))
        return steps, next_cursor

    def _harbor_artifact(
        self, harbor: HarborApi, project: str, repository: str, digest: str, tag: str | None, scanned_at: str
    ) -> Step:
        """An artifact a sync found with a successful scan: imported when that scan is newer than the one
        imported; a report that cannot be read is passed over (the artifact's next scan brings it)."""
        event = HarborEvent(
            type=SCANNING_COMPLETED,
            project=project,
            repository=repository,
            digest=digest,
            tag=tag,
            occurred_at=scanned_at,
            registry_host=None,
            failure=None,
        )
        image = harbor_image_ref(harbor_host(self.connection), event)
        if _not_newer(scanned_at, self.connections.seen_scan(self.registry_id, SCANNER_HARBOR, digest)):
            return Step(Result.DUPLICATE, self.registry_id, image.reference)
        try:
            report = _pull_harbor(harbor, event, image, digest)
        except (NotReady, PullRefused, InvalidInput) as error:
            return Step(Result.SKIPPED, self.registry_id, image.reference, reason=_reason(error))
        return _store(
            self.connections,
            self.store_scan,
            self.registry_id,
            SCANNER_HARBOR,
            digest,
            report,
            scanned_at,
            self.now,
        )


def scanned_artifact(artifact: Mapping[str, Any]) -> tuple[str, str | None, str] | None:
    """(digest, tag, scan time) of a Harbor artifact listed with its scan overview whose vulnerability
    scan succeeded; None for one not scanned (yet), or whose scan failed. The tag is the first in sorted
    order, as for an ECR image: the same whichever order Harbor lists them in."""
    digest = artifact.get("digest")
    overview = artifact.get("scan_overview")
    if not isinstance(digest, str) or not digest or not isinstance(overview, Mapping):
        return None
    for summary in overview.values():
        if not isinstance(summary, Mapping) or summary.get("scan_status") != HARBOR_SCAN_SUCCESS:
            continue
        ended = summary.get("end_time")
        if ended is None:
            continue
        try:
            scanned_at = registry_time(ended, "scan_overview.end_time")
        except InvalidInput:
            continue
        names = [
            str(tag["name"])
            for tag in artifact.get("tags") or ()
            if isinstance(tag, Mapping) and isinstance(tag.get("name"), str)
        ]
        return digest, min(names) if names else None, scanned_at
    return None


def harbor_artifacts_page(
    harbor: HarborApi, project_globs: Sequence[str], cursor: Mapping[str, Any] | None, page_size: int
) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, Any] | None]:
    """One step of a walk over Harbor's artifacts: one page of one repository's artifacts (`project`,
    `repository`, artifact), in the projects `project_globs` match, and the cursor of the next step
    (None: the walk is over). Projects and repositories are walked by page and index as Harbor lists
    them; a project or repository added or removed meanwhile may shift the walk by one (an artifact
    missed or seen twice, which the markers absorb; the next daily sync catches what was missed)."""
    position = _HarborPosition.of(cursor)
    for _ in range(HARBOR_LIST_CALLS_PER_STEP):
        projects = harbor.projects(position.project_page, HARBOR_LIST_PAGE)
        if position.project_index >= len(projects):
            if len(projects) < HARBOR_LIST_PAGE:
                return [], None
            position = _HarborPosition(project_page=position.project_page + 1)
            continue
        project = str(projects[position.project_index].get("name") or "")
        if not matches_any(project_globs, project):
            position = position.next_project()
            continue
        repositories = harbor.repositories(project, position.repository_page, HARBOR_LIST_PAGE)
        if position.repository_index >= len(repositories):
            if len(repositories) < HARBOR_LIST_PAGE:
                position = position.next_project()
            else:
                position = position.next_repository_page()
            continue
        repository = str(repositories[position.repository_index].get("name") or "")
        artifacts = harbor.artifacts(project, repository, page=position.artifact_page, page_size=page_size)
        following = (
            position.next_artifact_page() if len(artifacts) >= page_size else position.next_repository()
        )
        return [(project, repository, artifact) for artifact in artifacts], following.cursor()
    return [], position.cursor()


@dataclass(frozen=True)
class _HarborPosition:
    """Where a Harbor walk stands (pages from 1, indexes from 0): plain JSON, to travel in a message."""

    project_page: int = 1
    project_index: int = 0
    repository_page: int = 1
    repository_index: int = 0
    artifact_page: int = 1

    @classmethod
    def of(cls, cursor: Mapping[str, Any] | None) -> _HarborPosition:
        if not cursor:
            return cls()
        numbers: dict[str, int] = {}
        for name in cls.__dataclass_fields__:
            value = cursor.get(name)
            lowest = 1 if name.endswith("_page") else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
                raise InvalidInput(f"the Harbor sync cursor's {name} is not a position")
            numbers[name] = value
        return cls(**numbers)

    def next_project(self) -> _HarborPosition:
        return _HarborPosition(self.project_page, self.project_index + 1)

    def next_repository_page(self) -> _HarborPosition:
        return _HarborPosition(self.project_page, self.project_index, self.repository_page + 1)

    def next_repository(self) -> _HarborPosition:
        return _HarborPosition(
            self.project_page, self.project_index, self.repository_page, self.repository_index + 1
        )

    def next_artifact_page(self) -> _HarborPosition:
        return _HarborPosition(
            self.project_page,
            self.project_index,
            self.repository_page,
            self.repository_index,
            self.artifact_page + 1,
        )

    def cursor(self) -> dict[str, Any]:
        return {
            "project_page": self.project_page,
            "project_index": self.project_index,
            "repository_page": self.repository_page,
            "repository_index": self.repository_index,
            "artifact_page": self.artifact_page,
        }


# --- shared steps ------------------------------------------------------------------------------------


def _config(connection: Mapping[str, Any]) -> Mapping[str, Any]:
    config = connection.get("config")
    return config if isinstance(config, Mapping) else {}


def _not_newer(scanned_at: str, seen: str | None) -> bool:
    """Whether a scan of `scanned_at` is no newer than the one imported (`seen`; None: none was)."""
    return seen is not None and parse_iso(seen) >= parse_iso(scanned_at)


def _reason(error: Exception) -> str:
    return error.message if isinstance(error, InvalidInput) else str(error)


def _store(
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


def _duplicate(
    connections: Connections, registry_id: str, image: str, scanned_at: str, now: datetime
) -> Step:
    """Counted on the connection (`events.duplicate`), with an event saying which scan; no scan written."""
    reason = f"the scan of {scanned_at} or a newer one was imported already"
    connections.record_event(
        registry_id, Result.DUPLICATE.value, at=now, message=reason, image=image, error=False
    )
    return Step(Result.DUPLICATE, registry_id, image, reason=reason)


def _not_ready(
    connections: Connections, registry_id: str, image: str, reason: str, now: datetime, attempt: int
) -> Step:
    if attempt < REGISTRY_MAX_ATTEMPTS:
        return Step(Result.NOT_READY, registry_id, image, reason=reason)
    return _pull_failed(
        connections, registry_id, image, f"still not readable after {attempt} attempts: {reason}", now
    )


def _pull_failed(connections: Connections, registry_id: str, image: str, reason: str, now: datetime) -> Step:
    connections.record_event(
        registry_id, Result.PULL_FAILED.value, at=now, message=reason, image=image, error=True
    )
    return Step(Result.PULL_FAILED, registry_id, image, reason=reason)


def _record_scan_failed(
    connections: Connections, connection: Mapping[str, Any], image: ImageRef, reason: str, now: datetime
) -> Step:
    registry_id = str(connection["id"])
    connections.record_event(
        registry_id, Result.SCAN_FAILED.value, at=now, message=reason, image=image.reference, error=True
    )
    return Step(Result.SCAN_FAILED, registry_id, image.reference, reason=reason)
