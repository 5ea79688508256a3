"""Export a rig's actions as a BVH folder + labels.csv that ``ganim train`` reads unchanged.

So a user can train on their own character's animation.  Every action that animates
the armature's bones (or those whose name matches ``pattern``) becomes one BVH file
in the rig's own hierarchy, Y-up in the armature's file units (the inverse of the
armature mapping: read_action already returns BVH space).  Labels come from the
action's ``ganim_labels`` custom property (``"style=happy,content=walk"``) or from
its name through a regex with named groups (``(?P<content>[^_]+)_(?P<style>[^_]+)``).

Headless: ``python -m blender_ganim.blender.export_actions --blend FILE --armature NAME
--out DIR [--pattern REGEX] [--name-regex REGEX]``.
"""

import argparse
import csv
import re
import sys
from pathlib import Path

import bpy
import numpy as np

from ..core import bvh
from ..core import rotations as rot
from ..core.skeleton import POSITION_CHANNELS, Skeleton
from . import actions, armature, rig_map, rigs

LABELS_PROP = "ganim_labels"


class ExportError(ValueError):
    """Nothing to export, or the input cannot be used; one line saying why."""


# ------------------------------------------------------------------ labels

def parse_labels(text):
    """``"style=happy, content=walk"`` -> {'style': 'happy', 'content': 'walk'}."""
    out = {}
    for item in re.split(r"[,;]", text or ""):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ExportError(f"labels must look like 'style=happy,content=walk', got {text!r}")
        out[key.strip()] = value.strip()
    return out


def labels_for(action, name_regex=None):
    """Labels from the action's custom property, else its name matched by ``name_regex``."""
    prop = action.get(LABELS_PROP)
    if prop:
        return parse_labels(str(prop))
    if name_regex:
        m = re.search(name_regex, action.name)
        if m:
            return {k: v for k, v in m.groupdict().items() if v is not None}
    return {}


# ------------------------------------------------------------------ which actions, which bones

def _animated_bones(action, obj):
    """Bone names of ``obj`` that ``action`` has pose-bone curves for."""
    container, _ = actions._fcurve_collection(action, obj)
    if container is None:
        return set()
    names = {key[0] for key in actions._curves_by_channel(container.fcurves)}
    return {n for n in names if obj.data.bones.get(n) is not None}


def rig_actions(obj, pattern=None):
    """``[(action, bones)]``: actions that animate ``obj``'s bones, optionally filtered by name."""
    try:
        rx = re.compile(pattern) if pattern else None
    except re.error as e:
        raise ExportError(f"bad --pattern {pattern!r}: {e}") from None
    out = []
    for action in sorted(bpy.data.actions, key=lambda a: a.name):
        if rx is not None and not rx.search(action.name):
            continue
        bones = _animated_bones(action, obj)
        if bones:
            out.append((action, bones))
    return out


def export_skeleton(obj, bones):
    """The skeleton to export: the one stored by build_armature, else the animated bones + ancestors."""
    if obj.get(armature.SKELETON_PROP):
        return armature.skeleton_from_object(obj)
    return rig_map.read_rig(obj, keep=sorted(bones))[0]


def _with_channels(motion):
    """Position channels on every joint that moves (the root always), so BVH keeps them."""
    sk = motion.skeleton
    extent = max(float(np.linalg.norm(sk.offsets, axis=-1).max()), 1e-9)
    moving = np.ptp(motion.positions, axis=0).max(axis=-1) > 1e-6 * extent
    moving[0] = True
    rot_channels = [tuple(c for c in ch if c.endswith("rotation")) or ("Zrotation", "Xrotation", "Yrotation")
                    for ch in sk.channels]
    channels = tuple((POSITION_CHANNELS if moving[j] else ()) + rot_channels[j] for j in range(len(sk)))
    skeleton = Skeleton(sk.names, sk.parents, sk.offsets, channels, sk.end_sites)
    return motion.copy(skeleton=skeleton)


def bvh_file_name(name, taken):
    """``name`` as a safe file name, numbered past those in ``taken`` (any case), which it joins."""
    stem = re.sub(r"[^\w.-]+", "_", name).strip("._") or "action"
    out, n = f"{stem}.bvh", 1
    while out.lower() in taken:
        n += 1
        out = f"{stem}_{n}.bvh"
    taken.add(out.lower())
    return out


# ------------------------------------------------------------------ export

def _one_cycle(action, motion):
    """A cyclic action whose last key is its first pose again (the next cycle's first frame, as a
    generated loop and most hand-keyed cycles end) loses that frame: training data would otherwise
    hold the pose twice at every wrap."""
    if not action.use_cyclic or motion.frames < 3:
        return motion
    same = np.abs(rot.quat_angle(motion.rotations[-1], motion.rotations[0])).max() < 1e-3
    return motion.slice(0, motion.frames - 1) if same else motion


def export_actions(obj, out_dir, pattern=None, name_regex=None):
    """Write one BVH per action and ``labels.csv``; returns ``[(file name, labels)]``."""
    armature.ensure_armature(obj)
    if name_regex:
        try:
            re.compile(name_regex)
        except re.error as e:
            raise ExportError(f"bad name regex {name_regex!r}: {e}") from None
    found = rig_actions(obj, pattern)
    if not found:
        what = f" matching {pattern!r}" if pattern else ""
        raise ExportError(f"no actions{what} animate the bones of {obj.name!r}")
    skeleton = export_skeleton(obj, set().union(*(b for _, b in found)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, taken = [], set()
    for action, _ in found:
        motion = _one_cycle(action, actions.read_action(obj, action, skeleton))
        name = bvh_file_name(action.name, taken)
        bvh.write(out_dir / name, _with_channels(motion))
        rows.append((name, labels_for(action, name_regex)))
    columns = []
    for _, labels in rows:
        columns += [k for k in labels if k not in columns and k != "file"]
    with open(out_dir / "labels.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file"] + columns)
        for name, labels in rows:
            w.writerow([name] + [labels.get(c, "") for c in columns])
    return rows


# ------------------------------------------------------------------ operator

class GANIM_OT_export_actions(bpy.types.Operator):
    """Export the active armature's actions as BVH + labels.csv for 'ganim train'"""

    bl_idname = "ganim.export_actions"
    bl_label = "Export Actions for Training"
    bl_options = {"REGISTER"}

    directory: bpy.props.StringProperty(name="Folder", subtype="DIR_PATH")
    pattern: bpy.props.StringProperty(name="Only Actions Matching", description="regex on action names")
    name_regex: bpy.props.StringProperty(
        name="Labels From Name", description="regex with named groups, e.g. (?P<content>[^_]+)_(?P<style>[^_]+)")

    @classmethod
    def poll(cls, context):
        obj = rigs.armature_of(context.active_object)
        return obj is not None and obj.type == "ARMATURE"

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        if not self.directory:
            self.report({"ERROR"}, "choose a folder to export to")
            return {"CANCELLED"}
        try:
            rows = export_actions(rigs.armature_of(context.active_object), bpy.path.abspath(self.directory),
                                  self.pattern or None, self.name_regex or None)
        except (ExportError, ValueError, OSError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"exported {len(rows)} actions to {self.directory}")
        return {"FINISHED"}


CLASSES = (GANIM_OT_export_actions,)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)


# ------------------------------------------------------------------ headless

class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Usage(message)


def main(argv=None):
    """Headless export; returns 0, or 2 after printing one line on bad input."""
    p = _Parser(prog="python -m blender_ganim.blender.export_actions",
                description="Export an armature's actions as BVH + labels.csv for 'ganim train'.")
    p.add_argument("--blend", required=True, help=".blend file to read")
    p.add_argument("--armature", required=True, help="armature object name")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--pattern", help="only actions whose name matches this regex")
    p.add_argument("--name-regex", help="labels from action names: regex with named groups")
    try:
        args = p.parse_args(argv)
        blend = Path(args.blend)
        if not blend.is_file():
            raise ExportError(f"{blend}: no such .blend file")
        try:
            bpy.ops.wm.open_mainfile(filepath=str(blend))
        except RuntimeError as e:
            raise ExportError(f"{blend}: cannot open ({str(e).strip().splitlines()[-1]})") from None
        obj = bpy.data.objects.get(args.armature)
        if obj is None or obj.type != "ARMATURE":
            arms = sorted(o.name for o in bpy.data.objects if o.type == "ARMATURE")
            raise ExportError(f"no armature named {args.armature!r} in {blend} "
                              f"(armatures: {', '.join(arms) or 'none'})")
        rows = export_actions(obj, args.out, args.pattern, args.name_regex)
    except (_Usage, ExportError, ValueError, OSError) as e:
        print(f"export_actions: error: {e}", file=sys.stderr)
        return 2
    print(f"exported {len(rows)} actions to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
