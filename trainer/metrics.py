"""Motion-quality metrics (DESIGN section 5), numpy + scipy only.

Three sets of clips are compared: generated (G), training (R) and held-out real (H).
Every set is cut into **canonical windows** (:func:`windows`): 60 frames at 30 fps,
the root's ground projection at the origin and the character facing +Z at the
window's first frame, Y up, metres. :func:`features` turns a window into global joint
positions plus velocities (m and m/s). On these:

* **FD** -- Fréchet distance between Gaussian fits of the features after a PCA fitted
  on R (components explaining 99 % of R's variance, at most ``max_components``).
  Generated: FD(G, H). Floor: FD(R', H) with R' a random R subsample of as many windows
  as G has, averaged over ``draws`` draws (FD grows when a set has fewer windows).
  FD(R', H) of one draw of ~1,000 windows scatters by ~20% (standard deviation over
  draws, full data set), so the floor is a mean of 20 draws: its own error ~5%.
* **novelty** -- mean nearest-neighbour distance G -> R; reference H -> R. Copying the
  training set scores ~0, which is not a win.
* **coverage** -- share of H windows whose nearest G window is closer than the median
  H -> R nearest-neighbour distance; reference: the same with an R subsample of G's size.
* **diversity** -- mean distance of random window pairs; reference H.
  Distances (novelty, coverage, diversity) are Euclidean in the full feature space,
  reported as RMS per feature (``||a - b|| / sqrt(D)``), so they read roughly in metres.
* **foot skate** -- share of frames in which some foot joint is within 5 cm of the
  ground and moves faster than 0.5 m/s horizontally. Foot joints are found by name
  (``foot|toe|ankle``), else the lowest leaf joints. *Ground*: an ankle joint never
  gets within 5 cm of the floor, so each foot joint gets its own contact height, the
  5th percentile of that joint's height over the training set R (over the set itself
  when :func:`foot_skate` is called without ``ground``). A generated set that floats
  or sinks is therefore judged against the real contact heights.
* **jitter** -- mean norm of the third time difference of joint positions x fps^3 (m/s^3).
* **label accuracy** -- multinomial logistic regression (numpy/scipy L-BFGS) on whitened
  PCA features of R windows, one equal weight per clip; a clip is classified by the mean
  log-probability of *all* its windows (never the random subset the other figures may use).
  Generated: accuracy on G clips against the labels they were generated for; ceiling:
  accuracy on H.

:func:`evaluate` returns a JSON-ready dict with every metric, its real reference and the
ratio generated / reference; :func:`format_table` renders it as markdown. When several
generated sets are scored against the same real data, build a :class:`Reference` once
and pass it as ``reference=``.
"""

import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize

DEFAULT_FPS = 30.0
DEFAULT_LENGTH = 60
DRAWS = 20           # R subsamples averaged for the FD floor and coverage reference
NOMINAL_LEG_M = 0.85  # root -> ankle along the bones (hip offset + thigh + shin) of an adult
FOOT_PATTERN = re.compile(r"foot|toe|ankle", re.IGNORECASE)
HIPS_PATTERN = re.compile(r"hips?$|pelvis", re.IGNORECASE)
LEFT_PATTERN = re.compile(r"([_.\-])[Ll]$|^[Ll][_.\-]|Left|left")
UNIT_CANDIDATES = {"m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "foot": 0.3048}

CONTACT_HEIGHT_M = 0.05
SKATE_SPEED_MS = 0.5
GROUND_PERCENTILE = 5.0

__all__ = ["windows", "features", "frechet_distance", "PCA", "nearest_neighbours", "nearest_neighbour_distances", "novelty",
           "coverage", "diversity", "diversity_within", "foot_skate", "foot_heights_floor", "jitter", "LabelClassifier",
           "Reference", "evaluate", "format_table", "Rig", "make_rig", "group_feet"]


# ===================================================================== rig analysis

@dataclass
class Rig:
    """What the metrics need to know about a skeleton (indices are into the full joint list).

    ``keep``: the root and its descendants (joints above a moving root, like a static BVH
    ``ROOT``, are dropped from windows); ``pairs``: (left, right) joints whose difference
    gives the facing direction; ``feet``: one list of joints per foot (ankle, toes...),
    as indices into ``keep``.
    """

    names: tuple
    parents: np.ndarray  # or None when unknown
    root: int
    keep: np.ndarray
    pairs: list
    feet: list
    meters_per_unit: float
    up_axis: int = 1

    @property
    def kept_names(self):
        return tuple(self.names[j] for j in self.keep)

    def to_dict(self):
        return {"root": self.names[self.root], "joints": len(self.keep),
                "feet": [[self.kept_names[f] for f in g] for g in self.feet],
                "heading_pairs": [[self.names[a], self.names[b]] for a, b in self.pairs],
                "meters_per_unit": self.meters_per_unit, "up_axis": self.up_axis}


def _is_motion(x):
    return hasattr(x, "global_positions") and hasattr(x, "skeleton")


def _mirror_map(names):
    from blender_ganim.core.skeleton import Skeleton

    J = len(names)
    return Skeleton(tuple(names), np.r_[-1, np.zeros(J - 1, dtype=int)], np.zeros((J, 3))).mirror_map()


def _descendants(parents, root):
    keep = [root]
    inside = np.zeros(len(parents), dtype=bool)
    inside[root] = True
    for j in range(root + 1, len(parents)):
        if inside[parents[j]]:
            inside[j] = True
            keep.append(j)
    return np.array(keep)


def _to_y_up(P, up_axis):
    """Cyclic axis permutation (a proper rotation) putting ``up_axis`` at index 1."""
    if up_axis == 1:
        return P
    order = [(k + up_axis - 1) % 3 for k in range(3)]
    return P[..., order]


def make_rig(seqs, names=None, parents=None, up_axis=1, meters_per_unit=None, root=None):
    """Analyse a skeleton from global-position sequences ``[T, J, 3]`` (file units)."""
    seqs = [np.asarray(s, dtype=np.float64) for s in seqs]
    if not seqs:
        raise ValueError("no motion given")
    J = seqs[0].shape[1]
    names = tuple(names) if names is not None else tuple(f"joint{j}" for j in range(J))
    if len(names) != J:
        raise ValueError(f"{len(names)} joint names for {J} joints")
    parents = None if parents is None else np.asarray(parents, dtype=int)
    ups = [_to_y_up(s, up_axis) for s in seqs]

    # root: given; else the first joint that moves; else a hips-like name; else joint 0
    if root is not None:
        root = names.index(root) if isinstance(root, str) else int(root)
    else:
        extent = max(float(np.ptp(s[0], axis=0).max()) for s in ups) or 1.0
        moving = np.zeros(J, dtype=bool)
        for s in ups:
            moving |= np.ptp(s, axis=0).max(axis=-1) > 1e-4 * extent
        if moving.any():
            root = int(np.argmax(moving))
        else:
            hips = [j for j, n in enumerate(names) if HIPS_PATTERN.search(n)]
            root = hips[0] if hips else 0
    keep = _descendants(parents, root) if parents is not None else np.arange(root, J)
    kept = set(keep.tolist())

    # heading pairs: left/right joints whose parent is a centre joint (hips, shoulders)
    pairs = []
    if names[0] != "joint0":
        swap = _mirror_map(names)
        all_pairs = [(j, int(swap[j])) for j in keep if swap[j] != j and swap[j] in kept and LEFT_PATTERN.search(names[j])]
        if parents is not None:
            limb_roots = [(a, b) for a, b in all_pairs if parents[a] >= 0 and swap[parents[a]] == parents[a]]
            pairs = limb_roots or all_pairs
        else:
            pairs = all_pairs

    # feet (indices into keep), grouped into one foot per chain (ankle + toes)
    kept_names = [names[j] for j in keep]
    feet = [i for i, n in enumerate(kept_names) if FOOT_PATTERN.search(n)]
    if not feet:
        leaves = [i for i, j in enumerate(keep) if parents is None or not np.any(parents == j)]
        heights = np.array([np.mean([s[:, keep[i], 1].mean() for s in ups]) for i in leaves])
        scale = float(np.mean([np.ptp(s[:, keep, 1]) for s in ups])) or 1.0
        feet = [leaves[k] for k in np.nonzero(heights <= heights.min() + 0.1 * scale)[0]]
    feet = group_feet(feet, keep, parents)

    if meters_per_unit is None:
        meters_per_unit = _guess_meters_per_unit(ups, parents, root, keep, feet)
    return Rig(names, parents, root, keep, pairs, feet, float(meters_per_unit), up_axis)


def group_feet(feet, keep, parents):
    """Foot joints joined through parent links form one foot: [[ankle, toes], [ankle, toes]]."""
    if parents is None:
        return [[f] for f in feet]
    groups = []
    where = {}
    for f in feet:  # parent-before-child order: a joint joins its parent's group
        g = where.get(int(parents[keep[f]]))
        if g is None:
            g = len(groups)
            groups.append([])
        groups[g].append(f)
        where[int(keep[f])] = g
    return groups


def _guess_meters_per_unit(ups, parents, root, keep, feet):
    """Units from the leg length (root -> ankle along the bones), nominally 0.85 m."""
    P0 = ups[0][0]
    legs = []
    if parents is not None:
        foot_joints = {int(keep[f]) for group in feet for f in group}
        for j in foot_joints:
            if parents[j] in foot_joints:  # toes below an ankle: measure to the ankle only
                continue
            length, k = 0.0, j
            while k != root and k >= 0:
                length += float(np.linalg.norm(P0[k] - P0[parents[k]]))
                k = parents[k]
            if k == root and length > 0:
                legs.append(length)
    if not legs:  # no hierarchy: root height above the lowest foot joint, median over frames
        flat = [f for group in feet for f in group]
        heights = [np.median(s[:, root, 1] - s[:, keep[flat], 1].min(axis=-1)) for s in ups]
        legs = [float(np.median(heights))]
    leg = float(np.median(legs))
    if not leg > 0:
        return 1.0
    best = min(UNIT_CANDIDATES.values(), key=lambda u: abs(math.log(leg * u / NOMINAL_LEG_M)))
    if abs(math.log(leg * best / NOMINAL_LEG_M)) > math.log(1.6):
        return NOMINAL_LEG_M / leg  # an odd scale: normalise the leg instead
    return best


# ========================================================================== windows

def _sequences(motions, fps, skeleton):
    """Global positions [T, J, 3] at ``fps`` for Motions or arrays, plus names and parents."""
    if _is_motion(motions) or (isinstance(motions, np.ndarray) and motions.ndim == 3):
        motions = [motions]
    seqs, names, parents = [], None, None
    if skeleton is not None:
        if hasattr(skeleton, "names"):
            names, parents = tuple(skeleton.names), np.asarray(skeleton.parents)
        else:
            names = tuple(skeleton)
    for m in motions:
        if _is_motion(m):
            if names is None:
                names, parents = tuple(m.skeleton.names), np.asarray(m.skeleton.parents)
            elif tuple(m.skeleton.names) != names:
                raise ValueError(f"clip {m.name or ''} has another skeleton than the first clip".replace("  ", " "))
            if abs(m.fps - fps) > 1e-3 * fps:
                m = m.resample(fps)
            seqs.append(m.global_positions())
        else:
            a = np.asarray(m, dtype=np.float64)
            if a.ndim != 3 or a.shape[-1] != 3:
                raise ValueError(f"global positions must be [T, J, 3], got {list(a.shape)}")
            seqs.append(a)
    if seqs and len({s.shape[1] for s in seqs}) > 1:
        raise ValueError("clips have different joint counts")
    return seqs, names, parents


def _heading_rotation(first, rig):
    """Per-window yaw that turns the facing direction at ``first [N, J, 3]`` to +Z.

    Returns (cos, sin) of the angle to rotate by about +Y.
    """
    N = len(first)
    if rig.pairs:
        pos = {j: i for i, j in enumerate(rig.keep)}
        across = np.zeros((N, 3))
        for a, b in rig.pairs:
            across += first[:, pos[a]] - first[:, pos[b]]
        fx, fz = -across[:, 2], across[:, 0]  # forward = across x up (up = +Y)
    else:
        fx, fz = np.zeros(N), np.ones(N)
    theta = np.arctan2(fx, fz)
    return np.cos(-theta), np.sin(-theta)


def _canonical_windows(seqs, rig, length, stride, max_windows=None, rng=None):
    """Cut and canonicalise windows; with ``max_windows`` a random subset of the starts is
    drawn first, so a large dataset is never materialised whole."""
    starts = [np.arange(0, len(P) - length + 1, stride) if len(P) >= length else np.zeros(0, dtype=int)
              for P in seqs]
    if max_windows is not None and sum(len(s) for s in starts) > max_windows:
        clip_of = np.concatenate([np.full(len(s), c) for c, s in enumerate(starts)])
        keep = np.zeros(len(clip_of), dtype=bool)
        keep[(rng or np.random.default_rng(0)).choice(len(clip_of), max_windows, replace=False)] = True
        bounds = np.cumsum([0] + [len(s) for s in starts])
        starts = [s[keep[bounds[c]:bounds[c + 1]]] for c, s in enumerate(starts)]
    out, clips = [], []
    J = len(rig.keep)
    for c, P in enumerate(seqs):
        if len(starts[c]) == 0:
            continue
        P = _to_y_up(P[:, rig.keep], rig.up_axis) * rig.meters_per_unit
        W = P[starts[c][:, None] + np.arange(length)[None]]  # [n, L, J, 3]
        origin = W[:, 0, 0].copy()
        origin[:, 1] = 0.0
        W = W - origin[:, None, None]
        c_, s_ = _heading_rotation(W[:, 0], rig)
        x, z = W[..., 0].copy(), W[..., 2].copy()
        W[..., 0] = c_[:, None, None] * x + s_[:, None, None] * z
        W[..., 2] = -s_[:, None, None] * x + c_[:, None, None] * z
        out.append(W)
        clips.append(np.full(len(W), c))
    if not out:
        return np.zeros((0, length, J, 3)), np.zeros(0, dtype=int)
    return np.concatenate(out), np.concatenate(clips)


def windows(motions, length=DEFAULT_LENGTH, stride=None, up_axis=1, meters_per_unit=None, *,
            fps=DEFAULT_FPS, skeleton=None, root=None, return_clips=False, rig=None):
    """Canonical windows ``[N, length, J, 3]`` in metres, Y up.

    ``motions``: Motion objects (resampled to ``fps`` when needed) or global-position
    arrays ``[T, J, 3]`` already at ``fps`` (pass ``skeleton`` -- a Skeleton, or joint
    names -- so the facing direction and the feet can be found; without names the
    windows are only translated, not turned).

    Windows start every ``stride`` frames (default ``length // 6``); clips shorter than
    ``length`` give none. Each window is moved so the root's ground projection is at the
    origin and turned about the vertical so the character faces +Z at its first frame
    (facing = horizontal ``(left - right) x up`` summed over left/right joint pairs of
    the limb roots, e.g. the hips and shoulders). ``J`` counts the root and its
    descendants: joints above the root (a static BVH ``ROOT``) are dropped. The root is
    ``root`` (index or name) when given, else the first joint that moves, else a
    hips/pelvis joint, else joint 0. ``up_axis`` is the input's vertical axis (0, 1, 2);
    the output is always Y up (a proper rotation, handedness kept). ``meters_per_unit``
    is guessed when None from the leg length (root to ankle along the bones, 0.85 m
    nominal; the closest of m, dm, cm, mm, inch, foot).

    ``return_clips=True`` also returns the clip index of every window. ``rig`` (from
    :func:`make_rig`) overrides the skeleton analysis, so several sets share one.
    """
    seqs, names, parents = _sequences(motions, fps, skeleton)
    if rig is None:
        rig = make_rig(seqs, names, parents, up_axis, meters_per_unit, root)
        if not rig.pairs and names is None:
            warnings.warn("no joint names: windows are translated but not turned to face +Z", stacklevel=2)
    stride = stride or max(1, length // 6)
    W, clips = _canonical_windows(seqs, rig, length, stride)
    return (W, clips) if return_clips else W


def features(windows, fps=DEFAULT_FPS):
    """Per-window features ``[N, D]`` (float32): positions (m) and velocities (m/s) flattened."""
    W = np.asarray(windows, dtype=np.float64)
    N = len(W)
    vel = np.diff(W, axis=1) * fps
    return np.concatenate([W.reshape(N, -1), vel.reshape(N, -1)], axis=1).astype(np.float32)


# ============================================================================== PCA / FD

def _top_eigh(G, top, seed=0, power_iterations=4):
    """Leading ``top`` eigenpairs of a symmetric PSD matrix, largest first.

    Exact (LAPACK) up to 2,000 rows; above that randomized subspace iteration (Halko et
    al. 2011), as a full 5,000 x 5,000 eigendecomposition takes ~20 s on two cores.
    """
    m = len(G)
    if m <= 2000 or top >= m // 2:
        lam, U = np.linalg.eigh(G)
        return lam[::-1][:top], U[:, ::-1][:, :top]
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(G @ rng.standard_normal((m, min(m, top + 64))))[0]
    for _ in range(power_iterations):
        Q = np.linalg.qr(G @ Q)[0]
    lam, S = np.linalg.eigh(Q.T @ G @ Q)
    order = np.argsort(lam)[::-1][:top]
    return lam[order], Q @ S[:, order]


class PCA:
    """PCA fitted on the rows of ``X``: the fewest components explaining ``variance`` of the
    total, at most ``max_components`` (only those leading eigenpairs are computed)."""

    def __init__(self, X, variance=0.999, max_components=256):
        X = np.asarray(X, dtype=np.float32)
        if len(X) < 2:
            raise ValueError("PCA needs at least two windows")
        self.mean = X.mean(axis=0, dtype=np.float64)
        Xc = X - self.mean.astype(np.float32)
        n, d = Xc.shape
        small = n <= d
        gram = (Xc @ Xc.T) if small else (Xc.T @ Xc)
        gram = gram.astype(np.float64)
        total = float(np.trace(gram))
        m = len(gram)
        top = min(int(max_components), m)
        lam, U = _top_eigh(gram, top)
        good = lam > max(lam[0], 0.0) * 1e-10
        lam, U = lam[good], U[:, good]
        if len(lam) == 0:
            raise ValueError("PCA of windows that are all identical")
        ratio = np.cumsum(lam) / total
        k = int(min(np.searchsorted(ratio, variance) + 1, len(lam)))
        lam, U = lam[:k], U[:, :k]
        V = (Xc.T.astype(np.float64) @ U) / np.sqrt(lam) if small else U
        self.k = k
        self.components = V
        self.variances = lam / (n - 1)
        self.explained = float(ratio[k - 1])

    def transform(self, X, whiten=False):
        Y = (np.asarray(X, dtype=np.float64) - self.mean) @ self.components
        return Y / np.sqrt(self.variances) if whiten else Y


def _gaussian(Y):
    return Y.mean(axis=0), np.cov(Y, rowvar=False).reshape(Y.shape[1], Y.shape[1])


def frechet_distance(a, b):
    """Fréchet distance between Gaussian fits; ``a``, ``b`` are sample rows or (mean, cov) pairs."""
    mu1, s1 = a if isinstance(a, tuple) else _gaussian(np.asarray(a, dtype=np.float64))
    mu2, s2 = b if isinstance(b, tuple) else _gaussian(np.asarray(b, dtype=np.float64))
    # tr sqrt(s1 s2) = tr sqrt(r s2 r), r = s1^(1/2), symmetric so eigh is stable
    w, V = np.linalg.eigh(s1)
    r = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
    m = r @ s2 @ r
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    fd = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)
    return max(fd, 0.0)  # round-off can dip below 0 for identical sets


# ===================================================================== nearest neighbours

def nearest_neighbours(A, B, chunk=512):
    """Index of, and distance to, the nearest row of ``B`` for each row of ``A`` (chunked matrix products)."""
    A = np.asarray(A, dtype=np.float32)
    B = np.asarray(B, dtype=np.float32)
    if len(B) == 0:
        raise ValueError("nearest neighbours in an empty set")
    bb = np.einsum("ij,ij->i", B, B)
    index = np.empty(len(A), dtype=np.int64)
    out = np.empty(len(A), dtype=np.float64)
    for s in range(0, len(A), chunk):
        a = A[s:s + chunk]
        d2 = np.einsum("ij,ij->i", a, a)[:, None] - 2.0 * (a @ B.T)
        d2 += bb[None]
        index[s:s + chunk] = d2.argmin(axis=1)
        out[s:s + chunk] = np.take_along_axis(d2, index[s:s + chunk, None], axis=1)[:, 0]
    return index, np.sqrt(np.clip(out, 0.0, None))


def nearest_neighbour_distances(A, B, chunk=512):
    """Distance from each row of ``A`` to its nearest row of ``B``."""
    return nearest_neighbours(A, B, chunk)[1]


def _rms(d, dim):
    return d / math.sqrt(dim)


def novelty(G, R):
    """Mean nearest-neighbour distance (RMS per feature) from G windows to R windows."""
    return float(_rms(nearest_neighbour_distances(G, R), np.shape(G)[1]).mean())


def covered(H, G, threshold):
    """Per H window: is its nearest G window closer than ``threshold`` (RMS per feature)?"""
    return _rms(nearest_neighbour_distances(H, G), np.shape(H)[1]) < threshold


def coverage(H, G, threshold):
    """Share of H windows whose nearest G window is closer than ``threshold`` (RMS per feature)."""
    return float(np.mean(covered(H, G, threshold)))


def diversity(X, pairs=2000, seed=0):
    """Mean distance (RMS per feature) between random pairs of distinct windows."""
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    if n < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, pairs)
    j = (i + rng.integers(1, n, pairs)) % n
    d = np.linalg.norm(X[i].astype(np.float64) - X[j], axis=1)
    return float(_rms(d, X.shape[1]).mean())


def diversity_within(X, clips, clip_groups):
    """Mean distance (RMS per feature) between the average windows of two clips with the same labels.

    ``clips``: clip index per window; ``clip_groups``: a label combination (tuple) per clip. This is
    what plain diversity misses in a conditional model: variety that comes from the labels
    alone hides a generator that gives one motion per label (mode collapse). Windows are
    averaged per clip first, so a clip's own variation over time does not count. NaN when no
    label combination has two clips with windows.
    """
    X = np.asarray(X, dtype=np.float64)
    clips = np.asarray(clips)
    ids = np.unique(clips)
    means = np.stack([X[clips == c].mean(axis=0) for c in ids])
    keys = [tuple(clip_groups[c]) for c in ids]
    d = []
    for key in set(keys):
        rows = [i for i, k in enumerate(keys) if k == key]
        for a in range(len(rows)):
            for b in range(a + 1, len(rows)):
                d.append(np.linalg.norm(means[rows[a]] - means[rows[b]]))
    return float(_rms(np.asarray(d), X.shape[1]).mean()) if d else float("nan")


# ========================================================================== foot / jitter

def _foot_groups(feet):
    return [list(g) if isinstance(g, (list, tuple, np.ndarray)) else [int(g)] for g in feet]


def foot_heights_floor(windows, feet, percentile=GROUND_PERCENTILE):
    """Contact height of every foot joint (flattened ``feet`` order): a low percentile of its height."""
    flat = [f for g in _foot_groups(feet) for f in g]
    W = np.asarray(windows)
    return np.percentile(W[:, :, flat, 1].reshape(-1, len(flat)), percentile, axis=0)


def foot_skate(windows, feet, fps=DEFAULT_FPS, ground=None, contact_height=CONTACT_HEIGHT_M,
               speed=SKATE_SPEED_MS):
    """Share of frames in which some foot is down and slides (canonical windows, metres, Y up).

    ``feet``: feet as groups of joints (``[[ankle_l, toes_l], [ankle_r, toes_r]]``; a flat
    list means one joint per foot). A foot is *down* when every joint of it is within
    ``contact_height`` of that joint's ground (``ground``: per joint, flattened order, see
    :func:`foot_heights_floor`; default: this set's own); it *slides* when even its slowest
    joint moves faster than ``speed`` horizontally -- a planted foot rolling over heel or
    toe keeps one point still. (Counting single joints instead would call every walking
    swing a skate: the toes pass within 2 cm of the floor at full speed mid-swing.)
    Frame t counts with the step t -> t+1: height = mean of the two, speed = step / dt.
    """
    skating, _ = skating_frames(windows, feet, fps, ground, contact_height, speed)
    return float(skating.mean()) if skating is not None else float("nan")


def skating_frames(windows, feet, fps=DEFAULT_FPS, ground=None, contact_height=CONTACT_HEIGHT_M,
                   speed=SKATE_SPEED_MS):
    """What :func:`foot_skate` counts, frame by frame: ``(skating [N, T-1] bool, slide speed
    [N, T-1] m/s)``, the speed being the fastest sliding foot's slowest joint (0 where none
    slides); ``(None, None)`` for no windows or no feet. Where feet slide and how fast is what
    tells a planted foot dragging (under ~1 m/s) from one landing or lifting at walking speed."""
    groups = _foot_groups(feet)
    flat = [f for g in groups for f in g]
    W = np.asarray(windows, dtype=np.float64)
    if len(W) == 0 or not flat:
        return None, None
    F = W[:, :, flat]
    if ground is None:
        ground = foot_heights_floor(W, groups)
    h = 0.5 * (F[:, 1:, :, 1] + F[:, :-1, :, 1]) - np.asarray(ground)
    v = np.linalg.norm(F[:, 1:][..., [0, 2]] - F[:, :-1][..., [0, 2]], axis=-1) * fps
    skating = np.zeros(h.shape[:2], dtype=bool)
    slide = np.zeros(h.shape[:2])
    start = 0
    for g in groups:
        cols = slice(start, start + len(g))
        start += len(g)
        slowest = v[..., cols].min(axis=-1)
        this = (h[..., cols] < contact_height).all(axis=-1) & (slowest > speed)
        skating |= this
        slide = np.where(this, np.maximum(slide, slowest), slide)
    return skating, slide


def jitter(windows, fps=DEFAULT_FPS):
    """Mean norm of the third time difference of joint positions x fps^3 (m/s^3)."""
    W = np.asarray(windows, dtype=np.float64)
    if len(W) == 0 or W.shape[1] < 4:
        return float("nan")
    return float(np.linalg.norm(np.diff(W, n=3, axis=1), axis=-1).mean() * fps ** 3)


# ========================================================================== classifier

class LabelClassifier:
    """Multinomial logistic regression on whitened PCA features, clips weighted equally."""

    def __init__(self, pca, X, labels, clips, components=64, l2=1e-2, maxiter=300):
        self.pca = pca
        self.components = min(int(components), pca.k)
        labels = np.asarray([str(x) for x in labels])
        self.classes = sorted(set(labels.tolist()))
        y = np.searchsorted(self.classes, labels)
        Z = self._design(X)
        counts = np.bincount(clips)
        w = 1.0 / counts[clips]
        w /= w.sum()
        n, d = Z.shape
        C = len(self.classes)
        Y = np.zeros((n, C))
        Y[np.arange(n), y] = 1.0

        def loss(theta):
            Wt = theta.reshape(d, C)
            S = Z @ Wt
            S -= S.max(axis=1, keepdims=True)
            lse = np.log(np.exp(S).sum(axis=1, keepdims=True))
            logp = S - lse
            f = -np.sum(w[:, None] * Y * logp) + 0.5 * l2 * np.sum(Wt[:-1] ** 2)
            g = Z.T @ (w[:, None] * (np.exp(logp) - Y))
            g[:-1] += l2 * Wt[:-1]
            return f, g.ravel()

        res = optimize.minimize(loss, np.zeros(d * C), jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
        self.weights = res.x.reshape(d, C)

    def _design(self, X):
        Z = self.pca.transform(X, whiten=True)[:, :self.components]
        return np.concatenate([Z, np.ones((len(Z), 1))], axis=1)

    def log_proba(self, X):
        S = self._design(X) @ self.weights
        S -= S.max(axis=1, keepdims=True)
        return S - np.log(np.exp(S).sum(axis=1, keepdims=True))

    def predict_clips(self, X, clips):
        """One predicted label per clip that has windows (mean window log-probability)."""
        logp = self.log_proba(X)
        out = {}
        for c in np.unique(clips):
            out[int(c)] = self.classes[int(np.argmax(logp[clips == c].mean(axis=0)))]
        return out


def clip_predictions(clf, seqs, rig, length, stride, fps, chunk=100):
    """{clip index: predicted label} for every clip of ``seqs`` with windows, each read from *all*
    its windows.

    FD and the distances work on at most ``max_train_windows`` windows drawn at random; a clip's
    label must not: read from a random part of its windows it is told apart less well than the
    held-out clips of the ceiling, read from all of theirs. Chunks of clips keep memory small.
    """
    out = {}
    for first in range(0, len(seqs), chunk):
        W, clips = _canonical_windows(seqs[first:first + chunk], rig, length, stride)
        if len(W):
            out.update({first + c: p for c, p in clf.predict_clips(features(W, fps), clips).items()})
    return out


def reading(predicted, clip_labels, classes):
    """How a classifier read labelled clips: overall accuracy, accuracy and clip count per true label,
    and the confusion counts ``[true][predicted]`` over ``classes`` (which label is taken for which:
    the per-label view the single accuracy hides)."""
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=int)
    for c, p in predicted.items():
        truth = str(clip_labels[c])
        if truth in index:
            counts[index[truth], index[p]] += 1
    n = counts.sum(axis=1)
    right = [p == str(clip_labels[c]) for c, p in predicted.items()]
    return {"accuracy": float(np.mean(right)) if right else float("nan"),
            "by_label": {c: {"accuracy": float(counts[i, i] / n[i]) if n[i] else None, "clips": int(n[i])}
                         for i, c in enumerate(classes)},
            "confusion": counts.tolist()}


# ====================================================================== the evaluation

def _as_list(x):
    if _is_motion(x) or (isinstance(x, np.ndarray) and x.ndim == 3):
        return [x]
    return list(x)


class Reference:
    """Everything computed once from the real sets: windows, features, PCA, classifiers, H stats.

    ``labels``: ``{name: {"train": [...], "heldout": [...]}}``, one label per clip.
    ``max_train_windows``: at most this many R (and H, and later G) windows are kept, a
    seeded random subset, for PCA and neighbours.
    """

    def __init__(self, train, heldout, labels=None, *, length=DEFAULT_LENGTH, stride=None, fps=DEFAULT_FPS,
                 up_axis=1, meters_per_unit=None, skeleton=None, root=None, variance=0.999, max_components=256,
                 max_train_windows=5000, draws=DRAWS, seed=0, classifier_components=128):
        train, heldout = _as_list(train), _as_list(heldout)
        self.length, self.fps, self.draws, self.seed = length, fps, draws, seed
        self.stride = stride or max(1, length // 6)
        seqs_r, names, parents = _sequences(train, fps, skeleton)
        self.rig = make_rig(seqs_r, names, parents, up_axis, meters_per_unit, root)
        self.skeleton = skeleton
        self.named = names is not None
        self.max_windows = max_train_windows
        rng = np.random.default_rng(seed)
        W_r, clips_r = _canonical_windows(seqs_r, self.rig, length, self.stride, max_train_windows, rng)
        seqs_h, _, _ = _sequences(heldout, fps, skeleton if skeleton is not None else _skeleton_of(train))
        W_h, clips_h = _canonical_windows(seqs_h, self.rig, length, self.stride, max_train_windows, rng)
        if len(W_r) < 2 or len(W_h) < 2:
            raise ValueError(f"too few windows of {length} frames: train {len(W_r)}, held-out {len(W_h)}")
        self.W_r, self.clips_r, self.W_h, self.clips_h = W_r, clips_r, W_h, clips_h
        self.F_r, self.F_h = features(W_r, fps), features(W_h, fps)
        self.center = self.F_r.mean(axis=0)
        self.X_r, self.X_h = self.F_r - self.center, self.F_h - self.center  # centred for precise distances
        self.pca = PCA(self.F_r, variance, max_components)
        self.Y_r, self.Y_h = self.pca.transform(self.F_r), self.pca.transform(self.F_h)
        self.gauss_h = _gaussian(self.Y_h)
        self.nn_hr = _rms(nearest_neighbour_distances(self.X_h, self.X_r), self.X_r.shape[1])
        self.coverage_threshold = float(np.median(self.nn_hr))
        self.ground = foot_heights_floor(W_r, self.rig.feet)
        self.h_stats = {
            "novelty": float(self.nn_hr.mean()),
            "diversity": diversity(self.X_h, seed=seed),
            "foot_skate": foot_skate(W_h, self.rig.feet, fps, self.ground),
            "jitter": jitter(W_h, fps),
        }
        self.classifiers, self.ceilings, self.readings = {}, {}, {}  # readings: the held-out takes', per label
        self.label_columns = sorted(labels or {})
        for name, sets in (labels or {}).items():
            for part, clips_ in (("train", train), ("heldout", heldout)):
                if len(sets[part]) != len(clips_):
                    raise ValueError(f"{len(sets[part])} {name} labels for {len(clips_)} {part} clips")
            lab_r = np.asarray([sets["train"][c] for c in clips_r])
            clf = LabelClassifier(self.pca, self.F_r, lab_r, clips_r, classifier_components)
            self.classifiers[name] = clf
            self.readings[name] = reading(clip_predictions(clf, seqs_h, self.rig, length, self.stride, fps),
                                          list(sets["heldout"]), clf.classes)
            self.ceilings[name] = self.readings[name]["accuracy"]
            self.ceilings[name + "_chance"] = 1.0 / len(clf.classes)
        if self.label_columns:  # NaN unless two held-out takes share their labels
            groups = list(zip(*[labels[c]["heldout"] for c in self.label_columns]))
            self.h_stats["diversity_within"] = diversity_within(self.X_h, self.clips_h, groups)
        self._floors = {}

    def windows_of(self, motions):
        """Every canonical window of ``motions`` on this reference's rig, as centred features
        ``[N, D]`` (comparable with ``X_r`` / ``X_h``), and the clip index of each."""
        W, clips = self.canonical_windows(motions)
        return features(W, self.fps) - self.center, clips

    def canonical_windows(self, motions):
        """Every canonical window of ``motions`` on this reference's rig ``[N, length, J, 3]``
        (metres, as ``W_r`` / ``W_h``), and the clip index of each."""
        seqs, _, _ = _sequences(_as_list(motions), self.fps, self.skeleton)
        return _canonical_windows(seqs, self.rig, self.length, self.stride)

    def floor(self, n):
        """FD floor and coverage reference for a generated set of ``n`` windows (cached)."""
        if n not in self._floors:
            rng = np.random.default_rng(self.seed + 1)
            m = min(n, len(self.F_r))
            fds, covs = [], []
            for _ in range(self.draws):
                sel = rng.choice(len(self.F_r), m, replace=False)
                fds.append(frechet_distance(self.Y_r[sel], self.gauss_h))
                covs.append(coverage(self.X_h, self.X_r[sel], self.coverage_threshold))
            self._floors[n] = {"fd": float(np.mean(fds)), "fd_std": float(np.std(fds)),
                               "coverage": float(np.mean(covs)), "windows": m}
        return self._floors[n]


def _skeleton_of(motions):
    for m in motions:
        if _is_motion(m):
            return m.skeleton
    return None


METRIC_INFO = {
    "fd": ("FD (G vs H)", "FD(R subsample of G's size, H), mean of draws", "lower"),
    "novelty": ("novelty (NN G->R)", "H->R", "near 1x"),
    "coverage": ("coverage of H", "R subsample of G's size", "higher"),
    "diversity": ("diversity", "H", "near 1x"),
    "diversity_within": ("diversity within labels", "H, same labels", "near 1x"),
    "foot_skate": ("foot skate (share of frames)", "H", "lower"),
    "jitter": ("jitter (m/s^3)", "H", "near 1x"),
}


def evaluate(generated, train=None, heldout=None, labels=None, *, reference=None, targets=None, **options):
    """Every metric of DESIGN section 5 for the generated clips, beside its real reference.

    ``generated``, ``train``, ``heldout``: lists of Motion objects or global-position
    arrays (one skeleton). ``labels``: ``{name: {"generated": [...], "train": [...],
    "heldout": [...]}}`` with one label per clip (e.g. ``{"style": {...}}``). ``reference``:
    a :class:`Reference` built earlier (then ``train``/``heldout`` may be None and the
    train/heldout label lists are taken from it). ``targets``: ``{metric: text}`` shown by
    :func:`format_table`. ``options`` go to :class:`Reference` (length, stride, fps,
    up_axis, meters_per_unit, skeleton, root, variance, max_components, draws, seed).

    Returns a JSON-ready dict: ``metrics[name] = {generated, reference, ratio, ...}``,
    window counts and settings.
    """
    if reference is None:
        if train is None or heldout is None:
            raise ValueError("evaluate needs train and heldout clips, or a reference")
        ref_labels = {k: {"train": v["train"], "heldout": v["heldout"]} for k, v in (labels or {}).items()}
        reference = Reference(train, heldout, ref_labels, **options)
    elif options:
        raise ValueError(f"options {sorted(options)} are fixed by the reference")
    ref = reference
    generated = _as_list(generated)
    seqs_g, names_g, _ = _sequences(generated, ref.fps, ref.skeleton)
    if names_g is not None and ref.named and names_g != ref.rig.names:
        raise ValueError("generated clips use another skeleton than the training clips")
    if seqs_g and seqs_g[0].shape[1] != len(ref.rig.names):
        raise ValueError(f"generated clips have {seqs_g[0].shape[1]} joints, training clips {len(ref.rig.names)}")
    W_g, clips_g = _canonical_windows(seqs_g, ref.rig, ref.length, ref.stride, ref.max_windows,
                                      np.random.default_rng(ref.seed + 2))
    if len(W_g) < 2:
        raise ValueError(f"the generated clips give {len(W_g)} windows of {ref.length} frames; need at least 2")
    F_g = features(W_g, ref.fps)
    X_g = F_g - ref.center
    Y_g = ref.pca.transform(F_g)
    floor = ref.floor(len(W_g))
    D = X_g.shape[1]

    values = {
        "fd": (frechet_distance(Y_g, ref.gauss_h), floor["fd"]),
        "novelty": (novelty(X_g, ref.X_r), ref.h_stats["novelty"]),
        "coverage": (coverage(ref.X_h, X_g, ref.coverage_threshold), floor["coverage"]),
        "diversity": (diversity(X_g, seed=ref.seed), ref.h_stats["diversity"]),
        "foot_skate": (foot_skate(W_g, ref.rig.feet, ref.fps, ref.ground), ref.h_stats["foot_skate"]),
        "jitter": (jitter(W_g, ref.fps), ref.h_stats["jitter"]),
    }
    metrics = {}
    for key, (g, r) in values.items():
        title, ref_desc, better = METRIC_INFO[key]
        metrics[key] = {"title": title, "generated": g, "reference": r, "ratio": _ratio(g, r),
                        "reference_is": ref_desc, "better": better}
    metrics["fd"]["reference_std"] = floor["fd_std"]
    h = ref.h_stats.get("diversity_within", float("nan"))
    columns = ref.label_columns
    if np.isfinite(h) and labels and all(len(labels.get(c, {}).get("generated", ())) == len(seqs_g)
                                         for c in columns):
        g = diversity_within(X_g, clips_g, list(zip(*[labels[c]["generated"] for c in columns])))
        title, ref_desc, better = METRIC_INFO["diversity_within"]
        metrics["diversity_within"] = {"title": title, "generated": g, "reference": h, "ratio": _ratio(g, h),
                                       "reference_is": ref_desc, "better": better}
    for name, clf in ref.classifiers.items():
        if not labels or name not in labels or "generated" not in labels[name]:
            continue
        lab_g = list(labels[name]["generated"])
        if len(lab_g) != len(seqs_g):
            raise ValueError(f"{len(lab_g)} {name} labels for {len(seqs_g)} generated clips")
        read = reading(clip_predictions(clf, seqs_g, ref.rig, ref.length, ref.stride, ref.fps), lab_g, clf.classes)
        acc, ceil, real = read["accuracy"], ref.ceilings[name], ref.readings[name]
        metrics[f"accuracy_{name}"] = {
            "title": f"{name} accuracy", "generated": acc, "reference": ceil, "ratio": _ratio(acc, ceil),
            "reference_is": "H (ceiling)", "better": "higher", "chance": ref.ceilings[name + "_chance"],
            "by_label": {c: {"generated": read["by_label"][c]["accuracy"], "reference": real["by_label"][c]["accuracy"],
                             "generated_clips": read["by_label"][c]["clips"], "reference_clips": real["by_label"][c]["clips"]}
                         for c in clf.classes},
            "confusion": {"classes": list(clf.classes), "generated": read["confusion"], "reference": real["confusion"]}}
    for key, text in (targets or {}).items():
        if key in metrics:
            metrics[key]["target"] = text
    return {
        "metrics": metrics,
        "windows": {"generated": int(len(W_g)), "train": int(len(ref.W_r)), "heldout": int(len(ref.W_h)),
                    "floor_subsample": floor["windows"]},
        "clips": {"generated": len(seqs_g), "generated_with_windows": int(len(np.unique(clips_g)))},
        "settings": {"length": ref.length, "stride": ref.stride, "fps": ref.fps, "feature_dims": int(D),
                     "pca_components": ref.pca.k, "pca_explained": ref.pca.explained, "draws": ref.draws,
                     "ground_m": [float(g) for g in ref.ground], **ref.rig.to_dict()},
    }


def _ratio(g, r):
    if r is None or not np.isfinite(r) or r == 0 or not np.isfinite(g):
        return None
    return float(g / r)


def _fmt(x):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if not np.isfinite(x):
        return "nan"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 0.01:
        return f"{x:.3f}"
    return f"{x:.2e}"


def format_table(result):
    """Markdown table of an :func:`evaluate` result."""
    metrics = result["metrics"]
    has_target = any("target" in m for m in metrics.values())
    head = ["metric", "generated", "real reference", "ratio"] + (["target"] if has_target else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * 3 + (["---"] if has_target else [])) + "|"]
    for key, m in metrics.items():
        ref = f"{_fmt(m['reference'])} ({m['reference_is']})"
        ratio = "-" if m["ratio"] is None else f"{m['ratio']:.2f}x"
        row = [m.get("title", key), _fmt(m["generated"]), ref, ratio]
        if has_target:
            row.append(str(m.get("target", "")))
        lines.append("| " + " | ".join(row) + " |")
    w = result.get("windows", {})
    s = result.get("settings", {})
    notes = [f"windows: generated {w.get('generated')}, train {w.get('train')}, held-out {w.get('heldout')}",
             f"{s.get('length')} frames at {s.get('fps')} fps, stride {s.get('stride')}; "
             f"PCA {s.get('pca_components')} components ({100 * s.get('pca_explained', 0):.1f}% of R variance)"]
    if result.get("label_spread"):
        notes.append(result["label_spread"])
    chance = [f"{m['title']}: chance {m['chance']:.2f}" for m in metrics.values() if "chance" in m]
    by_label = [f"{m['title']} by label, generated / held-out: " + ", ".join(
        f"{c} {_share(v['generated'])} / {_share(v['reference'])}" for c, v in m["by_label"].items())
        for m in metrics.values() if "by_label" in m]
    return "\n".join(lines + [""] + notes + chance + by_label) + "\n"


def _share(x):
    return "-" if x is None else f"{x:.2f}"
