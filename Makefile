# The two commands: `make run` and `make test`. Both install into .venv when it is
# missing or older than pyproject.toml / requirements.lock.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint openapi migrate clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
		|| { echo "Python 3.11 is needed (found $(PYTHON)); set PYTHON=" >&2; exit 1; }
	@if ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then \
		rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/nwatch migrate
	$(BIN)/nwatch serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app tests bench migrations/env.py

test: lint
	$(BIN)/pytest

openapi: $(STAMP)
	$(BIN)/nwatch openapi

migrate: $(STAMP)
	$(BIN)/nwatch migrate

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
