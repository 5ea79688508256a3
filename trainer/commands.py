"""The torch-side commands of `ganim`: train, sample, eval, preview."""

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from blender_ganim.core import synthesis
from . import average
from .cli import frame_range


def add_parsers(sub):
    s = sub.add_parser(
        "train", help="train a motion GAN on BVH folders",
        description="Train a temporal GAN on one or more folders (or .tar.xz archives) of BVH files of one "
                    "skeleton. Writes RUN_DIR/model.ganim, checkpoint.pt, losses.csv/png, samples.png. "
                    "Kill it at any time and continue with --resume. Several GPUs: "
                    "torchrun --nproc_per_node N -m trainer.cli train ...")
    s.add_argument("data", nargs="+", metavar="DATA_DIR", help="folders / .tar.xz archives of BVH files")
    s.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (created)")
    s.add_argument("--labels", metavar="CSV", help="labels CSV (default: labels.csv found beside the data)")
    s.add_argument("--condition", default="style,content",
                   help="label columns to condition on, comma separated, or 'none' (default: style,content)")
    s.add_argument("--steps", type=int, help="training steps (default 20000)")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint")
    s.add_argument("--batch", type=int, help="batch size over all processes (default 32)")
    s.add_argument("--window", type=int, help="training window in frames (default 64)")
    s.add_argument("--fps", type=float,
                   help="resample every take to this frame rate (default: the first file's). Capture at 120 fps "
                        "makes a 64-frame window half a second and training 4x slower per second of motion; 30 "
                        "suits most character motion, and the add-on resamples to any scene's rate")
    s.add_argument("--window-max", type=int, metavar="FRAMES",
                   help="train on windows of mixed length: each batch draws its length from --window to this, "
                        "in steps of 4 frames, so the generator also learns the middle of clips longer than "
                        "--window (default: every window is --window long)")
    s.add_argument("--free-length", type=int, metavar="FRAMES",
                   help="draw free-generation rows at a random length up to FRAMES and let the critic judge a "
                        "random --window-long stretch of each, so the middle of clips longer than the window "
                        "stays real; real takes need not be that long (default off)")
    s.add_argument("--balance-labels", action=argparse.BooleanOptionalAction, default=None,
                   help="draw every combination of label values equally often, instead of by its share of "
                        "the frames (short takes' labels are otherwise rare in training, though generation "
                        "asks for every label alike; default off)")
    s.add_argument("--init", metavar="MODEL.ganim",
                   help="fine-tune: start the generator from this model's weights (same skeleton, features and "
                        "labels; its held-out takes stay held out, its normalisation is kept). The critic "
                        "starts fresh; see --d-warmup")
    s.add_argument("--d-warmup", type=int, metavar="STEPS",
                   help="train the critic alone for this many steps before the generator moves, so a fresh "
                        "critic does not push a trained generator around (default 0)")
    s.add_argument("--hidden", type=int, help="network width (default 128)")
    s.add_argument("--ckpt-every", type=int, help="checkpoint + export every N steps (default 500)")
    s.add_argument("--lr", type=float, help="learning rate of G (default 2e-4)")
    s.add_argument("--lr-d", type=float,
                   help="learning rate of D (default: twice --lr; at an equal rate the critic fell behind and runs "
                        "drifted past their peak, see README)")
    s.add_argument("--lr-decay-after", type=int, metavar="STEP",
                   help="from this step on, lower both rates along a cosine to a tenth at --steps "
                        "(default: constant)")
    s.add_argument("--r1", type=float, help="R1 penalty weight on D (default 2.0)")
    s.add_argument("--gap-weight", type=float,
                   help="weight of the supervised L1 on frames between known frames (default 5.0)")
    s.add_argument("--diversity", type=float,
                   help="weight of the term that makes two noise draws with the same labels differ as "
                        "much as two real takes do, against mode collapse; 0 turns it off (default 2.0)")
    s.add_argument("--diversity-target", type=float, metavar="FRACTION",
                   help="spread the diversity term asks for, as a fraction of two real takes' with the "
                        "same labels (default 1.0)")
    s.add_argument("--diversity-space", choices=("features", "joints"),
                   help="where the diversity term measures two draws' spread: 'features' (network features, "
                        "each channel scaled by its spread in the data) or 'joints' (joint positions and "
                        "velocities by forward kinematics, where a rotation that barely moves a joint "
                        "counts for little) (default features)")
    s.add_argument("--diversity-on-paths", action=argparse.BooleanOptionalAction, default=None,
                   help="apply the diversity term to free rows that follow a given root path too, though "
                        "their spread cannot reach the target (default on: off, draws along one path "
                        "collapsed to one motion)")
    s.add_argument("--nearest-draw", type=float, metavar="W",
                   help="weight of a term that pulls the nearer of two draws toward the real window "
                        "with their labels (implicit maximum likelihood), so every real motion has a "
                        "draw near it: what coverage counts (default 0: off)")
    s.add_argument("--nearest-of", type=int, metavar="K",
                   help="with --nearest-draw, pull the nearest of K fresh draws instead of the nearer of the "
                        "diversity term's two (K passes without gradients, one with; default 2)")
    s.add_argument("--d-norm", choices=["spectral", "none"],
                   help="spectral normalisation in the discriminator, or R1 alone (default none)")
    s.add_argument("--d-fk", action=argparse.BooleanOptionalAction, default=None,
                   help="give the critic joint positions and velocities from forward kinematics as well "
                        "as the features, so it can see foot sliding (default on)")
    s.add_argument("--d-fk-vel-scale", type=float, metavar="S",
                   help="scale of the joint velocities (m/s) the --d-fk critic sees beside positions in metres; "
                        "the quality metrics weigh velocities at 1 (default 0.25)")
    s.add_argument("--d-time-std", action=argparse.BooleanOptionalAction, default=None,
                   help="let the critic pool each window's features by their spread over time as well as "
                        "their mean, so it sees how a window's speeds vary, not only their average "
                        "(default off)")
    s.add_argument("--d-batch-std", action=argparse.BooleanOptionalAction, default=None,
                   help="give the critic the spread of its features across groups of 4 windows "
                        "(minibatch standard deviation), so it can tell a batch that is too varied or "
                        "too alike from real (default off)")
    s.add_argument("--d-wide", action=argparse.BooleanOptionalAction, default=None,
                   help="add dilated layers so each critic unit sees a whole 64-frame window (72 frames; 68 in "
                        "the joint-position branch) instead of a 24-frame patch (12 frames), and can judge "
                        "whether a wave's or a step's parts add up (default off)")
    s.add_argument("--label-weight", type=float, metavar="W",
                   help="give the critic label heads, fitted on real windows, and ask G to make its windows "
                        "read as their labels to them, with this weight (an auxiliary classifier, for a "
                        "stronger style signal; default 0: off)")
    s.add_argument("--foot-weight", type=float, metavar="W",
                   help="charge generated frames where a planted foot slides (0.5-1 m/s, its floor from the "
                        "real windows), with this weight; whether a foot is down is not differentiated, so "
                        "lifting feet does not pay (default 0: off; see README)")
    s.add_argument("--foot-fast", type=float, metavar="M_S",
                   help="top of the slide band --foot-weight charges, in m/s (default 1; a low foot faster than "
                        "this is left to the critic as landing or swinging; see README)")
    s.add_argument("--energy-weight", type=float, metavar="W",
                   help="ask each label's generated windows to move their joints as fast as real windows with "
                        "the same labels do, on average over the windows sharing a label (an unbiased "
                        "squared relative deviation of the mean speed), with this weight (default 0: off; "
                        "see README)")
    s.add_argument("--mismatch-weight", type=float, metavar="W",
                   help="show the critic real windows under labels they do not have (one column moved per "
                        "row) as fakes, with this weight, so that it must tell the labels apart (a "
                        "matching-aware critic; default 0: off; see README)")
    s.add_argument("--train-smooth", type=float, metavar="SIGMA",
                   help="show the critic and every loss the generated windows after the Gaussian low-pass "
                        "that sampling applies (sigma in frames; 1.75 is the tools' default), so the network "
                        "learns to make the filtered motion real rather than its raw output (default 0: off; "
                        "see README)")
    s.add_argument("--joint-labels", action="store_true",
                   help="give the generator one more label embedding per combination of label values (style "
                        "x content), added to the columns' own, and the critic a projection per combination, "
                        "so a style can move each content its own way; a fine-tune (--init) adds it at zero "
                        "(default: off; see README)")
    s.add_argument("--snapshot-every", type=int, metavar="N",
                   help="also keep RUN_DIR/snapshots/model_STEP.ganim every N steps (each one a checkpoint "
                        "too), to pick the best with `ganim select RUN_DIR`")
    s.add_argument("--val-fraction", type=float, help="share of whole takes held out for eval (default 0.05)")
    s.add_argument("--select-fraction", type=float, metavar="F",
                   help="share of the remaining takes also kept out of training, for `ganim select` to rank "
                        "snapshots on motion the run never saw (default 0: select splits the training takes)")
    s.add_argument("--no-mirror", action="store_true", help="do not add left/right mirrored copies")
    s.add_argument("--seed", type=int, help="seed of the weights, noise and batches (default 0)")
    s.add_argument("--split-seed", type=int,
                   help="seed of the held-out split of whole takes (default 0); keep it when comparing "
                        "runs of other --seed values, so all are measured on the same takes")
    s.add_argument("--cache", metavar="DIR", help="feature cache folder (default ~/.cache/ganim)")
    s.add_argument("--threads", type=int, help="CPU threads for torch")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser(
        "sample", help="generate BVH clips from a model",
        description="Generate COUNT clips of FRAMES frames with a .ganim model (numpy inference). Writes "
                    "DIR/sample_000.bvh ... and DIR/labels.csv (file,<label columns>). Labels not given "
                    "with --label are drawn at random from the training distribution.")
    s.add_argument("model", help=".ganim model file")
    s.add_argument("--out", required=True, metavar="DIR")
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--frames", type=int, default=120, help="frames per clip, at --fps (default 120)")
    s.add_argument("--fps", type=float, default=None,
                   help="frame rate of the clips (default: the model's); the model runs at its own rate and "
                        "the clips are resampled, so they last FRAMES / FPS seconds")
    s.add_argument("--label", action="append", metavar="NAME=VALUE", help="e.g. style=elderly (repeatable)")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--temperature", type=float, default=None, help=synthesis.TEMPERATURE_HELP)
    s.add_argument("--preview", action="store_true", help="also write DIR/preview.png")
    s.add_argument("--raw", action="store_true",
                   help="the network's output as it is: skip the clean-up (the low-pass and the foot lock)")
    s.add_argument("--loop", action="store_true",
                   help="make each clip a cycle: its end leads back into its start, so it plays on repeat "
                        "without a seam (the root moves on by the same travel each cycle)")
    s.add_argument("--in-place", action="store_true", help="with --loop: take the root's travel out")
    s.add_argument("--overwrite", action="store_true",
                   help="write into a DIR that holds an earlier sample (its labels.csv and sample_*.bvh are "
                        "replaced; default: refused, so a dataset's labels.csv is never written over)")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser(
        "fit-labels", help="add a label classifier to a model file (for models trained before it existed)",
        description="Fit the small linear classifier that editing uses to match left-out labels (style, "
                    "content) to the kept frames, on the model's training takes (its held-out takes are "
                    "left out), record how long each label's training takes run (the tools warn when a "
                    "clip asked for is much longer), and store both in MODEL (or --out). Models trained "
                    "now carry them already.")
    s.add_argument("model", help=".ganim model file")
    s.add_argument("--data", nargs="+", required=True, metavar="DATA_DIR", help="the data the model was trained on")
    s.add_argument("--labels", metavar="CSV", help="labels CSV (default: labels.csv found beside the data)")
    s.add_argument("--out", metavar="OUT.ganim", help="write here instead of updating MODEL in place")
    s.add_argument("--cache", metavar="DIR", help="feature cache folder (default ~/.cache/ganim)")
    s.set_defaults(func=cmd_fit_labels)

    s = sub.add_parser("preview", help="draw a clip as a picture or GIF",
                       description="A contact sheet (.png) or an animated stick figure (.gif) of a BVH clip.")
    s.add_argument("clip", help=".bvh file")
    s.add_argument("--out", required=True, help="PREVIEW.png or PREVIEW.gif")
    s.add_argument("--frames", type=int, default=8, help="poses on a contact sheet (default 8)")
    s.add_argument("--range", type=frame_range, metavar="A:B",
                   help="draw only frames [A, B) of the clip, e.g. the ones an edit regenerated")
    s.set_defaults(func=cmd_preview)

    average.add_parser(sub)

    try:
        from . import evaluate, select
    except ImportError:
        evaluate = select = None
    if evaluate is not None:
        evaluate.add_parser(sub)
        select.add_parser(sub)


def cmd_train(args):
    import torch

    from .train import TrainError, train
    from .cli import UserError
    from .data import DataError
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads {args.threads}: give at least 1 CPU thread")
    if args.threads:
        torch.set_num_threads(args.threads)
    condition = () if args.condition.strip().lower() == "none" else tuple(
        c.strip() for c in args.condition.split(",") if c.strip())
    overrides = dict(batch=args.batch, window=args.window, window_max=args.window_max, free_length=args.free_length, init=args.init,
                     d_warmup=args.d_warmup, hidden=args.hidden, ckpt_every=args.ckpt_every,
                     lr_g=args.lr, lr_d=args.lr_d, r1=args.r1, val_fraction=args.val_fraction, select_fraction=args.select_fraction,
                     seed=args.seed, split_seed=args.split_seed, lr_decay_after=args.lr_decay_after,
                     gap_weight=args.gap_weight, d_norm=args.d_norm, d_fk=args.d_fk, d_fk_vel_scale=args.d_fk_vel_scale,
                     d_time_std=args.d_time_std, d_batch_std=args.d_batch_std, d_wide=args.d_wide,
                     label_weight=args.label_weight, snapshot_every=args.snapshot_every, diversity=args.diversity,
                     diversity_target=args.diversity_target, diversity_on_paths=args.diversity_on_paths,
                     diversity_space=args.diversity_space,
                     nearest_draw=args.nearest_draw, nearest_of=args.nearest_of, balance_labels=args.balance_labels,
                     foot_weight=args.foot_weight, foot_fast=args.foot_fast, energy_weight=args.energy_weight,
                     mismatch_weight=args.mismatch_weight, joint_labels=args.joint_labels, fps=args.fps,
                     train_smooth=args.train_smooth)
    if args.no_mirror:
        overrides["mirror"] = False
    try:
        train(args.data, args.out, labels_csv=args.labels, condition=condition, steps=args.steps,
              device=args.device, resume=args.resume, log=lambda m: print(m, file=sys.stderr),
              cache_dir=args.cache, **overrides)
    except (TrainError, DataError) as e:
        raise UserError(str(e)) from None


def cmd_fit_labels(args):
    from blender_ganim.core import labeler, model_file

    from . import data as data_mod
    from .cli import UserError
    from .evaluate import takes_left_out
    from .labels import label_difference, label_frames, labeler_weights
    model = model_file.load(args.model)
    if not model.labels:
        raise UserError(f"{args.model} is not conditioned on labels: nothing to fit")
    training = model.header.get("training") or {}
    try:
        ds = data_mod.load_dataset(args.data, labels_csv=args.labels, condition=tuple(model.labels),
                                   window=int(training.get("window") or 64), cache_dir=args.cache,
                                   log=lambda m: print(m, file=sys.stderr), fps=float(model.header["fps"]))
    except data_mod.DataError as e:
        raise UserError(str(e)) from None
    if not ds.skeleton.same_topology(model.skeleton):
        raise UserError(f"--data has another skeleton than {args.model}; pass the data it was trained on")
    if ds.vocab != model.labels:
        raise UserError(f"--data has other labels than {args.model} ({label_difference(model.labels, ds.vocab)})")
    held = set().union(*takes_left_out(model))
    train_ds = data_mod.subset(ds, {n.split("#")[0] for n in ds.names} - held)
    norm = model.header["norm"]
    train_ds.mean, train_ds.std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
    out = args.out or args.model
    header = {**model.header, "label_frames": label_frames(train_ds)}
    model_file.save(out, header, {**labeler.network_weights(model.weights), **labeler_weights(train_ds)})
    print(f"fitted the label classifier ({', '.join(model.labels)}) on {len(train_ds.clips)} clips and recorded "
          f"each label's take length; wrote {out}")


def _cycles(model, args, wanted):
    """``--loop``: COUNT cycles (clip i from seed SEED + i), each without its closing frame, which is
    the next cycle's first; a note for each cycle that had a turn taken out."""
    motions, labels = [], []
    for i in range(args.count):
        notes = []
        m, chosen = synthesis.loop(model, args.frames, labels=wanted, temperature=args.temperature, fps=args.fps,
                                   seed=None if args.seed is None else args.seed + i, in_place=args.in_place,
                                   notes=notes)
        motions.append(m.slice(0, m.frames - 1).copy(name=f"sample_{i:03d}"))
        labels.append(chosen)
        for note in notes:
            print(f"note: sample_{i:03d}: {note}", file=sys.stderr)
    return motions, labels


def cmd_sample(args):
    from blender_ganim.core import bvh, model_file

    from .cli import UserError
    from .labels import parse_label_args
    model = model_file.load(args.model)
    if not 1 <= args.count <= MAX_SAMPLE_COUNT:
        raise UserError(f"--count must be between 1 and {MAX_SAMPLE_COUNT:,}, got {args.count:,} (one run "
                        "holds every clip in memory: split a larger batch into several runs)")
    if args.in_place and not args.loop:
        raise UserError("--in-place shapes a loop: add --loop")
    if args.loop and args.raw:
        raise UserError("--loop generates its cycles with the clean-up; leave out --raw")
    out = Path(args.out)
    earlier = _earlier_sample(out)
    if earlier and not args.overwrite:
        raise UserError(f"{out} already holds {earlier}: choose a new folder for --out, or add --overwrite "
                        "to replace them")
    try:
        wanted = parse_label_args(args.label)
        if args.loop:
            motions, labels = _cycles(model, args, wanted)
        else:
            motions, labels = synthesis.generate(model, args.frames, count=args.count, labels=wanted,
                                                 seed=args.seed, name="sample", clean_feet=not args.raw,
                                                 temperature=args.temperature, fps=args.fps)
    except synthesis.SynthesisError as e:
        raise UserError(str(e)) from None
    for note in synthesis.label_notes(model, wanted, args.frames, args.fps):
        print(f"note: {note}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("sample_*.bvh") if args.overwrite else ():  # a larger earlier --count left more
        stale.unlink()
    columns = list(model.labels)
    with open(out / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file"] + columns)
        for m, lab in zip(motions, labels):
            name = f"{m.name}.bvh"
            bvh.write(out / name, m)
            w.writerow([name] + [lab[c] for c in columns])
    if args.preview:
        from .plots import draw_contact_sheet
        draw_contact_sheet(motions[:8], out / "preview.png",
                           titles=[" ".join(lab.values()) for lab in labels[:8]])
    kind = ("looping clip" if args.loop else "clip") + ("s" if len(motions) != 1 else "")
    preview = f", a contact sheet in {out / 'preview.png'}" if args.preview else ""
    print(f"wrote {len(motions)} {kind} of {args.frames} frames at {motions[0].fps:g} fps to {out}/ "
          f"(labels in {out / 'labels.csv'}{preview})")


MAX_SAMPLE_COUNT = 10_000


def _earlier_sample(out):
    """What in ``out`` a sample would write over, in words ('' when nothing)."""
    if not out.is_dir():
        return ""
    clips = len(list(out.glob("sample_*.bvh")))
    parts = (["labels.csv"] if (out / "labels.csv").exists() else []) + ([f"{clips} sample_*.bvh file"
                                                                          + "s" * (clips != 1)] if clips else [])
    return " and ".join(parts)


def cmd_preview(args):
    from blender_ganim.core import bvh

    from .cli import UserError, cut
    from .plots import draw_contact_sheet, draw_gif
    if args.frames < 2:  # it drew 2 anyway
        raise UserError(f"--frames is how many poses the contact sheet shows: 2 or more, got {args.frames}")
    m = cut(bvh.read(args.clip), args.range, "--range")
    first = (args.range[0] or 0) if args.range else 0
    out = Path(args.out)
    if out.suffix.lower() == ".gif":
        draw_gif(m, out, first_frame=first)
    elif out.suffix.lower() == ".png":
        draw_contact_sheet([m], out, frames_per_clip=args.frames, first_frame=first)
    else:
        raise UserError(f"--out must end in .png or .gif, got {out.name}")
    print(f"wrote {out}")
