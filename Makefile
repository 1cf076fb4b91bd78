# The README's set-up: `make demo` and `make test` on a fresh machine (Python 3.11, Node 20).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint unit bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Azurite stands in for the Function app's storage account in the tests (started by the test run).
node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.installed
	$(PY) scripts/demo.py

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m mypy .
	$(VENV)/bin/lint-imports

unit: $(VENV)/.installed node_modules/.installed
	$(PY) -m pytest -q

test: lint unit

bench: $(VENV)/.installed
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis

# Fleet-scale figures against their goals (docs/BENCHMARKS.md): a few minutes, not part of `make test`;
# exits 1 when a figure misses its goal. `$(PY) -m bench.check --full` adds N = 300 and 1000.
.PHONY: bench-check
bench-check: $(VENV)/.installed
	$(PY) -m bench.check
