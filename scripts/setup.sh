#!/usr/bin/env bash
# Create the two virtual environments everything else uses (idempotent: a stamp skips
# the work when nothing changed).
#   .venv        Python 3.11: numpy, scipy, torch (CPU build unless a GPU is present), bpy 5.0 wheel,
#                tqdm, matplotlib, tensorboard, pytest, and this project (editable, `ganim` on PATH)
#   .venv-bpy42  Python 3.11: the Blender 4.2 LTS bpy wheel, numpy, scipy, pytest (no torch):
#                the add-on must work on 4.2 with numpy alone
#   .venv-bpy-newest  Python 3.13: the newest Blender's bpy wheel (5.1 and later are built for 3.13),
#                numpy, scipy, pytest (no torch); made only where a Python 3.13 is found
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=${GANIM_TORCH_VERSION:-2.13.0}
BPY_NEW=${GANIM_BPY_NEW:-5.0.1}
BPY_LTS=${GANIM_BPY_LTS:-4.2.23}
BPY_NEWEST=${GANIM_BPY_NEWEST:-5.3.0}

# is_python 3.11 CMD: CMD runs and is that version. pyenv's shims answer for versions that are
# installed but not selected, so a candidate is run, not just looked up.
is_python() { "$2" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$1'.split('.'))))" >/dev/null 2>&1; }

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if is_python 3.11 "$candidate"; then PY=$candidate; break; fi
  done
fi
if [ -z "$PY" ]; then
  echo "setup: Python 3.11 is required (the bpy wheels are built for 3.11); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

# The versions asked for are part of the stamp, so an override (GANIM_BPY_NEWEST=...) rebuilds.
stamp_of() { { cat scripts/setup.sh pyproject.toml; echo "$TORCH_VERSION $BPY_NEW $BPY_LTS $BPY_NEWEST"; } | sha256sum | cut -c1-16; }
STAMP=$(stamp_of)
PIP_FLAGS=(--quiet --disable-pip-version-check)

make_env() {  # make_env PYTHON DIR PACKAGES...
  local python=$1 dir=$2; shift 2
  if [ -f "$dir/.ganim-stamp" ] && [ "$(cat "$dir/.ganim-stamp")" = "$STAMP" ]; then
    return 0
  fi
  echo "setup: creating $dir (one-off, a few minutes) ..." >&2
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install "${PIP_FLAGS[@]}" --upgrade pip >/dev/null 2>&1 || true
  "$dir/bin/python" -m pip install "${PIP_FLAGS[@]}" "$@" 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$STAMP" > "$dir/.ganim-stamp"
}

make_env "$PY" .venv "torch==$TORCH_VERSION" "bpy==$BPY_NEW" scipy tqdm matplotlib tensorboard pytest "setuptools>=77"
if [ ! -f .venv/.ganim-installed ] || [ "$(cat .venv/.ganim-installed)" != "$STAMP" ]; then
  .venv/bin/python -m pip install "${PIP_FLAGS[@]}" --no-deps --no-build-isolation -e . >/dev/null
  echo "$STAMP" > .venv/.ganim-installed
fi
make_env "$PY" .venv-bpy42 "bpy==$BPY_LTS" scipy pytest

# Blender 5.1 and later ship Python 3.13, and so do their bpy wheels.
PY313=${PYTHON313:-}
if [ -n "$PY313" ] && ! is_python 3.13 "$PY313"; then
  echo "setup: PYTHON313=$PY313 is not a Python 3.13 interpreter" >&2
  exit 1
fi
if [ -z "$PY313" ]; then
  for candidate in python3.13 "$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13; do
    if is_python 3.13 "$candidate"; then PY313=$candidate; break; fi
  done
fi
if [ -n "$PY313" ]; then
  make_env "$PY313" .venv-bpy-newest "bpy==$BPY_NEWEST" scipy pytest
else
  rm -rf .venv-bpy-newest
  echo "setup: no Python 3.13 found (set PYTHON313=/path/to/python3.13): the tests on bpy $BPY_NEWEST are left out" >&2
fi
