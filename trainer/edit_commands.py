"""`ganim inbetween | transition | restyle | keyframes | follow-path`: editing with a model (numpy only)."""

import argparse
import dataclasses
import sys
from pathlib import Path

from blender_ganim.core import paths, synthesis


def _range(text):
    a, sep, b = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(a), int(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:END, got {text!r}") from None


def _frames(text):
    try:
        return synthesis.parse_frames(text)
    except synthesis.SynthesisError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parsers(sub):
    s = sub.add_parser("inbetween", help="regenerate a frame range of a clip, keep the rest",
                       description="Regenerate frames [START, END) of CLIP with MODEL; every other frame is kept "
                                   "exactly and the seams are blended.")
    s.add_argument("model")
    s.add_argument("clip")
    s.add_argument("--frames", required=True, type=_range, metavar="START:END")
    _outputs(s)
    s.set_defaults(func=cmd_inbetween)

    s = sub.add_parser("transition", help="generate N frames leading from clip A into clip B",
                       description="A, then N generated frames, then B moved to continue A's position and facing. "
                                   "--crossfade gives the classic slerp blend instead, for comparison.")
    s.add_argument("model")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("--frames", required=True, type=int, metavar="N")
    s.add_argument("--crossfade", action="store_true", help="slerp crossfade instead of the generator")
    _outputs(s)
    s.set_defaults(func=cmd_transition)

    s = sub.add_parser("restyle", help="same root path and timing, another style",
                       description="Regenerate CLIP with other labels (e.g. --label style=elderly), keeping its "
                                   "root path and timing exactly.")
    s.add_argument("model")
    s.add_argument("clip")
    s.add_argument("--strength", type=float, default=synthesis.STYLE_STRENGTH,
                   help="how far past the new style, away from the clip's own; 0 is a plain label swap "
                        f"(default {synthesis.STYLE_STRENGTH:g})")
    s.add_argument("--drafts", type=int, default=synthesis.RESTYLE_DRAFTS,
                   help="noise draws to make; the one the model's label classifier reads most clearly as the "
                        f"new labels is kept (default {synthesis.RESTYLE_DRAFTS}; 1: the first draw)")
    s.add_argument("--keep-height", action="store_true",
                   help="keep the root's height exactly as it is (default: moved to the new style's level and "
                        "bounce, as the model generates that style; the path over the ground stays either way)")
    s.add_argument("--loop", action="store_true",
                   help="CLIP is one cycle of a loop, as `ganim sample --loop` writes it: its restyled end is "
                        "generated again to lead back into its start, so the result loops too")
    _outputs(s, label_required=True)
    s.set_defaults(func=cmd_restyle)

    s = sub.add_parser("keyframes", help="generate a clip through key poses at given frames",
                       description="A clip as long as CLIP that holds CLIP's poses (root included) exactly at the "
                                   "given frames and is generated everywhere else, e.g. from a blocking pass. Keys "
                                   "may lie at most the model's transition limit apart.")
    s.add_argument("model")
    s.add_argument("clip", help="BVH clip with the key poses (the model's skeleton)")
    keys = s.add_mutually_exclusive_group(required=True)
    keys.add_argument("--at", type=_frames, metavar="F1,F2,...", help="the key frames, e.g. 0,40,80")
    keys.add_argument("--every", type=int, metavar="N", help="a key every N frames, and on the last frame")
    _outputs(s)
    s.set_defaults(func=cmd_keyframes)

    s = sub.add_parser("follow-path", help="generate a clip whose root follows a path on the ground",
                       description="Generate a clip whose root follows the points of PATH.csv: a header naming "
                                   "columns x and z (metres on the ground, y up, as in BVH; other columns are "
                                   "ignored), then one point per row. Without --frames or --speed each row is one "
                                   "frame; with them the points are a polyline spread over N frames or walked at "
                                   "a speed.")
    s.add_argument("model")
    s.add_argument("path", metavar="PATH.csv")
    timing = s.add_mutually_exclusive_group()
    timing.add_argument("--frames", type=int, metavar="N", help="spread the path evenly over N frames")
    timing.add_argument("--speed", type=float, metavar="M_S", help="walk the path at this speed (metres per second)")
    _outputs(s)
    s.set_defaults(func=cmd_follow_path)


def _outputs(s, label_required=False):
    s.add_argument("--out", required=True, help="output .bvh")
    s.add_argument("--label", action="append", required=label_required, metavar="NAME=VALUE",
                   help="labels for the generated frames, e.g. style=elderly (repeatable)")
    s.add_argument("--seed", type=int, default=None)


def _load(args, *clips, inputs=()):
    from blender_ganim.core import bvh, model_file

    from .cli import refuse_overwriting
    from .labels import parse_label_args
    refuse_overwriting(args.out, (args.model, *clips, *inputs))
    model = model_file.load(args.model)
    read = [bvh.read(c) for c in clips]
    return model, [_scaled(c, _unit(c.skeleton) / _unit(model.skeleton)) for c in read], \
        parse_label_args(args.label), (_unit(read[0].skeleton) if read else None)


def _unit(skeleton):
    from blender_ganim.core import features
    return features.meters_per_unit(skeleton)


def _scaled(motion, k):
    """``motion`` with its lengths multiplied by ``k``: a clip in metres edited by a model of
    centimetres is read in the model's unit (its frames were taken as centimetres, 100x too large)."""
    if k == 1.0:
        return motion
    skeleton = dataclasses.replace(motion.skeleton, offsets=motion.skeleton.offsets * k)
    return motion.copy(skeleton=skeleton, positions=motion.positions * k)


def _write(path, motion, model=None, unit=None):
    """The result, back in ``unit`` (metres per unit of the first clip given) when that is not the model's."""
    from blender_ganim.core import bvh
    if unit is not None and unit != _unit(model.skeleton):
        motion = _scaled(motion, _unit(model.skeleton) / unit)
        print(f"note: the clip is in {_UNIT_NAMES.get(unit, unit)} and the model in "
              f"{_UNIT_NAMES.get(_unit(model.skeleton))}: edited in the model's unit, written in the clip's",
              file=sys.stderr)
    bvh.write(path, motion)
    print(f"wrote {path}: {motion.frames} frames at {motion.fps:g} fps")


_UNIT_NAMES = {1.0: "metres", 0.01: "centimetres", 0.0254: "inches"}


def _user_errors(fn):
    def wrapped(args):
        from .cli import UserError
        try:
            return fn(args)
        except synthesis.SynthesisError as e:
            raise UserError(str(e)) from None
    return wrapped


@_user_errors
def cmd_inbetween(args):
    model, (clip,), labels, unit = _load(args, args.clip)
    start, end = args.frames
    _write(args.out, synthesis.inbetween(model, clip, start, end, labels, args.seed), model, unit)


@_user_errors
def cmd_transition(args):
    model, (a, b), labels, unit = _load(args, args.a, args.b)
    if args.crossfade:
        out = synthesis.crossfade(a, b, args.frames)
    else:
        out = synthesis.transition(model, a, b, args.frames, labels, args.seed)
    _write(args.out, out, model, unit)


@_user_errors
def cmd_restyle(args):
    model, (clip,), labels, unit = _load(args, args.clip)
    if args.loop:  # restyled with the frame where the next cycle starts, written as one cycle again
        clip = synthesis.with_closing_frame(clip)
        note = synthesis.wrap_note(model, clip)
        if note:
            print(f"note: {args.clip}: {note} (--loop is for one cycle as `ganim sample --loop` writes it)",
                  file=sys.stderr)
    out = synthesis.restyle(model, clip, labels, args.seed, strength=args.strength, drafts=args.drafts,
                            height=not args.keep_height, cycle=args.loop)
    _write(args.out, out.slice(0, out.frames - 1) if args.loop else out, model, unit)


@_user_errors
def cmd_keyframes(args):
    model, (clip,), labels, unit = _load(args, args.clip)
    if args.every is not None:
        if args.every < 1:
            raise synthesis.SynthesisError(f"--every must be at least 1, got {args.every}")
        at = sorted(set(range(0, clip.frames, args.every)) | {clip.frames - 1})
    else:
        at = args.at
    _write(args.out, synthesis.keyframe_guided(model, clip, at, labels, args.seed), model, unit)


@_user_errors
def cmd_follow_path(args):
    model, _, labels, _ = _load(args, inputs=(args.path,))
    xz = paths.per_frame(model, paths.read_csv(args.path, model), frames=args.frames, speed=args.speed)
    _write(args.out, synthesis.follow_path(model, xz, labels, args.seed))
