"""How much each label moves: generated clips against the training takes with the same labels.

    python benchmarks/label_energy.py MODEL [MODEL ...] [--count 4] [--frames 120] [--name label_energy]

A clip's energy is the mean speed of its joints (m/s, the root's travel included; the joints the
features encode), the figure `ganim train --energy-weight` matches per label (trainer/label_energy.py).
For every style x content combination this generates COUNT clips at the default sampling (as the
add-on does) and divides their mean energy by that of the model's *training* takes with the same
labels (the held-out takes stay unseen; takes shorter than the metrics' 60-frame window are left out). A ratio of 0.5 is an *active run* at half the speed of real
ones. Reports per style and per content the median ratio over the other label, and per model the
median |log ratio| over all combinations (0 is every label as energetic as real).
Writes benchmarks/results/NAME.json, NAME.md and NAME.png (one heat map per model).
"""

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blender_ganim.core import model_file, synthesis  # noqa: E402
from trainer import metrics  # noqa: E402
from trainer.evaluate import load_real, takes_left_out  # noqa: E402
from trainer.plots import _plt  # noqa: E402


def energy(motion, spec):
    """Mean joint speed (m/s) over the root and body joints of the features."""
    p = motion.global_positions()[:, [spec["root"]] + list(spec["body"])] * spec["meters_per_unit"]
    return float(np.linalg.norm(np.diff(p, axis=0), axis=-1).mean() * motion.fps)


def real_energy(model, data, log):
    """{(style, content): mean energy} over the model's training takes long enough for one window of
    the metrics (shorter ones, many of them quick raises, give the quality bar no windows either)."""
    held, selection = takes_left_out(model)
    real, labels, _ = load_real(data, held, log=log, unused_names=selection)
    cells = collections.defaultdict(list)
    for m, s, c in zip(real["train"], labels["style"]["train"], labels["content"]["train"]):
        if m.frames < metrics.DEFAULT_LENGTH:
            continue
        cells[(s, c)].append(energy(m, model.header["features"]))
    return {k: float(np.mean(v)) for k, v in cells.items()}


def generated_ratios(model, real, count, frames, seed):
    ratios = {}
    for s in model.labels["style"]:
        for c in model.labels["content"]:
            if (s, c) not in real:
                continue
            clips, _ = synthesis.generate(model, frames, count=count, labels={"style": s, "content": c}, seed=seed)
            ratios[(s, c)] = float(np.mean([energy(m, model.header["features"]) for m in clips]) / real[(s, c)])
    return ratios


def summarise(ratios, styles, contents):
    median = lambda i, v: float(np.median([r for k, r in ratios.items() if k[i] == v]))  # noqa: E731
    return {"by_style": {s: median(0, s) for s in styles}, "by_content": {c: median(1, c) for c in contents},
            "median_abs_log": float(np.median(np.abs(np.log(list(ratios.values())))))}


def markdown(results, styles, contents, header):
    names = list(results)
    lines = ["# How much each label moves", "", header, "",
             "Generated / real mean joint speed, median over the other label (1 = as energetic as real).", "",
             "| label | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for part, values in (("by_style", styles), ("by_content", contents)):
        for v in values:
            lines.append(f"| {v} | " + " | ".join(f"{results[n][part][v]:.2f}x" for n in names) + " |")
    lines.append("| **median abs log ratio** | " + " | ".join(f"**{results[n]['median_abs_log']:.3f}**"
                                                          for n in names) + " |")
    return "\n".join(lines) + "\n"


def plot(results, styles, contents, path):
    plt = _plt()
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.2), squeeze=False)
    for ax, (name, r) in zip(axes[0], results.items()):
        grid = np.array([[np.log2(r["cells"].get(f"{s}|{c}", np.nan)) for c in contents] for s in styles])
        im = ax.imshow(grid, cmap="coolwarm", vmin=-1.5, vmax=1.5)
        ax.set_xticks(range(len(contents)), [c.replace("raise-up-", "raise ").replace("wave-", "wave ")
                                             for c in contents], rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(styles)), styles, fontsize=8)
        ax.set_title(f"{name}\nmedian |log| {r['median_abs_log']:.3f}", fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), label="log2(generated / real speed)")
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="MODEL")
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--count", type=int, default=4, help="clips per style x content (default 4)")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--name", default="label_energy")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    from quality import default_data, model_label
    data = args.data or default_data()
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    t0 = time.time()
    models = {model_label(p): model_file.load(p) for p in args.models}
    first = next(iter(models.values()))
    real = real_energy(first, data, log)
    styles, contents = first.labels["style"], first.labels["content"]
    results = {}
    for name, model in models.items():
        if takes_left_out(model) != takes_left_out(first):
            raise SystemExit(f"{name} held out other takes than {next(iter(models))}: compare models of one split")
        ratios = generated_ratios(model, real, args.count, args.frames, args.seed)
        results[name] = {**summarise(ratios, styles, contents), "cells": {f"{s}|{c}": r for (s, c), r in ratios.items()}}
        log(f"{name}: median |log ratio| {results[name]['median_abs_log']:.3f}")
    header = (f"{args.count} clips of {args.frames} frames per style x content at the default sampling, seed "
              f"{args.seed}, against the models' training takes; {time.time() - t0:.0f} s.")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"models": {n: str(p) for n, p in zip(results, args.models)}, "count": args.count, "frames": args.frames,
              "seed": args.seed, "real_energy": {f"{s}|{c}": v for (s, c), v in real.items()}, "results": results}
    (out / f"{args.name}.json").write_text(json.dumps(record, indent=2))
    text = markdown(results, styles, contents, header)
    (out / f"{args.name}.md").write_text(text)
    plot(results, styles, contents, out / f"{args.name}.png")
    print(text)


if __name__ == "__main__":
    main()
