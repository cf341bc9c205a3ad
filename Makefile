# llm-analytics: developer entry points. `make help` lists them.
#
#   make demo    start a local sandbox (Kafka + Redis) and run the demo against it
#   make test    every test, integration tests included (real Kafka and Redis)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV  ?= .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed
SHAPE ?= single
KUBERNETES ?=
SPEC  ?= cluster-spec.example.yaml
PYTEST_ARGS ?=

# The first Python >= 3.11 on PATH.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  2>/dev/null && { command -v $$p; break; }; done)

APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -y -q

.PHONY: help venv deps redis-server prefetch kubernetes-binaries test test-unit lint schema demo sandbox-up \
	sandbox-down sandbox-status clean distclean

help: ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(STAMP) ## create .venv and install the package with its dev tools (when pyproject changed)

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: Python 3.11 or newer not found (apt-get install python3 python3-venv)" >&2; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

deps: venv redis-server prefetch kubernetes-binaries ## venv + redis-server + Kafka jars + Kubernetes binaries

redis-server:
	@if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing redis-server with apt-get"; \
	  $(APT_GET) update && $(APT_GET) install --no-install-recommends redis-server; \
	  systemctl disable --now redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true; \
	else \
	  echo "error: redis-server and redis-cli are needed by the sandbox;" \
	       "install them with: sudo apt-get install redis-server" >&2; exit 1; \
	fi

.PHONY: bench-deps
bench-deps: venv ## optional, not part of deps: build topicctl v1.17.0 for bench/ (Go, module proxy)
	$(BIN)/python bench/_procs.py build-topicctl

prefetch: venv ## resolve the Kafka jars (KAFKA_VERSION, default 4.4.0) into the cache, check Java
	$(BIN)/python -m reconciler.sandbox fetch

kubernetes-binaries: venv ## build etcd, kube-apiserver, kwok from Go modules into the cache (once)
	$(BIN)/python -m reconciler.sandbox build-kubernetes

test: deps ## all tests (unit + integration against real Kafka and Redis)
	@rc=0; $(BIN)/pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no tests were collected" >&2; fi; exit $$rc

test-unit: venv ## unit tests only (no services)
	@rc=0; $(BIN)/pytest -m "not integration" $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no tests were collected" >&2; fi; exit $$rc

lint: venv ## ruff, ruff format --check, mypy, import-linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

schema: venv ## regenerate schemas/ from the spec models
	$(BIN)/python -m reconciler.spec.schema
	$(BIN)/python -m reconciler.operator.manifests

demo: venv redis-server prefetch ## sandbox up (SHAPE=single) + validate -> plan -> apply -> verify; leaves it running
	@$(MAKE) sandbox-up SHAPE=$(SHAPE) >/dev/null
	@if [ -x scripts/demo.sh ]; then \
	  PATH="$(CURDIR)/$(BIN):$$PATH" SPEC=$(SPEC) scripts/demo.sh; \
	else \
	  eval "$$($(BIN)/python -m reconciler.sandbox env)"; \
	  $(BIN)/llm-analytics validate -f $(SPEC) --env local; \
	fi
	@echo
	@echo "The sandbox is still running (python -m reconciler.sandbox env prints its addresses)."
	@echo "Stop it with: make sandbox-down"

sandbox-up: venv ## start a detached sandbox: SHAPE=single|cluster|secure|tls|mtls|scram (+6 bare Redis nodes; KUBERNETES=1: a kube-apiserver with 6 Redis pods instead)
	$(BIN)/python -m reconciler.sandbox up --shape $(SHAPE) \
	  $(if $(KUBERNETES),--kubernetes --redis-nodes 0)

sandbox-down: ## stop the sandbox started by sandbox-up / demo
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m reconciler.sandbox down; fi

sandbox-status: ## what the sandbox runs
	$(BIN)/python -m reconciler.sandbox status

clean: sandbox-down ## stop the sandbox, remove caches and build output (keeps .venv)
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis .sandbox
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## clean + remove .venv (the Kafka jar cache in ~/.cache/llm-analytics stays)
	rm -rf $(VENV)
