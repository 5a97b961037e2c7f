"""`make bench`: ingest cost of the largest fixture and each handler's cold start.

Prints, for `grype/dd_python-3.6_grype-0.7.json` (1,509 matches), the wall and CPU time of
`POST /v1/scans` through the real API handler against moto, and the DynamoDB requests it made; then,
for each handler in a fresh interpreter, its cold import time and peak memory. Figures are recorded in
docs/performance.md. Not part of `make test`: timings belong here, not in assertions.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO.parent / "shared" / "fixtures" / "scanners" / "grype" / "dd_python-3.6_grype-0.7.json"
HANDLERS = {
    "api": "riskgate.handlers.api",
    "authorizer": "riskgate.handlers.authorizer",
    "evaluator": "riskgate.handlers.evaluator",
    "audit_forwarder": "riskgate.handlers.audit_forwarder",
}
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "RISKGATE_TABLE_NAME": "riskgate-bench",
    "POWERTOOLS_SERVICE_NAME": "riskgate",
    "POWERTOOLS_METRICS_NAMESPACE": "Riskgate",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
COLD_IMPORT_RUNS = 5


def cold_import(module: str) -> dict[str, float]:
    """Import `module` in a fresh interpreter, as a Lambda cold start does; best of a few runs."""
    probe = (
        "import time, importlib\n"
        "start = time.perf_counter()\n"
        f"importlib.import_module({module!r})\n"
        "elapsed = time.perf_counter() - start\n"
        # VmHWM is this process's own peak; ru_maxrss would include the parent's across fork/exec.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(elapsed * 1000, int(hwm) / 1024)\n"
    )
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO / "functions")}
    runs = []
    for _ in range(COLD_IMPORT_RUNS):
        out = subprocess.run(
            [sys.executable, "-X", "frozen_modules=on", "-c", probe],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        runs.append((float(out[0]), float(out[1])))
    return {
        "import_ms_best": min(r[0] for r in runs),
        "import_ms_median": sorted(r[0] for r in runs)[len(runs) // 2],
        "peak_rss_mb": max(r[1] for r in runs),
    }


def ingest() -> dict[str, object]:
    os.environ.update(ENV)
    sys.path.insert(0, str(REPO / "functions"))
    sys.path.insert(0, str(REPO))
    import boto3
    from moto import mock_aws

    from riskgate.adapters.store import default_store
    from riskgate.handlers.api import handler
    from riskgate.handlers.evaluator import handler as evaluator
    from riskgate.resources import TABLE
    from tests.support.events import FakeLambdaContext, api_event

    body = FIXTURE.read_bytes()
    with mock_aws():
        # Clients inherit the default session's event handlers: count every DynamoDB request made.
        boto3.setup_default_session()
        requests: Counter[str] = Counter()
        boto3.DEFAULT_SESSION.events.register(
            "before-call.dynamodb.*", lambda model, **_: requests.update([model.name])
        )
        client = boto3.client("dynamodb")
        client.create_table(**TABLE.create_table_kwargs(ENV["RISKGATE_TABLE_NAME"]))
        requests.clear()
        default_store.cache_clear()

        wall = time.perf_counter()
        cpu = time.process_time()
        # With an Idempotency-Key, as a retrying CI client sends it: the costlier path (two more writes).
        event = api_event("POST", "/v1/scans", body=body, headers={"Idempotency-Key": "bench-1"})
        response = handler(event, FakeLambdaContext())
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        assert response["statusCode"] == 201, response["body"][:500]
        result = json.loads(response["body"])
        findings = result["counts"]["vulnerabilities"]
        finding_total = sum(findings.values())
        writes = sum(
            n for name, n in requests.items() if "Write" in name or name in ("PutItem", "UpdateItem")
        )

        requests_before_eval = Counter(requests)
        item = client.get_item(
            TableName=ENV["RISKGATE_TABLE_NAME"],
            Key={"pk": {"S": f"IMAGE#{result['image_id']}"}, "sk": {"S": "META"}},
        )["Item"]
        record = {
            "eventID": "1",
            "eventName": "MODIFY",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"pk": item["pk"], "sk": item["sk"]},
                "NewImage": item,
                "SequenceNumber": "1",
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/riskgate-bench/stream/x",
        }
        eval_wall = time.perf_counter()
        evaluator({"Records": [record]}, FakeLambdaContext())
        eval_wall = time.perf_counter() - eval_wall
        eval_requests = requests - requests_before_eval
    return {
        "report": str(FIXTURE.relative_to(REPO.parent)),
        "report_bytes": len(body),
        "findings_stored": finding_total,
        "ingest_wall_ms": round(wall * 1000, 1),
        "ingest_cpu_ms": round(cpu * 1000, 1),
        "dynamodb_requests": dict(requests_before_eval),
        "dynamodb_write_requests": writes,
        "write_budget": math.ceil(finding_total / 25) + 5,
        "evaluator_wall_ms": round(eval_wall * 1000, 1),
        "evaluator_dynamodb_requests": dict(eval_requests),
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> int:
    if not FIXTURE.is_file():
        print(f"bench: {FIXTURE} not found (clone with ../shared beside the repository)", file=sys.stderr)
        return 2
    print("== ingest (API handler against moto, in-process)")
    figures = ingest()
    for key, value in figures.items():
        print(f"{key:>30}: {value}")
    print("\n== cold import per handler (fresh interpreter, best and median of", COLD_IMPORT_RUNS, "runs)")
    for name, module in HANDLERS.items():
        cold = cold_import(module)
        print(
            f"{name:>30}: import {cold['import_ms_best']:.0f} ms best,"
            f" {cold['import_ms_median']:.0f} ms median; peak RSS {cold['peak_rss_mb']:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
