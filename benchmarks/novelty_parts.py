"""Where is a model's novelty excess? Nearest-neighbour distance to training windows, split by part.

    python benchmarks/novelty_parts.py [--model blender_ganim/models/default.ganim] [--data DATA]
                                       [--heldout] [--name novelty_parts]

Novelty (trainer/metrics.py) is the mean distance from each generated window to its nearest
training window in the metrics' space (joint positions and velocities of canonical 60-frame
windows); its reference is the same for real takes left out of that training set. This finds each
window's nearest neighbour once, for generated clips with and without the foot-contact clean-up,
and splits the squared distance into the root's path and the pose relative to the root, for
positions and for velocities, and the relative velocity joint by joint. Each figure is given beside
the left-out takes' own, as a ratio: a part whose ratio is far above the others is where generated
windows stray. The left-out takes are `ganim select`'s (the run's selection takes, or a part of its
training takes), so that a model can be studied without looking at its held-out takes; with
--heldout they are the run's held-out takes, as the quality bar scores it (the records made before
session 46, `novelty_parts.*`, are of that kind). Writes benchmarks/results/NAME.json + NAME.md.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from blender_ganim.core import model_file  # noqa: E402
from quality import default_data, split_reference  # noqa: E402
from trainer import metrics  # noqa: E402
from trainer.evaluate import generate_for_eval  # noqa: E402

PARTS = ("root path, positions", "pose, positions", "root path, velocities", "pose, velocities")


def split_distance(W, W_r, fps):
    """Mean squared distance per feature to the nearest training window, by part and by joint."""
    F, F_r = metrics.features(W, fps), metrics.features(W_r, fps)
    centre = F_r.mean(axis=0)
    idx, _ = metrics.nearest_neighbours(F - centre, F_r - centre)
    D, J = F.shape[1], W.shape[2]
    dp = W - W_r[idx]                                      # [N, L, J, 3] metres
    dv = np.diff(W, axis=1) * fps - np.diff(W_r[idx], axis=1) * fps
    parts = {}
    for kind, d in enumerate((dp, dv)):
        root = d[:, :, :1]
        parts[PARTS[2 * kind]] = float((J * (root ** 2).sum((1, 2, 3))).mean() / D)
        parts[PARTS[2 * kind + 1]] = float(((d - root) ** 2).sum((1, 2, 3)).mean() / D)
    per_joint = ((dv - dv[:, :, :1]) ** 2).sum((1, 3)).mean(0) / D
    total = float(((F - F_r[idx]) ** 2).sum(1).mean() / D)
    return total, parts, per_joint


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--count", type=int, default=150, help="generated clips of 120 frames (as quality.py)")
    ap.add_argument("--heldout", action="store_true",
                    help="measure against the run's held-out takes (default: `ganim select`'s split of its training "
                         "takes, so the held-out takes stay unseen)")
    ap.add_argument("--name", default="novelty_parts")
    args = ap.parse_args()
    t0 = time.time()
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    model = model_file.load(args.model)
    _, _, ref = split_reference(model, args.data or default_data(), args.heldout, log)
    names = [ref.rig.names[j] for j in ref.rig.keep]
    held = split_distance(ref.W_h, ref.W_r, ref.fps)
    rows = {"left-out takes": held}
    for label, clean in (("generated", True), ("generated, no foot clean-up", False)):
        log(f"{label} ...")
        gen, _ = generate_for_eval(model, args.count, 120, 0, clean_feet=clean)
        W = metrics.windows(gen, ref.length, fps=ref.fps, skeleton=ref.skeleton, rig=ref.rig)
        rows[label] = split_distance(W, ref.W_r, ref.fps)
    result = {"model": Path(args.model).name, "left_out": "held-out" if args.heldout else "select",
              "seconds": round(time.time() - t0, 1), "sets": {}}
    for label, (total, parts, per_joint) in rows.items():
        result["sets"][label] = {"total": total, "novelty": float(np.sqrt(total)), "parts": parts,
                                 "relative_velocity_by_joint": dict(zip(names, per_joint.tolist()))}
    out = REPO / "benchmarks" / "results"
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2))
    gens = [k for k in rows if k != "left-out takes"]
    left_out = "the run's held-out takes" if args.heldout else "`ganim select`'s left-out takes"
    h_total, h_parts, h_joint = held
    lines = [f"# Where the novelty excess is: `{result['model']}`", "",
             "Mean squared distance per feature from each window to its nearest training window; "
             f"ratio: generated / {left_out}.", "",
             "| part | left out | " + " | ".join(f"{g} | ratio" for g in gens) + " |",
             "|---|---:|" + "---:|---:|" * len(gens)]
    for part in ("total",) + PARTS:
        h = h_total if part == "total" else h_parts[part]
        cells = []
        for g in gens:
            v = rows[g][0] if part == "total" else rows[g][1][part]
            cells += [f"{v:.5f}", f"{v / h:.2f}x"]
        lines.append(f"| {part} | {h:.5f} | " + " | ".join(cells) + " |")
    lines += ["", "Velocity relative to the root, joint by joint (ratio to the left-out takes; share of the generated "
              "set's relative-velocity distance):", "",
              "| joint | " + " | ".join(f"{g} ratio | share" for g in gens) + " |",
              "|---|" + "---:|---:|" * len(gens)]
    for j, name in enumerate(names):
        if h_joint[j] <= 0:
            continue  # the root itself: no velocity relative to itself
        cells = []
        for g in gens:
            pj = rows[g][2]
            cells += [f"{pj[j] / h_joint[j]:.2f}x", f"{pj[j] / pj.sum():.2f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
