"""`riskgate admin create-token` writes a working administrator token into the table."""

from __future__ import annotations

from typing import Any

import pytest

from riskgate.adapters.store import Store
from riskgate.cli import main


def test_create_token_prints_a_token_that_authenticates(
    store: Store, capsys: pytest.CaptureFixture[str], dynamodb: Any
) -> None:
    assert main(["admin", "create-token", "--table", store.table_name]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("rg_")
    principal = store.principal_for_token(secret)
    assert principal is not None
    assert principal.user_id == "admin"
    assert [(b.role, b.scope) for b in principal.role_bindings] == [("administrator", "global")]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["admin", "create-token"])
    assert exit_info.value.code == 2


def test_a_table_that_does_not_exist_is_one_line_and_exit_2(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """2, not 1: 1 is the gate failing; and one line, not a traceback."""
    assert main(["admin", "create-token", "--table", "no-such-table"]) == 2

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("riskgate: could not create the token: ")
