"""Add-on preferences: where the user keeps extra .ganim model files.

The add-on's id is its top-level package: ``blender_ganim`` when loaded as a plain
module, ``bl_ext.<repo>.blender_ganim`` when installed as an extension.  Deriving
it from ``__package__`` makes the preferences attach to the add-on either way.
"""

import bpy
from bpy.props import StringProperty
from bpy.types import AddonPreferences

from . import generate

ADDON_ID = __package__.rpartition(".")[0]


class GANimPreferences(AddonPreferences):
    bl_idname = ADDON_ID

    models_folder: StringProperty(
        name="Models Folder",
        description="Folder with extra .ganim model files to offer beside the shipped default",
        subtype="DIR_PATH",
        default="",
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "models_folder")
        found = generate.list_models(models_folder(context))
        layout.label(text=f"{len(found)} model file{'s' * (len(found) != 1)} available "
                          "(the shipped default first)", icon="INFO")


def get(context=None):
    """This add-on's preferences, or None when it runs without being enabled as an add-on."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def models_folder(context=None):
    """The models folder as an absolute path ('' when unset)."""
    prefs = get(context)
    folder = getattr(prefs, "models_folder", "") if prefs is not None else ""
    return bpy.path.abspath(folder) if folder else ""


CLASSES = (GANimPreferences,)
