"""benchmarks/train_speed.py: real short training runs, this checkout beside a commit, one record."""

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs the git checkout")
def test_train_speed_times_both_sides_and_writes_the_record(tmp_path):
    spec = importlib.util.spec_from_file_location("train_speed", REPO / "benchmarks" / "train_speed.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    worktrees = subprocess.run(["git", "-C", str(REPO), "worktree", "list"], capture_output=True, text=True).stdout
    bench.main(["--against", "HEAD", "--steps", "2", "--repeats", "1", "--results", str(tmp_path)])
    record = json.loads((tmp_path / "train_speed.json").read_text())
    assert set(record["seconds_per_step"]) == {"this checkout", "HEAD"}
    assert all(len(t) == 1 and t[0] > 0 for t in record["seconds_per_step"].values())
    assert record["speedup"] == pytest.approx(record["median_seconds_per_step"]["HEAD"]
                                              / record["median_seconds_per_step"]["this checkout"])
    assert "as fast as `HEAD`" in (tmp_path / "train_speed.md").read_text()
    after = subprocess.run(["git", "-C", str(REPO), "worktree", "list"], capture_output=True, text=True).stdout
    assert after == worktrees, "the temporary worktree is removed"
