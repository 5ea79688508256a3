"""How quality changes with the length of a generated clip, on a model's *training* takes.

    python benchmarks/length_quality.py [--model blender_ganim/models/default.ganim] [--data DATA]
                                        [--lengths 64,120,150,300] [--count 140]

The network learned on windows of 64 frames (``training.window`` in the model header) but
generates any length in one pass. For each length, COUNT clips (labels spread evenly, as
`ganim eval` draws them, the tools' temperature and clean-up) are scored against the pseudo
held-out training takes that `ganim select` uses, and every 60-frame window's nearest-neighbour
distance to the training windows is averaged by where the window starts in its clip (as a
ratio to the real held-out windows' mean): the novelty profile along the clip.
Writes benchmarks/results/length_quality.{json,md,png}.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from blender_ganim.core import synthesis  # noqa: E402
from quality import training_takes_reference  # noqa: E402
from trainer import metrics  # noqa: E402
from trainer.evaluate import score_generated, shortfall  # noqa: E402
from trainer.select import run_name  # noqa: E402

SHOWN = ("fd", "novelty", "coverage", "diversity_within", "foot_skate", "jitter", "accuracy_style")


def novelty_profile(clips, ref):
    """Mean NN distance (ratio to H's) of the windows starting at each stride step, in clip order."""
    X, owner = ref.windows_of(clips)
    d = metrics.nearest_neighbour_distances(X, ref.X_r) / np.sqrt(X.shape[1])  # RMS per feature, as novelty
    first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    position = np.arange(len(owner)) - np.repeat(first, np.diff(np.r_[first, len(owner)]))
    h = ref.h_stats["novelty"]
    return [float(d[position == p].mean() / h) for p in range(int(position.max()) + 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--lengths", default="64,120,150,300", help="clip lengths in frames, comma-separated")
    ap.add_argument("--count", type=int, default=140, help="clips per length (default 140)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    t0 = time.time()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    model, ref = training_takes_reference(args.model, args.data, log)
    temperature = synthesis.temperature_for(model)  # what score_generated draws at
    rows = {}
    for frames in [int(x) for x in args.lengths.split(",") if x.strip()]:
        result, clips = score_generated(model, ref, args.count, frames, args.seed)
        ratios = {k: v["ratio"] for k, v in result["metrics"].items()}
        rows[str(frames)] = {"ratios": ratios, "shortfall": shortfall(ratios),
                             "windows": result["windows"]["generated"], "profile": novelty_profile(clips, ref)}
        log(f"{frames} frames: shortfall {rows[str(frames)]['shortfall']:.2f}, "
            + ", ".join(f"{k} {ratios[k]:.2f}x" for k in SHOWN if ratios.get(k) is not None))
    training = model.header.get("training") or {}
    run, name = run_name(args.model), Path(args.model).name  # a snapshot is named with its run
    result = {"model": name if run == Path(name).stem else f"{run}/{name}", "steps": training.get("steps"),
              "training_window": training.get("window"),
              "training_window_max": training.get("window_max") or training.get("window"),
              "training_free_length": training.get("free_length"),
              "clips_per_length": args.count, "seed": args.seed, "temperature": temperature,
              "sampling": synthesis.describe_sampling(model),
              "stride": ref.stride, "rows": rows, "seconds": round(time.time() - t0, 1)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "length_quality.json").write_text(json.dumps(result, indent=2))
    keys = [k for k in SHOWN if all(r["ratios"].get(k) is not None for r in rows.values())]
    windows = f"{result['training_window']}" + (f"-{result['training_window_max']}"
                                                if result["training_window_max"] != result["training_window"] else "")
    windows += "-frame windows"
    if result["training_free_length"]:
        windows += f", free rows drawn up to {result['training_free_length']} frames (--free-length)"
    lines = [f"# Quality by clip length on training takes ({result['model']}, trained on {windows})", "",
             f"{args.count} clips per length, seed {args.seed} ({result['sampling']}); ratios to the "
             "pseudo held-out training takes (FD against a floor of as many windows). Across lengths compare "
             "novelty, coverage, skate, jitter and style: FD and diversity within labels also change with the "
             "number of windows per clip (a longer clip gives more, correlated windows, and its mean window "
             "moves toward its labels' mean; at 64 frames each clip gives one window).", "",
             "| frames | windows | " + " | ".join(keys) + " | shortfall |", "|---:|---:|" + "---:|" * (len(keys) + 1)]
    for frames, r in rows.items():
        lines.append(f"| {frames} | {r['windows']} | " + " | ".join(f"{r['ratios'][k]:.2f}x" for k in keys)
                     + f" | {r['shortfall']:.2f} |")
    lines += ["", f"Novelty by where a 60-frame window starts (every {ref.stride} frames), ratio to the real "
              "held-out windows':", ""]
    for frames, r in rows.items():
        lines.append(f"- {frames} frames: " + ", ".join(f"{v:.2f}" for v in r["profile"]))
    lines += ["", f"{result['seconds']:.0f} s."]
    (out / "length_quality.md").write_text("\n".join(lines) + "\n")
    plot(rows, ref.stride, result["training_window"], out / "length_quality.png")
    print("\n".join(lines))


def plot(rows, stride, window, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for frames, r in rows.items():
        ax.plot(np.arange(len(r["profile"])) * stride, r["profile"], "o-", ms=3, label=f"{frames} frames")
    if window:
        ax.axvline(window - 60, color="0.5", ls=":", lw=0.8, label="last window inside the training length")
    ax.axhline(1.5, color="tab:red", ls="--", lw=0.8, label="novelty bar (1.5x)")
    ax.set_xlabel("frame where the 60-frame window starts")
    ax.set_ylabel("novelty (x real held-out)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
