# Two commands for a newcomer: `make synth` and `make test`. Both install what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIPENV_HOME := .cache/pipenv
PIPENV := $(PIPENV_HOME)/bin/pipenv
PIPENV_VERSION := 2026.10.3
# checkov in its own environment (tools/checkov/Pipfile): its pins clash with the project's.
CHECKOV_VENV := .cache/checkov
CHECKOV_PIPENV := PIPENV_PIPFILE=$(CURDIR)/tools/checkov/Pipfile PIPENV_VENV_IN_PROJECT=0 WORKON_HOME=$(CURDIR)/.cache PIPENV_CUSTOM_VENV_NAME=checkov $(PIPENV)
export PIPENV_VENV_IN_PROJECT := 1
export PIPENV_NOSPIN := 1
export PIPENV_YES := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CHECKPOINT_DISABLE := 1
# ENV=<name> on any target: the environment of environments/<name>.toml (docs/environments.md),
# passed to every tool as RAI_ENV. Only from the command line: shells may set ENV for themselves.
ifeq ($(origin ENV),command line)
ifneq ($(ENV),)
export RAI_ENV := $(ENV)
endif
endif
TRUE_VALUES := 1 yes true

PHONY_CANARY := canary-status canary-start canary-abort
PHONY_ALARMS := alarms-test
.PHONY: $(PHONY_CANARY) $(PHONY_ALARMS) help setup synth cdktf-synth test test-fast validate checkov deploy-local lint settings-table bench-synth bench-canary-drift bench-handler bench-worker bench-stream-scale bench-server golden scorecard cost chaos graphviz wrk diagrams docs plan plan-local preflight deploy destroy

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(PIPENV):
	$(PYTHON) -m venv $(PIPENV_HOME)
	$(PIPENV_HOME)/bin/pip install --quiet pipenv==$(PIPENV_VERSION)

$(VENV)/.synced: Pipfile.lock | $(PIPENV)
	$(PIPENV) sync --dev
	touch $@

$(CHECKOV_VENV)/.synced: tools/checkov/Pipfile.lock | $(PIPENV)
	$(CHECKOV_PIPENV) sync
	touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.synced $(CHECKOV_VENV)/.synced node_modules/.installed ## install Python (Pipfile.lock; checkov from tools/checkov/Pipfile.lock) and the cdktf CLI (package-lock.json)

synth: $(VENV)/.synced ## synthesize every stack with the embedded defaults into cdktf.out/ (ENV=<name>: cdktf.out.<name>/)
	$(PY) main.py

cdktf-synth: setup ## the same through the cdktf CLI
	npx --no-install cdktf synth --output "$$($(PY) -m tools.synth_output)"

# Round trips mostly wait on the emulator: several at once fit 2 cores. One test per send,
# longest first (tests/conftest.py), so no worker queues two round trips behind each other.
TEST_WORKERS ?= 4
# Ends with pytest's own summary: the slowest tests (--durations), then passed/failed and the time.
test: setup graphviz ## run every test (unit, synth matchers, validate, checkov, emulator round trips), TEST_WORKERS at once
	$(PY) -m pytest -n $(TEST_WORKERS) --dist load --maxschedchunk 1 --durations=8

test-fast: $(VENV)/.synced ## only the fast tests (no Terraform, checkov or emulator)
	$(PY) -m pytest -m "not slow"

validate: synth ## terraform init -backend=false + validate of every stack, offline
	$(PY) -m tools.deploy.terraform

checkov: synth $(CHECKOV_VENV)/.synced ## security scan of every stack (waivers in pyproject.toml)
	$(PY) -m tools.deploy.checkov_scan

deploy-local: $(VENV)/.synced ## apply, re-plan (no changes) and destroy every stack on a local moto server
	$(PY) -m tools.deploy.round_trip $(STACKS)

bench-handler: $(VENV)/.synced ## event processor throughput vs bare S3 get+put, and peak RSS on a 200 MB object (moto)
	$(PY) -m tools.bench.handler

lint: $(VENV)/.synced ## ruff, mypy and the layer contracts (import-linter, in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m tools.lint.mypy
	$(VENV)/bin/lint-imports

bench-server: $(VENV)/.synced wrk ## model server (ONNX MLP) vs raw onnxruntime and the machine limit: req/s, p50/p99 under wrk, JSON and binary tensors, with and without batching, median of RUNS (5) paired runs (not a test)
	$(PY) -m tools.bench.server $(or $(SECONDS_PER_RUN),2) $(or $(RUNS),5)

bench-canary-drift: $(VENV)/.synced ## the canary's prediction divergence: identical models by chance at a 10 % step vs a label-permuted model (not a test)
	$(PY) -m tools.bench.canary_drift

golden: $(VENV)/.synced ## write a golden set from a model you trust: MODEL=model.onnx INPUTS=rows.csv|rows.json [OUT=path] [TOLERANCE=output=abs]; <model>.golden.json beside the model by default
	@test -n "$(MODEL)" -a -n "$(INPUTS)" || { echo "usage: make golden MODEL=path/model.onnx INPUTS=rows.csv|rows.json [OUT=...] [TOLERANCE=probabilities=0.0001]" >&2; exit 2; }
	PYTHONPATH=handlers/model_server $(PY) -m model_server.golden_tool "$(MODEL)" "$(INPUTS)" $(if $(OUT),--out "$(OUT)") $(foreach t,$(TOLERANCE),--tolerance $(t))

bench-synth: $(VENV)/.synced ## synth benchmark: jsii floor vs eager vs lazy provider import (RUNS=5)
	$(PY) -m tools.bench.synth --runs $(or $(RUNS),5)

bench-worker: $(VENV)/.synced ## stream worker benchmark on moto: records/s vs raw GetRecords, failover after kill -9 / SIGTERM
	$(PY) -m tools.bench.worker

bench-stream-scale: $(VENV)/.synced ## stream workers at 200 shards and 20 workers through joins, kill -9, spot drains, a reshard and a shrink: rebalance in TTLs, duplicates, lost, lag, lease-table cost (RUNS=3)
	$(PY) -m tools.bench.stream_scale --runs $(or $(RUNS),3)

scorecard: $(VENV)/.synced ## write docs/scorecard.md (AZs, detection, replacement, DLQ, alarms, encryption, SPOFs) from the default synth
	$(PY) -m tools.docs.scorecard

cost: $(VENV)/.synced ## fixed monthly cost of cdktf.out (synthesized first if missing) per stack and kind, from tools/cost/prices.toml; docs/cost.md from the defaults
	$(PY) -m tools.cost

plan: $(VENV)/.synced ## terraform plan of every stack against AWS (ENV=, credentials and account checked first); plan.json per stack, stateful replacements in red
	$(PY) -m tools.deploy.orchestrate plan $(STACKS)

deploy: $(VENV)/.synced node_modules/.installed ## ENV=<name>: check tools, credentials and account, then deploy every stack in dependency order (STACKS= a subset, AUTO_APPROVE=1)
	$(PY) -m tools.deploy.orchestrate deploy $(if $(filter $(TRUE_VALUES),$(AUTO_APPROVE)),--auto-approve) $(STACKS)

destroy: $(VENV)/.synced node_modules/.installed ## ENV=<name>: destroy in reverse dependency order, keeping state (WITH_STATE=1); a protected environment is refused
	$(PY) -m tools.deploy.orchestrate destroy $(if $(filter $(TRUE_VALUES),$(WITH_STATE)),--with-state) $(if $(filter $(TRUE_VALUES),$(AUTO_APPROVE)),--auto-approve) $(STACKS)

# Through make a failed run ends in make's own exit code 2: `python -m tools.chaos --run` gives the run's (docs/chaos.md).
chaos: $(VENV)/.synced ## list the chaos experiments (FIS) of cdktf.out; RUN=<stack>/<experiment> runs one on the settings' account (TIMEOUT=s, POLL=s)
	$(PY) -m tools.chaos $(if $(RUN),--run $(RUN)) $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(if $(POLL),--poll $(POLL))

canary-status: $(VENV)/.synced ## the target-groups canary rollout: state, weight, next step (canary-start / canary-abort change it)
	$(PY) -m tools.deploy.canary status

canary-start: $(VENV)/.synced ## begin a canary rollout at the first of target_groups.canary_steps
	$(PY) -m tools.deploy.canary start

canary-abort: $(VENV)/.synced ## roll the canary back: the controller sets its weight to 0 within a minute
	$(PY) -m tools.deploy.canary abort

preflight: $(VENV)/.synced ## before a deploy (ENV=<env>): caller account, quotas vs the synth at its maximum sizes, certificates, hosted zone; a table; exit 1 on a shortfall, 3 when only unverified (docs/preflight.md)
	$(PY) -m tools.preflight

alarms-test: $(VENV)/.synced ## set one deployed alarm of ENV to ALARM and back, and say where its message went (docs/alarms.md)
	$(PY) -m tools.alarms

plan-local: $(VENV)/.synced ## the same plan review against a moto server started for the run (empty state: shows a first deploy)
	$(PY) -m tools.deploy.plan_review --emulator $(STACKS)

# `make test` needs it for the diagram test: a fresh machine gets it here, not from .ci/run.
graphviz: ## install Graphviz (`dot`) from Debian packages if it is missing (root, or sudo)
	@command -v dot >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends graphviz >/dev/null \
	  || { echo "Graphviz is needed by the diagram test: install it (Debian: apt-get install graphviz)" >&2; exit 1; }; }

wrk: ## install wrk (the benchmark's HTTP load) from Debian packages if it is missing (root, or sudo)
	@command -v wrk >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null \
	  || { echo "wrk is needed by make bench-server: install it (Debian: apt-get install wrk)" >&2; exit 1; }; }

diagrams: $(VENV)/.synced graphviz ## draw every stack from the default synth into docs/diagrams/ (.dot, .svg, .png)
	$(PY) -m tools.docs.diagrams

settings-table: $(VENV)/.synced ## print the settings table (docs/settings.md has it by section; `make docs` writes it)
	$(PY) -m modules.config --markdown

docs: $(VENV)/.synced graphviz ## regenerate every generated page: docs/settings.md and docs/testing.md tables, docs/scorecard.md, docs/cost.md, docs/diagrams/
	$(PY) -m tools.docs.pages
	$(PY) -m tools.docs.scorecard
	$(PY) -m tools.cost --defaults > /dev/null
	$(PY) -m tools.docs.diagrams
