#!/usr/bin/env bash
# Set up (first run only) and run every test: on bpy 4.2 LTS and on the newest bpy with numpy
# alone (torch tests skip there; the core and the add-on must still pass), and on bpy 5.0 with torch.
# The two numpy-only runs go side by side (each keeps about one core busy; on 2 cores that saves about
# 3 minutes), their reports printed when both are done.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
work=$(mktemp -d)
runs=()
numpy_only() {  # NAME PYTHON [pytest args]: one run in the background, its report in $work/NAME.log
  local name=$1 python=$2
  shift 2
  { echo "== tests on $("$python" -c 'import bpy, sys; print("bpy", bpy.app.version_string, "on Python", sys.version.split()[0])') (numpy only)"
    "$python" -m pytest -q -p no:cacheprovider --basetemp="$work/$name" "$@"; } > "$work/$name.log" 2>&1 &
  runs+=("$name:$!")
}
numpy_only bpy42 .venv-bpy42/bin/python "$@"
if [ -x .venv-bpy-newest/bin/python ]; then
  numpy_only newest .venv-bpy-newest/bin/python "$@"
else
  echo "== tests on the newest bpy: left out (no Python 3.13, see scripts/setup.sh)"
fi
echo "== the numpy-only runs are going side by side; their reports follow when both are done"
status=0
for run in "${runs[@]}"; do
  rc=0
  wait "${run#*:}" || rc=$?
  cat "$work/${run%%:*}.log"
  [ "$status" != 0 ] || status=$rc
done
if [ "$status" != 0 ]; then  # pytest's own exit status; the failed tests' files stay for a look
  echo "== a numpy-only run failed (its report is above; its tests' temporary files are in $work)"
  exit "$status"
fi
rm -rf "$work"
echo "== tests on $(.venv/bin/python -c 'import bpy, torch; print("bpy", bpy.app.version_string, "+ torch", torch.__version__)')"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
