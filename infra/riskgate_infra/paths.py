"""Repository locations the CDK app reads, independent of the directory synth runs from."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = REPO_ROOT / "cdk.json"
# The Lambda code asset: the directory holding the `riskgate` package.
FUNCTIONS_DIR = REPO_ROOT / "functions"
# Written by `make layer` (layers/build.py); holds `python/` and the `.stamp` of a finished build.
LAYER_BUILD_DIR = REPO_ROOT / "layers" / "build"
LAYER_STAMP = LAYER_BUILD_DIR / ".stamp"
