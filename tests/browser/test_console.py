"""A security officer's day in the console, in Chromium, against `make run`'s stack (issue 15, point 5).

Real reports (../shared/fixtures/scanners) go in through the API; everything after that is done in the
page as a person would, waiting — with Playwright's auto-waiting expectations — for what the stream
decides asynchronously. Every page is checked with axe-core and photographed.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    EVALUATION_TIMEOUT_MS,
    REPO_ROOT,
    UPDATE_DOCS_SCREENSHOT,
    Console,
    submit_report,
    user_token,
    wait_for,
)

pytestmark = pytest.mark.browser

TRIVY_ALPINE = "trivy/ci_alpine-3.10_trivy-0.72.json"  # alpine:3.10, one critical vulnerability
ALPINE_CRITICAL = "CVE-2021-36159"
TRIVY_BUSTER = "trivy/golden_debian-buster.json"  # debian buster, one critical vulnerability
FIRST_LOAD_LIMIT_BYTES = 200 * 1024


def image_id_of(console: Console, reference: str) -> str:
    registry, _, rest = reference.partition("/")
    repository = rest.rsplit(":", 1)[0]
    listed = console.api("GET", f"/v1/images?registry={registry}&repository={repository}").json()
    return str(listed["items"][0]["id"])


def status_of_image(page: Page) -> Any:
    return page.get_by_test_id("image-status")


def findings_row(page: Page, finding_id: str) -> Any:
    return page.get_by_role("table", name="Findings").get_by_role("row").filter(has_text=finding_id)


def accept_in_dialog(page: Page, reason: str, period: str = "30d") -> None:
    dialog = page.get_by_role("dialog", name=f"Accept risk: {ALPINE_CRITICAL}")
    expect(dialog).to_be_visible()
    dialog.get_by_role("radio", name="This image").check()
    dialog.get_by_label("Period").select_option(period)
    dialog.get_by_label("Reason").fill(reason)


def test_a_bad_token_gets_a_clear_message_and_is_not_kept(console: Console) -> None:
    # Given the sign-in page
    console.goto("/images")
    expect(console.page.get_by_role("heading", name="Sign in to Riskgate")).to_be_visible()
    console.check_accessibility("the sign-in page")
    console.shot("sign-in")
    # When someone signs in with a token Riskgate never issued
    console.page.get_by_label("API token").fill("rg_not_a_token_riskgate_ever_issued_0000000000")
    console.page.get_by_role("button", name="Sign in").click()
    # Then the page says so, keeps what was typed, and stores nothing
    expect(console.page.get_by_role("alert")).to_contain_text("That token was refused")
    expect(console.page.get_by_label("API token")).to_have_value(
        "rg_not_a_token_riskgate_ever_issued_0000000000"
    )
    assert console.page.evaluate("sessionStorage.length") == 0
    console.shot("sign-in-refused")


def test_accept_a_critical_finding_then_revoke_it(console: Console, scanner_fixtures: Path) -> None:
    # Given a real Trivy report of alpine:3.10 with one critical vulnerability: non-compliant by default
    reference = "registry.example/journey/alpine:3.10"
    submit_report(console, scanner_fixtures / TRIVY_ALPINE, reference)
    page = console.page
    console.sign_in()
    # When the officer lists the non-compliant images and opens this one
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Images").click()
    page.get_by_label("Status").select_option("non_compliant")
    images = page.get_by_role("table", name="Images")
    expect(images.get_by_role("link", name=reference)).to_be_visible()
    expect(images.get_by_text("Compliant", exact=True)).to_have_count(0)
    console.check_accessibility("the images page")
    console.shot("images")
    images.get_by_role("link", name=reference).click()
    # Then it is non-compliant, for its critical vulnerability
    expect(page.get_by_role("heading", level=1)).to_have_text(reference)
    expect(status_of_image(page)).to_have_text("Non-compliant")
    expect(page.get_by_role("region", name="Verdict")).to_contain_text(ALPINE_CRITICAL)
    console.check_accessibility("an image's page")

    # When the critical finding is accepted on this image for 30 days
    findings_row(page, ALPINE_CRITICAL).get_by_role("button", name="Accept risk").click()
    accept_in_dialog(page, "apk-tools is not used at run time; the base image upgrade is planned")
    console.check_accessibility("the accept-risk dialog")
    console.shot("accept-risk-dialog")
    page.get_by_role("dialog").get_by_role("button", name="Accept", exact=True).click()
    # Then the image shows compliant, and the finding accepted
    expect(status_of_image(page)).to_have_text("Compliant", timeout=EVALUATION_TIMEOUT_MS)
    expect(findings_row(page, ALPINE_CRITICAL)).to_contain_text("Yes, until")
    expect(findings_row(page, ALPINE_CRITICAL).get_by_role("button", name="Accept risk")).to_have_count(0)
    console.shot("image-compliant")
    if UPDATE_DOCS_SCREENSHOT:
        shutil.copyfile(console.shot("image-compliant"), REPO_ROOT / "docs" / "console.png")

    # When the acceptance is revoked from its own page, with a reason
    findings_row(page, ALPINE_CRITICAL).get_by_role("link", name="Yes, until").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(ALPINE_CRITICAL)
    expect(page.get_by_role("table", name="Covered images")).to_contain_text(
        "registry.example/journey/alpine"
    )
    console.check_accessibility("an acceptance's page")
    console.shot("risk-acceptance")
    page.get_by_role("button", name="Revoke").click()
    revoke = page.get_by_role("dialog", name=f"Revoke: {ALPINE_CRITICAL}")
    revoke.get_by_label("Reason").fill("the upgrade was cancelled: the risk is no longer acceptable")
    console.check_accessibility("the revoke dialog")
    revoke.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status").filter(has_text="Revoked the acceptance")).to_be_visible()
    expect(page.get_by_text("Revoked", exact=True).first).to_be_visible()
    # Then the image is non-compliant again (the stream re-judges it; the page follows)
    page.get_by_role("link", name="This image:").click()
    expect(status_of_image(page)).to_have_text("Non-compliant", timeout=EVALUATION_TIMEOUT_MS)
    expect(findings_row(page, ALPINE_CRITICAL).get_by_role("button", name="Accept risk")).to_be_visible()

    # And the acceptances list shows it among the revoked ones, with who and why
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Risk acceptances").click()
    page.get_by_label("Show").select_option("revoked")
    table = page.get_by_role("table", name="Risk acceptances")
    row = table.get_by_role("row").filter(has_text="registry.example/journey/alpine")
    expect(row).to_contain_text("Revoked")
    expect(row).to_contain_text("the upgrade was cancelled")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    console.check_accessibility("the risk acceptances page")
    console.shot("risk-acceptances")


def test_an_email_response_policy_mails_the_next_non_compliant_scan(
    console: Console, scanner_fixtures: Path
) -> None:
    page = console.page
    console.sign_in()
    # Given an e-mail integration and a response policy on non-compliant images, made in the console
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Integrations").click()
    new_integration = page.get_by_role("form", name="New integration")
    new_integration.get_by_label("Name").fill("secops-mail")
    new_integration.get_by_label("Type").select_option("email")
    new_integration.get_by_label("From").fill("riskgate@example.com")
    new_integration.get_by_label("To").fill("secops@example.com")
    new_integration.get_by_role("button", name="Create integration").click()
    integrations = page.get_by_role("table", name="Integrations")
    expect(integrations.get_by_role("row").filter(has_text="secops-mail")).to_contain_text(
        "secops@example.com"
    )
    console.check_accessibility("the integrations page")
    console.shot("integrations")

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Response policies").click()
    new_policy = page.get_by_role("form", name="New response policy")
    new_policy.get_by_label("Name").fill("Non-compliant images to secops")
    new_policy.get_by_label("Trigger").select_option("non_compliant")
    new_policy.get_by_label("secops-mail (email)").check()
    new_policy.get_by_role("button", name="Create response policy").click()
    policies = page.get_by_role("table", name="Response policies")
    row = policies.get_by_role("row").filter(has_text="Non-compliant images to secops")
    expect(row).to_contain_text("email via secops-mail")
    expect(row).to_contain_text("Yes")
    console.check_accessibility("the response policies page")
    console.shot("response-policies")

    # When the next non-compliant scan arrives (a real Debian buster report with a critical vulnerability)
    reference = "registry.example/mail/buster:1"
    submit_report(console, scanner_fixtures / TRIVY_BUSTER, reference)

    # Then its e-mail is in the outbox
    def mailed() -> Any:
        outbox = console.stack.request("GET", "/_local/outbox").json()["items"]
        return [
            item for item in outbox if item.get("channel") == "email" and reference in item.get("subject", "")
        ]

    mail = wait_for("the non-compliance e-mail", mailed, console)[0]
    assert mail["to"] == ["secops@example.com"]
    # And the delivery log shows it sent
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Notifications").click()
    log = page.get_by_role("table", name="Notifications")
    expect(log.get_by_role("row").filter(has_text="Non-compliant images to secops").first).to_contain_text(
        "Sent"
    )
    console.check_accessibility("the notifications page")
    console.shot("notifications")

    # And disabling the policy is one click, shown at once
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Response policies").click()
    row.get_by_role("button", name="Disable").click()
    expect(row.get_by_role("button", name="Enable")).to_be_visible()


def test_an_officer_edits_a_response_policy_and_an_integration(console: Console) -> None:
    # Given an e-mail integration and a response policy sending through it, made through the API
    made = console.api(
        "POST",
        "/v1/integrations",
        {
            "name": "edit-mail",
            "type": "email",
            "config": {"from": "riskgate@example.com", "to": ["first@example.com"]},
        },
    )
    assert made.status == 201, made.body
    name = "Edited in the console"
    created = console.api(
        "POST",
        "/v1/response-policies",
        {
            "name": name,
            "description": "before the edit",
            "trigger": "non_compliant",
            "outputs": [{"output": "email", "integration": "edit-mail"}],
        },
    )
    assert created.status == 201, created.body
    policy_id = created.json()["id"]
    console.sign_in()
    page = console.page

    # When an officer edits the policy's description and trigger in the console
    console.goto("/response-policies")
    policies = page.get_by_role("table", name="Response policies")
    row = policies.get_by_role("row").filter(has_text=name)
    row.get_by_role("button", name=f"Edit {name}").click()
    dialog = page.get_by_role("dialog", name=f"Edit: {name}")
    expect(dialog).to_be_visible()
    # (the dialog starts from the policy as read)
    expect(dialog.get_by_label("Name", exact=True)).to_have_value(name)
    expect(dialog.get_by_label("Description")).to_have_value("before the edit")
    expect(dialog.get_by_label("Trigger")).to_have_value("non_compliant")
    expect(dialog.get_by_label("edit-mail (email)")).to_be_checked()
    dialog.get_by_label("Description").fill("after the edit")
    dialog.get_by_label("Trigger").select_option("critical_vulnerabilities")
    console.check_accessibility("the edit response policy dialog")
    console.shot("response-policy-edit")
    dialog.get_by_role("button", name="Save").click()
    # Then the dialog closes, the change is said and shown, and the API has it
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text=f"Saved {name}.")).to_be_visible()
    expect(row).to_contain_text("after the edit")
    expect(row).to_contain_text("critical vulnerabilities")
    stored = console.api("GET", f"/v1/response-policies/{policy_id}").json()
    assert stored["description"] == "after the edit"
    assert stored["trigger"] == "critical_vulnerabilities"
    assert stored["outputs"] == [{"output": "email", "integration": "edit-mail"}]

    # When the integration's recipients are edited
    console.goto("/integrations")
    integrations = page.get_by_role("table", name="Integrations")
    integrations.get_by_role("button", name="Edit edit-mail").click()
    edit_mail = page.get_by_role("dialog", name="Edit: edit-mail")
    expect(edit_mail.get_by_label("From")).to_have_value("riskgate@example.com")
    expect(edit_mail.get_by_label("To")).to_have_value("first@example.com")
    edit_mail.get_by_label("To").fill("first@example.com, second@example.com")
    console.check_accessibility("the edit integration dialog")
    console.shot("integration-edit")
    edit_mail.get_by_role("button", name="Save").click()
    # Then the table and the API show both
    expect(edit_mail).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Saved edit-mail.")).to_be_visible()
    expect(integrations.get_by_role("row").filter(has_text="edit-mail")).to_contain_text(
        "first@example.com, second@example.com"
    )
    config = console.api("GET", "/v1/integrations/edit-mail").json()["config"]
    assert config == {"from": "riskgate@example.com", "to": ["first@example.com", "second@example.com"]}

    # 409: someone changes the policy through the API after the page read it
    console.goto("/response-policies")
    row.get_by_role("button", name=f"Edit {name}").click()
    other = console.api("PATCH", f"/v1/response-policies/{policy_id}", {"description": "changed elsewhere"})
    assert other.status == 200, other.body
    dialog.get_by_label("Description").fill("typed during a conflict")
    dialog.get_by_label("Trigger").select_option("malware")
    dialog.get_by_role("button", name="Save").click()
    # Then the dialog says so and keeps what was typed; the other change stands
    expect(dialog.get_by_role("alert")).to_contain_text("Conflict")
    expect(dialog.get_by_label("Description")).to_have_value("typed during a conflict")
    expect(dialog.get_by_label("Trigger")).to_have_value("malware")
    console.shot("response-policy-edit-409")
    stored = console.api("GET", f"/v1/response-policies/{policy_id}").json()
    assert (stored["description"], stored["trigger"]) == ("changed elsewhere", "critical_vulnerabilities")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)


def test_an_administrator_edits_a_scope_and_makes_a_custom_role(console: Console) -> None:
    # Given a scope made through the API
    name = "browser-edited-scope"
    made = console.api(
        "POST",
        "/v1/scopes",
        {"name": name, "description": "before the edit", "resources": [{"repository": "team-e/*"}]},
    )
    assert made.status == 201, made.body
    scope_id = made.json()["id"]
    console.sign_in()
    page = console.page

    # When the administrator edits its description and images in the console
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Scopes and roles").click()
    scopes = page.get_by_role("table", name="Scopes")
    row = scopes.get_by_role("row").filter(has_text=scope_id)
    # (the global scope covers everything and cannot change)
    expect(scopes.get_by_role("button", name="Edit global")).to_have_count(0)
    row.get_by_role("button", name=f"Edit {name}").click()
    dialog = page.get_by_role("dialog", name=f"Edit: {name}")
    expect(dialog).to_be_visible()
    # (the dialog starts from the scope as read)
    expect(dialog.get_by_label("Scope name")).to_have_value(name)
    expect(dialog.get_by_label("Scope description")).to_have_value("before the edit")
    expect(dialog.get_by_label("Repository 1")).to_have_value("team-e/*")
    dialog.get_by_label("Scope description").fill("after the edit")
    dialog.get_by_label("Registry 1").fill("ghcr.io")
    dialog.get_by_role("button", name="Add a selector").click()
    dialog.get_by_label("Repository 2").fill("team-f/*")
    dialog.get_by_label("Tag 2").fill("v*")
    console.check_accessibility("the edit scope dialog")
    console.shot("scope-edit")
    dialog.get_by_role("button", name="Save").click()
    # Then the dialog closes, the change is said and shown, and the API has it
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text=f"Saved {name}.")).to_be_visible()
    expect(row).to_contain_text("after the edit")
    expect(row).to_contain_text("ghcr.io/team-e/*:*, */team-f/*:v*")
    stored = console.api("GET", f"/v1/scopes/{scope_id}").json()
    assert (stored["name"], stored["description"]) == (name, "after the edit")
    assert stored["resources"] == [
        {"registry": "ghcr.io", "repository": "team-e/*", "tag": None},
        {"registry": None, "repository": "team-f/*", "tag": "v*"},
    ]

    # When the administrator creates a custom role in the console
    roles = page.get_by_role("table", name="Roles")
    expect(roles.get_by_role("row").filter(has_text="administrator")).to_contain_text("Yes")
    expect(roles.get_by_role("button", name="Edit administrator")).to_have_count(0)
    new_role = page.get_by_role("form", name="New role")
    new_role.get_by_label("Role name").fill("browser-triager")
    new_role.get_by_label("Role description").fill("reads images and accepts risks")
    new_role.get_by_label("images:read").check()
    new_role.get_by_label("risks:read").check()
    new_role.get_by_label("risks:accept").check()
    console.check_accessibility("the new role form")
    new_role.get_by_role("button", name="Create role").click()
    # Then it is listed as a custom role, and the API has it
    expect(page.get_by_role("status").filter(has_text="Created the role browser-triager.")).to_be_visible()
    role_row = roles.get_by_role("row").filter(has_text="browser-triager")
    expect(role_row).to_contain_text("images:read, risks:accept, risks:read")
    expect(role_row).to_contain_text("No")
    stored_role = console.api("GET", "/v1/roles/browser-triager").json()
    assert stored_role["description"] == "reads images and accepts risks"
    assert sorted(stored_role["permissions"]) == ["images:read", "risks:accept", "risks:read"]
    assert stored_role["system"] is False

    # When its permissions are edited: risks:accept taken away, audit:read given
    role_row.get_by_role("button", name="Edit browser-triager").click()
    edit_role = page.get_by_role("dialog", name="Edit: browser-triager")
    expect(edit_role.get_by_label("Role description")).to_have_value("reads images and accepts risks")
    expect(edit_role.get_by_label("risks:accept")).to_be_checked()
    expect(edit_role.get_by_label("audit:read")).not_to_be_checked()
    edit_role.get_by_label("Role description").fill("reads images, risks and the audit log")
    edit_role.get_by_label("risks:accept").uncheck()
    edit_role.get_by_label("audit:read").check()
    console.check_accessibility("the edit role dialog")
    console.shot("role-edit")
    edit_role.get_by_role("button", name="Save").click()
    # Then the table and the API show it
    expect(edit_role).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Saved browser-triager.")).to_be_visible()
    expect(role_row).to_contain_text("reads images, risks and the audit log")
    expect(role_row).to_contain_text("audit:read, images:read, risks:read")
    stored_role = console.api("GET", "/v1/roles/browser-triager").json()
    assert sorted(stored_role["permissions"]) == ["audit:read", "images:read", "risks:read"]
    assert stored_role["description"] == "reads images, risks and the audit log"


def test_a_developer_sees_no_accept_risk_button(console: Console, scanner_fixtures: Path) -> None:
    # Given an image with a critical finding, and a token of a user with the developer role
    reference = "registry.example/developer/alpine:3.10"
    submit_report(console, scanner_fixtures / TRIVY_ALPINE, reference)
    image_id = image_id_of(console, reference)
    _, _, token = user_token(console, "browser-developer", [{"role": "developer", "scope": "global"}])
    # When the developer signs in and opens the image
    console.sign_in(token)
    page = console.page
    console.goto(f"/images/{image_id}")
    # Then the findings are there, but no action the role may not take
    expect(findings_row(page, ALPINE_CRITICAL)).to_be_visible()
    expect(page.get_by_role("button", name="Accept risk")).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Actions")).to_have_count(0)
    sections = page.get_by_role("navigation", name="Sections")
    expect(sections.get_by_role("link", name="Risk acceptances")).to_be_visible()
    for hidden in ("Users and tokens", "Audit log", "Integrations", "Response policies"):
        expect(sections.get_by_role("link", name=hidden)).to_have_count(0)
    console.goto("/risk-acceptances")
    expect(page.get_by_role("table", name="Risk acceptances")).to_be_visible()
    expect(page.get_by_role("button", name="Revoke")).to_have_count(0)
    console.goto("/assurance-policies/default")
    expect(page.get_by_role("button", name="Save policy")).to_have_count(0)
    console.shot("developer-image")


def test_the_images_list_is_paged_by_the_server(console: Console) -> None:
    # Given five images of one repository
    for number in range(5):
        report = {
            "SchemaVersion": 2,
            "ArtifactName": f"registry.example/paging/app:{number}",
            "ArtifactType": "container_image",
            "Results": [{"Target": "app (debian 12)", "Vulnerabilities": []}],
        }
        result = console.api("POST", "/v1/scans", report)
        assert result.status == 201, result.body
    console.sign_in()
    page = console.page
    # When they are listed two at a time (the server's pages: `limit` and `next_token`)
    # (only this list's requests: the page signing in landed on may still be loading its own list)
    requests: list[str] = []
    page.on(
        "request",
        lambda request: (
            requests.append(request.url) if "/v1/images?" in request.url and "paging" in request.url else None
        ),
    )
    console.goto("/images?registry=registry.example&repository=paging/app&limit=2")
    table = page.get_by_role("table", name="Images")
    body_rows = table.locator("tbody tr")
    seen: list[str] = []
    for page_number, expected_rows in ((1, 2), (2, 2), (3, 1)):
        expect(page.get_by_text(f"Page {page_number}", exact=True)).to_be_visible()
        expect(body_rows).to_have_count(expected_rows)
        seen += body_rows.locator("th").all_inner_texts()
        if page_number < 3:
            page.get_by_role("button", name="Next page").click()
    # Then each page was one bounded request, the last has no next page, and every image was shown once
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    assert sorted(seen) == [f"registry.example/paging/app:{number}" for number in range(5)]
    assert all("limit=2" in url for url in requests)
    assert sum("next_token=" in url for url in requests) == 2
    console.check_accessibility("a paged list")
    console.shot("images-paged")
    # And "Previous page" goes back without starting over
    page.get_by_role("button", name="Previous page").click()
    expect(page.get_by_text("Page 2", exact=True)).to_be_visible()
    expect(body_rows).to_have_count(2)


def test_the_first_load_is_small_and_all_from_the_same_origin(console: Console) -> None:
    # Given a first visit, with nothing cached
    loaded: list[tuple[str, str]] = []
    console.page.on(
        "response", lambda response: loaded.append((response.request.resource_type, response.url))
    )
    console.goto("/")
    expect(console.page.get_by_label("API token")).to_be_visible()
    # Then everything came from the console's own origin (no CDN, no web fonts)
    assert loaded
    assert all(url.startswith(console.url + "/") for _, url in loaded), loaded
    assert not [url for kind, url in loaded if kind == "font"]
    # And its JavaScript and CSS, as served compressed, stay under 200 KB
    assets = [url for kind, url in loaded if kind in ("script", "stylesheet")]
    assert len(assets) == 2, assets
    total = 0
    for url in assets:
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            body = response.read()
        total += len(body)
        assert gzip.decompress(body)
    print(f"first load: {total} bytes of compressed JavaScript and CSS")
    assert total < FIRST_LOAD_LIMIT_BYTES


def test_every_page_passes_axe_and_is_photographed(console: Console, scanner_fixtures: Path) -> None:
    # Given an image, an acceptance and a user to show
    reference = "registry.example/tour/alpine:3.10"
    submit_report(console, scanner_fixtures / TRIVY_ALPINE, reference)
    image_id = image_id_of(console, reference)
    accepted = console.api(
        "POST",
        "/v1/risk-acceptances",
        {
            "finding": {"kind": "vulnerability", "id": ALPINE_CRITICAL},
            "scope": {"image": image_id},
            "period": "60d",
            "reason": "shown on the tour of the console",
        },
    )
    assert accepted.status == 201, accepted.body
    user_id, _, _ = user_token(console, "browser-tour", [{"role": "auditor", "scope": "global"}])
    console.sign_in()
    page = console.page
    pages = {
        "image": (f"/images/{image_id}", "table", "Findings"),
        "risk-acceptances-active": ("/risk-acceptances?view=active", "table", "Risk acceptances"),
        "risk-acceptances-expiring": ("/risk-acceptances?view=expiring", "table", "Risk acceptances"),
        "risk-acceptances-stale": ("/risk-acceptances?view=stale", "table", "Risk acceptances"),
        "risk-acceptance-tour": (f"/risk-acceptances/{accepted.json()['id']}", "table", "Covered images"),
        "assurance-policies": ("/assurance-policies", "table", "Assurance policies"),
        "assurance-policy-default": ("/assurance-policies/default", "form", "Assurance policy"),
        "assurance-policy-new": ("/assurance-policies/new", "form", "Assurance policy"),
        "users": ("/users", "table", "Users"),
        "user": (f"/users/{user_id}", "table", "Tokens"),
        "scopes": ("/scopes", "table", "Scopes"),
        "audit": ("/audit", "table", "Security events"),
        "not-found": ("/no/such/page", "heading", "Page not found"),
    }
    for name, (path, role, accessible_name) in pages.items():
        console.goto(path)
        expect(page.get_by_role(role, name=accessible_name)).to_be_visible()
        # Everything the page reads has arrived (each list says "Loading …" until then)
        expect(page.get_by_role("status").filter(has_text=re.compile(r"^Loading"))).to_have_count(0)
        expect(page.get_by_text("…", exact=True)).to_have_count(0)
        console.check_accessibility(f"{name} ({path})")
        console.shot(name)
    # An assurance policy: created in dry-run, then enforced (in a scope of its own: no other test's images)
    scope = console.api(
        "POST", "/v1/scopes", {"name": "browser-policies", "resources": [{"repository": "none/*"}]}
    )
    assert scope.status == 201, scope.body
    console.goto("/assurance-policies")
    page.get_by_role("link", name="New policy").click()
    form = page.get_by_role("form", name="Assurance policy")
    form.get_by_label("Name", exact=True).fill("High vulnerabilities, watched first")
    form.get_by_label("Scope").fill(scope.json()["id"])
    form.get_by_label("Mode").select_option("dry_run")
    form.get_by_label("Vulnerability severity").select_option("high")
    form.get_by_label("Allowed vulnerabilities of that severity").fill("2")
    form.get_by_role("button", name="Create policy").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("High vulnerabilities, watched first")
    form.get_by_label("Mode").select_option("enforce")
    form.get_by_label("Malware found").check()
    form.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("status")).to_contain_text("Saved (version 2)")
    console.goto("/assurance-policies")
    row = (
        page.get_by_role("table", name="Assurance policies")
        .get_by_role("row")
        .filter(has_text="watched first")
    )
    expect(row).to_contain_text("Enforce")
    expect(row).to_contain_text("more than 2 high+ vulnerability; malware")
    console.shot("assurance-policies-edited")

    # A token issued for a user is shown once
    console.goto(f"/users/{user_id}")
    page.get_by_label("Token name").fill("siem-export")
    page.get_by_role("button", name="Issue token").click()
    issued = page.get_by_label("New token")
    expect(issued).to_have_value(re.compile(r"^rg_"))
    console.shot("token-issued")
    secret = issued.input_value()
    page.get_by_role("button", name="I have copied it").click()
    expect(page.get_by_label("New token")).to_have_count(0)
    expect(page.get_by_role("table", name="Tokens")).to_contain_text("siem-export")
    assert secret not in page.content()
    assert console.api("GET", "/v1/me", token=secret).json()["name"] == "browser-tour"

    # The stale column is filled from each acceptance's own answer: a fix exists, so the tour's is stale
    console.goto("/risk-acceptances?view=stale")
    row = (
        page.get_by_role("table", name="Risk acceptances")
        .get_by_role("row")
        .filter(has_text="tour of the console")
    )
    expect(row.get_by_role("cell").nth(3)).to_have_text("Stale")
    row.get_by_role("link").click()
    expect(page.get_by_text("a fixed version is available")).to_be_visible()


def test_errors_say_what_happened_and_keep_what_was_typed(console: Console, scanner_fixtures: Path) -> None:
    reference = "registry.example/errors/alpine:3.10"
    submit_report(console, scanner_fixtures / TRIVY_ALPINE, reference)
    image_id = image_id_of(console, reference)
    user_id, token_id, token = user_token(
        console, "browser-officer", [{"role": "security_officer", "scope": "global"}]
    )
    console.sign_in(token)
    page = console.page
    reason = "typed once, kept through every failure"

    # 404: an image that does not exist (or is outside the caller's scopes)
    console.goto("/images/img-00000000000000000000")
    expect(page.get_by_role("alert")).to_contain_text("Not found, or outside your scopes")

    # The network gone: the dialog says so and keeps the reason
    console.goto(f"/images/{image_id}")
    findings_row(page, ALPINE_CRITICAL).get_by_role("button", name="Accept risk").click()
    accept_in_dialog(page, reason)
    dialog = page.get_by_role("dialog", name=f"Accept risk: {ALPINE_CRITICAL}")
    page.route(f"{console.url}/v1/risk-acceptances", lambda route: route.abort("internetdisconnected"))
    dialog.get_by_role("button", name="Accept", exact=True).click()
    expect(dialog.get_by_role("alert")).to_contain_text("Cannot reach Riskgate")
    expect(dialog.get_by_label("Reason")).to_have_value(reason)
    console.shot("error-network")
    page.unroute(f"{console.url}/v1/risk-acceptances")

    # 401 mid-session (the token revoked meanwhile): sign in again over the page, the dialog stays
    revoked = console.api("DELETE", f"/v1/users/{user_id}/tokens/{token_id}")
    assert revoked.status == 204, revoked.body
    dialog.get_by_role("button", name="Accept", exact=True).click()
    again = page.get_by_role("dialog", name="Sign in again")
    expect(again).to_be_visible()
    console.check_accessibility("the sign-in-again dialog")
    console.shot("error-401")
    again.get_by_label("API token").fill(console.stack.admin_token)
    again.get_by_role("button", name="Sign in").click()
    expect(again).to_have_count(0)
    expect(dialog.get_by_label("Reason")).to_have_value(reason)
    dialog.get_by_role("button", name="Accept", exact=True).click()
    expect(status_of_image(page)).to_have_text("Compliant", timeout=EVALUATION_TIMEOUT_MS)

    # 409: someone else extended the acceptance after this page read it
    findings_row(page, ALPINE_CRITICAL).get_by_role("link", name="Yes, until").click()
    page.get_by_role("button", name="Extend").click()
    acceptance_id = page.url.rsplit("/", 1)[1]
    other = console.api("POST", f"/v1/risk-acceptances/{acceptance_id}/extend", {"period": "90d"})
    assert other.status == 200, other.body
    extend = page.get_by_role("dialog", name=f"Extend: {ALPINE_CRITICAL}")
    extend.get_by_label("Period").select_option("indefinite")
    extend.get_by_role("button", name="Extend").click()
    expect(extend.get_by_role("alert")).to_contain_text("Conflict")
    expect(extend.get_by_label("Period")).to_have_value("indefinite")
    console.shot("error-409")

    # 403: an officer whose acceptance right ends at its team's scope, on another team's image
    other_image = "registry.example/errors-other/alpine:3.10"
    submit_report(console, scanner_fixtures / TRIVY_ALPINE, other_image)
    scope = console.api(
        "POST", "/v1/scopes", {"name": "browser-team-a", "resources": [{"repository": "team-a/*"}]}
    )
    assert scope.status == 201, scope.body
    _, _, narrow = user_token(
        console,
        "browser-narrow-officer",
        [{"role": "developer", "scope": "global"}, {"role": "security_officer", "scope": scope.json()["id"]}],
    )
    page.get_by_role("dialog", name=f"Extend: {ALPINE_CRITICAL}").get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Sign out").click()
    console.sign_in(narrow)
    console.goto(f"/images/{image_id_of(console, other_image)}")
    findings_row(page, ALPINE_CRITICAL).get_by_role("button", name="Accept risk").click()
    accept_in_dialog(page, reason)
    page.get_by_role("dialog").get_by_role("button", name="Accept", exact=True).click()
    expect(page.get_by_role("dialog").get_by_role("alert")).to_contain_text("Your token may not do this")
    expect(page.get_by_role("dialog").get_by_label("Reason")).to_have_value(reason)
    console.shot("error-403")

    # The API's own rules: the same finding accepted meanwhile, in the same scope, is a duplicate (409)
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Sign out").click()
    console.sign_in()
    other_id = image_id_of(console, other_image)
    console.goto(f"/images/{other_id}")
    findings_row(page, ALPINE_CRITICAL).get_by_role("button", name="Accept risk").click()
    accept_in_dialog(page, reason)
    first = console.api(
        "POST",
        "/v1/risk-acceptances",
        {
            "finding": {
                "kind": "vulnerability",
                "id": ALPINE_CRITICAL,
                "package": "apk-tools",
                "version": "2.10.6-r0",
            },
            "scope": {"image": other_id},
            "period": "30d",
            "reason": "accepted by a colleague a moment earlier",
        },
    )
    assert first.status == 201, first.body
    page.get_by_role("dialog").get_by_role("button", name="Accept", exact=True).click()
    expect(page.get_by_role("dialog").get_by_role("alert")).to_contain_text("already accepted in this scope")
    console.shot("error-duplicate")


def test_the_console_is_served_with_the_deployed_headers(console: Console) -> None:
    # Given the page URL of an image (the app's own route, not a file)
    response = console.page.goto(console.url + "/images/img-anything?status=compliant")
    assert response is not None
    # Then index.html answers it, with the security headers CloudFront sends, and is never cached stale
    headers = response.headers
    assert headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-cache"
    # And the CSP is enforced: an inline script does not run
    blocked = console.page.evaluate(
        """() => new Promise((resolve) => {
            const seen = (event) => resolve(event.violatedDirective);
            document.addEventListener('securitypolicyviolation', seen, {once: true});
            const script = document.createElement('script');
            script.textContent = 'window.__inline_ran = true';
            document.head.appendChild(script);
        })"""
    )
    assert blocked.startswith("script-src")
    assert console.page.evaluate("window.__inline_ran === undefined")
    console.problems.clear()  # the refusal above is logged as a console error, on purpose
    # And the API and the local routes are still theirs
    api = console.stack.request("GET", "/v1/health")
    assert api.status == 200
    assert json.loads(api.body) == {"status": "ok"}
    assert console.stack.request("GET", "/v1/nothing-here").status == 401
    assert console.stack.request("GET", "/_local/nothing-here").status == 404
    assert console.stack.request("GET", "/assets/console-nothing.js").status == 404
