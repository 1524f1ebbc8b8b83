# The README's commands. Each one does its own set-up (ci/setup.sh is idempotent).
SHELL := /bin/bash
BIN := .venv/bin
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: setup drill test lint bench clean

setup:
	@bash ci/setup.sh

## make drill: the main job — start the sandbox, run every sandbox experiment, report, stop.
drill: setup
	$(BIN)/chaosdrill drill run ci/plans/sandbox.yaml --out reports/sandbox

## make lint: ruff, mypy and the import contracts.
lint: setup
	$(BIN)/ruff check chaosdrill actions probes tests benchmarks examples
	$(BIN)/ruff format --check chaosdrill actions probes tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports

## make test: lint, then every test tier.
test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

## make bench: the side-by-side benchmarks; writes BENCHMARKS.md.
bench: setup
	@bash ci/bench-setup.sh
	$(BIN)/python -m benchmarks.run --out BENCHMARKS.md

clean:
	rm -rf reports .pytest_cache .mypy_cache .ruff_cache
