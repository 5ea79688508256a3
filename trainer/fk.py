"""Forward kinematics in torch, so the critic sees joints where a viewer sees them.

From local rotations alone the critic cannot tell a planted foot from a sliding one: that
takes the whole leg chain plus the root's velocity and turn. ``PoseFK`` turns normalised
network features [B, C, T] into joint positions (metres, root's heading frame, height
above the ground) and their world velocities (m/s, expressed in the same frame), the
channels a foot-skate or reach error shows up in. It mirrors ``core.features.decode``.
"""

import numpy as np
import torch
import torch.nn as nn

VEL_SCALE = 0.25  # m/s -> about unit size, like the positions in metres (`ganim train --d-fk-vel-scale`)


def _unit(v, eps):
    # rsqrt of a clamped sum of squares, not v.norm(): over a 3-wide last axis of a strided view
    # the norm kernel (and its backward) cost most of this module's time on CPU.
    return v * torch.rsqrt((v * v).sum(-1, keepdim=True).clamp_min(eps * eps))


def sixd_to_matrix(d6, eps=1e-8):
    """[..., 6] -> [..., 3, 3], the same Gram-Schmidt as core.rotations.sixd_to_matrix."""
    a, b = d6[..., :3], d6[..., 3:6]
    c0 = _unit(a, eps)
    b = b - (c0 * b).sum(-1, keepdim=True) * c0
    c1 = _unit(b, eps)
    c2 = torch.cross(c0, c1, dim=-1)
    return torch.stack([c0, c1, c2], dim=-1)


class PoseFK(nn.Module):
    """Normalised features -> [B, 6 * joints, T]: positions then velocities of the root and every body joint."""

    def __init__(self, skeleton, spec, mean, std, fps, vel_scale=VEL_SCALE):
        super().__init__()
        self.vel_scale = float(vel_scale)
        self.root, self.body = int(spec["root"]), [int(j) for j in spec["body"]]
        joints = [self.root] + self.body
        slot = {j: i for i, j in enumerate(joints)}
        self.parent_slot = [-1] + [slot[int(skeleton.parents[j])] for j in self.body]
        mpu = float(spec["meters_per_unit"])
        self.mpu, self.fps = mpu, float(fps)
        self.register_buffer("offsets", torch.tensor(np.asarray(skeleton.offsets)[joints] * mpu, dtype=torch.float32))
        self.register_buffer("mean", torch.tensor(np.asarray(mean), dtype=torch.float32)[:, None])
        self.register_buffer("std", torch.tensor(np.asarray(std), dtype=torch.float32)[:, None])
        self.channels = 6 * len(joints)

    def positions(self, f):
        """Denormalised features [B, C, T] -> joint positions [B, T, J, 3] (metres, heading frame)."""
        f = f.transpose(1, 2)
        B, T, _ = f.shape
        nb = len(self.body)
        # unbind, not local[:, :, i]: each indexing's backward would fill a zero tensor as large as all of them
        local = sixd_to_matrix(f[..., 10:10 + 6 * nb].reshape(B, T, nb, 6)).unbind(2)
        offsets = self.offsets.unbind(0)
        rots = [sixd_to_matrix(f[..., 0:6])]
        height = f[..., 6]
        zero = torch.zeros_like(height)
        pos = [torch.stack([zero, height * self.mpu, zero], dim=-1)]
        for i in range(1, nb + 1):
            p = self.parent_slot[i]
            pos.append(pos[p] + rots[p] @ offsets[i])
            rots.append(rots[p] @ local[i - 1])
        return torch.stack(pos, dim=2)

    def velocities(self, f, pos):
        """World velocity of each joint [B, T, J, 3] (m/s), in frame t's heading frame; the last frame repeats."""
        f = f.transpose(1, 2)
        yaw = f[..., 9, None]                     # heading turn from t to t+1
        c, s = torch.cos(yaw[:, :-1]), torch.sin(yaw[:, :-1])
        nxt = pos[:, 1:]
        turned = torch.stack([c * nxt[..., 0] + s * nxt[..., 2], nxt[..., 1],
                              -s * nxt[..., 0] + c * nxt[..., 2]], dim=-1)
        zero = torch.zeros_like(f[:, :-1, 7])
        step = torch.stack([f[:, :-1, 7], zero, f[:, :-1, 8]], dim=-1).unsqueeze(2) * self.mpu
        vel = (turned + step - pos[:, :-1]) * self.fps
        return torch.cat([vel, vel[:, -1:]], dim=1)

    def forward(self, x):
        f = x * self.std + self.mean
        pos = self.positions(f)
        vel = self.velocities(f, pos) * self.vel_scale
        B, T = pos.shape[:2]
        return torch.cat([pos.reshape(B, T, -1), vel.reshape(B, T, -1)], dim=-1).transpose(1, 2)
