"""Checks on what an operator keyed, shared by the add-on's test modules (bpy only)."""

import re

import numpy as np

from blender_ganim.blender import actions


def fcurves(obj, action):
    """The F-curves of ``action`` as ``obj`` plays it (a slot's on 4.4 and later)."""
    return actions._fcurve_collection(action, obj)[0].fcurves


def assert_keyed(obj, action, names, start, frames):
    """Every bone has rotation keys on every frame of the clip, the root location keys too."""
    want = start + np.arange(frames, dtype=np.float32)
    seen = {}
    for fc in fcurves(obj, action):
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        np.testing.assert_array_equal(co[0::2], want)
        bone, prop = re.match(r'pose\.bones\["(.+)"\]\.(\w+)', fc.data_path).groups()
        seen.setdefault((bone, prop), set()).add(fc.array_index)
    for name in names:
        assert seen[(name, "rotation_quaternion")] == {0, 1, 2, 3}, name
    assert seen[(names[0], "location")] == {0, 1, 2}
