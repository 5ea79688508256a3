"""View3D > Sidebar > GANim: pick a model and labels, say where the result goes, generate.

The panel also tells the user up front whether the active object can take the
model's motion (and offers Create Armature when it cannot), so the operator's
error report is the exception rather than the way to find out.
"""

from bpy.types import Panel

from ..core import model_file
from . import armature, generate, operators, props


def armature_status(obj, model):
    """``(ok, message)``: can ``obj`` take this model's motion, and if not, why."""
    if obj is None:
        return False, "No active object"
    if obj.type != "ARMATURE":
        return False, f"{obj.name} is not an armature"
    if obj.library is not None:
        return False, f"{obj.name} is linked from a library"
    missing = armature.missing_bones(obj, model.skeleton)
    if missing:
        return False, f"{obj.name} lacks {len(missing)} of {len(model.skeleton)} bones"
    return True, f"{obj.name}: {len(model.skeleton)} bones match"


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

        col = layout.column(align=True)
        col.prop(settings, "frames")
        col.prop(settings, "count")
        col.prop(settings, "seed")
        col.prop(settings, "start_frame")

        layout.prop(settings, "target", text="Result")
        if settings.target != "REPLACE":
            row = layout.row(align=True)
            row.prop(settings, "action_name", text="Name")
            row.prop(settings, "overwrite", text="", icon="FILE_REFRESH")
        layout.prop(settings, "set_frame_range")

        ok, message = armature_status(context.active_object, model)
        box = layout.box()
        box.label(text=message, icon="CHECKMARK" if ok else "ERROR")
        if not ok:
            box.operator(operators.GANIM_OT_create_armature.bl_idname, icon="ARMATURE_DATA")
        layout.operator(operators.GANIM_OT_generate_motion.bl_idname, icon="PLAY")


CLASSES = (VIEW3D_PT_ganim,)
