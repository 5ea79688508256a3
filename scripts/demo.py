"""Demo: generate a few styles of motion with the shipped model, headless, and look at them.

Run with the bpy-wheel Python from the repository root:

    python scripts/demo.py [--out out/demo] [--frames 150] [--seed 0]

Writes
  out/demo/demo.blend     one armature per style side by side, each playing its own action
                          (named ganim_<style>_<content>), with stand-in body meshes and a camera
  out/demo/bvh/*.bvh      the same clips as BVH (training skeleton, names and units)
  out/demo/preview.png    a Workbench still: one row per style, the figure every few frames
                          left to right (a chronophotograph), so the motion reads at a glance

Armatures do not render, so each bone gets a stand-in: a tapered cylinder (a sphere
for the head) skinned rigidly to it.  Everything goes through the add-on's own
generate_onto, the code behind the Generate Motion button.
"""

import argparse
import contextlib
import io
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing

import numpy as np  # noqa: E402

with contextlib.redirect_stdout(io.StringIO()):
    import bpy  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402

from blender_ganim.blender import generate  # noqa: E402
from blender_ganim.core import bvh  # noqa: E402

PREFERRED_STYLES = ("normal", "elderly", "feminine", "exhausted", "masculine", "youthful", "active")
COLOURS = ((0.85, 0.45, 0.25), (0.30, 0.55, 0.85), (0.45, 0.70, 0.35), (0.75, 0.40, 0.70),
           (0.85, 0.75, 0.30), (0.40, 0.75, 0.75), (0.60, 0.60, 0.60))
RIG_SPACING = 1.5      # metres between the rigs in demo.blend
COLUMN_SPACING = 0.75  # metres between poses in the preview
ROW_HEIGHT = 2.3       # metres between preview rows
SIDES = 10             # cylinder sides of the stand-in limbs


# ------------------------------------------------------------------ what to generate

def choose_labels(model, count):
    """Up to ``count`` label sets: one per style (preferred ones first), walking when the model can."""
    labels = model.labels
    column = "style" if "style" in labels else next(iter(labels), None)
    if column is None:
        return [{} for _ in range(count)]
    values = labels[column]
    ordered = [v for v in PREFERRED_STYLES if v in values] + [v for v in values if v not in PREFERRED_STYLES]
    extra = {"content": "walk"} if "walk" in labels.get("content", ()) else {}
    return [{column: v, **extra} for v in ordered[:count]]


# ------------------------------------------------------------------ stand-in bodies

def _cylinder(length, r0, r1):
    """Tapered cylinder along +Y from 0 to ``length`` (bone space): vertices, faces."""
    a = np.linspace(0.0, 2.0 * np.pi, SIDES, endpoint=False)
    ring = np.stack([np.cos(a), np.zeros_like(a), np.sin(a)], axis=-1)
    verts = np.concatenate([ring * r0, ring * r1 + [0.0, length, 0.0]])
    faces = [(i, (i + 1) % SIDES, SIDES + (i + 1) % SIDES, SIDES + i) for i in range(SIDES)]
    faces += [tuple(range(SIDES))[::-1], tuple(range(SIDES, 2 * SIDES))]
    return verts, faces


def _sphere(radius, centre, rings=8, segments=12):
    verts = [(0.0, radius, 0.0)]
    for i in range(1, rings):
        theta = math.pi * i / rings
        for j in range(segments):
            phi = 2.0 * math.pi * j / segments
            verts.append((radius * math.sin(theta) * math.cos(phi), radius * math.cos(theta),
                          radius * math.sin(theta) * math.sin(phi)))
    verts.append((0.0, -radius, 0.0))
    last = len(verts) - 1
    faces = [(0, 1 + (j + 1) % segments, 1 + j) for j in range(segments)]
    for i in range(rings - 2):
        a, b = 1 + i * segments, 1 + (i + 1) * segments
        faces += [(a + j, a + (j + 1) % segments, b + (j + 1) % segments, b + j) for j in range(segments)]
    base = 1 + (rings - 2) * segments
    faces += [(last, base + j, base + (j + 1) % segments) for j in range(segments)]
    return np.asarray(verts) + centre, faces


def add_stand_in(rig, colour):
    """A mesh skinned rigidly to ``rig``'s bones (one vertex group per bone) so the figure renders."""
    verts, faces, groups = [], [], []
    for bone in rig.data.bones:
        if bone.parent is None and len(bone.children) == 1 and "root" in bone.name.lower():
            continue                                  # the ground-level root joint: no body part
        m = np.array(bone.matrix_local)
        if "head" in bone.name.lower() and not bone.children:
            v, f = _sphere(0.1, [0.0, 0.07, 0.0])
        else:
            r = float(np.clip(0.16 * bone.length, 0.018, 0.05))
            v, f = _cylinder(bone.length, r, 0.8 * r)
        start = sum(len(g[1]) for g in groups)
        world = v @ m[:3, :3].T + m[:3, 3]
        groups.append((bone.name, range(start, start + len(world))))
        verts.extend(world.tolist())
        faces.extend(tuple(i + start for i in face) for face in f)
    mesh = bpy.data.meshes.new(f"{rig.name}_body")
    mesh.from_pydata(verts, [], faces)
    mesh.update()
    body = bpy.data.objects.new(f"{rig.name}_body", mesh)
    for name, indices in groups:
        body.vertex_groups.new(name=name).add(list(indices), 1.0, "REPLACE")
    body.parent = rig
    body.modifiers.new("Armature", "ARMATURE").object = rig
    body.color = (*colour, 1.0)
    rig.users_collection[0].objects.link(body)
    return body


# ------------------------------------------------------------------ scene

def add_camera(scene, name, location, rotation, ortho_scale=None, lens=35.0):
    cam = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    cam.location, cam.rotation_euler = location, rotation
    if ortho_scale:
        cam.data.type, cam.data.ortho_scale = "ORTHO", ortho_scale
    else:
        cam.data.lens = lens
    scene.collection.objects.link(cam)
    scene.camera = cam
    return cam


def add_box(scene, name, centre, size, colour):
    """An axis-aligned box (ground slabs)."""
    sx, sy, sz = (s / 2.0 for s in size)
    corners = [(x, y, z) for x in (-sx, sx) for y in (-sy, sy) for z in (-sz, sz)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(corners, [], faces)
    obj = bpy.data.objects.new(name, mesh)
    obj.location, obj.color = centre, (*colour, 1.0)
    scene.collection.objects.link(obj)
    return obj


def add_text(scene, text, location, size=0.28):
    curve = bpy.data.curves.new(f"label_{text}", "FONT")
    curve.body, curve.size = text, size
    obj = bpy.data.objects.new(f"label_{text}", curve)
    obj.location, obj.rotation_euler = location, (math.pi / 2, 0.0, 0.0)
    obj.color = (0.1, 0.1, 0.1, 1.0)
    scene.collection.objects.link(obj)
    return obj


def workbench(scene, width, height):
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    for option in dir(scene.render):  # no metadata in the PNG: it would carry this machine's paths
        if option.startswith("use_stamp") and isinstance(getattr(scene.render, option), bool):
            setattr(scene.render, option, False)
    shading = scene.display.shading
    shading.light, shading.color_type = "STUDIO", "OBJECT"
    shading.show_shadows = True
    shading.show_cavity = True
    if scene.world is None:
        scene.world = bpy.data.worlds.new("World")
    scene.world.color = (0.92, 0.92, 0.9)


# ------------------------------------------------------------------ preview

def body_root(rig):
    """The bone that carries the body (the hips): the root's only child when the root is a ground joint."""
    bone = rig.pose.bones[0]
    return bone.children[0] if len(bone.children) == 1 else bone


def travel_turn(rig, frames):
    """Rotation about Z that turns the clip's overall ground travel to +X (a side view), else identity."""
    scene = bpy.context.scene
    scene.frame_set(1)
    a = rig.matrix_world @ body_root(rig).head
    scene.frame_set(frames)
    b = rig.matrix_world @ body_root(rig).head
    d = np.array([b.x - a.x, b.y - a.y])
    if np.linalg.norm(d) < 0.3:
        return Matrix.Identity(4)
    return Matrix.Rotation(-math.atan2(d[1], d[0]), 4, "Z")


def render_preview(clips, bodies, rigs, frames, path, width=960, height=540):
    """Rows = clips, columns = poses every few frames, turned to walk to the right, travel taken out."""
    source = bpy.context.scene
    preview = bpy.data.scenes.new("Preview")
    workbench(preview, width, height)
    columns = max(2, min(frames, int(width / height * len(clips) * ROW_HEIGHT / COLUMN_SPACING) - 1))
    picks = np.linspace(0, frames - 1, columns).round().astype(int)
    for row, (labels, body, rig) in enumerate(zip(clips, bodies, rigs)):
        z = -row * ROW_HEIGHT
        turn = travel_turn(rig, frames)
        for col, f in enumerate(picks):
            source.frame_set(int(f) + 1)
            mesh = bpy.data.meshes.new_from_object(body.evaluated_get(bpy.context.evaluated_depsgraph_get()))
            root = rig.matrix_world @ body_root(rig).head          # where the figure stands
            place = Matrix.Translation((col * COLUMN_SPACING, 0.0, z)) @ turn @ \
                Matrix.Translation((-root.x, -root.y, 0.0)) @ body.matrix_world
            obj = bpy.data.objects.new(f"pose_{row}_{col}", mesh)
            obj.matrix_world = place
            obj.color = body.color
            preview.collection.objects.link(obj)
        width_m = (columns - 1) * COLUMN_SPACING
        add_box(preview, f"ground_{row}", (width_m / 2, 0.0, z - 0.01), (width_m + 0.8, 1.2, 0.02), (0.7,) * 3)
        add_text(preview, " ".join(labels.values()) or f"clip {row + 1}", (-0.35, -0.7, z + 1.8))
    frame_camera(preview, width / height)
    preview.render.filepath = str(path)
    bpy.context.window.scene = preview
    with quiet():
        bpy.ops.render.render(write_still=True)
    bpy.context.window.scene = source
    return columns


def frame_camera(scene, aspect, margin=0.04):
    """An orthographic front camera fitted to everything in ``scene`` (x and z extents)."""
    corners = np.array([tuple(o.matrix_basis @ Vector(c)) for o in scene.collection.objects for c in o.bound_box])
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    size = hi - lo
    scale = max(size[0], size[2] * aspect) * (1.0 + 2.0 * margin)
    centre = (lo + hi) / 2.0
    add_camera(scene, "PreviewCamera", (centre[0], lo[1] - 10.0, centre[2]), (math.pi / 2, 0.0, 0.0),
               ortho_scale=scale)


@contextlib.contextmanager
def quiet():
    """Silence C-level output (render progress, EGL probing on headless machines); replay it on error."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


# ------------------------------------------------------------------ main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "out" / "demo")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--count", type=int, default=4, help="clips (one style each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path, help="model file (default: the shipped one)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    model = generate.load_model(args.model)
    fps = float(model.header["fps"])
    scene.render.fps, scene.render.fps_base = int(round(fps)), round(fps) / fps
    clips = choose_labels(model, args.count)

    rigs, bodies, made = [], [], []
    for i, labels in enumerate(clips):
        tag = "_".join(labels.values()) or f"clip{i + 1}"
        rig = generate.create_armature(model, name=f"Rig_{tag}", location=(i * RIG_SPACING, 0.0, 0.0))
        result = generate.generate_onto(rig, model, args.frames, labels=labels, seed=args.seed + i,
                                        action_name=f"ganim_{tag}", set_frame_range=True, scene=scene)
        rigs.append(rig)
        bodies.append(add_stand_in(rig, COLOURS[i % len(COLOURS)]))
        made.append((result.actions[0], result.motions[0], result.labels[0]))

    workbench(scene, 960, 540)
    centre = (len(rigs) - 1) * RIG_SPACING / 2
    add_box(scene, "Ground", (centre, 2.0, -0.01), (len(rigs) * RIG_SPACING + 8.0, 14.0, 0.02), (0.75,) * 3)
    add_camera(scene, "Camera", (centre, -9.0, 3.0), (math.radians(78), 0.0, 0.0), lens=30.0)
    scene.frame_set(1)

    out = args.out.resolve()
    (out / "bvh").mkdir(parents=True, exist_ok=True)
    blend = out / "demo.blend"
    with contextlib.redirect_stdout(io.StringIO()):
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    print(f"wrote {blend}")
    for action, motion, labels in made:
        path = out / "bvh" / (re.sub(r"[^\w.-]", "_", action.name) + ".bvh")
        bvh.write(path, motion)
        print(f"wrote {path}  ({motion.frames} frames at {motion.fps:g} fps; "
              + ", ".join(f"{k}={v}" for k, v in labels.items()) + ")")
    preview = out / "preview.png"
    columns = render_preview([m[2] for m in made], bodies, rigs, args.frames, preview)
    print(f"wrote {preview}  ({len(made)} rows x {columns} poses, every "
          f"{(args.frames - 1) / (columns - 1):.0f} frames)")
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
