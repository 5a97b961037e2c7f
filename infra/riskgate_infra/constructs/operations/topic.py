"""The operations topic every alarm notifies: its own key, TLS only, CloudWatch let in by name, and the
`OperationsEmail` stack parameter with the e-mail subscription it makes (only when an address is given)."""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnCondition, CfnParameter, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from riskgate_infra.nag import acknowledge

# -- the stack parameter ----------------------------------------------------------------------------
OPERATIONS_EMAIL_PARAMETER = "OperationsEmail"
# Empty (no subscription) or something shaped like an address; SES-grade validation is SNS's business
# (it mails a confirmation link the recipient must follow).
EMAIL_PATTERN = r"^$|^[^\s@]+@[^\s@]+\.[^\s@]+$"


def operations_email_parameter(scope: Stack) -> CfnParameter:
    """The stack parameter `OperationsEmail`: who the alarms mail (empty: nobody, subscribe later)."""
    return CfnParameter(
        scope,
        OPERATIONS_EMAIL_PARAMETER,
        type="String",
        default="",
        allowed_pattern=EMAIL_PATTERN,
        constraint_description="an e-mail address, or empty for no subscription",
        description=(
            "E-mail address subscribed to the operations topic, which every alarm notifies (SNS mails a "
            "confirmation link first). Empty: no subscription; subscribe to the topic output instead."
        ),
    )


def operations_topic(scope: Construct, email: CfnParameter) -> sns.Topic:
    """The topic, built in `scope` (the `Operations` construct, whose paths the resources keep).

    Encrypted with a key of its own: CloudWatch must be allowed to use the key to publish, which the
    data key's policy should not grant (alarm messages carry alarm names and figures, no data)."""
    stack = Stack.of(scope)
    key = kms.Key(
        scope,
        "TopicKey",
        description="Riskgate operations topic (alarm notifications)",
        enable_key_rotation=True,
        # Nothing encrypted with it outlives the topic (SNS keeps no messages).
        removal_policy=RemovalPolicy.DESTROY,
    )
    # What CloudWatch needs to publish to a topic encrypted with the key (AWS's documented statement);
    # who may publish at all is the topic policy's business, below.
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
        )
    )
    topic = sns.Topic(
        scope,
        "Topic",
        display_name="Riskgate alarms",
        master_key=key,
        enforce_ssl=True,
    )
    # The topic policy CDK writes (TLS only) replaces SNS's default one: CloudWatch is let in by name,
    # for this account's alarms in this region only.
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                },
            },
        )
    )

    given = CfnCondition(
        scope,
        "EmailGiven",
        expression=Fn.condition_not(Fn.condition_equals(email.value_as_string, "")),
    )
    subscription = sns.CfnSubscription(
        scope,
        "EmailSubscription",
        topic_arn=topic.topic_arn,
        protocol="email",
        endpoint=email.value_as_string,
    )
    subscription.cfn_options.condition = given
    acknowledge(
        subscription,
        "Serverless-SNSRedrivePolicy",
        "An alarm e-mail SNS cannot deliver has nothing to replay: the alarm's state stays on the "
        "dashboard's alarm widget and in the CloudWatch console, and a dead-letter queue's own alarm "
        "would notify this same topic.",
    )
    return topic
