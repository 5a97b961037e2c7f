"""The re-evaluator: one work message (a chunk of image ids) → each image's verdict recomputed with the
current policies, the chunk counted once. Wiring only (riskgate.services.reevaluation.work).

Partial batch failures are reported: a failed message stays on the queue and comes back after its
visibility timeout (then to the dead-letter queue); the others of the batch are deleted. Each image
judged again counts as ImagesReevaluated, emitted once per batch (riskgate.metrics): a redelivered
message judges its images again and counts them again.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from riskgate import metrics
from riskgate.adapters.reevaluation import default_table
from riskgate.clock import system_now
from riskgate.handlers import judging
from riskgate.handlers.consumers import queue_consumer
from riskgate.resources import METRIC_IMAGES_REEVALUATED
from riskgate.services.reevaluation import ChunkMessage, work

logger = Logger()


def record_handler(record: SQSRecord) -> None:
    message = ChunkMessage.from_body(record.body)
    # Policies, acceptances and scopes are read once per message, on first use: every image of the chunk
    # is judged by the same ones, and a later message sees a later change.
    policies_for, acceptances_for = judging.policies_for(), judging.acceptances_for()

    def evaluate_one(image_id: str) -> bool:
        # force: the image's scan was judged already, before the policy or acceptance changed.
        evaluation = judging.evaluate(
            image_id, now=system_now(), policies=policies_for, acceptances=acceptances_for, force=True
        )
        stored = evaluation is not None and evaluation.stored
        if stored:
            # Counted as it happens: the images judged before a failure of the chunk were judged too.
            metrics.count(METRIC_IMAGES_REEVALUATED)
        return stored

    result = work(message, evaluate_one=evaluate_one, progress=default_table())
    logger.info(
        "re-evaluation chunk done",
        policy_id=message.policy_id,
        policy_version=message.policy_version,
        chunk=message.chunk,
        images=len(message.image_ids),
        evaluated=result.evaluated,
        count=result.count,
        finished=result.finished,
    )


handler = metrics.per_invocation(queue_consumer(record_handler, logger))
