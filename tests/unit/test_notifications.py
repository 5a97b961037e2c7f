"""What a notification says, per channel, for each trigger: built from events shaped as the contract in
docs/architecture.md says, with the findings of real scanner reports."""

from __future__ import annotations

import html
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from riskgate.domain.evaluation import evaluate, finding_summary
from riskgate.domain.findings import Counts, Finding, FindingKind, Severity
from riskgate.domain.images import parse_image_reference
from riskgate.domain.notifications import (
    MAX_FINDINGS_SHOWN,
    SNS_SUBJECT_MAX_LENGTH,
    TELEGRAM_MAX_LENGTH,
    Message,
    fill_template,
    render,
    telegram_length,
)
from riskgate.domain.parsers import decode_report, parse_report
from tests.support.fixture_readme import MAX_BYTES

CRITICAL_VULNERABILITIES = "grype/wild_redis-3.0.7.json"  # 3 critical among 407
MANY_VULNERABILITIES = "grype/dd_python-3.6_grype-0.7.json"  # 1,509 findings
SECRETS = "trivy/golden_secrets.json"
MISCONFIG_AND_SECRETS = "trivy/dd_misconfigurations-and-secrets.json"

REFERENCE = "ghcr.io/acme/payments:1.4.2"
DIGEST = "sha256:" + "ab" * 32
BASE_URL = "https://riskgate.example.com"
OCCURRED_AT = "2025-03-01T10:00:00.000000Z"
HOSTILE = '<script>alert(1)</script> "quoted" & <!channel> <https://evil.example|click> <b>bold</b>'
ALL_TYPES = ("email", "telegram", "sns", "webhook")


# --- events as the evaluator and the expiry checker write them ---------------------------------------


def findings_of(scanner_fixtures: Path, relative: str) -> list[Finding]:
    raw = (scanner_fixtures / relative).read_bytes()
    return parse_report(decode_report(raw, None, MAX_BYTES)).findings


def causing(trigger: str, findings: list[Finding]) -> list[dict[str, Any]]:
    """The findings that make an image's trigger, most severe first (as `riskgate.domain.triggers`)."""
    if trigger == "non_compliant":
        return [summary for reason in evaluate(findings).reasons for summary in reason.findings]
    wanted = {
        "sensitive_data": lambda f: f.kind is FindingKind.SENSITIVE_DATA,
        "critical_vulnerabilities": lambda f: (
            f.kind is FindingKind.VULNERABILITY and f.severity is Severity.CRITICAL
        ),
        "malware": lambda f: f.kind is FindingKind.MALWARE,
    }[trigger]
    chosen = sorted((f for f in findings if wanted(f)), key=lambda f: (f.severity.rank, f.finding_id))
    return [finding_summary(f) for f in chosen]


def image_event(
    trigger: str, findings: list[Finding], *, reference: str = REFERENCE, tags: list[str] | None = None
) -> dict[str, Any]:
    image = parse_image_reference(reference)
    verdict = evaluate(findings)
    summaries = causing(trigger, findings)
    return {
        "id": "evt-0001",
        "type": trigger,
        "occurred_at": OCCURRED_AT,
        "subject": {"type": "image", "id": image.image_id},
        "image": {
            "image_id": image.image_id,
            "registry": image.registry,
            "repository": image.repository,
            "tags": tags if tags is not None else [image.tag],
            "digest": DIGEST,
        },
        "verdict": {"status": verdict.status, "block": verdict.block},
        "counts": {**Counts.of(findings).as_dict(), "accepted": 0},
        "findings": summaries[:MAX_FINDINGS_SHOWN],
        "findings_total": len(summaries),
        "fingerprint": "f" * 64,
    }


def acceptance(**changes: Any) -> dict[str, Any]:
    """An acceptance snapshot (`riskgate.domain.acceptances.acceptance_snapshot`)."""
    return {
        "id": "ra-20250201-0001",
        "finding": {"kind": "vulnerability", "id": "CVE-2021-44228", "package": "log4j-core"},
        "scope": {"repository": "ghcr.io/acme/payments"},
        "registry": "ghcr.io",
        "repository": "acme/payments",
        "period": "30d",
        "reason": "Not reachable: JNDI lookups are disabled in this service.",
        "accepted_by": "alice@example.com",
        "accepted_at": "2025-02-06T09:30:00.000000Z",
        "expires_at": "2025-03-08T09:30:00.000000Z",
        **changes,
    }


def expiration_event(snapshot: dict[str, Any], ended_reason: str = "period ended") -> dict[str, Any]:
    return {
        "id": "evt-0002",
        "type": "risk_acceptance_expiration",
        "occurred_at": OCCURRED_AT,
        "acceptance": snapshot,
        "ended_reason": ended_reason,
    }


def expiring_event(snapshot: dict[str, Any], days: int = 7) -> dict[str, Any]:
    return {
        "id": "evt-0003",
        "type": "risk_acceptance_expiring",
        "occurred_at": OCCURRED_AT,
        "acceptance": snapshot,
        "days": days,
    }


def malware_findings() -> list[Finding]:
    # No scanner fixture reports malware; the finding is made as a malware scanner's would be.
    return [
        Finding(FindingKind.MALWARE, "EICAR-Test-File", Severity.HIGH, location="/tmp/eicar.com"),
        Finding(FindingKind.MALWARE, "Linux.Trojan.Mirai", Severity.CRITICAL, location="/usr/bin/.x"),
    ]


def email(event: dict[str, Any], policy_name: str = "Tell the payments team") -> Message:
    return render(event, policy_name=policy_name, integration_type="email", api_base_url=BASE_URL)


# --- what is said -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "relative", "words"),
    [
        ("critical_vulnerabilities", CRITICAL_VULNERABILITIES, "Critical vulnerabilities in"),
        ("sensitive_data", SECRETS, "Sensitive data exposed in"),
        ("non_compliant", MISCONFIG_AND_SECRETS, "Non-compliant image"),
    ],
)
def test_an_image_trigger_says_what_happened_to_which_image_and_why(
    scanner_fixtures: Path, trigger: str, relative: str, words: str
) -> None:
    findings = findings_of(scanner_fixtures, relative)
    event = image_event(trigger, findings)
    message = email(event)

    assert message.subject == f"[Riskgate] {words} {REFERENCE}"
    assert message.trigger == trigger
    for text in (message.text, message.html or ""):
        assert REFERENCE in text
        assert DIGEST in text
        assert "non-compliant, blocks CI" in text
        assert f"{BASE_URL}/v1/images/{event['image']['image_id']}" in text
        assert "Tell the payments team" in text
    most_severe = event["findings"][0]
    first_line = next(line for line in message.text.splitlines() if line.startswith("- "))
    assert first_line.startswith(f"- {most_severe['severity'].upper()} ")
    assert most_severe["id"] in first_line


def test_counts_are_in_words(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, CRITICAL_VULNERABILITIES)
    counts = Counts.of(findings).vulnerabilities
    message = email(image_event("critical_vulnerabilities", findings))
    expected = ", ".join(f"{counts[s.value]} {s.value}" for s in Severity if counts[s.value])
    assert f"Counts: vulnerabilities: {expected}" in message.text


def test_malware_names_the_malware_most_severe_first() -> None:
    message = email(image_event("malware", malware_findings()))
    assert message.subject == f"[Riskgate] Malware found in {REFERENCE}"
    lines = [line for line in message.text.splitlines() if line.startswith("- ")]
    assert lines == [
        "- CRITICAL malware Linux.Trojan.Mirai at /usr/bin/.x",
        "- HIGH malware EICAR-Test-File at /tmp/eicar.com",
    ]


def test_findings_are_listed_most_severe_first_and_capped(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, MANY_VULNERABILITIES)
    event = image_event("non_compliant", findings)
    # More than the contract's 10, in the wrong order: the message still sorts and caps.
    event["findings"] = [finding_summary(f) for f in findings[:40]][::-1]
    event["findings_total"] = 40
    message = email(event)

    listed = [line for line in message.text.splitlines() if line.startswith("- ")]
    assert len(listed) == MAX_FINDINGS_SHOWN
    ranks = [Severity(line.split()[1].lower()).rank for line in listed]
    assert ranks == sorted(ranks)
    assert f"and {40 - MAX_FINDINGS_SHOWN} more" in message.text
    assert f"and {40 - MAX_FINDINGS_SHOWN} more" in (message.html or "")


def test_the_image_is_named_by_its_first_tag_in_order() -> None:
    event = image_event("malware", malware_findings(), tags=["latest", "1.4.2", "1.4"])
    message = email(event)
    assert message.subject == "[Riskgate] Malware found in ghcr.io/acme/payments:1.4"
    assert "Other tags: 1.4.2, latest" in message.text


def test_an_expired_acceptance_says_who_accepted_what_where_why_when_and_until_when() -> None:
    message = email(expiration_event(acceptance()))

    assert message.subject == (
        "[Riskgate] Risk acceptance ended: CVE-2021-44228 (log4j-core) on ghcr.io/acme/payments"
    )
    for expected in (
        "Finding: vulnerability CVE-2021-44228 in package log4j-core",
        "Accepted by: alice@example.com",
        "Scope: every tag of ghcr.io/acme/payments",
        "Reason: Not reachable: JNDI lookups are disabled in this service.",
        "Accepted at: 2025-02-06 09:30 UTC",
        "Until: 2025-03-08 09:30 UTC",
        "Ended because: its period ended",
        f"Details: {BASE_URL}/v1/risk-acceptances/ra-20250201-0001",
    ):
        assert expected in message.text
    assert "alice@example.com" in (message.html or "")


def test_an_acceptance_ended_by_a_fix_says_so() -> None:
    snapshot = acceptance(period="until_fixed", expires_at=None)
    message = email(expiration_event(snapshot, ended_reason="fix available"))
    assert "Ended because: a fixed version is available" in message.text
    assert "Until: until a fixed version is available" in message.text


def test_an_expiring_acceptance_says_how_many_days_are_left() -> None:
    message = email(expiring_event(acceptance(), days=1))
    assert message.subject.startswith("[Riskgate] Risk acceptance ends in 1 day: CVE-2021-44228")
    assert "Time left: 1 day" in message.text


def test_an_acceptance_of_one_image_names_the_image() -> None:
    snapshot = acceptance(scope={"image": "img-0123456789abcdef0123"}, tags=["1.4.2"])
    message = email(expiring_event(snapshot))
    assert "Scope: the image ghcr.io/acme/payments:1.4.2 (img-0123456789abcdef0123)" in message.text
    assert message.subject.endswith("on ghcr.io/acme/payments:1.4.2")


def test_an_acceptance_of_all_images_names_its_scopes() -> None:
    message = email(expiring_event(acceptance(scope={"all": True, "within": ["team-a", "team-b"]})))
    assert "Scope: every image within the scopes team-a, team-b" in message.text


def test_the_link_is_relative_without_a_base_url(scanner_fixtures: Path) -> None:
    event = image_event("sensitive_data", findings_of(scanner_fixtures, SECRETS))
    message = render(event, policy_name="p", integration_type="email", api_base_url="")
    assert f"Details: /v1/images/{event['image']['image_id']}" in message.text
    assert "<a href" not in (message.html or "")


def test_a_missing_field_is_shown_as_missing_not_a_crash() -> None:
    for integration_type in ALL_TYPES:
        message = render(
            {"type": "malware"}, policy_name="p", integration_type=integration_type, api_base_url=BASE_URL
        )
        assert "Malware found in an image" in message.subject


def test_an_unknown_integration_type_is_refused() -> None:
    with pytest.raises(ValueError, match="pager"):
        render({"type": "malware"}, policy_name="p", integration_type="pager")


# --- e-mail ---------------------------------------------------------------------------------------------


def hostile_event(scanner_fixtures: Path) -> dict[str, Any]:
    event = image_event("sensitive_data", findings_of(scanner_fixtures, SECRETS))
    event["findings"][0] |= {"id": HOSTILE, "location": HOSTILE}
    return event


def test_the_html_part_escapes_everything_from_the_event(scanner_fixtures: Path) -> None:
    message = render(
        hostile_event(scanner_fixtures), policy_name=HOSTILE, integration_type="email", api_base_url=BASE_URL
    )
    assert message.html is not None
    assert "<script>" not in message.html
    assert "<b>bold</b>" not in message.html
    assert "<!channel>" not in message.html
    assert html.escape(HOSTILE, quote=True) in message.html
    assert HOSTILE in message.text  # the text part is text


def test_the_subject_is_one_line_whatever_the_event_says() -> None:
    snapshot = acceptance(finding={"kind": "vulnerability", "id": "CVE-1\r\nBcc: victim@example.com"})
    message = email(expiration_event(snapshot))
    assert "\n" not in message.subject
    assert "\r" not in message.subject


# --- Telegram -------------------------------------------------------------------------------------------


def telegram(event: dict[str, Any]) -> Message:
    return render(event, policy_name="On call", integration_type="telegram", api_base_url=BASE_URL)


def test_telegram_uses_html_parse_mode_and_escapes(scanner_fixtures: Path) -> None:
    message = telegram(hostile_event(scanner_fixtures))
    assert message.payload["parse_mode"] == "HTML"
    assert message.payload["text"] == message.text
    assert message.payload["disable_web_page_preview"] is True
    assert "<script>" not in message.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.text
    assert f'<a href="{BASE_URL}/v1/images/' in message.text


def test_telegram_fits_500_findings_in_4096_characters(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, MANY_VULNERABILITIES)[:500]
    event = image_event("non_compliant", findings)
    event["findings"] = [finding_summary(f) | {"location": "/very/long/path/" * 12} for f in findings]
    event["findings_total"] = 500
    message = telegram(event)

    assert len(message.text) <= TELEGRAM_MAX_LENGTH
    assert telegram_length(message.text) <= TELEGRAM_MAX_LENGTH
    assert message.payload["parse_mode"] == "HTML"
    assert "and " in message.text
    assert " more" in message.text
    assert REFERENCE in message.text


def test_telegram_drops_findings_before_anything_else(scanner_fixtures: Path) -> None:
    findings = findings_of(scanner_fixtures, MANY_VULNERABILITIES)
    event = image_event("non_compliant", findings)
    # Each line escapes to over 1,000 characters: only some fit.
    event["findings"] = [finding_summary(f) | {"location": "&" * 200} for f in findings[:10]]
    event["findings_total"] = 10
    message = telegram(event)
    shown = message.text.count("• ")
    assert 0 < shown < 10
    assert f"and {10 - shown} more" in message.text


def test_telegram_falls_back_to_plain_text_when_escaping_makes_it_too_long() -> None:
    # A reason of 1,000 ampersands escapes to 5,000 characters, and there is no finding to drop.
    message = telegram(expiration_event(acceptance(reason="&" * 1000)))
    assert telegram_length(message.text) <= TELEGRAM_MAX_LENGTH
    assert "parse_mode" not in message.payload
    assert "&" * 1000 in message.text


def test_telegram_cuts_hard_counting_emoji_as_telegram_does() -> None:
    # Emoji count twice in Telegram (UTF-16): these values alone are over the limit.
    emoji = "😀" * 300
    snapshot = acceptance(
        reason="😀" * 1000,
        accepted_by=emoji,
        finding={"kind": "vulnerability", "id": emoji, "package": emoji},
        scope={"repository": emoji},
    )
    message = telegram(expiring_event(snapshot))
    assert telegram_length(message.text) <= TELEGRAM_MAX_LENGTH
    assert message.text.endswith("…")
    assert "parse_mode" not in message.payload


# --- webhooks -------------------------------------------------------------------------------------------


def webhook(event: dict[str, Any], preset: str | None = None, template: str | None = None) -> Message:
    return render(
        event,
        policy_name="Crit to #sec",
        integration_type="webhook",
        preset=preset,
        template=template,
        api_base_url=BASE_URL,
    )


def test_the_generic_webhook_is_the_event_as_json(scanner_fixtures: Path) -> None:
    event = image_event("critical_vulnerabilities", findings_of(scanner_fixtures, CRITICAL_VULNERABILITIES))
    message = webhook(event)
    body = json.loads(message.text)
    assert body == message.payload
    assert message.content_type == "application/json"
    assert body["type"] == "critical_vulnerabilities"
    assert body["event_id"] == "evt-0001"
    assert body["occurred_at"] == OCCURRED_AT
    assert body["policy"] == {"name": "Crit to #sec"}
    assert body["image"]["reference"] == REFERENCE
    assert body["image"]["digest"] == DIGEST
    assert body["verdict"] == event["verdict"]
    assert body["counts"] == event["counts"]
    assert body["findings"] == event["findings"]
    assert body["findings_total"] == event["findings_total"]
    assert body["link"] == f"{BASE_URL}/v1/images/{event['image']['image_id']}"


def test_the_generic_webhook_carries_the_acceptance() -> None:
    body = webhook(expiring_event(acceptance(), days=7)).payload
    assert body["acceptance"] == acceptance()
    assert body["days"] == 7
    assert body["link"] == f"{BASE_URL}/v1/risk-acceptances/ra-20250201-0001"
    assert "image" not in body


def test_stored_numbers_become_plain_json() -> None:
    event = image_event("malware", malware_findings())
    event["counts"]["malware"] = Decimal(2)
    event["findings_total"] = Decimal(2)
    body = json.loads(webhook(event).text)
    assert body["counts"]["malware"] == 2
    assert body["findings_total"] == 2


def test_slack_escapes_what_could_mention_or_link(scanner_fixtures: Path) -> None:
    event = hostile_event(scanner_fixtures)
    message = webhook(event, preset="slack")
    payload = message.payload
    mrkdwn = [payload["text"]] + [
        block["text"]["text"] for block in payload["blocks"] if block["type"] == "section"
    ]
    for text in mrkdwn:
        assert "<!channel>" not in text
        assert "<https://evil.example" not in text
        assert "<script>" not in text
    assert any("&lt;!channel&gt;" in text for text in mrkdwn)
    (context,) = (block for block in payload["blocks"] if block["type"] == "context")
    assert context["elements"][0]["text"].startswith(f"<{BASE_URL}/v1/images/")
    assert all(len(text) <= 3000 for text in mrkdwn)
    assert json.loads(message.text) == payload


def test_slack_sections_stay_within_slacks_limit() -> None:
    message = webhook(expiration_event(acceptance(reason="<&>" * 600)), preset="slack")
    sections = [block["text"]["text"] for block in message.payload["blocks"] if block["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    assert "<&>" not in "".join(sections)


def test_teams_gets_a_message_card_with_everything_escaped(scanner_fixtures: Path) -> None:
    card = webhook(hostile_event(scanner_fixtures), preset="teams").payload
    assert card["@type"] == "MessageCard"
    assert card["@context"] == "https://schema.org/extensions"
    assert card["title"] == card["summary"]
    assert REFERENCE in card["title"]
    assert "<script>" not in json.dumps(card)
    assert "&lt;script&gt;" in card["text"]
    (action,) = card["potentialAction"]
    assert action["targets"][0]["uri"].startswith(f"{BASE_URL}/v1/images/")


def test_a_json_template_gets_json_escaped_values(scanner_fixtures: Path) -> None:
    event = hostile_event(scanner_fixtures)
    template = (
        '{"msg": "{policy_name}: {trigger} on {image} ({registry}) is {verdict}", "counts": "{counts}",'
        ' "other": "{not_a_placeholder}"}'
    )
    message = render(event, policy_name='Say "hi"\n{trigger}', integration_type="webhook", template=template)
    body = json.loads(message.text)
    assert message.content_type == "application/json"
    assert body == message.payload
    assert body["msg"] == f'Say "hi" {{trigger}}: sensitive_data on {REFERENCE} (ghcr.io) is non_compliant'
    assert body["counts"].startswith("vulnerabilities: none; sensitive data: 2")
    assert body["other"] == "{not_a_placeholder}"


def test_a_text_template_gets_the_values_as_they_are() -> None:
    message = webhook(image_event("malware", malware_findings()), template="ALERT {trigger}: {image}\n")
    assert message.text == f"ALERT malware: {REFERENCE}\n"
    assert message.content_type == "text/plain; charset=utf-8"
    assert message.payload == {}


def test_a_template_for_an_acceptance_names_its_repository() -> None:
    message = webhook(expiring_event(acceptance()), template='{"t": "{trigger} {image} [{verdict}]"}')
    assert json.loads(message.text) == {"t": "risk_acceptance_expiring ghcr.io/acme/payments []"}


def test_a_placeholder_outside_a_string_makes_the_template_text() -> None:
    body, is_json = fill_template('{"counts": {counts}}', {"counts": '1 "x"'})
    assert not is_json
    assert body == '{"counts": 1 "x"}'


# --- SNS ------------------------------------------------------------------------------------------------


def test_sns_gets_a_short_ascii_subject_and_the_generic_payload(scanner_fixtures: Path) -> None:
    event = image_event("critical_vulnerabilities", findings_of(scanner_fixtures, CRITICAL_VULNERABILITIES))
    event["image"]["repository"] = "très-long-répertoire/" * 8 + "app"
    message = render(event, policy_name="p", integration_type="sns", api_base_url=BASE_URL)
    assert len(message.subject) <= SNS_SUBJECT_MAX_LENGTH <= 100
    assert message.subject.isascii()
    assert message.subject.startswith("[Riskgate] Critical vulnerabilities in ghcr.io/tres-long-repertoire/")
    assert message.subject.endswith("...")
    assert json.loads(message.text) == message.payload
    assert message.payload["type"] == "critical_vulnerabilities"


def test_sns_subject_has_no_line_breaks() -> None:
    snapshot = acceptance(finding={"kind": "malware", "id": "a\nb\u2028c"})
    message = render(expiration_event(snapshot), policy_name="p", integration_type="sns")
    assert message.subject.isprintable()
    assert len(message.subject) <= SNS_SUBJECT_MAX_LENGTH


def test_an_unknown_trigger_with_braces_is_still_said() -> None:
    event = image_event("malware", malware_findings()) | {"type": "{what}{0}"}
    message = email(event)
    assert message.subject == f"[Riskgate] Riskgate event {{what}}{{0}}: {REFERENCE}"
