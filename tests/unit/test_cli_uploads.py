"""The CLI's upload path for reports too large for a request: POST /v1/scans/uploads, the report posted
to the presigned S3 form without the token, then the upload polled until its answer. A scripted fake
transport stands in for the network and the clock is injected, so nothing waits."""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import gzip
import json
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import pytest

from riskgate.client import (
    UPLOAD_POLL_SECONDS,
    HttpAnswer,
    ScanRequest,
    SubmitError,
    compress_report,
    multipart_form,
    submit_report,
    uploads_url,
)
from riskgate.client_verdict import EXIT_GATE_FAILED, EXIT_PASSED, exit_code_for, render_verdict

TOKEN = "rg_dXBsb2Fkcy1hcmUtbm90LXNlbnQtdG8tczM"
BASE = "https://riskgate.example/api"
IMAGE = "registry.example/shop/api:1.0"
UPLOAD_ID = "upl-0123456789abcdef01234567"
S3_URL = "https://riskgate-uploads.s3.eu-west-1.amazonaws.com/"
CREATE_URL = f"{BASE}/v1/scans/uploads?image=registry.example%2Fshop%2Fapi%3A1.0"
STATUS_URL = f"{BASE}/v1/scans/uploads/{UPLOAD_ID}"
SCANS_URL = f"{BASE}/v1/scans?image=registry.example%2Fshop%2Fapi%3A1.0"
REPORT = json.dumps({"SchemaVersion": 2, "ArtifactName": IMAGE, "Results": []}).encode()
# S3's presigned POST fields, in the order the server gave them (S3 wants them before the file).
FIELDS = {
    "key": f"uploads/{UPLOAD_ID}",
    "x-amz-algorithm": "AWS4-HMAC-SHA256",
    "x-amz-credential": "ASIAEXAMPLE/20261203/eu-west-1/s3/aws4_request",
    "x-amz-date": "20261203T120000Z",
    "x-amz-security-token": "IQoJb3JpZ2luX2VjEXAMPLE",
    "policy": "eyJleHBpcmF0aW9uIjogIjIwMjYtMTItMDNUMTI6MTU6MDBaIn0=",
    "x-amz-signature": "0f" * 32,
}
CREATED: dict[str, Any] = {
    "upload_id": UPLOAD_ID,
    "status": "pending",
    "url": S3_URL,
    "method": "POST",
    "fields": FIELDS,
    "file_field": "file",
    "max_bytes": 500 * 1024 * 1024,
    "created_at": "2026-12-03T12:00:00.000000Z",
    "expires_at": "2026-12-03T12:15:00.000000Z",
}
RESULT: dict[str, Any] = {
    "scan_id": "scan-0123456789abcdef0123",
    "image_id": "img-1",
    "image": {"reference": IMAGE},
    "format": "trivy",
    "verdict": {"status": "compliant", "block": False, "reasons": []},
}


def answer(status: int, document: Any = None, headers: Mapping[str, str] | None = None) -> HttpAnswer:
    body = b"" if document is None else json.dumps(document).encode()
    return HttpAnswer(status, dict(headers or {}), body)


def upload(status: str, **extra: Any) -> HttpAnswer:
    return answer(200, {"upload_id": UPLOAD_ID, "status": status, **extra})


CREATED_ANSWER = answer(201, CREATED, {"Location": f"/v1/scans/uploads/{UPLOAD_ID}"})
S3_STORED = HttpAnswer(204, {"ETag": '"abc"'}, b"")
DONE = upload("done", result=RESULT)
S3_ACCESS_DENIED = HttpAnswer(
    403,
    {"Content-Type": "application/xml"},
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Invalid according to Policy: Policy expired.</Message>"
    b"<RequestId>R1</RequestId></Error>",
)


class FakeNetwork:
    """Answers by endpoint (method and URL), each from its own script; the last answer of a script
    repeats. Every request is kept; sleeping advances the clock."""

    def __init__(self, script: Mapping[tuple[str, str], list[HttpAnswer]]) -> None:
        self.script = {endpoint: list(answers) for endpoint, answers in script.items()}
        self.requests: list[urllib.request.Request] = []
        self.now = 1000.0
        self.sleeps: list[float] = []

    def transport(self, request: urllib.request.Request, timeout: float) -> HttpAnswer:
        self.requests.append(request)
        answers = self.script[(request.get_method(), request.full_url)]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def submit(self, scan: ScanRequest) -> dict[str, Any]:
        return submit_report(
            scan, transport=self.transport, sleep=self.sleep, clock=self.clock, rng=lambda: 1.0
        )

    @property
    def calls(self) -> list[tuple[str, str]]:
        return [(request.get_method(), request.full_url) for request in self.requests]


def network(
    create: list[HttpAnswer] | None = None,
    s3: list[HttpAnswer] | None = None,
    status: list[HttpAnswer] | None = None,
) -> FakeNetwork:
    return FakeNetwork(
        {
            ("POST", CREATE_URL): create or [CREATED_ANSWER],
            ("POST", S3_URL): s3 or [S3_STORED],
            ("GET", STATUS_URL): status or [DONE],
        }
    )


def large_scan(**overrides: Any) -> ScanRequest:
    """The report of an image, over an upload threshold of 10 bytes unless `overrides` say otherwise."""
    scan = ScanRequest(
        BASE, TOKEN, REPORT, image=IMAGE, idempotency_key="riskgate-cli-key-1", upload_threshold_bytes=10
    )
    return dataclasses.replace(scan, **overrides)


def headers_of(request: urllib.request.Request) -> dict[str, str]:
    return {name.lower(): value for name, value in request.header_items()}


def form_parts(body: bytes, content_type: str) -> list[tuple[str | None, str | None, str, bytes]]:
    """(name, filename, content type, content) of each part of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    assert message.is_multipart()
    parts = []
    for part in message.iter_parts():
        content = part.get_payload(decode=True)
        assert isinstance(content, bytes)
        name = part.get_param("name", header="content-disposition")
        parts.append((str(name) if name else None, part.get_filename(), part.get_content_type(), content))
    return parts


# --- the upload path --------------------------------------------------------------------------------


def test_a_large_report_is_uploaded_to_s3_and_its_answer_awaited() -> None:
    net = network(status=[upload("pending"), upload("processing"), DONE])
    told: list[str] = []

    result = submit_report(
        large_scan(),
        transport=net.transport,
        sleep=net.sleep,
        clock=net.clock,
        rng=lambda: 1.0,
        on_upload=told.append,
    )

    assert result == RESULT
    assert net.calls == [
        ("POST", CREATE_URL),
        ("POST", S3_URL),
        ("GET", STATUS_URL),
        ("GET", STATUS_URL),
        ("GET", STATUS_URL),
    ]
    assert net.sleeps == [UPLOAD_POLL_SECONDS, UPLOAD_POLL_SECONDS]
    assert len(told) == 1
    assert "uploading it through S3" in told[0]

    create, s3, *polls = net.requests
    # The upload is created as the caller, under the run's Idempotency-Key, with no body.
    assert create.full_url == uploads_url(BASE, IMAGE)
    assert headers_of(create)["authorization"] == f"Bearer {TOKEN}"
    assert headers_of(create)["idempotency-key"] == "riskgate-cli-key-1"
    assert not create.data
    # S3 gets the form and never the token.
    s3_headers = headers_of(s3)
    assert "authorization" not in s3_headers
    assert "idempotency-key" not in s3_headers
    assert TOKEN not in json.dumps(s3_headers)
    assert isinstance(s3.data, bytes)
    assert TOKEN.encode() not in s3.data
    parts = form_parts(s3.data, s3_headers["content-type"])
    assert [(name, content.decode()) for name, _, _, content in parts[:-1]] == list(FIELDS.items())
    name, filename, content_type, content = parts[-1]
    assert (name, filename, content_type) == ("file", "report.json.gz", "application/gzip")
    assert content == compress_report(REPORT)
    assert gzip.decompress(content) == REPORT
    # Polls read as the caller, without the key of the creating POST.
    for poll in polls:
        assert headers_of(poll)["authorization"] == f"Bearer {TOKEN}"
        assert "idempotency-key" not in headers_of(poll)
        assert poll.data is None


def test_an_already_gzipped_report_is_uploaded_as_is() -> None:
    report = gzip.compress(REPORT, mtime=12345)
    net = network()

    assert net.submit(large_scan(report=report)) == RESULT

    s3 = net.requests[1]
    assert isinstance(s3.data, bytes)
    assert form_parts(s3.data, headers_of(s3)["content-type"])[-1][3] == report


def test_the_file_field_the_server_names_carries_the_report() -> None:
    net = network(create=[answer(201, {**CREATED, "file_field": "upload"})])

    net.submit(large_scan())

    s3 = net.requests[1]
    assert isinstance(s3.data, bytes)
    assert form_parts(s3.data, headers_of(s3)["content-type"])[-1][0] == "upload"


@pytest.mark.parametrize(
    ("error_status", "error", "expected"),
    [
        (
            422,
            {"code": "invalid_request", "message": "Results[0] is not an object"},
            "report refused (422): Results[0] is not an object",
        ),
        (None, {"code": "invalid_request", "message": "no image"}, "report refused (422): no image"),
        (413, {"code": "payload_too_large", "message": "over 1 GiB"}, "report too large (413): over 1 GiB"),
        (
            403,
            {"code": "forbidden", "message": "you may not submit scans of x"},
            "not permitted: you may not submit scans of x",
        ),
        (
            400,
            {"code": "upload_expired", "message": "the report was never uploaded"},
            "report refused (400): the report was never uploaded",
        ),
    ],
)
def test_a_failed_upload_says_what_the_server_said(
    error_status: int | None, error: dict[str, Any], expected: str
) -> None:
    net = network(status=[upload("processing"), upload("failed", error=error, error_status=error_status)])

    with pytest.raises(SubmitError) as raised:
        net.submit(large_scan())

    assert str(raised.value) == expected
    assert net.calls[-1] == ("GET", STATUS_URL)
    assert len(net.calls) == 4


def test_an_upload_never_done_within_the_wait_names_the_upload_and_the_wait_option() -> None:
    net = network(status=[upload("processing")])

    with pytest.raises(SubmitError) as raised:
        net.submit(large_scan(wait_seconds=5))

    message = str(raised.value)
    assert UPLOAD_ID in message
    assert "--wait" in message
    assert "within 5 s" in message
    assert f"GET /v1/scans/uploads/{UPLOAD_ID}" in message
    # Polled at 0, 2 and 4 s; one more poll would come after the 5 s.
    assert net.calls.count(("GET", STATUS_URL)) == 3
    assert net.sleeps == [UPLOAD_POLL_SECONDS, UPLOAD_POLL_SECONDS]
    assert net.now - 1000.0 <= 5


def test_a_wait_of_zero_polls_once() -> None:
    net = network(status=[upload("pending")])

    with pytest.raises(SubmitError, match="--wait"):
        net.submit(large_scan(wait_seconds=0))

    assert net.calls.count(("GET", STATUS_URL)) == 1
    assert net.sleeps == []


def test_a_503_on_the_upload_creation_is_retried_under_the_same_key() -> None:
    net = network(create=[answer(503, {"message": "Service Unavailable"}), CREATED_ANSWER])

    assert net.submit(large_scan()) == RESULT

    assert net.calls[:3] == [("POST", CREATE_URL), ("POST", CREATE_URL), ("POST", S3_URL)]
    first, second = net.requests[:2]
    assert (
        headers_of(first)["idempotency-key"] == headers_of(second)["idempotency-key"] == "riskgate-cli-key-1"
    )
    assert first.data == second.data
    assert net.sleeps == [0.5]  # the first back-off step, jitter pinned to its ceiling


def test_s3_refusing_the_report_is_final_and_not_retried() -> None:
    net = network(s3=[S3_ACCESS_DENIED, S3_STORED])

    with pytest.raises(SubmitError) as raised:
        net.submit(large_scan())

    assert str(raised.value) == (
        "the upload's storage refused the report (403): AccessDenied: "
        "Invalid according to Policy: Policy expired."
    )
    assert net.calls == [("POST", CREATE_URL), ("POST", S3_URL)]
    assert net.sleeps == []


def test_s3_throttling_is_retried_with_the_same_form() -> None:
    slow_down = HttpAnswer(503, {}, b"<Error><Code>SlowDown</Code></Error>")
    net = network(s3=[slow_down, S3_STORED])

    assert net.submit(large_scan()) == RESULT

    assert net.calls[1:3] == [("POST", S3_URL), ("POST", S3_URL)]
    assert net.requests[1].data == net.requests[2].data


def test_an_answer_without_an_upload_url_is_an_error() -> None:
    net = network(create=[answer(201, {"upload_id": UPLOAD_ID, "status": "pending"})])

    with pytest.raises(SubmitError, match="no upload URL"):
        net.submit(large_scan())

    assert net.calls == [("POST", CREATE_URL)]


def test_the_upload_id_is_quoted_in_the_status_url() -> None:
    odd_id = "upl-a/b?c"
    odd_status = f"{BASE}/v1/scans/uploads/{urllib.parse.quote(odd_id)}"
    net = FakeNetwork(
        {
            ("POST", CREATE_URL): [answer(201, {**CREATED, "upload_id": odd_id})],
            ("POST", S3_URL): [S3_STORED],
            ("GET", odd_status): [DONE],
        }
    )

    assert net.submit(large_scan()) == RESULT
    assert net.calls[-1] == ("GET", f"{BASE}/v1/scans/uploads/upl-a/b%3Fc")


@pytest.mark.parametrize("margin", [0, 1000])
def test_a_report_at_or_below_the_threshold_is_posted_to_the_scans_endpoint(margin: int) -> None:
    threshold = len(compress_report(REPORT)) + margin
    net = FakeNetwork({("POST", SCANS_URL): [answer(201, RESULT)]})

    assert net.submit(large_scan(upload_threshold_bytes=threshold)) == RESULT

    assert net.calls == [("POST", SCANS_URL)]
    request = net.requests[0]
    assert request.data == compress_report(REPORT)
    assert headers_of(request)["content-encoding"] == "gzip"
    assert headers_of(request)["authorization"] == f"Bearer {TOKEN}"


def test_one_byte_over_the_threshold_takes_the_upload_path() -> None:
    net = network()

    net.submit(large_scan(upload_threshold_bytes=len(compress_report(REPORT)) - 1))

    assert net.calls[0] == ("POST", CREATE_URL)


def test_without_an_image_the_upload_is_created_without_a_query() -> None:
    net = FakeNetwork(
        {
            ("POST", f"{BASE}/v1/scans/uploads"): [CREATED_ANSWER],
            ("POST", S3_URL): [S3_STORED],
            ("GET", STATUS_URL): [DONE],
        }
    )

    scan = ScanRequest(BASE + "/", TOKEN, REPORT, upload_threshold_bytes=10)
    assert net.submit(scan) == RESULT


# --- multipart_form ---------------------------------------------------------------------------------


def test_multipart_form_parses_back_to_its_fields_then_the_file() -> None:
    content = gzip.compress(bytes(range(256)) * 64 + b"\r\n--\r\n", mtime=0)

    body, content_type = multipart_form(FIELDS, "file", content)

    assert content_type.startswith("multipart/form-data; boundary=")
    parts = form_parts(body, content_type)
    assert [(name, content.decode()) for name, _, _, content in parts[:-1]] == list(FIELDS.items())
    assert all(filename is None for _, filename, _, _ in parts[:-1])
    assert parts[-1] == ("file", "report.json.gz", "application/gzip", content)


def test_multipart_form_split_by_hand() -> None:
    content = b"\x1f\x8b" + bytes(range(256)) + b"\r\n\r\n"
    fields = {"key": "uploads/x", "policy": "cG9saWN5"}

    body, content_type = multipart_form(fields, "file", content)

    boundary = content_type.split("boundary=", 1)[1].encode()
    assert boundary not in content
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n")
    sections = body.split(b"--" + boundary)
    assert sections[0] == b""
    assert sections[-1] == b"--\r\n"
    parts = []
    for section in sections[1:-1]:
        assert section.startswith(b"\r\n")
        assert section.endswith(b"\r\n")
        head, _, value = section[2:-2].partition(b"\r\n\r\n")
        parts.append((head.decode(), value))
    assert parts == [
        ('Content-Disposition: form-data; name="key"', b"uploads/x"),
        ('Content-Disposition: form-data; name="policy"', b"cG9saWN5"),
        (
            'Content-Disposition: form-data; name="file"; filename="report.json.gz"\r\n'
            "Content-Type: application/gzip",
            content,
        ),
    ]


def test_multipart_boundaries_differ_per_form() -> None:
    assert multipart_form({}, "file", b"x")[1] != multipart_form({}, "file", b"x")[1]


# --- the answer of a report of several images -------------------------------------------------------

REDIS = "docker.io/library/redis:6.0.5"
WORKLOAD = "k8s://prod/default/deployment/redis"
SEVERAL: dict[str, Any] = {
    "scan_id": None,
    "image_id": None,
    "image": None,
    "format": "trivy-k8s",
    "verdict": {
        "status": "non_compliant",
        "block": True,
        "reasons": [
            {
                "policy_id": "default",
                "policy_name": "Default",
                "condition": "critical_vulnerability",
                "findings_total": 1,
                "findings": [
                    {
                        "id": "CVE-2021-32675",
                        "severity": "critical",
                        "package": "redis",
                        "installed_version": "6.0.5",
                        "fixed_version": "6.0.14",
                    }
                ],
                "image": REDIS,
            }
        ],
    },
    "scans": [
        {
            "scan_id": "scan-1",
            "image_id": "img-1",
            "image": {"reference": REDIS},
            "kind": "image",
            "verdict": {"status": "non_compliant", "block": True, "reasons": []},
        },
        {
            "scan_id": "scan-2",
            "image_id": "img-2",
            "image": {"reference": WORKLOAD},
            "kind": "workload",
            "verdict": {"status": "compliant", "block": False, "reasons": []},
        },
    ],
}


def test_a_verdict_of_several_images_lists_each_and_names_the_image_of_each_reason() -> None:
    text = render_verdict(SEVERAL)

    lines = text.splitlines()
    assert lines[:3] == [
        "Report:  2 images and Kubernetes resources (trivy-k8s)",
        f"  FAIL non_compliant  {REDIS}",
        f"  ok   compliant      {WORKLOAD}",
    ]
    assert "Image:" not in text
    assert "Status:  non_compliant" in lines
    assert "Block:   yes" in lines
    assert f"  - [{REDIS}] Default: critical_vulnerability (1 finding)" in lines
    assert any("CVE-2021-32675" in line and "redis 6.0.5 -> 6.0.14" in line for line in lines)
    assert lines[-1] == "Gate FAILED (--fail-on block)"
    assert text.isascii()
    assert exit_code_for(SEVERAL, "block") == EXIT_GATE_FAILED


def test_with_fail_on_never_no_image_of_several_fails() -> None:
    text = render_verdict(SEVERAL, "never")

    assert f"  ok   non_compliant  {REDIS}" in text.splitlines()
    assert text.endswith("Gate passed (--fail-on never)")
    assert exit_code_for(SEVERAL, "never") == EXIT_PASSED
