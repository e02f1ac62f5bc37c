# The two entry points of the README: `make book` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch. On a machine whose pip would fetch a CUDA build for this pin, set
# TORCH="torch==2.13.0 --index-url <PyTorch's CPU wheel index>" (see PyTorch's install page).
TORCH ?= torch==2.13.0

.PHONY: setup book test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[book,test]"

# Build the HTML book, executing every chapter in default mode (cached between builds).
book: setup
	LAMPINN_MODE=default LAMPINN_STATIC=1 $(BIN)/jupyter-book build . -W --keep-going
	@echo "open _build/html/index.html"

# Unit tests, then every notebook under nbval in ci mode.
test: setup
	LAMPINN_MODE=ci LAMPINN_STATIC=1 $(BIN)/python -m pytest tests notebooks --nbval-lax -p no:cacheprovider

clean:
	rm -rf _build .pytest_cache
