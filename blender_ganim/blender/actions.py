"""Write a Motion onto an armature as an Action, and read it back.

Pose-bone values are relative to each bone's rest frame.  With ``C`` the BVH-to-Blender
axis map, ``R`` a bone's rest rotation and ``h`` its rest head (armature space), and
``K = C^T R`` the bone's rest axes seen from BVH space (BVH rest frames are all
identity), a joint's BVH local rotation ``Q`` and translation ``t`` become

    rotation_quaternion = K^T Q K
    location            = R^T (scale * C t + h_parent - h)       (h_parent = 0 for the root)

so every posed bone matrix is ``[C G C^T R | scale * C p]`` for the joint's global rotation ``G``
and position ``p``: the BVH joint frame carried into Blender. Reading inverts it.
Keys go in through ``keyframe_points.add`` + ``foreach_set`` (30-70x faster than one
insert call per key), and only ``_fcurve_collection`` knows about slotted actions (4.4+).
"""

import re

import bpy
import numpy as np

from ..core import rotations as rot
from ..core.motion import Motion
from . import armature
from .armature import BVH_TO_BLENDER as C

FPS_PROP = "ganim_fps"
LINEAR, BEZIER = 1, 2  # indices in Keyframe.interpolation
AUTO_CLAMPED = 4       # index of 'AUTO_CLAMPED' in Keyframe.handle_left_type / handle_right_type
SMOOTH_KEYS = True     # False: linear keys, as before session 52 (benchmarks/keying_speed.py times both)
_PATH = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]\.(\w+)$')
_EULER_MODES = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


class ActionExistsError(ValueError):
    """An action with the requested name exists and replace was not asked for."""


# ------------------------------------------------------------------ version-specific access

def _fcurve_collection(action, obj, create=False):
    """``(container, slot)``: where ``obj``'s F-curves live in ``action``.

    The container has ``.fcurves`` and ``.groups``: the action itself before 4.4,
    a slot's channelbag on layered actions (4.4+, the only kind in 5.0).  ``slot`` is
    None for legacy actions.  With ``create`` a new slot and channelbag are made.
    """
    if not hasattr(action, "slots"):
        if create:
            action.id_root = "OBJECT"
        return action, None
    if create:
        slot = action.slots.new(id_type="OBJECT", name=obj.name)
        layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
        strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
        return strip.channelbag(slot, ensure=True), slot
    slot = _object_slot(action, obj)
    for layer in action.layers if slot is not None else ():
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                return bag, slot
    return None, slot


def _object_slot(action, obj):
    """The slot ``obj`` plays (as its action, or on one of its NLA strips), else the action's first object
    slot (None for legacy actions)."""
    if not hasattr(action, "slots"):
        return None
    ad = obj.animation_data
    if ad is not None and ad.action == action and ad.action_slot is not None:
        return ad.action_slot
    for track in ad.nla_tracks if ad is not None else ():  # an action a strip of the object plays
        for strip in track.strips:
            if strip.action == action and strip.action_slot is not None:
                return strip.action_slot
    return next((s for s in action.slots if getattr(s, "target_id_type", "OBJECT") == "OBJECT"), None)


def _assignment(obj):
    """What ``obj`` plays now, to restore it if writing fails."""
    ad = obj.animation_data
    if ad is None:
        return None
    return ad.action, getattr(ad, "action_slot", None)


def _assign(obj, action, slot):
    ad = obj.animation_data or obj.animation_data_create()
    ad.action = action
    if slot is not None:
        ad.action_slot = slot


# ------------------------------------------------------------------ pure conversion

def _rest(obj, skeleton):
    """Rest rotations, heads, parent heads and ``K`` as quaternions, per joint."""
    R, heads = armature.bone_rest(obj, skeleton.names)
    parents = skeleton.parents
    parent_heads = np.where(parents[:, None] >= 0, heads[np.maximum(parents, 0)], 0.0)
    k = rot.matrix_to_quat(C.T @ R)
    return R, heads, parent_heads, k


def motion_to_pose(rotations, positions, rest, scale):
    """BVH local rotations/translations ``[T, J, ...]`` to pose-bone quaternions and locations."""
    R, heads, parent_heads, k = rest
    q = rot.quat_mul(rot.quat_conj(k), rot.quat_mul(rotations, k))
    v = scale * positions @ C.T + (parent_heads - heads)
    loc = np.einsum("jba,tjb->tja", R, v)
    return rot.quat_unroll(rot.quat_normalize(q)), loc


def pose_to_motion(quats, locations, rest, scale):
    """Inverse of :func:`motion_to_pose`."""
    R, heads, parent_heads, k = rest
    q = rot.quat_mul(k, rot.quat_mul(rot.quat_normalize(quats), rot.quat_conj(k)))
    t = (np.einsum("jab,tjb->tja", R, locations) + heads - parent_heads) @ C / scale
    return q, t


def _translated_joints(motion, rel_tol=1e-6):
    """Joints that need location keys: the root, and any whose translation leaves its offset."""
    sk = motion.skeleton
    extent = max(float(np.linalg.norm(sk.offsets, axis=-1).max()), 1e-12)
    moved = np.abs(motion.positions - sk.offsets).max(axis=(0, 2)) > rel_tol * extent
    moved[0] = True
    return moved


# ------------------------------------------------------------------ writing

def write_action(obj, motion, action_name, start_frame=1, replace=False, keep=True):
    """Key ``motion`` onto ``obj`` (bone names = joint names) as a new action and assign it.

    Never overwrites an existing action unless ``replace``; on any failure the new
    action is removed and the object's previous action and pose restored. ``keep``: the action
    the object played before keeps a fake user when nothing else uses it (:func:`keep_displaced`);
    callers that write several actions in a row and settle what plays at the end pass False.
    """
    armature.ensure_editable_armature(obj)
    armature.check_matches(obj, motion.skeleton)
    existing = bpy.data.actions.get(action_name)
    if existing is not None and not replace:
        raise ActionExistsError(f"an action named {action_name!r} already exists; pass replace=True to replace it")
    if existing is not None:
        check_replaceable(existing, obj)
    quats, locs = motion_to_pose(motion.rotations, motion.positions, _rest(obj, motion.skeleton),
                                 armature.armature_scale(obj))
    frames = start_frame + np.arange(motion.frames, dtype=np.float64)
    before, pose = _assignment(obj), _pose_snapshot(obj, motion.skeleton.names)
    displaced = before[0] if before else None
    displaced_fake_user = displaced is not None and displaced.use_fake_user
    action = bpy.data.actions.new("ganim_new" if existing is not None else action_name)
    try:
        if existing is None and action.name != action_name:
            raise ValueError(f"action name {action_name!r} is too long for Blender")
        container, slot = _fcurve_collection(action, obj, create=True)
        modes = [obj.pose.bones[n].rotation_mode for n in motion.skeleton.names]
        _write_curves(container, motion.skeleton.names, quats, locs, _translated_joints(motion), frames, modes)
        _finish(action, motion, frames)
        _reset_pose(obj, motion.skeleton.names)
        _assign(obj, action, slot)
        if keep:  # before the swap below removes what is replaced
            keep_displaced(before, (action_name,) if existing is not None else ())
        if existing is not None:
            _swap_in(existing, action, action_name)
    except BaseException:
        _restore(obj, before)
        _pose_restore(obj, pose)
        if displaced is not None and displaced is not existing:  # (a replaced one may be gone by now)
            displaced.use_fake_user = displaced_fake_user
        bpy.data.actions.remove(action)
        raise
    return action


def keep_displaced(before, replacing=()):
    """The action an object played (``before``, from :func:`_assignment`) before a new one took its
    place stays in the file: left with no user, Blender would drop it at the next save (an existing
    action is only ever replaced on request, by name in ``replacing``)."""
    old = before[0] if before else None
    if old is not None and old.name not in replacing and old.users == 0:
        old.use_fake_user = True


def _write_curves(container, names, quats, locs, translated, frames, modes):
    """Rotations as quaternions, or as Euler angles where a bone is in an Euler mode (a hand-animated
    rig keeps its modes, and its own Euler actions keep playing on it)."""
    for j, name in enumerate(names):
        group = container.groups.new(name)
        path = f'pose.bones["{bpy.utils.escape_identifier(name)}"]'
        if modes[j] in _EULER_MODES:
            _key_channel(container, group, path + ".rotation_euler", _blender_euler(quats[:, j], modes[j]), frames)
        else:
            _key_channel(container, group, path + ".rotation_quaternion", quats[:, j], frames)
        if translated[j]:
            _key_channel(container, group, path + ".location", locs[:, j], frames)


def _blender_euler(quats, mode):
    """Quaternions ``[T, 4]`` as a bone's ``rotation_euler`` in ``mode`` (Blender's x, y, z whatever the
    mode; 'XYZ' applies X first, so the core's intrinsic order is the mode reversed), unrolled."""
    order = mode[::-1]
    euler = np.empty(quats.shape[:-1] + (3,))
    euler[..., ["XYZ".index(a) for a in order]] = rot.quat_to_euler(quats, order)
    return rot.euler_unroll(euler, axis=0)


def _key_channel(container, group, data_path, values, frames):
    """One F-curve per component, keyed in bulk."""
    for i in range(values.shape[-1]):
        _key_fcurve(container, group, data_path, i, values[:, i], frames)


def _key_fcurve(container, group, data_path, index, values, frames):
    fcurve = container.fcurves.new(data_path, index=index)
    fcurve.group = group
    points = fcurve.keyframe_points
    n = len(frames)
    points.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2] = frames
    co[1::2] = values
    points.foreach_set("co", co)
    # Smooth between the keys too: a strip slowed down in the NLA, motion blur and a render at a
    # higher rate see sub-frames, where linear keys put a kink in the velocity at every frame
    # (at quarter frames, linear keys give a captured run 2.9x the joints' jerk of Bezier keys and a
    # generated run 4.1x; test_keys_are_smooth_between_frames).
    # keyframe_points.add makes Bezier keys with auto-clamped handles, whatever the user's preferences
    # (4.2, 5.0 and 5.3 alike), so smooth keys are set in bulk only where a version makes them otherwise:
    # each foreach_set walks every key, and the three cost as much as the rest of the keying together.
    if SMOOTH_KEYS:
        _make_smooth(points)
    else:
        points.foreach_set("interpolation", np.full(n, LINEAR, dtype=np.int32))
    fcurve.update()                   # sorts the keys and sets the handles
    return fcurve


def _make_smooth(points):
    """Bezier keys with auto-clamped handles, set in bulk only if the first key is not one already."""
    key = points[0]
    if key.interpolation == "BEZIER" and key.handle_left_type == key.handle_right_type == "AUTO_CLAMPED":
        return
    n = len(points)
    points.foreach_set("interpolation", np.full(n, BEZIER, dtype=np.int32))
    points.foreach_set("handle_left_type", np.full(n, AUTO_CLAMPED, dtype=np.int32))
    points.foreach_set("handle_right_type", np.full(n, AUTO_CLAMPED, dtype=np.int32))


def make_cyclic(obj, action):
    """Repeat ``action`` on ``obj`` past both ends of its keys: a cycle whose last key is its first
    pose again, where the next cycle starts (synthesis.loop). Each F-curve gets a Cycles modifier
    with offset, so a root that travels keeps travelling and everything else repeats as it is; the
    action is marked cyclic over its frame range."""
    container, _ = _fcurve_collection(action, obj)
    action.use_cyclic = True
    for fcurve in container.fcurves:
        cycles = fcurve.modifiers.new("CYCLES")
        cycles.mode_before = cycles.mode_after = "REPEAT_OFFSET"
        fcurve.update()               # the end keys' handles now see across the wrap


def _finish(action, motion, frames):
    """Manual frame range = the clip, and the clip's fps for read_action."""
    action.use_frame_range = True
    action.frame_start = float(frames[0])
    action.frame_end = float(frames[-1])
    action[FPS_PROP] = float(motion.fps)


def _reset_pose(obj, names):
    """A rest pose, so unkeyed channels cannot offset the animation; bones in an Euler mode keep it,
    the others (quaternion, axis-angle) are keyed as quaternions."""
    for name in names:
        pb = obj.pose.bones[name]
        if pb.rotation_mode in _EULER_MODES:
            pb.rotation_euler = (0.0, 0.0, 0.0)
        else:
            pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
        pb.location = (0.0, 0.0, 0.0)
        pb.scale = (1.0, 1.0, 1.0)


_POSE_ATTRS = ("rotation_mode", "rotation_quaternion", "rotation_euler", "rotation_axis_angle", "location", "scale")


def _pose_snapshot(obj, names):
    """The pose channels :func:`_reset_pose` sets, to put back when a write fails after it."""
    def values(pb):
        return [v if isinstance(v, str) else tuple(v) for v in (getattr(pb, a) for a in _POSE_ATTRS)]
    return {n: values(obj.pose.bones[n]) for n in names}


def _pose_restore(obj, snapshot):
    for name, values in snapshot.items():
        pb = obj.pose.bones[name]
        for attr, value in zip(_POSE_ATTRS, values):  # the mode first: setting it converts the values
            setattr(pb, attr, value)


def curve_snapshot(obj, action):
    """Every F-curve ``obj`` plays from ``action``, as plain data (keys, handles, interpolation, easing,
    extrapolation, Cycles modifiers): what an edit does not generate is carried over from it
    (:func:`carry_curves`), even when Replace Active has removed ``action`` in between."""
    container, _ = _fcurve_collection(action, obj)
    out = []
    for fc in container.fcurves if container is not None else ():
        points, n = fc.keyframe_points, len(fc.keyframe_points)
        curve = {"data_path": fc.data_path, "index": fc.array_index, "group": fc.group.name if fc.group else None,
                 "extrapolation": fc.extrapolation,
                 "cycles": [(m.mode_before, m.mode_after) for m in fc.modifiers if m.type == "CYCLES"]}
        for attr, dtype, width in _KEY_ATTRS:
            values = np.empty(width * n, dtype=dtype)
            points.foreach_get(attr, values)
            curve[attr] = values
        out.append(curve)
    return out


_KEY_ATTRS = (("interpolation", np.int32, 1), ("easing", np.int32, 1), ("handle_left_type", np.int32, 1),
              ("handle_right_type", np.int32, 1), ("co", np.float32, 2), ("handle_left", np.float32, 2),
              ("handle_right", np.float32, 2))


def carry_curves(obj, action, snapshot):
    """Add to ``action`` the snapshot's F-curves it lacks; returns how many. An edit keys the bones'
    rotations (and the root's location) and nothing else, so without this an edited action lost the
    armature object's own keys, bone scale, custom properties and bones a rig map leaves out (with
    Replace Active, for good). A bone whose rotation ``action`` keys takes its pose from the edit alone:
    its old rotation and location curves are not carried."""
    container, _ = _fcurve_collection(action, obj)
    have = {(fc.data_path, fc.array_index) for fc in container.fcurves}
    posed = {m.group(1) for m in map(_PATH.match, (p for p, _ in have)) if m and m.group(2).startswith("rotation_")}
    carried = 0
    for curve in snapshot:
        m = _PATH.match(curve["data_path"])
        if (curve["data_path"], curve["index"]) in have or (
                m and m.group(1) in posed and (m.group(2).startswith("rotation_") or m.group(2) == "location")):
            continue
        fc = container.fcurves.new(curve["data_path"], index=curve["index"])
        if curve["group"]:
            fc.group = container.groups.get(curve["group"]) or container.groups.new(curve["group"])
        fc.keyframe_points.add(len(curve["interpolation"]))
        for attr, _, _ in _KEY_ATTRS:  # handle types before the handles, which they would otherwise move
            fc.keyframe_points.foreach_set(attr, curve[attr])
        fc.extrapolation = curve["extrapolation"]
        for before, after in curve["cycles"]:
            cycles = fc.modifiers.new("CYCLES")
            cycles.mode_before, cycles.mode_after = before, after
        fc.update()
        carried += 1
    return carried


def check_replaceable(action, obj):
    """ActionExistsError unless ``action`` may be replaced by a new one for ``obj``: not linked from a
    library, and keying nothing else (a slot of another data-block with keys would be dropped with it)."""
    if action.library is not None:
        raise ActionExistsError(f"action {action.name!r} is linked from a library and cannot be replaced")
    mine = _object_slot(action, obj)
    others = [getattr(slot, "name_display", slot.identifier) for slot in getattr(action, "slots", ())
              if slot != mine and any(bag is not None and len(bag.fcurves)
                                      for layer in action.layers for strip in layer.strips
                                      for bag in [strip.channelbag(slot)])]
    if others:
        raise ActionExistsError(f"action {action.name!r} also animates {', '.join(others)}; replacing it would "
                                "drop those keys: write a new action instead")


def _swap_in(existing, action, name):
    """Replace ``existing`` by ``action`` everywhere, then take over its name. A fake user either had
    stays: a variation nothing plays has one of its own, and an old one without it must not take it away."""
    action.use_fake_user = action.use_fake_user or existing.use_fake_user
    existing.user_remap(action)
    bpy.data.actions.remove(existing)
    action.name = name


def _restore(obj, before):
    ad = obj.animation_data
    if ad is None:
        return
    if before is None:
        obj.animation_data_clear()
        return
    ad.action = before[0]
    if before[1] is not None and before[0] is not None:
        ad.action_slot = before[1]


# ------------------------------------------------------------------ reading

def read_action(obj, action=None, skeleton=None):
    """The Motion an action plays on ``obj``, sampled at integer frames over its frame range.

    ``action`` defaults to the object's current one, ``skeleton`` to the one stored
    by build_armature.  Joints without location curves keep their skeleton offsets.
    """
    armature.ensure_armature(obj)
    if action is None:
        action = obj.animation_data.action if obj.animation_data else None
        if action is None:
            raise ValueError(f"{obj.name!r} has no action to read")
    if skeleton is None:
        skeleton = armature.skeleton_from_object(obj)
    armature.check_matches(obj, skeleton)
    container, _ = _fcurve_collection(action, obj)
    if container is None:
        raise ValueError(f"action {action.name!r} has no animation for {obj.name!r}")
    curves = _curves_by_channel(container.fcurves)
    start, end = action.frame_range
    frames = np.arange(round(start), max(round(end), round(start)) + 1, dtype=np.float64)
    quats, locs, keyed = _sample_channels(obj, skeleton.names, curves, frames)
    q, t = pose_to_motion(quats, locs, _rest(obj, skeleton), armature.armature_scale(obj))
    t[:, ~keyed] = skeleton.offsets[~keyed]
    fps = action.get(FPS_PROP) or _scene_fps(obj)
    return Motion(skeleton, rot.quat_unroll(q), t, float(fps), name=action.name)


def _scene_fps(obj):
    """The frame rate an action made by hand plays at: that of the scene ``obj`` is in (the
    context's where it is in several, or in none)."""
    scene = bpy.context.scene
    if obj.name not in scene.objects and obj.users_scene:
        scene = obj.users_scene[0]
    return scene.render.fps / scene.render.fps_base


def _curves_by_channel(fcurves):
    """``{(bone, property): {index: fcurve}}`` for pose-bone curves."""
    out = {}
    for fc in fcurves:
        m = _PATH.match(fc.data_path)
        if m:
            key = (bpy.utils.unescape_identifier(m.group(1)), m.group(2))
            out.setdefault(key, {})[fc.array_index] = fc
    return out


def _sample_channels(obj, names, curves, frames):
    """Pose quaternions ``[T, J, 4]``, locations ``[T, J, 3]`` and which joints had location curves."""
    T, J = len(frames), len(names)
    quats = rot.quat_identity((T, J))
    locs = np.zeros((T, J, 3))
    keyed = np.zeros(J, dtype=bool)
    for j, name in enumerate(names):
        if (name, "rotation_quaternion") in curves:
            quats[:, j] = _sample_vector(curves[(name, "rotation_quaternion")], frames, [1.0, 0.0, 0.0, 0.0])
        elif (name, "rotation_euler") in curves:
            mode = obj.pose.bones[name].rotation_mode
            mode = mode if mode in _EULER_MODES else "XYZ"
            euler = _sample_vector(curves[(name, "rotation_euler")], frames, [0.0, 0.0, 0.0])
            # Blender stores (x, y, z) whatever the mode, and 'XYZ' applies X first
            # (R = Rz Ry Rx): the core's intrinsic order is the mode reversed.
            order = mode[::-1]
            quats[:, j] = rot.euler_to_quat(euler[:, ["XYZ".index(a) for a in order]], order)
        if (name, "location") in curves:
            locs[:, j] = _sample_vector(curves[(name, "location")], frames, [0.0, 0.0, 0.0])
            keyed[j] = True
    return quats, locs, keyed


def _sample_vector(by_index, frames, default):
    out = np.tile(np.asarray(default, dtype=np.float64), (len(frames), 1))
    for i, fc in by_index.items():
        if i < out.shape[1]:
            out[:, i] = _sample_fcurve(fc, frames)
    return out


def _sample_fcurve(fcurve, frames):
    """Key values directly when keys sit on exactly these frames, else evaluate."""
    points = fcurve.keyframe_points
    if len(points) == len(frames):
        co = np.empty(2 * len(points), dtype=np.float32)
        points.foreach_get("co", co)
        if np.array_equal(co[0::2], frames.astype(np.float32)):
            return co[1::2].astype(np.float64)
    return np.array([fcurve.evaluate(f) for f in frames])
