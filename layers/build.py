"""Build the third-party Lambda layer for arm64 without Docker.

pip is asked for manylinux aarch64 wheels for the functions' CPython (`riskgate_infra.runtime`), so the
layer never carries this machine's binaries. What the Lambda runtime already ships (boto3 and everything
it pulls in) is removed again: a second, older or newer, copy would shadow the runtime's and only add
cold-start weight. The build is skipped when none of its inputs changed; `layers/build/.stamp` records
their hash and is written last, so an interrupted build is never mistaken for a finished one.

Usage: python layers/build.py [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "infra"))

from riskgate_infra.runtime import LAYER_PLATFORMS, PYTHON_VERSION  # noqa: E402

REQUIREMENTS = ROOT / "layers" / "requirements.txt"
CONSTRAINTS = ROOT / "requirements" / "lock.txt"
BUILD_DIR = ROOT / "layers" / "build"
TARGET = BUILD_DIR / "python"  # Lambda adds /opt/python to sys.path
STAMP = BUILD_DIR / ".stamp"

# The Lambda Python runtime ships the AWS SDK with everything it requires; the layer must not carry a
# second copy (e.g. jmespath, which powertools needs too, comes with botocore).
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def inputs_digest() -> str:
    """Hash of everything that decides the layer's content."""
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, CONSTRAINTS, Path(__file__).resolve()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(f"python={PYTHON_VERSION};platforms={','.join(LAYER_PLATFORMS)}".encode())
    return digest.hexdigest()


def is_up_to_date(digest: str) -> bool:
    return TARGET.is_dir() and STAMP.is_file() and STAMP.read_text().strip() == digest


def pip_install(target: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        "--no-compile",  # bytecode of this interpreter would be useless to the runtime's
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *(arg for platform in LAYER_PLATFORMS for arg in ("--platform", platform)),
        "--target",
        str(target),
        "-r",
        str(REQUIREMENTS),
        "-c",
        str(CONSTRAINTS),
    ]
    subprocess.run(command, check=True)  # noqa: S603 - fixed argument list, no shell


def runtime_provided(target: Path) -> list[metadata.Distribution]:
    """The installed distributions the Lambda runtime already has."""
    return [
        dist
        for dist in metadata.distributions(path=[str(target)])
        if _normalize(dist.metadata["Name"]) in RUNTIME_PROVIDED
    ]


def remove_distribution(dist: metadata.Distribution, target: Path) -> None:
    root = target.resolve()
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file))).resolve()
        if path.is_relative_to(root) and path.is_file():
            path.unlink()


def prune(target: Path) -> None:
    """Drop caches, console scripts (their shebang names this machine's Python) and emptied directories."""
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(target / "bin", ignore_errors=True)
    for directory in sorted((p for p in target.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()


def build() -> None:
    staging = BUILD_DIR / "python.partial"
    STAMP.unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    pip_install(staging)
    dropped = runtime_provided(staging)
    names = ", ".join(sorted(dist.metadata["Name"] for dist in dropped)) or "nothing"
    for dist in dropped:
        remove_distribution(dist, staging)
    prune(staging)
    shutil.rmtree(TARGET, ignore_errors=True)
    staging.rename(TARGET)
    print(f"layer built in {TARGET.relative_to(ROOT)} (python {PYTHON_VERSION}, arm64); dropped {names}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rebuild even if the inputs did not change")
    args = parser.parse_args(argv)
    digest = inputs_digest()
    if not args.force and is_up_to_date(digest):
        # make compares mtimes: refresh the stamp so an unrelated touch of an input is not rebuilt again.
        os.utime(STAMP)
        print(f"layer up to date in {TARGET.relative_to(ROOT)}")
        return 0
    build()
    STAMP.write_text(digest + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
