# Coinbook — two commands on a fresh machine:  `make run`  (the whole pipeline on the sandbox)  and  `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
export DO_NOT_TRACK := 1
export UV_COMPILE_BYTECODE := 1

.PHONY: setup run test test-long test-scale dev dashboards lint bench clean help

help:  ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# The venv is rebuilt whenever pyproject.toml changes. uv with byte-code compilation: ~20 s cold.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $@

setup: $(VENV)/.installed  ## create the virtualenv and install everything

run: setup  ## sync the sandbox's accounts through every layer and print positions + reconciliation
	$(BIN)/coinbook run

test: setup  ## warehouse + dbt manifest, then the whole test suite (four workers on the two cores: the tests wait on HTTP, PostgreSQL and subprocesses much of the time; a test module each)
	$(BIN)/coinbook prepare
	$(BIN)/pytest -q -n 4 --dist loadfile --no-loadscope-reorder --durations=15 -m "not long"

test-long: setup  ## what make test leaves out to stay under CI's 30 minutes (the tests marked long): the scaled world's nightly run (4 tenants / 5,000 trades), the fault-injection pipeline runs (20 % faults; a venue down), superseding proposals (its own pipeline run)
	$(BIN)/coinbook prepare
	$(BIN)/pytest -q -n 2 --dist loadfile -m long tests/integration

test-scale: setup  ## the scaled sandbox world through the nightly path alone (~8 min)
	$(BIN)/coinbook prepare
	$(BIN)/pytest -q tests/integration/test_sandbox_scale.py

dev: setup  ## Dagster UI on the same warehouse (schedules and sensors available, off by default)
	$(BIN)/coinbook dev

dashboards: setup  ## Superset on 127.0.0.1:8088 with the dashboards (own virtualenv; prints the URL and the logins)
	$(BIN)/coinbook dashboards up

lint: setup  ## ruff
	$(BIN)/ruff check .

bench: setup  ## benchmarks (print figures)
	$(BIN)/python -m bench

clean:  ## stop the warehouse and remove local state (.coinbook/) and the venv
	-$(BIN)/coinbook warehouse down
	rm -rf .coinbook $(VENV) dbt_project/target dbt_project/logs
