"""The panel's buttons: Generate Motion, Create Armature and Use Takes' Length.

Both are thin: the work is in generate.py, shared with the command line.  Problems
the user can fix come back as one ERROR report and CANCELLED (nothing written);
each operator is one undo step.
"""

import bpy
from bpy.types import Operator

from ..core import synthesis
from . import generate, rigs


def _message(error):
    """A report line: the error's own message, capitalised, on one line."""
    text = " ".join(str(error).split())
    return text[:1].upper() + text[1:]


def _chosen_model(operator, context):
    """The panel's chosen model, or None after an ERROR report saying why it cannot be read."""
    try:
        return generate.load_model(context.scene.ganim.model_path())
    except generate.USER_ERRORS as e:
        operator.report({"ERROR"}, _message(e))
        return None


class GANIM_OT_generate_motion(Operator):
    """Generate motion with the chosen model onto the active armature"""
    bl_idname = "ganim.generate_motion"
    bl_label = "Generate Motion"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.ganim
        try:
            model = generate.load_model(settings.model_path())
            result = generate.generate_onto(
                rigs.armature_of(context.active_object), model, settings.frames, count=settings.count,
                labels=settings.chosen_labels(model), seed=settings.seed,
                start_frame=settings.start_frame, target=settings.target,
                action_name=settings.action_name.strip() or None, overwrite=settings.overwrite,
                set_frame_range=settings.set_frame_range, scene=context.scene,
                temperature=None if settings.own_temperature else settings.temperature,
                scene_rate=settings.scene_rate, loop=settings.loop, in_place=settings.loop_in_place)
        except generate.USER_ERRORS as e:
            self.report({"ERROR"}, _message(e))
            return {"CANCELLED"}
        for warning in result.warnings:
            self.report({"WARNING"}, _message(warning))
        self.report({"INFO"}, _message(result.summary()))
        return {"FINISHED"}


class GANIM_OT_create_armature(Operator):
    """Add an armature with the chosen model's skeleton at the 3D cursor"""
    bl_idname = "ganim.create_armature"
    bl_label = "Create Armature"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        model = _chosen_model(self, context)
        if model is None:
            return {"CANCELLED"}
        if context.mode != "OBJECT" and context.active_object is not None:
            bpy.ops.object.mode_set(mode="OBJECT")
        for obj in context.view_layer.objects:
            if obj.select_get():
                obj.select_set(False)
        try:
            obj = generate.create_armature(model, location=context.scene.cursor.location)
        except (ValueError, RuntimeError) as e:
            self.report({"ERROR"}, _message(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Created armature {obj.name!r} with the model's {len(obj.data.bones)} bones")
        return {"FINISHED"}


class GANIM_OT_use_label_length(Operator):
    """Set Frames to how long the training takes of the chosen labels run (a raise is one motion of
    ~70-95 frames; asked for much more, the network repeats it)"""
    bl_idname = "ganim.use_label_length"
    bl_label = "Use Takes' Length"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings, model = context.scene.ganim, _chosen_model(self, context)
        if model is None:
            return {"CANCELLED"}
        typical = synthesis.typical_frames(model, settings.chosen_labels(model),
                                           settings.clip_fps(context.scene, model))
        if typical is None:
            self.report({"ERROR"}, "The model does not say how long these labels' takes run (choose a label, or "
                                   "add the lengths with `ganim fit-labels`)")
            return {"CANCELLED"}
        settings.frames = typical
        self.report({"INFO"}, f"Frames set to {typical}, the median length of these labels' training takes")
        return {"FINISHED"}


CLASSES = (GANIM_OT_generate_motion, GANIM_OT_create_armature, GANIM_OT_use_label_length)
