# minclip: every command of the README. Each target installs what it needs into $(VENV) first (once).
#   make app        the main job: serve the demo app (app/demo.ipynb) with Voila on http://127.0.0.1:$(APP_PORT)/
#   make test       ruff, then one pytest run: unit tests + strict nbval on every chapter + book build
#   make test-fast  ruff, then the unit tests without the slow parts (book, browser, training, wheel): about a minute
#   make book       build the book into _build/html
#   make lab        open the chapters in JupyterLab with the .venv kernel (installs JupyterLab on first use)
#   make notebooks  re-execute every chapter in place (scripts/execute_notebooks.py)
#   make data       make Fashion-MNIST available (python -m minclip.data)
#   make bench      print the tokenizer benchmark
#   make bench-model print the model benchmark (forward+backward against open_clip; minutes)
#   make bench-search print the demo's search benchmark (10,000 images, ms per query)
#   make bench-cpu-amp print the CPU training benchmark (a scenes step in float32 and in bf16)
#   make bench-scenes-step print where a step of the shipped scenes recipe spends its time
#   make bench-allocator print how much sooner that step runs under tcmalloc (minclip.allocator)
#   make bench-compile print what torch.compile would buy that step, and what it costs to compile
#   make clean      remove build outputs and caches (keeps .venv; `make distclean` removes it too)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
APP_PORT ?= 8866
# Voila's settings live in app/voila.json (tests/test_app_browser.py starts Voila with it too): 127.0.0.1 only,
# localhost Host headers and origins only (no DNS rebinding), kernels of closed pages shut down after 2 idle
# minutes, and a websocket message limit above the app's upload limit
VOILA_ARGS := --Voila.config_file_paths=app

# The install stamp is named after pyproject.toml's hash: editing the dependencies triggers a reinstall,
# anything else finds the stamp and skips pip.
PYPROJECT_SHA := $(shell $(PYTHON) -c "import hashlib; print(hashlib.sha256(open('pyproject.toml', 'rb').read()).hexdigest()[:16])")
STAMP := $(VENV)/.installed-$(PYPROJECT_SHA)

.PHONY: app test test-fast lint book lab notebooks data bench bench-model bench-search bench-cpu-amp bench-scenes-step bench-allocator bench-compile clean distclean venv

app: venv
	@echo ""
	@echo "Starting the demo app. Open http://127.0.0.1:$(APP_PORT)/ in a browser (Ctrl+C stops it);"
	@echo "the first page load indexes the images (seconds), later ones read the index from the cache."
	$(BIN)/voila $(VOILA_ARGS) --port=$(APP_PORT) app/demo.ipynb

test: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# the inner loop while editing the package; `make test` before committing still runs everything
test-fast: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not (book or browser or training or slow)"

lint: venv
	$(BIN)/ruff check .

book: venv
	$(BIN)/jupyter-book build -W -n --keep-going .
	@echo "Open this file in a browser: $(CURDIR)/_build/html/index.html"

# JupyterLab is not a dependency of the package: it is installed into $(VENV) the first time a reader asks for it.
# Started from .venv, its default "Python 3" kernel is .venv's Python, where minclip is installed.
lab: venv
	test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install jupyterlab
	$(BIN)/jupyter-lab book/

notebooks: venv
	$(BIN)/python scripts/execute_notebooks.py

data: venv
	$(BIN)/python -m minclip.data

bench: venv
	$(BIN)/python benchmarks/bench_tokenizer.py

bench-model: venv
	$(BIN)/python benchmarks/bench_model.py

bench-search: venv
	$(BIN)/python benchmarks/bench_search.py

bench-cpu-amp: venv
	$(BIN)/python benchmarks/bench_cpu_amp.py

bench-scenes-step: venv
	$(BIN)/python benchmarks/bench_scenes_step.py

bench-allocator: venv
	$(BIN)/python benchmarks/bench_allocator.py

bench-compile: venv
	$(BIN)/python benchmarks/bench_compile.py

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
