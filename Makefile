# Two commands for a newcomer: `make run` and `make test`. Everything they need is installed here,
# into .venv (Python) and .tools (Azurite from npm); nothing global.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AZURITE := .tools/node_modules/.bin/azurite
AZURITE_VERSION := 3.35.0

.PHONY: install chromium tools run test test-unit lint bench drop-samples clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

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
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# `make drop-samples DIR=folder`: another folder holding erp_onhand.csv and wms_onhand.csv.
DIR ?= samples

drop-samples: install
	@$(PY) -m devtools.drop_samples --samples "$(DIR)"

clean:
	rm -rf $(VENV) .tools .azurite .localrunner .pytest_cache .ruff_cache
