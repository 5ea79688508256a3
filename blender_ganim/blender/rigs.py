"""Which rig a model's motion goes onto: the model's own skeleton, or any rig with a bone map.

Generate, Blend and Edit all work on Motions on the model's skeleton.  A :class:`Rig`
hides the difference between the two kinds of armature: ``to_rig`` turns such a
Motion into what gets keyed (itself, or retargeted onto the mapped bones) and
``read`` turns an action back into a Motion on the model's skeleton (read as is, or
retargeted back through the bone map).  Every check runs before anything is
written, and a map's missing or ambiguous bones are listed in one message.
"""

from dataclasses import dataclass

from ..core import features, retarget, synthesis
from . import actions, armature, rig_map


class RigError(ValueError):
    """The object cannot take the model's motion as it is; the message says what to do."""


@dataclass
class Rig:
    """An armature checked against a model; ``mapping`` ({role: bone}) is None for the model's skeleton."""

    obj: object
    model: object
    mapping: dict = None

    @property
    def mapped(self):
        return self.mapping is not None

    def model_map(self):
        """The model skeleton's own bone map (its joints named by role)."""
        sk = self.model.skeleton
        found = retarget.auto_map(sk.names, sk.parents)
        missing, _ = retarget.map_problems(found.mapping, sk.names)
        if missing:
            raise RigError(f"the model's skeleton has no joint for {', '.join(missing)}, "
                           "so it cannot be retargeted onto other rigs")
        return found.mapping

    def skeleton(self):
        """The skeleton that gets keyed: the model's, or the mapped bones and their ancestors."""
        if not self.mapped:
            return self.model.skeleton
        return rig_map.read_rig(self.obj, keep=list(self.mapping.values()))[0]

    def root_bone(self):
        """The bone that carries the character's path (Hips on the model's skeleton)."""
        if self.mapped:
            return self.mapping["hips"]
        return self.model.skeleton.names[features.root_joint(self.model.skeleton)]

    def units_per_model_unit(self):
        """How much longer a path is on this rig than on the model (the legs' length ratio)."""
        if not self.mapped:
            return 1.0
        sk = self.model.skeleton
        return retarget.leg_length(self.skeleton(), self.mapping) / retarget.leg_length(sk, self.model_map())

    def to_model_units(self, points):
        """Armature-space points ``[..., 3]`` (Blender axes) to the model's BVH axes and units."""
        p = armature.from_blender(points, armature.armature_scale(self.obj))
        return p / self.units_per_model_unit()

    def to_rig(self, motion):
        """A Motion on the model's skeleton as the Motion to key on this rig."""
        if not self.mapped:
            return motion
        return rig_map.retarget_motion(self.obj, motion, source_map=self.model_map(), target_map=self.mapping)

    def to_rig_cycle(self, motion):
        """:meth:`to_rig` for a cycle (synthesis.loop): a mapped rig's foot lock sees the cycles
        before and after it, so its last frame stays its first pose again."""
        if not self.mapped:
            return motion
        padded, start = synthesis.repeat_cycle(motion)
        return self.to_rig(padded).slice(start, start + motion.frames)

    def read(self, action, what=None):
        """The action as a Motion on the model's skeleton; refused when it animates other bones."""
        what = what or f"action {action.name!r}"
        check_action_fits(self.obj, action, what)
        if not self.mapped:
            return actions.read_action(self.obj, action, self.model.skeleton)
        motion = actions.read_action(self.obj, action, self.skeleton())
        return retarget.retarget(motion, self.mapping, self.model.skeleton, self.model_map(), name=action.name)


def animated_bones(obj, action):
    """Names of the bones ``action`` has pose-bone curves for, as it would play on ``obj``."""
    container, _ = actions._fcurve_collection(action, obj)
    if container is None:
        return set()
    return {bone for bone, _prop in actions._curves_by_channel(container.fcurves)}


def check_action_fits(obj, action, what):
    """Raise RigError unless ``action`` animates bones of ``obj`` and no bones it lacks."""
    bones = animated_bones(obj, action)
    foreign = sorted(b for b in bones if obj.data.bones.get(b) is None)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise RigError(f"{what} animates bones that {obj.name!r} lacks ({shown}): "
                       "it was made for another skeleton")
    if not bones:
        raise RigError(f"{what} animates none of the bones of {obj.name!r}")


def _listed(names, limit=10):
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def armature_of(obj):
    """The armature ``obj`` stands for: itself, or the armature that deforms (Armature modifier) or
    parents a mesh, since animators click the character rather than its skeleton. Anything else is
    returned as it is, for :func:`resolve` and :func:`status` to say why it can't take motion."""
    if obj is None or obj.type == "ARMATURE":
        return obj
    for modifier in getattr(obj, "modifiers", ()):
        if modifier.type == "ARMATURE" and modifier.object is not None:
            return modifier.object
    if obj.parent is not None and obj.parent.type == "ARMATURE":
        return obj.parent
    return obj


def a_or_an(noun):
    """'an empty', 'a mesh': object types in a sentence."""
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _tweaking(obj):
    """Whether ``obj`` is in NLA tweak mode (Tab in the NLA editor), its action then read-only."""
    return obj.animation_data is not None and obj.animation_data.use_tweak_mode


def resolve(obj, model):
    """The :class:`Rig` for ``obj``, or RigError saying why it cannot take the model's motion.

    The model's skeleton wins when every bone is there; otherwise a bone map stored
    on the object (Rig mapping > Save Mapping) makes any rig usable.
    """
    if obj is None:
        raise RigError("no active object: select an armature, or use Create Armature")
    if obj.type != "ARMATURE":
        raise RigError(f"{obj.name!r} is {a_or_an(obj.type.lower())}, not an armature: "
                       "select an armature, or use Create Armature")
    armature.ensure_editable_armature(obj)
    if obj.mode == "EDIT":
        raise RigError(f"armature {obj.name!r} is in Edit Mode: leave it first")
    if _tweaking(obj):  # Blender will not reassign the action then: refuse before writing anything
        raise RigError(f"armature {obj.name!r} is tweaking an NLA strip's action: leave tweak mode first "
                       "(Tab in the NLA editor)")
    skeleton = model.skeleton
    missing = armature.missing_bones(obj, skeleton)
    if not missing:
        armature.check_matches(obj, skeleton)
        return Rig(obj, model)
    mapping = rig_map.load_map(obj)
    if mapping is None:
        raise armature.ArmatureError(
            f"armature {obj.name!r} lacks {len(missing)} of the model's {len(skeleton)} bones "
            f"({_listed(missing)}); use Create Armature to build the model's skeleton, "
            "or map its bones under Rig Mapping")
    problems = map_problems(obj, mapping)
    if problems:
        raise RigError(f"the bone map of {obj.name!r} is incomplete: {problems}; fix it under Rig Mapping")
    rig = Rig(obj, model, mapping)
    rig.model_map()
    return rig


def map_problems(obj, mapping):
    """One line listing unmapped roles and roles sharing a bone ('' when the map is usable)."""
    missing, ambiguous = retarget.map_problems(mapping, [b.name for b in obj.data.bones])
    parts = []
    if missing:
        parts.append(f"no bone for {', '.join(missing)}")
    if ambiguous:
        parts.append("one bone for several roles: " +
                     ", ".join(f"{r} ({'/'.join(b)})" for r, b in ambiguous.items()))
    return "; ".join(parts)


def status(obj, model):
    """``(ok, message)`` for the panel: can ``obj`` take this model's motion, and how."""
    if obj is None:
        return False, "No active object"
    if obj.type != "ARMATURE":
        return False, f"{obj.name} is not an armature"
    if obj.library is not None:
        return False, f"{obj.name} is linked from a library"
    if _tweaking(obj):
        return False, f"{obj.name} is tweaking an NLA strip (Tab to leave)"
    missing = armature.missing_bones(obj, model.skeleton)
    if not missing:
        return True, f"{obj.name}: {len(model.skeleton)} bones match"
    try:
        mapping = rig_map.load_map(obj)
    except rig_map.RigMapError:
        mapping = None
    if mapping is not None:
        problems = map_problems(obj, mapping)
        if problems:
            return False, f"{obj.name}: bone map incomplete ({problems})"
        return True, f"{obj.name}: mapped rig ({len(mapping)} roles)"
    return False, f"{obj.name} lacks {len(missing)} of {len(model.skeleton)} bones"


def clip_start(action):
    """The scene frame of an action's first frame (what read_action's frame 0 is)."""
    return int(round(action.frame_range[0]))

