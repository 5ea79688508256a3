"""How much of a `ganim select` row is the draw? Generation seeds against the reference's subsample.

    python benchmarks/select_noise.py MODEL [MODEL ...] --data DATA [--ref-seeds 0-3] [--gen-seeds 0,1000,2000,3000]
                                      [--count 134] [--name select_noise]

`ganim select --seed S` builds its reference from the run's training takes with seed S (which 5,000
training windows the metrics keep) and generates with seed S too, so two calls differ in both. This
scores every MODEL on every generation seed against every reference seed, as `ganim select` scores a
snapshot (its own sampling, labels spread as `ganim eval` spreads them), and splits the spread of
each figure into the part the generation seed explains (the spread over generation seeds with the
reference fixed, averaged over references) and the part the reference explains (the other way
round). Why: it says whether `ganim select --draws K` (several generation seeds per row) is what a
steadier pick needs. Writes benchmarks/results/NAME.{json,md}.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from blender_ganim.core import model_file  # noqa: E402
from quality import default_data, parse_seeds, write_record  # noqa: E402
from trainer.select import score_snapshot, training_reference  # noqa: E402

SHOWN = ("fd", "novelty", "coverage", "foot_skate", "shortfall")


def spreads(grid):
    """{figure: (sd over generation seeds, sd over reference seeds)} of grid[ref][gen] = {figure: value}:
    each the mean of the standard deviations taken with the other seed fixed."""
    refs, gens = list(grid), list(next(iter(grid.values())))
    out = {}
    for k in SHOWN:
        a = np.array([[grid[r][g][k] for g in gens] for r in refs])  # [refs, gens]
        out[k] = (float(a.std(axis=1, ddof=1).mean()) if len(gens) > 1 else 0.0,
                  float(a.std(axis=0, ddof=1).mean()) if len(refs) > 1 else 0.0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="MODEL")
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--ref-seeds", type=parse_seeds, default=parse_seeds("0-3"))
    ap.add_argument("--gen-seeds", type=parse_seeds, default=parse_seeds("0,1000,2000,3000"))
    ap.add_argument("--count", type=int, default=134, help="clips per draw (default 134, two per label pair)")
    ap.add_argument("--name", default="select_noise")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    t0 = time.time()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    data = args.data or default_data()
    loaded = {m: model_file.load(m) for m in args.models}
    grids = {m: {} for m in args.models}
    for r in args.ref_seeds:
        ref = training_reference(loaded[args.models[0]], data, r, log=log if r == args.ref_seeds[0] else lambda m: None)
        for m in args.models:
            grids[m][r] = {}
            for g in args.gen_seeds:
                row = score_snapshot(m, 0, ref, args.count, 120, g, model=loaded[m])
                grids[m][r][g] = {**{k: row["ratios"][k] for k in SHOWN[:-1]}, "shortfall": row["shortfall"]}
                log(f"ref {r} / gen {g} / {Path(m).name}: " + ", ".join(f"{k} {v:.3f}" for k, v in grids[m][r][g].items())
                    + f" ({time.time() - t0:.0f} s)")
    result = {"models": [Path(m).name for m in args.models], "ref_seeds": args.ref_seeds, "gen_seeds": args.gen_seeds,
              "clips_per_draw": args.count, "frames": 120,
              "grids": {Path(m).name: {str(r): {str(g): v for g, v in row.items()} for r, row in grids[m].items()}
                        for m in args.models},
              "spreads": {Path(m).name: {k: {"generation": s[0], "reference": s[1]} for k, s in spreads(grids[m]).items()}
                          for m in args.models},
              "seconds": round(time.time() - t0, 1)}
    lines = ["# Noise in a `ganim select` row: generation seed against reference seed", "",
             f"{args.count} clips of 120 frames per draw; reference seeds {', '.join(map(str, args.ref_seeds))}, "
             f"generation seeds {', '.join(map(str, args.gen_seeds))}. Standard deviation of each figure over "
             "generation seeds with the reference fixed / over reference seeds with the generation seed fixed, "
             "each the mean over the other seed.", "",
             "| model | " + " | ".join(f"{k} (gen / ref)" for k in SHOWN) + " |", "|---|" + "---:|" * len(SHOWN)]
    for m, s in result["spreads"].items():
        lines.append(f"| {m} | " + " | ".join(f"{s[k]['generation']:.3f} / {s[k]['reference']:.3f}" for k in SHOWN) + " |")
    lines += ["", "Each draw (rows: reference seed / generation seed):", ""]
    for m in args.models:
        name = Path(m).name
        lines += [f"**{name}**", "", "| ref / gen | " + " | ".join(SHOWN) + " |", "|---|" + "---:|" * len(SHOWN)]
        for r, row in grids[m].items():
            for g, v in row.items():
                lines.append(f"| {r} / {g} | " + " | ".join(f"{v[k]:.3f}" for k in SHOWN) + " |")
        lines.append("")
    lines.append(f"{result['seconds']:.0f} s.")
    write_record(args.out, args.name, result, lines)


if __name__ == "__main__":
    main()
