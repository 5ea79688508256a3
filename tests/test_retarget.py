"""Bone maps, rest-pose-aware retargeting and the foot lock, in numpy (no bpy)."""

import numpy as np
import pytest

from blender_ganim.core import contacts, retarget
from blender_ganim.core import rotations as rot
from rig_fixtures import (compare_feet, dataset_apose, max_step_angle, mixamo_tpose, skate_pair)

UNREAL = ["root", "pelvis", "spine_01", "spine_02", "spine_03", "neck_01", "head", "clavicle_l", "upperarm_l",
          "upperarm_twist_01_l", "lowerarm_l", "hand_l", "thigh_l", "calf_l", "calf_twist_01_l", "foot_l",
          "ball_l", "clavicle_r", "upperarm_r", "lowerarm_r", "hand_r", "thigh_r", "calf_r", "foot_r", "ball_r"]
CMU = ["Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "RHipJoint", "RightUpLeg",
       "RightLeg", "RightFoot", "RightToeBase", "LowerBack", "Spine", "Spine1", "Neck", "Neck1", "Head",
       "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "RightShoulder", "RightArm", "RightForeArm", "RightHand"]
SMPL = ["pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
        "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist"]
RIGIFY = ["root", "DEF-spine", "DEF-spine.001", "DEF-spine.002", "DEF-spine.003", "DEF-spine.004",
          "DEF-spine.005", "DEF-spine.006"] + [f"DEF-{b}.{s}" for s in "LR" for b in (
              "shoulder", "upper_arm", "upper_arm.001", "forearm", "forearm.001", "hand", "thigh",
              "thigh.001", "shin", "shin.001", "foot", "toe", "pelvis")]


@pytest.fixture(scope="module")
def source(walk_clip):
    return walk_clip, retarget.auto_map(walk_clip.skeleton.names, walk_clip.skeleton.parents).mapping


@pytest.mark.parametrize("names, preset, checks", [
    (UNREAL, "unreal", {"chest": "spine_03", "shin_l": "calf_l", "toe_r": "ball_r"}),
    (CMU, "cmu", {"spine": "Spine", "thigh_l": "LeftUpLeg", "shoulder_r": "RightShoulder"}),
    (SMPL, "smpl", {"upper_arm_l": "left_shoulder", "shoulder_l": "left_collar", "toe_r": "right_foot"}),
    (RIGIFY, "rigify", {"hips": "DEF-spine", "head": "DEF-spine.006", "shin_l": "DEF-shin.L"}),
])
def test_presets_are_recognised(names, preset, checks):
    res = retarget.auto_map(names)
    assert res.preset == preset and not res.ambiguous
    assert not [r for r in retarget.REQUIRED if r in res.missing]
    for role, bone in checks.items():
        assert res.mapping[role] == bone


def test_unknown_rig_maps_by_name():
    """Other prefixes, case and separators: keyword rules + depth break ties."""
    names = ["Armature", "Pelvis", "spine_a", "spine_b", "spine_c", "NECK", "Head", "Head_end"]
    parents = [-1, 0, 1, 2, 3, 4, 5, 6]
    for side, tok in (("l", "L"), ("r", "R")):
        base = len(names)
        names += [f"clavicle.{tok}", f"upper-arm.{tok}", f"fore-arm.{tok}", f"hand.{tok}", f"{tok}_Thigh",
                  f"{tok}_Calf", f"{tok}_Foot", f"{tok}_Toe", f"{tok}_Thigh_twist"]
        parents += [4, base, base + 1, base + 2, 1, base + 4, base + 5, base + 6, base + 4]
    res = retarget.auto_map(names, np.array(parents))
    assert res.preset == "" and not res.missing and not res.ambiguous
    assert res.mapping["hips"] == "Pelvis" and res.mapping["spine"] == "spine_a"
    assert res.mapping["chest"] == "spine_c" and res.mapping["head"] == "Head"
    assert res.mapping["thigh_l"] == "L_Thigh" and res.mapping["forearm_r"] == "fore-arm.R"
    assert retarget.normalize_name("mixamorig:LeftUpLeg") == ("l", "upleg")
    assert retarget.normalize_name("DEF-thigh.R.001") == ("r", "thigh001")


def test_problems_are_listed_before_writing():
    res = retarget.auto_map(["Hips", "Spine", "Head", "Foot_L", "Foot.L"])
    missing, ambiguous = retarget.map_problems(res.mapping, ["Hips", "Spine", "Head", "Foot_L", "Foot.L"],
                                               res.ambiguous)
    assert "thigh_l" in missing and "hand_r" in missing and "hips" not in missing
    assert set(ambiguous["foot_l"]) == {"Foot_L", "Foot.L"}
    shared = {"hips": "Hips", "spine": "Hips"}
    assert set(retarget.map_problems(shared, ["Hips"])[1]) == {"hips", "spine"}


@pytest.mark.parametrize("make", [dataset_apose, mixamo_tpose], ids=["A-pose", "T-pose"])
def test_walk_transfers_onto_standing_rests(source, make):
    clip, s_map = source
    target = make()
    t_map = retarget.auto_map(target.names, target.parents).mapping
    out = retarget.retarget(clip, s_map, target, t_map)
    assert out.skeleton is target and out.frames == clip.frames
    height_err, stride_err = compare_feet(clip, s_map, out, t_map)
    assert height_err < 0.05 and stride_err < 0.05
    # Bone directions follow the source's exactly; no flips.
    gs, gt = clip.global_positions(), out.global_positions()
    for a, b in (("thigh_l", "shin_l"), ("upper_arm_r", "forearm_r"), ("spine", "head"), ("foot_l", "toe_l")):
        ds = gs[:, clip.skeleton.index(s_map[b])] - gs[:, clip.skeleton.index(s_map[a])]
        dt = gt[:, target.index(t_map[b])] - gt[:, target.index(t_map[a])]
        cos = np.sum(ds * dt, -1) / np.linalg.norm(ds, axis=-1) / np.linalg.norm(dt, axis=-1)
        assert cos.min() > 0.999, (a, b)
    roles = [r for r in retarget.ROLES if r in t_map]
    src_step = max_step_angle(clip, [clip.skeleton.index(s_map[r]) for r in roles])
    assert max_step_angle(out, [target.index(t_map[r]) for r in roles]) <= 1.5 * src_step
    # Twist: the target's pelvis faces where the source walks.
    grot = out.global_transforms()[0][:, target.index(t_map["hips"])]
    facing = rot.quat_apply(grot, np.array([0.0, 0.0, 1.0]))
    sgpos = clip.global_positions()
    fwd = retarget.forward(sgpos[:, clip.skeleton.index(s_map["thigh_l"])],
                           sgpos[:, clip.skeleton.index(s_map["thigh_r"])])
    assert np.degrees(np.arccos(np.clip(np.sum(facing * fwd, -1), -1, 1))).max() < 15.0


def test_foot_lock_removes_skate(source):
    clip, s_map = source
    target = mixamo_tpose()
    t_map = retarget.auto_map(target.names, target.parents).mapping
    out = retarget.retarget(clip, s_map, target, t_map)
    src_skate, tgt_skate, c = skate_pair(clip, s_map, out, t_map)
    chains = [tuple(target.index(t_map[f"{r}_{s}"]) for r in ("thigh", "shin", "foot")) for s in "lr"]
    locked = contacts.lock_feet(out, c, chains)
    _, locked_skate, _ = skate_pair(clip, s_map, locked, t_map)
    assert locked_skate <= src_skate and locked_skate < 0.05
    # Foot orientation kept; only leg joints changed; feet still where the source's are.
    g0, g1 = out.global_transforms()[0], locked.global_transforms()[0]
    foot = target.index(t_map["foot_l"])
    assert rot.quat_angle(g0[:, foot], g1[:, foot]).max() < 1e-6
    untouched = [j for j, n in enumerate(target.names) if "Spine" in n or "Arm" in n]
    np.testing.assert_allclose(np.abs(np.sum(g0[:, untouched] * g1[:, untouched], -1)), 1.0, atol=1e-9)
    assert max(compare_feet(clip, s_map, locked, t_map)) < 0.05


def longest_plant(clip, s_map):
    """The left leg's chain and a contact mask holding its longest planted span."""
    chain = tuple(clip.skeleton.index(s_map[f"{r}_l"]) for r in ("thigh", "shin", "foot"))
    a, b = max(contacts.spans(contacts.detect(clip, [chain[2]])[:, 0]), key=lambda s: s[1] - s[0])
    c = np.zeros((clip.frames, 1), dtype=bool)
    c[a:b] = True
    return chain, c, a, b


def knee_angles(positions, chain):
    h, k, f = (positions[:, j] for j in chain)
    u, v = h - k, f - k
    cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_soft_reach_eases_only_near_full_length():
    d = np.linspace(0, 2, 2001)
    out = contacts.soft_reach(d, 1.0, soft=0.05)
    near = d <= 0.95
    np.testing.assert_array_equal(out[near], d[near])
    assert np.all(np.diff(out) >= 0) and out.max() < 1.0 and out[-1] > 0.9999
    slope = np.diff(out) / np.diff(d)
    assert np.abs(np.diff(slope)).max() < 0.05          # no kink where the easing starts (a clamp: 1)
    np.testing.assert_allclose(contacts.soft_reach(d, 1.0, soft=0), np.minimum(d, 1 - 1e-6))


@pytest.mark.parametrize("soft, median_cm", [(0.0, 1e-6), (contacts.SOFT_REACH, 0.1)])
def test_two_bone_ik_reaches_and_keeps_the_knee_plane(source, soft, median_cm):
    clip, s_map = source
    chain, c, a, b = longest_plant(clip, s_map)
    locked = contacts.lock_feet(clip, c, [chain], blend=3, soft=soft)
    p0, p1 = clip.global_positions(), locked.global_positions()
    hold = p0[a:b, chain[2]].mean(axis=0)
    miss = np.linalg.norm(p1[a:b, chain[2]] - hold, axis=-1)
    # Exact wherever the leg can reach (soft: short by under a millimetre as it nears full
    # length); as the heel lifts at the end the stretched leg falls short by < 2 cm.
    assert np.median(miss) < median_cm and miss.max() < 2.0
    m = (a + b) // 2
    h, k, f = (p1[m, j] for j in chain)
    h0, k0, f0 = (p0[m, j] for j in chain)
    n1, n0 = np.cross(f - h, k - h), np.cross(f0 - h0, k0 - h0)
    assert np.dot(n1, n0) / np.linalg.norm(n1) / np.linalg.norm(n0) > 0.95
    # Outside the span and its blend nothing moved.
    np.testing.assert_allclose(p1[:max(a - 3, 0)], p0[:max(a - 3, 0)], atol=1e-9)
    np.testing.assert_allclose(p1[b + 3:], p0[b + 3:], atol=1e-9)


def test_soft_reach_keeps_the_knee_from_snapping_straight(source):
    clip, s_map = source
    chain, c, a, b = longest_plant(clip, s_map)
    near = slice(max(a - 3, 0), b + 3)                  # the span and its blend (the take is straight elsewhere)
    hard = knee_angles(contacts.lock_feet(clip, c, [chain], blend=3, soft=0).global_positions()[near], chain)
    soft = knee_angles(contacts.lock_feet(clip, c, [chain], blend=3).global_positions()[near], chain)
    # As the heel lifts, the clamp snaps the knee straight (here 166 -> 180 degrees in one frame) ...
    assert hard.max() > 179.5 and np.abs(np.diff(hard)).max() > 10
    # ... the eased leg straightens gradually and stays a little bent.
    assert soft.max() < 172.0 and np.abs(np.diff(soft)).max() < 0.5 * np.abs(np.diff(hard)).max()


def test_missing_roles_are_refused(source):
    clip, s_map = source
    target = mixamo_tpose()
    t_map = retarget.auto_map(target.names, target.parents).mapping
    del t_map["shin_l"]
    with pytest.raises(retarget.RetargetError, match="target bone map lacks shin_l"):
        retarget.retarget(clip, s_map, target, t_map)


def test_contact_spans():
    assert contacts.spans([0, 1, 1, 0, 1]) == [(1, 3), (4, 5)]
    assert contacts.spans([]) == []
