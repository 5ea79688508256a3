"""Numpy forward pass of the generator: the twin of trainer/models.py, op for op.

Runs inside Blender with nothing but numpy. Weights come from a .ganim file's
state dict (names as in torch). float32 throughout, like the trained network.
"""

import weakref

import numpy as np


def _leaky(x, slope=0.2):
    return np.maximum(x, x * slope)  # valid for 0 < slope < 1, and faster than np.where


def conv1d(x, weight, bias, dilation=1):
    """'Same' 1D convolution: x [B, Cin, T], weight [Cout, Cin, K] (K odd) -> [B, Cout, T].

    One matmul per kernel tap over a zero-padded view: no im2col copy.
    """
    B, Cin, T = x.shape
    Cout, _, K = weight.shape
    pad = dilation * (K - 1) // 2
    xp = np.zeros((B, Cin, T + 2 * pad), dtype=x.dtype)
    xp[:, :, pad:pad + T] = x
    taps = _taps(weight)
    y = np.matmul(taps[0], xp[:, :, :T])
    for k in range(1, K):
        y += np.matmul(taps[k], xp[:, :, k * dilation:k * dilation + T])
    y += bias[None, :, None]
    return y


_TAPS = {}


def _taps(weight):
    """``weight`` [Cout, Cin, K] as contiguous taps [K, Cout, Cin]; made once per read-only array that
    owns its memory (a loaded model's weights) and kept while it lives: made on every call, a 300-frame
    forward pass took 1.4x as long (benchmarks/inference_speed.py, side by side). A writable array (a
    trainer's, shared with torch) or a view may change in place, so its taps are made afresh every time."""
    if weight.flags.writeable or not weight.flags.owndata:  # a view may see writable memory change
        return np.ascontiguousarray(np.moveaxis(weight, -1, 0))
    key = id(weight)
    hit = _TAPS.get(key)
    if hit is not None and hit[0]() is weight:
        return hit[1]
    taps = np.ascontiguousarray(np.moveaxis(weight, -1, 0))
    _TAPS[key] = (weakref.ref(weight, lambda _, key=key: _TAPS.pop(key, None)), taps)
    return taps


def upsample_index(n, frames, stride):
    """Linear interpolation of n coarse noise samples to ``frames`` (twin of trainer.models)."""
    u = (np.arange(frames) + 0.5) / stride - 0.5
    i0 = np.clip(np.floor(u).astype(np.int64), 0, n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w = np.clip(u - i0, 0.0, 1.0).astype(np.float32)
    return i0, i1, w


def fill_gaps(x, mask):
    """Known frames with the unknown ones filled in: x [B, C, T] (values at known frames), mask [B, T].

    Linear between the nearest known frames, held flat before the first and after the last,
    zero where a clip has no known frame. Models with ``arch["residual"]`` get this as their
    conditioning and add their output to it, so an edit starts from plain interpolation and the
    network only learns what interpolation misses.
    """
    x = np.asarray(x, dtype=np.float32)
    B, C, T = x.shape
    known = np.asarray(mask).reshape(B, T) > 0.5
    idx = np.arange(T)
    prev = np.maximum.accumulate(np.where(known, idx, -1), axis=-1)
    nxt = np.minimum.accumulate(np.where(known, idx, T)[:, ::-1], axis=-1)[:, ::-1]
    prev_ok, nxt_ok = prev >= 0, nxt < T
    prev, nxt = np.where(prev_ok, prev, nxt), np.where(nxt_ok, nxt, prev)
    prev, nxt = np.clip(prev, 0, T - 1), np.clip(nxt, 0, T - 1)
    span = nxt - prev
    w = np.where(span > 0, (idx - prev) / np.maximum(span, 1), 0.0).astype(np.float32)[:, None, :]
    a = np.take_along_axis(x, np.broadcast_to(prev[:, None, :], x.shape), axis=2)
    b = np.take_along_axis(x, np.broadcast_to(nxt[:, None, :], x.shape), axis=2)
    out = a * (1 - w) + b * w
    out[~known.any(-1)] = 0.0
    return out


def known_channels(cfg, known, mask):
    """The known-frame part of the conditioning: interpolated (residual models) or zeroed."""
    if cfg.get("residual"):
        return fill_gaps(known, mask)
    return np.asarray(known, dtype=np.float32) * np.asarray(mask, dtype=np.float32).reshape(len(known), 1, -1)


def cond_channels(cfg):
    return cfg["channels"] + 1 + len(cfg["traj"]) + 1


def noise_length(frames, stride):
    return -(-frames // stride)


def joint_index(vocab_sizes, label_ids, unspecified=True):
    """Row of each clip's label combination in a joint embedding (``cfg["joint"]``).

    Mixed radix over the columns in ``vocab_sizes`` order. The generator's tables have an
    "unspecified" value per column (n + 1 values), so every combination, partial ones
    included, has a row; the critic's see given labels only (``unspecified=False``). Why a
    joint row at all: summed per-column embeddings move every content alike for a style.
    """
    index = 0
    for k, n in vocab_sizes.items():
        index = index * (n + int(unspecified)) + label_ids[k]  # numpy or torch alike
    return index


def joint_rows(vocab_sizes, unspecified=True):
    """How many rows a joint embedding has (see :func:`joint_index`)."""
    rows = 1
    for n in vocab_sizes.values():
        rows *= n + int(unspecified)
    return rows


def forward(weights, cfg, noise, latent, label_ids, cond, away_ids=None, strength=0.0):
    """noise [B, noise, ceil(T/stride)], latent [B, latent], label_ids {k: int [B]}, cond [B, cond_ch, T].

    ``away_ids`` {k: int [B]} with ``strength`` s pushes each named column's embedding past its
    target, e + s * (e - e_away): restyling away from a clip's own style by more than the
    plain label swap (an inference-time option; s = 0 is the trained network).
    """
    w = weights
    T = cond.shape[-1]
    i0, i1, wt = upsample_index(noise.shape[-1], T, cfg["noise_stride"])
    z = noise[..., i0] * (1 - wt) + noise[..., i1] * wt
    emb = 0.0
    for k in cfg["vocab_sizes"]:
        emb = emb + w[f"embeds.{k}.weight"][label_ids[k]]
    if cfg.get("joint"):
        emb = emb + w["joint.weight"][joint_index(cfg["vocab_sizes"], label_ids)]
    for k, away in (away_ids or {}).items():
        table = w[f"embeds.{k}.weight"]
        emb = emb + strength * (table[label_ids[k]] - table[away])
        if cfg.get("joint"):  # the combination's own part moves with its column
            joint = w["joint.weight"]
            emb = emb + strength * (joint[joint_index(cfg["vocab_sizes"], label_ids)]
                                    - joint[joint_index(cfg["vocab_sizes"], {**label_ids, k: away})])
    c = np.concatenate([np.broadcast_to(emb, (len(latent), cfg["embed"])), latent], axis=-1).astype(np.float32)
    x = _leaky(conv1d(np.concatenate([z, cond], axis=1).astype(np.float32), w["inp.weight"], w["inp.bias"]))
    for i, d in enumerate(cfg["dilations"]):
        p = f"blocks.{i}."
        film = c @ w[p + "film.weight"].T + w[p + "film.bias"]
        gamma, beta = np.split(film[..., None], 2, axis=1)
        h = conv1d(x, w[p + "conv1.weight"], w[p + "conv1.bias"], d)
        h = _leaky(h * (1 + gamma) + beta)
        h = conv1d(h, w[p + "conv2.weight"], w[p + "conv2.bias"], d)
        x = _leaky(x + h)
    out = conv1d(x, w["out.weight"], w["out.bias"])
    if cfg.get("residual"):  # a residual over the interpolated known frames (zero when generating freely)
        out = out + cond[:, :cfg["channels"]]
    return out


def random_inputs(cfg, count, frames, rng):
    """Noise and global latents for ``count`` clips (float32)."""
    noise = rng.standard_normal((count, cfg["noise"], noise_length(frames, cfg["noise_stride"]))).astype(np.float32)
    latent = rng.standard_normal((count, cfg["latent"])).astype(np.float32)
    return noise, latent
