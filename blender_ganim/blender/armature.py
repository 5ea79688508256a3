"""Build Blender armatures from core Skeletons and map between BVH and Blender space.

BVH space is Y-up in file units; Blender is Z-up in metres.  A BVH point
``(x, y, z)`` becomes ``(x, -z, y) * scale`` (what Blender's own BVH importer does
with its default axes), i.e. ``p_blender = scale * BVH_TO_BLENDER @ p_bvh``.

Every joint becomes one bone with the joint's name, parent and rest position.
A bone points at the mean of its children (and End Site) so the rig reads well,
with roll 0 (Blender's default, mirror-symmetric under Symmetrize).  The bone's
rest orientation is arbitrary as far as the animation is concerned: actions.py
converts through the rest matrices Blender reports.
"""

import json

import bpy
import numpy as np

from ..core import rotations as rot
from ..core.paths import DEFAULT_METERS_PER_UNIT
from ..core.skeleton import Skeleton, fk

BVH_TO_BLENDER = np.array([[1.0, 0.0, 0.0],
                           [0.0, 0.0, -1.0],
                           [0.0, 1.0, 0.0]])
DEFAULT_SCALE = DEFAULT_METERS_PER_UNIT  # centimetres (the shipped data) to metres
MIN_BONE_FRACTION = 0.05      # shortest bone, as a fraction of the median offset length
MIN_BONE_LENGTH = 1e-4        # metres; Blender deletes zero-length bones
SCALE_PROP = "ganim_scale"
SKELETON_PROP = "ganim_skeleton"


class ArmatureError(ValueError):
    """The object cannot be used as this skeleton's armature (wrong type, linked, bones missing)."""


# ------------------------------------------------------------------ space mapping

def to_blender(points, scale):
    """BVH-space points ``[..., 3]`` to Blender space."""
    return scale * np.asarray(points, dtype=np.float64) @ BVH_TO_BLENDER.T


def from_blender(points, scale):
    """Blender-space points ``[..., 3]`` back to BVH space."""
    return np.asarray(points, dtype=np.float64) @ BVH_TO_BLENDER / scale


def rest_positions(skeleton):
    """Global rest position of every joint in BVH space (all rotations identity)."""
    J = len(skeleton)
    return fk(skeleton.parents, rot.quat_identity((J,)), skeleton.offsets)[1]


def bone_vectors(skeleton, scale=1.0):
    """Head-to-tail vector of every bone in BVH space, scaled; never shorter than the minimum.

    Toward the mean of the children and End Site when that is not degenerate, else
    half the joint's own offset, so a leaf keeps pointing the way its limb does.
    """
    offsets = skeleton.offsets
    lengths = np.linalg.norm(offsets, axis=-1)
    typical = float(np.median(lengths[lengths > 0])) if np.any(lengths > 0) else 1.0
    min_len = max(MIN_BONE_FRACTION * typical, MIN_BONE_LENGTH / scale)
    up = np.array([0.0, 1.0, 0.0])
    out = np.empty_like(offsets)
    for j in range(len(skeleton)):
        targets = [offsets[c] for c in skeleton.children(j)]
        if j in skeleton.end_sites:
            targets.append(skeleton.end_sites[j])
        v = np.mean(targets, axis=0) if targets else np.zeros(3)
        if np.linalg.norm(v) < min_len:
            v = 0.5 * offsets[j]
        n = np.linalg.norm(v)
        if n < 1e-12:
            v, n = up, 1.0
        out[j] = v * max(n, min_len) / n
    return out * scale


# ------------------------------------------------------------------ checks

def ensure_armature(obj):
    """Raise ArmatureError unless ``obj`` is an armature object."""
    if obj is None or getattr(obj, "type", None) != "ARMATURE":
        what = f"{obj.name!r} ({obj.type.lower()})" if obj is not None else "nothing"
        raise ArmatureError(f"expected an armature object, got {what}")
    return obj


def ensure_editable_armature(obj):
    """Raise ArmatureError unless ``obj`` is an armature we may animate (not linked from a library)."""
    ensure_armature(obj)
    if obj.library is not None:
        raise ArmatureError(f"armature {obj.name!r} is linked from {obj.library.filepath!r}; "
                            "make it local or add a library override before animating it")
    if not getattr(obj, "is_editable", True):
        raise ArmatureError(f"armature {obj.name!r} is not editable")
    return obj


def missing_bones(obj, skeleton):
    """Joint names of ``skeleton`` that have no bone in ``obj``, in skeleton order."""
    bones = ensure_armature(obj).data.bones
    return [n for n in skeleton.names if bones.get(n) is None]


def check_matches(obj, skeleton):
    """Raise ArmatureError unless every joint has a bone with the same parent."""
    missing = missing_bones(obj, skeleton)
    if missing:
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        raise ArmatureError(f"armature {obj.name!r} lacks bones for {', '.join(missing[:8])}{more}")
    bones = obj.data.bones
    for j, name in enumerate(skeleton.names):
        p = skeleton.parents[j]
        want = skeleton.names[p] if p >= 0 else None
        got = bones[name].parent.name if bones[name].parent else None
        if got != want:
            raise ArmatureError(f"bone {name!r} of {obj.name!r} has parent {got!r}, the skeleton says {want!r}")


# ------------------------------------------------------------------ properties

def armature_scale(obj):
    """BVH-units-to-metres factor stored by build_armature (DEFAULT_SCALE for foreign rigs)."""
    return float(obj.get(SCALE_PROP, DEFAULT_SCALE))


def skeleton_from_object(obj):
    """The Skeleton stored on ``obj`` by build_armature, else one derived from its bones."""
    text = obj.get(SKELETON_PROP)
    if text:
        return Skeleton.from_dict(json.loads(text))
    return _skeleton_from_bones(obj)


def _skeleton_from_bones(obj):
    """Names, parents and rest offsets read off the bones (parents ordered first)."""
    ensure_armature(obj)
    order = []

    def visit(bone):
        order.append(bone)
        for child in bone.children:
            visit(child)

    roots = [b for b in obj.data.bones if b.parent is None]
    if len(roots) != 1:
        raise ArmatureError(f"armature {obj.name!r} has {len(roots)} root bones; a skeleton needs exactly one")
    visit(roots[0])
    index = {b.name: i for i, b in enumerate(order)}
    parents = [index[b.parent.name] if b.parent else -1 for b in order]
    heads = from_blender([tuple(b.head_local) for b in order], armature_scale(obj))
    offsets = heads - np.where(np.array(parents)[:, None] >= 0, heads[np.maximum(parents, 0)], 0.0)
    return Skeleton(names=tuple(b.name for b in order), parents=np.array(parents), offsets=offsets)


def bone_rest(obj, names):
    """Rest rotation ``[J, 3, 3]`` and head ``[J, 3]`` of the named bones, in armature space."""
    bones = obj.data.bones
    mats = np.array([[list(row) for row in bones[n].matrix_local] for n in names])
    return mats[:, :3, :3], mats[:, :3, 3]


# ------------------------------------------------------------------ building

def build_armature(skeleton, name, scale=DEFAULT_SCALE, collection=None):
    """Create an armature object matching ``skeleton``; nothing is left behind if it fails."""
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be positive, got {scale}")
    context = bpy.context
    collection = collection or context.collection or context.scene.collection
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    try:
        collection.objects.link(obj)
        _add_bones(context, obj, skeleton, scale)
        missing = missing_bones(obj, skeleton)
        if missing:
            raise ArmatureError(f"Blender could not create bones {', '.join(missing)} (names too long?)")
        obj[SCALE_PROP] = float(scale)
        obj[SKELETON_PROP] = json.dumps(skeleton.to_dict())
    except BaseException:
        bpy.data.objects.remove(obj)
        bpy.data.armatures.remove(data)
        raise
    return obj


def _add_bones(context, obj, skeleton, scale):
    """Edit-mode bone creation; leaves ``obj`` active and selected, in object mode."""
    view_layer = context.view_layer
    if context.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    try:
        view_layer.objects.active = obj
    except RuntimeError:
        raise ValueError(f"the collection for {obj.name!r} is not in the active view layer") from None
    obj.select_set(True)
    heads = to_blender(rest_positions(skeleton), scale)
    tails = heads + to_blender(bone_vectors(skeleton, scale), 1.0)
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit_bones = obj.data.edit_bones
        made = []
        for j, bone_name in enumerate(skeleton.names):
            eb = edit_bones.new(bone_name)
            eb.head = tuple(heads[j])
            eb.tail = tuple(tails[j])
            eb.roll = 0.0
            if skeleton.parents[j] >= 0:
                eb.parent = made[skeleton.parents[j]]
            eb.use_connect = False
            made.append(eb)
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
