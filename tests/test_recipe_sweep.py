"""benchmarks/recipe_sweep.py: recipes x seeds trained for real (tiny), every snapshot scored, runs kept."""

import importlib.util
import json
import statistics
from pathlib import Path

import pytest

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
TINY = "--batch 8 --hidden 32 --window 48 --threads 1"


def _sweep_module():
    spec = importlib.util.spec_from_file_location("recipe_sweep", REPO / "benchmarks" / "recipe_sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sweep_trains_every_recipe_and_seed_scores_each_snapshot_and_keeps_finished_runs(sample_dir, tmp_path):
    sweep = _sweep_module()
    runs, results = tmp_path / "runs", tmp_path / "results"
    argv = [str(sample_dir), "--recipe", "base=", "--recipe", "bal=--balance-labels", "--seeds", "0-1",
            "--steps", "4", "--snapshot-every", "2", "--parallel", "2",
            "--train-args", f"{TINY} --cache {tmp_path / 'cache'}", "--count", "6", "--frames", "90",
            "--out", str(runs), "--results", str(results)]
    assert sweep.main(argv) == 0
    record = json.loads((results / "recipe_sweep.json").read_text())
    names = ["base_s0", "base_s1", "bal_s0", "bal_s1"]
    assert record["status"] == {n: "trained" for n in names}
    for n in names:  # snapshots every 2 steps although checkpoints default to every 500
        assert sorted(r["step"] for r in record["rows"] if r["run"] == n) == [2, 4], n
    config = {n: json.loads((runs / n / "config.json").read_text()) for n in names}
    assert [config[n]["balance_labels"] for n in names] == [False, False, True, True]
    assert [config[n]["seed"] for n in names] == [0, 1, 0, 1]
    assert record["best"]["base_s0"]["ratios"] != record["best"]["base_s1"]["ratios"], "seeds train differently"
    for name in ("base", "bal"):
        entry = record["by_recipe"][name]
        bests = [record["best"][f"{name}_s{s}"]["shortfall"] for s in (0, 1)]
        assert entry["best_shortfall"] == bests and entry["median_best_shortfall"] == pytest.approx(statistics.median(bests))
    text = (results / "recipe_sweep.md").read_text()
    assert "| base | 1 | trained | " in text and "| bal | 0, 1 | " in text
    assert (results / "recipe_sweep.png").read_bytes()[:4] == b"\x89PNG"

    logs = {n: (runs / f"{n}.log").stat().st_size for n in names}
    assert sweep.main(argv) == 0  # again: the finished runs are kept, not retrained
    again = json.loads((results / "recipe_sweep.json").read_text())
    assert again["status"] == {n: "kept" for n in names}
    assert {n: (runs / f"{n}.log").stat().st_size for n in names} == logs

    longer = [a if a != "4" else "8" for a in argv] + ["--score-only"]  # a sweep stopped part way: score, train nothing
    assert sweep.main(longer + ["--recipe", "late=", "--score-workers", "3"]) == 0
    partial = json.loads((results / "recipe_sweep.json").read_text())
    assert partial["status"] == {**{n: "stopped at step 4 of 8" for n in names}, "late_s0": "not started",
                                 "late_s1": "not started"}
    assert sorted(r["step"] for r in partial["rows"] if r["run"] == "bal_s1") == [2, 4]
    assert partial["rows"] == again["rows"], "scored in 3 processes, the same rows as in one"
    assert {n: (runs / f"{n}.log").stat().st_size for n in names} == logs
    assert not (runs / "late_s0").exists()
    # each run's own training time (over its resumes) comes from its model; this call trained nothing
    assert all(partial["run_training_seconds"][n] > 0 for n in names)
    assert partial["run_training_seconds"]["late_s0"] is None
    assert "no training in this call" in (results / "recipe_sweep.md").read_text()
    assert sweep.main(longer + ["--score-draws", "2"]) == 0  # each snapshot on two generation seeds, their mean
    drawn = json.loads((results / "recipe_sweep.json").read_text())
    assert all(len(r["shortfall_per_draw"]) == 2 for r in drawn["rows"])
    assert [r["shortfall"] for r in drawn["rows"]] == [pytest.approx(statistics.fmean(r["shortfall_per_draw"]))
                                                         for r in drawn["rows"]]
    assert "2 generation seeds each" in (results / "recipe_sweep.md").read_text()
    assert sweep.main(longer + ["--score-smooth-sigma", "1.25", "--score-lock-strength", "0.5"]) == 0
    sampled = json.loads((results / "recipe_sweep.json").read_text())  # every snapshot at that clean-up
    assert sampled["sampling"] == {"smooth_sigma": 1.25, "lock_strength": 0.5} and partial["sampling"] == {}
    assert [r["ratios"]["fd"] for r in sampled["rows"]] != [r["ratios"]["fd"] for r in partial["rows"]]
    assert "at smooth sigma 1.25, lock strength 0.5 for every clip" in (results / "recipe_sweep.md").read_text()
    with pytest.raises(SystemExit):
        sweep.main(longer + ["--score-lock-strength", "3"])


def test_a_failing_run_is_reported_and_the_sweep_exits_non_zero(sample_dir, tmp_path):
    sweep = _sweep_module()
    argv = [str(sample_dir), "--recipe", "bad=--no-such-option", "--seeds", "0", "--steps", "2",
            "--snapshot-every", "2", "--train-args", TINY, "--out", str(tmp_path / "runs"),
            "--results", str(tmp_path / "results")]
    assert sweep.main(argv) == 1
    record = json.loads((tmp_path / "results" / "recipe_sweep.json").read_text())
    assert record["status"]["bad_s0"].startswith("failed (exit 2, see ")
    assert "no-such-option" in (tmp_path / "runs" / "bad_s0.log").read_text()


def test_recipes_are_named_and_distinct(tmp_path):
    sweep = _sweep_module()
    assert sweep.parse_recipe("bal=--balance-labels --window-max 160") == ("bal", ["--balance-labels", "--window-max", "160"])
    assert sweep.parse_recipe("base=") == ("base", [])
    with pytest.raises(SystemExit):
        sweep.main(["data", "--recipe", "no equals sign"])
    with pytest.raises(SystemExit):
        sweep.main(["data", "--recipe", "a=", "--recipe", "a=--balance-labels"])


def test_a_reference_model_is_drawn_as_level_lines_not_at_its_own_step(tmp_path, monkeypatch):
    """A shipped model at step 12,500 beside fine-tunes of 500-1,500 steps once squashed them into a
    corner; as level lines it leaves the x axis to the runs."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from trainer.plots import plot_select
    ratios = lambda f: {"fd": f, "coverage": 0.8}
    rows = [{"run": "ft_s0", "step": s, "ratios": ratios(1 + s / 1000), "shortfall": s / 1000} for s in (500, 1000, 1500)]
    rows.append({"run": "default (on ft_s0's reference)", "step": 12500, "ratios": ratios(1.3), "shortfall": 0.0})
    figures = []
    monkeypatch.setattr(plt, "close", lambda fig: figures.append(fig))
    plot_select({"rows": rows, "best": rows[-1], "score": "fd"}, tmp_path / "a.png", levels={rows[-1]["run"]})
    ax, ax2 = figures[0].axes[:2]
    assert ax.get_xlim()[1] < 2000 and ax2.get_xlim()[1] < 2000
    assert any(line.get_ydata()[0] == 1.3 for line in ax.get_lines())  # the reference's FD, as a level
    plot_select({"rows": rows, "best": rows[-1], "score": "fd"}, tmp_path / "b.png")
    assert figures[1].axes[0].get_xlim()[1] > 12000  # without levels, at its own step as before
