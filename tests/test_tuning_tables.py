"""benchmarks/sampling_tune.py's grid table and benchmarks/select_noise.py's split of a row's spread."""

import numpy as np
import pytest

import script_modules

def _module(name):
    return script_modules.load(f"benchmarks/{name}.py")


def _cell(fd, per_seed):
    return {"mean": {"fd": fd}, "shortfall": float(np.mean(per_seed)), "shortfall_per_seed": per_seed}


def test_grid_table_puts_the_lowest_shortfall_first_with_each_half_of_the_seeds():
    tune = _module("sampling_tune")
    cells = {"0.3 / 0.7": _cell(1.4, [0.1, 0.3, 0.0, 0.2]), "0.3 / 0.5": _cell(1.3, [0.0, 0.0, 0.1, 0.1])}
    lines = tune.grid_table(cells, {"temperature": [0.3], "lock_strength": [0.7, 0.5]}, ["fd"], [0, 1, 2, 3])
    assert lines[0] == "| temperature / lock strength | fd | shortfall | first 2 seeds / last 2 |"
    assert lines[2] == "| 0.3 / 0.5 (lowest) | 1.300x | 0.050 | 0.000 / 0.100 |"
    assert lines[3] == "| 0.3 / 0.7 | 1.400x | 0.150 | 0.200 / 0.100 |"
    one = tune.grid_table({"0.3": _cell(1.4, [0.2])}, {"temperature": [0.3]}, ["fd"], [0])
    assert one[0] == "| temperature | fd | shortfall |" and one[2] == "| 0.3 (lowest) | 1.400x | 0.200 |"


def test_select_noise_tells_the_generation_seed_from_the_reference_seed():
    noise = _module("select_noise")
    row = lambda v: {k: v for k in noise.SHOWN}  # noqa: E731
    by_generation = {r: {g: row(1.0 + 0.1 * i) for i, g in enumerate((0, 1000, 2000))} for r in (0, 1)}
    gen, ref = noise.spreads(by_generation)["fd"]
    assert gen == pytest.approx(0.1) and ref == 0.0
    by_reference = {r: {g: row(1.0 + 0.2 * r) for g in (0, 1000)} for r in (0, 1, 2)}
    gen, ref = noise.spreads(by_reference)["shortfall"]
    assert gen == 0.0 and ref == pytest.approx(0.2)
