"""benchmarks/strides.py: speed split into cadence and stride length, so a slow run says which it lacks."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("strides", REPO / "benchmarks" / "strides.py")
strides = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(strides)

FPS = 30.0


@pytest.mark.parametrize("hz", [0.8, 1.3, 2.2])
def test_cadence_is_the_frequency_at_which_the_feet_alternate(hz):
    t = np.arange(strides.WINDOW) / FPS
    assert strides.cadence(np.sin(2 * np.pi * hz * t + 0.4), FPS) == pytest.approx(hz, rel=0.03)
    assert np.isnan(strides.cadence(np.full(strides.WINDOW, 0.3), FPS))  # feet that never alternate


def test_a_walk_played_twice_as_fast_doubles_speed_and_cadence_and_keeps_the_stride(walk_clip):
    from blender_ganim.core import features
    spec = features.spec_for(walk_clip.skeleton)
    fast = walk_clip.resample(FPS / 2).copy(fps=FPS)  # every other frame, played at the same rate
    normal, quick = (strides.medians(strides.window_measures(m, spec)) for m in (walk_clip, fast))
    assert 0.5 < normal["speed"] < 2.0 and 0.7 < normal["cadence"] < 1.3  # a walk: ~1 m/s, ~1 stride/s
    assert quick["speed"] / normal["speed"] == pytest.approx(2.0, rel=0.1)
    assert quick["cadence"] / normal["cadence"] == pytest.approx(2.0, rel=0.1)
    assert quick["stride"] / normal["stride"] == pytest.approx(1.0, abs=0.1)
    assert quick["excursion"] / normal["excursion"] == pytest.approx(1.0, abs=0.1)


def test_benchmark_compares_generated_walks_with_training_takes_and_writes_its_record(default_model, sample_dir,
                                                                                   tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "results"
    results = strides.main([str(default_model), "--data", str(sample_dir), "--contents", "walk", "--count", "2",
                            "--out", str(out), "--name", "s"])
    table = results["default"]
    assert table and {c for _, c in table} == {"walk"}
    for row in table.values():  # the shipped model walks as fast as real takes, give or take a third
        assert all(0.67 < row["ratio"][k] < 1.5 for k in strides.MEASURES), row
        assert row["windows"]["generated"] == 2 * 3  # two 120-frame clips, three windows each
    record = json.loads((out / "s.json").read_text())
    assert record["results"]["default"].keys() == {f"{s}|{c}" for s, c in table}
    assert "| normal | walk |" in (out / "s.md").read_text()
    assert (out / "s.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit, match="share a name"):  # one name per model in the record
        strides.main([str(default_model), str(default_model), "--data", str(sample_dir), "--out", str(out)])
    with pytest.raises(SystemExit, match="no content hop"):
        strides.main([str(default_model), "--data", str(sample_dir), "--contents", "hop", "--out", str(out)])
