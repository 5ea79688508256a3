"""Scene settings behind the GANim panel (``scene.ganim``).

The model and label menus are dynamic enums.  Blender keeps only borrowed pointers
to the strings an items callback returns, so every item list is cached here for
the life of the session (one per model file version) and the same list object is
returned on every call.  Enum values are stored as ints in the .blend, so each model
gets a value derived from its path (stable when the folder's contents change) and
each label its index + 1 (0 = "Any": drawn from the training distribution when
generating, matched to the kept frames when editing).
"""

import os
import zlib

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty
from bpy.types import PropertyGroup

from ..core import model_file, synthesis
from . import generate, prefs

MAX_LABELS = 4          # label menus shown; further label columns are drawn at random
ANY = "ANY"
NO_MODEL = "NONE"

_alive = {}             # items lists handed to Blender: keep them referenced


def _keep(key, build):
    items = _alive.get(key)
    if items is None:
        items = _alive[key] = build()
    return items


def model_value(path):
    """Stable enum value for a model file: 0 for the shipped default, a path hash otherwise."""
    path = os.path.realpath(path)
    if path == os.path.realpath(generate.DEFAULT_MODEL):
        return 0
    return zlib.crc32(path.encode()) % 0x7FFFFFFE + 1


def _model_items(self, context):
    paths = generate.list_models(prefs.models_folder(context))

    def build():
        if not paths:
            return [(NO_MODEL, "No model found", "The shipped default model is missing", 0)]
        return [(str(p), "Default (shipped)" if p == generate.DEFAULT_MODEL else p.stem, str(p), model_value(p))
                for p in paths]
    return _keep(("models", tuple(paths)), build)


def _model_changed(self, context):
    for i in range(MAX_LABELS):
        setattr(self, f"label_{i}", ANY)
    try:  # the model's own temperature (`ganim sampling`), else the shipped default
        self.temperature = synthesis.temperature_for(generate.load_model(self.model_path()))
    except (model_file.ModelFileError, synthesis.SynthesisError):
        self.temperature = synthesis.TEMPERATURE


def _label_items(index):
    def items(self, context):
        try:
            model = generate.load_model(self.model_path())
        except model_file.ModelFileError:
            model = None
        columns = list(model.labels.items()) if model is not None else []

        def build():
            if index >= len(columns):
                return [(ANY, "Any", "This model has no such label", 0)]
            column, values = columns[index]
            return [(ANY, "Any", f"Generate: draw the {column} from the model's training data. "
                            f"Blend / Edit: the {column} the kept frames look like", 0)] + \
                   [(v, v, f"{column} = {v}", k + 1) for k, v in enumerate(values)]
        key = ("label", index) + ((columns[index][0], tuple(columns[index][1])) if index < len(columns) else ())
        return _keep(key, build)
    return items


def _label_prop(index):
    return EnumProperty(name=f"Label {index + 1}", items=_label_items(index), default=0,
                        description="Condition the generated motion on this label")


class GANimSettings(PropertyGroup):
    model: EnumProperty(
        name="Model", items=_model_items, default=0, update=_model_changed,
        description="Model to generate with: the shipped default, or .ganim files from the "
                    "folder set in the add-on preferences")
    label_0: _label_prop(0)
    label_1: _label_prop(1)
    label_2: _label_prop(2)
    label_3: _label_prop(3)
    frames: IntProperty(name="Frames", default=150, min=2, max=synthesis.MAX_FRAMES, soft_max=3000,
                        description="Length of each generated clip")
    count: IntProperty(name="Count", default=1, min=1, max=generate.MAX_COUNT, soft_max=16,
                       description="Number of variations to generate")
    seed: IntProperty(name="Seed", default=0, min=0,
                      description="Random seed: the same seed and settings give the same motion")
    own_temperature: BoolProperty(name="Model's Own", default=True,
                                  description="Draw at the temperature the model file records, per label where it "
                                              "records one (`ganim sampling`); off: at the temperature set here, "
                                              "for every clip")
    temperature: FloatProperty(name="Temperature", default=synthesis.TEMPERATURE, min=0.0,
                               max=synthesis.MAX_TEMPERATURE, soft_max=1.5, step=10, precision=2,
                               description="How far each variation strays from the typical motion of its "
                                           "labels: 0 gives one motion per label, 1 the network as trained "
                                           "(used when Model's Own is off)")
    start_frame: IntProperty(name="Start Frame", default=1, description="Frame of the first key")
    target: EnumProperty(
        name="Result", default="NEW",
        items=[("NEW", "New Action", "Write each variation as a new action; the first plays", 0),
               ("REPLACE", "Replace Active", "Replace the keys of the armature's active action (one clip)", 1),
               ("NLA", "NLA Strips", "One NLA track and strip per variation; the first plays", 2)])
    action_name: StringProperty(name="Action Name", default="",
                                description="Name for the new action(s); empty: named after the armature "
                                            "and labels")
    overwrite: BoolProperty(name="Overwrite", default=False,
                            description="Replace an existing action that has the chosen name")
    set_frame_range: BoolProperty(name="Set Scene Range", default=True,
                                  description="Set the scene's frame range to the generated clip")
    loop: BoolProperty(name="Loop", default=False,
                       description="Make each clip a cycle: its end leads back into its start and its F-curves "
                                   "repeat (Cycles modifiers), the root moving on by each cycle's travel")
    loop_in_place: BoolProperty(name="In Place", default=False,
                                description="Loop: take the root's travel out (a treadmill cycle; its sway stays)")
    scene_rate: BoolProperty(name="Scene Frame Rate", default=True,
                             description="Key new clips (Generate, Follow Path) at the scene's frame rate, "
                                         "resampled from the model's, so they play at the speed they were made "
                                         "at; off: one key per model frame")

    # Blend / Edit / Follow Path (edit.py); results are new actions unless edit_replace.
    blend_a: PointerProperty(name="Action A", type=bpy.types.Action, description="The action that plays first")
    blend_b: PointerProperty(name="Action B", type=bpy.types.Action,
                             description="The action that follows, moved to continue A")
    blend_frames: IntProperty(name="Transition", default=30, min=0, soft_max=240,
                              description="Frames between the end of A and the start of B")
    blend_method: EnumProperty(
        name="Method", default="GENERATED",
        items=[("GENERATED", "Generated", "The model makes the transition", 0),
               ("CROSSFADE", "Crossfade", "Classic blend: slerp from A's last pose to B's first", 1)])
    edit_use_scene_range: BoolProperty(name="Scene Range", default=True,
                                       description="Edit the scene's frame range; off: the start and end below")
    edit_start: IntProperty(name="Start", default=1, description="First frame to edit")
    edit_end: IntProperty(name="End", default=60, description="Last frame to edit (included)")
    edit_key_frames: StringProperty(
        name="Key Frames", default="",
        description="Frames whose poses to keep, e.g. 1, 20, 45; empty: where the root bone has keys")
    restyle_strength: FloatProperty(
        name="Style Strength", default=synthesis.STYLE_STRENGTH, min=0.0, max=3.0,
        description="Restyle: how far past the chosen style, away from the action's own (0: a plain label swap)")
    restyle_drafts: IntProperty(
        name="Drafts", default=synthesis.RESTYLE_DRAFTS, min=1, max=synthesis.MAX_DRAFTS,
        description="Restyle: noise draws to make; the one the model's label classifier reads most clearly "
                    "as the chosen style is kept (each draw is one forward pass)")
    restyle_keep_height: BoolProperty(
        name="Keep Height", default=False,
        description="Restyle: keep the root's height exactly; off, it moves to the new style's level and "
                    "bounce (an elderly walk bobs less). The path over the ground is kept either way")
    edit_replace: BoolProperty(name="Replace Active", default=False,
                               description="Replace the keys of the active action instead of writing a new one")
    path_curve: PointerProperty(name="Path", type=bpy.types.Object, poll=lambda self, obj: obj.type == "CURVE",
                                description="Curve the character's root follows")
    path_timing: EnumProperty(
        name="Timing", default="SPEED",
        items=[("SPEED", "Speed", "Walk the curve at a given speed", 0),
               ("FRAMES", "Frames", "Walk the whole curve in a given number of frames", 1)])
    path_speed: FloatProperty(name="Speed", default=1.3, min=0.01, soft_max=8.0, unit="VELOCITY",
                              description="Speed along the curve in metres per second")
    path_frames: IntProperty(name="Frames", default=150, min=2, max=synthesis.MAX_FRAMES,
                             description="Frames to walk the whole curve in")

    def edit_range(self, scene):
        """(start, end) scene frames to edit, end included."""
        if self.edit_use_scene_range:
            return scene.frame_start, scene.frame_end
        return self.edit_start, self.edit_end

    def clip_fps(self, scene, model):
        """The frame rate Generate and Follow Path key at (see ``scene_rate``)."""
        return generate.clip_fps(scene, model, self.scene_rate)

    def model_path(self):
        """The chosen model file; the shipped default when none (or a vanished one) is chosen."""
        chosen = self.model
        return chosen if chosen and chosen != NO_MODEL else str(generate.DEFAULT_MODEL)

    def chosen_labels(self, model):
        """``{column: value}`` for the label menus not left at Any."""
        out = {}
        for i, column in enumerate(list(model.labels)[:MAX_LABELS]):
            value = getattr(self, f"label_{i}")
            if value and value != ANY:
                out[column] = value
        return out


CLASSES = (GANimSettings,)


def attach():
    bpy.types.Scene.ganim = PointerProperty(type=GANimSettings)


def detach():
    del bpy.types.Scene.ganim
