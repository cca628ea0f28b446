# One entry point for set-up, the demo job, tests and benchmarks.
# Telemetry off everywhere: MLflow would otherwise look up an outside host.
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package with dev and spark extras

demo: $(STAMP)  ## train on the shipped sample, score it, build the report (local MLflow store)
	mkdir -p out
	$(BIN)/complaintml train --data data/labeled_sample/comments.csv
	$(BIN)/complaintml score data/labeled_sample/comments.csv -o out/scored.parquet --model models/complaintml-default
	$(BIN)/complaintml report out/scored.parquet -o out/report.html --by site,department,source
	@echo "open out/report.html; browse runs with: $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db"

test: $(STAMP)  ## run the test suite
	$(BIN)/python -m pytest -q

bench: $(STAMP)  ## quality and speed benchmarks (not part of CI; about an hour)
	$(BIN)/python benchmarks/quality.py
	$(BIN)/python benchmarks/speed.py

clean:  ## remove generated files (keeps .venv)
	rm -rf out models/complaintml-default mlruns mlflow.db
