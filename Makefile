# One gate: `make test` (lint, types, template lint, all tests). `make run` serves locally.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test lint format types template-lint pytest unit integration e2e e2e-dynamodb fuzz openapi events bench install clean sam-build

$(STAMP): pyproject.toml layers/kms_core/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/skms serve

test: lint types template-lint pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

types: $(STAMP)
	$(BIN)/mypy

template-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml

# Every test on the default backend (SQLite), then the end-to-end suite again on the AWS backend.
pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory e2e-dynamodb

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(BIN)/pytest tests/integration tests/contract $(PYTEST_ARGS)

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

# The whole end-to-end suite with every `skms serve` on a DynamoDB table of its own (made with
# `skms create-table`) over HTTP and its root key in AWS KMS, both moto_server on 127.0.0.1
# (tests/support/aws_backend.py); tests of what only SQLite has skip themselves. ~3 minutes.
E2E_DYNAMODB_ARGS ?=
e2e-dynamodb: $(STAMP)
	SKMS_E2E_BACKEND=dynamodb $(BIN)/pytest tests/e2e $(E2E_DYNAMODB_ARGS)

# Long fuzzing run of every operation of the OpenAPI document against `skms serve` (make test runs
# a bounded one; ~20 minutes here). SKMS_FUZZ_EXAMPLES: examples per operation; SKMS_FUZZ_SEED: the
# seed (fixed by default, so a run is reproducible; change it to explore other inputs).
SKMS_FUZZ_EXAMPLES ?= 1000
fuzz: $(STAMP)
	SKMS_FUZZ_EXAMPLES=$(SKMS_FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz --timeout=0 $(PYTEST_ARGS)

# Regenerate openapi.json from template.yaml and the models (tests/unit/test_openapi.py checks it).
openapi: $(STAMP)
	$(BIN)/skms openapi --output openapi.json

# Regenerate events/*/api.json from each direct.json and its route (tests/unit/test_sample_events.py checks them).
events: $(STAMP)
	$(BIN)/skms events --write

bench: $(STAMP)
	$(BIN)/python bench/run.py

# Needs the AWS SAM CLI (pip install aws-sam-cli); builds without a container, sends no telemetry.
sam-build:
	SAM_CLI_TELEMETRY=0 sam build

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
