"""Sampling of its own for some labels: the temperature and low-pass of a group of label values
(by default the arm gestures, raise and wave) against the temperature of every other clip.

    python benchmarks/label_sampling.py [--model blender_ganim/models/default.ganim] [--data DATA]
        [--label 'content=raise-*,wave-*'] [--base-temperatures 0.4,0.3] [--temperatures 0.4,0.3]
        [--sigmas 1.75,2,2.25,2.5] [--seeds 0,1000,...,7000] [--count 150]

Why: one temperature and one low-pass for every label is a compromise. On the shipped model's
held-out takes coverage was lost in the waving arm (docs/experiments.md, *Where the shipped model
falls short*), and a wider low-pass on the arms raised it while raising FD everywhere; cooler
locomotion lowers FD. Each cell is a copy of the model recording its settings as `ganim sampling
--label` would (the rest are the model's own), generating at each clip's own settings, scored as
benchmarks/sampling_tune.py scores: the model's training takes split as `ganim select` splits them
(the run's held-out takes stay unseen), COUNT clips of 120 frames per seed, labels spread evenly,
the same seeds in every cell, shortfall from the quality bar averaged over seeds. Record the pick
with `ganim sampling MODEL --temperature BASE --out A.ganim` and `ganim sampling A.ganim --label
GROUP --temperature T --smooth-sigma S --out B.ganim`. Writes benchmarks/results/label_sampling.{json,md}.
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from blender_ganim.core import synthesis  # noqa: E402
from quality import training_takes_reference  # noqa: E402
from sampling_tune import SHOWN, _numbers, score_cell  # noqa: E402
from trainer.labels import parse_label_patterns  # noqa: E402

SEEDS = "0,1000,2000,3000,4000,5000,6000,7000"


def cell_model(model, group, base_temperature, temperature, sigma):
    """A copy of ``model`` drawing every clip at ``base_temperature`` and the ``group``'s clips
    ({name: [values]}) at ``temperature`` with a low-pass of ``sigma`` frames."""
    plain = synthesis.with_sampling(model, {"temperature": base_temperature}, replace=True)
    return synthesis.with_sampling(plain, {"temperature": temperature, "smooth_sigma": sigma}, labels=group)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--label", action="append", metavar="NAME=VALUES",
                    help="the group with sampling of its own (default 'content=raise-*,wave-*'; repeatable)")
    ap.add_argument("--base-temperatures", default="0.4,0.3", help="every other clip's, comma-separated")
    ap.add_argument("--temperatures", default="0.4,0.3", help="the group's, comma-separated")
    ap.add_argument("--sigmas", default="1.75,2,2.25,2.5", help="the group's low-pass, frames, comma-separated")
    ap.add_argument("--seeds", default=SEEDS, help="generation seeds, comma-separated (the same in every cell)")
    ap.add_argument("--count", type=int, default=150, help="clips per cell and seed (the bar's 150)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    t0 = time.time()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    model, ref = training_takes_reference(args.model, args.data, log)
    group = parse_label_patterns(model.labels, args.label or ["content=raise-*,wave-*"])
    seeds = _numbers(args.seeds, int)
    own = synthesis.sampling_defaults(model)
    cells = {}
    for base in _numbers(args.base_temperatures, float):
        for t in _numbers(args.temperatures, float):
            for sigma in _numbers(args.sigmas, float):
                name = f"{base:g} / {t:g} / {sigma:g}"
                cells[name] = {"base_temperature": base, "temperature": t, "smooth_sigma": sigma,
                               **score_cell(cell_model(model, group, base, t, sigma), ref, seeds, args.count, None)}
                log(f"{name}: shortfall {cells[name]['shortfall']:.3f} ({time.time() - t0:.0f} s)")
    best = min(cells, key=lambda c: cells[c]["shortfall"])
    result = {"model": Path(args.model).name, "group": group, "clips_per_cell": args.count, "frames": 120,
              "seeds": seeds, "clean_up_elsewhere": {k: own[k] for k in ("smooth_sigma", "lock_strength")},
              "cells": cells, "best": best, "seconds": round(time.time() - t0, 1)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "label_sampling.json").write_text(json.dumps(result, indent=2))
    keys = [k for k in SHOWN if all(k in c["mean"] for c in cells.values())]
    named = "; ".join(f"{k} {', '.join(v)}" for k, v in group.items())
    half = len(seeds) // 2
    lines = [f"# Sampling of its own for {named} ({result['model']})", "",
             f"{args.count} clips of 120 frames per cell and seed, seeds {', '.join(map(str, seeds))} (the same in "
             f"every cell); training takes split as `ganim select` splits them, ratios to the pseudo held-out "
             f"part, mean over seeds. Elsewhere the low-pass is {own['smooth_sigma']:g} frames and the lock "
             f"{own['lock_strength']:g}.", "",
             "| temperature elsewhere / group's temperature / group's sigma | " + " | ".join(keys)
             + f" | shortfall | first {half} seeds / last {len(seeds) - half} |",
             "|---|" + "---:|" * (len(keys) + 2)]
    for name, c in sorted(cells.items(), key=lambda kv: kv[1]["shortfall"]):
        per = c["shortfall_per_seed"]
        halves = f"{sum(per[:half]) / max(half, 1):.3f} / {sum(per[half:]) / max(len(per) - half, 1):.3f}"
        lines.append(f"| {name}{' (lowest)' if name == best else ''} | "
                     + " | ".join(f"{c['mean'][k]:.3f}x" for k in keys) + f" | {c['shortfall']:.3f} | {halves} |")
    lines += ["", f"{result['seconds']:.0f} s."]
    (out / "label_sampling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
