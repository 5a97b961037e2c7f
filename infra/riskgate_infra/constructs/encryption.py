"""The customer-managed key for Riskgate's data at rest."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct


class DataKey(Construct):
    """One symmetric KMS key, rotated yearly, for the table and the events topic.

    A key of our own (rather than the AWS-managed one) lets operators audit and restrict every use of the
    data in CloudTrail and the key policy. It is retained with the table: deleting it would make the
    retained table, and its point-in-time backups, unreadable.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Riskgate data at rest: the DynamoDB table (and its stream) and the events topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
