"""Harbor's v2.0 API, read with a connection's robot account: an artifact's vulnerability report (after a
`SCANNING_COMPLETED` webhook) and the projects, repositories and artifacts a sync walks.

Answers are Harbor's JSON as it is (`riskgate.domain.registries` and the Harbor report parser map it);
failures are the two of `riskgate.adapters.registry_sources`, so that the ingester treats every registry
alike:

- `NotReady`: Harbor may answer later: a report not there yet (404), Harbor failing (5xx, 429), not
  answering in time, or not reachable at all;
- `PullRefused`: asking again cannot help: the robot account refused (401/403: its secret revoked or
  wrong, or its permissions too narrow), a project or repository gone from a list, a redirect, an
  answer that is not the JSON asked for, a certificate that does not verify.

Messages name the URL's host and the path asked for, never the robot's secret (nor the `Authorization`
header that carries it); Harbor's own error text is repeated only with anything equal to the secret
blanked out.

**Why not `riskgate.adapters.outbound_http`.** That module POSTs to webhooks: it caps an answer at 64 KiB
(a report of a large image is megabytes) and its only opener of its own vets the destination, refusing
every private address. That vetting guards against an integration, which a scope's administrator may
write, aiming Riskgate at the internal network. A Harbor connection is a different case: only a holder of
`registries:manage`, granted in the global scope alone, may set its URL (and every change is audited),
and Harbor is commonly self-hosted on a private network that Riskgate reaches over a VPC; refusing
private addresses would refuse the registries this exists for. So there is no address vetting here;
what is kept from the webhooks' care is what protects the robot's secret: https required (plain http
only for the hosts the settings name, the local stack's loopback Harbor), no proxy from the environment,
and no redirect followed (urllib would resend the `Authorization` header to wherever it points). Harbor's
answers are never returned to an API caller as they are, only through the parsers.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Collection
from email.message import Message as HeaderMessage
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urlsplit

from riskgate.adapters.delivery_errors import one_line
from riskgate.adapters.registry_sources import NotReady, PullRefused
from riskgate.domain.registries.harbor import project_segment, reference_segment, repository_segment

API_PREFIX = "/api/v2.0"
# A report is read up to this size; a larger one is refused rather than risk the function's memory.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
# Harbor's largest page.
MAX_PAGE_SIZE = 100
USER_AGENT = "riskgate-registry-ingester"


# --- paths ----------------------------------------------------------------------------------------------


def artifact_path(project: str, repository: str, reference: str) -> str:
    return (
        f"{API_PREFIX}/projects/{project_segment(project)}/repositories/{repository_segment(repository)}"
        f"/artifacts/{reference_segment(reference)}"
    )


# --- HTTP -----------------------------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Leaves every 3xx as the answer it is: following it would send the robot's credentials elsewhere."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: HeaderMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


@lru_cache(maxsize=1)
def _opener() -> urllib.request.OpenerDirector:
    """No proxy, no redirects, the system's trusted certificates with host names checked: built once per
    execution environment."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _NoRedirects(),
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
    )


class HarborClient:
    """One Harbor, read as one robot account (basic auth `robot_name:robot_secret`).

    `base_url` is Harbor's address (`https://harbor.example.com`, no path needed); plain http is allowed
    only when its host (or `host:port`) is one of `insecure_hosts`, else `ValueError`, as for a URL
    carrying credentials, a query or a fragment."""

    def __init__(
        self,
        base_url: str,
        robot_name: str,
        robot_secret: str,
        *,
        insecure_hosts: Collection[str] = frozenset(),
        timeout: float = 10.0,
    ) -> None:
        self.base_url = _checked_base_url(base_url, insecure_hosts)
        self.host = (urlsplit(self.base_url).hostname or "").lower()
        if not robot_name or ":" in robot_name or not robot_name.isprintable():
            raise ValueError("the Harbor robot name must be printable text without a colon")
        if not robot_secret or not robot_secret.isprintable():
            raise ValueError("the Harbor robot secret must be printable text")
        self.robot_name = robot_name
        token = base64.b64encode(f"{robot_name}:{robot_secret}".encode()).decode("ascii")
        self._authorization = f"Basic {token}"
        # What must never appear in a message: the secret and the header that carries it.
        self._secrets = (robot_secret, token)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HarborClient({self.base_url!r}, robot {self.robot_name!r})"

    # --- reads ------------------------------------------------------------------------------------------

    def vulnerability_report(self, path: str, accept: str) -> dict[str, Any]:
        """The report at `path` (riskgate.domain.registries.harbor.report_path) in the format `accept`
        names (Harbor's `X-Accept-Vulnerabilities`), as Harbor answered it: an object keyed by the
        report's media type. A 404 is `NotReady`: the report may not be there yet (the ingester gives up
        after its attempts)."""
        answer = self._get(path, {"X-Accept-Vulnerabilities": accept}, missing=NotReady)
        if not isinstance(answer, dict):
            raise PullRefused(f"Harbor's answer to {path} is not a JSON object")
        return answer

    def projects(self, page: int, page_size: int) -> list[dict[str, Any]]:
        """One page of the projects the robot account can see (`page` from 1); fewer than `page_size`
        means the last page."""
        return self._list(f"{API_PREFIX}/projects", page, page_size)

    def repositories(self, project: str, page: int, page_size: int) -> list[dict[str, Any]]:
        """One page of a project's repositories, each as Harbor gave it except `name`, which is the name
        inside the project (Harbor's `library/nginx` → `nginx`; `test/alpine/helm` → `alpine/helm`)."""
        found = self._list(f"{API_PREFIX}/projects/{project_segment(project)}/repositories", page, page_size)
        prefix = f"{project}/"
        return [
            {**repository, "name": str(repository.get("name") or "").removeprefix(prefix)}
            for repository in found
        ]

    def artifacts(self, project: str, repository: str, *, page: int, page_size: int) -> list[dict[str, Any]]:
        """One page of a repository's artifacts with their tags and scan overview, as Harbor gave them."""
        path = (
            f"{API_PREFIX}/projects/{project_segment(project)}/repositories/"
            f"{repository_segment(repository)}/artifacts"
        )
        return self._list(path, page, page_size, with_scan_overview="true", with_tag="true")

    # --- HTTP -------------------------------------------------------------------------------------------

    def _list(self, path: str, page: int, page_size: int, **query: str) -> list[dict[str, Any]]:
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page must be at least 1 and page_size from 1 to {MAX_PAGE_SIZE}")
        answer = self._get(
            f"{path}?{urlencode({**query, 'page': page, 'page_size': page_size})}", {}, missing=PullRefused
        )
        if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
            raise PullRefused(f"Harbor's answer to {path} is not a JSON list of objects")
        return answer

    def _get(self, path: str, headers: dict[str, str], *, missing: type[Exception]) -> Any:
        """GET `path` and parse its JSON; every failure as `NotReady` or `PullRefused` (a 404 as
        `missing`)."""
        if not path.startswith("/"):
            # base_url + "@elsewhere" would be another host: only absolute paths are joined.
            raise ValueError("a Harbor API path must start with /")
        request = urllib.request.Request(  # noqa: S310 - https, or http to a host the settings allow
            self.base_url + path,
            headers={
                **headers,
                "Accept": "application/json",
                "Authorization": self._authorization,
                "User-Agent": USER_AGENT,
            },
            method="GET",
        )
        try:
            with _opener().open(request, timeout=self.timeout) as response:
                body = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as error:
            raise self._refusal(error, path, missing) from None
        except urllib.error.URLError as error:
            raise self._unreachable(error.reason) from None
        except (OSError, http.client.HTTPException) as error:  # a timeout, a reset, an answer cut short
            raise self._unreachable(error) from None
        except ValueError as error:  # a URL or header http.client cannot use: never repeat it
            raise PullRefused(f"Harbor at {self.host} cannot be asked: {type(error).__name__}") from None
        if len(body) > MAX_ANSWER_BYTES:
            raise PullRefused(f"Harbor's answer to {path} is larger than {MAX_ANSWER_BYTES // 2**20} MiB")
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise PullRefused(f"Harbor's answer to {path} is not JSON") from None

    def _refusal(self, error: urllib.error.HTTPError, path: str, missing: type[Exception]) -> Exception:
        status = int(error.code)
        detail = self._harbor_error(error)
        said = f": {detail}" if detail else ""
        if status in (401, 403):
            return PullRefused(
                f"Harbor refused the robot account ({status}): its secret is wrong or revoked, "
                f"or it may not read {path}" + (f"; Harbor said: {detail}" if detail else "")
            )
        if status == 404:
            return missing(f"Harbor has nothing at {path} (404){said}")
        if status == 429 or status >= 500:
            return NotReady(f"Harbor answered {status}{said}")
        if 300 <= status < 400:
            return PullRefused(f"Harbor answered {status}, a redirect: not followed (check the URL)")
        return PullRefused(f"Harbor answered {status} to {path}{said}")

    def _harbor_error(self, error: urllib.error.HTTPError) -> str:
        """Harbor's own words for an error (`{"errors": [{"code", "message"}]}`), the secret blanked."""
        try:
            raw = error.read(64 * 1024) if error.fp is not None else b""
            document = json.loads(raw) if raw else None
        except (OSError, ValueError, http.client.HTTPException):
            document = None
        finally:
            error.close()
        errors = document.get("errors") if isinstance(document, dict) else None
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        text = " ".join(str(first.get(key) or "") for key in ("code", "message")).strip()
        return self._blanked(one_line(text)) if text else ""

    def _unreachable(self, reason: object) -> Exception:
        if isinstance(reason, ssl.SSLCertVerificationError):
            return PullRefused(
                f"Harbor's TLS certificate ({self.host}) does not verify: {reason.verify_message}"
            )
        if isinstance(reason, TimeoutError):
            return NotReady(f"Harbor ({self.host}) did not answer within {self.timeout:g} s")
        name = type(reason).__name__ if not isinstance(reason, str) else "error"
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        return NotReady(f"Harbor ({self.host}) could not be reached: {name}: {self._blanked(one_line(text))}")

    def _blanked(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _checked_base_url(base_url: str, insecure_hosts: Collection[str]) -> str:
    try:
        parts = urlsplit(base_url.strip())
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        raise ValueError("the Harbor URL cannot be used (not a URL)") from None
    if parts.username is not None or parts.password is not None:
        # Named without its user information: that may be a secret.
        raise ValueError(f"the Harbor URL must not carry credentials: {parts.scheme}://{host}")
    shown = parts.geturl()
    if not host or parts.scheme not in ("http", "https"):
        raise ValueError(f"the Harbor URL {shown} is not an http(s) URL")
    if parts.query or parts.fragment:
        raise ValueError(f"the Harbor URL {shown} must have no query or fragment")
    insecure_allowed = {name.lower() for name in insecure_hosts}
    if parts.scheme == "http" and host not in insecure_allowed and f"{host}:{port}" not in insecure_allowed:
        raise ValueError(f"the Harbor URL {shown} must use https")
    return shown.rstrip("/")
