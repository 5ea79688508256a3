"""Standing test rigs (T-pose, A-pose) as core Skeletons, and retarget quality measures.

Shared by test_retarget.py (numpy) and test_rigs.py (bpy).  BVH space: Y up, the
character faces +Z, its left is +X; units are centimetres.
"""

import numpy as np

from blender_ganim.core import contacts, retarget
from blender_ganim.core import rotations as rot
from blender_ganim.core.skeleton import Skeleton

_S45 = np.sqrt(0.5)


def standing_skeleton(spec):
    """Skeleton from ``[(name, parent name or None, world direction, length)]`` in rest."""
    names = [s[0] for s in spec]
    parents, offsets = [], []
    for name, parent, direction, length in spec:
        d = np.asarray(direction, dtype=np.float64)
        parents.append(names.index(parent) if parent else -1)
        offsets.append(d / np.linalg.norm(d) * length if length else d)
    return Skeleton(tuple(names), np.array(parents), np.array(offsets))


def _limbs(names, lengths, arm_dir, side_sign):
    """Spec rows for one side: shoulder, arm chain along ``arm_dir``, leg chain."""
    sh, ua, fa, ha, th, sn, ft, toe, chest, hips = names
    ax = np.array([side_sign * arm_dir[0], arm_dir[1], 0.0])
    return [
        (sh, chest, [side_sign * 0.35, 1.0, 0.0], lengths["shoulder"]),
        (ua, sh, [side_sign, 0.0, 0.0], lengths["clavicle"]),
        (fa, ua, ax, lengths["upper_arm"]),
        (ha, fa, ax, lengths["forearm"]),
        (th, hips, [side_sign, -1.0, 0.0], lengths["hip"]),
        (sn, th, [0.0, -1.0, 0.0], lengths["thigh"]),
        (ft, sn, [0.0, -1.0, 0.0], lengths["shin"]),
        (toe, ft, [0.0, -0.35, 1.0], lengths["foot"]),
    ]


DATASET_LENGTHS = dict(pelvis=93.3, spine=15.7, chest=9.0, neck=16.4, head=6.5, shoulder=13.9,
                       clavicle=5.3, upper_arm=24.3, forearm=22.3, hip=6.8, thigh=39.1, shin=41.0,
                       foot=11.8)


def dataset_apose():
    """The dataset's joints (names, hierarchy, bone lengths) standing in an A-pose rest."""
    L = DATASET_LENGTHS
    spec = [("joint_Root", None, [0.0, 0.0, 0.0], 0.0),
            ("Hips", "joint_Root", [0.0, 1.0, 0.0], L["pelvis"]),
            ("Spine", "Hips", [0.0, 1.0, 0.0], L["spine"]),
            ("Chest", "Spine", [0.0, 1.0, 0.0], L["chest"]),
            ("Neck", "Chest", [0.0, 1.0, 0.0], L["neck"]),
            ("Head", "Neck", [0.0, 1.0, 0.0], L["head"])]
    for side, sign in (("L", 1.0), ("R", -1.0)):
        names = [f"{n}_{side}" for n in ("Shoulder", "UpperArm", "LowerArm", "Hand", "UpperLeg",
                                        "LowerLeg", "Foot", "Toes")] + ["Chest", "Hips"]
        spec += _limbs(names, L, (_S45, -_S45), sign)
    return standing_skeleton(_reorder(spec))


MIXAMO_LENGTHS = dict(pelvis=104.0, spine=10.0, spine1=11.0, spine2=12.0, neck=14.0, head=10.0,
                      head_top=18.0, shoulder=12.0, clavicle=8.0, upper_arm=28.0, forearm=26.0, hand=9.0,
                      hip=9.0, thigh=46.0, shin=44.0, foot=14.0, toe=7.0)


def mixamo_tpose(prefix="mixamorig:"):
    """A Mixamo-named rig in T-pose with its own proportions (longer legs, extra spine bone, end bones)."""
    L = MIXAMO_LENGTHS
    n = lambda s: prefix + s  # noqa: E731
    spec = [(n("Hips"), None, [0.0, 1.0, 0.0], L["pelvis"]),
            (n("Spine"), n("Hips"), [0.0, 1.0, 0.0], L["spine"]),
            (n("Spine1"), n("Spine"), [0.0, 1.0, 0.0], L["spine1"]),
            (n("Spine2"), n("Spine1"), [0.0, 1.0, 0.0], L["spine2"]),
            (n("Neck"), n("Spine2"), [0.0, 1.0, 0.0], L["neck"]),
            (n("Head"), n("Neck"), [0.0, 1.0, 0.0], L["head"]),
            (n("HeadTop_End"), n("Head"), [0.0, 1.0, 0.0], L["head_top"])]
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        names = [n(side + s) for s in ("Shoulder", "Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot",
                                      "ToeBase")] + [n("Spine2"), n("Hips")]
        spec += _limbs(names, L, (1.0, 0.0), sign)
        spec += [(n(side + "HandIndex1"), n(side + "Hand"), [sign, 0.0, 0.0], L["hand"]),
                 (n(side + "Toe_End"), n(side + "ToeBase"), [0.0, 0.0, 1.0], L["toe"])]
    return standing_skeleton(_reorder(spec))


def _reorder(spec):
    """Parent-before-child order (the limb rows name parents listed later)."""
    done, out = set(), []
    while len(out) < len(spec):
        for row in spec:
            if row[0] not in done and (row[1] is None or row[1] in done):
                out.append(row)
                done.add(row[0])
    return out


# ------------------------------------------------------------------ measures

def foot_measures(motion, mapping):
    """Per frame foot height / leg length ``[T, 2]`` and stride (horizontal path) / leg length ``[2]``."""
    sk = motion.skeleton
    leg = retarget.leg_length(sk, mapping)
    feet = [sk.index(mapping[f"foot_{s}"]) for s in ("l", "r")]
    pos = motion.global_positions()[:, feet] / leg
    height = pos[..., 1]
    step = np.diff(pos[..., [0, 2]], axis=0)
    stride = np.linalg.norm(step, axis=-1).sum(axis=0)
    return height, stride


def compare_feet(source, s_map, target, t_map):
    """(max mean |height| error, max relative stride error) between source and target, leg-normalised."""
    hs, ss = foot_measures(source, s_map)
    ht, st = foot_measures(target, t_map)
    return float(np.abs(hs - ht).mean(axis=0).max()), float(np.max(np.abs(st - ss) / ss))


def max_step_angle(motion, joints):
    """Largest frame-to-frame change of any listed joint's global rotation (radians)."""
    grot = motion.global_transforms()[0][:, joints]
    return float(rot.quat_angle(grot[1:], grot[:-1]).max())


def skate_pair(source, s_map, target, t_map):
    """Foot skate of source and target, both on the source's contact frames."""
    s_feet = [source.skeleton.index(s_map[f"foot_{s}"]) for s in ("l", "r")]
    t_feet = [target.skeleton.index(t_map[f"foot_{s}"]) for s in ("l", "r")]
    c = contacts.detect(source, s_feet)
    return contacts.skate(source, c, s_feet), contacts.skate(target, c, t_feet), c
