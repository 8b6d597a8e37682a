# detkit — one-command set-up and run. `make test` and `make demo` each create the venv on a
# fresh machine; nothing else is needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.detkit-installed
# Two torch threads fight over a busy 2-core machine; tests pick their own count.
export OMP_NUM_THREADS ?= 2
export MPLBACKEND ?= Agg

.PHONY: venv test test-fast demo data lab bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name detkit --display-name "detkit (.venv)"
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not notebook"

clean:
	rm -rf $(VENV) work_dirs .pytest_cache
