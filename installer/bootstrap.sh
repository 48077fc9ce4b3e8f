#!/usr/bin/env bash
# Makes .venv ready for `make demo` / `make test`: system packages, a Python of
# the right version, the project and its test tools. Idempotent and quick when
# nothing changed (a stamp holds the hash of what was installed).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
STAMP="$VENV/.bootstrap-stamp"

bash installer/install-system-deps.sh

# --- choose the interpreter ---------------------------------------------------
# PySide6 6.12 on Python 3.11 aborts on many Signal.emit() calls; prefer 3.12+.
version_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
pick_python() {
  local candidates=()
  [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
  # 3.12 first: the most exercised line for PySide6 6.12 here (3.13.0 segfaulted
  # once inside pytest's traceback formatting).
  candidates+=(python3.12 python3.13 python3)
  if command -v pyenv >/dev/null 2>&1; then
    local root; root=$(pyenv root)
    for v in $(ls -1 "$root/versions" 2>/dev/null | grep -E '^3\.(1[2-9])\.[0-9]+$' | sort -V); do
      candidates+=("$root/versions/$v/bin/python3")
    done
  elif [ -d "$HOME/.pyenv/versions" ]; then
    for v in $(ls -1 "$HOME/.pyenv/versions" | grep -E '^3\.(1[2-9])\.[0-9]+$' | sort -V); do
      candidates+=("$HOME/.pyenv/versions/$v/bin/python3")
    done
  fi
  for c in "${candidates[@]}"; do
    if command -v "$c" >/dev/null 2>&1 && version_ok "$c"; then command -v "$c"; return; fi
  done
  # Fall back to Python 3.11; pyproject pins PySide6 below 6.12 there.
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
      command -v "$c"; return
    fi
  done
  echo "bootstrap: no Python 3.11 or newer found" >&2; exit 1
}

want_hash=$(cat pyproject.toml installer/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_hash" ]; then
  exit 0
fi

PY=$(pick_python)
echo "bootstrap: using $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"

if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  rm -rf "$VENV"
fi
# Recreate the venv if it was made with another interpreter version.
if [ -x "$VENV/bin/python" ]; then
  have=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  want=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  [ "$have" = "$want" ] || rm -rf "$VENV"
fi

if command -v uv >/dev/null 2>&1; then
  [ -x "$VENV/bin/python" ] || uv venv --quiet --python "$PY" "$VENV"
  VIRTUAL_ENV="$PWD/$VENV" uv pip install --quiet --python "$VENV/bin/python" -e ".[test]"
else
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".[test]"
fi
echo "$want_hash" > "$STAMP"
echo "bootstrap: $VENV ready"
