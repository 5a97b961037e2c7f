"""The re-evaluation planner: a policy or risk acceptance item written → the images it concerns queued in
chunks.
Wiring only (riskgate.services.reevaluation.plan).

Partial batch failures are reported, so a plan that fails (the queue refusing messages) is retried alone;
repeating a plan is safe: chunks already counted are not counted again.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from riskgate.adapters.reevaluation import default_queue, default_table
from riskgate.handlers.consumers import stream_consumer
from riskgate.services.reevaluation import (
    AcceptanceChange,
    acceptance_change,
    plan,
    plan_acceptance,
    policy_change,
)

logger = Logger()


def record_handler(record: DynamoDBRecord) -> None:
    event_name = record.event_name.name if record.event_name else None
    old_image = record.dynamodb.old_image if record.dynamodb else None
    new_image = record.dynamodb.new_image if record.dynamodb else None
    change = policy_change(event_name, old_image, new_image)
    if change is None:
        plan_for_acceptance(acceptance_change(event_name, old_image, new_image))
        return
    table = default_table()
    result = plan(
        change,
        list_images_page=table.list_images_page,
        send_chunks=default_queue().send_chunks,
        progress=table,
        scope_for=table.scope_for,
    )
    logger.info(
        "re-evaluation planned",
        policy_id=result.policy_id,
        policy_version=result.version,
        scope_ids=list(change.scope_ids),
        images=result.images,
        chunks=result.chunks,
        pages=result.pages,
        finished=result.finished,
    )


def plan_for_acceptance(change: AcceptanceChange | None) -> None:
    if change is None:
        return
    table = default_table()
    result = plan_acceptance(
        change,
        list_images_page=table.list_images_page,
        send_chunks=default_queue().send_chunks,
        scope_for=table.scope_for,
    )
    logger.info(
        "re-evaluation planned",
        acceptance_id=change.acceptance_id,
        acceptance_version=change.version,
        scope=change.scope.as_dict(),
        images=result.images,
        chunks=result.chunks,
        pages=result.pages,
    )


handler = stream_consumer(record_handler, logger)
