"""Where coverage is won and lost: coverage of real windows split by content, on a model's *training* takes
(or, with --heldout, on the takes its run held out, as the quality bar scores it).

    python benchmarks/coverage_parts.py [--model blender_ganim/models/default.ganim] [--data DATA] [--count 280]
                                        [--heldout]

Coverage (DESIGN section 5) is the share of real held-out windows whose nearest generated window
is closer than the median real-to-training nearest-neighbour distance, against the same share for
a random subsample of training windows of the generated set's size. This splits both by the
content label of the real window, on the pseudo held-out training takes that `ganim select` uses
(the run's held-out takes stay unseen), and adds a diagnostic reference: a training subsample with
the generated set's mix of contents (generated clips spread their labels evenly; real windows
follow the takes' lengths). The quality bar keeps DESIGN's reference; this only says where it bites.
Writes benchmarks/results/coverage_parts.{json,md}.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from blender_ganim.core import model_file, synthesis  # noqa: E402
from quality import default_data, split_reference, write_record  # noqa: E402
from trainer import metrics  # noqa: E402
from trainer.evaluate import generate_for_eval  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--count", type=int, default=280, help="generated clips of 120 frames (default 280)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int, default=10, help="training subsamples averaged (default 10)")
    ap.add_argument("--heldout", action="store_true",
                    help="score on the run's held-out takes (the quality bar's reference) instead of training takes; "
                         "writes coverage_parts_heldout.{json,md}")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    t0 = time.time()
    model = model_file.load(args.model)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    clips, labels, ref = split_reference(model, args.data or default_data(), args.heldout, log)
    content_r = np.array([labels["content"]["train"][c] for c in ref.clips_r])
    content_h = np.array([labels["content"]["heldout"][c] for c in ref.clips_h])

    gen, used = generate_for_eval(model, args.count, 120, args.seed)
    X_g, owner = ref.windows_of(gen)
    content_g = np.array([used[c]["content"] for c in owner])
    th = ref.coverage_threshold
    by_g = metrics.covered(ref.X_h, X_g, th)

    rng = np.random.default_rng(args.seed + 1)
    plain, mixed = [], []
    contents = sorted(set(content_h))
    for _ in range(args.draws):
        plain.append(metrics.covered(ref.X_h, ref.X_r[rng.choice(len(ref.X_r), len(X_g), replace=False)], th))
        pick = np.concatenate([rng.choice(np.flatnonzero(content_r == k), int(np.sum(content_g == k)), replace=True)
                               for k in contents if np.any(content_r == k)])
        mixed.append(metrics.covered(ref.X_h, ref.X_r[pick], th))
    plain, mixed = np.mean(plain, axis=0), np.mean(mixed, axis=0)

    def share(values, mask):
        return float(np.mean(values[mask])) if mask.any() else float("nan")

    rows = {}
    for k in contents + ["all"]:
        m = np.ones(len(content_h), bool) if k == "all" else content_h == k
        rows[k] = {"real_windows": int(m.sum()),
                   "generated_windows": int(len(X_g) if k == "all" else np.sum(content_g == k)),
                   "training_windows_share": float(1.0 if k == "all" else np.mean(content_r == k)),
                   "generated": share(by_g, m), "reference": share(plain, m), "reference_same_mix": share(mixed, m)}
    takes = "held-out" if args.heldout else "training"
    temperature = synthesis.temperature_for(model)  # what generate_for_eval drew at
    result = {"model": Path(args.model).name, "takes": takes, "count": args.count, "seed": args.seed,
              "temperature": temperature, "sampling": synthesis.describe_sampling(model), "threshold": th, "rows": rows,
              "seconds": round(time.time() - t0, 1)}
    total = rows["all"]
    lines = [f"# Coverage by content on {takes} takes ({result['model']})", "",
             f"{args.count} clips of 120 frames (labels spread evenly), seed {args.seed} "
             f"({result['sampling']}); a real window counts as covered when its nearest window is closer than "
             f"{th:.4f} (the median real-to-training distance). References: {args.draws} random training subsamples "
             "of the generated set's size, plain and with the generated set's mix of contents.", "",
             "| content | real windows | generated windows | covered by generated | by training subsample | "
             "by subsample with generated's mix |", "|---|---:|---:|---:|---:|---:|"]
    for k, r in rows.items():
        lines.append(f"| {k} | {r['real_windows']} | {r['generated_windows']} | {r['generated']:.3f} | "
                     f"{r['reference']:.3f} | {r['reference_same_mix']:.3f} |")
    lines += ["", f"Coverage ratio as the bar measures it: {total['generated'] / total['reference']:.3f}x; "
              f"against a reference with the generated set's mix of contents: "
              f"{total['generated'] / total['reference_same_mix']:.3f}x. {result['seconds']:.0f} s."]
    write_record(args.out, "coverage_parts_heldout" if args.heldout else "coverage_parts", result, lines)


if __name__ == "__main__":
    main()
