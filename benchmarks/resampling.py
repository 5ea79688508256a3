"""Changing a clip's frame rate: Catmull-Rom (today's `Motion.sample_at`) against slerp + lerp.

    python benchmarks/resampling.py [--data DATA] [--takes 60] [--model MODEL] [--seeds 0-3]
                                    [--name resampling]

Both ways run side by side on the same clips in one run; the baseline is the previous
`sample_at` (slerp local rotations, lerp translations between the two nearest frames).

1. **Real takes** (30 fps capture, the first TAKES BVH files of DATA, sorted by name):
   - *restore*: every other frame dropped (15 fps) and made again at 30 fps; the error of the
     made frames against the captured ones (RMS over joints of the global position, mm), and the
     jitter of the restored take over the captured take's (mean norm of the third difference of
     global positions; 1.0 is as smooth as the capture).
   - *24 fps and back*: the take resampled to 24 fps and back to 30; the same two figures over
     every frame.
2. **The shipped model at 60 fps** (a 60 fps game scene):
   - *generate*: a clip made at the model's 30 fps and keyed at 60 (`synthesis.generate(fps=60)`),
     one per content and seed; its jitter in m/s^3 (third difference x fps^3) over the same
     clip's at 30 fps. A smooth curve through the frames keeps it near 1.
   - *in-between*: each take resampled to 60 fps (Catmull-Rom, so every way edits the same clip)
     and frames 40-100 of it (one second) regenerated (`synthesis.inbetween`); the seam ratio
     (`synthesis.seam_ratio`, the editing issue's no-pop test, at most 1.5) of each way, of the
     way before session 52 (the baseline, without the seam blend at the clip's rate), and of
     the same take's 30 fps in-between (frames 20-50) as the reference.
Writes benchmarks/results/NAME.json and NAME.md.
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blender_ganim.core import bvh, model_file, synthesis  # noqa: E402
from blender_ganim.core import rotations as rot  # noqa: E402
from blender_ganim.core.motion import Motion  # noqa: E402
from quality import parse_seeds, write_record  # noqa: E402  (benchmarks/quality.py)

DEFAULT_MODEL = REPO / "blender_ganim" / "models" / "default.ganim"
SHARED = REPO.parent / "shared" / "data" / "bandai-namco-motion-ds2"
DEFAULT_DATA = SHARED if SHARED.is_dir() else REPO / "data" / "sample"
SEAM_LIMIT = 1.5


def linear_sample_at(self, times, fps=None):
    """The previous Motion.sample_at: slerp rotations, lerp translations."""
    t = np.clip(np.asarray(times, dtype=np.float64), 0.0, self.frames - 1)
    i0 = np.floor(t).astype(int)
    i1 = np.minimum(i0 + 1, self.frames - 1)
    w = (t - i0)[:, None]
    q = rot.quat_unroll(self.rotations)
    rotations = rot.quat_slerp(q[i0], q[i1], np.broadcast_to(w, q[i0].shape[:-1]))
    positions = self.positions[i0] * (1 - w[..., None]) + self.positions[i1] * w[..., None]
    return self.copy(rotations=rotations, positions=positions, fps=float(fps or self.fps))


@contextlib.contextmanager
def way(name):
    """Within the block, resample as ``name``: 'cubic' as shipped, 'linear' with the baseline's
    sample_at, 'before' as before session 52 (the baseline, and no seam blend at the clip's rate)."""
    sample_at, reblend = Motion.sample_at, synthesis._reblend
    if name in ("linear", "before"):
        Motion.sample_at = linear_sample_at
    if name == "before":
        synthesis._reblend = lambda m, kept, rate: m
    try:
        yield
    finally:
        Motion.sample_at, synthesis._reblend = sample_at, reblend


def jitter(g, fps):
    """Mean norm of the third time difference of global positions, x fps^3."""
    return float(np.linalg.norm(np.diff(g, 3, axis=0), axis=-1).mean() * fps ** 3)


def rms_mm(a, b, mpu):
    return float(np.sqrt(((a - b) ** 2).sum(-1).mean()) * mpu * 1000)


def real_takes(takes, mpu):
    """Restore and 24-fps round trip figures per take, for both ways."""
    rows = {w: {"restore_mm": [], "restore_jitter": [], "round_trip_mm": [], "round_trip_jitter": []}
            for w in ("cubic", "linear")}
    for m in takes:
        g = m.global_positions()
        half = m.copy(rotations=m.rotations[::2], positions=m.positions[::2], fps=m.fps / 2)
        n = 2 * (half.frames - 1) + 1                      # the frames the kept ones span
        for w in rows:
            with way(w):
                back = half.resample(m.fps, frames=n)
                trip = m.resample(24.0).resample(m.fps)
            gb, gt = back.global_positions(), trip.global_positions()
            rows[w]["restore_mm"].append(rms_mm(gb[1::2], g[1:n:2], mpu))
            rows[w]["restore_jitter"].append(jitter(gb, m.fps) / jitter(g[:n], m.fps))
            k = trip.frames
            rows[w]["round_trip_mm"].append(rms_mm(gt, g[:k], mpu))
            rows[w]["round_trip_jitter"].append(jitter(gt, m.fps) / jitter(g[:k], m.fps))
    return rows


def generated(model, seeds, mpu, frames=120, fps=60.0):
    """Jitter at 60 fps over jitter at the model's rate, per content and seed, for both ways."""
    rows = {"cubic": [], "linear": []}
    for content in model.labels["content"]:
        for seed in seeds:
            (clip,), _ = synthesis.generate(model, frames, labels={"content": content}, seed=seed)
            base = jitter(clip.global_positions() * mpu, clip.fps)
            for w in rows:
                with way(w):
                    fast = clip.resample(fps)
                rows[w].append(jitter(fast.global_positions() * mpu, fps) / base)
    return rows


def inbetweens(model, takes, fps=60.0):
    """Seam ratios of a one-second in-between at 60 fps (both ways) and at the take's own rate."""
    rows = {"cubic": [], "linear": [], "before": [], "own_rate": []}
    for m in takes:
        if m.frames < 60:
            continue
        own = synthesis.inbetween(model, m, 20, 50, seed=0)
        kept = np.ones(m.frames, dtype=bool)
        kept[20:50] = False
        rows["own_rate"].append(synthesis.seam_ratio(own, kept))
        fast = m.resample(fps)
        kept = np.ones(fast.frames, dtype=bool)
        kept[40:100] = False
        for w in ("cubic", "linear", "before"):
            with way(w):
                out = synthesis.inbetween(model, fast, 40, 100, seed=0)
            rows[w].append(synthesis.seam_ratio(out, kept))
    return rows


def stats(values, limit=None):
    v = np.asarray(values, dtype=np.float64)
    out = {"median": float(np.median(v)), "p90": float(np.percentile(v, 90)), "n": int(len(v))}
    if limit is not None:
        out["within"] = float(np.mean(v <= limit))
    return out


def markdown(r):
    real, gen, inb = r["real"], r["generate_60fps"], r["inbetween_60fps"]
    lines = ["# Changing a clip's frame rate: Catmull-Rom against slerp + lerp", "",
             f"Real takes: {r['takes']} BVH files of `{r['data']}` (30 fps). Model: `{r['model']}`, seeds "
             f"{r['seeds'][0]}-{r['seeds'][-1]}. Medians (90th percentile); both ways side by side in one run.", "",
             "| figure | Catmull-Rom (shipped) | slerp + lerp | ratio |", "|---|---:|---:|---:|"]

    def row(label, a, b, unit=""):
        lines.append(f"| {label} | {a['median']:.3g}{unit} ({a['p90']:.3g}) | {b['median']:.3g}{unit} ({b['p90']:.3g}) "
                     f"| {a['median'] / max(b['median'], 1e-12):.2f}x |")

    for key, label, unit in (("restore_mm", "restore 15 -> 30 fps: error of the made frames", " mm"),
                             ("restore_jitter", "restore 15 -> 30 fps: jitter / capture's", ""),
                             ("round_trip_mm", "30 -> 24 -> 30 fps: error", " mm"),
                             ("round_trip_jitter", "30 -> 24 -> 30 fps: jitter / capture's", "")):
        row(label, real["cubic"][key], real["linear"][key], unit)
    row("generated, keyed at 60 fps: jitter / at 30 fps", gen["cubic"], gen["linear"])
    row("in-between at 60 fps: seam ratio", inb["cubic"], inb["linear"])
    lines.append(f"| in-between at 60 fps: seams within {SEAM_LIMIT} | {inb['cubic']['within']:.0%} | "
                 f"{inb['linear']['within']:.0%} | |")
    b = inb["before"]
    lines += ["", f"Before session 52 (slerp + lerp, seams blended only at the model's rate) the in-between at 60 fps "
              f"read seam ratio {b['median']:.3g} ({b['p90']:.3g}), {b['within']:.0%} within {SEAM_LIMIT}.",
              "", f"The same takes' in-between at 30 fps (the model's rate, no resampling): seam ratio "
              f"{inb['own_rate']['median']:.3g} ({inb['own_rate']['p90']:.3g}), {inb['own_rate']['within']:.0%} "
              f"within {SEAM_LIMIT}.", "", f"{r['seconds']:.0f} s on this machine."]
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="a folder of 30 fps BVH takes of the model's skeleton")
    ap.add_argument("--takes", type=int, default=60, help="how many takes (the first, by name)")
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--seeds", default=parse_seeds("0-3"), type=parse_seeds, help="generation seeds, e.g. 0-3")
    ap.add_argument("--name", default="resampling")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    files = sorted(Path(args.data).glob("*.bvh"))[:args.takes]
    if not files:
        ap.error(f"no BVH files in {args.data}")
    model = model_file.load(args.model)
    takes = [bvh.read(f) for f in files]
    mpu = model.header["features"]["meters_per_unit"]
    t0 = time.time()
    real = real_takes(takes, mpu)
    record = {"data": str(Path(args.data).name), "takes": len(takes), "model": Path(args.model).name,
              "seeds": args.seeds,
              "real": {w: {k: stats(v) for k, v in rows.items()} for w, rows in real.items()},
              "generate_60fps": {w: stats(v) for w, v in generated(model, args.seeds, mpu).items()},
              "inbetween_60fps": {w: stats(v, SEAM_LIMIT) for w, v in inbetweens(model, takes).items()}}
    record["seconds"] = time.time() - t0
    write_record(args.out, args.name, record, markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
