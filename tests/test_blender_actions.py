"""The bpy layer: armatures from skeletons, motions written as actions and read back."""

from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_ganim.blender import actions, armature  # noqa: E402
from blender_ganim.core import bvh  # noqa: E402
from blender_ganim.core import rotations as rot  # noqa: E402
from blender_ganim.core.motion import Motion  # noqa: E402
from blender_ganim.core.skeleton import Skeleton  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bandai-namco-motion-ds2"
SCALE = 0.01
START = 5

pytestmark = pytest.mark.blender


@pytest.fixture(autouse=True)
def clean_scene():
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)


def synthetic_motion(frames=24, seed=0):
    """A small rig with branches, a zero-length End Site and a stretching spine."""
    names = ("root", "spine", "head", "arm_L", "hand_L", "arm_R", "hand_R")
    parents = [-1, 0, 1, 1, 3, 1, 5]
    offsets = [[0, 90, 0], [0, 10, 0], [0, 20, 0], [10, 15, 0], [25, 0, 0], [-10, 15, 0], [-25, 0, 0]]
    sk = Skeleton(names, parents, offsets, end_sites={2: [0, 10, 0], 4: [0, 0, 0], 6: [0, 0, 0]})
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, frames)[:, None, None]
    axis_angle = rng.normal(size=(1, len(names), 3)) * t * 2.0 + rng.normal(size=(1, len(names), 3)) * 0.5
    positions = np.broadcast_to(sk.offsets, (frames, len(names), 3)).copy()
    positions[:, 0] += np.concatenate([100 * t[:, 0], 5 * np.sin(6 * t[:, 0]), -50 * t[:, 0]], axis=-1)
    positions[:, 1, 1] += 3 * np.sin(4 * t[:, 0, 0])
    return Motion(sk, rot.axis_angle_to_quat(axis_angle), positions, 30.0, "synthetic")


def clip_motion():
    files = sorted(DATA.glob("*.bvh")) if DATA.is_dir() else []
    if not files:
        pytest.skip(f"no sample data under {DATA}")
    return bvh.read(files[0])


@pytest.fixture(params=["synthetic", "clip"])
def motion(request):
    return synthetic_motion() if request.param == "synthetic" else clip_motion()


def posed_heads(obj, names, frame):
    bpy.context.scene.frame_set(frame)
    return np.array([tuple(obj.matrix_world @ obj.pose.bones[n].head) for n in names])


def curves_of(obj, action):
    return list(actions._fcurve_collection(action, obj)[0].fcurves)


# ---------------------------------------------------------------- armature

def test_armature_matches_skeleton(motion):
    sk = motion.skeleton
    obj = armature.build_armature(sk, "Rig", scale=SCALE)
    bones = obj.data.bones
    assert [b.name for b in bones] == list(sk.names)
    for j, name in enumerate(sk.names):
        parent = bones[name].parent
        assert (parent.name if parent else None) == (sk.names[sk.parents[j]] if j else None)
        assert bones[name].length > 0.0
    heads = np.array([tuple(bones[n].head_local) for n in sk.names])
    np.testing.assert_allclose(heads, armature.to_blender(armature.rest_positions(sk), SCALE), atol=1e-6)
    assert armature.skeleton_from_object(obj).same_topology(sk)
    assert armature.armature_scale(obj) == SCALE


def test_build_from_pose_mode_and_failed_build_leaves_nothing():
    sk = synthetic_motion().skeleton
    armature.build_armature(sk, "A")
    bpy.ops.object.mode_set(mode="POSE")
    assert len(armature.build_armature(sk, "B").data.bones) == len(sk)
    assert bpy.context.mode == "OBJECT"
    counts = len(bpy.data.objects), len(bpy.data.armatures)
    with pytest.raises(ValueError, match="view layer"):
        armature.build_armature(sk, "C", collection=bpy.data.collections.new("loose"))
    assert (len(bpy.data.objects), len(bpy.data.armatures)) == counts


def test_axis_mapping_is_y_up_to_z_up():
    np.testing.assert_allclose(armature.to_blender([1.0, 2.0, 3.0], 0.5), [0.5, -1.5, 1.0])
    np.testing.assert_allclose(armature.from_blender(armature.to_blender([1.0, 2.0, 3.0], 0.5), 0.5), [1, 2, 3])
    assert np.isclose(np.linalg.det(armature.BVH_TO_BLENDER), 1.0)


# ---------------------------------------------------------------- writing

def test_posed_heads_follow_the_motion(motion):
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    actions.write_action(obj, motion, "clip", start_frame=START)
    expected = armature.to_blender(motion.global_positions(), SCALE)
    T = motion.frames
    for i in sorted({0, 1, T // 2, T - 1}):
        heads = posed_heads(obj, motion.skeleton.names, START + i)
        np.testing.assert_allclose(heads, expected[i], atol=1e-4, err_msg=f"frame {i}")


def test_posed_bones_turn_with_their_joints(motion):
    """Heads miss leaf and twist rotations: each posed bone frame must be the joint's frame x rest."""
    sk = motion.skeleton
    obj = armature.build_armature(sk, "Rig", scale=SCALE)
    actions.write_action(obj, motion, "clip", start_frame=START)
    rest, _ = armature.bone_rest(obj, sk.names)
    C = armature.BVH_TO_BLENDER
    global_rot = rot.quat_to_matrix(motion.global_transforms()[0])
    for i in (0, motion.frames // 2):
        bpy.context.scene.frame_set(START + i)
        posed = np.array([[list(r) for r in obj.pose.bones[n].matrix.to_3x3()] for n in sk.names])
        np.testing.assert_allclose(posed, C @ global_rot[i] @ C.T @ rest, atol=1e-5, err_msg=f"frame {i}")


def test_object_transform_moves_the_whole_clip():
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    obj.location = (1.0, 2.0, 3.0)
    actions.write_action(obj, motion, "clip", start_frame=START)
    heads = posed_heads(obj, motion.skeleton.names, START + 3)
    expected = armature.to_blender(motion.global_positions()[3], SCALE) + [1.0, 2.0, 3.0]
    np.testing.assert_allclose(heads, expected, atol=1e-4)


def test_round_trip(motion):
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    actions.write_action(obj, motion, "clip", start_frame=START)
    back = actions.read_action(obj)
    assert back.frames == motion.frames and back.skeleton.same_topology(motion.skeleton)
    assert back.fps == pytest.approx(motion.fps) and back.name == "clip"
    assert rot.quat_angle(back.rotations, motion.rotations).max() < 1e-5
    g, g_back = motion.global_positions(), back.global_positions()
    assert np.abs(g_back - g).max() <= 1e-5 * np.abs(g).max()


def test_read_action_evaluates_sparse_keys():
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    action = actions.write_action(obj, motion, "clip", start_frame=START)
    for fc in curves_of(obj, action):  # drop every other key: linear curves are sampled in between
        for k in range(len(fc.keyframe_points) - 2, 0, -2):
            fc.keyframe_points.remove(fc.keyframe_points[k])
    back = actions.read_action(obj, action, motion.skeleton)
    assert back.frames == motion.frames
    assert rot.quat_angle(back.rotations[0], motion.rotations[0]).max() < 1e-5
    assert rot.quat_angle(back.rotations[-1], motion.rotations[-1]).max() < 1e-5


@pytest.mark.parametrize("mode", ["XYZ", "ZXY"])
def test_read_action_accepts_euler_curves(mode):
    """Actions keyed by hand or by Blender's BVH importer use Euler rotations."""
    from mathutils import Quaternion

    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    action = actions.write_action(obj, motion, "clip", start_frame=START)
    container = actions._fcurve_collection(action, obj)[0]
    path = 'pose.bones["spine"].rotation_quaternion'
    quat = [container.fcurves.find(path, index=i) for i in range(4)]
    values = np.array([[fc.evaluate(START + f) for fc in quat] for f in range(motion.frames)])
    for fc in quat:
        container.fcurves.remove(fc)
    euler = np.array([tuple(Quaternion(q).to_euler(mode)) for q in values])
    for i in range(3):
        fc = container.fcurves.new('pose.bones["spine"].rotation_euler', index=i)
        for f, v in enumerate(euler[:, i]):
            fc.keyframe_points.insert(START + f, v)
    obj.pose.bones["spine"].rotation_mode = mode
    back = actions.read_action(obj)
    assert rot.quat_angle(back.rotations, motion.rotations).max() < 1e-5


@pytest.mark.parametrize("mode", ["XYZ", "ZXY", "YZX"])
def test_bones_in_an_euler_mode_are_keyed_in_it(mode):
    """A hand-animated rig's bones keep their Euler mode (its own actions keep playing on it); the clip
    plays as it should and reads back the same. Other bones are keyed as quaternions, as before."""
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    euler_bones = ("spine", "arm_L", "hand_R")
    for name in euler_bones:
        obj.pose.bones[name].rotation_mode = mode
    action = actions.write_action(obj, motion, "clip", start_frame=START)
    paths = {fc.data_path for fc in curves_of(obj, action)}
    for name in motion.skeleton.names:
        euler = name in euler_bones
        assert (f'pose.bones["{name}"].rotation_euler' in paths) == euler, name
        assert (f'pose.bones["{name}"].rotation_quaternion' in paths) != euler, name
        assert obj.pose.bones[name].rotation_mode == (mode if euler else "QUATERNION")
    expected = armature.to_blender(motion.global_positions(), SCALE)
    for i in (0, motion.frames // 2, motion.frames - 1):
        np.testing.assert_allclose(posed_heads(obj, motion.skeleton.names, START + i), expected[i], atol=1e-4)
    back = actions.read_action(obj)
    assert rot.quat_angle(back.rotations, motion.rotations).max() < 1e-5
    spine = [fc for fc in curves_of(obj, action) if fc.data_path == 'pose.bones["spine"].rotation_euler']
    values = np.array([[kp.co[1] for kp in fc.keyframe_points] for fc in spine])
    assert np.abs(np.diff(values, axis=1)).max() < np.pi                 # unrolled: no 2 pi jumps between keys


def test_every_bone_is_keyed_on_every_frame(motion):
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    action = actions.write_action(obj, motion, "clip", start_frame=START)
    assert obj.animation_data.action == action
    assert tuple(action.frame_range) == (START, START + motion.frames - 1)
    frames = START + np.arange(motion.frames, dtype=np.float32)
    seen = {}
    for fc in curves_of(obj, action):
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        np.testing.assert_array_equal(co[0::2], frames)
        bone = fc.data_path.split('"')[1]
        assert fc.group is not None and fc.group.name == bone
        seen.setdefault((bone, fc.data_path.rsplit(".", 1)[1]), set()).add(fc.array_index)
        if fc.data_path.endswith("rotation_quaternion"):
            assert all((k.interpolation, k.handle_left_type, k.handle_right_type) == ("BEZIER", "AUTO_CLAMPED",
                                                                                       "AUTO_CLAMPED")
                       for k in fc.keyframe_points[:3])
    for name in motion.skeleton.names:
        assert seen[(name, "rotation_quaternion")] == {0, 1, 2, 3}
        assert obj.pose.bones[name].rotation_mode == "QUATERNION"
    root = motion.skeleton.names[0]
    assert seen[(root, "location")] == {0, 1, 2}
    moved = actions._translated_joints(motion)
    assert {n for n, p in seen if p == "location"} == {n for n, m in zip(motion.skeleton.names, moved) if m}


def test_keys_are_smooth_between_frames():
    """A strip slowed down in the NLA, motion blur or a render at a higher rate sees sub-frames: the
    joints' jerk there is 2.9x lower with Bezier keys than with linear ones on this take (4.1x on a generated
    run), the frames themselves equal."""
    motion = bvh.read(Path(__file__).resolve().parents[1] / "data" / "sample" / "dataset-2_run_normal_038.bvh")
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    action = actions.write_action(obj, motion.slice(0, 60), "clip", start_frame=START)
    names = motion.skeleton.names

    def at(t):
        bpy.context.scene.frame_set(int(np.floor(t)), subframe=float(t - np.floor(t)))
        return np.array([tuple(obj.matrix_world @ obj.pose.bones[n].head) for n in names])

    for fc in curves_of(obj, action):  # keyframe_points.add made them so: write_action no longer sets them
        assert {(k.interpolation, k.handle_left_type, k.handle_right_type) for k in fc.keyframe_points} == {
            ("BEZIER", "AUTO_CLAMPED", "AUTO_CLAMPED")}
    times = START + 5 + np.arange(0, 40, 0.25)
    smooth = np.array([at(t) for t in times])
    for fc in curves_of(obj, action):
        fc.keyframe_points.foreach_set("interpolation", np.ones(len(fc.keyframe_points), dtype=np.int32))  # LINEAR
        fc.update()
    linear = np.array([at(t) for t in times])
    np.testing.assert_allclose(smooth[::4], linear[::4], atol=1e-6)                   # the keyed frames agree

    def jerk(g):
        return np.linalg.norm(np.diff(g, 3, axis=0), axis=-1).mean()
    assert jerk(smooth) < 0.5 * jerk(linear)


def test_keys_are_made_smooth_where_a_version_adds_them_otherwise(monkeypatch):
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    fc = curves_of(obj, actions.write_action(obj, motion, "clip"))[0]
    points, n = fc.keyframe_points, len(fc.keyframe_points)
    points.foreach_set("interpolation", np.full(n, actions.LINEAR, dtype=np.int32))   # as another version
    points.foreach_set("handle_left_type", np.full(n, 1, dtype=np.int32))             # might add them: ALIGNED
    actions._make_smooth(points)
    assert {(k.interpolation, k.handle_left_type, k.handle_right_type) for k in points} == {
        ("BEZIER", "AUTO_CLAMPED", "AUTO_CLAMPED")}
    monkeypatch.setattr(actions, "SMOOTH_KEYS", False)
    action = actions.write_action(obj, motion, "clip_linear")
    assert {k.interpolation for fc in curves_of(obj, action) for k in fc.keyframe_points} == {"LINEAR"}


def test_quaternion_keys_are_sign_continuous():
    motion = synthetic_motion()
    flipped = motion.rotations.copy()
    flipped[1::2] *= -1.0
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    actions.write_action(obj, motion.copy(rotations=flipped), "clip")
    q = actions.read_action(obj).rotations
    assert np.all(np.sum(q[1:] * q[:-1], axis=-1) > 0.0)


# ---------------------------------------------------------------- safety

def test_existing_action_is_not_overwritten_unless_asked():
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    taken = bpy.data.actions.new("taken")
    taken["marker"] = 7
    taken.use_fake_user = True
    before = set(bpy.data.actions.keys())
    with pytest.raises(actions.ActionExistsError, match="taken"):
        actions.write_action(obj, motion, "taken")
    assert set(bpy.data.actions.keys()) == before
    assert bpy.data.actions["taken"].get("marker") == 7
    assert obj.animation_data is None or obj.animation_data.action is None

    new = actions.write_action(obj, motion, "taken", replace=True)
    assert set(bpy.data.actions.keys()) == before
    assert new.name == "taken" and new.get("marker") is None and new.use_fake_user
    assert obj.animation_data.action == new
    assert len(curves_of(obj, new)) > 0


def test_replace_swaps_what_the_object_plays():
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    actions.write_action(obj, motion, "clip", start_frame=START)
    other = synthetic_motion(seed=1)
    actions.write_action(obj, other, "clip", start_frame=START, replace=True)
    assert list(bpy.data.actions.keys()) == ["clip"]
    heads = posed_heads(obj, motion.skeleton.names, START + 2)
    np.testing.assert_allclose(heads, armature.to_blender(other.global_positions()[2], SCALE), atol=1e-4)


@pytest.mark.parametrize("replace", [False, True])
def test_failure_mid_write_leaves_nothing_behind(monkeypatch, replace):
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    first = actions.write_action(obj, motion, "first")
    before = {a.name: len(curves_of(obj, a)) for a in bpy.data.actions}
    real, calls = actions._key_fcurve, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 9:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(actions, "_key_fcurve", flaky)
    with pytest.raises(RuntimeError, match="disk on fire"):
        actions.write_action(obj, motion, "first" if replace else "second", replace=replace)
    assert {a.name: len(curves_of(obj, a)) for a in bpy.data.actions} == before
    assert obj.animation_data.action == first


def test_failure_on_a_fresh_object_leaves_it_unanimated(monkeypatch):
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    monkeypatch.setattr(actions, "_reset_pose", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        actions.write_action(obj, motion, "clip")
    assert len(bpy.data.actions) == 0
    assert obj.animation_data is None or obj.animation_data.action is None


def test_failure_after_the_pose_reset_puts_the_pose_back(monkeypatch):
    """The write resets the pose (and a bone's axis-angle mode to quaternions) before it assigns the
    action; a failure after that leaves the pose as the user had it."""
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    arm = obj.pose.bones["arm_L"]
    arm.rotation_mode = "AXIS_ANGLE"
    arm.rotation_axis_angle = (0.7, 0.0, 1.0, 0.0)
    arm.location, arm.scale = (1.0, 2.0, 3.0), (1.0, 2.0, 1.0)
    monkeypatch.setattr(actions, "_assign", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        actions.write_action(obj, motion, "clip")
    assert arm.rotation_mode == "AXIS_ANGLE"
    np.testing.assert_allclose(tuple(arm.rotation_axis_angle), (0.7, 0.0, 1.0, 0.0), atol=1e-6)
    assert tuple(arm.location) == (1.0, 2.0, 3.0) and tuple(arm.scale) == (1.0, 2.0, 1.0)


def test_the_action_a_write_displaces_is_kept_when_saved():
    """Nothing else plays the action the object played before: without a fake user Blender would drop
    it at the next save (as the Python API's rig_map.retarget_onto left it)."""
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    first = actions.write_action(obj, motion, "first")
    assert not first.use_fake_user
    actions.write_action(obj, motion, "second")
    assert first.use_fake_user and obj.animation_data.action.name == "second"
    actions.write_action(obj, motion, "second", replace=True)         # replaced on request: gone, not kept
    assert sorted(bpy.data.actions.keys()) == ["first", "second"]
    third = actions.write_action(obj, motion, "third", keep=False)   # the caller settles what plays
    assert not bpy.data.actions["second"].use_fake_user and third.users == 1


def test_a_write_that_fails_after_keeping_the_displaced_action_takes_its_fake_user_back(monkeypatch):
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    first = actions.write_action(obj, motion, "first")
    actions.write_action(obj, motion, "taken").use_fake_user = True
    obj.animation_data.action = first
    first.use_fake_user = False                      # (kept when "taken" displaced it; played again now)
    monkeypatch.setattr(actions, "_swap_in", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        actions.write_action(obj, motion, "taken", replace=True)
    assert obj.animation_data.action == first and not first.use_fake_user
    assert sorted(bpy.data.actions.keys()) == ["first", "taken"]


def test_an_action_without_a_recorded_rate_is_read_at_its_objects_scene_rate():
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    action = actions.write_action(obj, motion, "clip")
    del action[actions.FPS_PROP]                                      # as an action keyed by hand
    bpy.context.scene.render.fps = 24
    assert actions.read_action(obj).fps == 24
    other = bpy.data.scenes.new("Other")
    other.render.fps, other.render.fps_base = 60, 1.001
    other.collection.objects.link(obj)
    for collection in obj.users_collection:
        if collection != other.collection:
            collection.objects.unlink(obj)
    assert actions.read_action(obj).fps == pytest.approx(60 / 1.001)


def test_missing_bones_are_listed():
    motion = synthetic_motion()
    obj = armature.build_armature(motion.skeleton, "Rig", scale=SCALE)
    assert armature.missing_bones(obj, motion.skeleton) == []
    sk = motion.skeleton
    renamed = Skeleton(("root", "spine", "skull") + sk.names[3:5] + ("arm_X", "hand_R"), sk.parents, sk.offsets)
    assert armature.missing_bones(obj, renamed) == ["skull", "arm_X"]
    with pytest.raises(armature.ArmatureError, match="skull, arm_X"):
        actions.write_action(obj, motion.copy(skeleton=renamed), "clip")
    assert len(bpy.data.actions) == 0


def test_non_armatures_are_refused():
    motion = synthetic_motion()
    empty = bpy.data.objects.new("Empty", None)
    with pytest.raises(armature.ArmatureError, match="armature"):
        actions.write_action(empty, motion, "clip")
    with pytest.raises(ValueError):
        armature.missing_bones(empty, motion.skeleton)
    assert len(bpy.data.actions) == 0
