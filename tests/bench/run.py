"""`make bench`: ingest cost of the largest fixture, a policy change re-evaluating 10,000 images, the expiry
check among 10,000 active acceptances, and each handler's cold start.

Prints, for `grype/dd_python-3.6_grype-0.7.json` (1,509 matches), the wall and CPU time of
`POST /v1/scans` through the real API handler against moto, and the DynamoDB requests it made; then the
re-evaluation fan-out after a policy change (planner and re-evaluator handlers in-process, the work queue
in moto's SQS); then the expiry checker's reads with 10,000 active risk acceptances of which 10 have
ended; then, for each handler in a fresh interpreter, its cold import time and peak memory.
Figures are recorded in docs/performance.md. Not part of `make test`: timings belong here, not in
assertions.
"""

from __future__ import annotations

import copy
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import types
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO.parent / "shared" / "fixtures" / "scanners" / "grype" / "dd_python-3.6_grype-0.7.json"
HANDLERS = {
    "api": "riskgate.handlers.api",
    "authorizer": "riskgate.handlers.authorizer",
    "evaluator": "riskgate.handlers.evaluator",
    "audit_forwarder": "riskgate.handlers.audit_forwarder",
    "reevaluation_planner": "riskgate.handlers.reevaluation_planner",
    "reevaluator": "riskgate.handlers.reevaluator",
    "expiry_checker": "riskgate.handlers.expiry_checker",
    "dispatcher": "riskgate.handlers.dispatcher",
    "notifier": "riskgate.handlers.notifier",
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
# The re-evaluation bench: images in the changed policy's scope, and others it must skip.
REEVALUATION_IN_SCOPE = 10_000
REEVALUATION_OUT_OF_SCOPE = 1_000
# The expiry bench: active acceptances, and how many of them have ended when the checker runs.
ACCEPTANCES_ACTIVE = 10_000
ACCEPTANCES_ENDED = 10


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


# The API handler side by side with the floor any Powertools + boto3 + pydantic REST handler pays (issue
# 13): fresh interpreters, run in turns so that a busy moment hits them all alike.
COLD_SIDE_BY_SIDE_RUNS = 9
COLD_PROBES = {
    "floor: import event_handler, boto3, pydantic": (
        "import aws_lambda_powertools.event_handler, boto3, pydantic"
    ),
    "floor: a minimal Powertools REST handler": (
        "import boto3\n"
        "from aws_lambda_powertools import Logger\n"
        "from aws_lambda_powertools.event_handler import APIGatewayRestResolver\n"
        "from pydantic import BaseModel\n"
        "logger = Logger()\n"
        "app = APIGatewayRestResolver(enable_validation=True)\n"
        "class Health(BaseModel):\n"
        "    status: str\n"
        "@app.get('/health')\n"
        "def health() -> Health:\n"
        "    return Health(status='ok')\n"
    ),
    "api: import riskgate.handlers.api": "import riskgate.handlers.api",
    "api: + the modules GET /v1/verdict loads": (
        "import riskgate.handlers.api\n"
        "from riskgate.handlers.api.app import app, modules_for\n"
        "app.include_modules(modules_for('/v1/verdict'))\n"
    ),
    "api: + every route module (as before issue 13)": (
        "import riskgate.handlers.api\n"
        "from riskgate.handlers.api.app import all_route_modules, app\n"
        "app.include_modules(all_route_modules())\n"
    ),
}


def cold_side_by_side() -> dict[str, dict[str, float]]:
    """Each of COLD_PROBES in a fresh interpreter, in turns; best and median milliseconds."""
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO / "functions")}
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(COLD_SIDE_BY_SIDE_RUNS):
        for name, code in COLD_PROBES.items():
            timed = f"start = time.perf_counter()\n{code}\nprint((time.perf_counter() - start) * 1000)\n"
            probe = "import time\n" + timed
            out = subprocess.run(
                [sys.executable, "-X", "frozen_modules=on", "-c", probe],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            times[name].append(float(out[-1]))
    return {name: {"best": min(runs), "median": statistics.median(runs)} for name, runs in times.items()}


def ingest() -> dict[str, object]:
    os.environ.update(ENV)
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


def moto_without_whole_table_costs() -> None:
    """Two costs of moto's DynamoDB that grow with the whole table and that DynamoDB does not have; with
    22,000 items they would turn this bench into an hour of emulator work:

    - every TransactWriteItems item deep-copies the whole table (to roll back on failure): the bench
      snapshots moto's item index instead, items shared. A rollback after an in-place update would then be
      wrong, but no transaction of this bench fails;
    - a Query of the table (not an index) sorts every item of the table to pick one partition: the bench
      gives that Query the partition's items only, which is what it keeps anyway.
    """
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models.table import Table

    if getattr(Table, "riskgate_bench_patched", False):
        return
    Table.riskgate_bench_patched = True  # type: ignore[attr-defined]
    whole_table_query = Table.query

    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or not self.range_key_attr or hash_key is None:
            return whole_table_query(self, hash_key, *args, **kwargs)
        partition = list(self.items[hash_key].values()) if hash_key in self.items else []
        self.all_items = lambda: sorted(partition, key=lambda item: (item.hash_key, item.range_key))
        try:
            return whole_table_query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = partition_query  # type: ignore[method-assign]

    def snapshot(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            copied = copy.copy(value)
            copied.items = defaultdict(
                dict, {key: dict(row) if isinstance(row, dict) else row for key, row in value.items.items()}
            )
            return copied
        return copy.deepcopy(value, memo)

    dynamodb_models.copy = types.SimpleNamespace(deepcopy=snapshot, copy=copy.copy)  # type: ignore[attr-defined]


def reevaluation() -> dict[str, object]:
    """A policy created in a scope of 10,000 images: plan, then every work message, through the real
    handlers; the images judged again, the progress finished."""
    os.environ.update(ENV)
    import boto3
    from moto import mock_aws

    from riskgate.adapters.policies import PolicyStore
    from riskgate.adapters.reevaluation import default_queue, default_table
    from riskgate.adapters.store import default_store
    from riskgate.domain.audit import SYSTEM_ACTOR
    from riskgate.handlers.reevaluation_planner import handler as planner
    from riskgate.handlers.reevaluator import handler as reevaluator
    from riskgate.resources import (
        REEVALUATION_CHUNK_SIZE,
        REEVALUATION_PLANNER_FUNCTION,
        REEVALUATION_VISIBILITY_TIMEOUT_SECONDS,
        REEVALUATOR_BATCH_SIZE,
        REEVALUATOR_FUNCTION,
        TABLE,
    )
    from riskgate.settings import get_settings
    from riskgate_local.lambdas import LocalFunction
    from riskgate_local.queues import QueuePoller
    from tests.support.events import FakeLambdaContext
    from tests.support.reevaluation import policy_stream_record, put_scope, raw_policy, seed_images

    moto_without_whole_table_costs()
    table = "riskgate-bench-reevaluation"
    with mock_aws():
        boto3.setup_default_session()
        requests: Counter[str] = Counter()
        boto3.DEFAULT_SESSION.events.register(
            "before-call.*.*",
            lambda model, **_: requests.update([f"{model.service_model.service_name}:{model.name}"]),
        )
        client = boto3.client("dynamodb")
        client.create_table(**TABLE.create_table_kwargs(table))
        queue_url = boto3.client("sqs").create_queue(
            QueueName="riskgate-bench-reevaluation",
            Attributes={"VisibilityTimeout": str(REEVALUATION_VISIBILITY_TIMEOUT_SECONDS)},
        )["QueueUrl"]
        os.environ["RISKGATE_TABLE_NAME"] = table
        os.environ["RISKGATE_REEVALUATION_QUEUE_URL"] = queue_url
        for cached in (get_settings, default_store, default_table, default_queue):
            cached.cache_clear()

        seeding = time.perf_counter()
        put_scope(client, table, "team-a", [{"repository": "acme/a-*"}])
        in_scope = seed_images(client, table, repository="acme/a-shop", count=REEVALUATION_IN_SCOPE)
        seed_images(client, table, repository="other/tool", count=REEVALUATION_OUT_OF_SCOPE)
        seeding = time.perf_counter() - seeding
        policy = PolicyStore(table, client=client).create_policy(
            {
                "name": "no highs",
                "description": "bench",
                "scope": "team-a",
                "enabled": True,
                "mode": "enforce",
                "conditions": {"severity_at_least": "high", "max_count": 0},
                "actions": ["block_ci"],
            },
            SYSTEM_ACTOR,
        )
        record = policy_stream_record("INSERT", None, raw_policy(client, table, policy["id"]))
        requests.clear()

        total = time.perf_counter()
        planner_wall = time.perf_counter()
        assert planner({"Records": [record]}, FakeLambdaContext()) == {"batchItemFailures": []}
        planner_wall = time.perf_counter() - planner_wall
        planner_requests = Counter(requests)
        requests.clear()

        invocations: list[float] = []
        per_message: list[float] = []

        def timed(event: dict[str, Any], context: Any) -> Any:
            started = time.perf_counter()
            response = reevaluator(event, context)
            elapsed = time.perf_counter() - started
            invocations.append(elapsed)
            per_message.extend([elapsed / len(event["Records"])] * len(event["Records"]))
            return response

        function = LocalFunction("reevaluator", timed, timeout_seconds=REEVALUATOR_FUNCTION.timeout_seconds)
        messages = QueuePoller(queue_url, function, batch_size=REEVALUATOR_BATCH_SIZE).drain()
        total = time.perf_counter() - total
        worker_requests = Counter(requests)

        progress = raw_policy(client, table, policy["id"])["reevaluation"]["M"]  # type: ignore[index]
        images = default_store().get_images(set(in_scope[:: max(1, len(in_scope) // 200)]))
        judged = {image["status"] for image in images.values()}

    def dynamodb_only(counts: Counter[str]) -> dict[str, int]:
        return {
            name.split(":", 1)[1]: n for name, n in sorted(counts.items()) if name.startswith("dynamodb:")
        }

    def sqs_only(counts: Counter[str]) -> dict[str, int]:
        return {name.split(":", 1)[1]: n for name, n in sorted(counts.items()) if name.startswith("sqs:")}

    return {
        "images_in_scope": REEVALUATION_IN_SCOPE,
        "images_out_of_scope": REEVALUATION_OUT_OF_SCOPE,
        "seeding_wall_s (BatchWriteItem)": round(seeding, 1),
        "chunk_size": REEVALUATION_CHUNK_SIZE,
        "chunks (SQS messages)": messages,
        "progress": {
            "total": progress["total"].get("N"),
            "done": progress["done"].get("N"),
            "finished": "S" in progress["finished_at"],
        },
        "sampled_images_status": sorted(judged),
        "planner_wall_ms": round(planner_wall * 1000, 1),
        "planner_timeout_s": REEVALUATION_PLANNER_FUNCTION.timeout_seconds,
        "planner_dynamodb_requests": dynamodb_only(planner_requests),
        "planner_sqs_requests": sqs_only(planner_requests),
        "reevaluator_invocations": len(invocations),
        "reevaluator_batch_size": REEVALUATOR_BATCH_SIZE,
        "reevaluator_invocation_wall_ms_max": round(max(invocations) * 1000, 1),
        "reevaluator_invocation_wall_ms_median": round(statistics.median(invocations) * 1000, 1),
        "per_message_wall_ms_max": round(max(per_message) * 1000, 1),
        "per_message_wall_ms_median": round(statistics.median(per_message) * 1000, 1),
        "reevaluator_timeout_s": REEVALUATOR_FUNCTION.timeout_seconds,
        "reevaluator_dynamodb_requests": dynamodb_only(worker_requests),
        "reevaluator_sqs_requests (the local poller's)": sqs_only(worker_requests),
        "total_wall_s (one re-evaluator at a time)": round(total, 1),
    }


def expiry() -> dict[str, object]:
    """10,000 active acceptances, 10 of which end at T: the checker at T - 12 h (their reminders are due)
    and at T + 1 min, through the real handler; the items each run reads."""
    os.environ.update(ENV)
    import boto3
    from moto import mock_aws

    from riskgate.adapters.acceptances import AcceptanceStore, acceptance_item, reminder_item
    from riskgate.adapters.dynamo import to_item
    from riskgate.adapters.store import default_store
    from riskgate.clock import iso, system_now
    from riskgate.domain.acceptances import AcceptanceScope, AcceptedFinding, ScopeKind, reminder_times
    from riskgate.domain.audit import SYSTEM_ACTOR
    from riskgate.domain.findings import FindingKind
    from riskgate.handlers.expiry_checker import handler as expiry_checker
    from riskgate.resources import EXPIRY_CHECKER_FUNCTION, TABLE
    from riskgate.settings import get_settings
    from tests.support.events import FakeLambdaContext

    moto_without_whole_table_costs()
    table = "riskgate-bench-expiry"
    now = system_now()
    ends = now + timedelta(days=3)
    with mock_aws():
        boto3.setup_default_session()
        read: Counter[str] = Counter()

        def count_items(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
            if model.name == "Query":
                read["Query items"] += int(parsed.get("Count", 0))
                read["Query requests"] += 1
            elif model.name == "GetItem":
                read["GetItem items"] += 1 if parsed.get("Item") else 0
            elif model.name in ("BatchGetItem", "Scan"):
                read[f"{model.name} requests"] += 1

        boto3.DEFAULT_SESSION.events.register("after-call.dynamodb.*", count_items)
        client = boto3.client("dynamodb")
        client.create_table(**TABLE.create_table_kwargs(table))
        os.environ["RISKGATE_TABLE_NAME"] = table
        for cached in (get_settings, default_store):
            cached.cache_clear()
        store = AcceptanceStore(table, client=client)

        seeding = time.perf_counter()
        days = get_settings().expiry_reminder_days
        seeded: list[dict[str, Any]] = []
        for number in range(ACCEPTANCES_ACTIVE):
            ending = ends if number < ACCEPTANCES_ENDED else now + timedelta(days=30 + number % 60)
            scope = AcceptanceScope(
                ScopeKind.REPOSITORY, registry="docker.io", repository=f"acme/app-{number}"
            )
            finding = AcceptedFinding(FindingKind.VULNERABILITY, f"CVE-2024-{number:05d}")
            fields = {
                "id": f"acc-{number:016x}",
                "target": scope.target,
                "finding": finding.as_dict(),
                "scope": scope.as_dict(),
                "registry": "docker.io",
                "repository": f"acme/app-{number}",
                "period": "custom",
                "reason": "bench",
                "status": "active",
                "accepted_at": iso(now - timedelta(days=1)),
                "accepted_by": "usr-bench",
                "expires_at": iso(ending),
                "version": 1,
            }
            reminders = reminder_times(ending, days, now)
            if number < ACCEPTANCES_ENDED:
                # The ones that end: through the real write path (transaction with guard, audit).
                store.create_acceptance(
                    fields, guard=f"bench-{number}", previous=None, reminders=reminders, actor=SYSTEM_ACTOR
                )
                continue
            # The other 9,990 in the same item shapes, batched: moto's transactions grow with the table
            # (memory too), which DynamoDB's do not.
            seeded.append(acceptance_item(fields))
            seeded += [reminder_item(fields, days_before, when) for days_before, when in reminders]
        for start in range(0, len(seeded), 25):
            client.batch_write_item(
                RequestItems={
                    table: [{"PutRequest": {"Item": to_item(item)}} for item in seeded[start : start + 25]]
                }
            )
        seeding = time.perf_counter() - seeding

        runs = {}
        for label, moment in (
            ("T - 12 h", ends - timedelta(hours=12)),
            ("T + 1 min", ends + timedelta(minutes=1)),
        ):
            read.clear()
            wall = time.perf_counter()
            result = expiry_checker({"time": iso(moment)}, FakeLambdaContext())
            runs[label] = {
                "result": {k: v for k, v in result.items() if k != "as_of"},
                "reads": dict(read),
                "wall_ms": round((time.perf_counter() - wall) * 1000, 1),
            }
    return {
        "active_acceptances": ACCEPTANCES_ACTIVE,
        "ended_at_T": ACCEPTANCES_ENDED,
        "reminder_days": list(days),
        "seeding_wall_s": round(seeding, 1),
        "checker_timeout_s": EXPIRY_CHECKER_FUNCTION.timeout_seconds,
        **{f"run at {label}": figures for label, figures in runs.items()},
    }


# The upload bench: a synthetic Trivy report of this size (before compression), built from the real
# fixtures' vulnerabilities and packages, through the upload path.
UPLOAD_REPORT_BYTES = 200 * 1024 * 1024
UPLOAD_SOURCES = (
    "wild_python-test-baseline-full_bom-crlf.json",
    "wild_vulpy.json",
    "wild_python-test-baseline-critical-high.json",
)
# Distinct vulnerabilities in it; packages (the `--list-all-pkgs` inventory) fill the rest.
UPLOAD_VULNERABILITIES = 40_000


def synthetic_trivy_report(path: Path, image: str) -> dict[str, int]:
    """A Trivy report of about UPLOAD_REPORT_BYTES: the real fixtures' vulnerabilities (descriptions,
    references, CVSS) under distinct ids and packages, and their packages repeated under distinct names,
    written piece by piece so that the bench itself stays small."""
    folder = FIXTURE.parents[1] / "trivy"
    vulnerabilities: list[dict[str, Any]] = []
    packages: list[dict[str, Any]] = []
    for name in UPLOAD_SOURCES:
        document = json.loads((folder / name).read_text(encoding="utf-8-sig"))
        for result in document["Results"]:
            vulnerabilities += result.get("Vulnerabilities") or []
            packages += result.get("Packages") or []
    head = {
        "SchemaVersion": 2,
        "ArtifactName": image,
        "ArtifactType": "container_image",
        "Metadata": {"OS": {"Family": "debian", "Name": "12"}},
    }
    written = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(head)[:-1] + ', "Results": [{"Target": "' + image + ' (debian 12)", ')
        out.write('"Class": "lang-pkgs", "Type": "pip", "Vulnerabilities": [')
        for number in range(UPLOAD_VULNERABILITIES):
            entry = dict(vulnerabilities[number % len(vulnerabilities)])
            entry["VulnerabilityID"] = f"CVE-2090-{number:06d}"
            entry["PkgName"] = f"{entry.get('PkgName', 'package')}-{number % 5000}"
            out.write(("," if number else "") + json.dumps(entry))
        out.write('], "Packages": [')
        number = 0
        while out.tell() < UPLOAD_REPORT_BYTES - 10_000:
            package = dict(packages[number % len(packages)])
            package["Name"] = f"{package.get('Name', 'package')}-{number}"
            package["ID"] = f"{package['Name']}@{package.get('Version', '0')}"
            out.write(("," if number else "") + json.dumps(package))
            number += 1
        out.write("]}]}")
        written = out.tell()
    return {"bytes": written, "vulnerabilities": UPLOAD_VULNERABILITIES, "packages": number}


INGEST_PROBE = """
import json, os, resource, sys, time
from collections import Counter
import boto3
boto3.setup_default_session()
requests = Counter()
boto3.DEFAULT_SESSION.events.register(
    "before-call.dynamodb.*", lambda model, **_: requests.update([model.name])
)
from riskgate.handlers import upload_ingester
from tests.support.events import FakeLambdaContext
event = json.loads(sys.argv[1])
start = time.perf_counter()
cpu = time.process_time()
result = upload_ingester.handler(event, FakeLambdaContext())
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
print(json.dumps({
    "result": result,
    "wall_s": round(time.perf_counter() - start, 1),
    "cpu_s": round(time.process_time() - cpu, 1),
    "peak_rss_mb": round(int(hwm) / 1024),
    "dynamodb_requests": dict(requests),
}))
"""


def upload() -> dict[str, object]:
    """The synthetic 200 MB report, gzip-compressed, through POST /v1/scans/uploads, S3 and the upload
    ingester. moto runs as a server here, so that the ingester, in a process of its own, is measured
    alone: its peak memory is what the function's memory setting must hold."""
    import gzip
    import logging
    import shutil
    import tempfile

    from moto.server import ThreadedMotoServer

    # The server's access log would print a line per DynamoDB request (1,600 of them).
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = "riskgate-bench-uploads"
    env = {
        **ENV,
        "AWS_ENDPOINT_URL": endpoint,
        "RISKGATE_UPLOADS_BUCKET": bucket,
        "PYTHONPATH": os.pathsep.join([str(REPO / "functions"), str(REPO)]),
    }
    os.environ.update(env)
    import boto3

    from riskgate.handlers.api import handler
    from riskgate.resources import TABLE
    from tests.support.events import FakeLambdaContext, api_event

    try:
        boto3.client("dynamodb").create_table(**TABLE.create_table_kwargs(ENV["RISKGATE_TABLE_NAME"]))
        boto3.client("s3").create_bucket(Bucket=bucket)
        with tempfile.TemporaryDirectory() as work:
            report = Path(work) / "report.json"
            built = synthetic_trivy_report(report, "registry.example.com/bench/large:1")
            compressed = Path(work) / "report.json.gz"
            with report.open("rb") as source, gzip.open(compressed, "wb", compresslevel=6) as target:
                shutil.copyfileobj(source, target, 1024 * 1024)
            response = handler(api_event("POST", "/v1/scans/uploads"), FakeLambdaContext())
            assert response["statusCode"] == 201, response["body"]
            created = json.loads(response["body"])
            key = created["fields"]["key"]
            boto3.client("s3").upload_file(str(compressed), bucket, key)
            detail = {"bucket": {"name": bucket}, "object": {"key": key}}
            body = json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": detail})
            event = {
                "Records": [{"messageId": "bench", "receiptHandle": "r", "body": body, "attributes": {}}]
            }
            probe = subprocess.run(
                [sys.executable, "-c", INGEST_PROBE, json.dumps(event)],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            )
            measured = json.loads(probe.stdout.strip().splitlines()[-1])
            status = handler(
                api_event("GET", f"/v1/scans/uploads/{created['upload_id']}"), FakeLambdaContext()
            )
            upload_state = json.loads(status["body"])
            return {
                "report_bytes": built["bytes"],
                "report_gzip_bytes": compressed.stat().st_size,
                "vulnerabilities": built["vulnerabilities"],
                "packages": built["packages"],
                "upload_status": upload_state["status"],
                "findings_stored": sum(upload_state["result"]["counts"]["vulnerabilities"].values()),
                "ingester_wall_s": measured["wall_s"],
                "ingester_cpu_s": measured["cpu_s"],
                "ingester_peak_rss_mb": measured["peak_rss_mb"],
                "ingester_dynamodb_requests": measured["dynamodb_requests"],
            }
    finally:
        server.stop()


PARTS = ("ingest", "writes", "reevaluation", "expiry", "cold", "upload", "verdict")


def main() -> int:
    """`run.py [part ...]`: the parts named (ingest, writes, reevaluation, expiry, cold, upload, verdict),
    all by default."""
    parts = sys.argv[1:] or list(PARTS)
    sys.path[:0] = [str(REPO / "functions"), str(REPO)]
    unknown = set(parts) - set(PARTS)
    if unknown:
        print(f"bench: unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    if not FIXTURE.is_file():
        print(f"bench: {FIXTURE} not found (clone with ../shared beside the repository)", file=sys.stderr)
        return 2
    if "ingest" in parts:
        print("== ingest (API handler against moto, in-process)")
        for key, value in ingest().items():
            print(f"{key:>30}: {value}")
    if "writes" in parts:
        from tests.bench.writes import writes

        print("\n== the DynamoDB wait of the findings' writes, 10 ms per request (store; API on moto)")
        for key, value in writes(FIXTURE, ENV).items():
            print(f"{key:>46}: {value}")
    if "reevaluation" in parts:
        print(
            f"\n== re-evaluation of {REEVALUATION_IN_SCOPE:,} images after a policy change"
            " (handlers in-process)"
        )
        for key, value in reevaluation().items():
            print(f"{key:>46}: {value}")
    if "expiry" in parts:
        print(
            f"\n== expiry check among {ACCEPTANCES_ACTIVE:,} active acceptances, {ACCEPTANCES_ENDED} ending"
            " (handler in-process)"
        )
        for key, value in expiry().items():
            print(f"{key:>46}: {value}")
    if "upload" in parts:
        print(
            f"\n== a {UPLOAD_REPORT_BYTES // 1024 // 1024} MB Trivy report through the upload path"
            " (moto server)"
        )
        for key, value in upload().items():
            print(f"{key:>30}: {value}")
    if "verdict" in parts:
        from tests.bench.verdict import verdict_requests

        print("\n== DynamoDB requests of a scoped CI token's GET /v1/verdict (API handler against moto)")
        for key, value in verdict_requests(ENV).items():
            print(f"{key:>46}: {value}")
    if "cold" in parts:
        print(
            "\n== the API handler's cold import and the floor, side by side (fresh interpreters in turns,"
            f" best and median of {COLD_SIDE_BY_SIDE_RUNS} runs)"
        )
        side = cold_side_by_side()
        floor = side[next(iter(COLD_PROBES))]
        for name, figures in side.items():
            best, median = figures["best"] / floor["best"], figures["median"] / floor["median"]
            print(
                f"{name:>46}: {figures['best']:.0f} ms best, {figures['median']:.0f} ms median"
                f" ({best:.2f}x / {median:.2f}x the floor)"
            )
        print(
            "\n== cold import per handler (fresh interpreter, best and median of", COLD_IMPORT_RUNS, "runs)"
        )
        for name, module in HANDLERS.items():
            cold = cold_import(module)
            print(
                f"{name:>30}: import {cold['import_ms_best']:.0f} ms best,"
                f" {cold['import_ms_median']:.0f} ms median; peak RSS {cold['peak_rss_mb']:.0f} MB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
