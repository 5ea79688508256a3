"""The pure motion core: numpy only (no bpy, no torch).

Shared by the Blender add-on, the trainer and the tests, so there is one
implementation of rotations, skeletons, BVH, features and the generator.
"""
