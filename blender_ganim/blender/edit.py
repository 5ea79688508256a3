"""Blend, Edit and Follow Path on an armature: read actions, call core.synthesis, write new actions.

The bpy-level half of the editing operators (which stay thin).  Each function
checks everything a user can get wrong (ranges in scene frames, actions made for
another skeleton, empty curves, lengths the model cannot bridge) and raises one of
``USER_ERRORS`` before any action is written; writing goes through
generate.write_clips, so naming, Replace Active and clean-up on failure are the
same as Generate Motion's.  Frames are scene frames: an action's first frame is
frame 0 of the Motion read from it, and an action is edited at the frame rate it was keyed at
(core.synthesis resamples to the model's rate and back).
"""

from dataclasses import dataclass, field

import bpy
import numpy as np

from ..core import paths, synthesis
from . import actions, generate, rigs

BLEND_METHODS = ("GENERATED", "CROSSFADE")


class EditError(ValueError):
    """A request the editing tools cannot serve as asked; the message says what to change."""


USER_ERRORS = generate.USER_ERRORS + (EditError,)


@dataclass
class Edited:
    """What one editing call made: the new action, its Motion (model skeleton) and first frame."""
    action: object
    motion: object
    start_frame: int
    what: str
    carried: int = 0   # F-curves the edit does not generate, kept from the source action
    warnings: list = field(default_factory=list)   # for the user: what was done, but not as they might think

    def summary(self):
        kept = f"; kept {self.carried} other F-curve{'s' * (self.carried != 1)} of the source" if self.carried else ""
        return (f"{self.what}: action {self.action.name} ({self.motion.frames} frames from frame "
                f"{self.start_frame}{kept})")


# ------------------------------------------------------------------ shared

@dataclass
class Source:
    """What an edit reads and where its result goes: the action ``obj`` plays, or, where it plays none,
    the action of its active NLA strip (``strip``), which places, scales and repeats its frames."""
    action: object
    strip: object = None

    @property
    def start(self):
        """The scene frame where the action's first frame plays (its first repeat's)."""
        first = rigs.clip_start(self.action)
        s = self.strip
        return first if s is None else int(round(s.frame_start + (first - s.action_frame_start) * s.scale))

    def to_action(self, frame, end=False):
        """Scene ``frame`` as (the action's frame, which repeat of the strip plays it), as the NLA maps
        it; ``end``: a frame where one repeat ends and the next begins counts as the earlier one's."""
        s = self.strip
        if s is None:
            return float(frame), 0
        span = (s.action_frame_end - s.action_frame_start) * s.scale      # scene frames per repeat
        t = frame - s.frame_start
        k = int(np.floor(t / span)) if span > 0 else 0
        if end and k > 0 and abs(t - k * span) < 1e-6:
            k -= 1
        k = min(max(k, 0), max(int(np.ceil(s.repeat - 1e-6)) - 1, 0))
        return s.action_frame_start + (t - k * span) / s.scale, k

    def __str__(self):
        return f"NLA strip {self.strip.name!r} (action {self.action.name!r})" if self.strip else \
            f"action {self.action.name!r}"


def find_source(obj):
    """The :class:`Source` an edit of ``obj`` would use, or None (for the panel: nothing is checked)."""
    ad = obj.animation_data if obj is not None else None
    if ad is None:
        return None
    if ad.action is not None:
        return Source(ad.action)
    strips = _strips(ad)
    chosen = [s for s in strips if s.active] or [s for s in strips if s.select]
    return Source(chosen[0].action, chosen[0]) if len(chosen) == 1 else None


def _strips(ad):
    """The NLA strips of animation data ``ad`` (None: none) that play an action."""
    return [s for t in (ad.nla_tracks if ad is not None else ()) for s in t.strips if s.action is not None]


def edit_source(obj):
    """The :class:`Source` an edit of ``obj`` reads and writes; EditError when there is none, or when its
    strip maps frames in a way an edit cannot follow (reversed, an animated strip time)."""
    source = find_source(obj)
    if source is None:
        strips = _strips(obj.animation_data)
        hint = (f" (its clips are NLA strips: click one in the NLA editor to edit it, e.g. {strips[0].name!r})"
                if strips else "")
        raise EditError(f"{obj.name!r} has no active action: pick or generate one first{hint}")
    strip = source.strip
    if strip is not None:
        how = [w for w, off in (("reversed", strip.use_reverse),
                                ("through an animated strip time", strip.use_animated_time)) if off]
        if how:
            raise EditError(f"NLA strip {strip.name!r} plays its action {' and '.join(how)}: turn that off to "
                            f"edit it here, or make {source.action.name!r} the active action")
    return source


def _write(rig, motion, stem, start_frame, replace, what, scene=None, source=None, cyclic=False):
    """One new action (or the active one replaced); ``source``: the action edited, whose other
    F-curves (object keys, bone scale, custom properties, unmapped bones) the result keeps."""
    carry = actions.curve_snapshot(rig.obj, source) if source is not None else ()  # before Replace removes it
    target = "REPLACE" if replace else "NEW"
    before = actions._assignment(rig.obj)
    kept_before = before[0].use_fake_user if before and before[0] is not None else None
    made = generate.write_clips(rig, [motion], [stem], target=target, start_frame=start_frame, scene=scene,
                                cycles=cyclic)
    try:
        if cyclic:
            actions.make_cyclic(rig.obj, made[0])
        carried = actions.carry_curves(rig.obj, made[0], carry)
    except BaseException:
        if not replace:  # a new action half made: gone, and what played before plays again
            actions._restore(rig.obj, before)
            if kept_before is not None:
                before[0].use_fake_user = kept_before
            bpy.data.actions.remove(made[0])
        raise
    return Edited(made[0], motion, int(start_frame), what, carried)


def _write_for(rig, source, motion, stem, replace, what, scene=None, cyclic=False):
    """:func:`_write` for an edit of ``source``: onto its NLA strip where it has one."""
    if source.strip is None:
        return _write(rig, motion, stem, source.start, replace, what, scene, source=source.action, cyclic=cyclic)
    obj, strip, old, start = rig.obj, source.strip, source.action, source.start  # (before Replace removes it)
    if replace:
        actions.check_replaceable(old, obj)
    # keyed on the action's own frames, which the strip places in the scene
    made = _write(rig, motion, stem, rigs.clip_start(old), False, what, scene, source=old, cyclic=cyclic)
    new = made.action
    try:
        slot = actions._object_slot(new, obj)       # the slot the new action plays, while it is the active one
        obj.animation_data.action = None            # the object played none: the strip does
        strip.action = new                          # (its frame ranges stay: the keys sit on the same frames)
        if slot is not None:
            strip.action_slot = slot
    except BaseException:
        strip.action = old
        obj.animation_data.action = None
        bpy.data.actions.remove(new)
        raise
    if replace:
        actions._swap_in(old, new, old.name)
    else:
        actions.keep_displaced((old, None))
    made.what += f" on NLA strip {strip.name!r}"
    if strip.repeat > 1 + 1e-6:
        made.warnings.append(f"NLA strip {strip.name!r} repeats its action {strip.repeat:g} times: every repeat "
                             "plays the edit")
    made.start_frame = start              # said in scene frames
    return made


def _check_range(source, start, end, motion):
    """Scene frames [start, end] (inclusive) as Motion frames [s, e) of the source's action; EditError when
    empty or outside. On a strip, the range must lie in the frames it shows and in one of its repeats,
    and is widened to whole action frames where the strip is scaled."""
    if end < start:
        raise EditError(f"frame range {start}-{end} is empty: the end comes before the start")
    first = rigs.clip_start(source.action)
    last = first + motion.frames - 1
    strip = source.strip
    if strip is None:
        if start < first or end > last:
            raise EditError(f"frames {start}-{end} lie outside {source} (frames {first}-{last})")
        return start - first, end - first + 1
    shown = int(round(strip.frame_start)), int(round(strip.frame_end))
    if start < shown[0] or end > shown[1]:
        raise EditError(f"frames {start}-{end} lie outside {source} (frames {shown[0]}-{shown[1]})")
    (a0, k0), (a1, k1) = source.to_action(start), source.to_action(end, end=True)
    if k0 != k1:
        raise EditError(f"frames {start}-{end} span two repeats of NLA strip {strip.name!r}, which all play the "
                        f"same action frames: choose frames within one repeat")
    a0, a1 = int(np.floor(a0 + 1e-6)), int(np.ceil(a1 - 1e-6))
    if a0 < first or a1 > last:
        raise EditError(f"frames {start}-{end} play action frames {a0}-{a1} of NLA strip {strip.name!r}, where "
                        f"{source.action.name!r} keys frames {first}-{last}")
    return a0 - first, a1 - first + 1


# ------------------------------------------------------------------ Blend

def blend(obj, model, a, b, frames, method="GENERATED", labels=None, seed=None, replace=False, scene=None):
    """A, ``frames`` blended frames, then B placed to continue A; a new action from A's first frame.

    GENERATED asks the model for the transition (synthesis.transition); CROSSFADE is
    the classic slerp between A's last and B's first pose (synthesis.crossfade).
    """
    rig = generate.check_armature(obj, model)
    if a is None or b is None:
        raise EditError("choose both actions: A (plays first) and B (follows)")
    if method not in BLEND_METHODS:
        raise EditError(f"unknown blend method {method!r}; choose one of {', '.join(BLEND_METHODS)}")
    ma, mb = rig.read(a, f"action A {a.name!r}"), rig.read(b, f"action B {b.name!r}")
    if method == "GENERATED":
        motion = synthesis.transition(model, ma, mb, int(frames), labels=labels, seed=seed)
    else:
        if frames < 0:
            raise EditError("a crossfade needs 0 or more frames")
        motion = synthesis.crossfade(ma, mb, int(frames))
    how = "generated transition" if method == "GENERATED" else "crossfade"
    return _write(rig, motion, f"{a.name}_to_{b.name}", rigs.clip_start(a), replace,
                  f"{how} of {frames} frames", scene, source=a)


# ------------------------------------------------------------------ Edit

def regenerate_range(obj, model, start, end, labels=None, seed=None, replace=False, scene=None):
    """The active action with scene frames [start, end] regenerated and the rest kept (synthesis.inbetween)."""
    rig = generate.check_armature(obj, model)
    source = edit_source(obj)
    action = source.action
    motion = rig.read(action)
    s, e = _check_range(source, start, end, motion)
    out = synthesis.inbetween(model, motion, s, e, labels=labels, seed=seed)
    loop = action.use_cyclic and 0 < s and e < motion.frames  # a loop's first and last frames kept: still a loop
    return _write_for(rig, source, out, f"{action.name}_regen", replace, f"regenerated frames {start}-{end}", scene,
                      cyclic=loop)


def key_frames(obj, action, bone, start, end):
    """Frames of ``action`` in [start, end] where it has keys on ``bone`` (any channel)."""
    container, _ = actions._fcurve_collection(action, obj)
    found = set()
    for fc in container.fcurves if container is not None else ():
        m = actions._PATH.match(fc.data_path)
        if m and bpy.utils.unescape_identifier(m.group(1)) == bone:
            co = np.empty(2 * len(fc.keyframe_points), dtype=np.float64)
            fc.keyframe_points.foreach_get("co", co)
            found.update(int(round(f)) for f in co[0::2])
    return sorted(f for f in found if start <= f <= end)


def keyframe_guided(obj, model, start, end, frames=None, labels=None, seed=None, replace=False, scene=None):
    """Scene frames [start, end] of the active action generated anew through its own key poses.

    ``frames``: the scene frames to hold; default, every frame in the range where the
    action keys the root (Hips) bone.  The result is the whole action with every frame outside
    the range kept exactly (as Regenerate Range keeps them), so Replace Active loses nothing.
    """
    rig = generate.check_armature(obj, model)
    source = edit_source(obj)
    action = source.action
    motion = rig.read(action)
    s, e = _check_range(source, start, end, motion)
    first = rigs.clip_start(action)
    if frames is None:              # the action's own keys, in its frames
        bone = rig.root_bone()
        keys = [f - first for f in key_frames(obj, action, bone, first + s, first + e - 1)]
        if not keys:
            raise EditError(f"action {action.name!r} has no keys on bone {bone!r} in frames {start}-{end}: "
                            "key some poses there, or list the frames to follow")
    else:                           # scene frames, as the strip (if any) plays them
        outside = [f for f in frames if not start <= f <= end]
        if outside:
            raise EditError(f"key frames {', '.join(map(str, outside))} lie outside frames {start}-{end}")
        keys = [int(round(source.to_action(f, end=f == end)[0])) - first for f in frames]
    held = sorted(set(keys) | set(range(s)) | set(range(e, motion.frames)))
    out = synthesis.keyframe_guided(model, motion, held, labels=labels, seed=seed)
    return _write_for(rig, source, out, f"{action.name}_keyed", replace,
                      f"generated frames {start}-{end} through {len(set(keys))} key poses", scene)


def restyle(obj, model, labels=None, seed=None, replace=False, scene=None, strength=synthesis.STYLE_STRENGTH,
            drafts=synthesis.RESTYLE_DRAFTS, keep_height=False):
    """The active action with the same root path and timing, generated with ``labels``."""
    rig = generate.check_armature(obj, model)
    source = edit_source(obj)
    action = source.action
    motion, name, was_loop = rig.read(action), action.name, action.use_cyclic  # before Replace Active removes it
    # Restyle draws every frame anew, so a loop's end is led back into its start again; one too
    # short for that stays a plain clip, with a warning (a Cycles modifier would pop at every wrap).
    loop = was_loop and synthesis.loop_closable(model, motion.frames, motion.fps)
    out = synthesis.restyle(model, motion, labels, seed=seed, strength=strength, drafts=drafts,
                            height=not keep_height, cycle=loop)
    tag = "_".join(str(v) for v in (labels or {}).values()) or "restyled"
    made = _write_for(rig, source, out, f"{name}_{tag}", replace, "restyled loop" if loop else "restyled", scene,
                      cyclic=loop)
    note = synthesis.wrap_note(model, motion) if loop else None
    if note:
        made.warnings.append(f"{name!r} is marked cyclic, but {note}")
    if was_loop and not loop:
        made.warnings.append(f"{name!r} was a loop too short ({motion.frames - 1} frames) to lead its restyled end "
                             "back into its start, so the restyled clip is not a loop: for a cycle in this style, "
                             "generate one with Loop")
    return made


# ------------------------------------------------------------------ Follow Path

def curve_points(curve, depsgraph=None):
    """World-space points of the curve's first spline as Blender evaluates it (resolution, modifiers)."""
    if curve is None:
        raise EditError("choose a curve object for the path")
    if curve.type != "CURVE":
        raise EditError(f"{curve.name!r} is {rigs.a_or_an(curve.type.lower())}, not a curve")
    depsgraph = depsgraph or bpy.context.evaluated_depsgraph_get()
    evaluated = curve.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    if mesh is None:                                  # no splines at all
        evaluated.to_mesh_clear()
        raise EditError(f"curve {curve.name!r} has no points")
    try:
        n = len(mesh.vertices)
        co = np.empty(3 * n, dtype=np.float64)
        mesh.vertices.foreach_get("co", co)
        edges = {tuple(sorted(e.vertices)) for e in mesh.edges}
    finally:
        evaluated.to_mesh_clear()
    if n == 0:
        raise EditError(f"curve {curve.name!r} has no points")
    co = co.reshape(-1, 3)
    run = 1
    while run < n and (run - 1, run) in edges:      # vertices come spline by spline: the first run
        run += 1
    m = np.array(curve.matrix_world)
    return co[:run] @ m[:3, :3].T + m[:3, 3]


def follow_path(obj, model, curve, frames=None, speed=None, start_frame=1, labels=None, seed=None,
                replace=False, scene=None, scene_rate=True):
    """A new clip whose root follows ``curve`` over ``frames`` frames, or at ``speed`` metres per second.
    ``scene_rate``: as Generate Motion's (frames are scene frames, the clip keyed at the scene's rate)."""
    rig = generate.check_armature(obj, model)
    if (frames is None) == (speed is None):
        raise EditError("give either a frame count or a speed for the path")
    if frames is not None and frames < 2:  # said in the user's frames, not the model's
        raise EditError(f"a path needs at least 2 frames, got {frames}")
    world = curve_points(curve)
    inv = np.array(obj.matrix_world.inverted())
    local = world @ inv[:3, :3].T + inv[:3, 3]           # the motion lives in armature space
    path = rig.to_model_units(local)                    # BVH axes: x and z are the ground
    fps = generate.clip_fps(scene or bpy.context.scene, model, scene_rate)
    xz = paths.per_frame(model, path[:, [0, 2]], speed=speed,
                         frames=None if frames is None else synthesis.model_frames(model, int(frames), fps))
    out = synthesis.follow_path(model, xz, labels=labels, seed=seed, fps=fps,
                                frames=None if frames is None else int(frames))
    out.name = f"{curve.name}_path"
    return _write(rig, out, f"{obj.name}_{curve.name}", start_frame, replace,
                  f"followed curve {curve.name}", scene)
