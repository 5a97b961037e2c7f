"""The stream evaluator: image summaries whose findings changed → status recomputed. Wiring only.

Partial batch failures are reported, so one bad record is retried (and bisected) alone instead of
blocking the shard.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from riskgate.clock import system_now
from riskgate.handlers import judging
from riskgate.services.acceptances import AcceptancesFor
from riskgate.services.evaluation import image_to_evaluate
from riskgate.services.policies import PoliciesFor

logger = Logger()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(
    record: DynamoDBRecord, policies_for: PoliciesFor, acceptances_for: AcceptancesFor
) -> None:
    image_id = image_to_evaluate(record.dynamodb.new_image if record.dynamodb else None)
    if image_id is None:
        return
    evaluation = judging.evaluate(
        image_id, now=system_now(), policies=policies_for, acceptances=acceptances_for, force=False
    )
    if evaluation is not None:
        logger.info(
            "image evaluated",
            image_id=evaluation.image_id,
            scan_id=evaluation.scan_id,
            status=evaluation.status,
            stored=evaluation.stored,
        )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # Policies and acceptances are read once per batch (on the first image that needs them), not once
    # per record.
    return process_partial_response(
        event=event,
        record_handler=partial(
            record_handler, policies_for=judging.policies_for(), acceptances_for=judging.acceptances_for()
        ),
        processor=processor,
        context=context,
    )
