"""The stack walk: what `Operations` finds among the resources built before it (functions, stream
consumers, queues nothing consumes or watches, alarms), and what the guard finds again at validation, when
everything the stack will hold is there. Queries only: the alarms themselves are built in `alarms`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import IConstruct

# -- what the stack walk recognizes -------------------------------------------------------------------
FUNCTION_TYPE = "AWS::Lambda::Function"
QUEUE_DEPTH_METRIC = "ApproximateNumberOfMessagesVisible"


class StackWalk:
    """Queries over what `stack` holds at the time of each call."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    def elements(self, resource_type: str) -> list[CfnResource]:
        return [
            node
            for node in self._stack.node.find_all()
            if isinstance(node, CfnResource) and node.cfn_resource_type == resource_type
        ]

    def functions(self) -> dict[str, CfnResource]:
        """Every Lambda function of the stack, by a readable name (its path: `ApiHandler`)."""
        return {readable_name(self._stack, function): function for function in self.elements(FUNCTION_TYPE)}

    def stream_consumers(self, functions: dict[str, CfnResource]) -> list[tuple[str, CfnResource]]:
        """Each function a stream (DynamoDB, Kinesis) event source mapping invokes, once."""
        names = {self.logical_id(function): name for name, function in functions.items()}
        consumers: dict[str, tuple[str, CfnResource]] = {}
        for mapping in self.stream_mappings():
            function_id = self.referenced_id(mapping.function_name, "Ref")
            if function_id not in names:
                raise ValueError(f"{mapping.node.path} invokes no function of this stack")
            consumers[function_id] = (names[function_id], functions[names[function_id]])
        return list(consumers.values())

    def stream_mappings(self) -> list[lambda_.CfnEventSourceMapping]:
        # A starting position is what stream sources take (SQS has none); Kafka's lag is not IteratorAge.
        return [
            mapping
            for mapping in self._stack.node.find_all()
            if isinstance(mapping, lambda_.CfnEventSourceMapping)
            and mapping.starting_position is not None
            and mapping.self_managed_event_source is None
            and mapping.amazon_managed_kafka_event_source_config is None
        ]

    def unwatched_queues(self) -> list[tuple[str, sqs.CfnQueue]]:
        """Queues no event source mapping consumes (dead-letter queues, failure destinations) that no alarm
        watches yet: whatever lands there stays until someone looks."""
        consumed = self._consumed_queue_ids()
        watched = self._watched_queue_ids()
        return [
            (readable_name(self._stack, queue), queue)
            for queue in self._stack.node.find_all()
            if isinstance(queue, sqs.CfnQueue)
            and self.logical_id(queue) not in consumed
            and self.logical_id(queue) not in watched
        ]

    def _consumed_queue_ids(self) -> set[str]:
        consumed: set[str] = set()
        for mapping in self._stack.node.find_all():
            if isinstance(mapping, lambda_.CfnEventSourceMapping):
                queue_id = self.referenced_id(mapping.event_source_arn, "Arn")
                if queue_id is not None:
                    consumed.add(queue_id)
        return consumed

    def _watched_queue_ids(self) -> set[str]:
        """Queues an alarm on their depth watches (`queues.backlog_alarm`'s, or one of ours)."""
        watched: set[str] = set()
        for alarm in self._stack.node.find_all():
            if not isinstance(alarm, cloudwatch.Alarm) or not isinstance(alarm.metric, cloudwatch.Metric):
                continue
            metric = alarm.metric
            if metric.namespace != "AWS/SQS" or metric.metric_name != QUEUE_DEPTH_METRIC:
                continue
            queue_id = self.referenced_id((metric.dimensions or {}).get("QueueName"), "QueueName")
            if queue_id is not None:
                watched.add(queue_id)
        return watched

    def alarms(self) -> list[cloudwatch.Alarm]:
        alarms = [node for node in self._stack.node.find_all() if isinstance(node, cloudwatch.Alarm)]
        raw = [
            node.node.path
            for node in self._stack.node.find_all()
            if isinstance(node, cloudwatch.CfnAlarm) and not isinstance(node.node.scope, cloudwatch.Alarm)
        ]
        if raw:
            raise ValueError(f"alarms built without cloudwatch.Alarm get no action here: {raw}")
        return alarms

    def referenced_id(self, value: object, attribute: str) -> str | None:
        """The logical id of the resource a token refers to: `{"Ref": id}` for attribute "Ref", else
        `{"Fn::GetAtt": [id, attribute]}`; None for anything else (a literal, another stack's)."""
        resolved = self._stack.resolve(value)
        if not isinstance(resolved, dict):
            return None
        if attribute == "Ref":
            ref = resolved.get("Ref")
            return ref if isinstance(ref, str) else None
        target = resolved.get("Fn::GetAtt")
        if isinstance(target, list) and len(target) == 2 and target[1] == attribute:
            return str(target[0])
        return None

    def logical_id(self, element: CfnResource) -> str:
        return str(self._stack.resolve(self._stack.get_logical_id(element)))


def readable_name(stack: Stack, element: IConstruct) -> str:
    """A resource's path below the stack, as a construct id: `Api/Handler/Resource` → `ApiHandler`."""
    parts: Sequence[str] = element.node.path.split("/")[len(stack.node.path.split("/")) :]
    if parts and parts[-1] == "Resource":
        parts = parts[:-1]
    return "".join(re.sub(r"[^A-Za-z0-9]", "", part) for part in parts)
