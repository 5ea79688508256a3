"""Parity with Blender's own BVH importer on real mocap.

The add-on's BVH reader and FK replace Blender's, so every joint must land where
Blender puts it.  We import the same file with ``bpy.ops.import_anim.bvh`` (the
io_anim_bvh add-on shipped in the bpy wheel), read each pose bone's head every frame,
map it back to BVH space and compare with ``Motion.global_positions()``.

Blender keys F-curves in float32, so agreement is to float32 precision, not bit for
bit.  In NATIVE (Euler) mode Blender re-expresses each rotation as an Euler triple in
the bone's rest frame; near gimbal lock that float32 triple loses a few 1e-4 rad,
which shows up as up to ~0.09 mm at the hand in the dance clip (frame 1140, where
LowerArm_R has Yrotation -89.99 deg).  QUATERNION mode has no such singularity and
agrees to ~2 um.
"""

from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
from bpy_extras.io_utils import axis_conversion  # noqa: E402  (only exists with bpy)

from blender_ganim.core import bvh  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLIPS = [
    "bandai-namco-motion-ds2/dataset-2_walk_normal_004.bvh",
    "bandai-namco-motion-ds2/dataset-2_run_active_029.bvh",
    "bandai-namco-motion-ds1/dataset-1_dance-short_normal_001.bvh",
]
AXES = {"axis_forward": "-Z", "axis_up": "Y"}  # the importer's defaults: BVH Y-up -> Blender Z-up
FRAME_START = 1  # Blender frame FRAME_START + i holds BVH frame i
TOLERANCE_CM = {"NATIVE": 0.01, "QUATERNION": 0.001}  # 0.1 mm / 10 um in the file's cm

pytestmark = [
    pytest.mark.blender,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"mocap data not found at {DATA}"),
]


def blender_import(path, rotate_mode):
    """Import ``path`` into a fresh empty scene; return the armature object."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    result = bpy.ops.import_anim.bvh(
        filepath=str(path), target="ARMATURE", global_scale=1.0, rotate_mode=rotate_mode,
        frame_start=FRAME_START, use_fps_scale=False, update_scene_fps=False,
        update_scene_duration=False, use_cyclic=False, **AXES)
    assert result == {"FINISHED"}
    return next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")


def blender_positions(armature, names, frames):
    """Pose-bone heads ``[T, J, 3]`` for BVH frames ``0..frames-1``, in BVH axes."""
    # axis_conversion maps BVH vectors to Blender's; it is a rotation, so v @ M undoes it.
    to_bvh = np.array(axis_conversion(from_forward=AXES["axis_forward"], from_up=AXES["axis_up"]))
    bones = [armature.pose.bones[n] for n in names]
    scene = bpy.context.scene
    out = np.empty((frames, len(names), 3))
    for f in range(frames):
        scene.frame_set(FRAME_START + f)
        world = armature.matrix_world
        out[f] = [tuple(world @ b.head) for b in bones]
    return out @ to_bvh


def deviation(path, rotate_mode):
    """Per-frame, per-joint distance (cm) between Blender's joints and ours."""
    motion = bvh.read(path)
    armature = blender_import(path, rotate_mode)
    names = motion.skeleton.names
    assert sorted(b.name for b in armature.pose.bones) == sorted(names)
    assert tuple(armature.animation_data.action.frame_range) == (FRAME_START, FRAME_START + motion.frames - 1)
    theirs = blender_positions(armature, names, motion.frames)
    return np.linalg.norm(theirs - motion.global_positions(), axis=-1), names


@pytest.mark.parametrize("rotate_mode", ["NATIVE", "QUATERNION"])
@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: Path(c).stem)
def test_joint_positions_match_blender(clip, rotate_mode, record_property):
    """Every joint (root and Hips included) on every frame matches Blender's pose."""
    path = DATA / clip
    if not path.is_file():
        pytest.skip(f"{clip} not in the data folder")
    dist, names = deviation(path, rotate_mode)
    frame, joint = np.unravel_index(np.argmax(dist), dist.shape)
    worst = float(dist[frame, joint])
    record_property("max_deviation_cm", worst)
    print(f"{Path(clip).stem} [{rotate_mode}]: {dist.shape[0]} frames, max deviation "
          f"{worst:.3g} cm at frame {frame} ({names[joint]}), mean {dist.mean():.2g} cm")
    assert worst < TOLERANCE_CM[rotate_mode], (
        f"{names[joint]} is {worst:.4g} cm from Blender's at frame {frame}")
