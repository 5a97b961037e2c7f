"""The acceptance store against moto: what each write leaves in the table and the indexes, and what its
conditions refuse — stale versions, second revokes, overlapping expiry runs, repeated reminders."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from riskgate.adapters.acceptances import (
    AcceptanceStore,
    acceptance_item,
    default_acceptance_store,
    reminder_item,
)
from riskgate.adapters.audit_log import SECONDS_PER_DAY, list_audit_events
from riskgate.adapters.dynamo import from_item, to_item
from riskgate.clock import iso, parse_iso
from riskgate.domain.acceptances import (
    PERIOD_ENDED,
    AcceptanceScope,
    AcceptedFinding,
    ScopeKind,
    acceptance_snapshot,
    guard_key,
    reminder_times,
)
from riskgate.domain.audit import Actor
from riskgate.domain.errors import Conflict
from riskgate.domain.findings import FindingKind
from riskgate.resources import TABLE
from riskgate_local.aws import make_dynamodb_requests_atomic
from tests.integration.conftest import TABLE_NAME

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
OFFICER = Actor(user_id="usr-officer", request_id="req-1")
REMINDER_DAYS = (7, 1)
EXPIRATION = "risk_acceptance_expiration"
EXPIRING = "risk_acceptance_expiring"


@pytest.fixture
def acceptances(dynamodb: Any) -> AcceptanceStore:
    return AcceptanceStore(TABLE_NAME, client=dynamodb)


def acceptance_fields(
    *,
    image: str = "img-1",
    cve: str = "CVE-2024-0001",
    period: str = "30d",
    accepted_at: datetime = NOW,
    expires_at: datetime | None = NOW + timedelta(days=30),
) -> dict[str, Any]:
    scope = AcceptanceScope(ScopeKind.IMAGE, image_id=image, registry="ghcr.io", repository="team-a/api")
    return {
        "id": "acc-" + secrets.token_hex(8),
        "target": scope.target,
        "finding": AcceptedFinding(FindingKind.VULNERABILITY, cve).as_dict(),
        "scope": scope.as_dict(),
        "registry": "ghcr.io",
        "repository": "team-a/api",
        "digest": "sha256:" + "ab" * 32,
        "tags": ["1.0"],
        "period": period,
        "reason": "no exploit path in this service",
        "status": "active",
        "accepted_at": iso(accepted_at),
        "accepted_by": "usr-officer",
        "expires_at": iso(expires_at) if expires_at else None,
        "version": 1,
    }


def guard_of(fields: dict[str, Any]) -> str:
    scope = AcceptanceScope.from_dict(fields["scope"], fields["registry"], fields["repository"])
    return guard_key(scope, AcceptedFinding.from_dict(fields["finding"]))


def accept(
    store: AcceptanceStore,
    fields: dict[str, Any] | None = None,
    *,
    previous: str | None = None,
    reminders: bool = True,
) -> dict[str, Any]:
    fields = fields or acceptance_fields()
    expires_at = parse_iso(fields["expires_at"]) if fields.get("expires_at") else None
    due = reminder_times(expires_at, REMINDER_DAYS, parse_iso(fields["accepted_at"])) if reminders else []
    return store.create_acceptance(
        fields, guard=guard_of(fields), previous=previous, reminders=due, actor=OFFICER
    )


def expiration_event(fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "type": EXPIRATION,
        "occurred_at": iso(now),
        "acceptance": acceptance_snapshot(fields),
        "ended_reason": PERIOD_ENDED,
    }


def reminder_event(reminder: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "type": EXPIRING,
        "occurred_at": iso(now),
        "acceptance": reminder["acceptance"],
        "days": reminder["days"],
    }


def audit_actions(dynamodb: Any, acceptance_id: str) -> list[dict[str, Any]]:
    page = list_audit_events(
        dynamodb,
        TABLE_NAME,
        entity_type="risk_acceptance",
        entity_id=acceptance_id,
        actor=None,
        since=None,
        until=None,
        limit=50,
        next_token=None,
    )
    return list(reversed(page.items))  # oldest first


def due_keys(store: AcceptanceStore, now: datetime) -> list[str]:
    return [item["sk"] for item in store.due_items(now, 1000)]


def store_directly(dynamodb: Any, many: list[dict[str, Any]]) -> None:
    """Acceptance items as `create_acceptance` writes them, in batches: moto copies the whole table for
    each transaction, which makes hundreds of them slow, and these tests are about reading."""
    for start in range(0, len(many), 25):
        requests = [{"PutRequest": {"Item": to_item(acceptance_item(f))}} for f in many[start : start + 25]]
        dynamodb.batch_write_item(RequestItems={TABLE_NAME: requests})


@pytest.fixture
def atomic_requests() -> None:
    """DynamoDB applies each request atomically; moto, without the local stack's lock, does not (see
    `make_dynamodb_requests_atomic`). The threads' read-then-conditional-write sequences still
    interleave, which is what the test is about."""
    make_dynamodb_requests_atomic()


@contextmanager
def transaction_conflicts(dynamodb: Any, times: int) -> Iterator[list[int]]:
    """The next `times` TransactWriteItems are cancelled as DynamoDB cancels one while another
    transaction on the same items is in flight; yields the count of those sent."""
    sent = [0]

    def conflict(params: dict[str, Any], **_: Any) -> Any:
        sent[0] += 1
        if sent[0] > times:
            return None
        # As DynamoDB reports it: the item in flight elsewhere, "None" for the others.
        count = len(json.loads(params["body"])["TransactItems"])
        reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (count - 1)
        error = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": reasons,
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return SimpleNamespace(status_code=400), error

    events = dynamodb.meta.events
    events.register("before-call.dynamodb.TransactWriteItems", conflict, unique_id="conflict")
    try:
        yield sent
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="conflict")


@contextmanager
def counted_reads(dynamodb: Any) -> Iterator[dict[str, int]]:
    """Counts the items each read returned, by operation, through botocore hooks on the client."""
    counts: dict[str, int] = {}

    def after(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        items = parsed.get("Items", [parsed["Item"]] if "Item" in parsed else [])
        counts[model.name] = counts.get(model.name, 0) + len(items)

    events = dynamodb.meta.events
    events.register("after-call.dynamodb", after, unique_id="count-reads")
    try:
        yield counts
    finally:
        events.unregister("after-call.dynamodb", unique_id="count-reads")


# --- accepting --------------------------------------------------------------------------------------


def test_created_acceptance_is_read_back_as_written(dynamodb: Any, acceptances: AcceptanceStore) -> None:
    fields = acceptance_fields()

    created = accept(acceptances, fields)

    assert created == {k: v for k, v in fields.items() if v is not None}
    assert acceptances.get_acceptance(fields["id"]) == created
    assert not {"pk", "sk", "item_type", "gsi1pk", "gsi3sk"} & set(created)
    assert acceptances.get_guard(guard_of(fields)) == {"acceptance_id": fields["id"]}
    assert [a["id"] for a in acceptances.active_for_target("repository#ghcr.io/team-a/api")] == [fields["id"]]
    assert [a["id"] for a in acceptances.list_acceptances(10, None).items] == [fields["id"]]
    (audit,) = audit_actions(dynamodb, fields["id"])
    assert (audit["action"], audit["actor"], audit["after"]) == ("create", "usr-officer", created)


def test_missing_acceptance_and_guard_read_as_none(acceptances: AcceptanceStore) -> None:
    assert acceptances.get_acceptance("acc-none") is None
    assert acceptances.get_guard("0" * 64) is None


def test_second_accept_of_the_same_finding_names_the_first(acceptances: AcceptanceStore) -> None:
    first = accept(acceptances)
    second = acceptance_fields()

    with pytest.raises(Conflict) as refused:
        accept(acceptances, second)

    assert first["id"] in refused.value.message
    assert refused.value.details == [{"acceptance_id": first["id"]}]
    # Nothing of the refused one was written: not the acceptance, not its reminders.
    assert acceptances.get_acceptance(second["id"]) is None
    assert due_keys(acceptances, NOW + timedelta(days=365)) == [
        "REMINDER#7",
        "REMINDER#1",
        "META",
    ]


def test_guard_passes_from_the_previous_acceptance_named(acceptances: AcceptanceStore) -> None:
    first = accept(acceptances)
    assert acceptances.revoke_acceptance(first["id"], reason=None, now=NOW, actor=OFFICER) is not None

    second = accept(acceptances, previous=first["id"])
    assert acceptances.get_guard(guard_of(second)) == {"acceptance_id": second["id"]}

    # A caller that read the guard before the second accept is refused, told of the second one.
    with pytest.raises(Conflict) as refused:
        accept(acceptances, previous=first["id"])
    assert refused.value.details == [{"acceptance_id": second["id"]}]


def test_other_findings_and_scopes_have_their_own_guards(acceptances: AcceptanceStore) -> None:
    accept(acceptances)
    accept(acceptances, acceptance_fields(cve="CVE-2024-0002"))
    accept(acceptances, acceptance_fields(image="img-2"))

    # Image acceptances are kept with their repository's: all three are in one partition.
    found = acceptances.active_for_target("repository#ghcr.io/team-a/api")
    assert sorted(a["scope"]["image"] for a in found) == ["img-1", "img-1", "img-2"]


# --- reminders and due work -------------------------------------------------------------------------


def test_reminders_and_expiry_are_found_only_when_due(acceptances: AcceptanceStore) -> None:
    fields = acceptance_fields()
    expires_at = parse_iso(fields["expires_at"])
    accept(acceptances, fields)

    assert due_keys(acceptances, NOW) == []
    assert due_keys(acceptances, expires_at - timedelta(days=7, microseconds=1)) == []
    # Due at its very moment, not only after it.
    (reminder,) = acceptances.due_items(expires_at - timedelta(days=7), 10)
    assert due_keys(acceptances, expires_at - timedelta(days=1)) == ["REMINDER#7", "REMINDER#1"]
    assert due_keys(acceptances, expires_at) == ["REMINDER#7", "REMINDER#1", "META"]

    assert reminder["pk"] == f"ACCEPTANCE#{fields['id']}"
    assert reminder["days"] == 7
    assert reminder["remind_at"] == iso(expires_at - timedelta(days=7))
    assert reminder["expires_at"] == fields["expires_at"]
    assert reminder["acceptance"] == acceptance_snapshot(fields)
    (expiry,) = [item for item in acceptances.due_items(expires_at, 10) if item["sk"] == "META"]
    assert (expiry["id"], expiry["status"]) == (fields["id"], "active")


def test_acceptances_without_an_end_are_never_due(acceptances: AcceptanceStore) -> None:
    accept(acceptances, acceptance_fields(period="indefinite", expires_at=None))

    assert due_keys(acceptances, NOW + timedelta(days=36_500)) == []


def test_due_items_reads_only_what_is_due(dynamodb: Any, acceptances: AcceptanceStore) -> None:
    # 200 acceptances ending far ahead, 3 already over (accepted long ago)
    far = NOW + timedelta(days=365)
    store_directly(dynamodb, [acceptance_fields(cve=f"CVE-2024-{n:04d}", expires_at=far) for n in range(200)])
    ended = [
        accept(
            acceptances,
            acceptance_fields(
                cve=f"CVE-2023-{number:04d}",
                accepted_at=NOW - timedelta(days=40),
                expires_at=NOW - timedelta(days=10 - number),
            ),
            reminders=False,
        )
        for number in range(3)
    ]

    with counted_reads(dynamodb) as reads:
        due = acceptances.due_items(NOW, 1000)

    assert [item["id"] for item in due] == [a["id"] for a in ended]  # oldest end first
    assert reads == {"Query": 3}
    assert [item["id"] for item in acceptances.due_items(NOW, 2)] == [a["id"] for a in ended[:2]]


def test_due_items_pages_up_to_the_limit(dynamodb: Any, acceptances: AcceptanceStore) -> None:
    ended = [acceptance_fields(expires_at=NOW - timedelta(seconds=n + 1)) for n in range(230)]
    store_directly(dynamodb, ended)

    with counted_reads(dynamodb) as reads:
        assert len(acceptances.due_items(NOW, 1000)) == 230
    assert reads == {"Query": 230}
    assert len(acceptances.due_items(NOW, 120)) == 120
    assert len(acceptances.due_items(NOW, 100)) == 100


# --- extending --------------------------------------------------------------------------------------


def test_extend_moves_the_expiry_and_the_reminders(dynamodb: Any, acceptances: AcceptanceStore) -> None:
    fields = acceptance_fields()
    old_end = parse_iso(fields["expires_at"])
    accept(acceptances, fields)
    new_end = NOW + timedelta(days=90)
    later = NOW + timedelta(days=5)

    extended = acceptances.extend_acceptance(
        fields["id"],
        version=1,
        period="90d",
        expires_at=new_end,
        reminders=reminder_times(new_end, REMINDER_DAYS, later),
        now=later,
        actor=OFFICER,
    )

    assert extended is not None
    assert (extended["period"], extended["expires_at"], extended["version"]) == ("90d", iso(new_end), 2)
    assert (extended["extended_at"], extended["extended_by"]) == (iso(later), "usr-officer")
    assert acceptances.get_acceptance(fields["id"]) == extended
    assert due_keys(acceptances, old_end) == []
    assert due_keys(acceptances, new_end) == ["REMINDER#7", "REMINDER#1", "META"]
    (reminder, *_) = acceptances.due_items(new_end, 10)
    assert reminder["expires_at"] == reminder["acceptance"]["expires_at"] == iso(new_end)
    audit = audit_actions(dynamodb, fields["id"])[-1]
    assert audit["action"] == "extend"
    assert (audit["before"]["expires_at"], audit["after"]["expires_at"]) == (
        fields["expires_at"],
        iso(new_end),
    )


def test_extend_to_no_end_leaves_the_due_work(acceptances: AcceptanceStore) -> None:
    fields = accept(acceptances)

    extended = acceptances.extend_acceptance(
        fields["id"], version=1, period="indefinite", expires_at=None, reminders=[], now=NOW, actor=OFFICER
    )

    assert extended is not None
    assert "expires_at" not in extended
    assert acceptances.get_acceptance(fields["id"]) == extended
    assert due_keys(acceptances, NOW + timedelta(days=36_500)) == []


def test_extend_refuses_a_stale_version_an_ended_or_a_missing_acceptance(
    acceptances: AcceptanceStore,
) -> None:
    fields = accept(acceptances)
    end = NOW + timedelta(days=60)

    def extend(version: int, now: datetime = NOW, acceptance_id: str = fields["id"]) -> Any:
        return acceptances.extend_acceptance(
            acceptance_id, version=version, period="60d", expires_at=end, reminders=[], now=now, actor=OFFICER
        )

    assert extend(1) is not None
    assert extend(1) is None  # read before the first extension
    assert extend(2, now=end + timedelta(seconds=1)) is None  # ended meanwhile
    assert extend(2, acceptance_id="acc-missing") is None
    assert acceptances.get_acceptance(fields["id"])["version"] == 2  # type: ignore[index]


# --- revoking ---------------------------------------------------------------------------------------


def test_revoke_once_takes_the_acceptance_out_of_the_indexes(
    dynamodb: Any, acceptances: AcceptanceStore
) -> None:
    fields = accept(acceptances)

    revoked = acceptances.revoke_acceptance(fields["id"], reason="fixed upstream", now=NOW, actor=OFFICER)

    assert revoked is not None
    assert (revoked["status"], revoked["revoked_by"], revoked["revoke_reason"]) == (
        "revoked",
        "usr-officer",
        "fixed upstream",
    )
    assert (revoked["revoked_at"], revoked["version"]) == (iso(NOW), 2)
    assert acceptances.get_acceptance(fields["id"]) == revoked
    assert acceptances.revoke_acceptance(fields["id"], reason=None, now=NOW, actor=OFFICER) is None
    assert acceptances.active_for_target(fields["target"]) == []
    assert due_keys(acceptances, NOW + timedelta(days=365)) == []
    # Still listed (history), and the guard still names it.
    assert [a["status"] for a in acceptances.list_acceptances(10, None).items] == ["revoked"]
    assert acceptances.get_guard(guard_of(fields)) == {"acceptance_id": fields["id"]}
    assert [a["action"] for a in audit_actions(dynamodb, fields["id"])] == ["create", "revoke"]


def test_an_acceptance_past_its_end_cannot_be_revoked(acceptances: AcceptanceStore) -> None:
    fields = accept(acceptances)
    after_end = parse_iso(fields["expires_at"]) + timedelta(seconds=1)

    assert acceptances.revoke_acceptance(fields["id"], reason=None, now=after_end, actor=OFFICER) is None
    assert acceptances.revoke_acceptance("acc-missing", reason=None, now=NOW, actor=OFFICER) is None


@pytest.mark.usefixtures("atomic_requests")
def test_of_concurrent_revokes_exactly_one_succeeds(dynamodb: Any, acceptances: AcceptanceStore) -> None:
    fields = accept(acceptances)
    start = threading.Barrier(20)
    results: list[Any] = []
    lock = threading.Lock()

    def revoke(number: int) -> None:
        start.wait()
        actor = Actor(user_id=f"usr-{number}")
        result = acceptances.revoke_acceptance(fields["id"], reason=None, now=NOW, actor=actor)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=revoke, args=(number,)) for number in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [result for result in results if result is not None]
    assert len(results) == 20
    assert len(winners) == 1
    stored = acceptances.get_acceptance(fields["id"])
    assert stored == winners[0]
    assert winners[0]["version"] == 2
    assert [a["action"] for a in audit_actions(dynamodb, fields["id"])] == ["create", "revoke"]


def test_a_revoke_meeting_a_transaction_in_flight_is_sent_again(acceptances: AcceptanceStore) -> None:
    fields = accept(acceptances)

    with transaction_conflicts(acceptances.client, times=2) as sent:
        revoked = acceptances.revoke_acceptance(fields["id"], reason=None, now=NOW, actor=OFFICER)

    assert sent == [3]
    assert revoked is not None
    assert acceptances.get_acceptance(fields["id"]) == revoked


def test_a_transaction_that_keeps_meeting_others_is_a_conflict(acceptances: AcceptanceStore) -> None:
    fields = accept(acceptances)

    with transaction_conflicts(acceptances.client, times=100), pytest.raises(Conflict):
        acceptances.revoke_acceptance(fields["id"], reason=None, now=NOW, actor=OFFICER)

    assert acceptances.get_acceptance(fields["id"])["status"] == "active"  # type: ignore[index]


# --- expiring ---------------------------------------------------------------------------------------


def test_expire_writes_once_after_the_end(dynamodb: Any, acceptances: AcceptanceStore) -> None:
    fields = accept(acceptances)
    end = parse_iso(fields["expires_at"])

    def expire(now: datetime) -> bool:
        event = expiration_event(fields, now)
        return acceptances.expire_acceptance(fields["id"], now=now, reason=PERIOD_ENDED, event=event)

    assert expire(end - timedelta(seconds=1)) is False
    assert acceptances.get_acceptance(fields["id"])["status"] == "active"  # type: ignore[index]
    assert expire(end) is True
    assert expire(end + timedelta(minutes=15)) is False  # an overlapping or later run

    expired = acceptances.get_acceptance(fields["id"])
    assert expired is not None
    assert (expired["status"], expired["ended_reason"], expired["ended_at"]) == (
        "expired",
        PERIOD_ENDED,
        iso(end),
    )
    assert expired["version"] == 2
    assert acceptances.active_for_target(fields["target"]) == []
    assert due_keys(acceptances, end + timedelta(days=365)) == []
    (event,) = acceptances.list_events(None, 10, None).items
    assert event["id"].startswith("evt-")
    assert event == {**expiration_event(fields, end), "id": event["id"]}
    (audit,) = [a for a in audit_actions(dynamodb, fields["id"]) if a["action"] == "expire"]
    assert (audit["actor"], audit["details"]) == ("system", {"reason": PERIOD_ENDED})


def test_until_fixed_acceptances_end_only_by_fix(acceptances: AcceptanceStore) -> None:
    until_fixed = accept(acceptances, acceptance_fields(period="until_fixed", expires_at=None))
    dated = accept(acceptances, acceptance_fields(cve="CVE-2024-0002"))

    def end_by_fix(fields: dict[str, Any]) -> bool:
        event = {**expiration_event(fields, NOW), "ended_reason": "fix available"}
        return acceptances.expire_acceptance(
            fields["id"], now=NOW, reason="fix available", event=event, until_fixed_only=True
        )

    assert end_by_fix(dated) is False
    assert end_by_fix(until_fixed) is True
    assert end_by_fix(until_fixed) is False
    assert acceptances.get_acceptance(until_fixed["id"])["ended_reason"] == "fix available"  # type: ignore[index]
    assert len(acceptances.list_events(EXPIRATION, 10, None).items) == 1


def test_a_revoked_acceptance_does_not_expire(acceptances: AcceptanceStore) -> None:
    fields = accept(acceptances)
    end = parse_iso(fields["expires_at"])
    acceptances.revoke_acceptance(fields["id"], reason=None, now=NOW, actor=OFFICER)

    event = expiration_event(fields, end)
    assert acceptances.expire_acceptance(fields["id"], now=end, reason=PERIOD_ENDED, event=event) is False
    assert acceptances.list_events(None, 10, None).items == []


# --- reminding --------------------------------------------------------------------------------------


def test_a_reminder_is_sent_once(acceptances: AcceptanceStore) -> None:
    fields = accept(acceptances)
    when = parse_iso(fields["expires_at"]) - timedelta(days=7)
    (reminder,) = acceptances.due_items(when, 10)

    assert acceptances.send_reminder(reminder, now=when, event=reminder_event(reminder, when)) is True
    assert acceptances.send_reminder(reminder, now=when, event=reminder_event(reminder, when)) is False

    (event,) = acceptances.list_events(EXPIRING, 10, None).items
    assert (event["days"], event["acceptance"]["id"], event["occurred_at"]) == (7, fields["id"], iso(when))
    assert due_keys(acceptances, when) == []


def test_a_reminder_made_for_an_earlier_end_is_dropped_without_event(acceptances: AcceptanceStore) -> None:
    fields = accept(acceptances)
    when = parse_iso(fields["expires_at"]) - timedelta(days=7)
    (stale,) = acceptances.due_items(when, 10)
    new_end = NOW + timedelta(days=90)
    acceptances.extend_acceptance(
        fields["id"],
        version=1,
        period="90d",
        expires_at=new_end,
        reminders=reminder_times(new_end, REMINDER_DAYS, NOW),
        now=NOW,
        actor=OFFICER,
    )

    assert acceptances.send_reminder(stale, now=when, event=reminder_event(stale, when)) is False

    assert acceptances.list_events(None, 10, None).items == []
    # The extension's own reminder, under the same key, is kept.
    assert due_keys(acceptances, new_end - timedelta(days=7)) == ["REMINDER#7"]


def test_a_leftover_reminder_of_a_revoked_acceptance_is_deleted(
    dynamodb: Any, acceptances: AcceptanceStore
) -> None:
    fields = accept(acceptances)
    acceptances.revoke_acceptance(fields["id"], reason=None, now=NOW, actor=OFFICER)
    # A reminder for days no longer configured is not among those a revoke deletes.
    leftover = reminder_item(fields, 3, NOW + timedelta(days=27))
    dynamodb.put_item(TableName=TABLE_NAME, Item=to_item(leftover))
    (reminder,) = acceptances.due_items(NOW + timedelta(days=27), 10)

    assert acceptances.send_reminder(reminder, now=NOW, event=reminder_event(reminder, NOW)) is False

    assert due_keys(acceptances, NOW + timedelta(days=365)) == []
    assert acceptances.list_events(None, 10, None).items == []


# --- events -----------------------------------------------------------------------------------------


def test_events_are_listed_newest_first_by_type_and_expire_with_the_audit_log(
    dynamodb: Any, acceptances: AcceptanceStore
) -> None:
    snapshot = {"id": "acc-1"}
    stored = [
        acceptances.put_event(
            {
                "type": EXPIRING if number % 2 else EXPIRATION,
                "occurred_at": iso(NOW + timedelta(minutes=number)),
                "acceptance": snapshot,
            }
        )
        for number in range(5)
    ]

    first = acceptances.list_events(None, 3, None)
    rest = acceptances.list_events(None, 3, first.next_token)
    assert [e["id"] for e in first.items + rest.items] == [e["id"] for e in reversed(stored)]
    assert [e["id"] for e in acceptances.list_events(EXPIRING, 10, None).items] == [
        stored[3]["id"],
        stored[1]["id"],
    ]
    assert TABLE.ttl_attribute not in stored[0]
    raw = dynamodb.get_item(
        TableName=TABLE_NAME, Key=to_item({"pk": f"EVENT#{stored[0]['id']}", "sk": "EVENT"})
    )
    ttl = from_item(raw["Item"])[TABLE.ttl_attribute]
    assert ttl == int(NOW.timestamp()) + 365 * SECONDS_PER_DAY


# --- listing ----------------------------------------------------------------------------------------


def test_acceptances_are_listed_and_iterated_newest_first(acceptances: AcceptanceStore) -> None:
    made = [
        accept(
            acceptances, acceptance_fields(cve=f"CVE-2024-{n:04d}", accepted_at=NOW + timedelta(seconds=n))
        )
        for n in range(5)
    ]

    first = acceptances.list_acceptances(2, None)
    assert [a["id"] for a in first.items] == [made[4]["id"], made[3]["id"]]
    assert first.next_token is not None
    assert [a["id"] for a in acceptances.iter_acceptances()] == [a["id"] for a in reversed(made)]


def test_default_store_uses_the_configured_table(dynamodb: Any, acceptances: AcceptanceStore) -> None:
    fields = accept(acceptances)

    store = default_acceptance_store()

    assert store.table_name == TABLE_NAME
    assert store.get_acceptance(fields["id"]) == fields
