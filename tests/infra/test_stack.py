"""The synthesized Riskgate stack: what it deploys, what cdk-nag and cfn-lint say, what it ships."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from riskgate.resources import (
    API_HANDLER,
    AUDIT_FORWARDER_HANDLER,
    AUDIT_STREAM_FILTER,
    AUTHORIZER_HANDLER,
    DISPATCH_STREAM_FILTER,
    DISPATCHER_BATCH_SIZE,
    DISPATCHER_FUNCTION,
    DISPATCHER_RETRY_ATTEMPTS,
    EVALUATOR_HANDLER,
    EVALUATOR_STREAM_FILTER,
    EXPIRY_CHECKER_FUNCTION,
    FINDINGS_RETIRER_FUNCTION,
    GATEWAY_ERROR_BODIES,
    NOTIFICATION_MESSAGE_KIND,
    NOTIFIER_BATCH_SIZE,
    NOTIFIER_FUNCTION,
    NOTIFY_MAX_RECEIVE_COUNT,
    NOTIFY_VISIBILITY_TIMEOUT_SECONDS,
    POLICY_STREAM_FILTER,
    PUBLIC_ROUTES,
    REEVALUATION_MAX_RECEIVE_COUNT,
    REEVALUATION_PLANNER_FUNCTION,
    REEVALUATOR_BATCH_SIZE,
    REEVALUATOR_FUNCTION,
    REGISTRY_INGESTER_FUNCTION,
    SCHEDULED_EVENT_DETAIL_TYPE,
    SCHEDULED_EVENT_SOURCE,
    SCHEDULER_SCHEDULED_TIME,
    TABLE,
    UPLOAD_INGESTER_FUNCTION,
)
from riskgate_infra.runtime import PYTHON_VERSION
from tests.infra.conftest import Synthesized

pytestmark = pytest.mark.infra

PLANNER_HANDLER = REEVALUATION_PLANNER_FUNCTION.handler
REEVALUATOR_HANDLER = REEVALUATOR_FUNCTION.handler
EXPIRY_CHECKER_HANDLER = EXPIRY_CHECKER_FUNCTION.handler
DISPATCHER_HANDLER = DISPATCHER_FUNCTION.handler
NOTIFIER_HANDLER = NOTIFIER_FUNCTION.handler
HANDLERS = {
    API_HANDLER,
    AUTHORIZER_HANDLER,
    EVALUATOR_HANDLER,
    AUDIT_FORWARDER_HANDLER,
    PLANNER_HANDLER,
    REEVALUATOR_HANDLER,
    EXPIRY_CHECKER_HANDLER,
    DISPATCHER_HANDLER,
    NOTIFIER_HANDLER,
    UPLOAD_INGESTER_FUNCTION.handler,
    FINDINGS_RETIRER_FUNCTION.handler,
    REGISTRY_INGESTER_FUNCTION.handler,
}


def only(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    assert len(resources) == 1, f"expected exactly one resource, found {sorted(resources)}"
    return next(iter(resources.values()))


# CDK's own function uploading the console (aws_s3_deployment.BucketDeployment, test_console_stack.py):
# not built by the factory, so the factory's guarantees tested here are not its.
CDK_UPLOAD_FUNCTION_PREFIX = "CustomCDKBucketDeployment"


def riskgate_functions(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """Every function of the stack built by the factory."""
    return {
        logical_id: function
        for logical_id, function in synthesized.resources("AWS::Lambda::Function").items()
        if not logical_id.startswith(CDK_UPLOAD_FUNCTION_PREFIX)
    }


def functions_by_handler(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    functions = riskgate_functions(synthesized)
    return {function["Properties"]["Handler"]: function for function in functions.values()}


def dependencies_layer(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    """The layer of layers/build (the console's upload brings CDK's AWS CLI layer beside it)."""
    return next(
        (logical_id, layer)
        for logical_id, layer in synthesized.resources("AWS::Lambda::LayerVersion").items()
        if logical_id.startswith("Dependencies")
    )


def function_id(synthesized: Synthesized, handler: str) -> str:
    return next(
        logical_id
        for logical_id, function in synthesized.resources("AWS::Lambda::Function").items()
        if function["Properties"]["Handler"] == handler
    )


def mapping_of(synthesized: Synthesized, handler: str) -> dict[str, Any]:
    """The properties of the one event source mapping that invokes `handler`."""
    target = {"Ref": function_id(synthesized, handler)}
    return only(
        {
            logical_id: mapping
            for logical_id, mapping in synthesized.resources("AWS::Lambda::EventSourceMapping").items()
            if mapping["Properties"]["FunctionName"] == target
        }
    )["Properties"]


def policy_statements_of(synthesized: Synthesized, handler: str) -> list[dict[str, Any]]:
    """Every statement of the identity policies attached to `handler`'s role."""
    role = synthesized.resources("AWS::Lambda::Function")[function_id(synthesized, handler)]["Properties"][
        "Role"
    ]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    actions: set[str] = set()
    for statement in statements:
        value = statement["Action"]
        actions |= {value} if isinstance(value, str) else set(value)
    return actions


def newest_python_runtime() -> str:
    from aws_cdk import aws_lambda

    versions = [
        tuple(int(part) for part in name.removeprefix("PYTHON_").split("_"))
        for name in dir(aws_lambda.Runtime)
        if re.fullmatch(r"PYTHON_\d+_\d+", name)
    ]
    major, minor = max(versions)
    return f"python{major}.{minor}"


def by_name(indexes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(indexes, key=lambda index: index["IndexName"])


# --- the table -------------------------------------------------------------------------------------


def test_table_is_built_from_the_shared_spec(synthesized: Synthesized) -> None:
    # Given the spec the local stack and the tests create their table from
    expected = TABLE.create_table_kwargs("unused")

    # When the stack is synthesized
    table = only(synthesized.resources("AWS::DynamoDB::Table"))
    properties = table["Properties"]

    # Then keys, attribute types and every index are exactly the spec's
    assert properties["KeySchema"] == expected["KeySchema"]
    assert sorted(properties["AttributeDefinitions"], key=str) == sorted(
        expected["AttributeDefinitions"], key=str
    )
    assert by_name(properties["GlobalSecondaryIndexes"]) == by_name(expected["GlobalSecondaryIndexes"])
    assert properties["BillingMode"] == expected["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["StreamSpecification"] == {"StreamViewType": TABLE.stream_view_type}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": TABLE.ttl_attribute, "Enabled": True}
    # And it is protected: backups, a key of our own, kept when the stack goes
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["SSESpecification"]["SSEType"] == "KMS"
    assert "KMSMasterKeyId" in properties["SSESpecification"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    # (the data key: the operations topic has a key of its own)
    key_id = properties["SSESpecification"]["KMSMasterKeyId"]["Fn::GetAtt"][0]
    key = synthesized.resources("AWS::KMS::Key")[key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


# --- the functions ---------------------------------------------------------------------------------


def test_every_function_runs_on_the_newest_python_on_arm64_with_json_logs_and_tracing(
    synthesized: Synthesized,
) -> None:
    functions = functions_by_handler(synthesized)
    assert set(functions) == HANDLERS
    runtime = newest_python_runtime()
    # The layer is built for the same CPython the functions run.
    assert runtime == f"python{PYTHON_VERSION}"
    layer_id, _ = dependencies_layer(synthesized)
    log_groups = synthesized.resources("AWS::Logs::LogGroup")

    for handler, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] == runtime, handler
        assert properties["Architectures"] == ["arm64"], handler
        assert properties["TracingConfig"] == {"Mode": "Active"}, handler
        assert properties["Layers"] == [{"Ref": layer_id}], handler
        logging = properties["LoggingConfig"]
        assert logging["LogFormat"] == "JSON", handler
        assert logging["ApplicationLogLevel"] == "INFO", handler
        assert logging["SystemLogLevel"] == "WARN", handler
        log_group_id = logging["LogGroup"]["Ref"]
        assert log_groups[log_group_id]["Properties"]["RetentionInDays"] > 0, handler
        environment = properties["Environment"]["Variables"]
        assert environment["POWERTOOLS_SERVICE_NAME"] == "riskgate"
        assert environment["POWERTOOLS_METRICS_NAMESPACE"] == "Riskgate"
        assert environment["POWERTOOLS_LOG_LEVEL"] == "INFO"
        assert "Ref" in environment["RISKGATE_TABLE_NAME"]
        assert "Ref" in environment["RISKGATE_EVENTS_TOPIC_ARN"]
        # Every function may write audit items, which expire after the stack's retention.
        assert environment["RISKGATE_AUDIT_RETENTION_DAYS"] == "365", handler
        # The API writes reminder items and the expiry checker acts on them: the same days for both.
        assert environment["RISKGATE_EXPIRY_REMINDER_DAYS"] == "7,1", handler


def test_functions_are_sized_for_their_work(synthesized: Synthesized) -> None:
    sizes = {
        handler: (function["Properties"]["MemorySize"], function["Properties"]["Timeout"])
        for handler, function in functions_by_handler(synthesized).items()
    }
    assert sizes[API_HANDLER] == (1024, 29)
    assert sizes[AUTHORIZER_HANDLER][1] == 5
    assert sizes[EVALUATOR_HANDLER][1] == 60
    assert 256 <= sizes[AUTHORIZER_HANDLER][0] <= 512
    assert 256 <= sizes[EVALUATOR_HANDLER][0] <= 512
    assert sizes[AUDIT_FORWARDER_HANDLER] == (256, 60)
    # The fan-out keeps each invocation to seconds (docs/performance.md); the timeouts leave wide room.
    assert sizes[PLANNER_HANDLER] == (512, 300)
    assert sizes[REEVALUATOR_HANDLER] == (512, 120)
    assert sizes[EXPIRY_CHECKER_HANDLER] == (256, 300)
    assert sizes[DISPATCHER_HANDLER] == (DISPATCHER_FUNCTION.memory_mb, DISPATCHER_FUNCTION.timeout_seconds)
    assert sizes[NOTIFIER_HANDLER] == (NOTIFIER_FUNCTION.memory_mb, NOTIFIER_FUNCTION.timeout_seconds)


def test_function_roles_carry_no_aws_managed_policy(synthesized: Synthesized) -> None:
    roles = synthesized.resources("AWS::IAM::Role")
    lambda_roles = {
        logical_id: role
        for logical_id, role in roles.items()
        if "lambda.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    }
    assert len(lambda_roles) == len(HANDLERS) + 1  # and the console upload's
    for logical_id, role in lambda_roles.items():
        assert "ManagedPolicyArns" not in role["Properties"], logical_id


# --- the stream evaluation -------------------------------------------------------------------------


def test_the_evaluator_consumes_the_stream_filtered_with_partial_failures_and_a_failure_queue(
    synthesized: Synthesized,
) -> None:
    mapping = mapping_of(synthesized, EVALUATOR_HANDLER)
    table_id = next(iter(synthesized.resources("AWS::DynamoDB::Table")))

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 < mapping["MaximumRetryAttempts"] <= 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 60 <= mapping["MaximumRecordAgeInSeconds"] < 24 * 3600  # before the stream trims the record
    [stream_filter] = mapping["FilterCriteria"]["Filters"]
    assert json.loads(stream_filter["Pattern"]) == EVALUATOR_STREAM_FILTER

    queues = synthesized.resources("AWS::SQS::Queue")
    destination = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    failure_queue_id = destination["Fn::GetAtt"][0]
    assert failure_queue_id in queues
    for queue in queues.values():
        assert queue["Properties"].get("SqsManagedSseEnabled") or queue["Properties"].get("KmsMasterKeyId")
    redrive = queues[failure_queue_id]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] in queues
    assert_alarm_watches(synthesized, failure_queue_id)


def assert_alarm_watches(synthesized: Synthesized, queue_id: str) -> None:
    """One alarm fires while anything waits in the queue."""
    alarm = only(
        {
            logical_id: alarm
            for logical_id, alarm in synthesized.resources("AWS::CloudWatch::Alarm").items()
            # (metric-math and dimensionless alarms, the operations ones, have no Dimensions)
            if alarm["Properties"].get("Dimensions", [{}])[0].get("Value")
            == {"Fn::GetAtt": [queue_id, "QueueName"]}
        }
    )["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 0


def test_the_events_topic_is_encrypted(synthesized: Synthesized) -> None:
    # (the operations topic is tested in test_operations.py)
    topic = only(
        {
            logical_id: topic
            for logical_id, topic in synthesized.resources("AWS::SNS::Topic").items()
            if topic["Properties"].get("DisplayName") == "Riskgate events"
        }
    )["Properties"]
    assert "KmsMasterKeyId" in topic


# --- the security event log's delivery -------------------------------------------------------------


def archive_bucket(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The one bucket with Object Lock: the audit archive (the other one holds its access logs)."""
    buckets = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::S3::Bucket" and resource["Properties"].get("ObjectLockEnabled")
    }
    assert len(buckets) == 1, sorted(buckets)
    return next(iter(buckets.items()))


def test_the_audit_archive_locks_events_in_compliance_mode_for_the_retention(
    synthesized: Synthesized,
) -> None:
    template = synthesized.template_json
    archive_id, archive = archive_bucket(template)
    properties = archive["Properties"]

    # Object Lock, compliance mode, default retention = the audit retention parameter (default 365)
    assert properties["ObjectLockEnabled"] is True
    assert properties["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 365}},
    }
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    # S3-managed keys: a customer-managed key could be deleted, and the archive with it
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert archive["DeletionPolicy"] == archive["UpdateReplacePolicy"] == "Retain"
    # Its access is logged to a bucket of its own
    log_bucket_id = properties["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    assert log_bucket_id != archive_id
    assert template["Resources"][log_bucket_id]["Type"] == "AWS::S3::Bucket"
    assert template["Resources"][log_bucket_id]["DeletionPolicy"] == "Retain"


def test_the_archive_policy_refuses_deletes_retention_changes_and_overwrites_to_everyone(
    synthesized: Synthesized,
) -> None:
    archive_id, _ = archive_bucket(synthesized.template_json)
    policy = only(
        {
            logical_id: policy
            for logical_id, policy in synthesized.resources("AWS::S3::BucketPolicy").items()
            if policy["Properties"]["Bucket"] == {"Ref": archive_id}
        }
    )
    statements = {
        statement.get("Sid"): statement for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    }

    deny = statements["DenyAlteringArchivedEvents"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"AWS": "*"}
    assert "Condition" not in deny
    assert set(deny["Action"]) >= {
        "s3:DeleteObject*",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:BypassGovernanceRetention",
    }
    overwrite = statements["DenyUnconditionalUploads"]
    assert overwrite["Effect"] == "Deny"
    assert overwrite["Principal"] == {"AWS": "*"}
    assert overwrite["Action"] == "s3:PutObject"
    assert overwrite["Condition"] == {"Null": {"s3:if-none-match": "true"}}
    # And TLS only, as on every bucket
    assert any(
        statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in statements.values()
    )


def test_the_forwarder_consumes_audit_inserts_with_partial_failures_and_a_failure_queue(
    synthesized: Synthesized,
) -> None:
    mapping = mapping_of(synthesized, AUDIT_FORWARDER_HANDLER)
    table_id = next(iter(synthesized.resources("AWS::DynamoDB::Table")))

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    [stream_filter] = mapping["FilterCriteria"]["Filters"]
    assert json.loads(stream_filter["Pattern"]) == AUDIT_STREAM_FILTER
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 < mapping["MaximumRetryAttempts"] <= 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 60 <= mapping["MaximumRecordAgeInSeconds"] < 24 * 3600
    # Its own failure queue (not the evaluator's), watched by its own alarm
    failure_queue_id = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    evaluator_queue_id = mapping_of(synthesized, EVALUATOR_HANDLER)["DestinationConfig"]["OnFailure"][
        "Destination"
    ]["Fn::GetAtt"][0]
    assert failure_queue_id != evaluator_queue_id
    queue = synthesized.resources("AWS::SQS::Queue")[failure_queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] in synthesized.resources(
        "AWS::SQS::Queue"
    )
    assert_alarm_watches(synthesized, failure_queue_id)


def test_the_forwarder_may_only_add_objects_to_the_archive_and_put_events_on_the_bus(
    synthesized: Synthesized,
) -> None:
    archive_id, _ = archive_bucket(synthesized.template_json)
    bus_id, bus = next(iter(synthesized.resources("AWS::Events::EventBus").items()))
    statements = policy_statements_of(synthesized, AUDIT_FORWARDER_HANDLER)

    s3_actions = {action for action in actions_of(statements) if action.startswith("s3:")}
    assert s3_actions == {"s3:PutObject"}
    (put,) = [statement for statement in statements if "s3:PutObject" in json.dumps(statement["Action"])]
    assert put["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [archive_id, "Arn"]}, "/events/*"]]}
    assert not any(
        action.startswith(("s3:Delete", "s3:*", "dynamodb:Put", "dynamodb:Delete"))
        for action in actions_of(statements)
    )
    (put_events,) = [statement for statement in statements if statement["Action"] == "events:PutEvents"]
    assert put_events["Resource"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    # The bus a SIEM subscribes to has a name it can know in advance
    assert bus["Properties"]["Name"] == "riskgate-audit"

    environment = functions_by_handler(synthesized)[AUDIT_FORWARDER_HANDLER]["Properties"]["Environment"][
        "Variables"
    ]
    assert environment["RISKGATE_AUDIT_BUS_NAME"] == {"Ref": bus_id}
    assert environment["RISKGATE_AUDIT_ARCHIVE_BUCKET"] == {"Ref": archive_id}


# --- re-evaluation after a policy change -----------------------------------------------------------


def work_queue(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    """The queue the re-evaluator consumes: the event source of its mapping."""
    queue_id = mapping_of(synthesized, REEVALUATOR_HANDLER)["EventSourceArn"]["Fn::GetAtt"][0]
    return queue_id, synthesized.resources("AWS::SQS::Queue")[queue_id]["Properties"]


def test_the_planner_consumes_policy_writes_with_partial_failures_and_a_failure_queue(
    synthesized: Synthesized,
) -> None:
    mapping = mapping_of(synthesized, PLANNER_HANDLER)
    table_id = next(iter(synthesized.resources("AWS::DynamoDB::Table")))

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    [stream_filter] = mapping["FilterCriteria"]["Filters"]
    assert json.loads(stream_filter["Pattern"]) == POLICY_STREAM_FILTER
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 < mapping["MaximumRetryAttempts"] <= 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    failure_queue_id = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert_alarm_watches(synthesized, failure_queue_id)

    # It sends to the work queue, named in its environment
    queue_id, _ = work_queue(synthesized)
    environment = functions_by_handler(synthesized)[PLANNER_HANDLER]["Properties"]["Environment"]["Variables"]
    assert environment["RISKGATE_REEVALUATION_QUEUE_URL"] == {"Ref": queue_id}
    sends = [
        statement
        for statement in policy_statements_of(synthesized, PLANNER_HANDLER)
        if "sqs:SendMessage" in json.dumps(statement["Action"])
    ]
    # to the work queue, and to its own failure queue (the event source's on-failure destination)
    resources = [
        resource
        for statement in sends
        for resource in (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
    ]
    assert sorted(map(str, resources)) == sorted(
        str({"Fn::GetAtt": [queue, "Arn"]}) for queue in (queue_id, failure_queue_id)
    )


def test_the_work_queue_hides_a_message_longer_than_six_timeouts_and_dead_letters_what_keeps_failing(
    synthesized: Synthesized,
) -> None:
    queue_id, queue = work_queue(synthesized)

    assert queue["VisibilityTimeout"] >= 6 * REEVALUATOR_FUNCTION.timeout_seconds
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["QueueName"] == "riskgate-reevaluation"
    redrive = queue["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == REEVALUATION_MAX_RECEIVE_COUNT
    dead_letters_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert synthesized.resources("AWS::SQS::Queue")[dead_letters_id]["Properties"]["SqsManagedSseEnabled"]
    assert_alarm_watches(synthesized, dead_letters_id)
    # TLS only
    queue_policies = synthesized.resources("AWS::SQS::QueuePolicy").values()
    assert any(
        {"Ref": queue_id} in policy["Properties"]["Queues"]
        and "aws:SecureTransport" in json.dumps(policy["Properties"]["PolicyDocument"])
        for policy in queue_policies
    )


def test_the_reevaluator_consumes_the_work_queue_in_small_batches_with_partial_failures(
    synthesized: Synthesized,
) -> None:
    mapping = mapping_of(synthesized, REEVALUATOR_HANDLER)
    assert mapping["BatchSize"] == REEVALUATOR_BATCH_SIZE
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] >= 2
    statements = policy_statements_of(synthesized, REEVALUATOR_HANDLER)
    # A transaction needs the rights of its parts: PutItem (the chunk marker) and UpdateItem (the count).
    assert {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
    } <= actions_of(statements)


# --- risk acceptance expiry ------------------------------------------------------------------------


def expiry_schedule(synthesized: Synthesized) -> dict[str, Any]:
    """The schedule invoking the expiry checker (the other one puts the registry sync on its queue)."""
    checker = {"Fn::GetAtt": [function_id(synthesized, EXPIRY_CHECKER_HANDLER), "Arn"]}
    return only(
        {
            logical_id: schedule
            for logical_id, schedule in synthesized.resources("AWS::Scheduler::Schedule").items()
            if schedule["Properties"]["Target"]["Arn"] == checker
        }
    )["Properties"]


def test_the_expiry_check_rate_is_a_stack_parameter(synthesized: Synthesized) -> None:
    parameter = synthesized.template_json["Parameters"]["ExpiryCheckRateMinutes"]

    assert parameter["Type"] == "Number"
    assert parameter["Default"] == 15
    assert parameter["MinValue"] == 1
    assert 60 <= parameter["MaxValue"] <= 24 * 60
    # The schedule's rate is the parameter, singular for one minute as Scheduler requires.
    expression = expiry_schedule(synthesized)["ScheduleExpression"]
    condition_id, every_minute, other = expression["Fn::If"]
    assert every_minute == "rate(1 minute)"
    assert other == {"Fn::Sub": ["rate(${Minutes} minutes)", {"Minutes": {"Ref": "ExpiryCheckRateMinutes"}}]}
    assert synthesized.template_json["Conditions"][condition_id] == {
        "Fn::Equals": [{"Ref": "ExpiryCheckRateMinutes"}, "1"]
    }


def test_the_schedule_invokes_the_checker_on_time_with_the_scheduled_time(synthesized: Synthesized) -> None:
    schedule = expiry_schedule(synthesized)
    checker_id = function_id(synthesized, EXPIRY_CHECKER_HANDLER)
    target = schedule["Target"]

    assert schedule["State"] == "ENABLED"
    # Exactly on the rate: the scheduled time is the run's "now".
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert target["Arn"] == {"Fn::GetAtt": [checker_id, "Arn"]}
    assert json.loads(target["Input"]) == {
        "source": SCHEDULED_EVENT_SOURCE,
        "detail-type": SCHEDULED_EVENT_DETAIL_TYPE,
        "time": SCHEDULER_SCHEDULED_TIME,
    }
    assert SCHEDULER_SCHEDULED_TIME == "<aws.scheduler.scheduled-time>"
    retry = target["RetryPolicy"]
    assert 0 < retry["MaximumRetryAttempts"] <= 185
    assert 60 <= retry["MaximumEventAgeInSeconds"] <= 86_400


def test_the_schedule_role_may_only_invoke_the_checker_and_report_to_its_dead_letter_queue(
    synthesized: Synthesized,
) -> None:
    target = expiry_schedule(synthesized)["Target"]
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    role = synthesized.resources("AWS::IAM::Role")[role_id]["Properties"]
    checker_id = function_id(synthesized, EXPIRY_CHECKER_HANDLER)
    queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]

    # Assumed by EventBridge Scheduler, for schedules of this account only
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "ManagedPolicyArns" not in role
    statements = [
        statement
        for policy in synthesized.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    grants = sorted(
        (statement["Effect"], json.dumps(statement["Action"]), json.dumps(statement["Resource"]))
        for statement in statements
    )
    assert grants == sorted(
        [
            ("Allow", '"lambda:InvokeFunction"', json.dumps({"Fn::GetAtt": [checker_id, "Arn"]})),
            ("Allow", '"sqs:SendMessage"', json.dumps({"Fn::GetAtt": [queue_id, "Arn"]})),
        ]
    )


def test_failed_expiry_runs_land_in_an_encrypted_alarmed_dead_letter_queue(synthesized: Synthesized) -> None:
    queue_id = expiry_schedule(synthesized)["Target"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    queue = synthesized.resources("AWS::SQS::Queue")[queue_id]["Properties"]

    assert queue["SqsManagedSseEnabled"] is True
    assert_alarm_watches(synthesized, queue_id)
    # TLS only
    assert any(
        {"Ref": queue_id} in policy["Properties"]["Queues"]
        and "aws:SecureTransport" in json.dumps(policy["Properties"]["PolicyDocument"])
        for policy in synthesized.resources("AWS::SQS::QueuePolicy").values()
    )
    # Scheduler invokes Lambda asynchronously: a run that fails in the function (after Lambda's retries)
    # goes to the same queue.
    checker = functions_by_handler(synthesized)[EXPIRY_CHECKER_HANDLER]["Properties"]
    assert checker["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert {"sqs:SendMessage"} <= actions_of(policy_statements_of(synthesized, EXPIRY_CHECKER_HANDLER))


def test_the_expiry_checker_reads_and_writes_the_table_and_knows_the_reminder_days(
    synthesized: Synthesized,
) -> None:
    checker = functions_by_handler(synthesized)[EXPIRY_CHECKER_HANDLER]["Properties"]
    assert checker["Environment"]["Variables"]["RISKGATE_EXPIRY_REMINDER_DAYS"] == "7,1"
    # A transaction needs the rights of its parts: the due Query, UpdateItem, Delete, Put, ConditionCheck.
    assert {
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "dynamodb:ConditionCheckItem",
    } <= actions_of(policy_statements_of(synthesized, EXPIRY_CHECKER_HANDLER))


def test_the_authorizer_may_write_audit_items_and_token_use(synthesized: Synthesized) -> None:
    actions = actions_of(policy_statements_of(synthesized, AUTHORIZER_HANDLER))
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"} <= actions


def test_the_api_may_manage_only_the_integration_secrets_under_the_stacks_prefix(
    synthesized: Synthesized,
) -> None:
    environment = functions_by_handler(synthesized)[API_HANDLER]["Properties"]["Environment"]["Variables"]
    assert environment["RISKGATE_SECRETS_PREFIX"] == "riskgate"  # the stack's name, lower-case
    statements = policy_statements_of(synthesized, API_HANDLER)
    assert {action for action in actions_of(statements) if action.startswith("secretsmanager:")} == {
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:DescribeSecret",
        "secretsmanager:RestoreSecret",
        "secretsmanager:DeleteSecret",
        "secretsmanager:TagResource",
        # Read back only to send an integration's test message (its own test below).
        "secretsmanager:GetSecretValue",
    }
    (statement,) = [statement for statement in statements if statement.get("Sid") == "IntegrationSecrets"]
    assert "secretsmanager:GetSecretValue" not in statement["Action"]
    assert statement["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":secretsmanager:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":secret:riskgate/integrations/*",
            ],
        ]
    }
    # The notifier only reads them (its own test), the registry ingester only registry connections' secrets
    # (test_registries_stack.py); no other function touches them.
    for handler in HANDLERS - {API_HANDLER, NOTIFIER_HANDLER, REGISTRY_INGESTER_FUNCTION.handler}:
        assert not any(
            action.startswith("secretsmanager:")
            for action in actions_of(policy_statements_of(synthesized, handler))
        ), handler


def test_page_tokens_are_sealed_with_a_generated_secret_only_the_api_reads(synthesized: Synthesized) -> None:
    secrets = synthesized.resources("AWS::SecretsManager::Secret")
    (key_id,) = [logical_id for logical_id in secrets if "PageTokenKey" in logical_id]
    assert secrets[key_id]["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    environment = environment_of(synthesized, API_HANDLER)
    assert environment["RISKGATE_PAGE_TOKEN_SECRET_ID"] == {"Ref": key_id}
    readers = [
        handler
        for handler in HANDLERS
        if any(
            {"Ref": key_id} in resources_of(statement)
            for statement in policy_statements_of(synthesized, handler)
        )
    ]
    assert readers == [API_HANDLER]


def test_the_audit_retention_is_a_deployment_parameter() -> None:
    """A non-default `riskgate:auditRetentionDays` reaches the archive's lock and the functions."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk.assertions import Template

    from riskgate_infra.constructs.audit import AuditDelivery
    from riskgate_infra.constructs.functions import LambdaFactory
    from riskgate_infra.settings import Settings

    # Given the parameter as `cdk deploy -c riskgate:auditRetentionDays=30` passes it
    app = App(context={"riskgate:auditRetentionDays": "30"})
    stack = Stack(app, "Retention")
    settings = Settings.from_context(app.node)
    table = dynamodb.Table(
        stack,
        "Table",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    )
    layer = lambda_.LayerVersion.from_layer_version_arn(
        stack, "Layer", "arn:aws:lambda:us-east-1:123456789012:layer:deps:1"
    )
    factory = LambdaFactory(
        layer=layer,
        environment={"RISKGATE_AUDIT_RETENTION_DAYS": str(settings.audit_retention_days)},
        settings=settings,
    )

    # When the audit delivery is built with it
    AuditDelivery(stack, "Audit", factory=factory, table=table, retention_days=settings.audit_retention_days)
    template = Template.from_stack(stack).to_json()

    # Then the archive locks events for 30 days, and the forwarder is told so
    _, archive = archive_bucket(template)
    assert archive["Properties"]["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {
        "Mode": "COMPLIANCE",
        "Days": 30,
    }
    (function,) = [
        resource for resource in template["Resources"].values() if resource["Type"] == "AWS::Lambda::Function"
    ]
    assert function["Properties"]["Environment"]["Variables"]["RISKGATE_AUDIT_RETENTION_DAYS"] == "30"
    # And the bus is named after its stack
    (bus,) = [
        resource for resource in template["Resources"].values() if resource["Type"] == "AWS::Events::EventBus"
    ]
    assert bus["Properties"]["Name"] == "retention-audit"


# --- notifications ---------------------------------------------------------------------------------


def notify_queue(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    """The queue the notifier consumes: the event source of its mapping."""
    queue_id = mapping_of(synthesized, NOTIFIER_HANDLER)["EventSourceArn"]["Fn::GetAtt"][0]
    return queue_id, synthesized.resources("AWS::SQS::Queue")[queue_id]["Properties"]


def environment_of(synthesized: Synthesized, handler: str) -> dict[str, Any]:
    return dict(functions_by_handler(synthesized)[handler]["Properties"]["Environment"]["Variables"])


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def test_the_dispatcher_consumes_new_trigger_events_with_partial_failures_and_a_failure_queue(
    synthesized: Synthesized,
) -> None:
    mapping = mapping_of(synthesized, DISPATCHER_HANDLER)
    table_id = next(iter(synthesized.resources("AWS::DynamoDB::Table")))

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    [stream_filter] = mapping["FilterCriteria"]["Filters"]
    assert json.loads(stream_filter["Pattern"]) == DISPATCH_STREAM_FILTER
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["BatchSize"] == DISPATCHER_BATCH_SIZE
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == DISPATCHER_RETRY_ATTEMPTS
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 60 <= mapping["MaximumRecordAgeInSeconds"] < 24 * 3600
    failure_queue_id = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    others = {
        mapping_of(synthesized, handler)["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
        for handler in (EVALUATOR_HANDLER, AUDIT_FORWARDER_HANDLER, PLANNER_HANDLER)
    }
    assert failure_queue_id not in others
    assert synthesized.resources("AWS::SQS::Queue")[failure_queue_id]["Properties"]["SqsManagedSseEnabled"]
    assert_alarm_watches(synthesized, failure_queue_id)


def test_the_dispatcher_writes_notifications_and_publishes_them_on_the_events_topic(
    synthesized: Synthesized,
) -> None:
    topic_id = next(iter(synthesized.resources("AWS::SNS::Topic")))
    key_id = next(iter(synthesized.resources("AWS::KMS::Key")))
    statements = policy_statements_of(synthesized, DISPATCHER_HANDLER)
    actions = actions_of(statements)

    # A notification and its dedup marker are one transaction: Put and ConditionCheck; policies by Query.
    assert {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"} <= actions
    (publish,) = [statement for statement in statements if statement["Action"] == "sns:Publish"]
    assert publish["Resource"] == {"Ref": topic_id}
    # The topic is encrypted with the data key: publishing needs its data-key actions.
    assert any(
        "kms:GenerateDataKey*" in statement["Action"]
        and statement["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
        for statement in statements
    )
    # Delivering is the notifier's business, not the dispatcher's.
    assert not any(action.startswith(("ses:", "secretsmanager:")) for action in actions)


def test_the_notify_queue_is_subscribed_to_the_events_topic_raw_and_only_for_notifications(
    synthesized: Synthesized,
) -> None:
    topic_id = next(iter(synthesized.resources("AWS::SNS::Topic")))
    queue_id, _ = notify_queue(synthesized)
    subscription = only(
        {
            logical_id: subscription
            for logical_id, subscription in synthesized.resources("AWS::SNS::Subscription").items()
            if subscription["Properties"]["Endpoint"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        }
    )["Properties"]

    assert subscription["Protocol"] == "sqs"
    assert subscription["TopicArn"] == {"Ref": topic_id}
    assert subscription["RawMessageDelivery"] is True
    assert subscription["FilterPolicy"] == {"kind": [NOTIFICATION_MESSAGE_KIND]}
    assert subscription.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"
    # What SNS cannot put on the queue goes to the queue's own dead letters.
    dead_letters_id = notify_queue(synthesized)[1]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert subscription["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dead_letters_id, "Arn"]}}

    # The queue (and the dead-letter queue) accept SNS's messages from this topic and no other, over TLS.
    for target in (queue_id, dead_letters_id):
        (policy,) = [
            policy["Properties"]["PolicyDocument"]
            for policy in synthesized.resources("AWS::SQS::QueuePolicy").values()
            if {"Ref": target} in policy["Properties"]["Queues"]
        ]
        (allow,) = [statement for statement in policy["Statement"] if statement["Effect"] == "Allow"]
        assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
        assert allow["Action"] == "sqs:SendMessage"
        assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": topic_id}}}
        assert "aws:SecureTransport" in json.dumps(policy)


def test_the_notify_queue_backs_off_and_dead_letters_what_keeps_failing_under_an_alarm(
    synthesized: Synthesized,
) -> None:
    _, queue = notify_queue(synthesized)

    assert queue["QueueName"] == "riskgate-notifications"
    assert queue["VisibilityTimeout"] == NOTIFY_VISIBILITY_TIMEOUT_SECONDS
    assert queue["VisibilityTimeout"] >= 6 * NOTIFIER_FUNCTION.timeout_seconds
    # SSE-SQS: SNS delivers to it without a key policy; the messages hold notification ids only.
    assert queue["SqsManagedSseEnabled"] is True
    redrive = queue["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == NOTIFY_MAX_RECEIVE_COUNT
    dead_letters_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    dead_letters = synthesized.resources("AWS::SQS::Queue")[dead_letters_id]["Properties"]
    assert dead_letters["QueueName"] == "riskgate-notifications-dead-letters"
    assert dead_letters["SqsManagedSseEnabled"] is True
    assert dead_letters["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert_alarm_watches(synthesized, dead_letters_id)


def test_the_notifier_consumes_the_notify_queue_with_partial_failures(synthesized: Synthesized) -> None:
    mapping = mapping_of(synthesized, NOTIFIER_HANDLER)

    assert mapping["BatchSize"] == NOTIFIER_BATCH_SIZE
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    actions = actions_of(policy_statements_of(synthesized, NOTIFIER_HANDLER))
    # Its own backoff (Telegram's retry_after, growing delays) sets a failed message's visibility.
    assert {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueUrl",
        "sqs:ChangeMessageVisibility",
    } <= actions
    # Status, attempts and last error are conditional updates of the notification record.
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem"} <= actions


def arn_of(tail: str, region: Any = None) -> dict[str, Any]:
    """`service:resource` in this stack's partition and account (and region, unless given)."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                *(
                    [f":{tail.split(':')[0]}:", {"Ref": "AWS::Region"}, ":"]
                    if region is None
                    else [f":{tail.split(':')[0]}:{region}:"]
                ),
                {"Ref": "AWS::AccountId"},
                ":" + tail.split(":", 1)[1],
            ],
        ]
    }


def assert_may_deliver(statements: list[dict[str, Any]]) -> None:
    """What delivering through integrations takes (`grant_delivery`): SES, the secrets, customer topics."""
    by_sid = {statement.get("Sid"): statement for statement in statements}
    email = by_sid["SendEmail"]
    assert sorted(email["Action"]) == ["ses:SendEmail", "ses:SendRawEmail"]
    assert sorted(map(json.dumps, resources_of(email))) == sorted(
        json.dumps(arn_of(f"ses:{resource}/*")) for resource in ("identity", "configuration-set")
    )
    secrets = by_sid["ReadIntegrationSecrets"]
    assert secrets["Action"] == "secretsmanager:GetSecretValue"
    assert secrets["Resource"] == arn_of("secretsmanager:secret:riskgate/integrations/*")
    topics = by_sid["PublishToCustomerTopics"]
    assert topics["Action"] == "sns:Publish"
    assert topics["Resource"] == arn_of("sns:*", region="*")
    actions = actions_of(statements)
    assert {action for action in actions if action.startswith("ses:")} == {
        "ses:SendEmail",
        "ses:SendRawEmail",
    }


def test_the_api_may_send_an_integrations_test_message_as_the_notifier_does(
    synthesized: Synthesized,
) -> None:
    statements = policy_statements_of(synthesized, API_HANDLER)
    assert_may_deliver(statements)
    # Publishing to customer topics only: the events topic is the evaluator's and the dispatcher's.
    (publish,) = [statement for statement in statements if "sns:Publish" in actions_of([statement])]
    assert publish["Sid"] == "PublishToCustomerTopics"
    # Telegram is reached where the notifier reaches it.
    assert environment_of(synthesized, API_HANDLER)["RISKGATE_TELEGRAM_API_URL"] == "https://api.telegram.org"


def test_the_notifier_may_send_email_read_integration_secrets_and_publish_to_customer_topics_only(
    synthesized: Synthesized,
) -> None:
    statements = policy_statements_of(synthesized, NOTIFIER_HANDLER)
    assert_may_deliver(statements)

    actions = actions_of(statements)
    assert {action for action in actions if action.startswith("secretsmanager:")} == {
        "secretsmanager:GetSecretValue"
    }
    assert {action for action in actions if action.startswith("sns:")} == {"sns:Publish"}
    assert not any(action.endswith("*") and not action.startswith("kms:") for action in actions)


def test_both_notification_functions_know_the_window_and_the_telegram_api(synthesized: Synthesized) -> None:
    for handler in (DISPATCHER_HANDLER, NOTIFIER_HANDLER):
        environment = environment_of(synthesized, handler)
        assert environment["RISKGATE_NOTIFY_WINDOW_HOURS"] == "24", handler
        assert environment["RISKGATE_TELEGRAM_API_URL"] == "https://api.telegram.org", handler
        assert environment["RISKGATE_SECRETS_PREFIX"] == "riskgate", handler
    # Messages link to the API.
    assert "execute-api" in json.dumps(
        environment_of(synthesized, NOTIFIER_HANDLER)["RISKGATE_PUBLIC_BASE_URL"]
    )


def notifications_template(context: dict[str, Any]) -> dict[str, Any]:
    """The Notifications construct alone in a stack of its own, with the given CDK context."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_sns as sns
    from aws_cdk.assertions import Template

    from riskgate_infra.constructs.functions import LambdaFactory
    from riskgate_infra.constructs.notifications import Notifications, NotificationSettings
    from riskgate_infra.settings import Settings

    app = App(context=context)
    stack = Stack(app, "Notify")
    table = dynamodb.Table(
        stack,
        "Table",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    )
    layer = lambda_.LayerVersion.from_layer_version_arn(
        stack, "Layer", "arn:aws:lambda:us-east-1:123456789012:layer:deps:1"
    )
    factory = LambdaFactory(layer=layer, environment={}, settings=Settings.from_context(app.node))
    Notifications(
        stack,
        "Notifications",
        factory=factory,
        table=table,
        events_topic=sns.Topic(stack, "Topic"),
        secrets_prefix="notify",
        settings=NotificationSettings.from_context(app.node),
    )
    return dict(Template.from_stack(stack).to_json())


def test_the_window_the_telegram_api_and_the_customer_topics_are_deployment_parameters() -> None:
    # Given the parameters as `cdk deploy -c ...` passes them: strings
    template = notifications_template(
        {
            "riskgate:notifyWindowHours": "6",
            "riskgate:telegramApiUrl": "https://telegram.example.com/",
            "riskgate:customerTopicArns": (
                "arn:aws:sns:eu-west-1:111122223333:alerts, arn:aws:sns:*:111122223333:team-*"
            ),
        }
    )

    # Then both functions are told, and the notifier may publish to those topics and no other
    functions = [
        resource for resource in template["Resources"].values() if resource["Type"] == "AWS::Lambda::Function"
    ]
    assert len(functions) == 2
    for function in functions:
        environment = function["Properties"]["Environment"]["Variables"]
        assert environment["RISKGATE_NOTIFY_WINDOW_HOURS"] == "6"
        assert environment["RISKGATE_TELEGRAM_API_URL"] == "https://telegram.example.com"
    (topics,) = [
        statement
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "PublishToCustomerTopics"
    ]
    assert topics["Resource"] == [
        "arn:aws:sns:eu-west-1:111122223333:alerts",
        "arn:aws:sns:*:111122223333:team-*",
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("riskgate:notifyWindowHours", "0"),
        ("riskgate:notifyWindowHours", "a day"),
        ("riskgate:telegramApiUrl", "http://api.telegram.org"),
        ("riskgate:customerTopicArns", "arn:aws:sqs:us-east-1:111122223333:queue"),
    ],
)
def test_invalid_notification_parameters_are_refused(key: str, value: str) -> None:
    from aws_cdk import App

    from riskgate_infra.constructs.notifications import NotificationSettings

    with pytest.raises(ValueError, match=key):
        NotificationSettings.from_context(App(context={key: value}).node)


# --- the API ---------------------------------------------------------------------------------------


def method_paths(synthesized: Synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    """Every API method by (HTTP method, full resource path)."""
    api_resources = synthesized.resources("AWS::ApiGateway::Resource")

    def path_of(resource_ref: Any) -> str:
        if not isinstance(resource_ref, dict) or "Ref" not in resource_ref:
            return ""  # the root resource (Fn::GetAtt RestApi.RootResourceId)
        resource = api_resources[resource_ref["Ref"]]["Properties"]
        return f"{path_of(resource['ParentId'])}/{resource['PathPart']}"

    return {
        (method["Properties"]["HttpMethod"], path_of(method["Properties"]["ResourceId"]) or "/"): method[
            "Properties"
        ]
        for method in synthesized.resources("AWS::ApiGateway::Method").values()
    }


def test_public_routes_have_no_authorizer_and_everything_else_goes_through_it(
    synthesized: Synthesized,
) -> None:
    methods = method_paths(synthesized)
    authorizer_id, authorizer = next(iter(synthesized.resources("AWS::ApiGateway::Authorizer").items()))

    public = {key for key, method in methods.items() if method["AuthorizationType"] == "NONE"}
    assert public == set(PUBLIC_ROUTES)
    protected = {key: method for key, method in methods.items() if key not in public}
    # A public route below /v1/<name> brings resources between /v1 and itself: each gets the protected
    # method, and a greedy child where no path parameter stands for the other segments, since API Gateway
    # does not fall back to /v1/{proxy+} from a resource that matched (riskgate_infra.constructs.api).
    assert set(protected) == {
        ("ANY", "/v1/{proxy+}"),
        ("ANY", "/v1/registries"),
        ("ANY", "/v1/registries/{registry_id}"),
        ("ANY", "/v1/registries/{registry_id}/{proxy+}"),
    }
    for method in protected.values():
        assert method["AuthorizationType"] == "CUSTOM"
        assert method["AuthorizerId"] == {"Ref": authorizer_id}
    for method in methods.values():
        assert method["Integration"]["Type"] == "AWS_PROXY"

    authorizer = authorizer["Properties"]
    assert authorizer["Type"] == "REQUEST"
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"
    assert authorizer["AuthorizerResultTtlInSeconds"] == 30


def test_request_bodies_reach_the_function_untouched(synthesized: Synthesized) -> None:
    rest_api = only(synthesized.resources("AWS::ApiGateway::RestApi"))["Properties"]
    assert rest_api["BinaryMediaTypes"] == ["*/*"]


def test_gateway_responses_use_the_api_error_shape(synthesized: Synthesized) -> None:
    responses = {
        response["Properties"]["ResponseType"]: response["Properties"]
        for response in synthesized.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)

    for status, response_type in ((401, "UNAUTHORIZED"), (403, "ACCESS_DENIED")):
        response = responses[response_type]
        assert response["StatusCode"] == str(status)
        assert json.loads(response["ResponseTemplates"]["application/json"]) == GATEWAY_ERROR_BODIES[status]

    for response_type, response in responses.items():
        template = response["ResponseTemplates"]["application/json"]
        # API Gateway substitutes its own message, already JSON-quoted.
        body = json.loads(template.replace("$context.error.messageString", '"a message"'))
        assert set(body) == {"error"}, response_type
        assert set(body["error"]) == {"code", "message", "details"}, response_type
        assert re.fullmatch(r"[a-z_]+", body["error"]["code"]), response_type
        assert isinstance(body["error"]["message"], str), response_type
        assert body["error"]["details"] == [], response_type


def test_the_stage_is_throttled_traced_and_logged_without_request_data(synthesized: Synthesized) -> None:
    stage = only(synthesized.resources("AWS::ApiGateway::Stage"))["Properties"]
    assert stage["TracingEnabled"] is True
    settings = {
        (setting["HttpMethod"], setting["ResourcePath"]): setting for setting in stage["MethodSettings"]
    }
    stage_wide = settings[("*", "/*")]
    assert stage_wide["ThrottlingRateLimit"] == 50
    assert stage_wide["ThrottlingBurstLimit"] == 100
    for method, path in PUBLIC_ROUTES:
        public = settings[(method, "/" + path.replace("/", "~1"))]  # API Gateway's escaping
        assert public["ThrottlingRateLimit"] < stage_wide["ThrottlingRateLimit"]
    for setting in settings.values():
        assert setting["LoggingLevel"] == "INFO"
        # Data trace would log Authorization headers, i.e. bearer tokens.
        assert setting["DataTraceEnabled"] is False

    access_log = stage["AccessLogSetting"]
    assert access_log["DestinationArn"]
    fields = json.loads(access_log["Format"])
    assert fields["request_id"] == "$context.requestId"
    assert not any("header" in value.lower() for value in fields.values())
    assert only(synthesized.resources("AWS::ApiGateway::Account"))["Properties"]["CloudWatchRoleArn"]


def test_the_stages_execution_logs_expire_like_every_other_log(synthesized: Synthesized) -> None:
    # API Gateway would create this group itself, never expiring: the stack creates it first, by its name.
    stage = only(synthesized.resources("AWS::ApiGateway::Stage"))
    api_id = next(iter(synthesized.resources("AWS::ApiGateway::RestApi")))
    expected_name = {
        "Fn::Join": [
            "",
            ["API-Gateway-Execution-Logs_", {"Ref": api_id}, f"/{stage['Properties']['StageName']}"],
        ]
    }
    groups = {
        group_id: group
        for group_id, group in synthesized.resources("AWS::Logs::LogGroup").items()
        if group["Properties"].get("LogGroupName") == expected_name
    }
    assert len(groups) == 1, groups
    ((group_id, group),) = groups.items()
    assert group["Properties"]["RetentionInDays"] == 30  # the stack's log retention (ONE_MONTH)
    # Created before the stage can log, or API Gateway would have made it (and the deploy would collide).
    assert group_id in stage.get("DependsOn", []), stage.get("DependsOn")


def test_outputs_name_the_api_the_table_and_the_first_token_command(synthesized: Synthesized) -> None:
    outputs = synthesized.template_json["Outputs"]
    table_id = next(iter(synthesized.resources("AWS::DynamoDB::Table")))
    archive_id, _ = archive_bucket(synthesized.template_json)
    bus_id = next(iter(synthesized.resources("AWS::Events::EventBus")))
    assert outputs["AuditBusName"]["Value"] == {"Ref": bus_id}
    assert outputs["AuditArchiveBucket"]["Value"] == {"Ref": archive_id}
    assert "execute-api" in json.dumps(outputs["ApiUrl"]["Value"])
    assert outputs["TableName"]["Value"] == {"Ref": table_id}
    assert outputs["CreateFirstToken"]["Value"] == {
        "Fn::Join": ["", ["riskgate admin create-token --table ", {"Ref": table_id}]]
    }


def test_the_stack_is_environment_agnostic(synthesized: Synthesized) -> None:
    manifest = json.loads((synthesized.assembly_dir / "manifest.json").read_text())
    artifact = manifest["artifacts"][synthesized.stack.artifact_id]
    assert artifact["environment"] == "aws://unknown-account/unknown-region"


# --- what the checkers say -------------------------------------------------------------------------


def test_cdk_nag_and_cdk_validation_report_nothing(synthesized: Synthesized) -> None:
    from aws_cdk.assertions import Annotations, Match

    # cdk-nag 3 reports through CDK's policy validation: its findings land in the validation report.
    findings = [
        f"{violation['severity']} {violation['ruleName']} at "
        f"{[resource.get('constructPath') for resource in violation.get('violatingConstructs', [])]}"
        for plugin in synthesized.validation_report()["pluginReports"]
        for violation in plugin.get("violations", [])
    ]
    assert findings == []
    # And no construct annotated itself with a warning or error either.
    annotations = Annotations.from_stack(synthesized.stack)
    assert annotations.find_error("*", Match.any_value()) == []
    assert annotations.find_warning("*", Match.any_value()) == []


def test_a_nag_finding_fails_synthesis() -> None:
    """The packs really run, both of them, and an unacknowledged finding stops the app."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_sqs as sqs

    from riskgate_infra.application import cdk_json_context
    from riskgate_infra.nag import add_rule_packs

    # Given the app's rule packs and a queue with neither encryption nor redrive policy
    app = App(context=cdk_json_context())
    stack = Stack(app, "Offender")
    sqs.Queue(stack, "Queue", encryption=sqs.QueueEncryption.UNENCRYPTED)
    add_rule_packs(app)

    # When it is synthesized, Then it fails, naming both packs' rules
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        app.synth()
    assert "AwsSolutions-SQS2" in str(failure.value)
    assert "Serverless-SQSRedrivePolicy" in str(failure.value)


# W3005: CDK makes each function DependsOn its role (and the role's policy, which is the point: the
# function must not run before its permissions exist); the role half repeats the GetAtt. Harmless.
CFN_LINT_ACCEPTED_WARNINGS = {"W3005"}


def test_cfn_lint_finds_no_error(synthesized: Synthesized) -> None:
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(
        synthesized.template_path,
        config=ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"]),
    )
    problems = [
        f"{match.rule.id} {match.message} ({match.path_string})"
        for match in matches
        if match.rule.id not in CFN_LINT_ACCEPTED_WARNINGS
    ]
    assert problems == []


# --- what ships ------------------------------------------------------------------------------------


def asset_dir(synthesized: Synthesized, resource: dict[str, Any]) -> Path:
    path = synthesized.assembly_dir / resource["Metadata"]["aws:asset:path"]
    assert path.is_dir(), path
    return path


def test_every_handler_imports_from_the_code_asset(synthesized: Synthesized) -> None:
    functions = functions_by_handler(synthesized)
    code_dirs = {asset_dir(synthesized, function) for function in functions.values()}
    assert len(code_dirs) == 1, "the three functions share one code asset"
    [code_dir] = code_dirs
    assert (code_dir / "riskgate" / "resources.py").is_file()
    junk = [path for path in code_dir.rglob("*") if path.name == "__pycache__" or path.suffix == ".pyc"]
    assert junk == []
    assert not (code_dir / "tests").exists()

    # The layer's aarch64 wheels cannot load here: this venv stands in for the layer, the asset alone
    # provides the code (-P: not even the working directory is on the path).
    check = (
        "import importlib, sys\n"
        "module_name, function_name, root = sys.argv[1:]\n"
        "module = importlib.import_module(module_name)\n"
        "assert module.__file__.startswith(root), module.__file__\n"
        "assert callable(getattr(module, function_name)), function_name\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(code_dir)}
    for handler in functions:
        module_name, _, function_name = handler.rpartition(".")
        result = subprocess.run(
            [sys.executable, "-P", "-c", check, module_name, function_name, str(code_dir)],
            env=environment,
            cwd=code_dir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{handler}: {result.stderr}"


def check_layer_content(python_dir: Path) -> None:
    cpython = "cpython-" + PYTHON_VERSION.replace(".", "")
    extensions = list((python_dir / "pydantic_core").glob(f"_pydantic_core.{cpython}-aarch64-linux-gnu.so"))
    assert extensions, f"no aarch64 {cpython} build of pydantic_core in {python_dir}"
    assert (python_dir / "aws_lambda_powertools").is_dir()
    assert (python_dir / "pydantic").is_dir()
    # The runtime's own SDK and what it requires must not be shadowed by a second copy.
    for provided_by_runtime in (
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "dateutil",
        "six.py",
        "urllib3",
    ):
        assert not (python_dir / provided_by_runtime).exists(), provided_by_runtime
    assert list(python_dir.rglob("__pycache__")) == []
    # Nothing built for this machine slipped in.
    assert [path for path in python_dir.rglob("*.so") if "x86_64" in path.name] == []


def test_the_layer_is_built_for_the_runtime(built_layer: Path) -> None:
    check_layer_content(built_layer / "python")


def test_the_layer_asset_is_that_build(synthesized: Synthesized) -> None:
    _, layer = dependencies_layer(synthesized)
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Properties"]["CompatibleRuntimes"] == [newest_python_runtime()]
    staged = asset_dir(synthesized, layer)
    check_layer_content(staged / "python")
    assert not (staged / ".stamp").exists()


# --- configuration ---------------------------------------------------------------------------------


def test_synthesis_without_a_built_layer_says_to_run_make_layer(tmp_path: Path) -> None:
    from aws_cdk import App, Stack

    from riskgate_infra.constructs.functions import ARCHITECTURE, RUNTIME
    from riskgate_infra.constructs.layer import DependenciesLayer, LayerNotBuiltError

    stack = Stack(App(), "NoLayer")
    with pytest.raises(LayerNotBuiltError, match="run `make layer`"):
        DependenciesLayer(stack, "Layer", runtime=RUNTIME, architecture=ARCHITECTURE, build_dir=tmp_path)


def test_deployment_parameters_come_from_context() -> None:
    from aws_cdk import App

    from riskgate_infra.settings import Settings

    # Given values as `cdk deploy -c key=value` passes them: strings
    app = App(
        context={
            "riskgate:authorizerCacheTtlSeconds": "0",
            "riskgate:throttleRateLimit": "200",
            "riskgate:logRetention": "ONE_YEAR",
        }
    )
    settings = Settings.from_context(app.node)
    assert settings.authorizer_cache_ttl_seconds == 0
    assert settings.throttle_rate_limit == 200
    assert settings.throttle_burst_limit == Settings().throttle_burst_limit
    assert settings.log_retention == "ONE_YEAR"
    assert settings.audit_retention_days == 365

    with pytest.raises(ValueError, match="authorizerCacheTtlSeconds"):
        Settings.from_context(App(context={"riskgate:authorizerCacheTtlSeconds": "7200"}).node)
    with pytest.raises(ValueError, match="auditRetentionDays"):
        Settings.from_context(App(context={"riskgate:auditRetentionDays": "0"}).node)

    # The reminder days: as `-c` passes them, as cdk.json may hold them, none at all
    def reminder_days(value: Any) -> str:
        return Settings.from_context(
            App(context={"riskgate:expiryReminderDays": value}).node
        ).expiry_reminder_days

    assert settings.expiry_reminder_days == "7,1"
    assert reminder_days("14,3") == "14,3"
    assert reminder_days([30, 7]) == "30,7"
    assert reminder_days("") == ""
    for invalid in ("7,tomorrow", "0", "-1", "7;1"):
        with pytest.raises(ValueError, match="expiryReminderDays"):
            reminder_days(invalid)
