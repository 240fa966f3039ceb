# chatwoot-sla-digest — run `make help` for the targets.
# Everything installs itself: a Python 3.13 interpreter is the only prerequisite.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON313 := $(shell scripts/find-python)
TOOLS     := .tools
UV        := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
VENV      := .venv
STAMP     := $(VENV)/.synced
SAM_CLI   := aws-sam-cli==1.170.0
CHECKOV   := checkov==3.3.30
OUT       ?= demo-output

export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON313)
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/$(TOOLS)/bin:$(PATH)

.PHONY: help demo test lint format bench build deploy requirements soak clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-13s %s\n", $$1, $$2}'

$(UV):
	@test -n "$(PYTHON313)" || { echo "error: Python 3.13 is required" >&2; exit 1; }
	$(PYTHON313) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

demo: $(STAMP) ## Run the whole pipeline against the bundled sandbox (no AWS account, no network)
	$(VENV)/bin/sla-digest demo --out $(OUT)

test: lint ## Install everything, lint, and run the full test suite
	@scripts/ensure-chromium
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m "not slow"

lint: $(STAMP) ## ruff (lint and format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP) ## Measure the targets of the design (fetch, throttling, CPU, memory, cold start)
	$(VENV)/bin/python -m benchmarks

soak: $(STAMP) ## The long load and fault runs (tests marked slow)
	$(VENV)/bin/python -m pytest -m slow -n 2 --dist loadgroup

requirements: $(STAMP) ## Regenerate layers/shared/requirements.txt from uv.lock
	$(UV) export --frozen --no-default-groups --no-emit-project --no-hashes --quiet -o layers/shared/requirements.txt

# SAM asks pip for a fixed list of arm64 manylinux tags; css-inline publishes only 2_24 wheels.
ARM64_WHEELS := PIP_ONLY_BINARY=:all: PIP_PLATFORM="manylinux2014_aarch64 manylinux_2_17_aarch64 manylinux_2_24_aarch64 manylinux_2_28_aarch64 manylinux_2_34_aarch64"

build: $(STAMP) ## sam build (arm64 layer and functions)
	$(ARM64_WHEELS) $(UV) tool run --from $(SAM_CLI) sam build --template-file template.yaml

deploy: build ## sam deploy (first time: make deploy ARGS=--guided)
	$(UV) tool run --from $(SAM_CLI) sam deploy $(ARGS)

clean: ## Remove the environments and build output
	rm -rf $(VENV) $(TOOLS) .aws-sam $(OUT) test-output .pytest_cache .mypy_cache .ruff_cache
