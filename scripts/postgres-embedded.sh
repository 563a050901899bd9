#!/usr/bin/env bash
# The repository's entry point to the embedded PostgreSQL + pgvector launcher, which ships in
# the package (src/sentinel_vectors/testing/servers/postgres-embedded.sh: usage and settings
# there). It runs with the workspace's .venv unless PYTHON says otherwise.
#
#   eval "$(bash scripts/postgres-embedded.sh start)"   # ... stop | status | url
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
exec bash "$ROOT/src/sentinel_vectors/testing/servers/postgres-embedded.sh" "$@"
