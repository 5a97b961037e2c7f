"""The AWS resources the code depends on, described once.

The CDK stack (`infra/`), the local stack (`make run`) and the tests all build their table, indexes,
stream filter and public routes from these definitions, so they cannot drift apart.
Plain data only: importing this module costs nothing and needs neither boto3 nor CDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KeySchema:
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class IndexSpec:
    name: str
    keys: KeySchema


@dataclass(frozen=True)
class TableSpec:
    keys: KeySchema
    indexes: tuple[IndexSpec, ...]
    ttl_attribute: str
    stream_view_type: str = "NEW_AND_OLD_IMAGES"
    # Every key attribute is a string in this design.
    attribute_types: dict[str, str] = field(default_factory=dict)

    def key_attributes(self) -> list[str]:
        names = [self.keys.partition_key, self.keys.sort_key]
        for index in self.indexes:
            names += [index.keys.partition_key, index.keys.sort_key]
        return list(dict.fromkeys(names))

    def create_table_kwargs(self, table_name: str) -> dict[str, Any]:
        """Arguments for DynamoDB CreateTable (boto3), as the local stack and tests create the table."""
        return {
            "TableName": table_name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": name, "AttributeType": "S"} for name in self.key_attributes()
            ],
            "KeySchema": [
                {"AttributeName": self.keys.partition_key, "KeyType": "HASH"},
                {"AttributeName": self.keys.sort_key, "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": index.name,
                    "KeySchema": [
                        {"AttributeName": index.keys.partition_key, "KeyType": "HASH"},
                        {"AttributeName": index.keys.sort_key, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index in self.indexes
            ],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": self.stream_view_type},
        }


# One table, overloaded generic keys (see docs/architecture.md for the item types and access patterns).
# CloudFormation adds at most one GSI per stack update, so the indexes the design needs are declared
# up front even where an index has no reader yet.
TABLE = TableSpec(
    keys=KeySchema("pk", "sk"),
    indexes=(
        IndexSpec("gsi1", KeySchema("gsi1pk", "gsi1sk")),
        IndexSpec("gsi2", KeySchema("gsi2pk", "gsi2sk")),
        IndexSpec("gsi3", KeySchema("gsi3pk", "gsi3sk")),
    ),
    ttl_attribute="expires_at_epoch",
)

# Only image summary items (pk IMAGE#…, sk META) concern the evaluator; Lambda filters the stream with
# this pattern on AWS and the local poller applies the same pattern.
EVALUATOR_STREAM_FILTER: dict[str, Any] = {
    "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "IMAGE#"}]}, "sk": {"S": ["META"]}}}
}


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function as both stacks run it: handler ("module.function"), memory, timeout."""

    handler: str
    memory_mb: int
    timeout_seconds: int


# The api function parses reports of several MB: memory buys CPU. 29 s is API Gateway's own limit.
API_FUNCTION = FunctionSpec("riskgate.handlers.api.handler", memory_mb=1024, timeout_seconds=29)
AUTHORIZER_FUNCTION = FunctionSpec("riskgate.handlers.authorizer.handler", memory_mb=256, timeout_seconds=5)
EVALUATOR_FUNCTION = FunctionSpec("riskgate.handlers.evaluator.handler", memory_mb=512, timeout_seconds=60)
API_HANDLER = API_FUNCTION.handler
AUTHORIZER_HANDLER = AUTHORIZER_FUNCTION.handler
EVALUATOR_HANDLER = EVALUATOR_FUNCTION.handler

# How the evaluator consumes the stream: records per invocation, and how often a failing record is
# retried before it goes to the on-failure destination.
EVALUATOR_BATCH_SIZE = 100
EVALUATOR_RETRY_ATTEMPTS = 5

# The REST API's stage: deployed URLs are https://<api>/api/v1/…
API_STAGE = "api"

# Routes that answer without a token (no authorizer on them in API Gateway), paths as API Gateway and
# OpenAPI write them (`{name}`: one path segment). Harbor's webhook cannot send a bearer token: the route
# checks Harbor's shared secret itself.
PUBLIC_ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/v1/health"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/docs"),
    ("POST", "/v1/registries/{registry_id}/webhook"),
)

# What API Gateway answers itself when the authorizer refuses a request, in the API's error shape.
GATEWAY_ERROR_BODIES: dict[int, dict[str, Any]] = {
    401: {"error": {"code": "unauthorized", "message": "missing or invalid bearer token", "details": []}},
    403: {"error": {"code": "forbidden", "message": "not permitted", "details": []}},
}

# API Gateway's own limit on a request body; the handler enforces its own, smaller, limit on reports.
GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024

# The security event log's delivery: the audit forwarder takes each new audit item (pk AUDIT#…) from the
# stream to the audit bus and the Object Lock archive. Only INSERTs: an event is archived as it was created
# (the one kind updated in place, a minute's failed-authentication count, is archived as first written),
# and TTL deletions must not look like new events.
AUDIT_STREAM_FILTER: dict[str, Any] = {
    "eventName": ["INSERT"],
    "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "AUDIT#"}]}}},
}
AUDIT_FORWARDER_FUNCTION = FunctionSpec(
    "riskgate.handlers.audit_forwarder.handler", memory_mb=256, timeout_seconds=60
)
AUDIT_FORWARDER_HANDLER = AUDIT_FORWARDER_FUNCTION.handler
# Each record is one PutObject and one PutEvents (well under a second): a full batch fits the timeout.
AUDIT_FORWARDER_BATCH_SIZE = 100
AUDIT_FORWARDER_RETRY_ATTEMPTS = 5
# What a SIEM's EventBridge rule matches on: `{"source": ["riskgate.audit"]}` on the audit bus.
AUDIT_EVENT_SOURCE = "riskgate.audit"
AUDIT_EVENT_DETAIL_TYPE = "Riskgate Security Event"
# The bus is named after the deployment (stack name, or the local stack's prefix) plus its suffix, so a
# SIEM's rule can name it. The archive bucket too locally; deployed, CloudFormation names it (bucket
# names are global).
AUDIT_BUS_NAME_SUFFIX = "-audit"
AUDIT_ARCHIVE_BUCKET_SUFFIX = "-audit-archive"
# Archive objects: events/YYYY/MM/DD/<event id>.json
AUDIT_ARCHIVE_PREFIX = "events/"
# Days an audit event stays in the table and locked in the archive, unless the deployment says otherwise
# (CDK context `riskgate:auditRetentionDays`).
DEFAULT_AUDIT_RETENTION_DAYS = 365

# Re-evaluation after a policy change (issue 4): every write of an assurance policy item (pk POLICY#…,
# sk META) reaches the planner, which sends the ids of the images in the policy's scope, in chunks, to
# the work queue; the re-evaluator consumes it. The planner itself skips writes that only move the
# progress counter (Lambda's filter cannot compare old and new images).
# Risk acceptances (issue 5) take the same path: accepting, revoking and expiring re-evaluate the images
# the acceptance covers (pk ACCEPTANCE#…, sk META; reminders share the partition but not the sort key).
POLICY_STREAM_FILTER: dict[str, Any] = {
    "eventName": ["INSERT", "MODIFY", "REMOVE"],
    "dynamodb": {
        "Keys": {"pk": {"S": [{"prefix": "POLICY#"}, {"prefix": "ACCEPTANCE#"}]}, "sk": {"S": ["META"]}}
    },
}
# Paging 10,000 images (10 Queries) and sending 100 messages (10 SendMessageBatch) takes seconds: a
# generous timeout still leaves the planner far from it (docs/performance.md).
REEVALUATION_PLANNER_FUNCTION = FunctionSpec(
    "riskgate.handlers.reevaluation_planner.handler", memory_mb=512, timeout_seconds=300
)
REEVALUATION_PLANNER_BATCH_SIZE = 10
REEVALUATION_PLANNER_RETRY_ATTEMPTS = 5
# Images listed per Query of gsi2 `IMAGES` while planning (DynamoDB also stops a page at 1 MB).
REEVALUATION_IMAGES_PAGE_SIZE = 1000
# Image ids per work message: one message is re-evaluated by one invocation in a few seconds
# (3 requests an image), far below the re-evaluator's timeout, and is the unit of progress.
REEVALUATION_CHUNK_SIZE = 100
REEVALUATOR_FUNCTION = FunctionSpec(
    "riskgate.handlers.reevaluator.handler", memory_mb=512, timeout_seconds=120
)
# Messages per re-evaluator invocation (at most 10 for a standard queue without a batching window).
REEVALUATOR_BATCH_SIZE = 2
# Concurrent re-evaluators: bounds the load a re-evaluation puts on the table next to live traffic.
REEVALUATOR_MAX_CONCURRENCY = 10
# A message that failed this many receives goes to the dead-letter queue (alarmed).
REEVALUATION_MAX_RECEIVE_COUNT = 5
# Lambda's advice for an SQS event source: visibility at least six times the function's timeout.
REEVALUATION_VISIBILITY_TIMEOUT_SECONDS = 6 * REEVALUATOR_FUNCTION.timeout_seconds
# Chunk markers (REEVAL#<policy>#<version> / CHUNK#<n>) only guard against counting a redelivery twice.
REEVALUATION_MARKER_TTL_DAYS = 7
# Queue names: the stack name (or the local prefix) plus these.
REEVALUATION_QUEUE_SUFFIX = "-reevaluation"
REEVALUATION_DEAD_LETTER_QUEUE_SUFFIX = "-reevaluation-dead-letters"

# Risk acceptance expiry (issue 5): EventBridge Scheduler invokes the expiry checker every few minutes
# (the stack parameter `ExpiryCheckRateMinutes`) with a scheduled event whose `time` is "now" for the run.
EXPIRY_CHECKER_FUNCTION = FunctionSpec(
    "riskgate.handlers.expiry_checker.handler", memory_mb=256, timeout_seconds=300
)
DEFAULT_EXPIRY_CHECK_RATE_MINUTES = 15
# The local stack's stand-in for the schedule ticks more often, so that expiries show up while one watches.
LOCAL_EXPIRY_CHECK_INTERVAL_SECONDS = 30
# Days before an acceptance's end at which a reminder is recorded, as RISKGATE_EXPIRY_REMINDER_DAYS carries
# them (CDK context `riskgate:expiryReminderDays`).
DEFAULT_EXPIRY_REMINDER_DAYS = "7,1"
# The event the schedule sends (its Input): Scheduler replaces the context attribute with the time the run
# was scheduled for; the local stack sends the same shape with the current time.
SCHEDULED_EVENT_SOURCE = "riskgate.scheduler"
SCHEDULED_EVENT_DETAIL_TYPE = "Scheduled Event"
SCHEDULER_SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"

# Notifications (issue 6): every new trigger event item (pk EVENT#…, sk EVENT) reaches the dispatcher,
# which records notifications for the response policies it concerns and publishes their ids on the events
# topic; an SQS queue subscribed to the topic (raw delivery) feeds the notifier.
DISPATCH_STREAM_FILTER: dict[str, Any] = {
    "eventName": ["INSERT"],
    "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "EVENT#"}]}, "sk": {"S": ["EVENT"]}}},
}
DISPATCHER_FUNCTION = FunctionSpec("riskgate.handlers.dispatcher.handler", memory_mb=256, timeout_seconds=60)
DISPATCHER_BATCH_SIZE = 25
DISPATCHER_RETRY_ATTEMPTS = 5
# A delivery is one HTTPS call or one SES/SNS request (≤ 10 s each): a batch of 5 fits the timeout.
NOTIFIER_FUNCTION = FunctionSpec("riskgate.handlers.notifier.handler", memory_mb=256, timeout_seconds=90)
NOTIFIER_BATCH_SIZE = 5
NOTIFY_QUEUE_SUFFIX = "-notifications"
NOTIFY_DEAD_LETTER_QUEUE_SUFFIX = "-notifications-dead-letters"
# Five receives (the first and four retries, each after the visibility timeout), then the dead letters.
NOTIFY_MAX_RECEIVE_COUNT = 5
NOTIFY_VISIBILITY_TIMEOUT_SECONDS = 6 * NOTIFIER_FUNCTION.timeout_seconds
# SNS message attribute naming what a message on the events topic is, for subscription filters.
NOTIFICATION_MESSAGE_KIND = "notification"

# Reports of any size (issue 11): `POST /v1/scans/uploads` answers a presigned S3 POST into the uploads
# bucket under this prefix (object key `uploads/<upload id>`); the object's arrival (S3 → EventBridge →
# the ingest queue) starts the upload ingester, which parses the report as a stream, stores its scans and
# deletes the object. The bucket is named after the deployment locally; CloudFormation names it deployed.
UPLOADS_BUCKET_SUFFIX = "-uploads"
UPLOADS_PREFIX = "uploads/"
# The largest object S3 accepts for an upload (the presigned POST's content-length-range), unless the
# deployment says otherwise (stack parameter `MaxUploadBytes`).
DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024
# How long the presigned POST works; an upload still pending after this reads `failed`.
UPLOAD_URL_EXPIRY_SECONDS = 3600
# Leftover objects (an ingester that never ran) are removed by a lifecycle rule after this many days.
UPLOADS_LIFECYCLE_DAYS = 1
# Upload items stay readable (`GET /v1/scans/uploads/{id}`) this long, then TTL removes them.
UPLOAD_ITEM_TTL_DAYS = 7
# Memory buys CPU for the JSON stream; 15 min is Lambda's limit (docs/performance.md has the figures).
UPLOAD_INGESTER_FUNCTION = FunctionSpec(
    "riskgate.handlers.upload_ingester.handler", memory_mb=2048, timeout_seconds=900
)
# The decompressed report is spooled to the function's ephemeral storage (/tmp), at most this size.
UPLOAD_INGESTER_EPHEMERAL_MB = 4096
# An uploaded report is decoded whole up to this decompressed size (as a posted one is); a larger one is
# read as a stream (riskgate.domain.parsers.streaming), up to what the ephemeral storage holds.
UPLOAD_IN_MEMORY_BYTES = 64 * 1024 * 1024
UPLOAD_MAX_DECOMPRESSED_BYTES = 3 * 1024 * 1024 * 1024
# One object per invocation: each may take minutes.
UPLOAD_INGEST_BATCH_SIZE = 1
UPLOAD_INGEST_MAX_RECEIVE_COUNT = 3
UPLOAD_INGEST_VISIBILITY_TIMEOUT_SECONDS = 6 * UPLOAD_INGESTER_FUNCTION.timeout_seconds
UPLOAD_QUEUE_SUFFIX = "-uploads"
UPLOAD_DEAD_LETTER_QUEUE_SUFFIX = "-uploads-dead-letters"


def upload_object_created_pattern(bucket_name: str) -> dict[str, Any]:
    """The EventBridge rule's pattern: an object created under the uploads prefix of this bucket."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": [{"prefix": UPLOADS_PREFIX}]}},
    }


# --- registry connections (issue 14) ---------------------------------------------------------------
# Every kind of registry work goes through one queue (docs/architecture.md, "Registry connections"): the
# EventBridge events of ECR and Inspector as they are, Harbor webhooks and sync pages as JSON messages.
REGISTRY_INGESTER_FUNCTION = FunctionSpec(
    "riskgate.handlers.registry_ingester.handler", memory_mb=1024, timeout_seconds=300
)
REGISTRY_WORK_BATCH_SIZE = 1
# Findings not readable yet: the message comes back after 30 s, 60 s, 120 s … (at most 15 min); after this
# many receives the failure is recorded on the connection and the message let go (nothing dead-letters
# but what raised for another reason).
REGISTRY_RETRY_BASE_SECONDS = 30
REGISTRY_RETRY_MAX_SECONDS = 900
REGISTRY_MAX_ATTEMPTS = 6
REGISTRY_WORK_MAX_RECEIVE_COUNT = REGISTRY_MAX_ATTEMPTS + 2
REGISTRY_WORK_VISIBILITY_TIMEOUT_SECONDS = 6 * REGISTRY_INGESTER_FUNCTION.timeout_seconds
REGISTRY_WORK_QUEUE_SUFFIX = "-registry-work"
REGISTRY_WORK_DEAD_LETTER_QUEUE_SUFFIX = "-registry-work-dead-letters"
# Images of one sync page: each page is one message, the next page a new one (a resumable job).
REGISTRY_SYNC_PAGE_SIZE = 50
# A connection's events (imported, failed, refused) stay this long, then TTL removes them.
REGISTRY_EVENT_TTL_DAYS = 90
# The daily reconcile (stack parameter RegistrySyncSchedule; empty: none).
DEFAULT_REGISTRY_SYNC_SCHEDULE = "cron(30 3 * * ? *)"
# The EventBridge pattern of "a registry finished scanning an image".
REGISTRY_SCAN_EVENT_PATTERN: dict[str, Any] = {
    "source": ["aws.ecr", "aws.inspector2"],
    "detail-type": ["ECR Image Scan", "Inspector2 Scan"],
}


# --- findings storage (issue 13) -------------------------------------------------------------------
# The findings of one scan are written by this many BatchWriteItem requests at once.
FINDINGS_WRITE_CONCURRENCY = 8
# Days the findings of a superseded scan stay once newer findings replaced them (stack parameter
# FindingsRetentionDays; the table's TTL then deletes them). Scan records, verdicts and decision records stay.
DEFAULT_FINDINGS_RETENTION_DAYS = 90

# The findings retirer: image summaries whose findings were replaced (stream MODIFY of IMAGE#…/META) →
# the replaced partition's items get the TTL. A partition of 1,500 findings is ~61 BatchWriteItem requests.
FINDINGS_RETIRER_FUNCTION = FunctionSpec(
    "riskgate.handlers.findings_retirer.handler", memory_mb=512, timeout_seconds=300
)
FINDINGS_RETIRER_BATCH_SIZE = 10
FINDINGS_RETIRER_RETRY_ATTEMPTS = 5
FINDINGS_RETIRER_STREAM_FILTER: dict[str, Any] = {"eventName": ["MODIFY"], **EVALUATOR_STREAM_FILTER}

# --- business metrics (issue 13) -------------------------------------------------------------------
# Emitted by the functions as CloudWatch embedded metric format (Powertools Metrics, riskgate.metrics)
# in this namespace, each with the dimension `service` = POWERTOOLS_SERVICE_NAME; the dashboard
# (riskgate_infra.constructs.operations) graphs them by these names.
METRICS_NAMESPACE = "Riskgate"
METRICS_SERVICE = "riskgate"
METRIC_SCANS_INGESTED = "ScansIngested"  # one per stored scan (a report of several images: one each)
METRIC_FINDINGS_STORED = "FindingsStored"  # finding items written (0 for a re-scan that changed nothing)
METRIC_VERDICT_COMPLIANT = "VerdictsCompliant"  # evaluations that left an image compliant
METRIC_VERDICT_NON_COMPLIANT = "VerdictsNonCompliant"
METRIC_FINDINGS_ACCEPTED = "FindingsAccepted"  # findings an evaluation counted as accepted
METRIC_ACCEPTANCES_CREATED = "AcceptancesCreated"
METRIC_ACCEPTANCES_EXPIRED = "AcceptancesExpired"  # ended by the expiry checker (time or fix)
METRIC_ACCEPTANCES_REVOKED = "AcceptancesRevoked"
METRIC_NOTIFICATIONS_SENT = "NotificationsSent"
METRIC_NOTIFICATIONS_FAILED = "NotificationsFailed"  # a delivery attempt that failed (retried or not)
METRIC_IMAGES_REEVALUATED = "ImagesReevaluated"  # images the re-evaluator judged again after a change
METRIC_REGISTRY_SCANS_IMPORTED = "RegistryScansImported"  # registry scans imported (event or sync), once each
METRIC_REGISTRY_EVENTS_IGNORED = "RegistryEventsIgnored"  # registry events no connection covers or acts on
METRIC_REGISTRY_PULLS_FAILED = "RegistryPullsFailed"  # pulls failed for good (refused, or after the retries)
BUSINESS_METRICS = (
    METRIC_SCANS_INGESTED,
    METRIC_FINDINGS_STORED,
    METRIC_VERDICT_COMPLIANT,
    METRIC_VERDICT_NON_COMPLIANT,
    METRIC_FINDINGS_ACCEPTED,
    METRIC_ACCEPTANCES_CREATED,
    METRIC_ACCEPTANCES_EXPIRED,
    METRIC_ACCEPTANCES_REVOKED,
    METRIC_NOTIFICATIONS_SENT,
    METRIC_NOTIFICATIONS_FAILED,
    METRIC_IMAGES_REEVALUATED,
    METRIC_REGISTRY_SCANS_IMPORTED,
    METRIC_REGISTRY_EVENTS_IGNORED,
    METRIC_REGISTRY_PULLS_FAILED,
)
