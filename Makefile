# make demo | make test | make lint | make lab | make notebooks | make bench | make test-browser | make mutation
# Each target creates .venv when it is missing and installs the project into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
KERNEL := $(VENV)/share/jupyter/kernels/ses-runbook/kernel.json

.PHONY: install demo test lint test-browser test-airflow lab notebooks bench mutation clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# pip compiles bytecode for plain imports only; the runner's kernels run with -OO (no docstrings),
# so their optimized bytecode is compiled here too, once, instead of from source at every kernel start.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[sandbox,test,lab,lint,mutation]"
	$(BIN)/python -OO -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" lib >/dev/null
	$(BIN)/python -m compileall -q -j 0 lib >/dev/null
	touch $(STAMP)

$(KERNEL): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name ses-runbook --display-name "Python (ses-runbook)" >/dev/null

install: $(KERNEL)

# Three runs into one reports root, as a schedule would make them: healthy, a bounce spike (exit 1:
# a check failed, which is the point), healthy again. The last report's index.html opens with what
# changed since the bounce spike, its 11_history shows the three runs, and `history` prints them.
DEMO_ROOT := reports/demo
demo: install
	rm -rf $(DEMO_ROOT)
	$(BIN)/ses-runbook run --sandbox --reports $(DEMO_ROOT) --label healthy
	$(BIN)/ses-runbook run --sandbox=bounce-spike --reports $(DEMO_ROOT) --label bounce-spike || test $$? -eq 1
	$(BIN)/ses-runbook run --sandbox --reports $(DEMO_ROOT) --label recovered
	$(BIN)/ses-runbook history --reports $(DEMO_ROOT)

# Independent tests in parallel (pytest-xdist), each worker with its own sandboxes: one worker more
# than there are cores, since a quarter of a worker's time is spent waiting on its kernels and CLI runs.
WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')
test: install
	$(BIN)/python -m pytest -n $(WORKERS) --dist worksteal --ignore=tests/airflow_dag

# The architecture and the code's hygiene, as CI checks them: the layers and the other import
# contracts (import-linter, with the project's own contracts in tests/importlinter_contracts.py), lint and format
# (ruff), and types (mypy).
lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check lib tests bench
	$(BIN)/ruff format --check lib tests bench
	$(BIN)/mypy

# The browser test alone, after making sure a Chromium is there: the system's, else Playwright's
# download, else (as root on Debian) apt's.
test-browser: install
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || $(BIN)/python -m playwright install chromium \
	  || { test "$$(id -u)" = 0 && apt-get install -y chromium; }
	$(BIN)/python -m pytest tests/test_browser.py -v -rs

# JupyterLab on a new investigation folder (investigations/<UTC time>[-label]/), the sandbox running;
# e.g. make lab LAB_ARGS="-f parameters/phenom.yaml --label INC-1234" for production.
LAB_ARGS ?= --sandbox
lab: install
	$(BIN)/ses-runbook lab $(LAB_ARGS)

# Re-execute every notebook in place against the sandbox at a fixed as_of (committed outputs;
# regenerate's FIXED_AS_OF, which the tests share).
notebooks: install
	$(BIN)/python -m ses_runbook.frontends.regenerate

# Airflow in an environment of its own (outside make test): the DAG end to end with dag.test() on the sandbox.
AIRFLOW_VENV := .venv-airflow
$(AIRFLOW_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -e ".[airflow,test]"
	touch $@

test-airflow: $(AIRFLOW_VENV)/.installed
	$(AIRFLOW_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/airflow_dag

bench: install
	$(BIN)/python bench/run.py

# The mutation score (mutmut) of the modules that decide statuses and verdicts, guard writes, mask
# secrets and addresses, and choose what history and prune keep: each module with only the tests
# that cover it, in build/mutation/; the last line gives the score per module (not part of CI).
# e.g. make mutation MUTATION_ARGS="guard --survivors"
MUTATION_ARGS ?=
mutation: install
	$(BIN)/python bench/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) reports build dist lib/*.egg-info
