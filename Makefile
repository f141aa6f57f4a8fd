# Two commands for a newcomer: `make run` and `make test`. `make help` lists the rest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PORT ?= 5000
CHICAGO_DB := sqlite:///$(CURDIR)/instance/chicago.db
DEBIAN_TEST_PACKAGES := chromium fonts-noto-cjk
# The tests start a throwaway PostgreSQL cluster with PostGIS (tests/postgres.py) and read its
# GIS layers back through GDAL's ogr2ogr (gdal-bin; the pyogrio wheel has no PostgreSQL driver).
DEBIAN_DB_PACKAGES := postgresql-15 postgresql-15-postgis-3 gdal-bin

# $(call apt_missing,packages): apt-get install those of the Debian packages not installed.
define apt_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi
endef

.DEFAULT_GOAL := help
.PHONY: help install messages run serve chicago test test-dates test-fast browser-deps db-deps bench lint format typecheck check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(PY_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

install: $(PY_STAMP) $(NODE_STAMP) ## create .venv, install Python packages and the map's browser assets
	$(BIN)/pybabel compile --use-fuzzy -d web/translations 2>&1 | grep -v "^compiling" || true
	@# The planner's compiled searches into numba's cache: minutes the first time, then < 1 s.
	$(BIN)/python -c "from planner.solver import warm_kernels; warm_kernels()"

messages: $(PY_STAMP) ## extract the interface texts and merge them into the Chinese catalogue
	$(BIN)/pybabel extract -F babel.cfg -k _l --width 100 -o web/translations/messages.pot web
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations -l zh --width 100

run: install ## initialise the database, load the demo and serve http://127.0.0.1:5000
	$(BIN)/hotspot init-db
	$(BIN)/hotspot demo --if-empty
	$(BIN)/hotspot serve --port $(PORT)

serve: install ## serve the site on the current database
	$(BIN)/hotspot serve --port $(PORT)

chicago: install ## load the real Chicago data (from ../shared) into instance/chicago.db and serve it
	HOTSPOT_DATABASE_URL=$(CHICAGO_DB) $(BIN)/hotspot load-chicago
	HOTSPOT_DATABASE_URL=$(CHICAGO_DB) $(BIN)/hotspot serve --port $(PORT)

browser-deps: ## install Debian's chromium and CJK fonts for the browser tests when missing
	$(call apt_missing,$(DEBIAN_TEST_PACKAGES))

db-deps: ## install Debian's PostgreSQL 15, PostGIS and GDAL (PostgreSQL tests) when missing
	$(call apt_missing,$(DEBIAN_DB_PACKAGES))

test: install browser-deps db-deps ## run the whole test suite (SQLite and a throwaway PostgreSQL, real data from ../shared, browser tests)
	$(BIN)/pytest

test-dates: install db-deps ## run the date-dependent tests at every moment of tests/moments.py
	$(BIN)/pytest -m dates --moments all

test-fast: install db-deps ## run the tests not marked slow or browser
	$(BIN)/pytest -m "not slow and not browser"

bench: install ## print the benchmark figures (real data from ../shared; several minutes)
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/score_bench.py
	$(BIN)/python bench/top_bench.py
	$(BIN)/python bench/map_bench.py
	$(BIN)/python bench/api_bench.py
	$(BIN)/python bench/feed_bench.py
	$(BIN)/python bench/scale_bench.py
	$(BIN)/python bench/abuse_bench.py
	$(BIN)/python bench/warnings_bench.py
	$(BIN)/python bench/restart_bench.py

lint: install ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install ## mypy on geo/, planner/ and web/
	$(BIN)/mypy geo planner web

check: lint typecheck test ## lint, typecheck and test together

clean: ## remove the virtualenv, node_modules and caches (keeps instance/)
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .mypy_cache
