# Two set-up commands, each creating the virtual environment it needs:
#   make demo   check, plan and graph the MNIST example, compile it for Argo and Slurm and
#               show what submit.sh would submit (--dry-run: no cluster needed)
#   make test   the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "python3 -m venv needs Debian's python3-venv; installing it"; \
	    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); \
	  else \
	    echo "python3 -m venv failed: on Debian/Ubuntu run 'sudo apt-get install python3-venv'" >&2; exit 1; \
	  fi; }
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

demo: $(VENV)/.installed
	$(BIN)/pipec check examples/valohai/*.yaml
	$(BIN)/pipec plan examples/valohai/mnist.valohai.yaml
	$(BIN)/pipec graph examples/valohai/mnist.valohai.yaml --format mermaid
	$(BIN)/pipec compile examples/valohai/mnist.valohai.yaml --target argo -o build/argo/
	@echo "wrote build/argo/training-pipeline.yaml (argo submit it)"
	$(BIN)/pipec compile examples/valohai/mnist.valohai.yaml --target slurm -o build/slurm
	cd examples/valohai && ../../build/slurm/training-pipeline/submit.sh --dry-run

test: $(VENV)/.installed
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python bench/check_speed.py
	$(BIN)/python bench/slurm_compile.py
	$(BIN)/python bench/argo_compile.py
	$(BIN)/python bench/gha_compile.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
