"""UI pieces for the bone map: (role, bone) rows on the armature, a list to edit them, two operators.

Not registered by the add-on yet: ``register()`` here adds the classes and the
``Object.ganim_bone_pairs`` / ``Object.ganim_bone_index`` properties; the panel can
call :func:`draw_bone_map` to show them.
"""

import bpy

from ..core import retarget
from . import rig_map, rigs


class GANIM_PG_bone_pair(bpy.types.PropertyGroup):
    """One role and the rig bone that plays it (empty = unmapped)."""

    role: bpy.props.StringProperty(name="Role")
    bone: bpy.props.StringProperty(name="Bone")


class GANIM_UL_bone_map(bpy.types.UIList):
    """Role label + a bone picker searching the armature's bones."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        required = item.role in retarget.REQUIRED
        missing = required and (not item.bone or data.data.bones.get(item.bone) is None)
        row.label(text=item.role.replace("_", " "), icon="ERROR" if missing else "BONE_DATA")
        row.prop_search(item, "bone", data.data, "bones", text="")


def pairs_to_map(obj):
    return {p.role: p.bone for p in obj.ganim_bone_pairs if p.bone}


def fill_pairs(obj, mapping):
    """One row per role, in ROLES order."""
    obj.ganim_bone_pairs.clear()
    for role in retarget.ROLES:
        item = obj.ganim_bone_pairs.add()
        item.role = role
        item.bone = mapping.get(role, "") or ""


def _armature(context):
    obj = rigs.armature_of(context.active_object)
    return obj if obj is not None and obj.type == "ARMATURE" else None


class GANIM_OT_auto_map_bones(bpy.types.Operator):
    """Guess which bone plays each role (presets for Mixamo, Rigify, Unreal, CMU, SMPL, else by name)"""

    bl_idname = "ganim.auto_map_bones"
    bl_label = "Auto-map Bones"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _armature(context) is not None

    def execute(self, context):
        obj = _armature(context)
        found = rig_map.auto_map_rig(obj)
        fill_pairs(obj, found.mapping)
        missing, ambiguous = retarget.map_problems(found.mapping, [b.name for b in obj.data.bones], found.ambiguous)
        how = f"preset {found.preset}" if found.preset else "bone names"
        if missing or ambiguous:
            parts = []
            if missing:
                parts.append(f"missing: {', '.join(missing)}")
            if ambiguous:
                parts.append("check: " + ", ".join(f"{r} ({'/'.join(b)})" for r, b in ambiguous.items()))
            self.report({"WARNING"}, f"mapped by {how}; " + "; ".join(parts))
        else:
            self.report({"INFO"}, f"mapped {len(found.mapping)} roles by {how}")
        return {"FINISHED"}


class GANIM_OT_save_bone_map(bpy.types.Operator):
    """Store the bone map on the armature (used when clips are retargeted onto it)"""

    bl_idname = "ganim.save_bone_map"
    bl_label = "Save Mapping"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        obj = _armature(context)
        return obj is not None and len(obj.ganim_bone_pairs) > 0

    def execute(self, context):
        obj = _armature(context)
        mapping = pairs_to_map(obj)
        missing, ambiguous = retarget.map_problems(mapping, [b.name for b in obj.data.bones])
        rig_map.save_map(obj, mapping)
        if missing or ambiguous:
            shared = ", ".join(sorted(ambiguous))
            self.report({"WARNING"}, "saved; " + "; ".join(
                s for s in (f"missing: {', '.join(missing)}" if missing else "",
                            f"one bone for several roles: {shared}" if shared else "") if s))
        else:
            self.report({"INFO"}, f"saved the bone map on {obj.name}")
        return {"FINISHED"}


def draw_bone_map(layout, obj):
    """For a panel: the list and the two buttons."""
    col = layout.column()
    row = col.row(align=True)
    row.operator(GANIM_OT_auto_map_bones.bl_idname, icon="BONE_DATA")
    row.operator(GANIM_OT_save_bone_map.bl_idname, icon="FILE_TICK")
    if len(obj.ganim_bone_pairs):
        col.template_list("GANIM_UL_bone_map", "", obj, "ganim_bone_pairs", obj, "ganim_bone_index", rows=6)


CLASSES = (GANIM_PG_bone_pair, GANIM_UL_bone_map, GANIM_OT_auto_map_bones, GANIM_OT_save_bone_map)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Object.ganim_bone_pairs = bpy.props.CollectionProperty(type=GANIM_PG_bone_pair)
    bpy.types.Object.ganim_bone_index = bpy.props.IntProperty(name="Active Role", default=0)


def unregister():
    del bpy.types.Object.ganim_bone_index
    del bpy.types.Object.ganim_bone_pairs
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
