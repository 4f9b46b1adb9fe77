# Two commands for a newcomer: `make run` and `make test`. Everything they need is installed here,
# into .venv (Python) and .tools (Azurite from npm); nothing global.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AZURITE := .tools/node_modules/.bin/azurite
AZURITE_VERSION := 3.35.0

.PHONY: install chromium tools run test test-unit lint bench drop-samples clean lock

# Installs come from the lock (exact versions with hashes); the ranges stay in requirements*.txt.
LOCK := requirements-dev.lock

$(VENV)/.installed: $(LOCK) requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# `make lock`: re-resolve the ranges in requirements*.txt to the newest matching versions (needs PyPI),
# for every platform, with hashes; commit the new lock with the change that needed it.
lock:
	test -x $(VENV)/bin/uv || { test -x $(PY) || $(PYTHON) -m venv $(VENV); $(PY) -m pip install --quiet uv; }
	$(VENV)/bin/uv pip compile requirements-dev.txt --universal --python-version 3.11 --generate-hashes \
		--no-header --quiet -o $(LOCK)

$(AZURITE):
	mkdir -p .tools
	cd .tools && npm install --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)

install: $(VENV)/.installed chromium

# tests/browser opens the reconciliation report in the OS Chromium (Playwright cannot download its own browser).
chromium:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "chromium missing: installing it with apt-get install chromium (for tests/browser)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	elif [ ! -x /usr/bin/chromium ]; then \
	  echo "chromium missing and no apt-get: tests/browser fails until OMNISYNC_CHROMIUM names a Chromium binary"; \
	fi

tools: $(AZURITE)

# `make run PORT=8080`: the function app's HTTP port (Azurite keeps 10000-10002).
PORT ?= 7071

run: install tools
	@$(PY) -m devtools.run_local --port "$(PORT)"

test: install tools
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# `make drop-samples DIR=folder ENVIRONMENT=env`: another folder holding erp_onhand.csv and wms_onhand.csv,
# another environment for the run (runs belong to an environment: snapshots/{environment}/{runId}/).
DIR ?= samples
ENVIRONMENT ?= local

drop-samples: install
	@$(PY) -m devtools.drop_samples --samples "$(DIR)" --environment "$(ENVIRONMENT)"

clean:
	rm -rf $(VENV) .tools .azurite .localrunner .pytest_cache .ruff_cache .mypy_cache
