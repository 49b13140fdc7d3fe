# Two commands matter: `make demo` (a full hibernate and wake cycle, offline) and `make test` (every test).
# Both build the virtual environments they need under .venvs/ and reuse them on later runs.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENVS := .venvs
UV := $(VENVS)/uv/bin/uv
DEV := $(VENVS)/dev
SAM := $(VENVS)/sam
# The Airflow versions the engine is tested on, and the Python each runs on in MWAA.
AIRFLOW_VERSIONS ?= 2.10.5 2.11.2 3.0.6 3.2.1 3.3.1
airflow_python = $(if $(filter 2.10.%,$(1)),3.11,3.12)
# The end-to-end suite (full cycles; failures at every step on the first run, at the steps that go through Airflow on
# another major's first run): the newest Airflow of each major, and on Airflow 3 once per carrier (version:carrier;
# see tests/e2e/conftest.py).
E2E_RUNS ?= 2.11.2:in-process 3.3.1:task 3.3.1:api-server
LAMBDA_PYTHON := 3.13
SAM_CLI_VERSION := 1.170.0

export SAM_CLI_TELEMETRY := 0
export AWS_XRAY_SDK_ENABLED := false
export POWERTOOLS_TRACE_DISABLED := true
export UV_LINK_MODE := copy

.PHONY: help env demo invoke test test-fast lint build validate bench diagram clean

help:
	@echo "make demo   run a full hibernate and wake cycle offline (moto + a local MWAA stand-in on real Airflow)"
	@echo "make test   run every test (lint, template, state machines, handlers, engine on each Airflow, end to end)"
	@echo "make test-fast   the inner loop, a few minutes: lint, unit and template tests, one engine round trip"
	@echo "make build  sam build with the SAM CLI from .venvs/sam (then: sam deploy --guided)"
	@echo "make bench  measure export and restore throughput and memory (see docs/performance.md; BENCH_AIRFLOW=2.11.2)"
	@echo "make invoke FUNCTION=<LogicalId or handler> EVENT=events/<file>.json   one function against the sandbox"
	@echo "            that \`make demo DEMO_ARGS=--keep\` leaves running (no Docker; see docs/development.md)"

$(UV):
	python3 -m venv $(VENVS)/uv
	$(VENVS)/uv/bin/pip install --quiet --disable-pip-version-check uv

$(DEV)/.done: pyproject.toml sandbox/pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python "$$(scripts/find-python $(LAMBDA_PYTHON))" $(DEV)
	$(UV) pip install --quiet --python $(DEV)/bin/python -e '.[dev]' -e ./sandbox
	touch $@

# SAM CLI pins boto3 exactly, so it gets its own environment. pip is installed too: `sam build` looks for a
# python3.13 with pip on PATH to build the layer, and this environment's python is one.
$(SAM)/.ready: | $(UV)
	$(UV) venv --quiet --allow-existing --python "$$(scripts/find-python $(LAMBDA_PYTHON))" $(SAM)
	$(UV) pip install --quiet --python $(SAM)/bin/python aws-sam-cli==$(SAM_CLI_VERSION) pip
	touch $@

# One environment per Airflow version: Airflow itself, the project (engine and CLI), the sandbox, and the test tools.
# Airflow 3 gets MWAA's own package set and pins (sandbox/constraints/<version>/, copied from the MWAA image);
# the test tools come after, held to MWAA's essential pins and to every version the first step installed, so they
# never move what MWAA installs (unpinned, a tool's dependency once pulled cryptography 51, which breaks Airflow 3.0.6).
# Airflow 2 is installed with the pins of a tested environment (sandbox/constraints/<version>/constraints.txt).
# A rebuild starts from an empty environment: a freeze taken on top of an earlier build would pin what the test tools
# left behind (once joserfc 1.8.0, which needs a newer cryptography than MWAA's 42.0.8) and make step 3 unsolvable.
.SECONDEXPANSION:
$(VENVS)/airflow-%/.done: pyproject.toml sandbox/pyproject.toml $$(wildcard sandbox/constraints/$$*/*.txt) | $(UV)
	$(UV) venv --quiet --clear --python "$$(scripts/find-python $(call airflow_python,$*))" $(VENVS)/airflow-$*
	@if [ -f sandbox/constraints/$*/requirements.txt ]; then \
	    set -x; \
	    $(UV) pip install --quiet --python $(VENVS)/airflow-$*/bin/python -r sandbox/constraints/$*/requirements.txt \
	        -c sandbox/constraints/$*/airflow_constraints.txt -c sandbox/constraints/$*/mwaa_essential_constraints.txt && \
	    $(UV) pip freeze --python $(VENVS)/airflow-$*/bin/python | grep -v -e '^-e ' -e ' @ file:' \
	        > $(VENVS)/airflow-$*/mwaa-installed.txt && \
	    $(UV) pip install --quiet --python $(VENVS)/airflow-$*/bin/python -c sandbox/constraints/$*/mwaa_essential_constraints.txt \
	        -c $(VENVS)/airflow-$*/mwaa-installed.txt -e . -e ./sandbox pytest hypothesis "moto[server,s3,kms,stepfunctions]==5.2.5" isal; \
	else \
	    set -x; \
	    $(UV) pip install --quiet --python $(VENVS)/airflow-$*/bin/python \
	        $(if $(wildcard sandbox/constraints/$*/constraints.txt),-c sandbox/constraints/$*/constraints.txt) \
	        "apache-airflow[postgres]==$*" -e . -e ./sandbox pytest hypothesis "moto[server,s3,kms,stepfunctions]==5.2.5" isal; \
	fi
	touch $@

env: $(DEV)/.done $(SAM)/.ready $(foreach v,$(AIRFLOW_VERSIONS),$(VENVS)/airflow-$(v)/.done)
	@scripts/ensure-postgres

lint: $(DEV)/.done
	$(DEV)/bin/ruff check .
	$(DEV)/bin/ruff format --check .
	$(DEV)/bin/mypy

# Suites per tier and version, run TEST_JOBS at a time (most of their time is spent waiting on Airflow processes);
# each one's log, JUnit file and time land in .test-results/ (scripts/run-tests, docs/development.md).
TEST_JOBS ?= 3

test: env
	@rm -rf .test-results && mkdir -p .test-results
	@$(DEV)/bin/python scripts/run-tests --jobs $(TEST_JOBS) --e2e $(E2E_RUNS) -- $(AIRFLOW_VERSIONS)

test-fast: $(DEV)/.done $(SAM)/.ready $(VENVS)/airflow-$(lastword $(filter 2.%,$(AIRFLOW_VERSIONS)))/.done
	@rm -rf .test-results && mkdir -p .test-results
	@$(DEV)/bin/python scripts/run-tests --fast --jobs $(TEST_JOBS) -- $(AIRFLOW_VERSIONS)

# The SAM CLI from its own environment (with python3.13 on PATH), for building and validating the application.
build: $(SAM)/.ready
	PATH="$(CURDIR)/$(SAM)/bin:$$PATH" sam build

validate: $(SAM)/.ready
	PATH="$(CURDIR)/$(SAM)/bin:$$PATH" sam validate --lint

demo: env
	$(DEV)/bin/python -m mwaa_hibernate_sandbox.demo $(DEMO_ARGS)

# One Lambda handler, in-process, with the environment variables the template gives it, against the sandbox
# `make demo DEMO_ARGS=--keep` leaves running; prints the handler's result as JSON. FUNCTION may be left out
# when the event file is named after the handler (events/<handler>[.<variant>].json).
invoke: $(DEV)/.done
	@test -n "$(EVENT)" || { echo "usage: make invoke FUNCTION=<LogicalId or handler> EVENT=events/<file>.json [INVOKE_ARGS='--set key=value']"; exit 2; }
	@$(DEV)/bin/python -m mwaa_hibernate_sandbox.invoke $(if $(FUNCTION),--function $(FUNCTION)) $(EVENT) $(INVOKE_ARGS)

# The benchmark runs on one Airflow: the newest tested one unless BENCH_AIRFLOW names another.
BENCH_AIRFLOW ?= $(lastword $(AIRFLOW_VERSIONS))

bench: $(VENVS)/airflow-$(BENCH_AIRFLOW)/.done
	@scripts/ensure-postgres
	$(VENVS)/airflow-$(BENCH_AIRFLOW)/bin/python bench/snapshot_bench.py $(BENCH_ARGS)

diagram:
	scripts/render-diagram

clean:
	rm -rf $(VENVS) .aws-sam .test-results .sandbox
