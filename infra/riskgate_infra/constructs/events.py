"""The topic Riskgate announces domain events on (an image's status changed, ...)."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct


class EventsTopic(Construct):
    """Encrypted with the data key (events name images and findings); publishing requires TLS."""

    def __init__(self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="Riskgate events",
            master_key=encryption_key,
            enforce_ssl=True,
        )
