"""Reports of any size, as synthesized: the uploads bucket, S3 → EventBridge → the ingest queue → the upload
ingester, and what the API and the ingester may do with the bucket."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from riskgate.resources import (
    API_HANDLER,
    DEFAULT_MAX_UPLOAD_BYTES,
    UPLOAD_INGEST_BATCH_SIZE,
    UPLOAD_INGEST_MAX_RECEIVE_COUNT,
    UPLOAD_INGEST_VISIBILITY_TIMEOUT_SECONDS,
    UPLOAD_INGESTER_EPHEMERAL_MB,
    UPLOAD_INGESTER_FUNCTION,
    UPLOADS_LIFECYCLE_DAYS,
    UPLOADS_PREFIX,
    upload_object_created_pattern,
)
from tests.infra.conftest import Synthesized
from tests.infra.test_stack import (
    actions_of,
    assert_alarm_watches,
    environment_of,
    function_id,
    mapping_of,
    only,
    policy_statements_of,
)

pytestmark = pytest.mark.infra

INGESTER_HANDLER = UPLOAD_INGESTER_FUNCTION.handler


def uploads_bucket(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    """The bucket the stack names in its `UploadsBucketName` output."""
    bucket_id = synthesized.template_json["Outputs"]["UploadsBucketName"]["Value"]["Ref"]
    return bucket_id, synthesized.resources("AWS::S3::Bucket")[bucket_id]


def objects_under_uploads(bucket_id: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{UPLOADS_PREFIX}*"]]}


def s3_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [statement for statement in statements if "s3:" in json.dumps(statement["Action"])]


def ingest_queue(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    """The queue the ingester consumes: the event source of its mapping."""
    queue_id = mapping_of(synthesized, INGESTER_HANDLER)["EventSourceArn"]["Fn::GetAtt"][0]
    return queue_id, synthesized.resources("AWS::SQS::Queue")[queue_id]["Properties"]


# --- the bucket ------------------------------------------------------------------------------------


def test_the_uploads_bucket_is_private_tls_only_and_encrypted_with_the_data_key(
    synthesized: Synthesized,
) -> None:
    bucket_id, bucket = uploads_bucket(synthesized)
    properties = bucket["Properties"]
    key_id = next(iter(synthesized.resources("AWS::KMS::Key")))

    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
    }
    assert rule["BucketKeyEnabled"] is True
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "VersioningConfiguration" not in properties
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    # Its access is logged where the audit archive's is
    logging = properties["LoggingConfiguration"]
    archive_logging = only(
        {
            logical_id: other
            for logical_id, other in synthesized.resources("AWS::S3::Bucket").items()
            if other["Properties"].get("ObjectLockEnabled")
        }
    )["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == archive_logging["DestinationBucketName"]
    assert logging["LogFilePrefix"] != archive_logging["LogFilePrefix"]

    policy = only(
        {
            logical_id: policy
            for logical_id, policy in synthesized.resources("AWS::S3::BucketPolicy").items()
            if policy["Properties"]["Bucket"] == {"Ref": bucket_id}
        }
    )
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_leftover_uploads_and_unfinished_multipart_uploads_are_removed(synthesized: Synthesized) -> None:
    _, bucket = uploads_bucket(synthesized)
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["Prefix"] == UPLOADS_PREFIX
    assert rule["ExpirationInDays"] == UPLOADS_LIFECYCLE_DAYS
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_the_bucket_tells_eventbridge_itself_without_a_notifications_custom_resource(
    synthesized: Synthesized,
) -> None:
    _, bucket = uploads_bucket(synthesized)
    assert bucket["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    types = {resource["Type"] for resource in synthesized.template_json["Resources"].values()}
    assert "Custom::S3BucketNotifications" not in types
    # The console's upload (test_console_stack.py) is the stack's one custom resource.
    assert {resource_type for resource_type in types if resource_type.startswith("Custom::")} == {
        "Custom::CDKBucketDeployment"
    }


# --- S3 → EventBridge → the ingest queue -----------------------------------------------------------


def test_a_rule_on_the_default_bus_sends_objects_created_under_uploads_to_the_ingest_queue(
    synthesized: Synthesized,
) -> None:
    bucket_id, _ = uploads_bucket(synthesized)
    queue_id, queue = ingest_queue(synthesized)
    dead_letters_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    rules = {
        logical_id: rule
        for logical_id, rule in synthesized.resources("AWS::Events::Rule").items()
        if rule["Properties"].get("EventPattern", {}).get("source") == ["aws.s3"]
    }
    assert len(rules) == 1, sorted(rules)
    ((rule_id, rule),) = rules.items()
    properties = rule["Properties"]

    # The shared pattern, with the bucket's name as CloudFormation resolves it
    assert properties["EventPattern"] == upload_object_created_pattern(cast(str, {"Ref": bucket_id}))
    assert "EventBusName" not in properties  # the default bus, where S3 sends its events
    assert properties["State"] == "ENABLED"
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    # What EventBridge cannot deliver joins the queue's own dead letters
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dead_letters_id, "Arn"]}}

    # Only this rule may send to either queue, over TLS only
    for allowed_id in (queue_id, dead_letters_id):
        (policy,) = [
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
        (allow,) = [statement for statement in statements if statement["Effect"] == "Allow"]
        assert allow["Principal"] == {"Service": "events.amazonaws.com"}
        assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}


def test_the_ingest_queue_dead_letters_what_keeps_failing_and_the_dead_letters_are_alarmed(
    synthesized: Synthesized,
) -> None:
    _, queue = ingest_queue(synthesized)

    assert queue["QueueName"] == "riskgate-uploads"
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] == UPLOAD_INGEST_VISIBILITY_TIMEOUT_SECONDS
    assert queue["VisibilityTimeout"] >= 6 * UPLOAD_INGESTER_FUNCTION.timeout_seconds
    redrive = queue["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == UPLOAD_INGEST_MAX_RECEIVE_COUNT
    dead_letters_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    dead_letters = synthesized.resources("AWS::SQS::Queue")[dead_letters_id]["Properties"]
    assert dead_letters["QueueName"] == "riskgate-uploads-dead-letters"
    assert dead_letters["SqsManagedSseEnabled"] is True
    assert_alarm_watches(synthesized, dead_letters_id)


# --- the ingester ----------------------------------------------------------------------------------


def test_the_ingester_has_the_memory_time_and_disk_of_a_large_report(synthesized: Synthesized) -> None:
    function = synthesized.resources("AWS::Lambda::Function")[function_id(synthesized, INGESTER_HANDLER)]
    properties = function["Properties"]

    assert properties["Handler"] == "riskgate.handlers.upload_ingester.handler"
    assert properties["MemorySize"] == UPLOAD_INGESTER_FUNCTION.memory_mb == 2048
    assert properties["Timeout"] == UPLOAD_INGESTER_FUNCTION.timeout_seconds == 900
    assert properties["EphemeralStorage"] == {"Size": UPLOAD_INGESTER_EPHEMERAL_MB}
    # The other functions keep Lambda's default /tmp
    assert [
        other["Properties"]["Handler"]
        for other in synthesized.resources("AWS::Lambda::Function").values()
        if "EphemeralStorage" in other["Properties"]
    ] == [INGESTER_HANDLER]


def test_the_ingester_takes_one_object_at_a_time_with_partial_failures(synthesized: Synthesized) -> None:
    mapping = mapping_of(synthesized, INGESTER_HANDLER)
    queue_id, _ = ingest_queue(synthesized)

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["BatchSize"] == UPLOAD_INGEST_BATCH_SIZE == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= actions_of(
        policy_statements_of(synthesized, INGESTER_HANDLER)
    )


def test_the_ingester_may_read_and_delete_uploads_write_the_table_and_nothing_more(
    synthesized: Synthesized,
) -> None:
    bucket_id, _ = uploads_bucket(synthesized)
    key_id = next(iter(synthesized.resources("AWS::KMS::Key")))
    statements = policy_statements_of(synthesized, INGESTER_HANDLER)
    actions = actions_of(statements)

    (listing,) = [statement for statement in statements if statement["Action"] == "s3:ListBucket"]
    (objects,) = [statement for statement in s3_statements(statements) if statement is not listing]
    assert set(objects["Action"]) == {"s3:GetObject", "s3:DeleteObject"}
    assert objects["Resource"] == objects_under_uploads(bucket_id)
    # Listing tells an object already ingested (404) from one it may not read (403); no object access
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Resource"] == {"Fn::GetAtt": [bucket_id, "Arn"]}
    assert "s3:PutObject" not in actions
    assert not any(action.startswith(("s3:Put", "s3:*", "s3:Get*", "s3:Delete*")) for action in actions)
    # The objects are encrypted with the data key; the scans are written as the API writes them
    assert any(
        "kms:Decrypt" in statement["Action"] and statement["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
        for statement in statements
    )
    assert {"dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"} <= actions
    # Publishes to nothing
    published = ("sns:", "events:", "sqs:Send", "secretsmanager:", "ses:")
    assert not any(action.startswith(published) for action in actions)

    environment = environment_of(synthesized, INGESTER_HANDLER)
    assert environment["RISKGATE_UPLOADS_BUCKET"] == {"Ref": bucket_id}


# --- the API ---------------------------------------------------------------------------------------


def test_the_api_may_only_create_objects_under_uploads_encrypted_with_the_data_key(
    synthesized: Synthesized,
) -> None:
    bucket_id, _ = uploads_bucket(synthesized)
    key_id = next(iter(synthesized.resources("AWS::KMS::Key")))
    statements = policy_statements_of(synthesized, API_HANDLER)

    (put,) = s3_statements(statements)
    assert put["Action"] == "s3:PutObject"
    assert put["Resource"] == objects_under_uploads(bucket_id)
    assert {"kms:GenerateDataKey", "kms:Encrypt"} <= actions_of(
        [statement for statement in statements if statement["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}]
    )
    assert environment_of(synthesized, API_HANDLER)["RISKGATE_UPLOADS_BUCKET"] == {"Ref": bucket_id}


# --- the parameter and the output ------------------------------------------------------------------


def test_the_upload_size_limit_is_a_stack_parameter_both_functions_read(synthesized: Synthesized) -> None:
    parameter = synthesized.template_json["Parameters"]["MaxUploadBytes"]

    assert parameter["Type"] == "Number"
    assert parameter["Default"] == DEFAULT_MAX_UPLOAD_BYTES == 536870912
    assert parameter["MinValue"] == 1024 * 1024
    assert parameter["MaxValue"] == 5 * 1024**3
    assert parameter["Description"]
    for handler in (API_HANDLER, INGESTER_HANDLER):
        assert environment_of(synthesized, handler)["RISKGATE_MAX_UPLOAD_BYTES"] == {"Ref": "MaxUploadBytes"}


def test_the_stack_names_the_uploads_bucket(synthesized: Synthesized) -> None:
    output = synthesized.template_json["Outputs"]["UploadsBucketName"]
    assert synthesized.template_json["Resources"][output["Value"]["Ref"]]["Type"] == "AWS::S3::Bucket"
    assert output["Description"]


def test_an_event_pattern_with_keys_the_rule_cannot_express_is_refused() -> None:
    from riskgate_infra.constructs.uploads import event_pattern

    with pytest.raises(ValueError, match="resources"):
        event_pattern({"source": ["aws.s3"], "resources": ["arn:aws:s3:::bucket"]})
