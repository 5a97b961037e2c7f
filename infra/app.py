#!/usr/bin/env python3
"""CDK app entry point (cdk.json `app`, `make synth`). Synthesis never calls AWS and needs no Docker.

cdk-nag runs during synthesis: an unacknowledged finding fails it, with the report on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Works from a fresh clone as well as from the editable install.
for path in (ROOT / "functions", ROOT / "infra"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from riskgate_infra.application import create_app  # noqa: E402
from riskgate_infra.constructs.console import ConsoleNotBuiltError  # noqa: E402
from riskgate_infra.constructs.layer import LayerNotBuiltError  # noqa: E402


def main() -> int:
    try:
        app, _ = create_app()
    except (LayerNotBuiltError, ConsoleNotBuiltError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
        # The report (cdk-nag, CloudFormation rules) is already on stderr; spare the jsii traceback.
        print(f"error: synthesis refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
