"""The single DynamoDB table, built from `riskgate.resources.TABLE`."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from riskgate.resources import TableSpec

ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


class RiskgateTable(Construct):
    """Keys, indexes, TTL and stream come from the shared spec, the one the local stack and tests use."""

    def __init__(
        self, scope: Construct, construct_id: str, *, spec: TableSpec, encryption_key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)

        def attribute(name: str) -> dynamodb.Attribute:
            # The spec lists only the exceptions; every other key attribute is a string.
            return dynamodb.Attribute(name=name, type=ATTRIBUTE_TYPES[spec.attribute_types.get(name, "S")])

        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=attribute(spec.keys.partition_key),
            sort_key=attribute(spec.keys.sort_key),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=encryption_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            stream=dynamodb.StreamViewType[spec.stream_view_type],
            time_to_live_attribute=spec.ttl_attribute,
            # Years of scan history and the audit trail live here: never lost to a stack deletion.
            removal_policy=RemovalPolicy.RETAIN,
            deletion_protection=True,
        )
        for index in spec.indexes:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=attribute(index.keys.partition_key),
                sort_key=attribute(index.keys.sort_key),
                projection_type=dynamodb.ProjectionType.ALL,
            )
