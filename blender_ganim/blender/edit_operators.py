"""The Blend, Edit and Follow Path buttons: thin wrappers over edit.py.

Each reads the panel's settings, calls one edit function and reports: a user error
is one ERROR line and CANCELLED with nothing written; success is one undo step.
"""

from bpy.types import Operator

from ..core import synthesis
from . import edit, generate, rigs
from .operators import _message


def _armature(context):
    """The armature the operators work on: the active object's (:func:`rigs.armature_of`)."""
    return rigs.armature_of(context.active_object)


class _EditOperator:
    """Shared execute: load the model, run :meth:`run`, report."""
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.ganim
        try:
            model = generate.load_model(settings.model_path())
            result = self.run(context, settings, model)
        except edit.USER_ERRORS as e:
            self.report({"ERROR"}, _message(e))
            return {"CANCELLED"}
        self.report({"INFO"}, _message(result.summary()))
        for warning in result.warnings:
            self.report({"WARNING"}, _message(warning))
        return {"FINISHED"}

    @staticmethod
    def common(context, settings, model):
        return dict(labels=settings.chosen_labels(model), seed=settings.seed,
                    replace=settings.edit_replace, scene=context.scene)


class GANIM_OT_blend_actions(_EditOperator, Operator):
    """Join action A and action B with a generated transition or a classic crossfade, as a new action"""
    bl_idname = "ganim.blend_actions"
    bl_label = "Blend Actions"

    def run(self, context, s, model):
        return edit.blend(_armature(context), model, s.blend_a, s.blend_b, s.blend_frames,
                          method=s.blend_method, **self.common(context, s, model))


class GANIM_OT_regenerate_range(_EditOperator, Operator):
    """Regenerate the chosen frames of the active action, keeping the frames around them"""
    bl_idname = "ganim.regenerate_range"
    bl_label = "Regenerate Range"

    def run(self, context, s, model):
        start, end = s.edit_range(context.scene)
        return edit.regenerate_range(_armature(context), model, start, end, **self.common(context, s, model))


class GANIM_OT_keyframe_guided(_EditOperator, Operator):
    """Generate the chosen frames anew through the rig's own key poses"""
    bl_idname = "ganim.keyframe_guided"
    bl_label = "Generate Through Keys"

    def run(self, context, s, model):
        start, end = s.edit_range(context.scene)
        frames = synthesis.parse_frames(s.edit_key_frames) if s.edit_key_frames.strip() else None
        return edit.keyframe_guided(_armature(context), model, start, end, frames=frames,
                                    **self.common(context, s, model))


class GANIM_OT_restyle(_EditOperator, Operator):
    """Regenerate the active action with the panel's labels, keeping its path and timing (a loop stays a loop)"""
    bl_idname = "ganim.restyle"
    bl_label = "Restyle"

    def run(self, context, s, model):
        return edit.restyle(_armature(context), model, strength=s.restyle_strength, drafts=s.restyle_drafts,
                            keep_height=s.restyle_keep_height, **self.common(context, s, model))


class GANIM_OT_follow_path(_EditOperator, Operator):
    """Generate a clip whose root follows the chosen curve"""
    bl_idname = "ganim.follow_path"
    bl_label = "Follow Path"

    def run(self, context, s, model):
        timing = dict(speed=s.path_speed) if s.path_timing == "SPEED" else dict(frames=s.path_frames)
        return edit.follow_path(_armature(context), model, s.path_curve, start_frame=s.start_frame,
                                scene_rate=s.scene_rate, **timing, **self.common(context, s, model))


CLASSES = (GANIM_OT_blend_actions, GANIM_OT_regenerate_range, GANIM_OT_keyframe_guided,
           GANIM_OT_restyle, GANIM_OT_follow_path)
