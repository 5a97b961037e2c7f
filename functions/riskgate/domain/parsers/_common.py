"""What every report parser returns, and typed readers that turn a broken structure into InvalidInput.

Reports come from many scanner versions and absent keys are normal (Go `omitempty`), so the readers
treat a missing key or `null` as "nothing there". A value of the wrong type is different: it means the
document is not what it claims to be, and the caller gets InvalidInput naming the JSON path
(`Results[2].Vulnerabilities[5].PkgName: expected a string, got a number`) instead of a KeyError.
Paths are built only for containers we descend into; field paths are built only when raising.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from riskgate.domain.errors import InvalidInput
from riskgate.domain.findings import Counts, Finding
from riskgate.domain.images import ImageRef


@dataclass
class ParsedReport:
    format: str
    scanner: str | None
    scanner_version: str | None
    image: ImageRef | None
    findings: list[Finding]
    created_at: str | None

    @property
    def counts(self) -> Counts:
        return Counts.of(self.findings)


def child_path(path: str, key: str | int) -> str:
    """`Results` + 2 → `Results[2]`; `Results[2]` + `Vulnerabilities` → `Results[2].Vulnerabilities`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def broken(path: str, problem: str) -> InvalidInput:
    where = path or "document"
    return InvalidInput(f"{where}: {problem}", details=[{"path": where, "problem": problem}])


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def expect_object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise broken(path, f"expected an object, got {json_type(value)}")
    return value


def object_field(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """The object under `key`; {} when absent or null."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise broken(child_path(path, key), f"expected an object, got {json_type(value)}")
    return value


def list_field(parent: dict[str, Any], key: str, path: str) -> list[Any]:
    """The list under `key`; [] when absent or null (Trivy omits empty lists, old Grype writes null)."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise broken(child_path(path, key), f"expected a list, got {json_type(value)}")
    return value


def objects_of(items: list[Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    """Each item with its path; every item must be an object."""
    return [(item_path, expect_object(item, item_path)) for item_path, item in _indexed(items, path)]


def object_list(parent: dict[str, Any], key: str, path: str) -> list[tuple[str, dict[str, Any]]]:
    """The objects in the list under `key`, each with its path."""
    return objects_of(list_field(parent, key, path), child_path(path, key))


def optional_text(parent: dict[str, Any], key: str, path: str) -> str | None:
    """The string under `key`; None when absent, null or empty."""
    value = parent.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise broken(child_path(path, key), f"expected a string, got {json_type(value)}")
    if not is_text(value):
        raise broken(child_path(path, key), NOT_TEXT)
    return value


NOT_TEXT = "expected text, got a string with a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)"


def is_text(value: str) -> bool:
    """Whether the string is Unicode text that can be stored: JSON's `\\ud800` escapes decode to lone
    surrogates, which no UTF-8 encoder (nor DynamoDB) accepts."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def required_text(parent: dict[str, Any], key: str, path: str) -> str:
    value = optional_text(parent, key, path)
    if value is None:
        raise broken(path, f"missing {key}")
    return value


def optional_int(parent: dict[str, Any], key: str, path: str) -> int | None:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise broken(child_path(path, key), f"expected an integer, got {json_type(value)}")
    return value


# CVSS scores, v2 to v4, have one decimal between 0 and 10.
CVSS_RANGE = (0.0, 10.0)


def optional_score(parent: dict[str, Any], key: str, path: str) -> float | None:
    """A CVSS score. A number outside 0 to 10, or above 0 and below 0.1, is no CVSS score (some tools put
    other ratings there): it is left out and the finding keeps its severity, rather than failing CI.
    (1e-300 could not even be stored: DynamoDB numbers stop at 1e-130.)"""
    score = optional_number(parent, key, path)
    if score is None or not CVSS_RANGE[0] <= score <= CVSS_RANGE[1] or 0 < score < 0.1:
        return None
    return score


def optional_number(parent: dict[str, Any], key: str, path: str) -> float | None:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise broken(child_path(path, key), f"expected a number, got {json_type(value)}")
    if not math.isfinite(value):
        # JSON has no infinity, but 1e999999 overflows a float to one; no store can keep it either.
        raise broken(child_path(path, key), "expected a finite number, got one too large to represent")
    return float(value)


def text_list(parent: dict[str, Any], key: str, path: str) -> list[str]:
    """The strings under `key`, empty ones dropped."""
    items = list_field(parent, key, path)
    texts: list[str] = []
    for item_path, item in _indexed(items, child_path(path, key)):
        if not isinstance(item, str):
            raise broken(item_path, f"expected a string, got {json_type(item)}")
        if item:
            texts.append(item)
    return texts


def highest(scores: list[float]) -> float | None:
    return max(scores) if scores else None


def _indexed(items: list[Any], path: str) -> list[tuple[str, Any]]:
    return [(f"{path}[{index}]", item) for index, item in enumerate(items)]
