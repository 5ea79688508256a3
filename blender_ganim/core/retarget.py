"""Bone maps and rest-pose-aware retargeting between skeletons (numpy only).

A *bone map* is ``{role: bone name}`` over the canonical ROLES.  Presets cover the
shipped dataset, Mixamo, Rigify (DEF- bones), the Unreal mannequin, CMU and SMPL;
:func:`auto_map` tries them and falls back to matching normalised names.

Transfer works on world-space *deltas from rest* (a Motion's rest frames are all
identity, so its global rotations are exactly that).  Each role bone gets a frame
built from two directions: its aim (rest direction towards the next role joint)
and a twist reference (the character's forward, or up for feet).  On the target
both come from its rest pose; on the source the reference is measured over the
clip in the bone's own frame, so a source rest that is no standing pose at all
(the dataset's bones lie along local X) still works.  A constant offset per bone,
``A = F_source F_target^T``, then gives ``G_target(t) = G_source(t) A``: bone
directions match the source's exactly, twists follow the source, and nothing can
flip from frame to frame.  T-pose and A-pose target rests both come out right
because only the target's own rest directions enter ``F_target``.
"""

import re
from dataclasses import dataclass, field

import numpy as np

from . import rotations as rot
from .motion import Motion
from .skeleton import fk

UP = np.array([0.0, 1.0, 0.0])   # Y-up, BVH space (what Motion uses)

_SIDED = ("shoulder", "upper_arm", "forearm", "hand", "thigh", "shin", "foot", "toe")
ROLES = ("hips", "spine", "chest", "neck", "head") + tuple(
    f"{base}_{side}" for side in ("l", "r") for base in _SIDED)
OPTIONAL = frozenset({"chest", "neck", "shoulder_l", "shoulder_r", "toe_l", "toe_r"})
REQUIRED = tuple(r for r in ROLES if r not in OPTIONAL)

# The role whose offset a role borrows when it has no aim (and its parent in the role tree).
ROLE_PARENT = {"spine": "hips", "chest": "spine", "neck": "chest", "head": "neck"}
for _s in ("l", "r"):
    ROLE_PARENT.update({f"shoulder_{_s}": "chest", f"upper_arm_{_s}": f"shoulder_{_s}",
                        f"forearm_{_s}": f"upper_arm_{_s}", f"hand_{_s}": f"forearm_{_s}",
                        f"thigh_{_s}": "hips", f"shin_{_s}": f"thigh_{_s}", f"foot_{_s}": f"shin_{_s}",
                        f"toe_{_s}": f"foot_{_s}"})
# Where a role bone points in rest: the first of these roles whose joint is not on top of it.
_AIM = {"hips": ("spine", "chest", "neck", "head"), "spine": ("chest", "neck", "head"),
        "chest": ("neck", "head"), "neck": ("head",)}
for _s in ("l", "r"):
    _AIM.update({f"shoulder_{_s}": (f"upper_arm_{_s}", f"forearm_{_s}"),
                 f"upper_arm_{_s}": (f"forearm_{_s}", f"hand_{_s}"), f"forearm_{_s}": (f"hand_{_s}",),
                 f"thigh_{_s}": (f"shin_{_s}", f"foot_{_s}"), f"shin_{_s}": (f"foot_{_s}",),
                 f"foot_{_s}": (f"toe_{_s}",)})
_UP_REFERENCE = {"foot_l", "foot_r", "toe_l", "toe_r"}   # feet point forward: twist from up


def _sided(base_l, base_r, **extra):
    """Preset rows for both sides from per-side candidate tuples."""
    out = dict(extra)
    for role, (left, right) in zip(_SIDED, zip(base_l, base_r)):
        out[f"{role}_l"], out[f"{role}_r"] = left, right
    return out


PRESETS = {
    "dataset": _sided(
        [(f"{n}_L",) for n in ("Shoulder", "UpperArm", "LowerArm", "Hand", "UpperLeg", "LowerLeg", "Foot", "Toes")],
        [(f"{n}_R",) for n in ("Shoulder", "UpperArm", "LowerArm", "Hand", "UpperLeg", "LowerLeg", "Foot", "Toes")],
        hips=("Hips",), spine=("Spine",), chest=("Chest",), neck=("Neck",), head=("Head",)),
    "mixamo": _sided(
        [(f"mixamorig:Left{n}",) for n in ("Shoulder", "Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot", "ToeBase")],
        [(f"mixamorig:Right{n}",) for n in ("Shoulder", "Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot", "ToeBase")],
        hips=("mixamorig:Hips",), spine=("mixamorig:Spine",), chest=("mixamorig:Spine2", "mixamorig:Spine1"),
        neck=("mixamorig:Neck",), head=("mixamorig:Head",)),
    "rigify": _sided(
        [(f"DEF-{n}.L",) for n in ("shoulder", "upper_arm", "forearm", "hand", "thigh", "shin", "foot", "toe")],
        [(f"DEF-{n}.R",) for n in ("shoulder", "upper_arm", "forearm", "hand", "thigh", "shin", "foot", "toe")],
        hips=("DEF-spine",), spine=("DEF-spine.001",), chest=("DEF-spine.003", "DEF-spine.002"),
        neck=("DEF-spine.004",), head=("DEF-spine.006", "DEF-spine.005")),
    "unreal": _sided(
        [(f"{n}_l",) for n in ("clavicle", "upperarm", "lowerarm", "hand", "thigh", "calf", "foot", "ball")],
        [(f"{n}_r",) for n in ("clavicle", "upperarm", "lowerarm", "hand", "thigh", "calf", "foot", "ball")],
        hips=("pelvis",), spine=("spine_01",), chest=("spine_05", "spine_03"), neck=("neck_01",), head=("head",)),
    "cmu": _sided(
        [(f"Left{n}",) for n in ("Shoulder", "Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot", "ToeBase")],
        [(f"Right{n}",) for n in ("Shoulder", "Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot", "ToeBase")],
        hips=("Hips",), spine=("Spine", "LowerBack"), chest=("Spine1",), neck=("Neck", "Neck1"), head=("Head",)),
    "smpl": _sided(
        [(f"left_{a}", f"L_{b}") for a, b in (("collar", "Collar"), ("shoulder", "Shoulder"), ("elbow", "Elbow"),
                                               ("wrist", "Wrist"), ("hip", "Hip"), ("knee", "Knee"),
                                               ("ankle", "Ankle"), ("foot", "Foot"))],
        [(f"right_{a}", f"R_{b}") for a, b in (("collar", "Collar"), ("shoulder", "Shoulder"), ("elbow", "Elbow"),
                                                ("wrist", "Wrist"), ("hip", "Hip"), ("knee", "Knee"),
                                                ("ankle", "Ankle"), ("foot", "Foot"))],
        hips=("pelvis", "Pelvis"), spine=("spine1", "Spine1"), chest=("spine3", "Spine3"),
        neck=("neck", "Neck"), head=("head", "Head")),
}


class RetargetError(ValueError):
    """The bone maps do not cover what retargeting needs; the message lists the roles."""


@dataclass
class MapResult:
    """What :func:`auto_map` found: the map, roles it could not fill, roles with several candidates."""

    mapping: dict
    missing: list = field(default_factory=list)
    ambiguous: dict = field(default_factory=dict)
    preset: str = ""


# ------------------------------------------------------------------ names

_TOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SIDE = {"l": "l", "left": "l", "r": "r", "right": "r"}
_SKIP = re.compile(r"(end|nub|site|top|twist|roll|ik|fk|pole|target|thumb|index|middle|ring|pinky|finger|jaw|"
                   r"eye|tongue|breast|heel|palm|tweak|mch|org|wgt|lid|ear|nose|cheek|brow|lip|teeth)s?\d*")


def _tokens(name):
    base = name.rsplit(":", 1)[-1].rsplit("|", 1)[-1]
    base = re.sub(r"^(DEF|def)[-_.]", "", base)
    base = re.sub(r"^(Bip\d*|bip\d*|Bone)[ _]?", "", base) or base
    return [t.lower() for t in _TOKEN.findall(base)]


def normalize_name(name):
    """``(side, core)``: side 'l', 'r' or '' and the lower-case name without prefixes, side or separators.

    Strips namespaces (``mixamorig:``), ``DEF-`` and ``Bip01`` prefixes; sides are the
    tokens L/R/Left/Right wherever they stand (``thigh_l``, ``LeftUpLeg``, ``DEF-thigh.L``).
    """
    side, core = "", []
    for low in _tokens(name):
        if low in _SIDE and not side:
            side = _SIDE[low]
        else:
            core.append(low)
    return side, "".join(core)


# Keyword rules, best first: (role base, pattern on the core, needs a side).
_RULES = (
    ("toe", r"toe|ball", True),
    ("foot", r"foot|ankle", True),
    ("thigh", r"thigh|upleg|upperleg|femur", True),
    ("shin", r"shin|calf|knee|lowerleg|loleg|leg", True),
    ("hand", r"hand|wrist", True),
    ("forearm", r"forearm|lowerarm|loarm|elbow", True),
    ("shoulder", r"clavicle|collar", True),
    ("upper_arm", r"upperarm|uparm|humerus|arm", True),
    ("shoulder", r"shoulder", True),
    ("thigh", r"hip", True),
    ("head", r"head", False),
    ("neck", r"neck", False),
    ("chest", r"chest|thorax|upperback", False),
    ("hips", r"hips|pelvis|hip", False),
    ("spine", r"spine|back|abdomen|torso|waist", False),
)


def _depths(parents):
    """Depth of every joint; parents may come in any order (Blender lists bones unordered)."""
    parents = np.asarray(parents, dtype=int)
    d = np.zeros(len(parents), dtype=int)
    for j in range(len(parents)):
        p, n = parents[j], 0
        while p >= 0 and n <= len(parents):
            p, n = parents[p], n + 1
        d[j] = n
    return d


def _preset_map(preset, names):
    present = set(names)
    return {role: next((c for c in cands if c in present), None) for role, cands in PRESETS[preset].items()}


def auto_map(names, parents=None):
    """Map a rig's bone names onto ROLES: a preset when one fits, else keyword rules.

    ``parents`` (indices, any order) breaks ties by depth: the shallowest
    ``spine*`` is the spine, the deepest the chest, ``DEF-thigh.L`` beats ``.001``.
    """
    names = list(names)
    depth = _depths(parents) if parents is not None else np.zeros(len(names), dtype=int)
    best = None
    for preset in PRESETS:
        m = {r: b for r, b in _preset_map(preset, names).items() if b}
        score = sum(r in m for r in REQUIRED) + 0.1 * len(m)
        if best is None or score > best[0]:
            best = (score, preset, m)
    if best and all(r in best[2] for r in REQUIRED):
        return MapResult(best[2], [r for r in ROLES if r not in best[2]], {}, best[1])
    return _keyword_map(names, depth)


def _keyword_map(names, depth):
    cands = {}
    for j, name in enumerate(names):
        side, core = normalize_name(name)
        if not core or any(_SKIP.fullmatch(t) for t in _tokens(name)):
            continue
        for rank, (base, pattern, sided) in enumerate(_RULES):
            if sided != bool(side) or not re.search(pattern, core):
                continue
            role = f"{base}_{side}" if sided else base
            cands.setdefault(role, []).append((rank, int(depth[j]), j))
            break
    # Spine chain without a 'hips' bone (Rigify-like): the shallowest spine bone is the hips.
    spine = sorted(cands.get("spine", []), key=lambda c: c[1])
    if "hips" not in cands and len(spine) >= 3:
        cands["hips"] = [spine.pop(0)]
        cands["spine"] = spine
    if "chest" not in cands and len(spine) >= 2:
        cands["chest"] = [max(spine, key=lambda c: c[1])]
        cands["spine"] = [c for c in spine if c is not cands["chest"][0]]
    mapping, ambiguous = {}, {}
    for role, found in cands.items():
        found.sort()
        top = [c for c in found if c[:2] == found[0][:2]]
        mapping[role] = names[top[0][2]]
        if len(top) > 1:
            ambiguous[role] = [names[c[2]] for c in top]
    mapping = {r: mapping[r] for r in ROLES if r in mapping}
    return MapResult(mapping, [r for r in ROLES if r not in mapping], ambiguous, "")


def map_problems(mapping, names, ambiguous=None):
    """``(missing, ambiguous)`` for a map on a rig, for the UI to list before anything is written.

    *missing*: required roles that are unmapped or name a bone the rig lacks;
    *ambiguous*: ``{role: [bones]}`` from auto-mapping, plus roles sharing one bone.
    """
    present = set(names)
    missing = [r for r in REQUIRED if not mapping.get(r) or mapping[r] not in present]
    amb = {r: list(v) for r, v in (ambiguous or {}).items()}
    by_bone = {}
    for role, bone in mapping.items():
        if bone:
            by_bone.setdefault(bone, []).append(role)
    for bone, roles in by_bone.items():
        if len(roles) > 1:
            for r in roles:
                amb.setdefault(r, [bone])
    return missing, amb


# ------------------------------------------------------------------ transfer

def rest_positions(skeleton):
    """Global rest positions (all local rotations identity)."""
    return fk(skeleton.parents, rot.quat_identity((len(skeleton),)), skeleton.offsets)[1]


def leg_length(skeleton, mapping):
    """Mean thigh + shin length over both legs, in the skeleton's units."""
    p = rest_positions(skeleton)
    out = []
    for s in ("l", "r"):
        hip, knee, foot = (skeleton.index(mapping[f"{r}_{s}"]) for r in ("thigh", "shin", "foot"))
        out.append(np.linalg.norm(p[knee] - p[hip]) + np.linalg.norm(p[foot] - p[knee]))
    return float(np.mean(out))


def _frame(d, u):
    """Orthonormal frames ``[..., 3, 3]`` with columns: d, u made orthogonal to d, their cross product."""
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    u = u - np.sum(u * d, axis=-1, keepdims=True) * d
    n = np.linalg.norm(u, axis=-1, keepdims=True)
    if np.any(n < 1e-6):
        raise RetargetError("a bone points along its twist reference; cannot fix its twist")
    u = u / n
    return np.stack([d, u, rot.cross(d, u)], axis=-1)


def forward(left, right):
    """Character forward (unit, horizontal) from left and right hip positions ``[..., 3]``."""
    f = rot.cross(left - right, UP)
    f[..., 1] = 0.0
    n = np.linalg.norm(f, axis=-1, keepdims=True)
    if np.any(n < 1e-9):
        raise RetargetError("the hips are not side by side in this pose; cannot tell which way is forward")
    return f / n


def _indices(skeleton, mapping, who):
    missing = [r for r in REQUIRED if not mapping.get(r) or mapping[r] not in skeleton.names]
    if missing:
        raise RetargetError(f"the {who} bone map lacks {', '.join(missing)}")
    return {r: skeleton.index(b) for r, b in mapping.items() if b and b in skeleton.names}


def _aim(role, idx, rest, scale):
    """Rest direction of a role bone, or None when no role joint lies beyond it."""
    for other in _AIM.get(role, ()):
        if other in idx:
            v = rest[idx[other]] - rest[idx[role]]
            if np.linalg.norm(v) > 1e-3 * scale:
                return v
    return None


def offsets(source_motion, source_map, target, target_map, target_forward=None, target_rest_rotations=None):
    """Constant per-role offsets ``{role: A [3, 3]}`` with ``G_target = G_source A``.

    A role with no aim on either side (head, hands, toes: nothing mapped beyond them,
    no End Site or bone axis to go by) borrows its parent role's offset, which keeps
    it at its rest pose relative to that parent whenever the source's is.
    """
    src = source_motion.skeleton
    s_idx, t_idx = _indices(src, source_map, "source"), _indices(target, target_map, "target")
    roles = [r for r in ROLES if r in s_idx and r in t_idx]
    s_rest, t_rest = rest_positions(src), rest_positions(target)
    s_leg, t_leg = leg_length(src, source_map), leg_length(target, target_map)
    grot, gpos = source_motion.global_transforms()
    fwd_s = forward(gpos[:, s_idx["thigh_l"]], gpos[:, s_idx["thigh_r"]])
    fwd_t = forward(t_rest[t_idx["thigh_l"]], t_rest[t_idx["thigh_r"]]) if target_forward is None \
        else np.asarray(target_forward, dtype=np.float64)
    out = {}
    for role in roles:
        ds = _aim(role, s_idx, s_rest, s_leg)
        if ds is None:
            ds = _leaf_aim(src.end_sites.get(s_idx[role]), s_leg)
        dt = _aim(role, t_idx, t_rest, t_leg)
        if dt is None and target_rest_rotations is not None:
            dt = rot.quat_apply(np.asarray(target_rest_rotations, dtype=np.float64)[t_idx[role]], UP)
        if ds is None or dt is None:
            parent = ROLE_PARENT.get(role)
            while parent is not None and parent not in out:
                parent = ROLE_PARENT.get(parent)
            out[role] = out[parent] if parent is not None else np.eye(3)
            continue
        ref_s = np.broadcast_to(UP, fwd_s.shape) if role in _UP_REFERENCE else fwd_s
        ref_t = UP if role in _UP_REFERENCE else fwd_t
        local_ref = rot.quat_apply(rot.quat_inv(grot[:, s_idx[role]]), ref_s).mean(axis=0)
        out[role] = _frame(ds, local_ref) @ _frame(dt, ref_t).T
    return out


def _leaf_aim(end_site, scale):
    if end_site is None or np.linalg.norm(end_site) < 1e-3 * scale:
        return None
    return np.asarray(end_site, dtype=np.float64)


def retarget(source_motion, source_map, target, target_map, target_rest_rotations=None,
             target_forward=None, name=None):
    """The source clip on the ``target`` Skeleton, as a Motion ``write_action`` can key.

    Mapped target bones take ``G_source A``; unmapped ones follow their parent (rest
    local rotation).  The hips role bone moves so that the midpoint of the hip
    joints follows the source's, scaled by the ratio of leg lengths (the legs hang
    from the same place however far each rig's pelvis sits above its hip joints).  ``target_rest_rotations [J, 4]`` (global rest orientation
    per target bone in Motion space; a bone's local +Y is where it points, as in
    Blender) supplies aims for leaf roles with no mapped joint beyond them, used
    when the source has an End Site to match; the result always uses Motion's
    convention (identity rest frames), which is what write_action converts from.
    """
    src = source_motion.skeleton
    s_idx, t_idx = _indices(src, source_map, "source"), _indices(target, target_map, "target")
    A = offsets(source_motion, source_map, target, target_map, target_forward, target_rest_rotations)
    grot_s, gpos_s = source_motion.global_transforms()
    ratio = leg_length(target, target_map) / leg_length(src, source_map)
    T, J = source_motion.frames, len(target)
    t_rot = {t_idx[r]: rot.quat_mul(grot_s[:, s_idx[r]], rot.matrix_to_quat(A[r])) for r in A}
    hips = t_idx["hips"]
    # The hip joints' midpoint follows the source's, scaled: the legs hang from the same place.
    t_rest = rest_positions(target)
    t_mid = 0.5 * (t_rest[t_idx["thigh_l"]] + t_rest[t_idx["thigh_r"]]) - t_rest[hips]
    s_mid = 0.5 * (gpos_s[:, s_idx["thigh_l"]] + gpos_s[:, s_idx["thigh_r"]])
    hips_pos = s_mid * ratio - rot.quat_apply(t_rot[hips], np.broadcast_to(t_mid, (T, 3)))
    grot = np.empty((T, J, 4))
    gpos = np.empty((T, J, 3))
    local = rot.quat_identity((T, J))
    positions = np.broadcast_to(target.offsets, (T, J, 3)).copy()
    for j in range(J):
        p = target.parents[j]
        prot = grot[:, p] if p >= 0 else rot.quat_identity((T,))
        ppos = gpos[:, p] if p >= 0 else np.zeros((T, 3))
        grot[:, j] = t_rot[j] if j in t_rot else prot
        local[:, j] = rot.quat_mul(rot.quat_inv(prot), grot[:, j])
        if j == hips:
            positions[:, j] = rot.quat_apply(rot.quat_inv(prot), hips_pos - ppos)
        gpos[:, j] = rot.quat_apply(prot, positions[:, j]) + ppos
    return Motion(target, rot.quat_unroll(rot.quat_normalize(local)), positions, source_motion.fps,
                  name=source_motion.name if name is None else name)
