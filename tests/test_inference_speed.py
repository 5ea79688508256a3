"""benchmarks/inference_speed.py: times the shipped model's numpy generator beside its torch twin."""

import json

import pytest

import script_modules


def test_inference_speed_writes_the_record_and_checks_the_torch_twin(tmp_path):
    pytest.importorskip("torch")
    script_modules.load("benchmarks/inference_speed.py").main(["--frames", "64", "--repeats", "2", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "inference_speed.json").read_text())
    assert set(record["median_ms"]) == {"numpy forward", "numpy forward, conv taps made every call (before session 54)",
                                        "numpy generate -> Motion", "torch forward (same weights, CPU)"}
    assert all(v > 0 for v in record["median_ms"].values())
    assert record["numpy_torch_max_abs_diff"] < 1e-4
    assert "differ by at most" in (tmp_path / "inference_speed.md").read_text()
