"""What the quality bar's FD asks of a model, given the labels it generates at.

    python benchmarks/label_mix.py [--model M] [--data DATA] [--seeds 0-4] [--training-takes]

The bar generates clips with their labels spread evenly over the label pairs training had, while its FD
floor compares training windows *in the data's own mix* with the held-out takes. When the labels differ
in how they move (a raise is short and high, a walk long and low), the mix alone moves FD. This
measures how much, over label seeds, side by side in one run:

* real training windows drawn as the bar's generated set is labelled (each clip's windows from
  training windows of its label pair): what a model exactly as real as its training takes would score;
* the same spread by one label column only (the other as the data has it), and in the held-out
  takes' own mix (near the floor, not on it: drawn pair by pair, and a pair's share there rests on one
  or two takes);
* the model at the bar's spread (as ``quality.py`` scores it) and with each clip's labels drawn in
  proportion to the held-out takes' windows of each pair, the mix the floor is in.

FD and coverage are ratios to the bar's references (``metrics.Reference.floor``). The held-out takes by
default (the bar's split; nothing here chooses anything), ``--training-takes`` for `ganim select`'s
split of the training takes. Writes benchmarks/results/label_mix{,_training_takes}.{json,md}.
"""

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from blender_ganim.core import model_file, synthesis  # noqa: E402
from trainer import metrics  # noqa: E402
from trainer.evaluate import balanced_labels, score_generated, shortfall  # noqa: E402

from quality import default_data, parse_seeds, split_reference, write_record  # noqa: E402

MODEL_FIGURES = ("fd", "novelty", "coverage", "foot_skate", "accuracy_style")


def windows_per_clip(ref, frames):
    """How many canonical windows one generated clip of ``frames`` gives on ``ref``'s cut."""
    return 0 if frames < ref.length else (frames - ref.length) // ref.stride + 1


def windows_like(pair_of_window, wanted, per_clip, rng):
    """Indices of real windows labelled as a generated set is: ``per_clip`` windows of each wanted
    clip's pair (``pair_of_window``: one hashable pair per real window). Drawn without repeats while a
    pair lasts; returns (indices, pairs drawn with repeats for want of windows, pairs with none, left out)."""
    pool = collections.defaultdict(list)
    for i, pair in enumerate(pair_of_window):
        pool[pair].append(i)
    need = collections.Counter(wanted)
    missing = sorted((p for p in need if p not in pool), key=str)
    short = sorted((p for p, n in need.items() if p in pool and len(pool[p]) < n * per_clip), key=str)
    picks = [rng.choice(pool[p], n * per_clip, replace=p in short) for p, n in need.items() if p in pool]
    if not picks:
        raise ValueError(f"no real windows of any wanted label pair ({', '.join(map(str, missing))})")
    return np.concatenate(picks), short, missing


def mix_labels(pair_of_window, columns, count, seed, allowed=None):
    """``count`` label sets ({column: value}) drawn at random in proportion to how many windows each
    pair has in ``pair_of_window``, among the ``allowed`` pairs when given."""
    shares = collections.Counter(p for p in pair_of_window if allowed is None or p in allowed)
    if not shares:
        raise ValueError("no windows of any allowed label pair")
    pairs = sorted(shares, key=str)
    p = np.array([shares[k] for k in pairs], dtype=float)
    drawn = np.random.default_rng(seed).choice(len(pairs), count, p=p / p.sum())
    return [dict(zip(columns, pairs[i])) for i in drawn]


def real_rows(ref, labels, model, count, frames, seeds, rng):
    """FD and coverage (ratios to the bar's references) of real training windows at each label spread."""
    columns = sorted(labels)
    pair_r = [tuple(labels[c]["train"][i] for c in columns) for i in ref.clips_r]
    pair_h = [tuple(labels[c]["heldout"][i] for c in columns) for i in ref.clips_h]
    per_clip = windows_per_clip(ref, frames)
    floor = ref.floor(count * per_clip)
    bar = lambda s: [tuple(w[c] for c in columns) for w in balanced_labels(model, count, s)]  # noqa: E731
    spreads = {"the bar's spread (pairs)": (pair_r, bar)}
    for k, c in enumerate(columns):  # one column spread as the bar spreads it, the others as the data has them
        spreads[f"the bar's spread of {c} only"] = ([p[k] for p in pair_r], lambda s, k=k: [p[k] for p in bar(s)])
    spreads["the held-out takes' own mix"] = (
        pair_r, lambda s: [tuple(w[c] for c in columns) for w in mix_labels(pair_h, columns, count, s, set(pair_r))])
    rows = {}
    for name, (keys, spread) in spreads.items():
        fd, cov, repeated, left_out = [], [], set(), set()
        for s in seeds:
            sel, short, missing = windows_like(keys, spread(s), per_clip, rng)
            repeated |= set(map(str, short))
            left_out |= set(map(str, missing))
            fd.append(metrics.frechet_distance(ref.Y_r[sel], ref.gauss_h) / floor["fd"])
            cov.append(metrics.coverage(ref.X_h, ref.X_r[sel], ref.coverage_threshold) / floor["coverage"])
        rows[f"real training windows, {name}"] = {"fd": fd, "coverage": cov, "drawn_with_repeats": sorted(repeated),
                                                  "no_real_windows": sorted(left_out)}
    return rows, pair_h, columns, floor


def model_rows(model, ref, pair_h, columns, count, frames, seeds, log):
    """The model's ratios at the bar's spread and at the held-out takes' own mix (pairs it was trained on)."""
    trained = synthesis.trained_combos(model)
    allowed = None if trained is None else {tuple(c[k] for k in columns) for c in trained}
    rows = {"the model, the bar's spread": {k: [] for k in MODEL_FIGURES + ("shortfall",)},
            "the model, the held-out takes' own mix": {k: [] for k in MODEL_FIGURES + ("shortfall",)}}
    for s in seeds:
        for name, wanted in zip(rows, (None, mix_labels(pair_h, columns, count, s, allowed))):
            log(f"seed {s}: {name} ...")
            result, _ = score_generated(model, ref, count, frames, s, wanted=wanted)
            ratios = {k: v["ratio"] for k, v in result["metrics"].items()}
            for k in MODEL_FIGURES:
                rows[name][k].append(ratios.get(k))
            rows[name]["shortfall"].append(shortfall(ratios))
    return rows


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def markdown(record):
    cols = ("fd", "coverage", "novelty", "foot_skate", "accuracy_style", "shortfall")
    lines = ["# What the bar's FD asks, given the labels", "", record["about"], "",
             "| set | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, row in record["rows"].items():
        cells = []
        for k in cols:
            m = _median(row.get(k, []))
            cells.append("" if m is None else (f"{m:.2f}" if k == "shortfall" else f"{m:.2f}x"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Medians over the seeds; FD and coverage as multiples of the bar's own references (FD floor: "
              "training windows in the data's own mix against the held-out takes)."]
    repeated = {n: r["drawn_with_repeats"] for n, r in record["rows"].items() if r.get("drawn_with_repeats")}
    for name, pairs in repeated.items():
        lines.append(f"{name}: too few real windows of {', '.join(pairs)}, drawn with repeats.")
    for name, row in record["rows"].items():
        if row.get("no_real_windows"):
            lines.append(f"{name}: no real windows of {', '.join(row['no_real_windows'])}, left out.")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--count", type=int, default=150, help="clips per set (default 150, as the bar)")
    ap.add_argument("--frames", type=int, default=120, help="frames per clip (default 120, as the bar)")
    ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-4"), metavar="LIST",
                    help="label and generation seeds, e.g. 0-4 (default)")
    ap.add_argument("--training-takes", action="store_true",
                    help="`ganim select`'s split of the training takes instead of the held-out takes")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    t0 = time.time()
    model = model_file.load(args.model)
    _, labels, ref = split_reference(model, args.data or default_data(), heldout=not args.training_takes, log=log)
    if not labels:
        ap.error("the data has no labels, so there is no label mix to measure")
    if windows_per_clip(ref, args.frames) == 0:
        ap.error(f"--frames {args.frames} is shorter than the metrics' {ref.length}-frame window")
    rows, pair_h, columns, floor = real_rows(ref, labels, model, args.count, args.frames, args.seeds,
                                             np.random.default_rng(0))
    rows.update(model_rows(model, ref, pair_h, columns, args.count, args.frames, args.seeds, log))
    sampling = synthesis.describe_sampling(model)
    against = "`ganim select`'s split of the training takes" if args.training_takes else "the held-out takes"
    record = {"model": Path(args.model).name, "reference": against, "seeds": args.seeds, "count": args.count,
              "frames": args.frames, "sampling": sampling, "floor": floor, "rows": rows,
              "seconds": round(time.time() - t0, 1),
              "about": f"Model `{Path(args.model).name}` ({sampling}) against {against}; "
                       f"{args.count} clips of {args.frames} frames per set, seeds {', '.join(map(str, args.seeds))}."}
    stem = "label_mix_training_takes" if args.training_takes else "label_mix"
    write_record(args.out, stem, record, markdown(record))


if __name__ == "__main__":
    main()
