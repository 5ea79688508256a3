"""View3D > Sidebar > GANim: pick a model and labels, say where the result goes, generate.

The panel also tells the user up front whether the active object can take the
model's motion (and offers Create Armature when it cannot), so the operator's
error report is the exception rather than the way to find out.
"""

from bpy.types import Panel

from ..core import model_file, synthesis
from . import edit, edit_operators, generate, operators, props, rig_map_ui, rigs


def armature_status(obj, model):
    """``(ok, message)``: can ``obj`` take this model's motion (directly or as a mapped rig), and if not, why."""
    return rigs.status(obj, model)


class VIEW3D_PT_ganim(Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "GANim"
    bl_label = "GANim"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.ganim
        layout.prop(settings, "model", text="Model")
        try:
            model = generate.load_model(settings.model_path())
        except model_file.ModelFileError as e:
            layout.label(text=str(e), icon="ERROR")
            return

        labels = list(model.labels)
        col = layout.column(align=True)
        for i, column in enumerate(labels[:props.MAX_LABELS]):
            col.prop(settings, f"label_{i}", text=column.replace("_", " ").title())
        if len(labels) > props.MAX_LABELS:
            col.label(text=f"{len(labels) - props.MAX_LABELS} more labels drawn at random", icon="INFO")

        if synthesis.unseen_note(model, settings.chosen_labels(model)):
            col.label(text="No training take has these labels together", icon="ERROR")
        col = layout.column(align=True)
        col.prop(settings, "frames")
        typical = synthesis.overlong(model, settings.chosen_labels(model), settings.frames,
                                     settings.clip_fps(context.scene, model))
        if typical:  # e.g. a raise: one motion, repeated when asked for much more
            col.label(text=f"These labels' takes run ~{typical} frames: longer clips may repeat", icon="INFO")
            col.operator(operators.GANIM_OT_use_label_length.bl_idname, text=f"Use {typical} Frames")
        col.prop(settings, "count")
        col.prop(settings, "seed")
        row = col.row(align=True)
        row.prop(settings, "own_temperature", text="", icon="LINKED" if settings.own_temperature else "UNLINKED")
        if settings.own_temperature:  # what the model file records (`ganim sampling`), maybe per label
            per_label = any("temperature" in v for t in synthesis.label_sampling(model).values() for v in t.values())
            row.label(text=f"Temperature: model's own, {synthesis.temperature_for(model):g}"
                           + (" (some labels their own)" if per_label else ""))
        else:
            row.prop(settings, "temperature")
        col.prop(settings, "start_frame")
        row = col.row(align=True)
        row.prop(settings, "loop")
        if settings.loop:
            row.prop(settings, "loop_in_place")

        layout.prop(settings, "target", text="Result")
        if settings.target != "REPLACE":
            row = layout.row(align=True)
            row.prop(settings, "action_name", text="Name")
            row.prop(settings, "overwrite", text="", icon="FILE_REFRESH")
        layout.prop(settings, "set_frame_range")
        fps, made_at = generate.scene_fps(context.scene), float(model.header["fps"])
        if not synthesis.same_rate(fps, made_at):  # e.g. Blender's default 24 fps, a model made at 30
            layout.prop(settings, "scene_rate", text=f"Key at Scene's {fps:g} fps (model: {made_at:g})")

        ok, message = armature_status(rigs.armature_of(context.active_object), model)
        box = layout.box()
        box.label(text=message, icon="CHECKMARK" if ok else "ERROR")
        if not ok:
            box.operator(operators.GANIM_OT_create_armature.bl_idname, icon="ARMATURE_DATA")
        layout.operator(operators.GANIM_OT_generate_motion.bl_idname, icon="PLAY")


def _model(context):
    try:
        return generate.load_model(context.scene.ganim.model_path())
    except model_file.ModelFileError:
        return None


class _SubPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "GANim"
    bl_parent_id = "VIEW3D_PT_ganim"
    bl_options = {"DEFAULT_CLOSED"}


class VIEW3D_PT_ganim_blend(_SubPanel, Panel):
    """Join two actions: generated transition or classic crossfade."""
    bl_label = "Blend"

    def draw(self, context):
        layout = self.layout
        s = context.scene.ganim
        col = layout.column(align=True)
        col.prop(s, "blend_a", text="A")
        col.prop(s, "blend_b", text="B")
        col.prop(s, "blend_frames")
        layout.prop(s, "blend_method", expand=True)
        layout.prop(s, "edit_replace")
        layout.operator(edit_operators.GANIM_OT_blend_actions.bl_idname, icon="ACTION_TWEAK")


class VIEW3D_PT_ganim_edit(_SubPanel, Panel):
    """Regenerate a frame range, generate through key poses, restyle, follow a curve."""
    bl_label = "Edit"

    def draw(self, context):
        layout = self.layout
        s = context.scene.ganim
        obj = rigs.armature_of(context.active_object)
        source = edit.find_source(obj)  # the active action, or where there is none the active NLA strip's
        if source is None:
            layout.label(text="No active action", icon="INFO")
        elif source.strip is not None:
            layout.label(text=f"NLA strip: {source.strip.name} ({source.action.name})", icon="NLA")
        else:
            layout.label(text=f"Active action: {source.action.name}", icon="ACTION")
        col = layout.column(align=True)
        col.prop(s, "edit_use_scene_range")
        if not s.edit_use_scene_range:
            row = col.row(align=True)
            row.prop(s, "edit_start")
            row.prop(s, "edit_end")
        layout.operator(edit_operators.GANIM_OT_regenerate_range.bl_idname, icon="FILE_REFRESH")
        layout.prop(s, "edit_key_frames")
        layout.operator(edit_operators.GANIM_OT_keyframe_guided.bl_idname, icon="KEYFRAME")
        row = layout.row(align=True)
        row.operator(edit_operators.GANIM_OT_restyle.bl_idname, icon="BRUSH_DATA")
        row.prop(s, "restyle_strength", text="Strength")
        row.prop(s, "restyle_drafts", text="Drafts")
        layout.prop(s, "restyle_keep_height")
        layout.prop(s, "edit_replace")
        box = layout.box()
        box.prop(s, "path_curve")
        box.prop(s, "path_timing", expand=True)
        box.prop(s, "path_speed" if s.path_timing == "SPEED" else "path_frames")
        box.operator(edit_operators.GANIM_OT_follow_path.bl_idname, icon="CURVE_PATH")


class VIEW3D_PT_ganim_rig_map(_SubPanel, Panel):
    """Bone mapping for rigs that are not the model's skeleton, and export for training."""
    bl_label = "Rig Mapping"

    @classmethod
    def poll(cls, context):
        obj = rigs.armature_of(context.active_object)
        return obj is not None and obj.type == "ARMATURE"

    def draw(self, context):
        layout = self.layout
        obj = rigs.armature_of(context.active_object)
        model = _model(context)
        if model is not None:
            ok, message = rigs.status(obj, model)
            layout.label(text=message, icon="CHECKMARK" if ok else "ERROR")
        rig_map_ui.draw_bone_map(layout, obj)
        layout.operator("ganim.export_actions", icon="EXPORT")


CLASSES = (VIEW3D_PT_ganim, VIEW3D_PT_ganim_blend, VIEW3D_PT_ganim_edit, VIEW3D_PT_ganim_rig_map)
