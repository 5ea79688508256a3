"""Motion editing (slice, concatenate, resample, mirror) and the network features."""

import numpy as np
import pytest

from blender_ganim.core import bvh, features
from blender_ganim.core import rotations as rot
from blender_ganim.core.motion import concatenate


def test_slice_and_concatenate(walk_clip):
    a, b = walk_clip.slice(0, 100), walk_clip.slice(100)
    joined = concatenate([a, b])
    assert joined.frames == walk_clip.frames
    np.testing.assert_allclose(joined.global_positions(), walk_clip.global_positions())
    with pytest.raises(ValueError, match="outside the clip"):
        walk_clip.slice(10, 10_000)


def test_resample_keeps_the_shared_frames(walk_clip):
    up = walk_clip.resample(60)
    assert up.frames == 2 * walk_clip.frames - 1 and up.fps == 60
    np.testing.assert_allclose(up.global_positions()[::2], walk_clip.global_positions(), atol=1e-6)
    down = up.resample(30)
    np.testing.assert_allclose(down.global_positions(), walk_clip.global_positions(), atol=1e-6)
    # A midpoint lies between its neighbours.
    mid = up.global_positions()[1]
    ends = walk_clip.global_positions()[:2]
    assert np.all(np.linalg.norm(mid - ends.mean(0), axis=-1) < np.linalg.norm(ends[1] - ends[0], axis=-1) + 1e-6)


def test_resampling_follows_a_smooth_curve_through_the_frames(walk_clip):
    """Catmull-Rom, not slerp + lerp: frames dropped from a capture come back nearer the captured
    ones, and a 60 fps copy of a 30 fps clip has no velocity kink at every source frame (its jerk
    was 5.5x the clip's with lerp; 1.5x now, a real walk's jerk being underread at 30 fps)."""
    g = walk_clip.global_positions()
    half = walk_clip.copy(rotations=walk_clip.rotations[::2], positions=walk_clip.positions[::2], fps=15)
    n = 2 * (half.frames - 1) + 1
    made = half.resample(30, frames=n).global_positions()[1::2]
    error_cm = np.sqrt(((made - g[1:n:2]) ** 2).sum(-1).mean())
    assert error_cm < 0.25                                                  # lerp: 0.36 cm

    def jerk(m):
        return np.linalg.norm(np.diff(m.global_positions(), 3, axis=0), axis=-1).mean() * m.fps ** 3
    assert jerk(walk_clip.resample(60)) < 2.5 * jerk(walk_clip)               # lerp: 5.5x
    np.testing.assert_allclose(np.linalg.norm(walk_clip.resample(24).rotations, axis=-1), 1.0, atol=1e-12)


def test_mirror_swaps_sides_and_reflects(walk_clip):
    m = walk_clip.mirror()
    sk = walk_clip.skeleton
    g, gm = walk_clip.global_positions(), m.global_positions()
    for left, right in (("Hand_L", "Hand_R"), ("Foot_L", "Foot_R"), ("Head", "Head")):
        expected = g[:, sk.index(left)] * [-1, 1, 1]
        np.testing.assert_allclose(gm[:, sk.index(right)], expected, atol=1e-6)
    # Mirroring twice gives the original back.
    np.testing.assert_allclose(m.mirror().global_positions(), g, atol=1e-6)
    # Bone lengths are the skeleton's (the rig's right side has flipped local axes).
    np.testing.assert_allclose(np.linalg.norm(m.positions[:, 2:], axis=-1),
                               np.linalg.norm(walk_clip.positions[:, 2:], axis=-1), atol=1e-3)


def test_mirror_map_conventions():
    from blender_ganim.core.skeleton import Skeleton
    names = ("Hips", "LeftUpLeg", "RightUpLeg", "thigh.L", "thigh.R", "mixamorig:LeftHand", "mixamorig:RightHand", "Spine")
    sk = Skeleton(names, [-1, 0, 0, 0, 0, 0, 0, 0], np.zeros((8, 3)))
    assert [names[i] for i in sk.mirror_map()] == [
        "Hips", "RightUpLeg", "LeftUpLeg", "thigh.R", "thigh.L", "mixamorig:RightHand", "mixamorig:LeftHand", "Spine"]


def test_nan_motion_is_refused(walk_clip):
    bad = walk_clip.rotations.copy()
    bad[3, 4, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        walk_clip.copy(rotations=bad)


@pytest.mark.parametrize("name", ["dataset-2_walk_normal_004.bvh", "dataset-2_walk-turn-left_normal_001.bvh",
                                  "dataset-2_run_elderly_005.bvh"])
def test_features_round_trip_within_1mm_without_drift(sample_dir, name):
    m = bvh.read(sample_dir / name)
    spec = features.spec_for(m.skeleton)
    x = features.encode(m, spec)
    assert x.shape == (m.frames, spec["channels"]) and spec["channels"] == 134
    back = features.decode(x, spec, m.skeleton, m.fps, start=features.start_of(m, spec))
    err = np.abs(back.global_positions() - m.global_positions()).max()
    assert err < 0.1  # centimetres = 1 mm, over the whole clip, last frame included
    # float32 storage (what the network sees) stays within 1 mm too.
    back32 = features.decode(x.astype(np.float32), spec, m.skeleton, m.fps, start=features.start_of(m, spec))
    assert np.abs(back32.global_positions() - m.global_positions()).max() < 0.1


def test_features_are_facing_and_translation_invariant(walk_clip):
    spec = features.spec_for(walk_clip.skeleton)
    turned = walk_clip.copy()
    q = rot.yaw_quat(np.array(1.1))
    r = spec["root"]
    turned.rotations[:, r] = rot.quat_mul(q, turned.rotations[:, r])
    turned.positions[:, r] = rot.quat_apply(q, turned.positions[:, r]) + [300, 0, -50]
    np.testing.assert_allclose(features.encode(turned, spec), features.encode(walk_clip, spec), atol=1e-8)


def test_walk_has_alternating_foot_contacts(walk_clip):
    spec = features.spec_for(walk_clip.skeleton)
    c = features.contacts(walk_clip, spec)
    names = [walk_clip.skeleton.names[j] for j in spec["feet"]]
    assert names == ["Foot_L", "Toes_L", "Foot_R", "Toes_R"]
    assert 0.2 < c.mean() < 0.9
    left, right = c[:, 1], c[:, 3]
    assert np.mean((left == 0) & (right == 0)) < 0.2  # walking: rarely both feet in the air


def test_resample_to_a_frame_count_holds_the_last_frame(walk_clip):
    clip = walk_clip.slice(0, 31)                                        # 1 s at 30 fps
    film = clip.resample(24, frames=27)                                  # 25 frames fit, then the end held
    assert (film.frames, film.fps) == (27, 24.0)
    np.testing.assert_allclose(film.global_positions()[[0, 24]], clip.global_positions()[[0, 30]], atol=1e-9)
    np.testing.assert_allclose(film.global_positions()[25:], clip.global_positions()[[30, 30]], atol=1e-9)
    half = clip.sample_at([0.5])
    assert half.fps == clip.fps and half.frames == 1


def test_fk_a_depth_at_a_time_is_the_joint_by_joint_chain(walk_clip):
    """skeleton.fk and fk_matrices take every joint of one depth together (session 55, for speed); a
    plain walk down the chain, joint by joint with matrices, must give the same globals."""
    from blender_ganim.core import skeleton
    sk, clip = walk_clip.skeleton, walk_clip.slice(0, 40)
    mats = rot.quat_to_matrix(clip.rotations)
    gmat, gpos = np.empty_like(mats), np.empty_like(clip.positions)
    for j, p in enumerate(sk.parents):
        if p < 0:
            gmat[:, j], gpos[:, j] = mats[:, j], clip.positions[:, j]
        else:
            gmat[:, j] = gmat[:, p] @ mats[:, j]
            gpos[:, j] = np.einsum("tab,tb->ta", gmat[:, p], clip.positions[:, j]) + gpos[:, p]
    assert len(skeleton._levels(tuple(int(p) for p in sk.parents))) < len(sk) - 1   # it does batch joints
    grot, qpos = skeleton.fk(sk.parents, clip.rotations, clip.positions)
    np.testing.assert_allclose(qpos, gpos, atol=1e-9)
    np.testing.assert_allclose(rot.quat_to_matrix(grot), gmat, atol=1e-12)
    np.testing.assert_allclose(skeleton.fk_matrices(sk.parents, clip.rotations, clip.positions)[1], gpos, atol=1e-9)
