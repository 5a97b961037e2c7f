"""The CI side of Riskgate: upload a scanner report, render the verdict, decide the build's exit code.

Standard library only, so that `riskgate scan submit` runs on a bare CI agent after `pip install` and
never imports boto3 or Powertools. The HTTP exchange lives in `submit_report`; everything a test wants to
check without a server (URLs, back-off, error messages, rendering, exit codes) is a plain function.
"""

from __future__ import annotations

import gzip
import json
import random
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal

EXIT_PASSED = 0
EXIT_GATE_FAILED = 1
EXIT_ERROR = 2

FailOn = Literal["block", "non-compliant", "never"]
FAIL_ON_CHOICES: tuple[FailOn, ...] = ("block", "non-compliant", "never")

# 409 is the server saying an earlier attempt under the same Idempotency-Key is still running: after a
# client-side timeout that is the expected answer, and retrying shortly gets the stored result.
RETRYABLE_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
# A Retry-After beyond this would hold a CI job hostage; the server's hint is honoured up to it.
RETRY_AFTER_LIMIT_SECONDS = 60.0
TOP_FINDINGS_PER_REASON = 5
SEVERITY_ORDER = ("critical", "high", "medium", "low", "negligible", "unknown")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 8.0


@dataclass(frozen=True)
class ScanRequest:
    base_url: str
    token: str
    report: bytes
    image: str | None = None
    timeout_seconds: float = 60.0
    idempotency_key: str = field(default_factory=lambda: f"riskgate-cli-{uuid.uuid4()}")


class SubmitError(Exception):
    """Why the report could not be submitted; the message is written to stderr as is."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


# One HTTP exchange: (request, timeout) → answer, raising OSError (URLError included) when no answer came.
Transport = Callable[[urllib.request.Request, float], HttpAnswer]


def urllib_transport(request: urllib.request.Request, timeout: float) -> HttpAnswer:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            return HttpAnswer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpAnswer(error.code, dict(error.headers or {}), error.read())


def scans_url(base_url: str, image: str | None) -> str:
    """`<base>/v1/scans[?image=…]`; the base may carry a stage path (`…/api`) and a trailing slash."""
    url = base_url.rstrip("/") + "/v1/scans"
    if image:
        url += "?" + urllib.parse.urlencode({"image": image})
    return url


def check_base_url(base_url: str) -> None:
    scheme = urllib.parse.urlsplit(base_url).scheme
    if scheme not in ("http", "https"):
        raise SubmitError(f"RISKGATE_URL must start with http:// or https:// (got {base_url!r})")


def compress_report(report: bytes) -> bytes:
    """gzip with a fixed timestamp: every retry must send the very bytes the key was first used with,
    since the server ties an Idempotency-Key to a hash of the body. Already-gzipped reports pass as is."""
    if report.startswith(GZIP_MAGIC):
        return report
    return gzip.compress(report, mtime=0)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def backoff_seconds(
    failed_attempts: int,
    policy: RetryPolicy,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Exponential back-off with full jitter (so many pipelines retrying at once spread out), unless the
    server said when to come back."""
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_LIMIT_SECONDS)
    ceiling = min(policy.cap_seconds, policy.base_seconds * 2 ** (failed_attempts - 1))
    return ceiling * rng()


def server_message(body: bytes) -> str:
    """The `error.message` of the API's error body, or the start of whatever else came back."""
    try:
        document = json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace").strip()[:200] or "(empty answer)"
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if document.get("message"):  # API Gateway's own answers, e.g. {"message": "Forbidden"}
            return str(document["message"])
    return json.dumps(document)[:200]


def refusal_message(status: int, body: bytes) -> str:
    """The stderr message for an answer that retrying cannot change."""
    message = server_message(body)
    if status == 401:
        return "token rejected (401): check RISKGATE_TOKEN"
    if status == 403:
        return f"not permitted: {message}"
    if status == 413:
        return f"report too large (413): {message}"
    return f"report refused ({status}): {message}"


def exhausted_message(status: int, body: bytes, attempts: int) -> str:
    """The stderr message for a retryable answer that kept coming."""
    if status == 429:
        return f"server still throttling (429) after {attempts} attempts"
    return f"server error ({status}) after {attempts} attempts: {server_message(body)}"


def submit_report(
    scan: ScanRequest,
    policy: RetryPolicy | None = None,
    *,
    transport: Transport = urllib_transport,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """POST the report (gzip) and return the server's JSON answer; SubmitError says why not.

    Every attempt carries the same Idempotency-Key and body, so a retry after a lost answer gets the
    first scan's answer back instead of storing a second scan.
    """
    policy = policy or RetryPolicy()
    check_base_url(scan.base_url)
    url = scans_url(scan.base_url, scan.image)
    body = compress_report(scan.report)
    headers = {
        "Authorization": f"Bearer {scan.token}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "Idempotency-Key": scan.idempotency_key,
        "Accept": "application/json",
        "User-Agent": "riskgate-cli",
    }
    for attempt in range(1, policy.max_attempts + 1):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (checked)
        last_attempt = attempt == policy.max_attempts
        try:
            answer = transport(request, scan.timeout_seconds)
        except ssl.SSLCertVerificationError as error:
            raise SubmitError(f"TLS certificate of {scan.base_url} not trusted: {error}") from error
        except (OSError, TimeoutError) as error:
            reason = getattr(error, "reason", error)
            if last_attempt:
                raise SubmitError(
                    f"server unreachable at {scan.base_url} after {attempt} attempts: {reason}"
                ) from error
            delay = backoff_seconds(attempt, policy)
            if on_retry:
                on_retry(f"no answer ({reason})", delay)
            sleep(delay)
            continue
        if 200 <= answer.status < 300:
            return parse_answer(answer.body)
        if answer.status not in RETRYABLE_STATUSES:
            raise SubmitError(refusal_message(answer.status, answer.body))
        if last_attempt:
            raise SubmitError(exhausted_message(answer.status, answer.body, attempt))
        delay = backoff_seconds(attempt, policy, retry_after_seconds(answer.headers.get("Retry-After")))
        if on_retry:
            on_retry(f"answer {answer.status}", delay)
        sleep(delay)
    raise SubmitError("no attempt was made (max attempts must be at least 1)")


def parse_answer(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise SubmitError(f"the server's answer is not JSON: {server_message(body)}") from error
    if not isinstance(document, dict) or not isinstance(document.get("verdict"), dict):
        raise SubmitError("the server's answer has no verdict")
    return document


def gate_failed(verdict: Mapping[str, Any], fail_on: FailOn) -> bool:
    if fail_on == "block":
        return bool(verdict.get("block"))
    if fail_on == "non-compliant":
        return verdict.get("status") == "non_compliant"
    return False


def exit_code_for(answer: Mapping[str, Any], fail_on: FailOn) -> int:
    return EXIT_GATE_FAILED if gate_failed(answer.get("verdict") or {}, fail_on) else EXIT_PASSED


def _severity_rank(finding: Mapping[str, Any]) -> int:
    severity = str(finding.get("severity") or "unknown").lower()
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def top_findings(findings: list[Mapping[str, Any]], limit: int = TOP_FINDINGS_PER_REASON) -> list[str]:
    """One line per finding, most severe first: `critical  CVE-…  package installed -> fixed`."""
    lines = []
    for finding in sorted(findings, key=_severity_rank)[:limit]:
        package = finding.get("package")
        where = ""
        if package:
            installed = finding.get("installed_version") or "?"
            fixed = finding.get("fixed_version") or "no fix"
            where = f"  {package} {installed} -> {fixed}"
        elif finding.get("location"):
            where = f"  {finding['location']}"
        severity = str(finding.get("severity") or "unknown")
        lines.append(f"{severity:<10} {finding.get('id')}{where}")
    return lines


def render_reason(reason: Mapping[str, Any]) -> list[str]:
    findings = list(reason.get("findings") or [])
    total = int(reason.get("findings_total") or len(findings))
    noun = "finding" if total == 1 else "findings"
    policy = reason.get("policy_name") or reason.get("policy_id")
    # Only dry-run entries carry `would_block`: what enforcing the policy would do to the build.
    consequence = ", would block" if reason.get("would_block") else ""
    lines = [f"  - {policy}: {reason.get('condition')} ({total} {noun}{consequence})"]
    shown = top_findings(findings)
    lines += [f"      {line}" for line in shown]
    if total > len(shown):
        lines.append(f"      ... and {total - len(shown)} more")
    return lines


def render_verdict(answer: Mapping[str, Any], fail_on: FailOn = "block") -> str:
    """The verdict as a CI log should show it. ASCII only: some CI agents' consoles are not UTF-8."""
    verdict: Mapping[str, Any] = answer.get("verdict") or {}
    image = answer.get("image") or {}
    reference = image.get("reference") if isinstance(image, dict) else None
    status = verdict.get("status", "unknown")
    lines = [
        f"Image:   {reference or answer.get('image_id', 'unknown')}",
        f"Status:  {status}",
        f"Block:   {'yes' if verdict.get('block') else 'no'}",
    ]
    if answer.get("scan_id"):
        scanner = " ".join(
            str(part) for part in (answer.get("scanner"), answer.get("scanner_version")) if part
        )
        lines.append(f"Scan:    {answer['scan_id']} ({scanner or answer.get('format', 'unknown format')})")
    reasons = verdict.get("reasons") or []
    if reasons:
        lines.append("Failing policies:")
        for reason in reasons:
            lines += render_reason(reason)
    # Policies in dry-run mode report what they would fail without enforcing it; servers before
    # assurance policies send no such key, and it may sit in the verdict or beside it.
    dry_run = verdict.get("dry_run") or answer.get("dry_run") or []
    if dry_run:
        lines.append("Would fail (dry-run policies, not enforced):")
        for reason in dry_run:
            lines += render_reason(reason)
    outcome = "FAILED" if gate_failed(verdict, fail_on) else "passed"
    lines.append(f"Gate {outcome} (--fail-on {fail_on})")
    return "\n".join(lines)
