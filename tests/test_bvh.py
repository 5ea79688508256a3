"""BVH reading and writing: round trips, every shared file, and each kind of bad input."""

import numpy as np
import pytest

from blender_ganim.core import bvh
from blender_ganim.core import rotations as rot

TINY = """HIERARCHY
ROOT Hips
{
\tOFFSET 0 90 0
\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
\tJOINT Leg
\t{
\t\tOFFSET 10 -40 0
\t\tCHANNELS 3 Xrotation Yrotation Zrotation
\t\tEnd Site
\t\t{
\t\t\tOFFSET 0 -45 0
\t\t}
\t}
\tJOINT Spine
\t{
\t\tOFFSET 0 20 0
\t\tCHANNELS 6 Yrotation Zposition Xrotation Xposition Zrotation Yposition
\t}
}
MOTION
Frames: 2
Frame Time: 0.04
1 90 2 10 20 30 5 6 7 45 0 1 0.5 -3 2
1.5 91 2.5 -10 -20 -30 5 6 7 -45 0 1 0.5 -3 2
"""


def test_tiny_file_channels_and_orders():
    m = bvh.parse(TINY)
    assert m.skeleton.names == ("Hips", "Leg", "Spine") and m.frames == 2 and m.fps == pytest.approx(25)
    assert m.skeleton.rotation_order(0) == "ZXY" and m.skeleton.rotation_order(1) == "XYZ"
    assert m.skeleton.rotation_order(2) == "YXZ"
    np.testing.assert_allclose(m.positions[0, 0], [1, 90, 2])
    np.testing.assert_allclose(m.positions[0, 1], [10, -40, 0])      # no position channels: OFFSET
    np.testing.assert_allclose(m.positions[0, 2], [0.5, 2, 0])       # position channels replace OFFSET
    expected = rot.euler_to_quat(np.radians([45, 1, -3]), "YXZ")
    assert abs(abs(np.dot(m.rotations[0, 2], expected)) - 1) < 1e-12
    np.testing.assert_allclose(m.skeleton.end_sites[1], [0, -45, 0])


def test_write_read_round_trip_keeps_layout():
    m = bvh.parse(TINY)
    text = bvh.dumps(m)
    back = bvh.parse(text)
    assert back.skeleton.channels == m.skeleton.channels
    np.testing.assert_allclose(back.global_positions(), m.global_positions(), atol=1e-4)
    np.testing.assert_allclose(back.skeleton.end_sites[1], [0, -45, 0])


def test_tabs_crlf_exponents_and_blank_lines():
    text = "\n" + TINY.replace("\n", "\r\n").replace("90 2 10", "9.0e1 2 1E1")
    m = bvh.parse(text)
    np.testing.assert_allclose(m.positions[0, 0], [1, 90, 2])


def test_real_clip_round_trip_within_tenth_mm(walk_clip, tmp_path):
    out = tmp_path / "out.bvh"
    bvh.write(out, walk_clip)
    back = bvh.read(out)
    assert back.frames == walk_clip.frames and back.skeleton.names == walk_clip.skeleton.names
    err = np.abs(back.global_positions() - walk_clip.global_positions()).max()
    assert err < 0.01  # centimetres: 0.1 mm


def test_every_shared_bvh_parses(shared_data):
    files = sorted(shared_data.glob("*/*.bvh"))
    assert len(files) >= 170
    frames = 0
    for f in files:
        m = bvh.read(f)
        assert m.skeleton.num_joints == 22 and abs(m.fps - 30) < 1e-3
        frames += m.frames
    assert frames > 30000


BAD = {
    "empty": ("", 1, "empty"),
    "binary": (b"\x00\x01\x02binary junk\xff", 1, "binary"),
    "no hierarchy": ("MOTION\nFrames: 1\nFrame Time: 0.1\n1 2 3\n", 1, "HIERARCHY"),
    "no motion": (TINY.split("MOTION")[0], 20, "missing MOTION"),
    "short line": (TINY.replace("1 90 2 10 20 30 5 6 7 45 0 1 0.5 -3 2", "1 90 2 10 20 30 5 6 7"), 24, "has 9 values, expected 15"),
    "non-numeric": (TINY.replace("1.5 91", "1.5 abc"), 25, "not a number: 'abc'"),
    "unknown channel": (TINY.replace("Xrotation Yrotation Zrotation", "Xrotation Yrotation Wrotation"), 9, "unknown channel 'Wrotation'"),
    "truncated": ("\n".join(TINY.splitlines()[:-1]) + "\n", 25, "truncated"),
    "truncated header": (TINY[:120], 6, "file ends early"),
    "short then long": (TINY.replace("5 6 7 45 0 1 0.5 -3 2\n1.5", "5 6 7 45 0 1 0.5 -3\n2 1.5"), 24, "has 14 values"),
    "nan": (TINY.replace("1.5 91", "1.5 nan"), 25, "not a finite number"),
    "bad frames": (TINY.replace("Frames: 2", "Frames: two"), 22, "'Frames:' needs a number"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_line_and_problem(case, tmp_path):
    content, line, words = BAD[case]
    path = tmp_path / "bad.bvh"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(bvh.BVHError) as err:
        bvh.read(path)
    assert str(path) in str(err.value)
    assert err.value.line == line, str(err.value)
    assert words in str(err.value)


def test_missing_file_is_a_bvh_error(tmp_path):
    with pytest.raises(bvh.BVHError, match="cannot read"):
        bvh.read(tmp_path / "nope.bvh")


def test_empty_string_is_a_bvh_error():
    with pytest.raises(bvh.BVHError, match="empty"):
        bvh.parse("")
