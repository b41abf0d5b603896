# micropie developer commands. Every target sets up .venv first; the virtualenv is
# rebuilt only when pyproject.toml changes (the stamp file tracks it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
FUZZ_EXAMPLES ?= 5000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv run test test-py310 fuzz lint format bench load docs e2e clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,docs]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/uvicorn examples.showcase.app:app --host $(HOST) --port $(PORT) --timeout-graceful-shutdown 10 \
		--http micropie.head_limit:HttpToolsProtocol

# Property tests run derandomized here (the same examples every run); `make fuzz` draws
# fresh random ones, FUZZ_EXAMPLES per test (default 5000): make fuzz FUZZ_EXAMPLES=50000
test: $(STAMP)
	$(BIN)/python -m pytest

# Python 3.10, the oldest version pyproject.toml supports: the tests of what differs on it
# (annotations, typing, datetime parsing, the docs' code) in a virtualenv of its own.
# .ci/run calls this when the machine has a 3.10 interpreter: make test-py310 PY310=...
PY310 ?= python3.10
VENV310 := .venv310
PY310_TESTS := tests/test_returns.py tests/test_typed.py tests/test_openapi.py \
	tests/test_schema_agrees.py tests/test_binding.py tests/test_routing.py \
	tests/test_newcomer_errors.py tests/test_compat.py tests/test_examples_json_api.py \
	tests/test_docs_pages.py tests/test_docs_snippets.py

test-py310:
	test -x $(VENV310)/bin/python || $(PY310) -m venv $(VENV310)
	$(VENV310)/bin/python -m pip install -q --upgrade pip
	$(VENV310)/bin/python -m pip install -q -e '.[dev]'
	$(VENV310)/bin/python -m pytest -p no:cacheprovider -q $(PY310_TESTS)

fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# wrk drives the server benchmark; installed from Debian when missing. BENCH_ARGS adds
# options, e.g. make bench BENCH_ARGS="--seconds 0.5 --duration 10".
bench: $(STAMP)
	command -v wrk >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

load: $(STAMP)
	$(BIN)/python -m benchmarks.load

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

e2e: $(STAMP)
	$(BIN)/python -m pytest -m e2e tests/e2e

clean:
	rm -rf $(VENV) $(VENV310) site .pytest_cache .mypy_cache .ruff_cache .coverage .hypothesis *.egg-info
