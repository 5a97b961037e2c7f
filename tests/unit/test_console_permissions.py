"""The console names the API's permissions in its sources (`console/src/types.ts`: the `Permission` type
and the `PERMISSIONS` a custom role is chosen from). A permission added to the API must appear there too,
or the console could neither offer nor show it."""

from __future__ import annotations

import re
from pathlib import Path

from riskgate.domain.permissions import Permission

TYPES = Path(__file__).resolve().parents[2] / "console" / "src" / "types.ts"


def _block(source: str, start: str, end: str) -> str:
    begin = source.index(start)
    return source[begin : source.index(end, begin)]


def test_the_consoles_permission_list_is_the_apis_in_its_order() -> None:
    source = TYPES.read_text()
    listed = re.findall(r'"([a-z_]+:[a-z_]+)"', _block(source, "export const PERMISSIONS", "];"))

    assert listed == [permission.value for permission in Permission]


def test_the_consoles_permission_type_names_every_permission() -> None:
    source = TYPES.read_text()
    named = re.findall(r'"([a-z_]+:[a-z_]+)"', _block(source, "export type Permission =", ";"))

    assert sorted(named) == sorted(permission.value for permission in Permission)
