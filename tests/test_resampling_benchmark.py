"""benchmarks/resampling.py: Catmull-Rom beats slerp + lerp on real takes, and edits at 60 fps
keep their seams, side by side on the same clips (the repo's sample takes, so CI needs no data)."""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import resampling  # noqa: E402

from blender_ganim.core.motion import Motion  # noqa: E402


def test_resampling_benchmark_compares_both_ways_on_the_same_clips(tmp_path):
    shipped = Motion.sample_at
    assert resampling.main(["--data", str(REPO / "data" / "sample"), "--takes", "4", "--seeds", "0",
                            "--name", "t", "--out", str(tmp_path)]) == 0
    assert Motion.sample_at is shipped                                   # the baseline was put back
    record = json.loads((tmp_path / "t.json").read_text())
    assert (tmp_path / "t.md").read_text().startswith("# Changing a clip's frame rate")
    real, cubic, linear = record["real"], "cubic", "linear"
    assert real[cubic]["restore_mm"]["median"] < real[linear]["restore_mm"]["median"]
    assert real[cubic]["round_trip_mm"]["median"] < real[linear]["round_trip_mm"]["median"]
    gen = record["generate_60fps"]
    assert gen[cubic]["median"] < 2.0 < gen[linear]["median"]          # lerp's kink at every model frame
    seams = record["inbetween_60fps"]
    assert seams[cubic]["n"] == 4 and seams[cubic]["within"] == 1.0
