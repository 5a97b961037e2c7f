"""Bounded storage: the findings retirer on the table's stream, and the stack parameter of its period."""

from __future__ import annotations

from aws_cdk import CfnParameter, Stack
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from riskgate.resources import (
    DEFAULT_FINDINGS_RETENTION_DAYS,
    FINDINGS_RETIRER_BATCH_SIZE,
    FINDINGS_RETIRER_FUNCTION,
    FINDINGS_RETIRER_RETRY_ATTEMPTS,
    FINDINGS_RETIRER_STREAM_FILTER,
)
from riskgate_infra.constructs.functions import LambdaFactory
from riskgate_infra.constructs.stream_consumer import consume_table_stream


def findings_retention_parameter(scope: Stack) -> CfnParameter:
    """The stack parameter `FindingsRetentionDays`: how long replaced findings stay readable."""
    return CfnParameter(
        scope,
        "FindingsRetentionDays",
        type="Number",
        default=DEFAULT_FINDINGS_RETENTION_DAYS,
        min_value=1,
        max_value=3650,
        constraint_description="a whole number of days from 1 to 3650",
        description=(
            "Days the findings of a superseded scan stay once a newer scan replaced them; the table's TTL "
            "then deletes them. Scan records, verdicts and decision records stay."
        ),
    )


class FindingsRetention(Construct):
    """Image summaries whose findings were replaced (stream MODIFYs, filtered by Lambda with
    `FINDINGS_RETIRER_STREAM_FILTER`, the pattern the local poller applies) → the replaced findings get
    the table's TTL, `retention_days` out."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        table: dynamodb.Table,
        retention_days: CfnParameter,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = factory.create(
            self,
            "Retirer",
            spec=FINDINGS_RETIRER_FUNCTION,
            description="Riskgate findings retirer: findings a newer scan replaced → expire after retention",
            environment={"RISKGATE_FINDINGS_RETENTION_DAYS": retention_days.value_as_string},
            table=table,
        )
        self.stream = consume_table_stream(
            self,
            function=self.function,
            table=table,
            filter_pattern=FINDINGS_RETIRER_STREAM_FILTER,
            batch_size=FINDINGS_RETIRER_BATCH_SIZE,
            retry_attempts=FINDINGS_RETIRER_RETRY_ATTEMPTS,
            alarm_description=(
                "Riskgate: stream records the findings retirer gave up on; those replaced findings stay "
                "without an expiry until the records are replayed."
            ),
        )
