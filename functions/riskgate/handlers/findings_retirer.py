"""The findings retirer: an image summary whose findings were replaced → the replaced findings expire after
the retention period (RISKGATE_FINDINGS_RETENTION_DAYS). Wiring only; the stream is filtered to MODIFYs of
image summaries (riskgate.resources.FINDINGS_RETIRER_STREAM_FILTER).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from riskgate.adapters.store import default_store
from riskgate.clock import system_now
from riskgate.handlers.consumers import stream_consumer
from riskgate.services.findings_retention import retire_replaced_findings
from riskgate.settings import get_settings

logger = Logger()


def record_handler(record: DynamoDBRecord) -> None:
    stream = record.dynamodb
    retired = retire_replaced_findings(
        default_store(),
        stream.old_image if stream else None,
        stream.new_image if stream else None,
        now_epoch=int(system_now().timestamp()),
        retention_days=get_settings().findings_retention_days,
    )
    if retired is not None:
        partition, written = retired
        logger.info("replaced findings retired", findings_scan_id=partition, items=written)


handler = stream_consumer(record_handler, logger)
