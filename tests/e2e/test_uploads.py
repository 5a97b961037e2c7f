"""Reports of any size and of many images, over HTTP against `make run`'s stack: the presigned POST
into moto's S3, the bucket's event through EventBridge to the upload queue, the ingester; `riskgate scan
submit` switching to the upload by itself; a `trivy k8s` report stored as one scan per image and
Kubernetes resource."""

from __future__ import annotations

import gzip
import json
import secrets
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from riskgate.client import multipart_form
from tests.e2e.conftest import RunningStack
from tests.e2e.test_cli import run_cli

pytestmark = pytest.mark.e2e

K8S_REPORT = "trivy/dd_k8s-cluster-legacy.json"
PROCESSING_TIMEOUT_SECONDS = 60


def post_json(stack: RunningStack, path: str, body: bytes = b"") -> tuple[int, Any]:
    response = stack.request("POST", path, token=stack.admin_token, body=body)
    return response.status, response.json()


def wait_until_finished(stack: RunningStack, upload_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + PROCESSING_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        upload = stack.request("GET", f"/v1/scans/uploads/{upload_id}", token=stack.admin_token).json()
        if upload["status"] in ("done", "failed"):
            return dict(upload)
        time.sleep(0.5)
    pytest.fail(f"upload {upload_id} not finished within {PROCESSING_TIMEOUT_SECONDS} s{stack.log_tail()}")


def post_form(url: str, fields: dict[str, str], content: bytes) -> int:
    form, content_type = multipart_form(fields, "file", content)
    request = urllib.request.Request(url, data=form, headers={"Content-Type": content_type}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def objects_in(url: str, bucket_prefix: str) -> list[str]:
    """What the uploads bucket holds, asked of the moto server the presigned URL points at."""
    parts = urllib.parse.urlsplit(url)
    s3 = boto3.client("s3", endpoint_url=f"{parts.scheme}://{parts.netloc}")
    bucket = parts.path.strip("/").split("/")[0]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=bucket_prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_an_upload_url_works_against_the_local_stack(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    status, created = post_json(local_stack, "/v1/scans/uploads?image=ghcr.io/e2e/upload:1")
    assert status == 201, created
    report = gzip.compress((scanner_fixtures / "trivy/ci_alpine-3.10_trivy-0.72.json").read_bytes())

    assert post_form(created["url"], created["fields"], report) in (200, 201, 204)

    done = wait_until_finished(local_stack, created["upload_id"])
    assert done["status"] == "done", done
    result = done["result"]
    assert result["image"]["reference"] == "ghcr.io/e2e/upload:1"
    assert result["verdict"]["block"] is True
    image = local_stack.request("GET", f"/v1/images/{result['image_id']}", token=local_stack.admin_token)
    assert image.json()["current_scan_id"] == result["scan_id"]
    assert objects_in(created["url"], created["fields"]["key"]) == []


def test_garbage_uploaded_fails_with_the_error_a_post_gives(local_stack: RunningStack) -> None:
    status, created = post_json(local_stack, "/v1/scans/uploads?image=ghcr.io/e2e/garbage:1")
    assert status == 201, created
    assert post_form(created["url"], created["fields"], b"\x00not json at all") in (200, 201, 204)

    failed = wait_until_finished(local_stack, created["upload_id"])
    posted = local_stack.request(
        "POST",
        "/v1/scans?image=ghcr.io/e2e/garbage:1",
        token=local_stack.admin_token,
        body=b"\x00not json at all",
    )
    assert (failed["status"], failed["error_status"]) == ("failed", posted.status)
    assert failed["error"]["code"] == posted.json()["error"]["code"]


def large_report(image: str, vulnerabilities: int = 40, description_bytes: int = 250_000) -> bytes:
    """A Trivy report whose gzip is over the CLI's 4 MB threshold: long random descriptions (which do not
    compress) on a few vulnerabilities, one of them critical."""
    entries = [
        {
            "VulnerabilityID": f"CVE-2099-{number:05d}",
            "PkgName": f"package-{number}",
            "InstalledVersion": "1.0",
            "FixedVersion": "1.1",
            "Severity": "CRITICAL" if number == 0 else "LOW",
            "Description": secrets.token_hex(description_bytes // 2),
        }
        for number in range(vulnerabilities)
    ]
    document = {
        "SchemaVersion": 2,
        "ArtifactName": image,
        "ArtifactType": "container_image",
        "Results": [{"Target": f"{image} (debian 12)", "Class": "os-pkgs", "Vulnerabilities": entries}],
    }
    return json.dumps(document).encode()


def test_the_cli_uploads_a_large_report_by_itself_and_keeps_its_exit_codes(
    local_stack: RunningStack, tmp_path: Path
) -> None:
    report = tmp_path / "large.json"
    report.write_bytes(large_report("ghcr.io/e2e/large:1"))
    assert len(gzip.compress(report.read_bytes())) > 4 * 1024 * 1024

    result = run_cli(str(report), "--output", "json", url=local_stack.url, token=local_stack.admin_token)

    assert result.returncode == 1, result.stderr
    assert "uploading it through S3" in result.stderr
    answer = json.loads(result.stdout)
    assert answer["image"]["reference"] == "ghcr.io/e2e/large:1"
    assert answer["counts"]["vulnerabilities"]["critical"] == 1
    assert answer["counts"]["vulnerabilities"]["low"] == 39


def test_a_trivy_k8s_report_is_one_scan_per_image_and_workload(
    local_stack: RunningStack, scanner_fixtures: Path
) -> None:
    body = (scanner_fixtures / K8S_REPORT).read_bytes()
    status, answer = post_json(local_stack, "/v1/scans?cluster=e2e", body)

    assert status == 201, answer
    assert answer["scan_id"] is None
    subjects = {scan["image"]["reference"]: scan for scan in answer["scans"]}
    assert set(subjects) == {
        "gcr.io/google_samples/gb-redis-follower:v2",
        "docker.io/library/redis:6.0.5",
        "k8s://e2e/default/deployment/redis-follower",
        "k8s://e2e/default/deployment/redis-leader",
        "k8s://e2e/default/service/redis-follower",
        "k8s://e2e/default/service/redis-leader",
    }
    assert subjects["k8s://e2e/default/deployment/redis-leader"]["kind"] == "workload"
    assert subjects["k8s://e2e/default/deployment/redis-leader"]["counts"]["misconfigurations"] == 5
    query = urllib.parse.urlencode({"kind": "workload", "registry": "k8s://e2e"})
    workloads = local_stack.request("GET", f"/v1/images?{query}", token=local_stack.admin_token)
    assert {item["repository"] for item in workloads.json()["items"]} == {
        "default/deployment/redis-follower",
        "default/deployment/redis-leader",
        "default/service/redis-follower",
        "default/service/redis-leader",
    }
