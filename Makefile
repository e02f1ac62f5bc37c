# The two entry points of the README: `make book` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch. On a machine whose pip would fetch a CUDA build for this pin, set
# TORCH="torch==2.13.0 --index-url <PyTorch's CPU wheel index>" (see PyTorch's install page).
TORCH ?= torch==2.13.0

.PHONY: setup book book-fast test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[book,test]"

# Build the HTML book, executing every chapter in default mode (cached between builds). The chapters run
# side by side first (scripts/execute_chapters.py: one per core, each time printed) into the cache that
# jupyter-book then reads. A chapter that fails or runs a cell past execute.timeout in _config.yml stops
# the build; the message says where.
book: setup
	LAMPINN_MODE=default LAMPINN_STATIC=1 $(BIN)/python scripts/execute_chapters.py || { \
	  echo "make book: a chapter failed (named above, with the cell's traceback). To see its cells numbered:"; \
	  echo "  LAMPINN_MODE=default $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider notebooks/NN_NAME.ipynb"; \
	  exit 1; }
	LAMPINN_MODE=default LAMPINN_STATIC=1 $(BIN)/jupyter-book build . -W --keep-going || { \
	  echo "make book: a chapter failed. Above, 'NOTEBOOK.ipynb: WARNING: Executing notebook failed: ERROR' names it;"; \
	  echo "the traceback under it shows the cell (for CellTimeoutError, the first lines of the cell that ran past"; \
	  echo "execute.timeout in _config.yml). To see that chapter's cells numbered, run it alone under nbval:"; \
	  echo "  LAMPINN_MODE=default $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider notebooks/NN_NAME.ipynb"; \
	  exit 1; }
	@echo "open _build/html/index.html"

# The pages without executing any chapter, for writing prose: a minute instead of the chapters' run
# time, code cells shown without outputs. Same _config.yml with execute_notebooks off (jupyter-book
# 1.x reads one config file and cannot override a key on its command line), built into its own
# folder so that the executed book in _build/html stays as it is.
book-fast: setup
	@mkdir -p _build/fast
	$(BIN)/python -c "import yaml; c = yaml.safe_load(open('_config.yml')); c['execute']['execute_notebooks'] = 'off'; yaml.safe_dump(c, open('_build/fast/_config.yml', 'w'))"
	$(BIN)/jupyter-book build . --config _build/fast/_config.yml --path-output _build/fast -W --keep-going
	@echo "open _build/fast/_build/html/index.html (chapters not executed)"

# Unit tests, then every notebook under nbval in ci mode.
test: setup
	LAMPINN_MODE=ci LAMPINN_STATIC=1 $(BIN)/python -m pytest tests notebooks --nbval-lax -p no:cacheprovider

clean:
	rm -rf _build .pytest_cache
