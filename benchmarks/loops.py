"""Cycles: how smoothly a generated loop wraps, against repeating a free clip as it is.

    python benchmarks/loops.py [--model MODEL] [--frames 96] [--seeds 0-7] [--contents walk,run,...]
                               [--name loops]

For every content (each with one style drawn per seed, as the panel does with *Any*) and seed,
`synthesis.loop` makes a cycle of FRAMES frames, moving on and in place; beside it, in the same
run, the naive loop: a free clip of FRAMES frames with the same labels and seed, played again
from its first frame (moved on by its travel and turned to face as it did, so only the pose
jumps). Each is played
twice, and the wrap is scored with `synthesis.seam_ratio`, the largest change of joint speed
where the second cycle starts over the largest such change elsewhere in the cycle (the issue's
seam test: at most 1.5). Reports per content the median and worst ratio of each, and the share
of cycles within 1.5; and how often the feet slide in the moving-on cycle, in the same cycle
made without the foot lock on the finished cycle (as before session 52), and in the free clip.
And the moving-on cycle restyled (`synthesis.restyle`, to elderly, or youthful where it was elderly):
as a cycle (``cycle=True``, the frames around the wrap generated again) beside the plain restyle,
which draws every frame anew and leaves the wrap as it falls. Writes benchmarks/results/NAME.json and NAME.md.
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blender_ganim.core import contacts, model_file, synthesis  # noqa: E402
from quality import parse_seeds, write_record  # noqa: E402  (benchmarks/quality.py)

DEFAULT_MODEL = REPO / "blender_ganim" / "models" / "default.ganim"
CONTENTS = ("walk", "run", "wave-left-hand", "walk-turn-left", "raise-up-both-hands")
LIMIT = 1.5


def naive(clip, frames):
    """The free clip's first ``frames`` frames with its frame ``frames`` as the next cycle's first."""
    return clip.slice(0, frames + 1)


def foot_skate(model, motion):
    """Share of a clip's contact frames with a foot sliding (`contacts.skate`, the feet as the
    foot lock finds them)."""
    spec = model.header["features"]
    feet = [foot for _, _, foot in synthesis.leg_chains(model.skeleton, spec)]
    planted = contacts.detect(motion, feet, meters_per_unit=spec["meters_per_unit"])
    return contacts.skate(motion, planted, feet, meters_per_unit=spec["meters_per_unit"])


@contextlib.contextmanager
def unlocked():
    """Within the block, loops as before session 52: no foot lock on the finished cycle."""
    lock = synthesis._lock_cycle
    synthesis._lock_cycle = lambda cycle, n, spec, strength: cycle
    try:
        yield
    finally:
        synthesis._lock_cycle = lock


def measure(model, contents, frames, seeds):
    spec = model.header["features"]
    rows = {c: {"loop": [], "in_place": [], "naive": [], "skate_loop": [], "skate_before": [], "skate_free": [],
                "restyled": [], "restyled_plain": []} for c in contents}
    n = synthesis.model_frames(model, frames)
    seam = synthesis.loop_seam(model, n)
    after = seam // 2                        # a restyled cycle's frames generated after its wrap (_close_cycle)
    for content in contents:
        for seed in seeds:
            for kind in ("loop", "in_place"):
                cycle, chosen = synthesis.loop(model, frames, labels={"content": content}, seed=seed,
                                               in_place=kind == "in_place")
                rows[content][kind].append(synthesis.wrap_ratio(cycle, spec, frames - seam - 1))
                if kind == "loop":
                    rows[content]["skate_loop"].append(foot_skate(model, cycle))
                    style = {"style": "youthful" if chosen.get("style") == "elderly" else "elderly"}
                    for closed, key in ((True, "restyled"), (False, "restyled_plain")):
                        out = synthesis.restyle(model, cycle, style, seed=seed, cycle=closed)
                        rows[content][key].append(synthesis.around_wrap_ratio(out, spec, seam - after, after) if closed
                                                  else synthesis.wrap_ratio(out, spec, frames))
                    with unlocked():
                        before, _ = synthesis.loop(model, frames, labels={"content": content}, seed=seed)
                    rows[content]["skate_before"].append(foot_skate(model, before))
            (clip,), _ = synthesis.generate(model, n + 1, labels=chosen, seed=seed)
            rows[content]["naive"].append(synthesis.wrap_ratio(naive(clip, frames), spec, frames))
            rows[content]["skate_free"].append(foot_skate(model, clip))
    return rows


def summary(values):
    v = np.asarray(values)
    return {"median": float(np.median(v)), "worst": float(v.max()), "within": float(np.mean(v <= LIMIT)),
            "all": [float(x) for x in v]}


def markdown(record):
    """The record's table, as lines."""
    lines = [f"# Loops: the wrap's seam ratio (at most {LIMIT} passes)", "",
             f"Model: `{record['model']}`. {record['frames']} frames per cycle at {record['fps']:g} fps, seeds "
             f"{record['seeds'][0]}-{record['seeds'][-1]} per content (style drawn). Each cycle played twice; "
             "ratio = largest change of joint speed at the wrap / the largest elsewhere. Naive: the free clip "
             "played again from its first frame.", "",
             "| content | loop: median / worst / within | in place: median / worst / within | "
             "naive repeat: median / worst / within | restyled as a cycle: the same | restyled plainly: the same | "
             "feet sliding: loop / unlocked / free clip |",
             "|---|---|---|---|---|---|---|"]
    for content, kinds in record["results"].items():
        cells = [f"{k['median']:.2f} / {k['worst']:.2f} / {k['within']:.0%}"
                 for k in (kinds["loop"], kinds["in_place"], kinds["naive"], kinds["restyled"],
                           kinds["restyled_plain"])]
        cells.append(" / ".join(f"{kinds[k]['median']:.3f}" for k in ("skate_loop", "skate_before", "skate_free")))
        lines.append(f"| {content} | " + " | ".join(cells) + " |")
    lines += ["", "Restyled: the moving-on cycle restyled to elderly (youthful where it was elderly), as a cycle "
              "(the frames around its wrap generated again) and plainly (every frame drawn anew, the wrap left as "
              "it falls), each with the loop's seed and 8 drafts.",
              "", f"Feet sliding: the median share of a clip's contact frames with a foot moving over the ground "
              f"faster than {contacts.SKATE_M_S:g} m/s: the moving-on cycle, the same cycle without the foot lock "
              "on the finished cycle (before session 52), and the free clip of the same labels and seed (in place "
              "a walk treads on the spot, so it is not scored)."]
    return lines + ["", f"{record['seconds']:.0f} s on this machine."]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--seeds", default=parse_seeds("0-7"), type=parse_seeds, help="generation seeds, e.g. 0-7")
    ap.add_argument("--contents", default=",".join(CONTENTS))
    ap.add_argument("--name", default="loops")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    model = model_file.load(args.model)
    contents = [c for c in args.contents.split(",") if c]
    unknown = [c for c in contents if c not in model.labels.get("content", [])]
    if unknown:
        ap.error(f"the model has no content {', '.join(unknown)}")
    seeds = args.seeds
    t0 = time.time()
    rows = measure(model, contents, args.frames, seeds)
    record = {"model": Path(args.model).name, "frames": args.frames, "fps": float(model.header["fps"]),
              "seeds": seeds, "limit": LIMIT, "seconds": time.time() - t0,
              "results": {c: {k: summary(v) for k, v in kinds.items()} for c, kinds in rows.items()}}
    write_record(args.out, args.name, record, markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
