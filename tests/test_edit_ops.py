"""Blend, Edit (range, key poses, restyle) and Follow Path as operators; mapped rigs; the new sub-panels.

The operators are called through bpy.ops with the panel's settings, as the UI does;
bad input is checked by calling execute() on a stand-in (the report text and
CANCELLED) and through bpy.ops (the same text reaches the user).
"""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_ganim.blender import (actions, armature, edit, edit_operators, generate, panel,  # noqa: E402
                                   rig_map, rigs)
from blender_ganim.core import bvh, synthesis  # noqa: E402
from blender_ganim.core import rotations as rot  # noqa: E402
from blender_ganim.core.motion import Motion  # noqa: E402
from blender_ganim.core.skeleton import Skeleton  # noqa: E402
from keying_checks import assert_keyed, fcurves  # noqa: E402
from rig_fixtures import mixamo_tpose  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
A_FRAMES, B_FRAMES, BLEND = 90, 60, 20
SEED = 11

pytestmark = [pytest.mark.blender, pytest.mark.usefixtures("registered_addon")]


@pytest.fixture(scope="session")
def clips():
    walk = bvh.read(SAMPLE / "dataset-2_walk_normal_004.bvh").slice(0, A_FRAMES)
    run = bvh.read(SAMPLE / "dataset-2_run_normal_038.bvh").slice(0, B_FRAMES)
    return walk, run


@pytest.fixture
def settings():
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    s = bpy.context.scene.ganim
    s.seed = SEED
    return s


@pytest.fixture
def rig(settings, model, clips):
    """The model's armature (moved off the origin) playing A = a walk; B = a run is there too."""
    obj = generate.create_armature(model)
    obj.location = (0.5, -1.0, 0.0)
    walk, run = clips
    b = actions.write_action(obj, run, "B")
    a = actions.write_action(obj, walk, "A")
    b.use_fake_user = True
    return SimpleNamespace(obj=obj, a=a, b=b, walk=walk, run=run)


# ------------------------------------------------------------------ helpers

def new_action(before):
    made = [a for a in bpy.data.actions if a.name not in before]
    assert len(made) == 1, [a.name for a in made]
    return made[0]


def run_op(op):
    before = set(bpy.data.actions.keys())
    assert op() == {"FINISHED"}
    return new_action(before)


def evaluated(obj, action, frame, names):
    """World bone heads [J, 3] and armature-space bone rotations [J, 4] as Blender evaluates them."""
    obj.animation_data.action = action
    bpy.context.scene.frame_set(frame)
    bones = [obj.pose.bones[n] for n in names]
    heads = np.array([tuple(obj.matrix_world @ b.head) for b in bones])
    quats = np.array([tuple(b.matrix.to_quaternion()) for b in bones])
    return heads, quats


def world(obj, motion):
    """The motion's global joint positions [T, J, 3] in Blender world space."""
    p = armature.to_blender(motion.global_positions(), armature.armature_scale(obj))
    m = np.array(obj.matrix_world)
    return p @ m[:3, :3].T + m[:3, 3]


def hips(model):
    return model.skeleton.names.index("Hips")


# ------------------------------------------------------------------ Blend

@pytest.mark.parametrize("method", ["GENERATED", "CROSSFADE"])
def test_blend_keeps_a_and_keys_every_bone(method, rig, settings, model):
    settings.blend_a, settings.blend_b, settings.blend_frames, settings.blend_method = rig.a, rig.b, BLEND, method
    action = run_op(bpy.ops.ganim.blend_actions)
    total = A_FRAMES + BLEND + B_FRAMES
    assert_keyed(rig.obj, action, model.skeleton.names, 1, total)
    assert rig.obj.animation_data.action == action and action.name.startswith("A_to_B_")
    assert {"A", "B"} <= set(bpy.data.actions.keys())                 # the sources are untouched
    # The generated transition regenerates A's last frame (its velocity points into the gap).
    kept = A_FRAMES - 1 if method == "GENERATED" else A_FRAMES
    got = actions.read_action(rig.obj, action, model.skeleton)
    np.testing.assert_allclose(got.global_positions()[:kept], rig.walk.global_positions()[:kept], atol=1e-2)
    for frame in (1, kept // 2, kept):
        np.testing.assert_allclose(evaluated(rig.obj, action, frame, model.skeleton.names)[0],
                                   evaluated(rig.obj, rig.a, frame, model.skeleton.names)[0], atol=1e-4)


def test_blend_is_one_undo_step(rig, settings):
    settings.blend_a, settings.blend_b, settings.blend_frames = rig.a, rig.b, BLEND
    bpy.ops.ed.undo_push(message="clips ready")
    before = sorted(bpy.data.actions.keys())
    assert bpy.ops.ganim.blend_actions("EXEC_DEFAULT", True) == {"FINISHED"}   # True: push undo as the UI does
    assert len(bpy.data.actions) == len(before) + 1
    assert bpy.ops.ed.undo() == {"FINISHED"}
    assert sorted(bpy.data.actions.keys()) == before
    assert bpy.data.objects["GANim_Rig"].animation_data.action.name == "A"


# ------------------------------------------------------------------ Edit

def test_regenerate_range_keeps_the_frames_around_it(rig, settings, model):
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 31, 55
    action = run_op(bpy.ops.ganim.regenerate_range)
    names = model.skeleton.names
    assert_keyed(rig.obj, action, names, 1, A_FRAMES)
    for frame in (1, 20, 30, 56, 70, A_FRAMES):
        np.testing.assert_allclose(evaluated(rig.obj, action, frame, names)[0],
                                   evaluated(rig.obj, rig.a, frame, names)[0], atol=1e-4)
    inside = [np.abs(evaluated(rig.obj, action, f, names)[0] - evaluated(rig.obj, rig.a, f, names)[0]).max()
              for f in (40, 45)]
    assert max(inside) > 1e-3                                          # the range did change


def test_an_action_keyed_at_the_scenes_rate_is_edited_in_its_own_frames(rig, settings, model):
    """A hand-keyed action in a 24 fps scene (no GANim frame-rate stamp): the model works at 30 fps,
    yet the range regenerated is the scene frames asked for and every other frame stays as it was."""
    scene = bpy.context.scene
    assert generate.scene_fps(scene) == 24
    own = actions.write_action(rig.obj, rig.walk.resample(24), "Own")
    del own[actions.FPS_PROP]
    rig.obj.animation_data.action = own
    scene.frame_start, scene.frame_end = 31, 55
    action = run_op(bpy.ops.ganim.regenerate_range)
    assert tuple(action.frame_range) == tuple(own.frame_range) == (1.0, 72.0)
    assert action[actions.FPS_PROP] == 24
    names = model.skeleton.names
    for frame in (1, 20, 30, 56, 72):
        np.testing.assert_allclose(evaluated(rig.obj, action, frame, names)[0],
                                   evaluated(rig.obj, own, frame, names)[0], atol=1e-4)
    inside = [np.abs(evaluated(rig.obj, action, f, names)[0] - evaluated(rig.obj, own, f, names)[0]).max()
              for f in (40, 45)]
    assert max(inside) > 1e-3


@pytest.mark.parametrize("op", ["blend_actions", "regenerate_range", "keyframe_guided", "restyle"])
def test_replace_active_edits_the_action_in_place_as_one_undo_step(op, rig, settings, model):
    """Replace Active: the edited motion takes the active action's place under its name, no other action
    is made or lost, and one undo brings the old motion back."""
    settings.edit_replace, settings.label_0 = True, "elderly"
    settings.blend_a, settings.blend_b, settings.blend_frames = rig.a, rig.b, BLEND
    settings.edit_key_frames = "31, 55"                  # A is keyed on every frame: hold only the ends
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 31, 55
    names = model.skeleton.names
    frame = A_FRAMES + BLEND // 2 if op == "blend_actions" else 45  # the blend keeps A's own frames

    def playing():
        obj = bpy.data.objects["GANim_Rig"]           # looked up again: undo reloads the data
        bpy.context.scene.frame_set(frame)
        return obj.animation_data.action.name, np.array([tuple(obj.pose.bones[n].head) for n in names])
    before, old = sorted(bpy.data.actions.keys()), playing()
    bpy.ops.ed.undo_push(message="clips ready")
    assert getattr(bpy.ops.ganim, op)("EXEC_DEFAULT", True) == {"FINISHED"}   # True: push undo as the UI does
    name, new = playing()
    assert sorted(bpy.data.actions.keys()) == before and name == "A"
    assert np.abs(new - old[1]).max() > 1e-3                         # the motion there was edited
    assert bpy.ops.ed.undo() == {"FINISHED"}
    name, back = playing()
    assert name == "A" and sorted(bpy.data.actions.keys()) == before
    np.testing.assert_allclose(back, old[1], atol=1e-6)


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("op", ["regenerate_range", "keyframe_guided", "restyle"])
def test_an_edit_of_an_nla_strip_goes_onto_the_strip(op, replace, rig, settings, model):
    """No active action, one strip picked in the NLA editor (here at frame 101, playing A's frames 11-80):
    the edit reads the strip's action, takes its frame range in scene frames, and the strip then plays
    the result; A is kept (with a fake user, nothing else playing it) unless Replace Active was asked,
    and nothing is left playing as the active action."""
    obj, names = rig.obj, model.skeleton.names
    strip = _on_nla(rig, settings, start=101)
    strip.action_frame_start, strip.action_frame_end = 11, 80
    strip.frame_start = 101                               # (the range moved it)
    settings.edit_replace, settings.label_0, settings.edit_key_frames = replace, "elderly", "131, 155"
    settings.edit_use_scene_range, settings.edit_start, settings.edit_end = False, 131, 155
    source = edit.find_source(obj)
    assert source.strip == strip and source.start == 91 and str(source) == "NLA strip 'A' (action 'A')"
    bpy.context.view_layer.objects.active = obj
    log = []
    panel.VIEW3D_PT_ganim_edit.draw(SimpleNamespace(layout=Layout(log)), bpy.context)
    assert log[0][:2] == ("label", "NLA strip: A (A)")                # the panel says what the buttons edit

    def playing(frame):
        bpy.context.scene.frame_set(frame)
        return np.array([tuple(obj.matrix_world @ obj.pose.bones[n].head) for n in names])
    old = {f: playing(f) for f in (105, 143, 165)}
    before = set(bpy.data.actions.keys())
    bpy.ops.ed.undo_push(message="strip ready")
    assert getattr(bpy.ops.ganim, op)("EXEC_DEFAULT", True) == {"FINISHED"}   # True: push undo as the UI does
    obj = bpy.data.objects["GANim_Rig"]                                    # (undo steps reload the data)
    ad, strip = obj.animation_data, obj.animation_data.nla_tracks[0].strips[0]
    assert ad.action is None and len(ad.nla_tracks) == 1 and strip.action is not None
    if replace:
        assert set(bpy.data.actions.keys()) == before and strip.action.name == "A"
    else:
        assert set(bpy.data.actions.keys()) == before | {strip.action.name} and strip.action.name != "A"
        assert bpy.data.actions["A"].use_fake_user                   # kept: nothing plays it now
    assert (strip.frame_start, strip.action_frame_start, strip.action_frame_end) == (101, 11, 80)
    assert np.abs(playing(143) - old[143]).max() > 1e-3              # what the strip plays was edited there
    if op != "restyle":                                              # outside the range it plays as it did
        for f in (105, 165):
            np.testing.assert_allclose(playing(f), old[f], atol=2e-3)
    assert bpy.ops.ed.undo() == {"FINISHED"}                          # one step back: A on the strip again
    obj = bpy.data.objects["GANim_Rig"]
    assert obj.animation_data.nla_tracks[0].strips[0].action.name == "A"
    assert set(bpy.data.actions.keys()) == before
    np.testing.assert_allclose(playing(143), old[143], atol=1e-6)


@pytest.mark.parametrize("op", ["regenerate_range", "keyframe_guided"])
def test_an_edit_of_a_scaled_repeated_strip_follows_how_the_nla_plays_it(op, rig, settings, model):
    """A strip at frame 101 playing A (frames 1-90) at half speed, twice: scene frames 141-181 are A's
    frames 21-41 in the first repeat and 110-130 in the second; the edit changes those frames of the
    action and no others, and says that every repeat plays it."""
    obj, names = rig.obj, model.skeleton.names
    strip = _on_nla(rig, settings, start=101)
    strip.scale, strip.repeat = 2.0, 2.0
    source = edit.find_source(obj)
    assert source.to_action(141) == (21.0, 0) and source.to_action(141 + 178) == (21.0, 1)
    assert source.to_action(279, end=True) == (90.0, 0) and source.to_action(279) == (1.0, 1)
    settings.edit_use_scene_range, settings.edit_start, settings.edit_end = False, 141, 181
    settings.edit_key_frames = "141, 161, 181"
    before = actions.read_action(obj, rig.a, model.skeleton)
    bpy.context.view_layer.objects.active = obj
    op_ = next(c for c in edit_operators.CLASSES if c.bl_idname == f"ganim.{op}")
    recorder = Recorder(op_)
    assert op_.execute(recorder, bpy.context) == {"FINISHED"}
    assert any("repeats its action 2 times: every repeat plays the edit" in m for _, m in recorder.reports)
    made = strip.action
    assert made != rig.a and obj.animation_data.action is None
    after = actions.read_action(obj, made, model.skeleton)
    moved = np.abs(after.global_positions() - before.global_positions()).max(axis=(1, 2))
    assert moved[20:41].max() > 1e-3                                 # action frames 21-41 (Motion 20-40)
    np.testing.assert_allclose(moved[:20], 0, atol=1e-3)                # (keys are float32)
    np.testing.assert_allclose(moved[41:], 0, atol=1e-3)
    if op == "keyframe_guided":                                      # the listed poses held: 21, 31, 41
        np.testing.assert_allclose(moved[[20, 30, 40]], 0, atol=2e-3)


@pytest.mark.parametrize("on_strip", [False, True])
def test_an_edit_that_fails_after_keying_leaves_the_rig_as_it_was(on_strip, rig, settings, model, monkeypatch):
    """A failure once the new action is keyed (here in carrying the other F-curves over) removes it and
    puts back what played: before, it was left playing as the active action, over the strip."""
    if on_strip:
        _on_nla(rig, settings)
    ad = rig.obj.animation_data
    state = lambda: (ad.action, [(s.name, s.action) for t in ad.nla_tracks for s in t.strips],  # noqa: E731
                     {a.name: a.use_fake_user for a in bpy.data.actions})
    before = state()
    settings.edit_use_scene_range, settings.edit_start, settings.edit_end = False, 20, 40

    def fails(*a, **k):
        raise RuntimeError("out of memory")
    monkeypatch.setattr(actions, "carry_curves", fails)
    with pytest.raises(RuntimeError, match="out of memory"):
        edit.regenerate_range(rig.obj, model, 20, 40, seed=SEED)
    assert state() == before


def test_replace_refuses_an_action_linked_from_a_library_on_a_strip(tmp_path, settings, model):
    """On the active action Replace refused a linked action; on a strip it removed the link and gave a
    local copy its name."""
    obj = generate.create_armature(model)
    generate.generate_onto(obj, model, 60, seed=SEED, action_name="A").actions[0].use_fake_user = True
    library = str(tmp_path / "library.blend")
    bpy.ops.wm.save_as_mainfile(filepath=library)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    with bpy.data.libraries.load(library, link=True) as (src, dst):
        dst.actions = ["A"]
    linked = bpy.data.actions["A"]
    obj = generate.create_armature(model)
    obj.animation_data_create()
    generate._add_strip(obj.animation_data, "A", linked, actions._object_slot(linked, obj), 1)
    with pytest.raises(actions.ActionExistsError, match="'A' is linked from a library and cannot be replaced"):
        edit.regenerate_range(obj, model, 20, 40, seed=SEED, replace=True)
    assert list(bpy.data.actions) == [linked] and obj.animation_data.nla_tracks[0].strips[0].action == linked


def test_replace_refuses_an_action_that_keys_another_object_too(rig, settings, model):
    """A slotted action (4.4+) may key several objects; replacing it for one dropped the others' keys."""
    if not hasattr(rig.a, "slots"):
        pytest.skip("one object per action before Blender 4.4")
    other = bpy.data.objects.new("Other", None)
    bpy.context.scene.collection.objects.link(other)
    other.animation_data_create()
    other.animation_data.action = rig.a
    other.keyframe_insert("location", frame=1)
    assert len(rig.a.slots) == 2
    for case in ("active", "strip"):
        if case == "strip":
            _on_nla(rig, settings)
        with pytest.raises(actions.ActionExistsError, match="'A' also animates Other; replacing it would drop"):
            edit.restyle(rig.obj, model, seed=SEED, replace=True, drafts=1)
        assert other.animation_data.action == rig.a and len(rig.a.slots) == 2


@pytest.mark.parametrize("op", ["blend_actions", "regenerate_range", "keyframe_guided", "restyle"])
def test_edits_keep_the_curves_they_do_not_generate(op, rig, settings, model):
    """An edit keys the bones' pose; the armature object's own keys, bone scale, custom properties and
    their groups stay as the source had them (with Replace Active they were lost for good)."""
    obj, hips = rig.obj, rig.obj.pose.bones["Hips"]
    hips["ikfk"] = 0.0
    for frame, k in ((1, 0.0), (45, 1.0)):
        obj.location = (0.5 + k, -1.0, 0.0)
        obj.keyframe_insert("location", frame=frame)
        hips.scale = (1.0, 1.0 + 0.2 * k, 1.0)
        hips.keyframe_insert("scale", frame=frame)
        hips["ikfk"] = k
        hips.keyframe_insert('["ikfk"]', frame=frame)
    extra = lambda action: {(fc.data_path, fc.array_index): (fc.evaluate(20), fc.group.name if fc.group else None)  # noqa: E731
                            for fc in fcurves(obj, action) if ".rotation_" not in fc.data_path
                            and not fc.data_path.endswith("].location")}
    want = extra(rig.a)
    assert len(want) == 7                                     # 3 object location + 3 scale + 1 property
    settings.edit_replace, settings.label_0, settings.edit_key_frames = True, "elderly", "31, 55"
    settings.blend_a, settings.blend_b, settings.blend_frames = rig.a, rig.b, BLEND
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 31, 55
    before = set(bpy.data.actions.keys())
    assert getattr(bpy.ops.ganim, op)() == {"FINISHED"}
    assert set(bpy.data.actions.keys()) == before
    edited = obj.animation_data.action
    assert edited.name == "A" and extra(edited) == want       # the same keys, values and groups
    hips_rotation = [fc for fc in fcurves(obj, edited) if fc.data_path == 'pose.bones["Hips"].rotation_quaternion']
    assert len(hips_rotation) == 4                            # the edit's pose, not the old curves beside it


def test_regenerating_inside_a_loop_keeps_it_a_loop(rig, settings, model):
    made = generate.generate_onto(rig.obj, model, 60, labels={"content": "walk"}, seed=3, loop=True)
    loop = made.actions[0]
    inside = edit.regenerate_range(rig.obj, model, 20, 40, seed=1).action
    assert inside.use_cyclic and all(len(fc.modifiers) == 1 for fc in fcurves(rig.obj, inside))
    rig.obj.animation_data.action = loop
    across = edit.regenerate_range(rig.obj, model, 50, 61, seed=1).action   # the closing frame changed
    assert not across.use_cyclic and not any(fc.modifiers for fc in fcurves(rig.obj, across))


def test_restyling_a_loop_leads_its_end_back_into_its_start(rig, settings, model):
    """Restyle draws every frame anew, so a loop's end no longer met its start: its last frames are
    generated again to lead there, and the result is a loop that repeats without a seam."""
    made = generate.generate_onto(rig.obj, model, 48, labels={"content": "walk"}, seed=3, loop=True)
    loop = made.actions[0]
    recorder = Recorder(edit_operators.GANIM_OT_restyle)
    settings.label_0, settings.restyle_drafts = "elderly", 1
    assert edit_operators.GANIM_OT_restyle.execute(recorder, bpy.context) == {"FINISHED"}
    restyled = rig.obj.animation_data.action
    assert restyled.use_cyclic and all(len(fc.modifiers) == 1 for fc in fcurves(rig.obj, restyled))
    assert not any(k == {"WARNING"} for k, _ in recorder.reports), recorder.reports
    names = [b.name for b in rig.obj.data.bones]
    (first, q_first), (closing, q_closing) = (evaluated(rig.obj, restyled, f, names) for f in (1, 49))
    (was_first, _), (was_closing, _) = (evaluated(rig.obj, loop, f, names) for f in (1, 49))
    np.testing.assert_allclose(closing - first, was_closing - was_first, atol=1e-4)  # first pose again, moved on
    hips = names.index("Hips")
    assert np.degrees(rot.quat_angle(q_closing, q_first)).max() < 1e-2
    source = [evaluated(rig.obj, loop, f, names)[0][hips] for f in range(1, 50)]
    path = [evaluated(rig.obj, restyled, f, names)[0][hips] for f in range(1, 50)]
    assert np.abs(np.array(path) - source)[:, :2].max() < 0.01          # the path over the ground kept (m)
    motion = actions.read_action(rig.obj, restyled, model.skeleton)
    seam = int(np.ceil(synthesis.loop_seam(model, synthesis.model_frames(model, motion.frames - 1, motion.fps))
                       * motion.fps / 30))
    assert synthesis.around_wrap_ratio(motion, model.header["features"], seam - seam // 2, seam // 2) <= 1.5  # no pop


def test_restyling_a_loop_too_short_to_close_says_the_result_does_not_repeat(rig, settings, model):
    """A user's cyclic action shorter than a generated loop can be: the restyled clip is not marked
    cyclic (a Cycles modifier would pop at every wrap), and the user is told so."""
    generate.generate_onto(rig.obj, model, 20, labels={"content": "walk"}, seed=3)
    rig.obj.animation_data.action.use_cyclic = True
    recorder = Recorder(edit_operators.GANIM_OT_restyle)
    settings.label_0, settings.restyle_drafts = "elderly", 1
    assert edit_operators.GANIM_OT_restyle.execute(recorder, bpy.context) == {"FINISHED"}
    made = rig.obj.animation_data.action
    assert not made.use_cyclic and not any(fc.modifiers for fc in fcurves(rig.obj, made))
    assert any(k == {"WARNING"} and "was a loop too short (19 frames)" in t for k, t in recorder.reports)


def test_restyling_an_action_marked_cyclic_that_is_no_cycle_says_so(rig, settings, model):
    rig.a.use_cyclic = True                      # a take cut anywhere, marked cyclic by hand
    recorder = Recorder(edit_operators.GANIM_OT_restyle)
    settings.label_0, settings.restyle_drafts = "elderly", 1
    assert edit_operators.GANIM_OT_restyle.execute(recorder, bpy.context) == {"FINISHED"}
    assert rig.obj.animation_data.action.use_cyclic
    assert any(k == {"WARNING"} and "'A' is marked cyclic, but its last frame does not lead into its first" in t
               for k, t in recorder.reports), recorder.reports


def blocked(obj, walk, frames):
    """Pose-to-pose blocking: the walk keyed only at ``frames`` (scene frames from 1)."""
    action = actions.write_action(obj, walk, "Blocking")
    keep = set(frames)
    for fc in fcurves(obj, action):
        for kp in reversed(list(fc.keyframe_points)):
            if int(round(kp.co[0])) not in keep:
                fc.keyframe_points.remove(kp, fast=True)
        fc.update()
    return action


def test_a_rig_imported_by_blenders_bvh_importer_still_plays_its_own_action_after_an_edit(settings, model):
    """Blender's importer keys Euler curves on bones in the BVH's order (ZXY here). Edits are keyed in
    it too; before, every bone was switched to quaternions and the imported action froze in rest."""
    if not hasattr(bpy.ops.import_anim, "bvh"):
        pytest.skip("this Blender build has no BVH importer")
    bpy.ops.import_anim.bvh(filepath=str(SAMPLE / "dataset-2_walk_normal_004.bvh"), global_scale=0.01)
    obj = bpy.context.active_object
    imported = obj.animation_data.action
    assert {pb.rotation_mode for pb in obj.pose.bones} == {"ZXY"}
    played = actions.read_action(obj).global_positions()
    result = edit.regenerate_range(obj, model, 40, 70, seed=1)
    assert obj.animation_data.action == result.action
    assert {pb.rotation_mode for pb in obj.pose.bones} == {"ZXY"}
    obj.animation_data.action = imported
    np.testing.assert_allclose(actions.read_action(obj).global_positions(), played, atol=1e-6)
    g = result.motion.global_positions()
    assert np.abs(g[:39] - played[:39]).max() < 1e-3 and np.abs(g[70:] - played[70:]).max() < 1e-3   # cm


def test_keyframe_guided_hits_the_rigs_key_poses(rig, settings, model):
    keys = [1, 30, 60, A_FRAMES]
    blocking = blocked(rig.obj, rig.walk, keys)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, A_FRAMES
    assert edit.key_frames(rig.obj, blocking, "Hips", 1, A_FRAMES) == keys
    action = run_op(bpy.ops.ganim.keyframe_guided)
    names = model.skeleton.names
    assert_keyed(rig.obj, action, names, 1, A_FRAMES)
    for frame in keys:
        got_p, got_q = evaluated(rig.obj, action, frame, names)
        want_p, want_q = evaluated(rig.obj, blocking, frame, names)
        np.testing.assert_allclose(got_p, want_p, atol=0.01)                        # 1 cm
        assert np.degrees(rot.quat_angle(got_q, want_q)).max() < 1.0              # 1 degree
    between = evaluated(rig.obj, action, 15, names)[0] - evaluated(rig.obj, blocking, 15, names)[0]
    assert np.abs(between).max() > 1e-3                # generated, not the blocking's interpolation


def test_keyframe_guided_over_a_range_with_listed_frames(rig, settings, model):
    settings.edit_use_scene_range, settings.edit_start, settings.edit_end = False, 11, 70
    settings.edit_key_frames = "11, 40, 70"
    action = run_op(bpy.ops.ganim.keyframe_guided)
    names = model.skeleton.names
    assert_keyed(rig.obj, action, names, 1, A_FRAMES)                # the whole action, as Regenerate Range
    for frame in (11, 40, 70):
        np.testing.assert_allclose(evaluated(rig.obj, action, frame, names)[0],
                                   evaluated(rig.obj, rig.a, frame, names)[0], atol=0.01)
    for frame in (1, 10, 71, A_FRAMES):                                  # outside the range: kept exactly
        np.testing.assert_allclose(evaluated(rig.obj, action, frame, names)[0],
                                   evaluated(rig.obj, rig.a, frame, names)[0], atol=1e-4)
    assert np.abs(evaluated(rig.obj, action, 25, names)[0] - evaluated(rig.obj, rig.a, 25, names)[0]).max() > 1e-3


def test_restyle_keeps_the_root_path(rig, settings, model):
    settings.label_0 = "elderly"
    action = run_op(bpy.ops.ganim.restyle)
    assert "elderly" in action.name
    assert_keyed(rig.obj, action, model.skeleton.names, 1, A_FRAMES)
    got = world(rig.obj, actions.read_action(rig.obj, action, model.skeleton))[:, hips(model)]
    want = world(rig.obj, rig.walk)[:, hips(model)]
    assert np.linalg.norm((got - want)[:, :2], axis=-1).max() < 0.10
    # The panel's Strength reaches the generator: a style pushed past its target is another motion
    # than the plain label swap (the default).
    assert settings.restyle_strength == 0.0
    rig.obj.animation_data.action = rig.a
    settings.restyle_strength = 1.0
    pushed = run_op(bpy.ops.ganim.restyle)
    settings.restyle_strength = 0.0
    a, b = (actions.read_action(rig.obj, act, model.skeleton) for act in (action, pushed))
    assert not np.allclose(a.rotations, b.rotations, atol=1e-3)
    # So do its Drafts: the best of three draws is not the first draw.
    settings.restyle_drafts = 1
    first = run_op(bpy.ops.ganim.restyle)
    settings.restyle_drafts = 3
    best = run_op(bpy.ops.ganim.restyle)
    a, b = (actions.read_action(rig.obj, act, model.skeleton) for act in (first, best))
    assert not np.allclose(a.rotations, b.rotations, atol=1e-3)
    # And Keep Height: the root's height stays the action's own instead of the new style's.
    height = lambda act: world(rig.obj, actions.read_action(rig.obj, act, model.skeleton))[:, hips(model), 2]
    rig.obj.animation_data.action = rig.a  # the normal walk again (the restyled ones already read elderly)
    moved = run_op(bpy.ops.ganim.restyle)
    rig.obj.animation_data.action = rig.a
    settings.restyle_keep_height = True
    kept = run_op(bpy.ops.ganim.restyle)
    assert np.abs(height(kept) - height(rig.a)).max() < 1e-4
    assert np.abs(height(moved) - height(rig.a)).max() > 2e-3


# ------------------------------------------------------------------ Follow Path

def path_curve(points, name="Path", location=(0.0, 0.0, 0.0)):
    data = bpy.data.curves.new(name, type="CURVE")
    if points:
        spline = data.splines.new("POLY")
        spline.points.add(len(points) - 1)
        for p, co in zip(spline.points, points):
            p.co = (*co, 1.0)
    obj = bpy.data.objects.new(name, data)
    obj.location = location
    bpy.context.scene.collection.objects.link(obj)
    return obj


def test_follow_path_root_follows_the_curve(rig, settings, model):
    bend = [(0.0, 0.0, 0.0), (0.0, 2.0, 0.0), (1.0, 3.5, 0.0), (3.0, 4.0, 0.0)]
    curve = path_curve(bend, location=(1.0, 0.5, 0.0))
    settings.path_curve, settings.path_timing, settings.path_speed, settings.start_frame = curve, "SPEED", 1.2, 1
    action = run_op(bpy.ops.ganim.follow_path)
    motion = actions.read_action(rig.obj, action, model.skeleton)
    pts = np.array(bend)[:, :2] + [1.0, 0.5]
    length = np.linalg.norm(np.diff(pts, axis=0), axis=-1).sum()
    assert motion.frames == pytest.approx(length / 1.2 * generate.scene_fps(bpy.context.scene) + 1, abs=1.5)
    assert_keyed(rig.obj, action, model.skeleton.names, 1, motion.frames)
    dense = np.concatenate([np.linspace(p, q, 200) for p, q in zip(pts[:-1], pts[1:])])
    root = world(rig.obj, motion)[:, hips(model), :2]
    off = np.linalg.norm(root[:, None] - dense[None], axis=-1).min(axis=1)
    assert off.max() < 0.03, off.max()                                # within 3 cm of the curve
    np.testing.assert_allclose(root[0], pts[0], atol=0.03)
    step = 1.2 / generate.scene_fps(bpy.context.scene)                # a frame of walking, in metres
    np.testing.assert_allclose(root[-1], pts[-1], atol=0.05 + step)   # ends within its last step
    head = evaluated(rig.obj, action, motion.frames // 2, ["Hips"])[0][0]   # what Blender plays
    np.testing.assert_allclose(head[:2], root[motion.frames // 2 - 1], atol=1e-3)


def test_follow_path_over_a_frame_count(rig, settings, model):
    curve = path_curve([(0.0, 0.0, 0.0), (2.0, 0.0, 0.0)])
    settings.path_curve, settings.path_timing, settings.path_frames, settings.start_frame = curve, "FRAMES", 50, 5
    action = run_op(bpy.ops.ganim.follow_path)
    assert_keyed(rig.obj, action, model.skeleton.names, 5, 50)


# ------------------------------------------------------------------ bad input

def _other_rig_action(r, s):
    sk = Skeleton(("joint_Root", "Hips", "Tail"), [-1, 0, 1], [[0, 0, 0], [0, 90, 0], [0, -10, -10]])
    other = armature.build_armature(sk, "Other")
    actions.write_action(other, Motion.rest(sk, 10), "Foreign").use_fake_user = True
    bpy.context.view_layer.objects.active = r.obj
    s.blend_a, s.blend_b = r.a, bpy.data.actions["Foreign"]


def _no_action(r, s):
    r.obj.animation_data.action = None


def _on_nla(r, s, start=1, scale=1.0):
    """A's strip on an NLA track and no active action, as Generate's NLA target leaves a rig (the new
    strip selected, none active)."""
    ad = r.obj.animation_data
    slot = actions._object_slot(r.a, r.obj)
    ad.action = None
    strip = generate._add_strip(ad, "A", r.a, slot, start).strips[0]
    strip.scale = scale
    return strip


def _trimmed(r, s, first, last):
    """A's strip at frame 101 playing A's frames ``first``-``last`` (past A's 90 frames, it plays no keys)."""
    strip = _on_nla(r, s, start=101)
    strip.action_frame_end, strip.action_frame_start = last, first
    strip.frame_start = 101
    strip.frame_end = 101 + last - first
    return strip


def _on_nla_twice(r, s):
    """A's and B's strips, both selected and neither active: which to edit is not said."""
    _on_nla(r, s)
    generate._add_strip(r.obj.animation_data, "B", r.b, actions._object_slot(r.b, r.obj), 1)


def _tweaking(r, s):
    """A's strip on an NLA track, tweaked (Tab in the NLA editor): the action can't be reassigned."""
    ad = r.obj.animation_data
    slot = actions._object_slot(r.a, r.obj)
    ad.action = None
    track = generate._add_strip(ad, "A", r.a, slot, 1)
    track.strips[0].select = True
    ad.nla_tracks.active = track
    ad.use_tweak_mode = True
    assert ad.use_tweak_mode and ad.action == r.a


def _range(start, end):
    def setup(r, s):
        s.edit_use_scene_range, s.edit_start, s.edit_end = False, start, end
    return setup


def _curve(points):
    def setup(r, s):
        s.path_curve = path_curve(points, name="Empty")
    return setup


def _blend(frames, b=True):
    def setup(r, s):
        s.blend_a, s.blend_frames = r.a, frames
        s.blend_b = r.b if b else None
    return setup


BAD_INPUT = {
    "range outside": ("regenerate_range", _range(80, 120), r"frames 80-120 lie outside action 'A' \(frames 1-90\)"),
    "range empty": ("regenerate_range", _range(50, 40), r"frame range 50-40 is empty"),
    "keys outside": ("keyframe_guided", lambda r, s: (_range(10, 40)(r, s), setattr(s, "edit_key_frames", "5, 20")),
                     r"key frames 5 lie outside frames 10-40"),
    "key frames not numbers": ("keyframe_guided", lambda r, s: (_range(10, 40)(r, s), setattr(
        s, "edit_key_frames", "x")), r"key frames must be whole frame numbers"),
    "other skeleton": ("blend_actions", _other_rig_action,
                       r"action B 'Foreign' animates bones that 'GANim_Rig' lacks \(Tail\)"),
    "transition too long": ("blend_actions", _blend(300), None),
    "no action b": ("blend_actions", _blend(10, b=False), r"choose both actions"),
    "no active action (range)": ("regenerate_range", _no_action, r"'GANim_Rig' has no active action"),
    "no active action (keys)": ("keyframe_guided", _no_action, r"'GANim_Rig' has no active action"),
    "no active action (restyle)": ("restyle", _no_action, r"'GANim_Rig' has no active action"),
    "NLA strips, none picked": ("restyle", _on_nla_twice,
                                r"'GANim_Rig' has no active action: pick or generate one first \(its clips are NLA "
                                r"strips: click one in the NLA editor to edit it, e\.g\. 'A'\)"),
    "a reversed strip": ("regenerate_range", lambda r, s: (_range(10, 40)(r, s),
                                                           setattr(_on_nla(r, s), "use_reverse", True)),
                         r"NLA strip 'A' plays its action reversed: turn that off to edit it here, or make 'A' the "
                         r"active action"),
    "a range over two repeats": ("regenerate_range", lambda r, s: (_range(80, 100)(r, s),
                                                                   setattr(_on_nla(r, s), "repeat", 2.0)),
                                 r"frames 80-100 span two repeats of NLA strip 'A'"),
    "range outside a strip": ("regenerate_range", lambda r, s: (_range(10, 40)(r, s), _on_nla(r, s, start=101)),
                              r"frames 10-40 lie outside NLA strip 'A' \(action 'A'\) \(frames 101-190\)"),
    "range past a trimmed strip": ("regenerate_range", lambda r, s: (_range(60, 80)(r, s), _trimmed(r, s, 11, 40)),
                                   r"frames 60-80 lie outside NLA strip 'A' \(action 'A'\) \(frames 101-130\)"),
    "a strip past its keys": ("regenerate_range", lambda r, s: (_range(110, 120)(r, s), _trimmed(r, s, 200, 300)),
                              r"frames 110-120 play action frames 209-219 of NLA strip 'A', where 'A' keys frames 1-90"),
    "a strip's time animated": ("restyle", lambda r, s: setattr(_on_nla(r, s), "use_animated_time", True),
                                r"NLA strip 'A' plays its action through an animated strip time: turn that off"),
    "tweaking a strip": ("regenerate_range", lambda r, s: (_range(10, 40)(r, s), _tweaking(r, s)),
                         r"'GANim_Rig' is tweaking an NLA strip's action: leave tweak mode first"),
    "curve without points": ("follow_path", _curve([]), r"curve 'Empty' has no points"),
    "no curve": ("follow_path", lambda r, s: None, r"choose a curve object"),
}


def expected_message(case, model):
    if case == "transition too long":
        return rf"300-frame transition is longer .* \(at most {synthesis.max_transition(model)} frames\)"
    return BAD_INPUT[case][2]


class Recorder:
    """Stands in for the operator instance: records reports."""

    def __init__(self, op):
        self.reports = []
        self.run = lambda *args: op.run(self, *args)
        self.common = edit_operators._EditOperator.common

    def report(self, kind, message):
        self.reports.append((set(kind), message))


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_cancelled_with_a_clear_report(case, rig, settings, model):
    op_name, setup, _ = BAD_INPUT[case]
    message = expected_message(case, model)
    setup(rig, settings)
    before = {a.name: a.session_uid for a in bpy.data.actions}
    played = rig.obj.animation_data.action if rig.obj.animation_data else None
    op = next(c for c in edit_operators.CLASSES if c.bl_idname == f"ganim.{op_name}")
    recorder = Recorder(op)
    assert op.execute(recorder, bpy.context) == {"CANCELLED"}
    (kind, text), = recorder.reports
    assert kind == {"ERROR"} and "\n" not in text
    assert re.search(message, text, flags=re.IGNORECASE), text
    with pytest.raises(RuntimeError, match=re.escape(text[:30])):        # the UI shows the same report
        getattr(bpy.ops.ganim, op_name)()
    assert {a.name: a.session_uid for a in bpy.data.actions} == before
    assert (rig.obj.animation_data.action if rig.obj.animation_data else None) == played


# ------------------------------------------------------------------ mapped rigs

def mixamo_rig():
    obj = armature.build_armature(mixamo_tpose(), "mixamo", scale=0.01)
    rig_map.save_map(obj, rig_map.auto_map_rig(obj).mapping)
    return obj


def test_generate_onto_a_mapped_rig_keys_the_mapped_bones(settings, model):
    settings.frames, settings.start_frame = 30, 1
    obj = mixamo_rig()
    mapping = rig_map.load_map(obj)
    ok, message = panel.armature_status(obj, model)
    assert ok and "mapped rig" in message
    action = run_op(bpy.ops.ganim.generate_motion)
    skeleton = rigs.resolve(obj, model).skeleton()
    assert set(mapping.values()) <= set(skeleton.names) and "mixamorig:HeadTop_End" not in skeleton.names
    assert_keyed(obj, action, skeleton.names, 1, 30)
    feet = [mapping["foot_l"], mapping["foot_r"]]
    first = evaluated(obj, action, 1, feet)[0]
    later = evaluated(obj, action, 30, feet)[0]
    assert np.abs(later - first).max() > 0.05                         # the feet move

    # Blend on the mapped rig: its actions are read back through the map.
    second = run_op(bpy.ops.ganim.generate_motion)
    settings.blend_a, settings.blend_b, settings.blend_frames = action, second, 10
    blended = run_op(bpy.ops.ganim.blend_actions)
    assert_keyed(obj, blended, skeleton.names, 1, 70)


def test_a_loop_on_a_mapped_rig_closes_on_its_first_pose(settings, model):
    """The rig's foot lock looks at neighbouring frames; a cycle is retargeted between copies of itself,
    so its last key is its first pose again (moved on) and the Cycles offset adds travel, not drift."""
    obj = mixamo_rig()
    made = generate.generate_onto(obj, model, 48, labels={"content": "walk"}, seed=1, loop=True)
    names = [b.name for b in obj.data.bones]
    first, closing = (evaluated(obj, made.actions[0], f, names)[0] for f in (1, 49))
    travel = closing[names.index("mixamorig:Hips")] - first[names.index("mixamorig:Hips")]
    assert np.linalg.norm(travel) > 0.3
    np.testing.assert_allclose(closing - travel, first, atol=1e-4)
    np.testing.assert_allclose(evaluated(obj, made.actions[0], 49 + 10, names)[0],
                               evaluated(obj, made.actions[0], 1 + 10, names)[0] + travel, atol=1e-4)


def test_a_restyled_loop_on_a_mapped_rig_still_closes_on_its_first_pose(settings, model):
    """Restyle reads the loop through the rig's map and writes it back as a cycle (retargeted between
    copies of itself), so the restyled loop's last key is its first pose again, moved on."""
    obj = mixamo_rig()
    made = generate.generate_onto(obj, model, 48, labels={"content": "walk"}, seed=1, loop=True)
    restyled = edit.restyle(obj, model, {"style": "elderly"}, seed=2, drafts=1).action
    assert restyled.use_cyclic and restyled != made.actions[0]
    names = [b.name for b in obj.data.bones]
    first, closing = (evaluated(obj, restyled, f, names)[0] for f in (1, 49))
    travel = closing[names.index("mixamorig:Hips")] - first[names.index("mixamorig:Hips")]
    assert np.linalg.norm(travel) > 0.3
    np.testing.assert_allclose(closing - travel, first, atol=1e-4)


def test_follow_path_on_a_mapped_rig(settings, model):
    obj = mixamo_rig()
    curve = path_curve([(0.0, 0.0, 0.0), (0.0, 3.0, 0.0)])
    settings.path_curve, settings.path_timing, settings.path_frames = curve, "FRAMES", 60
    action = run_op(bpy.ops.ganim.follow_path)
    hips_bone = rig_map.load_map(obj)["hips"]
    track = np.array([evaluated(obj, action, f, [hips_bone])[0][0] for f in (1, 30, 60)])
    assert np.abs(track[:, 0]).max() < 0.1                            # on the line (the rig's own hips)
    np.testing.assert_allclose(track[[0, -1], 1], [0.0, 3.0], atol=0.1)


def test_a_mapped_rig_with_missing_bones_is_refused_before_writing(settings, model):
    obj = mixamo_rig()
    mapping = rig_map.load_map(obj)
    mapping["shin_l"] = "no-such-bone"
    mapping["thigh_r"] = mapping["thigh_l"]
    rig_map.save_map(obj, mapping)
    ok, message = panel.armature_status(obj, model)
    assert not ok and "shin_l" in message
    with pytest.raises(RuntimeError, match=r"bone map of 'mixamo' is incomplete: no bone for shin_l.*"
                                           r"one bone for several roles: thigh_l"):
        bpy.ops.ganim.generate_motion()
    assert len(bpy.data.actions) == 0


# ------------------------------------------------------------------ registration and panels

class Layout:
    """Stand-in layout (panels do not draw headless): records operators and props, checks icons."""

    icons = None

    def __init__(self, log):
        self.log = log
        if Layout.icons is None:
            Layout.icons = set(bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys())

    def operator(self, idname, **kwargs):
        assert kwargs.get("icon", "NONE") in self.icons, kwargs
        self.log.append(("operator", idname))

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, name
        self.log.append(("prop", name))

    def label(self, text="", **kwargs):
        assert kwargs.get("icon", "NONE") in self.icons, kwargs
        self.log.append(("label", text))

    def __getattr__(self, name):
        def call(*args, **kwargs):
            assert kwargs.get("icon", "NONE") in self.icons, kwargs
            self.log.append((name,))
            return self
        return call


def test_sub_panels_and_rig_mapping_are_registered_and_draw(rig, settings):
    for name in ("GANIM_OT_blend_actions", "GANIM_OT_regenerate_range", "GANIM_OT_keyframe_guided",
                 "GANIM_OT_restyle", "GANIM_OT_follow_path", "GANIM_OT_export_actions",
                 "GANIM_OT_auto_map_bones", "GANIM_OT_save_bone_map", "VIEW3D_PT_ganim_rig_map"):
        assert hasattr(bpy.types, name), name
    for op in edit_operators.CLASSES:
        assert {"REGISTER", "UNDO"} <= op.bl_options
    assert bpy.ops.ganim.auto_map_bones() == {"FINISHED"}
    drawn = {}
    for cls in (panel.VIEW3D_PT_ganim_blend, panel.VIEW3D_PT_ganim_edit, panel.VIEW3D_PT_ganim_rig_map):
        assert cls.bl_parent_id == "VIEW3D_PT_ganim"
        log = []
        cls.draw(SimpleNamespace(layout=Layout(log)), bpy.context)
        drawn[cls.bl_label] = [e[1] for e in log if e[0] == "operator"]
        if cls is panel.VIEW3D_PT_ganim_rig_map:
            assert ("template_list",) in log
    assert drawn == {"Blend": ["ganim.blend_actions"],
                     "Edit": ["ganim.regenerate_range", "ganim.keyframe_guided", "ganim.restyle",
                              "ganim.follow_path"],
                     "Rig Mapping": ["ganim.auto_map_bones", "ganim.save_bone_map", "ganim.export_actions"]}
