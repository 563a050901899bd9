#!/usr/bin/env bash
# Finds a Python >= 3.12 (PATH first, then pyenv), makes sure uv is there, and syncs
# the workspace into .venv. Sourced or run by the Makefile and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

is_312_plus() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
  local cand
  for cand in python3.12 python3.13 python3.14 python3 python; do
    if command -v "$cand" >/dev/null 2>&1; then
      local path
      path=$(command -v "$cand")
      # A pyenv shim answers for the global version only; resolve it below instead.
      if [[ "$path" != */shims/* ]] && is_312_plus "$path"; then echo "$path"; return 0; fi
    fi
  done
  local root="${PYENV_ROOT:-}"
  if [[ -z "$root" ]] && command -v pyenv >/dev/null 2>&1; then root=$(pyenv root); fi
  [[ -n "$root" ]] || root="$HOME/.pyenv"
  if [[ -d "$root/versions" ]]; then
    local v
    for v in $(ls "$root/versions" | sort -t. -k1,1n -k2,2n -k3,3n); do
      for cand in "$root/versions/$v/bin/python3" "$root/versions/$v/bin/python"; do
        if [[ -x "$cand" ]] && is_312_plus "$cand"; then echo "$cand"; return 0; fi
      done
    done
  fi
  return 1
}

PY=$(find_python) || {
  echo "error: sentinel-vectors needs Python >= 3.12 (sentinel-auth-sdk requires it)." >&2
  echo "       None was found on PATH or under pyenv. Install one (e.g. 'pyenv install 3.12')" >&2
  echo "       and run this again." >&2
  exit 1
}

# uv: on PATH, or where an earlier `pip install --user uv` put it (~/.local/bin, often not
# on PATH), or next to the Python; installed once, only when none of these has it.
export PATH="$PATH:$HOME/.local/bin:$(dirname "$PY")"
if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv with $PY (once)" >&2
  # As root in CI, pip warns about running as root; the --user install is what we want.
  export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
  "$PY" -m pip install --quiet --user uv >&2 || "$PY" -m pip install --quiet uv >&2
fi
command -v uv >/dev/null 2>&1 || { echo "error: uv could not be installed" >&2; exit 1; }

echo "bootstrap: Python $("$PY" -c 'import platform; print(platform.python_version())') at $PY" >&2
UV_PYTHON_DOWNLOADS=never uv sync --python "$PY" --all-packages --all-extras --quiet >&2
