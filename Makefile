# Every target sets up what it needs first (Python >= 3.12, uv, the workspace's .venv).
.PHONY: setup demo test lint ci

setup:
	@bash scripts/bootstrap.sh

demo: setup
	.venv/bin/python examples/quickstart.py $(ARGS)

test: setup
	.venv/bin/pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check --exclude "*.md" .
	.venv/bin/mypy

ci: lint test
