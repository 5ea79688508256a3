"""How fast is our BVH reader + FK, and how does it compare with Blender's importer?

Measures frames per second for "parse a BVH file, then compute every joint's world
position on every frame" (``bvh.read`` + ``Motion.global_positions``), which is what
loading a dataset for training or showing a clip in the add-on costs:

* the small data folders (bandai-namco-motion-ds1 and -ds2), median of a few repeats;
* with ``--full``, the whole ds2 archive, read member by member straight from the
  .tar.xz (xz decompression is timed separately, it is not the reader's cost);
* Blender's own importer (``bpy.ops.import_anim.bvh``) on a sample of the small
  files, import alone and import + evaluating the pose on every frame, beside our
  reader on the very same files, giving the speed ratio.  bpy is optional.

Usage: python benchmarks/bvh_speed.py [--full] [--out benchmarks/results] [--data DIR]
Writes bvh_speed.json and bvh_speed.md into the out folder and prints the table.
"""

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import statistics
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing

from blender_ganim.core import bvh  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
SMALL_FOLDERS = ("bandai-namco-motion-ds1", "bandai-namco-motion-ds2")
FULL_ARCHIVE = "bandai-namco-motion-ds2-full.tar.xz"


# ----------------------------------------------------------------- our reader

def parse_and_fk(files):
    """Read each file and run FK once; return (frames, parse seconds, FK seconds)."""
    frames, t_parse, t_fk = 0, 0.0, 0.0
    for path in files:
        t0 = time.perf_counter()
        motion = bvh.read(path)
        t1 = time.perf_counter()
        motion.global_positions()
        t_fk += time.perf_counter() - t1
        t_parse += t1 - t0
        frames += motion.frames
    return frames, t_parse, t_fk


def time_files(files, repeats):
    """Median-of-repeats timing of :func:`parse_and_fk` (the first pass warms the OS cache)."""
    parse_and_fk(files[:3])
    runs = [parse_and_fk(files) for _ in range(repeats)]
    totals = [p + f for _, p, f in runs]
    best = runs[totals.index(statistics.median_low(totals))]
    frames, t_parse, t_fk = best
    seconds = t_parse + t_fk
    return {"files": len(files), "frames": frames, "repeats": repeats,
            "seconds_each": [round(t, 4) for t in totals], "seconds": seconds,
            "parse_seconds": t_parse, "fk_seconds": t_fk, "fps": frames / seconds}


def time_archive(archive):
    """One streaming pass over the .tar.xz: decompression, parse and FK timed apart."""
    frames = files = 0
    t_read = t_parse = t_fk = 0.0
    start = time.perf_counter()
    with tarfile.open(archive, "r|xz") as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith(".bvh")):
                continue
            t0 = time.perf_counter()
            data = tar.extractfile(member).read()
            t1 = time.perf_counter()
            motion = bvh.read_bytes(data, path=member.name)
            t2 = time.perf_counter()
            motion.global_positions()
            t3 = time.perf_counter()
            t_read, t_parse, t_fk = t_read + t1 - t0, t_parse + t2 - t1, t_fk + t3 - t2
            frames, files = frames + motion.frames, files + 1
    wall = time.perf_counter() - start  # includes xz work done between members
    seconds = t_parse + t_fk
    return {"files": files, "frames": frames, "repeats": 1, "seconds": seconds,
            "parse_seconds": t_parse, "fk_seconds": t_fk, "fps": frames / seconds,
            "member_read_seconds": t_read, "wall_seconds": wall, "fps_with_decompression": frames / wall}


# ----------------------------------------------------------------- Blender

def load_bpy():
    """bpy if importable, else None and why (the Blender column is then not measured)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import bpy
        return bpy, None
    except Exception as e:  # ImportError, or a bpy wheel that fails to start
        return None, f"bpy not importable: {e}"


def blender_import(bpy, path):
    """Seconds for one ``import_anim.bvh`` into a fresh empty scene (the reset is not timed)."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    with contextlib.redirect_stdout(io.StringIO()):  # the importer prints per file
        t0 = time.perf_counter()
        result = bpy.ops.import_anim.bvh(filepath=str(path), global_scale=1.0, rotate_mode="NATIVE",
                                         use_fps_scale=False, update_scene_fps=False,
                                         update_scene_duration=False)
        seconds = time.perf_counter() - t0
    if result != {"FINISHED"}:
        raise RuntimeError(f"Blender could not import {path}: {result}")
    return seconds


def blender_evaluate(bpy, frames):
    """Seconds to pose the imported armature on every frame and read all joint heads.

    This is Blender's equivalent of ``global_positions()``.
    """
    scene = bpy.context.scene
    armature = next(o for o in scene.objects if o.type == "ARMATURE")
    bones = list(armature.pose.bones)
    t0 = time.perf_counter()
    for f in range(1, frames + 1):
        scene.frame_set(f)
        world = armature.matrix_world
        [tuple(world @ b.head) for b in bones]
    return time.perf_counter() - t0


def blender_pass(bpy, files, frame_counts):
    """One pass over the sample: (import seconds, evaluate seconds)."""
    t_import = t_eval = 0.0
    for path, frames in zip(files, frame_counts):
        t_import += blender_import(bpy, path)
        t_eval += blender_evaluate(bpy, frames)
    return t_import, t_eval


def time_blender(bpy, files, repeats):
    """Blender's importer on ``files``, median of repeats, with our reader on the same files."""
    ours = time_files(files, max(repeats, 10))  # tens of ms: more repeats keep the ratio stable
    frame_counts = [bvh.read(p).frames for p in files]
    frames = sum(frame_counts)
    blender_pass(bpy, files[:1], frame_counts[:1])  # warm-up: first operator call loads the add-on
    runs = [blender_pass(bpy, files, frame_counts) for _ in range(repeats)]
    t_import = statistics.median(r[0] for r in runs)
    t_eval = statistics.median(r[1] for r in runs)
    return {"measured": True, "version": bpy.app.version_string, "files": len(files),
            "sample": [Path(p).name for p in files], "frames": frames, "repeats": repeats,
            "import_seconds": t_import, "import_fps": frames / t_import, "evaluate_seconds": t_eval,
            "import_evaluate_seconds": t_import + t_eval, "import_evaluate_fps": frames / (t_import + t_eval),
            "ours_same_files": ours,
            "ratio_vs_import": ours["fps"] / (frames / t_import),
            "ratio_vs_import_evaluate": ours["fps"] / (frames / (t_import + t_eval))}


# ----------------------------------------------------------------- report

def small_files(data):
    """All BVH files of the small folders, in a stable order."""
    return [p for folder in SMALL_FOLDERS for p in sorted((data / folder).glob("*.bvh"))]


def sample(files, count):
    """``count`` files spread evenly over the list (deterministic, mixes walks, runs, ds1)."""
    idx = np.unique(np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int))
    return [files[i] for i in idx]


def environment(bpy):
    """What the figures depend on, so results from different machines are not mixed up."""
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "python": platform.python_version(), "numpy": np.__version__,
            "bpy": bpy.app.version_string if bpy else None,
            "machine": platform.machine(), "system": platform.system(),
            "processor": platform.processor() or None, "cpu_count": os.cpu_count()}


def row(label, r, seconds_key="seconds", fps_key="fps"):
    return f"| {label} | {r['files']} | {r['frames']:,} | {r[seconds_key]:.3f} | {r[fps_key]:,.0f} |"


def markdown(results):
    """The results as a markdown table plus the speed ratio."""
    lines = ["| workload | files | frames | seconds | frames/s |", "|---|---:|---:|---:|---:|"]
    small = results["small"]
    lines.append(row(f"ours: small folders, parse + FK (median of {small['repeats']})", small))
    full = results.get("full")
    if full:
        lines.append(row("ours: full ds2 archive, parse + FK", full))
        lines.append(row("ours: full ds2 archive, incl. xz decompression", full, "wall_seconds",
                         "fps_with_decompression"))
    b = results["blender"]
    if b["measured"]:
        lines.append(row(f"ours: Blender's sample, parse + FK (median of {b['ours_same_files']['repeats']})",
                         b["ours_same_files"]))
        lines.append(row(f"Blender {b['version']}: import_anim.bvh (median of {b['repeats']})", b,
                         "import_seconds", "import_fps"))
        lines.append(row(f"Blender {b['version']}: import + pose every frame", b, "import_evaluate_seconds",
                         "import_evaluate_fps"))
        lines.append("")
        lines.append(f"Speed ratio on the same {b['files']} files: ours is "
                     f"{b['ratio_vs_import']:.1f}x Blender's import alone, "
                     f"{b['ratio_vs_import_evaluate']:.1f}x import + per-frame pose evaluation.")
        lines.append(f"Blender's sample: {', '.join(b['sample'])}.")
    else:
        lines.append(f"| Blender: not measured ({b['reason']}) | | | | |")
    lines += ["", "parse + FK = `bvh.read` then `global_positions()` (all joints, all frames), files in the "
                  "OS cache; the xz row is wall time of one streaming pass over the archive. Blender's import "
                  "is the `import_anim.bvh` operator (NATIVE rotations); 'pose every frame' adds `frame_set` "
                  "and reading every pose bone's world head, the equivalent of `global_positions()`."]
    env = results["environment"]
    lines += ["", f"Python {env['python']}, numpy {env['numpy']}, {env['cpu_count']} CPUs, "
                  f"{env['system']} {env['machine']}, {env['date']}. One process."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help=f"also stream the whole {FULL_ARCHIVE}")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding the mocap data")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="where to write results")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the small-folder and Blender runs")
    ap.add_argument("--blender-files", type=int, default=12, help="files in Blender's sample")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    files = small_files(args.data)
    if not files:
        sys.exit(f"no BVH files under {args.data}/{{{','.join(SMALL_FOLDERS)}}}; pass --data")
    bpy, why_not = load_bpy()
    results = {"environment": environment(bpy), "data": os.path.relpath(args.data, REPO),
               "small": time_files(files, args.repeats)}
    if args.full:
        archive = args.data / FULL_ARCHIVE
        if not archive.is_file():
            sys.exit(f"{archive} not found")
        results["full"] = time_archive(archive)
    results["blender"] = (time_blender(bpy, sample(files, args.blender_files), args.repeats)
                          if bpy else {"measured": False, "reason": why_not})
    table = markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bvh_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "bvh_speed.md").write_text("# BVH parse + FK speed\n\n" + table)
    print(table)


if __name__ == "__main__":
    main()
