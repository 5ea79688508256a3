"""`ganim` — the command line: info, convert, train, sample, eval, preview, export.

Commands that need torch import it lazily, so `ganim info` and `ganim convert` work
with numpy alone. Any expected failure (bad file, bad option) prints one line
`ganim: error: ...` and exits with status 2; no tracebacks for user mistakes.
"""

import argparse
import sys
from pathlib import Path


class UserError(Exception):
    """An error caused by the user's input: printed in one line, exit status 2."""


def refuse_overwriting(out, inputs, what="--out"):
    """An output that names one of the command's inputs would lose it (read first, then written over)."""
    out = Path(out)
    for given in inputs:
        if out.exists() and Path(given).exists() and Path(given).samefile(out):
            raise UserError(f"{what} {out} is one of the inputs; write the result to another file")


def frame_range(text):
    try:
        a, _, b = text.partition(":")
        return (int(a) if a else None, int(b) if b else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:END frame numbers, got {text!r}") from None


def os_error_text(e):
    """``PATH: reason`` of a failed read or write (atomic writes name the file asked for,
    ``core.atomic``, not their temporary one)."""
    return str(e.strerror or e) if e.filename is None else f"{e.filename}: {e.strerror or e}"


def _labels_for(path):
    """Labels of a clip from a labels.csv beside it, if there is one."""
    from trainer.labels import read_labels
    csv = Path(path).parent / "labels.csv"
    if not csv.is_file():
        return {}
    return read_labels(csv).get(Path(path).name, {})


# --------------------------------------------------------------------- commands

def cmd_info(args):
    from blender_ganim.core import bvh, features
    path = Path(args.file)
    if path.suffix == ".ganim":
        from blender_ganim.core import model_file, synthesis
        model = model_file.load(path)
        print(model_file.describe(model))
        trained = synthesis.trained_combos(model)
        if trained is not None:  # which label combinations the training takes had (the tools warn outside them)
            missing = [" ".join(c.values()) for c in synthesis.untrained_combos(model)]
            print(f"combos    {len(trained)} of {len(synthesis.all_combos(model))} label combinations have "
                  f"training takes" + (f"; none: {', '.join(missing)}" if missing else ""))
        return
    m = bvh.read(path)
    sk = m.skeleton
    spec = features.spec_for(sk)
    unit = {0.01: "centimetres", 1.0: "metres", 0.0254: "inches"}[spec["meters_per_unit"]]
    print(f"file      {path}")
    print(f"joints    {sk.num_joints} (root {sk.names[0]}, motion root {sk.names[spec['root']]}, "
          f"{len(sk.end_sites)} end sites)")
    print(f"frames    {m.frames} at {m.fps:g} fps = {m.duration:.2f} s")
    print(f"units     {unit} (guessed from leg length)")
    row = _labels_for(path)
    if row:  # the labels.csv beside it may carry columns of its own, frames included: said as its row
        print("labels.csv " + ", ".join(f"{k}={v}" for k, v in row.items()))
    if args.joints:
        depth = {}
        for j, name in enumerate(sk.names):
            depth[j] = 0 if j == 0 else depth[int(sk.parents[j])] + 1
            print(f"  {'  ' * depth[j]}{name}  [{' '.join(sk.channels[j])}]")


def cut(m, frames, flag):
    """``m``'s frames [A, B) for a ``frame_range`` value (either end may be open; None: all of it)."""
    start, stop = frames or (None, None)
    if start is None and stop is None:
        return m
    start = 0 if start is None else start
    stop = m.frames if stop is None else stop
    if start >= stop:
        raise UserError(f"{flag} {start}:{stop} is empty: the end must come after the start")
    if not (0 <= start < stop <= m.frames):
        raise UserError(f"{flag} {start}:{stop} is outside the clip (0:{m.frames})")
    return m.slice(start, stop)


def cmd_convert(args):
    from blender_ganim.core import bvh
    from blender_ganim.core.motion import check_fps
    if args.fps is not None:  # checked before reading; --fps 0 is a mistake to report, not "keep the rate"
        check_fps(args.fps, "--fps")
    refuse_overwriting(args.output, [args.input], "output")
    m = cut(bvh.read(args.input), args.frames, "--frames")
    if args.fps is not None:
        m = m.resample(args.fps)
    if args.mirror:
        m = m.mirror()
    bvh.write(args.output, m)
    print(f"wrote {args.output}: {m.frames} frames at {m.fps:g} fps")


# ------------------------------------------------------------------------ parser

def cmd_sampling(args):
    from blender_ganim.core import model_file, synthesis

    from .labels import parse_label_patterns
    model = model_file.load(args.model)
    given = {k: v for k, v in (("temperature", args.temperature), ("smooth_sigma", args.smooth_sigma),
                               ("lock_strength", args.lock_strength)) if v is not None}
    labels = parse_label_patterns(model.labels, args.label)
    if labels and not given:
        raise UserError("--label says which clips a setting is for: give --temperature, --smooth-sigma or "
                        "--lock-strength with it")
    if not given and not args.reset:
        own = model.header.get("sampling") or {}
        for key, value in synthesis.sampling_defaults(model).items():
            print(f"{model_file.setting_name(key):<14} {value:g}  "
                  f"({'recorded in the file' if key in own else 'shipped default'})")
        for name, values in synthesis.label_sampling(model).items():
            for value, settings in values.items():
                print(f"{name}={value}: {model_file.settings_text(settings)}")
        return
    if not args.out:
        raise UserError("give --out NEW.ganim to write a copy with these settings (the model is left as it is)")
    out = Path(args.out)
    refuse_overwriting(out, [args.model])
    tuned = synthesis.with_sampling(model, given, replace=args.reset, labels=labels)
    model_file.save(out, tuned.header, tuned.weights)
    print(f"wrote {out}: generates with {synthesis.describe_sampling(tuned)}")


def build_parser():
    p = argparse.ArgumentParser(
        prog="ganim",
        description="Train, sample and evaluate a temporal GAN for skeletal motion (BVH in, BVH out).",
        epilog="Run 'ganim COMMAND --help' for the options of one command.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("info", help="describe a BVH clip or a .ganim model",
                       description="Joints, frames, fps, duration and labels of a BVH clip (labels from a "
                                   "labels.csv beside it), or the header of a .ganim model.")
    s.add_argument("file", help="a .bvh or .ganim file")
    s.add_argument("--joints", action="store_true", help="also print the joint hierarchy")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser(
        "sampling", help="show or record the settings a model generates with",
        description="Print the temperature and clean-up a model generates with when none is given "
                    "(`ganim sample`, `eval`, `select`, the Blender panel and batch generation): those its "
                    "file records, the shipped defaults for the rest. With any setting, write a copy of the "
                    "model that records it (the weights are unchanged; the model file is left as it is); "
                    "with --label, for clips with those label values alone. A temperature given to a tool "
                    "is every clip's. Pick them on training takes, e.g. with benchmarks/sampling_tune.py "
                    "--model and benchmarks/label_sampling.py.")
    s.add_argument("model", help="a .ganim model")
    s.add_argument("--temperature", type=float, metavar="T",
                   help="noise temperature, 0-2 (lower: more typical of the labels; 1: the network as trained)")
    s.add_argument("--smooth-sigma", type=float, metavar="FRAMES",
                   help="the clean-up's Gaussian low-pass over the generated features, 0-8 frames (0: none)")
    s.add_argument("--lock-strength", type=float, metavar="S",
                   help="share of a planted foot's slide the foot lock takes out, 0-1 (1: held still)")
    s.add_argument("--label", action="append", metavar="NAME=VALUES",
                   help="record the settings for clips with these label values alone, e.g. "
                        "'content=wave-*,raise-*' (shell patterns, comma-separated; repeatable); "
                        "they apply on top of the model's own")
    s.add_argument("--reset", action="store_true", help="drop the settings the file records (then apply any given)")
    s.add_argument("--out", metavar="NEW.ganim", help="where to write the copy (required with a setting)")
    s.set_defaults(func=cmd_sampling)

    s = sub.add_parser("convert", help="cut, resample or mirror a BVH clip",
                       description="Read a BVH clip, optionally cut a frame range, resample and mirror "
                                   "left/right, and write it with the same skeleton and channel layout.")
    s.add_argument("input", help="input .bvh")
    s.add_argument("output", help="output .bvh")
    s.add_argument("--fps", type=float, help="resample to this frame rate (a Catmull-Rom curve through the frames)")
    s.add_argument("--mirror", action="store_true", help="mirror left/right")
    s.add_argument("--frames", type=frame_range, metavar="A:B", help="keep frames [A, B) (before resampling)")
    s.set_defaults(func=cmd_convert)

    from trainer import edit_commands
    edit_commands.add_parsers(sub)

    from trainer import commands  # torch is imported per command, inside it
    commands.add_parsers(sub)
    return p


def main(argv=None):
    from blender_ganim.core.bvh import BVHError
    from blender_ganim.core.model_file import ModelFileError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        args.func(args)
    except (UserError, BVHError, ModelFileError, ValueError) as e:
        print(f"ganim: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a folder where a file goes, a parent that is a file, a missing folder, ...
        print(f"ganim: error: {os_error_text(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganim: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: the commands raise trainer.cli.UserError,
    # which `python -m trainer.cli` would otherwise not catch (a traceback instead of one line).
    from trainer.cli import main as imported_main
    sys.exit(imported_main())
