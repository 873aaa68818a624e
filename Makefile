# Entry points for people, the scheduler and CI. Each target runs what it depends on;
# stamps make a second run skip finished work. Heavy caches live outside the repo.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export TODO_RUNBOOK_CACHE ?= $(HOME)/.cache/todo-runbook
export PATH := $(TODO_RUNBOOK_CACHE)/bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export PIP_CACHE_DIR ?= $(HOME)/.cache/pip
export NEXT_TELEMETRY_DISABLED := 1

BACKEND_LOCK := apps/backend/requirements.lock
FRONTEND_LOCK := apps/frontend/package-lock.json
STEPS ?=
PARAMS ?=
PYTEST_ARGS ?=
LAB_PORT ?=

.PHONY: help setup engine tools prebuild runbook test bench lab notebooks cheatsheet cluster-up cluster-down clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(VENV)/.installed: pyproject.toml $(wildcard $(BACKEND_LOCK))
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip setuptools
	$(PY) -m pip install -q -e '.[test]' $(if $(wildcard $(BACKEND_LOCK)),-r $(BACKEND_LOCK))
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (todo-runbook)" >/dev/null
	@touch $@

apps/frontend/node_modules/.package-lock.json: $(FRONTEND_LOCK)
	cd apps/frontend && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.installed $(if $(wildcard $(FRONTEND_LOCK)),apps/frontend/node_modules/.package-lock.json) ## virtualenv, Jupyter kernel, frontend dependencies
	@echo "setup: ready ($(VENV), kernel python3, frontend node_modules)"

engine: ## a Docker engine that answers (starts Debian's dockerd when none does)
	@dockerfiles/engine/ensure-docker.sh

tools: setup ## build the pinned Kubernetes, etcd, kwok and helm binaries (cached, keyed by version)
	$(PY) -m testcluster build

runbook: setup engine ## preflight, then the whole runbook headless; prints where the report is
	$(PY) -m todo_runbook run $(if $(STEPS),--steps $(STEPS)) $(foreach p,$(PARAMS),-p $(p))

# A cold build of the Go tools (about 30 min on 2 cores: 31 in the README's cold CI run) starts first, at the lowest
# priority, and runs on the CPU time that setup and the tests leave idle (it needs only the standard library, so no
# virtualenv yet).
# tests/support/ordering.py runs the tests that need no cluster first and waits for this build (outside any
# test's timeout) before the test bed's tests. Its log: $(PREBUILD_LOG).
PREBUILD_LOG := $(TODO_RUNBOOK_CACHE)/build/prebuild.log
PREBUILD_PID := $(TODO_RUNBOOK_CACHE)/build/prebuild.pid
prebuild:
	@mkdir -p $(dir $(PREBUILD_LOG))
	@nice -n 19 $(PYTHON) -m tests.support.prebuild >$(PREBUILD_LOG) 2>&1 & echo $$! >$(PREBUILD_PID)
	@echo "test: building the Go tools in the background (pid $$(cat $(PREBUILD_PID)), log $(PREBUILD_LOG))"

test: prebuild setup engine ## the whole test suite: unit, app, images, chart, test bed, end to end
	@prebuild=$$(cat $(PREBUILD_PID)); trap 'kill $$prebuild 2>/dev/null' INT TERM; status=0; \
	TODO_RUNBOOK_PREBUILD_PID=$$prebuild TODO_RUNBOOK_PREBUILD_LOG=$(PREBUILD_LOG) \
		$(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	kill -0 $$prebuild 2>/dev/null && echo "test: waiting for the background tools build ($(PREBUILD_LOG))"; \
	while kill -0 $$prebuild 2>/dev/null; do sleep 5; done; \
	tail -n 1 $(PREBUILD_LOG); exit $$status

bench: setup engine ## warm benchmark: the runbook's build/load/deploy/teardown vs the same raw commands, A/B x3; outputs/bench/
	$(PY) -m todo_runbook.bench $(foreach p,$(PARAMS),-p $(p))

lab: setup ## JupyterLab on the notebooks (as root too), on the first free port from 8888; prints the URL
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --no-browser --ip=127.0.0.1 \
		$(if $(LAB_PORT),--port=$(LAB_PORT)) $(if $(filter 0,$(shell id -u)),--allow-root)

notebooks: setup ## sync notebooks/*.ipynb with their paired notebooks/*.py (edit either, then run this)
	$(VENV)/bin/jupytext --sync notebooks/[0-9]*.py

cheatsheet: setup ## refresh docs/AIOps-cheatsheet.md from the newest run's AIOps transcripts
	$(PY) -m todo_runbook.cheatsheet

cluster-up: tools engine ## start the offline test bed (control plane + node) on loopback
	$(PY) -m testcluster up

cluster-down: ## stop the offline test bed and remove everything it added
	@if [ -x $(PY) ]; then $(PY) -m testcluster down; else echo "cluster-down: nothing to stop (no virtualenv)"; fi

clean: cluster-down ## remove run outputs and build products in the repo (caches outside stay)
	find outputs -mindepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf apps/frontend/.next .pytest_cache .ruff_cache .mypy_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

distclean: clean ## also remove the virtualenv, node_modules and the heavy caches
	rm -rf $(VENV) apps/frontend/node_modules $(TODO_RUNBOOK_CACHE)
