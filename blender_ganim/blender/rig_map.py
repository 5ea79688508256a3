"""Any rig: read its rest pose, keep its bone map on the object, retarget clips onto it.

The map lives as JSON in ``obj["ganim_bone_map"]`` ({role: bone}) so it travels with
the .blend.  Retargeting keys only the mapped bones and their ancestors (the
skeleton handed to write_action), so controls and helper bones of production rigs
are left alone.
"""

import json

import numpy as np

from ..core import contacts, retarget
from ..core import rotations as rot
from ..core.skeleton import Skeleton
from . import actions, armature
from .armature import BVH_TO_BLENDER as C

MAP_PROP = "ganim_bone_map"


class RigMapError(ValueError):
    """The rig cannot be retargeted onto as it is (map missing roles, bones gone, several roots)."""


# ------------------------------------------------------------------ rest pose

def read_rig(obj, keep=None):
    """``(Skeleton, rest_rotations [J, 4])`` of a rig's bones in Motion space (BVH axes, file units).

    ``keep``: bone names; the skeleton is then those bones and their ancestors only.
    Rest rotations are the bones' armature-space orientations seen from BVH space.
    """
    armature.ensure_armature(obj)
    bones = obj.data.bones
    if keep is not None:
        wanted = set()
        for name in keep:
            b = bones.get(name)
            if b is None:
                raise RigMapError(f"armature {obj.name!r} has no bone {name!r}")
            while b is not None and b.name not in wanted:
                wanted.add(b.name)
                b = b.parent
    else:
        wanted = {b.name for b in bones}
    roots = [b for b in bones if b.parent is None and b.name in wanted]
    if len(roots) != 1:
        raise RigMapError(f"armature {obj.name!r}: the bones to animate hang from {len(roots)} root bones "
                          f"({', '.join(b.name for b in roots[:4])}); parent them under one bone")
    order = []
    stack = [roots[0]]
    while stack:
        b = stack.pop()
        order.append(b)
        stack.extend(c for c in reversed(list(b.children)) if c.name in wanted)
    index = {b.name: i for i, b in enumerate(order)}
    parents = np.array([index[b.parent.name] if b.parent else -1 for b in order])
    heads = armature.from_blender([tuple(b.head_local) for b in order], armature.armature_scale(obj))
    offsets = heads - np.where(parents[:, None] >= 0, heads[np.maximum(parents, 0)], 0.0)
    skeleton = Skeleton(names=tuple(b.name for b in order), parents=parents, offsets=offsets)
    R = np.array([[list(row)[:3] for row in list(b.matrix_local)[:3]] for b in order])
    return skeleton, rot.matrix_to_quat(C.T @ R)


# ------------------------------------------------------------------ the map on the object

def save_map(obj, mapping):
    """Store ``{role: bone}`` on the armature object (unknown roles are refused)."""
    unknown = sorted(set(mapping) - set(retarget.ROLES))
    if unknown:
        raise RigMapError(f"unknown roles {', '.join(unknown)}; roles are {', '.join(retarget.ROLES)}")
    obj[MAP_PROP] = json.dumps({r: mapping[r] for r in retarget.ROLES if mapping.get(r)}, sort_keys=False)


def load_map(obj):
    """The stored map, or None when the object has none."""
    text = obj.get(MAP_PROP)
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise RigMapError(f"{obj.name!r}: {MAP_PROP} is not valid JSON; map the bones again") from None
    return {r: b for r, b in data.items() if r in retarget.ROLES and b}


def auto_map_rig(obj):
    """:func:`retarget.auto_map` on the rig's bones (their depth breaks ties)."""
    bones = list(obj.data.bones)
    index = {b.name: i for i, b in enumerate(bones)}
    parents = [index[b.parent.name] if b.parent else -1 for b in bones]
    return retarget.auto_map([b.name for b in bones], parents)


def map_for(obj):
    """The stored map, else an automatic one; raises RigMapError listing missing roles."""
    mapping = load_map(obj)
    ambiguous = {}
    if mapping is None:
        found = auto_map_rig(obj)
        mapping, ambiguous = found.mapping, found.ambiguous
    missing, ambiguous = retarget.map_problems(mapping, [b.name for b in obj.data.bones], ambiguous)
    if missing:
        raise RigMapError(f"cannot map {obj.name!r}: no bone for {', '.join(missing)} (set them in the bone map)")
    return mapping, ambiguous


# ------------------------------------------------------------------ retarget

def retarget_motion(obj, motion, source_map=None, target_map=None, lock=True):
    """The clip as a Motion on ``obj``'s mapped bones (and their ancestors), feet locked."""
    if source_map is None:
        found = retarget.auto_map(motion.skeleton.names, motion.skeleton.parents)
        missing, _ = retarget.map_problems(found.mapping, motion.skeleton.names)
        if missing:
            raise RigMapError(f"cannot map the clip's skeleton: no joint for {', '.join(missing)}")
        source_map = found.mapping
    if target_map is None:
        target_map, _ = map_for(obj)
    skeleton, rest_rot = read_rig(obj, keep=[b for b in target_map.values() if b])
    out = retarget.retarget(motion, source_map, skeleton, target_map, target_rest_rotations=rest_rot)
    if lock:
        s_feet = [motion.skeleton.index(source_map[f"foot_{s}"]) for s in ("l", "r")]
        planted = contacts.detect(motion, s_feet)
        chains = [tuple(skeleton.index(target_map[f"{r}_{s}"]) for r in ("thigh", "shin", "foot"))
                  for s in ("l", "r")]
        out = contacts.lock_feet(out, planted, chains)
    return out


def retarget_onto(obj, motion, action_name=None, source_map=None, target_map=None, lock=True,
                  start_frame=1, replace=False):
    """Map, retarget, lock feet and key the clip on ``obj``; returns the new action."""
    armature.ensure_editable_armature(obj)
    out = retarget_motion(obj, motion, source_map, target_map, lock)
    return actions.write_action(obj, out, action_name or motion.name or "ganim_retarget",
                                start_frame=start_frame, replace=replace)
