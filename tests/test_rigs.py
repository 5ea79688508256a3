"""Any rig, in Blender: Rigify, Mixamo and an A-pose rig take a real walk; actions go back out to training.

Rigify: the human metarig with its bones renamed DEF-* stands in for a generated
rig.  Generating works headless (~6 s) but a generated rig's DEF- bones are driven
by constraints and hang from control bones under two roots, so keys on them show
nothing; driving a generated rig means mapping onto its FK controls (not done).
"""

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_ganim.blender import actions, armature, export_actions, rig_map, rig_map_ui  # noqa: E402
from blender_ganim.core import bvh, retarget  # noqa: E402
from blender_ganim.core.retarget import rest_positions  # noqa: E402
from rig_fixtures import compare_feet, dataset_apose, max_step_angle, mixamo_tpose, skate_pair  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
SCALE = 0.01

pytestmark = pytest.mark.blender


@pytest.fixture(autouse=True)
def clean_scene():
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)


# ------------------------------------------------------------------ rigs

def foreign_rig(skeleton, name):
    """An armature made the way other tools make them: no ganim properties, odd bone rolls."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    heads = armature.to_blender(rest_positions(skeleton), SCALE)
    bpy.ops.object.mode_set(mode="EDIT")
    made = []
    for j, bone in enumerate(skeleton.names):
        eb = data.edit_bones.new(bone)
        eb.head = tuple(heads[j])
        kids = [c for c in skeleton.children(j) if np.linalg.norm(heads[c] - heads[j]) > 1e-3]
        p = skeleton.parents[j]
        if kids:
            tail = heads[kids[0]]
        else:
            d = heads[j] - heads[p] if p >= 0 else np.array([0.0, 0.0, 1.0])
            tail = heads[j] + 0.05 * d / max(np.linalg.norm(d), 1e-9)
        eb.tail = tuple(tail)
        eb.roll = 0.4 * j
        if p >= 0:
            eb.parent = made[p]
        made.append(eb)
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def rigify_rig():
    """Rigify's human metarig with DEF- names: its deform skeleton, rest pose and bone rolls."""
    try:
        bpy.ops.preferences.addon_enable(module="rigify")
        bpy.ops.object.armature_human_metarig_add()
    except (RuntimeError, AttributeError) as e:
        pytest.skip(f"Rigify is not available here: {e}")
    obj = bpy.context.active_object
    for b in obj.data.bones:
        b.name = "DEF-" + b.name
    return obj


def make_rig(kind):
    if kind == "rigify":
        return rigify_rig()
    if kind == "mixamo":
        return foreign_rig(mixamo_tpose(), "mixamo")
    return armature.build_armature(dataset_apose(), "apose", scale=SCALE)


@pytest.fixture(scope="module")
def walk():
    clip = bvh.read(SAMPLE / "dataset-2_walk_normal_004.bvh")
    return clip, retarget.auto_map(clip.skeleton.names, clip.skeleton.parents).mapping


# ------------------------------------------------------------------ retargeting

@pytest.mark.parametrize("kind", ["rigify", "mixamo", "apose"])
def test_walk_onto_rig(kind, walk):
    clip, s_map = walk
    obj = make_rig(kind)
    found = rig_map.auto_map_rig(obj)
    missing, ambiguous = retarget.map_problems(found.mapping, [b.name for b in obj.data.bones], found.ambiguous)
    assert not missing and not ambiguous, (missing, ambiguous)
    rig_map.save_map(obj, found.mapping)
    t_map = rig_map.load_map(obj)
    assert t_map == found.mapping
    action = rig_map.retarget_onto(obj, clip, "walk")
    skeleton = rig_map.read_rig(obj, keep=list(t_map.values()))[0]
    back = actions.read_action(obj, action, skeleton)
    assert back.frames == clip.frames
    height_err, stride_err = compare_feet(clip, s_map, back, t_map)
    assert height_err < 0.05 and stride_err < 0.05, (height_err, stride_err)
    roles = [r for r in retarget.ROLES if r in t_map]
    src_step = max_step_angle(clip, [clip.skeleton.index(s_map[r]) for r in roles])
    assert max_step_angle(back, [skeleton.index(t_map[r]) for r in roles]) <= 1.5 * src_step
    src_skate, tgt_skate, _ = skate_pair(clip, s_map, back, t_map)
    assert tgt_skate <= src_skate
    # What Blender evaluates is what we computed (the foot bones' heads in the scene).
    feet = [t_map["foot_l"], t_map["foot_r"]]
    want = armature.to_blender(back.global_positions()[:, [skeleton.index(f) for f in feet]], SCALE)
    for frame in (1, 60):
        bpy.context.scene.frame_set(frame)
        got = np.array([tuple(obj.matrix_world @ obj.pose.bones[f].head) for f in feet])
        np.testing.assert_allclose(got, want[frame - 1], atol=1e-3)


def test_missing_roles_are_reported_before_writing(walk):
    clip, _ = walk
    obj = foreign_rig(mixamo_tpose(prefix="rig_"), "odd")
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    obj.data.edit_bones.remove(obj.data.edit_bones["rig_LeftLeg"])
    bpy.ops.object.mode_set(mode="OBJECT")
    with pytest.raises(rig_map.RigMapError, match="shin_l"):
        rig_map.retarget_onto(obj, clip, "walk")
    assert "walk" not in bpy.data.actions


# ------------------------------------------------------------------ UI pieces

class _Layout:
    """Stand-in layout: records what draw code asks for."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append(name)
            return self
        return call


def test_bone_map_ui():
    rig_map_ui.register()
    try:
        obj = foreign_rig(mixamo_tpose(), "mixamo")
        bpy.context.view_layer.objects.active = obj
        assert bpy.ops.ganim.auto_map_bones() == {"FINISHED"}
        pairs = {p.role: p.bone for p in obj.ganim_bone_pairs}
        assert list(pairs) == list(retarget.ROLES) and pairs["shin_l"] == "mixamorig:LeftLeg"
        obj.ganim_bone_pairs[list(pairs).index("chest")].bone = "mixamorig:Spine1"
        assert bpy.ops.ganim.save_bone_map() == {"FINISHED"}
        assert rig_map.load_map(obj)["chest"] == "mixamorig:Spine1"
        layout = _Layout()
        rig_map_ui.GANIM_UL_bone_map.draw_item(None, bpy.context, layout, obj, obj.ganim_bone_pairs[0],
                                               0, obj, "ganim_bone_index")
        rig_map_ui.draw_bone_map(layout, obj)
        assert "prop_search" in layout.calls and "template_list" in layout.calls
    finally:
        rig_map_ui.unregister()


# ------------------------------------------------------------------ back to training

def test_export_actions_bad_input(tmp_path, capsys):
    assert export_actions.main(["--blend", str(tmp_path / "none.blend"), "--armature", "A",
                                "--out", str(tmp_path)]) == 2
    assert export_actions.main(["--armature", "A"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("export_actions: error:") for line in err)
    obj = foreign_rig(mixamo_tpose(), "mixamo")
    with pytest.raises(export_actions.ExportError, match="no actions"):
        export_actions.export_actions(obj, tmp_path / "out")


def test_a_loop_is_exported_as_one_cycle(tmp_path, model):
    """A cyclic action's last key is the next cycle's first pose: exported, it would be in the
    training data twice at every wrap; a plain action keeps every frame."""
    from blender_ganim.blender import generate
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    obj = generate.create_armature(model, name="Rig")
    generate.generate_onto(obj, model, 48, labels={"content": "walk"}, seed=3, loop=True, action_name="Loop",
                           scene_rate=False)
    generate.generate_onto(obj, model, 40, seed=3, action_name="Plain", scene_rate=False)
    rows = dict(export_actions.export_actions(obj, tmp_path / "out"))
    assert bvh.read(tmp_path / "out" / "Loop.bvh").frames == 48 and bvh.read(tmp_path / "out" / "Plain.bvh").frames == 40
    assert set(rows) == {"Loop.bvh", "Plain.bvh"}


def test_rig_actions_train_and_come_back(tmp_path, walk):
    clip, _ = walk
    obj = foreign_rig(mixamo_tpose(), "mixamo")
    rig_map.save_map(obj, rig_map.auto_map_rig(obj).mapping)
    feminine = bvh.read(SAMPLE / "dataset-2_walk_feminine_010.bvh")
    rig_map.retarget_onto(obj, clip, "walk_normal")
    act = rig_map.retarget_onto(obj, feminine, "strut")
    act["ganim_labels"] = "content=walk,style=feminine"
    for a in bpy.data.actions:
        a.use_fake_user = True
    blend = tmp_path / "rig.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    data = tmp_path / "data"
    assert export_actions.main(["--blend", str(blend), "--armature", "mixamo", "--out", str(data),
                                "--name-regex", r"(?P<content>[^_]+)_(?P<style>[^_]+)"]) == 0
    with open(data / "labels.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert rows["walk_normal.bvh"]["style"] == "normal" and rows["strut.bvh"]["style"] == "feminine"
    exported = bvh.read(data / "walk_normal.bvh")
    obj = bpy.data.objects["mixamo"]
    sk = rig_map.read_rig(obj, keep=list(rig_map.load_map(obj).values()))[0]
    assert exported.skeleton.names == sk.names and exported.frames == clip.frames
    played = actions.read_action(obj, bpy.data.actions["walk_normal"], sk)
    np.testing.assert_allclose(exported.global_positions(), played.global_positions(), atol=1e-3)

    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed: the training half of the round trip needs it")
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "trainer.cli", "train", str(data), "--out", str(run),
                           "--steps", "4", "--batch", "4", "--hidden", "16", "--window", "32",
                           "--ckpt-every", "4", "--condition", "none", "--cache", str(tmp_path / "cache"),
                           "--threads", "1"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from blender_ganim.core import model_file, synthesis
    model = model_file.load(run / "model.ganim")
    assert model.skeleton.names == sk.names
    motions, _ = synthesis.generate(model, 40, count=1, seed=0)
    action = actions.write_action(obj, motions[0], "generated")
    assert obj.animation_data.action == action
    back = actions.read_action(obj, action, model.skeleton)
    np.testing.assert_allclose(back.global_positions(), motions[0].global_positions(), atol=1e-2)
