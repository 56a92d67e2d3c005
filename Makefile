# Billing Bridge: `make run` serves a demo on http://127.0.0.1:5000 (PORT=...),
# `make test` runs the linters and every test, `make test-fast` the linters
# and the quick part (unit + SQLite integration). All set up .venv first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test test-fast lint pytest e2e-deps wp-deps bench clean translations messages

# The gettext catalogues (bridge/translations/<lang>/LC_MESSAGES): the .po
# files are the sources, the .mo files what the bridge reads.
CATALOGUES := bridge/translations
PO_FILES   := $(wildcard $(CATALOGUES)/*/LC_MESSAGES/messages.po)
MO_FILES   := $(PO_FILES:.po=.mo)

# The venv is rebuilt when the dependencies change (setup.cfg).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The catalogues are order-only prerequisites: an edited .po is compiled
# again without reinstalling anything.
$(VENV)/.installed-run: setup.cfg setup.py pyproject.toml | $(BIN)/python $(MO_FILES)
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg setup.py pyproject.toml | $(BIN)/python $(MO_FILES)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

# Babel alone, so the catalogues compile before the rest is installed.
$(BIN)/pybabel: | $(BIN)/python
	$(BIN)/pip install --quiet 'babel>=2.14,<3'

$(CATALOGUES)/%/LC_MESSAGES/messages.mo: $(CATALOGUES)/%/LC_MESSAGES/messages.po | $(BIN)/pybabel
	$(BIN)/pybabel compile --domain messages --directory $(CATALOGUES) --locale $*

translations: $(MO_FILES)

# After adding or changing words in the code or the templates: the .pot is
# extracted again and every .po gets the new message ids (to translate).
messages: $(BIN)/pybabel $(VENV)/.installed-run
	$(BIN)/pybabel extract --mapping-file babel.cfg --sort-by-file --no-wrap \
	  --add-comments TRANSLATORS: --project "Billing Bridge" \
	  --copyright-holder "the Billing Bridge authors" \
	  --output-file $(CATALOGUES)/messages.pot .
	$(BIN)/pybabel update --input-file $(CATALOGUES)/messages.pot \
	  --output-dir $(CATALOGUES) --no-wrap --ignore-obsolete

# Unless BRIDGE_PUBLIC_URL says otherwise, links in the demo's emails and its
# "Try" line point at HOST:PORT (make run PORT=5301).
run: $(VENV)/.installed-run
	$(BIN)/bridge db upgrade
	BRIDGE_PUBLIC_URL="$${BRIDGE_PUBLIC_URL:-http://$(HOST):$(PORT)}" $(BIN)/bridge demo
	$(BIN)/bridge serve --host $(HOST) --port $(PORT) --scheduler

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

# The WordPress plugin's tests (tests/wordpress) and bench/wp_plugin.py run
# Debian's WordPress on PHP (with the machine's MariaDB), phpcs and phpunit.
# Idempotent (one dpkg query when all is there); without root it only warns,
# and those tests skip (outside CI).
WP_PACKAGES := wordpress php-cli php-mysql php-curl php-xml php-mbstring phpunit php-codesniffer
wp-deps:
	@dpkg -s $(WP_PACKAGES) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(WP_PACKAGES) >/dev/null; \
	  else echo "wp-deps: WordPress/PHP packages are missing and this is not root: WordPress tests will skip"; fi; }

# pytest-xdist: one worker per CPU (TEST_WORKERS=0 runs in this process).
# The WordPress tests share one site, in an order of their own: they run
# after the rest, in one process.
TEST_WORKERS ?= auto
pytest: $(VENV)/.installed-test e2e-deps wp-deps
	$(BIN)/pytest -n $(TEST_WORKERS) --ignore=tests/wordpress
	$(BIN)/pytest tests/wordpress

test: lint pytest

# The inner loop: no PostgreSQL, and nothing marked slow (browsers, WordPress,
# localstripe and other processes, schemathesis and long Hypothesis runs).
test-fast: lint
	$(BIN)/pytest --fast

bench: $(VENV)/.installed-test wp-deps
	$(BIN)/python bench/api.py
	$(BIN)/python bench/site_api.py
	$(BIN)/python bench/hub.py
	$(BIN)/python bench/renewals.py
	$(BIN)/python bench/charges.py
	$(BIN)/python bench/pdf.py
	$(BIN)/python bench/wp_plugin.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache $(MO_FILES)
