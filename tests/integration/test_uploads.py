"""Reports of any size: POST /v1/scans/uploads, the object put into (moto's) S3, the upload ingester run on
the event the bucket sends, GET /v1/scans/uploads/{id}. Over HTTP with a real presigned POST:
tests/e2e/test_uploads.py."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from riskgate.handlers import upload_ingester
from riskgate.handlers.api import handler
from riskgate.services import uploads as uploads_service
from tests.integration.conftest import UPLOADS_BUCKET, forget_cached_ports
from tests.support.api_calls import call, ok
from tests.support.events import FakeLambdaContext, api_event, response_json
from tests.support.reevaluation import put_scope

TEAM_A = [{"role": "ci_pipeline", "scope": "scope-team-a"}]


def object_created(key: str, size: int = 1) -> dict[str, Any]:
    """An SQS event holding the EventBridge event S3 sends when an object is created."""
    detail = {"bucket": {"name": UPLOADS_BUCKET}, "object": {"key": key, "size": size}, "reason": "PutObject"}
    body = {"source": "aws.s3", "detail-type": "Object Created", "detail": detail}
    return {
        "Records": [
            {
                "messageId": f"m-{key}",
                "receiptHandle": "r",
                "body": json.dumps(body),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:riskgate-uploads",
                "awsRegion": "us-east-1",
            }
        ]
    }


def ingest(key: str) -> dict[str, Any]:
    result: dict[str, Any] = upload_ingester.handler(object_created(key), FakeLambdaContext())
    return result


def start(query: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ok("POST", "/v1/scans/uploads", status=201, query=query, **kwargs)
    return answer


def upload(answer: dict[str, Any], body: bytes) -> str:
    key = str(answer["fields"]["key"])
    boto3.client("s3").put_object(Bucket=UPLOADS_BUCKET, Key=key, Body=body)
    return key


def objects_left() -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=UPLOADS_BUCKET)
    return [item["Key"] for item in listed.get("Contents", [])]


def scan_count(image_id: str) -> int:
    status, scans = call("GET", f"/v1/images/{image_id}/scans")
    return len(scans["items"]) if status == 200 else 0


def test_an_uploaded_gzip_report_is_stored_and_answers_what_a_post_would(
    dynamodb: Any, scanner_fixtures: Path
) -> None:
    report = (scanner_fixtures / "trivy/wild_python-test-baseline-full_bom-crlf.json").read_bytes()
    created = start()
    assert created["status"] == "pending"
    assert created["method"] == "POST"
    assert created["file_field"] == "file"
    assert created["fields"]["key"] == f"uploads/{created['upload_id']}"
    policy = json.loads(base64.b64decode(created["fields"]["policy"]))
    assert ["content-length-range", 1, created["max_bytes"]] in policy["conditions"]
    assert ok("GET", f"/v1/scans/uploads/{created['upload_id']}")["status"] == "pending"

    assert ingest(upload(created, gzip.compress(report))) == {"batchItemFailures": []}

    done = ok("GET", f"/v1/scans/uploads/{created['upload_id']}")
    assert done["status"] == "done", done
    result = done["result"]
    assert result["counts"]["vulnerabilities"]["critical"] == 6
    assert [scan["scan_id"] for scan in result["scans"]] == [result["scan_id"]]
    image = ok("GET", f"/v1/images/{result['image_id']}")
    assert image["current_scan_id"] == result["scan_id"]
    # The object is gone once ingested.
    assert objects_left() == []


def test_the_same_object_delivered_twice_stores_its_scans_once(dynamodb: Any, scanner_fixtures: Path) -> None:
    report = (scanner_fixtures / "trivy/dd_k8s-cluster-legacy.json").read_bytes()
    created = start()
    key = upload(created, report)
    # The first delivery dies after storing the scans, before marking the upload done.
    from riskgate.adapters import uploads as adapter

    original = adapter.UploadTable.finish

    def dies(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the function timed out")

    adapter.UploadTable.finish = dies  # type: ignore[method-assign]
    try:
        # Its one record failed: Lambda is told so and SQS delivers the object again.
        with pytest.raises(BatchProcessingError):
            ingest(key)
    finally:
        adapter.UploadTable.finish = original  # type: ignore[method-assign]
    assert ok("GET", f"/v1/scans/uploads/{created['upload_id']}")["status"] == "processing"

    assert ingest(key) == {"batchItemFailures": []}
    done = ok("GET", f"/v1/scans/uploads/{created['upload_id']}")
    assert done["status"] == "done"
    scans = done["result"]["scans"]
    assert len(scans) > 1
    assert all(scan_count(scan["image_id"]) == 1 for scan in scans)
    # A third delivery (SQS delivers at least once) finds the upload finished and changes nothing.
    boto3.client("s3").put_object(Bucket=UPLOADS_BUCKET, Key=key, Body=report)
    assert ingest(key) == {"batchItemFailures": []}
    assert all(scan_count(scan["image_id"]) == 1 for scan in scans)
    assert objects_left() == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"this is not json", 400, "malformed_request"),
        (gzip.compress(b'{"SchemaVersion": 2, "Results": []}')[:-9], 400, "malformed_request"),
        (b'{"spdxVersion": "SPDX-2.3"}', 422, "unsupported_format"),
        (b'{"SchemaVersion": 2, "Results": []}', 422, "image_unknown"),
    ],
    ids=["garbage", "truncated-gzip", "unsupported", "no-image"],
)
def test_a_bad_upload_fails_with_the_error_a_post_would_give_and_stores_nothing(
    dynamodb: Any, body: bytes, status: int, code: str
) -> None:
    created = start()
    assert ingest(upload(created, body)) == {"batchItemFailures": []}
    failed = ok("GET", f"/v1/scans/uploads/{created['upload_id']}")
    assert failed["status"] == "failed"
    assert failed["error_status"] == status
    assert failed["error"]["code"] == code, failed
    assert failed["result"] is None
    # The same body posted: the same status and error (the message may name the request body).
    response = handler(api_event("POST", "/v1/scans", body=body), FakeLambdaContext())
    assert (response["statusCode"], response_json(response)["error"]["code"]) == (status, code)
    assert ok("GET", "/v1/images")["items"] == []
    assert objects_left() == []


def test_an_object_over_the_limit_fails_413_even_when_s3_let_it_through(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3 enforces the presigned POST's content-length-range; moto does not, and the ingester checks too.
    monkeypatch.setenv("RISKGATE_MAX_UPLOAD_BYTES", "100")
    forget_cached_ports()
    created = start()
    assert created["max_bytes"] == 100
    assert ingest(upload(created, b'{"SchemaVersion": 2, "Results": []}' + b" " * 100)) == {
        "batchItemFailures": []
    }
    failed = ok("GET", f"/v1/scans/uploads/{created['upload_id']}")
    assert (failed["status"], failed["error_status"], failed["error"]["code"]) == (
        "failed",
        413,
        "payload_too_large",
    )
    assert objects_left() == []


def test_an_upload_never_made_reads_failed_once_its_url_expired(dynamodb: Any) -> None:
    created = start()
    assert ok("GET", f"/v1/scans/uploads/{created['upload_id']}")["status"] == "pending"
    # An hour later (the URL's lifetime), as the item would be read then.
    dynamodb.update_item(
        TableName="riskgate-test",
        Key={"pk": {"S": f"UPLOAD#{created['upload_id']}"}, "sk": {"S": "META"}},
        UpdateExpression="SET url_expires_at = :past",
        ExpressionAttributeValues={":past": {"S": "2020-01-01T00:00:00.000000Z"}},
    )
    failed = ok("GET", f"/v1/scans/uploads/{created['upload_id']}")
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "upload_expired"
    assert "never uploaded" in failed["error"]["message"]


def test_the_same_idempotency_key_gets_the_first_upload_back(dynamodb: Any) -> None:
    headers = {"Idempotency-Key": "ci-run-42"}
    first = start(query={"image": "ghcr.io/team-a/app:1"}, headers=headers)
    second = start(query={"image": "ghcr.io/team-a/app:1"}, headers=headers)
    assert second["upload_id"] == first["upload_id"]
    status, refused = call(
        "POST", "/v1/scans/uploads", query={"image": "ghcr.io/team-a/app:2"}, headers=headers
    )
    assert status == 422
    assert refused["error"]["details"][0]["location"] == "header.Idempotency-Key"


def test_an_upload_is_its_creators_alone(dynamodb: Any) -> None:
    created = start()
    status, answer = call("GET", f"/v1/scans/uploads/{created['upload_id']}", user_id="someone-else")
    assert status == 404, answer
    status, answer = call("GET", "/v1/scans/uploads/upl-000000000000000000000000")
    assert status == 404, answer


def test_naming_an_image_outside_the_callers_scopes_is_refused_before_the_upload(dynamodb: Any) -> None:
    put_scope(dynamodb, "riskgate-test", "scope-team-a", [{"registry": "ghcr.io", "repository": "team-a/*"}])
    status, answer = call("POST", "/v1/scans/uploads", query={"image": "ghcr.io/team-b/app:1"}, as_=TEAM_A)
    assert status == 403, answer
    assert "ghcr.io/team-b/app" in answer["error"]["message"]


def test_a_report_with_an_image_outside_the_creators_scopes_fails_403_naming_it(
    dynamodb: Any, scanner_fixtures: Path
) -> None:
    put_scope(dynamodb, "riskgate-test", "scope-team-a", [{"registry": "docker.io", "repository": "*"}])
    report = (scanner_fixtures / "trivy/dd_k8s-cluster-legacy.json").read_bytes()
    created = start(as_=TEAM_A)
    assert ingest(upload(created, report)) == {"batchItemFailures": []}
    failed = ok("GET", f"/v1/scans/uploads/{created['upload_id']}", as_=TEAM_A)
    assert (failed["status"], failed["error_status"]) == ("failed", 403), failed
    named = {detail["image"] for detail in failed["error"]["details"]}
    assert "gcr.io/google_samples/gb-redis-follower:v2" in named
    assert "docker.io/library/redis:6.0.5" not in named
    assert ok("GET", "/v1/images")["items"] == []


def test_a_report_over_the_in_memory_size_is_read_as_a_stream_with_the_same_findings(
    dynamodb: Any, scanner_fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = (scanner_fixtures / "trivy/wild_python-test-baseline-full_bom-crlf.json").read_bytes()
    posted = handler(
        api_event("POST", "/v1/scans", body=report, query={"image": "ghcr.io/posted/app:1"}),
        FakeLambdaContext(),
    )
    assert posted["statusCode"] == 201
    monkeypatch.setattr(uploads_service, "UPLOAD_IN_MEMORY_BYTES", 1024)
    created = start(query={"image": "ghcr.io/uploaded/app:1"})
    assert ingest(upload(created, report)) == {"batchItemFailures": []}
    done = ok("GET", f"/v1/scans/uploads/{created['upload_id']}")
    assert done["status"] == "done", done
    posted_body = response_json(posted)
    assert done["result"]["counts"] == posted_body["counts"]
    assert done["result"]["verdict"] == posted_body["verdict"]

    def findings(image_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        query = {"limit": "200"}
        while True:
            page = ok("GET", f"/v1/images/{image_id}/findings", query=query)
            items += page["items"]
            if not page["next_token"]:
                return sorted(items, key=json.dumps)
            query = {**query, "next_token": page["next_token"]}

    assert findings(done["result"]["image_id"]) == findings(posted_body["image_id"])


def test_a_message_naming_no_upload_is_dropped_not_retried_forever(dynamodb: Any) -> None:
    garbage = object_created("uploads/../../etc/passwd")
    garbage["Records"][0]["body"] = "not an event"
    assert upload_ingester.handler(garbage, FakeLambdaContext()) == {"batchItemFailures": []}
    # A key under the prefix that is no upload id, and an upload id nobody created: nothing to do.
    assert ingest("uploads/not-an-upload") == {"batchItemFailures": []}
    assert ingest("uploads/upl-000000000000000000000000") == {"batchItemFailures": []}
    assert ok("GET", "/v1/images")["items"] == []
