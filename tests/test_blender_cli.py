"""Headless generation and editing: ``python -m blender_ganim.blender.cli generate | blend | ...``
(= ``blender -c ganim``).

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
SCENE_FPS = 24          # Blender's factory scene; the model's clips are made at 30 and resampled to it

pytestmark = pytest.mark.blender


@pytest.fixture(autouse=True)
def clean_scene():
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    assert generate.scene_fps(bpy.context.scene) == SCENE_FPS


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
    assert f"generated 2 clips of 30 frames at {SCENE_FPS} fps (made at 30, resampled)" in done.stdout
    assert str(out) in done.stdout
    files = sorted(bvh_dir.glob("*.bvh"))
    assert len(files) == 2 and all(f.name.startswith("Rig_elderly_") for f in files)

    expected = synthesis.generate(model, FRAMES, count=2, labels={"style": "elderly"}, seed=SEED, fps=SCENE_FPS)[0]
    clips = [bvh.read(f) for f in files]
    assert {c.frames for c in clips} == {FRAMES} and {c.fps for c in clips} == {SCENE_FPS}
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
                   "--seed", SEED, "--start-frame", 10, "--target", "nla", "--temperature", 1.2, "--model-rate",
                   "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"at 30 fps as NLA strips" in done.stdout and "plays slower than made" in done.stdout
    bpy.ops.wm.open_mainfile(filepath=str(out))
    obj = bpy.data.objects["Hero"]
    tracks = obj.animation_data.nla_tracks
    assert len(tracks) == 3 and [t.mute for t in tracks] == [False, True, True]
    assert_plays(obj, synthesis.generate(model, FRAMES, count=3, seed=SEED, temperature=1.2)[0][0], 10)


def test_generate_loops_in_place_and_writes_one_cycle(tmp_path, model):
    out, clips = tmp_path / "loop.blend", tmp_path / "bvh"
    done = run_cli("generate", "--create-armature", "--armature", "Rig", "--frames", 48, "--label", "content=run",
                   "--seed", SEED, "--loop", "--in-place", "--out", out, "--bvh-dir", clips)
    assert done.returncode == 0 and "generated 1 looping clip of 48 frames" in done.stdout, done.stdout + done.stderr
    (cycle,) = [bvh.read(f) for f in clips.glob("*.bvh")]
    assert (cycle.frames, cycle.fps) == (48, SCENE_FPS)              # one cycle, without the next one's first
    bpy.ops.wm.open_mainfile(filepath=str(out))
    obj = bpy.data.objects["Rig"]
    assert obj.animation_data.action.use_cyclic
    hips = [model.skeleton.names[1]]
    np.testing.assert_allclose(posed_heads(obj, hips, 1 + 48 + 5), posed_heads(obj, hips, 1 + 5), atol=1e-4)
    assert_one_line_error(run_cli("generate", "--create-armature", "--armature", "Rig", "--in-place",
                                  "--out", tmp_path / "x.blend"), r"--in-place shapes a loop: add --loop")


def test_generate_for_a_60_fps_game_sets_the_scenes_rate(tmp_path, model):
    out, clips = tmp_path / "game.blend", tmp_path / "bvh"
    done = run_cli("generate", "--create-armature", "--armature", "Rig", "--frames", 120, "--seed", SEED,
                   "--scene-fps", 60, "--set-frame-range", "--out", out, "--bvh-dir", clips)
    assert done.returncode == 0 and "of 120 frames at 60 fps (made at 30, resampled)" in done.stdout, done.stderr
    (clip,) = [bvh.read(f) for f in clips.glob("*.bvh")]
    assert (clip.frames, clip.fps) == (120, 60)                      # two seconds, as made
    expected = synthesis.generate(model, 120, seed=SEED, fps=60)[0][0]
    np.testing.assert_allclose(clip.global_positions(), expected.global_positions(), atol=1e-3)
    bpy.ops.wm.open_mainfile(filepath=str(out))
    assert generate.scene_fps(bpy.context.scene) == 60 and bpy.context.scene.frame_end == 120
    ntsc = cli.run(["generate", "--create-armature", "--frames", "30", "--seed", str(SEED), "--scene-fps", "29.97",
                    "--out", str(tmp_path / "ntsc.blend")])
    assert ntsc == 0 and (bpy.context.scene.render.fps, bpy.context.scene.render.fps_base) == (30, pytest.approx(1.001))
    assert_one_line_error(run_cli("generate", "--create-armature", "--scene-fps", 0, "--out", tmp_path / "x.blend"),
                          r"a scene's frame rate must be above 0 and at most 1000, got 0")
    assert not (tmp_path / "x.blend").exists()


def test_armature_may_name_the_characters_mesh(tmp_path, model):
    rig = generate.create_armature(model, name="Hero")
    mesh = bpy.data.objects.new("HeroBody", bpy.data.meshes.new("HeroBody"))
    bpy.context.scene.collection.objects.link(mesh)
    mesh.modifiers.new("Armature", "ARMATURE").object = rig
    out = tmp_path / "hero.blend"
    assert cli.run(["generate", "--armature", "HeroBody", "--frames", "30", "--seed", str(SEED), "--out", str(out)]) == 0
    bpy.ops.wm.open_mainfile(filepath=str(out))
    assert bpy.data.objects["Hero"].animation_data.action.name.startswith("Hero_")
    assert bpy.data.objects["HeroBody"].animation_data is None


def test_a_second_generate_keeps_the_action_it_displaces(tmp_path):
    """A new action takes the armature; the one it played before keeps a fake user, so saving the
    file does not drop it (nothing existing is destroyed unless asked to replace)."""
    scene = tmp_path / "scene.blend"
    for name, content in (("A", "walk"), ("B", "run")):
        extra = ["--scene", scene] if scene.exists() else ["--create-armature"]
        done = run_cli("generate", *extra, "--armature", "Rig", "--frames", FRAMES, "--label", f"content={content}",
                       "--seed", SEED, "--action-name", name, "--out", scene)
        assert done.returncode == 0, done.stdout + done.stderr
    bpy.ops.wm.open_mainfile(filepath=str(scene))
    assert sorted(bpy.data.actions.keys()) == ["A", "B"] and bpy.data.actions["A"].use_fake_user
    assert bpy.data.objects["Rig"].animation_data.action.name == "B"


def test_headless_editing_writes_new_actions_and_saves(tmp_path, model):
    """Blend, regenerate, keyframes, restyle and follow-path, each run as a farm script would, each on
    the file the one before saved."""
    rig = generate.create_armature(model, name="Rig")
    for name, content, frames in (("A", "walk", 60), ("B", "run", 40)):
        generate.generate_onto(rig, model, frames, labels={"content": content}, seed=SEED, action_name=name)
    curve_data = bpy.data.curves.new("Path", "CURVE")
    spline = curve_data.splines.new("POLY")
    spline.points.add(1)
    spline.points[1].co = (3.0, 0.0, 0.0, 1.0)
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("Path", curve_data))
    scene = tmp_path / "0.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    steps = [(["blend", "--a", "A", "--b", "B", "--frames", 20], "generated transition of 20 frames", 120),
             (["regenerate", "--start", 10, "--end", 40], "regenerated frames 10-40", 120),
             (["keyframes", "--start", 1, "--end", 60, "--at", "1,30,60"], "through 3 key poses", 120),
             (["restyle", "--label", "style=elderly", "--drafts", 1], "restyled", 120),
             (["follow-path", "--curve", "Path", "--speed", 1.5], "followed curve Path", 49)]  # 61 at 30 fps
    for i, (argv, words, frames) in enumerate(steps, start=1):
        out = tmp_path / f"{i}.blend"
        done = run_cli(argv[0], "--scene", scene, "--armature", "Rig", *argv[1:], "--seed", SEED, "--out", out,
                       "--bvh-dir", tmp_path / "bvh")
        assert done.returncode == 0 and words in done.stdout, done.stdout + done.stderr
        made = re.search(r"action (\S+) \((\d+) frames", done.stdout)
        assert int(made.group(2)) == frames, done.stdout
        bpy.ops.wm.open_mainfile(filepath=str(out))
        assert bpy.data.objects["Rig"].animation_data.action.name == made.group(1)
        assert {"A", "B"} <= set(bpy.data.actions.keys())           # nothing before it was lost
        assert bvh.read(tmp_path / "bvh" / f"{made.group(1)}.bvh").frames == frames
        scene = out


def test_headless_editing_of_an_nla_strip_puts_the_result_on_the_strip(tmp_path, model):
    """A file whose armature plays its clip from an NLA strip (Generate's NLA target, as a farm leaves it)
    and no active action: regenerate edits the strip's action and the strip plays the result."""
    rig = generate.create_armature(model, name="Rig")
    generate.generate_onto(rig, model, 60, labels={"content": "walk"}, seed=SEED, target="NLA", action_name="Walk")
    strip = rig.animation_data.nla_tracks[0].strips[0]
    strip.frame_start_ui = 101                                         # moved, as dragging it does
    assert rig.animation_data.action is None and strip.action.name == "Walk" and strip.frame_end == 160
    scene, out = tmp_path / "nla.blend", tmp_path / "fixed.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    done = run_cli("regenerate", "--scene", scene, "--armature", "Rig", "--start", 120, "--end", 140, "--seed", SEED,
                   "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "regenerated frames 120-140 on NLA strip 'Walk': action Walk_regen_001 (60 frames from frame 101)" in done.stdout
    bpy.ops.wm.open_mainfile(filepath=str(out))
    rig = bpy.data.objects["Rig"]
    assert rig.animation_data.action is None
    assert rig.animation_data.nla_tracks[0].strips[0].action.name == "Walk_regen_001"
    assert bpy.data.actions["Walk"].use_fake_user                      # the old clip stays in the file


def test_headless_editing_of_named_actions_edits_each_and_keeps_the_rest(capsys, tmp_path, model):
    """--action NAME (repeatable): a TD restyles or repairs a library of actions in one run, whichever one
    the armature plays; each edit gets its own new action (--replace: in place) and nothing is lost."""
    rig = generate.create_armature(model, name="Rig")
    for name, content, frames in (("A", "walk", 60), ("B", "run", 40), ("C", "walk", 30)):
        generate.generate_onto(rig, model, frames, labels={"content": content}, seed=SEED, action_name=name)
    bpy.data.actions["A"].use_fake_user = bpy.data.actions["B"].use_fake_user = False  # only C is played
    before = {n: actions.read_action(rig, bpy.data.actions[n], model.skeleton) for n in ("A", "B")}
    out = tmp_path / "restyled.blend"
    code = cli.run(["restyle", "--armature", "Rig", "--action", "A", "--action", "B", "--label", "style=elderly",
                    "--drafts", "1", "--seed", str(SEED), "--out", str(out), "--bvh-dir", str(tmp_path / "bvh")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    made = re.findall(r"ganim: action '(\w)': restyled.*?action (\S+) \((\d+) frames", printed)
    assert [(src, int(n)) for src, _, n in made] == [("A", 60), ("B", 40)], printed
    bpy.ops.wm.open_mainfile(filepath=str(out))
    assert {"A", "B", "C", made[0][1], made[1][1]} <= set(bpy.data.actions.keys())  # C kept, with a fake user
    assert bpy.data.actions["C"].use_fake_user and bpy.data.actions["A"].users > 0
    assert bpy.data.objects["Rig"].animation_data.action.name == made[1][1]           # the last one made plays
    for (src, new, _), frames in zip(made, (60, 40)):
        assert bvh.read(tmp_path / "bvh" / f"{new}.bvh").frames == frames
        path = lambda m: m.global_positions()[:, 0, [0, 2]]  # noqa: E731  (the root's ground path)
        restyled = actions.read_action(bpy.data.objects["Rig"], bpy.data.actions[new], model.skeleton)
        np.testing.assert_allclose(path(restyled), path(before[src]), atol=0.1)  # restyle keeps the path

    fixed = tmp_path / "fixed.blend"
    assert cli.run(["regenerate", "--armature", "Rig", "--action", "A", "--replace", "--start", "10", "--end", "30",
                    "--seed", str(SEED), "--out", str(fixed)]) == 0
    assert "action 'A': regenerated frames 10-30: action A (60 frames" in capsys.readouterr().out
    bpy.ops.wm.open_mainfile(filepath=str(fixed))
    assert bpy.data.objects["Rig"].animation_data.action.name == "A" and len(bpy.data.actions) == 5

    bpy.data.actions["B"].name = "A B"
    bpy.data.actions["C"].name = "A_B"
    spaced = tmp_path / "spaced.blend"
    assert cli.run(["restyle", "--armature", "Rig", "--action", "A B", "--action", "A_B", "--label", "style=elderly",
                    "--drafts", "1", "--seed", str(SEED), "--out", str(spaced), "--bvh-dir", str(tmp_path / "bvh3")]) == 0
    assert sorted(p.name for p in (tmp_path / "bvh3").iterdir()) == ["A_B_elderly_001.bvh", "A_B_elderly_001_2.bvh"]
    capsys.readouterr()

    nope = tmp_path / "nope.blend"
    assert "--action: no action named 'Nope' (actions: A, " in _error(
        capsys, "restyle", "--armature", "Rig", "--action", "A", "--action", "Nope", "--out", nope)
    assert not nope.exists() and len(bpy.data.actions) == 7                 # checked before A was touched
    assert "--action 'A' is given twice: name each action once" in _error(
        capsys, "regenerate", "--armature", "Rig", "--action", "A", "--action", "A", "--replace", "--start", "10",
        "--end", "20", "--out", nope, "--bvh-dir", tmp_path / "bvh2")
    assert not nope.exists()


def test_headless_editing_errors_exit_2_in_one_line(capsys, tmp_path, model):
    rig = generate.create_armature(model, name="Rig")
    generate.generate_onto(rig, model, FRAMES, seed=SEED, action_name="A")
    out = tmp_path / "x.blend"
    assert "--a: no action named 'Nope' (actions: A)" in _error(
        capsys, "blend", "--armature", "Rig", "--a", "Nope", "--b", "A", "--frames", 10, "--out", out)
    assert "the scene has no object named 'Path'" in _error(
        capsys, "follow-path", "--armature", "Rig", "--curve", "Path", "--frames", 30, "--out", out)
    assert "frames 20-90 lie outside action 'A' (frames 1-30)" in _error(
        capsys, "regenerate", "--armature", "Rig", "--start", 20, "--end", 90, "--out", out)
    assert "--label style is given twice (elderly, normal): give one value per label" in _error(
        capsys, "restyle", "--armature", "Rig", "--label", "style=elderly", "--label", "style=normal", "--out", out)
    assert "key frames must be whole frame numbers" in _error(
        capsys, "keyframes", "--armature", "Rig", "--start", 1, "--end", 20, "--at", "1,x", "--out", out)
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("Marker", None))
    assert "'Marker' is an empty, not a curve" in _error(
        capsys, "follow-path", "--armature", "Rig", "--curve", "Marker", "--frames", 30, "--out", out)
    curve = bpy.data.curves.new("Path", "CURVE")
    curve.splines.new("POLY").points.add(1)
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("Path", curve))
    assert "a path needs at least 2 frames, got -5" in _error(      # the user's count, not the model's
        capsys, "follow-path", "--armature", "Rig", "--curve", "Path", "--frames", -5, "--out", out)
    assert not out.exists()


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
