"""Free generation's noise temperature, foot-lock strength and low-pass, chosen on a model's *training* takes.

    python benchmarks/sampling_tune.py [--model blender_ganim/models/default.ganim] [--data DATA]
                                       [--temperatures 1,0.8,0.7,0.6,0.5,0.4,0.3]
                                       [--lock-strengths 1,0.7,0.6,0.5,0] [--smooth-sigmas 2.25,1.75,1.25]
                                       [--grid] [--seeds 0,1000] [--count 280] [--name sampling_tune]

The model's training takes are split as `ganim select` splits them (R and a pseudo held-out part
H'; the run's real held-out takes stay unseen). One sweep per setting, each with the others at the
model's own (`ganim sampling MODEL` shows them; the shipped defaults unless its file records
others): the temperature, the lock strength, then the Gaussian low-pass after the network (frames;
an empty list skips a sweep); with --grid, every combination of the given values instead, for
settings that pull against each other (the lock and the low-pass both trade foot skate for
novelty). In each cell COUNT clips of 120 frames (labels spread evenly over
style x content, as `ganim eval` draws them) are generated once per seed, with the same seeds in
every cell, and scored with the quality metrics against H' (the shortfall is the mean over seeds of
each seed's shortfall from the quality bar). The defaults `synthesis.TEMPERATURE`,
`synthesis.LOCK_STRENGTH` and `synthesis.SMOOTH_SIGMA` come from these sweeps; benchmarks/quality.py
then reports them once on the held-out takes. For another model, record what the sweeps pick in a
copy of it: `ganim sampling MODEL --temperature T --lock-strength S --smooth-sigma F --out NEW.ganim`.
Writes benchmarks/results/NAME.{json,md,png} (a grid: NAME.{json,md}).
"""

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from blender_ganim.core import model_file, synthesis  # noqa: E402
from quality import training_takes_reference, write_record  # noqa: E402
from trainer.evaluate import BANDS, score_generated, shortfall  # noqa: E402

SHOWN = ("fd", "novelty", "coverage", "diversity_within", "foot_skate", "jitter", "accuracy_style")


def _numbers(text, kind):
    return [kind(x) for x in text.split(",") if x.strip()]


def score_cell(model, ref, seeds, count, temperature, frames=120):
    """{"seeds": {seed: ratios}, "mean": ratios, "shortfall": mean shortfall, "shortfall_per_seed"}."""
    per_seed = {}
    for seed in seeds:
        result, _ = score_generated(model, ref, count, frames, seed, temperature)
        per_seed[str(seed)] = {k: v["ratio"] for k, v in result["metrics"].items()}
    keys = [k for k in per_seed[str(seeds[0])] if all(per_seed[str(s)][k] is not None for s in seeds)]
    falls = [shortfall(r) for r in per_seed.values()]
    return {"seeds": per_seed, "mean": {k: float(np.mean([per_seed[str(s)][k] for s in seeds])) for k in keys},
            "shortfall": float(np.mean(falls)), "shortfall_per_seed": falls}


def sweep(model, ref, name, values, seeds, count, log=print):
    """One setting of synthesis.sampling_defaults ("temperature", "lock_strength", "smooth_sigma"),
    the others at the model's own: {value: cell}."""
    out = {}
    for v in values:
        if name == "temperature":
            cell = score_cell(model, ref, seeds, count, v)
        else:
            cell = score_cell(synthesis.with_sampling(model, {name: v}), ref, seeds, count,
                              None)  # each clip at the model's own temperature (per label where it says)
        out[f"{v:g}"] = cell
        log(cell_line(f"{name} {v:g}", cell))
    return out


def cell_line(name, cell):
    """One progress line: a cell's mean shortfall and figures."""
    return (f"{name}: shortfall {cell['shortfall']:.3f} ("
            + ", ".join(f"{k} {cell['mean'][k]:.3f}x" for k in SHOWN if k in cell["mean"]) + ")")


def grid_cells(model, ref, axes, seeds, count, log=print):
    """Every combination of ``axes`` ({setting: [values]}), the settings left out at the model's own:
    {"T / lock / sigma": cell with its settings}."""
    out = {}
    for values in itertools.product(*axes.values()):
        settings = dict(zip(axes, values))
        name = " / ".join(f"{v:g}" for v in values)
        out[name] = {**settings, **score_cell(synthesis.with_sampling(model, settings), ref, seeds, count, None)}
        log(cell_line(name, out[name]))
    return out


def grid_table(cells, axes, keys, seeds):
    """Markdown rows, best first, with the shortfall on each half of the seeds when there are two or
    more (is the order stable?)."""
    half = len(seeds) // 2
    halves = f" first {half} seeds / last {len(seeds) - half} |" if half else ""
    lines = [f"| {' / '.join(map(model_file.setting_name, axes))} | " + " | ".join(keys) + " | shortfall |" + halves,
             "|---|" + "---:|" * (len(keys) + 1 + bool(half))]
    for i, (name, c) in enumerate(sorted(cells.items(), key=lambda kv: kv[1]["shortfall"])):
        per = c["shortfall_per_seed"]
        split = f" {np.mean(per[:half]):.3f} / {np.mean(per[half:]):.3f} |" if half else ""
        lines.append(f"| {name}{' (lowest)' if i == 0 else ''} | "
                     + " | ".join(f"{c['mean'][k]:.3f}x" for k in keys) + f" | {c['shortfall']:.3f} |" + split)
    return lines


def plot(grids, path, own):
    """One row per sweep: each metric (mean and seeds) against the swept value, bands in red."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(grids)
    keys = [k for k in SHOWN if all(k in c["mean"] for g in grids.values() for c in g.values())]
    cols = len(keys) + 1
    fig, axes = plt.subplots(len(names), cols, figsize=(2.6 * cols, 2.6 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        grid = grids[name]
        vs = sorted(grid, key=float)
        x = [float(v) for v in vs]
        for ax, k in zip(row, keys + ["shortfall"]):
            if k == "shortfall":
                ax.plot(x, [grid[v]["shortfall"] for v in vs], "o-", color="k")
            else:
                for seed in grid[vs[0]]["seeds"]:
                    ax.plot(x, [grid[v]["seeds"][seed][k] for v in vs], ".", color="0.6")
                ax.plot(x, [grid[v]["mean"][k] for v in vs], "o-")
                for edge in BANDS.get(k, (None, None)):
                    if edge is not None:
                        ax.axhline(edge, color="tab:red", lw=0.8, ls="--")
                if k == "diversity_within":
                    ax.axhline(1.0, color="tab:green", lw=0.8, ls="--")
            ax.axvline(own[name], color="0.3", lw=0.6, ls=":")
            ax.set_title(k if k == "shortfall" else f"{k} (x real)", fontsize=8)
            ax.set_xlabel(name.replace("_", " "), fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table(name, grid, keys, default):
    lines = [f"| {model_file.setting_name(name)} | " + " | ".join(keys) + " | shortfall |",
             "|---:|" + "---:|" * (len(keys) + 1)]
    for v in sorted(grid, key=float, reverse=True):
        mark = " (default)" if float(v) == default else ""
        cells = [f"{grid[v]['mean'][k]:.3f}x" for k in keys]
        lines.append(f"| {v}{mark} | " + " | ".join(cells) + f" | {grid[v]['shortfall']:.3f} |")
    best = min(grid, key=lambda v: grid[v]["shortfall"])
    return lines + ["", f"Lowest mean shortfall at {model_file.setting_name(name)} {best}.", ""]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--temperatures", default="1,0.8,0.7,0.6,0.5,0.4,0.3", help="comma-separated")
    ap.add_argument("--lock-strengths", default="1,0.7,0.6,0.5,0",
                    help="foot-lock strengths, comma-separated (1: planted feet held still; 0: IK soft reach only)")
    ap.add_argument("--smooth-sigmas", default="2.25,1.75,1.25",
                    help="the low-pass after the network, frames, comma-separated (empty: no sweep)")
    ap.add_argument("--grid", action="store_true",
                    help="score every combination of the given values instead of one sweep per setting")
    ap.add_argument("--seeds", default="0,1000", help="generation seeds, comma-separated (the same in every cell)")
    ap.add_argument("--count", type=int, default=280, help="clips per cell and seed (default 280)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--name", default="sampling_tune", help="the record's file stem (default sampling_tune)")
    args = ap.parse_args()
    t0 = time.time()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    model, ref = training_takes_reference(args.model, args.data, log)
    own = synthesis.sampling_defaults(model)  # each setting is swept with the others at the model's own
    seeds = _numbers(args.seeds, int)
    axes = {name: _numbers(values, float) for name, values in (
        ("temperature", args.temperatures), ("lock_strength", args.lock_strengths),
        ("smooth_sigma", args.smooth_sigmas))}
    own_text = model_file.settings_text({k: own[k] for k in axes})
    about = (f"{args.count} clips of 120 frames per cell and seed, seeds {', '.join(map(str, seeds))} (the same in "
             "every cell); ratios to the takes `ganim select` leaves out of the model's training takes, mean over "
             "seeds.")
    if args.grid:
        axes = {k: v for k, v in axes.items() if v}
        cells = grid_cells(model, ref, axes, seeds, args.count, log)
        result = {"model": Path(args.model).name, "steps": model.header["training"]["steps"],
                  "clips_per_cell": args.count, "frames": 120, "seeds": seeds, "own": own, "cells": cells,
                  "best": min(cells, key=lambda c: cells[c]["shortfall"]), "seconds": round(time.time() - t0, 1)}
        keys = [k for k in SHOWN if all(k in c["mean"] for c in cells.values())]
        lines = [f"# Free generation's sampling on training takes, a grid ({result['model']}, "
                 f"{result['steps']} steps)", "", about + f" The model's own: {own_text}.", ""]
        write_record(args.out, args.name, result, lines + grid_table(cells, axes, keys, seeds)
                     + ["", f"{result['seconds']:.0f} s."])
        return
    grids = {name: sweep(model, ref, name, values, seeds, args.count, log) for name, values in axes.items() if values}
    result = {"model": Path(args.model).name, "steps": model.header["training"]["steps"],
              "clips_per_cell": args.count, "frames": 120, "seeds": seeds,
              "defaults": {k: own[k] for k in grids}, "grids": grids,
              "seconds": round(time.time() - t0, 1)}
    keys = [k for k in SHOWN if all(k in c["mean"] for g in grids.values() for c in g.values())]
    lines = [f"# Free generation's sampling on training takes ({result['model']}, {result['steps']} steps)",
             "", about + f" Each setting is swept with the others at the model's own ({own_text}).", ""]
    for name, grid in grids.items():
        lines += table(name, grid, keys, own[name])
    write_record(args.out, args.name, result, lines + [f"{result['seconds']:.0f} s."])
    plot(grids, Path(args.out) / f"{args.name}.png", own)


if __name__ == "__main__":
    main()
