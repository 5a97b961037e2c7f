"""Registry connections in the table, their secrets in Secrets Manager, and what ingestion records about
each connection (docs/architecture.md, "Registry connections (issue 14) — design").

**The entity** is a managed entity (riskgate.adapters.entities) with a minted id and a unique name: pk
`REGISTRY#<id>` (id `reg-…`), sk `META`; gsi2 `REGISTRIES` / `<name>#<id>`; the name guard
`NAME#registry#<name>`; fields id, name, type (`ecr` | `harbor`), config (public: never a secret),
`secret_arn` / `secret_version` / `secret_fields` (the names of the secret fields stored) while it has
secrets, version, created/updated at/by. Each change is one TransactWriteItems with its audit event (entity
type `registry`). Connections belong to the whole account: no scope, nothing they use.

**Secrets** (a Harbor robot's secret, the webhook's shared secret) are the Secrets Manager secret
`<prefix>/registries/<id>`, kept as integrations keep theirs (riskgate.adapters.entity_secrets): written
before the item's transaction, named by version in the item, scheduled for deletion after the delete. A
PATCH that sends one secret field keeps the others (the stored value is read and merged into the new
version). A create whose transaction fails schedules the deletion of the secret it wrote (its id is new:
nothing else can name it).

**Operational state** is not part of the entity — no version, no audit, no configuration-version bump:
ingestion writes it as it goes, with single UpdateItems.

- **state**, sk `STATE`: `last_event_at`, counters `events_<kind>` and `last_error` {at, message, image}
  (`record_event`, `record_receipt`); `sync` {job_id, state, started_at, finished_at, images_seen,
  images_imported, cursor, error} (`start_sync`, `sync_progress`, `finish_sync`).
- **events**, sk `EVENT#<at>#<8 hex>` (`record_event`): expire through the table's TTL after
  REGISTRY_EVENT_TTL_DAYS.
- **markers**, sk `SEEN#<scanner>#<digest>` (`mark_seen`): `scanned_at`, the registry's time of the
  newest scan of that digest imported.

Counters are top-level attributes (`events_imported`), because DynamoDB's ADD does not reach into maps;
`get_state` shows them as `events: {kind: count}`.

**Deleting a connection** deletes its state item in the same transaction (a reader never sees the state
of a connection that is gone). Its events are left to expire through their TTL, and its markers are left
where they are: they are small, keyed by an id that is never minted again, and sweeping a registry's
worth of them would not fit in an API request. A connection's id never comes back, so nothing reads them.
"""

from __future__ import annotations

import re
import secrets as random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from riskgate.adapters.audit_log import audit_entry, record_failed_authentication
from riskgate.adapters.dynamo import (
    Page,
    expression_values,
    from_item,
    public_fields,
    query_page,
    to_item,
)
from riskgate.adapters.entities import Check, Uses, name_guard_key, shown
from riskgate.adapters.entity_secrets import SecretHoldingStore
from riskgate.adapters.store import default_store
from riskgate.adapters.transactions import StaleRead, Transaction, visible
from riskgate.clock import iso, parse_iso
from riskgate.domain.audit import Actor, FailedAuthentication
from riskgate.domain.errors import Conflict, NotFound
from riskgate.resources import REGISTRY_EVENT_TTL_DAYS, TABLE
from riskgate.settings import get_settings

REGISTRIES_PARTITION = "REGISTRIES"
ENTITY_TYPE = "registry"
SECRET_TAG = "riskgate:registry"
# The audit action of a sync asked for through the API (nothing of the entity changes).
SYNC_ACTION = "sync"

STATE_SK = "STATE"
EVENT_PREFIX = "EVENT#"
SEEN_PREFIX = "SEEN#"
# The counters of a connection's events, by kind: `events_<kind>` attributes of its state item.
COUNTER_PREFIX = "events_"
# What a webhook's receipt counts (the ingester's outcomes count under their own kinds).
RECEIVED = "received"
# A sync still "running" this long after it started is taken to have died: another may start.
SYNC_STALE_AFTER = timedelta(hours=1)
SYNC_RUNNING, SYNC_DONE, SYNC_FAILED = "running", "done", "failed"

MAX_MESSAGE_LENGTH = 1000
MAX_IMAGE_LENGTH = 1000
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SECONDS_PER_DAY = 86_400

# Called with the connection as read (before every attempt): the public fields to change (name,
# config), and the secret fields sent (None: none; those not sent keep their values). Raises when the
# caller may not change it.
Revise = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, str] | None]]


def registry_key(registry_id: str, sk: str = "META") -> dict[str, str]:
    return {"pk": f"REGISTRY#{registry_id}", "sk": sk}


class RegistryStore(SecretHoldingStore):
    """Stored registry connections, their secrets and their operational state. Clients are created
    lazily when not given."""

    key_prefix = "REGISTRY"
    id_prefix = "reg-"
    item_type = "registry"
    list_partition = REGISTRIES_PARTITION
    entity_type = ENTITY_TYPE
    referrer_type = "registry"
    what = "registry connection"
    what_changed = "registry connection"
    unique_name = "registry"
    secrets_kind = "registries"
    secret_tag = SECRET_TAG
    secrets_describe = "Riskgate registry connection"

    def uses(self, fields: Mapping[str, Any]) -> Uses:
        """Nothing: a connection belongs to the whole account."""
        return {}

    # --- reading ----------------------------------------------------------------------------------

    def get_connection(self, registry_id: str) -> dict[str, Any] | None:
        """The connection with its `state`, read together (one strongly consistent BatchGetItem); None
        when there is none."""
        found = self._items([registry_key(registry_id), registry_key(registry_id, STATE_SK)], consistent=True)
        meta = found.get((f"REGISTRY#{registry_id}", "META"))
        if meta is None or meta.get("deleted"):
            return None
        return {**visible(meta), "state": state_view(found.get((f"REGISTRY#{registry_id}", STATE_SK)))}

    def list_connections(self, limit: int, next_token: str | None) -> Page:
        """By name, each with its `state` (one BatchGetItem for the page's states)."""
        page = self.list_page(limit, next_token)
        keys = [registry_key(item["id"], STATE_SK) for item in page.items]
        states = self._items(keys, consistent=False) if keys else {}
        return page.mapped(
            lambda item: {**item, "state": state_view(states.get((f"REGISTRY#{item['id']}", STATE_SK)))}
        )

    def list_all(self) -> list[dict[str, Any]]:
        """Every connection (the list partition, paged Queries; eventually consistent): what the ingester
        matches an event against. Without state."""
        items = self.query_all("gsi2", "gsi2pk", REGISTRIES_PARTITION)
        return [shown(visible(item)) for item in items if not item.get("deleted")]

    def read_secret(self, registry_id: str) -> dict[str, str]:
        """The connection's secret fields (`{"robot_secret": …, "webhook_secret": …}`), at the version it
        names; {} when it has none. For the ingester and the webhook's check, never for an API answer."""
        item = self._get(self.key(registry_id))
        if item is None:
            raise NotFound(f"registry connection {registry_id} not found")
        return self.secret_store.read(item)

    # --- changing ---------------------------------------------------------------------------------

    def create_connection(
        self,
        name: str,
        kind: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        actor: Actor,
    ) -> dict[str, Any]:
        """Store a new connection; its secrets (if any) first, in Secrets Manager. Returns it with its
        (empty) `state`."""
        if self._get(name_guard_key(str(self.unique_name), name)) is not None:
            raise self._name_taken(name)  # before a secret is written for a connection that cannot be
        registry_id = self.new_id()
        fields: dict[str, Any] = {"id": registry_id, "name": name, "type": kind, "config": dict(config)}
        if secrets:
            fields.update(self.secret_store.write(registry_id, secrets))
            fields["secret_fields"] = sorted(secrets)
        try:
            created = self.create(fields, actor)
        except Exception:
            if secrets:
                self.secret_store.schedule_deletion(registry_id)  # nothing names it
            raise
        return {**created, "state": state_view(None)}

    def update_connection(self, registry_id: str, revise: Revise, actor: Actor) -> dict[str, Any]:
        """Apply `revise` to the connection as read; a change that changes nothing writes nothing. Secret
        fields sent are merged into the stored ones: a new version, written once per version read.
        Returns it with its `state`."""
        written: dict[str | None, dict[str, Any]] = {}  # by the secret version each attempt read

        def changes_of(current: dict[str, Any]) -> dict[str, Any]:
            fields, sent = revise(shown(current))
            changes = dict(fields)
            if sent:
                basis = current.get("secret_version")
                if basis not in written:
                    merged = {**self.secret_store.read(current), **sent}
                    written[basis] = {
                        **self.secret_store.write(registry_id, merged),
                        "secret_fields": sorted(merged),
                    }
                changes.update(written[basis])
            return changes

        after = self.revise(registry_id, changes_of, actor)
        return {**after, "state": self.get_state(registry_id)}

    def delete_connection(self, registry_id: str, actor: Actor, check: Check = lambda current: None) -> None:
        """Delete a connection and its state; then schedule its secret's deletion."""
        deleted: dict[str, Any] = {}  # as read by the last attempt: the one committed

        def checked(current: dict[str, Any]) -> None:
            check(shown(current))
            deleted.clear()
            deleted.update(current)

        self.delete(registry_id, actor, checked)
        self.secret_store.release(registry_id, deleted)

    def _write_delete(self, transaction: Transaction, current: dict[str, Any], actor: Actor) -> None:
        super()._write_delete(transaction, current, actor)
        transaction.delete(registry_key(self.entity_id(current), STATE_SK))

    # --- operational state: events ---------------------------------------------------------------

    def get_state(self, registry_id: str) -> dict[str, Any]:
        """What ingestion recorded about the connection (empty counters and nulls when nothing yet)."""
        return state_view(self._get(registry_key(registry_id, STATE_SK)))

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
        """An event of the connection (`kind`: `imported`, `scan_failed`, … — lower case, digits, `_`),
        kept for REGISTRY_EVENT_TTL_DAYS; its state counts it and takes `last_event_at`, and `last_error`
        {at, message, image} when it is an error. Two writes (the event, then the state), no reads."""
        if not _KIND.match(kind):
            raise ValueError(f"not an event kind: {kind!r}")
        moment = iso(at)
        message = message[:MAX_MESSAGE_LENGTH]
        image = image[:MAX_IMAGE_LENGTH] if image else None
        event = {
            **registry_key(registry_id, f"{EVENT_PREFIX}{moment}#{random.token_hex(4)}"),
            "item_type": "registry_event",
            "registry_id": registry_id,
            "kind": kind,
            "at": moment,
            "message": message,
            "image": image,
            "error": error,
            TABLE.ttl_attribute: int(at.timestamp()) + REGISTRY_EVENT_TTL_DAYS * _SECONDS_PER_DAY,
        }
        self.client.put_item(TableName=self.table_name, Item=to_item(event))
        last_error = {"at": moment, "message": message, "image": image} if error else None
        self._count(registry_id, kind, moment, last_error)

    def record_receipt(self, registry_id: str, at: datetime) -> None:
        """Something arrived for the connection (a webhook accepted): `last_event_at`, and its counter
        `events.received`; no event item (what comes of it is recorded by the ingester)."""
        self._count(registry_id, RECEIVED, iso(at), None)

    def list_events(self, registry_id: str, limit: int, next_token: str | None) -> Page:
        """The connection's events, newest first: {at, kind, message, image, error}."""
        page = query_page(
            self.client,
            self.table_name,
            index=None,
            partition=("pk", f"REGISTRY#{registry_id}"),
            prefix=("sk", EVENT_PREFIX),
            limit=limit,
            next_token=next_token,
            newest_first=True,
        )
        return page.mapped(event_view)

    # --- operational state: syncs ----------------------------------------------------------------

    def start_sync(
        self, registry_id: str, job_id: str, at: datetime, *, actor: Actor | None = None
    ) -> dict[str, Any]:
        """Mark a sync as running (the state's `sync`, replaced); with `actor`, the audit event of the
        request (action `sync`) in the same transaction. 404 when the connection does not exist; 409 when
        a sync is running that started less than SYNC_STALE_AFTER ago. Returns the new `sync`."""
        moment = iso(at)
        sync = {
            "job_id": job_id,
            "state": SYNC_RUNNING,
            "started_at": moment,
            "images_seen": 0,
            "images_imported": 0,
        }
        transaction = Transaction(self.table_name)
        transaction.add(
            {
                "ConditionCheck": {
                    "Key": to_item(registry_key(registry_id)),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            NotFound(f"registry connection {registry_id} not found"),
        )
        transaction.add(
            {
                "Update": {
                    "Key": to_item(registry_key(registry_id, STATE_SK)),
                    "UpdateExpression": "SET #sync = :sync, item_type = :type",
                    "ConditionExpression": (
                        "attribute_not_exists(#sync) OR #sync.#state <> :running OR #sync.started_at < :stale"
                    ),
                    "ExpressionAttributeNames": {"#sync": "sync", "#state": "state"},
                    "ExpressionAttributeValues": expression_values(
                        {
                            ":sync": sync,
                            ":type": "registry_state",
                            ":running": SYNC_RUNNING,
                            ":stale": iso(at - SYNC_STALE_AFTER),
                        }
                    ),
                }
            },
            Conflict(
                f"a sync of registry connection {registry_id} is running: wait for it to finish",
                details=[{"registry_id": registry_id}],
            ),
        )
        if actor is not None:
            transaction.add(
                audit_entry(
                    self.table_name, actor, SYNC_ACTION, ENTITY_TYPE, registry_id, details={"job_id": job_id}
                )
            )
        try:
            transaction.commit(self.client)
        except StaleRead as error:  # another start (or delete) of the same connection in flight
            raise Conflict(f"registry connection {registry_id} changed concurrently: retry") from error
        return sync

    def sync_progress(self, registry_id: str, job_id: str, *, seen: int, imported: int, cursor: Any) -> bool:
        """One page of the sync `job_id` done: `seen` and `imported` are that page's numbers (added to
        the sync's), `cursor` where the next page starts (None: there is none). False, and nothing
        written, when that job is no longer the running one (another started, or it finished). A page
        delivered twice counts twice: the numbers are "at least"."""
        names = {"#sync": "sync", "#state": "state", "#cursor": "cursor"}
        values: dict[str, Any] = {
            ":job": job_id,
            ":running": SYNC_RUNNING,
            ":seen": seen,
            ":imported": imported,
        }
        expression = (
            "SET #sync.images_seen = #sync.images_seen + :seen, "
            "#sync.images_imported = #sync.images_imported + :imported"
        )
        if cursor is None:
            expression += " REMOVE #sync.#cursor"
        else:
            expression += ", #sync.#cursor = :cursor"
            values[":cursor"] = cursor
        return self._update_sync(registry_id, expression, names, values)

    def finish_sync(
        self, registry_id: str, job_id: str, state: str, at: datetime, error: str | None = None
    ) -> bool:
        """End the running sync `job_id` as `done` or `failed` (with `error`, a message: never a secret).
        False, and nothing written, when that job is not the running one (finished already, or replaced)."""
        if state not in (SYNC_DONE, SYNC_FAILED):
            raise ValueError(f"a sync ends done or failed, not {state!r}")
        names = {"#sync": "sync", "#state": "state", "#cursor": "cursor"}
        values: dict[str, Any] = {":job": job_id, ":running": SYNC_RUNNING, ":end": state, ":at": iso(at)}
        expression = "SET #sync.#state = :end, #sync.finished_at = :at"
        if error:
            names["#error"] = "error"
            values[":error"] = error[:MAX_MESSAGE_LENGTH]
            expression += ", #sync.#error = :error"
        expression += " REMOVE #sync.#cursor"
        return self._update_sync(registry_id, expression, names, values)

    # --- operational state: what was imported ----------------------------------------------------

    def seen_scan(self, registry_id: str, scanner: str, digest: str) -> str | None:
        """The registry's time of the newest scan of `digest` by `scanner` imported through the connection
        (ISO 8601, UTC); None when none was."""
        item = self._get(registry_key(registry_id, f"{SEEN_PREFIX}{scanner}#{digest}"))
        return str(item["scanned_at"]) if item and item.get("scanned_at") else None

    def mark_seen(self, registry_id: str, scanner: str, digest: str, scanned_at: str | datetime) -> bool:
        """Record that the scan of `scanned_at` (the registry's time) was imported — only when it is newer
        than the one recorded (a conditional update). False when it is not: a duplicate, or out of order."""
        moment = iso(scanned_at) if isinstance(scanned_at, datetime) else iso(parse_iso(scanned_at))
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=to_item(registry_key(registry_id, f"{SEEN_PREFIX}{scanner}#{digest}")),
                UpdateExpression="SET scanned_at = :at, item_type = :type",
                ConditionExpression="attribute_not_exists(scanned_at) OR scanned_at < :at",
                ExpressionAttributeValues=expression_values({":at": moment, ":type": "registry_seen"}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # --- failed authentications ------------------------------------------------------------------

    def record_failed_authentication(self, failure: FailedAuthentication) -> None:
        """A webhook refused for its secret, counted into the security event log as the authorizer counts
        refused tokens (riskgate.adapters.audit_log.record_failed_authentication)."""
        settings = get_settings()
        record_failed_authentication(
            self.client,
            self.table_name,
            failure,
            addresses_per_window=settings.auth_failure_addresses_per_minute,
            retention_days=settings.audit_retention_days,
        )

    # --- helpers ----------------------------------------------------------------------------------

    def _count(self, registry_id: str, kind: str, moment: str, last_error: dict[str, Any] | None) -> None:
        names = {"#count": f"{COUNTER_PREFIX}{kind}"}
        values: dict[str, Any] = {":at": moment, ":one": 1, ":type": "registry_state"}
        sets = ["last_event_at = :at", "item_type = :type"]
        if last_error is not None:
            sets.append("last_error = :error")
            values[":error"] = last_error
        self.client.update_item(
            TableName=self.table_name,
            Key=to_item(registry_key(registry_id, STATE_SK)),
            UpdateExpression=f"SET {', '.join(sets)} ADD #count :one",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=expression_values(values),
        )

    def _update_sync(
        self, registry_id: str, expression: str, names: dict[str, str], values: dict[str, Any]
    ) -> bool:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=to_item(registry_key(registry_id, STATE_SK)),
                UpdateExpression=expression,
                ConditionExpression="#sync.job_id = :job AND #sync.#state = :running",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=expression_values(values),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _items(
        self, keys: list[dict[str, str]], *, consistent: bool
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The items at `keys` (at most 100) by (pk, sk), as stored; one BatchGetItem (and one more per
        round of unprocessed keys)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        pending: dict[str, Any] = {
            self.table_name: {"Keys": [to_item(key) for key in keys], "ConsistentRead": consistent}
        }
        while pending:
            response = self.client.batch_get_item(RequestItems=pending)
            for raw in response.get("Responses", {}).get(self.table_name, []):
                item = from_item(raw)
                found[(item["pk"], item["sk"])] = item
            pending = response.get("UnprocessedKeys") or {}
        return found


def state_view(item: Mapping[str, Any] | None) -> dict[str, Any]:
    """A state item as shown: `{last_event_at, last_error, events: {kind: count}, sync}`."""
    item = item or {}
    events = {
        key.removeprefix(COUNTER_PREFIX): int(value)
        for key, value in sorted(item.items())
        if key.startswith(COUNTER_PREFIX)
    }
    return {
        "last_event_at": item.get("last_event_at"),
        "last_error": item.get("last_error"),
        "events": events,
        "sync": item.get("sync"),
    }


def event_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """An event item as shown."""
    fields = public_fields(dict(item))
    return {
        "at": fields.get("at"),
        "kind": fields.get("kind"),
        "message": fields.get("message"),
        "image": fields.get("image"),
        "error": bool(fields.get("error")),
    }


def default_registry_store() -> RegistryStore:
    """The connections of the configured table, sharing the store's client (and its lifetime)."""
    store = default_store()
    return RegistryStore(store.table_name, client=store.client)
