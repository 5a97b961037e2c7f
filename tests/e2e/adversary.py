"""Helpers of the adversarial suite (`tests/e2e/test_adversarial.py`): the stack it talks to, requests as
a given caller, the set of identifiers one team must never be shown, what a page token decodes to, and
walking a list page by page. Nothing here knows the suite's teams.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from riskgate_local import LocalStack
from tests.e2e.conftest import HttpResult, http_request

WAIT_SECONDS = 30
# A limit=1 walk longer than this is taken for one that never ends.
MAX_PAGES = 400
# In bytes decoded from a page token, markers shorter than this are not looked for: random bytes would
# match a three-letter tag now and then.
MIN_MARKER_IN_DECODED = 6

# What a storage position looks like inside a page token: ids of every kind, key prefixes, attribute
# names, names of images and scopes, system names. A sealed token decodes to none of these.
GENERIC_IDENTIFIER = re.compile(
    r"(?:img|acc|rsp|pol|ntf|evt|scan|usr|scp|tok)-[0-9a-f]{8,}"
    r"|(?:IMAGE|SCAN|USER|SCOPE|ROLE|TOKEN|AUDIT|ACCEPTANCE|EVENT|NOTIFICATION|POLICY|RESPONSE|"
    r"INTEGRATION|VULN|TAG|USES|NAME|SCOPES|USERS|ROLES|EVENTS|INTEGRATIONS|NOTIFICATIONS)[A-Z_]*#"
    r'|"(?:pk|sk|gsi\dpk|gsi\dsk)"'
    r"|CVE-\d{4}-\d{3,}|GHSA-|ghcr\.io|shared/app|team-[ab]|tag-[ab]"
    r"|\b(?:global|administrator|security_officer|developer|ci_pipeline|auditor|default)\b"
)


# --- the stack --------------------------------------------------------------------------------------

# The stream and queue pollers' tick. `make run` polls every 0.25 s; the stack is one process whose
# threads share one interpreter lock, and idle polling at that rate cost a third of this suite's time.
POLL_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class Stack:
    """The local stack `make run` starts (`riskgate_local.LocalStack`: the same gateway, authorizer,
    handlers, stream and queue pollers, sink), run in this process and spoken to over HTTP."""

    url: str
    admin_token: str
    sink_url: str

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResult:
        return http_request(self.url, method, path, token=token, body=body, headers=headers)

    def log_tail(self, lines: int = 40) -> str:
        return " (the stack's log is in the test's captured stderr)"


@contextmanager
def running_stack() -> Iterator[Stack]:
    with LocalStack(port=0, stream_poll_interval_seconds=POLL_INTERVAL_SECONDS) as running:
        assert running.admin_token is not None
        yield Stack(running.url, running.admin_token, running.sink_url.rstrip("/"))


# --- HTTP -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request as sent: what the caller typed (identifiers echoed from it are not leaks)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @property
    def url(self) -> str:
        if not self.query:
            return self.path
        return self.path + "?" + urllib.parse.urlencode(self.query, safe="/:@")

    @property
    def typed(self) -> str:
        """Everything the caller chose, decoded: path, query values (a server-issued next_token excluded)
        and body."""
        parts = [urllib.parse.unquote(self.path)]
        parts += [f"{name}={value}" for name, value in self.query if name != "next_token"]
        if self.body:
            parts.append(self.body.decode("utf-8", errors="replace"))
        return "\n".join(parts)

    def __str__(self) -> str:
        shown = [(n, v if n != "next_token" else v[:12] + "…") for n, v in self.query]
        url = self.path + ("?" + urllib.parse.urlencode(shown, safe="/:@") if shown else "")
        return f"{self.method} {url}"


def query_items(query: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> tuple[tuple[str, str], ...]:
    if not query:
        return ()
    pairs = query.items() if isinstance(query, Mapping) else query
    return tuple((str(name), _query_value(value)) for name, value in pairs if value is not None)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def send(
    stack: Stack,
    method: str,
    path: str,
    token: str | None,
    payload: Any = None,
    *,
    query: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[Sent, HttpResult]:
    """One request: `payload` as JSON (or `raw` bytes as they are); the request as sent, and the answer."""
    body = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else None)
    sent = Sent(method, path, query_items(query), body)
    return sent, stack.request(method, sent.url, token=token, body=body, headers=headers)


def body_of(result: HttpResult) -> Any:
    """The answer's JSON, or None when it has none."""
    if not result.body:
        return None
    try:
        return json.loads(result.body)
    except ValueError:
        return None


def expect(
    stack: Stack,
    status: int,
    method: str,
    path: str,
    token: str | None,
    payload: Any = None,
    **options: Any,
) -> Any:
    """The answer's JSON, failing with the request and the answer when the status is another."""
    sent, result = send(stack, method, path, token, payload, **options)
    assert result.status == status, f"{sent} → {result.status}: {result.body[:600]!r}"
    return body_of(result)


def wait_until(what: str, check: Callable[[], bool], stack: Stack, seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s{stack.log_tail(15)}")
        time.sleep(0.25)


def error_of(result: HttpResult) -> dict[str, Any]:
    """The `error` object of an error answer (the API's one error shape), or {} when it has another."""
    body = body_of(result)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return dict(body["error"])
    return {}


# --- page tokens ----------------------------------------------------------------------------------


def page_token(result: HttpResult) -> str | None:
    body = body_of(result)
    if isinstance(body, dict) and isinstance(body.get("next_token"), str):
        return str(body["next_token"])
    return None


def decoded_forms(token: str, depth: int = 2) -> list[str]:
    """What a token could say to someone who base64-decodes it: the token itself, each of its `.`/`~`/`:`
    separated parts, decoded as URL-safe and as standard base64 (padding fixed), and base64 found inside
    that again, as text (bytes that are not UTF-8 shown one to one)."""
    forms = [token]
    if depth == 0:
        return forms
    parts = {token, *re.split(r"[.~:]", token)}
    for part in parts:
        part = part.strip()
        if len(part) < 4:
            continue
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            try:
                raw = decode(part + "=" * (-len(part) % 4))
            except (binascii.Error, ValueError):
                continue
            text = raw.decode("latin-1")
            forms.append(text)
            # A JSON key may hold a nested base64 value (an ExclusiveStartKey inside a wrapper, say).
            for inner in re.findall(r"[A-Za-z0-9_\-+/]{16,}={0,2}", text):
                forms.extend(decoded_forms(inner, depth - 1)[1:])
    return forms


def generic_identifiers_in_token(token: str) -> list[str]:
    """Identifiers of any kind (ids, key prefixes, attribute names, names) that a token shows decoded."""
    found: list[str] = []
    for form in decoded_forms(token):
        found.extend(match.group(0) for match in GENERIC_IDENTIFIER.finditer(form))
    return sorted(set(found))


# --- identifiers one team must never see ----------------------------------------------------------


class Identifiers:
    """The identifiers of the other team: ids, names, digests, tags, secrets; each with what it is.

    `found(text, typed)` names those in `text` that the caller did not type themselves (a 404 may echo
    the id the caller sent). A marker matches as a whole word: not inside a longer id or name.
    """

    def __init__(self) -> None:
        self._what: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None, what: str) -> None:
        if value and value not in self._what:
            self._what[value] = what
            self._pattern = None

    def __contains__(self, value: str) -> bool:
        return value in self._what

    def __len__(self) -> int:
        return len(self._what)

    def values(self) -> list[str]:
        return list(self._what)

    def _compiled(self) -> re.Pattern[str]:
        if self._pattern is None:
            alternatives = sorted(self._what, key=len, reverse=True)
            self._pattern = re.compile(
                r"(?<![A-Za-z0-9_-])(?:" + "|".join(re.escape(a) for a in alternatives) + r")(?![A-Za-z0-9_])"
            )
        return self._pattern

    def found(self, text: str, typed: str = "", *, min_length: int = 1) -> list[str]:
        hits = {match.group(0) for match in self._compiled().finditer(text)}
        return sorted(
            f"{self._what[hit]} ({hit})" for hit in hits if len(hit) >= min_length and hit not in typed
        )


def leaks(ids: Identifiers, sent: Sent, result: HttpResult) -> list[str]:
    """Every identifier of `ids` the answer carries — in its body, its headers, its page token (decoded
    too) — that the request did not carry itself."""
    typed = sent.typed
    problems = [f"body: {hit}" for hit in ids.found(result.body.decode("utf-8", errors="replace"), typed)]
    for name, value in result.headers.items():
        problems += [f"header {name}: {hit}" for hit in ids.found(f"{value}", typed)]
    token = page_token(result)
    if token:
        for form in decoded_forms(token)[1:]:
            problems += [
                f"next_token (decoded): {hit}"
                for hit in ids.found(form, typed, min_length=MIN_MARKER_IN_DECODED)
            ]
    return sorted(set(problems))


def walk(
    stack: Stack,
    token: str,
    path: str,
    query: Mapping[str, Any] | None = None,
    *,
    limit: int = 1,
) -> tuple[list[tuple[Sent, HttpResult]], bool]:
    """Every page of a list with `limit`, following next_token: the requests and answers, and whether the
    walk ended (a page without next_token, or an error) within MAX_PAGES."""
    pages: list[tuple[Sent, HttpResult]] = []
    params = {**(query or {}), "limit": limit}
    for _ in range(MAX_PAGES):
        sent, result = send(stack, "GET", path, token, query=params)
        pages.append((sent, result))
        next_token = page_token(result) if result.status == 200 else None
        if not next_token:
            return pages, True
        params = {**params, "next_token": next_token}
    return pages, False


def all_items(stack: Stack, token: str, path: str, query: Mapping[str, Any] | None = None) -> list[Any]:
    """Every item of a list, pages of 200."""
    items: list[Any] = []
    pages, ended = walk(stack, token, path, query, limit=200)
    assert ended, f"GET {path} did not end"
    for sent, result in pages:
        assert result.status == 200, f"{sent} → {result.status}: {result.body[:300]!r}"
        items.extend(body_of(result)["items"])
    return items
