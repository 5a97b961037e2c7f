"""cdk-nag wiring: the rule packs the app must pass, and the one way to acknowledge a rule.

cdk-nag 3 runs as a CDK policy-validation plugin at synthesis: its findings go to the cloud assembly's
validation report (not to construct annotations), and an unacknowledged error fails synthesis.
An acknowledgment applies to the construct it is made on and to everything below it; rules that report
several findings (IAM5's wildcards) are acknowledged finding by finding, `Rule[Finding]`.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def add_rule_packs(scope: IConstruct) -> None:
    # verbose: the report then explains each rule, not just names it.
    Validations.of(scope).add_plugins(
        AwsSolutionsChecks(scope, verbose=True), ServerlessChecks(scope, verbose=True)
    )


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def resource_token(scope: IConstruct, element: IConstruct | None, attribute: str = "Arn") -> str:
    """How cdk-nag names a resource attribute inside an IAM5 finding, e.g. `<TableCD117FA1.Arn>`."""
    if not isinstance(element, CfnElement):
        raise TypeError(f"expected a CloudFormation element, got {element!r}")
    stack = Stack.of(scope)
    logical_id = stack.resolve(stack.get_logical_id(element))
    return f"<{logical_id}.{attribute}>"


def acknowledge_table_grant(role: IConstruct, table: dynamodb.Table, *, writes: bool) -> None:
    """The wildcards CDK's `grant_read_data` / `grant_read_write_data` put in a function's policy."""
    acknowledge(
        role,
        f"AwsSolutions-IAM5[Resource::{resource_token(role, table.node.default_child)}/index/*]",
        "The function queries the table's global secondary indexes (gsi1..gsi3 of riskgate.resources.TABLE); "
        "the wildcard names this table's indexes only.",
    )
    if writes:
        for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Action::{action}]",
                "Writing to data encrypted with the data key needs its data-key actions "
                "(GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom/To); the statement's "
                "resource is that one key.",
            )
