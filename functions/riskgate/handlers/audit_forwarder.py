"""The audit forwarder: new audit items on the stream → the audit bus and the Object Lock archive.
Wiring only.

Partial batch failures are reported, so an event that cannot be delivered is retried (and bisected)
alone; the others of its batch are not delivered twice on its account.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from riskgate.adapters.audit_sinks import default_sinks
from riskgate.handlers.consumers import stream_consumer
from riskgate.services.audit_forwarding import audit_event_to_forward, forward_audit_event

logger = Logger()


def record_handler(record: DynamoDBRecord) -> None:
    event = audit_event_to_forward(
        record.event_name.name if record.event_name else None,
        record.dynamodb.new_image if record.dynamodb else None,
    )
    if event is None:
        return
    bus, archive = default_sinks()
    forwarded = forward_audit_event(event, bus=bus, archive=archive)
    logger.info(
        "audit event forwarded",
        event_id=forwarded.event_id,
        archive_key=forwarded.archive_key,
        newly_archived=forwarded.newly_archived,
    )


handler = stream_consumer(record_handler, logger)
