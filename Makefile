# gexflow: `make run` runs the pipeline on the embedded real data, `make test` runs the tests.
# Both create .venv with the pinned requirements first (CPU-only torch; see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CORES  ?= all
# Your own config, merged over config/config.yaml: `make run CONFIG=my.yaml`, `make report CONFIG=my.yaml`.
CONFIG ?=
SMK_CONFIG := $(if $(CONFIG),--configfile $(CONFIG),)

.PHONY: run test test-fast lint fmt report dry-run check-config clean

$(BIN)/.gexflow-installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=23"
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Every check a run makes before its first job, in under a second: each file parses and has no
# duplicate key, the files merge as Snakemake merges them, the schema (defaults filled in), the
# cross-field checks and every model setting against the model's own (config/README.md).
check-config: $(BIN)/.gexflow-installed
	$(BIN)/python -m gexflow.config config/config.yaml $(CONFIG)

run: check-config
	$(BIN)/snakemake --cores $(CORES) $(SMK_CONFIG)

test: $(BIN)/.gexflow-installed
	$(BIN)/pytest -q tests

# The library's unit tests only (tests/unit, no snakemake run): a few minutes, for the edit loop.
test-fast: $(BIN)/.gexflow-installed
	$(BIN)/pytest -q tests/unit -m "not slow"

dry-run: check-config
	$(BIN)/snakemake -n --quiet rules $(SMK_CONFIG)

lint: $(BIN)/.gexflow-installed
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check src scripts benchmarks tests

fmt: $(BIN)/.gexflow-installed
	$(BIN)/snakefmt Snakefile workflow/rules

# The report lands in the run's results folder (results/, or results-<config name>/ for CONFIG=).
report: check-config
	$(BIN)/snakemake --cores $(CORES) $(SMK_CONFIG)
	$(BIN)/snakemake --report "$$($(BIN)/python -m gexflow.config --results-dir config/config.yaml $(CONFIG))/report.html" $(SMK_CONFIG)

clean:
	rm -rf results logs .snakemake
