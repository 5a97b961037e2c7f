"""The third-party dependencies layer, from the arm64 build of `layers/build.py`."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from riskgate_infra.paths import LAYER_BUILD_DIR, REPO_ROOT


class LayerNotBuiltError(RuntimeError):
    pass


class DependenciesLayer(Construct):
    """powertools, pydantic and their wheels for the functions' runtime; the runtime itself brings boto3.

    Built beforehand without Docker (`make layer`), so synthesis only packages a directory.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        build_dir: Path = LAYER_BUILD_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        # The stamp is written last by the build: without it the directory may be half-written.
        if not (build_dir / ".stamp").is_file() or not (build_dir / "python").is_dir():
            shown = build_dir.relative_to(REPO_ROOT) if build_dir.is_relative_to(REPO_ROOT) else build_dir
            raise LayerNotBuiltError(
                f"the Lambda layer is not built ({shown}/.stamp is missing): run `make layer` first"
            )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(build_dir), exclude=[".stamp"]),
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
            description="Riskgate third-party dependencies (layers/requirements.txt)",
        )
