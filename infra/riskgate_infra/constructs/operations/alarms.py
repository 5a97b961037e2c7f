"""The alarms `Operations` builds (in its own scope, so their paths stay below it): on what no construct
alarms itself (the API, the expiry schedule, SES reputation) and on what the stack walk finds (each
function's Errors and Throttles, each stream consumer's IteratorAge, each queue nothing consumes or
watches). docs/operations.md says, for each, its threshold and what to do.

Two kinds of alarm:
- failures that are there to stay (a message in a dead-letter queue, an invocation the scheduler
  dropped, an SES reputation over its limit) fire on the first datapoint that shows them;
- rates (errors, throttles, 5xx, latency, stream lag) fire when they hold in `PERSISTENT_DATAPOINTS` of
  the last `PERSISTENT_PERIODS` periods: one blip at night does not page, a lasting problem does within
  ten minutes.
Missing data never breaches: an idle service is a quiet one.
"""

from __future__ import annotations

from aws_cdk import CfnResource, Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from riskgate.resources import API_FUNCTION
from riskgate_infra.constructs.operations.walk import QUEUE_DEPTH_METRIC
from riskgate_infra.constructs.queues import BACKLOG_PERIOD

# -- thresholds (docs/operations.md says why, and what to do) ----------------------------------------
PERIOD = Duration.minutes(5)
PERSISTENT_PERIODS = 3
PERSISTENT_DATAPOINTS = 2
# Below this many requests in a period neither the 5xx rate nor the p99 means anything: the alarms treat
# the period as fine (one 5xx among three requests at night does not page).
API_MIN_REQUESTS = 20
API_SERVER_ERROR_PERCENT = 5
# The API's latency objective: p99 within 10 s. Measured: a 3.8 MB report is ingested in under 2 s
# (docs/performance.md), everything else reads a few items; API Gateway cuts requests at 29 s (the API
# function's timeout), which the 5xx alarm sees as 504s.
API_P99_LATENCY_OBJECTIVE = Duration.seconds(10)
# A stream consumer this far behind leaves images with stale verdicts (or audit events unforwarded);
# well below MAX_RECORD_AGE (12 h), after which records go to the failure queue instead.
STREAM_LAG_THRESHOLD = Duration.minutes(10)
# SES puts an account under review at a 10 % bounce rate (0.5 % complaints); AWS advises staying under
# 5 % and 0.1 %. Reputation metrics are ratios (0.05 = 5 %) that SES updates over hours, not minutes.
SES_BOUNCE_RATE = 0.05
SES_COMPLAINT_RATE = 0.001
SES_PERIOD = Duration.hours(1)
# EventBridge Scheduler's schedules of this stack live in the default group (expiry.py).
DEFAULT_SCHEDULE_GROUP = "default"
SCHEDULER_FAILURE_METRICS = {
    "targetErrors": "TargetErrorCount",
    "dropped": "InvocationDroppedCount",
    "lostDeadLetters": "InvocationsFailedToBeSentToDeadLetterCount",
}

# -- alarms named here ------------------------------------------------------------------------------


def api_alarms(scope: Construct, stage: apigw.Stage) -> list[cloudwatch.Alarm]:
    """The API stage's 5xx rate first (the dashboard graphs that alarm's metric), then its p99 latency."""
    requests = stage.metric_count(period=PERIOD, statistic=cloudwatch.Stats.SUM)
    server_errors = stage.metric_server_error(period=PERIOD, statistic=cloudwatch.Stats.SUM)
    latency = stage.metric_latency(period=PERIOD, statistic=cloudwatch.Stats.p(99))
    error_rate = cloudwatch.MathExpression(
        expression=f"IF(requests >= {API_MIN_REQUESTS}, 100 * errors / requests, 0)",
        using_metrics={"requests": requests, "errors": server_errors},
        period=PERIOD,
        label="5xx, % of requests",
    )
    p99 = cloudwatch.MathExpression(
        expression=f"IF(requests >= {API_MIN_REQUESTS}, latency, 0)",
        using_metrics={"requests": requests, "latency": latency},
        period=PERIOD,
        label="p99 latency (ms)",
    )
    return [
        persistent_alarm(
            scope,
            "ApiServerErrorRate",
            metric=error_rate,
            threshold=API_SERVER_ERROR_PERCENT,
            description=(
                f"Riskgate API: over {API_SERVER_ERROR_PERCENT} % of requests answered 5xx (periods "
                f"of at least {API_MIN_REQUESTS} requests). Pipelines fail; see the api function's "
                "errors and the access log."
            ),
        ),
        persistent_alarm(
            scope,
            "ApiLatencyP99",
            metric=p99,
            threshold=API_P99_LATENCY_OBJECTIVE.to_milliseconds(),
            description=(
                f"Riskgate API: p99 latency over {int(API_P99_LATENCY_OBJECTIVE.to_seconds())} s "
                f"(the objective; API Gateway cuts at {API_FUNCTION.timeout_seconds} s). Look for "
                "DynamoDB throttling, a slow route in X-Ray, large reports posted directly."
            ),
        ),
    ]


def schedule_alarm(scope: Construct, group: str) -> cloudwatch.Alarm:
    metrics = {
        metric_id: cloudwatch.Metric(
            namespace="AWS/Scheduler",
            metric_name=name,
            dimensions_map={"ScheduleGroup": group},
            statistic=cloudwatch.Stats.SUM,
            period=PERIOD,
        )
        for metric_id, name in SCHEDULER_FAILURE_METRICS.items()
    }
    failures = cloudwatch.MathExpression(
        expression=f"SUM([{', '.join(metrics)}])",
        using_metrics=dict(metrics),
        period=PERIOD,
        label="failed or dropped invocations",
    )
    return first_failure_alarm(
        scope,
        "ExpiryScheduleFailures",
        metric=failures,
        threshold=0,
        description=(
            "Riskgate: EventBridge Scheduler could not invoke the expiry checker or put the daily "
            "registry sync on its queue (target errors, invocations dropped, or not even delivered to the "
            "dead-letter queue). Acceptances past their end stay in force until a run succeeds; registry "
            f"scans missed by events wait for the next sync. Schedule group `{group}`."
        ),
    )


def ses_alarms(scope: Construct) -> list[cloudwatch.Alarm]:
    def reputation(name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/SES",
            metric_name=name,
            statistic=cloudwatch.Stats.MAXIMUM,
            period=SES_PERIOD,
        )

    return [
        first_failure_alarm(
            scope,
            "SesBounceRate",
            metric=reputation("Reputation.BounceRate"),
            threshold=SES_BOUNCE_RATE,
            description=(
                f"SES (this account and region): bounce rate over {SES_BOUNCE_RATE * 100:g} %; at "
                "10 % SES reviews the account and may stop sending. Check e-mail integrations' "
                "recipients."
            ),
        ),
        first_failure_alarm(
            scope,
            "SesComplaintRate",
            metric=reputation("Reputation.ComplaintRate"),
            threshold=SES_COMPLAINT_RATE,
            description=(
                f"SES (this account and region): complaint rate over {SES_COMPLAINT_RATE * 100:g} %; "
                "at 0.5 % SES reviews the account. Check which response policies mail whom, and how "
                "often."
            ),
        ),
    ]


# -- alarms on what the walk finds ----------------------------------------------------------------


def function_alarms(scope: Construct, name: str, function: CfnResource) -> list[cloudwatch.Alarm]:
    return [
        persistent_alarm(
            scope,
            f"{name}Errors",
            metric=lambda_metric("Errors", function.ref),
            threshold=0,
            description=(
                f"Riskgate {name}: invocations failing (unhandled errors or timeouts). Its log group "
                "says why; stream and queue consumers retry, then dead-letter (their own alarms)."
            ),
        ),
        persistent_alarm(
            scope,
            f"{name}Throttles",
            metric=lambda_metric("Throttles", function.ref),
            threshold=0,
            description=(
                f"Riskgate {name}: invocations throttled; the account's (or region's) Lambda "
                "concurrency is exhausted. Raise the quota or find what is using it."
            ),
        ),
    ]


def stream_alarm(scope: Construct, name: str, function: CfnResource) -> cloudwatch.Alarm:
    return persistent_alarm(
        scope,
        f"{name}IteratorAge",
        metric=lambda_metric("IteratorAge", function.ref, statistic=cloudwatch.Stats.MAXIMUM),
        threshold=STREAM_LAG_THRESHOLD.to_milliseconds(),
        description=(
            f"Riskgate {name}: its stream records wait over "
            f"{int(STREAM_LAG_THRESHOLD.to_minutes())} minutes (a batch retrying, errors, throttles). "
            "What it produces (verdicts, audit events, notifications, re-evaluations) is late."
        ),
    )


def queue_alarm(scope: Construct, name: str, queue: sqs.CfnQueue) -> cloudwatch.Alarm:
    # What `queues.backlog_alarm` watches, for a queue built without one.
    return first_failure_alarm(
        scope,
        f"{name}Depth",
        metric=cloudwatch.Metric(
            namespace="AWS/SQS",
            metric_name=QUEUE_DEPTH_METRIC,
            dimensions_map={"QueueName": queue.attr_queue_name},
            statistic=cloudwatch.Stats.MAXIMUM,
            period=BACKLOG_PERIOD,
        ),
        threshold=0,
        description=(
            f"Riskgate {name}: messages wait in a queue nothing consumes (the last of a failure chain: "
            "what a replay of failed records kept failing on). Read them, fix the cause, replay."
        ),
    )


# -- alarm shapes -------------------------------------------------------------------------------------


def persistent_alarm(
    scope: Construct, construct_id: str, *, metric: cloudwatch.IMetric, threshold: float, description: str
) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=PERSISTENT_PERIODS,
        datapoints_to_alarm=PERSISTENT_DATAPOINTS,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def first_failure_alarm(
    scope: Construct, construct_id: str, *, metric: cloudwatch.IMetric, threshold: float, description: str
) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def lambda_metric(
    name: str, function_name: str, *, statistic: str = cloudwatch.Stats.SUM
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/Lambda",
        metric_name=name,
        dimensions_map={"FunctionName": function_name},
        statistic=statistic,
        period=PERIOD,
    )
