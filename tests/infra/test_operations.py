"""Alarms that reach someone, and the dashboard (issue 13): the synthesized template, plus a small stack of
its own for what `Operations` does with whatever is built before, and after, it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from riskgate.resources import (
    API_FUNCTION,
    BUSINESS_METRICS,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
)
from tests.infra.conftest import Synthesized
from tests.infra.test_stack import riskgate_functions

pytestmark = pytest.mark.infra

DEPTH_METRIC = "ApproximateNumberOfMessagesVisible"


# --- helpers ---------------------------------------------------------------------------------------


def topic_id(synthesized: Synthesized) -> str:
    """The operations topic, as the stack's output names it."""
    ref = synthesized.template_json["Outputs"]["OperationsTopicArn"]["Value"]["Ref"]
    assert synthesized.resources("AWS::SNS::Topic")[ref]
    return str(ref)


def alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: alarm["Properties"]
        for logical_id, alarm in synthesized.resources("AWS::CloudWatch::Alarm").items()
    }


def simple_alarms_on(
    synthesized: Synthesized, namespace: str, metric_name: str, dimension: str, value: Any
) -> list[dict[str, Any]]:
    """The single-metric alarms on `namespace`/`metric_name` with `dimension` = `value`."""
    return [
        alarm
        for alarm in alarms(synthesized).values()
        if alarm.get("Namespace") == namespace
        and alarm.get("MetricName") == metric_name
        and {"Name": dimension, "Value": value} in alarm.get("Dimensions", [])
    ]


def math_alarm_metrics(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A metric-math alarm's metrics by id (`MetricStat.Metric`), and its expression under `expression`."""
    metrics = {query["Id"]: query["MetricStat"] for query in alarm["Metrics"] if "MetricStat" in query}
    [expression] = [query for query in alarm["Metrics"] if "Expression" in query]
    return {**metrics, "expression": expression}


def math_alarms_on(synthesized: Synthesized, namespace: str, metric_name: str) -> list[dict[str, Any]]:
    return [
        alarm
        for alarm in alarms(synthesized).values()
        if any(
            query.get("MetricStat", {}).get("Metric", {}).get("Namespace") == namespace
            and query["MetricStat"]["Metric"]["MetricName"] == metric_name
            for query in alarm.get("Metrics", [])
        )
    ]


def referenced_id(value: Any) -> str | None:
    """`{"Fn::GetAtt": [id, attr]}` or `{"Ref": id}` → id."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if "Ref" in value:
            return str(value["Ref"])
    return None


def dead_letter_queue_ids(synthesized: Synthesized) -> set[str]:
    """Every queue the template names as where failures go: a queue's redrive target, a function's
    dead-letter queue, an event source mapping's on-failure destination, the schedule's, a subscription's
    or a rule target's dead-letter queue."""
    template = synthesized.template_json["Resources"]
    found: set[str | None] = set()
    for resource in template.values():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::SQS::Queue" and "RedrivePolicy" in properties:
            found.add(referenced_id(properties["RedrivePolicy"]["deadLetterTargetArn"]))
        elif kind == "AWS::Lambda::Function" and "DeadLetterConfig" in properties:
            found.add(referenced_id(properties["DeadLetterConfig"]["TargetArn"]))
        elif kind == "AWS::Lambda::EventSourceMapping" and "DestinationConfig" in properties:
            found.add(referenced_id(properties["DestinationConfig"]["OnFailure"]["Destination"]))
        elif kind == "AWS::Scheduler::Schedule" and "DeadLetterConfig" in properties["Target"]:
            found.add(referenced_id(properties["Target"]["DeadLetterConfig"]["Arn"]))
        elif kind == "AWS::SNS::Subscription" and "RedrivePolicy" in properties:
            found.add(referenced_id(properties["RedrivePolicy"]["deadLetterTargetArn"]))
        elif kind == "AWS::Events::Rule":
            for target in properties.get("Targets", []):
                if "DeadLetterConfig" in target:
                    found.add(referenced_id(target["DeadLetterConfig"]["Arn"]))
    queues = synthesized.resources("AWS::SQS::Queue")
    assert None not in found
    assert found <= set(queues), found
    return {queue_id for queue_id in found if queue_id is not None}


def dashboard_body(synthesized: Synthesized) -> str:
    """The dashboard's body with every token rendered as its JSON (an alarm's ARN as its GetAtt)."""
    [dashboard] = synthesized.resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, str):
        return body
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in body["Fn::Join"][1])


# --- the topic and who it mails ----------------------------------------------------------------------


def test_the_operations_email_is_an_optional_parameter_admitting_an_address(
    synthesized: Synthesized,
) -> None:
    parameter = synthesized.template_json["Parameters"]["OperationsEmail"]

    assert parameter["Type"] == "String"
    assert parameter["Default"] == ""
    assert parameter["Description"]
    pattern = re.compile(parameter["AllowedPattern"])
    for admitted in ("", "ops@example.com", "on-call+riskgate@ops.example.co.uk"):
        assert pattern.fullmatch(admitted), admitted
    for refused in ("ops", "ops@", "@example.com", "ops@example", "two words@example.com", " "):
        assert not pattern.fullmatch(refused), refused


def test_the_address_is_subscribed_only_when_one_is_given(synthesized: Synthesized) -> None:
    [subscription] = [
        resource
        for resource in synthesized.resources("AWS::SNS::Subscription").values()
        if resource["Properties"]["Protocol"] == "email"
    ]

    assert subscription["Properties"]["TopicArn"] == {"Ref": topic_id(synthesized)}
    assert subscription["Properties"]["Endpoint"] == {"Ref": "OperationsEmail"}
    condition = synthesized.template_json["Conditions"][subscription["Condition"]]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OperationsEmail"}, ""]}]}


def test_the_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_takes_tls_only(
    synthesized: Synthesized,
) -> None:
    topic = synthesized.resources("AWS::SNS::Topic")[topic_id(synthesized)]["Properties"]
    key_id = referenced_id(topic["KmsMasterKeyId"])
    assert key_id is not None
    key = synthesized.resources("AWS::KMS::Key")[key_id]["Properties"]

    # Not the data key: CloudWatch may use this key, and only this one
    table = next(iter(synthesized.resources("AWS::DynamoDB::Table").values()))["Properties"]
    assert referenced_id(table["SSESpecification"]["KMSMasterKeyId"]) != key_id
    assert key["EnableKeyRotation"] is True
    assert any(
        statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        and set(statement["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        for statement in key["KeyPolicy"]["Statement"]
    )

    [policy] = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in synthesized.resources("AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id(synthesized)} in policy["Properties"]["Topics"]
    ]
    assert any(
        statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in policy
    )
    [cloudwatch] = [
        statement
        for statement in policy
        if statement["Effect"] == "Allow"
        and statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch["Action"] == "sns:Publish"
    # Only this account's alarms (confused-deputy protection)
    assert cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert ":alarm:*" in json.dumps(cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"])


def test_outputs_name_the_topic_and_the_dashboard(synthesized: Synthesized) -> None:
    outputs = synthesized.template_json["Outputs"]
    [dashboard] = synthesized.resources("AWS::CloudWatch::Dashboard").values()

    assert outputs["OperationsTopicArn"]["Value"] == {"Ref": topic_id(synthesized)}
    url = json.dumps(outputs["OperationsDashboardUrl"]["Value"])
    assert "console.aws.amazon.com/cloudwatch" in url
    assert dashboard["Properties"]["DashboardName"] in url


# --- every alarm reaches someone -------------------------------------------------------------------


def test_every_alarm_notifies_the_operations_topic_when_it_fires_and_when_it_clears(
    synthesized: Synthesized,
) -> None:
    topic = {"Ref": topic_id(synthesized)}
    found = alarms(synthesized)

    assert len(found) > 8  # the queues' own alarms, and the operations ones
    for logical_id, alarm in found.items():
        assert alarm["AlarmActions"] == [topic], logical_id
        assert alarm["OKActions"] == [topic], logical_id
        assert alarm["TreatMissingData"] == "notBreaching", logical_id
        assert alarm["AlarmDescription"], logical_id


def test_every_function_has_an_errors_and_a_throttles_alarm(synthesized: Synthesized) -> None:
    functions = synthesized.resources("AWS::Lambda::Function")

    assert len(functions) >= 10
    for function_id in functions:
        for metric_name in ("Errors", "Throttles"):
            [alarm] = simple_alarms_on(
                synthesized, "AWS/Lambda", metric_name, "FunctionName", {"Ref": function_id}
            )
            assert alarm["Statistic"] == "Sum"
            assert alarm["Threshold"] == 0
            assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
            # Persisting: 2 of the last 3 periods, not one blip
            assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (2, 3)


def test_every_stream_consumer_has_an_iterator_age_alarm(synthesized: Synthesized) -> None:
    stream_mappings = [
        mapping["Properties"]
        for mapping in synthesized.resources("AWS::Lambda::EventSourceMapping").values()
        if mapping["Properties"]["EventSourceArn"].get("Fn::GetAtt", [None, None])[1] == "StreamArn"
    ]

    # The evaluator, the findings retirer, the audit forwarder, the re-evaluation planner, the dispatcher
    assert len(stream_mappings) == 5
    for mapping in stream_mappings:
        [alarm] = simple_alarms_on(
            synthesized, "AWS/Lambda", "IteratorAge", "FunctionName", mapping["FunctionName"]
        )
        assert alarm["Statistic"] == "Maximum"
        # Minutes behind, well before records age out into the failure queue (12 h)
        assert 60_000 <= alarm["Threshold"] < mapping["MaximumRecordAgeInSeconds"] * 1000


def test_every_dead_letter_queue_and_every_queue_nothing_consumes_has_a_depth_alarm(
    synthesized: Synthesized,
) -> None:
    consumed = {
        referenced_id(mapping["Properties"]["EventSourceArn"])
        for mapping in synthesized.resources("AWS::Lambda::EventSourceMapping").values()
    }
    unconsumed = set(synthesized.resources("AWS::SQS::Queue")) - consumed
    dead_letter_queues = dead_letter_queue_ids(synthesized)

    # The stream consumers' failure and poison queues, the work queues' dead letters (the registry-work
    # queue's among them), the expiry runs'
    assert len(dead_letter_queues) == 15
    assert dead_letter_queues <= unconsumed
    for queue_id in dead_letter_queues | unconsumed:
        [alarm] = simple_alarms_on(
            synthesized, "AWS/SQS", DEPTH_METRIC, "QueueName", {"Fn::GetAtt": [queue_id, "QueueName"]}
        )
        assert alarm["Statistic"] == "Maximum"
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["EvaluationPeriods"] == 1  # the first message is enough


def test_the_api_5xx_rate_alarm_ignores_quiet_periods(synthesized: Synthesized) -> None:
    [stage_id] = synthesized.resources("AWS::ApiGateway::Stage")
    [alarm] = math_alarms_on(synthesized, "AWS/ApiGateway", "5XXError")
    metrics = math_alarm_metrics(alarm)

    expression = metrics["expression"]["Expression"]
    by_name = {
        stat["Metric"]["MetricName"]: (metric_id, stat)
        for metric_id, stat in metrics.items()
        if metric_id != "expression"
    }
    assert set(by_name) == {"5XXError", "Count"}
    errors_id, errors = by_name["5XXError"]
    requests_id, requests = by_name["Count"]
    for stat in (errors, requests):
        assert stat["Stat"] == "Sum"
        assert {"Name": "Stage", "Value": {"Ref": stage_id}} in stat["Metric"]["Dimensions"]
    # A percentage of requests, and 0 below a minimum number of requests
    assert f"100 * {errors_id} / {requests_id}" in expression
    minimum = int(re.search(rf"{requests_id} >= (\d+)", expression).group(1))  # type: ignore[union-attr]
    assert minimum >= 10
    assert alarm["Threshold"] == 5
    assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (2, 3)


def test_the_api_p99_latency_alarm_fires_before_api_gateway_cuts_requests(synthesized: Synthesized) -> None:
    [alarm] = math_alarms_on(synthesized, "AWS/ApiGateway", "Latency")
    metrics = math_alarm_metrics(alarm)

    [latency] = [stat for stat in metrics.values() if stat.get("Metric", {}).get("MetricName") == "Latency"]
    assert latency["Stat"] == "p99"
    assert "IF(" in metrics["expression"]["Expression"]  # quiet periods do not count
    assert 1000 <= alarm["Threshold"] < API_FUNCTION.timeout_seconds * 1000


def test_the_schedules_failures_are_alarmed(synthesized: Synthesized) -> None:
    # The expiry checker's and the registry sync's schedules share one group, which the alarm watches.
    [group] = {
        schedule["Properties"].get("GroupName", "default")
        for schedule in synthesized.resources("AWS::Scheduler::Schedule").values()
    }
    [alarm] = math_alarms_on(synthesized, "AWS/Scheduler", "TargetErrorCount")
    metrics = math_alarm_metrics(alarm)

    names = {stat["Metric"]["MetricName"] for key, stat in metrics.items() if key != "expression"}
    assert {"TargetErrorCount", "InvocationDroppedCount"} <= names
    for key, stat in metrics.items():
        if key != "expression":
            assert stat["Metric"]["Dimensions"] == [{"Name": "ScheduleGroup", "Value": group}]
            assert stat["Stat"] == "Sum"
    assert alarm["Threshold"] == 0
    assert alarm["EvaluationPeriods"] == 1


@pytest.mark.parametrize(
    ("metric_name", "threshold"),
    [("Reputation.BounceRate", 0.05), ("Reputation.ComplaintRate", 0.001)],
)
def test_ses_reputation_is_alarmed(synthesized: Synthesized, metric_name: str, threshold: float) -> None:
    [alarm] = [
        alarm
        for alarm in alarms(synthesized).values()
        if alarm.get("Namespace") == "AWS/SES" and alarm.get("MetricName") == metric_name
    ]

    assert alarm["Threshold"] == threshold
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert "Dimensions" not in alarm  # the account's reputation in the region


# --- the dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_draws_every_business_metric_as_the_functions_emit_it(synthesized: Synthesized) -> None:
    body = dashboard_body(synthesized)

    for metric_name in BUSINESS_METRICS:
        assert f'"{METRICS_NAMESPACE}","{metric_name}","service","{METRICS_SERVICE}"' in body, metric_name


def test_the_functions_emit_business_metrics_where_the_dashboard_reads_them(synthesized: Synthesized) -> None:
    for logical_id, function in riskgate_functions(synthesized).items():
        environment = function["Properties"]["Environment"]["Variables"]
        assert environment["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE, logical_id
        assert environment["POWERTOOLS_SERVICE_NAME"] == METRICS_SERVICE, logical_id


def test_the_dashboard_shows_the_api_the_functions_the_reevaluation_queue_and_every_alarm(
    synthesized: Synthesized,
) -> None:
    body = dashboard_body(synthesized)

    for api_metric in ("Count", "4XXError", "5XXError", "Latency"):
        assert f'"AWS/ApiGateway","{api_metric}"' in body, api_metric
    assert '"p50"' in body
    assert '"p99"' in body
    for function_id in synthesized.resources("AWS::Lambda::Function"):
        assert json.dumps({"Ref": function_id}) in body, function_id
    [work_queue_id] = [
        queue_id
        for queue_id in synthesized.resources("AWS::SQS::Queue")
        if queue_id.startswith("ReevaluationWork")
    ]
    assert json.dumps({"Fn::GetAtt": [work_queue_id, "QueueName"]}) in body
    for alarm_id in alarms(synthesized):
        assert json.dumps({"Fn::GetAtt": [alarm_id, "Arn"]}) in body, alarm_id


# --- what is built before Operations is watched, what is built after it is refused ------------------


def small_stack(*, function_after: bool) -> Any:
    """A stack with the parts `Operations` needs, a function and a queue nothing consumes built before
    it (and, with `function_after`, a function built after it)."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_apigateway as apigw
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_scheduler as scheduler
    from aws_cdk import aws_sqs as sqs

    from riskgate_infra.constructs.operations import Operations, operations_email_parameter
    from riskgate_infra.constructs.queues import backlog_alarm

    def function(stack: Stack, construct_id: str) -> lambda_.Function:
        return lambda_.Function(
            stack,
            construct_id,
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
        )

    app = App()
    stack = Stack(app, "Small")
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("GET", apigw.MockIntegration())
    work = sqs.Queue(stack, "Work")
    sqs.Queue(stack, "Failures")
    already = sqs.Queue(stack, "Alarmed")
    backlog_alarm(stack, "AlarmedAlarm", queue=already, description="made elsewhere")
    schedule = scheduler.CfnSchedule(
        stack,
        "Schedule",
        schedule_expression="rate(5 minutes)",
        flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
        target=scheduler.CfnSchedule.TargetProperty(arn="arn:aws:lambda:x", role_arn="arn:aws:iam::1:role/x"),
    )
    function(stack, "Before")
    Operations(
        stack,
        "Operations",
        email=operations_email_parameter(stack),
        api=api,
        reevaluation_queue=work,
        expiry_schedule=schedule,
    )
    if function_after:
        function(stack, "After")
    return app, stack


def test_what_is_built_before_operations_is_alarmed_and_notifies() -> None:
    from aws_cdk.assertions import Template

    _, stack = small_stack(function_after=False)
    template = Template.from_stack(stack)

    functions = template.find_resources("AWS::Lambda::Function")
    [function_id] = functions
    for metric_name in ("Errors", "Throttles"):
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {
                "MetricName": metric_name,
                "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function_id}}],
            },
        )
    # The queues nothing consumes: one alarm each, the one made elsewhere kept (and given the action)
    for queue_id in template.find_resources("AWS::SQS::Queue"):
        matching = template.find_resources(
            "AWS::CloudWatch::Alarm",
            {
                "Properties": {
                    "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
                }
            },
        )
        assert len(matching) == 1, queue_id
    # Every alarm, whoever made it, notifies the topic
    [topic_id] = template.find_resources("AWS::SNS::Topic")
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]


def test_a_function_built_after_operations_fails_synthesis() -> None:
    app, _ = small_stack(function_after=True)

    with pytest.raises(
        Exception, match=r"function Small/After/Resource has no Errors / Throttles alarm.*must come last"
    ):
        app.synth()
