# The two commands of the README: `make serve` and `make test`. Both create or reuse .venv and
# prepare the pose models when the cache is empty.
VENV ?= .venv
PY := $(VENV)/bin/python
LS := $(VENV)/bin/liftstream
PYTEST_ARGS ?=

.PHONY: serve test system models lint bench bench-short clean-venv

$(VENV)/.run-installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip wheel setuptools
	$(PY) -m pip install -q --disable-pip-version-check -e '.[cpu]'
	touch $@

$(VENV)/.test-installed: $(VENV)/.run-installed
	$(PY) -m pip install -q --disable-pip-version-check -e '.[cpu,test]'
	touch $@

models: $(VENV)/.run-installed
	$(LS) models prepare

serve: $(VENV)/.run-installed models
	$(LS) serve

system:
	bash scripts/setup-system.sh

test: system $(VENV)/.test-installed models
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check server tests bench
	$(VENV)/bin/mypy

bench-short: $(VENV)/.test-installed models
	$(LS) bench --short

bench: $(VENV)/.test-installed models
	$(LS) bench

clean-venv:
	rm -rf $(VENV)
