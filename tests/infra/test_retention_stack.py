"""Bounded storage, as synthesized: the findings retirer on the table's stream (MODIFYs of image
summaries), its failure queue, and the stack parameter that sets how long replaced findings stay."""

from __future__ import annotations

import json
from typing import Any

import pytest

from riskgate.resources import (
    DEFAULT_FINDINGS_RETENTION_DAYS,
    EVALUATOR_FUNCTION,
    FINDINGS_RETIRER_BATCH_SIZE,
    FINDINGS_RETIRER_FUNCTION,
    FINDINGS_RETIRER_RETRY_ATTEMPTS,
    FINDINGS_RETIRER_STREAM_FILTER,
)
from tests.infra.conftest import Synthesized
from tests.infra.test_stack import (
    actions_of,
    assert_alarm_watches,
    environment_of,
    mapping_of,
    policy_statements_of,
)

pytestmark = pytest.mark.infra

RETIRER = FINDINGS_RETIRER_FUNCTION.handler


def failure_queue_of(mapping: dict[str, Any]) -> str:
    return str(mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0])


def test_the_retention_period_is_a_stack_parameter_given_to_the_retirer(synthesized: Synthesized) -> None:
    parameter = synthesized.template_json["Parameters"]["FindingsRetentionDays"]
    assert parameter["Type"] == "Number"
    assert parameter["Default"] == DEFAULT_FINDINGS_RETENTION_DAYS
    assert parameter["MinValue"] == 1
    assert environment_of(synthesized, RETIRER)["RISKGATE_FINDINGS_RETENTION_DAYS"] == {
        "Ref": "FindingsRetentionDays"
    }


def test_the_retirer_reads_modified_image_summaries_with_partial_failures_and_a_failure_queue(
    synthesized: Synthesized,
) -> None:
    mapping = mapping_of(synthesized, RETIRER)
    table_id = next(iter(synthesized.resources("AWS::DynamoDB::Table")))

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    [stream_filter] = mapping["FilterCriteria"]["Filters"]
    assert json.loads(stream_filter["Pattern"]) == FINDINGS_RETIRER_STREAM_FILTER
    assert json.loads(stream_filter["Pattern"])["eventName"] == ["MODIFY"]
    assert mapping["BatchSize"] == FINDINGS_RETIRER_BATCH_SIZE
    assert mapping["MaximumRetryAttempts"] == FINDINGS_RETIRER_RETRY_ATTEMPTS
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    failure_queue_id = failure_queue_of(mapping)
    evaluator_queue_id = failure_queue_of(mapping_of(synthesized, EVALUATOR_FUNCTION.handler))
    assert failure_queue_id != evaluator_queue_id
    assert_alarm_watches(synthesized, failure_queue_id)


def test_the_retirer_may_read_and_rewrite_findings(synthesized: Synthesized) -> None:
    actions = actions_of(policy_statements_of(synthesized, RETIRER))
    assert {"dynamodb:Query", "dynamodb:BatchWriteItem"} <= actions
