# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-runtime
export RAY_AUTH_MODE ?= token

.PHONY: run test test-unit test-integration test-e2e services bench compose-smoke clean

# `make run` installs what the product runs on (with the dashboard); the test
# tools (Playwright, embedded PostgreSQL, linters) come only with `make test`.
$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dashboard]'
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install -q -e '.[dashboard,test]'
	touch $(STAMP)

run: $(RUN_STAMP)
	TIERING_MATERIALIZE_CAP_BYTES=$${TIERING_MATERIALIZE_CAP_BYTES:-65536} \
	  $(BIN)/tiering launch --produce --objects 20000

# Services the tests need: Kafka jars (fetched once by Maven). PostgreSQL,
# SeaweedFS and Ray are started by the test fixtures from the installed wheels.
services: $(STAMP)
	$(BIN)/python -m tiering.devstack fetch-kafka

# The dashboard's browser tests drive Debian's Chromium; installed
# only when missing, so a machine that has it is left alone. A failed install
# fails `make test`: the browser tests never skip.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# Unit and use-case tests are CPU-bound and share nothing: one worker per
# core. Integration and e2e tests share one Ray, SeaweedFS and Kafka per
# session, and launched stacks: one at a time.
test: $(STAMP) services $(CHROMIUM)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --durations=10 tests/unit tests/use_cases
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=20 tests/integration tests/e2e

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests/unit tests/use_cases

test-integration: $(STAMP) services
	$(BIN)/python -m pytest -q tests/integration

test-e2e: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q tests/e2e

# docker-compose.yml for real, wherever a Docker engine runs: up, a replay,
# /health, one committed move, down (volumes included).
compose-smoke: $(RUN_STAMP)
	$(BIN)/python -m tiering.devstack.compose_smoke $(SMOKE_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf var .pytest_cache
