"""Locomotion, stride by stride: generated clips against the training takes with the same labels.

    python benchmarks/strides.py MODEL [MODEL ...] [--contents run,walk] [--count 12] [--frames 120]
                                 [--name strides]

A clip that covers too little ground may step too slowly or too short, and the cures differ: a slow
cadence could be played faster, a short stride cannot (the feet would scurry). For every style x content
asked for, this cuts the model's *training* takes and COUNT generated clips (the default sampling, as the
add-on draws) into 60-frame windows every 30 frames and takes, per window:
  speed      the root's ground speed (m/s);
  cadence    strides per second: the highest peak of the autocorrelation of the two feet's height
             difference, which repeats once per stride and flips sign at each step;
  stride     speed / cadence (m): how far the body travels per stride;
  excursion  how far the feet swing about the root: the standard deviation of each foot's offset from
             the root along the direction of travel (m), the two feet's mean.
Each is a median over windows; the table gives generated / real. Held-out takes stay unseen.
Writes benchmarks/results/NAME.json, NAME.md and NAME.png (cadence ratio against stride ratio).
"""

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from blender_ganim.core import contacts, model_file, synthesis  # noqa: E402
from trainer.evaluate import load_real, takes_left_out  # noqa: E402

WINDOW, HOP = 60, 30
MEASURES = ("speed", "cadence", "stride", "excursion")


def cadence(height_difference, fps, shortest_s=0.25, longest_s=1.5):
    """Strides per second of one window, from the autocorrelation peak of the feet's height difference
    (parabolic interpolation between lags); NaN when the feet do not alternate (no positive peak)."""
    x = np.asarray(height_difference, dtype=np.float64)
    x = x - x.mean()
    n = len(x)
    lags = np.arange(max(2, int(shortest_s * fps)), min(n - 10, int(longest_s * fps)) + 1)
    if len(lags) < 3 or x.std() < 1e-4:  # feet level to a tenth of a millimetre: no stride to find
        return float("nan")
    r = np.array([np.dot(x[:-k], x[k:]) / (n - k) for k in lags]) / (np.dot(x, x) / n)
    if r.max() <= 0.0:
        return float("nan")
    # The first peak near the highest: a fast stride repeats within the window, and its second and
    # third periods peak about as high as the first.
    peaks = [i for i in range(len(r)) if (i == 0 or r[i] >= r[i - 1]) and (i == len(r) - 1 or r[i] >= r[i + 1])]
    i = next(i for i in peaks if r[i] >= 0.8 * r.max())
    lag = float(lags[i])
    if 0 < i < len(r) - 1:  # the vertex of the parabola through the peak and its neighbours
        a, b, c = r[i - 1], r[i], r[i + 1]
        if a - 2 * b + c < 0:
            lag += 0.5 * (a - c) / (a - 2 * b + c)
    return fps / lag


def window_measures(motion, spec):
    """[N, 4] rows of (speed, cadence, stride, excursion), one per 60-frame window of the clip."""
    p = motion.global_positions() * spec["meters_per_unit"]
    root = p[:, spec["root"]][:, [0, 2]]
    legs = synthesis.leg_chains(motion.skeleton, spec)
    if len(legs) != 2:
        raise ValueError(f"strides need two legs; the features' feet make {len(legs)}")
    left, right = legs[0][2], legs[1][2]
    rows = []
    for s in range(0, motion.frames - WINDOW + 1, HOP):
        r = root[s:s + WINDOW]
        speed = float(np.linalg.norm(np.diff(r, axis=0), axis=-1).mean() * motion.fps)
        hz = cadence(p[s:s + WINDOW, left, contacts.UP] - p[s:s + WINDOW, right, contacts.UP], motion.fps)
        travel = np.gradient(r, axis=0)
        travel /= np.linalg.norm(travel, axis=-1, keepdims=True) + 1e-9
        swing = [np.std(((p[s:s + WINDOW, f][:, [0, 2]] - r) * travel).sum(-1)) for f in (left, right)]
        rows.append((speed, hz, speed / hz, float(np.mean(swing))))
    return rows


def medians(rows):
    a = np.asarray(rows, dtype=np.float64).reshape(-1, len(MEASURES))
    return {k: float(np.nanmedian(a[:, i])) if np.isfinite(a[:, i]).any() else float("nan")
            for i, k in enumerate(MEASURES)}


def real_cells(model, data, contents, log):
    """{(style, content): [rows]} over the model's training takes."""
    held, selection = takes_left_out(model)
    real, labels, _ = load_real(data, held, log=log, unused_names=selection)
    cells = collections.defaultdict(list)
    spec = model.header["features"]
    for m, s, c in zip(real["train"], labels["style"]["train"], labels["content"]["train"]):
        if c in contents and m.frames >= WINDOW:
            cells[(s, c)] += window_measures(m, spec)
    return cells


def generated_cells(model, cells, count, frames, seed):
    out = {}
    for (s, c) in cells:
        clips, _ = synthesis.generate(model, frames, count=count, labels={"style": s, "content": c}, seed=seed)
        out[(s, c)] = sum((window_measures(m, model.header["features"]) for m in clips), [])
    return out


def compare(real, generated):
    """{cell: {"real": medians, "generated": medians, "ratio": generated / real}}."""
    table = {}
    for key in real:
        r, g = medians(real[key]), medians(generated[key])
        table[key] = {"real": r, "generated": g, "ratio": {k: g[k] / r[k] for k in MEASURES},
                      "windows": {"real": len(real[key]), "generated": len(generated[key])}}
    return table


def markdown(results, header):
    lines = ["# Locomotion, stride by stride", "", header, "",
             "Generated / real, medians over 60-frame windows (real values in brackets).", ""]
    for name, table in results.items():
        lines += [f"## {name}", "", "| style | content | speed | cadence | stride | excursion | real windows |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for (s, c), row in sorted(table.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            cells = " | ".join(f"{row['ratio'][k]:.2f}x ({row['real'][k]:.2f})" for k in MEASURES)
            lines.append(f"| {s} | {c} | {cells} | {row['windows']['real']} |")
        lines.append("")
    lines.append("speed m/s, cadence strides/s, stride and excursion m.")
    return lines


def plot(results, path):
    from trainer.plots import _plt
    plt = _plt()
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4.4), squeeze=False)
    for ax, (name, table) in zip(axes[0], results.items()):
        contents = sorted({c for _, c in table})
        for c, marker in zip(contents, "osD^v<>"):
            pts = [(row["ratio"]["cadence"], row["ratio"]["stride"], s) for (s, cc), row in table.items() if cc == c]
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=c)
            for x, y, s in pts:
                ax.annotate(s, (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
        ax.axhline(1, color="0.6", lw=0.8)
        ax.axvline(1, color="0.6", lw=0.8)
        ax.set_xlabel("cadence, generated / real")
        ax.set_ylabel("stride length, generated / real")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="MODEL")
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--contents", default="run,walk", help="comma-separated contents (default run,walk)")
    ap.add_argument("--count", type=int, default=12, help="clips per style x content (default 12)")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--name", default="strides")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    from quality import default_data, model_label, write_record
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    t0 = time.time()
    models = {model_label(p): model_file.load(p) for p in args.models}
    if len(models) < len(args.models):
        raise SystemExit("strides: two models would share a name in the record; pass each file once")
    first = next(iter(models.values()))
    contents = [c.strip() for c in args.contents.split(",") if c.strip()]
    unknown = sorted(set(contents) - set(first.labels.get("content", [])))
    if unknown:
        raise SystemExit(f"strides: no content {', '.join(unknown)} in the model; it has {first.labels.get('content')}")
    real = real_cells(first, args.data or default_data(), contents, log)
    if not real:
        raise SystemExit(f"strides: no training take of {', '.join(contents)} has {WINDOW} frames")
    results = {}
    for name, model in models.items():
        if takes_left_out(model) != takes_left_out(first):
            raise SystemExit(f"{name} held out other takes than {next(iter(models))}: compare models of one split")
        results[name] = compare(real, generated_cells(model, real, args.count, args.frames, args.seed))
    header = (f"{args.count} clips of {args.frames} frames per style x content at the default sampling, seed "
              f"{args.seed}, against the models' training takes; {time.time() - t0:.0f} s.")
    record = {"models": dict(zip(results, args.models)), "contents": contents, "count": args.count,
              "frames": args.frames, "seed": args.seed, "window": WINDOW, "hop": HOP,
              "results": {n: {f"{s}|{c}": row for (s, c), row in t.items()} for n, t in results.items()}}
    write_record(args.out, args.name, record, markdown(results, header))
    plot(results, Path(args.out) / f"{args.name}.png")
    return results


if __name__ == "__main__":
    main()
