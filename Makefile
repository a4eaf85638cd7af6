# Two commands on a fresh machine: `make run` and `make test`. Everything else is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= config/feedsvc.yaml

.PHONY: install system-deps run test lint fuzz build check bench bench-serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(STAMP)

system-deps:  ## newsboat, chromium and nginx for the client tests (apt-get)
	scripts/system-deps

run: install  ## serve the bundled example articles on http://127.0.0.1:8080
	$(BIN)/feedsvc serve --config $(CONFIG)

test: install lint  ## the whole test suite
	$(BIN)/pytest

fuzz: install  ## the property test with many more random files (FEEDSVC_FUZZ_EXAMPLES)
	FEEDSVC_FUZZ_EXAMPLES=$${FEEDSVC_FUZZ_EXAMPLES:-5000} $(BIN)/pytest -q tests/test_properties.py

lint: install
	$(BIN)/ruff check feedsvc tests bench
	$(BIN)/mypy
	$(BIN)/mypy --allow-any-generics --allow-untyped-defs --allow-incomplete-defs --no-warn-return-any bench/*.py  # the benches: scripts, checked short of strict

build: install  ## export the bundled example as static files into ./public
	$(BIN)/feedsvc build --config $(CONFIG) --out public

check: install
	$(BIN)/feedsvc check --config $(CONFIG)

bench: install  ## build benchmark on 10,000 generated articles
	$(BIN)/python bench/build.py

bench-serve: install system-deps  ## requests/s of feedsvc against nginx (needs wrk: apt-get install wrk)
	$(BIN)/python bench/serve.py

clean:
	rm -rf $(VENV) .feedsvc public
