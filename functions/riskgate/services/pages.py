"""Pages of lists that show each caller only some of the items they read.

A store reads items in key order and a list keeps those the caller may see. Handing out the store's own
continuation would point after items the caller was never shown; so a page is filled by reading on until
`limit` items are shown (or the list ends), and it ends at the last item shown. Only when a page has
read its whole budget without filling does its token mark the read position — sealed, as every token
is, so it tells the caller nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from riskgate.adapters.dynamo import MAX_PAGE_SIZE, Page

Item = dict[str, Any]
# Reads one store page: (how many items to read at most, position to start after) → Page.
ReadPage = Callable[[int, str | None], Page]

# Store pages read for one page of a list, at most: bounds what one request costs when the caller may
# see little of what there is.
MAX_READS = 8


def visible_page(read: ReadPage, keep: Callable[[Item], bool], limit: int, next_token: str | None) -> Page:
    """Up to `limit` items that `keep` lets through, and where the next page starts."""
    shown: list[Item] = []
    token = next_token
    size = limit
    for _ in range(MAX_READS):
        page = read(size, token)
        if len(page.positions) != len(page.items):
            raise ValueError("a page read for filtering must carry one position per item")
        for number, item in enumerate(page.items):
            if not keep(item):
                continue
            shown.append(item)
            if len(shown) == limit:
                last_read = number == len(page.items) - 1
                more = not last_read or page.next_token is not None
                return Page(items=shown, next_token=page.positions[number] if more else None)
        token = page.next_token
        if token is None:
            return Page(items=shown, next_token=None)
        # Little was visible: read wider next time (each read is still one bounded Query).
        size = min(MAX_PAGE_SIZE, max(size * 4, 50))
    return Page(items=shown, next_token=token)
