"""The Blender add-on: extension zip, registration, panel, Generate Motion and Create Armature.

Runs on every bpy wheel (4.2 LTS and 5.0 are the ones we check).  The add-on is
registered in-process as the plain package; one test installs the built zip as a
real extension in a subprocess (BLENDER_USER_RESOURCES must be set before bpy loads).
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_ganim.blender import actions, armature, generate, operators, panel, prefs, props  # noqa: E402
from blender_ganim.core import model_file, synthesis  # noqa: E402
from blender_ganim.core.skeleton import Skeleton  # noqa: E402
from keying_checks import assert_keyed  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FRAMES = 24
SCENE_FPS = 24          # Blender's factory scene; the model's clips are made at 30 and resampled to it
SEED = 7
START = 5

pytestmark = [pytest.mark.blender, pytest.mark.usefixtures("registered_addon")]


@pytest.fixture
def settings(default_model):
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    assert generate.scene_fps(bpy.context.scene) == SCENE_FPS
    s = bpy.context.scene.ganim
    s.frames, s.seed, s.start_frame = FRAMES, SEED, START
    return s


@pytest.fixture
def models_folder(tmp_path, monkeypatch):
    """A models folder as if set in the add-on preferences."""
    monkeypatch.setattr(prefs, "models_folder", lambda context=None: str(tmp_path))
    return tmp_path


def build_extension():
    spec = importlib.util.spec_from_file_location("build_extension", REPO / "scripts" / "build_extension.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory, default_model):
    return build_extension().build(tmp_path_factory.mktemp("dist"))


def create_rig():
    assert bpy.ops.ganim.create_armature() == {"FINISHED"}
    return bpy.context.active_object


def posed_heads(obj, names, frame):
    bpy.context.scene.frame_set(frame)
    return np.array([tuple(obj.matrix_world @ obj.pose.bones[n].head) for n in names])


def expected_heads(motion, index, obj):
    return np.array(obj.matrix_world.to_3x3()) @ armature.to_blender(
        motion.global_positions()[index], armature.armature_scale(obj)).T + np.array(obj.matrix_world.translation)[:, None]


def assert_plays(obj, motion, start):
    """The evaluated pose at the middle frame is the motion's, within 0.1 mm."""
    mid = motion.frames // 2
    got = posed_heads(obj, motion.skeleton.names, start + mid)
    np.testing.assert_allclose(got, expected_heads(motion, mid, obj).T, atol=1e-4)


# ---------------------------------------------------------------- the extension package

def test_manifest_is_an_extension_manifest():
    with open(REPO / "blender_manifest.toml", "rb") as f:
        meta = tomllib.load(f)
    with open(REPO / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    assert meta["id"] == "blender_ganim" and meta["type"] == "add-on"
    assert meta["license"] == ["SPDX:GPL-3.0-or-later"]
    assert meta["blender_version_min"] == "4.2.0"
    assert meta["version"] == project["version"]


def test_zip_layout_and_blender_validator(extension_zip):
    with zipfile.ZipFile(extension_zip) as zf:
        names = zf.namelist()
    assert extension_zip.name == "blender_ganim-0.1.0.zip"
    assert {"blender_manifest.toml", "__init__.py", "blender/generate.py", "core/synthesis.py",
            "models/default.ganim"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith(("tests/", "."))]
    assert extension_zip.stat().st_size < 10 * 2**20
    ok, output = build_extension().validate(extension_zip)
    assert ok, output


INSTALL_SCRIPT = textwrap.dedent("""
    import json, os, sys
    zip_path, work, frames, seed, start = sys.argv[1:6]
    os.environ["BLENDER_USER_RESOURCES"] = os.path.join(work, "user")
    import bpy
    out = {"install": sorted(bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True))}
    out["addons"] = [k for k in bpy.context.preferences.addons.keys() if "ganim" in k]
    pkg = sys.modules[out["addons"][0]]
    out["package_file"] = pkg.__file__
    out["classes"] = [n for n in ("GANIM_OT_generate_motion", "GANIM_OT_create_armature", "VIEW3D_PT_ganim")
                      if hasattr(bpy.types, n)]
    out["category"] = bpy.types.VIEW3D_PT_ganim.bl_category
    prefs = bpy.context.preferences.addons[out["addons"][0]].preferences
    out["prefs"] = type(prefs).__name__
    models = os.path.join(work, "models")
    os.makedirs(models)
    with open(os.path.join(os.path.dirname(pkg.__file__), "models", "default.ganim"), "rb") as f:
        data = f.read()
    with open(os.path.join(models, "extra.ganim"), "wb") as f:
        f.write(data)
    prefs.models_folder = models
    props = sys.modules[out["addons"][0] + ".blender.props"]
    out["models"] = [os.path.basename(i[0]) for i in props._model_items(bpy.context.scene.ganim, bpy.context)]
    scene = os.path.join(work, "scene.blend")
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    bpy.ops.ganim.create_armature()
    bpy.ops.wm.save_as_mainfile(filepath=scene)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    bpy.ops.wm.open_mainfile(filepath=scene)
    bpy.context.view_layer.objects.active = bpy.data.objects["GANim_Rig"]
    s = bpy.context.scene.ganim
    s.frames, s.seed, s.start_frame, s.label_0 = int(frames), int(seed), int(start), "elderly"
    out["operator"] = sorted(bpy.ops.ganim.generate_motion())
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(work, "operator.blend"))
    cli = sys.modules[out["addons"][0] + ".blender.cli"]
    out["cli"] = cli.run(["generate", "--scene", scene, "--armature", "GANim_Rig", "--frames", frames,
                          "--seed", seed, "--label", "style=normal", "--start-frame", start,
                          "--out", os.path.join(work, "cli.blend")])
    print("RESULT " + json.dumps(out))
""")


def test_zip_installs_enables_and_generates(extension_zip, tmp_path, model):
    """Acceptance: install the built zip, open a scene, Generate Motion via the operator and the CLI."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", INSTALL_SCRIPT, str(extension_zip), str(tmp_path),
                           str(FRAMES), str(SEED), str(START)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and line, done.stdout + done.stderr
    out = json.loads(line[-1][len("RESULT "):])
    assert out["install"] == ["FINISHED"]
    assert out["addons"] == ["bl_ext.user_default.blender_ganim"]
    assert Path(out["package_file"]).is_relative_to(tmp_path / "user")    # the installed copy ran
    assert out["classes"] == ["GANIM_OT_generate_motion", "GANIM_OT_create_armature", "VIEW3D_PT_ganim"]
    assert out["category"] == "GANim" and out["prefs"] == "GANimPreferences"
    assert out["models"] == ["default.ganim", "extra.ganim"]          # the preferences' folder is offered
    assert out["operator"] == ["FINISHED"] and out["cli"] == 0

    for blend, style in (("operator.blend", "elderly"), ("cli.blend", "normal")):
        bpy.ops.wm.open_mainfile(filepath=str(tmp_path / blend))
        obj = bpy.data.objects["GANim_Rig"]
        motion = synthesis.generate(model, FRAMES, fps=SCENE_FPS, labels={"style": style}, seed=SEED)[0][0]
        assert_keyed(obj, obj.animation_data.action, model.skeleton.names, START, FRAMES)
        assert_plays(obj, motion, START)


# ---------------------------------------------------------------- registration and panel

def test_register_adds_operators_panel_and_settings():
    for name in ("GANIM_OT_generate_motion", "GANIM_OT_create_armature", "VIEW3D_PT_ganim"):
        assert hasattr(bpy.types, name), name
    assert prefs.GANimPreferences.is_registered
    assert bpy.types.Scene.bl_rna.properties["ganim"].fixed_type.identifier == "GANimSettings"
    assert bpy.types.VIEW3D_PT_ganim.bl_category == "GANim"
    assert bpy.types.VIEW3D_PT_ganim.bl_region_type == "UI"
    assert {"REGISTER", "UNDO"} <= operators.GANIM_OT_generate_motion.bl_options
    assert {"REGISTER", "UNDO"} <= operators.GANIM_OT_create_armature.bl_options
    assert prefs.ADDON_ID == "blender_ganim"


class Layout:
    """Stands in for UILayout (panels do not draw headless): records what draw() asks for."""

    def __init__(self, log):
        self.log = log
        self.enabled = True

    def _sub(self, *args, **kwargs):
        return Layout(self.log)

    row = column = box = split = _sub

    def prop(self, data, name, **kwargs):
        self.log.append(("prop", data, name, kwargs))

    def operator(self, idname, **kwargs):
        self.log.append(("operator", idname, kwargs))
        return SimpleNamespace()

    def label(self, **kwargs):
        self.log.append(("label", kwargs.get("text", ""), kwargs))

    def separator(self, **kwargs):
        pass


def draw_panel():
    log = []
    panel.VIEW3D_PT_ganim.draw(SimpleNamespace(layout=Layout(log)), bpy.context)
    icons = set(bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys())
    for entry in log:
        assert entry[-1].get("icon", "NONE") in icons, entry
        if entry[0] == "prop":
            assert entry[2] in entry[1].bl_rna.properties, entry
    return log


def test_panel_offers_create_armature_until_a_rig_matches(settings, model):
    log = draw_panel()
    drawn = [e[2] for e in log if e[0] == "prop"]
    assert drawn[:3] == ["model", "label_0", "label_1"]          # the default model has two label columns
    assert {"frames", "count", "seed", "start_frame", "target", "action_name", "set_frame_range"} <= set(drawn)
    labels = [e for e in log if e[0] == "prop" and e[2].startswith("label_")]
    assert [e[3]["text"] for e in labels] == [c.title() for c in model.labels]
    assert ("label", "No active object") in [e[:2] for e in log]
    ops = [e[1] for e in log if e[0] == "operator"]
    assert ops == ["ganim.create_armature", "ganim.generate_motion"]

    create_rig()
    log = draw_panel()
    assert [e[1] for e in log if e[0] == "operator"] == ["ganim.generate_motion"]
    assert any("bones match" in e[1] for e in log if e[0] == "label")


def test_label_menus_are_filled_from_the_model(settings, model):
    columns = list(model.labels.items())
    for i in range(4):
        items = [it[0] for it in props._label_items(i)(settings, bpy.context)]   # what Blender is offered
        assert items == (["ANY"] + list(columns[i][1]) if i < len(columns) else ["ANY"])
    settings.label_0 = columns[0][1][0]
    assert settings.chosen_labels(model) == {columns[0][0]: columns[0][1][0]}
    with pytest.raises(TypeError):
        settings.label_0 = "no-such-style"


def panel_labels():
    return [e[1] for e in draw_panel() if e[0] == "label"]


def generate_and_report():
    """Generate Motion on a new rig through a stand-in that keeps its reports: (reports, stand-in)."""
    create_rig()
    reports = []
    recorder = SimpleNamespace(report=lambda kind, text: reports.append((kind, text)))
    assert operators.GANIM_OT_generate_motion.execute(recorder, bpy.context) == {"FINISHED"}
    return reports, recorder


def test_a_raise_asked_for_too_long_gets_a_hint_and_a_warning(settings, model):
    """The panel hints before the click, the operator warns after it (and still generates)."""
    content = list(model.labels).index("content")
    setattr(settings, f"label_{content}", "raise-up-both-hands")
    settings.frames = 150
    assert any("longer clips may repeat" in text for text in panel_labels())
    reports, recorder = generate_and_report()
    assert any(k == {"WARNING"} and "training takes run about" in t for k, t in reports), reports
    assert "ganim.use_label_length" in [e[1] for e in draw_panel() if e[0] == "operator"]
    assert operators.GANIM_OT_use_label_length.execute(recorder, bpy.context) == {"FINISHED"}
    assert settings.frames == synthesis.typical_frames(model, settings.chosen_labels(model), SCENE_FPS)
    assert not any("longer clips may repeat" in text for text in panel_labels())
    setattr(settings, f"label_{content}", "ANY")  # no label chosen: nothing to go by
    assert operators.GANIM_OT_use_label_length.execute(recorder, bpy.context) == {"CANCELLED"}
    assert "does not say how long" in reports[-1][1]


def test_labels_never_trained_together_get_a_hint_and_a_warning(settings, model):
    columns = list(model.labels)
    setattr(settings, f"label_{columns.index('style')}", "active")
    setattr(settings, f"label_{columns.index('content')}", "raise-up-left-hand")
    settings.frames = 60
    assert "No training take has these labels together" in panel_labels()
    reports, _ = generate_and_report()
    assert any(k == {"WARNING"} and "no training take has these labels together" in t for k, t in reports), reports
    setattr(settings, f"label_{columns.index('content')}", "walk")
    assert not any("No training take" in text for text in panel_labels())


def test_model_picker_lists_the_default_and_the_folder(settings, models_folder, default_model):
    (models_folder / "b_second.ganim").write_bytes(default_model.read_bytes())
    (models_folder / "a_first.ganim").write_bytes(default_model.read_bytes())
    (models_folder / "notes.txt").write_text("not a model")
    found = generate.list_models(models_folder)
    assert found == [generate.DEFAULT_MODEL, models_folder / "a_first.ganim", models_folder / "b_second.ganim"]
    settings.label_0 = "elderly"
    settings.model = str(models_folder / "b_second.ganim")
    assert settings.model_path() == str(models_folder / "b_second.ganim")
    assert settings.label_0 == "ANY"                       # labels reset when the model changes
    (models_folder / "c_new.ganim").write_bytes(b"")       # the folder changes: the choice stays
    assert settings.model_path() == str(models_folder / "b_second.ganim")


def test_choosing_a_model_sets_its_own_temperature(settings, models_folder, default_model):
    """A model file that records its temperature (`ganim sampling`) brings it to the panel; one that
    records none brings back the shipped default."""
    m = model_file.load(default_model)
    model_file.save(models_folder / "warm.ganim", {**m.header, "sampling": {"temperature": 0.9}}, m.weights)
    plain = synthesis.with_sampling(m, {}, replace=True)  # the shipped weights, nothing recorded
    model_file.save(models_folder / "plain.ganim", plain.header, plain.weights)
    settings.model = str(models_folder / "warm.ganim")
    assert settings.temperature == pytest.approx(0.9)
    settings.model = str(models_folder / "plain.ganim")
    assert settings.temperature == pytest.approx(synthesis.TEMPERATURE)


def test_models_are_loaded_once_per_file_version(tmp_path, default_model):
    path = tmp_path / "m.ganim"
    path.write_bytes(default_model.read_bytes())
    first = generate.load_model(path)
    assert generate.load_model(path) is first
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 10**9))
    assert generate.load_model(path) is not first


# ---------------------------------------------------------------- Generate Motion

def test_create_armature_builds_the_models_skeleton(settings, model):
    bpy.context.scene.cursor.location = (1.0, 2.0, 0.0)
    obj = create_rig()
    assert obj.type == "ARMATURE" and obj.select_get()
    assert [b.name for b in obj.data.bones] == list(model.skeleton.names)
    assert tuple(obj.location) == (1.0, 2.0, 0.0)
    assert armature.armature_scale(obj) == pytest.approx(model.header["features"]["meters_per_unit"])


def test_generate_motion_keys_every_bone_and_plays_the_motion(settings, model):
    obj = create_rig()
    obj.location = (0.5, -1.0, 0.0)
    settings.label_0 = "elderly"
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    action = obj.animation_data.action
    assert action.name.startswith("GANim_Rig_elderly_")
    assert_keyed(obj, action, model.skeleton.names, START, FRAMES)
    motion = synthesis.generate(model, FRAMES, fps=SCENE_FPS, labels={"style": "elderly"}, seed=SEED)[0][0]
    assert_plays(obj, motion, START)
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (START, START + FRAMES - 1)


@pytest.mark.parametrize("bound", ["modifier", "parent"])
def test_clicking_the_character_mesh_animates_its_armature(bound, settings, model):
    """Animators select the character, not its skeleton: a mesh deformed by (or parented to) an
    armature stands for it in the panel and the operators."""
    rig = create_rig()
    mesh = bpy.data.objects.new("Body", bpy.data.meshes.new("Body"))
    bpy.context.scene.collection.objects.link(mesh)
    if bound == "modifier":
        mesh.modifiers.new("Armature", "ARMATURE").object = rig
    else:
        mesh.parent = rig
    for o in bpy.context.view_layer.objects:
        o.select_set(o == mesh)
    bpy.context.view_layer.objects.active = mesh
    assert any(e[0] == "label" and e[1] == f"{rig.name}: {len(model.skeleton)} bones match" for e in draw_panel())
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    assert mesh.animation_data is None and rig.animation_data.action.name.startswith("GANim_Rig_")
    assert_plays(rig, synthesis.generate(model, FRAMES, fps=SCENE_FPS, seed=SEED)[0][0], START)
    settings.edit_use_scene_range = True
    assert bpy.ops.ganim.restyle() == {"FINISHED"}                 # Edit finds the rig's action too
    assert rig.animation_data.action.name.endswith("_001") and "GANim_Rig_" in rig.animation_data.action.name


def test_clips_are_keyed_at_the_scenes_frame_rate_and_play_in_real_time(settings, model):
    """In Blender's default 24 fps scene a clip made at 30 fps is resampled: FRAMES scene frames, and a
    second into the clip is a second into the motion. Off (or in a scene at the model's rate) the keys
    are the model's frames, with a warning when they would then play slower than made."""
    obj = create_rig()
    scene = bpy.context.scene
    assert settings.scene_rate
    assert "scene_rate" in [e[2] for e in draw_panel() if e[0] == "prop"]           # rates differ: offered
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    action = obj.animation_data.action
    assert action[actions.FPS_PROP] == SCENE_FPS
    assert_keyed(obj, action, model.skeleton.names, START, FRAMES)
    made_at_30 = synthesis.generate(model, synthesis.model_frames(model, FRAMES, SCENE_FPS), seed=SEED)[0][0]
    at_5_6 = armature.to_blender(made_at_30.global_positions()[25], armature.armature_scale(obj))  # 5/6 s in
    np.testing.assert_allclose(posed_heads(obj, model.skeleton.names, START + 20), at_5_6, atol=1e-4)

    settings.scene_rate = False
    reports, recorder = [], SimpleNamespace(report=lambda kind, text: reports.append((kind, text)))
    assert operators.GANIM_OT_generate_motion.execute(recorder, bpy.context) == {"FINISHED"}
    assert obj.animation_data.action[actions.FPS_PROP] == 30
    assert_plays(obj, synthesis.generate(model, FRAMES, seed=SEED)[0][0], START)
    assert any(k == {"WARNING"} and "plays slower than made" in t for k, t in reports), reports

    scene.render.fps = 30                                                            # the model's rate
    settings.scene_rate = True
    assert "scene_rate" not in [e[2] for e in draw_panel() if e[0] == "prop"]
    result = generate.generate_onto(obj, model, FRAMES, seed=SEED, scene=scene, start_frame=START,
                                    set_frame_range=True)
    assert result.warnings == [] and result.motions[0].fps == 30 and "resampled" not in result.summary()
    assert_plays(obj, synthesis.generate(model, FRAMES, seed=SEED)[0][0], START)


def test_loop_keys_a_cycle_that_repeats_and_moves_on(settings, model):
    """Loop: FRAMES frames plus the next cycle's first as the last key, every F-curve repeating with
    offset, so past the keys the rig walks on through the same cycle; the scene range is one cycle."""
    obj = create_rig()
    settings.label_1, settings.loop = "walk", True
    assert "loop_in_place" in [e[2] for e in draw_panel() if e[0] == "prop"]
    reports, recorder = [], SimpleNamespace(report=lambda kind, text: reports.append((kind, text)))
    assert operators.GANIM_OT_generate_motion.execute(recorder, bpy.context) == {"FINISHED"}
    assert any(f"1 looping clip of {FRAMES} frames" in t for k, t in reports), reports
    action = obj.animation_data.action
    assert action.use_cyclic and tuple(action.frame_range) == (START, START + FRAMES)
    curves = actions._fcurve_collection(action, obj)[0].fcurves
    assert all([(m.type, m.mode_before, m.mode_after) for m in fc.modifiers] == [("CYCLES", "REPEAT_OFFSET",
                                                                                  "REPEAT_OFFSET")] for fc in curves)
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (START, START + FRAMES - 1)
    names = model.skeleton.names[1:]                                  # joint_Root stays; the rest moves on
    travel = posed_heads(obj, names, START + FRAMES)[0] - posed_heads(obj, names, START)[0]
    assert np.linalg.norm(travel) > 0.5                               # metres in a second of walking
    for k in (0, 7, FRAMES - 1):
        for cycle in (1, 2):
            np.testing.assert_allclose(posed_heads(obj, names, START + k + cycle * FRAMES),
                                       posed_heads(obj, names, START + k) + cycle * travel, atol=1e-4)


def test_a_loop_that_had_its_turn_taken_out_warns(settings, model):
    obj = create_rig()
    result = generate.generate_onto(obj, model, 96, labels={"content": "walk-turn-right"}, seed=2, loop=True,
                                    scene=bpy.context.scene, scene_rate=False)
    assert [w for w in result.warnings if "turned 148 degrees right" in w and "taken out" in w], result.warnings


def test_generate_refuses_an_armature_tweaking_an_nla_strip(settings, model):
    """Blender will not reassign the action while a strip is tweaked: refused before anything is written
    (before, the write failed halfway with an AttributeError and left its new actions behind)."""
    obj = create_rig()
    generate.generate_onto(obj, model, 30, count=2, seed=1, target="NLA", scene=bpy.context.scene)
    ad = obj.animation_data
    ad.nla_tracks[0].strips[0].select = True
    ad.nla_tracks.active = ad.nla_tracks[0]
    ad.use_tweak_mode = True
    before = sorted(a.name for a in bpy.data.actions)
    assert generate.rigs.status(obj, model) == (False, f"{obj.name} is tweaking an NLA strip (Tab to leave)")
    with pytest.raises(generate.rigs.RigError, match="is tweaking an NLA strip's action: leave tweak mode first"):
        generate.generate_onto(obj, model, 30, seed=2, scene=bpy.context.scene)
    assert sorted(a.name for a in bpy.data.actions) == before
    ad.use_tweak_mode = False


def test_temperature_reaches_the_generator(settings, model):
    obj = create_rig()
    settings.label_0 = "elderly"
    drawn = draw_panel()
    assert "own_temperature" in [e[2] for e in drawn if e[0] == "prop"]  # the model's own, per label
    assert any(e[1].startswith("Temperature: model's own, ") for e in drawn if e[0] == "label")
    settings.own_temperature = False
    assert "temperature" in [entry[2] for entry in draw_panel() if entry[0] == "prop"]
    settings.temperature = 1.3
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    assert_plays(obj, synthesis.generate(model, FRAMES, fps=SCENE_FPS, labels={"style": "elderly"}, seed=SEED,
                                         temperature=1.3)[0][0], START)


def test_new_actions_one_per_variation_first_plays(settings, model):
    obj = create_rig()
    settings.count, settings.action_name = 3, "Take"
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    assert sorted(bpy.data.actions.keys()) == ["Take_001", "Take_002", "Take_003"]
    assert obj.animation_data.action.name == "Take_001"
    assert all(bpy.data.actions[n].use_fake_user for n in ("Take_002", "Take_003"))
    motions = synthesis.generate(model, FRAMES, fps=SCENE_FPS, count=3, seed=SEED)[0]
    assert_plays(obj, motions[0], START)


def test_nla_mode_makes_one_strip_per_variation(settings, model):
    obj = create_rig()
    settings.target, settings.count = "NLA", 3
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    ad = obj.animation_data
    assert ad.action is None
    tracks = list(ad.nla_tracks)
    assert len(tracks) == 3 and [len(t.strips) for t in tracks] == [1, 1, 1]
    assert [t.mute for t in tracks] == [False, True, True]
    assert [t.strips[0].action.name for t in tracks] == [t.name for t in tracks]
    assert {t.strips[0].frame_start for t in tracks} == {START}
    for track in tracks:
        assert_keyed(obj, track.strips[0].action, model.skeleton.names, START, FRAMES)
    motions = synthesis.generate(model, FRAMES, fps=SCENE_FPS, count=3, seed=SEED)[0]
    assert_plays(obj, motions[0], START)


def test_nla_mode_pushes_down_what_played_before(settings, model):
    obj = create_rig()
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    old = obj.animation_data.action
    settings.target, settings.seed = "NLA", SEED + 1
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    tracks = list(obj.animation_data.nla_tracks)
    assert [(t.strips[0].action == old, t.mute) for t in tracks] == [(True, True), (False, False)]
    assert_plays(obj, synthesis.generate(model, FRAMES, fps=SCENE_FPS, seed=SEED + 1)[0][0], START)


def test_replace_swaps_the_active_actions_keys(settings, model):
    obj = create_rig()
    settings.action_name = "Clip"
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    other = bpy.data.objects.new("Other", obj.data)
    bpy.context.scene.collection.objects.link(other)
    other.animation_data_create().action = bpy.data.actions["Clip"]
    settings.target, settings.seed = "REPLACE", SEED + 5
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    assert list(bpy.data.actions.keys()) == ["Clip"]
    assert obj.animation_data.action.name == "Clip" and other.animation_data.action.name == "Clip"
    assert_plays(obj, synthesis.generate(model, FRAMES, fps=SCENE_FPS, seed=SEED + 5)[0][0], START)


def test_overwrite_replaces_a_named_action_only_when_asked(settings, model):
    obj = create_rig()
    taken = bpy.data.actions.new("Taken")
    taken.use_fake_user = True
    settings.action_name = "Taken"
    with pytest.raises(RuntimeError, match="already exists"):
        bpy.ops.ganim.generate_motion()
    assert "ganim_fps" not in bpy.data.actions["Taken"]                   # untouched
    settings.overwrite = True
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    assert list(bpy.data.actions.keys()) == ["Taken"]
    assert obj.animation_data.action.name == "Taken"
    assert_plays(obj, synthesis.generate(model, FRAMES, fps=SCENE_FPS, seed=SEED)[0][0], START)


def test_overwriting_several_variations_keeps_each_one_through_a_save(settings, model, tmp_path):
    """Variations 2..n are played by nothing and live by their fake user; overwriting an action of the
    same name that had none must not take it away (it did: the clip was gone after save and reload)."""
    obj = create_rig()
    settings.action_name = "Clip_002"
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}                # the rig plays Clip_002
    settings.action_name, settings.count, settings.overwrite = "Clip", 2, True
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}                # Clip_001 plays, Clip_002 overwritten
    assert bpy.data.actions["Clip_002"].use_fake_user
    path = tmp_path / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    assert sorted(bpy.data.actions.keys()) == ["Clip_001", "Clip_002"]


def test_frames_blender_cannot_hold_are_refused_before_writing(settings, model):
    """A scene's range starts at 0 and every frame ends at 1,048,574: Blender clamped such a range
    silently (a clip from frame -20 got the scene range 0-9); keys before 0 stay allowed."""
    obj = create_rig()
    with pytest.raises(generate.GenerateError, match="a scene's frame range starts at 0 or later, and this clip "
                                                     "starts at frame -20"):
        generate.generate_onto(obj, model, FRAMES, seed=SEED, start_frame=-20, set_frame_range=True)
    with pytest.raises(generate.GenerateError, match=r"frames 1048570-1048\d+ lie outside Blender's frames"):
        generate.generate_onto(obj, model, FRAMES, seed=SEED, start_frame=1048570)
    assert len(bpy.data.actions) == 0 and bpy.context.scene.frame_start == 1
    made = generate.generate_onto(obj, model, FRAMES, seed=SEED, start_frame=-20)
    assert made.actions[0].frame_range[0] == -20


def test_generate_is_one_undo_step(settings):
    obj = create_rig()
    settings.target, settings.count = "NLA", 2
    bpy.ops.ed.undo_push(message="rig ready")
    assert bpy.ops.ganim.generate_motion("EXEC_DEFAULT", True) == {"FINISHED"}   # True: push undo as the UI does
    assert len(bpy.data.actions) == 2 and bpy.context.scene.frame_end == START + FRAMES - 1
    assert bpy.ops.ed.undo() == {"FINISHED"}
    obj = bpy.data.objects["GANim_Rig"]
    assert len(bpy.data.actions) == 0
    assert obj.animation_data is None or len(obj.animation_data.nla_tracks) == 0
    assert bpy.context.scene.frame_end == 250
    assert bpy.ops.ed.redo() == {"FINISHED"}
    assert len(bpy.data.actions) == 2


def test_failure_midway_removes_everything_this_call_made(settings, monkeypatch, model):
    obj = create_rig()
    settings.action_name = "Before"
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    before = obj.animation_data.action
    real, calls = actions.write_action, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(actions, "write_action", flaky)
    for target in ("NEW", "NLA"):
        calls.clear()
        with pytest.raises(RuntimeError, match="disk on fire"):
            generate.generate_onto(obj, model, FRAMES, count=3, seed=SEED, target=target, set_frame_range=True)
        assert list(bpy.data.actions.keys()) == ["Before"]
        assert obj.animation_data.action == before and len(obj.animation_data.nla_tracks) == 0
        assert bpy.context.scene.frame_start == START


# ---------------------------------------------------------------- bad input: a clean CANCELLED each

def _mesh():
    obj = bpy.data.objects.new("Cube", bpy.data.meshes.new("Cube"))
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj


def _partial_rig():
    sk = Skeleton(("joint_Root", "Hips", "Tail"), [-1, 0, 1], [[0, 0, 0], [0, 90, 0], [0, -10, -10]])
    armature.build_armature(sk, "Partial")


def _linked_rig(tmp_path):
    create_rig()
    library = str(tmp_path / "library.blend")
    bpy.ops.wm.save_as_mainfile(filepath=library)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    with bpy.data.libraries.load(library, link=True) as (src, dst):
        dst.objects = ["GANim_Rig"]
    bpy.context.scene.collection.objects.link(dst.objects[0])
    bpy.context.view_layer.objects.active = dst.objects[0]


def _model_file(kind):
    def setup(tmp_path, settings, models_folder, default_model):
        path = models_folder / f"{kind}.ganim"
        if kind == "corrupt":
            data = default_model.read_bytes()
            path.write_bytes(data[: len(data) // 2])
        elif kind == "future":
            m = model_file.load(default_model)
            model_file.save(path, {**m.header, "version": model_file.FORMAT_VERSION + 1}, m.weights)
        else:
            path.write_text("HIERARCHY\nROOT Hips\n")
        create_rig()
        settings.model = str(path)
    return setup


def _action_exists(tmp_path, settings, *_):
    create_rig()
    bpy.data.actions.new("Taken").use_fake_user = True
    settings.action_name = "Taken"


def _replace_nothing(tmp_path, settings, *_):
    create_rig()
    settings.target = "REPLACE"


def _replace_many(tmp_path, settings, *_):
    create_rig()
    assert bpy.ops.ganim.generate_motion() == {"FINISHED"}
    settings.target, settings.count = "REPLACE", 2


BAD_INPUT = {
    "no active object": (lambda *a: None, "no active object: select an armature, or use Create Armature"),
    "not an armature": (lambda *a: _mesh(), "'Cube' is a mesh, not an armature"),
    "missing bones": (lambda *a: _partial_rig(),
                      r"lacks 20 of the model's 22 bones \(Spine, Chest, .*\); use Create Armature"),
    "linked armature": (lambda tmp_path, *a: _linked_rig(tmp_path), r"is linked from .*library\.blend"),
    "corrupt model": (_model_file("corrupt"), r"corrupt\.ganim: model file is corrupt"),
    "future model": (_model_file("future"), r"format version \d+ is newer than this blender-ganim"),
    "not a model": (_model_file("text"), r"text\.ganim: not a \.ganim model"),
    "action exists": (_action_exists, "an action named 'Taken' already exists"),
    "replace without action": (_replace_nothing, "has no active action to replace"),
    "replace many": (_replace_many, "takes exactly one clip"),
}


class Recorder:
    def __init__(self):
        self.reports = []

    def report(self, kind, message):
        self.reports.append((set(kind), message))


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_cancelled_with_a_clear_report(case, settings, tmp_path, models_folder, default_model):
    setup, message = BAD_INPUT[case]
    setup(tmp_path, settings, models_folder, default_model)
    before = {a.name: a.session_uid for a in bpy.data.actions}
    played = {o.name: (o.animation_data.action if o.animation_data else None) for o in bpy.data.objects}

    recorder = Recorder()
    assert operators.GANIM_OT_generate_motion.execute(recorder, bpy.context) == {"CANCELLED"}
    (kind, text), = recorder.reports
    assert kind == {"ERROR"} and "\n" not in text
    assert re.search(message, text, flags=re.IGNORECASE), text
    with pytest.raises(RuntimeError, match=re.escape(text[:30])):      # the UI shows the same report
        bpy.ops.ganim.generate_motion()

    assert {a.name: a.session_uid for a in bpy.data.actions} == before
    assert {o.name: (o.animation_data.action if o.animation_data else None) for o in bpy.data.objects} == played


def test_unknown_label_writes_nothing(settings, model):
    obj = create_rig()
    with pytest.raises(synthesis.SynthesisError, match="unknown style 'zombie'"):
        generate.generate_onto(obj, model, FRAMES, labels={"style": "zombie"})
    with pytest.raises(synthesis.SynthesisError, match="no label 'mood'"):
        generate.generate_onto(obj, model, FRAMES, labels={"mood": "happy"})
    assert len(bpy.data.actions) == 0 and obj.animation_data is None


def test_create_armature_reports_a_bad_model(settings, models_folder):
    (models_folder / "bad.ganim").write_text("nope")
    settings.model = str(models_folder / "bad.ganim")
    recorder = Recorder()
    assert operators.GANIM_OT_create_armature.execute(recorder, bpy.context) == {"CANCELLED"}
    assert "not a .ganim model" in recorder.reports[0][1]
    assert len(bpy.data.objects) == 0
