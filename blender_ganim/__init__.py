"""blender-ganim: generate character motion with a temporal GAN, inside Blender.

This package doubles as the Blender extension (see blender_manifest.toml) and as a
plain library: importing it needs no bpy, so the trainer and the tests can use
``blender_ganim.core``.  Only register()/unregister() pull in the bpy layer.
"""

_cli_handle = None


def _classes():
    from .blender import edit_operators, operators, panel, prefs, props
    return (*prefs.CLASSES, *props.CLASSES, *operators.CLASSES, *edit_operators.CLASSES, *panel.CLASSES)


def register():
    """Register preferences, scene settings, operators, bone mapping, export, the sidebar panels and ``-c ganim``."""
    global _cli_handle
    import bpy

    from .blender import cli, export_actions, props, rig_map_ui
    rig_map_ui.register()          # the panel's Rig Mapping box draws its list
    export_actions.register()
    for cls in _classes():
        bpy.utils.register_class(cls)
    props.attach()
    if hasattr(bpy.utils, "register_cli_command"):
        _cli_handle = bpy.utils.register_cli_command(cli.PROG, cli.run)


def unregister():
    global _cli_handle
    import bpy

    from .blender import export_actions, props, rig_map_ui
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    props.detach()
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
    export_actions.unregister()
    rig_map_ui.unregister()
