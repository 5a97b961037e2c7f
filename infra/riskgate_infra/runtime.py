"""The Lambda Python version, named once.

The functions' runtime (`constructs/functions.py`) and the third-party layer's wheels (`layers/build.py`)
both derive from these constants, so the layer can never be built for another CPython than the one that
loads it. Plain data: `layers/build.py` imports this module without CDK.
"""

from __future__ import annotations

# The newest Python runtime aws-cdk-lib knows (`Runtime.PYTHON_3_14`); cdk-nag's AwsSolutions-L1 and
# Serverless-LambdaLatestVersion insist on it, and a test checks nothing newer exists.
PYTHON_VERSION = "3.14"

# Graviton: cheaper per GB-second than x86_64 and every dependency ships aarch64 wheels.
ARCHITECTURE = "arm64"

# Wheel platform tags pip may pick for an arm64 Lambda (Amazon Linux 2023, glibc 2.34).
LAYER_PLATFORMS: tuple[str, ...] = (
    "manylinux_2_17_aarch64",
    "manylinux_2_28_aarch64",
    "manylinux2014_aarch64",
)
