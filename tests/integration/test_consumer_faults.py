"""DynamoDB faults injected into the stream and queue consumers and the scheduled job (issue 10, "faults
lose nothing").

For each consumer — the stream evaluator, the re-evaluation planner and re-evaluator, the expiry checker,
the notification dispatcher and the notifier — and each fault of tests/integration/test_faults.py, every
DynamoDB call of the consumer's run that the matrix names (`Point`: the n-th call of an operation, one at
a time) fails once, at the boto3 client layer (tests/support/faults.py). Then:

1. The failure is reported, not swallowed: a batch consumer lists exactly the record that met the fault in
   `batchItemFailures` (the other records of the batch go through), the scheduled checker raises (so
   EventBridge Scheduler retries it). Or the consumer retried the very call itself and went on (a
   transaction lost to a concurrent one is sent again where the adapter says so).
2. Nothing is half-written: every item of the table is as it was before the delivery or as a run that met
   no fault leaves it (`in_flight` names the few bookkeeping items designed to be in between: a
   re-evaluation's progress, a notification being sent).
3. The same delivery again — the whole batch, as a redelivered stream batch or SQS message brings it, at
   the time it would come back — succeeds, and the end state is that of a run that never faulted: the same
   items (times and random ids aside) and, for notifications, each delivered exactly once.

Each consumer's world is built once through the real API, stores and handlers, saved from moto's table,
and written back before each case, so that every case starts from the same state and the clean run (the
reference) is computed once per consumer.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from unittest import mock

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto.dynamodb.models import dynamodb_backends

from riskgate.adapters import notifications as notification_adapter
from riskgate.adapters.dynamo import from_item, to_item
from riskgate.adapters.events import event_item
from riskgate.adapters.notifications import NotificationStore
from riskgate.adapters.policies import PolicyStore
from riskgate.adapters.reevaluation import ReevaluationTable, default_queue, default_table
from riskgate.clock import iso, parse_iso
from riskgate.domain.audit import SYSTEM_ACTOR
from riskgate.handlers import (
    dispatcher,
    evaluator,
    expiry_checker,
    notifier,
    reevaluation_planner,
    reevaluator,
)
from riskgate.resources import (
    NOTIFY_VISIBILITY_TIMEOUT_SECONDS,
    REEVALUATION_VISIBILITY_TIMEOUT_SECONDS,
    SCHEDULED_EVENT_DETAIL_TYPE,
    SCHEDULED_EVENT_SOURCE,
    TABLE,
)
from riskgate.services.reevaluation import ChunkMessage
from riskgate.settings import get_settings
from tests.integration.conftest import TABLE_NAME
from tests.integration.test_faults import FAULTS as FAULT_SHAPES
from tests.support.api_calls import ok
from tests.support.events import FakeLambdaContext, api_event, response_json
from tests.support.faults import dynamodb_calls
from tests.support.reevaluation import put_scope, seed_images

ACCOUNT, REGION = "123456789012", "us-east-1"
CONTEXT: Any = FakeLambdaContext()
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE_NAME}/stream/x"
# The faults of tests/integration/test_faults.py, by name: ClientError responses.
FAULTS = cast(dict[str, Mapping[str, Any]], FAULT_SHAPES)
CONFLICT = "lost to a concurrent transaction"
# DynamoDB cancels only transactions with TransactionCanceledException.
TRANSACTIONAL = frozenset({"transact_write_items", "transact_get_items"})
TEAM_A = [{"registry": "ghcr.io", "repository": "team-a/*"}]
NO_HIGHS = {
    "name": "no highs",
    "description": "team A ships no high vulnerabilities",
    "scope": "team-a",
    "enabled": True,
    "mode": "enforce",
    "conditions": {"severity_at_least": "high", "max_count": 0},
    "actions": ["block_ci"],
}

# --- the table, as a state to compare ------------------------------------------------------------------

# Times, and the random ids a run gives the events and audit records it writes (`new_ids`), differ from
# one run to the next; the ids derived from what happened (the evaluator's events, notifications) do not.
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_EVENT_ID = re.compile(r"evt-([0-9a-f]{24})")
_generated: set[str] = set()
# What tells apart items whose keys are random: an event's or audit record's kind and subject.
_DISCRIMINATING = ("type", "action", "entity_type", "entity_id", "days", "ended_reason", "subject")
# TTLs follow the clock; a notification's attempts and errors are the history of how it was delivered,
# which a fault lengthens (it is the delivery log's business to show them), not what was delivered.
_BOOKKEEPING = frozenset(
    {
        "expires_at_epoch",
        "lease_expires_at_epoch",
        "attempts",
        "attempt_started_at",
        "last_error",
        "failed_at",
    }
)
# Per-integration delivery counters per minute: an attempt that met the fault counted too (conservative:
# it can only delay a later delivery within the minute); they expire within the hour.
_UNCOMPARED_PREFIXES = ("RATE#",)

State = dict[str, list[str]]


@contextmanager
def new_ids() -> Iterator[None]:
    """Remember the random ids made inside the block (uuid4, as events and audit records get them)."""
    original = uuid.uuid4

    def remembered() -> uuid.UUID:
        made = original()
        _generated.add(made.hex[:24])
        return made

    with mock.patch.object(uuid, "uuid4", remembered):
        yield


def _normalized(text: str) -> str:
    text = _TIME.sub("<time>", text)
    return _EVENT_ID.sub(lambda m: "evt-*" if m.group(1) in _generated else m.group(0), text)


def moto_table() -> Any:
    """The table in moto's backend. The cases read it and write it back there, not through the API: a
    Scan costs a quarter of a second here (moto's response serializer) and each case needs three."""
    return dynamodb_backends[ACCOUNT][REGION].get_table(TABLE_NAME)


def saved_table() -> Any:
    """Every item of the table, to write back with `restore` (moto keeps the indexes' views of them)."""
    return copy.deepcopy(moto_table().items)


def restore(saved: Any) -> None:
    moto_table().items = copy.deepcopy(saved)


def raw_items() -> list[dict[str, Any]]:
    """Every item of the table in DynamoDB JSON, as the stream carries them."""
    return [item.to_json()["Attributes"] for item in moto_table().all_items()]


def table_state() -> State:
    """Every item by (normalized) key; items whose keys are random ids made by the run (events, audit
    records) are told apart by their kind and subject, and several alike are kept as a sorted list."""
    state: dict[str, list[str]] = defaultdict(list)
    for item in map(from_item, raw_items()):
        if str(item["pk"]).startswith(_UNCOMPARED_PREFIXES):
            continue
        key = _normalized(f"{item['pk']} | {item['sk']}")
        if "evt-*" in key:
            acceptance = item.get("acceptance") or {}
            discriminator = {name: item.get(name) for name in _DISCRIMINATING} | {"of": acceptance.get("id")}
            key += " " + json.dumps(discriminator, sort_keys=True, default=str)
        kept = {name: value for name, value in item.items() if name not in _BOOKKEEPING}
        state[key].append(_normalized(json.dumps(kept, sort_keys=True, default=str)))
    return {key: sorted(values) for key, values in state.items()}


def item_of(items: Sequence[dict[str, Any]], pk: str, sk: str) -> dict[str, Any]:
    return next(item for item in items if item["pk"]["S"] == pk and item["sk"]["S"] == sk)


def state_diff(got: State, wanted: State) -> str:
    lines = []
    for key in sorted(set(got) | set(wanted)):
        if got.get(key) != wanted.get(key):
            lines.append(f"  {key}:\n    got    {got.get(key)}\n    wanted {wanted.get(key)}")
    return "\n".join(lines)


# --- the outbox: a webhook receiver ----------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that takes everything: the notifications' outbox (by delivery id)."""

    deliveries: list[str] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with Receiver.lock:
            Receiver.deliveries.append(str(self.headers.get("X-Riskgate-Delivery")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    """One receiver for the module: the integration items built once name its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def outbox() -> list[str]:
    with Receiver.lock:
        return sorted(Receiver.deliveries)


def empty_outbox() -> None:
    with Receiver.lock:
        Receiver.deliveries.clear()


# --- events as Lambda hands them over ----------------------------------------------------------------------


def stream_record(sequence: str, new_image: Mapping[str, Any], event_name: str = "MODIFY") -> dict[str, Any]:
    return {
        "eventID": f"event-{sequence}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": 1_700_000_000,
            "Keys": {"pk": new_image["pk"], "sk": new_image["sk"]},
            "NewImage": dict(new_image),
            "SequenceNumber": sequence,
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }


def sqs_record(message_id: str, body: str, queue_arn: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"receipt-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def batch_failures(handler: Callable[..., Any], records: list[dict[str, Any]]) -> set[str]:
    """The ids of the records a batch handler reports failed; every one when it fails the whole batch."""
    try:
        response = handler({"Records": records}, CONTEXT)
    except BatchProcessingError:
        # Powertools raises when every record failed: Lambda then retries the whole batch.
        return {str(record.get("messageId") or record["dynamodb"]["SequenceNumber"]) for record in records}
    return {str(failure["itemIdentifier"]) for failure in response["batchItemFailures"]}


def trivy(name: str, vulnerabilities: Sequence[tuple[str, str, str, str | None]]) -> bytes:
    """A Trivy report of image `name`: (id, package, severity, fixed version) each."""
    return json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": name,
            "ArtifactType": "container_image",
            "Metadata": {"RepoTags": [name]},
            "Results": [
                {
                    "Target": f"{name} (debian 12.5)",
                    "Class": "os-pkgs",
                    "Type": "debian",
                    "Vulnerabilities": [
                        {
                            "VulnerabilityID": vid,
                            "PkgName": package,
                            "InstalledVersion": "1.0",
                            "Severity": severity,
                            **({"FixedVersion": fixed} if fixed else {}),
                        }
                        for vid, package, severity, fixed in vulnerabilities
                    ],
                }
            ],
        }
    ).encode()


def scan(name: str, vulnerabilities: Sequence[tuple[str, str, str, str | None]]) -> str:
    from riskgate.handlers.api import handler

    response = handler(api_event("POST", "/v1/scans", body=trivy(name, vulnerabilities)), CONTEXT)
    answer = response_json(response)
    assert response["statusCode"] == 201, answer
    return str(answer["image_id"])


# --- the consumers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """The `nth` call of `operation` in a delivery of the consumer's batch, made while handling `record`
    (a stream record's sequence number, an SQS message id; "run" for the scheduled checker)."""

    operation: str
    nth: int
    record: str
    what: str

    def __str__(self) -> str:
        return f"{self.operation} #{self.nth} ({self.what})"


@dataclass
class World:
    """What one consumer's cases start from: the table (`saved_table`) and what to deliver."""

    saved: Any
    batch: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reference:
    """What a delivery that met no fault leaves: the table, and what the consumer handed on."""

    table: State
    handed_on: list[str]


class Consumer:
    name: str
    points: tuple[Point, ...]
    # How many distinct things a clean delivery hands on (a check that the world is what it says).
    hands_on = 0

    def resources(self, monkeypatch: pytest.MonkeyPatch, webhook: str) -> None:
        """The AWS resources besides the table (moto forgets them after each test) and the settings."""

    def build(self, dynamodb: Any) -> World:
        raise NotImplementedError

    def deliver(self, world: World, *, redelivery: bool) -> set[str]:
        """Deliver the world's batch; the ids of the records reported failed ("run" when the scheduled
        checker raised)."""
        raise NotImplementedError

    def handed_on(self) -> list[str]:
        """What the consumer handed on, taken from where it went: by default what the webhook received
        (each delivery; empty but for the notifier)."""
        return outbox()

    def reset(self) -> None:
        """Empty what the consumer's queues hold (a case starts from the world alone)."""

    def in_flight(self, key: str, got: list[str] | None, before: list[str] | None) -> bool:
        """Whether an item that is neither as before nor as after a clean delivery is in a state the design
        passes through (none by default)."""
        return False


def _without(values: list[str] | None, name: str) -> list[dict[str, Any]] | None:
    if values is None:
        return None
    return [{k: v for k, v in json.loads(value).items() if k != name} for value in values]


def progress_in_flight(key: str, got: list[str] | None, before: list[str] | None) -> bool:
    """A re-evaluation's progress on its policy item is begun before the chunks are sent, given its total
    after, and counts the chunks one by one: a plan or a chunk that stopped leaves it in between. Nothing
    else of the policy item is the planner's or the re-evaluator's to change."""
    return key.startswith("POLICY#") and _without(got, "reevaluation") == _without(before, "reevaluation")


def queue_arn(url: str) -> str:
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def drain(url: str, arn: str, handler: Callable[..., Any] | None) -> list[str]:
    """Hand every message of the queue to `handler` (None: throw them away), as Lambda's event source
    would, deleting those it handled; a message it fails is a failure of the test. The bodies handled."""
    sqs, handled = boto3.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
        "Messages", []
    ):
        handled += [m["Body"] for m in batch]
        if handler is not None:
            records = [sqs_record(m["MessageId"], m["Body"], arn) for m in batch]
            failed = batch_failures(handler, records)
            assert not failed, f"downstream, {handler.__module__} failed messages {failed}"
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    return handled


def notification_bus(monkeypatch: pytest.MonkeyPatch, webhook: str) -> tuple[str, str]:
    """The events topic and the notifier's queue subscribed to it (raw, notifications only), and the
    webhook receiver allowed as the local stack's sink is."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="riskgate-test-events")["TopicArn"]
    url = sqs.create_queue(QueueName="riskgate-test-notifications")["QueueUrl"]
    arn = queue_arn(url)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"kind": ["notification"]})},
    )
    monkeypatch.setenv("RISKGATE_EVENTS_TOPIC_ARN", topic)
    monkeypatch.setenv("RISKGATE_PUBLIC_BASE_URL", "https://riskgate.example.com/api")
    monkeypatch.setenv("RISKGATE_WEBHOOK_LOCAL_SINKS", webhook)
    get_settings.cache_clear()
    dispatcher.sns_client.cache_clear()
    notifier.clients.cache_clear()
    return url, arn


def notification_policies(webhook: str, *, scoped: bool = True) -> None:
    """The webhook integration `hook` and response policies on critical vulnerabilities to it: one global,
    and (`scoped`) one in team A's scope."""
    config = {"url": f"{webhook}/hook"}
    ok("POST", "/v1/integrations", {"name": "hook", "type": "webhook", "config": config}, 201)

    def policy(name: str, scope: str) -> None:
        body = {
            "name": name,
            "scope": scope,
            "trigger": "critical_vulnerabilities",
            "outputs": [{"output": "webhook", "integration": "hook"}],
        }
        ok("POST", "/v1/response-policies", body, 201)

    policy("everywhere", "global")
    if scoped:
        policy("team a", ok("POST", "/v1/scopes", {"name": "team-a", "resources": TEAM_A}, 201)["id"])


def put_event(dynamodb: Any, event_id: str, repository: str, fingerprint: str) -> dict[str, Any]:
    """A critical-vulnerabilities event of `ghcr.io/<repository>:1` as the evaluator records it; the item
    as the stream carries it."""
    image_id = "img-" + repository.replace("/", "-")
    fields = {
        "id": event_id,
        "type": "critical_vulnerabilities",
        "occurred_at": "2026-05-01T12:00:00.000000Z",
        "subject": {"type": "image", "id": image_id},
        "image": {"image_id": image_id, "registry": "ghcr.io", "repository": repository, "tags": ["1"]},
        "verdict": {"status": "non_compliant", "block": True},
        "counts": {"vulnerabilities": {"critical": 1}},
        "findings": [
            {"kind": "vulnerability", "id": "CVE-2026-1", "severity": "critical", "package": "openssl"}
        ],
        "findings_total": 1,
        "fingerprint": fingerprint,
    }
    item = to_item(event_item(fields, 365))
    dynamodb.put_item(TableName=TABLE_NAME, Item=item)
    return item


class Evaluator(Consumer):
    """Image A (team A, judged by a team-A policy) is scanned again and the scan shows the fix of a finding
    accepted until fixed: A is judged, its trigger events recorded, the acceptance ended. Image B (team B)
    is judged with no acceptance. Records: A (1), B (2)."""

    name = "evaluator"
    points = (
        Point("get_item", 1, "1", "the image summary"),
        Point("query", 1, "1", "the assurance policies"),
        Point("batch_get_item", 1, "1", "the policies' scopes"),
        Point("batch_write_item", 1, "1", "the trigger events"),
        Point("update_item", 1, "1", "the verdict"),
        Point("transact_write_items", 1, "1", "ending the acceptance whose fix appeared"),
    )

    def build(self, dynamodb: Any) -> World:
        put_scope(dynamodb, TABLE_NAME, "team-a", TEAM_A)
        PolicyStore(TABLE_NAME, client=dynamodb).create_policy(NO_HIGHS, SYSTEM_ACTOR)
        a = scan(
            "ghcr.io/team-a/app:1",
            [("CVE-2024-1", "openssl", "CRITICAL", "3.1"), ("CVE-2024-2", "zlib", "LOW", None)],
        )
        body = {
            "finding": {"kind": "vulnerability", "id": "CVE-2024-2"},
            "scope": {"image": a},
            "period": "until_fixed",
            "reason": "zlib is not used at run time",
        }
        ok("POST", "/v1/risk-acceptances", body, 201)
        scan(
            "ghcr.io/team-a/app:1",
            [("CVE-2024-1", "openssl", "CRITICAL", "3.1"), ("CVE-2024-2", "zlib", "LOW", "1.1")],
        )
        b = scan("ghcr.io/team-b/api:1", [("CVE-2024-3", "curl", "CRITICAL", None)])
        items = raw_items()
        records = [
            stream_record("1", item_of(items, f"IMAGE#{a}", "META")),
            stream_record("2", item_of(items, f"IMAGE#{b}", "META")),
        ]
        return World(saved_table(), records)

    def deliver(self, world: World, *, redelivery: bool) -> set[str]:
        return batch_failures(evaluator.handler, world.batch)


class Planner(Consumer):
    """A new policy in team A's scope (record 1: team A's image is queued, not team B's; the progress kept
    on the policy) and a new acceptance of one image (record 2: that image queued, no progress). What it
    hands on: the chunks queued."""

    name = "re-evaluation planner"
    hands_on = 2
    points = (
        Point("batch_get_item", 1, "1", "the policy's scope"),
        Point("update_item", 1, "1", "beginning the progress"),
        Point("query", 1, "1", "a page of images"),
        Point("update_item", 2, "1", "the total, after the chunks were sent"),
        Point("update_item", 3, "1", "finishing, if the workers were done"),
    )

    def resources(self, monkeypatch: pytest.MonkeyPatch, webhook: str) -> None:
        sqs = boto3.client("sqs")
        self.queue_url = sqs.create_queue(
            QueueName="riskgate-test-reevaluation",
            Attributes={"VisibilityTimeout": str(REEVALUATION_VISIBILITY_TIMEOUT_SECONDS)},
        )["QueueUrl"]
        self.queue_arn = queue_arn(self.queue_url)
        monkeypatch.setenv("RISKGATE_REEVALUATION_QUEUE_URL", self.queue_url)
        get_settings.cache_clear()
        default_queue.cache_clear()
        default_table.cache_clear()

    def build(self, dynamodb: Any) -> World:
        put_scope(dynamodb, TABLE_NAME, "team-a", TEAM_A)
        team_a = seed_images(dynamodb, TABLE_NAME, repository="team-a/app", count=1)
        seed_images(dynamodb, TABLE_NAME, repository="team-b/api", count=1)
        policy = PolicyStore(TABLE_NAME, client=dynamodb).create_policy(NO_HIGHS, SYSTEM_ACTOR)
        body = {
            "finding": {"kind": "vulnerability", "id": "CVE-2024-7"},
            "scope": {"image": team_a[0]},
            "period": "30d",
            "reason": "openssl is not reachable",
        }
        acceptance = ok("POST", "/v1/risk-acceptances", body, 201)
        items = raw_items()
        records = [
            stream_record("1", item_of(items, f"POLICY#{policy['id']}", "META"), "INSERT"),
            stream_record("2", item_of(items, f"ACCEPTANCE#{acceptance['id']}", "META"), "INSERT"),
        ]
        return World(saved_table(), records, {"policy_id": policy["id"]})

    def deliver(self, world: World, *, redelivery: bool) -> set[str]:
        return batch_failures(reevaluation_planner.handler, world.batch)

    def handed_on(self) -> list[str]:
        # The chunks queued, each once however often it was sent: a repeated plan sends them again, and
        # the re-evaluator counts each once
        # (test_chunks_sent_twice_by_a_repeated_plan_are_counted_once).
        return sorted(set(drain(self.queue_url, self.queue_arn, None)))

    def reset(self) -> None:
        drain(self.queue_url, self.queue_arn, None)

    def in_flight(self, key: str, got: list[str] | None, before: list[str] | None) -> bool:
        return progress_in_flight(key, got, before)


class Reevaluator(Consumer):
    """Two chunks of a team-A policy's re-evaluation, one image each (m1: chunk 0, m2: chunk 1, the last to
    be counted): each image is judged non-compliant and its trigger events recorded, each chunk counted
    once, the progress finished by the last."""

    name = "re-evaluator"
    points = (
        Point("query", 1, "m1", "the assurance policies"),
        Point("batch_get_item", 1, "m1", "the policies' scopes"),
        Point("get_item", 1, "m1", "the image summary"),
        Point("batch_write_item", 1, "m1", "the trigger events"),
        Point("update_item", 1, "m1", "the verdict"),
        Point("transact_write_items", 1, "m1", "counting chunk 0"),
        Point("update_item", 4, "m2", "finishing the re-evaluation"),
    )

    def resources(self, monkeypatch: pytest.MonkeyPatch, webhook: str) -> None:
        default_table.cache_clear()

    def in_flight(self, key: str, got: list[str] | None, before: list[str] | None) -> bool:
        return progress_in_flight(key, got, before)

    def build(self, dynamodb: Any) -> World:
        put_scope(dynamodb, TABLE_NAME, "team-a", TEAM_A)
        images = seed_images(dynamodb, TABLE_NAME, repository="team-a/app", count=2)
        policy = PolicyStore(TABLE_NAME, client=dynamodb).create_policy(NO_HIGHS, SYSTEM_ACTOR)
        version = int(policy["version"])
        progress = ReevaluationTable(TABLE_NAME, client=dynamodb)
        assert progress.begin(policy["id"], version, iso(datetime.now(UTC)))
        assert progress.record_total(policy["id"], version, len(images))
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:riskgate-test-reevaluation"
        messages = [
            sqs_record(
                f"m{chunk + 1}", ChunkMessage(policy["id"], version, chunk, (image_id,)).to_body(), arn
            )
            for chunk, image_id in enumerate(images)
        ]
        return World(saved_table(), messages)

    def deliver(self, world: World, *, redelivery: bool) -> set[str]:
        return batch_failures(reevaluator.handler, world.batch)


class ExpiryChecker(Consumer):
    """At the end of acceptance X's 30 days plus a minute: X is expired (its event and audit record with
    it); acceptance Y, ending five days after X, has its 7-day reminder recorded; X's own reminders are
    passed over (X has ended)."""

    name = "expiry checker"
    points = (
        Point("query", 1, "run", "what is due"),
        Point("transact_write_items", 1, "run", "Y's reminder"),
        Point("transact_write_items", 2, "run", "expiring X"),
    )

    def build(self, dynamodb: Any) -> World:
        image_id = scan(
            "ghcr.io/team-a/app:1",
            [("CVE-2024-1", "openssl", "HIGH", None), ("CVE-2024-2", "zlib", "HIGH", None)],
        )

        def accept(vulnerability: str, **period: Any) -> dict[str, Any]:
            body = {
                "finding": {"kind": "vulnerability", "id": vulnerability},
                "scope": {"image": image_id},
                "reason": "not reachable",
                **period,
            }
            accepted: dict[str, Any] = ok("POST", "/v1/risk-acceptances", body, 201)
            return accepted

        x = accept("CVE-2024-1", period="30d")
        ends = parse_iso(x["expires_at"])
        accept("CVE-2024-2", period="custom", expires_at=iso(ends + timedelta(days=5)))
        return World(saved_table(), extra={"time": iso(ends + timedelta(minutes=1))})

    def deliver(self, world: World, *, redelivery: bool) -> set[str]:
        event = {
            "source": SCHEDULED_EVENT_SOURCE,
            "detail-type": SCHEDULED_EVENT_DETAIL_TYPE,
            "time": world.extra["time"],
        }
        try:
            expiry_checker.handler(event, CONTEXT)
        except Exception:
            return {"run"}
        return set()


class Dispatcher(Consumer):
    """Response policies on critical vulnerabilities to a webhook: one global, one in team A's scope.
    Batch: evt-0 (team B), whose notification an earlier delivery recorded and never published (1), and
    evt-1 (team A: both policies, 2). What it hands on: the notifications published."""

    name = "dispatcher"
    hands_on = 3
    points = (
        Point("query", 1, "1", "the response policies of the trigger"),
        Point("batch_get_item", 1, "1", "their scopes"),
        Point("transact_write_items", 1, "1", "evt-0's record (refused: recorded before)"),
        Point("get_item", 1, "1", "evt-0's notification, to publish it again"),
        Point("transact_write_items", 2, "2", "evt-1's first policy"),
        Point("transact_write_items", 3, "2", "evt-1's second policy, after the first was published"),
    )

    def resources(self, monkeypatch: pytest.MonkeyPatch, webhook: str) -> None:
        self.notify_url, self.notify_arn = notification_bus(monkeypatch, webhook)
        self.webhook = webhook

    def build(self, dynamodb: Any) -> World:
        notification_policies(self.webhook)
        evt_0 = put_event(dynamodb, "evt-0", "team-b/old", "fp-0")
        assert batch_failures(dispatcher.handler, [stream_record("0", evt_0, "INSERT")]) == set()
        drain(self.notify_url, self.notify_arn, None)  # its publication lost
        records = [
            stream_record("1", evt_0, "INSERT"),
            stream_record("2", put_event(dynamodb, "evt-1", "team-a/app", "fp-1"), "INSERT"),
        ]
        return World(saved_table(), records)

    def deliver(self, world: World, *, redelivery: bool) -> set[str]:
        return batch_failures(dispatcher.handler, world.batch)

    def handed_on(self) -> list[str]:
        # The notifications published, each once however often: a retried dispatch publishes again what
        # is still pending, and the notifier sends each once
        # (test_notifications_published_twice_by_a_retried_dispatch_are_delivered_once).
        return sorted(set(drain(self.notify_url, self.notify_arn, None)))

    def reset(self) -> None:
        drain(self.notify_url, self.notify_arn, None)


class Notifier(Consumer):
    """Two notifications recorded for the webhook integration (rate-limited per minute), m1 and m2 their
    messages. A failed message comes back after the queue's visibility timeout (the notifier shortens it
    only for a failed delivery): the redelivery is that much later. The webhook must receive each
    notification exactly once."""

    name = "notifier"
    hands_on = 2
    points = (
        Point("update_item", 1, "m1", "claiming the notification (sending)"),
        Point("get_item", 1, "m1", "the integration"),
        Point("update_item", 2, "m1", "the integration's rate counter"),
        Point("get_item", 2, "m1", "the integration's secret fields"),
        Point("update_item", 3, "m1", "recording the delivery (sent), after the webhook took it"),
    )

    def resources(self, monkeypatch: pytest.MonkeyPatch, webhook: str) -> None:
        self.notify_url, self.notify_arn = notification_bus(monkeypatch, webhook)
        self.webhook = webhook

    def build(self, dynamodb: Any) -> World:
        notification_policies(self.webhook, scoped=False)
        events = [
            put_event(dynamodb, "evt-1", "team-a/app", "fp-1"),
            put_event(dynamodb, "evt-2", "team-b/api", "fp-2"),
        ]
        assert (
            batch_failures(
                dispatcher.handler, [stream_record(str(n), e, "INSERT") for n, e in enumerate(events)]
            )
            == set()
        )
        bodies = sorted(drain(self.notify_url, self.notify_arn, None))
        messages = [sqs_record(f"m{n + 1}", body, self.notify_arn) for n, body in enumerate(bodies)]
        assert len(messages) == 2
        return World(saved_table(), messages)

    def deliver(self, world: World, *, redelivery: bool) -> set[str]:
        if not redelivery:
            return batch_failures(notifier.handler, world.batch)
        later = datetime.now(UTC) + timedelta(seconds=NOTIFY_VISIBILITY_TIMEOUT_SECONDS)
        records = [sqs_record(r["messageId"], r["body"], r["eventSourceARN"], 2) for r in world.batch]
        with mock.patch.object(notifier, "system_now", return_value=later):
            return batch_failures(notifier.handler, records)

    def in_flight(self, key: str, got: list[str] | None, before: list[str] | None) -> bool:
        # Claimed (`sending`, its lease running) or failed before anything was sent: the designed states
        # of a notification whose delivery is to be tried again.
        return (
            key.startswith("NOTIFICATION#")
            and got is not None
            and all(json.loads(value)["status"] in ("sending", "failed") for value in got)
        )


# --- the matrix ------------------------------------------------------------------------------------------

CONSUMERS: dict[str, Consumer] = {
    consumer.name: consumer
    for consumer in (Evaluator(), Planner(), Reevaluator(), ExpiryChecker(), Dispatcher(), Notifier())
}


def points_for(consumer: Consumer, fault_name: str) -> list[Point]:
    """Every point of the consumer, for a cancelled transaction only the transactions."""
    return [p for p in consumer.points if fault_name != CONFLICT or p.operation in TRANSACTIONAL]


# Built once per consumer (through the API and the handlers: the slow part), then written back.
_worlds: dict[str, World] = {}
_before: dict[str, State] = {}
_references: dict[str, Reference] = {}


def start(consumer: Consumer, dynamodb: Any) -> World:
    """The consumer's world in the table, nothing in its queues, nothing received."""
    if consumer.name not in _worlds:
        _worlds[consumer.name] = consumer.build(dynamodb)
    world = _worlds[consumer.name]
    restore(world.saved)
    consumer.reset()
    empty_outbox()
    return world


def reference(consumer: Consumer, dynamodb: Any) -> Reference:
    """A delivery that meets no fault. It makes every call the matrix names, and no operation it leaves
    out: a consumer that starts using another operation must get its points."""
    if consumer.name not in _references:
        world = start(consumer, dynamodb)
        _before[consumer.name] = table_state()
        with dynamodb_calls() as log, new_ids():
            assert consumer.deliver(world, redelivery=False) == set(), "the clean delivery failed"
        for point in consumer.points:
            assert log.operations().count(point.operation) >= point.nth, f"{consumer.name} makes no {point}"
        assert set(log.operations()) == {p.operation for p in consumer.points}, consumer.name
        handed_on = consumer.handed_on()
        assert len(set(handed_on)) == len(handed_on) == consumer.hands_on, handed_on
        _references[consumer.name] = Reference(table_state(), handed_on)
    return _references[consumer.name]


def fault_case(consumer: Consumer, dynamodb: Any, point: Point, fault: Mapping[str, Any]) -> str | None:
    """What went wrong when the point's call met the fault; None when nothing did."""
    clean = reference(consumer, dynamodb)
    world = start(consumer, dynamodb)
    with dynamodb_calls(point.operation, fault, nth=point.nth) as log, new_ids():
        failed = consumer.deliver(world, redelivery=False)
    if log.faulted is None:
        return "the call was never made: the matrix is stale"
    if failed and failed != {point.record}:
        return (
            f"reported failed: {sorted(failed)}; wanted exactly the record that met the fault, {point.record}"
        )
    if not failed and not log.retried_in_place():
        return "the fault was swallowed: nothing reported failed, and the call was not made again"

    # A reader sees every item as it was or as a clean delivery leaves it.
    before, now = _before[consumer.name], table_state()
    half = [
        key
        for key in sorted(set(before) | set(now) | set(clean.table))
        if now.get(key) not in (before.get(key), clean.table.get(key))
        and not consumer.in_flight(key, now.get(key), before.get(key))
    ]
    if half:
        details = "\n".join(
            f"  {key}:\n    now    {now.get(key)}\n    before {before.get(key)}\n"
            f"    after  {clean.table.get(key)}"
            for key in half
        )
        return f"half-written, neither as before nor as after:\n{details}"

    with new_ids():
        redelivered = consumer.deliver(world, redelivery=True)
    if redelivered:
        return f"the redelivery failed: {sorted(redelivered)}"
    end = table_state()
    if end != clean.table:
        return f"the end state is not a clean run's:\n{state_diff(end, clean.table)}"
    handed_on = consumer.handed_on()
    if handed_on != clean.handed_on:
        return f"handed on {handed_on}; a clean run hands on {clean.handed_on}"
    return None


@pytest.fixture
def table(dynamodb: Any) -> Iterator[Any]:
    """The fixture's table made again from the same definition, without its stream: the records are handed
    to the handlers here, and moto copies a table (its stream's records too) for every entry of every
    transaction, which grows slower with each write."""
    definition = TABLE.create_table_kwargs(TABLE_NAME)
    definition.pop("StreamSpecification")
    dynamodb.delete_table(TableName=TABLE_NAME)
    dynamodb.create_table(**definition)
    default_table.cache_clear()
    default_queue.cache_clear()
    yield dynamodb
    # The re-evaluation ports and the notifiers' clients are cached per process, as in Lambda.
    default_table.cache_clear()
    default_queue.cache_clear()
    get_settings.cache_clear()
    dispatcher.sns_client.cache_clear()
    notifier.clients.cache_clear()


@pytest.mark.parametrize("consumer_name", CONSUMERS)
def test_a_fault_is_reported_nothing_is_half_written_and_the_redelivery_ends_as_a_clean_run(
    table: Any, monkeypatch: pytest.MonkeyPatch, subtests: Any, webhook: str, consumer_name: str
) -> None:
    """One subtest per point of the consumer and fault: the consumer x operation x fault matrix."""
    consumer = CONSUMERS[consumer_name]
    consumer.resources(monkeypatch, webhook)
    for fault_name, fault in FAULTS.items():
        for point in points_for(consumer, fault_name):
            with subtests.test(msg=f"{point}, {fault_name}"):
                problem = fault_case(consumer, table, point, fault)
                assert problem is None, f"{consumer_name}, {point}, {fault_name}: {problem}"


# --- what the consumers hand on, further on ---------------------------------------------------------------


def test_chunks_sent_twice_by_a_repeated_plan_are_counted_once(
    table: Any, monkeypatch: pytest.MonkeyPatch, webhook: str
) -> None:
    """The planner meets the fault after its chunks were sent (recording the total); the repeated plan
    sends them again. The real re-evaluator works every message: the progress ends as a clean run's, its
    one chunk counted once, finished."""
    planner = CONSUMERS["re-evaluation planner"]
    assert isinstance(planner, Planner)
    planner.resources(monkeypatch, webhook)
    world = start(planner, table)
    with dynamodb_calls("update_item", FAULTS["throttled"], nth=2) as log:
        assert planner.deliver(world, redelivery=False) == {"1"}
    assert log.faulted is not None
    assert planner.deliver(world, redelivery=True) == set()
    worked = drain(planner.queue_url, planner.queue_arn, reevaluator.handler)
    chunks = [json.loads(body) for body in worked if json.loads(body)["tracks_progress"]]
    assert len(chunks) == 2  # the same chunk, sent twice
    assert chunks[0] == chunks[1]
    progress = PolicyStore(TABLE_NAME, client=table).get_policy(world.extra["policy_id"])
    assert progress is not None
    assert (progress["reevaluation"]["total"], progress["reevaluation"]["done"]) == (1, 1)
    assert progress["reevaluation"]["finished_at"]


def test_notifications_published_twice_by_a_retried_dispatch_are_delivered_once(
    table: Any, monkeypatch: pytest.MonkeyPatch, webhook: str
) -> None:
    """The dispatcher meets the fault recording evt-1's second policy, after the first one's notification
    was published; the retried batch publishes it again (it is still pending), and evt-0's. The real
    notifier works every message: the webhook receives each notification exactly once."""
    consumer = CONSUMERS["dispatcher"]
    assert isinstance(consumer, Dispatcher)
    consumer.resources(monkeypatch, webhook)
    world = start(consumer, table)
    with dynamodb_calls("transact_write_items", FAULTS["throttled"], nth=3):
        assert consumer.deliver(world, redelivery=False) == {"2"}
    assert consumer.deliver(world, redelivery=True) == set()
    published = drain(consumer.notify_url, consumer.notify_arn, notifier.handler)
    ids = [json.loads(body)["notification_id"] for body in published]
    assert len(ids) > len(set(ids)) == 3  # one published twice
    assert outbox() == sorted(set(ids))


def test_a_delivery_that_cannot_be_recorded_is_not_reported_failed(
    table: Any, monkeypatch: pytest.MonkeyPatch, webhook: str
) -> None:
    """Recording a delivery the webhook took fails every time it is tried. The message must not be reported
    failed: SQS would bring it back once the `sending` lease has run out, and it would be sent again. The
    delivery log keeps it `sending` (the notifier logs an error)."""
    consumer = CONSUMERS["notifier"]
    assert isinstance(consumer, Notifier)
    consumer.resources(monkeypatch, webhook)
    monkeypatch.setattr(notification_adapter, "SENT_RECORD_BACKOFF_SECONDS", 0, raising=False)
    world = start(consumer, table)
    attempts = getattr(notification_adapter, "SENT_RECORD_ATTEMPTS", 1)
    with dynamodb_calls("update_item", FAULTS["internal"], nth=3, times=attempts) as log:
        assert consumer.deliver(world, redelivery=False) == set()
    recorded = [call for call in log.calls if call.operation == "update_item" and call.faulted]
    assert len(recorded) == attempts
    assert all(":sent" in call.params["ExpressionAttributeValues"] for call in recorded)
    first = json.loads(world.batch[0]["body"])["notification_id"]
    second = json.loads(world.batch[1]["body"])["notification_id"]
    assert outbox() == sorted([first, second])
    log_entry = NotificationStore(TABLE_NAME, client=table).get(first)
    assert log_entry is not None
    assert log_entry["status"] == "sending"
