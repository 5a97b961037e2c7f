"""Reports of any size: the uploads bucket, the path from an object's arrival to the ingest queue (S3 →
EventBridge → SQS), the upload ingester on that queue, and where uploads that keep failing go."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnParameter, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from riskgate.resources import (
    DEFAULT_MAX_UPLOAD_BYTES,
    UPLOAD_DEAD_LETTER_QUEUE_SUFFIX,
    UPLOAD_INGEST_BATCH_SIZE,
    UPLOAD_INGEST_MAX_RECEIVE_COUNT,
    UPLOAD_INGEST_VISIBILITY_TIMEOUT_SECONDS,
    UPLOAD_INGESTER_EPHEMERAL_MB,
    UPLOAD_INGESTER_FUNCTION,
    UPLOAD_QUEUE_SUFFIX,
    UPLOADS_LIFECYCLE_DAYS,
    UPLOADS_PREFIX,
    upload_object_created_pattern,
)
from riskgate_infra.constructs.functions import LambdaFactory
from riskgate_infra.constructs.work_queue import IN_PLACE, WorkQueue
from riskgate_infra.nag import acknowledge, resource_token

# The stack parameter's bounds: 1 MiB (smaller reports go to `POST /v1/scans` anyway) up to 5 GiB, the
# largest object a single S3 POST can create.
MIN_UPLOAD_BYTES = 1024 * 1024
MAX_UPLOAD_BYTES = 5 * 1024 * 1024 * 1024
# Where the uploads bucket's server access logs go in the access-log bucket (the archive's are under
# `archive/`).
ACCESS_LOG_PREFIX = "uploads/"
# An EventBridge pattern's keys and the `events.EventPattern` fields they are.
EVENT_PATTERN_FIELDS = {"source": "source", "detail-type": "detail_type", "detail": "detail"}


def max_upload_bytes_parameter(scope: Stack) -> CfnParameter:
    """The stack parameter `MaxUploadBytes`: the largest report S3 accepts for an upload."""
    return CfnParameter(
        scope,
        "MaxUploadBytes",
        type="Number",
        default=DEFAULT_MAX_UPLOAD_BYTES,
        min_value=MIN_UPLOAD_BYTES,
        max_value=MAX_UPLOAD_BYTES,
        constraint_description=f"a whole number of bytes from {MIN_UPLOAD_BYTES} (1 MiB) to "
        f"{MAX_UPLOAD_BYTES} (5 GiB)",
        description=(
            "Largest report, in bytes as sent (gzip-compressed or not), that POST /v1/scans/uploads lets a "
            "client upload: the presigned POST's content-length-range, which S3 enforces."
        ),
    )


def event_pattern(pattern: Mapping[str, Any]) -> events.EventPattern:
    """An EventBridge pattern written as EventBridge reads it (`riskgate.resources`), for `events.Rule`."""
    unknown = set(pattern) - set(EVENT_PATTERN_FIELDS)
    if unknown:
        raise ValueError(f"event pattern keys not supported here: {sorted(unknown)}")
    return events.EventPattern(**{EVENT_PATTERN_FIELDS[key]: value for key, value in pattern.items()})


class ReportUploads(Construct):
    """A client posts a report straight to the bucket (a presigned POST the API answers, for
    `uploads/<upload id>`) → S3 tells EventBridge (the bucket's EventBridge notifications) → a rule on the
    default bus puts the event on the ingest queue → the ingester parses the object, writes its scans as
    the API does, and deletes it.

    An object the ingester keeps failing on returns to the queue after the visibility timeout; after
    `UPLOAD_INGEST_MAX_RECEIVE_COUNT` receives the queue moves it to the dead-letter queue, which is
    alarmed. EventBridge sends what it cannot put on the queue to the same dead-letter queue: either way a
    dead letter is the S3 event, and redriving it to the queue retries that upload.

    Both queues use SQS-managed encryption: their messages name an object (bucket, key, size), nothing of
    the report, and EventBridge can deliver to an SSE-SQS queue without any key policy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        table: dynamodb.Table,
        encryption_key: kms.IKey,
        access_logs: s3.IBucket,
        max_upload_bytes: CfnParameter,
    ) -> None:
        super().__init__(scope, construct_id)

        # -- the bucket -----------------------------------------------------------------------------
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            # Reports are data like the findings they become: the data key, with an S3 bucket key so that
            # S3 asks KMS for a data key once in a while rather than once per object.
            encryption=s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # As the audit archive: who uploaded what, from where (a presigned POST never passes API
            # Gateway, whose access logs would otherwise say it).
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="RemoveLeftoverUploads",
                    prefix=UPLOADS_PREFIX,
                    # The ingester deletes each object it is done with; this removes the ones it never
                    # finished (and the dead letters pointing to them are then moot).
                    expiration=Duration.days(UPLOADS_LIFECYCLE_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            # Retained, as every other bucket of the stack, and without CDK's auto-delete custom resource:
            # DESTROY would make deleting the stack fail while any object is still there (uploads of the
            # last day); the retained bucket empties itself by the lifecycle rule and costs nothing.
            removal_policy=RemovalPolicy.RETAIN,
        )
        # S3 → EventBridge set on the bucket itself. `event_bridge_enabled=True` would instead add CDK's
        # BucketNotifications custom resource (a Lambda function calling PutBucketNotificationConfiguration).
        cfn_bucket = self.bucket.node.default_child
        if not isinstance(cfn_bucket, s3.CfnBucket):
            raise TypeError(f"{self.bucket.node.path} has no CfnBucket")
        cfn_bucket.add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )

        # -- the ingester ---------------------------------------------------------------------------
        # What the API's upload route and the ingester both read.
        self.environment = {
            "RISKGATE_UPLOADS_BUCKET": self.bucket.bucket_name,
            "RISKGATE_MAX_UPLOAD_BYTES": max_upload_bytes.value_as_string,
        }
        # Writes scans, findings, image summaries and the upload item, as the API does.
        self.ingester = factory.create(
            self,
            "Ingester",
            spec=UPLOAD_INGESTER_FUNCTION,
            description="Riskgate upload ingester: uploaded report → scans, as POST /v1/scans writes them",
            environment=self.environment,
            ephemeral_storage_mb=UPLOAD_INGESTER_EPHEMERAL_MB,
            table=table,
        )
        role = factory.role_of(self.ingester)
        # Reads an uploaded object and deletes it once done, nothing else under any other prefix.
        objects = f"{UPLOADS_PREFIX}*"
        self.bucket.grants.actions_on_object_keys(self.ingester, objects, "s3:GetObject", "s3:DeleteObject")
        # Listing (on the bucket, no object access) makes S3 answer 404 rather than 403 for an object that
        # is gone, so a redelivered event for an upload already ingested and deleted is told apart.
        self.ingester.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
        )
        encryption_key.grant_decrypt(self.ingester)
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{resource_token(role, cfn_bucket)}/{objects}]",
            "One object per upload, named by its id at run time: the ingester may read and delete objects "
            "under the uploads bucket's uploads/ prefix only.",
        )

        # -- the ingest queue, its dead letters, the rule feeding it ---------------------------------
        self.work = WorkQueue(
            self,
            IN_PLACE,
            consumer=self.ingester,
            name_suffix=UPLOAD_QUEUE_SUFFIX,
            dead_letter_name_suffix=UPLOAD_DEAD_LETTER_QUEUE_SUFFIX,
            visibility_timeout_seconds=UPLOAD_INGEST_VISIBILITY_TIMEOUT_SECONDS,
            max_receive_count=UPLOAD_INGEST_MAX_RECEIVE_COUNT,
            batch_size=UPLOAD_INGEST_BATCH_SIZE,
            label="the ingest queue",
            message="an upload",
            also_dead_letters_of="the EventBridge rule's target",
            alarm_description=(
                f"Riskgate: uploaded reports the ingester failed on {UPLOAD_INGEST_MAX_RECEIVE_COUNT} times "
                "(or whose S3 event EventBridge could not put on the ingest queue); their uploads never "
                "finish. Redrive the messages to the ingest queue once the cause is fixed, within a day of "
                "the upload (the lifecycle rule then removes the object; a redelivery is safe otherwise)."
            ),
        )
        # The queue policy CDK adds lets this rule (and no other) send to the queue, and to the dead letters.
        self.rule = events.Rule(
            self,
            "ObjectCreated",
            description="Riskgate: a report uploaded to the uploads bucket → the ingest queue",
            event_pattern=event_pattern(upload_object_created_pattern(self.bucket.bucket_name)),
            targets=[targets.SqsQueue(self.work.queue, dead_letter_queue=self.work.dead_letter_queue)],
        )
