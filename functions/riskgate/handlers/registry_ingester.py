"""The registry ingester: registry work from the registry-work queue → findings pulled from the registry and
stored as scans. Wiring only (riskgate.services.registry_ingestion).

One queue carries every kind of work (docs/architecture.md, "Registry connections (issue 14) — design"),
told apart here: an EventBridge event of ECR or Inspector as the rule delivered it (`source` `aws.ecr`
/ `aws.inspector2`), or `{"kind": "harbor" | "sync" | "sync_all", …}`. Anything else is logged and
dropped: receiving it again would not make it registry work.

Findings not readable yet: the message's visibility is set to the service's delay (30 s, 60 s … at most
15 min) and the record fails, so SQS hands it over again then, not after the queue's visibility timeout;
at the last attempt the service records the failure and the message is let go. Anything that raises
(AWS throttling, a bug) fails the record too, and after the queue's receives it dead-letters (alarmed).

Figures, once per invocation (riskgate.metrics): RegistryScansImported, RegistryEventsIgnored,
RegistryPullsFailed, and ScansIngested / FindingsStored for each scan written, as for any other scan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from riskgate import metrics
from riskgate.adapters.harbor_api import HarborClient
from riskgate.adapters.registries import RegistryStore, default_registry_store
from riskgate.adapters.registry_clients import aws_registries, postpone_message
from riskgate.adapters.registry_sources import PullRefused
from riskgate.adapters.store import default_store
from riskgate.adapters.work_queue import registry_work_queue
from riskgate.clock import system_now
from riskgate.domain.images import ImageRef
from riskgate.domain.registries.ecr import ECR_SOURCE, INSPECTOR_SOURCE
from riskgate.handlers import judging
from riskgate.handlers.consumers import queue_consumer
from riskgate.resources import (
    METRIC_FINDINGS_STORED,
    METRIC_REGISTRY_EVENTS_IGNORED,
    METRIC_REGISTRY_PULLS_FAILED,
    METRIC_REGISTRY_SCANS_IMPORTED,
    METRIC_SCANS_INGESTED,
)
from riskgate.services.registry_ingestion import (
    HarborApi,
    Outcome,
    Pulls,
    Result,
    StoreScan,
    ingest_harbor,
    ingest_scan_event,
    run_sync_page,
    scan_storer,
    sync_all,
)
from riskgate.settings import get_settings

logger = Logger()

SCAN_EVENT = "scan_event"
WORK_KINDS = frozenset({"harbor", "sync", "sync_all"})


class NotReadyYet(Exception):
    """Fails the record of a message put back for later (its visibility already set to the delay)."""


def work_kind(message: object) -> str | None:
    """Which work a message is: `scan_event` (ECR, Inspector), `harbor`, `sync`, `sync_all`; None else."""
    if not isinstance(message, dict):
        return None
    if message.get("source") in (ECR_SOURCE, INSPECTOR_SOURCE):
        return SCAN_EVENT
    kind = message.get("kind")
    return kind if isinstance(kind, str) and kind in WORK_KINDS else None


def receive_count(record: SQSRecord) -> int:
    """How many times SQS has handed this message over, this time included (1 when it does not say)."""
    try:
        return max(int(record.raw_event.get("attributes", {}).get("ApproximateReceiveCount", 1)), 1)
    except (TypeError, ValueError):
        return 1


def harbor_clients(registries: RegistryStore) -> Callable[[Mapping[str, Any]], HarborApi]:
    """A Harbor client for a connection, as its robot account (the secret read when asked for). A
    connection whose URL or robot the client refuses cannot be pulled from until it is changed."""

    def client_for(connection: Mapping[str, Any]) -> HarborApi:
        config = connection.get("config") or {}
        secret = registries.read_secret(str(connection["id"])).get("robot_secret") or ""
        try:
            return HarborClient(
                str(config.get("url") or ""),
                str(config.get("robot_name") or ""),
                secret,
                insecure_hosts=get_settings().registry_insecure_hosts,
            )
        except ValueError as error:
            raise PullRefused(f"Harbor cannot be asked: {error}") from None

    return client_for


def stored_scans() -> StoreScan:
    store = default_store()

    def already_stored(image: ImageRef, received_at: str, scan_id: str) -> bool:
        return store.scan_exists(image.image_id, received_at, scan_id)

    return scan_storer(
        store,
        policies_for=judging.policies_for(),
        acceptances_for=judging.acceptances_for(),
        already_stored=already_stored,
    )


def send_work(message: dict[str, Any]) -> None:
    queue = registry_work_queue()
    if queue is None:
        raise RuntimeError("RISKGATE_REGISTRY_WORK_QUEUE_URL is not set: registry work cannot be queued")
    queue.send(message)


def record_handler(record: SQSRecord) -> None:
    try:
        message = json.loads(record.body)
    except ValueError:
        message = None
    kind = work_kind(message)
    if kind is None:
        logger.warning("not registry work: dropped", message_id=record.message_id)
        return
    registries = default_registry_store()
    now = system_now()
    attempt = receive_count(record)
    pull = Pulls(aws_registries(), harbor_clients(registries))
    if kind == SCAN_EVENT:
        outcome = ingest_scan_event(
            message, connections=registries, pull=pull, store_scan=stored_scans(), now=now, attempt=attempt
        )
    elif kind == "harbor":
        outcome = ingest_harbor(
            message, connections=registries, pull=pull, store_scan=stored_scans(), now=now, attempt=attempt
        )
    elif kind == "sync":
        outcome = run_sync_page(
            message,
            connections=registries,
            pull=pull,
            store_scan=stored_scans(),
            send=send_work,
            now=now,
            attempt=attempt,
        )
    else:
        outcome = sync_all(connections=registries, send=send_work, now=now)
    count(outcome)
    logger.info("registry work done", kind=kind, attempt=attempt, **outcome.as_log())
    if outcome.retry_in is not None:
        put_back(record, outcome.retry_in)


def count(outcome: Outcome) -> None:
    """The outcome's figures (those that are not zero)."""
    figures = {
        METRIC_REGISTRY_SCANS_IMPORTED: outcome.count(Result.IMPORTED),
        METRIC_REGISTRY_EVENTS_IGNORED: outcome.count(Result.IGNORED),
        METRIC_REGISTRY_PULLS_FAILED: outcome.count(Result.PULL_FAILED),
        METRIC_SCANS_INGESTED: len(outcome.written),
        METRIC_FINDINGS_STORED: sum(scan.findings_written for scan in outcome.written),
    }
    for name, value in figures.items():
        if value:
            metrics.count(name, value)


def put_back(record: SQSRecord, delay_seconds: int) -> None:
    """Have SQS hand the message over again after `delay_seconds`, and fail its record."""
    queue_url = get_settings().registry_work_queue_url
    if queue_url:
        postpone_message(queue_url, record.receipt_handle, delay_seconds)
    else:  # it comes back after the queue's visibility timeout instead
        logger.warning("no registry work queue configured: the message's delay is not set")
    raise NotReadyYet(f"findings not readable yet: the message comes back in {delay_seconds} s")


handler = metrics.per_invocation(queue_consumer(record_handler, logger))
