"""Which labels fit a clip: a linear classifier over frames, shipped inside the model file.

Editing (in-between, transition, keyframe-guided) conditions the generator on labels as well
as on the kept frames. Drawn at random, a 'dance' label fills a gap in a walk with the wrong
motion: on the shipped model that alone more than doubled the in-betweening error. When the
user names no label, the editing tools ask this classifier which labels the kept frames look
like. It is linear discriminant analysis (class means, one shared covariance with shrinkage)
on normalised per-frame features, fitted in closed form at export: numpy only, milliseconds to
apply, and its weights live beside the generator's as ``labeler.<column>.w`` / ``.b``.
"""

import numpy as np

PREFIX = "labeler."


def fit(frames, ids, vocab_size, shrink=0.01):
    """Linear discriminant over normalised frames [N, C] with class ids [N]: (w [K, C], b [K])."""
    frames = np.asarray(frames, dtype=np.float64)
    ids = np.asarray(ids)
    C = frames.shape[1]
    means = np.zeros((vocab_size, C))
    scatter = np.zeros((C, C))
    counts = np.bincount(ids, minlength=vocab_size).astype(np.float64)
    for k in np.flatnonzero(counts):
        xk = frames[ids == k]
        means[k] = xk.mean(0)
        d = xk - means[k]
        scatter += d.T @ d
    cov = scatter / max(len(frames) - 1, 1)
    cov = (1 - shrink) * cov + shrink * np.trace(cov) / C * np.eye(C)
    w = np.linalg.solve(cov, means.T).T                       # [K, C]
    b = -0.5 * np.sum(w * means, axis=1)
    b[counts == 0] = -1e9                                     # a label with no frames is never picked
    return w.astype(np.float32), b.astype(np.float32)


def fit_columns(frames, ids_by_column, vocab, shrink=0.01):
    """Weights for the model file, one classifier per label column."""
    out = {}
    for col, ids in ids_by_column.items():
        w, b = fit(frames, ids, len(vocab[col]), shrink)
        out[f"{PREFIX}{col}.w"], out[f"{PREFIX}{col}.b"] = w, b
    return out


def network_weights(weights):
    """The generator's own weights: everything in a model file but this classifier."""
    return {k: v for k, v in weights.items() if not k.startswith(PREFIX)}


def available(model):
    return all(f"{PREFIX}{c}.w" in model.weights for c in model.labels) and bool(model.labels)


def scores(model, frames_norm):
    """Mean per-frame discriminant score of every label, per column: {column: [K]}."""
    x = np.asarray(frames_norm, dtype=np.float64)
    out = {}
    for col in model.labels:
        w = model.weights[f"{PREFIX}{col}.w"].astype(np.float64)
        b = model.weights[f"{PREFIX}{col}.b"].astype(np.float64)
        out[col] = (x @ w.T + b).mean(axis=0)
    return out


def infer(model, frames_norm):
    """{column: label} that the normalised frames [T, C] look most like."""
    return {col: model.labels[col][int(np.argmax(s))] for col, s in scores(model, frames_norm).items()}
