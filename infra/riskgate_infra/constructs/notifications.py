"""Notifications: the dispatcher on the table's stream, the notify queue subscribed to the events topic,
the notifier on the queue, and where notifications that keep failing go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct, Node

from riskgate.resources import (
    DISPATCH_STREAM_FILTER,
    DISPATCHER_BATCH_SIZE,
    DISPATCHER_FUNCTION,
    DISPATCHER_RETRY_ATTEMPTS,
    NOTIFICATION_MESSAGE_KIND,
    NOTIFIER_BATCH_SIZE,
    NOTIFIER_FUNCTION,
    NOTIFY_DEAD_LETTER_QUEUE_SUFFIX,
    NOTIFY_MAX_RECEIVE_COUNT,
    NOTIFY_QUEUE_SUFFIX,
    NOTIFY_VISIBILITY_TIMEOUT_SECONDS,
)
from riskgate_infra.constructs.functions import LambdaFactory
from riskgate_infra.constructs.stream_consumer import consume_table_stream
from riskgate_infra.constructs.work_queue import IN_PLACE, WorkQueue
from riskgate_infra.nag import acknowledge

# The SNS message attribute the dispatcher sets on each notification it publishes; the notify queue's
# subscription lets through only messages carrying it (the topic also carries other announcements).
MESSAGE_KIND_ATTRIBUTE = "kind"
# What the notifier does through SES: SESv2 SendEmail (simple or raw content) and v1 SendRawEmail both
# authorize `ses:SendEmail` / `ses:SendRawEmail` against the sending identity (and the configuration set,
# when one applies).
SES_ACTIONS = ["ses:SendEmail", "ses:SendRawEmail"]

DEFAULT_NOTIFY_WINDOW_HOURS = 24
MAX_NOTIFY_WINDOW_HOURS = 24 * 365
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
CONTEXT_PREFIX = "riskgate:"


@dataclass(frozen=True)
class NotificationSettings:
    """The deployment parameters of notifications, from CDK context (`-c riskgate:<name>=...`).

    - `riskgate:notifyWindowHours` (24): the same findings do not notify the same policy again within it.
    - `riskgate:telegramApiUrl` (https://api.telegram.org): the Bot API's base URL (a proxy, a mirror).
    - `riskgate:customerTopicArns` (every topic of the account): the SNS topics an `sns` integration may
      publish to, a list or comma-separated ARNs (wildcards allowed).
    """

    notify_window_hours: int = DEFAULT_NOTIFY_WINDOW_HOURS
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    # Empty: every topic of the deploying account (`arn:<partition>:sns:*:<account>:*`).
    customer_topic_arns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.notify_window_hours <= MAX_NOTIFY_WINDOW_HOURS:
            raise ValueError(
                "riskgate:notifyWindowHours must be a whole number of hours from 1 to "
                f"{MAX_NOTIFY_WINDOW_HOURS}"
            )
        if not self.telegram_api_url.startswith("https://") or len(self.telegram_api_url) <= len("https://"):
            raise ValueError(f"riskgate:telegramApiUrl: {self.telegram_api_url!r} is not an https:// URL")
        for arn in self.customer_topic_arns:
            parts = arn.split(":")
            if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns":
                raise ValueError(f"riskgate:customerTopicArns: {arn!r} is not an SNS topic ARN")

    @classmethod
    def from_context(cls, node: Node) -> NotificationSettings:
        defaults = cls()
        window = node.try_get_context(CONTEXT_PREFIX + "notifyWindowHours")
        url = node.try_get_context(CONTEXT_PREFIX + "telegramApiUrl")
        topics = node.try_get_context(CONTEXT_PREFIX + "customerTopicArns")
        return cls(
            notify_window_hours=defaults.notify_window_hours if window is None else _whole_number(window),
            telegram_api_url=defaults.telegram_api_url if url is None else str(url).rstrip("/"),
            customer_topic_arns=defaults.customer_topic_arns if topics is None else _arn_list(topics),
        )


def _whole_number(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"riskgate:notifyWindowHours: {value!r} is not a whole number of hours") from None


def _arn_list(value: Any) -> tuple[str, ...]:
    """`-c riskgate:customerTopicArns=arn:...,arn:...` arrives as a string; cdk.json may hold a list."""
    parts: Sequence[Any] = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(part).strip() for part in parts if str(part).strip())


class Notifications(Construct):
    """New trigger event on the stream → the dispatcher records the notifications the response policies
    ask for and publishes their ids on the events topic (message attribute `kind` = `notification`) → the
    notify queue, subscribed to the topic with raw delivery and a filter on that attribute → the notifier
    delivers each one (SES, Telegram, a customer SNS topic, a webhook).

    A notification the notifier keeps failing on returns to the queue after the visibility timeout; after
    `NOTIFY_MAX_RECEIVE_COUNT` receives the queue moves it to the dead-letter queue, which is alarmed. SNS
    sends what it cannot deliver to the queue to the same dead-letter queue.

    The queue uses SQS-managed encryption: its messages carry only a notification id (the notification
    itself is in the table, under the data key), and SNS can deliver to an SSE-SQS queue without any key
    policy, where a customer-managed key would have to let the SNS service principal use it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        table: dynamodb.Table,
        events_topic: sns.ITopic,
        secrets_prefix: str,
        settings: NotificationSettings,
        api_url: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {
            "RISKGATE_NOTIFY_WINDOW_HOURS": str(settings.notify_window_hours),
            "RISKGATE_TELEGRAM_API_URL": settings.telegram_api_url,
        }

        # -- the dispatcher: trigger events in, notifications recorded and announced ------------------
        # Reads the response policies (gsi1) and scopes; writes notification records and dedup markers.
        self.dispatcher = factory.create(
            self,
            "Dispatcher",
            spec=DISPATCHER_FUNCTION,
            description="Riskgate dispatcher: trigger event → notifications for the response policies",
            environment=environment,
            table=table,
        )
        # With the topic's key (the data key): kms:GenerateDataKey* and kms:Decrypt on that key.
        events_topic.grant_publish(self.dispatcher)
        self.stream = consume_table_stream(
            self,
            function=self.dispatcher,
            table=table,
            filter_pattern=DISPATCH_STREAM_FILTER,
            batch_size=DISPATCHER_BATCH_SIZE,
            retry_attempts=DISPATCHER_RETRY_ATTEMPTS,
            alarm_description=(
                "Riskgate: trigger events the dispatcher gave up on; the response policies they concern "
                "were not notified. Replay the records once the cause is fixed (safe: a notification is "
                "recorded once per policy, subject and findings)."
            ),
        )

        # -- the notifier: one delivery per message ---------------------------------------------------
        # Reads the notification, its policy and integration; records status, attempts, last error.
        self.notifier = factory.create(
            self,
            "Notifier",
            spec=NOTIFIER_FUNCTION,
            description="Riskgate notifier: notification → e-mail, Telegram, SNS topic or webhook",
            environment={
                **environment,
                # Messages link to the API resource they are about.
                **({"RISKGATE_PUBLIC_BASE_URL": api_url} if api_url is not None else {}),
            },
            table=table,
        )
        grant_delivery(
            self,
            factory.role_of(self.notifier),
            secrets_prefix=secrets_prefix,
            settings=settings,
            who="the notifier",
        )

        # -- the notify queue, its dead letters, its subscription to the topic -----------------------
        # The notifier's own backoff changes a message's visibility (GetQueueUrl, then
        # ChangeMessageVisibility), which the queue's event source grants.
        self.work = WorkQueue(
            self,
            IN_PLACE,
            consumer=self.notifier,
            name_suffix=NOTIFY_QUEUE_SUFFIX,
            dead_letter_name_suffix=NOTIFY_DEAD_LETTER_QUEUE_SUFFIX,
            visibility_timeout_seconds=NOTIFY_VISIBILITY_TIMEOUT_SECONDS,
            max_receive_count=NOTIFY_MAX_RECEIVE_COUNT,
            batch_size=NOTIFIER_BATCH_SIZE,
            label="the notify queue",
            message="a notification",
            also_dead_letters_of="the queue's subscription to the events topic",
            alarm_description=(
                "Riskgate: notifications that could not be delivered after "
                f"{NOTIFY_MAX_RECEIVE_COUNT} attempts (or that SNS could not put on the notify queue); "
                "GET /v1/notifications shows their last error. Redrive the messages to the notify queue "
                "once the cause is fixed (safe: a sent notification is never sent again)."
            ),
        )
        # Raw delivery: the queue's message is what the dispatcher published (`{"notification_id"}`),
        # not SNS's envelope. The queue policy CDK adds lets this topic (and no other) send to it.
        events_topic.add_subscription(
            subscriptions.SqsSubscription(
                self.work.queue,
                raw_message_delivery=True,
                filter_policy={
                    MESSAGE_KIND_ATTRIBUTE: sns.SubscriptionFilter.string_filter(
                        allowlist=[NOTIFICATION_MESSAGE_KIND]
                    )
                },
                dead_letter_queue=self.work.dead_letter_queue,
            )
        )


def grant_delivery(
    scope: Construct, role: iam.IRole, *, secrets_prefix: str, settings: NotificationSettings, who: str
) -> None:
    """What delivering through integrations takes beyond the table: SES, reading the integration secrets,
    publishing to customer topics. `who` names the function in the acknowledgements' reasons: the notifier,
    and the API (an integration's test message goes out the same way)."""
    stack = Stack.of(scope)
    # Any verified identity (address or domain) of this account and region may be an integration's
    # sender, and which ones is decided at run time; configuration sets apply when an identity has one.
    ses_resources = [
        stack.format_arn(service="ses", resource="identity", resource_name="*"),
        stack.format_arn(service="ses", resource="configuration-set", resource_name="*"),
    ]
    role.add_to_principal_policy(
        iam.PolicyStatement(sid="SendEmail", actions=SES_ACTIONS, resources=ses_resources)
    )
    for resource in ("identity", "configuration-set"):
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:"
            f"{resource}/*]",
            f"E-mail integrations name their sender at run time: {who} may send as any SES identity "
            "verified in this account and region (SES itself refuses unverified ones), through the "
            "configuration set that identity uses.",
        )

    # Read-only, and only the integration secrets of this stack (the API creates them).
    secrets = stack.format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name=f"{secrets_prefix}/integrations/*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadIntegrationSecrets", actions=["secretsmanager:GetSecretValue"], resources=[secrets]
        )
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:"
        f"secret:{secrets_prefix}/integrations/*]",
        "Each integration's secret is created at run time under this stack's prefix (its name and the "
        f"random suffix Secrets Manager adds are not known at synthesis); {who} reads those secrets only, "
        "and only to deliver.",
    )

    # Customer topics are named by `sns` integrations, at run time: by default any topic of this
    # account, or the ARNs the deployment lists (`riskgate:customerTopicArns`).
    if settings.customer_topic_arns:
        topics = list(settings.customer_topic_arns)
        findings = [arn for arn in topics if "*" in arn]
    else:
        topics = [
            stack.format_arn(service="sns", region="*", resource="*", arn_format=ArnFormat.NO_RESOURCE_NAME)
        ]
        findings = ["arn:<AWS::Partition>:sns:*:<AWS::AccountId>:*"]
    role.add_to_principal_policy(
        iam.PolicyStatement(sid="PublishToCustomerTopics", actions=["sns:Publish"], resources=topics)
    )
    for finding in findings:
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{finding}]",
            f"SNS integrations name their topic at run time (it is the customer's): {who} may publish "
            "to the topics the deployment allows (CDK context riskgate:customerTopicArns, by default "
            "those of this account), and only publish.",
        )
