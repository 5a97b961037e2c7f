"""`make run` end to end: the real handlers behind the local gateway, the stream polled for real.

The module shares one stack (a subprocess, as a user starts it); the SIGINT test stops it, so it
comes last.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from riskgate_local import LocalStack
from tests.e2e.conftest import RunningStack, http_request, start_local_stack

pytestmark = pytest.mark.e2e

TRIVY_ALPINE = "trivy/ci_alpine-3.10_trivy-0.72.json"  # alpine:3.10, one critical vulnerability
ALPINE_VULNERABILITY = "CVE-2021-36159"
GRYPE_RUBY = "grype/explain_chainguard-ruby.json"  # cgr.dev/chainguard/ruby:latest-3.0
# Every scanner fixture is read since issue 11: an SPDX document (an SBOM, no findings) is not.
UNSUPPORTED_DOCUMENT = b'{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "packages": []}'
EVALUATION_TIMEOUT_SECONDS = 15


def test_health_answers_without_a_token(local_stack: RunningStack) -> None:
    response = local_stack.request("GET", "/v1/health")

    assert response.status == 200


def test_the_openapi_document_is_served(local_stack: RunningStack) -> None:
    response = local_stack.request("GET", "/v1/openapi.json")

    assert response.status == 200
    assert "paths" in response.json()


def test_the_swagger_ui_is_served(local_stack: RunningStack) -> None:
    response = local_stack.request("GET", "/v1/docs")

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")


def test_without_a_token_the_api_answers_401(local_stack: RunningStack) -> None:
    response = local_stack.request("GET", "/v1/images")

    assert response.status == 401
    assert response.json()["error"]["code"]


def test_a_wrong_token_is_refused_with_401(local_stack: RunningStack) -> None:
    response = local_stack.request("GET", "/v1/images", token="rg_" + "x" * 43)

    assert response.status == 401
    assert response.json()["error"]["code"]


def test_a_report_is_stored_evaluated_by_the_stream_and_queryable(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    token = local_stack.admin_token
    report = (scanner_fixtures / TRIVY_ALPINE).read_bytes()

    submitted = local_stack.request(
        "POST", "/v1/scans", token=token, body=report, headers={"Content-Type": "application/json"}
    )

    assert submitted.status == 201, submitted.body
    scan = submitted.json()
    assert scan["scan_id"]
    assert scan["format"]
    assert scan["counts"]["vulnerabilities"]["critical"] == 1
    assert scan["verdict"]["status"] == "non_compliant"
    assert scan["verdict"]["block"] is True
    image_id = scan["image_id"]

    image = local_stack.request("GET", f"/v1/images/{image_id}", token=token).json()
    assert image["status"] == "non_compliant"
    assert image["counts"]["vulnerabilities"]["critical"] == 1

    # The evaluator runs only from the stream: its timestamp proves the poller delivered the change.
    evaluated = wait_for_evaluation(local_stack, image_id)
    assert evaluated["evaluated_at"] is not None
    assert evaluated["status"] == "non_compliant"

    findings = local_stack.request("GET", f"/v1/images/{image_id}/findings", token=token)
    assert findings.status == 200
    assert [finding["id"] for finding in findings.json()["items"]] == [ALPINE_VULNERABILITY]

    affected = local_stack.request("GET", f"/v1/vulnerabilities/{ALPINE_VULNERABILITY}/images", token=token)
    assert affected.status == 200
    assert image_id in [item["image_id"] for item in affected.json()["items"]]


def test_a_gzip_compressed_grype_report_is_accepted(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    report = gzip.compress((scanner_fixtures / GRYPE_RUBY).read_bytes())

    response = local_stack.request(
        "POST",
        "/v1/scans",
        token=local_stack.admin_token,
        body=report,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )

    assert response.status == 201, response.body
    assert response.json()["image_id"]


def test_a_body_that_is_not_json_is_400(local_stack: RunningStack) -> None:
    response = local_stack.request("POST", "/v1/scans", token=local_stack.admin_token, body=b"not json {")

    assert response.status == 400
    assert response.json()["error"]["code"]


def test_a_json_document_of_no_supported_format_is_422(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    response = local_stack.request(
        "POST", "/v1/scans", token=local_stack.admin_token, body=UNSUPPORTED_DOCUMENT
    )

    assert response.status == 422
    assert response.json()["error"]["code"]


def test_a_body_over_api_gateways_limit_is_413(local_stack: RunningStack) -> None:
    from riskgate.resources import GATEWAY_MAX_BODY_BYTES

    response = local_stack.request(
        "POST", "/v1/scans", token=local_stack.admin_token, body=b" " * (GATEWAY_MAX_BODY_BYTES + 1)
    )

    assert response.status == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_sigterm_stops_the_stack_with_exit_code_0(tmp_path: Path) -> None:
    stack = start_local_stack(tmp_path / "stderr.log")

    exit_code = stack.stop_with(signal.SIGTERM)

    assert exit_code == 0, stack.log_tail()


def test_the_stack_runs_in_process_with_stub_handlers() -> None:
    """What tests of later features build on: LocalStack in-process, handlers passed in."""
    evaluated: list[str] = []

    def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # Writes as the real API does, through the environment the stack set up.
        boto3.client("dynamodb").put_item(
            TableName=os.environ["RISKGATE_TABLE_NAME"],
            Item={"pk": {"S": "IMAGE#img-stub"}, "sk": {"S": "META"}},
        )
        return {"statusCode": 201, "body": json.dumps({"principal": event["requestContext"]["authorizer"]})}

    def authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
        return {"principalId": "admin", "policyDocument": {"Statement": [statement]}}

    def failing_evaluator(event: dict[str, Any], context: Any) -> dict[str, Any]:
        evaluated.extend(record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"])
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["dynamodb"]["SequenceNumber"]}]}

    ticks: list[float] = []
    endpoint_before = os.environ.get("AWS_ENDPOINT_URL")
    stack = LocalStack(
        port=0,
        admin_token="rg_stub",
        api_handler=api,
        authorizer=authorizer,
        evaluator=failing_evaluator,
        admin_bootstrap=lambda table_name, token: token or "rg_generated",
        max_retry_attempts=1,
    )
    stack.add_periodic_task("tick", 0.05, lambda: ticks.append(time.monotonic()))
    with stack:
        response = http_request(stack.url, "POST", "/v1/scans", token=stack.admin_token, body=b"{}")
        stack.wait_until_idle(timeout=10)
        given_up = boto3.client("sqs").receive_message(QueueUrl=stack.resources.evaluator_failure_queue_url)

        assert response.status == 201
        assert response.json()["principal"]["principalId"] == "admin"
        # One attempt, one retry, then the batch goes to the on-failure queue.
        assert evaluated == ["IMAGE#img-stub", "IMAGE#img-stub"]
        (message,) = given_up["Messages"]
        assert json.loads(message["Body"])["DDBStreamBatchInfo"]["batchSize"] == 1
        assert ticks
        assert stack.admin_token == "rg_stub"
    assert os.environ.get("AWS_ENDPOINT_URL") == endpoint_before


def test_sigint_stops_the_stack_with_exit_code_0(local_stack: RunningStack) -> None:
    exit_code = local_stack.stop_with(signal.SIGINT)

    assert exit_code == 0, local_stack.log_tail()


def wait_for_evaluation(stack: RunningStack, image_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + EVALUATION_TIMEOUT_SECONDS
    while True:
        image = stack.request("GET", f"/v1/images/{image_id}", token=stack.admin_token).json()
        if image.get("evaluated_at") is not None:
            return dict(image)
        if time.monotonic() > deadline:
            pytest.fail(f"no evaluation stored within {EVALUATION_TIMEOUT_SECONDS} s{stack.log_tail()}")
        time.sleep(0.2)
