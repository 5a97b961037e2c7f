"""Page tokens are sealed positions: opaque, tamper-evident, bound to the caller and the list."""

from __future__ import annotations

import base64

import pytest

from riskgate.adapters.dynamo import Page
from riskgate.auth.page_tokens import binding, derive_key, seal, unseal
from riskgate.domain.errors import MalformedInput
from riskgate.services.pages import visible_page

KEY = derive_key("a secret of the deployment")
POSITION = '{"gsi2pk":{"S":"IMAGES"},"gsi2sk":{"S":"ghcr.io#team-b/app#img-0123456789abcdef0123"}}'
ALICE = binding("alice", "GET", "/v1/images", [("registry", "ghcr.io"), ("limit", "1")])


def test_a_sealed_token_opens_for_the_same_caller_and_list_only() -> None:
    token = seal(KEY, POSITION, ALICE)

    assert unseal(KEY, token, binding("alice", "GET", "/v1/images", [("registry", "ghcr.io")])) == POSITION
    for other in (
        binding("bob", "GET", "/v1/images", [("registry", "ghcr.io")]),
        binding("alice", "GET", "/v1/images", [("registry", "docker.io")]),
        binding("alice", "GET", "/v1/risk-acceptances", [("registry", "ghcr.io")]),
    ):
        with pytest.raises(MalformedInput):
            unseal(KEY, token, other)
    with pytest.raises(MalformedInput):
        unseal(derive_key("another deployment"), token, ALICE)


def test_a_token_shows_nothing_of_the_position_and_hides_its_length() -> None:
    token = seal(KEY, POSITION, ALICE)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))

    for fragment in (b"team-b", b"img-", b"gsi2", b"IMAGES", b"ghcr"):
        assert fragment not in raw
    assert len(seal(KEY, "x", ALICE)) == len(seal(KEY, "y" * 40, ALICE))
    assert seal(KEY, POSITION, ALICE) != token  # a fresh nonce every time


@pytest.mark.parametrize("garbage", ["", "%%%", "AAAA", "ü", "A" * 5000])
def test_garbage_and_altered_tokens_are_malformed_input(garbage: str) -> None:
    with pytest.raises(MalformedInput):
        unseal(KEY, garbage or "x", ALICE)


def test_an_altered_token_does_not_open() -> None:
    token = seal(KEY, POSITION, ALICE)
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    with pytest.raises(MalformedInput):
        unseal(KEY, flipped, ALICE)


def pages_of(items: list[str], size_seen: list[int]) -> object:
    """A store over `items` whose positions are indexes."""

    def read(size: int, token: str | None) -> Page:
        size_seen.append(size)
        start = int(token) if token else 0
        chunk = items[start : start + size]
        end = start + len(chunk)
        return Page(
            items=[{"id": item} for item in chunk],
            next_token=str(end) if end < len(items) else None,
            positions=[str(start + n + 1) for n in range(len(chunk))],
        )

    return read


def test_a_filtered_page_fills_up_and_ends_at_the_last_item_shown() -> None:
    items = ["a1", "b1", "b2", "a2", "b3", "a3", "b4"]
    reads: list[int] = []
    mine = lambda item: item["id"].startswith("a")  # noqa: E731

    first = visible_page(pages_of(items, reads), mine, 2, None)  # type: ignore[arg-type]
    assert [i["id"] for i in first.items] == ["a1", "a2"]
    assert first.next_token == "4"  # just after a2, the last item shown: never after an unseen b
    second = visible_page(pages_of(items, reads), mine, 2, first.next_token)  # type: ignore[arg-type]
    assert [i["id"] for i in second.items] == ["a3"]
    assert second.next_token is None


def test_the_last_visible_item_at_the_very_end_ends_the_list() -> None:
    reads: list[int] = []
    page = visible_page(pages_of(["a1", "a2"], reads), lambda item: True, 2, None)  # type: ignore[arg-type]
    assert page.next_token is None
