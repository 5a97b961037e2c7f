"""The ports of registry ingestion (what reads a registry, stores a scan, sends a message), the
scan storer over riskgate.services.scans, the connection's actor, and the constants the modules share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from riskgate.clock import parse_iso
from riskgate.domain.audit import Actor
from riskgate.domain.images import ImageRef
from riskgate.domain.parsers import ParsedReport
from riskgate.domain.registries import SCANNER_ECR, SCANNER_INSPECTOR
from riskgate.domain.registries.connections import EcrScan
from riskgate.services.evaluation import AcceptancesFor
from riskgate.services.policies import PoliciesFor
from riskgate.services.scans import ReceivedScan, ScanStore, store_reports

# The connection's `scans` setting each scanner is taken under.
SCAN_SETTING = {SCANNER_ECR: EcrScan.BASIC.value, SCANNER_INSPECTOR: EcrScan.ENHANCED.value}
# What a connection takes when its config says nothing (the connection's validation writes them anyway).
ALL = ["*"]
BOTH_SCANS = [EcrScan.BASIC.value, EcrScan.ENHANCED.value]
# Harbor's largest page, for the projects and repositories a sync walks.
HARBOR_LIST_PAGE = 100
# List calls one sync step may make before handing over to the next message: a Harbor of many empty or
# excluded projects is walked in steps too, each well inside the function's timeout.
HARBOR_LIST_CALLS_PER_STEP = 30
# Harbor's status of a scan whose report can be read.
HARBOR_SCAN_SUCCESS = "Success"


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
    id, `already_stored` finding what an earlier delivery wrote, every permission (see the package).

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
