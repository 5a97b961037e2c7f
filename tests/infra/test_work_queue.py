"""The shared building blocks as a new consumer would use them: `LambdaFactory.create` with the table and
`WorkQueue` under an id of its own, in a stack of their own, cdk-nag included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from riskgate.resources import REEVALUATOR_FUNCTION
from tests.infra.conftest import TEST_CONTEXT

pytestmark = pytest.mark.infra


def synthesize(outdir: Path, *, table_writes: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """A table, a consumer of a work queue reading (or writing) it; the template and validation report."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_lambda as lambda_

    from riskgate_infra.application import cdk_json_context
    from riskgate_infra.constructs.functions import LambdaFactory
    from riskgate_infra.constructs.work_queue import WorkQueue
    from riskgate_infra.nag import add_rule_packs
    from riskgate_infra.settings import Settings

    app = App(outdir=str(outdir), context={**cdk_json_context(), **TEST_CONTEXT})
    stack = Stack(app, "Jobs")
    # An index and a customer-managed key: what puts wildcards in a table grant.
    table = dynamodb.Table(
        stack,
        "Table",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=kms.Key(stack, "Key", enable_key_rotation=True),
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
    )
    table.add_global_secondary_index(
        index_name="gsi1", partition_key=dynamodb.Attribute(name="gsi1pk", type=dynamodb.AttributeType.STRING)
    )
    layer = lambda_.LayerVersion.from_layer_version_arn(
        stack, "Layer", "arn:aws:lambda:us-east-1:123456789012:layer:deps:1"
    )
    factory = LambdaFactory(layer=layer, environment={}, settings=Settings.from_context(app.node))
    worker = factory.create(
        stack,
        "Worker",
        spec=REEVALUATOR_FUNCTION,
        description="a worker",
        table=table,
        table_writes=table_writes,
    )
    WorkQueue(
        stack,
        "Jobs",
        consumer=worker,
        name_suffix="-jobs",
        dead_letter_name_suffix="-jobs-dead-letters",
        visibility_timeout_seconds=600,
        max_receive_count=4,
        batch_size=3,
        max_concurrency=2,
        label="the jobs queue",
        message="a job",
        alarm_description="jobs failed",
    )
    add_rule_packs(app)
    assembly = app.synth()
    template = json.loads(Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path).read_text())
    report = json.loads((Path(assembly.directory) / "validation-report.json").read_text())
    return template, report


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def worker_actions(template: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for policy in of_type(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            value = statement["Action"]
            actions |= {value} if isinstance(value, str) else set(value)
    return actions


@pytest.fixture(scope="module")
def writer(
    built_layer: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, Any]]:
    return synthesize(tmp_path_factory.mktemp("jobs"), table_writes=True)


def test_a_work_queue_dead_letters_what_keeps_failing_and_alarms_on_it(
    writer: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    template, _ = writer
    queues = of_type(template, "AWS::SQS::Queue")
    (queue_id,) = [
        logical_id for logical_id, queue in queues.items() if "RedrivePolicy" in queue["Properties"]
    ]
    queue = queues[queue_id]["Properties"]
    dead_letters_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    dead_letters = queues[dead_letters_id]["Properties"]

    assert queue["QueueName"] == "jobs-jobs"
    assert queue["VisibilityTimeout"] == 600
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 4
    assert dead_letters["QueueName"] == "jobs-jobs-dead-letters"
    for properties in (queue, dead_letters):
        assert properties["SqsManagedSseEnabled"] is True
        assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
    (alarm,) = of_type(template, "AWS::CloudWatch::Alarm").values()
    assert alarm["Properties"]["AlarmDescription"] == "jobs failed"
    assert alarm["Properties"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letters_id, "QueueName"]}}
    ]
    assert alarm["Properties"]["Threshold"] == 0


def test_the_consumer_takes_batches_with_partial_failures_and_bounded_concurrency(
    writer: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    template, _ = writer
    (mapping,) = of_type(template, "AWS::Lambda::EventSourceMapping").values()

    assert mapping["Properties"]["BatchSize"] == 3
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "dynamodb:PutItem"} <= worker_actions(template)


def test_the_factory_acknowledges_what_its_table_grant_adds_and_nothing_else_is_reported(
    writer: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, report = writer
    findings = [
        violation["ruleName"]
        for plugin in report["pluginReports"]
        for violation in plugin.get("violations", [])
    ]
    assert findings == []


def test_a_function_may_only_read_the_table(built_layer: Path, tmp_path: Path) -> None:
    template, report = synthesize(tmp_path, table_writes=False)

    actions = worker_actions(template)
    assert {"dynamodb:GetItem", "dynamodb:Query"} <= actions
    assert not {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} & actions
    assert [
        violation for plugin in report["pluginReports"] for violation in plugin.get("violations", [])
    ] == []
