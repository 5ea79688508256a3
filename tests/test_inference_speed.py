"""benchmarks/inference_speed.py: times the shipped model's numpy generator beside its torch twin."""

import json

import numpy as np
import pytest

import script_modules
from blender_ganim.core import contacts, model_file, skeleton, synthesis
from blender_ganim.core import rotations as rot

MODEL = "blender_ganim/models/default.ganim"


def test_inference_speed_writes_the_record_and_checks_the_torch_twin(tmp_path):
    pytest.importorskip("torch")
    speed = script_modules.load("benchmarks/inference_speed.py")
    own = rot.cross, contacts.detect, contacts.lock_feet, rot.matrix_to_quat, rot.sixd_to_matrix, skeleton._levels
    speed.main(["--frames", "64", "--repeats", "2", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "inference_speed.json").read_text())
    assert set(record["median_ms"]) == {"numpy forward", "numpy forward, conv taps made every call (before session 54)",
                                        "numpy generate -> Motion", speed.BEFORE, speed.BEFORE_55,
                                        "torch forward (same weights, CPU)"}
    assert all(v > 0 for v in record["median_ms"].values())
    assert record["numpy_torch_max_abs_diff"] < 1e-4
    assert "differ by at most" in (tmp_path / "inference_speed.md").read_text()
    assert (rot.cross, contacts.detect, contacts.lock_feet, rot.matrix_to_quat, rot.sixd_to_matrix,
            skeleton._levels) == own                                    # put back after the "before" rows
    before_55 = speed.as_before_session_55(lambda: synthesis.generate(model_file.load(MODEL), 90, 1, seed=1)[0][0])
    np.testing.assert_allclose(before_55.rotations, synthesis.generate(model_file.load(MODEL), 90, 1, seed=1)[0][0]
                               .rotations, atol=1e-9)                  # what it times is the same clip
    before, now = speed.as_before_session_54(lambda: synthesis.generate(model_file.load(MODEL), 90, 1, seed=1)[0][0]), \
        synthesis.generate(model_file.load(MODEL), 90, 1, seed=1)[0][0]
    np.testing.assert_allclose(before.global_positions(), now.global_positions(), atol=1e-9)  # the same motion

