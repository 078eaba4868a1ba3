# lenet-batch — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
OUTPUT ?= ./runs
SMOKE ?= ./smoke
SEEDS ?= 0-3
EPOCHS ?= 10
RUN_ID ?=
ARGS ?=
PYTEST_ARGS ?=
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help install data browser run smoke test test-fast lint bench clean

help: ## list the targets
	@awk -v SEEDS='$(SEEDS)' -v EPOCHS='$(EPOCHS)' -v OUTPUT='$(OUTPUT)' -v SMOKE='$(SMOKE)' 'BEGIN {FS = ":.*## "} \
	    /^[a-zA-Z_-]+:.*## / {t = $$2; gsub(/\$$\(SEEDS\)/, SEEDS, t); gsub(/\$$\(EPOCHS\)/, EPOCHS, t); \
	    gsub(/\$$\(OUTPUT\)/, OUTPUT, t); gsub(/\$$\(SMOKE\)/, SMOKE, t); printf "  %-10s %s\n", $$1, t}' \
	    $(MAKEFILE_LIST)

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(BIN)/.installed ## create .venv and install the project with pinned dependencies

data: $(BIN)/.installed ## make sure Fashion-MNIST is available (apt package, else a cached download)
	@bash scripts/install_data.sh $(BIN)/lenet-batch

browser: ## install Debian's chromium for the browser tests (root or passwordless sudo; else they skip)
	@bash scripts/install_chromium.sh

# RUN_ID names the night (default: today's UTC date); ARGS adds any other flags of `lenet-batch nightly`,
# after the ones above, so that they win (ARGS="--seeds 0-1 --lr 0.05").
run: install data ## the nightly pipeline on a local Ray: seeds $(SEEDS) x $(EPOCHS) epochs into $(OUTPUT) [RUN_ID=id ARGS="flags"]
	$(BIN)/lenet-batch nightly --seeds $(SEEDS) --epochs $(EPOCHS) --output $(OUTPUT)$(if $(RUN_ID), --run-id $(RUN_ID))$(if $(ARGS), $(ARGS))

# The README's "A first night in a minute", through `make run` (so CI's run of it runs that recipe too).
smoke: install data ## the README's first night (2 seeds x 1 epoch on 6,000 images) into $(SMOKE), then check it
	@$(MAKE) --no-print-directory run OUTPUT=$(SMOKE) SEEDS=0-1 EPOCHS=1 ARGS="--train-limit 6000 --test-limit 1000 -q$(if $(ARGS), $(ARGS))"
	$(BIN)/lenet-batch check --output $(SMOKE)

test: install data browser ## the whole test suite (real Ray, real data, S3 on a local moto server, Chromium)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-fast: install browser ## unit tests only (no Ray cluster, no full-dataset training)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

lint: install ## ruff check and format check
	$(BIN)/ruff check lenet_batch jobs tests deploy
	$(BIN)/ruff format --check lenet_batch jobs tests deploy

bench: install data ## benchmarks against the seed recipe; prints a table and writes JSON
	$(BIN)/python -m tests.benchmarks.run $(BENCH_ARGS)

clean: ## remove the venv and caches (keeps ./runs and ./smoke)
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
