"""Seeding many images fast (BatchWriteItem, not the scan API) and shaping policy stream records, for the
re-evaluation tests and `make bench`."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from typing import Any

from riskgate.adapters.dynamo import to_item
from riskgate.adapters.store import finding_sort_key, finding_to_record
from riskgate.domain.findings import Finding, FindingKind, Severity

# A high vulnerability: compliant under the default policy (criticals only), not under "high or worse".
HIGH = Finding(
    FindingKind.VULNERABILITY, "CVE-2024-7", Severity.HIGH, package="openssl", installed_version="3.0"
)
SEEDED_EVALUATED_AT = "2000-01-01T00:00:00.000000Z"
_sequence = itertools.count(1)


def image_items(image_id: str, registry: str, repository: str, tag: str) -> list[dict[str, Any]]:
    """An image summary judged compliant long ago, and its current scan's one (high) finding."""
    scan_id = f"scan-{image_id}"
    summary = {
        "pk": f"IMAGE#{image_id}",
        "sk": "META",
        "item_type": "image",
        "image_id": image_id,
        "registry": registry,
        "repository": repository,
        "tags": {tag},
        "gsi2pk": "IMAGES",
        "gsi2sk": f"{registry}#{repository}#{image_id}",
        "current_scan_id": scan_id,
        "evaluated_scan_id": scan_id,
        "status": "compliant",
        "evaluated_at": SEEDED_EVALUATED_AT,
    }
    finding = {
        "pk": f"SCAN#{scan_id}",
        "sk": finding_sort_key(HIGH),
        "item_type": "finding",
        "scan_id": scan_id,
        "image_id": image_id,
        **finding_to_record(HIGH),
    }
    return [summary, finding]


def seed_images(
    client: Any, table: str, *, repository: str, count: int, registry: str = "ghcr.io"
) -> list[str]:
    """`count` images of `repository`, 25 items a BatchWriteItem; their ids."""
    # Shaped as real ids are (`img-` + 20 hex digits), so the API accepts them.
    ids = [
        "img-" + hashlib.sha256(f"{registry}/{repository}:{n}".encode()).hexdigest()[:20]
        for n in range(count)
    ]
    items = [item for image_id in ids for item in image_items(image_id, registry, repository, "1.0")]
    for start in range(0, len(items), 25):
        pending = {table: [{"PutRequest": {"Item": to_item(item)}} for item in items[start : start + 25]]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return ids


def put_scope(client: Any, table: str, scope_id: str, resources: list[dict[str, str]]) -> None:
    item = {"pk": f"SCOPE#{scope_id}", "sk": "META", "id": scope_id, "name": scope_id, "resources": resources}
    client.put_item(TableName=table, Item=to_item(item))


def raw_policy(client: Any, table: str, policy_id: str) -> dict[str, Any] | None:
    """The policy item as the stream carries it (DynamoDB JSON)."""
    key = {"pk": {"S": f"POLICY#{policy_id}"}, "sk": {"S": "META"}}
    item: dict[str, Any] | None = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return item


def policy_stream_record(
    event_name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A DynamoDB stream record of a policy item as Lambda delivers it (images in DynamoDB JSON)."""
    keys_of = new or old
    assert keys_of is not None
    sequence = str(next(_sequence)).zfill(21)
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": 1_700_000_000,
        "Keys": {"pk": keys_of["pk"], "sk": keys_of["sk"]},
        "SequenceNumber": sequence,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        dynamodb["NewImage"] = dict(new)
    if old is not None:
        dynamodb["OldImage"] = dict(old)
    return {
        "eventID": f"event-{sequence}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/riskgate-test/stream/x",
    }
