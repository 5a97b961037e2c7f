"""The API's route modules load on demand (issue 13): the table of modules and rules in
`riskgate.handlers.api.app` says exactly what each serves, no path is served by two modules (so the order
in which they happen to load cannot change which route answers), importing the handler loads none of them,
and the OpenAPI document does not depend on what was loaded before it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import combinations
from pathlib import Path

from riskgate.handlers.api.app import ROUTE_MODULES, modules_for, route_router

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
API_PACKAGE = FUNCTIONS / "riskgate" / "handlers" / "api"


def rules_of(module: str) -> set[str]:
    return {route[0] for route in route_router(module)._routes}


def test_every_route_module_is_in_the_table_with_exactly_its_rules() -> None:
    on_disk = {path.stem for path in API_PACKAGE.glob("routes_*.py")}
    assert {module for module, _ in ROUTE_MODULES} == on_disk
    for module, rules in ROUTE_MODULES:
        assert set(rules) == rules_of(module), f"ROUTE_MODULES' row of {module} is not its routes' rules"


def _overlap(first: str, second: str) -> bool:
    """Whether some path matches both rules (a `<name>` segment matches any one segment)."""
    a, b = first.strip("/").split("/"), second.strip("/").split("/")
    return len(a) == len(b) and all(
        x == y or x.startswith("<") or y.startswith("<") for x, y in zip(a, b, strict=True)
    )


def test_no_path_is_served_by_two_modules() -> None:
    for (one, one_rules), (other, other_rules) in combinations(ROUTE_MODULES, 2):
        for rule in one_rules:
            clashes = [theirs for theirs in other_rules if _overlap(rule, theirs)]
            assert not clashes, f"{one} {rule} and {other} {clashes} can match the same path"


def test_a_path_loads_the_module_that_serves_it() -> None:
    assert modules_for("/v1/verdict") == ["routes_verdicts"]
    assert modules_for("/v1/images/img-0123456789abcdef0123/verdict") == ["routes_verdicts"]
    assert modules_for("/v1/images/img-0123456789abcdef0123") == ["routes_images"]
    assert modules_for("/v1/scans/uploads/upl-1") == ["routes_uploads"]
    assert modules_for("/v1/health") == ["routes_meta"]
    assert modules_for("/v1/nothing-here") == []
    assert modules_for("/v1/images/a/b") == []


def _run(code: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": str(FUNCTIONS),
        "RISKGATE_TABLE_NAME": "riskgate-test",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def test_importing_the_handler_loads_no_route_module() -> None:
    loaded = json.loads(
        _run("import json, sys\nimport riskgate.handlers.api\nprint(json.dumps(sorted(sys.modules)))")
    )
    api = [name for name in loaded if name.startswith("riskgate.handlers.api.")]
    assert not [name for name in api if name.split(".")[-1].startswith(("routes_", "models"))], api
    # nor what the routes need: the services, the stores and the OpenAPI models
    assert not [name for name in loaded if name.startswith(("riskgate.services", "riskgate.adapters"))]
    assert "aws_lambda_powertools.event_handler.openapi.models" not in loaded


def test_the_document_does_not_depend_on_what_requests_loaded_first() -> None:
    fresh = _run("from riskgate.handlers.api.app import openapi_json\nprint(openapi_json())")
    after_requests = _run(
        "from riskgate.handlers.api.app import ROUTE_MODULES, app, openapi_json\n"
        "app.include_modules([module for module, _ in reversed(ROUTE_MODULES)])\n"
        "print(openapi_json())"
    )
    assert fresh == after_requests
