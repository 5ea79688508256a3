"""README command 1's job: headless generation with the shipped model -> .blend, BVH files, preview."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("bpy")

from blender_ganim.core import bvh  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_demo_writes_blend_bvh_and_preview(tmp_path):
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "scripts/demo.py", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    blend = out / "demo.blend"
    assert blend.is_file()
    clips = sorted((out / "bvh").glob("*.bvh"))
    assert len(clips) >= 3
    for clip in clips:
        m = bvh.read(clip)
        assert m.frames >= 60 and m.skeleton.num_joints == 22
    png = out / "preview.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 20_000
    # The figures are drawn: the picture is not one flat colour.
    import bpy
    image = bpy.data.images.load(str(png))
    pixels = list(image.pixels[:])
    assert max(pixels) - min(pixels) > 0.3
    # The .blend opens and holds one generated action per clip, playing on an armature.
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    actions = [a for a in bpy.data.actions if a.name.startswith("ganim_")]
    assert len(actions) == len(clips)
    playing = {o.animation_data.action.name for o in bpy.data.objects
               if o.type == "ARMATURE" and o.animation_data and o.animation_data.action}
    assert playing == {a.name for a in actions}
