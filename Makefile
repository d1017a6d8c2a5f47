# The two commands of the README: `make serve` and `make test`. Both create or reuse .venv and
# prepare the pose models when the cache is empty.
VENV ?= .venv
PY := $(VENV)/bin/python
LS := $(VENV)/bin/liftstream
PYTEST_ARGS ?=

.PHONY: serve test system firebase-tools models lint bench bench-env bench-short clean-venv

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

# The Firebase Auth emulator for tests/test_api_firebase.py (npm, from tools/firebase-emulator's
# lockfile, cached under ~/.cache/liftstream; about 15 s the first time, nothing afterwards).
firebase-tools: system
	bash scripts/setup-firebase-tools.sh >/dev/null

# The lint (ruff check, ruff format --check, mypy: about 30 s) runs first: a style or type error
# fails the test command as a failing test would.
test: system $(VENV)/.test-installed models firebase-tools lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check server tests bench
	$(VENV)/bin/ruff format --check server tests bench
	$(VENV)/bin/mypy

bench-short: $(VENV)/.test-installed models
	$(LS) bench --short

# The full benchmark runs in its own environment: the project plus the peers it is measured
# against (mediapipe's pose pipeline, OpenCV's CSRT/KCF trackers), kept out of .venv.
BENCH_VENV ?= .venv-bench
BPY := $(BENCH_VENV)/bin/python
PIP_Q := -m pip install -q --disable-pip-version-check

$(BENCH_VENV)/.bench-installed: pyproject.toml bench/requirements-peers.txt
	test -x $(BPY) || python3 -m venv $(BENCH_VENV)
	$(BPY) $(PIP_Q) -U pip wheel setuptools
	$(BPY) $(PIP_Q) -e '.[cpu]' -r bench/requirements-peers.txt
	# opencv-python-headless (ours) and opencv-contrib-python (mediapipe's) install the same cv2
	# package; the contrib build of the same version is a superset (CSRT, KCF): put it on disk last.
	$(BPY) $(PIP_Q) --force-reinstall --no-deps "$$(grep '^opencv-contrib-python==' bench/requirements-peers.txt)"
	touch $@

bench-env: $(BENCH_VENV)/.bench-installed
	$(BENCH_VENV)/bin/liftstream models prepare
	$(BPY) -m bench.bench_env prepare

bench: bench-env
	$(BENCH_VENV)/bin/liftstream bench

clean-venv:
	rm -rf $(VENV)
