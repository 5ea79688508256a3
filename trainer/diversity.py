"""Against mode collapse: a diversity term that makes the generator listen to its noise.

A conditional GAN with reconstruction losses learns to ignore its noise: every trained
model here gave nearly the same clip for every seed of one label (spread between seeds
about 0.07 in normalised units, against 0.55 between two real takes with the same labels),
which is what kept coverage low. The term below (a hinged form of the diversity-sensitive
loss of Yang et al. 2019 / mode seeking of Mao et al. 2019) rewards two draws with the same
labels and conditioning for differing, up to the spread real takes show, and no further, so
it cannot push motion past what real data does. Both sides are compared after a moving
average over POOL frames: otherwise frame-to-frame noise is the cheapest way to differ (a
first run raised jitter from 1.2x to 1.6x real while doing so).

The same two draws serve a second, optional term (``--nearest-draw``): the nearer of them to the
row's real window is pulled toward it, as in implicit maximum likelihood estimation (Li & Malik
2018). The critic asks that every draw look real; this asks that every real window have a draw
near it, which is what the coverage metric counts. IMLE proper picks the nearest of many draws, not
of two (``--nearest-of K``, :func:`nearest_of_loss`): the more draws, the nearer the one pulled already
is, so the pull moves one motion toward its window instead of averaging motions.
"""

import numpy as np
import torch
import torch.nn.functional as F

POOL = 8  # frames averaged before comparing (stride POOL // 2): a quarter second at 30 fps


def same_label_windows(clips, label_ids, window, pairs=512, seed=0):
    """Two windows ``[pairs, window, C]`` per pair, cut from two takes with the same labels.

    ``clips``: ``[T, C]`` feature arrays; ``label_ids``: ``{column: int array per clip}``. Falls back
    to any two takes when no label combination has two takes; None when fewer than two takes are
    long enough.
    """
    rng = np.random.default_rng(seed)
    long_enough = [i for i, c in enumerate(clips) if len(c) >= window]
    if len(long_enough) < 2:
        return None
    keys = {}
    for i in long_enough:
        keys.setdefault(tuple(int(v[i]) for v in label_ids.values()), []).append(i)
    groups = [g for g in keys.values() if len(g) > 1] or [long_enough]
    first, second = [], []
    for _ in range(pairs):
        g = groups[rng.integers(len(groups))]
        a, b = rng.choice(g, 2, replace=False)
        first.append(_window(clips[a], window, rng))
        second.append(_window(clips[b], window, rng))
    return np.stack(first), np.stack(second)


def same_label_spread(clips, label_ids, window, std, pairs=512, seed=0):
    """Mean L1 distance (normalised features) between windows of two takes with the same labels.

    Differences are divided by ``std``, the training normalisation. The generator's spread
    between seeds is rewarded up to this (0 when fewer than two takes are long enough).
    """
    return pairs_spread(same_label_windows(clips, label_ids, window, pairs, seed), std)


def pairs_spread(real_pairs, std):
    """:func:`same_label_spread` of windows already drawn by :func:`same_label_windows` (0 for None)."""
    if real_pairs is None:
        return 0.0
    return float(np.mean([np.mean(np.abs(_pool(a) - _pool(b)) / std) for a, b in zip(*real_pairs)]))


def _window(clip, window, rng):
    start = rng.integers(0, len(clip) - window + 1)
    return clip[start:start + window]


def _pool(window):
    """Moving average ``[T, C] -> [T', C]`` over POOL frames, stride POOL // 2 (as avg_pool1d)."""
    steps = range(0, len(window) - POOL + 1, POOL // 2)
    return np.stack([window[s:s + POOL].mean(axis=0) for s in steps])


def joint_space(fk, real_pairs, mean, std):
    """Normalised features ``[B, C, T]`` -> joint positions and velocities (``fk``), scaled so that two
    real takes with the same labels (``real_pairs``, from :func:`same_label_windows`) are as far apart
    there as in feature space (``--diversity-space joints``).

    In feature space every channel counts as much as its spread in the data, so a rotation that
    barely moves (a spine link, a toe) counts as much as a swinging arm: a generator can meet the
    hinge by varying such channels while its bodies move alike. At 12,500 steps, seed 3's draws were
    as far apart as the shipped model's in feature space (0.407 against 0.414) but not in joint space
    (0.310 against 0.402; ``benchmarks/spread.py``, docs/experiments.md, *Diversity in joint space*).
    The scale keeps the target, the logged spread and the term's size what they are in feature space.
    """
    if real_pairs is None:
        return fk
    device = fk.mean.device
    a, b = (torch.as_tensor((w - mean) / std, dtype=torch.float32, device=device).transpose(1, 2) for w in real_pairs)
    with torch.no_grad():
        scale = pair_spread(a, b).mean() / pair_spread(fk(a), fk(b)).mean().clamp_min(1e-8)
    return lambda x: fk(x) * scale


def unconditioned_rows(mask, traj_mask=None):
    """Indices of batch rows without known frames (and without a root path, when ``traj_mask`` is given).

    The term's target is the spread of two real takes with the same labels, which two draws along
    one given root path cannot reach: theirs stayed near 0.23 against 0.49 (normalised units,
    `benchmarks/spread.py`), so on those rows the hinge never lets go. Yet leaving them out
    (``--no-diversity-on-paths``) made draws along one path nearly one motion (spread 0.09) and
    reached the FD peak sooner but no lower, so they stay in by default.
    """
    known = mask.sum(dim=(1, 2)) > 0
    if traj_mask is not None:
        known |= traj_mask.sum(dim=(1, 2)) > 0
    return (~known).nonzero().flatten()


def pair_spread(a, b):
    """Per-row mean L1 distance between two draws ``[B, C, T]`` after a POOL-frame moving average."""
    pool = lambda x: F.avg_pool1d(x, POOL, POOL // 2)
    return (pool(a) - pool(b)).abs().mean(dim=(1, 2))


def diversity_loss(fake_a, fake_b, target):
    """Hinge on :func:`pair_spread`: zero once two draws differ by ``target``."""
    spread = pair_spread(fake_a, fake_b)
    return torch.relu(target - spread).mean(), spread.mean()


def nearest_draw_loss(real, fake_a, fake_b):
    """Mean :func:`pair_spread` from each real window to the nearer of its row's two draws.

    Only the nearer draw gets a gradient, so the other stays free to differ (the diversity term);
    pulling both would reward the one averaged motion the reconstruction terms already favour.
    """
    return torch.minimum(pair_spread(real, fake_a), pair_spread(real, fake_b)).mean()


def nearest_of_loss(draw, real, noise, latent, k):
    """Mean :func:`pair_spread` from each real window to the nearest of ``k`` fresh draws.

    ``draw(noise, latent)`` runs the generator on the rows of ``real``. The ``k`` draws are made
    without gradients and only each row's nearest is made again with one, so ``k`` costs ``k``
    forward passes and one backward, not ``k`` backwards.
    """
    with torch.no_grad():
        best_d = best_n = best_l = None
        for _ in range(k):
            n, lat = torch.randn_like(noise), torch.randn_like(latent)
            d = pair_spread(real, draw(n, lat))
            if best_d is None:
                best_d, best_n, best_l = d, n, lat
                continue
            take = d < best_d
            best_d = torch.where(take, d, best_d)
            best_n = torch.where(take[:, None, None], n, best_n)
            best_l = torch.where(take[:, None], lat, best_l)
    return pair_spread(real, draw(best_n, best_l)).mean()
