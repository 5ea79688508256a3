#!/usr/bin/env bash
# Set up (first run only) and run every test: on bpy 4.2 LTS and on the newest bpy with numpy
# alone (torch tests skip there; the core and the add-on must still pass), and on bpy 5.0 with torch.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== tests on $(.venv-bpy42/bin/python -c 'import bpy; print("bpy", bpy.app.version_string)') (numpy only)"
.venv-bpy42/bin/python -m pytest -q -p no:cacheprovider "$@"
if [ -x .venv-bpy-newest/bin/python ]; then
  echo "== tests on $(.venv-bpy-newest/bin/python -c 'import bpy, sys; print("bpy", bpy.app.version_string, "on Python", sys.version.split()[0])') (numpy only)"
  .venv-bpy-newest/bin/python -m pytest -q -p no:cacheprovider "$@"
else
  echo "== tests on the newest bpy: left out (no Python 3.13, see scripts/setup.sh)"
fi
echo "== tests on $(.venv/bin/python -c 'import bpy, torch; print("bpy", bpy.app.version_string, "+ torch", torch.__version__)')"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
