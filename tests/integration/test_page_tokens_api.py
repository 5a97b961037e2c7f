"""Every list's `next_token` is sealed and bound to its caller and query, through the real resolver."""

from __future__ import annotations

import base64
from typing import Any

from tests.support.api_calls import call, ok

POLICIES = "/v1/assurance-policies"


def make_policies(count: int) -> list[str]:
    return [
        ok("POST", POLICIES, {"name": f"p{n}", "scope": "global", "conditions": {"malware": True}}, 201)["id"]
        for n in range(count)
    ]


def walk(path: str, **kwargs: Any) -> tuple[list[str], list[str]]:
    """Every id of a list walked one item a page, and the tokens handed out on the way."""
    ids: list[str] = []
    tokens: list[str] = []
    query = {"limit": "1", **kwargs.pop("query", {})}
    while True:
        page = ok("GET", path, query=query, **kwargs)
        ids += [item["id"] for item in page["items"]]
        if not page["next_token"]:
            return ids, tokens
        tokens.append(page["next_token"])
        query = {**query, "next_token": page["next_token"]}


def test_a_walk_sees_every_item_once_through_tokens_that_show_nothing(dynamodb: Any) -> None:
    created = make_policies(3)

    ids, tokens = walk(POLICIES)

    assert ids == ["default", *created]
    for token in tokens:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        for fragment in (b"POLICIES", b"gsi2", b"pk", *(policy.encode() for policy in created)):
            assert fragment not in raw


def test_a_token_from_another_caller_or_query_is_a_400(dynamodb: Any) -> None:
    make_policies(3)
    token = ok("GET", POLICIES, query={"limit": "1"})["next_token"]
    assert token

    status, answer = call("GET", POLICIES, query={"limit": "1", "next_token": token}, user_id="someone-else")
    assert status == 400, answer
    assert answer["error"]["code"] == "malformed_request"
    status, answer = call("GET", "/v1/scopes", query={"limit": "1", "next_token": token})
    assert status == 400, answer
    images_token = ok("GET", "/v1/images", query={"limit": "1"})["next_token"]
    assert images_token is None  # no images: the list ends at once
    status, _ = call("GET", POLICIES, query={"limit": "2", "next_token": token})
    assert status == 200  # the page size may change between pages


def test_filters_are_part_of_what_a_token_is_bound_to(dynamodb: Any) -> None:
    for n in range(3):
        ok("POST", "/v1/scopes", {"name": f"s{n}", "resources": [{"registry": "ghcr.io"}]}, 201)
    token = ok("GET", "/v1/audit-events", query={"limit": "1", "entity_type": "scope"})["next_token"]
    assert token
    assert (
        call("GET", "/v1/audit-events", query={"limit": "1", "entity_type": "scope", "next_token": token})[0]
        == 200
    )
    status, answer = call(
        "GET", "/v1/audit-events", query={"limit": "1", "entity_type": "user", "next_token": token}
    )
    assert status == 400, answer
