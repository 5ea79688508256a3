"""Headless generation: ``python -m blender_ganim.blender.cli generate ...`` (= ``blender -c ganim``).

End-to-end runs go through a subprocess with this interpreter, exactly as a user
or a farm script would; the remaining error cases call ``cli.run`` in-process (the
same function Blender's ``-c ganim`` calls), which keeps the suite quick.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_ganim.blender import actions, armature, cli, generate  # noqa: E402
from blender_ganim.core import bvh, model_file, synthesis  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FRAMES = 30
SEED = 3

pytestmark = pytest.mark.blender


@pytest.fixture(autouse=True)
def clean_scene():
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)


def run_cli(*args, cwd=REPO):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "blender_ganim.blender.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def assert_one_line_error(done, pattern):
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganim: error: "), done.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in done.stdout + done.stderr


def posed_heads(obj, names, frame):
    bpy.context.scene.frame_set(frame)
    return np.array([tuple(obj.matrix_world @ obj.pose.bones[n].head) for n in names])


def assert_plays(obj, motion, start):
    mid = motion.frames // 2
    want = armature.to_blender(motion.global_positions()[mid], armature.armature_scale(obj))
    np.testing.assert_allclose(posed_heads(obj, motion.skeleton.names, start + mid), want, atol=1e-4)


def keyed_frames(obj, action):
    """Key frames per (bone, property), checked identical across a channel's components."""
    out = {}
    for fc in actions._fcurve_collection(action, obj)[0].fcurves:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        bone, prop = re.match(r'pose\.bones\["(.+)"\]\.(\w+)', fc.data_path).groups()
        out.setdefault((bone, prop), []).append(tuple(co[0::2]))
    return out


# ---------------------------------------------------------------- end to end

def test_generate_writes_blend_and_bvh(tmp_path, model):
    out, bvh_dir = tmp_path / "out" / "result.blend", tmp_path / "bvh"
    done = run_cli("generate", "--create-armature", "--armature", "Rig", "--count", 2, "--frames", FRAMES,
                   "--label", "style=elderly", "--seed", SEED, "--start-frame", 1, "--set-frame-range",
                   "--out", out, "--bvh-dir", bvh_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "generated 2 clips of 30 frames" in done.stdout and str(out) in done.stdout
    files = sorted(bvh_dir.glob("*.bvh"))
    assert len(files) == 2 and all(f.name.startswith("Rig_elderly_") for f in files)

    expected = synthesis.generate(model, FRAMES, count=2, labels={"style": "elderly"}, seed=SEED)[0]
    clips = [bvh.read(f) for f in files]
    assert {c.frames for c in clips} == {FRAMES}
    assert all(c.skeleton.names == model.skeleton.names for c in clips)

    bpy.ops.wm.open_mainfile(filepath=str(out))
    obj = bpy.data.objects["Rig"]
    assert sorted(a.name for a in bpy.data.actions) == [f.stem for f in files]
    frames = tuple(np.arange(1, FRAMES + 1, dtype=np.float32))
    for action in bpy.data.actions:
        keys = keyed_frames(obj, action)
        assert {b for b, p in keys if p == "rotation_quaternion"} == set(model.skeleton.names)
        assert all(f == frames for channel in keys.values() for f in channel)
    assert (bpy.context.scene.frame_start, bpy.context.scene.frame_end) == (1, FRAMES)
    playing = obj.animation_data.action.name
    first = next(c for f, c in zip(files, clips) if f.stem == playing)
    assert_plays(obj, expected[0], 1)
    np.testing.assert_allclose(first.global_positions(), expected[0].global_positions(), atol=1e-3)


def test_generate_into_an_existing_scene_as_nla_strips(tmp_path, model):
    generate.create_armature(model, name="Hero")
    scene = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    out = tmp_path / "nla.blend"
    done = run_cli("generate", "--scene", scene, "--armature", "Hero", "--count", 3, "--frames", FRAMES,
                   "--seed", SEED, "--start-frame", 10, "--target", "nla", "--temperature", 1.2, "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    bpy.ops.wm.open_mainfile(filepath=str(out))
    obj = bpy.data.objects["Hero"]
    tracks = obj.animation_data.nla_tracks
    assert len(tracks) == 3 and [t.mute for t in tracks] == [False, True, True]
    assert_plays(obj, synthesis.generate(model, FRAMES, count=3, seed=SEED, temperature=1.2)[0][0], 10)


# ---------------------------------------------------------------- errors: exit 2, one line

def test_bad_model_exits_2(tmp_path):
    bad = tmp_path / "bad.ganim"
    bad.write_text("not a model")
    out = tmp_path / "out.blend"
    done = run_cli("generate", "--create-armature", "--armature", "Rig", "--frames", FRAMES,
                   "--model", bad, "--out", out)
    assert_one_line_error(done, r"bad\.ganim: not a \.ganim model")
    assert not out.exists()


def test_unknown_label_exits_2(tmp_path):
    out = tmp_path / "out.blend"
    done = run_cli("generate", "--create-armature", "--armature", "Rig", "--frames", FRAMES,
                   "--label", "style=zombie", "--out", out)
    assert_one_line_error(done, r"unknown style 'zombie'; the model knows: ")
    assert not out.exists()


def test_missing_armature_exits_2(tmp_path):
    out = tmp_path / "out.blend"
    done = run_cli("generate", "--armature", "Nobody", "--frames", FRAMES, "--out", out)
    assert_one_line_error(done, r"no object named 'Nobody' \(add --create-armature")
    assert not out.exists()


def _error(capsys, *argv):
    code = cli.run([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("ganim: error: "), err
    return err[0]


@pytest.mark.parametrize("argv, pattern", [
    (["generate", "--frames", 10], r"arguments are required: --out"),
    (["generate", "--label", "style", "--out", "x.blend"], r"expected NAME=VALUE"),
    (["generate", "--out", "x.txt"], r"--out must name a \.blend file"),
    (["generate", "--scene", "nowhere.blend", "--out", "x.blend"], r"no such scene file"),
    (["generate", "--out", "x.blend"], r"no --armature given and the scene has no active object"),
    (["generate", "--armature", "Rig", "--create-armature", "--count", 0, "--out", "x.blend"], r"count must be"),
    (["generate", "--armature", "Rig", "--create-armature", "--frames", 1, "--out", "x.blend"], r"frame count"),
    (["generate", "--armature", "Rig", "--create-armature", "--temperature", -1, "--out", "x.blend"],
     r"temperature must be between 0 and"),
    (["frobnicate"], r"invalid choice: 'frobnicate'"),
])
def test_usage_errors_exit_2_in_one_line(capsys, argv, pattern):
    assert re.search(pattern, _error(capsys, *argv))


def test_non_armature_and_taken_name_exit_2(capsys, tmp_path, model):
    mesh = bpy.data.objects.new("Cube", bpy.data.meshes.new("Cube"))
    bpy.context.scene.collection.objects.link(mesh)
    out = tmp_path / "x.blend"
    assert "'Cube' is a mesh, not an armature" in _error(capsys, "generate", "--armature", "Cube", "--out", out)
    generate.create_armature(model, name="Rig")
    bpy.data.actions.new("Taken").use_fake_user = True
    line = _error(capsys, "generate", "--armature", "Rig", "--frames", 10, "--action-name", "Taken", "--out", out)
    assert "'Taken' already exists" in line
    assert list(bpy.data.actions.keys()) == ["Taken"] and not out.exists()


def test_future_model_exits_2(capsys, tmp_path, default_model):
    m = model_file.load(default_model)
    future = tmp_path / "future.ganim"
    model_file.save(future, {**m.header, "version": model_file.FORMAT_VERSION + 1}, m.weights)
    line = _error(capsys, "generate", "--create-armature", "--armature", "Rig", "--model", future,
                  "--out", tmp_path / "x.blend")
    assert "is newer than this blender-ganim" in line


def test_help_exits_0(capsys):
    assert cli.run(["generate", "--help"]) == 0
    assert "--bvh-dir" in capsys.readouterr().out
