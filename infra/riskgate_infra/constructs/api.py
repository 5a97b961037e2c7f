"""The REST API: the api and authorizer functions behind API Gateway, public routes and the rest."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, Fn, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from riskgate.resources import (
    API_FUNCTION,
    API_STAGE,
    AUTHORIZER_FUNCTION,
    GATEWAY_ERROR_BODIES,
    PUBLIC_ROUTES,
    UPLOADS_PREFIX,
)
from riskgate_infra.constructs.functions import LambdaFactory
from riskgate_infra.constructs.notifications import NotificationSettings, grant_delivery
from riskgate_infra.nag import acknowledge, resource_token
from riskgate_infra.settings import Settings

# The path prefix is part of the routes themselves, so the stage name stays out of the API's paths.
API_PREFIX = "v1"

# Why a public route needs no authorizer, where the general reason (no data exposed) does not hold.
PUBLIC_REASONS = {
    "/v1/registries/{registry_id}/webhook": (
        "Harbor's webhook cannot send a bearer token (riskgate.resources.PUBLIC_ROUTES): the route checks "
        "Harbor's shared secret (the connection's webhook secret, compared in constant time) itself, "
        "counts every refusal in the security event log, and has a tighter throttle of its own."
    ),
}

# One JSON object per request. Nothing here can carry a token: no header is logged.
ACCESS_LOG_FIELDS = {
    "request_id": apigw.AccessLogField.context_request_id(),
    "extended_request_id": apigw.AccessLogField.context_extended_request_id(),
    "request_time_epoch": apigw.AccessLogField.context_request_time_epoch(),
    "source_ip": apigw.AccessLogField.context_identity_source_ip(),
    "user_agent": apigw.AccessLogField.context_identity_user_agent(),
    "http_method": apigw.AccessLogField.context_http_method(),
    "resource_path": apigw.AccessLogField.context_resource_path(),
    "path": apigw.AccessLogField.context_path(),
    "protocol": apigw.AccessLogField.context_protocol(),
    "status": apigw.AccessLogField.context_status(),
    "response_length": apigw.AccessLogField.context_response_length(),
    "response_latency_ms": apigw.AccessLogField.context_response_latency(),
    "integration_status": apigw.AccessLogField.context_integration_status(),
    "integration_latency_ms": apigw.AccessLogField.context_integration_latency(),
    "principal_id": apigw.AccessLogField.context_authorizer_principal_id(),
    "authorizer_error": apigw.AccessLogField.context_authorizer_error(),
    "error_message": apigw.AccessLogField.context_error_message(),
    "error_response_type": apigw.AccessLogField.context_error_response_type(),
    "xray_trace_id": apigw.AccessLogField.context_xray_trace_id(),
}

# What the API does with integration secrets (riskgate.adapters.integrations): create one, write a new
# version, restore one scheduled for deletion, schedule its deletion; CreateSecret with tags needs
# TagResource. Reading them back (GetSecretValue) is for sending: the API's is granted with the rest of
# what sending takes (`grant_delivery`), for an integration's test message.
INTEGRATION_SECRET_ACTIONS = [
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:RestoreSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:TagResource",
]

# `$context.error.messageString` is API Gateway's own message, already quoted for JSON.
GATEWAY_MESSAGE = "$context.error.messageString"


def error_template(code: str, message: str | None = None) -> str:
    """A gateway response body in the API's error shape; without a message, API Gateway's own is used."""
    if message is not None:
        return json.dumps({"error": {"code": code, "message": message, "details": []}})
    return json.dumps({"error": {"code": code, "message": "MESSAGE", "details": []}}).replace(
        '"MESSAGE"', GATEWAY_MESSAGE
    )


# What API Gateway answers itself (the function never sees these requests), in the API's error shape.
GATEWAY_RESPONSES: dict[apigw.ResponseType, tuple[str, str]] = {
    apigw.ResponseType.UNAUTHORIZED: ("401", json.dumps(GATEWAY_ERROR_BODIES[401])),
    apigw.ResponseType.ACCESS_DENIED: ("403", json.dumps(GATEWAY_ERROR_BODIES[403])),
    # No resource or method matches: a route that does not exist, not a credentials problem (API
    # Gateway's default is a confusing 403 "Missing Authentication Token").
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: ("404", error_template("not_found", "no such route")),
    apigw.ResponseType.REQUEST_TOO_LARGE: ("413", error_template("payload_too_large")),
    apigw.ResponseType.THROTTLED: ("429", error_template("throttled")),
    apigw.ResponseType.DEFAULT_4_XX: ("", error_template("bad_request")),
    apigw.ResponseType.DEFAULT_5_XX: ("", error_template("internal_error")),
}


class RiskgateApi(Construct):
    """REST API → one Lambda proxy (the Powertools resolver routes by path) behind a REQUEST authorizer.

    The routes of `PUBLIC_ROUTES` get resources of their own without authorizer; everything else under
    `/v1` goes through `/v1/{proxy+}`, where the authorizer runs first.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        table: dynamodb.Table,
        settings: Settings,
        secrets_prefix: str,
        notification_settings: NotificationSettings,
    ) -> None:
        super().__init__(scope, construct_id)

        self.handler = factory.create(
            self,
            "Handler",
            spec=API_FUNCTION,
            description="Riskgate API: scans in, images and findings out",
            # An integration's test message (POST /v1/integrations/{name}/test) goes where the notifier's
            # messages go.
            environment={"RISKGATE_TELEGRAM_API_URL": notification_settings.telegram_api_url},
            table=table,
        )
        handler_role = factory.role_of(self.handler)
        self._grant_integration_secrets(handler_role, secrets_prefix)
        self._seal_page_tokens()
        # The test message is delivered as the notifier delivers: SES, the secret, customer topics.
        grant_delivery(
            self,
            handler_role,
            secrets_prefix=secrets_prefix,
            settings=notification_settings,
            who="the API (an integration's test message)",
        )

        # Writes too: a token's last use, and the audit item of every failed authentication.
        self.authorizer_function = factory.create(
            self,
            "Authorizer",
            spec=AUTHORIZER_FUNCTION,
            description="Riskgate API authorizer: bearer token → identity and role bindings",
            table=table,
        )

        access_logs = logs.LogGroup(self, "AccessLogs", retention=settings.retention)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            description="Riskgate: container image risk service",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Every body reaches the function untouched (base64), so gzip-compressed reports survive.
            binary_media_types=["*/*"],
            # API Gateway needs an account-level role to write execution and access logs.
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=API_STAGE,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                # Full request logging would write Authorization headers (bearer tokens) to CloudWatch.
                data_trace_enabled=False,
                throttling_rate_limit=settings.throttle_rate_limit,
                throttling_burst_limit=settings.throttle_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                method_options={
                    f"{path}/{method}": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=settings.public_throttle_rate_limit,
                        throttling_burst_limit=settings.public_throttle_burst_limit,
                        # A method's own settings replace the stage's, so logging is restated here.
                        logging_level=apigw.MethodLoggingLevel.INFO,
                        metrics_enabled=True,
                        data_trace_enabled=False,
                    )
                    for method, path in PUBLIC_ROUTES
                },
            ),
        )
        # The stack publishes the URL under a stable output name; RestApi's own output would repeat it.
        self.rest_api.node.try_remove_child("Endpoint")
        # API Gateway creates the stage's execution-log group itself on first use, with no retention: kept,
        # and paid for, forever. Created first under the name API Gateway writes to, it has the stack's
        # retention like every other log group (the stage waits for it).
        execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=Fn.join(
                "", ["API-Gateway-Execution-Logs_", self.rest_api.rest_api_id, f"/{API_STAGE}"]
            ),
            retention=settings.retention,
        )
        self.rest_api.deployment_stage.node.add_dependency(execution_logs)
        for response_type, (status, template) in GATEWAY_RESPONSES.items():
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                status_code=status or None,
                templates={"application/json": template},
                response_headers=(
                    {"WWW-Authenticate": "'Bearer'"}
                    if response_type == apigw.ResponseType.UNAUTHORIZED
                    else None
                ),
            )

        self.authorizer = apigw.RequestAuthorizer(
            self,
            "TokenAuthorizer",
            handler=self.authorizer_function,
            # A request without the header is refused (401) before the function is invoked; the header is
            # also the cache key, so each token's answer is cached on its own.
            identity_sources=[apigw.IdentitySource.header("Authorization")],
            results_cache_ttl=Duration.seconds(settings.authorizer_cache_ttl_seconds),
        )
        # One integration: the resolver in the function matches the route itself. Console test
        # invocations are not granted.
        integration = apigw.LambdaIntegration(self.handler, allow_test_invoke=False)

        for method, path in PUBLIC_ROUTES:
            public = self._resource(path).add_method(
                method, integration, authorization_type=apigw.AuthorizationType.NONE
            )
            acknowledge(
                public,
                "AwsSolutions-APIG4",
                PUBLIC_REASONS.get(
                    path,
                    "Public by design (riskgate.resources.PUBLIC_ROUTES): health check, OpenAPI document, "
                    "Swagger UI; they expose no data, and have a tighter throttle of their own.",
                ),
            )
            acknowledge(public, "AwsSolutions-COG4", "Public by design, see AwsSolutions-APIG4.")

        protected = self._resource(f"/{API_PREFIX}").add_resource("{proxy+}")
        self.protected_method = self._protect(protected, integration)
        self._protect_around_public_routes(integration)
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG2",
            "Requests are validated in the function (Powertools resolver with pydantic models, "
            "enable_validation=True); a proxy resource has no request model API Gateway could check.",
        )
        acknowledge(
            self.rest_api.deployment_stage,
            "AwsSolutions-APIG3",
            "WAF is optional for Riskgate: every route but the public ones needs a token, and the stage "
            "is throttled. Operators who want one associate their organisation's web ACL with the stage.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-wide logging role (shared by every API of the account and region, "
            "creating its own log groups); AWS maintains this policy for exactly that purpose.",
        )
        for function in (self.handler, self.authorizer_function):
            acknowledge(
                function,
                "Serverless-LambdaDLQ",
                "Invoked synchronously by API Gateway: a dead-letter queue only receives failed "
                "asynchronous invocations; the caller gets the error.",
            )

    def accept_uploads(
        self, *, bucket: s3.Bucket, encryption_key: kms.IKey, environment: Mapping[str, str]
    ) -> None:
        """`POST /v1/scans/uploads` answers a presigned POST signed with the API role's credentials: the
        client then uploads as this role, which may therefore create objects under `uploads/` (and do
        nothing else to the bucket) and encrypt them with the bucket's key (SSE-KMS)."""
        for name, value in environment.items():
            self.handler.add_environment(name, value)
        role = LambdaFactory.role_of(self.handler)
        objects = f"{UPLOADS_PREFIX}*"
        bucket.grants.actions_on_object_keys(self.handler, objects, "s3:PutObject")
        encryption_key.grant(self.handler, "kms:GenerateDataKey", "kms:Encrypt")
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{resource_token(role, bucket.node.default_child)}/{objects}]",
            "One object per upload, named by its id at run time: the presigned POSTs the API signs may "
            "create objects under the uploads bucket's uploads/ prefix only (PutObject alone).",
        )

    def _seal_page_tokens(self) -> None:
        """The secret whose value seals lists' page tokens (`riskgate.auth.page_tokens`); only the API
        reads it. Its value is generated here and never leaves Secrets Manager."""
        key = secretsmanager.Secret(
            self,
            "PageTokenKey",
            description="Riskgate: seals the API's page tokens (replacing it only ends pages in progress)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
        )
        key.grant_read(self.handler)
        self.handler.add_environment("RISKGATE_PAGE_TOKEN_SECRET_ID", key.secret_arn)
        acknowledge(
            key,
            "AwsSolutions-SMG4",
            "A random key that only seals short-lived page tokens; replacing it by hand ends the pages in "
            "progress and nothing else, so no rotation function is deployed.",
        )

    def _grant_integration_secrets(self, role: iam.IRole, prefix: str) -> None:
        """Integration secrets, and registry connections' (Harbor's robot and webhook secrets), are created
        at run time, one per entity: the API may manage the secrets under `<prefix>/integrations/` and
        `<prefix>/registries/` (RISKGATE_SECRETS_PREFIX), and no other; it reads registry connections'
        secrets back to check a Harbor webhook's shared secret."""
        stack = Stack.of(self)
        for sid, kind in (("IntegrationSecrets", "integrations"), ("RegistrySecrets", "registries")):
            secrets = stack.format_arn(
                service="secretsmanager",
                resource="secret",
                resource_name=f"{prefix}/{kind}/*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(sid=sid, actions=INTEGRATION_SECRET_ACTIONS, resources=[secrets])
            )
            if kind == "registries":
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        sid="ReadRegistrySecrets",
                        actions=["secretsmanager:GetSecretValue"],
                        resources=[secrets],
                    )
                )
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:"
                f"<AWS::AccountId>:secret:{prefix}/{kind}/*]",
                f"Each secret of {kind} is created at run time under this stack's prefix (its name and the "
                "random suffix Secrets Manager adds are not known at synthesis); the wildcard covers those "
                "secrets only.",
            )

    def _protect(self, resource: apigw.IResource, integration: apigw.Integration) -> apigw.Method:
        """Every method of `resource` to the function, through the authorizer."""
        method = resource.add_method(
            "ANY",
            integration,
            authorizer=self.authorizer,
            authorization_type=apigw.AuthorizationType.CUSTOM,
        )
        acknowledge(
            method,
            "AwsSolutions-COG4",
            "Callers are CI pipelines with long-lived bearer tokens: the Lambda REQUEST authorizer checks "
            "the token's SHA-256 against the table. There are no interactive users to put in Cognito.",
        )
        return method

    def _protect_around_public_routes(self, integration: apigw.Integration) -> None:
        """A public route deeper than `/v1/<name>` brings resources of its own between `/v1` and itself
        (`/v1/registries`, `/v1/registries/{registry_id}`). API Gateway matches a request to the most
        specific resource and does not fall back to `/v1/{proxy+}` when that resource has no method for it:
        each of them gets the protected method, and a greedy child of its own when none of its children is a
        path parameter (which would match the other segments itself), so that every other path under them
        goes through the authorizer as before."""
        public = [path for _, path in PUBLIC_ROUTES]
        between: list[str] = []
        for path in public:
            segments = [segment for segment in path.split("/") if segment]
            between += ["/" + "/".join(segments[:end]) for end in range(2, len(segments))]
        for path in dict.fromkeys(between):
            resource = self._resource(path)
            self._protect(resource, integration)
            depth = len(path.split("/"))
            children = {other.split("/")[depth] for other in public if other.startswith(path + "/")}
            if not any(child.startswith("{") for child in children):
                self._protect(resource.add_resource("{proxy+}"), integration)

    def _resource(self, path: str) -> apigw.IResource:
        """The resource for an absolute path, creating the missing segments."""
        resource: apigw.IResource = self.rest_api.root
        for segment in filter(None, path.split("/")):
            resource = resource.get_resource(segment) or resource.add_resource(segment)
        return resource

    @property
    def url(self) -> str:
        return self.rest_api.url
