"""Operations: the topic every alarm notifies, the alarms the stack's resources do not raise themselves,
and the dashboard (issue 13). docs/operations.md is the runbook: each alarm, its threshold, what to do.

`Operations` is built last in the stack: it walks everything built before it, so a new function gets its
Errors and Throttles alarms, a new stream consumer its IteratorAge alarm, a new queue nothing consumes
its depth alarm, and every alarm (its own and the ones other constructs made) the topic as its alarm
and OK action, without anyone listing them. A validation fails synthesis if anything is added after it.

The parts, each built in the `Operations` construct's scope (their paths stay below it): `topic` (the
topic, its key and the `OperationsEmail` parameter), `walk` (what the stack holds), `alarms` (thresholds
and the alarms), `dashboard`. Import from here: the submodules' layout may change.
"""

from __future__ import annotations

import jsii
from aws_cdk import CfnParameter, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IValidation

from riskgate_infra.constructs.operations.alarms import (
    API_MIN_REQUESTS,
    API_P99_LATENCY_OBJECTIVE,
    API_SERVER_ERROR_PERCENT,
    DEFAULT_SCHEDULE_GROUP,
    PERIOD,
    PERSISTENT_DATAPOINTS,
    PERSISTENT_PERIODS,
    SCHEDULER_FAILURE_METRICS,
    SES_BOUNCE_RATE,
    SES_COMPLAINT_RATE,
    SES_PERIOD,
    STREAM_LAG_THRESHOLD,
    api_alarms,
    function_alarms,
    lambda_metric,
    queue_alarm,
    schedule_alarm,
    ses_alarms,
    stream_alarm,
)
from riskgate_infra.constructs.operations.dashboard import (
    BUSINESS_GRAPHS,
    DASHBOARD_NAME_SUFFIX,
    REEVALUATION_METRIC,
    business_metric,
    operations_dashboard,
)
from riskgate_infra.constructs.operations.topic import (
    EMAIL_PATTERN,
    OPERATIONS_EMAIL_PARAMETER,
    operations_email_parameter,
    operations_topic,
)
from riskgate_infra.constructs.operations.walk import (
    FUNCTION_TYPE,
    QUEUE_DEPTH_METRIC,
    StackWalk,
    readable_name,
)


class Operations(Construct):
    """The operations topic (its own key, TLS only, an optional e-mail subscription), the alarms, their
    actions and the dashboard. Build it after everything it watches (see the module)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        email: CfnParameter,
        api: apigw.RestApi,
        reevaluation_queue: sqs.IQueue,
        expiry_schedule: scheduler.CfnSchedule,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stack = Stack.of(self)
        self._stage = api.deployment_stage
        self._walk = StackWalk(self._stack)

        self.topic = operations_topic(self, email)
        self.action = cloudwatch_actions.SnsAction(self.topic)

        # -- alarms on what no construct alarms itself ----------------------------------------------
        self.api_alarms = api_alarms(self, self._stage)
        self.schedule_alarm = schedule_alarm(self, expiry_schedule.group_name or DEFAULT_SCHEDULE_GROUP)
        self.ses_alarms = ses_alarms(self)

        # -- alarms on what the stack walk finds -----------------------------------------------------
        self.functions = self._walk.functions()
        self.function_alarms = [
            alarm
            for name, function in self.functions.items()
            for alarm in function_alarms(self, name, function)
        ]
        self.stream_consumers = self._walk.stream_consumers(self.functions)
        self.stream_alarms = [stream_alarm(self, name, function) for name, function in self.stream_consumers]
        self.queue_alarms = [queue_alarm(self, name, queue) for name, queue in self._walk.unwatched_queues()]

        # -- every alarm of the stack, whoever made it, reaches someone ------------------------------
        self.alarms = self._walk.alarms()
        for alarm in self.alarms:
            alarm.add_alarm_action(self.action)
            alarm.add_ok_action(self.action)
        self._notified = {alarm.node.path for alarm in self.alarms}

        self.dashboard_name = self._stack.stack_name.lower() + DASHBOARD_NAME_SUFFIX
        self.dashboard = operations_dashboard(
            self,
            dashboard_name=self.dashboard_name,
            reevaluation_queue=reevaluation_queue,
            stage=self._stage,
            api_error_rate=self.api_alarms[0].metric,
            functions=self.functions.items(),
            stream_consumers=self.stream_consumers,
            alarms=self.alarms,
        )
        self.node.add_validation(_NothingUnwatched(self))

    # -- the guard --------------------------------------------------------------------------------------

    def unwatched(self) -> list[str]:
        """What the stack holds that this construct did not see when it was built (added after it)."""
        problems: list[str] = []
        named = set(self.functions)
        for function in self._walk.elements(FUNCTION_TYPE):
            if readable_name(self._stack, function) not in named:
                problems.append(f"function {function.node.path} has no Errors / Throttles alarm")
        watched_streams = {self._walk.logical_id(function) for _, function in self.stream_consumers}
        for mapping in self._walk.stream_mappings():
            if self._walk.referenced_id(mapping.function_name, "Ref") not in watched_streams:
                problems.append(f"stream mapping {mapping.node.path} has no IteratorAge alarm")
        for name, _ in self._walk.unwatched_queues():
            problems.append(f"queue {name} is consumed by nothing and watched by no alarm")
        for alarm in self._stack.node.find_all():
            if (
                isinstance(alarm, cloudwatch.CfnAlarm)
                and alarm.node.path.rsplit("/", 1)[0] not in self._notified
            ):
                problems.append(f"alarm {alarm.node.path} does not notify the operations topic")
        return [
            f"{problem}: it was built after {self.node.path}, which must come last in the stack"
            for problem in problems
        ]


@jsii.implements(IValidation)
class _NothingUnwatched:
    def __init__(self, operations: Operations) -> None:
        self._operations = operations

    def validate(self) -> list[str]:
        return self._operations.unwatched()


__all__ = [
    "API_MIN_REQUESTS",
    "API_P99_LATENCY_OBJECTIVE",
    "API_SERVER_ERROR_PERCENT",
    "BUSINESS_GRAPHS",
    "DASHBOARD_NAME_SUFFIX",
    "DEFAULT_SCHEDULE_GROUP",
    "EMAIL_PATTERN",
    "FUNCTION_TYPE",
    "OPERATIONS_EMAIL_PARAMETER",
    "PERIOD",
    "PERSISTENT_DATAPOINTS",
    "PERSISTENT_PERIODS",
    "QUEUE_DEPTH_METRIC",
    "REEVALUATION_METRIC",
    "SCHEDULER_FAILURE_METRICS",
    "SES_BOUNCE_RATE",
    "SES_COMPLAINT_RATE",
    "SES_PERIOD",
    "STREAM_LAG_THRESHOLD",
    "Operations",
    "business_metric",
    "lambda_metric",
    "operations_email_parameter",
    "readable_name",
]
