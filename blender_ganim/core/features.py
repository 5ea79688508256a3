"""Motion <-> network features (DESIGN section 2).

Per frame, in this order:

* root rotation relative to the heading, 6D                      (6)
* root height                                                    (1)
* root horizontal velocity in the heading frame (x, z)           (2)
* heading angular velocity (yaw rate, radians per frame)         (1)
* local rotation of every body joint below the root, 6D          (6 * B)
* foot contacts in [0, 1]                                        (F)

Velocities at frame t are ``x[t+1] - x[t]`` (the last frame repeats the one before),
so decoding integrates them forward from a start position and heading. The
representation is translation- and facing-invariant; Y is up (BVH convention).

The *root* is the joint that carries the character's motion: walking down from the
skeleton's top joint while a joint has a single child skips static wrappers such as
``joint_Root`` above ``Hips``. Joints above the root decode to their rest pose.
"""

import re

import numpy as np

from . import rotations as rot
from .motion import Motion

UP = 1
CONTACT_HEIGHT_M = 0.05   # a foot within 5 cm of its clip's ground level ...
CONTACT_SPEED_M_S = 0.5   # ... moving slower than this counts as planted


def root_joint(skeleton):
    j = 0
    while len(skeleton.children(j)) == 1:
        j = skeleton.children(j)[0]
    return j


def ancestors(skeleton, j):
    out = []
    while skeleton.parents[j] >= 0:
        j = int(skeleton.parents[j])
        out.append(j)
    return out[::-1]


def foot_joints(skeleton):
    """Feet for contacts: joints named foot/toe/ankle, else the two lowest leaves in the rest pose."""
    named = [j for j, n in enumerate(skeleton.names) if re.search(r"foot|toe|ankle", n, re.I)
             and not re.search(r"end|nub|site", n, re.I)]
    if named:
        return named
    rest = Motion.rest(skeleton).global_positions()[0]
    leaves = sorted(skeleton.leaf_joints(), key=lambda j: rest[j, UP])
    return leaves[:2]


def meters_per_unit(skeleton):
    """Guess the file's unit from leg length (about 0.9 m on an adult)."""
    r = root_joint(skeleton)
    feet = foot_joints(skeleton)
    leg = 0.0
    for f in feet:
        length, j = 0.0, f
        while j != r and j > 0:
            length += float(np.linalg.norm(skeleton.offsets[j]))
            j = int(skeleton.parents[j])
        leg = max(leg, length)
    if leg > 20.0:
        return 0.01      # centimetres
    if leg > 3.0:
        return 0.0254    # inches
    return 1.0           # metres


def _heading_axis(skeleton, r):
    """Root-local 'left minus right' vector, from a left/right pair near the root."""
    swap = skeleton.mirror_map()
    below = [j for j in range(len(skeleton)) if r in ancestors(skeleton, j)]
    below.sort(key=lambda j: len(ancestors(skeleton, j)))
    for j in below:
        k = int(swap[j])
        if k != j and re.search(r"(^|[_.\-])L([_.\-]|$)|left", skeleton.names[j], re.I):
            rest = Motion.rest(skeleton).global_transforms()
            grot, gpos = rest
            across = gpos[0, j] - gpos[0, k]
            return rot.quat_apply(rot.quat_inv(grot[0, r]), across)
    return np.array([1.0, 0.0, 0.0])  # no left/right pair: assume a +Z-facing root


def spec_for(skeleton):
    """The JSON-able description of the feature layout for this skeleton."""
    r = root_joint(skeleton)
    anc = ancestors(skeleton, r)
    body = [j for j in range(len(skeleton)) if j != r and j not in anc]
    feet = foot_joints(skeleton)
    across = _heading_axis(skeleton, r)
    dims = 6 + 1 + 2 + 1 + 6 * len(body) + len(feet)
    return {
        "version": 1,
        "root": r,
        "body": body,
        "feet": feet,
        "across": across.tolist(),
        "meters_per_unit": meters_per_unit(skeleton),
        "channels": dims,
        "contact_start": dims - len(feet),
    }


def _heading(grot_root, across):
    a = rot.quat_apply(grot_root, np.broadcast_to(across, grot_root.shape[:-1] + (3,)))
    fwd = rot.cross(a, np.array([0.0, 1.0, 0.0]))
    return np.arctan2(fwd[..., 0], fwd[..., 2])


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def _diff_forward(x):
    d = np.empty_like(x)
    d[:-1] = x[1:] - x[:-1]
    d[-1] = d[-2] if len(x) > 1 else 0.0
    return d


def contacts(motion, spec):
    """[T, F] foot contacts: low (relative to the clip's ground) and slow."""
    gpos = motion.global_positions()[:, spec["feet"]]
    mpu = spec["meters_per_unit"]
    height = gpos[..., UP] * mpu
    ground = np.percentile(height, 5, axis=0)
    vel = _diff_forward(gpos) * mpu * motion.fps
    speed = np.linalg.norm(vel[..., [0, 2]], axis=-1)
    return ((height - ground < CONTACT_HEIGHT_M) & (speed < CONTACT_SPEED_M_S)).astype(np.float64)


def encode(motion, spec):
    """Motion -> [T, C] float64 features."""
    r, body = spec["root"], spec["body"]
    grot, gpos = motion.global_transforms()
    heading = _heading(grot[:, r], np.asarray(spec["across"]))
    yaw_inv = rot.yaw_quat(-heading)
    root_local = rot.quat_mul(yaw_inv, grot[:, r])
    delta = _diff_forward(gpos[:, r])
    vel = rot.quat_apply(yaw_inv, delta)[:, [0, 2]]
    yaw_rate = _wrap(_diff_forward(heading))
    local6 = rot.quat_to_6d(motion.rotations[:, body]).reshape(motion.frames, -1)
    return np.concatenate([
        rot.quat_to_6d(root_local), gpos[:, r, UP:UP + 1], vel, yaw_rate[:, None], local6,
        contacts(motion, spec)], axis=-1)


def start_of(motion, spec):
    """(x, z, heading) of the root at frame 0: where decoding should put the clip."""
    grot, gpos = motion.global_transforms()
    r = spec["root"]
    heading = _heading(grot[0, r], np.asarray(spec["across"]))
    return float(gpos[0, r, 0]), float(gpos[0, r, 2]), float(heading)


def decode(features, spec, skeleton, fps, start=(0.0, 0.0, 0.0), name=""):
    """[T, C] features -> Motion, integrating root velocity and yaw rate from ``start``."""
    f = np.asarray(features, dtype=np.float64)
    T = len(f)
    r, body = spec["root"], spec["body"]
    x0, z0, h0 = start
    yaw_rate = f[:, 9]
    heading = h0 + np.concatenate([[0.0], np.cumsum(yaw_rate[:-1])])
    yaw = rot.yaw_quat(heading)
    step = np.zeros((T, 3))
    step[:, 0], step[:, 2] = f[:, 7], f[:, 8]
    step = rot.quat_apply(yaw, step)
    root_pos = np.zeros((T, 3))
    root_pos[1:] = np.cumsum(step[:-1], axis=0)
    root_pos[:, 0] += x0
    root_pos[:, 2] += z0
    root_pos[:, UP] = f[:, 6]
    root_rot = rot.quat_mul(yaw, rot.sixd_to_quat(f[:, 0:6]))

    motion = Motion.rest(skeleton, frames=T, fps=fps, name=name)
    rotations, positions = motion.rotations, motion.positions
    rotations[:, body] = rot.sixd_to_quat(f[:, 10:10 + 6 * len(body)].reshape(T, len(body), 6))
    # Ancestors of the root stay at rest; express the root's world transform in their frame.
    anc_rot, anc_pos = rot.quat_identity(), np.zeros(3)
    for a in ancestors(skeleton, r):
        anc_pos = anc_pos + rot.quat_apply(anc_rot, skeleton.offsets[a])
    rotations[:, r] = rot.quat_mul(rot.quat_inv(anc_rot), root_rot)
    positions[:, r] = rot.quat_apply(rot.quat_inv(anc_rot), root_pos - anc_pos)
    motion.rotations = rot.quat_unroll(rotations)
    return motion
