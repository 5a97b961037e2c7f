"""Test-wide set-up: fake AWS credentials and region, no real AWS anywhere, the shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Set before anything creates a boto3 client: tests must never reach real AWS.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SECURITY_TOKEN"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)
os.environ["POWERTOOLS_SERVICE_NAME"] = "riskgate"
os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "Riskgate"
os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
os.environ["POWERTOOLS_DEV"] = "false"
# jsii (under aws-cdk-lib) names the Node.js major version whose end-of-life banner to keep quiet.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
# CI checks the repository out with shared/ beside it.
SCANNER_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "scanners"


@pytest.fixture(scope="session")
def scanner_fixtures() -> Path:
    """The real scanner reports of ../shared; tests that need them skip, saying why, without it."""
    if not (SCANNER_FIXTURES / "README.md").is_file():
        pytest.skip(f"scanner fixtures not found at {SCANNER_FIXTURES} (clone with ../shared beside it)")
    return SCANNER_FIXTURES
