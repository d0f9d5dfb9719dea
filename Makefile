# The two commands of the README: `make run` and `make test`. Both set everything up first.
.PHONY: help setup run test lint typecheck unit lock clean
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## install system packages (as root), then daert and its extras from uv.lock into .venv
	@./bootstrap.sh

run: setup ## set up, then start the server on embedded defaults (127.0.0.1:8080)
	$(BIN)/daert serve

lint: setup ## ruff format check + lint
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: setup ## mypy --strict on every package
	$(BIN)/mypy

unit: setup ## fast tests only (no embedded services)
	$(BIN)/pytest tests/unit

test: lint typecheck ## set up, then lint, type-check and run every test
	$(BIN)/pytest

lock: setup ## upgrade every dependency on purpose: re-resolve uv.lock (commit it after make test)
	UV_PYTHON_DOWNLOADS=never .tools/uv lock --upgrade --python $(BIN)/python

clean: ## remove the virtualenv and caches (never the data dir)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
