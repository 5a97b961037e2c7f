"""The one place that decides how a Riskgate Lambda function is built."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Size
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from riskgate.resources import METRICS_NAMESPACE, METRICS_SERVICE, FunctionSpec
from riskgate_infra.nag import acknowledge, acknowledge_table_grant
from riskgate_infra.paths import FUNCTIONS_DIR
from riskgate_infra.runtime import ARCHITECTURE as ARCHITECTURE_NAME
from riskgate_infra.runtime import PYTHON_VERSION
from riskgate_infra.settings import Settings

# Derived from the version the layer is built for; fails loudly if aws-cdk-lib does not know it.
RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, "PYTHON_" + PYTHON_VERSION.replace(".", "_"))
ARCHITECTURE = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}[
    ARCHITECTURE_NAME
]

# The code asset is `functions/` (the `riskgate` package at its root, as Lambda imports it); local
# by-products must not change the asset hash or ship.
CODE_EXCLUDES = [
    "**/__pycache__",
    "**/*.pyc",
    "*.egg-info",
    "**/.mypy_cache",
    "**/.pytest_cache",
    "**/.ruff_cache",
]


class LambdaFactory:
    """Lambda defaults: runtime, arm64, shared code and layer, JSON logs to a log group with retention,
    X-Ray, the common environment, and a role of its own holding only what grants add (the table's
    among them, when the function is given it).

    The role is created here rather than by `lambda_.Function` so it carries no AWS-managed policy
    (AWSLambdaBasicExecutionRole allows writing to any log group): the function may write to its
    own log group, nothing else until a construct grants it.
    """

    def __init__(
        self, *, layer: lambda_.ILayerVersion, environment: Mapping[str, str], settings: Settings
    ) -> None:
        self._code = lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=CODE_EXCLUDES)
        self._layer = layer
        self._settings = settings
        self._environment = {
            # Powertools Metrics emits the business figures (EMF) in this namespace, with the dimension
            # `service` = the service name: what the operations dashboard graphs.
            "POWERTOOLS_SERVICE_NAME": METRICS_SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": settings.log_level,
            **environment,
        }

    @staticmethod
    def role_of(function: lambda_.Function) -> iam.IRole:
        """The role `create` gave the function (never None for a function of this factory)."""
        if function.role is None:
            raise ValueError(f"{function.node.path} has no role")
        return function.role

    def create(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        description: str,
        environment: Mapping[str, str] | None = None,
        ephemeral_storage_mb: int | None = None,
        table: dynamodb.Table | None = None,
        table_writes: bool = True,
    ) -> lambda_.Function:
        """A function with the project's defaults; handler, memory and timeout from `spec`; /tmp of
        `ephemeral_storage_mb` (Lambda's default, 512 MB, when None).

        With `table`, the function may read it and its indexes (and write it, unless `table_writes` is
        False), with the data key's actions that takes; the wildcards of that grant are acknowledged.
        Its resources are `construct_id` and `<construct_id>Logs`, `<construct_id>Role` beside it in
        `scope`."""
        handler = spec.handler
        log_group = logs.LogGroup(scope, f"{construct_id}Logs", retention=self._settings.retention)
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Riskgate {construct_id} function ({handler})",
        )
        log_group.grant_write(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no "
            "resource-level permissions (AWS documents `*` as their only resource).",
        )
        function = lambda_.Function(
            scope,
            construct_id,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self._code,
            handler=handler,
            description=description,
            layers=[self._layer],
            role=role,
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_seconds),
            ephemeral_storage_size=(
                Size.mebibytes(ephemeral_storage_mb) if ephemeral_storage_mb is not None else None
            ),
            environment={**self._environment, **(environment or {})},
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=log_group,
            application_log_level_v2=lambda_.ApplicationLogLevel[self._settings.log_level],
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
        )
        if table is not None:
            if table_writes:
                table.grant_read_write_data(function)
            else:
                table.grant_read_data(function)
            acknowledge_table_grant(role, table, writes=table_writes)
        return function
