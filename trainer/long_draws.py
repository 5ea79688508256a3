"""Free rows drawn as long clips and judged on a window-long stretch of each (``--free-length``).

The generator is fully convolutional and reaches about 277 frames, but trained on 64-frame windows it
only ever made clips with both ends within 64 frames of every frame. In a longer clip the middle
frames see no end near them, a context training never showed, and they stray: on training takes
novelty rises from 1.33x for 64-frame clips to 1.49x for 120 and 1.62x for 300, FD from 0.91x to 3.55x
(`benchmarks/length_quality.py`). Drawing the free rows (no known frames, no root path) at a random
length up to ``max_frames`` and cutting a random window-long stretch out of each lets the critic judge
stretches from anywhere in a long clip, while it still sees window-long real windows only: no real take
has to be long (most raising takes are 70-80 frames, and `--window-max` can only draw from long takes).
"""

from collections import namedtuple

import torch

from blender_ganim.core.generator import noise_length

# rows: batch indices drawn long; length: their length this step; offsets [B]: where each row's
# stretch starts; noise: [len(rows), noise, ceil(length / stride)].
Long = namedtuple("Long", "rows length offsets noise")


def plan(mask, traj_mask, frames, max_frames, arch, gen, device):
    """This step's long draws: the free rows, one length from ``frames`` to ``max_frames`` in steps
    of 4 (the plain window included) and a stretch start per row; None when nothing is drawn long."""
    free = (mask.sum(dim=(1, 2)) == 0) & (traj_mask.sum(dim=(1, 2)) == 0)
    if not max_frames or max_frames <= frames or not bool(free.any()):
        return None
    length = frames + 4 * int(torch.randint(0, (max_frames - frames) // 4 + 1, (1,), generator=gen))
    offsets = torch.randint(0, length - frames + 1, (len(mask),), generator=gen).to(device)
    rows = free.nonzero().flatten().to(device)
    return Long(rows, length, offsets, _noise(len(rows), length, arch, device))


def within(long, subset):
    """``long`` for the batch rows ``subset`` only (another draw of those rows), with fresh noise."""
    if long is None:
        return None
    inside = torch.isin(subset, long.rows)
    if not bool(inside.any()):
        return None
    rows = inside.nonzero().flatten()
    shape = long.noise.shape
    return Long(rows, long.length, long.offsets[subset], torch.randn(len(rows), *shape[1:], device=long.noise.device))


def draw(G, noise, latent, labels, cond, long=None):
    """G's windows [B, C, T], as ``G(noise, latent, labels, cond)``, except that ``long``'s rows are
    drawn ``long.length`` frames long (their conditioning is all zero) and cut to T frames."""
    if long is None:
        return G(noise, latent, labels, cond)
    B, T = cond.shape[0], cond.shape[-1]
    pick = lambda idx: {k: v[idx] for k, v in labels.items()}  # noqa: E731
    full = G(long.noise, latent[long.rows], pick(long.rows),
             cond.new_zeros(len(long.rows), cond.shape[1], long.length))
    frame = long.offsets[long.rows, None] + torch.arange(T, device=cond.device)
    cut = full.gather(-1, frame[:, None, :].expand(-1, full.shape[1], -1))
    is_long = torch.zeros(B, dtype=torch.bool, device=cond.device)
    is_long[long.rows] = True
    short = (~is_long).nonzero().flatten()
    if len(short) == 0:
        return cut
    rest = G(noise[short], latent[short], pick(short), cond[short])
    return torch.cat([rest, cut])[torch.argsort(torch.cat([short, long.rows]))]


def _noise(rows, length, arch, device):
    return torch.randn(rows, arch["noise"], noise_length(length, arch["noise_stride"]), device=device)
