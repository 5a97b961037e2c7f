"""The console in Chromium: Playwright (PyPI) drives Debian's browser (`/usr/bin/chromium`; `make test`
installs it where missing — Playwright's own download is never needed) against the local stack started
as the e2e tests start it (`python -m riskgate_local`, ready on its one stdout line).

Each test gets a fresh browser context (its own sessionStorage) whose page records what must never
happen: a script error, or anything the Content-Security-Policy blocked. axe-core is served to the page
from the console's own node_modules at a same-origin URL, so the CSP (`script-src 'self'`, no inline
scripts) stays in force while it runs. Screenshots go to tests/browser/screenshots/ (gitignored).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.e2e.conftest import HttpResult, RunningStack, start_local_stack

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CONSOLE_DIST = REPO_ROOT / "console" / "dist"
AXE = REPO_ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# A same-origin path nothing else uses: the page loads axe-core from here (see `console`).
AXE_URL_PATH = "/__browser_tests__/axe.min.js"
# The stream's evaluation is asynchronous: what a person waits for, the tests wait for as long.
EVALUATION_TIMEOUT_MS = 30_000
# Set to 1 to refresh docs/console.png, the README's screenshot, from this run.
UPDATE_DOCS_SCREENSHOT = os.environ.get("RISKGATE_UPDATE_DOCS_SCREENSHOT") == "1"

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One local stack for every browser test: starting one takes seconds."""
    if not CHROMIUM.is_file():
        pytest.skip(
            f"{CHROMIUM} not found: `make test` installs it (apt-get install chromium fonts-liberation)"
        )
    if not (CONSOLE_DIST / "index.html").is_file() or not AXE.is_file():
        pytest.skip("the console is not built: run `make console`")
    stack = start_local_stack(tmp_path_factory.mktemp("browser-stack") / "stderr.log")
    yield stack
    if stack.process.poll() is None:
        stack.process.kill()
        stack.process.wait()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright, console_stack: RunningStack) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
    yield launched
    launched.close()


@dataclass
class Console:
    """A browser tab on the console, and the stack behind it."""

    page: Page
    stack: RunningStack
    problems: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.stack.url

    def goto(self, path: str) -> None:
        self.page.goto(self.url + path)

    def sign_in(self, token: str | None = None) -> None:
        self.goto("/")
        self.page.get_by_label("API token").fill(token or self.stack.admin_token)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("button", name="Sign out")).to_be_visible()

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=target, full_page=True)
        return target

    def check_accessibility(self, where: str) -> None:
        """axe-core on the page as it is now (an open dialog included): no serious or critical violation."""
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.add_script_tag(url=AXE_URL_PATH)
        violations = self.page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ['violations']});
                return result.violations
                    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                  targets: v.nodes.slice(0, 5).map((n) => n.target.join(' '))}));
            }"""
        )
        assert violations == [], f"axe-core on {where}:\n{json.dumps(violations, indent=2)}"

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> HttpResult:
        data = json.dumps(body).encode() if body is not None else None
        return self.stack.request(method, path, token=token or self.stack.admin_token, body=data)


@pytest.fixture
def console(browser: Browser, console_stack: RunningStack) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    tab = Console(page=page, stack=console_stack)
    page.route(
        re.compile(re.escape(console_stack.url + AXE_URL_PATH)),
        lambda route: route.fulfill(path=AXE, content_type="text/javascript"),
    )
    page.on("pageerror", lambda error: tab.problems.append(f"script error: {error}"))

    def on_console(message: Any) -> None:
        # Refused API calls are the tests' own doing (a 401, a 404 on purpose); what is never fine is a
        # script error or something the Content-Security-Policy blocked.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            tab.problems.append(f"console error: {message.text}")

    page.on("console", on_console)
    yield tab
    context.close()
    assert tab.problems == [], "\n".join(tab.problems)


def submit_report(console: Console, report: Path, image: str) -> dict[str, Any]:
    result = console.stack.request(
        "POST", f"/v1/scans?image={image}", token=console.stack.admin_token, body=report.read_bytes()
    )
    assert result.status == 201, result.body
    return dict(result.json())


def user_token(console: Console, name: str, bindings: list[dict[str, str]]) -> tuple[str, str, str]:
    """A new user with these role bindings and a token for it: (user id, token id, secret)."""
    user = console.api("POST", "/v1/users", {"name": name, "kind": "person", "role_bindings": bindings})
    assert user.status == 201, user.body
    issued = console.api("POST", f"/v1/users/{user.json()['id']}/tokens", {"name": "browser"})
    assert issued.status == 201, issued.body
    return str(user.json()["id"]), str(issued.json()["id"]), str(issued.json()["token"])


def wait_for(what: str, check: Any, console: Console, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds} s{console.stack.log_tail()}")
        time.sleep(0.25)
