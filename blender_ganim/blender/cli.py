"""Headless generation and editing: ``blender -b scene.blend -c ganim generate | blend | regenerate |
keyframes | restyle | follow-path ...``.

The same entry runs under the bpy module as ``python -m blender_ganim.blender.cli
generate ... [--scene scene.blend]``.  Exit status: 0 done, 2 a problem the user
can fix (one line ``ganim: error: ...`` on stderr, nothing saved).  Anything else
is a bug and keeps its traceback.
"""

import argparse
import os
import secrets
import sys

import bpy

from ..core import bvh, synthesis
from . import actions, edit, export_actions, generate, rigs

PROG = "ganim"
MODEL_RATE_HELP = ("key one frame per model frame (default: resampled to the scene's frame rate, --frames "
                   "being scene frames, so the motion plays at the speed it was made at)")
SCENE_FPS_HELP = ("set the scene's frame rate first, e.g. 60 for a game or 29.97 for NTSC video (default: "
                  "the scene's own; a new scene's is 24); clips are keyed and BVH files written at it")


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
    g.add_argument("--model-rate", action="store_true", help=MODEL_RATE_HELP)
    g.add_argument("--scene-fps", type=float, metavar="FPS", help=SCENE_FPS_HELP)
    g.add_argument("--loop", action="store_true",
                   help="make each clip a cycle whose end leads back into its start; its F-curves repeat "
                        "(Cycles modifiers) and its BVH holds one cycle")
    g.add_argument("--in-place", action="store_true", help="with --loop: take the root's travel out")
    _edit_parsers(sub)
    return parser


def _edit_parsers(sub):
    """The N-panel's Blend, Edit and Follow Path, headless: each writes one new action (or replaces the
    active one with --replace) on the armature and saves the .blend, as the operators do."""
    def edit_parser(name, help, description):
        e = sub.add_parser(name, help=help, description=description + " Writes a new action (--replace: "
                           "replaces the active one) and saves the .blend.")
        e.add_argument("--armature", metavar="NAME", help="armature object (default: the active object)")
        e.add_argument("--scene", metavar="SCENE.blend", help="open this .blend first (for the bpy module)")
        e.add_argument("--model", metavar="PATH", help="model file (default: the shipped model)")
        e.add_argument("--label", type=_label, action="append", default=[], metavar="NAME=VALUE",
                       help="labels for the generated frames (default: matched to the kept frames)")
        e.add_argument("--seed", type=int, help="random seed (default: a fresh one)")
        e.add_argument("--replace", action="store_true", help="replace the active action instead of a new one")
        e.add_argument("--out", required=True, metavar="OUT.blend", help="where to save the result")
        e.add_argument("--bvh-dir", metavar="DIR", help="also write the clip as DIR/<action>.bvh")
        e.set_defaults(create_armature=False)
        return e

    e = edit_parser("blend", "join two actions with a generated transition (or a crossfade)",
                    "Action A, FRAMES generated frames (--crossfade: a slerp crossfade), then action B moved to "
                    "continue A's position and facing.")
    e.add_argument("--a", required=True, metavar="ACTION", help="the action that plays first")
    e.add_argument("--b", required=True, metavar="ACTION", help="the action that follows")
    e.add_argument("--frames", type=int, required=True, metavar="N", help="transition length in frames")
    e.add_argument("--crossfade", action="store_true", help="classic slerp crossfade instead of the generator")
    e = edit_parser("regenerate", "regenerate a frame range of the active action (or of each --action)",
                    "Scene frames START to END (inclusive) of the armature's active action (or of each --action) "
                    "generated anew; "
                    "every other frame is kept exactly.")
    e.add_argument("--start", type=int, required=True)
    e.add_argument("--end", type=int, required=True)
    _action_option(e)
    e = edit_parser("keyframes", "regenerate a frame range through the action's own key poses",
                    "Scene frames START to END of the active action (or of each --action) generated anew through "
                    "its poses at the "
                    "key frames (default: every frame in the range where the root bone is keyed).")
    e.add_argument("--start", type=int, required=True)
    e.add_argument("--end", type=int, required=True)
    e.add_argument("--at", metavar="F1,F2,...", help="scene frames to hold (default: the root bone's keys)")
    _action_option(e)
    e = edit_parser("restyle", "the active action (or each --action) in another style, same root path and timing",
                    "The active action (or each --action) regenerated with --label (e.g. style=elderly), keeping "
                    "its root path and timing.")
    e.add_argument("--strength", type=float, default=synthesis.STYLE_STRENGTH,
                   help=f"push past the new style (default {synthesis.STYLE_STRENGTH:g}: a plain label swap)")
    e.add_argument("--drafts", type=int, default=synthesis.RESTYLE_DRAFTS,
                   help=f"draws to choose from (default {synthesis.RESTYLE_DRAFTS})")
    e.add_argument("--keep-height", action="store_true", help="keep the root's height exactly as it is")
    _action_option(e)
    e = edit_parser("follow-path", "a clip whose root follows a curve",
                    "A new clip whose root follows the first spline of the curve object CURVE, spread over "
                    "--frames or walked at --speed.")
    e.add_argument("--curve", required=True, metavar="CURVE", help="curve object giving the root path")
    timing = e.add_mutually_exclusive_group(required=True)
    timing.add_argument("--frames", type=int, metavar="N", help="spread the path over N frames")
    timing.add_argument("--speed", type=float, metavar="M_S", help="walk it at this speed (metres per second)")
    e.add_argument("--start-frame", type=int, default=1, help="frame of the first key (default 1)")
    e.add_argument("--model-rate", action="store_true", help=MODEL_RATE_HELP)
    e.add_argument("--scene-fps", type=float, metavar="FPS", help=SCENE_FPS_HELP)


def _action_option(e):
    e.add_argument("--action", action="append", default=[], metavar="NAME",
                   help="edit this action instead of the active one (with no active action: the NLA strip picked "
                        "in the file, whose result goes onto the strip); repeat to edit several in one run, each "
                        "into an action of its own (--replace: each in place); the last one made plays")


def run(argv):
    """The command: ``argv`` is everything after ``-c ganim``; returns the exit status."""
    try:
        args = build_parser().parse_args(list(argv))
        return COMMANDS[args.command](args)
    except SystemExit as e:            # --help
        return e.code if isinstance(e.code, int) else 0
    except (UsageError, OSError, *edit.USER_ERRORS) as e:
        print(f"{PROG}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


def _setup(args):
    """(OUT.blend path, model, scene, armature, seed) for a command; the scene opened first if given."""
    out = _blend_path(args.out)
    if args.scene:
        _open(args.scene)
    model = generate.load_model(args.model)
    scene = bpy.context.scene
    if getattr(args, "scene_fps", None) is not None:
        generate.set_scene_fps(scene, args.scene_fps)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)   # printed: rerun with --seed
    return out, model, scene, _armature(args, model, scene), seed


def cmd_generate(args):
    if args.in_place and not args.loop:
        raise UsageError("--in-place shapes a loop: add --loop")
    out, model, scene, obj, seed = _setup(args)
    result = generate.generate_onto(
        obj, model, args.frames, count=args.count, labels=_labels(args.label), seed=seed,
        start_frame=args.start_frame, target=args.target.upper(), action_name=args.action_name,
        overwrite=args.overwrite, set_frame_range=args.set_frame_range, scene=scene,
        temperature=args.temperature, scene_rate=not args.model_rate, loop=args.loop, in_place=args.in_place)
    print(f"{PROG}: {result.summary()} on {obj.name!r} (seed {seed})")
    for action, labels in zip(result.actions, result.labels):
        print(f"{PROG}:   {action.name}: " + ", ".join(f"{k}={v}" for k, v in labels.items()))
    for warning in result.warnings:
        print(f"{PROG}: warning: {warning}")
    one_cycle = [m.slice(0, m.frames - 1) for m in result.motions] if args.loop else result.motions
    _write_bvh(args.bvh_dir, [a.name for a in result.actions], one_cycle)
    _save(out)
    return 0


def cmd_edit(args):
    """blend | regenerate | keyframes | restyle | follow-path: edit.* calls on the armature, one per
    --action (regenerate, keyframes, restyle; default: the active action), then one save."""
    out, model, scene, obj, seed = _setup(args)
    common = dict(labels=_labels(args.label), seed=seed, replace=args.replace, scene=scene)
    named = getattr(args, "action", [])
    for i, name in enumerate(named):         # all checked before any edit
        _action(name, "--action")
        if name in named[:i]:
            raise UsageError(f"--action {name!r} is given twice: name each action once")
    if named:
        generate.check_armature(obj, model)  # e.g. an NLA strip in tweak mode: refused before any is played
    results = []
    for name in named or [None]:
        if name is not None:                 # looked up by name each time: --replace swaps the data-block
            _play(obj, _action(name, "--action"))
        result = _edit_once(args, model, scene, obj, common)
        results.append((result.action.name, result.motion))
        source = f"action {name!r}: " if name is not None else ""
        drawn = "" if getattr(args, "crossfade", False) else f" (seed {seed})"  # a crossfade draws nothing
        print(f"{PROG}: {source}{result.summary()} on {obj.name!r}{drawn}")
        for warning in result.warnings:
            print(f"{PROG}: warning: {warning}")
    _write_bvh(args.bvh_dir, *zip(*results))
    _save(out)
    return 0


def _edit_once(args, model, scene, obj, common):
    if args.command == "blend":
        return edit.blend(obj, model, _action(args.a, "--a"), _action(args.b, "--b"), args.frames,
                          method="CROSSFADE" if args.crossfade else "GENERATED", **common)
    if args.command == "regenerate":
        return edit.regenerate_range(obj, model, args.start, args.end, **common)
    if args.command == "keyframes":
        at = synthesis.parse_frames(args.at) if args.at else None
        return edit.keyframe_guided(obj, model, args.start, args.end, frames=at, **common)
    if args.command == "restyle":
        return edit.restyle(obj, model, strength=args.strength, drafts=args.drafts,
                            keep_height=args.keep_height, **common)
    curve = scene.objects.get(args.curve)
    if curve is None:
        raise UsageError(f"the scene has no object named {args.curve!r}")
    return edit.follow_path(obj, model, curve, frames=args.frames, speed=args.speed,
                            start_frame=args.start_frame, scene_rate=not args.model_rate, **common)


def _play(obj, action):
    """Make ``action`` the one ``obj`` plays, as picking it in the Action Editor would; the action it
    displaces keeps a fake user if nothing else uses it, so saving never drops it."""
    before = actions._assignment(obj)
    actions._assign(obj, action, actions._object_slot(action, obj))
    actions.keep_displaced(before)


def _labels(pairs):
    """--label NAME=VALUE pairs as a dict; a name given twice with two values is refused (the last
    one silently won)."""
    out = {}
    for name, value in pairs:
        if out.get(name, value) != value:
            raise UsageError(f"--label {name} is given twice ({out[name]}, {value}): give one value per label")
        out[name] = value
    return out


def _action(name, flag):
    action = bpy.data.actions.get(name)
    if action is None:
        known = ", ".join(sorted(a.name for a in bpy.data.actions)) or "none"
        raise UsageError(f"{flag}: no action named {name!r} (actions: {known})")
    return action


def _blend_path(path):
    out = os.path.abspath(path)
    if not out.lower().endswith(".blend"):
        raise UsageError(f"--out must name a .blend file, got {path!r}")
    return out


def _write_bvh(folder, names, motions):
    """Each Motion as FOLDER/<action name>.bvh (names, not actions: an edit with --replace may since
    have swapped an action's data-block)."""
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    taken = set()
    for name, motion in zip(names, motions):  # "A B" and "A_B" both file as A_B: the second as A_B_2
        path = os.path.join(folder, export_actions.bvh_file_name(name, taken))
        bvh.write(path, motion)
        print(f"{PROG}: wrote {path}")


def _save(out):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    try:
        bpy.ops.wm.save_as_mainfile(filepath=out)
    except RuntimeError as e:
        raise UsageError(f"cannot save {out}: {' '.join(str(e).split())}") from None
    print(f"{PROG}: wrote {out}")


def _open(path):
    if not os.path.isfile(path):
        raise UsageError(f"no such scene file: {path}")
    try:
        bpy.ops.wm.open_mainfile(filepath=os.path.abspath(path))
    except RuntimeError as e:
        raise UsageError(f"cannot open {path}: {' '.join(str(e).split())}") from None


def _armature(args, model, scene):
    """The object named by --armature (or the active one; a character's mesh stands for its
    armature); built when asked and absent."""
    if args.armature:
        obj = scene.objects.get(args.armature)
        if obj is None and args.create_armature:
            obj = generate.create_armature(model, name=args.armature)
            print(f"{PROG}: created armature {obj.name!r} with the model's {len(obj.data.bones)} bones")
        if obj is None:
            raise UsageError(f"the scene has no object named {args.armature!r} "
                             "(add --create-armature to build the model's skeleton)")
        return rigs.armature_of(obj)
    obj = rigs.armature_of(bpy.context.view_layer.objects.active)
    if obj is None and args.create_armature:
        obj = generate.create_armature(model)
        print(f"{PROG}: created armature {obj.name!r} with the model's {len(obj.data.bones)} bones")
    if obj is None:
        raise UsageError("no --armature given and the scene has no active object "
                         "(add --create-armature to build the model's skeleton)")
    return obj


COMMANDS = {"generate": cmd_generate, **{name: cmd_edit for name in ("blend", "regenerate", "keyframes", "restyle",
                                                                  "follow-path")}}


def main(argv=None):
    sys.exit(run(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
