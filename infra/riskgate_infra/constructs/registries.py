"""Registry connections (issue 14): the registry-work queue and the registry ingester consuming it, and
everything that feeds the queue — the rule taking ECR's and Inspector's scan events from the default bus
(and, when the stack names them, from other accounts' buses), the daily sync schedule, and the API
(Harbor webhooks, `POST /v1/registries/{id}/sync`)."""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, CfnCondition, CfnParameter, CfnResource, Duration, Fn, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct, IConstruct

from riskgate.resources import (
    DEFAULT_REGISTRY_SYNC_SCHEDULE,
    REGISTRY_INGESTER_FUNCTION,
    REGISTRY_SCAN_EVENT_PATTERN,
    REGISTRY_WORK_BATCH_SIZE,
    REGISTRY_WORK_DEAD_LETTER_QUEUE_SUFFIX,
    REGISTRY_WORK_MAX_RECEIVE_COUNT,
    REGISTRY_WORK_QUEUE_SUFFIX,
    REGISTRY_WORK_VISIBILITY_TIMEOUT_SECONDS,
)
from riskgate_infra.constructs.functions import LambdaFactory
from riskgate_infra.constructs.uploads import event_pattern
from riskgate_infra.constructs.work_queue import WorkQueue
from riskgate_infra.nag import acknowledge

# Where the API and the ingester find the queue.
QUEUE_URL_VARIABLE = "RISKGATE_REGISTRY_WORK_QUEUE_URL"
# What the ingester reads in the registries: ECR's scan results (basic and enhanced) and its image and
# repository lists (a sync's pages), Inspector's findings for an image.
ECR_ACTIONS = ["ecr:DescribeImageScanFindings", "ecr:DescribeImages", "ecr:DescribeRepositories"]
INSPECTOR_ACTIONS = ["inspector2:ListFindings"]
# What the daily schedule puts on the queue: the ingester turns it into one sync per connection.
SYNC_ALL_MESSAGE = {"kind": "sync_all"}
# Scheduler retries a message SQS refused this often, for at most this long; a sync that old is still
# worth running (the next one is a day away), an older one is not.
SYNC_RETRY_ATTEMPTS = 5
SYNC_MAX_EVENT_AGE = Duration.hours(6)
# The parameters' shapes: account ids separated by commas, or nothing; a Scheduler expression, or nothing.
ACCOUNT_LIST_PATTERN = r"^(\d{12}(,\d{12})*)?$"
SCHEDULE_EXPRESSION_PATTERN = r"^((cron|rate)\(.+\))?$"


def registry_event_accounts_parameter(scope: Stack) -> CfnParameter:
    """The stack parameter `RegistryEventAccounts`: other accounts whose registries' events this stack
    takes."""
    return CfnParameter(
        scope,
        "RegistryEventAccounts",
        type="String",
        default="",
        allowed_pattern=ACCOUNT_LIST_PATTERN,
        constraint_description="12-digit AWS account ids separated by commas (no spaces), or nothing",
        description=(
            "AWS accounts (12-digit ids, comma-separated; empty: none) whose ECR registries registry "
            "connections name. Each may put ECR and Inspector scan events on this account's default event "
            "bus; in each of those accounts, add a rule on its default bus matching source aws.ecr / "
            "aws.inspector2, detail-type 'ECR Image Scan' / 'Inspector2 Scan', whose target is this "
            "account's default event bus."
        ),
    )


def registry_sync_schedule_parameter(scope: Stack) -> CfnParameter:
    """The stack parameter `RegistrySyncSchedule`: when every registry connection is synced."""
    return CfnParameter(
        scope,
        "RegistrySyncSchedule",
        type="String",
        default=DEFAULT_REGISTRY_SYNC_SCHEDULE,
        allowed_pattern=SCHEDULE_EXPRESSION_PATTERN,
        constraint_description="an EventBridge Scheduler cron(...) or rate(...) expression, or nothing",
        description=(
            "When every registry connection is synced (its registry's current scan results imported, "
            "whatever events were missed), as an EventBridge Scheduler expression in UTC; empty: never "
            "(syncs then only run on POST /v1/registries/{id}/sync)."
        ),
    )


class RegistryConnections(Construct):
    """Everything a registry connection's scans travel through before the ingester stores them:

    - ECR's "ECR Image Scan" and Inspector's "Inspector2 Scan" events, on the default bus (the accounts of
      `RegistryEventAccounts` may put theirs there too) → a rule → the queue, as they are;
    - the daily schedule (`RegistrySyncSchedule`; none when empty) → the queue, `{"kind": "sync_all"}`;
    - the API (`accept_work_from`): Harbor webhooks and sync requests → the queue;
    - the queue → the registry ingester, one message at a time; the ingester sends a sync's next page to
      the queue itself, and delays a message whose findings are not readable yet (its visibility).

    A message that keeps failing goes to the queue's dead letters after `REGISTRY_WORK_MAX_RECEIVE_COUNT`
    receives, as does whatever the rule or the schedule could not put on the queue: every dead letter is
    a message the ingester takes, and redriving them to the queue retries them. The dead letters are
    alarmed.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        table: dynamodb.Table,
        secrets_prefix: str,
        event_accounts: CfnParameter,
        sync_schedule: CfnParameter,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        # -- the ingester and its queue ---------------------------------------------------------------
        # Writes scans as the API does, and the connections' state, events and markers.
        self.ingester = factory.create(
            self,
            "Ingester",
            spec=REGISTRY_INGESTER_FUNCTION,
            description="Riskgate registry ingester: registry scan results → scans, as POST /v1/scans writes "
            "them",
            table=table,
        )
        self.work = WorkQueue(
            self,
            "Work",
            consumer=self.ingester,
            name_suffix=REGISTRY_WORK_QUEUE_SUFFIX,
            dead_letter_name_suffix=REGISTRY_WORK_DEAD_LETTER_QUEUE_SUFFIX,
            visibility_timeout_seconds=REGISTRY_WORK_VISIBILITY_TIMEOUT_SECONDS,
            max_receive_count=REGISTRY_WORK_MAX_RECEIVE_COUNT,
            batch_size=REGISTRY_WORK_BATCH_SIZE,
            label="the registry-work queue",
            message="registry work (a scan event, a Harbor webhook, a sync page)",
            also_dead_letters_of="the scan-event rule's target and of the sync schedule",
            alarm_description=(
                "Riskgate: registry work the ingester failed on "
                f"{REGISTRY_WORK_MAX_RECEIVE_COUNT} times (a scan event, a Harbor webhook, a sync page; "
                "findings merely not readable yet are recorded on the connection instead), or that "
                "EventBridge or the sync schedule could not put on the registry-work queue. Those scans are "
                "not imported. Redrive the messages to the registry-work queue once the cause is fixed "
                "(a scan already imported is not imported twice)."
            ),
        )
        self.ingester.add_environment(QUEUE_URL_VARIABLE, self.work.queue.queue_url)
        # A sync's next page is a new message on its own queue (receiving, deleting and changing the
        # visibility come with the event source).
        self.work.queue.grant_send_messages(self.ingester)
        self._grant_registry_reads(stack, secrets_prefix)

        # -- what feeds the queue ---------------------------------------------------------------------
        # The queue policy CDK adds lets this rule (and no other) send to the queue and the dead letters.
        self.rule = events.Rule(
            self,
            "ScanEvents",
            description="Riskgate: a registry finished scanning an image (ECR, Inspector) → the "
            "registry-work queue",
            event_pattern=event_pattern(REGISTRY_SCAN_EVENT_PATTERN),
            targets=[targets.SqsQueue(self.work.queue, dead_letter_queue=self.work.dead_letter_queue)],
        )
        self.bus_policy = self._other_accounts_events(stack, event_accounts)
        self.schedule_role, self.schedule = self._sync_schedule(stack, sync_schedule)

    def accept_work_from(self, function: lambda_.Function) -> None:
        """`function` (the API: Harbor webhooks, sync requests) may send to the queue, and is told where it
        is."""
        self.work.queue.grant_send_messages(function)
        function.add_environment(QUEUE_URL_VARIABLE, self.work.queue.queue_url)

    def _grant_registry_reads(self, stack: Stack, secrets_prefix: str) -> None:
        """ECR and Inspector of this account (any region a connection names), and the connections' secrets
        (Harbor's robot account), read only; in a policy of their own, so each wildcard is acknowledged
        with its reason."""
        repositories = stack.format_arn(service="ecr", region="*", resource="repository", resource_name="*")
        secrets = stack.format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{secrets_prefix}/registries/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.registry_reads = iam.Policy(
            self,
            "IngesterRegistryReads",
            roles=[LambdaFactory.role_of(self.ingester)],
            statements=[
                iam.PolicyStatement(sid="ReadEcrScans", actions=ECR_ACTIONS, resources=[repositories]),
                # ListFindings has no resource-level permissions: `*` is the only resource IAM allows.
                iam.PolicyStatement(sid="ReadInspectorFindings", actions=INSPECTOR_ACTIONS, resources=["*"]),
                iam.PolicyStatement(
                    sid="ReadRegistrySecrets", actions=["secretsmanager:GetSecretValue"], resources=[secrets]
                ),
            ],
        )
        # The function must not take messages before it may read what they name.
        self.ingester.node.add_dependency(self.registry_reads)
        acknowledge(
            self.registry_reads,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:*:<AWS::AccountId>:repository/*]",
            "Registry connections name their repositories (globs) and region at run time: the ingester may "
            "read the scan results, images and repository lists of this account's ECR repositories, in any "
            "region, and nothing of any other account.",
        )
        acknowledge(
            self.registry_reads,
            "AwsSolutions-IAM5[Resource::*]",
            "inspector2:ListFindings supports no resource-level permissions (AWS documents `*` as its only "
            "resource); it reads findings and changes nothing.",
        )
        acknowledge(
            self.registry_reads,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:"
            f"secret:{secrets_prefix}/registries/*]",
            "Each Harbor connection's secret is created at run time under this stack's prefix (its name and "
            "the random suffix Secrets Manager adds are not known at synthesis); the ingester reads those "
            "secrets only.",
        )

    def _other_accounts_events(self, stack: Stack, accounts: CfnParameter) -> events.CfnEventBusPolicy:
        """The default bus's permission for the accounts of `RegistryEventAccounts` to put scan events on it
        (and nothing else); not created while the parameter is empty."""
        some_accounts = CfnCondition(
            self,
            "OtherAccounts",
            expression=Fn.condition_not(Fn.condition_equals(accounts.value_as_string, "")),
        )
        policy = events.CfnEventBusPolicy(
            self,
            "OtherAccountsScanEvents",
            # One per stack on the account's shared default bus.
            statement_id=f"{stack.stack_name}-registry-scan-events",
            statement={
                "Effect": "Allow",
                # Account ids: each account's rules (with or without a role of their own) may forward.
                "Principal": {"AWS": Fn.split(",", accounts.value_as_string)},
                "Action": "events:PutEvents",
                "Resource": stack.format_arn(service="events", resource="event-bus", resource_name="default"),
                "Condition": {
                    "ForAllValues:StringEquals": {"events:source": REGISTRY_SCAN_EVENT_PATTERN["source"]},
                    "StringEquals": {"events:detail-type": REGISTRY_SCAN_EVENT_PATTERN["detail-type"]},
                },
            },
        )
        policy.cfn_options.condition = some_accounts
        return policy

    def _sync_schedule(
        self, stack: Stack, expression: CfnParameter
    ) -> tuple[iam.Role, scheduler.CfnSchedule]:
        """EventBridge Scheduler → the queue, `{"kind": "sync_all"}` at `RegistrySyncSchedule`; neither the
        schedule nor its role exists while the parameter is empty. What Scheduler cannot put on the queue
        goes to the queue's dead letters (a redrive syncs then)."""
        scheduled = CfnCondition(
            self,
            "Synced",
            expression=Fn.condition_not(Fn.condition_equals(expression.value_as_string, "")),
        )
        # Assumed only for schedules of this account's default group (confused-deputy protection); it may
        # send to the queue and to its dead letters, nothing else.
        role = iam.Role(
            self,
            "SyncScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": stack.account,
                        "aws:SourceArn": stack.format_arn(
                            service="scheduler", resource="schedule-group", resource_name="default"
                        ),
                    }
                },
            ),
            description="Riskgate: EventBridge Scheduler putting the daily registry sync on its queue",
        )
        for queue in (self.work.queue, self.work.dead_letter_queue):
            role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn]))
        schedule = scheduler.CfnSchedule(
            self,
            "SyncSchedule",
            description="Riskgate: sync every registry connection (what events missed is imported)",
            schedule_expression=expression.value_as_string,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.work.queue.queue_arn,
                role_arn=role.role_arn,
                input=json.dumps(SYNC_ALL_MESSAGE, separators=(",", ":")),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=SYNC_RETRY_ATTEMPTS,
                    maximum_event_age_in_seconds=int(SYNC_MAX_EVENT_AGE.to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.work.dead_letter_queue.queue_arn
                ),
            ),
        )
        default_policy = role.node.find_child("DefaultPolicy")
        # The first run must find the role's permissions in place (the role itself is referenced already).
        schedule.node.add_dependency(default_policy)
        for element in (schedule, role.node.default_child, default_policy.node.default_child):
            _only_if(scheduled, element)
        return role, schedule


def _only_if(condition: CfnCondition, element: IConstruct | None) -> None:
    if not isinstance(element, CfnResource):
        raise TypeError(f"expected a CloudFormation resource, got {element!r}")
    element.cfn_options.condition = condition
