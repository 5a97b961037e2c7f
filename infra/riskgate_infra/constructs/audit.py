"""The security event log's delivery: the audit bus, the Object Lock archive, and the forwarder between
the table's stream and both."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from riskgate.resources import (
    AUDIT_ARCHIVE_PREFIX,
    AUDIT_BUS_NAME_SUFFIX,
    AUDIT_FORWARDER_BATCH_SIZE,
    AUDIT_FORWARDER_FUNCTION,
    AUDIT_FORWARDER_RETRY_ATTEMPTS,
    AUDIT_STREAM_FILTER,
)
from riskgate_infra.constructs.functions import LambdaFactory
from riskgate_infra.constructs.stream_consumer import consume_table_stream
from riskgate_infra.nag import acknowledge, resource_token

# What nobody may do to an archived event, whatever their IAM permissions: Object Lock in compliance
# mode already refuses deleting a locked version or shortening its retention; the policy also refuses
# delete markers (which would hide an event from a plain listing) and every retention or legal-hold
# change, so the stack's settings alone decide how long events are kept.
PROTECTED_OBJECT_ACTIONS = [
    "s3:DeleteObject*",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
]


class AuditDelivery(Construct):
    """New audit items on the stream → the forwarder → the EventBridge bus and the archive bucket.

    The bus is named `<stack name>-audit` (`riskgate-audit` for the default stack) so that a SIEM's rule
    can be written against a known name. The archive keeps every event for `retention_days` in Object
    Lock's compliance mode: nobody, the account root included, can alter or delete it before then.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        table: dynamodb.Table,
        retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)

        self.bus = events.EventBus(
            self, "Bus", event_bus_name=Stack.of(self).stack_name.lower() + AUDIT_BUS_NAME_SUFFIX
        )

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logging can only deliver to a bucket encrypted with S3-managed keys.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # Who read the archive is kept as long as what they could read.
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(retention_days))],
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.archive = s3.Bucket(
            self,
            "Archive",
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(Duration.days(retention_days)),
            versioned=True,
            # S3-managed keys, not the data key: a customer-managed key can be scheduled for deletion,
            # which would make the archive unreadable — the one way left to destroy locked events.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="archive/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.archive.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyAlteringArchivedEvents",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=PROTECTED_OBJECT_ACTIONS,
                resources=[self.archive.arn_for_objects("*")],
            )
        )
        # Write once: an upload must be conditional on the key being free (`If-None-Match: *`), so an
        # archived event never gets a second version, by a redelivery or anyone else.
        self.archive.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyUnconditionalUploads",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.archive.arn_for_objects("*")],
                conditions={"Null": {"s3:if-none-match": "true"}},
            )
        )

        self.function = factory.create(
            self,
            "Forwarder",
            spec=AUDIT_FORWARDER_FUNCTION,
            description="Riskgate audit forwarder: new security event → audit bus and Object Lock archive",
            environment={
                "RISKGATE_AUDIT_BUS_NAME": self.bus.event_bus_name,
                "RISKGATE_AUDIT_ARCHIVE_BUCKET": self.archive.bucket_name,
            },
        )
        role = factory.role_of(self.function)
        self.bus.grant_put_events_to(self.function)
        # PutObject alone (not grant_put, which adds retention, legal hold and tagging changes): the
        # forwarder can add events to the archive and do nothing else to it.
        self.archive.grants.actions_on_object_keys(self.function, f"{AUDIT_ARCHIVE_PREFIX}*", "s3:PutObject")
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{resource_token(role, self.archive.node.default_child)}"
            f"/{AUDIT_ARCHIVE_PREFIX}*]",
            "One object per event, named by its id: the forwarder may create objects under the archive's "
            "events/ prefix only (PutObject alone; Object Lock and the bucket policy keep them).",
        )

        self.stream = consume_table_stream(
            self,
            function=self.function,
            table=table,
            filter_pattern=AUDIT_STREAM_FILTER,
            batch_size=AUDIT_FORWARDER_BATCH_SIZE,
            retry_attempts=AUDIT_FORWARDER_RETRY_ATTEMPTS,
            alarm_description=(
                "Riskgate: security events the audit forwarder gave up on; they are in the table but "
                "neither on the audit bus nor in the archive until the records are replayed."
            ),
        )
