"""Syncs: the daily reconcile starts a sync of every connection, and each page of a sync imports the
images it lists as an event would (ECR's images, Harbor's artifacts walked project by project)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from riskgate.adapters.registries import SYNC_DONE, SYNC_FAILED
from riskgate.adapters.registry_sources import NotReady, PullRefused
from riskgate.clock import iso
from riskgate.domain.errors import Conflict, InvalidInput, NotFound
from riskgate.domain.parsers import ParsedReport
from riskgate.domain.registries import (
    SCANNER_HARBOR,
    SCANNER_INSPECTOR,
    RegistryImage,
    matches_any,
    registry_time,
)
from riskgate.domain.registries.connections import ConnectionType, EcrScan
from riskgate.domain.registries.harbor import SCANNING_COMPLETED, HarborEvent, harbor_image_ref
from riskgate.resources import REGISTRY_MAX_ATTEMPTS, REGISTRY_SYNC_PAGE_SIZE
from riskgate.services.registry_ingestion.aws_events import pull_aws, pull_ecr
from riskgate.services.registry_ingestion.harbor_webhooks import harbor_host, pull_harbor
from riskgate.services.registry_ingestion.outcomes import Outcome, Result, Step, ignored, retry_delay
from riskgate.services.registry_ingestion.ports import (
    ALL,
    BOTH_SCANS,
    HARBOR_LIST_CALLS_PER_STEP,
    HARBOR_LIST_PAGE,
    HARBOR_SCAN_SUCCESS,
    SCAN_SETTING,
    Connections,
    HarborApi,
    Pulls,
    Send,
    StoreScan,
)
from riskgate.services.registry_ingestion.steps import connection_config, not_newer, reason, store

_BASIC_ONLY = "ECR scans it with Inspector (enhanced scanning); the connection takes basic scans only"


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
    asks for the message again (see the package); refused, or still impossible at the last attempt, it
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
        return sync.failed(f"the sync could not list the registry: {reason(error)}")
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
        config = connection_config(self.connection)
        account_id, region = str(config["account_id"]), str(config["region"])
        globs = config.get("repositories") or ALL
        found, next_cursor = self.pull.aws.ecr_images(
            region,
            registry_id=account_id,
            matches=lambda name: matches_any(globs, name),
            cursor=cursor,
            page_size=REGISTRY_SYNC_PAGE_SIZE,
        )
        takes = set(config.get("scans") or BOTH_SCANS)
        steps = []
        for listed in found:
            image = RegistryImage(
                account_id=account_id,
                region=region,
                repository=str(listed["repository"]),
                digest=str(listed["digest"]),
                tags=tuple(str(tag) for tag in listed.get("tags") or ()),
            )
            if EcrScan.BASIC.value in takes:
                steps.append(self._ecr_image(image, takes))
            else:
                steps.append(self._inspector_image(image))
        return steps, next_cursor

    def _ecr_image(self, image: RegistryImage, takes: set[str]) -> Step:
        """An image a sync found, as ECR answers about it: a basic scan is `ecr`'s; an enhanced scan is
        Inspector's findings with the time of the scan, imported as `inspector`'s (the same scan its
        events import, so never twice), or passed over when the connection takes basic scans only. A
        registry scans either way, never both: ECR's answer also says Inspector has nothing else."""
        reference = image.image_ref.reference
        try:
            report, scanned_at = pull_ecr(self.pull, image, iso(self.now))
        except (NotReady, PullRefused, InvalidInput) as error:
            return Step(Result.SKIPPED, self.registry_id, reference, reason=reason(error))
        scanner = str(report.scanner)  # registry reports always name theirs
        if SCAN_SETTING[scanner] not in takes:
            return Step(Result.SKIPPED, self.registry_id, reference, reason=_BASIC_ONLY)
        return self._store_newer(image, scanner, report, scanned_at)

    def _inspector_image(self, image: RegistryImage) -> Step:
        """An image a sync found, for a connection taking enhanced scans only. Inspector says nothing of
        when it scanned, and lists nothing for an image it has not scanned: a sync takes its findings only
        for an image never imported with some to show, as of now (events keep the others current)."""
        reference = image.image_ref.reference
        if self.connections.seen_scan(self.registry_id, SCANNER_INSPECTOR, image.digest) is not None:
            return Step(Result.DUPLICATE, self.registry_id, reference)
        try:
            report, scanned_at = pull_aws(self.pull, SCANNER_INSPECTOR, image, iso(self.now))
        except (NotReady, PullRefused, InvalidInput) as error:
            return Step(Result.SKIPPED, self.registry_id, reference, reason=reason(error))
        if not report.findings:
            return Step(Result.SKIPPED, self.registry_id, reference, reason="Inspector lists no findings")
        return self._store_newer(image, SCANNER_INSPECTOR, report, scanned_at)

    def _store_newer(self, image: RegistryImage, scanner: str, report: ParsedReport, scanned_at: str) -> Step:
        """The scan stored, unless one as new by the same scanner was imported already."""
        if not_newer(scanned_at, self.connections.seen_scan(self.registry_id, scanner, image.digest)):
            return Step(Result.DUPLICATE, self.registry_id, image.image_ref.reference)
        return store(
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
            harbor, connection_config(self.connection).get("projects") or ALL, cursor, REGISTRY_SYNC_PAGE_SIZE
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
        if not_newer(scanned_at, self.connections.seen_scan(self.registry_id, SCANNER_HARBOR, digest)):
            return Step(Result.DUPLICATE, self.registry_id, image.reference)
        try:
            report = pull_harbor(harbor, event, image, digest)
        except (NotReady, PullRefused, InvalidInput) as error:
            return Step(Result.SKIPPED, self.registry_id, image.reference, reason=reason(error))
        return store(
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
