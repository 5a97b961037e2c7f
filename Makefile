# Riskgate — every target sets up what it needs itself (virtual environment, pinned dependencies, layer).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAYER_STAMP := layers/build/.stamp
# The console: its pinned npm toolchain (the marker lives in node_modules, so a missing node_modules means
# `npm ci` again) and its build, redone when a source is newer than the stamp (directories included: a
# file added, removed or renamed changes its directory's time).
CONSOLE_DEPS := console/node_modules/.installed
CONSOLE_STAMP := console/dist/.stamp
CONSOLE_SOURCES := $(shell find console/src 2>/dev/null) console/build.mjs console/tsconfig.json
# The browser tests drive Debian's Chromium: Playwright's own browser download is neither needed nor possible.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# jsii (under aws-cdk-lib) warns loudly about the Node.js version on every start; the warning is not ours to fix here.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

.PHONY: run test lint typecheck unit synth layer console bench fuzz deploy clean fmt

$(STAMP): requirements/lock.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

## The local stack: moto server, API on http://127.0.0.1:$${RISKGATE_PORT:-8000}, stream poller; the console at /.
run: $(STAMP) $(CONSOLE_STAMP)
	$(PY) -m riskgate_local

## Lint, type-check and the whole test suite (unit, moto integration, local stack end to end, CDK, browser).
test: $(STAMP) $(LAYER_STAMP) $(CONSOLE_STAMP) $(CHROMIUM) lint typecheck
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

fmt: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

## Third-party dependencies for Lambda (arm64 wheels, no Docker); rebuilt only when its inputs change.
layer $(LAYER_STAMP): $(STAMP) layers/requirements.txt requirements/lock.txt layers/build.py
	$(PY) layers/build.py

## The console's toolchain, pinned by console/package-lock.json; after this, building needs no network.
## --ignore-scripts: nothing runs at install (esbuild finds its platform binary without its postinstall).
$(CONSOLE_DEPS): console/package.json console/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js >= 20 with npm is required to build the console" >&2; exit 1; }
	cd console && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(CONSOLE_DEPS)

## The console: console/dist (index.html, one hashed JS bundle, one stylesheet), type-checked first.
console: $(CONSOLE_STAMP)

$(CONSOLE_STAMP): $(CONSOLE_DEPS) $(CONSOLE_SOURCES)
	cd console && npm run --silent build
	@touch $(CONSOLE_STAMP)

## Only where it is missing (CI images, a fresh machine); apt needs root, hence sudo for anyone else.
$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-liberation

## Writes cdk.out/ without Docker; same app as `cdk synth` (cdk.json). The console's files are deployed with it.
synth: $(STAMP) $(LAYER_STAMP) $(CONSOLE_STAMP)
	CDK_OUTDIR=cdk.out $(PY) infra/app.py

## Ingest the largest fixture and measure handler cold starts; figures go to docs/performance.md.
bench: $(STAMP)
	$(PY) tests/bench/run.py $(PARTS)

## A long property-based fuzzing run (schemathesis) against the local stack: every phase, a random seed,
## figures printed at the end (`make test` runs a short fixed-seed one). FUZZ_EXAMPLES=… to change its size.
FUZZ_EXAMPLES ?= 50
fuzz: $(STAMP)
	RISKGATE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) RISKGATE_FUZZ_SEED=$${RISKGATE_FUZZ_SEED:-random} \
	RISKGATE_FUZZ_PHASES=examples,coverage,fuzzing,stateful RISKGATE_FUZZ_TIMEOUT_SECONDS=7200 \
	$(PY) -m pytest -p no:cacheprovider -s -q tests/e2e/test_fuzz.py

## Needs AWS credentials and the CDK CLI (npx fetches it).
deploy: synth
	npx --yes aws-cdk@2 deploy --app cdk.out

clean:
	rm -rf $(VENV) cdk.out layers/build .mypy_cache .ruff_cache .pytest_cache console/dist console/node_modules
