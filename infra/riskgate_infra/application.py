"""The CDK app, the same for `cdk synth`, `make synth` and the tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_cdk import App

from riskgate_infra.nag import add_rule_packs
from riskgate_infra.paths import CDK_JSON
from riskgate_infra.stack import RiskgateStack

STACK_NAME = "Riskgate"


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context (feature flags, riskgate settings).

    The CDK CLI passes it to the app itself; reading it here too makes `python infra/app.py` and the
    tests synthesize exactly what `cdk synth` does. Values the CLI passes (`-c`) still win.
    """
    return dict(json.loads(CDK_JSON.read_text())["context"])


def create_app(
    *, outdir: str | None = None, context: Mapping[str, Any] | None = None
) -> tuple[App, RiskgateStack]:
    app = App(outdir=outdir, context={**cdk_json_context(), **(context or {})})
    stack = RiskgateStack(
        app,
        STACK_NAME,
        description="Riskgate: container image risk service (API Gateway, Lambda, DynamoDB)",
    )
    add_rule_packs(app)
    return app, stack
