"""The CI's wait on DynamoDB writes (issue 13, points 2 and 4), for the 1,509-finding Grype report.

1. The findings' writes alone, through the store's real code path, against a client that answers every
   BatchWriteItem after 10 ms (about a round trip to DynamoDB from Lambda in the region) and does nothing
   else: the DynamoDB wait of writing them one batch after another (as before) and
   FINDINGS_WRITE_CONCURRENCY batches at once (as now). Exact: no moto CPU in the figure.
2. The whole POST through the API handler against moto, every DynamoDB request (of every client) made 10
   ms slower: the first post, and the same report posted again (nothing changed), with the requests each
   made. moto's own CPU is in these walls (it is most of them).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

SIMULATED_LATENCY_SECONDS = 0.010
WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


class SlowBatchWrites:
    """A DynamoDB client that only takes BatchWriteItem, each after `latency` seconds."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.requests = 0

    def batch_write_item(self, **_: Any) -> dict[str, Any]:
        self.requests += 1
        if self.latency:
            time.sleep(self.latency)
        return {}


def findings_write_wait(fixture: Path) -> dict[str, object]:
    from riskgate.adapters import store as store_module
    from riskgate.domain.parsers import parse_reports
    from riskgate.resources import FINDINGS_WRITE_CONCURRENCY

    (report,) = parse_reports(json.loads(fixture.read_bytes()))
    results: dict[str, object] = {"findings": len(report.findings)}

    def best_wall(latency: float, concurrency: int) -> tuple[float, int]:
        """Best of three (the CPU of building the items is in each, the same for both)."""
        store_module.FINDINGS_WRITE_CONCURRENCY = concurrency  # type: ignore[attr-defined]
        walls, client = [], SlowBatchWrites(latency)
        try:
            for _ in range(3):
                client = SlowBatchWrites(latency)
                started = time.perf_counter()
                store_module.Store("bench", client=client)._write_findings("s", "i", report.findings)
                walls.append(time.perf_counter() - started)
        finally:
            store_module.FINDINGS_WRITE_CONCURRENCY = FINDINGS_WRITE_CONCURRENCY  # type: ignore[attr-defined]
        return min(walls), client.requests

    for label, concurrency in (
        ("sequential", 1),
        (f"{FINDINGS_WRITE_CONCURRENCY}_at_once", FINDINGS_WRITE_CONCURRENCY),
    ):
        slow, requests = best_wall(SIMULATED_LATENCY_SECONDS, concurrency)
        cpu_only, _ = best_wall(0, concurrency)
        results[f"findings_write_requests_{label}"] = requests
        results[f"findings_write_wall_{label}_ms"] = round(slow * 1000)
        # What the simulated round trips added: the DynamoDB wait.
        results[f"findings_dynamodb_wait_{label}_ms"] = round((slow - cpu_only) * 1000)
    return results


def posts(fixture: Path, env: dict[str, str]) -> dict[str, object]:
    os.environ.update(env)
    import boto3
    from moto import mock_aws

    from riskgate.adapters.store import default_store
    from riskgate.handlers.api import handler
    from riskgate.resources import TABLE
    from tests.support.events import FakeLambdaContext, api_event

    body = fixture.read_bytes()
    results: dict[str, object] = {}
    with mock_aws():
        # Clients inherit the default session's event handlers: every DynamoDB request of every client.
        boto3.setup_default_session()
        requests: Counter[str] = Counter()

        def slow(model: Any, **_: Any) -> None:
            requests[model.name] += 1
            time.sleep(SIMULATED_LATENCY_SECONDS)

        boto3.client("dynamodb").create_table(**TABLE.create_table_kwargs(env["RISKGATE_TABLE_NAME"]))
        default_store.cache_clear()
        boto3.DEFAULT_SESSION.events.register("before-call.dynamodb.*", slow)
        for label, key in (("first_post", "first"), ("unchanged_rescan", "again")):
            requests.clear()
            event = api_event(
                "POST",
                "/v1/scans",
                body=body,
                query={"image": "bench.example.com/writes/app:1"},
                headers={"Idempotency-Key": key},
            )
            started = time.perf_counter()
            response = handler(event, FakeLambdaContext())
            wall = time.perf_counter() - started
            assert response["statusCode"] == 201, response["body"][:300]
            results[f"{label}_wall_ms"] = round(wall * 1000)
            results[f"{label}_write_requests"] = sum(requests[name] for name in WRITE_OPERATIONS)
            results[f"{label}_requests"] = dict(sorted(requests.items()))
    return results


def writes(fixture: Path, env: dict[str, str]) -> dict[str, object]:
    return {
        "simulated_latency_ms_per_request": SIMULATED_LATENCY_SECONDS * 1000,
        **findings_write_wait(fixture),
        **posts(fixture, env),
    }
