"""How long does Generate Motion take for one 300-frame clip, and what does bulk keying save?

Measures, on the shipped model's skeleton (an armature built by the add-on):

* generation: ``synthesis.generate`` (numpy generator + decoding to a Motion);
* keying: ``actions.write_action`` (pose conversion + ``keyframe_points.add`` +
  ``foreach_set``), the add-on's path;
* their sum, median over ``--repeats`` runs (goal: under 30 ms);
* the same clip keyed again, in the same run, with linear keys (before session 52 they were linear;
  Bezier keys are smooth between frames, for NLA time scaling and motion blur), and with the Bezier
  keys' interpolation and handle types set in bulk on every key, as before session 55 (since then they
  are left as ``keyframe_points.add`` makes them, which is the same);
* beside it, the same clip keyed the common way, one ``keyframe_insert`` per frame per
  bone (rotation_quaternion, plus location where write_action keys it), with the same
  pose conversion; the ratio of the two keying times.

numpy's BLAS thread count matters for the generator's small matmuls on a busy machine
(threads spin against other processes): it is recorded, and ``--blas-threads N`` sets
it before numpy loads.

Usage: python benchmarks/keying_speed.py [--repeats 20] [--frames 300] [--out benchmarks/results]
Needs the bpy wheel. Writes keying_speed.json and keying_speed.md and prints the table.
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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing

BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=20, help="runs of generate + write_action")
    ap.add_argument("--insert-repeats", type=int, default=3, help="runs of the keyframe_insert comparison")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--model", type=Path, default=REPO / "blender_ganim" / "models" / "default.ganim")
    ap.add_argument("--blas-threads", type=int, help="set the BLAS thread count before numpy loads")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="where to write results")
    return ap.parse_args(argv)


def ms(seconds):
    return round(1000.0 * seconds, 3)


@contextlib.contextmanager
def types_set_in_bulk():
    """Within the block write_action sets every key's interpolation and handle types, as before session 55."""
    from blender_ganim.blender import actions
    made_smooth = actions._make_smooth

    def always(points):
        points[0].interpolation = "LINEAR"   # so the check finds the first key unlike the rest, and sets all
        made_smooth(points)

    actions._make_smooth = always
    try:
        yield
    finally:
        actions._make_smooth = made_smooth


@contextlib.contextmanager
def linear_keys():
    """Within the block write_action keys as before session 52 (linear keys)."""
    from blender_ganim.blender import actions
    actions.SMOOTH_KEYS = False
    try:
        yield
    finally:
        actions.SMOOTH_KEYS = True


def time_generate_and_key(model, obj, frames, repeats):
    """Per run: generation, keying and total seconds, and the same clip keyed again with linear keys
    (as before session 52) and with the key types set in bulk (as before session 55); 2 warm-up runs not
    counted; keys per clip."""
    from blender_ganim.blender import actions
    from blender_ganim.core import synthesis
    import bpy
    runs, keys = [], 0
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        motion = synthesis.generate(model, frames, seed=i)[0][0]
        t1 = time.perf_counter()
        action = actions.write_action(obj, motion, "bench")
        t2 = time.perf_counter()
        keys = sum(len(fc.keyframe_points) for fc in actions._fcurve_collection(action, obj)[0].fcurves)
        bpy.data.actions.remove(action)
        with linear_keys():
            t3 = time.perf_counter()
            action = actions.write_action(obj, motion, "bench_linear")
            t4 = time.perf_counter()
        bpy.data.actions.remove(action)
        with types_set_in_bulk():
            t5 = time.perf_counter()
            action = actions.write_action(obj, motion, "bench_bulk")
            t6 = time.perf_counter()
        bpy.data.actions.remove(action)
        if i >= 2:
            runs.append((t1 - t0, t2 - t1, t2 - t0, t4 - t3, t6 - t5))
    return runs, keys


def key_with_insert(obj, motion, name):
    """The same keys as write_action, one keyframe_insert per frame per channel."""
    from blender_ganim.blender import actions, armature
    import bpy
    names = motion.skeleton.names
    quats, locs = actions.motion_to_pose(motion.rotations, motion.positions, actions._rest(obj, motion.skeleton),
                                         armature.armature_scale(obj))
    moved = actions._translated_joints(motion)
    ad = obj.animation_data or obj.animation_data_create()
    ad.action = bpy.data.actions.new(name)
    bones = [obj.pose.bones[n] for n in names]
    for pb in bones:
        pb.rotation_mode = "QUATERNION"
    for t in range(motion.frames):
        frame = 1 + t
        for j, pb in enumerate(bones):
            pb.rotation_quaternion = quats[t, j]
            pb.keyframe_insert("rotation_quaternion", frame=frame, group=pb.name)
            if moved[j]:
                pb.location = locs[t, j]
                pb.keyframe_insert("location", frame=frame, group=pb.name)
    return ad.action


def time_insert(model, obj, frames, repeats):
    """keyframe_insert keying seconds per run, and the largest joint error vs the motion (m)."""
    from blender_ganim.blender import armature
    from blender_ganim.core import synthesis
    import bpy
    import numpy as np
    motion = synthesis.generate(model, frames, seed=0)[0][0]
    seconds, error = [], None
    for i in range(repeats):
        t0 = time.perf_counter()
        action = key_with_insert(obj, motion, "insert")
        seconds.append(time.perf_counter() - t0)
        if i == 0:   # the comparison is only fair if it keys the same pose
            mid = frames // 2
            bpy.context.scene.frame_set(1 + mid)
            got = np.array([tuple(obj.matrix_world @ obj.pose.bones[n].head) for n in motion.skeleton.names])
            want = armature.to_blender(motion.global_positions()[mid], armature.armature_scale(obj))
            error = float(np.abs(got - want).max())
        obj.animation_data.action = None
        bpy.data.actions.remove(action)
    return seconds, error


def environment(bpy, np):
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "python": platform.python_version(), "numpy": np.__version__, "bpy": bpy.app.version_string,
            "machine": platform.machine(), "system": platform.system(), "cpu_count": os.cpu_count(),
            "load_average": [round(x, 2) for x in load] if load else None,
            "blas_threads": {k: os.environ[k] for k in BLAS_VARS if k in os.environ}}


def markdown(r):
    g = r["generate_and_key"]
    ins = r["keyframe_insert"]
    lines = [f"One {r['frames']}-frame clip on the shipped skeleton ({r['bones']} bones, {r['keys']:,} keys), "
             f"Blender {r['environment']['bpy']}.", "",
             "| step | median ms | min ms | max ms | runs |", "|---|---:|---:|---:|---:|"]
    for key, label in (("generate_ms", "generate (numpy generator + decode)"),
                       ("key_ms", "key: write_action (foreach_set, Bezier keys)"),
                       ("total_ms", "**generate + key**"),
                       ("key_linear_ms", "key: the same clip with linear keys (before session 52)"),
                       ("key_bulk_types_ms", "key: Bezier keys with their types set in bulk (before session 55)")):
        s = g[key]
        lines.append(f"| {label} | {s['median']:.1f} | {s['min']:.1f} | {s['max']:.1f} | {g['runs']} |")
    s = ins["key_ms"]
    lines.append(f"| key: one keyframe_insert per frame per bone | {s['median']:.1f} | {s['min']:.1f} | "
                 f"{s['max']:.1f} | {ins['runs']} |")
    verdict = "meets" if g["total_ms"]["median"] < r["goal_ms"] else "misses"
    env = r["environment"]
    lines += ["", f"Bulk keying is **{r['keying_ratio']:.0f}x** faster than keyframe_insert "
                  f"(median keying times). Generate + key median {g['total_ms']['median']:.1f} ms "
                  f"{verdict} the {r['goal_ms']} ms goal.",
              f"Bezier keys cost {g['key_ms']['median'] / g['key_linear_ms']['median']:.2f}x the keying time of "
              f"linear ones, alternating in the same runs; left as keyframe_points.add makes them they key in "
              f"{g['key_ms']['median'] / g['key_bulk_types_ms']['median']:.2f}x the time of setting their types in bulk.",
              f"keyframe_insert keyed the same pose (largest joint error at the middle frame "
              f"{ins['max_joint_error_m']:.1e} m).", "",
              f"Python {env['python']}, numpy {env['numpy']}, {env['cpu_count']} CPUs "
              f"(load average {env['load_average']}), BLAS threads {env['blas_threads'] or 'default'}, "
              f"{env['system']} {env['machine']}, {env['date']}."]
    return "\n".join(lines) + "\n"


def stats(values):
    v = [ms(x) for x in values]
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v}


def main(argv=None):
    args = parse_args(argv)
    if args.blas_threads:
        for var in BLAS_VARS:
            os.environ[var] = str(args.blas_threads)
    import numpy as np
    with contextlib.redirect_stdout(io.StringIO()):
        import bpy
    from blender_ganim.blender import generate

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    model = generate.load_model(args.model)
    obj = generate.create_armature(model)
    runs, keys = time_generate_and_key(model, obj, args.frames, args.repeats)
    insert_seconds, error = time_insert(model, obj, args.frames, args.insert_repeats)

    bones = len(model.skeleton)
    results = {"frames": args.frames, "bones": bones, "keys": keys, "goal_ms": 30,
               "model": os.path.relpath(args.model, REPO),
               "generate_and_key": {"runs": len(runs), "generate_ms": stats([r[0] for r in runs]),
                                    "key_ms": stats([r[1] for r in runs]), "total_ms": stats([r[2] for r in runs]),
                                    "key_linear_ms": stats([r[3] for r in runs]),
                                    "key_bulk_types_ms": stats([r[4] for r in runs])},
               "keyframe_insert": {"runs": len(insert_seconds), "key_ms": stats(insert_seconds),
                                   "max_joint_error_m": error},
               "environment": environment(bpy, np)}
    results["keying_ratio"] = (results["keyframe_insert"]["key_ms"]["median"]
                               / results["generate_and_key"]["key_ms"]["median"])
    table = markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "keying_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "keying_speed.md").write_text("# Generate + key speed\n\n" + table)
    print(table)


if __name__ == "__main__":
    main()
