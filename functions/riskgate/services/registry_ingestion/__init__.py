"""Registry ingestion: a registry said a scan finished (or a sync walks it), so Riskgate pulls the findings
and stores them as a scan, exactly as a posted report is stored (docs/architecture.md, "Registry
connections (issue 14) — design").

Plain functions over ports (no boto3, no HTTP here): the connections and their state (`Connections`,
riskgate.adapters.registries.RegistryStore), what reads a registry (`Pulls`), what stores a scan
(`StoreScan`, made by `scan_storer` over riskgate.services.scans.store_reports) and what sends a message
to the registry-work queue (`Send`). Each entry point answers an `Outcome` the handler logs and counts.

Where each part lives:

* `ports` — the ports above, `scan_storer`, `connection_actor` (who stores a scan) and the constants the
  modules share;
* `outcomes` — `Result`, `Step`, `Outcome`, and `retry_delay` (the growing delay of a message not ready);
* `steps` — the steps every entry point shares: a connection's config, whether a scan is newer than the
  one imported, storing it and recording on the connection a duplicate, a pull or scan that failed;
* `aws_events` — ECR and Inspector events (`ingest_scan_event`);
* `harbor_webhooks` — Harbor webhooks (`ingest_harbor`);
* `syncs` — the daily reconcile (`sync_all`) and the pages of a sync (`run_sync_page`), with the walk over
  Harbor's projects, repositories and artifacts (`harbor_artifacts_page`).

This package re-exports what the handler (riskgate.handlers.registry_ingester) and the tests use.

The rules every entry point shares:

- **Which connections.** An ECR or Inspector event concerns the `ecr` connections of its account and
  region whose repository globs match its repository and whose `scans` take that scanner (`ecr` ↔
  `basic`, `inspector` ↔ `enhanced`); a Harbor webhook the connection it was sent to, if its project
  matches the connection's globs. Nothing covered: ignored (the handler counts RegistryEventsIgnored).
- **Each scan once.** A marker per connection, scanner and digest keeps the registry's time of the newest
  scan imported. A scan that is not newer is a duplicate (redelivered) or out of order (a stale event
  arriving late): nothing is written. The scan's id is derived from (connection, scanner, digest, scan
  time) and its time is the registry's scan time, so a delivery racing another one, or repeating one
  that died after storing, finds the scan already stored instead of writing a second one. An enhanced
  scan read through ECR (by a sync) is Inspector's scan: stored and marked as `inspector`'s.
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

from riskgate.services.registry_ingestion.aws_events import ingest_scan_event
from riskgate.services.registry_ingestion.harbor_webhooks import ingest_harbor
from riskgate.services.registry_ingestion.outcomes import Outcome, Result, retry_delay
from riskgate.services.registry_ingestion.ports import (
    HARBOR_LIST_PAGE,
    HarborApi,
    Pulls,
    StoredImport,
    StoreScan,
    scan_storer,
)
from riskgate.services.registry_ingestion.syncs import (
    harbor_artifacts_page,
    run_sync_page,
    scanned_artifact,
    sync_all,
)

__all__ = [
    "HARBOR_LIST_PAGE",
    "HarborApi",
    "Outcome",
    "Pulls",
    "Result",
    "StoreScan",
    "StoredImport",
    "harbor_artifacts_page",
    "ingest_harbor",
    "ingest_scan_event",
    "retry_delay",
    "run_sync_page",
    "scan_storer",
    "scanned_artifact",
    "sync_all",
]
