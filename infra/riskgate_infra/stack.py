"""The Riskgate stack: a list of the constructs it is made of, and its outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sns as sns
from constructs import Construct

from riskgate.resources import (
    AUDIT_ARCHIVE_PREFIX,
    AUDIT_EVENT_SOURCE,
    DEFAULT_EXPIRY_CHECK_RATE_MINUTES,
    TABLE,
)
from riskgate_infra.constructs.api import RiskgateApi
from riskgate_infra.constructs.audit import AuditDelivery
from riskgate_infra.constructs.console import Console, ConsoleSettings
from riskgate_infra.constructs.encryption import DataKey
from riskgate_infra.constructs.evaluation import StreamEvaluation
from riskgate_infra.constructs.events import EventsTopic
from riskgate_infra.constructs.expiry import AcceptanceExpiry, rate_parameter
from riskgate_infra.constructs.functions import ARCHITECTURE, RUNTIME, LambdaFactory
from riskgate_infra.constructs.layer import DependenciesLayer
from riskgate_infra.constructs.notifications import Notifications, NotificationSettings
from riskgate_infra.constructs.operations import Operations, operations_email_parameter
from riskgate_infra.constructs.reevaluation import PolicyReevaluation
from riskgate_infra.constructs.registries import (
    RegistryConnections,
    registry_event_accounts_parameter,
    registry_sync_schedule_parameter,
)
from riskgate_infra.constructs.retention import FindingsRetention, findings_retention_parameter
from riskgate_infra.constructs.table import RiskgateTable
from riskgate_infra.constructs.uploads import ReportUploads, max_upload_bytes_parameter
from riskgate_infra.settings import Settings


class RiskgateStack(Stack):
    """Environment-agnostic: nothing is looked up at synthesis, so it synthesizes without credentials."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = Settings.from_context(self.node)
        # The notifier delivers notifications, the API an integration's test message: both the same way.
        notification_settings = NotificationSettings.from_context(self.node)
        # Integration secrets are named `<prefix>/integrations/<name>`, registry connections'
        # `<prefix>/registries/<id>`: one prefix per stack, so that two stacks in one account and region
        # neither share nor reach each other's secrets.
        secrets_prefix = self.stack_name.lower()

        data_key = DataKey(self, "DataKey")
        table = RiskgateTable(self, "Data", spec=TABLE, encryption_key=data_key.key).table
        events = EventsTopic(self, "Events", encryption_key=data_key.key).topic
        layer = DependenciesLayer(self, "Dependencies", runtime=RUNTIME, architecture=ARCHITECTURE).layer
        factory = LambdaFactory(
            layer=layer,
            environment=common_environment(
                table=table, events=events, settings=settings, secrets_prefix=secrets_prefix
            ),
            settings=settings,
        )

        api = RiskgateApi(
            self,
            "Api",
            factory=factory,
            table=table,
            settings=settings,
            secrets_prefix=secrets_prefix,
            notification_settings=notification_settings,
        )
        StreamEvaluation(self, "Evaluation", factory=factory, table=table, events_topic=events)
        FindingsRetention(
            self,
            "Retention",
            factory=factory,
            table=table,
            retention_days=findings_retention_parameter(self),
        )
        audit = AuditDelivery(
            self, "Audit", factory=factory, table=table, retention_days=settings.audit_retention_days
        )
        reevaluation = PolicyReevaluation(self, "Reevaluation", factory=factory, table=table)
        expiry = AcceptanceExpiry(
            self,
            "Expiry",
            factory=factory,
            table=table,
            rate_minutes=rate_parameter(self, DEFAULT_EXPIRY_CHECK_RATE_MINUTES),
        )
        Notifications(
            self,
            "Notifications",
            factory=factory,
            table=table,
            events_topic=events,
            secrets_prefix=secrets_prefix,
            settings=notification_settings,
            api_url=api.url,
        )
        uploads = ReportUploads(
            self,
            "Uploads",
            factory=factory,
            table=table,
            encryption_key=data_key.key,
            access_logs=audit.access_logs,
            max_upload_bytes=max_upload_bytes_parameter(self),
        )
        api.accept_uploads(
            bucket=uploads.bucket, encryption_key=data_key.key, environment=uploads.environment
        )
        console_settings = ConsoleSettings.from_context(self.node)
        console = Console(
            self,
            "Console",
            api=api.rest_api,
            source=console_settings.source,
            access_logs=audit.access_logs,
            log_retention_days=settings.audit_retention_days,
            function_log_retention=settings.retention,
            web_acl_arn=console_settings.web_acl_arn,
        )
        registries = RegistryConnections(
            self,
            "Registries",
            factory=factory,
            table=table,
            secrets_prefix=secrets_prefix,
            event_accounts=registry_event_accounts_parameter(self),
            sync_schedule=registry_sync_schedule_parameter(self),
        )
        # Harbor webhooks and sync requests are queued by the API.
        registries.accept_work_from(api.handler)
        # Last: it alarms every function, stream consumer and dead-letter queue built above, and makes
        # every alarm notify its topic (synthesis fails if anything is built after it).
        operations = Operations(
            self,
            "Operations",
            email=operations_email_parameter(self),
            api=api.rest_api,
            reevaluation_queue=reevaluation.work.queue,
            expiry_schedule=expiry.schedule,
        )

        self._outputs(
            api=api, table=table, audit=audit, uploads=uploads, operations=operations, console=console
        )

    def _outputs(
        self,
        *,
        api: RiskgateApi,
        table: dynamodb.Table,
        audit: AuditDelivery,
        uploads: ReportUploads,
        operations: Operations,
        console: Console,
    ) -> None:
        CfnOutput(self, "ApiUrl", value=api.url, description="Base URL; routes are under /v1")
        CfnOutput(
            self,
            "ConsoleUrl",
            value=console.url,
            description="The console for security officers (sign in with an API token); the API is also "
            "served here under /v1",
        )
        CfnOutput(self, "TableName", value=table.table_name)
        CfnOutput(
            self,
            "AuditBusName",
            value=audit.bus.event_bus_name,
            description="The security event log's EventBridge bus: subscribe with a rule on source "
            f"{AUDIT_EVENT_SOURCE}",
        )
        CfnOutput(
            self,
            "AuditArchiveBucket",
            value=audit.archive.bucket_name,
            description="The security event log's archive: one JSON object per event under "
            f"{AUDIT_ARCHIVE_PREFIX}YYYY/MM/DD/, Object Lock in compliance mode",
        )
        CfnOutput(
            self,
            "UploadsBucketName",
            value=uploads.bucket.bucket_name,
            description="Where clients post reports of any size (POST /v1/scans/uploads answers the "
            "presigned POST); objects are deleted once ingested",
        )
        CfnOutput(
            self,
            "CreateFirstToken",
            value=f"riskgate admin create-token --table {table.table_name}",
            description="Run with the deploying account's credentials to get the first (administrator) token",
        )
        CfnOutput(
            self,
            "OperationsTopicArn",
            value=operations.topic.topic_arn,
            description="Every alarm notifies this SNS topic (and again when it is OK): subscribe an "
            "address with the OperationsEmail parameter, or anything else to the topic (docs/operations.md)",
        )
        CfnOutput(
            self,
            "OperationsDashboardUrl",
            value=Fn.sub(
                "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}"
                "#dashboards/dashboard/${Name}",
                {"Name": operations.dashboard_name},
            ),
            description=f"The CloudWatch dashboard {operations.dashboard_name}: business figures, the API, "
            "the functions, every alarm",
        )


def common_environment(
    *, table: dynamodb.ITable, events: sns.ITopic, settings: Settings, secrets_prefix: str
) -> dict[str, str]:
    """What every function is told."""
    return {
        "RISKGATE_TABLE_NAME": table.table_name,
        "RISKGATE_EVENTS_TOPIC_ARN": events.topic_arn,
        # Every function may write audit items (the API its changes, the authorizer failed
        # authentications), each expiring from the table after this many days.
        "RISKGATE_AUDIT_RETENTION_DAYS": str(settings.audit_retention_days),
        # The API writes an acceptance's reminder items and the expiry checker acts on them:
        # both must agree on the days.
        "RISKGATE_EXPIRY_REMINDER_DAYS": settings.expiry_reminder_days,
        "RISKGATE_SECRETS_PREFIX": secrets_prefix,
    }
