"""Motion synthesis on Motion objects with the numpy generator: the add-on's brain.

Everything here runs without torch or bpy, so the add-on, the CLI and the tests share it.
"""

import numpy as np

from . import features, generator


class SynthesisError(ValueError):
    """A request the model cannot serve (unknown label, bad length...): says why."""


MAX_FRAMES = 20_000


def label_ids(model, labels, count, rng):
    """Label indices per column; a column left out is drawn from the training distribution."""
    labels = dict(labels or {})
    vocab = model.labels
    unknown = sorted(set(labels) - set(vocab))
    if unknown:
        known = ", ".join(vocab) or "none"
        raise SynthesisError(f"the model has no label {unknown[0]!r} (it knows: {known})")
    out = {}
    freq = model.header.get("label_freq", {})
    for k, values in vocab.items():
        if k in labels:
            if labels[k] not in values:
                raise SynthesisError(f"unknown {k} {labels[k]!r}; the model knows: {', '.join(values)}")
            out[k] = np.full(count, values.index(labels[k]), dtype=np.int64)
        else:
            p = np.asarray(freq.get(k) or np.ones(len(values)), dtype=np.float64)
            out[k] = rng.choice(len(values), size=count, p=p / p.sum())
    return out


def _check_frames(frames):
    if not isinstance(frames, (int, np.integer)) or frames < 2:
        raise SynthesisError(f"frame count must be a whole number of at least 2, got {frames!r}")
    if frames > MAX_FRAMES:
        raise SynthesisError(f"{frames} frames is more than this tool generates at once ({MAX_FRAMES})")


def run_generator(model, frames, count=1, labels=None, seed=None, cond=None):
    """Normalised network output [count, T, C] (float32) and the label ids used."""
    _check_frames(frames)
    cfg = model.header["arch"]
    rng = np.random.default_rng(seed)
    ids = label_ids(model, labels, count, rng)
    noise, latent = generator.random_inputs(cfg, count, frames, rng)
    if cond is None:
        cond = np.zeros((count, generator.cond_channels(cfg), frames), dtype=np.float32)
    out = generator.forward(model.weights, cfg, noise, latent, ids, cond)
    return np.transpose(out, (0, 2, 1)), ids


def denormalise(model, x):
    norm = model.header["norm"]
    return x * np.asarray(norm["std"], dtype=np.float32) + np.asarray(norm["mean"], dtype=np.float32)


def generate(model, frames, count=1, labels=None, seed=None, start=(0.0, 0.0, 0.0), name="ganim"):
    """``count`` new clips of ``frames`` frames; returns (motions, labels per clip)."""
    out, ids = run_generator(model, frames, count, labels, seed)
    feats = denormalise(model, out).astype(np.float64)
    skeleton, spec, fps = model.skeleton, model.header["features"], model.header["fps"]
    motions, chosen = [], []
    for i in range(count):
        motions.append(features.decode(feats[i], spec, skeleton, fps, start=start, name=f"{name}_{i:03d}"))
        chosen.append({k: model.labels[k][int(v[i])] for k, v in ids.items()})
    return motions, chosen
