# Billing Bridge: `make run` serves a demo on http://127.0.0.1:5000,
# `make test` runs the linters and every test. Both set up .venv first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test lint pytest e2e-deps bench clean

# The venv is rebuilt when the dependencies change (setup.cfg).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/bridge db upgrade
	$(BIN)/bridge demo
	$(BIN)/bridge serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The browser tests drive Debian's chromium (never `playwright install`).
# Idempotent; without root it only warns, and those tests skip (outside CI).
e2e-deps:
	@[ -x /usr/bin/chromium ] || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "e2e-deps: chromium is missing and this is not root: browser tests will skip"; fi; }

pytest: $(VENV)/.installed-test e2e-deps
	$(BIN)/pytest

test: lint pytest

bench: $(VENV)/.installed-test
	$(BIN)/python bench/api.py
	$(BIN)/python bench/pdf.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
