"""scripts/device_sweep.sh, the one-call GPU sweep, run here on CPU with tiny settings: it trains, stops
runs at its deadline, scores what they reached and returns each run's best snapshot."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]


def _sweep(tmp_path, **settings):
    env = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "DATA": str(REPO / "data" / "sample"),
           "SEEDS": "0", "RECIPES": "base=;bal=--balance-labels", "SNAPSHOT_EVERY": "2", "SCORE_FROM": "0",
           "SCORE_WORKERS": "2", "OUT": str(tmp_path / "out"), "RUNS": str(tmp_path / "runs"),
           "TRAIN_EXTRA": "--batch 8 --hidden 32 --window 48", "SCORE_EXTRA": "--count 6 --frames 90",
           **settings}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "device_sweep.sh")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads((tmp_path / "out" / "device_sweep.json").read_text()), proc.stdout


def test_device_sweep_trains_scores_and_returns_the_best_snapshots(tmp_path):
    from blender_ganim.core import model_file
    record, _ = _sweep(tmp_path, STEPS="4", TRAIN_S="300")
    assert record["status"] == {"base_s0": "kept", "bal_s0": "kept"}
    assert sorted(r["step"] for r in record["rows"] if r["run"] == "base_s0") == [2, 4]
    best = sorted(p.name for p in (tmp_path / "out").glob("best_*.ganim"))
    assert best == sorted(f"best_{r}_{record['best'][r]['step']}.ganim" for r in ("base_s0", "bal_s0"))
    for name in best:
        model_file.load(tmp_path / "out" / name)
    assert len(list((tmp_path / "out").iterdir())) <= 8, "at most 8 files come back from the device"


def test_device_sweep_stops_runs_at_its_deadline_and_scores_what_they_reached(tmp_path):
    record, out = _sweep(tmp_path, STEPS="5000", TRAIN_S="25", SNAPSHOT_EVERY="10", RECIPES="base=")
    assert "deadline: stopping the runs" in out
    assert record["status"]["base_s0"].startswith("stopped at step "), record["status"]
    assert record["rows"] and all(r["step"] < 5000 for r in record["rows"] if r["run"] == "base_s0")
    assert not subprocess.run(["pgrep", "-f", f"--out {tmp_path / 'runs'}/"], capture_output=True).stdout
