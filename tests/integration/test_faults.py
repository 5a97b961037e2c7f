"""DynamoDB faults injected at the client (issue 10): the API answers 503 with Retry-After, never 500,
and a reader sees the old state or the new one, never a mix."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from riskgate.adapters.store import default_store
from tests.integration.test_api import CRITICAL_TRIVY, post_report
from tests.support.api_calls import call, ok

FAULTS = {
    "throttled": {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
    "over capacity": {
        "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "over capacity"}
    },
    "internal": {"Error": {"Code": "InternalServerError", "Message": "internal"}},
    "lost to a concurrent transaction": {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
    },
}


def inject(operation: str, fault: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call of `operation` on the API's DynamoDB client fails with `fault`."""
    client = default_store().client
    calls: list[str] = []

    def failing(**_: Any) -> Any:
        calls.append(operation)
        raise ClientError(fault, operation)  # type: ignore[arg-type]

    monkeypatch.setattr(client, operation, failing)
    return calls


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_a_scan_meeting_a_busy_store_is_a_503_and_changes_nothing(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, fault: dict[str, Any]
) -> None:
    status, first = post_report(CRITICAL_TRIVY)
    assert status == 201, first
    image_id = first["image_id"]
    before = ok("GET", f"/v1/images/{image_id}")
    with monkeypatch.context() as patched:
        calls = inject("transact_write_items", fault, patched)
        status, answer = post_report(CRITICAL_TRIVY)
    assert calls
    assert status == 503, answer
    assert answer["error"]["code"] == "service_unavailable"
    # Readers see the old state: same current scan, one scan in the history.
    assert ok("GET", f"/v1/images/{image_id}") == before
    assert len(ok("GET", f"/v1/images/{image_id}/scans")["items"]) == 1
    # And the retry succeeds.
    status, again = post_report(CRITICAL_TRIVY)
    assert status == 201, again
    assert len(ok("GET", f"/v1/images/{image_id}/scans")["items"]) == 2


def test_the_503_says_when_to_retry(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from riskgate.handlers.api import handler
    from tests.support.events import FakeLambdaContext, api_event

    inject("query", FAULTS["throttled"], monkeypatch)
    response = handler(api_event("GET", "/v1/assurance-policies"), FakeLambdaContext())
    assert response["statusCode"] == 503
    headers = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    headers |= {k.lower(): [v] for k, v in (response.get("headers") or {}).items()}
    assert headers["retry-after"] == ["1"]


@pytest.mark.parametrize(
    ("fault", "status_wanted"),
    [
        (FAULTS["throttled"], 503),
        # A versioned entity's edit that loses to a concurrent transaction (twice: it retries once) is
        # the 409 every concurrent edit gets: read it again, then change it.
        (FAULTS["lost to a concurrent transaction"], 409),
    ],
    ids=["throttled", "lost to a concurrent transaction"],
)
def test_a_policy_edit_meeting_a_busy_store_leaves_the_policy_as_it_was(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, fault: dict[str, Any], status_wanted: int
) -> None:
    created = ok(
        "POST",
        "/v1/assurance-policies",
        {"name": "p", "scope": "global", "conditions": {"malware": True}},
        201,
    )
    with monkeypatch.context() as patched:
        inject("transact_write_items", fault, patched)
        status, answer = call("PATCH", f"/v1/assurance-policies/{created['id']}", {"name": "renamed"})
    assert status == status_wanted, answer
    assert ok("GET", f"/v1/assurance-policies/{created['id']}") == created


def test_a_failed_condition_is_not_mistaken_for_a_busy_store() -> None:
    from riskgate.handlers.api.errors import is_transient

    failed_condition = ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "TransactionConflict"}],
        },  # type: ignore[arg-type]
        "TransactWriteItems",
    )
    assert not is_transient(failed_condition)
    assert is_transient(ClientError(FAULTS["throttled"], "Query"))  # type: ignore[arg-type]


# --- accept, extend, revoke -------------------------------------------------------------------------

# A busy store is a 503; a transaction that keeps losing to concurrent writers (after the store's own
# bounded resends) is the 409 of a concurrent change. Either way nothing is written.
ACCEPTANCE_FAULTS = {
    "throttled": 503,
    "over capacity": 503,
    "internal": 503,
    "lost to a concurrent transaction": 409,
}


def _accepted_image(scanner_fixtures: Any) -> tuple[str, dict[str, Any]]:
    from tests.integration.test_acceptances_api import BUSTER, SHARED_CRITICAL, accept, scan

    image_id = scan(scanner_fixtures, BUSTER, "ghcr.io/team-a/app:1")["image_id"]
    return image_id, accept(SHARED_CRITICAL, {"image": image_id})


def _state(image_id: str, acceptance_id: str | None) -> Any:
    """What readers see: the image, its acceptances, the acceptance and its audit trail."""
    seen = {
        "image": ok("GET", f"/v1/images/{image_id}"),
        "acceptances": ok("GET", "/v1/risk-acceptances")["items"],
    }
    if acceptance_id:
        seen["acceptance"] = ok("GET", f"/v1/risk-acceptances/{acceptance_id}")
        query = {"entity_type": "risk_acceptance", "entity_id": acceptance_id}
        seen["audit"] = ok("GET", "/v1/audit-events", query=query)["items"]
    return seen


@pytest.mark.parametrize("action", ["accept", "extend", "revoke"])
@pytest.mark.parametrize("fault", ACCEPTANCE_FAULTS, ids=ACCEPTANCE_FAULTS.keys())
def test_accept_extend_revoke_meeting_a_busy_store_change_nothing_and_succeed_when_retried(
    dynamodb: Any, scanner_fixtures: Any, monkeypatch: pytest.MonkeyPatch, action: str, fault: str
) -> None:
    from tests.integration.test_acceptances_api import UNFIXED_LOW, accept_body

    image_id, acceptance = _accepted_image(scanner_fixtures)
    request = {
        "accept": ("/v1/risk-acceptances", accept_body(UNFIXED_LOW, {"image": image_id}), 201),
        "extend": (f"/v1/risk-acceptances/{acceptance['id']}/extend", {"period": "90d"}, 200),
        "revoke": (f"/v1/risk-acceptances/{acceptance['id']}/revoke", {"reason": "fixed"}, 200),
    }[action]
    path, body, success = request
    before = _state(image_id, acceptance["id"])
    with monkeypatch.context() as patched:
        calls = inject("transact_write_items", FAULTS[fault], patched)
        status, answer = call("POST", path, body)
    assert calls
    assert status == ACCEPTANCE_FAULTS[fault], answer
    assert answer["error"]["code"] == ("service_unavailable" if status == 503 else "conflict")
    assert _state(image_id, acceptance["id"]) == before
    # Sent again once the store answers, it does what it was asked, once.
    status, answer = call("POST", path, body)
    assert status == success, answer
    after = _state(image_id, acceptance["id"])
    assert len(after["audit"]) == len(before["audit"]) + (action != "accept")
    assert len(after["acceptances"]) == len(before["acceptances"]) + (action == "accept")
