# Autopack developer commands. `make install` once, then `make demo` / `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install wheelhouse test check serve demo bench clean

# Wheels the environment tests install offline (pytest, build backends): downloaded once,
# here, because tests never touch the network.
WHEELHOUSE := $(VENV)/wheelhouse
WHEELHOUSE_PACKAGES := pytest hatchling hatch-vcs editables setuptools setuptools-scm wheel

$(BIN)/autopack: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/autopack ## Create .venv and install Autopack with its dev extras.

$(WHEELHOUSE)/.done: $(BIN)/autopack Makefile
	$(BIN)/pip download --quiet --dest $(WHEELHOUSE) $(WHEELHOUSE_PACKAGES)
	@touch $@

wheelhouse: $(WHEELHOUSE)/.done ## Wheels for the offline environment tests (network once).

test: install wheelhouse ## Run the whole test suite (PostgreSQL tests need AUTOPACK_TEST_POSTGRES_URL).
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

check: install ## Lint and type-check: ruff + mypy --strict on src.
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

demo: install ## The offline demo: a bundled plan built into a copy of a small project.
	$(BIN)/autopack demo

bench: install wheelhouse ## Benchmarks (they print their numbers).
	$(BIN)/python benchmarks/apply_robustness.py
	$(BIN)/python benchmarks/executor_overhead.py
	$(BIN)/python benchmarks/environments.py

serve: install ## Run the API on the embedded SQLite default (AUTOPACK_HOME, default ~/.autopack).
	$(BIN)/autopack serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
