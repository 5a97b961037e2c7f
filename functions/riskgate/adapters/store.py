"""The DynamoDB store: the only module that knows item shapes and speaks to the table.

Keys and item types are described in docs/architecture.md. Every access is a key lookup or a Query;
nothing here scans the table.

**Findings are stored once per change, not once per scan.** A scan's findings live in the partition
`SCAN#<scan id>` of the scan that first stored them, identified by their digest (a hash of the set). A
re-scan whose findings equal the image's current ones writes no finding: its scan record points at the
current partition (`findings_scan_id`), on condition that it is still the image's current one when the
transaction commits. A partition that stops being an image's current one is retired (its items get the
table's TTL, `retire_findings`) and can never become current again, so a retirement cannot race a reuse.
Items written before digests existed are read as before: a scan without `findings_scan_id` holds its own.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from riskgate.adapters.audit_log import audit_put
from riskgate.adapters.dynamo import (
    Page,
    batch_get,
    condition_failed_at,
    expression_values,
    from_item,
    query_page,
    to_item,
)
from riskgate.adapters.events import event_item
from riskgate.adapters.tokens import TokenStore
from riskgate.clock import parse_iso
from riskgate.domain.audit import AuditEvent
from riskgate.domain.errors import Conflict
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef, findings_scan_id
from riskgate.resources import FINDINGS_WRITE_CONCURRENCY, TABLE
from riskgate.settings import get_settings

BATCH_WRITE_SIZE = 25  # DynamoDB's limit per BatchWriteItem
# Times a scan is re-authorized against tags that other writers added while it was being stored.
MAX_TAG_RECHECKS = 3


@dataclass(frozen=True)
class StoredScan:
    """What saving a scan did: whether it became the image's current scan, and how many finding items
    it wrote (0 when it shared the image's current findings)."""

    scan_id: str
    image_id: str
    became_current: bool
    findings_written: int = 0


@dataclass(frozen=True)
class FindingsSet:
    """An image's current findings: their digest, and the scan whose partition holds them."""

    digest: str
    scan_id: str


def current_findings(image: Mapping[str, Any] | None) -> FindingsSet | None:
    """The findings an image summary points at, when it says (summaries written before digests do not)."""
    if not image or not image.get("current_findings_digest") or not image.get("current_findings_scan_id"):
        return None
    return FindingsSet(str(image["current_findings_digest"]), str(image["current_findings_scan_id"]))


def findings_digest(findings: list[Finding]) -> str:
    """The identity of a set of findings: equal for equal findings in any order."""
    lines = sorted(json.dumps(finding_to_record(f), sort_keys=True, default=str) for f in findings)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def image_pk(image_id: str) -> str:
    return f"IMAGE#{image_id}"


def finding_sort_key(finding: Finding) -> str:
    return f"F#{finding.kind.value}#{finding.severity.rank}{finding.severity.value}#{finding.key}"


def finding_prefix(kind: FindingKind | None, severity: Severity | None) -> str:
    if kind is None:
        return "F#"
    if severity is None:
        return f"F#{kind.value}#"
    return f"F#{kind.value}#{severity.rank}{severity.value}#"


def finding_to_record(finding: Finding) -> dict[str, Any]:
    return {
        "kind": finding.kind.value,
        "finding_id": finding.finding_id,
        "severity": finding.severity.value,
        "title": finding.title,
        "package": finding.package,
        "installed_version": finding.installed_version,
        "fixed_version": finding.fixed_version,
        "fixable": finding.fixable,
        "location": finding.location,
        "cvss_score": finding.cvss_score,
        "fix_state": finding.fix_state,
        "detail": finding.detail,
    }


def finding_from_record(record: dict[str, Any]) -> Finding:
    return Finding(
        kind=FindingKind(record["kind"]),
        finding_id=record["finding_id"],
        severity=Severity(record["severity"]),
        title=record.get("title"),
        package=record.get("package"),
        installed_version=record.get("installed_version"),
        fixed_version=record.get("fixed_version"),
        location=record.get("location"),
        cvss_score=record.get("cvss_score"),
        fix_state=record.get("fix_state"),
        detail=record.get("detail"),
    )


class Store(TokenStore):
    """Images, scans, findings; token authentication (riskgate.adapters.tokens). `client` is created
    lazily when not given."""

    # --- scans ------------------------------------------------------------------------------------

    def save_scan(
        self,
        *,
        scan: dict[str, Any],
        image: ImageRef,
        findings: list[Finding],
        image_summary: dict[str, Any],
        audit: AuditEvent | None = None,
        known_tags: tuple[str, ...] | None = None,
        recheck: Callable[[tuple[str, ...]], None] | None = None,
        known_findings: FindingsSet | None = None,
    ) -> StoredScan:
        """Store a scan so that readers see the image's old findings or the new ones, never a mix.

        1. The findings go under the new scan's own partition (invisible: nothing points there yet) —
           unless they equal the image's current ones as read (`known_findings`): then nothing is written
           and the scan shares that partition, on condition that it is still current at step 2 (else the
           findings are written after all and step 2 is tried again).
        2. One transaction writes the scan record and its audit event, points the image summary at the
           new scan — only if no newer scan got there first — and moves the tag pointer.

        With `recheck`, the caller was authorized against the image as it was (`known_tags`: its tags,
        None: no such image): the summary is updated only while that still holds. When another writer
        created the image or tagged it meanwhile, `recheck(tags now)` decides again (it raises to refuse)
        and the transaction is retried; the findings written in step 1 then stay unreferenced.
        """
        audit_entries = (
            [audit_put(self.table_name, audit, get_settings().audit_retention_days)] if audit else []
        )
        scan_id = scan["scan_id"]
        image_id = image.image_id
        digest = findings_digest(findings)
        shared = known_findings if known_findings is not None and known_findings.digest == digest else None
        written = 0 if shared else self._write_findings(scan_id, image_id, findings)
        holder = shared.scan_id if shared else scan_id

        scan_item = {
            "pk": image_pk(image_id),
            "sk": f"SCAN#{scan['received_at']}#{scan_id}",
            "item_type": "scan",
            "image_id": image_id,
            **scan,
            "findings_scan_id": holder,
            "findings_digest": digest,
        }
        order = f"{scan['received_at']}#{scan_id}"
        summary_values = {
            "registry": image.registry,
            "repository": image.repository,
            "digest": image.digest,
            "current_scan_id": scan_id,
            "current_scan_order": order,
            "last_scan_at": scan["received_at"],
            "current_findings_scan_id": holder,
            "current_findings_digest": digest,
            **image_summary,
        }
        names: dict[str, str] = {}
        values: dict[str, Any] = {":order": order, ":one": 1, ":zero": 0, ":now": scan["received_at"]}
        sets = [
            "item_type = :item_type",
            "image_id = :image_id",
            "gsi1pk = :gsi1pk",
            "gsi1sk = :gsi1sk",
            "gsi2pk = :gsi2pk",
            "gsi2sk = :gsi2sk",
            "scan_count = if_not_exists(scan_count, :zero) + :one",
            "first_seen_at = if_not_exists(first_seen_at, :now)",
        ]
        values.update(
            {
                ":item_type": "image",
                ":image_id": image_id,
                ":gsi1pk": f"REPO#{image.repository}",
                ":gsi1sk": f"{image.registry}#{image_id}",
                ":gsi2pk": "IMAGES",
                ":gsi2sk": f"{image.registry}#{image.repository}#{image_id}",
            }
        )
        removes: list[str] = []
        for index, (field, value) in enumerate(summary_values.items()):
            names[f"#f{index}"] = field
            if value is None:
                removes.append(f"#f{index}")
            else:
                values[f":v{index}"] = value
                sets.append(f"#f{index} = :v{index}")
        update = "SET " + ", ".join(sets)
        if image.tag:
            update += " ADD tags :tag"
            values[":tag"] = {image.tag}
        if removes:
            update += " REMOVE " + ", ".join(removes)

        def summary_update(known: tuple[str, ...] | None, sharing: FindingsSet | None) -> dict[str, Any]:
            condition = "attribute_not_exists(pk) OR current_scan_order < :order"
            guard_values: dict[str, Any] = {}
            if recheck is not None:
                # Tags are only ever added, so an unchanged count means unchanged tags.
                if known is None:
                    condition = "attribute_not_exists(pk)"
                elif known:
                    condition = "current_scan_order < :order AND size(tags) = :tag_count"
                    guard_values[":tag_count"] = len(known)
                else:
                    condition = "current_scan_order < :order AND attribute_not_exists(tags)"
            if sharing is not None:
                # The shared partition must still be current: once it is not, it may be retiring.
                condition = f"({condition}) AND current_findings_scan_id = :shared"
                guard_values[":shared"] = sharing.scan_id
            return {
                "Update": {
                    "TableName": self.table_name,
                    "Key": to_item({"pk": image_pk(image_id), "sk": "META"}),
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": expression_values({**values, **guard_values}),
                }
            }

        transact: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table_name, "Item": to_item(scan_item)}},
            summary_update(known_tags, shared),
        ]
        if image.tag:
            transact.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": to_item(
                            {
                                "pk": f"REF#{image.name}:{image.tag}",
                                "sk": "REF",
                                "item_type": "tag",
                                "image_id": image_id,
                                "updated_at": scan["received_at"],
                            }
                        ),
                    }
                }
            )
        for _ in range(MAX_TAG_RECHECKS):
            try:
                self.client.transact_write_items(TransactItems=transact + audit_entries)
            except ClientError as error:
                if not condition_failed_at(error, 1):
                    raise
            else:
                return StoredScan(scan_id, image_id, became_current=True, findings_written=written)
            current = self.get_image(image_id)
            tags_now = tuple(sorted(current.get("tags") or ())) if current else None
            if recheck is not None and tags_now != known_tags:
                assert tags_now is not None  # images are never deleted
                recheck(tags_now)
                known_tags = tags_now
                transact[1] = summary_update(known_tags, shared)
                continue
            newer = current is not None and str(current.get("current_scan_order") or "") >= order
            if shared is not None and not newer:
                # The findings we meant to share were replaced meanwhile: store ours after all.
                written, shared = self._write_findings(scan_id, image_id, findings), None
                scan_item["findings_scan_id"] = scan_id
                values[f":v{list(summary_values).index('current_findings_scan_id')}"] = scan_id
                transact[0] = {"Put": {"TableName": self.table_name, "Item": to_item(scan_item)}}
                transact[1] = summary_update(known_tags, None)
                continue
            # A newer scan of this image was stored meanwhile: keep ours as history only. Findings it
            # wrote were never any image's current ones: they retire at once (nothing else would).
            self.client.transact_write_items(TransactItems=[transact[0], *audit_entries])
            if written:
                # The scan's own receipt time is "now" here (the clock is read by the caller, once).
                received = int(parse_iso(str(scan_item["received_at"])).timestamp())
                self.retire_findings(scan_id, received, get_settings().findings_retention_days)
            return StoredScan(scan_id, image_id, became_current=False, findings_written=written)
        raise Conflict("the image was renamed concurrently several times: submit the scan again")

    def _write_findings(self, scan_id: str, image_id: str, findings: list[Finding]) -> int:
        """Write the findings under the scan's own partition, several batches at once; how many."""
        requests = []
        for finding in findings:
            item = {
                "pk": f"SCAN#{scan_id}",
                "sk": finding_sort_key(finding),
                "item_type": "finding",
                "scan_id": scan_id,
                "image_id": image_id,
                **finding_to_record(finding),
            }
            if finding.kind is FindingKind.VULNERABILITY:
                item["gsi1pk"] = f"VULN#{finding.finding_id}"
                item["gsi1sk"] = f"{image_id}#{scan_id}#{finding.key}"
            requests.append({"PutRequest": {"Item": to_item(item)}})
        self._batch_write_all(requests)
        return len(requests)

    def _batch_write_all(self, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem per 25 requests, FINDINGS_WRITE_CONCURRENCY of them in flight (boto3 clients are
        thread-safe): the CI waits for one round trip per `concurrency` batches, not per batch."""
        batches = [
            requests[start : start + BATCH_WRITE_SIZE] for start in range(0, len(requests), BATCH_WRITE_SIZE)
        ]
        if len(batches) <= 1:
            for batch in batches:
                self._batch_write(batch)
            return
        with ThreadPoolExecutor(max_workers=min(FINDINGS_WRITE_CONCURRENCY, len(batches))) as pool:
            for done in [pool.submit(self._batch_write, batch) for batch in batches]:
                done.result()  # the first failure is raised; the rest were written or are retried by a resend

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self.table_name: requests}
        for attempt in range(8):
            response = self.client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError("DynamoDB left findings unprocessed after retries")

    # --- reading ----------------------------------------------------------------------------------

    def get_image(self, image_id: str) -> dict[str, Any] | None:
        return self._get({"pk": image_pk(image_id), "sk": "META"})

    def image_for_tag(self, image: ImageRef) -> str | None:
        pointer = self._get({"pk": f"REF#{image.name}:{image.tag}", "sk": "REF"})
        return pointer["image_id"] if pointer else None

    def scan_exists(self, image_id: str, received_at: str, scan_id: str) -> bool:
        return self._get({"pk": image_pk(image_id), "sk": f"SCAN#{received_at}#{scan_id}"}) is not None

    def list_images(
        self,
        registry: str | None,
        repository: str | None,
        limit: int,
        next_token: str | None,
        registry_prefix: str | None = None,
    ) -> Page:
        """Images by repository (gsi1) or all of them (gsi2), optionally of one registry, or of the
        registries starting with `registry_prefix` (`k8s://`: the Kubernetes workloads)."""
        start = f"{registry}#" if registry else registry_prefix
        if repository:
            key = {"index": "gsi1", "pk": ("gsi1pk", f"REPO#{repository}")}
            prefix = ("gsi1sk", start) if start else None
        else:
            key = {"index": "gsi2", "pk": ("gsi2pk", "IMAGES")}
            prefix = ("gsi2sk", start) if start else None
        return query_page(
            self.client,
            self.table_name,
            index=str(key["index"]),
            partition=key["pk"],  # type: ignore[arg-type]
            prefix=prefix,
            limit=limit,
            next_token=next_token,
        )

    def list_scans(self, image_id: str, limit: int, next_token: str | None) -> Page:
        return query_page(
            self.client,
            self.table_name,
            index=None,
            partition=("pk", image_pk(image_id)),
            prefix=("sk", "SCAN#"),
            limit=limit,
            next_token=next_token,
            newest_first=True,
        )

    def list_findings(
        self,
        scan_id: str,
        kind: FindingKind | None,
        severity: Severity | None,
        fixable: bool | None,
        limit: int,
        next_token: str | None,
    ) -> Page:
        filters = {"fixable": fixable} if fixable is not None else None
        return query_page(
            self.client,
            self.table_name,
            index=None,
            partition=("pk", f"SCAN#{scan_id}"),
            prefix=("sk", finding_prefix(kind, severity)),
            limit=limit,
            next_token=next_token,
            equals_filters=filters,
        )

    def iter_findings(self, scan_id: str) -> Iterator[Finding]:
        """Every finding of the partition of `scan_id` (an image's: `findings_scan_id(image)`), page by
        page."""
        return (finding_from_record(item) for item in self._partition(f"SCAN#{scan_id}"))

    def retire_findings(self, scan_id: str, now_epoch: int, retention_days: int) -> int:
        """Give every finding of a partition that is no longer an image's current one the table's TTL:
        they stay readable for `retention_days`, then DynamoDB deletes them. Items already retiring keep
        their date (a redelivered stream record writes nothing); how many items were written."""
        expires = now_epoch + retention_days * 86_400
        requests = [
            {"PutRequest": {"Item": to_item({**item, TABLE.ttl_attribute: expires})}}
            for item in self._partition(f"SCAN#{scan_id}")
            if TABLE.ttl_attribute not in item
        ]
        self._batch_write_all(requests)
        return len(requests)

    def _partition(self, pk: str) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": pk}},
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self.client.query(**kwargs)
            yield from (from_item(item) for item in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def vulnerability_occurrences(self, vulnerability_id: str, limit: int, next_token: str | None) -> Page:
        """Findings of this vulnerability in each image's *current* scan, with the image's summary."""
        page = query_page(
            self.client,
            self.table_name,
            index="gsi1",
            partition=("gsi1pk", f"VULN#{vulnerability_id}"),
            prefix=None,
            limit=limit,
            next_token=next_token,
        )
        images = self.get_images({item["image_id"] for item in page.items})
        current = [
            ({"finding": item, "image": images[item["image_id"]]}, position)
            for item, position in zip(page.items, page.positions, strict=True)
            if item["image_id"] in images and findings_scan_id(images[item["image_id"]]) == item["scan_id"]
        ]
        return Page(
            items=[row for row, _ in current],
            next_token=page.next_token,
            positions=[position for _, position in current],
        )

    def get_images(self, image_ids: set[str]) -> dict[str, dict[str, Any]]:
        keys = [{"pk": image_pk(image_id), "sk": "META"} for image_id in sorted(image_ids)]
        return {image["image_id"]: image for image in batch_get(self.client, self.table_name, keys)}

    # --- evaluation -------------------------------------------------------------------------------

    def store_evaluation(
        self,
        image_id: str,
        scan_id: str,
        status: str,
        verdict: dict[str, Any],
        evaluated_at: str,
        policies: list[dict[str, Any]] | None = None,
        acceptances: list[dict[str, Any]] | None = None,
        accepted: int = 0,
        events: list[dict[str, Any]] | None = None,
        trigger_fingerprints: dict[str, str] | None = None,
    ) -> bool:
        """Record the evaluator's verdict with what it was computed with — the policies (id, version,
        name) and the acceptances in force (`acceptances`), when given — and how many findings were
        accepted (`accepted_count`; the API shows it as `counts.accepted`), after the trigger events the
        evaluation fires; False when a newer scan replaced the evaluated one."""
        values: dict[str, Any] = {
            ":status": status,
            ":verdict": verdict,
            ":scan": scan_id,
            ":at": evaluated_at,
            ":accepted": accepted,
        }
        update = (
            "SET #status = :status, verdict = :verdict, evaluated_scan_id = :scan, evaluated_at = :at, "
            "accepted_count = :accepted"
        )
        if policies is not None:
            update += ", policies = :policies, acceptances = :acceptances"
            values.update({":policies": policies, ":acceptances": acceptances or []})
        if trigger_fingerprints is not None:
            # What the last evaluation fired: a re-evaluation fires again only what changed.
            update += ", trigger_fingerprints = :fingerprints"
            values[":fingerprints"] = trigger_fingerprints
        write = {
            "TableName": self.table_name,
            "Key": to_item({"pk": image_pk(image_id), "sk": "META"}),
            "UpdateExpression": update,
            "ConditionExpression": "current_scan_id = :scan",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": expression_values(values),
        }
        if events:
            # Before the verdict, and idempotent (an event's id is derived from what fired it): if the
            # verdict's write then fails or never happens, the stream evaluates again and rewrites the same
            # items — a rewrite is a MODIFY, which the dispatcher ignores — so no event is lost or doubled.
            # (A transaction would do too, at twice the write cost per item.)
            retention = get_settings().audit_retention_days
            self._batch_write([{"PutRequest": {"Item": to_item(event_item(e, retention))}} for e in events])
        try:
            self.client.update_item(**write)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # --- helpers ----------------------------------------------------------------------------------


@cache
def default_store() -> Store:
    """The store of the configured table, created once per execution environment on first use."""
    return Store(get_settings().table_name)
