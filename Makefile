# Every target sets up what it needs first (Python >= 3.12, uv, the workspace's .venv).
.PHONY: setup demo rag service test lint docs ci bench

setup:
	@bash scripts/bootstrap.sh

demo: setup
	.venv/bin/python examples/quickstart.py $(ARGS)

rag: setup
	.venv/bin/python examples/rag_pipeline.py $(ARGS)

service: setup
	.venv/bin/python -m examples.fastapi_service $(ARGS)

# Two workers (one per core on CI): each starts its own Chroma and PostgreSQL; a test file
# stays on one worker so module fixtures are shared. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: setup
	.venv/bin/pytest -n $(TEST_WORKERS) --dist loadfile

# The benchmark suite (docs/benchmarks.md); ARGS="--size full" for the 100k x 384 run.
bench: setup
	.venv/bin/python -m benchmarks $(ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check --exclude "*.md" .
	.venv/bin/mypy
	.venv/bin/lint-imports --no-cache

# The docs site (MkDocs Material + the API reference from the docstrings) into site/;
# --strict fails on any broken link, bad reference or docstring warning.
docs: setup
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet

ci: lint docs test
