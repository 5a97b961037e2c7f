"""The console: its build in a private bucket, served with the API on one CloudFront origin (no CORS).

`/v1/*` goes to API Gateway (nothing cached, every viewer header but Host forwarded, `Authorization`
among them; `/v1/docs` is redirected to the API's own URL). Everything else is the single-page app from S3
through origin access control: the hashed bundles under `/assets/` cached for good, and `index.html` for
every other path, which a viewer-request function rewrites (`/images/…`) so that a shared URL opens its
page. CloudFront's error responses could do that for S3's 403, but they apply to every origin and would
turn the API's 403s and 404s into the app's page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct, Node

from riskgate_infra.constructs.api import API_PREFIX
from riskgate_infra.nag import acknowledge, resource_token
from riskgate_infra.paths import REPO_ROOT

CONTEXT_PREFIX = "riskgate:"
# Written by `make console` (esbuild): `index.html` and the hashed bundles under `assets/`.
CONSOLE_DIST_DIR = REPO_ROOT / "console" / "dist"
ASSETS_DIR = "assets"

# Only the console's own files: no inline script or style, no other origin, never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# The API answers JSON, which needs nothing loaded on its behalf.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS_MAX_AGE = Duration.days(730)
# The bundles' names change with their content: a browser may keep them for good. `index.html` (every
# page of the app) names the current bundles, so it is revalidated on each load.
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
PAGE_CACHE_CONTROL = "no-cache"

# Viewer request on the app's behaviour. Files are the bundles under /assets/ and files at the root
# (/index.html, /favicon.ico); any other path is a page of the app, whatever dots it holds (image
# references do: /images/ghcr.io%2Fteam%2Fapp:1.2.3), and gets index.html.
PAGE_REWRITE_CODE = """\
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri.startsWith('/assets/') || /^\\/[^\\/]+\\.[^\\/]+$/.test(uri)) {
    return request;
  }
  request.uri = '/index.html';
  return request;
}
"""

# Swagger UI inlines its script and the document, which the console's policy refuses, and it would run
# on the console's origin: `/v1/docs` is answered with a redirect to the API's own URL instead.
DOCS_PATH = f"/{API_PREFIX}/docs"
DOCS_REDIRECT_CODE = """\
function handler(event) {
  return {
    statusCode: 302,
    statusDescription: 'Found',
    headers: { location: { value: 'DOCS_URL' } },
  };
}
"""


class ConsoleNotBuiltError(RuntimeError):
    pass


@dataclass(frozen=True)
class ConsoleSettings:
    """The console's deployment parameters, from CDK context (`-c riskgate:<name>=...`).

    - `riskgate:consoleDist` (console/dist): the built console to upload, absolute or relative to the
      repository root.
    - `riskgate:skipConsoleUpload` (false): synthesize without uploading the console (the bucket and the
      distribution stay; the bucket keeps what an earlier deployment uploaded), for a machine without
      the console's build.
    - `riskgate:consoleWebAclArn` (none): a WAF web ACL (scope CLOUDFRONT, in us-east-1) for the
      distribution.
    """

    dist_dir: Path = CONSOLE_DIST_DIR
    upload: bool = True
    web_acl_arn: str | None = None

    def __post_init__(self) -> None:
        if self.web_acl_arn is not None and not self.web_acl_arn.startswith("arn:"):
            raise ValueError(f"riskgate:consoleWebAclArn: {self.web_acl_arn!r} is not a web ACL ARN")

    @classmethod
    def from_context(cls, node: Node) -> ConsoleSettings:
        defaults = cls()
        dist = node.try_get_context(CONTEXT_PREFIX + "consoleDist")
        skip = node.try_get_context(CONTEXT_PREFIX + "skipConsoleUpload")
        web_acl = node.try_get_context(CONTEXT_PREFIX + "consoleWebAclArn")
        return cls(
            dist_dir=defaults.dist_dir if dist is None else REPO_ROOT / Path(str(dist)),
            upload=defaults.upload if skip is None else not _flag(skip),
            web_acl_arn=str(web_acl) if web_acl else None,
        )

    @property
    def source(self) -> Path | None:
        """The directory to upload; None when the upload is skipped."""
        return self.dist_dir if self.upload else None


def _flag(value: Any) -> bool:
    """`-c riskgate:skipConsoleUpload=true` arrives as a string; cdk.json may hold a boolean."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no", ""}:
        return False
    raise ValueError(f"riskgate:skipConsoleUpload: {value!r} is not true or false")


def check_built(dist_dir: Path) -> None:
    """The stamp of a finished console build: `index.html` and the bundles beside it."""
    if not (dist_dir / "index.html").is_file() or not (dist_dir / ASSETS_DIR).is_dir():
        shown = dist_dir.relative_to(REPO_ROOT) if dist_dir.is_relative_to(REPO_ROOT) else dist_dir
        raise ConsoleNotBuiltError(
            f"the console is not built ({shown}/index.html or {shown}/{ASSETS_DIR}/ is missing): run "
            "`make console` first, or synthesize without uploading it with "
            "`-c riskgate:skipConsoleUpload=true`"
        )


def security_headers(
    scope: Construct, construct_id: str, *, content_security_policy: str, cache_control: str | None
) -> cloudfront.ResponseHeadersPolicy:
    """HSTS, no framing, no referrer, no sniffing, the given CSP, and (when given) the viewers'
    Cache-Control; CloudFront's values replace whatever the origin says."""
    return cloudfront.ResponseHeadersPolicy(
        scope,
        construct_id,
        comment=f"Riskgate console: {construct_id}",
        security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
            content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                content_security_policy=content_security_policy, override=True
            ),
            strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, override=True
            ),
            frame_options=cloudfront.ResponseHeadersFrameOptions(
                frame_option=cloudfront.HeadersFrameOption.DENY, override=True
            ),
            referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
            ),
            content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
        ),
        custom_headers_behavior=(
            cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(
                        header="Cache-Control", value=cache_control, override=True
                    )
                ]
            )
            if cache_control is not None
            else None
        ),
    )


class Console(Construct):
    """The console's bucket (private, reachable by this distribution only), the distribution in front of
    it and the API, and the upload of `source` (skipped when None).

    The upload replaces `index.html` and adds the new bundles; earlier bundles stay, so a page loaded
    just before a deployment still finds the bundles it names.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigw.RestApi,
        source: Path | None,
        access_logs: s3.IBucket,
        log_retention_days: int,
        function_log_retention: logs.RetentionDays,
        web_acl_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if source is not None:
            check_built(source)

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            # OAC signs with SigV4 and reads SSE-S3 objects without a key policy; the content is public
            # through the distribution anyway.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="console/",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.logs = s3.Bucket(
            self,
            "Logs",
            # CloudFront's standard logs are delivered with ACLs (the log-delivery account writes the
            # objects), which a bucket-owner-enforced bucket refuses; S3-managed keys, as it requires.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="console-logs/",
            # Who read the console is kept as long as who read the archive.
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(log_retention_days))],
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.distribution = self._distribution(api, web_acl_arn)
        self.upload = None if source is None else self._upload(source, function_log_retention)

    @property
    def url(self) -> str:
        return f"https://{self.distribution.distribution_domain_name}/"

    def _distribution(self, api: apigw.RestApi, web_acl_arn: str | None) -> cloudfront.Distribution:
        site = origins.S3BucketOrigin.with_origin_access_control(self.bucket)
        # The stage is the origin path: `/v1/images` reaches the API's `/v1/images` on stage `api`.
        api_origin = origins.RestApiOrigin(api)
        page_rewrite = cloudfront.Function(
            self,
            "PageRewrite",
            comment="Riskgate console: the app's own paths get index.html",
            code=cloudfront.FunctionCode.from_inline(PAGE_REWRITE_CODE),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
        )
        docs_redirect = cloudfront.Function(
            self,
            "DocsRedirect",
            comment="Riskgate console: the API's Swagger UI on the API's own URL",
            code=cloudfront.FunctionCode.from_inline(
                DOCS_REDIRECT_CODE.replace("DOCS_URL", api.url_for_path(DOCS_PATH))
            ),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
        )
        page_headers = security_headers(
            self,
            "PageHeaders",
            content_security_policy=CONTENT_SECURITY_POLICY,
            cache_control=PAGE_CACHE_CONTROL,
        )
        asset_headers = security_headers(
            self,
            "AssetHeaders",
            content_security_policy=CONTENT_SECURITY_POLICY,
            cache_control=ASSET_CACHE_CONTROL,
        )
        api_headers = security_headers(
            self, "ApiHeaders", content_security_policy=API_CONTENT_SECURITY_POLICY, cache_control=None
        )
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Riskgate console and API",
            default_behavior=cloudfront.BehaviorOptions(
                origin=site,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                # index.html is a few hundred bytes: always the one the last deployment uploaded.
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                response_headers_policy=page_headers,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=page_rewrite, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
            additional_behaviors={
                f"/{ASSETS_DIR}/*": cloudfront.BehaviorOptions(
                    origin=site,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,  # gzip and brotli too
                    response_headers_policy=asset_headers,
                ),
                # Before `/v1/*`: CloudFront takes the first pattern that matches.
                DOCS_PATH: cloudfront.BehaviorOptions(
                    origin=api_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    response_headers_policy=api_headers,
                    function_associations=[
                        cloudfront.FunctionAssociation(
                            function=docs_redirect, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                        )
                    ],
                ),
                f"/{API_PREFIX}/*": cloudfront.BehaviorOptions(
                    origin=api_origin,
                    # Refused, not redirected: a client that sent its token over plain HTTP must fail
                    # loudly rather than keep doing it behind a redirect.
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    # Authorization and the query string included; API Gateway needs its own Host.
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=api_headers,
                ),
            },
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True,
            log_bucket=self.logs,
            log_file_prefix="cloudfront/",
            web_acl_id=web_acl_arn,
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR4",
            "The distribution answers on its *.cloudfront.net name, whose default certificate CloudFront "
            "serves with the TLSv1 security policy whatever the distribution asks; browsers negotiate "
            "TLS 1.2 or 1.3 with it. A custom domain with its own certificate is what allows a "
            "TLSv1.2_2021 minimum.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR1",
            "Security officers sign in from wherever they work; every request but the static console "
            "needs an API token. Geo restriction is an organisation's choice, not Riskgate's.",
        )
        if web_acl_arn is None:
            acknowledge(
                distribution,
                "AwsSolutions-CFR2",
                "WAF is optional (riskgate:consoleWebAclArn attaches an existing web ACL): the console is "
                "static files, and every API route but the public ones needs a token and is throttled "
                "by the API stage. A CloudFront web ACL lives in us-east-1, outside this "
                "region-agnostic stack.",
            )
        return distribution

    def _upload(self, source: Path, log_retention: logs.RetentionDays) -> s3_deployment.BucketDeployment:
        """CDK's bucket deployment (a custom resource running the AWS CLI from a layer, no Docker): the
        directory becomes a zip asset, which the function syncs into the bucket."""
        log_group = logs.LogGroup(self, "UploadLogs", retention=log_retention)
        # A role of our own, as the project's functions have: no AWS-managed policy (whose logging
        # permissions reach every log group), its own log group only, and what the deployment grants.
        role = iam.Role(
            self,
            "UploadRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Riskgate console upload (CDK bucket deployment)",
        )
        log_group.grant_write(role)
        deployment = s3_deployment.BucketDeployment(
            self,
            "Upload",
            destination_bucket=self.bucket,
            sources=[s3_deployment.Source.asset(str(source))],
            # Earlier bundles stay for the pages still using them; index.html is replaced.
            prune=False,
            role=role,
            log_group=log_group,
        )
        self._acknowledge_upload(role)
        return deployment

    def _acknowledge_upload(self, role: iam.IRole) -> None:
        stack = Stack.of(self)
        bucket = resource_token(role, self.bucket.node.default_child)
        for finding in (
            "Action::s3:GetBucket*",
            "Action::s3:GetObject*",
            "Action::s3:List*",
            "Action::s3:DeleteObject*",
            "Action::s3:Abort*",
            f"Resource::{bucket}/*",
            "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
        ):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[{finding}]",
                "Granted by CDK's BucketDeployment (its own grant_read_write and asset read): the upload "
                "syncs the console's zip from the CDK asset bucket into the console bucket, every object "
                "of which it may replace; the statements name those two buckets only.",
            )
        # The function is CDK's (one per stack, shared by every bucket deployment), at the stack's root.
        function = next(
            child
            for child in stack.node.children
            if isinstance(child, lambda_.Function)
            and child.node.id.startswith("Custom::CDKBucketDeployment")
            and child.role is not None
            and child.role.node.path == role.node.path
        )
        reasons = {
            "Serverless-LambdaDLQ": "CloudFormation invokes the upload and waits for its answer: a "
            "failure fails the deployment, and a queued request could not be replayed (its response URL "
            "expires).",
            "Serverless-LambdaTracing": "CDK's bucket-deployment function offers no tracing setting; it "
            "runs once per deployment, in CloudFormation's events and its own log group.",
            "Serverless-LambdaLatestVersion": "The runtime is chosen by CDK for its bundled handler and "
            "moves with aws-cdk-lib (requirements/lock.txt).",
            "AwsSolutions-L1": "See Serverless-LambdaLatestVersion: CDK's handler, CDK's runtime.",
        }
        for rule, reason in reasons.items():
            acknowledge(function, rule, reason)
