"""Foot contacts, foot-skate measurement and a two-bone-IK foot lock (numpy only).

Retargeting onto other proportions, and generated motion, let planted feet slide a
little.  :func:`lock_feet` holds each foot at its average position over every
contact span (blending in and out over a few frames) and bends the leg to reach
it with analytic two-bone IK: the knee stays in the plane it had, the foot keeps
its world orientation, and near full reach the leg eases toward straight
(:func:`soft_reach`) rather than snapping.  Heights and speeds are in metres via
``meters_per_unit``.
"""

import numpy as np

from . import rotations as rot
from .features import meters_per_unit as guess_meters_per_unit
from .skeleton import fk

UP = 1
HEIGHT_M = 0.05      # a foot within 5 cm of its clip's ground ...
SPEED_M_S = 0.5      # ... moving slower than this is planted
SKATE_M_S = 0.2      # a planted foot faster than this is sliding
BLEND_FRAMES = 4
SOFT_REACH = 0.04    # share of the leg's length over which the IK eases into a straight knee


def _horizontal_speed(pos, fps):
    """Per-frame horizontal speed ``[T, ...]`` from positions ``[T, ..., 3]`` (central differences)."""
    if len(pos) < 2:
        return np.zeros(pos.shape[:-1])
    vel = np.gradient(pos, axis=0) * fps
    vel[..., UP] = 0.0
    return np.linalg.norm(vel, axis=-1)


def detect(motion, feet, height=HEIGHT_M, speed=SPEED_M_S, meters_per_unit=None, global_positions=None):
    """``[T, F]`` booleans: foot joint low (above its clip's 5th-percentile ground) and slow.
    ``global_positions``: the motion's, where the caller has them already (saves a pass of FK)."""
    mpu = guess_meters_per_unit(motion.skeleton) if meters_per_unit is None else meters_per_unit
    g = motion.global_positions() if global_positions is None else global_positions
    pos = g[:, list(feet)] * mpu
    h = pos[..., UP]
    low = h - np.percentile(h, 5, axis=0) < height
    return low & (_horizontal_speed(pos, motion.fps) < speed)


def skate(motion, contacts, feet, threshold=SKATE_M_S, meters_per_unit=None):
    """Share of contact frames whose foot moves horizontally faster than ``threshold`` m/s."""
    contacts = np.asarray(contacts, dtype=bool)
    if not contacts.any():
        return 0.0
    mpu = guess_meters_per_unit(motion.skeleton) if meters_per_unit is None else meters_per_unit
    sp = _horizontal_speed(motion.global_positions()[:, list(feet)] * mpu, motion.fps)
    return float(np.mean(sp[contacts] > threshold))


def spans(mask):
    """``[(start, stop), ...]`` of the runs of True in a 1-D mask."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def lock_targets(foot_pos, mask, blend=BLEND_FRAMES):
    """Blend weights ``[T]`` and locked positions ``[T, 3]`` for one foot's contact mask."""
    T = len(foot_pos)
    weight = np.zeros(T)
    target = foot_pos.copy()
    ramp = np.arange(1, blend + 1) / (blend + 1)
    ramp = ramp * ramp * (3 - 2 * ramp)          # smoothstep
    for start, stop in spans(mask):
        hold = foot_pos[start:stop].mean(axis=0)
        idx = np.concatenate([np.arange(start - blend, start), np.arange(start, stop),
                              np.arange(stop, stop + blend)])
        w = np.concatenate([ramp, np.ones(stop - start), ramp[::-1]])
        ok = (idx >= 0) & (idx < T)
        idx, w = idx[ok], w[ok]
        better = w > weight[idx]
        weight[idx[better]] = w[better]
        target[idx[better]] = hold
    return weight, target


def _unit(v, eps=1e-9):
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps), n[..., 0]


def _frames(d, n):
    """Rotation matrices with columns (d, n', d x n') for unit d, n' = n made square to d."""
    n = _unit(n - np.sum(n * d, -1, keepdims=True) * d)[0]
    return np.stack([d, n, rot.cross(d, n)], axis=-1)


def _between_chain(parents, top, bottom):
    """Joints strictly between ``top`` and its descendant ``bottom``."""
    out, j = [], int(parents[bottom])
    while j != top:
        if j < 0:
            raise ValueError(f"joint {bottom} is not below joint {top}")
        out.append(j)
        j = int(parents[j])
    return out[::-1]


def soft_reach(d, length, soft=SOFT_REACH):
    """Hip-to-foot distance the leg is given for a goal ``d`` away: ``d`` up to ``length * (1 - soft)``,
    then an exponential ease that only tends to ``length`` (the soft IK of A. Nicholas).

    A hard clamp snaps the knee straight the moment a goal falls out of reach and holds
    it there; generated clips ask for that on ~8% of planted frames, which made knees
    the least real-looking joints. Easing keeps the knee bending and unbending smoothly,
    at the cost of the foot falling short near full reach (by 1.5% of the leg, with the
    default zone of 4%, when the goal is exactly a leg's length away).
    """
    if soft <= 0:
        return np.minimum(d, length * (1 - 1e-6))
    start = length * (1 - soft)
    width = length * soft
    eased = start + width * (1 - np.exp(-np.maximum(d - start, 0.0) / width))
    return np.where(d > start, eased, d)


def lock_feet(motion, contacts, chains, blend=BLEND_FRAMES, soft=SOFT_REACH, strength=1.0, transforms=None):
    """A copy of ``motion`` with each foot held still over its contact spans.

    ``chains[i] = (thigh, shin, foot)`` joint indices for contact column i; joints
    between them (twist segments) turn with the bone above.  Only those leg joints
    change; the foot's world rotation is kept, so toes stay as they were.  ``strength``
    is the share of the way from the foot's own path to the held position (1: held
    still; less keeps more of the motion as it was, and some of its slide; 0 leaves it as it was,
    where the IK's soft reach would still bend nearly straight legs a little). ``transforms``: the
    motion's global rotations and positions (:func:`fk`), where the caller has them already.
    """
    if strength <= 0:
        return motion.copy()
    sk = motion.skeleton
    contacts = np.asarray(contacts, dtype=bool)
    grot, gpos = fk(sk.parents, motion.rotations, motion.positions) if transforms is None else transforms
    new_rot = grot.copy()
    changed = set()
    for i, (hip, knee, foot) in enumerate(chains):
        weight, hold = lock_targets(gpos[:, foot], contacts[:, i], blend)
        f = np.flatnonzero(weight > 0)
        if len(f) == 0:
            continue
        goal = gpos[f, foot] + (strength * weight[f, None]) * (hold[f] - gpos[f, foot])
        r1, r2 = _two_bone(gpos[f, hip], gpos[f, knee], gpos[f, foot], goal, grot[:, hip], gpos[:, [hip, knee, foot]],
                           f, soft)
        upper = [hip] + _between_chain(sk.parents, hip, knee)
        lower = [knee] + _between_chain(sk.parents, knee, foot)
        for j in upper:
            new_rot[f, j] = rot.quat_mul(r1, grot[f, j])
        for j in lower:
            new_rot[f, j] = rot.quat_mul(r2, grot[f, j])
        changed.update(upper + lower + [foot])
    rotations = motion.rotations.copy()
    for j in sorted(changed):
        p = sk.parents[j]
        parent = new_rot[:, p] if p >= 0 else rot.quat_identity((motion.frames,))
        rotations[:, j] = rot.quat_mul(rot.quat_inv(parent), new_rot[:, j])
    return motion.copy(rotations=rot.quat_unroll(rot.quat_normalize(rotations)))


def _two_bone(h, k, f, goal, hip_rot, chain_pos, frames, soft):
    """World rotations ``(thigh, shin)`` [N, 4] that carry the foot from ``f`` to ``goal``."""
    a = np.linalg.norm(k - h, axis=-1)
    b = np.linalg.norm(f - k, axis=-1)
    u, d = _unit(goal - h)
    d = np.maximum(soft_reach(d, a + b, soft), np.abs(a - b) + 1e-6 * (a + b))
    n_old = _knee_normals(hip_rot, chain_pos)[frames]
    pole = _unit(rot.cross(n_old, u))[0]           # in the knee plane, square to hip->goal, knee side
    cos_a = np.clip((a * a + d * d - b * b) / (2 * a * d), -1.0, 1.0)
    k_new = h + a[:, None] * (cos_a[:, None] * u + np.sqrt(1 - cos_a ** 2)[:, None] * pole)
    n_new = _unit(rot.cross(u, pole))[0]
    e1, e1n = _unit(k - h)[0], _unit(k_new - h)[0]
    e2, e2n = _unit(f - k)[0], _unit(h + d[:, None] * u - k_new)[0]
    r1 = _frames(e1n, n_new) @ np.swapaxes(_frames(e1, n_old), -1, -2)
    r2 = _frames(e2n, n_new) @ np.swapaxes(_frames(e2, n_old), -1, -2)
    return rot.matrix_to_quat(r1), rot.matrix_to_quat(r2)


def _knee_normals(hip_rot, chain_pos):
    """Knee-plane normal per frame ``[T, 3]``, continuous even where the leg is straight.

    The hinge axis sits still in the thigh's frame, so the plane normal measured on
    bent frames (weighted by how bent) is carried by the thigh's rotation; the
    frame's own normal dominates wherever the knee bends clearly.
    """
    h, k, f = chain_pos[:, 0], chain_pos[:, 1], chain_pos[:, 2]
    raw = rot.cross(f - h, k - h) / np.maximum(
        np.linalg.norm(f - h, axis=-1) * np.linalg.norm(k - h, axis=-1), 1e-12)[:, None]
    local = rot.quat_apply(rot.quat_inv(hip_rot), raw).sum(axis=0)
    if np.linalg.norm(local) < 1e-9:
        local = np.array([1.0, 0.0, 0.0])
    carried = rot.quat_apply(hip_rot, np.broadcast_to(_unit(local)[0], h.shape))
    e1 = _unit(k - h)[0]
    n = raw + 0.05 * carried
    n = n - np.sum(n * e1, -1, keepdims=True) * e1
    return _unit(n)[0]
