"""The CI side of Riskgate: upload a scanner report and get the server's answer (its verdict) back;
rendering the verdict and deciding the build's exit code are `riskgate.client_verdict`'s.

Standard library only, so that `riskgate scan submit` runs on a bare CI agent after `pip install` and
never imports boto3 or Powertools. The HTTP exchange lives in `submit_report`; everything a test wants to
check without a server (URLs, back-off, error messages) is a plain function.
"""

from __future__ import annotations

import gzip
import http.client
import json
import math
import random
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

# 409 is the server saying an earlier attempt under the same Idempotency-Key is still running: after a
# client-side timeout that is the expected answer, and retrying shortly gets the stored result. Every
# other 4xx is final: sending the same request again cannot change it.
RETRYABLE_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
# A Retry-After beyond this would hold a CI job hostage; the server's hint is honoured up to it.
RETRY_AFTER_LIMIT_SECONDS = 60.0
URL_VARIABLE = "RISKGATE_URL"
TOKEN_VARIABLE = "RISKGATE_TOKEN"
# Secret files written on Windows may start with a byte-order mark; it is trimmed like whitespace.
_BYTE_ORDER_MARK = "\ufeff"
# What a token looks like in any text (`rg_` + URL-safe base64) and what a bearer header looks like:
# redacted from every message even when the exact secret is not known.
_TOKEN_LIKE = re.compile(r"(?<![A-Za-z0-9])rg_[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=\-]{8,}")  # RFC 6750's b64token, not "bearer token"
REDACTED = "***"
GZIP_MAGIC = b"\x1f\x8b"
# Lambda refuses request bodies over 6 MB (base64 makes 4.5 MB of gzip about that); reports above take
# the upload path.
UPLOAD_THRESHOLD_BYTES = 4 * 1024 * 1024
# How often an upload's status is asked for while its report is processed.
UPLOAD_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard `submit_report` tries: at most `max_attempts` requests, and no new attempt once waiting
    for it would take the run past `max_total_seconds` since the first attempt started."""

    max_attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 8.0
    max_total_seconds: float = 300.0


@dataclass(frozen=True)
class ScanRequest:
    base_url: str
    token: str = field(repr=False)  # never in a repr, a log line or a test failure's locals
    report: bytes
    image: str | None = None
    timeout_seconds: float = 60.0
    idempotency_key: str = field(default_factory=lambda: f"riskgate-cli-{uuid.uuid4()}")
    # Compressed reports over this go through POST /v1/scans/uploads and S3 (a request body is capped at
    # about 6 MB on AWS); the verdict is then awaited for at most `wait_seconds`.
    upload_threshold_bytes: int = UPLOAD_THRESHOLD_BYTES
    wait_seconds: float = 900.0


class SubmitError(Exception):
    """Why the report could not be submitted; the message is written to stderr as is."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


# One HTTP exchange: (request, timeout) → answer, raising OSError (URLError included) when no answer came.
Transport = Callable[[urllib.request.Request, float], HttpAnswer]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect with the Authorization header to wherever it points (another host,
    plain http) and turn the POST into a GET. A redirect comes back as the answer instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def urllib_transport(request: urllib.request.Request, timeout: float) -> HttpAnswer:
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return HttpAnswer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpAnswer(error.code, dict(error.headers or {}), error.read())


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header whatever its case: HTTP/2 and API Gateway's HTTP APIs send them in lower case."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def trim_setting(value: str) -> str:
    """A setting as CI hands it over, without the newline of `$(cat file)`, a CR or spaces around it."""
    return value.strip().strip(_BYTE_ORDER_MARK).strip()


def _has_unsafe_characters(value: str) -> bool:
    """Whitespace, control characters or anything outside printable ASCII: none can go into an HTTP
    header or a request line, and http.client's complaint about them quotes the whole value."""
    return any(not ("!" <= character <= "~") for character in value)


def check_token(token: str, name: str = TOKEN_VARIABLE) -> str:
    """The trimmed token; SubmitError names the variable (never the value) when it cannot be sent."""
    token = trim_setting(token)
    if not token:
        raise SubmitError(f"{name} is empty")
    if _has_unsafe_characters(token):
        raise SubmitError(
            f"{name} contains whitespace, control or non-ASCII characters inside it: "
            "check how it is set (its value is not shown)"
        )
    return token


def display_url(url: str) -> str:
    """The URL as messages may show it: scheme, host, port and path; never a user, password or query."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path}"


def scans_url(base_url: str, image: str | None) -> str:
    """`<base>/v1/scans[?image=…]`; the base may carry a stage path (`…/api`) and a trailing slash."""
    url = base_url.rstrip("/") + "/v1/scans"
    if image:
        url += "?" + urllib.parse.urlencode({"image": image})
    return url


def check_base_url(base_url: str, name: str = URL_VARIABLE) -> str:
    """The trimmed base URL; SubmitError says what is wrong with it without quoting it (a token pasted
    into the wrong variable must not end up in the build log)."""
    base_url = trim_setting(base_url)
    if not base_url:
        raise SubmitError(f"{name} is empty")
    if _has_unsafe_characters(base_url):
        raise SubmitError(
            f"{name} contains whitespace, control or non-ASCII characters inside it: check how it is set "
            "(its value is not shown; write an international host name in its xn-- form)"
        )
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme.lower() not in ("http", "https"):
        raise SubmitError(f"{name} must start with http:// or https:// (its value is not shown)")
    if parts.username is not None or parts.password is not None:
        raise SubmitError(f"{name} must not contain a user or password: the token goes in {TOKEN_VARIABLE}")
    if parts.query or parts.fragment or base_url.endswith(("?", "#")):
        raise SubmitError(f"{name} must be the API's base URL, without ?query or #fragment")
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError as error:
        raise SubmitError(f"{name} has an invalid port (its value is not shown)") from error
    if not parts.hostname:
        raise SubmitError(f"{name} names no host")
    return base_url


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secrets (as is, trimmed, or escaped the way repr() shows them), nor
    anything that looks like a Riskgate token or a bearer credential."""
    forms: set[str] = set()
    for secret in secrets:
        for variant in (secret, trim_setting(secret)):
            if variant:
                forms.update((variant, repr(variant)[1:-1], repr(variant.encode("utf-8", "replace"))[2:-1]))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    text = _BEARER.sub(lambda match: match.group(1) + REDACTED, text)
    return _TOKEN_LIKE.sub("rg_" + REDACTED, text)


def one_line(text: str) -> str:
    """A message as one line on stderr: newlines and other control characters become spaces (a server's
    message must not forge further log lines or terminal escapes)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


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
    if value.isascii() and value.replace(".", "", 1).isdigit():  # RFC 9110 says integer; 1.5 is read too
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # not an HTTP date (those are GMT); a naive time would be read as local
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


def refusal_message(status: int, body: bytes, location: str | None = None) -> str:
    """The stderr message for an answer that retrying cannot change."""
    message = server_message(body)
    if 300 <= status < 400:
        target = f" to {display_url(location)}" if location else ""
        return (
            f"the server redirected ({status}){target}: set {URL_VARIABLE} to the API's own address "
            "(redirects are not followed, so that the token goes nowhere else)"
        )
    if status == 401:
        return "token rejected (401): check RISKGATE_TOKEN"
    if status == 403:
        return f"not permitted: {message}"
    if status == 413:
        return f"report too large (413): {message}"
    return f"report refused ({status}): {message}"


def _transport_failure(error: BaseException) -> str:
    """What went wrong when no answer came: urllib's reason (a socket error: no URL, no header in it)."""
    reason = getattr(error, "reason", None) or error
    text = str(reason) if str(reason) else type(reason).__name__
    name = type(reason).__name__
    if isinstance(reason, http.client.HTTPException) and not text.startswith(name):
        text = f"{name}: {text}"  # BadStatusLine('…') says little without its name
    return text


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
    clock: Callable[[], float] = time.monotonic,
    rng: Callable[[], float] = random.random,
    on_retry: Callable[[str, float], None] | None = None,
    on_upload: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """POST the report (gzip) and return the server's JSON answer; SubmitError says why not.

    A compressed report over `scan.upload_threshold_bytes` goes through an upload instead: created with
    the same Idempotency-Key, posted to S3, and awaited for at most `scan.wait_seconds`; the answer is
    the same.

    Every attempt carries the same Idempotency-Key and body, so a retry after a lost answer gets the
    first scan's answer back instead of storing a second scan. Connection errors, timeouts, resets and
    the statuses in RETRYABLE_STATUSES are retried with exponential back-off and full jitter, or after
    the server's Retry-After (capped); `sleep`, `clock` and `rng` (the jitter) are injectable so that
    tests do not wait.
    """
    policy = policy or RetryPolicy()
    base_url = check_base_url(scan.base_url)
    token = check_token(scan.token)
    body = compress_report(scan.report)
    exchange = _Exchange(scan, policy, transport, sleep, clock, rng, on_retry)
    api_headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": scan.idempotency_key,
        "Accept": "application/json",
        "User-Agent": "riskgate-cli",
    }
    if len(body) <= scan.upload_threshold_bytes:
        headers = {**api_headers, "Content-Type": "application/json", "Content-Encoding": "gzip"}
        return parse_answer(
            exchange.send("POST", scans_url(base_url, scan.image), body, headers, display_url(base_url))
        )
    if on_upload:
        on_upload(f"the report is {len(body) / 1024 / 1024:.1f} MB compressed: uploading it through S3")
    return _submit_as_upload(exchange, base_url, body, api_headers, scan, sleep=sleep, clock=clock)


def _submit_as_upload(
    exchange: _Exchange,
    base_url: str,
    body: bytes,
    api_headers: dict[str, str],
    scan: ScanRequest,
    *,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, Any]:
    """A report too large for a request: an upload is created (under the same Idempotency-Key, so a retry
    gets the same one), the report is posted to its presigned S3 URL, and the answer is awaited."""
    where = display_url(base_url)
    created = parse_json(exchange.send("POST", uploads_url(base_url, scan.image), b"", api_headers, where))
    try:
        upload_id, target, fields = str(created["upload_id"]), str(created["url"]), dict(created["fields"])
    except (KeyError, TypeError, ValueError) as error:
        raise SubmitError("the server's answer to the upload request has no upload URL") from error
    form, content_type = multipart_form(fields, str(created.get("file_field") or "file"), body)
    storage_headers = {"Content-Type": content_type, "User-Agent": "riskgate-cli"}
    exchange.send("POST", target, form, storage_headers, display_url(target), storage_refusal)
    status_url = f"{base_url.rstrip('/')}/v1/scans/uploads/{urllib.parse.quote(upload_id)}"
    read_headers = {key: value for key, value in api_headers.items() if key != "Idempotency-Key"}
    deadline = clock() + scan.wait_seconds
    while True:
        upload = parse_json(exchange.send("GET", status_url, None, read_headers, where))
        if upload.get("status") == "done":
            return parse_answer(json.dumps(upload.get("result")).encode())
        if upload.get("status") == "failed":
            # The error POST /v1/scans would have answered, told the same way.
            refusal = json.dumps({"error": upload.get("error") or {}}).encode()
            raise SubmitError(refusal_message(int(upload.get("error_status") or 422), refusal))
        if clock() + UPLOAD_POLL_SECONDS > deadline:
            raise SubmitError(
                f"the report was uploaded ({upload_id}) but not processed within {scan.wait_seconds:g} s "
                f"(--wait): GET /v1/scans/uploads/{upload_id} tells when it is"
            )
        sleep(UPLOAD_POLL_SECONDS)


_S3_ERROR_PART = re.compile(r"<(Code|Message)>([^<]{0,200})</\1>")


def storage_refusal(status: int, body: bytes, location: str | None = None) -> str:
    """S3's refusal of the report (an XML error: `EntityTooLarge`, an expired policy), in one line."""
    parts = dict(_S3_ERROR_PART.findall(body.decode("utf-8", errors="replace")))
    detail = ": ".join(part for part in (parts.get("Code"), parts.get("Message")) if part)
    return f"the upload's storage refused the report ({status}){f': {detail}' if detail else ''}"


def uploads_url(base_url: str, image: str | None) -> str:
    url = base_url.rstrip("/") + "/v1/scans/uploads"
    if image:
        url += "?" + urllib.parse.urlencode({"image": image})
    return url


def multipart_form(fields: Mapping[str, str], file_field: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body: the fields in order, then the file (S3 wants the file last)."""
    boundary = f"riskgate-{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{file_field}"; filename="report.json.gz"\r\n'
            "Content-Type: application/gzip\r\n\r\n"
        ).encode()
    )
    parts.append(content)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise SubmitError(f"the server's answer is not JSON: {server_message(body)}") from error
    if not isinstance(document, dict):
        raise SubmitError("the server's answer is not a JSON object")
    return document


@dataclass
class _Exchange:
    """One request sent until it gets a final answer: retried on network errors and RETRYABLE_STATUSES
    with back-off, within the retry policy's limits; a 2xx answer's body is returned, anything else is a
    SubmitError saying why."""

    scan: ScanRequest
    policy: RetryPolicy
    transport: Transport
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    rng: Callable[[], float]
    on_retry: Callable[[str, float], None] | None

    def send(
        self,
        method: str,
        url: str,
        data: bytes | None,
        headers: Mapping[str, str],
        where: str,
        refusal: Callable[[int, bytes, str | None], str] | None = None,
    ) -> bytes:
        """`where` names the server in messages (the API's base URL, or the upload's host); `refusal`
        words a final refusal (default: the API's, from its error body)."""
        policy = self.policy
        started = self.clock()
        for attempt in range(1, policy.max_attempts + 1):
            request = urllib.request.Request(url, data=data, headers=dict(headers), method=method)  # noqa: S310 (checked)
            try:
                answer = self.transport(request, self.scan.timeout_seconds)
            except http.client.InvalidURL as error:  # its message quotes the URL
                raise SubmitError(f"{URL_VARIABLE} is not a valid URL (its value is not shown)") from error
            except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, cut short
                # urlopen wraps the TLS error in a URLError: retrying cannot make a certificate trusted.
                reason = error if isinstance(error, ssl.SSLError) else getattr(error, "reason", error)
                if isinstance(reason, ssl.SSLCertVerificationError):
                    detail = (
                        getattr(reason, "verify_message", None)
                        or getattr(reason, "reason", None)
                        or "certificate verify failed"
                    )
                    raise SubmitError(f"TLS certificate of {where} not trusted: {detail}") from error
                failure = f"no answer ({_transport_failure(error)})"
                delay = backoff_seconds(attempt, policy, rng=self.rng)
                final = f"server unreachable at {where} after {attempt} attempts: {_transport_failure(error)}"
            except (ValueError, UnicodeError) as error:  # http.client quotes the offending header or URL
                raise SubmitError(
                    f"the request could not be sent ({type(error).__name__}; details withheld, they may "
                    f"contain {TOKEN_VARIABLE})"
                ) from None
            else:
                if 200 <= answer.status < 300:
                    return answer.body
                if answer.status not in RETRYABLE_STATUSES:
                    words = refusal or (
                        lambda status, body, location: refusal_message(status, body, location)
                    )
                    raise SubmitError(
                        words(answer.status, answer.body, header_value(answer.headers, "Location"))
                    )
                failure = f"answer {answer.status}"
                retry_after = retry_after_seconds(header_value(answer.headers, "Retry-After"))
                delay = backoff_seconds(attempt, policy, retry_after, rng=self.rng)
                final = exhausted_message(answer.status, answer.body, attempt)
            if attempt == policy.max_attempts:
                raise SubmitError(final)
            if self.clock() - started + delay > policy.max_total_seconds:
                raise SubmitError(
                    f"{final} (gave up: waiting {delay:.1f} s more would pass the "
                    f"{policy.max_total_seconds:g} s retry limit)"
                )
            if self.on_retry:
                self.on_retry(failure, delay)
            self.sleep(delay)
        raise SubmitError("no attempt was made (max attempts must be at least 1)")


def parse_answer(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise SubmitError(f"the server's answer is not JSON: {server_message(body)}") from error
    if not isinstance(document, dict) or not isinstance(document.get("verdict"), dict):
        raise SubmitError("the server's answer has no verdict")
    return document
