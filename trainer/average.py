"""`ganim average`: one model whose weights are the mean of several snapshots' weights.

Why: a GAN's generator wanders around its best point late in a run; the mean of nearby snapshots
can sit nearer the middle of that wander (Yazici et al. 2019, "The unusual effectiveness of averaging
in GAN training"). The trainer's EMA does this over ~1,000 steps; this does it over any stretch after
the fact. Measured on a rerun of the shipped recipe it did not beat the best snapshot (docs/experiments.md).
Only models that can be averaged are: same skeleton, features, normalisation, labels and network.
"""

from pathlib import Path

import numpy as np

from blender_ganim.core import model_file

from .select import run_name

# Header fields that must agree for a weight average to mean anything.
MUST_MATCH = ("skeleton", "fps", "features", "norm", "labels", "arch")


def _steps(model):
    return (model.header.get("training") or {}).get("steps", 0)


def _source(model):
    """Where an averaged file came from: its name, its run (as `ganim select` names it) and its digest,
    so that an average of model_0001000.ganim from five runs still says which five."""
    return {"file": Path(model.path).name, "run": run_name(model.path), "steps": _steps(model),
            "sha256": model.header.get("sha256")}


def average_models(models):
    """(header, weights) of the uniform mean of `models` (model_file.Model objects, at least two)."""
    if len(models) < 2:
        raise ValueError("averaging needs at least two model files")
    first = models[0]
    for m in models[1:]:
        for key in MUST_MATCH:
            if m.header.get(key) != first.header.get(key):
                raise ValueError(f"cannot average {m.path} with {first.path}: they differ in {key} "
                                 "(only snapshots of one run, or runs of one configuration on one data set, "
                                 "can be averaged)")
        if set(m.weights) != set(first.weights):
            extra = sorted(set(m.weights) ^ set(first.weights))
            raise ValueError(f"cannot average {m.path} with {first.path}: weights differ ({', '.join(extra[:3])})")
        for name, w in m.weights.items():
            if w.shape != first.weights[name].shape:
                raise ValueError(f"cannot average {m.path} with {first.path}: weight {name} is "
                                 f"{w.shape} against {first.weights[name].shape}")
    weights = {}
    for name, w in first.weights.items():
        stack = np.stack([m.weights[name].astype(np.float64) for m in models])
        weights[name] = stack.mean(axis=0).astype(w.dtype)
    newest = max(models, key=_steps)
    header = {k: v for k, v in newest.header.items() if k != "sha256"}
    training = dict(header.get("training") or {})
    training["averaged"] = [_source(m) for m in models]
    header["training"] = training
    return header, weights


def add_parser(sub):
    s = sub.add_parser(
        "average", help="average the weights of several snapshots into one model",
        description="Write OUT.ganim whose weights are the uniform mean of the given .ganim files' weights "
                    "(for example a run's snapshots over its best stretch: runs/x/snapshots/"
                    "model_00{110..130..5}00.ganim). The files must share skeleton, features, "
                    "normalisation, labels and network; the header is the newest file's, with the "
                    "averaged files listed under training.averaged. Score the result with `ganim select`.")
    s.add_argument("models", nargs="+", metavar="MODEL", help=".ganim files to average (two or more)")
    s.add_argument("--out", required=True, metavar="OUT.ganim")
    s.set_defaults(func=cmd_average)


def cmd_average(args):
    from .cli import refuse_overwriting
    out = Path(args.out)
    refuse_overwriting(out, args.models)
    models = [model_file.load(p) for p in args.models]
    header, weights = average_models(models)
    model_file.save(out, header, weights)
    print(f"averaged {len(models)} models -> {out}")
