"""Where feet slide: the foot-skate metric split by content and by how fast the sliding foot moves, on a
model's *training* takes (or, with --heldout, on the takes its run held out, as the quality bar scores it).

    python benchmarks/skate_parts.py [--model blender_ganim/models/default.ganim] [--data DATA] [--count 150]
                                     [--seed 0] [--heldout] [--name STEM]

Foot skate (DESIGN section 5) is the share of frames in which a foot is within 5 cm of the ground and
moves faster than 0.5 m/s. Two things hide in that one share. The label mix: generated clips spread
their labels evenly while real takes do not, and only locomotion has such frames, so the bar's ratio
also weighs how much walking each set holds; this adds the ratio against the real takes' per-content
rates weighted by the generated set's mix of windows. And the speed: a planted foot dragging (under
~1 m/s) looks different from a foot landing or lifting at walking speed (2-4 m/s), which real takes
show too; the sliding frames are binned by the sliding foot's speed. The network's raw output (no
low-pass, no foot lock) is scored beside the cleaned clips, from the same draws. The quality bar keeps
DESIGN's reference; this only says where it bites.
Writes benchmarks/results/skate_parts[_heldout].{json,md} (or --name).
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

SPEED_BANDS = (0.5, 1.0, 2.0, 3.0, np.inf)  # m/s: dragging, slow, walking-speed landings, fast


def band_label(lo, hi):
    return f"{lo:g}+ m/s" if np.isinf(hi) else f"{lo:g}-{hi:g} m/s"


def skate_by_content(W, contents, ref):
    """{content: {"skate": share of frames, "windows": n, "bands": [share of frames per speed band]}}."""
    skating, slide = metrics.skating_frames(W, ref.rig.feet, ref.fps, ref.ground)
    out = {}
    for k in sorted(set(contents)) + ["all"]:
        m = np.ones(len(W), bool) if k == "all" else contents == k
        s, v = skating[m], slide[m]
        bands = [float(np.mean(s & (v > lo) & (v <= hi))) for lo, hi in zip(SPEED_BANDS[:-1], SPEED_BANDS[1:])]
        out[k] = {"skate": float(s.mean()), "windows": int(m.sum()), "bands": bands}
    return out


def same_mix_rate(real, generated):
    """The real per-content rates weighted by the generated set's windows per content."""
    shared = [k for k in generated if k != "all" and k in real]
    n = sum(generated[k]["windows"] for k in shared)
    return sum(real[k]["skate"] * generated[k]["windows"] for k in shared) / n if n else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--count", type=int, default=150, help="generated clips of 120 frames (default 150, the bar's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--heldout", action="store_true",
                    help="score on the run's held-out takes (the quality bar's reference) instead of training takes")
    ap.add_argument("--name", help="stem of the files written (default skate_parts[_heldout])")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    t0 = time.time()
    model = model_file.load(args.model)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    clips, labels, ref = split_reference(model, args.data or default_data(), args.heldout, log)
    real = skate_by_content(ref.W_h, np.array([labels["content"]["heldout"][c] for c in ref.clips_h]), ref)

    sets = {}
    for name, clean in (("generated", True), ("raw network", False)):
        gen, used = generate_for_eval(model, args.count, 120, args.seed, clean_feet=clean)
        W, owner = ref.canonical_windows(gen)
        sets[name] = skate_by_content(W, np.array([used[c]["content"] for c in owner]), ref)
    gen = sets["generated"]
    mix = same_mix_rate(real, gen)
    takes = "held-out" if args.heldout else "training"
    temperature = synthesis.temperature_for(model)  # what generate_for_eval drew at
    result = {"model": Path(args.model).name, "takes": takes, "count": args.count, "seed": args.seed,
              "temperature": temperature, "sampling": synthesis.describe_sampling(model),
              "speed_bands_m_s": [band_label(lo, hi) for lo, hi in zip(SPEED_BANDS[:-1], SPEED_BANDS[1:])],
              "real": real, **{k.replace(" ", "_"): v for k, v in sets.items()},
              "ratio": gen["all"]["skate"] / real["all"]["skate"],
              "real_same_mix": mix, "ratio_same_mix": gen["all"]["skate"] / mix,
              "seconds": round(time.time() - t0, 1)}
    raw = sets["raw network"]
    lines = [f"# Foot skate by content on {takes} takes ({result['model']})", "",
             f"{args.count} clips of 120 frames (labels spread evenly), seed {args.seed} "
             f"({result['sampling']}); share of frames with a foot down (5 cm) and sliding (> 0.5 m/s). "
             "*Raw*: the same draws without the clean-up (low-pass and foot lock).", "",
             "| content | real windows | real | generated windows | generated | ratio | raw network |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for k in gen:
        r = real.get(k, {"skate": float("nan"), "windows": 0})
        ratio = gen[k]["skate"] / r["skate"] if r["skate"] > 0 else float("nan")
        lines.append(f"| {k} | {r['windows']} | {r['skate']:.4f} | {gen[k]['windows']} | {gen[k]['skate']:.4f} | "
                     f"{ratio:.2f}x | {raw[k]['skate']:.4f} |")
    lines += ["", "By the sliding foot's speed, share of all frames (every content):", "",
              "| speed | real | generated | raw network |", "|---|---:|---:|---:|"]
    for i, band in enumerate(result["speed_bands_m_s"]):
        lines.append(f"| {band} | {real['all']['bands'][i]:.4f} | {gen['all']['bands'][i]:.4f} | "
                     f"{raw['all']['bands'][i]:.4f} |")
    lines += ["", f"Foot skate ratio as the bar measures it: {result['ratio']:.3f}x; against the real takes' "
              f"rates per content weighted by the generated set's mix: {result['ratio_same_mix']:.3f}x. "
              f"{result['seconds']:.0f} s."]
    write_record(args.out, args.name or ("skate_parts_heldout" if args.heldout else "skate_parts"), result, lines)


if __name__ == "__main__":
    main()
