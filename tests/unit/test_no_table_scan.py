"""No service path may Scan the table: every access is a key lookup or a Query."""

from __future__ import annotations

import re
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def test_no_dynamodb_scan_in_functions() -> None:
    offenders = []
    for path in FUNCTIONS.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(
                r"\.scan\(|[\"']Scan[\"']|ScanFilter|\bscan_paginator\b|get_paginator\([\"']scan", line
            ):
                offenders.append(f"{path.relative_to(FUNCTIONS)}:{number}: {line.strip()}")
    assert offenders == []
