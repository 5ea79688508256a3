#!/usr/bin/env bash
# One call on the GPU machine: a from-scratch recipe sweep under a deadline, its snapshots scored on the
# machine's cores, the record and each run's best snapshot back in $OUT.
#
# Here, once (the full archive is 74 MB, over the 64 MiB a call may carry; this makes it 40.5 MB, 8 min on a 2-core CPU):
#   .venv/bin/python scripts/pack_data.py ../shared/data/bandai-namco-motion-ds2-full.tar.xz --out .carry/ds2-full.tar.xz
# Then one device call (the tool `run`): command "bash scripts/device_sweep.sh", carry [".carry"],
# timeout_s 600. Settings come from the environment (prefix them to the command):
#   RECIPES       recipes separated by ';' (default "base=;mixed=--window-max 160")
#   SEEDS         default 0-3          STEPS        default 13000     SNAPSHOT_EVERY  default 500
#   TRAIN_S       seconds of training before the runs are stopped (default 360)
#   SCORE_FROM    first snapshot step scored (default 6000)     SCORE_WORKERS   default: cores - 1
#   PARALLEL      runs sharing the GPU (default: every run)      DEVICE          default cuda
#   DATA          default .carry/ds2-full.tar.xz   TRAIN_EXTRA / SCORE_EXTRA   more options for either step
# A run stopped by the deadline keeps its snapshots (every SNAPSHOT_EVERY steps) and is scored as it is;
# the same command in a later call, with the runs folder carried back, would go on from the checkpoints.
# Nothing here needs a GPU: DEVICE=cpu with tiny settings is how the test runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-out/device}
DATA=${DATA:-.carry/ds2-full.tar.xz}
RECIPES=${RECIPES:-"base=;mixed=--window-max 160"}
SEEDS=${SEEDS:-0-3}
STEPS=${STEPS:-13000}
SNAPSHOT_EVERY=${SNAPSHOT_EVERY:-500}
TRAIN_S=${TRAIN_S:-360}
SCORE_FROM=${SCORE_FROM:-6000}
DEVICE=${DEVICE:-cuda}
RUNS=${RUNS:-runs/device}
CACHE=${CACHE:-$RUNS/cache}
CORES=$(nproc 2>/dev/null || echo 2)
SCORE_WORKERS=${SCORE_WORKERS:-$(( CORES > 1 ? CORES - 1 : 1 ))}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$RUNS"
RUNS_ABS=$(cd "$RUNS" && pwd)
[ -e "$DATA" ] || { echo "device_sweep: no data at $DATA (make it with scripts/pack_data.py and carry it)" >&2; exit 2; }

recipe_args=()
IFS=';' read -ra recipes <<< "$RECIPES"
for r in "${recipes[@]}"; do recipe_args+=(--recipe "$r"); done
n_runs=$(( ${#recipes[@]} * $($PY -c "import sys; sys.path.insert(0, 'benchmarks'); from quality import parse_seeds; print(len(parse_seeds('$SEEDS')))") ))
PARALLEL=${PARALLEL:-$n_runs}
common=("$DATA" "${recipe_args[@]}" --seeds "$SEEDS" --steps "$STEPS" --snapshot-every "$SNAPSHOT_EVERY"
        --out "$RUNS" --results "$OUT" --name device_sweep)

$PY -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
echo "parsing the data once into $CACHE"
$PY -c "from trainer.data import load_dataset; load_dataset(['$DATA'], cache_dir='$CACHE', log=print)"

echo "training $n_runs runs, $PARALLEL at a time, for at most $TRAIN_S s"
$PY benchmarks/recipe_sweep.py "${common[@]}" --parallel "$PARALLEL" --score-from $(( STEPS + 1 )) \
    --train-args "--device $DEVICE --threads 1 --cache $CACHE ${TRAIN_EXTRA:-}" > "$OUT/train.log" 2>&1 &
sweep=$!
deadline=$(( SECONDS + TRAIN_S ))
while kill -0 "$sweep" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 2; done
if kill -0 "$sweep" 2>/dev/null; then
    echo "deadline: stopping the runs (their snapshots stay)"
    kill "$sweep" 2>/dev/null || true
    pkill -f "trainer.cli train .*--out $RUNS_ABS/" 2>/dev/null || true
    sleep 2
fi
wait "$sweep" 2>/dev/null || true
for log in "$RUNS"/*.log; do echo "$log: $(tr '\r' '\n' < "$log" | grep -E 'step|error' | tail -1)"; done

echo "scoring snapshots from step $SCORE_FROM with $SCORE_WORKERS processes"
$PY benchmarks/recipe_sweep.py "${common[@]}" --score-only --score-from "$SCORE_FROM" \
    --score-workers "$SCORE_WORKERS" --against blender_ganim/models/default.ganim ${SCORE_EXTRA:-}

# Each run's best snapshot, nearest the bar first; 8 files come back at most: json, md, png, train.log + 4.
$PY - "$OUT" "$RUNS_ABS" <<'EOF'
import json, shutil, sys
from pathlib import Path
from trainer.select import nearest_the_bar
out, runs = Path(sys.argv[1]), Path(sys.argv[2])
record = json.loads((out / "device_sweep.json").read_text())
ours = [b for name, b in record["best"].items() if name in record["status"]]
for b in sorted(ours, key=nearest_the_bar)[:4]:
    dest = out / f"best_{b['run']}_{b['step']}.ganim"
    shutil.copyfile(runs / b["run"] / "snapshots" / f"model_{b['step']:07d}.ganim", dest)
    print(f"{dest.name}: shortfall {b['shortfall']:.2f}")
EOF
