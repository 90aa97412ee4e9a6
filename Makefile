# The newcomer's path: `make demo` and `make test` need only Python 3.10+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-test.txt 2>/dev/null | cksum | cut -d' ' -f1)

.PHONY: demo test test-ray test-scale lint typecheck pytest bench bench-limits bench-images docs emulator release-check clean notebooks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml requirements-test.txt
	$(BIN)/python -m pip install --quiet -e ".[dev]" -r requirements-test.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# The demo needs the core and both frameworks (".[all]": about 80 packages, 350 MB in a fresh
# venv), not the test, docs and notebook toolchain of $(STAMP) (about 230 packages, 1.8 GB).
# Same .venv: a later `make test` adds the rest to it.
DEMO_STAMP := $(VENV)/.demo-$(shell cat pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)

$(DEMO_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[all]"
	rm -f $(VENV)/.demo-* && touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m modelstudio_embeddings demo

test: $(STAMP) lint typecheck docs pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

# Corpus-scale Batch API checks (200,000 rows through one file and one job; a few minutes).
test-scale: $(STAMP)
	$(BIN)/python -m pytest -m scale -s

# The 20,000-row Ray Data run at 30 requests per second (a few minutes on 2 cores); CI runs it
# after `make test`. Its figures are printed and written to .pytest_cache/ray-figures.json.
test-ray: $(STAMP)
	$(BIN)/python -m pytest -m ray_long tests/on_ray

# Throughput, CPU and memory side by side with the peers, then the account's limits.
bench: $(STAMP) bench-limits
	$(BIN)/python -m benchmarks

# The account's limits side by side (docs/performance.md): LIMITS_ROWS=20000 is the README's
# run (about 10 minutes a contender; PARALLEL lanes at once, each on its own emulator).
LIMITS_ROWS ?= 2000
PARALLEL ?= 4
bench-limits: $(STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks.limits --rows $(LIMITS_ROWS) --parallel $(PARALLEL)

# Image embedding side by side with the peers (docs/performance.md, "Images"): 2,000 captioned
# PNGs, every contender in a process a pass, every vector checked (about 10 minutes on 2 cores).
IMAGES ?= 2000
bench-images: $(STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks.images --images $(IMAGES)

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

# Re-execute every notebook in place on the emulator and write the fresh outputs back;
# tests/test_notebooks.py fails when the committed outputs differ from a fresh run.
notebooks: $(STAMP)
	env -u DASHSCOPE_API_KEY -u DASHSCOPE_BASE_URL -u DASHSCOPE_API_BASE $(BIN)/python -m tests.notebook_outputs

# Build sdist and wheel in a temp dir, twine check, check LICENSE and no tests in both, install
# the wheel into a fresh venv and run the demo from it (.ci/release-check).
release-check: $(STAMP)
	$(BIN)/python -m pip install --quiet build twine
	.ci/release-check $(BIN)/python

emulator: $(STAMP)
	$(BIN)/python -m modelstudio_emulator --port 8000

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
