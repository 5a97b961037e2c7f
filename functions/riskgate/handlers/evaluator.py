"""The stream evaluator: image summaries whose findings changed → status recomputed. Wiring only.

Partial batch failures are reported, so one bad record is retried (and bisected) alone instead of
blocking the shard. Each verdict stored counts as VerdictsCompliant or VerdictsNonCompliant, and its
accepted findings as FindingsAccepted: emitted once per batch (riskgate.metrics).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from riskgate import metrics
from riskgate.clock import system_now
from riskgate.handlers import judging
from riskgate.handlers.consumers import stream_consumer
from riskgate.resources import (
    METRIC_FINDINGS_ACCEPTED,
    METRIC_VERDICT_COMPLIANT,
    METRIC_VERDICT_NON_COMPLIANT,
)
from riskgate.services.acceptances import AcceptancesFor
from riskgate.services.evaluation import image_to_evaluate
from riskgate.services.policies import PoliciesFor

logger = Logger()


def record_handler(
    record: DynamoDBRecord, policies_for: PoliciesFor, acceptances_for: AcceptancesFor
) -> None:
    image_id = image_to_evaluate(record.dynamodb.new_image if record.dynamodb else None)
    if image_id is None:
        return
    evaluation = judging.evaluate(
        image_id,
        now=system_now(),
        policies=policies_for,
        acceptances=acceptances_for,
        force=False,
        on_stored=count_verdict,
    )
    if evaluation is not None:
        logger.info(
            "image evaluated",
            image_id=evaluation.image_id,
            scan_id=evaluation.scan_id,
            status=evaluation.status,
            stored=evaluation.stored,
        )


def count_verdict(status: str, accepted: int) -> None:
    """The figures of one stored verdict (a redelivered record stores none: its scan is judged already)."""
    metrics.count(METRIC_VERDICT_COMPLIANT if status == "compliant" else METRIC_VERDICT_NON_COMPLIANT)
    metrics.count(METRIC_FINDINGS_ACCEPTED, accepted)


def batch_ports() -> dict[str, Any]:
    """Policies and acceptances, read once per batch (on the first image that needs them), not once per
    record."""
    return {"policies_for": judging.policies_for(), "acceptances_for": judging.acceptances_for()}


handler = metrics.per_invocation(stream_consumer(record_handler, logger, per_batch=batch_ports))
