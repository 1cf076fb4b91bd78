# The README's set-up: `make demo` and `make test` on a fresh machine (Python 3.13, Node 20).
VENV ?= .venv
PY := $(VENV)/bin/python
WANT_PYTHON := 3.13

# The interpreter the venv is made from: PYTHON=... if given, else `python3.13` on PATH if it runs (a pyenv shim
# may be on PATH without the version being active), else pyenv's newest 3.13.x. Empty when none is found.
find_python = for p in python$(WANT_PYTHON) $$(ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/$(WANT_PYTHON).*/bin/python 2>/dev/null | sort -V -r); do \
  "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != ($(subst .,$(comma),$(WANT_PYTHON))))' >/dev/null 2>&1 && { command -v "$$p"; break; }; done
comma := ,
PYTHON ?= $(shell $(find_python))

.PHONY: demo demo-zero-touch demo-estate serve test test-fast lint unit bench clean

# The venv is rebuilt when it was made by another Python (e.g. an older 3.11 one); a symlinked venv is someone
# else's and is never cleared. Made once; each install below adds what its target needs.
define make_venv
	@test -n "$(PYTHON)" || { echo "Python $(WANT_PYTHON) not found: install it (pyenv install $(WANT_PYTHON), or apt-get install python$(WANT_PYTHON)-venv) or pass PYTHON=/path/to/python$(WANT_PYTHON)"; exit 1; }
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != ($(subst .,$(comma),$(WANT_PYTHON))))'; then \
	  if [ -L $(VENV) ]; then echo "$(VENV) is a symlink to a venv of another Python: remove the link (rm $(VENV)), then rerun"; exit 1; fi; \
	  echo "$(VENV) was made by $$($(PY) --version): recreating it with $(PYTHON)"; rm -rf $(VENV); fi
	@if [ ! -x $(PY) ]; then $(PYTHON) -m venv $(VENV) && $(PY) -m pip install --quiet --upgrade pip; fi
endef

# The demo needs the app's and the CLI's packages only (requirements.txt, requirements-cli.txt): not the linters,
# checkov, matplotlib or the test tools of requirements-dev.txt. A venv with the dev tools has them already.
$(VENV)/.demo-installed: requirements.txt requirements-cli.txt
	$(make_venv)
	@if [ -f $(VENV)/.installed ] && [ $(VENV)/.installed -nt requirements.txt ] && [ $(VENV)/.installed -nt requirements-cli.txt ]; then \
	  echo "$(VENV): the dev install has the demo's packages"; \
	else $(PY) -m pip install --quiet -r requirements.txt -r requirements-cli.txt; fi
	touch $@

# Everything for `make test` and `make lint`: requirements-dev.txt (which includes the two above).
$(VENV)/.installed: requirements.txt requirements-cli.txt requirements-dev.txt
	$(make_venv)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Azurite stands in for the Function app's storage account in the tests (started by the test run).
node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.demo-installed
	$(PY) scripts/demo.py

# The HTTP API, the Event Grid webhook and the queue triggers on 127.0.0.1 through Microsoft's worker, without
# Core Tools (scripts/serve_local.py; the worker's protocol classes come with the dev tools). Pass the app
# settings with SETTINGS=local.settings.json, or in the environment.
SETTINGS ?=
serve: $(VENV)/.installed
	$(PY) scripts/serve_local.py $(if $(SETTINGS),--settings $(SETTINGS))

# The zero-touch path (docs/zero-touch.md): a tagged VNet's subnet prepared by its own event before the cluster.
demo-zero-touch: $(VENV)/.demo-installed
	$(PY) scripts/demo_zero_touch.py

# Several hubs (examples/estate.json): each spoke routed only to a firewall it reaches (issue #21).
demo-estate: $(VENV)/.demo-installed
	$(PY) scripts/demo_estate.py

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m mypy .
	$(VENV)/bin/lint-imports

unit: $(VENV)/.installed node_modules/.installed
	$(PY) -m pytest -q

# Everything; what CI runs.
test: lint unit

# The quick loop while editing: the pure core, the unit tests, the Function app through the worker and the
# CLI, with hypothesis at 20 examples; the slow evidence, concurrency and infra suites are left to `make test`
# (the `slow` marker, pyproject.toml).
test-fast: $(VENV)/.installed node_modules/.installed
	HYPOTHESIS_PROFILE=fast $(PY) -m pytest -q -m "not slow"

bench: $(VENV)/.installed
	$(PY) -m bench

clean:
	rm -rf .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info
	@if [ -L $(VENV) ]; then echo "$(VENV) is a symlink: left alone"; else rm -rf $(VENV); fi
	@if [ -L node_modules ]; then echo "node_modules is a symlink: left alone"; else rm -rf node_modules; fi

# Fleet-scale figures against their goals (docs/BENCHMARKS.md): a few minutes, not part of `make test`;
# exits 1 when a figure misses its goal. `$(PY) -m bench.check --full` adds N = 300 and 1000.
.PHONY: bench-check
bench-check: $(VENV)/.installed
	$(PY) -m bench.check
