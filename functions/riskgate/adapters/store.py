"""The DynamoDB store: the only module that knows item shapes and speaks to the table.

Keys and item types are described in docs/architecture.md. Every access is a key lookup or a Query;
nothing here scans the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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
from riskgate.domain.audit import AuditEvent
from riskgate.domain.errors import Conflict
from riskgate.domain.findings import Finding, FindingKind, Severity
from riskgate.domain.images import ImageRef
from riskgate.settings import get_settings

BATCH_WRITE_SIZE = 25  # DynamoDB's limit per BatchWriteItem
# Times a scan is re-authorized against tags that other writers added while it was being stored.
MAX_TAG_RECHECKS = 3


@dataclass(frozen=True)
class StoredScan:
    """What saving a scan did: whether it became the image's current scan."""

    scan_id: str
    image_id: str
    became_current: bool


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
    ) -> StoredScan:
        """Store a scan so that readers see the image's old findings or the new ones, never a mix.

        1. The findings go under the new scan's own partition (invisible: nothing points there yet).
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
        self._write_findings(scan_id, image_id, findings)

        scan_item = {
            "pk": image_pk(image_id),
            "sk": f"SCAN#{scan['received_at']}#{scan_id}",
            "item_type": "scan",
            "image_id": image_id,
            **scan,
        }
        order = f"{scan['received_at']}#{scan_id}"
        summary_values = {
            "registry": image.registry,
            "repository": image.repository,
            "digest": image.digest,
            "current_scan_id": scan_id,
            "current_scan_order": order,
            "last_scan_at": scan["received_at"],
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

        def summary_update(known: tuple[str, ...] | None) -> dict[str, Any]:
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
            summary_update(known_tags),
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
                return StoredScan(scan_id=scan_id, image_id=image_id, became_current=True)
            current = self.get_image(image_id)
            tags_now = tuple(sorted(current.get("tags") or ())) if current else None
            if recheck is not None and tags_now != known_tags:
                assert tags_now is not None  # images are never deleted
                recheck(tags_now)
                known_tags = tags_now
                transact[1] = summary_update(known_tags)
                continue
            # A newer scan of this image was stored meanwhile: keep ours as history only.
            self.client.transact_write_items(TransactItems=[transact[0], *audit_entries])
            return StoredScan(scan_id=scan_id, image_id=image_id, became_current=False)
        raise Conflict("the image was renamed concurrently several times: submit the scan again")

    def _write_findings(self, scan_id: str, image_id: str, findings: list[Finding]) -> None:
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
        for start in range(0, len(requests), BATCH_WRITE_SIZE):
            self._batch_write(requests[start : start + BATCH_WRITE_SIZE])

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
        """Every finding of a scan, page by page."""
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": f"SCAN#{scan_id}"}},
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self.client.query(**kwargs)
            for item in response.get("Items", []):
                yield finding_from_record(from_item(item))
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
            if item["image_id"] in images
            and images[item["image_id"]].get("current_scan_id") == item["scan_id"]
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
