"""The operations dashboard: business figures (every `riskgate.resources.BUSINESS_METRICS` name, once),
re-evaluation progress, the API, the functions, and every alarm's state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aws_cdk import CfnResource, Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from riskgate.resources import (
    BUSINESS_METRICS,
    METRIC_ACCEPTANCES_CREATED,
    METRIC_ACCEPTANCES_EXPIRED,
    METRIC_ACCEPTANCES_REVOKED,
    METRIC_FINDINGS_ACCEPTED,
    METRIC_FINDINGS_STORED,
    METRIC_IMAGES_REEVALUATED,
    METRIC_NOTIFICATIONS_FAILED,
    METRIC_NOTIFICATIONS_SENT,
    METRIC_REGISTRY_EVENTS_IGNORED,
    METRIC_REGISTRY_PULLS_FAILED,
    METRIC_REGISTRY_SCANS_IMPORTED,
    METRIC_SCANS_INGESTED,
    METRIC_VERDICT_COMPLIANT,
    METRIC_VERDICT_NON_COMPLIANT,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
)
from riskgate_infra.constructs.operations.alarms import (
    API_P99_LATENCY_OBJECTIVE,
    API_SERVER_ERROR_PERCENT,
    PERIOD,
    STREAM_LAG_THRESHOLD,
    lambda_metric,
)

# -- the dashboard ----------------------------------------------------------------------------------
DASHBOARD_NAME_SUFFIX = "-operations"
# Each business graph: title, then (metric, label) in the order drawn. Every BUSINESS_METRICS name must
# appear exactly once (checked when the dashboard is built).
BUSINESS_GRAPHS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Scans ingested", ((METRIC_SCANS_INGESTED, "scans"), (METRIC_FINDINGS_STORED, "findings stored"))),
    (
        "Verdicts by status",
        ((METRIC_VERDICT_COMPLIANT, "compliant"), (METRIC_VERDICT_NON_COMPLIANT, "non-compliant")),
    ),
    ("Findings accepted", ((METRIC_FINDINGS_ACCEPTED, "findings counted as accepted"),)),
    (
        "Risk acceptances",
        (
            (METRIC_ACCEPTANCES_CREATED, "created"),
            (METRIC_ACCEPTANCES_EXPIRED, "expired"),
            (METRIC_ACCEPTANCES_REVOKED, "revoked"),
        ),
    ),
    (
        "Notifications",
        ((METRIC_NOTIFICATIONS_SENT, "sent"), (METRIC_NOTIFICATIONS_FAILED, "failed attempts")),
    ),
    (
        "Registry ingestion",
        (
            (METRIC_REGISTRY_SCANS_IMPORTED, "scans imported"),
            (METRIC_REGISTRY_EVENTS_IGNORED, "events ignored"),
            (METRIC_REGISTRY_PULLS_FAILED, "pulls failed"),
        ),
    ),
)
# Re-evaluation progress has a graph of its own (images judged again, and the work queue's depth).
REEVALUATION_METRIC = METRIC_IMAGES_REEVALUATED


def business_metric(name: str, label: str) -> cloudwatch.Metric:
    """A business figure as the functions emit it (Powertools Metrics, EMF): namespace, `service`."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": METRICS_SERVICE},
        statistic=cloudwatch.Stats.SUM,
        period=PERIOD,
        label=label,
    )


def operations_dashboard(
    scope: Construct,
    *,
    dashboard_name: str,
    reevaluation_queue: sqs.IQueue,
    stage: apigw.Stage,
    api_error_rate: cloudwatch.IMetric,
    functions: Iterable[tuple[str, CfnResource]],
    stream_consumers: Iterable[tuple[str, CfnResource]],
    alarms: Sequence[cloudwatch.IAlarm],
) -> cloudwatch.Dashboard:
    """The dashboard, built in `scope` (the `Operations` construct). `api_error_rate` is the 5xx alarm's
    metric (graphed as alarmed); `functions` and `stream_consumers` what the stack walk found; `alarms`
    every alarm of the stack, for the status widget."""
    placed = [name for _, metrics in BUSINESS_GRAPHS for name, _ in metrics] + [REEVALUATION_METRIC]
    if sorted(placed) != sorted(BUSINESS_METRICS):
        raise ValueError(
            f"the dashboard must draw every business metric once: draws {sorted(placed)}, "
            f"riskgate.resources.BUSINESS_METRICS has {sorted(BUSINESS_METRICS)}"
        )
    dashboard = cloudwatch.Dashboard(
        scope,
        "Dashboard",
        dashboard_name=dashboard_name,
        default_interval=Duration.days(1),
    )
    business = [
        cloudwatch.GraphWidget(
            title=title,
            left=[business_metric(name, label) for name, label in metrics],
            width=8,
            height=6,
        )
        for title, metrics in BUSINESS_GRAPHS
    ]
    reevaluation = cloudwatch.GraphWidget(
        title="Re-evaluation progress",
        left=[business_metric(REEVALUATION_METRIC, "images judged again")],
        right=[
            reevaluation_queue.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM, label="chunks waiting"
            ),
            reevaluation_queue.metric_approximate_number_of_messages_not_visible(
                period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM, label="chunks in progress"
            ),
        ],
        width=8,
        height=6,
    )
    dashboard.add_widgets(
        cloudwatch.TextWidget(
            markdown=(
                "# Riskgate operations\nBusiness figures (per 5 minutes), the API, the functions, "
                "every alarm. What each alarm means and what to do: `docs/operations.md`."
            ),
            width=24,
            height=2,
        )
    )
    dashboard.add_widgets(*business[:3])
    dashboard.add_widgets(*business[3:], reevaluation)
    dashboard.add_widgets(*_api_widgets(stage, api_error_rate))
    dashboard.add_widgets(*_function_widgets(functions, stream_consumers))
    dashboard.add_widgets(
        cloudwatch.AlarmStatusWidget(
            title="Alarms",
            alarms=list(alarms),
            sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
            width=24,
            height=8,
        )
    )
    return dashboard


def _api_widgets(stage: apigw.Stage, error_rate_metric: cloudwatch.IMetric) -> list[cloudwatch.IWidget]:
    def stage_metric(metric: cloudwatch.Metric, label: str) -> cloudwatch.Metric:
        return metric.with_(label=label)

    requests = cloudwatch.GraphWidget(
        title="API requests and errors",
        left=[
            stage_metric(stage.metric_count(period=PERIOD, statistic=cloudwatch.Stats.SUM), "requests"),
            stage_metric(stage.metric_client_error(period=PERIOD, statistic=cloudwatch.Stats.SUM), "4xx"),
            stage_metric(stage.metric_server_error(period=PERIOD, statistic=cloudwatch.Stats.SUM), "5xx"),
        ],
        width=8,
        height=6,
    )
    latency = cloudwatch.GraphWidget(
        title="API latency",
        left=[
            stage_metric(stage.metric_latency(period=PERIOD, statistic=cloudwatch.Stats.p(50)), "p50"),
            stage_metric(stage.metric_latency(period=PERIOD, statistic=cloudwatch.Stats.p(99)), "p99"),
        ],
        left_annotations=[
            cloudwatch.HorizontalAnnotation(
                value=API_P99_LATENCY_OBJECTIVE.to_milliseconds(), label="p99 objective"
            )
        ],
        left_y_axis=cloudwatch.YAxisProps(label="ms", show_units=False),
        width=8,
        height=6,
    )
    error_rate = cloudwatch.GraphWidget(
        title="API 5xx rate (alarmed)",
        left=[error_rate_metric],
        left_annotations=[
            cloudwatch.HorizontalAnnotation(value=API_SERVER_ERROR_PERCENT, label="alarm threshold")
        ],
        left_y_axis=cloudwatch.YAxisProps(label="%", show_units=False),
        width=8,
        height=6,
    )
    return [requests, latency, error_rate]


def _function_widgets(
    functions: Iterable[tuple[str, CfnResource]], stream_consumers: Iterable[tuple[str, CfnResource]]
) -> list[cloudwatch.IWidget]:
    def per_function(
        metric_name: str, statistic: str, functions: Iterable[tuple[str, CfnResource]]
    ) -> list[cloudwatch.IMetric]:
        return [
            lambda_metric(metric_name, function.ref, statistic=statistic).with_(label=name)
            for name, function in functions
        ]

    ordered = sorted(functions)
    return [
        cloudwatch.GraphWidget(
            title="Function errors",
            left=per_function("Errors", cloudwatch.Stats.SUM, ordered),
            width=8,
            height=6,
        ),
        cloudwatch.GraphWidget(
            title="Function throttles",
            left=per_function("Throttles", cloudwatch.Stats.SUM, ordered),
            width=8,
            height=6,
        ),
        cloudwatch.GraphWidget(
            title="Stream consumers' lag (iterator age, max)",
            left=per_function("IteratorAge", cloudwatch.Stats.MAXIMUM, stream_consumers),
            left_annotations=[
                cloudwatch.HorizontalAnnotation(
                    value=STREAM_LAG_THRESHOLD.to_milliseconds(), label="alarm threshold"
                )
            ],
            width=8,
            height=6,
        ),
    ]
