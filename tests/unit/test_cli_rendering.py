"""The CI gate's decisions without a server: URLs, back-off, error messages, rendering, exit codes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from riskgate.client import (
    HttpAnswer,
    RetryPolicy,
    ScanRequest,
    SubmitError,
    backoff_seconds,
    compress_report,
    refusal_message,
    retry_after_seconds,
    scans_url,
    submit_report,
)
from riskgate.client_verdict import EXIT_GATE_FAILED, EXIT_PASSED, FailOn, exit_code_for, render_verdict

BLOCKED_ANSWER: dict[str, Any] = {
    "scan_id": "scan-1",
    "image_id": "img-1",
    "image": {"reference": "docker.io/library/alpine:3.10"},
    "format": "trivy",
    "scanner": "trivy",
    "scanner_version": "0.72.0",
    "verdict": {
        "status": "non_compliant",
        "block": True,
        "reasons": [
            {
                "policy_id": "default",
                "policy_name": "Default: critical vulnerabilities, malware, sensitive data",
                "condition": "critical_vulnerability",
                "findings_total": 7,
                "findings": [
                    {"id": "CVE-LOW", "severity": "low", "package": "zlib", "installed_version": "1"},
                    {
                        "id": "CVE-2021-36159",
                        "severity": "critical",
                        "package": "apk-tools",
                        "installed_version": "2.10.6-r0",
                        "fixed_version": "2.10.7-r0",
                    },
                    {"id": "aws-access-key-id", "severity": "critical", "location": "/app/.env"},
                ],
            }
        ],
    },
}
COMPLIANT_ANSWER: dict[str, Any] = {
    "image": {"reference": "quay.io/keycloak/keycloak:24"},
    "verdict": {"status": "compliant", "block": False, "reasons": []},
}
NON_COMPLIANT_NOT_BLOCKING: dict[str, Any] = {"verdict": {"status": "non_compliant", "block": False}}


@pytest.mark.parametrize(
    ("answer", "fail_on", "expected"),
    [
        (BLOCKED_ANSWER, "block", EXIT_GATE_FAILED),
        (BLOCKED_ANSWER, "non-compliant", EXIT_GATE_FAILED),
        (BLOCKED_ANSWER, "never", EXIT_PASSED),
        (COMPLIANT_ANSWER, "block", EXIT_PASSED),
        (COMPLIANT_ANSWER, "non-compliant", EXIT_PASSED),
        (NON_COMPLIANT_NOT_BLOCKING, "block", EXIT_PASSED),
        (NON_COMPLIANT_NOT_BLOCKING, "non-compliant", EXIT_GATE_FAILED),
    ],
)
def test_the_exit_code_follows_fail_on(answer: dict[str, Any], fail_on: FailOn, expected: int) -> None:
    assert exit_code_for(answer, fail_on) == expected


def test_a_blocked_verdict_names_image_status_condition_and_most_severe_findings_first() -> None:
    text = render_verdict(BLOCKED_ANSWER)

    assert "docker.io/library/alpine:3.10" in text
    assert "non_compliant" in text
    assert "Block:   yes" in text
    assert "critical_vulnerability (7 findings)" in text
    lines = text.splitlines()
    cve_line = next(line for line in lines if "CVE-2021-36159" in line)
    assert "apk-tools 2.10.6-r0 -> 2.10.7-r0" in cve_line
    assert lines.index(cve_line) < next(i for i, line in enumerate(lines) if "CVE-LOW" in line)
    assert "zlib 1 -> no fix" in text
    assert "/app/.env" in text
    assert "... and 4 more" in text
    assert text.endswith("Gate FAILED (--fail-on block)")
    assert text.isascii()


def test_a_compliant_verdict_has_no_failing_policies() -> None:
    text = render_verdict(COMPLIANT_ANSWER)

    assert "Status:  compliant" in text
    assert "Failing policies" not in text
    assert text.endswith("Gate passed (--fail-on block)")


def test_dry_run_policies_are_shown_but_do_not_fail_the_gate() -> None:
    answer = {
        **COMPLIANT_ANSWER,
        "verdict": {
            **COMPLIANT_ANSWER["verdict"],
            "dry_run": [
                {
                    "policy_name": "CVSS 9+",
                    "condition": "cvss_at_least",
                    "findings_total": 1,
                    "would_block": True,
                }
            ],
        },
    }

    text = render_verdict(answer)

    assert "dry-run" in text
    assert "CVSS 9+: cvss_at_least (1 finding, would block)" in text
    assert exit_code_for(answer, "block") == EXIT_PASSED


@pytest.mark.parametrize(
    ("base_url", "image", "expected"),
    [
        ("http://127.0.0.1:8000", None, "http://127.0.0.1:8000/v1/scans"),
        (
            "https://x.execute-api.eu-west-1.amazonaws.com/api/",
            None,
            "https://x.execute-api.eu-west-1.amazonaws.com/api/v1/scans",
        ),
        ("http://h", "ghcr.io/a/b:1@sha256:ab", "http://h/v1/scans?image=ghcr.io%2Fa%2Fb%3A1%40sha256%3Aab"),
    ],
)
def test_the_scans_url_keeps_the_stage_path_and_encodes_the_image(
    base_url: str, image: str | None, expected: str
) -> None:
    assert scans_url(base_url, image) == expected


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    policy = RetryPolicy(base_seconds=0.5, cap_seconds=8.0)

    ceilings = [backoff_seconds(attempt, policy, rng=lambda: 1.0) for attempt in range(1, 7)]

    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff_seconds(3, policy, rng=lambda: 0.25) == 0.5


def test_retry_after_is_honoured_up_to_a_limit() -> None:
    policy = RetryPolicy()

    assert backoff_seconds(1, policy, retry_after=3.0) == 3.0
    assert backoff_seconds(1, policy, retry_after=3600.0) == 60.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    # 2015-10-21 07:28:00 GMT is 1445412480 in Unix time.
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_compression_is_deterministic_so_retries_send_the_same_bytes() -> None:
    report = b'{"SchemaVersion": 2}'

    assert compress_report(report) == compress_report(report)
    assert gzip.decompress(compress_report(report)) == report
    assert compress_report(compress_report(report)) == compress_report(report)


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (401, "missing or invalid bearer token", "token rejected"),
        (
            403,
            "you may not submit scans of ghcr.io/b",
            "not permitted: you may not submit scans of ghcr.io/b",
        ),
        (413, "over 32 MiB", "report too large (413): over 32 MiB"),
        (422, "unsupported report format", "report refused (422): unsupported report format"),
    ],
)
def test_refusals_say_what_went_wrong(status: int, message: str, expected: str) -> None:
    body = json.dumps({"error": {"code": "x", "message": message, "details": []}}).encode()

    assert expected in refusal_message(status, body)


class ScriptedTransport:
    """Answers from a script; records each request's headers and body."""

    def __init__(self, *answers: HttpAnswer | OSError) -> None:
        self.answers = list(answers)
        self.requests: list[urllib.request.Request] = []

    def __call__(self, request: urllib.request.Request, timeout: float) -> HttpAnswer:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return answer


def _scan() -> ScanRequest:
    return ScanRequest("http://riskgate.test", "rg_secret", b"{}")


def test_retries_reuse_one_idempotency_key_and_the_same_body() -> None:
    transport = ScriptedTransport(
        ConnectionRefusedError("refused"),
        HttpAnswer(409, {}, b'{"error": {"message": "still being processed"}}'),
        HttpAnswer(429, {"Retry-After": "2"}, b""),
        HttpAnswer(201, {}, json.dumps(COMPLIANT_ANSWER).encode()),
    )
    delays: list[float] = []

    answer = submit_report(_scan(), RetryPolicy(max_attempts=4), transport=transport, sleep=delays.append)

    assert answer == COMPLIANT_ANSWER
    assert len({request.get_header("Idempotency-key") for request in transport.requests}) == 1
    assert len({request.data for request in transport.requests}) == 1
    assert delays[2] == 2.0
    assert transport.requests[0].get_header("Content-encoding") == "gzip"


def test_refusals_are_not_retried() -> None:
    transport = ScriptedTransport(HttpAnswer(401, {}, b'{"error": {"message": "bad token"}}'))

    with pytest.raises(SubmitError, match="token rejected"):
        submit_report(_scan(), transport=transport, sleep=lambda _: None)
    assert len(transport.requests) == 1


def test_server_errors_give_up_after_the_last_attempt() -> None:
    transport = ScriptedTransport(*[HttpAnswer(502, {}, b"Bad Gateway")] * 3)

    with pytest.raises(SubmitError, match=r"server error \(502\) after 3 attempts"):
        submit_report(_scan(), RetryPolicy(max_attempts=3), transport=transport, sleep=lambda _: None)


def test_the_submit_command_never_imports_boto3_or_powertools() -> None:
    heavy = "{'boto3', 'botocore', 'aws_lambda_powertools', 'pydantic'}"
    probe = f"import sys, riskgate.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy}))"

    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("example", ["ci/gitlab-ci.yml", "ci/Jenkinsfile", "ci/teamcity-settings.kts"])
def test_the_ci_examples_in_the_docs_are_the_files_in_ci(example: str) -> None:
    repository = Path(__file__).resolve().parents[2]

    documented = (repository / "docs" / "ci.md").read_text(encoding="utf-8")

    assert (repository / example).read_text(encoding="utf-8").rstrip() in documented
