"""What the re-evaluation fan-out speaks to: the work queue, the progress on the policy item, the images
index and the current policies.

Items (docs/architecture.md, "Assurance policies"):
- the policy item `POLICY#<id>` / `META` carries `reevaluation = {version, requested_at, total, done,
  finished_at}` (`total` and `finished_at` null until known);
- a chunk marker `REEVAL#<policy id>#<version>` / `CHUNK#<n>` is written in the same transaction that
  counts the chunk, so a redelivered message counts once; it expires after a few days.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from riskgate.adapters.access_definitions import load_access_definitions
from riskgate.adapters.dynamo import (
    TableClient,
    condition_failed_at,
    decode_page_token,
    encode_page_token,
    expression_values,
    from_item,
    to_item,
)
from riskgate.clock import system_now
from riskgate.domain.access import ScopeDefinition
from riskgate.resources import (
    REEVALUATION_IMAGES_PAGE_SIZE,
    REEVALUATION_MARKER_TTL_DAYS,
    TABLE,
)
from riskgate.services.reevaluation import ChunkCount, ChunkMessage, ImageRow
from riskgate.settings import get_settings

SEND_BATCH_SIZE = 10  # SQS's limit per SendMessageBatch

_serializer = TypeSerializer()


def policy_key(policy_id: str) -> dict[str, Any]:
    return to_item({"pk": f"POLICY#{policy_id}", "sk": "META"})


class ReevaluationTable(TableClient):
    """Progress records, chunk markers and the images index; `client` created lazily when not given."""

    # --- the planner's reads -------------------------------------------------------------------------

    def list_images_page(self, cursor: str | None) -> tuple[list[ImageRow], str | None]:
        """One page of every image (gsi2 `IMAGES`), only the attributes scopes are matched on."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :images",
            "ExpressionAttributeValues": {":images": {"S": "IMAGES"}},
            # Summaries carry counts and verdicts; the planner needs a fraction of each item.
            "ProjectionExpression": "image_id, registry, #repository, tags",
            "ExpressionAttributeNames": {"#repository": "repository"},
            "Limit": REEVALUATION_IMAGES_PAGE_SIZE,
        }
        start = decode_page_token(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = self.client.query(**kwargs)
        rows = []
        for raw in response.get("Items", []):
            item = from_item(raw)
            rows.append(
                ImageRow(
                    image_id=str(item["image_id"]),
                    registry=str(item.get("registry", "")),
                    repository=str(item.get("repository", "")),
                    tags=tuple(item.get("tags") or ()),
                )
            )
        return rows, encode_page_token(response.get("LastEvaluatedKey"))

    def scope_for(self, scope_id: str) -> ScopeDefinition | None:
        _, scopes = load_access_definitions(self.client, self.table_name, set(), {scope_id})
        return scopes.get(scope_id)

    # --- progress ------------------------------------------------------------------------------------

    def begin(self, policy_id: str, version: int, requested_at: str) -> bool:
        """Start this version's progress unless the item moved on or this version already started."""
        record: dict[str, Any] = {
            "version": version,
            "requested_at": requested_at,
            "total": None,
            "done": 0,
            "finished_at": None,
        }
        return self._update(
            policy_id,
            "SET reevaluation = :record",
            # A redelivered plan keeps the count it has; an older plan never replaces a newer one.
            "version = :version AND (attribute_not_exists(reevaluation) OR reevaluation.version < :version)",
            # Nulls kept (not dropped as `to_item` does): the API shows `total` and `finished_at` as null.
            {":record": _serializer.serialize(record), ":version": {"N": str(version)}},
        )

    def record_total(self, policy_id: str, version: int, total: int) -> bool:
        return self._update(
            policy_id,
            "SET reevaluation.#total = :total",
            "reevaluation.version = :version",
            expression_values({":total": total, ":version": version}),
        )

    def finish_if_done(self, policy_id: str, version: int, finished_at: str) -> bool:
        return self._update(
            policy_id,
            "SET reevaluation.finished_at = :at",
            "reevaluation.version = :version AND reevaluation.done = reevaluation.#total"
            " AND attribute_type(reevaluation.finished_at, :null)",
            expression_values({":at": finished_at, ":version": version, ":null": "NULL"}),
        )

    def mark_chunk_done(self, policy_id: str, version: int, chunk: int) -> ChunkCount:
        """Count the chunk once: its marker and the counter in one transaction."""
        marker = {
            "pk": f"REEVAL#{policy_id}#{version}",
            "sk": f"CHUNK#{chunk}",
            "item_type": "reevaluation_chunk",
            TABLE.ttl_attribute: int(system_now().timestamp()) + REEVALUATION_MARKER_TTL_DAYS * 86400,
        }
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": to_item(marker),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": policy_key(policy_id),
                            "UpdateExpression": "ADD reevaluation.done :one",
                            "ConditionExpression": "reevaluation.version = :version",
                            "ExpressionAttributeValues": expression_values({":one": 1, ":version": version}),
                        }
                    },
                ]
            )
        except ClientError as error:
            if condition_failed_at(error, 1):
                return ChunkCount.SUPERSEDED
            if condition_failed_at(error, 0):
                return ChunkCount.REPEATED
            raise
        return ChunkCount.COUNTED

    def _update(self, policy_id: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        """A conditional UpdateItem of the policy item; False when the condition does not hold."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": policy_key(policy_id),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if "#total" in update or "#total" in condition:
            kwargs["ExpressionAttributeNames"] = {"#total": "total"}  # a reserved word
        try:
            self.client.update_item(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


class WorkQueue:
    """The re-evaluation work queue; the SQS client created on first use."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("sqs")
        return self._client

    def send_chunks(self, messages: Sequence[ChunkMessage]) -> None:
        """SendMessageBatch, ten at a time; entries SQS refuses are sent again, then it is an error."""
        for start in range(0, len(messages), SEND_BATCH_SIZE):
            entries = {
                str(index): message.to_body()
                for index, message in enumerate(messages[start : start + SEND_BATCH_SIZE])
            }
            for _attempt in range(3):
                response = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": key, "MessageBody": body} for key, body in entries.items()],
                )
                entries = {failed["Id"]: entries[failed["Id"]] for failed in response.get("Failed", [])}
                if not entries:
                    break
            if entries:
                # The stream record is retried: the plan is repeated and counted chunks stay counted.
                raise RuntimeError(f"SQS refused {len(entries)} re-evaluation messages")


@cache
def default_table() -> ReevaluationTable:
    return ReevaluationTable(get_settings().table_name)


@cache
def default_queue() -> WorkQueue:
    url = get_settings().reevaluation_queue_url
    if not url:
        raise RuntimeError("RISKGATE_REEVALUATION_QUEUE_URL is not set")
    return WorkQueue(url)
