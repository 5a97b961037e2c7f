"""The rules of registry ingestion (riskgate.services.registry_ingestion) with in-memory ports: which
connections an event concerns, each scan imported once, what is waited for and what is recorded, Harbor's
events, and syncs page by page. The real handler against moto: tests/integration/test_registry_ingester.py."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from riskgate.adapters.registry_sources import NotReady, PullRefused
from riskgate.adapters.store import FindingsSet, StoredScan
from riskgate.domain.audit import Actor, AuditEvent
from riskgate.domain.errors import Conflict
from riskgate.domain.findings import Finding
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers import ParsedReport
from riskgate.domain.registries import SCANNER_ECR, SCANNER_HARBOR, SCANNER_INSPECTOR, registry_scan_id
from riskgate.domain.registries.harbor import HARBOR_REPORT_MIME
from riskgate.resources import REGISTRY_MAX_ATTEMPTS, REGISTRY_RETRY_MAX_SECONDS, REGISTRY_SYNC_PAGE_SIZE
from riskgate.services.registry_ingestion import (
    HARBOR_LIST_PAGE,
    Outcome,
    Pulls,
    Result,
    StoredImport,
    harbor_artifacts_page,
    ingest_harbor,
    ingest_scan_event,
    retry_delay,
    run_sync_page,
    scan_storer,
    scanned_artifact,
    sync_all,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGION = "eu-north-1"
DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64
REPOSITORY = "team/api"
EVENT_TIME = "2024-05-01T11:00:00Z"
SCAN_COMPLETED = "2024-05-01T10:59:30.000000Z"
HARBOR_URL = "https://harbor.example.com:8443"
HELM_DIGEST = "sha256:" + "c" * 64


# --- in-memory ports ----------------------------------------------------------------------------------


def ecr_connection(
    registry_id: str = "reg-ecr",
    *,
    account_id: str = ACCOUNT,
    region: str = REGION,
    repositories: list[str] | None = None,
    scans: list[str] | None = None,
) -> dict[str, Any]:
    config = {
        "account_id": account_id,
        "region": region,
        "repositories": repositories or ["*"],
        "scans": scans or ["basic", "enhanced"],
    }
    return {"id": registry_id, "name": registry_id, "type": "ecr", "config": config}


def harbor_connection(registry_id: str = "reg-harbor", projects: list[str] | None = None) -> dict[str, Any]:
    config = {"url": HARBOR_URL, "projects": projects or ["*"], "robot_name": "robot$riskgate"}
    return {"id": registry_id, "name": registry_id, "type": "harbor", "config": config}


class FakeConnections:
    """RegistryStore's ingestion side, in memory."""

    def __init__(self, *connections: dict[str, Any]) -> None:
        self.connections = {connection["id"]: connection for connection in connections}
        self.seen: dict[tuple[str, str, str], str] = {}
        self.events: list[dict[str, Any]] = []
        self.syncs: dict[str, dict[str, Any]] = {}
        self.busy: set[str] = set()

    def get(self, entity_id: str) -> dict[str, Any] | None:
        return self.connections.get(entity_id)

    def list_all(self) -> list[dict[str, Any]]:
        return list(self.connections.values())

    def seen_scan(self, registry_id: str, scanner: str, digest: str) -> str | None:
        return self.seen.get((registry_id, scanner, digest))

    def mark_seen(self, registry_id: str, scanner: str, digest: str, scanned_at: str | datetime) -> bool:
        assert isinstance(scanned_at, str)
        key = (registry_id, scanner, digest)
        if key in self.seen and self.seen[key] >= scanned_at:
            return False
        self.seen[key] = scanned_at
        return True

    def record_event(
        self,
        registry_id: str,
        kind: str,
        *,
        at: datetime,
        message: str,
        image: str | None = None,
        error: bool,
    ) -> None:
        self.events.append(
            {"registry_id": registry_id, "kind": kind, "message": message, "image": image, "error": error}
        )

    def kinds(self) -> list[str]:
        return [event["kind"] for event in self.events]

    def start_sync(
        self, registry_id: str, job_id: str, at: datetime, *, actor: Actor | None = None
    ) -> dict[str, Any]:
        if registry_id in self.busy:
            raise Conflict(f"a sync of registry connection {registry_id} is running")
        self.syncs[registry_id] = {
            "job_id": job_id,
            "state": "running",
            "images_seen": 0,
            "images_imported": 0,
        }
        return self.syncs[registry_id]

    def sync_progress(self, registry_id: str, job_id: str, *, seen: int, imported: int, cursor: Any) -> bool:
        sync = self.syncs.get(registry_id)
        if sync is None or sync["job_id"] != job_id or sync["state"] != "running":
            return False
        sync["images_seen"] += seen
        sync["images_imported"] += imported
        sync["cursor"] = cursor
        return True

    def finish_sync(
        self, registry_id: str, job_id: str, state: str, at: datetime, error: str | None = None
    ) -> bool:
        sync = self.syncs[registry_id]
        if sync["job_id"] != job_id or sync["state"] != "running":
            return False
        sync.update(state=state, error=error)
        return True


def ecr_page(findings: list[dict[str, Any]], completed_at: str = SCAN_COMPLETED) -> dict[str, Any]:
    """One page of DescribeImageScanFindings, basic scan."""
    return {
        "imageScanStatus": {"status": "COMPLETE"},
        "imageScanFindings": {"imageScanCompletedAt": completed_at, "findings": findings},
    }


def basic_finding(cve: str, severity: str = "HIGH", package: str = "openssl") -> dict[str, Any]:
    return {
        "name": cve,
        "severity": severity,
        "attributes": [{"key": "package_name", "value": package}, {"key": "package_version", "value": "1.0"}],
    }


def inspector_item(cve: str, digest: str = DIGEST, severity: str = "MEDIUM") -> dict[str, Any]:
    return {
        "type": "PACKAGE_VULNERABILITY",
        "status": "ACTIVE",
        "severity": severity,
        "packageVulnerabilityDetails": {
            "vulnerabilityId": cve,
            "vulnerablePackages": [{"name": "zlib", "version": "1.2"}],
        },
        "resources": [
            {"type": "AWS_ECR_CONTAINER_IMAGE", "details": {"awsEcrContainerImage": {"imageHash": digest}}}
        ],
    }


class FakeAws:
    """ECR and Inspector2 answers per (repository, digest); an exception instead of an answer is raised."""

    def __init__(self) -> None:
        self.ecr: dict[tuple[str, str], list[dict[str, Any]] | Exception] = {}
        self.inspector: dict[tuple[str, str], list[dict[str, Any]] | Exception] = {}
        self.images: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, str]] = []

    def ecr_scan_findings(
        self, region: str, *, registry_id: str, repository: str, digest: str
    ) -> list[dict[str, Any]]:
        self.calls.append(("ecr", region, f"{registry_id}/{repository}@{digest}"))
        return _answer(self.ecr.get((repository, digest), NotReady("no scan yet")))

    def inspector_findings(
        self, region: str, *, account_id: str, repository: str, digest: str
    ) -> list[dict[str, Any]]:
        self.calls.append(("inspector", region, f"{account_id}/{repository}@{digest}"))
        return _answer(self.inspector.get((repository, digest), []))

    def ecr_images(
        self,
        region: str,
        *,
        registry_id: str,
        matches: Callable[[str], bool],
        cursor: dict[str, Any] | None,
        page_size: int,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        wanted = [image for image in self.images if matches(image["repository"])]
        start = int((cursor or {}).get("offset", 0))
        page = wanted[start : start + page_size]
        following = start + page_size
        return page, ({"offset": following} if following < len(wanted) else None)


def _answer(answer: list[dict[str, Any]] | Exception) -> list[dict[str, Any]]:
    if isinstance(answer, Exception):
        raise answer
    return copy.deepcopy(answer)


class FakeHarborApi:
    """Harbor's API as the service asks it, in memory."""

    def __init__(self) -> None:
        self.reports: dict[str, dict[str, Any] | Exception] = {}
        self.catalogue: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.asked: list[tuple[str, str]] = []

    def vulnerability_report(self, path: str, accept: str) -> dict[str, Any]:
        self.asked.append((path, accept))
        answer = self.reports.get(path, NotReady("Harbor answered 404"))
        if isinstance(answer, Exception):
            raise answer
        return answer

    def projects(self, page: int, page_size: int) -> list[dict[str, Any]]:
        return _paged([{"name": name} for name in self.catalogue], page, page_size)

    def repositories(self, project: str, page: int, page_size: int) -> list[dict[str, Any]]:
        return _paged([{"name": name} for name in self.catalogue[project]], page, page_size)

    def artifacts(self, project: str, repository: str, *, page: int, page_size: int) -> list[dict[str, Any]]:
        return _paged(self.catalogue[project][repository], page, page_size)


def _paged(items: list[dict[str, Any]], page: int, page_size: int) -> list[dict[str, Any]]:
    return items[(page - 1) * page_size : page * page_size]


class FakeScans:
    """The scan store under `scan_storer`: remembers what it saved, by scan id."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}

    def get_image(self, image_id: str) -> dict[str, Any] | None:
        return None

    def save_scan(
        self,
        *,
        scan: dict[str, Any],
        image: ImageRef,
        findings: list[Finding],
        image_summary: dict[str, Any],
        audit: AuditEvent | None = None,
        known_tags: tuple[str, ...] | None = None,
        recheck: Callable[[tuple[str, ...]], None] | None = None,
        known_findings: FindingsSet | None = None,
    ) -> StoredScan:
        self.saved[scan["scan_id"]] = {"scan": scan, "image": image, "findings": findings}
        return StoredScan(
            scan["scan_id"], image.image_id, became_current=True, findings_written=len(findings)
        )

    def exists(self, image: ImageRef, received_at: str, scan_id: str) -> bool:
        saved = self.saved.get(scan_id)
        return saved is not None and saved["scan"]["received_at"] == received_at


class World:
    """Every port, wired as the handler wires the real ones."""

    def __init__(self, *connections: dict[str, Any]) -> None:
        self.connections = FakeConnections(*connections)
        self.aws = FakeAws()
        self.harbor = FakeHarborApi()
        self.scans = FakeScans()
        self.sent: list[dict[str, Any]] = []
        self.harbor_asked_for: list[str] = []
        self.store_scan = scan_storer(
            self.scans,
            policies_for=lambda image: [],
            acceptances_for=lambda image: [],
            already_stored=self.scans.exists,
        )

    @property
    def pull(self) -> Pulls:
        def harbor_for(connection: Mapping[str, Any]) -> FakeHarborApi:
            self.harbor_asked_for.append(str(connection["id"]))
            return self.harbor

        return Pulls(self.aws, harbor_for)

    def event(self, event: dict[str, Any], attempt: int = 1) -> Outcome:
        return ingest_scan_event(
            event,
            connections=self.connections,
            pull=self.pull,
            store_scan=self.store_scan,
            now=NOW,
            attempt=attempt,
        )

    def harbor_message(
        self, event: dict[str, Any], registry_id: str = "reg-harbor", attempt: int = 1
    ) -> Outcome:
        return ingest_harbor(
            {"registry_id": registry_id, "event": event},
            connections=self.connections,
            pull=self.pull,
            store_scan=self.store_scan,
            now=NOW,
            attempt=attempt,
        )

    def sync_page(self, message: dict[str, Any], attempt: int = 1) -> Outcome:
        return run_sync_page(
            message,
            connections=self.connections,
            pull=self.pull,
            store_scan=self.store_scan,
            send=self.sent.append,
            now=NOW,
            attempt=attempt,
        )


def ecr_event(
    *,
    repository: str = REPOSITORY,
    digest: str = DIGEST,
    account: str = ACCOUNT,
    region: str = REGION,
    time: str = EVENT_TIME,
    status: str = "COMPLETE",
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """An `ECR Image Scan` event as EventBridge delivers it."""
    return {
        "version": "0",
        "id": "evt-ecr-1",
        "detail-type": "ECR Image Scan",
        "source": "aws.ecr",
        "account": account,
        "time": time,
        "region": region,
        "detail": {
            "scan-status": status,
            "repository-name": repository,
            "finding-severity-counts": {"HIGH": 2},
            "image-digest": digest,
            "image-tags": tags if tags is not None else ["1.0"],
        },
    }


def inspector_event(*, counts: dict[str, int] | None = None, time: str = EVENT_TIME) -> dict[str, Any]:
    """An `Inspector2 Scan` event: its repository is the repository's ARN."""
    return {
        "version": "0",
        "id": "evt-inspector-1",
        "detail-type": "Inspector2 Scan",
        "source": "aws.inspector2",
        "account": ACCOUNT,
        "time": time,
        "region": REGION,
        "detail": {
            "scan-status": "INITIAL_SCAN_COMPLETE",
            "repository-name": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPOSITORY}",
            "finding-severity-counts": counts if counts is not None else {"MEDIUM": 1, "TOTAL": 1},
            "image-digest": DIGEST,
            "image-tags": ["1.0"],
        },
    }


def harbor_webhook(
    kind: str = "SCANNING_COMPLETED", *, project: str = "test", occur_at: int = 1648715576
) -> dict[str, Any]:
    """Harbor's default webhook payload about `<project>/alpine/helm:3.8.1`."""
    return {
        "type": kind,
        "occur_at": occur_at,
        "operator": "auto",
        "event_data": {
            "resources": [
                {
                    "digest": HELM_DIGEST,
                    "tag": "3.8.1",
                    "resource_url": f"harbor.internal/{project}/alpine/helm:3.8.1",
                }
            ],
            "repository": {
                "name": "alpine/helm",
                "namespace": project,
                "repo_full_name": f"{project}/alpine/helm",
            },
        },
    }


def harbor_answer(*cves: str) -> dict[str, Any]:
    """Harbor's `/additions/vulnerabilities` answer: the scanner adapter's report under its media type."""
    return {
        HARBOR_REPORT_MIME: {
            "generated_at": "2022-03-31T08:32:56Z",
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.20.1"},
            "severity": "High",
            "vulnerabilities": [
                {
                    "id": cve,
                    "package": "busybox",
                    "version": "1.34",
                    "fix_version": "1.35",
                    "severity": "High",
                }
                for cve in cves
            ],
        }
    }


HELM_REPORT_PATH = (
    f"/api/v2.0/projects/test/repositories/alpine%252Fhelm/artifacts/{HELM_DIGEST}/additions/vulnerabilities"
)
HARBOR_SCANNED_AT = "2022-03-31T08:32:56.000000Z"


# --- which connections an event concerns --------------------------------------------------------------


@pytest.mark.parametrize(
    ("connection", "event"),
    [
        (ecr_connection(account_id=OTHER_ACCOUNT), ecr_event()),
        (ecr_connection(region="us-east-1"), ecr_event()),
        (ecr_connection(repositories=["other/*", "team"]), ecr_event()),
        (ecr_connection(scans=["enhanced"]), ecr_event()),
        (ecr_connection(scans=["basic"]), inspector_event()),
        (harbor_connection(), ecr_event()),
    ],
    ids=[
        "other account",
        "other region",
        "repository outside the globs",
        "basic not taken",
        "enhanced not taken",
        "harbor",
    ],
)
def test_an_event_no_connection_covers_is_ignored_and_nothing_is_pulled(
    connection: dict[str, Any], event: dict[str, Any]
) -> None:
    world = World(connection)

    outcome = world.event(event)

    assert [step.result for step in outcome.steps] == [Result.IGNORED]
    assert outcome.count(Result.IGNORED) == 1
    assert world.aws.calls == []
    assert world.scans.saved == {}
    assert world.connections.events == []


def test_globs_cross_slashes_and_every_covering_connection_imports_the_scan_under_its_own_id() -> None:
    world = World(ecr_connection("reg-all"), ecr_connection("reg-team", repositories=["team/*"]))
    world.aws.ecr[(REPOSITORY, DIGEST)] = [ecr_page([basic_finding("CVE-2024-1")])]

    outcome = world.event(ecr_event())

    assert outcome.count(Result.IMPORTED) == 2
    assert set(world.scans.saved) == {
        registry_scan_id("reg-all", SCANNER_ECR, DIGEST, SCAN_COMPLETED),
        registry_scan_id("reg-team", SCANNER_ECR, DIGEST, SCAN_COMPLETED),
    }


# --- an ECR scan imported -------------------------------------------------------------------------------


def test_an_ecr_scan_is_stored_with_the_time_ecr_completed_it_marked_seen_and_recorded() -> None:
    world = World(ecr_connection())
    world.aws.ecr[(REPOSITORY, DIGEST)] = [
        ecr_page([basic_finding("CVE-2024-1", "CRITICAL")]),
        ecr_page([basic_finding("CVE-2024-2", "INFORMATIONAL", "zlib")]),
    ]

    outcome = world.event(ecr_event(tags=["2.0", "1.0"]))

    (step,) = outcome.steps
    assert step.result is Result.IMPORTED
    assert outcome.retry_in is None
    assert world.aws.calls == [("ecr", REGION, f"{ACCOUNT}/{REPOSITORY}@{DIGEST}")]
    scan_id = registry_scan_id("reg-ecr", SCANNER_ECR, DIGEST, SCAN_COMPLETED)
    saved = world.scans.saved[scan_id]
    assert saved["scan"]["received_at"] == SCAN_COMPLETED
    assert saved["scan"]["format"] == "ecr"
    assert saved["scan"]["submitted_by"] == "system:registry:reg-ecr"
    assert saved["scan"]["counts"]["vulnerabilities"]["critical"] == 1
    assert saved["scan"]["counts"]["vulnerabilities"]["negligible"] == 1
    # The first tag in sorted order, whatever order the event lists them in.
    assert saved["image"] == ImageRef(f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com", REPOSITORY, "1.0", DIGEST)
    assert world.connections.seen == {("reg-ecr", SCANNER_ECR, DIGEST): SCAN_COMPLETED}
    (event,) = world.connections.events
    assert event["kind"] == "imported"
    assert event["error"] is False
    assert event["image"] == saved["image"].reference
    assert "2 findings, verdict compliant" in event["message"]
    assert step.stored is not None
    assert outcome.written == [step.stored.scan]


def test_a_redelivered_event_writes_nothing() -> None:
    world = World(ecr_connection())
    world.aws.ecr[(REPOSITORY, DIGEST)] = [ecr_page([basic_finding("CVE-2024-1")])]
    world.event(ecr_event())
    saved = dict(world.scans.saved)

    outcome = world.event(ecr_event())

    assert [step.result for step in outcome.steps] == [Result.DUPLICATE]
    assert world.scans.saved == saved
    assert world.connections.kinds() == ["imported", "duplicate"]


def test_an_event_older_than_the_scan_imported_is_out_of_order_and_not_even_pulled() -> None:
    world = World(ecr_connection())
    world.connections.seen[("reg-ecr", SCANNER_ECR, DIGEST)] = "2024-05-02T00:00:00.000000Z"

    outcome = world.event(ecr_event())

    assert [step.result for step in outcome.steps] == [Result.DUPLICATE]
    assert world.aws.calls == []
    assert world.scans.saved == {}


def test_a_late_event_pulls_the_current_result_which_is_recognised_as_seen() -> None:
    # The event is newer than the marker, but ECR's answer is the scan imported already.
    world = World(ecr_connection())
    world.connections.seen[("reg-ecr", SCANNER_ECR, DIGEST)] = SCAN_COMPLETED
    world.aws.ecr[(REPOSITORY, DIGEST)] = [
        ecr_page([basic_finding("CVE-2024-1")], completed_at=SCAN_COMPLETED)
    ]

    outcome = world.event(ecr_event(time="2024-05-01T11:30:00Z"))

    assert [step.result for step in outcome.steps] == [Result.DUPLICATE]
    assert len(world.aws.calls) == 1
    assert world.scans.saved == {}


def test_a_delivery_that_died_after_storing_is_finished_without_a_second_scan() -> None:
    world = World(ecr_connection())
    world.aws.ecr[(REPOSITORY, DIGEST)] = [ecr_page([basic_finding("CVE-2024-1")])]
    world.event(ecr_event())
    world.connections.seen.clear()  # the first delivery stored the scan, then died before marking it
    world.connections.events.clear()

    outcome = world.event(ecr_event())

    (step,) = outcome.steps
    assert step.result is Result.IMPORTED
    assert step.stored is not None
    assert step.stored.written is False
    assert outcome.written == []
    assert len(world.scans.saved) == 1
    assert world.connections.kinds() == ["imported"]


def test_an_ecr_scan_that_failed_is_recorded_on_each_covering_connection() -> None:
    world = World(ecr_connection())

    outcome = world.event(ecr_event(status="FAILED"))

    assert [step.result for step in outcome.steps] == [Result.SCAN_FAILED]
    (event,) = world.connections.events
    assert event["kind"] == "scan_failed"
    assert event["error"] is True
    assert "FAILED" in event["message"]
    assert world.aws.calls == []


def test_events_that_announce_no_image_scan_and_malformed_events_are_ignored() -> None:
    world = World(ecr_connection())
    push = {"source": "aws.ecr", "detail-type": "ECR Image Action", "detail": {"action-type": "PUSH"}}
    broken = ecr_event()
    del broken["detail"]["image-digest"]

    assert [step.result for step in world.event(push).steps] == [Result.IGNORED]
    outcome = world.event(broken)
    assert [step.result for step in outcome.steps] == [Result.IGNORED]
    assert "image-digest" in (outcome.steps[0].reason or "")


# --- what is waited for, what is recorded ------------------------------------------------------------


def test_findings_not_readable_yet_ask_for_the_message_again_later_and_record_nothing() -> None:
    world = World(ecr_connection())  # ECR has no scan of the image yet: NotReady

    outcome = world.event(ecr_event(), attempt=3)

    assert [step.result for step in outcome.steps] == [Result.NOT_READY]
    assert outcome.retry_in == retry_delay(3) == 120
    assert world.connections.events == []
    assert world.connections.seen == {}


def test_at_the_last_attempt_findings_still_not_readable_are_recorded_and_the_message_let_go() -> None:
    world = World(ecr_connection())

    outcome = world.event(ecr_event(), attempt=REGISTRY_MAX_ATTEMPTS)

    assert [step.result for step in outcome.steps] == [Result.PULL_FAILED]
    assert outcome.retry_in is None
    (event,) = world.connections.events
    assert event["kind"] == "pull_failed"
    assert event["error"] is True
    assert f"after {REGISTRY_MAX_ATTEMPTS} attempts" in event["message"]


def test_a_refused_pull_is_recorded_at_once() -> None:
    world = World(ecr_connection())
    world.aws.ecr[(REPOSITORY, DIGEST)] = PullRefused(f"ECR image {REPOSITORY}@{DIGEST} no longer exists")

    outcome = world.event(ecr_event(), attempt=1)

    assert [step.result for step in outcome.steps] == [Result.PULL_FAILED]
    assert outcome.retry_in is None
    assert world.connections.events[0]["message"] == f"ECR image {REPOSITORY}@{DIGEST} no longer exists"
    assert world.connections.events[0]["error"] is True


def test_anything_else_raises_for_the_queue_to_retry() -> None:
    world = World(ecr_connection())
    world.aws.ecr[(REPOSITORY, DIGEST)] = RuntimeError("ThrottlingException")

    with pytest.raises(RuntimeError, match="Throttling"):
        world.event(ecr_event())
    assert world.connections.events == []


def test_the_delay_doubles_from_thirty_seconds_up_to_fifteen_minutes() -> None:
    assert [retry_delay(attempt) for attempt in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
    assert retry_delay(50) == REGISTRY_RETRY_MAX_SECONDS


# --- Inspector ----------------------------------------------------------------------------------------


def test_an_inspector_scan_takes_the_events_time_and_only_the_images_active_findings() -> None:
    world = World(ecr_connection())
    closed = {**inspector_item("CVE-2024-9"), "status": "CLOSED"}
    world.aws.inspector[(REPOSITORY, DIGEST)] = [
        inspector_item("CVE-2024-3"),
        closed,
        inspector_item("CVE-2024-4", digest=OTHER_DIGEST),
    ]

    outcome = world.event(inspector_event())

    assert outcome.count(Result.IMPORTED) == 1
    saved = world.scans.saved[registry_scan_id("reg-ecr", SCANNER_INSPECTOR, DIGEST, EVENT_TIME)]
    assert [finding.finding_id for finding in saved["findings"]] == ["CVE-2024-3"]
    assert saved["scan"]["format"] == "inspector"
    assert world.connections.seen == {("reg-ecr", SCANNER_INSPECTOR, DIGEST): "2024-05-01T11:00:00.000000Z"}


def test_inspector_listing_nothing_yet_after_an_event_announcing_findings_is_waited_for() -> None:
    world = World(ecr_connection())

    outcome = world.event(inspector_event(counts={"HIGH": 3, "TOTAL": 3}))

    assert [step.result for step in outcome.steps] == [Result.NOT_READY]
    assert outcome.retry_in == 30


def test_inspector_listing_nothing_after_an_event_announcing_nothing_is_a_clean_scan() -> None:
    world = World(ecr_connection())

    outcome = world.event(inspector_event(counts={"TOTAL": 0}))

    assert outcome.count(Result.IMPORTED) == 1
    (saved,) = world.scans.saved.values()
    assert saved["findings"] == []


# --- Harbor -------------------------------------------------------------------------------------------


def test_a_completed_harbor_scan_is_pulled_and_stored_as_an_image_of_the_connections_host() -> None:
    world = World(harbor_connection())
    world.harbor.reports[HELM_REPORT_PATH] = harbor_answer("CVE-2022-1", "CVE-2022-2")

    outcome = world.harbor_message(harbor_webhook())

    assert outcome.count(Result.IMPORTED) == 1
    assert world.harbor.asked == [(HELM_REPORT_PATH, HARBOR_REPORT_MIME)]
    saved = world.scans.saved[registry_scan_id("reg-harbor", SCANNER_HARBOR, HELM_DIGEST, HARBOR_SCANNED_AT)]
    # The registry is the connection's URL's host and port, not the one Harbor names in its event.
    assert saved["image"] == ImageRef("harbor.example.com:8443", "test/alpine/helm", "3.8.1", HELM_DIGEST)
    assert saved["scan"]["received_at"] == HARBOR_SCANNED_AT
    assert saved["scan"]["format"] == "harbor"
    assert len(saved["findings"]) == 2
    assert world.connections.kinds() == ["imported"]


def test_a_repeated_harbor_webhook_writes_nothing() -> None:
    world = World(harbor_connection())
    world.harbor.reports[HELM_REPORT_PATH] = harbor_answer("CVE-2022-1")
    world.harbor_message(harbor_webhook())

    outcome = world.harbor_message(harbor_webhook())

    assert [step.result for step in outcome.steps] == [Result.DUPLICATE]
    assert len(world.scans.saved) == 1
    assert len(world.harbor.asked) == 1


def test_a_failed_harbor_scan_is_recorded_as_an_error() -> None:
    world = World(harbor_connection())

    outcome = world.harbor_message(harbor_webhook("SCANNING_FAILED"))

    assert [step.result for step in outcome.steps] == [Result.SCAN_FAILED]
    (event,) = world.connections.events
    assert (event["kind"], event["error"], event["message"]) == (
        "scan_failed",
        True,
        "the scan failed in Harbor",
    )
    assert world.harbor.asked == []


@pytest.mark.parametrize(
    ("connection", "event", "registry_id"),
    [
        (harbor_connection(), harbor_webhook("PUSH_ARTIFACT"), "reg-harbor"),
        (harbor_connection(projects=["prod-*"]), harbor_webhook(), "reg-harbor"),
        (harbor_connection(), harbor_webhook(), "reg-deleted"),
        (ecr_connection("reg-harbor"), harbor_webhook(), "reg-harbor"),
        (harbor_connection(), {"hello": "world"}, "reg-harbor"),
    ],
    ids=[
        "another event type",
        "project outside the globs",
        "connection deleted",
        "not a harbor connection",
        "not an event",
    ],
)
def test_harbor_work_that_asks_for_nothing_is_acknowledged(
    connection: dict[str, Any], event: dict[str, Any], registry_id: str
) -> None:
    world = World(connection)

    outcome = world.harbor_message(event, registry_id=registry_id)

    assert [step.result for step in outcome.steps] == [Result.IGNORED]
    assert world.harbor.asked == []
    assert world.connections.events == []
    assert world.scans.saved == {}


def test_a_harbor_report_not_there_yet_is_waited_for_and_a_refusal_recorded_at_once() -> None:
    world = World(harbor_connection())

    waiting = world.harbor_message(harbor_webhook(), attempt=2)
    world.harbor.reports[HELM_REPORT_PATH] = PullRefused("Harbor answered 401: unauthorized")
    refused = world.harbor_message(harbor_webhook(), attempt=2)

    assert (waiting.retry_in, [step.result for step in waiting.steps]) == (60, [Result.NOT_READY])
    assert (refused.retry_in, [step.result for step in refused.steps]) == (None, [Result.PULL_FAILED])
    assert world.connections.events == [
        {
            "registry_id": "reg-harbor",
            "kind": "pull_failed",
            "message": "Harbor answered 401: unauthorized",
            "image": f"harbor.example.com:8443/test/alpine/helm:3.8.1@{HELM_DIGEST}",
            "error": True,
        }
    ]


def test_a_harbor_answer_without_a_report_is_recorded_not_stored_as_clean() -> None:
    world = World(harbor_connection())
    world.harbor.reports[HELM_REPORT_PATH] = {}

    outcome = world.harbor_message(harbor_webhook())

    assert [step.result for step in outcome.steps] == [Result.PULL_FAILED]
    assert "no vulnerability report" in world.connections.events[0]["message"]
    assert world.scans.saved == {}


# --- syncs --------------------------------------------------------------------------------------------


def listed(repository: str, digest: str, *tags: str) -> dict[str, Any]:
    return {"repository": repository, "digest": digest, "tags": list(tags), "pushed_at": None}


def test_the_daily_sync_starts_a_sync_of_every_connection_not_already_syncing() -> None:
    world = World(ecr_connection("reg-a"), harbor_connection("reg-b"), ecr_connection("reg-c"))
    world.connections.busy.add("reg-b")

    outcome = sync_all(connections=world.connections, send=world.sent.append, now=NOW)

    assert [(message["kind"], message["registry_id"], message["cursor"]) for message in world.sent] == [
        ("sync", "reg-a", None),
        ("sync", "reg-c", None),
    ]
    assert [message["job_id"] for message in world.sent] == [
        world.connections.syncs["reg-a"]["job_id"],
        world.connections.syncs["reg-c"]["job_id"],
    ]
    assert outcome.messages_sent == 2
    assert [(step.result, step.registry_id) for step in outcome.steps] == [(Result.SKIPPED, "reg-b")]


def test_a_sync_that_cannot_be_queued_is_ended_failed_and_the_error_raised() -> None:
    world = World(ecr_connection("reg-a"))

    def unreachable(message: dict[str, Any]) -> None:
        raise RuntimeError("SQS unavailable")

    with pytest.raises(RuntimeError, match="SQS"):
        sync_all(connections=world.connections, send=unreachable, now=NOW)
    assert world.connections.syncs["reg-a"]["state"] == "failed"


def start_sync(world: World, registry_id: str) -> dict[str, Any]:
    world.connections.start_sync(registry_id, "job-1", NOW)
    return {"kind": "sync", "registry_id": registry_id, "job_id": "job-1", "cursor": None}


def test_an_ecr_sync_imports_a_page_of_images_then_queues_the_next_page_and_finishes() -> None:
    world = World(ecr_connection(repositories=["team/*"], scans=["basic"]))
    images = [
        listed(REPOSITORY, f"sha256:{index:064x}", "v1") for index in range(REGISTRY_SYNC_PAGE_SIZE + 2)
    ]
    world.aws.images = [*images, listed("other/repo", OTHER_DIGEST)]
    for image in images[1:]:
        world.aws.ecr[(REPOSITORY, image["digest"])] = [ecr_page([basic_finding("CVE-2024-1")])]
    first = start_sync(world, "reg-ecr")

    page = world.sync_page(first)

    # The first image has no scan yet: passed over, not waited for.
    assert page.images_seen == REGISTRY_SYNC_PAGE_SIZE
    assert page.images_imported == REGISTRY_SYNC_PAGE_SIZE - 1
    assert page.count(Result.SKIPPED) == 1
    assert page.retry_in is None
    assert world.sent == [{**first, "cursor": {"offset": REGISTRY_SYNC_PAGE_SIZE}}]
    assert world.connections.kinds() == ["imported"] * (REGISTRY_SYNC_PAGE_SIZE - 1)

    last = world.sync_page(world.sent[-1])

    assert last.images_seen == 2
    assert last.next_message is None
    sync = world.connections.syncs["reg-ecr"]
    assert (sync["state"], sync["images_seen"], sync["images_imported"]) == (
        "done",
        REGISTRY_SYNC_PAGE_SIZE + 2,
        REGISTRY_SYNC_PAGE_SIZE + 1,
    )
    assert all(call[2].split("/")[1] == "team" for call in world.aws.calls)


def test_a_sync_passes_over_scans_imported_already_and_records_no_duplicates() -> None:
    world = World(ecr_connection(scans=["basic"]))
    world.aws.images = [listed(REPOSITORY, DIGEST, "1.0")]
    world.aws.ecr[(REPOSITORY, DIGEST)] = [ecr_page([basic_finding("CVE-2024-1")])]
    world.event(ecr_event())
    events_before = list(world.connections.events)

    page = world.sync_page(start_sync(world, "reg-ecr"))

    assert [step.result for step in page.steps] == [Result.DUPLICATE]
    assert page.images_imported == 0
    assert world.connections.events == events_before
    assert len(world.scans.saved) == 1


def test_a_sync_takes_inspector_findings_only_of_images_never_imported_that_have_some() -> None:
    world = World(ecr_connection(scans=["enhanced"]))
    world.aws.images = [listed(REPOSITORY, DIGEST, "1.0"), listed(REPOSITORY, OTHER_DIGEST, "2.0")]
    world.aws.inspector[(REPOSITORY, DIGEST)] = [inspector_item("CVE-2024-3")]

    page = world.sync_page(start_sync(world, "reg-ecr"))

    assert [step.result for step in page.steps] == [Result.IMPORTED, Result.SKIPPED]
    (saved,) = world.scans.saved.values()
    assert saved["scan"]["received_at"] == "2024-05-01T12:00:00.000000Z"  # as of the sync


def enhanced_page(items: list[dict[str, Any]], completed_at: str = SCAN_COMPLETED) -> dict[str, Any]:
    """One page of DescribeImageScanFindings in a registry that scans with Inspector (enhanced): ECR names
    Inspector's `inspectorScore` `score`, and lists the findings under `enhancedFindings`."""
    return {
        "imageScanStatus": {"status": "ACTIVE"},
        "imageScanFindings": {"imageScanCompletedAt": completed_at, "enhancedFindings": items},
    }


def test_a_sync_imports_an_enhanced_scan_once_as_inspectors_with_the_time_ecr_gives() -> None:
    # Given a connection taking both scans (the default) of a registry that scans with Inspector
    world = World(ecr_connection())
    world.aws.images = [listed(REPOSITORY, DIGEST, "1.0")]
    world.aws.ecr[(REPOSITORY, DIGEST)] = [enhanced_page([inspector_item("CVE-2024-3")])]
    world.aws.inspector[(REPOSITORY, DIGEST)] = [inspector_item("CVE-2024-3")]

    page = world.sync_page(start_sync(world, "reg-ecr"))

    # Then one scan, Inspector's, at the scan's own time: not a second copy under `ecr`
    assert [step.result for step in page.steps] == [Result.IMPORTED]
    (saved,) = world.scans.saved.values()
    assert saved["scan"]["format"] == SCANNER_INSPECTOR
    assert saved["scan"]["received_at"] == SCAN_COMPLETED
    assert [finding.finding_id for finding in saved["findings"]] == ["CVE-2024-3"]
    assert world.connections.seen == {("reg-ecr", SCANNER_INSPECTOR, DIGEST): SCAN_COMPLETED}
    assert [call[0] for call in world.aws.calls] == ["ecr"]

    # And the next sync, finding the same scan, writes nothing
    again = world.sync_page(start_sync(world, "reg-ecr"))
    assert [step.result for step in again.steps] == [Result.DUPLICATE]
    assert len(world.scans.saved) == 1


def test_a_sync_of_a_basic_scan_does_not_ask_inspector() -> None:
    world = World(ecr_connection())
    world.aws.images = [listed(REPOSITORY, DIGEST, "1.0")]
    world.aws.ecr[(REPOSITORY, DIGEST)] = [ecr_page([basic_finding("CVE-2024-1")])]

    page = world.sync_page(start_sync(world, "reg-ecr"))

    assert [step.result for step in page.steps] == [Result.IMPORTED]
    assert [saved["scan"]["format"] for saved in world.scans.saved.values()] == [SCANNER_ECR]
    assert [call[0] for call in world.aws.calls] == ["ecr"]


def test_a_connection_taking_basic_scans_only_passes_over_an_enhanced_scan() -> None:
    world = World(ecr_connection(scans=["basic"]))
    world.aws.images = [listed(REPOSITORY, DIGEST, "1.0")]
    world.aws.ecr[(REPOSITORY, DIGEST)] = [enhanced_page([inspector_item("CVE-2024-3")])]

    page = world.sync_page(start_sync(world, "reg-ecr"))

    (step,) = page.steps
    assert step.result is Result.SKIPPED
    assert "basic scans only" in (step.reason or "")
    assert world.scans.saved == {}


def test_a_basic_scan_event_answered_by_an_enhanced_scan_is_recorded_not_stored_as_basic() -> None:
    # The registry's scanning was switched to enhanced between ECR's event and the pull.
    world = World(ecr_connection())
    world.aws.ecr[(REPOSITORY, DIGEST)] = [enhanced_page([inspector_item("CVE-2024-3")])]

    outcome = world.event(ecr_event())

    assert [step.result for step in outcome.steps] == [Result.PULL_FAILED]
    assert world.scans.saved == {}
    assert "enhanced scanning" in world.connections.events[0]["message"]


def test_a_sync_whose_job_was_replaced_stops() -> None:
    world = World(ecr_connection())
    world.aws.images = [
        listed(REPOSITORY, f"sha256:{index:064x}") for index in range(REGISTRY_SYNC_PAGE_SIZE + 1)
    ]
    message = start_sync(world, "reg-ecr")
    world.connections.syncs["reg-ecr"]["job_id"] = "job-2"

    page = world.sync_page(message)

    assert page.next_message is None
    assert world.sent == []


def test_a_sync_that_cannot_list_is_retried_then_ended_failed() -> None:
    world = World(harbor_connection())
    message = start_sync(world, "reg-harbor")

    def not_ready(page: int, page_size: int) -> list[dict[str, Any]]:
        raise NotReady("Harbor answered 503")

    world.harbor.projects = not_ready  # type: ignore[method-assign]

    waiting = world.sync_page(message, attempt=1)
    given_up = world.sync_page(message, attempt=REGISTRY_MAX_ATTEMPTS)

    assert waiting.retry_in == 30
    assert given_up.retry_in is None
    assert [step.result for step in given_up.steps] == [Result.PULL_FAILED]
    assert world.connections.syncs["reg-harbor"]["state"] == "failed"
    assert world.connections.kinds() == ["sync_failed"]


def harbor_artifact(digest: str, *tags: str, status: str = "Success") -> dict[str, Any]:
    return {
        "digest": digest,
        "tags": [{"name": tag} for tag in tags] or None,
        "scan_overview": {
            HARBOR_REPORT_MIME: {
                "scan_status": status,
                "end_time": "2022-03-31T08:32:56Z",
                "severity": "High",
            }
        },
    }


def test_a_harbor_sync_imports_the_successfully_scanned_artifacts_of_the_matching_projects() -> None:
    world = World(harbor_connection(projects=["test"]))
    world.harbor.catalogue = {
        "library": {"redis": [harbor_artifact("sha256:" + "d" * 64, "7")]},
        "test": {
            "alpine/helm": [harbor_artifact(HELM_DIGEST, "3.8.1", "latest")],
            "empty": [],
            "failing": [harbor_artifact("sha256:" + "e" * 64, "1", status="Error")],
        },
    }
    world.harbor.reports[HELM_REPORT_PATH] = harbor_answer("CVE-2022-1")
    message = start_sync(world, "reg-harbor")

    outcomes = []
    while message is not None:
        outcomes.append(world.sync_page(message))
        message = outcomes[-1].next_message

    results = [step.result for outcome in outcomes for step in outcome.steps]
    assert results == [Result.IMPORTED, Result.SKIPPED]
    (saved,) = world.scans.saved.values()
    assert saved["image"] == ImageRef("harbor.example.com:8443", "test/alpine/helm", "3.8.1", HELM_DIGEST)
    assert world.connections.syncs["reg-harbor"]["state"] == "done"
    assert world.connections.syncs["reg-harbor"]["images_imported"] == 1


def test_the_harbor_walk_goes_through_pages_of_projects_and_repositories_in_steps() -> None:
    harbor = FakeHarborApi()
    harbor.catalogue = {
        f"p{index:03}": {"repo": [harbor_artifact(f"sha256:{index:064x}", "1")]}
        for index in range(HARBOR_LIST_PAGE + 1)
    }
    cursor: dict[str, Any] | None = None
    digests = []
    for _ in range(HARBOR_LIST_PAGE + 5):
        artifacts, cursor = harbor_artifacts_page(harbor, ["*"], cursor, page_size=10)
        digests += [artifact["digest"] for _, _, artifact in artifacts]
        if cursor is None:
            break

    assert cursor is None
    assert digests == [f"sha256:{index:064x}" for index in range(HARBOR_LIST_PAGE + 1)]


def test_a_harbor_artifact_counts_as_scanned_only_with_a_successful_scan() -> None:
    assert scanned_artifact(harbor_artifact(HELM_DIGEST, "b", "a")) == (HELM_DIGEST, "a", HARBOR_SCANNED_AT)
    assert scanned_artifact(harbor_artifact(HELM_DIGEST)) == (HELM_DIGEST, None, HARBOR_SCANNED_AT)
    assert scanned_artifact(harbor_artifact(HELM_DIGEST, status="Running")) is None
    assert scanned_artifact({"digest": HELM_DIGEST}) is None


# --- storing ------------------------------------------------------------------------------------------


def test_a_scan_found_stored_by_an_earlier_delivery_is_not_written_again() -> None:
    scans = FakeScans()
    store_scan = scan_storer(
        scans,
        policies_for=lambda image: [],
        acceptances_for=lambda image: [],
        already_stored=lambda *key: True,
    )
    image = ImageRef("harbor.example.com", "test/app", "1", DIGEST)
    report = ParsedReport("harbor", "Trivy", None, image, [], None)

    stored = store_scan(
        report, scan_id="scan-1", scanned_at=EVENT_TIME, actor=Actor(user_id="system:registry:r")
    )

    assert stored == StoredImport(stored.scan, written=False)
    assert stored.scan.received_at == "2024-05-01T11:00:00.000000Z"
    assert scans.saved == {}
