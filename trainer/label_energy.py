"""How much each label moves (``ganim train --energy-weight``).

A clip's *energy* here is the mean speed of its joints (metres per second, the root's travel
included), the plainest figure that tells an active run from a tired jog. GAN training
leaves it wrong per label, in ways the conditional critic does not pull back: the foot-band fine-tune
(seed 1, 1,250 steps) generates *active* clips at 0.69x the speed of real *active* takes (an *active
run* at 0.50x) and *elderly* waving at 1.26-1.76x (`benchmarks/label_energy.py`, training takes), and
the style classifier reads *active* as *youthful* or *exhausted*.

This term asks each label of a batch to move as much as the real windows of that label do, on
average: every freely generated window's energy (rows with known frames are left out: those frames
set how much such a row moves) is divided by the mean energy of real windows with the same labels
(one cell per label combination, e.g. style x content), and the relative deviations (ratio - 1) are
averaged over the windows that share a label value before squaring (without each window's own
square, see :func:`energy_loss`). So a group of windows may spread as real ones do (one slower, one
faster); only their arithmetic mean, the speed a viewer sees, is pulled to the label's. The cell means
come from real windows drawn with their own seed, the same on ``--resume``.

Tried twice as that fine-tune at weight 1 and not adopted (docs/experiments.md, *How much each label
moves*). Matching mean *log* energies (geometric means), the first version, slowed raising and waving
to 0.66-0.75x while *active* rose only to 0.75x. The guess then, that geometric means let the network
slow whole labels, did not hold: this version, matching arithmetic means (`runs/ea1`), slowed them as
much (median |log ratio| 0.281 at the default sampling). In the term's own measure each label met its
target but *active* (0.54x of it); the targets, 64-frame windows after the low-pass, sit at a median
0.89x of whole takes' speed; and FD on training takes rose from 1.49x to 2.4x. The figure stays logged
in every run with FK.
"""

import numpy as np
import torch

from blender_ganim.core.synthesis import SMOOTH_SIGMA

from .lowpass import smooth

MIN_WINDOWS = 8       # a label combination with fewer real windows than this gets no target
EPS_M_S = 1e-3        # a window that stands still still has a target to divide by


def energy(fk, x, sigma=SMOOTH_SIGMA):
    """Each window's mean joint speed [B] (m/s, the root's travel included) after the sampling's
    low-pass (frame-to-frame noise is no motion a viewer sees); ``x``: normalised features [B, C, T]."""
    f = x * fk.std + fk.mean
    if sigma > 0 and f.shape[-1] > 2:
        f = smooth(f, sigma)
    vel = fk.velocities(f, fk.positions(f))[:, :-1]  # its last frame repeats the one before
    return vel.pow(2).sum(-1).add(1e-10).sqrt().mean(dim=(1, 2)).clamp_min(EPS_M_S)


def cell_index(labels, vocab_sizes, like):
    """One integer per window of ``like`` [B, ...] for its label combination (0 for all without labels)."""
    index = torch.zeros(len(like), dtype=torch.long, device=like.device)
    for k, n in vocab_sizes.items():
        index = index * n + labels[k].long()
    return index


def cell_targets(fk, windows, labels, vocab_sizes, chunk=256):
    """Mean energy of real windows per label combination: (targets [cells], known [cells] bool).

    ``windows``: real normalised windows [N, C, T]; ``labels``: {column: ids [N]}.
    """
    cells = int(np.prod(list(vocab_sizes.values()))) if vocab_sizes else 1
    idx = cell_index(labels, vocab_sizes, windows)
    with torch.no_grad():
        e = torch.cat([energy(fk, windows[i:i + chunk]) for i in range(0, len(windows), chunk)])
    total = e.new_zeros(cells).index_add_(0, idx, e)
    count = e.new_zeros(cells).index_add_(0, idx, torch.ones_like(e))
    known = count >= MIN_WINDOWS
    return torch.where(known, total / count.clamp_min(1), torch.zeros_like(total)), known


def energy_loss(fk, x, labels, vocab_sizes, targets, known):
    """How far the windows sharing each label value are off their labels' energy, on average: an
    unbiased estimate of the squared mean relative deviation (energy / target - 1) per group,
    weighted by the group's share of the batch and summed over label columns (one group of all
    windows without labels).

    The plain square of a group's mean deviation would also charge the spread of a few windows (its
    expectation is bias^2 + variance / n) and so pull every window of a label to one energy; the sum of
    d_i d_j over pairs i != j has expectation bias^2 alone, and each window's gradient is the others'
    deviation, not its own. It can dip below 0 on one batch; a group of one window adds nothing.
    """
    idx = cell_index(labels, vocab_sizes, x)
    targets, known = targets.to(x), known.to(x.device)
    ok = known[idx].to(x.dtype)
    d = (energy(fk, x) / targets[idx].clamp_min(EPS_M_S) - 1) * ok
    groups = [labels[k].long() for k in vocab_sizes] or [torch.zeros_like(idx)]
    loss = x.new_zeros(())
    for g in groups:
        size = max(int(g.max()) + 1, 1)
        total = x.new_zeros(size).index_add(0, g, d)
        squares = x.new_zeros(size).index_add(0, g, d * d)
        count = x.new_zeros(size).index_add(0, g, ok)
        pairs = (total.pow(2) - squares) / (count - 1).clamp_min(1)
        loss = loss + (pairs * (count > 1)).sum() / ok.sum().clamp_min(1)
    return loss
