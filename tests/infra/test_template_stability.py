"""What a deployed stack holds is never replaced by a refactoring of the CDK code.

CloudFormation replaces a resource whose logical id changes (the old one is deleted, or orphaned when
retained) and some whose properties change: for the table, the buckets, the queues (they hold
messages), the key, the log groups, the secret, the bus and the topic that would lose data or break
whoever names them. The ids, the whole resource definitions and the resource counts below were taken from
the template synthesized before the constructs were folded into shared ones (issue 12); a change here is
a deliberate migration, never a side effect. Issue 13 added the operations topic and its key (and the
alarms and dashboard counted below), and the findings retirer (its log group and failure queues). Issue 14
added the registry-work queue, its dead letters and the registry ingester's log group. Issue 15 added the
console: its bucket, the bucket of CloudFront's logs, and the log group of the function uploading the
console (CDK's bucket deployment, whose failures are alarmed like every function's). The API stage's
execution-log group, which API Gateway used to create without a retention, is the stack's since.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import Synthesized

pytestmark = pytest.mark.infra

STATEFUL_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::KMS::Key",
        "AWS::Logs::LogGroup",
        "AWS::SecretsManager::Secret",
        "AWS::Events::EventBus",
        "AWS::SNS::Topic",
    }
)

STATEFUL = {
    "DataTableFDBAD0F2": "AWS::DynamoDB::Table",
    "AuditAccessLogs9A4BEAE3": "AWS::S3::Bucket",
    "AuditArchive233CCC85": "AWS::S3::Bucket",
    "UploadsBucketC4B27CC7": "AWS::S3::Bucket",
    "ConsoleBucket86B6957C": "AWS::S3::Bucket",
    "ConsoleLogs223D8CCD": "AWS::S3::Bucket",
    "AuditFailedBatchesFFE41F5F": "AWS::SQS::Queue",
    "AuditPoisonQueueE4BBEA8C": "AWS::SQS::Queue",
    "EvaluationFailedBatches3F7C8901": "AWS::SQS::Queue",
    "EvaluationPoisonQueueB6264F9F": "AWS::SQS::Queue",
    "ExpiryFailedRuns33F57814": "AWS::SQS::Queue",
    "NotificationsDeadLetters2AC1E002": "AWS::SQS::Queue",
    "NotificationsFailedBatches939EFF5D": "AWS::SQS::Queue",
    "NotificationsPoisonQueue0FAB1634": "AWS::SQS::Queue",
    "NotificationsQueue91395D8F": "AWS::SQS::Queue",
    "ReevaluationDeadLetters273A53D9": "AWS::SQS::Queue",
    "ReevaluationFailedBatches355D531F": "AWS::SQS::Queue",
    "ReevaluationPoisonQueue566A9EBD": "AWS::SQS::Queue",
    "ReevaluationWorkB3C76C15": "AWS::SQS::Queue",
    "UploadsDeadLetters990BC9BA": "AWS::SQS::Queue",
    "UploadsQueue9C3802C9": "AWS::SQS::Queue",
    "RegistriesWorkQueue34248EA9": "AWS::SQS::Queue",
    "RegistriesWorkDeadLetters3B7B1D53": "AWS::SQS::Queue",
    "RetentionFailedBatches062901BC": "AWS::SQS::Queue",
    "RetentionPoisonQueueF9106D1A": "AWS::SQS::Queue",
    "DataKey2A0DE9E6": "AWS::KMS::Key",
    "ApiAccessLogs50B185DB": "AWS::Logs::LogGroup",
    "ApiExecutionLogsB326CF6B": "AWS::Logs::LogGroup",
    "ApiAuthorizerLogsC726F6FF": "AWS::Logs::LogGroup",
    "ApiHandlerLogsC9EFE062": "AWS::Logs::LogGroup",
    "AuditForwarderLogsE9185FC0": "AWS::Logs::LogGroup",
    "EvaluationEvaluatorLogs0F09497B": "AWS::Logs::LogGroup",
    "ExpiryCheckerLogs4396BF5D": "AWS::Logs::LogGroup",
    "NotificationsDispatcherLogs6979B265": "AWS::Logs::LogGroup",
    "NotificationsNotifierLogs648CC35D": "AWS::Logs::LogGroup",
    "ReevaluationPlannerLogs7305154C": "AWS::Logs::LogGroup",
    "ReevaluationReevaluatorLogs3112F974": "AWS::Logs::LogGroup",
    "UploadsIngesterLogsEECF7D97": "AWS::Logs::LogGroup",
    "RegistriesIngesterLogsABE4D6C1": "AWS::Logs::LogGroup",
    "RetentionRetirerLogs56100EB4": "AWS::Logs::LogGroup",
    "ConsoleUploadLogs1C38CCD8": "AWS::Logs::LogGroup",
    "ApiPageTokenKeyD4A5291D": "AWS::SecretsManager::Secret",
    "AuditBusA72CB67D": "AWS::Events::EventBus",
    "EventsTopic97220A64": "AWS::SNS::Topic",
    "OperationsTopicKey50BA7F3B": "AWS::KMS::Key",
    "OperationsTopic6D6844EA": "AWS::SNS::Topic",
}

RESOURCE_COUNTS = {
    "AWS::ApiGateway::Account": 1,
    "AWS::ApiGateway::Authorizer": 1,
    "AWS::ApiGateway::Deployment": 1,
    "AWS::ApiGateway::GatewayResponse": 7,
    "AWS::ApiGateway::Method": 8,
    "AWS::ApiGateway::Resource": 9,
    "AWS::ApiGateway::RestApi": 1,
    "AWS::ApiGateway::Stage": 1,
    "AWS::CDK::Metadata": 1,
    "AWS::CloudFront::Distribution": 1,
    "AWS::CloudFront::Function": 2,
    "AWS::CloudFront::OriginAccessControl": 1,
    "AWS::CloudFront::ResponseHeadersPolicy": 3,
    "AWS::CloudWatch::Alarm": 51,
    "AWS::CloudWatch::Dashboard": 1,
    "AWS::DynamoDB::Table": 1,
    "AWS::Events::EventBus": 1,
    "AWS::Events::EventBusPolicy": 1,
    "AWS::Events::Rule": 2,
    "AWS::IAM::Policy": 16,
    "AWS::IAM::Role": 16,
    "AWS::KMS::Key": 2,
    "AWS::Lambda::EventSourceMapping": 9,
    "AWS::Lambda::Function": 13,
    "AWS::Lambda::LayerVersion": 2,
    "AWS::Lambda::Permission": 9,
    "AWS::Logs::LogGroup": 15,
    "AWS::S3::Bucket": 5,
    "AWS::S3::BucketPolicy": 5,
    "AWS::SNS::Subscription": 2,
    "AWS::SNS::Topic": 2,
    "AWS::SNS::TopicPolicy": 2,
    "AWS::SQS::Queue": 19,
    "AWS::SQS::QueuePolicy": 19,
    "AWS::Scheduler::Schedule": 2,
    "AWS::SecretsManager::Secret": 1,
    "Custom::CDKBucketDeployment": 1,
}

# Each stateful resource as the template defined it (Type, Properties, DeletionPolicy,
# UpdateReplacePolicy), without its CDK metadata.
STATEFUL_DEFINITIONS = Path(__file__).with_name("stateful_resources.json")


def stateful_resources(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: {key: value for key, value in resource.items() if key != "Metadata"}
        for logical_id, resource in synthesized.template_json["Resources"].items()
        if resource["Type"] in STATEFUL_TYPES
    }


def test_every_stateful_resource_keeps_its_logical_id(synthesized: Synthesized) -> None:
    found = {logical_id: resource["Type"] for logical_id, resource in stateful_resources(synthesized).items()}

    assert found == STATEFUL


def test_no_stateful_resource_changes(synthesized: Synthesized) -> None:
    expected = json.loads(STATEFUL_DEFINITIONS.read_text())
    found = stateful_resources(synthesized)

    assert sorted(found) == sorted(expected)
    changed = sorted(logical_id for logical_id in expected if found[logical_id] != expected[logical_id])
    assert changed == [], {logical_id: found[logical_id] for logical_id in changed}


def test_the_stack_holds_the_same_kinds_and_numbers_of_resources(synthesized: Synthesized) -> None:
    counts = Counter(resource["Type"] for resource in synthesized.template_json["Resources"].values())

    assert dict(counts) == RESOURCE_COUNTS


def test_the_stateful_list_covers_every_stateful_type() -> None:
    assert set(STATEFUL.values()) == STATEFUL_TYPES
    assert all(RESOURCE_COUNTS[kind] == list(STATEFUL.values()).count(kind) for kind in STATEFUL_TYPES)
