# scrapetrack: `make serve` runs the product, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install serve test test-under-load lint docs bench wheel-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: install
	$(BIN)/scrapetrack migrate
	$(BIN)/scrapetrack serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

docs: install
	$(BIN)/mkdocs build --strict --quiet

# Most tests wait on runs, pages and clocks, not on a core: with two test processes the
# cores sat idle 60% of the time, so three share the machine. The tests that restart the
# shared PostgreSQL and Redis run alone afterwards.
TEST_PROCESSES ?= 3
test: install lint docs
	$(BIN)/pytest -n $(TEST_PROCESSES) -m "not exclusive" --durations=15
	$(BIN)/pytest -m exclusive

test-under-load: install
	scripts/test-under-load

bench: install
	$(BIN)/python -m bench

# The wheel as a user installs it, into a fresh venv outside the checkout, then run there.
wheel-check: install
	scripts/check-wheel

clean:
	rm -rf $(VENV) var site test-artifacts .pytest_cache .mypy_cache .ruff_cache
