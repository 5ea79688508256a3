"""benchmarks/loops.py: a generated cycle wraps within the seam test, repeating a free clip does not, nor
does a plain restyle of a cycle, while one restyled as a cycle does; the finished cycle's feet slide less
than without its foot lock."""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import loops  # noqa: E402

from blender_ganim.core import synthesis  # noqa: E402


def test_loops_benchmark_scores_generated_cycles_beside_the_naive_repeat(tmp_path):
    assert loops.main(["--seeds", "0-1", "--contents", "walk,wave-left-hand", "--name", "t",
                       "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "t.json").read_text())
    assert (tmp_path / "t.md").read_text().startswith("# Loops")
    for content in ("walk", "wave-left-hand"):
        kinds = record["results"][content]
        assert len(kinds["loop"]["all"]) == len(kinds["naive"]["all"]) == 2
        assert kinds["loop"]["worst"] <= loops.LIMIT and kinds["in_place"]["worst"] <= loops.LIMIT
        assert kinds["naive"]["median"] > loops.LIMIT                 # the pose jumps where it starts over
        assert kinds["restyled"]["worst"] <= loops.LIMIT < kinds["restyled_plain"]["median"]
    walk = record["results"]["walk"]                                    # the finished cycle's feet locked:
    assert walk["skate_loop"]["worst"] < walk["skate_before"]["worst"]  # (seeds 0-1: 0.19 against 0.29)
    assert synthesis._lock_cycle.__name__ == "_lock_cycle"                 # put back after the "before" runs
