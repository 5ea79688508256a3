"""Can the diversity term's target be reached? Spread of two draws per row, free and along a given path.

    python benchmarks/spread.py runs/d3 runs/t0 [--steps 2000 4000 6000 8000] [--data DATA] [--name spread]

The term (trainer/diversity.py) pushes two draws with the same labels apart until their mean
L1 distance (normalised features, 8-frame moving average) reaches that of two real takes with
the same labels. For each snapshot this draws 256 training windows' labels twice with other
noise, once freely and once along the windows' own root path, and reports both spreads beside
the target and the share of rows whose hinge is still active (spread below the target). A row
type whose spread stays far below the target keeps the hinge pushing for the whole run. The free
draws are measured in joint space too (``--diversity-space joints``: joint positions and
velocities, scaled so that real same-label takes are as far apart as in feature space), where a
channel that barely moves a joint counts for little.
Writes benchmarks/results/NAME.json + NAME.md.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

import torch  # noqa: E402

from blender_ganim.core import model_file  # noqa: E402
from blender_ganim.core.generator import noise_length  # noqa: E402
from trainer import data as data_mod  # noqa: E402
from trainer.diversity import joint_space, pair_spread, pairs_spread, same_label_windows  # noqa: E402
from trainer.fk import PoseFK  # noqa: E402
from trainer.models import generator_from_file, make_cond  # noqa: E402
from trainer.select import find_snapshots, run_name  # noqa: E402

ROWS = 256


def draw_spread(G, arch, labels, real, along_path, seed=0, space=lambda x: x):
    """Per-row spread of two draws with the same labels (and the same root path when asked), in ``space``."""
    torch.manual_seed(seed)
    n, frames = real.shape[0], real.shape[2]
    traj_mask = torch.full((n, 1, frames), float(along_path))
    cond = make_cond(arch, traj=real[:, arch["traj"]], traj_mask=traj_mask, batch=n, frames=frames)
    length = noise_length(frames, arch["noise_stride"])
    with torch.no_grad():
        a, b = (G(torch.randn(n, arch["noise"], length), torch.randn(n, arch["latent"]), labels, cond)
                for _ in range(2))
        return pair_spread(space(a), space(b)).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run folders (their snapshots) or .ganim files")
    ap.add_argument("--steps", nargs="*", type=int, help="only these snapshot steps")
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--name", default="spread")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    from quality import default_data  # benchmarks/quality.py
    torch.set_num_threads(1)
    t0 = time.time()
    snapshots = [(step, path) for step, path in find_snapshots(args.runs) if not args.steps or step in args.steps]
    first = model_file.load(snapshots[0][1])
    training = first.header["training"]
    window = training.get("window", 64)
    ds = data_mod.load_dataset(args.data or default_data(), window=window, log=lambda m: None)
    train_ds = data_mod.subset(ds, {n.split("#")[0] for n in ds.names} - set(training["validation_takes"]))
    sampler = data_mod.WindowSampler(train_ds, window, seed=5)
    real_pairs = same_label_windows(train_ds.clips, sampler.label_ids, window)
    target = pairs_spread(real_pairs, train_ds.std)
    windows, label_ids = sampler.sample(ROWS)
    real = torch.from_numpy(windows).transpose(1, 2)
    labels = {k: torch.from_numpy(v) for k, v in label_ids.items()}
    rows = []
    for step, path in snapshots:
        model = model_file.load(path)
        G = generator_from_file(model).eval()
        norm = {k: np.asarray(v, dtype=np.float32) for k, v in model.header["norm"].items()}
        fk = PoseFK(ds.skeleton, ds.spec, norm["mean"], norm["std"], ds.fps)
        joints = joint_space(fk, real_pairs, norm["mean"], norm["std"])
        row = {"run": run_name(path), "step": step}
        for kind, along, space in (("free", False, lambda x: x), ("path", True, lambda x: x), ("free_joints", False, joints)):
            spread = draw_spread(G, model.header["arch"], labels, real, along, space=space)
            row[kind] = float(spread.mean())
            row[f"{kind}_active"] = float(np.mean(spread < target))
        rows.append(row)
        print(f"{row['run']} {step}: free {row['free']:.3f} ({row['free_active']:.0%} active), "
              f"in joint space {row['free_joints']:.3f} ({row['free_joints_active']:.0%}), "
              f"path {row['path']:.3f} ({row['path_active']:.0%} active), target {target:.3f}", file=sys.stderr)
    result = {"target": target, "rows_per_snapshot": ROWS, "rows": rows, "seconds": round(time.time() - t0, 1)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2))
    lines = [f"# Spread of two draws with the same labels (target: real takes' {target:.3f})", "",
             "| run | step | free | hinge active | free, joint space | hinge active | along a given path | hinge active |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['run']} | {r['step']} | {r['free']:.3f} | {r['free_active']:.0%} | {r['free_joints']:.3f} | "
              f"{r['free_joints_active']:.0%} | {r['path']:.3f} | {r['path_active']:.0%} |" for r in rows]
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / args.name}.json/.md", file=sys.stderr)


if __name__ == "__main__":
    main()
