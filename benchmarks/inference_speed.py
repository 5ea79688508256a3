"""Numpy generator speed: one 300-frame clip of the shipped skeleton (goal: median < 20 ms).

    python benchmarks/inference_speed.py [--model PATH] [--repeats 50]

Times the network forward alone and generate-to-Motion (forward + denormalise + decode),
beside the torch forward of the same weights when torch is installed. JSON + markdown into
benchmarks/results/.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blender_ganim.core import generator, model_file, synthesis  # noqa: E402
from blender_ganim.core import contacts, skeleton  # noqa: E402
from blender_ganim.core import rotations as rot  # noqa: E402

BEFORE = "numpy generate -> Motion as before session 54 (np.cross, FK three times in the foot lock)"
BEFORE_55 = ("numpy generate -> Motion as before session 55 (matrix to quaternion entry by entry, "
             "FK one joint at a time)")


def interleaved_ms(fns, repeats):
    """Median ms of each function, their calls taken in turn so a machine's slow spells hit all alike."""
    for fn in fns:
        fn()  # warm-up
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [statistics.median(ts) * 1000 for ts in times]


def as_before_session_54(fn):
    """``fn()`` as generation ran before session 54: numpy's own cross product in place of
    ``rotations.cross``, and the foot lock's contact detection and IK each running their own pass of
    FK instead of sharing the one the lock makes."""
    own = rot.cross, contacts.detect, contacts.lock_feet
    rot.cross = np.cross
    contacts.detect = lambda *a, global_positions=None, **k: own[1](*a, **k)
    contacts.lock_feet = lambda *a, transforms=None, **k: own[2](*a, **k)
    try:
        return fn()
    finally:
        rot.cross, contacts.detect, contacts.lock_feet = own


def _matrix_to_quat_entry_by_entry(m):
    """Shepperd's method as rotations.matrix_to_quat computed it before session 55: each candidate
    row stacked from the matrix's entries one by one (same result, to rounding)."""
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s01, s02, s12 = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    cands = np.stack([np.stack([1 + trace, d21, d02, d10], -1), np.stack([d21, 1 + m00 - m11 - m22, s01, s02], -1),
                      np.stack([d02, s01, 1 - m00 + m11 - m22, s12], -1),
                      np.stack([d10, s02, s12, 1 - m00 - m11 + m22], -1)], axis=-2)
    pick = np.argmax(np.stack([trace, m00, m11, m22], -1), axis=-1)
    q = rot.quat_normalize(np.take_along_axis(cands, pick[..., None, None], axis=-2)[..., 0, :])
    return np.where(q[..., :1] < 0.0, -q, q)


def _sixd_to_matrix_by_norms(d6, eps=1e-8):
    """rotations.sixd_to_matrix before session 55: np.linalg.norm and np.stack."""
    a, b = d6[..., :3], d6[..., 3:6]
    c0 = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), eps)
    b = b - np.sum(c0 * b, axis=-1, keepdims=True) * c0
    c1 = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), eps)
    return np.stack([c0, c1, rot.cross(c0, c1)], axis=-1)


def _one_joint_per_level(parents):
    return tuple((np.array([j]), np.array([parents[j]])) for j in range(1, len(parents)))


def as_before_session_55(fn):
    """``fn()`` with the rotation conversions and FK of before session 55 (see the two functions above;
    FK walks the joints one at a time instead of a depth at a time)."""
    own = rot.matrix_to_quat, rot.sixd_to_matrix, skeleton._levels
    rot.matrix_to_quat, rot.sixd_to_matrix = _matrix_to_quat_entry_by_entry, _sixd_to_matrix_by_norms
    skeleton._levels = _one_joint_per_level
    try:
        return fn()
    finally:
        rot.matrix_to_quat, rot.sixd_to_matrix, skeleton._levels = own


def median_ms(fn, repeats):
    return interleaved_ms([fn], repeats)[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    model = model_file.load(args.model)
    cfg = model.header["arch"]
    # Writable copies of the weights: the generator's taps are then made afresh on every call, as
    # before session 54 (a loaded model's read-only weights get them once).
    fresh = model_file.Model(header=model.header, weights={k: v.copy() for k, v in model.weights.items()},
                             path=model.path)
    cached, uncached = interleaved_ms([lambda: synthesis.run_generator(model, args.frames, 1, seed=0),
                                       lambda: synthesis.run_generator(fresh, args.frames, 1, seed=0)], args.repeats)
    generate = lambda: synthesis.generate(model, args.frames, 1, seed=0)  # noqa: E731
    rows = {
        "numpy forward": cached,
        "numpy forward, conv taps made every call (before session 54)": uncached,
    }
    rows["numpy generate -> Motion"], rows[BEFORE_55], rows[BEFORE] = interleaved_ms(
        [generate, lambda: as_before_session_55(generate),
         lambda: as_before_session_55(lambda: as_before_session_54(generate))], args.repeats)
    same = np.abs(generate()[0][0].rotations - as_before_session_55(generate)[0][0].rotations).max()
    assert same < 1e-9, f"the clip generated as before session 55 differs by {same}"  # a fair comparison
    try:
        import torch

        from trainer.models import generator_from_file
        torch.set_num_threads(2)
        G = generator_from_file(model).eval()
        rng = np.random.default_rng(0)
        noise, latent = generator.random_inputs(cfg, 1, args.frames, rng)
        ids = {k: np.zeros(1, dtype=np.int64) for k in cfg["vocab_sizes"]}
        cond = np.zeros((1, generator.cond_channels(cfg), args.frames), dtype=np.float32)
        tensors = [torch.from_numpy(a) for a in (noise, latent)]
        torch_ids = {k: torch.from_numpy(v) for k, v in ids.items()}

        def torch_forward():
            with torch.no_grad():
                return G(*tensors, torch_ids, torch.from_numpy(cond)).numpy()
        rows["torch forward (same weights, CPU)"] = median_ms(torch_forward, args.repeats)
        twin = generator.forward(model.weights, cfg, noise, latent, ids, cond)
        max_diff = float(np.abs(twin - torch_forward()).max())  # the numpy twin computes what torch does
    except ImportError:
        max_diff = None
    result = {"frames": args.frames, "repeats": args.repeats, "median_ms": rows, "numpy_torch_max_abs_diff": max_diff,
              "goal_ms": 20, "machine": f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "inference_speed.json").write_text(json.dumps(result, indent=2))
    lines = [f"# Generator inference, {args.frames} frames (median of {args.repeats})", "",
             "| what | median ms |", "|---|---:|"] + [f"| {k} | {v:.2f} |" for k, v in rows.items()]
    lines += ["", f"Goal: numpy forward under 20 ms. {result['machine']}."]
    if max_diff is not None:
        lines += [f"Numpy and torch outputs on the same inputs differ by at most {max_diff:.1e}."]
    (out / "inference_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
