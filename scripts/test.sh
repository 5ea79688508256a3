#!/usr/bin/env bash
# Set up (first run only) and run every test: once on bpy 5.0 with torch, once on bpy 4.2 LTS
# with numpy alone (torch tests skip there; the core and the add-on must still pass).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== tests on $(.venv-bpy42/bin/python -c 'import bpy; print("bpy", bpy.app.version_string)') (numpy only)"
.venv-bpy42/bin/python -m pytest -q -p no:cacheprovider "$@"
echo "== tests on $(.venv/bin/python -c 'import bpy, torch; print("bpy", bpy.app.version_string, "+ torch", torch.__version__)')"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
