"""The small text helpers every part of a notification shares: a value as one line, cut to a length,
escaped, or as JSON. Pure."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

# One value (a package, a path, an id) is cut here; a reason, a sentence written by a person, later
# (`content.MAX_REASON_LENGTH`).
MAX_FIELD_LENGTH = 200
ELLIPSIS = "…"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def line(value: object, limit: int = MAX_FIELD_LENGTH) -> str:
    """A value as one line of text (control characters and line breaks become spaces), cut at `limit`:
    an event's value must not start a header line in an e-mail or flood a chat."""
    if value is None:
        return ""
    text = _CONTROL.sub(" ", value if isinstance(value, str) else str(value)).strip()
    return clip(text, limit)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def fit(raw: str, limit: int, escape: Callable[[str], str], measure: Callable[[str], int] = len) -> str:
    """`raw` escaped, cut (by whole characters, so never inside an escape) to fit `limit` with `…`."""
    escaped = escape(raw)
    if measure(escaped) <= limit:
        return escaped
    pieces, size = [], measure(ELLIPSIS)
    for ch in raw:
        piece = escape(ch)
        if size + measure(piece) > limit:
            break
        pieces.append(piece)
        size += measure(piece)
    return "".join(pieces) + ELLIPSIS


def escape_html(text: str) -> str:
    return html.escape(text, quote=True)


def absolute(link: str) -> bool:
    return link.startswith(("https://", "http://"))


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def sequence(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def to_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
