#!/usr/bin/env bash
# Set up (first run only), then the main job: headless generation with the shipped default model.
# Writes out/demo/demo.blend, out/demo/bvh/*.bvh and out/demo/preview.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/demo.py --out out/demo "$@"
