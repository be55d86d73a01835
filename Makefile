# minclip: every command of the README. Each target installs what it needs into $(VENV) first (once).
#   make app        the main job: build the book and print the page to open (the demo app comes later)
#   make test       ruff, then one pytest run: unit tests + strict nbval on every chapter + book build
#   make book       build the book into _build/html
#   make notebooks  re-execute every chapter in place (scripts/execute_notebooks.py)
#   make data       make Fashion-MNIST available (python -m minclip.data)
#   make bench      print the tokenizer benchmark
#   make bench-model print the model benchmark (forward+backward against open_clip; minutes)
#   make clean      remove build outputs and caches (keeps .venv; `make distclean` removes it too)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# The install stamp is named after pyproject.toml's hash: editing the dependencies triggers a reinstall,
# anything else finds the stamp and skips pip.
PYPROJECT_SHA := $(shell $(PYTHON) -c "import hashlib; print(hashlib.sha256(open('pyproject.toml', 'rb').read()).hexdigest()[:16])")
STAMP := $(VENV)/.installed-$(PYPROJECT_SHA)

.PHONY: app test lint book notebooks data bench bench-model clean distclean venv

app: book
	@echo ""
	@echo "The book is built. Open this file in a browser:"
	@echo "$(CURDIR)/_build/html/index.html"

test: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .

book: venv
	$(BIN)/jupyter-book build -W -n --keep-going .

notebooks: venv
	$(BIN)/python scripts/execute_notebooks.py

data: venv
	$(BIN)/python -m minclip.data

bench: venv
	$(BIN)/python benchmarks/bench_tokenizer.py

bench-model: venv
	$(BIN)/python benchmarks/bench_model.py

venv: $(STAMP)

$(STAMP):
	@echo "Installing minclip and its dependencies into $(VENV) (first time only; takes a few minutes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

clean:
	rm -rf _build .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
