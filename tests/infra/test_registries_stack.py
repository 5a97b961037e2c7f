"""Registry connections (issue 14), as synthesized: the registry-work queue and its ingester, the rule taking
ECR's and Inspector's scan events, the other accounts' permission on the default bus, the daily sync
schedule, and what the ingester and the API may do."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from riskgate.resources import (
    API_HANDLER,
    DEFAULT_REGISTRY_SYNC_SCHEDULE,
    REGISTRY_INGESTER_FUNCTION,
    REGISTRY_SCAN_EVENT_PATTERN,
    REGISTRY_WORK_BATCH_SIZE,
    REGISTRY_WORK_MAX_RECEIVE_COUNT,
    REGISTRY_WORK_VISIBILITY_TIMEOUT_SECONDS,
)
from tests.infra.conftest import Synthesized
from tests.infra.test_operations import simple_alarms_on, topic_id
from tests.infra.test_stack import (
    actions_of,
    arn_of,
    assert_alarm_watches,
    environment_of,
    function_id,
    mapping_of,
    only,
    policy_statements_of,
)

pytestmark = pytest.mark.infra

INGESTER_HANDLER = REGISTRY_INGESTER_FUNCTION.handler
QUEUE_URL_VARIABLE = "RISKGATE_REGISTRY_WORK_QUEUE_URL"
# What creating a resource only when a parameter is not empty looks like in the template.
NOT_EMPTY = {"Fn::Not": [{"Fn::Equals": [{"Ref": "PARAMETER"}, ""]}]}


def not_empty(parameter: str) -> dict[str, Any]:
    return json.loads(json.dumps(NOT_EMPTY).replace("PARAMETER", parameter))


def work_queue(synthesized: Synthesized) -> tuple[str, dict[str, Any], str]:
    """The queue the ingester consumes (the event source of its mapping), its properties and its dead
    letters' id."""
    queue_id = mapping_of(synthesized, INGESTER_HANDLER)["EventSourceArn"]["Fn::GetAtt"][0]
    queue = synthesized.resources("AWS::SQS::Queue")[queue_id]["Properties"]
    return queue_id, queue, queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]


def arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def scan_event_rule(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    rules = {
        logical_id: rule["Properties"]
        for logical_id, rule in synthesized.resources("AWS::Events::Rule").items()
        if rule["Properties"].get("EventPattern", {}).get("source") == REGISTRY_SCAN_EVENT_PATTERN["source"]
    }
    assert len(rules) == 1, sorted(rules)
    return next(iter(rules.items()))


def sync_schedule(synthesized: Synthesized) -> dict[str, Any]:
    """The schedule whose target is the registry-work queue (the other one invokes the expiry checker)."""
    queue_id, _, _ = work_queue(synthesized)
    return only(
        {
            logical_id: schedule
            for logical_id, schedule in synthesized.resources("AWS::Scheduler::Schedule").items()
            if schedule["Properties"]["Target"]["Arn"] == arn(queue_id)
        }
    )


def role_statements(synthesized: Synthesized, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def grants(statements: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Each statement as (actions, resources), both sorted JSON, with its Sid: comparable as a whole."""

    def listed(value: Any) -> list[Any]:
        return sorted(value if isinstance(value, list) else [value], key=json.dumps)

    return sorted(
        (
            statement.get("Sid", ""),
            json.dumps(listed(statement["Action"])),
            json.dumps(listed(statement["Resource"])),
        )
        for statement in statements
        if statement["Effect"] == "Allow"
    )


# --- the queue and its ingester --------------------------------------------------------------------


def test_the_registry_work_queue_dead_letters_what_keeps_failing_under_an_alarm_that_notifies(
    synthesized: Synthesized,
) -> None:
    _, queue, dead_letters_id = work_queue(synthesized)

    assert queue["QueueName"] == "riskgate-registry-work"
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] == REGISTRY_WORK_VISIBILITY_TIMEOUT_SECONDS
    assert queue["VisibilityTimeout"] >= 6 * REGISTRY_INGESTER_FUNCTION.timeout_seconds
    assert queue["RedrivePolicy"]["maxReceiveCount"] == REGISTRY_WORK_MAX_RECEIVE_COUNT
    dead_letters = synthesized.resources("AWS::SQS::Queue")[dead_letters_id]["Properties"]
    assert dead_letters["QueueName"] == "riskgate-registry-work-dead-letters"
    assert dead_letters["SqsManagedSseEnabled"] is True
    assert "RedrivePolicy" not in dead_letters

    assert_alarm_watches(synthesized, dead_letters_id)
    [alarm] = simple_alarms_on(
        synthesized,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {"Fn::GetAtt": [dead_letters_id, "QueueName"]},
    )
    topic = {"Ref": topic_id(synthesized)}
    assert alarm["AlarmActions"] == alarm["OKActions"] == [topic]
    assert "Redrive" in alarm["AlarmDescription"]


def test_the_ingester_takes_one_message_at_a_time_with_partial_failures(synthesized: Synthesized) -> None:
    queue_id, _, _ = work_queue(synthesized)
    mapping = mapping_of(synthesized, INGESTER_HANDLER)
    function = synthesized.resources("AWS::Lambda::Function")[function_id(synthesized, INGESTER_HANDLER)]

    assert mapping["EventSourceArn"] == arn(queue_id)
    assert mapping["BatchSize"] == REGISTRY_WORK_BATCH_SIZE == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    properties = function["Properties"]
    assert properties["MemorySize"] == REGISTRY_INGESTER_FUNCTION.memory_mb
    assert properties["Timeout"] == REGISTRY_INGESTER_FUNCTION.timeout_seconds
    # Told where its queue is (a sync's next page), and the table as every function is
    environment = environment_of(synthesized, INGESTER_HANDLER)
    assert environment[QUEUE_URL_VARIABLE] == {"Ref": queue_id}
    assert environment["RISKGATE_TABLE_NAME"] == {
        "Ref": next(iter(synthesized.resources("AWS::DynamoDB::Table")))
    }
    assert environment["RISKGATE_SECRETS_PREFIX"] == "riskgate"
    assert "RISKGATE_REGISTRY_INSECURE_HOSTS" not in environment  # https only, deployed
    # Its errors and throttles are alarmed as every function's
    for metric_name in ("Errors", "Throttles"):
        [alarm] = simple_alarms_on(
            synthesized,
            "AWS/Lambda",
            metric_name,
            "FunctionName",
            {"Ref": function_id(synthesized, INGESTER_HANDLER)},
        )
        assert alarm["AlarmActions"] == [{"Ref": topic_id(synthesized)}]


def test_the_ingester_may_read_registries_and_their_secrets_and_write_the_table_and_nothing_more(
    synthesized: Synthesized,
) -> None:
    queue_id, _, _ = work_queue(synthesized)
    table_id = next(iter(synthesized.resources("AWS::DynamoDB::Table")))
    key_id = next(
        logical_id
        for logical_id, key in synthesized.resources("AWS::KMS::Key").items()
        if "DataKey" in logical_id
    )
    ingester_id = function_id(synthesized, INGESTER_HANDLER)
    logs_id = synthesized.resources("AWS::Lambda::Function")[ingester_id]["Properties"]["LoggingConfig"][
        "LogGroup"
    ]["Ref"]
    statements = policy_statements_of(synthesized, INGESTER_HANDLER)

    assert grants(statements) == grants(
        [
            # The factory's: its log group, X-Ray, the table as the upload ingester has it
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": arn(logs_id),
            },
            {
                "Effect": "Allow",
                "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": [
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:DescribeTable",
                    "dynamodb:GetItem",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                    "dynamodb:PutItem",
                    "dynamodb:Query",
                    "dynamodb:Scan",
                    "dynamodb:UpdateItem",
                ],
                "Resource": [arn(table_id), {"Fn::Join": ["", [arn(table_id), "/index/*"]]}],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:Encrypt",
                    "kms:GenerateDataKey*",
                    "kms:ReEncrypt*",
                ],
                "Resource": arn(key_id),
            },
            # Its own queue: consuming it, delaying a message (its visibility), sending a sync's next page
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage",
                ],
                "Resource": arn(queue_id),
            },
            # This account's ECR repositories, any region; Inspector (no resource-level permissions)
            {
                "Sid": "ReadEcrScans",
                "Effect": "Allow",
                "Action": ["ecr:DescribeImageScanFindings", "ecr:DescribeImages", "ecr:DescribeRepositories"],
                "Resource": arn_of("ecr:repository/*", region="*"),
            },
            {
                "Sid": "ReadInspectorFindings",
                "Effect": "Allow",
                "Action": "inspector2:ListFindings",
                "Resource": "*",
            },
            # Harbor connections' secrets under this stack's prefix, read only
            {
                "Sid": "ReadRegistrySecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": arn_of("secretsmanager:secret:riskgate/registries/*"),
            },
        ]
    )
    actions = actions_of(statements)
    assert not any(action.endswith(":*") or action == "*" for action in actions)
    assert not any(
        action.startswith(("ecr:Put", "ecr:Batch", "ecr:Delete", "inspector2:Update")) for action in actions
    )
    assert not any(action.startswith(("sns:", "events:", "s3:", "ses:")) for action in actions)


def test_the_ingester_starts_only_once_it_may_read_the_registries(synthesized: Synthesized) -> None:
    ingester_id = function_id(synthesized, INGESTER_HANDLER)
    role_id = synthesized.resources("AWS::Lambda::Function")[ingester_id]["Properties"]["Role"]["Fn::GetAtt"][
        0
    ]
    [reads_id] = [
        logical_id
        for logical_id, policy in synthesized.resources("AWS::IAM::Policy").items()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        and any(
            statement.get("Sid") == "ReadEcrScans"
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    ]

    assert reads_id in synthesized.template_json["Resources"][ingester_id]["DependsOn"]


# --- what feeds the queue --------------------------------------------------------------------------


def test_a_rule_on_the_default_bus_puts_ecr_and_inspector_scan_events_on_the_queue(
    synthesized: Synthesized,
) -> None:
    queue_id, _, dead_letters_id = work_queue(synthesized)
    rule_id, rule = scan_event_rule(synthesized)

    assert rule["EventPattern"] == REGISTRY_SCAN_EVENT_PATTERN
    assert REGISTRY_SCAN_EVENT_PATTERN == {
        "source": ["aws.ecr", "aws.inspector2"],
        "detail-type": ["ECR Image Scan", "Inspector2 Scan"],
    }
    assert "EventBusName" not in rule  # the default bus, where ECR and Inspector send theirs
    assert rule["State"] == "ENABLED"
    [target] = rule["Targets"]
    # The event as it is (no input transformation): the ingester reads EventBridge's own shape
    assert set(target) == {"Id", "Arn", "DeadLetterConfig"}
    assert target["Arn"] == arn(queue_id)
    assert target["DeadLetterConfig"] == {"Arn": arn(dead_letters_id)}

    # Only this rule may send to either queue, over TLS only
    for allowed_id in (queue_id, dead_letters_id):
        [policy] = [
            policy["Properties"]["PolicyDocument"]
            for policy in synthesized.resources("AWS::SQS::QueuePolicy").values()
            if {"Ref": allowed_id} in policy["Properties"]["Queues"]
        ]
        statements = policy["Statement"]
        assert any(
            statement["Effect"] == "Deny"
            and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for statement in statements
        )
        [allow] = [statement for statement in statements if statement["Effect"] == "Allow"]
        assert allow["Principal"] == {"Service": "events.amazonaws.com"}
        assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": arn(rule_id)}}


def test_other_accounts_may_put_scan_events_on_the_default_bus_only_when_named(
    synthesized: Synthesized,
) -> None:
    parameter = synthesized.template_json["Parameters"]["RegistryEventAccounts"]
    [(policy_id, policy)] = synthesized.resources("AWS::Events::EventBusPolicy").items()

    assert parameter["Type"] == "String"
    assert parameter["Default"] == ""
    # It tells what the other accounts must add: a rule forwarding the scan events to this bus
    assert "aws.ecr" in parameter["Description"]
    assert "rule" in parameter["Description"]
    pattern = re.compile(parameter["AllowedPattern"])
    for admitted in ("", "111122223333", "111122223333,444455556666"):
        assert pattern.fullmatch(admitted), admitted
    for refused in (
        "1111",
        "111122223333,",
        "111122223333, 444455556666",
        "*",
        "arn:aws:iam::111122223333:root",
    ):
        assert not pattern.fullmatch(refused), refused

    # Nothing is created while the parameter is empty
    assert synthesized.template_json["Conditions"][policy["Condition"]] == not_empty("RegistryEventAccounts")
    properties = policy["Properties"]
    assert "EventBusName" not in properties  # the default bus
    assert properties["StatementId"] == "Riskgate-registry-scan-events"
    statement = properties["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": {"Fn::Split": [",", {"Ref": "RegistryEventAccounts"}]}}
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == arn_of("events:event-bus/default")
    # Scan events and nothing else
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {"events:source": ["aws.ecr", "aws.inspector2"]},
        "StringEquals": {"events:detail-type": ["ECR Image Scan", "Inspector2 Scan"]},
    }
    assert policy_id.startswith("Registries")


def test_the_sync_schedule_is_a_parameter_and_nothing_is_scheduled_when_it_is_empty(
    synthesized: Synthesized,
) -> None:
    parameter = synthesized.template_json["Parameters"]["RegistrySyncSchedule"]
    schedule = sync_schedule(synthesized)
    role_id = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
    [role_policy] = [
        policy
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    ]

    assert parameter["Type"] == "String"
    assert parameter["Default"] == DEFAULT_REGISTRY_SYNC_SCHEDULE
    pattern = re.compile(parameter["AllowedPattern"])
    for admitted in ("", DEFAULT_REGISTRY_SYNC_SCHEDULE, "rate(12 hours)"):
        assert pattern.fullmatch(admitted), admitted
    for refused in ("daily", "0 3 * * *", " "):
        assert not pattern.fullmatch(refused), refused
    assert schedule["Properties"]["ScheduleExpression"] == {"Ref": "RegistrySyncSchedule"}
    # The schedule, its role and the role's policy exist only while the parameter says when
    condition = not_empty("RegistrySyncSchedule")
    for resource in (schedule, synthesized.resources("AWS::IAM::Role")[role_id], role_policy):
        assert synthesized.template_json["Conditions"][resource["Condition"]] == condition


def test_the_sync_schedule_puts_sync_all_on_the_queue_and_its_failures_in_the_dead_letters(
    synthesized: Synthesized,
) -> None:
    queue_id, _, dead_letters_id = work_queue(synthesized)
    schedule = sync_schedule(synthesized)["Properties"]
    target = schedule["Target"]

    assert schedule["State"] == "ENABLED"
    assert schedule.get("GroupName", "default") == "default"
    # Straight to the queue: no function in between
    assert target["Arn"] == arn(queue_id)
    assert json.loads(target["Input"]) == {"kind": "sync_all"}
    assert target["DeadLetterConfig"] == {"Arn": arn(dead_letters_id)}
    retry = target["RetryPolicy"]
    assert 0 < retry["MaximumRetryAttempts"] <= 185
    assert 60 <= retry["MaximumEventAgeInSeconds"] <= 86_400

    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    role = synthesized.resources("AWS::IAM::Role")[role_id]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "ManagedPolicyArns" not in role
    assert grants(role_statements(synthesized, role_id)) == grants(
        [
            {
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": [arn(dead_letters_id), arn(queue_id)],
            }
        ]
    )


# --- the API ---------------------------------------------------------------------------------------


def test_the_api_may_send_to_the_queue_and_knows_where_it_is(synthesized: Synthesized) -> None:
    queue_id, _, dead_letters_id = work_queue(synthesized)
    statements = policy_statements_of(synthesized, API_HANDLER)

    assert environment_of(synthesized, API_HANDLER)[QUEUE_URL_VARIABLE] == {"Ref": queue_id}
    on_queue = [statement for statement in statements if statement["Resource"] == arn(queue_id)]
    assert actions_of(on_queue) == {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
    # Sending only: taking messages is the ingester's, and the dead letters are nobody's to fill
    assert not {"sqs:ReceiveMessage", "sqs:DeleteMessage"} & actions_of(statements)
    assert not any(arn(dead_letters_id) == statement["Resource"] for statement in statements)
