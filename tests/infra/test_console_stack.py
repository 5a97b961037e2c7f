"""The console as deployed (issue 15): its private bucket behind CloudFront's origin access control, `/v1/*`
routed to API Gateway on the same origin, the page rewrite, the security headers, the upload of the build.

The whole app is synthesized once here with a tiny console build of the test's own (the real one is
`make console`'s, which these tests must not need); small stacks of their own cover the settings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from riskgate.resources import API_STAGE
from tests.infra.conftest import TEST_CONTEXT, Synthesized

pytestmark = pytest.mark.infra

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
TWO_YEARS_SECONDS = 2 * 365 * 24 * 3600
# CloudFront's managed policies, by their documented ids.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# What the template's intrinsics resolve to in a deployment, for `evaluate`.
DEPLOYED = {
    "AWS::Region": "eu-west-1",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::Partition": "aws",
    "AWS::AccountId": "111122223333",
}
REST_API_ID = "a1b2c3d4e5"


def fake_console_build(root: Path) -> Path:
    """What esbuild writes to console/dist, in miniature."""
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(
        '<!doctype html><title>Riskgate</title><script type="module" src="/assets/app.123.js"></script>\n'
    )
    (dist / "assets" / "app.123.js").write_text('document.title = "Riskgate";\n')
    (dist / "assets" / "app.456.css").write_text("body { margin: 0 }\n")
    return dist


@pytest.fixture(scope="module")
def console_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fake_console_build(tmp_path_factory.mktemp("console"))


@pytest.fixture(scope="module")
def deployed(built_layer: Path, console_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from aws_cdk.assertions import Template

    from riskgate_infra.application import create_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = create_app(
        outdir=str(outdir), context={**TEST_CONTEXT, "riskgate:consoleDist": str(console_build)}
    )
    template = Template.from_stack(stack)
    assembly = app.synth()
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    return Synthesized(
        app=app,
        stack=stack,
        template=template,
        assembly_dir=Path(assembly.directory),
        template_path=Path(artifact.template_full_path),
    )


# --- helpers ---------------------------------------------------------------------------------------


def one(resources: dict[str, dict[str, Any]], prefix: str) -> tuple[str, dict[str, Any]]:
    found = {
        logical_id: resource for logical_id, resource in resources.items() if logical_id.startswith(prefix)
    }
    assert len(found) == 1, f"expected one resource named {prefix}*, found {sorted(found)}"
    return next(iter(found.items()))


def distribution(deployed: Synthesized) -> tuple[str, dict[str, Any]]:
    logical_id, resource = one(deployed.resources("AWS::CloudFront::Distribution"), "ConsoleDistribution")
    return logical_id, resource["Properties"]["DistributionConfig"]


def behaviours(deployed: Synthesized) -> dict[str, dict[str, Any]]:
    _, config = distribution(deployed)
    return {behaviour["PathPattern"]: behaviour for behaviour in config["CacheBehaviors"]}


def origin(deployed: Synthesized, origin_id: str) -> dict[str, Any]:
    _, config = distribution(deployed)
    [found] = [candidate for candidate in config["Origins"] if candidate["Id"] == origin_id]
    return dict(found)


def headers_policy(deployed: Synthesized, reference: dict[str, str]) -> dict[str, Any]:
    policies = deployed.resources("AWS::CloudFront::ResponseHeadersPolicy")
    return dict(policies[reference["Ref"]]["Properties"]["ResponseHeadersPolicyConfig"])


def function_code(deployed: Synthesized, association: dict[str, Any]) -> Any:
    function_id = association["FunctionARN"]["Fn::GetAtt"][0]
    function = deployed.resources("AWS::CloudFront::Function")[function_id]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    return function["FunctionCode"]


def evaluate(value: Any, refs: dict[str, str]) -> Any:
    """The value of a template expression once deployed, for the intrinsics the console's use."""
    if isinstance(value, dict) and len(value) == 1:
        [(name, argument)] = value.items()
        if name == "Ref":
            return refs[argument]
        if name == "Fn::Join":
            separator, parts = argument
            return separator.join(evaluate(part, refs) for part in parts)
        if name == "Fn::Split":
            separator, text = argument
            return evaluate(text, refs).split(separator)
        if name == "Fn::Select":
            index, items = argument
            return evaluate(items, refs)[index]
    return value


def api_refs(deployed: Synthesized) -> dict[str, str]:
    rest_api_id = next(iter(deployed.resources("AWS::ApiGateway::RestApi")))
    stage_id = next(iter(deployed.resources("AWS::ApiGateway::Stage")))
    return {**DEPLOYED, rest_api_id: REST_API_ID, stage_id: API_STAGE}


def run_function(code: str, request_uri: str) -> dict[str, Any]:
    """The CloudFront function's handler run by Node on a viewer request for `request_uri`."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    script = code + "\nprocess.stdout.write(JSON.stringify(handler({request: {uri: process.argv[1]}})));\n"
    result = subprocess.run(
        [node, "-e", script, request_uri], capture_output=True, text=True, timeout=60, check=True
    )
    return dict(json.loads(result.stdout))


# --- the bucket ------------------------------------------------------------------------------------


def test_the_console_bucket_is_private_encrypted_tls_only_and_logged(deployed: Synthesized) -> None:
    bucket_id, bucket = one(deployed.resources("AWS::S3::Bucket"), "ConsoleBucket")
    properties = bucket["Properties"]
    access_logs_id, _ = one(deployed.resources("AWS::S3::Bucket"), "AuditAccessLogs")

    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert properties["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": access_logs_id},
        "LogFilePrefix": "console/",
    }
    assert "WebsiteConfiguration" not in properties
    assert bucket["DeletionPolicy"] == "Retain"
    [tls] = [
        statement
        for statement in bucket_policy(deployed, bucket_id)
        if statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert tls["Effect"] == "Deny"
    assert tls["Action"] == "s3:*"


def bucket_policy(deployed: Synthesized, bucket_id: str) -> list[dict[str, Any]]:
    [policy] = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in deployed.resources("AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    return list(policy)


def test_only_the_distribution_reads_the_bucket_through_origin_access_control(deployed: Synthesized) -> None:
    bucket_id, _ = one(deployed.resources("AWS::S3::Bucket"), "ConsoleBucket")
    distribution_id, config = distribution(deployed)
    oac_id, oac = one(deployed.resources("AWS::CloudFront::OriginAccessControl"), "Console")

    # The S3 origin signs every request (SigV4), with no legacy origin access identity
    site = origin(deployed, config["DefaultCacheBehavior"]["TargetOriginId"])
    assert site["DomainName"] == {"Fn::GetAtt": [bucket_id, "RegionalDomainName"]}
    assert site["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert site["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert oac["Properties"]["OriginAccessControlConfig"] == {
        "Name": oac["Properties"]["OriginAccessControlConfig"]["Name"],
        "OriginAccessControlOriginType": "s3",
        "SigningBehavior": "always",
        "SigningProtocol": "sigv4",
    }

    # And the bucket lets CloudFront read objects only on behalf of this distribution
    allows = [statement for statement in bucket_policy(deployed, bucket_id) if statement["Effect"] == "Allow"]
    assert allows == [
        {
            "Action": "s3:GetObject",
            "Condition": {
                "StringEquals": {
                    "AWS:SourceArn": {
                        "Fn::Join": [
                            "",
                            [
                                "arn:",
                                {"Ref": "AWS::Partition"},
                                ":cloudfront::",
                                {"Ref": "AWS::AccountId"},
                                ":distribution/",
                                {"Ref": distribution_id},
                            ],
                        ]
                    }
                }
            },
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
        }
    ]


# --- the behaviours --------------------------------------------------------------------------------


def test_v1_goes_to_the_api_uncached_with_every_method_and_the_callers_headers(deployed: Synthesized) -> None:
    api = behaviours(deployed)["/v1/*"]

    assert api["CachePolicyId"] == CACHING_DISABLED
    # Every viewer header but Host, Authorization among them, and the query string
    assert api["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert sorted(api["AllowedMethods"]) == sorted(
        ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
    )
    # A token sent over plain HTTP is refused, not redirected
    assert api["ViewerProtocolPolicy"] == "https-only"
    assert "FunctionAssociations" not in api

    # The origin is the API's execute-api domain, the stage its path: /v1/images → the API's /v1/images
    api_origin = origin(deployed, api["TargetOriginId"])
    refs = api_refs(deployed)
    assert evaluate(api_origin["DomainName"], refs) == f"{REST_API_ID}.execute-api.eu-west-1.amazonaws.com"
    assert evaluate(api_origin["OriginPath"], refs) + "/v1/images" == f"/{API_STAGE}/v1/images"
    assert api_origin["CustomOriginConfig"] == {
        "OriginProtocolPolicy": "https-only",
        "OriginSSLProtocols": ["TLSv1.2"],
    }
    paths = {
        resource["Properties"]["PathPart"]
        for resource in deployed.resources("AWS::ApiGateway::Resource").values()
    }
    assert {"v1", "{proxy+}"} <= paths


def test_everything_else_is_the_app_from_s3_with_its_pages_rewritten(deployed: Synthesized) -> None:
    _, config = distribution(deployed)
    default = config["DefaultCacheBehavior"]
    assets = behaviours(deployed)["/assets/*"]

    assert default["TargetOriginId"] == assets["TargetOriginId"]
    assert "S3OriginConfig" in origin(deployed, default["TargetOriginId"])
    assert default["ViewerProtocolPolicy"] == assets["ViewerProtocolPolicy"] == "redirect-to-https"
    assert "AllowedMethods" not in default  # GET and HEAD only
    # index.html is always the last deployment's; the hashed bundles are cached (and compressed)
    assert default["CachePolicyId"] == CACHING_DISABLED
    assert assets["CachePolicyId"] == CACHING_OPTIMIZED
    assert assets["Compress"] is True
    [association] = default["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    assert "FunctionAssociations" not in assets
    # No distribution-wide error pages: they would turn the API's 403s and 404s into index.html
    assert "CustomErrorResponses" not in config
    assert config["HttpVersion"] == "http2and3"


def test_the_api_docs_redirect_to_the_apis_own_url_before_v1_matches(deployed: Synthesized) -> None:
    _, config = distribution(deployed)
    patterns = [behaviour["PathPattern"] for behaviour in config["CacheBehaviors"]]
    assert patterns.index("/v1/docs") < patterns.index("/v1/*")
    docs = behaviours(deployed)["/v1/docs"]
    [association] = docs["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"

    code = evaluate(function_code(deployed, association), api_refs(deployed))
    response = run_function(code, "/v1/docs")

    assert response == {
        "statusCode": 302,
        "statusDescription": "Found",
        "headers": {
            "location": {
                "value": f"https://{REST_API_ID}.execute-api.eu-west-1.amazonaws.com/{API_STAGE}/v1/docs"
            }
        },
    }


@pytest.mark.parametrize(
    ("uri", "served"),
    [
        ("/", "/index.html"),
        ("/images", "/index.html"),
        ("/images/abc", "/index.html"),
        ("/images/abc/", "/index.html"),
        # An image reference is full of dots, yet a page of the app
        ("/images/ghcr.io%2Fteam%2Fapp:1.2.3", "/index.html"),
        ("/risk-acceptances/ra_01H.x", "/index.html"),
        ("/assets/app.123.js", "/assets/app.123.js"),
        ("/assets/app.456.css", "/assets/app.456.css"),
        ("/index.html", "/index.html"),
        ("/favicon.ico", "/favicon.ico"),
    ],
)
def test_the_page_rewrite_serves_index_html_for_the_apps_paths_and_files_as_they_are(
    deployed: Synthesized, uri: str, served: str
) -> None:
    from riskgate_infra.constructs.console import PAGE_REWRITE_CODE

    _, config = distribution(deployed)
    [association] = config["DefaultCacheBehavior"]["FunctionAssociations"]
    code = function_code(deployed, association)
    assert code == PAGE_REWRITE_CODE

    assert run_function(code, uri) == {"uri": served}


# --- the headers -----------------------------------------------------------------------------------


def security_headers(content_security_policy: str) -> dict[str, Any]:
    return {
        "ContentSecurityPolicy": {"ContentSecurityPolicy": content_security_policy, "Override": True},
        "ContentTypeOptions": {"Override": True},
        "FrameOptions": {"FrameOption": "DENY", "Override": True},
        "ReferrerPolicy": {"ReferrerPolicy": "no-referrer", "Override": True},
        "StrictTransportSecurity": {
            "AccessControlMaxAgeSec": TWO_YEARS_SECONDS,
            "IncludeSubdomains": True,
            "Override": True,
        },
    }


def cache_control(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy["CustomHeadersConfig"]["Items"])


def test_the_app_is_served_with_its_security_headers(deployed: Synthesized) -> None:
    _, config = distribution(deployed)
    page = headers_policy(deployed, config["DefaultCacheBehavior"]["ResponseHeadersPolicyId"])
    assets = headers_policy(deployed, behaviours(deployed)["/assets/*"]["ResponseHeadersPolicyId"])

    for policy in (page, assets):
        assert policy["SecurityHeadersConfig"] == security_headers(CSP)
    assert "unsafe-inline" not in CSP
    assert cache_control(page) == [{"Header": "Cache-Control", "Value": "no-cache", "Override": True}]
    assert cache_control(assets) == [
        {"Header": "Cache-Control", "Value": "public, max-age=31536000, immutable", "Override": True}
    ]


def test_the_api_is_served_with_the_same_headers_and_a_policy_that_loads_nothing(
    deployed: Synthesized,
) -> None:
    for pattern in ("/v1/*", "/v1/docs"):
        policy = headers_policy(deployed, behaviours(deployed)[pattern]["ResponseHeadersPolicyId"])
        assert policy["SecurityHeadersConfig"] == security_headers(
            "default-src 'none'; frame-ancestors 'none'"
        )
        # The API's own Cache-Control stands
        assert "CustomHeadersConfig" not in policy


# --- logging, the upload, the output ---------------------------------------------------------------


def test_the_distribution_logs_to_a_bucket_cloudfront_can_deliver_to(deployed: Synthesized) -> None:
    _, config = distribution(deployed)
    logs_id, logs = one(deployed.resources("AWS::S3::Bucket"), "ConsoleLogs")
    access_logs_id, _ = one(deployed.resources("AWS::S3::Bucket"), "AuditAccessLogs")
    properties = logs["Properties"]

    assert config["Logging"] == {
        "Bucket": {"Fn::GetAtt": [logs_id, "RegionalDomainName"]},
        "Prefix": "cloudfront/",
    }
    # Standard logs are written with ACLs, which a bucket-owner-enforced bucket refuses
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert properties["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert properties["LifecycleConfiguration"]["Rules"] == [{"ExpirationInDays": 365, "Status": "Enabled"}]
    assert properties["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": access_logs_id}


def test_the_build_is_uploaded_to_the_bucket_and_earlier_bundles_kept(
    deployed: Synthesized, console_build: Path
) -> None:
    bucket_id, _ = one(deployed.resources("AWS::S3::Bucket"), "ConsoleBucket")
    [upload] = [
        resource["Properties"]
        for resource in deployed.template_json["Resources"].values()
        if resource["Type"] == "Custom::CDKBucketDeployment"
    ]

    assert upload["DestinationBucketName"] == {"Ref": bucket_id}
    assert upload["Prune"] is False
    assert "DestinationBucketKeyPrefix" not in upload
    # The asset is the build directory, as staged for publishing
    [source_key] = upload["SourceObjectKeys"]
    staged = deployed.assembly_dir / f"asset.{source_key.removesuffix('.zip')}"
    assert sorted(str(path.relative_to(staged)) for path in staged.rglob("*") if path.is_file()) == sorted(
        str(path.relative_to(console_build)) for path in console_build.rglob("*") if path.is_file()
    )


def test_the_upload_function_has_its_own_role_and_log_group(deployed: Synthesized) -> None:
    handler_id, handler = one(deployed.resources("AWS::Lambda::Function"), "CustomCDKBucketDeployment")
    role_id = handler["Properties"]["Role"]["Fn::GetAtt"][0]
    role = deployed.resources("AWS::IAM::Role")[role_id]["Properties"]
    log_group_id = handler["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]

    assert "ManagedPolicyArns" not in role
    assert deployed.resources("AWS::Logs::LogGroup")[log_group_id]["Properties"]["RetentionInDays"] == 30
    # Built before Operations: its failures alarm like every other function's
    watched = {
        alarm["Properties"]["MetricName"]
        for alarm in deployed.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": handler_id}}]
    }
    assert watched == {"Errors", "Throttles"}


def test_the_console_url_is_a_stack_output(deployed: Synthesized) -> None:
    distribution_id, _ = distribution(deployed)

    assert deployed.template_json["Outputs"]["ConsoleUrl"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}, "/"]]
    }


def test_cdk_nag_reports_nothing_on_the_console(deployed: Synthesized) -> None:
    findings = [
        f"{violation['ruleName']} at {resource.get('constructPath')}"
        for plugin in deployed.validation_report()["pluginReports"]
        for violation in plugin.get("violations", [])
        for resource in violation.get("violatingConstructs", [])
    ]
    assert findings == []


# --- the settings ----------------------------------------------------------------------------------


def small_stack(*, source: Path | None, web_acl_arn: str | None = None) -> Any:
    """A stack holding the console and what it needs: an API, a bucket for access logs."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_apigateway as apigw
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_s3 as s3

    from riskgate_infra.constructs.console import Console

    stack = Stack(App(), "Small")
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("GET", apigw.MockIntegration())
    Console(
        stack,
        "Console",
        api=api,
        source=source,
        access_logs=s3.Bucket(stack, "AccessLogs"),
        log_retention_days=30,
        function_log_retention=logs.RetentionDays.ONE_MONTH,
        web_acl_arn=web_acl_arn,
    )
    return stack


def test_synthesis_without_a_built_console_says_to_run_make_console(tmp_path: Path) -> None:
    from riskgate_infra.constructs.console import ConsoleNotBuiltError

    with pytest.raises(
        ConsoleNotBuiltError, match=r"run `make console` first.*riskgate:skipConsoleUpload=true"
    ):
        small_stack(source=tmp_path / "dist")
    # index.html without the bundles is a half-written build
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<!doctype html>")
    with pytest.raises(ConsoleNotBuiltError):
        small_stack(source=tmp_path / "dist")


def test_without_the_upload_the_bucket_and_the_distribution_stay() -> None:
    from aws_cdk.assertions import Template

    template = Template.from_stack(small_stack(source=None))

    template.resource_count_is("AWS::CloudFront::Distribution", 1)
    template.resource_count_is("AWS::Lambda::Function", 0)
    template.resource_count_is("Custom::CDKBucketDeployment", 0)


def test_a_web_acl_is_attached_when_given() -> None:
    from aws_cdk.assertions import Match, Template

    arn = "arn:aws:wafv2:us-east-1:111122223333:global/webacl/riskgate/0123"
    template = Template.from_stack(small_stack(source=None, web_acl_arn=arn))

    template.has_resource_properties(
        "AWS::CloudFront::Distribution", {"DistributionConfig": Match.object_like({"WebACLId": arn})}
    )


def test_console_settings_come_from_context(tmp_path: Path) -> None:
    from aws_cdk import App

    from riskgate_infra.constructs.console import CONSOLE_DIST_DIR, ConsoleSettings
    from riskgate_infra.paths import REPO_ROOT

    def settings(**context: Any) -> ConsoleSettings:
        return ConsoleSettings.from_context(App(context=context).node)

    assert CONSOLE_DIST_DIR == REPO_ROOT / "console" / "dist"
    assert settings().source == CONSOLE_DIST_DIR
    assert settings(**{"riskgate:consoleDist": "build/console"}).source == REPO_ROOT / "build" / "console"
    assert settings(**{"riskgate:consoleDist": str(tmp_path)}).source == tmp_path
    # As `-c` passes them (strings) and as cdk.json may hold them
    assert settings(**{"riskgate:skipConsoleUpload": "true"}).source is None
    assert settings(**{"riskgate:skipConsoleUpload": True}).source is None
    assert settings(**{"riskgate:skipConsoleUpload": "false"}).source == CONSOLE_DIST_DIR
    assert settings().web_acl_arn is None
    with pytest.raises(ValueError, match="skipConsoleUpload"):
        settings(**{"riskgate:skipConsoleUpload": "perhaps"})
    with pytest.raises(ValueError, match="consoleWebAclArn"):
        settings(**{"riskgate:consoleWebAclArn": "riskgate-acl"})
