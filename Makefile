# Two set-up commands, each creating the virtual environment it needs:
#   make demo   check, plan and graph the MNIST example, compile it for Argo and Slurm and
#               show what submit.sh would submit (--dry-run: no cluster needed)
#   make test   the whole test suite
# Both install exact, hash-checked versions from requirements/test.lock (made for Python
# 3.11); `make lock` refreshes it, `make test-latest` runs the suite against the newest
# versions pyproject.toml allows.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements/test.lock
# The Python the lock was made for; another Python installs from pyproject's ranges.
LOCK_PYTHON := 3.11
# uv makes the lock; pinned so that a refresh depends only on PyPI's contents.
UV_VERSION := 0.13.9
LATEST := .venv-latest

.PHONY: demo test test-fast test-latest fuzz lock bench clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "python3 -m venv needs Debian's python3-venv; installing it"; \
	    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); \
	  else \
	    echo "python3 -m venv failed: on Debian/Ubuntu run 'sudo apt-get install python3-venv'" >&2; exit 1; \
	  fi; }

# --require-hashes: every package, including the build backend, comes from the lock with
# the hash recorded there, so a fresh clone tests exactly what was tested when it was made.
$(VENV)/.installed: $(BIN)/python pyproject.toml $(LOCK)
	@if [ "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$(LOCK_PYTHON)" ]; then \
	  $(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r $(LOCK) && \
	  $(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .; \
	else \
	  echo "warning: $(LOCK) was made for Python $(LOCK_PYTHON); installing the newest versions pyproject.toml allows instead (results may differ from CI)" >&2; \
	  $(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'; \
	fi
	@touch $@

demo: $(VENV)/.installed
	$(BIN)/pipec check examples/valohai/*.yaml
	$(BIN)/pipec plan examples/valohai/mnist.valohai.yaml
	$(BIN)/pipec graph examples/valohai/mnist.valohai.yaml --format mermaid
	$(BIN)/pipec compile examples/valohai/mnist.valohai.yaml --target argo -o build/argo/
	@echo "wrote build/argo/training-pipeline.yaml (argo submit it)"
	$(BIN)/pipec compile examples/valohai/mnist.valohai.yaml --target slurm -o build/slurm
	cd examples/valohai && ../../build/slurm/training-pipeline/submit.sh --dry-run
	$(BIN)/pipec check examples/osmo/*.yaml
	$(BIN)/pipec plan examples/osmo/server-client.yaml
	$(BIN)/pipec compile examples/osmo/server-client.yaml --target slurm -o build/slurm
	build/slurm/server-client/submit.sh --dry-run
	$(BIN)/pipec check $(filter-out examples/runnable/params.yaml,$(wildcard examples/runnable/*.yaml)) --params examples/runnable/params.yaml
	$(BIN)/pipec plan examples/runnable/map.yaml --params examples/runnable/params.yaml
	$(BIN)/pipec compile examples/runnable/map.yaml --params examples/runnable/params.yaml --target slurm -o build/slurm
	cd examples/runnable && ../../build/slurm/map/submit.sh --dry-run

test: $(VENV)/.installed
	$(BIN)/python -m pytest

# The quick tests only: no real cluster, no end-to-end runs, no external judges, no fuzzing.
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not cluster and not e2e and not tools and not fuzz"

# Long fuzzing, not run by CI: about 100,000 generated and mutated documents through check,
# and every one that passes compiled for each target; any traceback fails. Takes about 35 min.
fuzz: $(VENV)/.installed
	PIPEC_FUZZ_SCALE=70 PIPEC_FUZZ_TARGETS=argo,gha,slurm $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py

# The newest releases pyproject.toml allows, in a venv of their own: upstream drift seen on
# purpose. Not run by CI; failures here are findings to fix or to document.
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --disable-pip-version-check --upgrade -e '.[test]'
	$(LATEST)/bin/python -m pip freeze --exclude-editable
	$(LATEST)/bin/python -m pytest -p no:cacheprovider

# Refresh the lock: run after changing dependencies in pyproject.toml, or to take upstream
# releases on purpose (then run `make test` and commit the lock with what it needed).
lock: $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip compile --quiet pyproject.toml requirements/build.in --extra test \
	  --universal --python-version $(LOCK_PYTHON) --generate-hashes \
	  --custom-compile-command "make lock" -o $(LOCK)

bench: $(VENV)/.installed
	$(BIN)/python bench/check_speed.py
	$(BIN)/python bench/slurm_compile.py
	$(BIN)/python bench/argo_compile.py
	$(BIN)/python bench/gha_compile.py
	$(BIN)/python bench/argo_huge_sweep.py
	$(BIN)/python bench/gha_huge_sweep.py
	$(BIN)/python bench/slurm_huge_sweep.py

clean:
	rm -rf $(VENV) $(LATEST) build dist .pytest_cache .hypothesis
