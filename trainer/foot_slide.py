"""A weak penalty on planted feet that slide (``ganim train --foot-weight``).

The foot lock after generation (``synthesis.lock_feet``) moves a sliding foot only part of the way
back, since holding it fully bends the leg away from the motion the network made; what it leaves
is the network's own slide. This term asks the generator for less of it: wherever a foot is down
in a generated frame (every joint of it within 5 cm of that joint's floor, as the foot-skate metric
counts it), the speed of its slowest joint between ``SPEED_M_S`` and ``FAST_M_S`` costs, in metres
per second. On the raw network output of the shipped model a foot is down and slides at 0.5-1 m/s in
4.9% of foot-frames (real windows: 0.8%), the slides the metric counts; slower ones (0.25-0.5 m/s,
11% against 2%) are left to the foot lock, since charging them too made the network pay in FD (a
fine-tune side by side: FD 1.79x against 1.49x on training takes, docs/experiments.md); faster low
feet (a swing brushing the floor, a drag, a pivot) are as common as in real takes (5.8% against 4.7%).

Two choices keep it from freezing locomotion, the failure DESIGN warns of for a strong anti-skate
loss: whether a foot is down is *not* differentiated (the term cannot be lowered by lifting feet or
by never putting them down, only by keeping a planted foot still), and it charges a band of speeds
only, so a foot landing, lifting off or swinging low faster than the band is left to the critic,
which sees the whole leg. The raw output of the `--free-length` fine-tune scores 0.044 m/s on it,
real windows 0.025.
"""

import numpy as np
import torch

from . import metrics

CONTACT_HEIGHT_M = 0.05   # the foot-skate metric's (trainer/metrics.py)
SPEED_M_S = 0.5           # the metric's sliding speed; charged from 0.25 m/s, the network paid in FD
FAST_M_S = 1.0            # a low foot faster than this is swinging or dragging, for the critic to judge
FLOOR_PERCENTILE = 5.0    # each foot joint's floor: this low percentile of its height in real windows


def foot_groups(skeleton, spec):
    """The features' foot joints as one group per foot (ankle + toes), grouped as the metrics group
    them, as slots of ``PoseFK``'s joints (root first, then ``spec["body"]``)."""
    joints = [int(spec["root"])] + [int(j) for j in spec["body"]]
    slot = {j: i for i, j in enumerate(joints)}
    feet = [slot[int(j)] for j in spec.get("feet") or []]
    return metrics.group_feet(feet, joints, np.asarray(skeleton.parents))


def floors(fk, windows, groups, percentile=FLOOR_PERCENTILE):
    """Each foot joint's floor height (metres), from real normalised windows [B, C, T]."""
    with torch.no_grad():
        pos = fk.positions(windows * fk.std + fk.mean)
    flat = [s for g in groups for s in g]
    heights = pos[..., flat, 1].reshape(-1, len(flat)).cpu().numpy()
    return torch.tensor(np.percentile(heights, percentile, axis=0), dtype=torch.float32)


def slide_loss(fk, x, groups, floor, weight, height=CONTACT_HEIGHT_M, speed=SPEED_M_S, fast=FAST_M_S):
    """Mean slide of planted feet past ``speed`` (m/s, at most ``fast - speed`` a frame) over the
    frames ``weight`` [B, 1, T] selects.

    ``x``: normalised features [B, C, T]; ``floor``: from :func:`floors`, in the flattened order
    of ``groups``.
    """
    f = x * fk.std + fk.mean
    pos = fk.positions(f)
    vel = fk.velocities(f, pos)
    w = weight[:, 0]
    total = x.new_zeros(())
    start = 0
    for g in groups:
        low = (pos[..., g, 1] - floor[start:start + len(g)].to(x) < height).all(dim=-1).float()
        start += len(g)
        horizontal = vel[..., g, :][..., [0, 2]].pow(2).sum(-1).add(1e-8).sqrt()
        slowest = horizontal.min(dim=-1).values
        total = total + (low * w * (slowest.clamp(speed, fast) - speed)).sum()
    return total / (w.sum() * max(len(groups), 1) + 1e-6)
