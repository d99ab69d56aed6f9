# gexflow: `make run` runs the pipeline on the embedded real data, `make test` runs the tests.
# Both create .venv with the pinned requirements first (CPU-only torch; see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CORES  ?= all

.PHONY: run test lint fmt report dry-run clean

$(BIN)/.gexflow-installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=23"
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

run: $(BIN)/.gexflow-installed
	$(BIN)/snakemake --cores $(CORES)

test: $(BIN)/.gexflow-installed
	$(BIN)/pytest -q tests

dry-run: $(BIN)/.gexflow-installed
	$(BIN)/snakemake -n --quiet rules

lint: $(BIN)/.gexflow-installed
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check src scripts benchmarks tests

fmt: $(BIN)/.gexflow-installed
	$(BIN)/snakefmt Snakefile workflow/rules

report: $(BIN)/.gexflow-installed
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html

clean:
	rm -rf results logs .snakemake
