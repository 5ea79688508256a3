"""The bpy layer: the only code in blender_ganim that imports bpy.

Small plain modules (armature building, action writing and reading) that the
add-on's operators call and that tests can call headless, without any UI.
"""
