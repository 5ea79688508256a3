"""The sampling's Gaussian low-pass in torch, so that training can judge what users get.

Every tool cleans the network's output with ``synthesis.smooth`` (a Gaussian over time, sigma
1.75 frames) before decoding it. That low-pass damps real motion too: a 2.4 Hz wave keeps 0.68 of
its amplitude, and the shipped model's FD excess lies in just that band, the arms' swing in waves
and runs (docs/experiments.md, *What the FD target asks*). With ``ganim train --train-smooth
SIGMA`` the critic and every loss see the generated windows after the same low-pass, so the
generator learns to give the filtered motion real amplitude instead of being judged on its raw
output, whose noise above 4 Hz the filter removes anyway.
"""

import torch
import torch.nn.functional as F

from blender_ganim.core.synthesis import SMOOTH_SIGMA, gaussian_kernel


def smooth(f, sigma=SMOOTH_SIGMA):
    """Gaussian low-pass over time of every channel of ``f`` [B, C, T] (edges held, as ``synthesis.smooth``)."""
    k = torch.from_numpy(gaussian_kernel(sigma)).to(f)
    r = len(k) // 2
    return F.conv1d(F.pad(f, (r, r), mode="replicate"), k.expand(f.shape[1], 1, -1), groups=f.shape[1])


def features(x, spec, sigma):
    """``synthesis.smooth`` on a batch of features [B, C, T]: the channels before the foot contacts
    are filtered, the contacts kept. Normalised or not alike (the filter is linear and its taps sum
    to 1). sigma <= 0 or clips under 3 frames pass unchanged."""
    if sigma <= 0 or x.shape[-1] < 3:
        return x
    c = spec["contact_start"]
    return torch.cat([smooth(x[:, :c], sigma), x[:, c:]], dim=1)
