"""blender-ganim trainer: PyTorch training, sampling and evaluation on top of blender_ganim.core."""
