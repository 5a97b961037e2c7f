"""Risk acceptance expiry: the expiry checker, the EventBridge Scheduler schedule that ticks it, and where
runs that fail go."""

from __future__ import annotations

import json

from aws_cdk import CfnCondition, CfnParameter, Duration, Fn, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from riskgate.resources import (
    EXPIRY_CHECKER_FUNCTION,
    SCHEDULED_EVENT_DETAIL_TYPE,
    SCHEDULED_EVENT_SOURCE,
    SCHEDULER_SCHEDULED_TIME,
)
from riskgate_infra.constructs.functions import LambdaFactory
from riskgate_infra.constructs.queues import backlog_alarm, last_queue

# What the schedule sends: Scheduler replaces the context attribute with the time the run was scheduled
# for, which the checker takes as "now".
SCHEDULE_INPUT = {
    "source": SCHEDULED_EVENT_SOURCE,
    "detail-type": SCHEDULED_EVENT_DETAIL_TYPE,
    "time": SCHEDULER_SCHEDULED_TIME,
}
# Scheduler retries an invocation Lambda refused (throttled, unavailable) this often, for at most this
# long; a run that old is as good as the next one, which comes minutes later anyway.
SCHEDULE_RETRY_ATTEMPTS = 5
SCHEDULE_MAX_EVENT_AGE = Duration.hours(1)
# The rate parameter's bounds: every minute up to once a day (reminders are in days).
MIN_RATE_MINUTES = 1
MAX_RATE_MINUTES = 24 * 60


class AcceptanceExpiry(Construct):
    """EventBridge Scheduler → the expiry checker, every `rate_minutes` (a stack parameter).

    Scheduler invokes Lambda asynchronously: an invocation it cannot deliver is retried by Scheduler,
    one that fails in the function is retried by Lambda (twice); either way what still failed lands in
    `dead_letter_queue` (the schedule's dead-letter queue and the function's), which is alarmed. Missing
    a run loses nothing: the next one finds everything still due.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        table: dynamodb.Table,
        rate_minutes: CfnParameter,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        # Messages hold the scheduled event (a time), nothing from the table.
        self.dead_letter_queue = last_queue(
            self,
            "FailedRuns",
            dead_letters_of="the schedule and of the expiry checker's asynchronous invocations",
        )

        # Reads the due index (gsi3); expires acceptances, deletes reminders, writes events and audit items.
        self.function = factory.create(
            self,
            "Checker",
            spec=EXPIRY_CHECKER_FUNCTION,
            description="Riskgate expiry checker: due acceptances expired, due reminders recorded",
            table=table,
        )
        # Lambda's own dead-letter queue for asynchronous invocations that failed every attempt (the
        # factory's `create` has no such option; the property is set on the resource itself).
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.dead_letter_queue.queue_arn])
        )
        cfn_function = self.function.node.default_child
        if not isinstance(cfn_function, lambda_.CfnFunction):
            raise TypeError(f"{self.function.node.path} has no CfnFunction")
        cfn_function.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(
            target_arn=self.dead_letter_queue.queue_arn
        )

        # The role Scheduler assumes to invoke the checker: only for schedules of this account's default
        # group (confused-deputy protection), and it may invoke this one function and nothing else (plus
        # report to the dead-letter queue, which Scheduler does with this role too).
        default_group_arn = stack.format_arn(
            service="scheduler", resource="schedule-group", resource_name="default"
        )
        self.schedule_role = iam.Role(
            self,
            "ScheduleRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": stack.account,
                        "aws:SourceArn": default_group_arn,
                    }
                },
            ),
            description="Riskgate: EventBridge Scheduler invoking the expiry checker",
        )
        self.schedule_role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])
        )
        self.schedule_role.add_to_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.dead_letter_queue.queue_arn])
        )

        # `rate(1 minute)` is singular; every other value takes the plural.
        every_minute = CfnCondition(
            self, "EveryMinute", expression=Fn.condition_equals(rate_minutes.value_as_string, "1")
        )
        expression = Fn.condition_if(
            every_minute.logical_id,
            "rate(1 minute)",
            Fn.sub("rate(${Minutes} minutes)", {"Minutes": rate_minutes.value_as_string}),
        ).to_string()
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description="Riskgate: expire risk acceptances and record reminders that are due",
            schedule_expression=expression,
            # Exactly on the rate: the scheduled time is the run's "now".
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.function.function_arn,
                role_arn=self.schedule_role.role_arn,
                input=json.dumps(SCHEDULE_INPUT, separators=(",", ":")),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
                    maximum_event_age_in_seconds=int(SCHEDULE_MAX_EVENT_AGE.to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.dead_letter_queue.queue_arn
                ),
            ),
        )
        # The first run must find the role's permissions in place (the role itself is referenced already).
        self.schedule.node.add_dependency(self.schedule_role.node.find_child("DefaultPolicy"))

        self.dead_letter_alarm = backlog_alarm(
            self,
            "FailedRunsAlarm",
            queue=self.dead_letter_queue,
            description=(
                "Riskgate: expiry check runs that failed (Scheduler could not invoke the checker, or the "
                "checker failed every attempt). Acceptances past their end stay in force, and reminders "
                "unrecorded, until a run succeeds; the messages say why."
            ),
        )


def rate_parameter(scope: Stack, default_minutes: int) -> CfnParameter:
    """The stack parameter `ExpiryCheckRateMinutes`: how often the expiry checker runs."""
    return CfnParameter(
        scope,
        "ExpiryCheckRateMinutes",
        type="Number",
        default=default_minutes,
        min_value=MIN_RATE_MINUTES,
        max_value=MAX_RATE_MINUTES,
        constraint_description=f"a whole number of minutes from {MIN_RATE_MINUTES} to {MAX_RATE_MINUTES}",
        description=(
            "Minutes between two runs of the risk acceptance expiry checker: an acceptance stays in force "
            "at most this long past its end."
        ),
    )
