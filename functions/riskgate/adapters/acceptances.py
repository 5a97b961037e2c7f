"""Risk acceptances in the table: the acceptance, its reminders, its one-in-force guard, trigger events.

Item shapes and writes are those of docs/architecture.md ("Risk acceptance (issue 5)"). Every change is
one TransactWriteItems whose conditions decide it, so that the store, not the caller's earlier read,
settles races: two accepts of the same (scope, finding) cannot both win (the guard), of concurrent
revokes exactly one does, and overlapping expiry runs expire (and announce) an acceptance once.

The indexes are sparse: an acceptance is under `ACCEPTING#<target>` (gsi1) only while active and under
`DUE` (gsi3) only while active with an end, so the evaluator reads only active acceptances and the
expiry checker reads only what is due. Reminders sit under `DUE` at their own time.

A transaction cancelled because another one was in flight on the same items (`TransactionConflict`)
is sent again: its conditions are evaluated afresh, so a retry can never apply a change twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

from riskgate.adapters.audit_log import audit_entry
from riskgate.adapters.dynamo import (
    Page,
    TableClient,
    expression_values,
    from_item,
    query_page,
    to_item,
)
from riskgate.adapters.events import EVENTS_PARTITION, event_item
from riskgate.adapters.store import default_store
from riskgate.adapters.transactions import StaleRead, Transaction, actor_id, visible
from riskgate.clock import iso, parse_iso
from riskgate.domain.acceptances import AcceptancePeriod, AcceptanceStatus, acceptance_snapshot
from riskgate.domain.audit import SYSTEM_ACTOR, Actor, AuditAction
from riskgate.domain.errors import Conflict
from riskgate.domain.versions import ensure_version
from riskgate.resources import TABLE
from riskgate.settings import get_settings

ENTITY_TYPE = "risk_acceptance"
ACCEPTANCES_PARTITION = "ACCEPTANCES"
DUE_PARTITION = "DUE"
# Reading the due work: this many items a Query page.
DUE_PAGE_SIZE = 100
# Reading every acceptance of a target or of the table: this many items a Query page.
QUERY_PAGE_SIZE = 200
# How often a transaction cancelled by another in flight on the same items is sent again.
CONFLICT_ATTEMPTS = 5
# How often a revoke starts again from a fresh read when the acceptance changed (was extended) since.
REVOKE_ATTEMPTS = 3
# `$` sorts right after `#`: every sort key `<time>#…` with time <= now sorts before `<now>$`.
DUE_BOUND_SUFFIX = "$"
# Index keys that make an acceptance visible to the evaluator and the expiry checker.
ACTIVE_INDEX_KEYS = ("gsi1pk", "gsi1sk", "gsi3pk", "gsi3sk")


class _Refused(Exception):
    """A transaction's condition failed at the entry added with this meaning (`at`)."""

    def __init__(self, at: str) -> None:
        super().__init__(at)
        self.at = at


# --- keys and items ---------------------------------------------------------------------------------


def acceptance_key(acceptance_id: str) -> dict[str, str]:
    return {"pk": f"ACCEPTANCE#{acceptance_id}", "sk": "META"}


def reminder_key(acceptance_id: str, days: int) -> dict[str, str]:
    return {"pk": f"ACCEPTANCE#{acceptance_id}", "sk": f"REMINDER#{days}"}


def guard_item_key(guard: str) -> dict[str, str]:
    return {"pk": f"ACCEPTANCE_GUARD#{guard}", "sk": "GUARD"}


def expiry_sort_key(expires_at: str, acceptance_id: str) -> str:
    return f"{expires_at}#expiry#{acceptance_id}"


def acceptance_item(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A new (active) acceptance with its index keys; `fields` carry accepted_at/expires_at as ISO."""
    acceptance_id, accepted_at = str(fields["id"]), str(fields["accepted_at"])
    order = f"{accepted_at}#{acceptance_id}"
    item: dict[str, Any] = {
        **fields,
        **acceptance_key(acceptance_id),
        "item_type": "acceptance",
        "gsi1pk": f"ACCEPTING#{fields['target']}",
        "gsi1sk": order,
        "gsi2pk": ACCEPTANCES_PARTITION,
        "gsi2sk": order,
    }
    if fields.get("expires_at"):
        item["gsi3pk"] = DUE_PARTITION
        item["gsi3sk"] = expiry_sort_key(str(fields["expires_at"]), acceptance_id)
    return item


def reminder_item(fields: Mapping[str, Any], days: int, when: datetime) -> dict[str, Any]:
    """A reminder carries what its event needs (the acceptance's snapshot) so that sending it reads
    nothing more, and the `expires_at` it was made for, so that an extended acceptance's stale
    reminder is recognised."""
    acceptance_id, remind_at = str(fields["id"]), iso(when)
    return {
        **reminder_key(acceptance_id, days),
        "item_type": "acceptance_reminder",
        "gsi3pk": DUE_PARTITION,
        "gsi3sk": f"{remind_at}#reminder#{acceptance_id}#{days}",
        "acceptance_id": acceptance_id,
        "days": days,
        "remind_at": remind_at,
        "expires_at": fields.get("expires_at"),
        "acceptance": acceptance_snapshot(fields),
    }


def guard_item(guard: str, acceptance_id: str) -> dict[str, Any]:
    return {**guard_item_key(guard), "item_type": "acceptance_guard", "acceptance_id": acceptance_id}


def event_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """An event as the API shows it: without keys nor its TTL bookkeeping."""
    return {key: value for key, value in visible(item).items() if key != TABLE.ttl_attribute}


def stored(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item's visible fields exactly as a read would return them (absent values dropped, numbers
    as the table gives them back), so a write's answer equals the next read's."""
    return visible(from_item(to_item(dict(item))))


def in_force(fields: Mapping[str, Any], now: datetime) -> bool:
    expires_at = fields.get("expires_at")
    return fields.get("status") == AcceptanceStatus.ACTIVE.value and (
        not expires_at or parse_iso(str(expires_at)) > now
    )


def _update(
    key: dict[str, str],
    *,
    sets: Mapping[str, Any],
    removes: Sequence[str] = (),
    condition: str,
    values: Mapping[str, Any],
) -> dict[str, Any]:
    """An Update entry that sets `sets`, removes `removes` and adds one to the version, on `condition`
    (which may use `#status`, `#version` and the placeholders of `values`)."""
    names = {"#status": "status", "#version": "version"}
    all_values = {**values, ":one": 1}
    clauses = ["#version = #version + :one"]
    for number, (name, value) in enumerate(sets.items()):
        names[f"#s{number}"] = name
        all_values[f":s{number}"] = value
        clauses.append(f"#s{number} = :s{number}")
    expression = "SET " + ", ".join(clauses)
    if removes:
        for number, name in enumerate(removes):
            names[f"#r{number}"] = name
        expression += " REMOVE " + ", ".join(f"#r{number}" for number in range(len(removes)))
    return {
        "Update": {
            "Key": to_item(key),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": expression_values(all_values),
        }
    }


# The conditions of docs/architecture.md ("Writes"); `:now` is an ISO time, compared as strings (the
# format sorts as the moments do).
STILL_RUNNING = "(attribute_not_exists(expires_at) OR expires_at > :now)"
# Extend and revoke: the version the caller (extend) or we (revoke, for its audit event) read, in force.
IN_FORCE_AS_READ = f"#version = :read AND #status = :active AND {STILL_RUNNING}"
PERIOD_OVER = "#status = :active AND expires_at <= :now"
FIX_ENDS = "#status = :active AND period = :until_fixed"


class AcceptanceStore(TableClient):
    """Risk acceptances, their reminders and guards, and trigger events. `client` is created lazily."""

    # --- reading ----------------------------------------------------------------------------------

    def get_acceptance(self, acceptance_id: str) -> dict[str, Any] | None:
        item = self._get(acceptance_key(acceptance_id))
        return visible(item) if item else None

    def get_guard(self, guard: str) -> dict[str, Any] | None:
        """Which acceptance last held (scope, finding) `guard`; the caller judges whether it is in force."""
        item = self._get(guard_item_key(guard))
        return {"acceptance_id": item["acceptance_id"]} if item else None

    def active_for_target(self, target: str) -> list[dict[str, Any]]:
        """The active acceptances stored under `target` (gsi1 holds only active ones; the caller still
        checks `expires_at`, as the checker may not have run yet)."""
        return [visible(item) for item in self._query_all("gsi1", ("gsi1pk", f"ACCEPTING#{target}"), False)]

    def list_acceptances(self, limit: int, next_token: str | None) -> Page:
        page = query_page(
            self.client,
            self.table_name,
            index="gsi2",
            partition=("gsi2pk", ACCEPTANCES_PARTITION),
            limit=limit,
            next_token=next_token,
            newest_first=True,
        )
        return page.mapped(visible)

    def iter_acceptances(self) -> Iterator[dict[str, Any]]:
        """Every acceptance, newest first, read page by page as it is consumed (exports)."""
        for item in self._query_all("gsi2", ("gsi2pk", ACCEPTANCES_PARTITION), True):
            yield visible(item)

    def due_items(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Expiries and reminders due at `now`, oldest first, at most `limit`: raw items with their
        keys (sk `META`: an acceptance; `REMINDER#<days>`: a reminder). Reads only due items, so a run
        costs what is due, not what is stored."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "gsi3",
            "KeyConditionExpression": "gsi3pk = :due AND gsi3sk < :bound",
            "ExpressionAttributeValues": expression_values(
                {":due": DUE_PARTITION, ":bound": iso(now) + DUE_BOUND_SUFFIX}
            ),
            "ScanIndexForward": True,
        }
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            response = self.client.query(**kwargs, Limit=min(DUE_PAGE_SIZE, limit - len(items)))
            items += [from_item(item) for item in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return items[:limit]

    def list_events(self, event_type: str | None, limit: int, next_token: str | None) -> Page:
        page = query_page(
            self.client,
            self.table_name,
            index="gsi2",
            partition=("gsi2pk", EVENTS_PARTITION),
            limit=limit,
            next_token=next_token,
            newest_first=True,
            equals_filters={"type": event_type} if event_type else None,
        )
        return page.mapped(event_fields)

    # --- changing ---------------------------------------------------------------------------------

    def create_acceptance(
        self,
        fields: Mapping[str, Any],
        *,
        guard: str,
        previous: str | None,
        reminders: Sequence[tuple[int, datetime]],
        actor: Actor,
    ) -> dict[str, Any]:
        """Store a new acceptance with its guard, reminders and audit event.

        `previous` is the acceptance the caller found in the guard (and judged no longer in force):
        the guard is taken only if it still names that one, so of two concurrent accepts one wins
        and the other gets a Conflict naming the winner.
        """
        acceptance_id = str(fields["id"])
        item = acceptance_item(fields)
        after = stored(item)
        transaction = Transaction(self.table_name)
        transaction.put_new(item, Conflict(f"acceptance {acceptance_id} already exists"))
        transaction.add(self._guard_put(guard, acceptance_id, previous), _Refused("guard"))
        for days, when in reminders:
            transaction.put(reminder_item(fields, days, when))
        transaction.add(self._audit(actor, AuditAction.CREATE, acceptance_id, after=after))
        try:
            self._commit(transaction, f"acceptance {acceptance_id}")
        except _Refused as refused:
            owner = (self.get_guard(guard) or {}).get("acceptance_id")
            raise Conflict(
                f"this finding is already accepted in this scope by {owner}",
                details=[{"acceptance_id": owner}],
            ) from refused
        return after

    def extend_acceptance(
        self,
        acceptance_id: str,
        *,
        version: int,
        period: str,
        expires_at: datetime | None,
        reminders: Sequence[tuple[int, datetime]],
        now: datetime,
        actor: Actor,
    ) -> dict[str, Any] | None:
        """Give the acceptance a new period and end (None: no end) if it is still the `version` the
        caller read and in force; None otherwise (the caller re-reads to tell why)."""
        current = self._get(acceptance_key(acceptance_id))
        if current is None or int(current.get("version") or 0) != version:
            return None
        ends = iso(expires_at) if expires_at else None
        changes: dict[str, Any] = {"period": period, "extended_at": iso(now), "extended_by": actor_id(actor)}
        removes: list[str] = []
        if ends:
            changes |= {
                "expires_at": ends,
                "gsi3pk": DUE_PARTITION,
                "gsi3sk": expiry_sort_key(ends, acceptance_id),
            }
        else:
            removes = ["expires_at", "gsi3pk", "gsi3sk"]
        before = visible(current)
        kept_fields = {k: v for k, v in current.items() if k not in removes}
        after = stored({**kept_fields, **changes, "version": version + 1})
        transaction = Transaction(self.table_name)
        transaction.add(
            _update(
                acceptance_key(acceptance_id),
                sets=changes,
                removes=removes,
                condition=IN_FORCE_AS_READ,
                values={":read": version, ":active": AcceptanceStatus.ACTIVE.value, ":now": iso(now)},
            ),
            _Refused("acceptance"),
        )
        kept = {days for days, _ in reminders}
        for days in get_settings().expiry_reminder_days:
            if days not in kept:
                transaction.delete(reminder_key(acceptance_id, days))
        for days, when in reminders:
            transaction.put(reminder_item(after, days, when))
        transaction.add(self._audit(actor, AuditAction.EXTEND, acceptance_id, before=before, after=after))
        try:
            self._commit(transaction, f"acceptance {acceptance_id}")
        except _Refused:
            return None
        return after

    def revoke_acceptance(
        self,
        acceptance_id: str,
        *,
        reason: str | None,
        now: datetime,
        actor: Actor,
        expected_version: int | None = None,
    ) -> dict[str, Any] | None:
        """Revoke an acceptance in force (at `expected_version`, when given: else 409); None when there
        is none in force (gone, ended, or revoked by a concurrent request: of concurrent revokes
        exactly one gets the revoked fields)."""
        for _ in range(REVOKE_ATTEMPTS):
            current = self._get(acceptance_key(acceptance_id))
            if current is None or not in_force(current, now):
                return None
            ensure_version(f"risk acceptance {acceptance_id}", current, expected_version)
            try:
                return self._revoke(current, reason, now, actor)
            except _Refused:
                continue  # changed since read (extended): decide again from a fresh read
        return None

    def expire_acceptance(
        self,
        acceptance_id: str,
        *,
        now: datetime,
        reason: str,
        event: Mapping[str, Any],
        until_fixed_only: bool = False,
    ) -> bool:
        """End an acceptance whose period is over (or, `until_fixed_only`, an until-fixed one whose fix
        appeared) and record its trigger event; False when it was not active in that way (ended or
        revoked already: overlapping runs write once). Reads nothing: the condition decides."""
        condition, values = PERIOD_OVER, {":now": iso(now)}
        if until_fixed_only:
            condition, values = FIX_ENDS, {":until_fixed": AcceptancePeriod.UNTIL_FIXED.value}
        transaction = Transaction(self.table_name)
        transaction.add(
            _update(
                acceptance_key(acceptance_id),
                sets={
                    "status": AcceptanceStatus.EXPIRED.value,
                    "ended_at": iso(now),
                    "ended_reason": reason,
                },
                removes=ACTIVE_INDEX_KEYS,
                condition=condition,
                values={**values, ":active": AcceptanceStatus.ACTIVE.value},
            ),
            _Refused("acceptance"),
        )
        self._delete_reminders(transaction, acceptance_id)
        transaction.put_new(event_item(event, get_settings().audit_retention_days))
        transaction.add(
            self._audit(SYSTEM_ACTOR, AuditAction.EXPIRE, acceptance_id, details={"reason": reason})
        )
        try:
            self._commit(transaction, f"acceptance {acceptance_id}")
        except _Refused:
            return False
        return True

    def send_reminder(self, reminder: Mapping[str, Any], *, now: datetime, event: Mapping[str, Any]) -> bool:
        """Record a reminder's event once, and only for the end it was made for while the acceptance
        is active. A stale reminder (extended, revoked or expired acceptance) is deleted, eventless."""
        key = {"pk": str(reminder["pk"]), "sk": str(reminder["sk"])}
        acceptance_id = str(reminder["pk"]).removeprefix("ACCEPTANCE#")
        transaction = Transaction(self.table_name)
        transaction.add(
            {"Delete": {"Key": to_item(key), "ConditionExpression": "attribute_exists(pk)"}},
            _Refused("reminder"),
        )
        transaction.add(
            {
                "ConditionCheck": {
                    "Key": to_item(acceptance_key(acceptance_id)),
                    "ConditionExpression": "#status = :active AND expires_at = :expires",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": expression_values(
                        {":active": AcceptanceStatus.ACTIVE.value, ":expires": reminder.get("expires_at")}
                    ),
                }
            },
            _Refused("acceptance"),
        )
        transaction.put_new(event_item(event, get_settings().audit_retention_days))
        try:
            self._commit(transaction, f"reminder {key['sk']} of acceptance {acceptance_id}")
        except _Refused as refused:
            if refused.at == "acceptance":
                self._delete_stale_reminder(key, reminder.get("expires_at"))
            return False
        return True

    def put_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Record a trigger event on its own (`event` has type and occurred_at); returns it as listed."""
        item = event_item(event, get_settings().audit_retention_days)
        self.client.put_item(
            TableName=self.table_name, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
        )
        return event_fields(from_item(to_item(item)))

    # --- helpers ----------------------------------------------------------------------------------

    def _revoke(
        self, current: dict[str, Any], reason: str | None, now: datetime, actor: Actor
    ) -> dict[str, Any]:
        acceptance_id = str(current["id"])
        version = int(current.get("version") or 0)
        changes: dict[str, Any] = {
            "status": AcceptanceStatus.REVOKED.value,
            "revoked_at": iso(now),
            "revoked_by": actor_id(actor),
        }
        if reason:
            changes["revoke_reason"] = reason
        after = stored({**current, **changes, "version": version + 1})
        transaction = Transaction(self.table_name)
        transaction.add(
            _update(
                acceptance_key(acceptance_id),
                sets=changes,
                removes=ACTIVE_INDEX_KEYS,
                condition=IN_FORCE_AS_READ,
                values={":read": version, ":active": AcceptanceStatus.ACTIVE.value, ":now": iso(now)},
            ),
            _Refused("acceptance"),
        )
        self._delete_reminders(transaction, acceptance_id)
        transaction.add(
            self._audit(actor, AuditAction.REVOKE, acceptance_id, before=visible(current), after=after)
        )
        self._commit(transaction, f"acceptance {acceptance_id}")
        return after

    def _guard_put(self, guard: str, acceptance_id: str, previous: str | None) -> dict[str, Any]:
        put: dict[str, Any] = {
            "Item": to_item(guard_item(guard, acceptance_id)),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if previous is not None:
            put["ConditionExpression"] += " OR acceptance_id = :previous"
            put["ExpressionAttributeValues"] = expression_values({":previous": previous})
        return {"Put": put}

    def _delete_reminders(self, transaction: Transaction, acceptance_id: str) -> None:
        """Every reminder the configured days can have made (a missing one deletes nothing)."""
        for days in get_settings().expiry_reminder_days:
            transaction.delete(reminder_key(acceptance_id, days))

    def _delete_stale_reminder(self, key: dict[str, str], expires_at: Any) -> None:
        """Delete the reminder only as read: an extension may have replaced it with a fresh one since."""
        with suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.delete_item(
                TableName=self.table_name,
                Key=to_item(key),
                ConditionExpression="expires_at = :expires",
                ExpressionAttributeValues=expression_values({":expires": expires_at}),
            )

    def _commit(self, transaction: Transaction, what: str) -> None:
        """Commit; sent again (with backoff) while another transaction on the same items is in flight.
        A failed condition raises its meaning (`Transaction.add`)."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                transaction.commit(self.client)
                return
            except StaleRead:
                time.sleep(min(0.02 * 2**attempt, 0.5))
        raise Conflict(f"{what} is being changed concurrently: try again")

    def _query_all(
        self, index: str, partition: tuple[str, str], newest_first: bool
    ) -> Iterator[dict[str, Any]]:
        """Every item of an index partition, as plain values, one Query page at a time."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": partition[0]},
            "ExpressionAttributeValues": expression_values({":pk": partition[1]}),
            "ScanIndexForward": not newest_first,
            "Limit": QUERY_PAGE_SIZE,
        }
        while True:
            response = self.client.query(**kwargs)
            for item in response.get("Items", []):
                yield from_item(item)
            if not response.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _audit(
        self,
        actor: Actor,
        action: str,
        acceptance_id: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return audit_entry(
            self.table_name,
            actor,
            action,
            ENTITY_TYPE,
            acceptance_id,
            before=before,
            after=after,
            details=details,
        )


def default_acceptance_store() -> AcceptanceStore:
    """The acceptances of the configured table, sharing the store's client (and its lifetime)."""
    store = default_store()
    return AcceptanceStore(store.table_name, client=store.client)
