"""Headless generation: ``blender -b scene.blend -c ganim generate ...``.

The same entry runs under the bpy module as ``python -m blender_ganim.blender.cli
generate ... [--scene scene.blend]``.  Exit status: 0 done, 2 a problem the user
can fix (one line ``ganim: error: ...`` on stderr, nothing saved).  Anything else
is a bug and keeps its traceback.
"""

import argparse
import os
import re
import secrets
import sys

import bpy

from ..core import bvh, synthesis
from . import generate

PROG = "ganim"


class UsageError(Exception):
    """Bad command line or input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _label(text):
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. style=elderly), got {text!r}")
    return name.strip(), value.strip()


def build_parser():
    parser = _Parser(prog=PROG, description="Generate character motion with a .ganim model, headless.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    g = sub.add_parser("generate", help="generate clips onto an armature and save the .blend",
                       description="Generate clips onto an armature and save the .blend (and BVH files).")
    g.add_argument("--armature", metavar="NAME", help="armature object to animate (default: the active object)")
    g.add_argument("--count", type=int, default=1, help="number of variations (default 1)")
    g.add_argument("--frames", type=int, default=150, help="frames per clip (default 150)")
    g.add_argument("--label", type=_label, action="append", default=[], metavar="NAME=VALUE",
                   help="condition on a label, e.g. style=elderly (repeatable)")
    g.add_argument("--seed", type=int, help="random seed (default: a fresh one)")
    g.add_argument("--temperature", type=float, default=None, help=synthesis.TEMPERATURE_HELP)
    g.add_argument("--out", required=True, metavar="OUT.blend", help="where to save the result")
    g.add_argument("--bvh-dir", metavar="DIR", help="also write each clip as DIR/<action>.bvh")
    g.add_argument("--model", metavar="PATH", help="model file (default: the shipped model)")
    g.add_argument("--create-armature", action="store_true",
                   help="build the model's skeleton when no object has the --armature name")
    g.add_argument("--scene", metavar="SCENE.blend", help="open this .blend first (for the bpy module)")
    g.add_argument("--start-frame", type=int, default=1, help="frame of the first key (default 1)")
    g.add_argument("--target", choices=("new", "replace", "nla"), default="new",
                   help="new actions (default), replace the active action, or one NLA strip per clip")
    g.add_argument("--action-name", metavar="NAME", help="action name (default: armature + labels + number)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing action of that name")
    g.add_argument("--set-frame-range", action="store_true", help="set the scene's frame range to the clip")
    return parser


def run(argv):
    """The command: ``argv`` is everything after ``-c ganim``; returns the exit status."""
    try:
        args = build_parser().parse_args(list(argv))
        return COMMANDS[args.command](args)
    except SystemExit as e:            # --help
        return e.code if isinstance(e.code, int) else 0
    except (UsageError, OSError, *generate.USER_ERRORS) as e:
        print(f"{PROG}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


def cmd_generate(args):
    out = os.path.abspath(args.out)
    if not out.lower().endswith(".blend"):
        raise UsageError(f"--out must name a .blend file, got {args.out!r}")
    if args.scene:
        _open(args.scene)
    model = generate.load_model(args.model)
    scene = bpy.context.scene
    obj = _armature(args, model, scene)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)   # printed: rerun with --seed
    result = generate.generate_onto(
        obj, model, args.frames, count=args.count, labels=dict(args.label), seed=seed,
        start_frame=args.start_frame, target=args.target.upper(), action_name=args.action_name,
        overwrite=args.overwrite, set_frame_range=args.set_frame_range, scene=scene,
        temperature=args.temperature)
    print(f"{PROG}: {result.summary()} on {obj.name!r} (seed {seed})")
    for action, labels in zip(result.actions, result.labels):
        print(f"{PROG}:   {action.name}: " + ", ".join(f"{k}={v}" for k, v in labels.items()))
    for warning in result.warnings:
        print(f"{PROG}: warning: {warning}")
    if args.bvh_dir:
        os.makedirs(args.bvh_dir, exist_ok=True)
        for action, motion in zip(result.actions, result.motions):
            path = os.path.join(args.bvh_dir, re.sub(r"[^\w.-]", "_", action.name) + ".bvh")
            bvh.write(path, motion)
            print(f"{PROG}: wrote {path}")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    try:
        bpy.ops.wm.save_as_mainfile(filepath=out)
    except RuntimeError as e:
        raise UsageError(f"cannot save {out}: {' '.join(str(e).split())}") from None
    print(f"{PROG}: wrote {out}")
    return 0


def _open(path):
    if not os.path.isfile(path):
        raise UsageError(f"no such scene file: {path}")
    try:
        bpy.ops.wm.open_mainfile(filepath=os.path.abspath(path))
    except RuntimeError as e:
        raise UsageError(f"cannot open {path}: {' '.join(str(e).split())}") from None


def _armature(args, model, scene):
    """The object named by --armature (or the active one); built when asked and absent."""
    if args.armature:
        obj = scene.objects.get(args.armature)
        if obj is None and args.create_armature:
            obj = generate.create_armature(model, name=args.armature)
            print(f"{PROG}: created armature {obj.name!r} with the model's {len(obj.data.bones)} bones")
        if obj is None:
            raise UsageError(f"the scene has no object named {args.armature!r} "
                             "(add --create-armature to build the model's skeleton)")
        return obj
    obj = bpy.context.view_layer.objects.active
    if obj is None and args.create_armature:
        obj = generate.create_armature(model)
        print(f"{PROG}: created armature {obj.name!r} with the model's {len(obj.data.bones)} bones")
    if obj is None:
        raise UsageError("no --armature given and the scene has no active object "
                         "(add --create-armature to build the model's skeleton)")
    return obj


COMMANDS = {"generate": cmd_generate}


def main(argv=None):
    sys.exit(run(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
