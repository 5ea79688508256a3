"""The training loop: hinge GAN + lazy R1, masked reconstruction, EMA generator, AMP, data parallel.

Reads top to bottom: set-up, data, models, (resume), loop, export. Run it as
`ganim train ...` or, on several GPUs (or several CPU processes with gloo),
`torchrun --nproc_per_node N -m trainer.cli train ...`.
"""

import contextlib
import copy
import errno
import json
import math
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from blender_ganim.core import labeler, model_file, synthesis
from blender_ganim.core.atomic import temporary_beside
from blender_ganim.core.generator import noise_length

from . import data as data_mod
from . import foot_slide, label_energy, long_draws, lowpass
from .diversity import (diversity_loss, joint_space, nearest_draw_loss, nearest_of_loss, pairs_spread, same_label_windows,
                        unconditioned_rows)
from .evaluate import takes_left_out
from .fk import VEL_SCALE, PoseFK
from .labels import label_difference, label_frames, labeler_weights
from .models import (Discriminator, Generator, count_params, gen_config, generator_from_weights, label_loss,
                     generator_weights, make_cond, mismatched_labels)

LICENCE_NOTE = ("Trained on the Bandai Namco Research Motion Dataset (CC BY-NC 4.0, "
                "(c) 2022 Bandai Namco Research Inc.; Kobayashi et al., arXiv:2306.08861): "
                "non-commercial use only; the model inherits that licence.")


class TrainError(RuntimeError):
    pass


HIGH_FPS = 60  # above this, say that --fps would train on longer stretches of motion, faster


DEFAULTS = dict(steps=20000, batch=32, window=64, window_max=None, free_length=None, init=None, d_warmup=0,
                lr_g=2e-4, lr_d=None, r1=2.0, r1_every=4,
                rec_weight=10.0, gap_weight=5.0, ema=0.999, hidden=128, ckpt_every=500, snapshot_every=0,
                seed=0, split_seed=0, lr_decay_after=0, val_fraction=0.05, select_fraction=0.0, free_prob=0.5, traj_prob=0.3, d_norm="none",
                d_fk=True, d_fk_vel_scale=VEL_SCALE, d_time_std=False, d_batch_std=False, d_wide=False, label_weight=0.0, diversity=2.0, diversity_target=1.0, diversity_on_paths=True, diversity_space="features",
                nearest_draw=0.0, nearest_of=2, balance_labels=False, foot_weight=0.0, foot_fast=foot_slide.FAST_M_S,
                energy_weight=0.0, mismatch_weight=0.0, joint_labels=False, fps=None, train_smooth=0.0)


# What a checkpoint written before a fingerprint key existed was trained with: the key's default,
# except the FK critic, on by default since but off before it existed.
OLDER_RUNS = {**{k: DEFAULTS[k] for k in ("d_fk_vel_scale", "d_time_std", "d_batch_std", "d_wide", "window_max",
                                          "free_length", "init", "label_weight", "balance_labels", "select_fraction",
                                          "foot_weight", "foot_fast", "energy_weight", "mismatch_weight",
                                          "joint_labels", "diversity_space", "fps", "train_smooth")},
              "d_fk": False}


# ------------------------------------------------------------------ set-up

def setup_distributed(device_arg):
    """(rank, world, device); initialises a process group when launched by torchrun."""
    if device_arg == "auto":
        device_arg = "cuda" if torch.cuda.is_available() else "cpu"
    if device_arg == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda asked for, but torch sees no GPU here")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("nccl" if device_arg == "cuda" else "gloo")
    device = torch.device(device_arg, int(os.environ.get("LOCAL_RANK", "0"))) if device_arg == "cuda" \
        else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return rank, world, device


def config_fingerprint(cfg, ds):
    """What must match for --resume to make sense: data, labels, architecture, window."""
    keys = ("window", "window_max", "free_length", "init", "hidden", "condition", "val_fraction", "seed", "split_seed", "d_norm", "d_fk", "d_fk_vel_scale", "d_time_std", "d_batch_std", "d_wide",
            "label_weight", "balance_labels", "select_fraction", "foot_weight", "foot_fast", "energy_weight",
            "mismatch_weight", "joint_labels", "diversity_space", "fps", "train_smooth")
    body = {k: cfg[k] for k in keys}
    body["data"] = sorted(ds.names)
    body["vocab"] = ds.vocab
    body["channels"] = ds.spec["channels"]
    body["rate"] = float(ds.fps)  # the rate trained at, so --fps 30 on 30 fps data resumes a run without it
    # Each take's length and labels: a take edited, trimmed or relabelled under the same name changes what
    # the run learns from. Not the bytes: a run moved to another machine would differ in the last bits.
    body["takes"] = {n: "|".join([str(len(c))] + [ds.labels[k][i] for k in sorted(ds.labels)])
                     for i, (n, c) in enumerate(zip(ds.names, ds.clips))}
    return body


def fingerprint_difference(saved, wanted):
    """Why a run cannot resume, one phrase per setting that differs (empty when it can). A run from
    before ``rate`` and ``takes`` were recorded is compared on what it recorded."""
    saved = {**OLDER_RUNS, "split_seed": saved["seed"], **saved}
    if "rate" in saved:  # the rate decides; --fps given or not is the same run at the data's own rate
        saved, wanted = ({k: v for k, v in d.items() if k != "fps"} for d in (saved, wanted))
    else:
        wanted = {k: v for k, v in wanted.items() if k not in ("rate", "takes")}
    said = []
    for k in sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k)):
        then, now = saved.get(k), wanted.get(k)
        if k == "data":
            gone, new = sorted(set(then) - set(now)), sorted(set(now) - set(then))
            said.append(f"training takes: {len(gone)} gone ({', '.join(gone[:2]) or '-'}), "
                        f"{len(new)} new ({', '.join(new[:2]) or '-'})")
        elif k == "takes":
            changed = sorted(n for n in set(then) & set(now) if then[n] != now[n])
            if changed:  # takes added or gone are said under "data"
                n = changed[0]
                said.append(f"{len(changed)} take(s) changed length or labels under the same name ({n}: "
                            f"{_take_text(then[n])} in the run, {_take_text(now[n])} now)")
        else:
            said.append(f"{k}: {then!r} in the run, {now!r} now")
    return said


def _take_text(record):
    frames, *labels = record.split("|")
    return ", ".join([f"{frames} frames"] + labels)


def atomic_torch_save(obj, path):
    """Write beside the target, fsync, rename: a failed write (full disk) keeps the old file."""
    with temporary_beside(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def sync_grads(module, world):
    """Average gradients over processes (data parallelism, as DDP does).

    Done by hand because a GAN step breaks DDP's one-forward-one-backward contract
    (real and fake passes through D, R1's double backward).
    """
    if world <= 1:
        return
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


# ------------------------------------------------------------------ masks

def sample_masks(batch, frames, channels, traj_channels, free_prob, traj_prob, gen):
    """Random editing tasks: free generation, in-betweening, prefix, suffix, sparse keys, spans."""
    mask = torch.zeros(batch, 1, frames)
    traj_mask = torch.zeros(batch, 1, frames)
    kind = torch.randint(0, 5, (batch,), generator=gen)
    free = torch.rand(batch, generator=gen) < free_prob
    for b in range(batch):
        if free[b]:
            continue
        k = int(kind[b])
        a = int(torch.randint(2, frames // 3, (1,), generator=gen))
        c = int(torch.randint(2 * frames // 3, frames - 2, (1,), generator=gen))
        if k == 0:      # in-betweening: context before and after, gaps of every length
            gap = int(torch.randint(1, frames - 2, (1,), generator=gen))
            a = int(torch.randint(1, frames - gap, (1,), generator=gen))
            mask[b, :, :a] = 1
            mask[b, :, a + gap:] = 1
        elif k == 1:    # continue a clip
            mask[b, :, :a] = 1
        elif k == 2:    # lead into a clip
            mask[b, :, c:] = 1
        elif k == 3:    # sparse keyframes
            n = int(torch.randint(2, 6, (1,), generator=gen))
            mask[b, :, torch.randperm(frames, generator=gen)[:n]] = 1
        else:           # regenerate a span, keep the rest
            mask[b] = 1
            mask[b, :, a:c] = 0
    traj_on = torch.rand(batch, generator=gen) < traj_prob
    traj_mask[traj_on] = 1
    return mask, traj_mask


def composite(fake, real, mask):
    """What the editing tools output: known frames kept, generated ones between.

    The critic judges this, so generated frames must meet the kept ones without a seam.
    """
    return fake * (1 - mask) + real * mask


def lr_at(step, base, cfg):
    """Constant, then (from --lr-decay-after) a cosine down to a tenth at the last step.

    Tried against the drift of full-set runs past their peak, it did not stop it (runs/d5:
    FD 1.51x at 6,000 steps, 5.63x at 9,000 with the rate at a tenth; README), so it is off
    by default; it remains for runs that settle.
    """
    start, end = cfg["lr_decay_after"], cfg["steps"]
    if not start or step <= start or end <= start:
        return base
    progress = min(1.0, (step - start) / (end - start))
    return base * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def set_lr(opt, lr):
    for group in opt.param_groups:
        group["lr"] = lr


# ------------------------------------------------------------------ export

def export_model(path, G_ema, ds, cfg, arch, step, wall, device, val_names, extra_weights=None, selection_names=(),
                 sampling=None):
    """Write the EMA generator as a .ganim model. ``sampling``: the settings it generates with (a
    fine-tune keeps its base model's, tuned for weights it starts from; `ganim sampling` re-tunes)."""
    freq = {k: np.bincount(ds.label_ids(k), minlength=len(v)).tolist() for k, v in ds.vocab.items()}
    header = {
        "skeleton": ds.skeleton.to_dict(),
        "fps": ds.fps,
        "features": ds.spec,
        "norm": {"mean": ds.mean.tolist(), "std": ds.std.tolist()},
        "labels": ds.vocab,
        "label_freq": freq,
        "label_frames": label_frames(ds),  # how long each label's takes run: the tools warn past it
        "arch": arch,
        "training": {"steps": step, "clips": len({n.split('#')[0] for n in ds.names}),
                     "frames": ds.frames, "hours": ds.frames / ds.fps / 3600 / (2 if cfg["mirror"] else 1),
                     "device": str(device), "wall_time_s": wall, "window": cfg["window"],
                     "window_max": cfg["window_max"] or cfg["window"], "free_length": cfg["free_length"],
                     "init": cfg["init"], "foot_weight": cfg["foot_weight"], "foot_fast": cfg["foot_fast"],
                     "energy_weight": cfg["energy_weight"],
                     "mismatch_weight": cfg["mismatch_weight"], "joint_labels": cfg["joint_labels"],
                     "balance_labels": cfg["balance_labels"], "train_smooth": cfg["train_smooth"],
                     "data": cfg["data_names"], "validation_takes": sorted(val_names),
                     "selection_takes": sorted(selection_names)},
        "licence": cfg.get("licence") or LICENCE_NOTE,
        **({"sampling": sampling} if sampling else {}),
    }
    model_file.save(path, header, {**generator_weights(G_ema), **(extra_weights or {})})


# ------------------------------------------------------------------ fine-tuning

def load_base_model(path, ds, hidden_given=None):
    """The model `--init` starts from, checked against the data: same skeleton, features and labels."""
    try:
        base = model_file.load(path)
    except model_file.ModelFileError as e:
        raise TrainError(f"--init: {e}") from None
    h = base.header
    if not data_mod.same_skeleton(base.skeleton, ds.skeleton):  # the rule the data's own files meet
        ours, theirs = ds.skeleton.names, base.skeleton.names
        missing = [n for n in theirs if n not in ours]
        raise TrainError(f"--init {path}: the model is for another skeleton"
                         + (f" (bones {', '.join(missing[:5])} are not in the data)" if missing else
                            f" ({len(theirs)} joints, the data has {len(ours)}; other hierarchy or bone lengths)"))
    if not _same(h.get("features"), json.loads(json.dumps(ds.spec))):
        raise TrainError(f"--init {path}: the model uses other motion features than this version of the trainer")
    if (h.get("labels") or {}) != ds.vocab:
        raise TrainError(f"--init {path}: the model's labels differ from the data's "
                         f"({label_difference(h.get('labels') or {}, ds.vocab)}); fine-tuning keeps the label set")
    if abs(float(h["fps"]) - ds.fps) > 1e-3:
        raise TrainError(f"--init {path}: the model was made at {h['fps']:g} fps and the data plays at {ds.fps:g}; "
                         f"pass --fps {h['fps']:g}")
    if hidden_given is not None and hidden_given != h["arch"]["hidden"]:
        raise TrainError(f"--init {path}: the model is {h['arch']['hidden']} wide, not --hidden {hidden_given}")
    return base


def _same(a, b, tol=1e-6):
    """Equal JSON values, numbers within ``tol`` (a feature spec's axes come from the data, to float noise)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
    return a == b


# ------------------------------------------------------------------ feet

def _feet_and_floor(cfg, fk, train_ds, spec):
    """The foot groups and each foot joint's floor, from real windows drawn with their own seed (the
    same on --resume), so every run logs how its planted feet slide; ([], None) without FK or feet."""
    feet = foot_slide.foot_groups(train_ds.skeleton, spec) if fk is not None else []
    if not feet:
        if cfg["foot_weight"] > 0:
            raise TrainError("--foot-weight: the skeleton has no foot joints (names with foot, toe or ankle)")
        return [], None
    windows = data_mod.WindowSampler(train_ds, cfg["window"], seed=cfg["seed"] + 4242).sample(512, cfg["window"])[0]
    return feet, foot_slide.floors(fk, torch.from_numpy(windows).transpose(1, 2), feet)


def _energy_targets(cfg, fk, train_ds, vocab_sizes, windows=4096):
    """Each label combination's mean energy over real windows drawn with their own seed (the same
    on --resume), so every run with FK logs how far its labels' energy is off; None without FK."""
    if fk is None:
        return None
    real, ids = data_mod.WindowSampler(train_ds, cfg["window"], seed=cfg["seed"] + 5151).sample(windows, cfg["window"])
    labels = {k: torch.from_numpy(ids[k]) for k in vocab_sizes}
    return label_energy.cell_targets(fk, torch.from_numpy(real).transpose(1, 2), labels, vocab_sizes)


# ------------------------------------------------------------------ the loop

MIN_WINDOW = 16  # the critic shrinks a window 8x and --d-time-std takes a spread over what is left


def _check_sizes(cfg):
    """Refuse step counts and sizes the loop cannot run with, before torch fails somewhere
    inside it with a message about tensors (or, for --steps 0, reports a model it never wrote)."""
    if cfg["steps"] < 1:
        raise TrainError(f"--steps {cfg['steps']}: give at least 1 training step")
    if cfg["batch"] < 1:
        raise TrainError(f"--batch {cfg['batch']}: give at least 1 window per batch (the default is "
                         f"{DEFAULTS['batch']})")
    if cfg["hidden"] < 2:  # the critic's root branch is half as wide
        raise TrainError(f"--hidden {cfg['hidden']}: give a network width of at least 2 (the default is "
                         f"{DEFAULTS['hidden']})")
    if cfg["window"] < MIN_WINDOW:
        raise TrainError(f"--window {cfg['window']}: give a training window of at least {MIN_WINDOW} frames "
                         f"(the default is {DEFAULTS['window']})")
    if cfg["ckpt_every"] < 1:
        raise TrainError(f"--ckpt-every {cfg['ckpt_every']}: give at least 1 (a checkpoint every N steps)")
    if cfg["snapshot_every"] < 0:
        raise TrainError(f"--snapshot-every {cfg['snapshot_every']}: give 0 (no snapshots) or a number of steps")
    for name in ("seed", "split_seed"):
        if cfg[name] < 0:
            raise TrainError(f"--{name.replace('_', '-')} {cfg[name]}: give a seed of 0 or more")
    if not 0 <= cfg["val_fraction"] < 1:  # NaN fails this too
        raise TrainError(f"--val-fraction {cfg['val_fraction']}: give a share of the takes from 0 to below 1")


def train(*args, **kwargs):
    """Train a model (see :func:`_train`); the run folder's lock is released however it ends, so a
    caller in the same process (a notebook after an interrupted run) can --resume at once."""
    held = len(_HELD_LOCKS)
    out = Path(kwargs["out"] if "out" in kwargs else args[1])
    made, folder = [], out          # the folders the run will make for --out, deepest first
    while not folder.exists() and folder != folder.parent:
        made.append(folder)
        folder = folder.parent
    try:
        return _train(*args, **kwargs)
    except BaseException:
        if len(_HELD_LOCKS) > held:  # this run held the folder, so nobody else is writing to it
            _tidy_failed_start(out, made)
        raise
    finally:
        while len(_HELD_LOCKS) > held:
            _HELD_LOCKS.pop().close()


def _train(data_dirs, out, labels_csv=None, condition=("style", "content"), steps=None, device="auto",
           resume=False, log=print, progress=True, cache_dir=None, **overrides):
    cfg = dict(DEFAULTS)
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    if cfg["lr_d"] is None:  # the critic at twice G's rate: at equal rates it fell behind and runs drifted (README)
        cfg["lr_d"] = 2 * cfg["lr_g"]
    if steps is not None:
        cfg["steps"] = steps
    cfg["condition"] = list(condition)
    cfg.setdefault("mirror", True)
    if not 0 <= cfg["select_fraction"] < 0.5:
        raise TrainError(f"--select-fraction {cfg['select_fraction']}: give a share of the training takes from 0 to 0.5")
    if cfg["free_length"] is not None and cfg["free_length"] < cfg["window"]:
        raise TrainError(f"--free-length {cfg['free_length']} is shorter than --window {cfg['window']}")
    if cfg["free_length"] and cfg["nearest_of"] > 2 and cfg["nearest_draw"] > 0:  # its K draws are not redrawn alike
        raise TrainError("--free-length does not combine with --nearest-of above 2; use one of them")
    if cfg["nearest_of"] < 2:
        raise TrainError(f"--nearest-of {cfg['nearest_of']}: the nearest of fewer than 2 draws is no choice; use 2 or more")
    for key in ("foot_weight", "energy_weight", "mismatch_weight"):
        if not cfg[key] >= 0:
            raise TrainError(f"--{key.replace('_', '-')} {cfg[key]}: give 0 (off) or a positive weight")
    if not cfg["train_smooth"] >= 0:
        raise TrainError(f"--train-smooth {cfg['train_smooth']}: give 0 (off) or the low-pass's sigma in frames "
                         f"(sampling's default is {synthesis.SMOOTH_SIGMA:g})")
    if not cfg["foot_fast"] > foot_slide.SPEED_M_S:
        raise TrainError(f"--foot-fast {cfg['foot_fast']}: the band charged starts at {foot_slide.SPEED_M_S:g} m/s, "
                         f"so give a faster top (the default is {foot_slide.FAST_M_S:g})")
    if cfg["diversity_space"] not in ("features", "joints"):
        raise TrainError(f"--diversity-space {cfg['diversity_space']!r}: give 'features' or 'joints'")
    if not cfg["d_fk_vel_scale"] > 0:
        raise TrainError(f"--d-fk-vel-scale {cfg['d_fk_vel_scale']}: give a positive scale (the default is {VEL_SCALE:g})")
    _check_sizes(cfg)
    rank, world, device = setup_distributed(device)
    if cfg["batch"] < world:
        raise TrainError(f"--batch {cfg['batch']} is shared over {world} processes: give at least one window "
                         f"per process (--batch {world} or more)")
    main_proc = rank == 0
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    if main_proc:
        out.mkdir(parents=True, exist_ok=True)
        if ckpt_path.exists() and not resume:
            raise TrainError(f"{out} already holds a training run; pass --resume to continue it "
                             "or choose another --out")
        if not ckpt_path.exists() and (out / "model.ganim").exists():
            raise TrainError(f"{out} holds a model.ganim but no checkpoint.pt to resume from (a finished or "
                             "copied model): choose another --out, so it is not written over")
        _lock_run(out)  # held until the run ends: a second run into --out is refused
    torch.manual_seed(cfg["seed"] + rank)

    # ---- data
    ds = data_mod.load_dataset(data_dirs, labels_csv=labels_csv, condition=tuple(condition),
                               window=cfg["window"], mirror=cfg["mirror"], cache_dir=cache_dir,
                               log=log if main_proc else (lambda *a: None),
                               progress=_progress_fn(progress and main_proc, "reading BVH"), fps=cfg["fps"])
    if ds.fps > HIGH_FPS and cfg["fps"] is None and main_proc:
        log(f"note: the data plays at {ds.fps:g} fps, so a {cfg['window']}-frame window spans "
            f"{cfg['window'] / ds.fps:.2f} s; --fps 30 trains on {cfg['window'] / 30:.2f} s windows, faster")
    takes = {n.split("#")[0] for n in ds.names}  # mirrored copies follow their take
    held = data_mod.split_takes(ds, cfg["val_fraction"], seed=cfg["split_seed"])
    base = None
    if cfg["init"]:  # fine-tune: the base model's held-out takes stay held out, its normalisation stays
        base = load_base_model(cfg["init"], ds, hidden_given=overrides.get("hidden"))
        cfg["hidden"] = base.header["arch"]["hidden"]
        base_training = base.header.get("training") or {}
        base_held, base_selection = takes_left_out(base)
        held |= set(base_held) & takes
        cfg["init"] = Path(cfg["init"]).name + ":" + base.header["sha256"][:12]  # names only, no paths
    base_sampling = base.header.get("sampling") if base is not None else None
    # --select-fraction: takes kept out of training for `ganim select` alone, so snapshots are ranked
    # on motion the run never saw without touching the held-out takes of the quality bar.
    selection = data_mod.split_takes(ds, cfg["select_fraction"], seed=cfg["split_seed"] + 1, exclude=held)
    if base is not None:
        selection |= set(base_selection) & takes
    train_names = takes - held - selection
    train_ds = data_mod.subset(ds, train_names)
    if base is not None:
        train_ds.mean = np.asarray(base.header["norm"]["mean"], dtype=np.float32)
        train_ds.std = np.asarray(base.header["norm"]["std"], dtype=np.float32)
    cfg["data_names"] = [Path(d).name for d in data_dirs]  # names only: no machine paths in a shipped file
    fingerprint = config_fingerprint(cfg, train_ds)
    label_weights = labeler_weights(train_ds) if main_proc else {}  # editing matches labels to kept frames
    if cfg["window_max"] is not None and cfg["window_max"] < cfg["window"]:
        raise TrainError(f"--window-max {cfg['window_max']} is shorter than --window {cfg['window']}")
    sampler = data_mod.WindowSampler(train_ds, cfg["window"], seed=cfg["seed"] + 1000 * rank,
                                     window_max=cfg["window_max"], balance_labels=cfg["balance_labels"])
    spread_target, real_pairs = 0.0, None
    if cfg["diversity"] > 0:  # the target: windows of two real takes with the same labels, drawn once
        real_pairs = same_label_windows(train_ds.clips, sampler.label_ids, cfg["window"], seed=cfg["seed"])
        spread_target = cfg["diversity_target"] * pairs_spread(real_pairs, train_ds.std)
    C = ds.spec["channels"]
    vocab_sizes = {k: len(v) for k, v in ds.vocab.items()}

    # ---- models
    if base is not None:  # --joint-labels may add a joint embedding to a model that had none
        arch = {**base.header["arch"], **({"joint": True} if cfg["joint_labels"] else {})}
        G = generator_from_weights(arch, labeler.network_weights(base.weights))
    else:
        arch = gen_config(C, vocab_sizes, hidden=cfg["hidden"], joint=cfg["joint_labels"])
        G = Generator(arch)
    G = G.to(device)
    fk = PoseFK(ds.skeleton, ds.spec, train_ds.mean, train_ds.std, ds.fps,
                vel_scale=cfg["d_fk_vel_scale"]) \
        if cfg["d_fk"] or cfg["foot_weight"] > 0 or cfg["energy_weight"] > 0 or cfg["diversity_space"] == "joints" else None
    feet, floor = _feet_and_floor(cfg, fk, train_ds, ds.spec)
    energy_targets = _energy_targets(cfg, fk, train_ds, vocab_sizes)
    D = Discriminator(C, vocab_sizes, hidden=cfg["hidden"], spectral=cfg["d_norm"] == "spectral",
                      fk=fk if cfg["d_fk"] else None,
                      time_std=cfg["d_time_std"], batch_std=cfg["d_batch_std"], wide=cfg["d_wide"],
                      classify=cfg["label_weight"] > 0, joint=cfg["joint_labels"]).to(device)
    if fk is not None:
        fk.to(device)  # the critic's own when --d-fk; the foot, energy and diversity terms' alone otherwise
    to_space = lambda x: x  # noqa: E731  (where the diversity term measures two draws' spread)
    if cfg["diversity"] > 0 and cfg["diversity_space"] == "joints":
        to_space = joint_space(fk, real_pairs, train_ds.mean, train_ds.std)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg["lr_g"], betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg["lr_d"], betas=(0.5, 0.99))
    start_step, wall_before, history = 0, 0.0, []

    if resume and ckpt_path.exists():
        ck = _read_checkpoint(ckpt_path, device)
        # Runs from before a setting existed trained without it (before --split-seed, one seed did both).
        said = fingerprint_difference(json.loads(ck["fingerprint"]),
                                      json.loads(json.dumps(fingerprint)))  # as stored: tuples become lists
        if said:
            raise TrainError(f"cannot resume {out}: it was trained with a different configuration "
                             f"({'; '.join(said[:4])}); give the run's settings and data again, or use a new --out")
        if int(ck["step"]) > cfg["steps"]:  # it said "done" and wrote the smaller --steps into config.json
            raise TrainError(f"{out} is at step {ck['step']} already: give --steps {ck['step']} or more to resume it")
        try:
            G.load_state_dict(ck["G"]); D.load_state_dict(ck["D"]); G_ema.load_state_dict(ck["G_ema"])
            opt_g.load_state_dict(ck["opt_g"]); opt_d.load_state_dict(ck["opt_d"])
        except (RuntimeError, ValueError, KeyError) as e:  # weights of another network under this configuration
            reason = str(e).strip().splitlines()[0][:120]
            raise TrainError(f"{ckpt_path} holds weights that do not fit this run's network ({reason}): "
                             "delete it to start over, or restore a copy") from None
        start_step, wall_before = int(ck["step"]), float(ck["wall"])
        history = json.loads(ck["history"])
        sampler.rng = np.random.default_rng(cfg["seed"] + 1000 * rank + start_step)
        if main_proc:
            log(f"resuming {out} at step {start_step}")
    elif resume and main_proc:
        log(f"no checkpoint in {out} yet; starting from " + (f"{cfg['init']}" if base is not None else "scratch"))
    elif base is not None and main_proc:
        log(f"fine-tuning {cfg['init']} (trained {base_training.get('steps')} steps); "
            f"the critic starts fresh" + (f" and learns alone for {cfg['d_warmup']} steps" if cfg["d_warmup"] else ""))
        if base_sampling:
            log(f"the model keeps {Path(base.path).name}'s sampling ({synthesis.describe_sampling(base)}); "
                "re-tune it with `ganim sampling`")

    if world > 1:  # every rank starts from rank 0's weights (fresh or resumed)
        for module in (G, D, G_ema):
            for t in module.state_dict().values():
                dist.broadcast(t, 0)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else _nullcontext()
    gen = torch.Generator().manual_seed(cfg["seed"] * 7919 + rank + start_step)
    batch = cfg["batch"] // world if world > 1 else cfg["batch"]
    traj_idx = arch["traj"]
    # --train-smooth: the critic and the losses see generated windows after the sampling's low-pass.
    draw = lambda *a: lowpass.features(long_draws.draw(G, *a), ds.spec, cfg["train_smooth"])  # noqa: E731

    if main_proc:
        log(f"training on {device} x{world}: {len(train_names)} takes ({train_ds.frames} frames incl. mirrored), "
            f"{len(held)} held out" + (f", {len(selection)} kept for `ganim select`" if selection else "")
            + f"; G {count_params(G):,} / D {count_params(D):,} parameters")
        if not held and cfg["val_fraction"] > 0:
            log(f"note: no take held out for `ganim eval`: every combination of {', '.join(condition) or 'labels'} "
                "has a single take here, and holding one out would take it out of training; with fewer label "
                "columns (--condition) or more takes per combination, a share is held out")
        if cfg["diversity"] > 0:
            log(f"diversity term: two draws pushed apart up to {spread_target:.4f} "
                f"({cfg['diversity_target']:g} x the spread of two real takes with the same labels"
                + (", measured in joint positions and velocities)" if cfg["diversity_space"] == "joints" else ")"))
        (out / "config.json").write_text(json.dumps({**cfg, "arch": arch}, indent=2))
        (out / "validation_takes.txt").write_text("\n".join(sorted(held)) + "\n")
        if selection:
            (out / "selection_takes.txt").write_text("\n".join(sorted(selection)) + "\n")
    bar = _bar(progress and main_proc, start_step, cfg["steps"])
    tb = _tensorboard(out) if main_proc else None
    t0 = time.time()
    last_good = start_step
    step = start_step
    for step in range(start_step + 1, cfg["steps"] + 1):
        T = sampler.draw_length()
        real_np, lab_np = sampler.sample(batch, T)
        real = torch.from_numpy(real_np).transpose(1, 2).to(device)
        labels = {k: torch.from_numpy(v).to(device) for k, v in lab_np.items()}
        mask, traj_mask = sample_masks(batch, T, C, traj_idx, cfg["free_prob"], cfg["traj_prob"], gen)
        mask, traj_mask = mask.to(device), traj_mask.to(device)
        long = long_draws.plan(mask, traj_mask, T, cfg["free_length"], arch, gen, device)  # --free-length
        cond = make_cond(arch, known=real, mask=mask, traj=real[:, traj_idx], traj_mask=traj_mask,
                         batch=batch, frames=T, device=device)
        noise = torch.randn(batch, arch["noise"], noise_length(T, arch["noise_stride"]), device=device)
        latent = torch.randn(batch, arch["latent"], device=device)

        # ---- discriminator
        with amp:
            with torch.no_grad():
                fake = draw(noise, latent, labels, cond, long)
            d_real, real_logits = D(real, labels, classes=True)
            d_fake = D(composite(fake.detach().float(), real, mask), labels)
            hinge_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
            cls_d = label_loss(real_logits, labels, like=d_real)
            # With --mismatch-weight, real windows under labels they do not have count as fakes.
            wrong = mismatched_labels(labels, vocab_sizes, gen) if cfg["mismatch_weight"] > 0 else None
            mismatch = F.relu(1 + D(real, wrong)).mean() if wrong is not None else torch.zeros((), device=device)
            loss_d = hinge_d + cfg["label_weight"] * cls_d + cfg["mismatch_weight"] * mismatch
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        r1 = torch.zeros((), device=device)
        if step % cfg["r1_every"] == 0 and cfg["r1"] > 0:
            real_r1 = real.detach().requires_grad_(True)
            grad, = torch.autograd.grad(D(real_r1, labels).sum(), real_r1, create_graph=True)
            r1 = grad.pow(2).sum(dim=(1, 2)).mean()
            (0.5 * cfg["r1"] * cfg["r1_every"] * r1).backward()
        sync_grads(D, world)
        set_lr(opt_d, lr_at(step, cfg["lr_d"], cfg))
        opt_d.step()

        # ---- generator (after --init, the fresh critic first learns alone for --d-warmup steps;
        # G's losses are still computed then, so the log shows how it fares against the warming critic)
        warming = step <= cfg["d_warmup"]
        with amp, torch.set_grad_enabled(not warming), _no_weight_grads(D):
            fake = draw(noise, latent, labels, cond, long).float()
            score, fake_logits = D(composite(fake, real, mask), labels, classes=True)
            adv = -score.mean()
            # With --label-weight, G's windows must also read as their labels to the critic's heads.
            cls_g = label_loss(fake_logits, labels, like=score)
            rec = ((fake - real).abs() * mask).sum() / (mask.sum() * C + 1e-6)
            # Where frames are known, the frames between them have a ground truth too: supervise
            # them (weaker) so edits land near the real motion, the adversarial term keeps them sharp.
            gap = (1 - mask) * (mask.sum(-1, keepdim=True) > 0).float()
            gap_rec = ((fake - real).abs() * gap).sum() / (gap.sum() * C + 1e-6)
            traj_rec = ((fake[:, traj_idx] - real[:, traj_idx]).abs() * traj_mask).sum() / (traj_mask.sum() * len(traj_idx) + 1e-6)
            # Free rows drawn twice with other noise: their spread is pushed up to real takes'.
            # With --nearest-draw, the nearer of the two (or of --nearest-of K) is also pulled toward the row's real window.
            div, spread, nearest = (torch.zeros((), device=device) for _ in range(3))
            free = unconditioned_rows(mask, None if cfg["diversity_on_paths"] else traj_mask)
            if (cfg["diversity"] > 0 or cfg["nearest_draw"] > 0) and len(free) > 0:
                free_labels = {k: v[free] for k, v in labels.items()}
                draw_free = lambda n, lat: draw(n, lat, free_labels, cond[free],  # noqa: E731
                                                long_draws.within(long, free)).float()
                again = draw_free(torch.randn_like(noise[free]), torch.randn_like(latent[free]))
                div, spread = diversity_loss(to_space(fake[free]), to_space(again), spread_target)
                if cfg["nearest_of"] > 2 and cfg["nearest_draw"] > 0:  # the nearest of K fresh draws
                    nearest = nearest_of_loss(draw_free, real[free], noise[free], latent[free], cfg["nearest_of"])
                else:
                    nearest = nearest_draw_loss(real[free], fake[free], again)
            # With --foot-weight, planted feet that slide in generated frames cost (trainer/foot_slide.py).
            slide = torch.zeros((), device=device)
            if feet:  # logged in every run; a gradient only with the weight on
                with torch.set_grad_enabled(cfg["foot_weight"] > 0 and not warming):
                    slide = foot_slide.slide_loss(fk, fake, feet, floor, 1 - mask, fast=cfg["foot_fast"])
            # With --energy-weight, each label's free rows must move as much as real windows of it
            # (trainer/label_energy.py); where frames are known, they set how much the row moves.
            energy = torch.zeros((), device=device)
            unknown = unconditioned_rows(mask)
            if energy_targets is not None and len(unknown) > 0:  # logged in every run with FK
                with torch.set_grad_enabled(cfg["energy_weight"] > 0 and not warming):
                    energy = label_energy.energy_loss(fk, fake[unknown], {k: v[unknown] for k, v in labels.items()},
                                                      vocab_sizes, *energy_targets)
            loss_g = adv + cfg["rec_weight"] * (rec + traj_rec) + cfg["gap_weight"] * gap_rec \
                + cfg["diversity"] * div + cfg["label_weight"] * cls_g + cfg["nearest_draw"] * nearest \
                + cfg["foot_weight"] * slide + cfg["energy_weight"] * energy
        if not warming:
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            sync_grads(G, world)
            set_lr(opt_g, lr_at(step, cfg["lr_g"], cfg))
            opt_g.step()
        with torch.no_grad():
            for pe, p in zip(G_ema.parameters(), G.parameters()):
                pe.lerp_(p.detach(), 1 - cfg["ema"])

        values = {"d": hinge_d.item(), "g_adv": adv.item(), "rec": rec.item(), "traj": traj_rec.item(),
                  "gap": gap_rec.item(), "r1": r1.item(), "spread": spread.item(),
                  "cls_d": cls_d.item(), "cls_g": cls_g.item(), "nearest": nearest.item(),
                  "slide": slide.item(), "energy": energy.item(), "mismatch": mismatch.item()}
        if not all(math.isfinite(v) for v in values.values()):
            raise TrainError(f"loss became NaN/inf at step {step} ({values}); stopped. {_last_good_text(last_good, ckpt_path)}")
        if main_proc:
            history.append([step] + [round(v, 5) for v in values.values()])
            if tb is not None:
                for name, v in values.items():
                    tb.add_scalar(f"loss/{name}", v, step)
            _advance(bar, values)
            snapshot = bool(cfg["snapshot_every"]) and step % cfg["snapshot_every"] == 0
            if step % cfg["ckpt_every"] == 0 or step == cfg["steps"] or snapshot:
                wall = wall_before + time.time() - t0
                _check_finite(step, last_good, ckpt_path, G, D, G_ema)
                # The model and its snapshot first, the checkpoint last: a run killed in between
                # resumes from the checkpoint before and writes both again.
                with _disk_full_is_said(out / "model.ganim"):
                    export_model(out / "model.ganim", G_ema, train_ds, cfg, arch, step, wall, device, held,
                                 label_weights, selection, base_sampling)
                    if snapshot:  # for model selection; a snapshot step is a checkpoint too
                        (out / "snapshots").mkdir(exist_ok=True)
                        target = out / "snapshots" / f"model_{step:07d}.ganim"
                        with temporary_beside(target) as tmp:
                            shutil.copyfile(out / "model.ganim", tmp)
                _checkpoint(ckpt_path, G, D, G_ema, opt_g, opt_d, step, wall, fingerprint, history)
                last_good = step
                _write_logs(out, history)
                if tb is not None:
                    tb.flush()
                _draw_plots(out, history, log, final=step == cfg["steps"])
    if main_proc:
        bar.close()
        if tb is not None:
            tb.close()
        wall = wall_before + time.time() - t0
        log(f"done: {step} steps in {wall / 60:.1f} min; model written to {out / 'model.ganim'}")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out / "model.ganim"


CHECKPOINT_KEYS = ("G", "D", "G_ema", "opt_g", "opt_d", "step", "wall", "fingerprint", "history")


def _read_checkpoint(path, device):
    """The state ``--resume`` continues from (weights only, never arbitrary pickles). A damaged
    file (cut short, another file in its place) is a TrainError saying what to do: unpickling
    broken bytes raises errors of any kind, so all but the operating system's are caught."""
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle protocols before failing
            warnings.simplefilter("ignore")
            ck = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(ck, dict) or any(k not in ck for k in CHECKPOINT_KEYS):
            raise ValueError("not a checkpoint written by ganim train")
        json.loads(ck["fingerprint"])
    except OSError:
        raise
    except Exception as e:
        # torch's own errors say what broke (first sentence kept); the unpickler's (KeyError '101') do not.
        reason = str(e).strip().splitlines()[0].split(". ")[0][:120] if str(e).strip() else ""
        if not isinstance(e, (RuntimeError, ValueError)) or not reason:
            reason = "not a PyTorch checkpoint, or cut short"
        raise TrainError(f"{path} is damaged ({reason}): delete it to start over, or restore a copy") from None
    return ck


def _checkpoint(path, G, D, G_ema, opt_g, opt_d, step, wall, fingerprint, history):
    state = {"G": G.state_dict(), "D": D.state_dict(), "G_ema": G_ema.state_dict(),
             "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": step, "wall": wall,
             "fingerprint": json.dumps(fingerprint), "history": json.dumps(history)}
    with _disk_full_is_said(path):
        try:
            atomic_torch_save(state, path)
        except RuntimeError as e:  # torch's own writer reports a full disk so ("unexpected pos ...")
            raise OSError(errno.ENOSPC, f"could not write it ({str(e).strip().splitlines()[0][:80]})",
                          str(path)) from None


@contextlib.contextmanager
def _disk_full_is_said(path):
    """A full disk while writing ``path`` is a TrainError saying what survives and what to do."""
    try:
        yield
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise TrainError(f"disk full while writing {path} ({e.strerror}); the previous checkpoint is "
                             "intact. Free some space and --resume") from None
        raise


def _last_good_text(last_good, ckpt_path):
    if last_good == 0:
        return "No checkpoint was written yet; lower the learning rate or check the data, then start again"
    return (f"The last good checkpoint (step {last_good}) is kept in {ckpt_path}; lower the learning rate or "
            "check the data, then --resume")


def _check_finite(step, last_good, ckpt_path, *modules):
    """Weights that went NaN/inf in this step's update are not checkpointed over the last good ones
    (the losses, checked before the update, were still finite)."""
    for module in modules:
        if not all(torch.isfinite(p).all() for p in module.parameters()):
            raise TrainError(f"the weights became NaN/inf at step {step}; stopped. "
                             f"{_last_good_text(last_good, ckpt_path)}")


_HELD_LOCKS = []
LOCK_NAME = ".ganim-train.lock"


def _tidy_failed_start(out, made):
    """A run that stopped before writing anything (bad data, a bad option) leaves --out as it found it:
    no lock file, and none of the folders it ``made`` for it (deepest first)."""
    try:
        if {p.name for p in out.iterdir()} <= {LOCK_NAME}:
            (out / LOCK_NAME).unlink(missing_ok=True)
            for folder in made:
                folder.rmdir()
    except OSError:
        pass  # tidying must never hide the error that stopped the run (a folder that filled meanwhile stays)


def _lock_run(out):
    """An exclusive lock on ``out`` until the run ends (:func:`train` releases it; a killed process's
    goes with it): two runs writing one folder left it holding a mix of both. Where flock is missing
    (Windows), no lock."""
    try:
        import fcntl
    except ImportError:
        return None
    f = open(out / LOCK_NAME, "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise TrainError(f"another ganim train is writing to {out} now: wait for it, or choose another --out") from None
    _HELD_LOCKS.append(f)
    return f


LOG_COLUMNS = ("step", "d", "g_adv", "rec", "traj", "gap", "r1", "spread", "cls_d", "cls_g", "nearest", "slide", "energy", "mismatch")


def _write_logs(out, history):
    with open(out / "losses.csv", "w") as f:
        f.write(",".join(LOG_COLUMNS) + "\n")
        for row in history:  # rows from before a column existed (resumed older runs) end early
            f.write(",".join(str(v) for v in row) + "," * (len(LOG_COLUMNS) - len(row)) + "\n")


_last_plot = [0.0]


def _draw_plots(out, history, log, final=False, every_s=120.0):
    """losses.png and samples.png in the run folder, at most every two minutes (and at the end)."""
    if not final and time.time() - _last_plot[0] < every_s:
        return
    _last_plot[0] = time.time()
    try:
        from .plots import plot_losses, plot_samples
        plot_losses(history, out / "losses.png")
        plot_samples(out / "model.ganim", out / "samples.png")
    except Exception as e:  # plots are a convenience, never a reason to lose a run
        log(f"warning: could not draw plots ({e})")


def _tensorboard(out):
    """TensorBoard scalars when the tensorboard package is installed (losses.csv always)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:
        return None
    return SummaryWriter(str(out / "tb"))


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


class _no_weight_grads:
    """The critic's weights need no gradients in G's step (they were computed and thrown away):
    the graph still runs through the critic to G, without the critic's weight gradients."""

    def __init__(self, module):
        self.params = [p for p in module.parameters() if p.requires_grad]

    def __enter__(self):
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *a):
        for p in self.params:
            p.requires_grad_(True)
        return False


class _NoBar:
    def update(self, n):
        pass

    def set_postfix(self, **k):
        pass

    def close(self):
        pass


def _redraw_seconds():
    """In a terminal a bar redraws every second; into a log file (a sweep, nohup) once a minute,
    so that a long run's log stays readable instead of growing by a line a second."""
    return 1.0 if sys.stderr.isatty() else 60.0


def _bar(enabled, start, total):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, initial=start, desc="training", unit="step", dynamic_ncols=True,
                file=sys.stderr, mininterval=_redraw_seconds())


def _advance(bar, values):
    """One step on the bar with the losses beside it. No forced refresh: that would redraw every
    step and ignore the bar's mininterval (a log file grew by a bar per step)."""
    bar.update(1)
    bar.set_postfix(d=f"{values['d']:.3f}", g=f"{values['g_adv']:.3f}", rec=f"{values['rec']:.3f}", refresh=False)


def _progress_fn(enabled, desc):
    if not enabled:
        return None
    from tqdm import tqdm
    return lambda it, total: tqdm(it, total=total, desc=desc, unit="file", file=sys.stderr, leave=False,
                                  mininterval=_redraw_seconds())
