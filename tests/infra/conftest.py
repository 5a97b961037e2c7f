"""One synthesis of the real app per test session (jsii start-up and asset staging are slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from riskgate_infra.paths import LAYER_STAMP, REPO_ROOT

TEST_CONTEXT = {
    # Synthesis still validates, but reports instead of raising, so a test can list every finding;
    # that the real app does fail on a finding is tested separately (test_stack.py).
    "@aws-cdk/core:failSynthOnValidationErrors": False,
    # What the CDK CLI sets: resources name their asset directory (`aws:asset:path` metadata), and the
    # template carries the CDKMetadata resource, so cfn-lint sees what `cdk synth` writes.
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
}


@dataclass(frozen=True)
class Synthesized:
    app: Any
    stack: Any
    template: Any  # aws_cdk.assertions.Template
    assembly_dir: Path
    template_path: Path

    @property
    def template_json(self) -> dict[str, Any]:
        return json.loads(self.template_path.read_text())

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template_json["Resources"].items()
            if resource["Type"] == resource_type
        }

    def validation_report(self) -> dict[str, Any]:
        return json.loads((self.assembly_dir / "validation-report.json").read_text())


@pytest.fixture(scope="session")
def built_layer() -> Path:
    """`make test` builds the layer first; a bare `pytest` run builds it here (arm64 wheels from PyPI)."""
    if not LAYER_STAMP.is_file():
        subprocess.run([sys.executable, str(REPO_ROOT / "layers" / "build.py")], check=True)
    return LAYER_STAMP.parent


def fake_console_build(root: Path) -> Path:
    """What `make console` (esbuild) writes to console/dist, in miniature."""
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(
        '<!doctype html><title>Riskgate</title><script type="module" src="/assets/app.123.js"></script>\n'
    )
    (dist / "assets" / "app.123.js").write_text('document.title = "Riskgate";\n')
    (dist / "assets" / "app.456.css").write_text("body { margin: 0 }\n")
    return dist


@pytest.fixture(scope="session")
def console_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The infra tests upload this instead of the real build: they need neither Node nor `make console`,
    and the template does not change with the console's code."""
    return fake_console_build(tmp_path_factory.mktemp("console"))


@pytest.fixture(scope="session")
def synthesized(
    built_layer: Path, console_build: Path, tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    from aws_cdk.assertions import Template

    from riskgate_infra.application import create_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = create_app(
        outdir=str(outdir), context={**TEST_CONTEXT, "riskgate:consoleDist": str(console_build)}
    )
    template = Template.from_stack(stack)  # synthesizes the whole app, validation plugins included
    assembly = app.synth()  # the same, already written, cloud assembly
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    return Synthesized(
        app=app,
        stack=stack,
        template=template,
        assembly_dir=Path(assembly.directory),
        template_path=Path(artifact.template_full_path),
    )
