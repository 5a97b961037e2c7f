"""What the per-format parser tests share: the real reports of ../shared, and mutations of documents
(every value of a document replaced by a value of the wrong type) for the broken-structure tests."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from riskgate.domain.findings import Finding
from tests.support.fixture_readme import SCANNER_FIXTURES_FOLDER as FIXTURES

# A value of every JSON type, empty and not, for replacing any value of a document.
WRONG_VALUES: list[Any] = [None, "text", "", 0, -1.5, True, [], {}, ["x"], [None], {"x": None}]


def load(relative: str) -> Any:
    """A real report as JSON (a BOM allowed); the test skips, saying why, without ../shared."""
    path = FIXTURES / relative
    if not path.is_file():
        pytest.skip(f"scanner fixtures not found at {FIXTURES}")
    return json.loads(path.read_text(encoding="utf-8-sig"))


def fixtures_other_than(own: Iterable[str]) -> list[str]:
    """Every real report but `own` (folder names or paths), for "not taken for this format" tests;
    ["missing"] without ../shared, so that the parametrized test runs and skips in `load`."""
    if not FIXTURES.is_dir():
        return ["missing"]
    excluded = set(own)
    return sorted(
        relative
        for relative in (path.relative_to(FIXTURES).as_posix() for path in FIXTURES.glob("*/*.json"))
        if relative not in excluded and relative.split("/")[0] not in excluded
    )


def severities(findings: list[Finding]) -> Counter[str]:
    return Counter(finding.severity.value for finding in findings)


def paths_of(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value in a JSON document, the document's own () first."""
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths_of(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths_of(child, (*path, index))


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of `document` with the value at `path` (not ()) replaced by `value`."""
    changed = copy.deepcopy(document)
    parent = changed
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return changed
