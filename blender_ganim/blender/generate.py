"""Generate Motion onto an armature: the one code path behind the panel's button and the CLI.

Order matters for safety: check the armature and the request, run the generator
(pure numpy, can fail on a bad label), pick and check action names, and only then
touch the file.  If writing fails midway, everything this call created is removed
and the object plays what it played before, so a failed call leaves no trace.
Existing actions are replaced only when asked, and then only after every new
action has been written (new ones are written under temporary names and swapped in).
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from ..core import model_file, paths, retarget, synthesis
from . import actions, armature, rig_map, rigs

TARGETS = ("NEW", "REPLACE", "NLA")
MODEL_SUFFIX = ".ganim"
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / ("default" + MODEL_SUFFIX)
DEFAULT_RIG_NAME = "GANim_Rig"
MAX_COUNT = 100
MAX_NAME_BYTES = 63      # Blender 4.2's ID name limit (5.0 allows more; stay portable)
MAX_FRAME = 1048574      # Blender's last frame (MAXFRAME); keys run from -MAX_FRAME, a scene's range from 0


class GenerateError(ValueError):
    """A request that cannot be served as asked; the message says what to do instead."""


# Everything a user can cause; the operator reports these, the CLI prints them in one line.
USER_ERRORS = (GenerateError, armature.ArmatureError, actions.ActionExistsError,
               model_file.ModelFileError, synthesis.SynthesisError, rigs.RigError,
               rig_map.RigMapError, retarget.RetargetError)


@dataclass
class Generated:
    """What one call made: the actions (in clip order), their motions and labels."""
    actions: list
    motions: list
    labels: list
    target: str
    warnings: list = field(default_factory=list)
    model_fps: float = 0.0
    loop: bool = False

    def summary(self):
        """One line for the status bar and the CLI."""
        frames = self.motions[0].frames if self.motions else 0
        fps = self.motions[0].fps if self.motions else self.model_fps
        rate = f" at {fps:g} fps" + ("" if synthesis.same_rate(fps, self.model_fps)
                                      else f" (made at {self.model_fps:g}, resampled)")
        names = ", ".join(a.name for a in self.actions)
        if self.target == "REPLACE":
            return f"replaced the keys of action {names} with a new {frames}-frame clip{rate}"
        n = len(self.actions)
        what = "as new action" if self.target == "NEW" else "as NLA strip"
        tail = " (the first plays, the others are muted)" if self.target == "NLA" and n > 1 else ""
        kind, frames = ("looping clip", frames - 1) if self.loop else ("clip", frames)
        return (f"generated {n} {kind}{'s' * (n != 1)} of {frames} frames{rate} {what}{'s' * (n != 1)}: "
                f"{names}{tail}")


# ------------------------------------------------------------------ models

_models = {}


def load_model(path=None):
    """The model at ``path`` (default: the shipped one), reloaded only when the file changes.

    The panel asks for the model on every redraw; parsing 4 MB each time would stall the UI.
    """
    path = os.path.realpath(os.fspath(path or DEFAULT_MODEL))
    try:
        st = os.stat(path)
    except OSError:
        return model_file.load(path)          # raises ModelFileError with the usual message
    key = (st.st_mtime_ns, st.st_size)
    hit = _models.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    model = model_file.load(path)
    _models[path] = (key, model)
    return model


def list_models(folder=None):
    """Model files to offer: the shipped default first, then ``*.ganim`` in ``folder`` by name."""
    out = [DEFAULT_MODEL] if DEFAULT_MODEL.is_file() else []
    if folder:
        folder = Path(os.path.expanduser(os.fspath(folder)))
        if folder.is_dir():
            seen = {os.path.realpath(p) for p in out}
            out += sorted((p for p in folder.iterdir()
                           if p.suffix.lower() == MODEL_SUFFIX and p.is_file()
                           and os.path.realpath(p) not in seen), key=lambda p: p.name.lower())
    return out


# ------------------------------------------------------------------ armatures

def create_armature(model, name=DEFAULT_RIG_NAME, location=None, collection=None):
    """A new armature with the model's skeleton, active and selected."""
    obj = armature.build_armature(model.skeleton, name, scale=paths.meters_per_unit(model),
                                   collection=collection)
    if location is not None:
        obj.location = tuple(location)
    return obj


def check_armature(obj, model):
    """The :class:`rigs.Rig` for ``obj``; a user error unless it can take the model's motion.

    The model's own skeleton, or any rig with a stored bone map (motion is then retargeted).
    """
    return rigs.resolve(obj, model)


# ------------------------------------------------------------------ names

def label_stem(obj, labels):
    """``<object>_<label values>``: the stem generated clips are named after."""
    return "_".join([obj.name] + [str(v) for v in labels.values()])


def _auto_names(stems, taken):
    """``<stem>_NNN``, numbered past anything that exists."""
    names = []
    for stem in stems:
        while len(stem.encode()) > MAX_NAME_BYTES - 4:
            stem = stem[:-1]
        n = 1
        while f"{stem}_{n:03d}" in taken:
            n += 1
        names.append(f"{stem}_{n:03d}")
        taken.add(names[-1])
    return names


def _plan_names(obj, target, count, stems, action_name, overwrite):
    """Final action names, and which of them replace an existing action."""
    existing = {a.name for a in bpy.data.actions}
    if target == "REPLACE":
        current = obj.animation_data.action if obj.animation_data else None
        if current is None:
            raise GenerateError(f"{obj.name!r} has no active action to replace: use New Action instead")
        actions.check_replaceable(current, obj)
        return [current.name], {current.name}
    if not action_name:
        return _auto_names(stems, set(existing)), set()
    names = [action_name] if count == 1 else [f"{action_name}_{i + 1:03d}" for i in range(count)]
    for name in names:
        if len(name.encode()) > MAX_NAME_BYTES:
            raise GenerateError(f"action name {name!r} is longer than {MAX_NAME_BYTES} bytes")
    clash = [n for n in names if n in existing]
    if clash and not overwrite:
        raise actions.ActionExistsError(
            f"an action named {clash[0]!r} already exists: choose another name, or allow overwriting "
            "(the panel's Overwrite; --overwrite headless)")
    for name in clash:
        actions.check_replaceable(bpy.data.actions[name], obj)
    return names, set(clash)


def _temp_name(name):
    stem, n = "ganim_tmp", 0
    while f"{stem}{n}" in bpy.data.actions:
        n += 1
    return f"{stem}{n}"


# ------------------------------------------------------------------ the brain

def generate_onto(obj, model, frames, count=1, labels=None, seed=None, start_frame=1, target="NEW",
                  action_name=None, overwrite=False, set_frame_range=False, scene=None,
                  temperature=None, scene_rate=True, loop=False, in_place=False):
    """Generate ``count`` clips with ``model`` and write them onto armature ``obj``.

    ``target``: "NEW" makes one action per clip and plays the first; "REPLACE" swaps
    the keys of the object's active action for one new clip (same name, same users);
    "NLA" makes one action and one NLA track per clip, the first unmuted. ``temperature``
    scales the noise (lower is more typical of the labels; None: the model's own for each clip's labels,
    see `ganim sampling`). ``scene_rate``: resample the clips to the scene's frame rate, so
    ``frames`` are scene frames and the motion plays at the speed it was made at; False keys one
    frame per model frame (the motion then plays slower or faster in a scene at another rate).
    ``loop``: each clip a cycle (synthesis.loop) of ``frames`` frames plus its first pose again as
    the last key, its F-curves repeating (``in_place``: without the root's travel); the scene
    range, when set, is the cycle.
    Returns a :class:`Generated`; raises one of ``USER_ERRORS`` before writing anything
    when the request cannot be served.
    """
    scene = scene or bpy.context.scene
    if target not in TARGETS:
        raise GenerateError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    if not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise GenerateError(f"count must be between 1 and {MAX_COUNT}, got {count!r}")
    if target == "REPLACE" and count != 1:
        raise GenerateError("replacing the active action takes exactly one clip: set count to 1, "
                            "or write new actions or NLA strips")
    rig = check_armature(obj, model)
    fps = clip_fps(scene, model, scene_rate)
    notes = []
    if loop:
        cycles = []
        for i in range(count):
            said = []
            cycles.append(synthesis.loop(model, frames, labels=labels, seed=None if seed is None else seed + i,
                                         temperature=temperature, fps=fps, in_place=in_place, notes=said))
            notes += [f"clip {i + 1} of {count}: {n}" if count > 1 else n for n in said]
        motions, chosen = [m for m, _ in cycles], [c for _, c in cycles]
    else:
        motions, chosen = synthesis.generate(model, frames, count=count, labels=labels, seed=seed,
                                             temperature=temperature, fps=fps)
    made = write_clips(rig, motions, [label_stem(obj, c) for c in chosen], target=target,
                       action_name=action_name, overwrite=overwrite, start_frame=start_frame,
                       set_frame_range=set_frame_range, scene=scene, cycles=loop)
    if loop:
        for action in made:
            actions.make_cyclic(obj, action)
        if set_frame_range:
            scene.frame_end -= 1          # the last key is the next cycle's first frame
    return Generated(made, motions, chosen, target,
                     _warnings(scene, model, start_frame, frames, set_frame_range, labels, fps) + notes,
                     float(model.header["fps"]), loop)


def write_clips(rig, motions, stems, target="NEW", action_name=None, overwrite=False, start_frame=1,
                set_frame_range=False, scene=None, cycles=False):
    """Key Motions on the model's skeleton onto ``rig`` as actions; returns them in clip order.

    Shared by Generate, Blend and Edit.  Mapped rigs get the clips retargeted first (``cycles``:
    each clip a cycle, retargeted between copies of itself); names are planned and checked (auto
    names: ``<stem>_NNN``) before the file is touched, and a failure midway removes everything this
    call made.
    """
    scene = scene or bpy.context.scene
    _check_frame_span(start_frame, max(m.frames for m in motions), set_frame_range)
    obj = rig.obj
    keyed = [rig.to_rig_cycle(m) if cycles else rig.to_rig(m) for m in motions]
    names, replacing = _plan_names(obj, target, len(motions), stems, action_name, overwrite)

    before = actions._assignment(obj)
    made, tracks = [], []
    frame_range = (scene.frame_start, scene.frame_end)
    try:
        for motion, name in zip(keyed, names):
            made.append(actions.write_action(obj, motion, _temp_name(name) if name in replacing else name,
                                             start_frame=start_frame, keep=False))
        if target == "NLA":
            tracks = _stack_on_nla(obj, before, made, names, start_frame, replacing)
            obj.animation_data.action = None
        else:
            actions._assign(obj, made[0], actions._object_slot(made[0], obj))
            for action in made[1:]:
                action.use_fake_user = True      # not played by anything: keep it when saving
        if set_frame_range:
            scene.frame_start = int(start_frame)
            scene.frame_end = int(start_frame) + int(motions[0].frames) - 1
    except BaseException:
        _undo(obj, before, made, tracks, scene, frame_range)
        raise
    actions.keep_displaced(before, replacing)  # before the swap below removes what is replaced
    for action, name in zip(made, names):
        if name in replacing:
            actions._swap_in(bpy.data.actions[name], action, name)
    return made


def _check_frame_span(start_frame, frames, set_frame_range):
    """Keys Blender can hold, and a scene range it can take (it would clamp one silently)."""
    last = int(start_frame) + int(frames) - 1
    if start_frame < -MAX_FRAME or last > MAX_FRAME:
        raise GenerateError(f"frames {start_frame}-{last} lie outside Blender's frames "
                            f"({-MAX_FRAME} to {MAX_FRAME}): choose another start frame")
    if set_frame_range and start_frame < 0:
        raise GenerateError(f"a scene's frame range starts at 0 or later, and this clip starts at frame "
                            f"{start_frame}: choose a start frame of 0 or more, or leave the scene's range as it is")


def _stack_on_nla(obj, before, made, names, start_frame, replacing=()):
    """One track + strip per clip, the later ones muted so the first variation plays.

    An action the object played before is pushed down onto a muted track of its own
    (as Blender's Push Down does) rather than left on top of the new strips, unless
    it is about to be replaced by one of them.
    """
    ad = obj.animation_data
    tracks = []
    if before is not None and before[0] is not None and before[0].name not in replacing:
        old = before[0]
        tracks.append(_add_strip(ad, old.name, old, before[1], int(round(old.frame_range[0]))))
        tracks[-1].mute = True
    for i, (action, name) in enumerate(zip(made, names)):
        tracks.append(_add_strip(ad, name, action, actions._object_slot(action, obj), int(start_frame)))
        tracks[-1].mute = i > 0
    return tracks


def _add_strip(ad, name, action, slot, start):
    track = ad.nla_tracks.new()
    track.name = name
    strip = track.strips.new(name, start, action)
    if slot is not None and getattr(strip, "action_slot", slot) != slot:
        strip.action_slot = slot
    return track


def _undo(obj, before, made, tracks, scene, frame_range):
    """Remove what a failed call made and put back what the object played."""
    ad = obj.animation_data
    for track in tracks:
        if ad is not None:
            ad.nla_tracks.remove(track)
    actions._restore(obj, before)
    for action in made:
        bpy.data.actions.remove(action)
    scene.frame_start, scene.frame_end = frame_range


def scene_fps(scene):
    return scene.render.fps / scene.render.fps_base


MAX_SCENE_FPS = 1000


def set_scene_fps(scene, fps):
    """Set ``scene`` to play at ``fps`` frames per second, as Blender's presets do: a whole rate
    and a base (29.97 is 30 / 1.001)."""
    fps = float(fps)
    if not (0 < fps <= MAX_SCENE_FPS):   # also False for NaN
        raise GenerateError(f"a scene's frame rate must be above 0 and at most {MAX_SCENE_FPS}, got {fps:g}")
    scene.render.fps = max(1, int(round(fps)))
    scene.render.fps_base = scene.render.fps / fps


def clip_fps(scene, model, scene_rate=True):
    """The frame rate new clips are keyed at: the scene's, or with ``scene_rate`` off the model's."""
    return scene_fps(scene) if scene_rate else float(model.header["fps"])


def _warnings(scene, model, start_frame, frames, set_frame_range, labels, fps):
    out = synthesis.label_notes(model, labels, frames, fps)  # an active raise; a raise asked for 150 frames
    if not synthesis.same_rate(scene_fps(scene), fps):
        out.append(f"the scene plays at {scene_fps(scene):g} fps but the clip is keyed at the model's "
                   f"{fps:g} fps: it plays {'slower' if scene_fps(scene) < fps else 'faster'} than made "
                   "(key it at the scene's rate to resample it: the panel's Scene Frame Rate, or headless "
                   "without --model-rate)")
    end = start_frame + frames - 1
    if not set_frame_range and (start_frame < scene.frame_start or end > scene.frame_end):
        out.append(f"the clip spans frames {start_frame}-{end}, outside the scene range "
                   f"{scene.frame_start}-{scene.frame_end}")
    return out
