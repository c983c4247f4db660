# The shared vocabulary: make demo | test | test-fast | lint | typecheck | bench | bench-peers |
# bazel-test.
# `make demo` and `make test` install what they need on a fresh machine (Python 3.11 required).

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo-out
# pytest workers: 2 cores here; override with `make test PYTEST_WORKERS=0` to run serially.
PYTEST_WORKERS ?= 2

.PHONY: install demo test test-fast lint typecheck bench bench-peers bazel-test clean

install: $(STAMP)

# Re-installs only when setup.py changes; quick and idempotent otherwise.
$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel "setuptools<81"
	$(PY) -m pip install -q -e ".[test,lint]"
	@touch $(STAMP)

demo: install
	$(VENV)/bin/qlsgan study --preset quick --out $(DEMO_OUT)

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --durations=15 tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

test-fast: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow" tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

# ruff.toml holds the rules; only the folders that exist yet are checked.
lint: install
	$(PY) -m ruff check $(wildcard qlsgan_tf tests benchmarks tools examples setup.py)

# mypy.ini: the whole package, every function body checked.
typecheck: install
	$(PY) -m mypy

bench: install
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/generator.py
	$(PY) benchmarks/study.py
	$(PY) benchmarks/data_load.py
	$(PY) benchmarks/packed.py
	$(PY) benchmarks/step_cost.py --generators q3x1,q3x16,c1200@3 --critics 30,1920,30720
	$(PY) benchmarks/whole_study.py --design small
	PYTHONPATH=. $(PY) benchmarks/study_statistics.py

bench-peers: install
	bash benchmarks/peers/run.sh

bazel-test: install
	bash tools/bazel/run_bazel_test.sh

clean:
	rm -rf $(DEMO_OUT) build dist *.egg-info
