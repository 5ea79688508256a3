"""Motion: a skeleton plus per-frame local rotations and translations.

Every joint keeps a local translation per frame (``positions [T, J, 3]``), not only the
root: BVH files in the wild (this dataset included) carry the moving root on a joint
below a static ``ROOT``, and keeping all translations makes BVH round trips exact.
For joints without position channels the translation is simply the rest OFFSET.
"""

from dataclasses import dataclass

import numpy as np

from . import rotations as rot
from .skeleton import Skeleton, fk, fk_matrices


MAX_FPS = 1000.0  # above any capture rate; a typo such as --fps 1e9 would otherwise fill the memory


def check_fps(fps, what="frame rate"):
    """``fps`` as a float, refused unless a rate frames can be made at: finite, above 0, at most
    :data:`MAX_FPS` (resampling makes duration x fps frames, so a huge rate runs out of memory).
    ``what`` names the value in the message (an option, say)."""
    fps = float(fps)
    if not (np.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise ValueError(f"{what} {fps:g}: give a frame rate above 0 and at most {MAX_FPS:g} fps")
    return fps


@dataclass(eq=False)
class Motion:
    skeleton: Skeleton
    rotations: np.ndarray  # [T, J, 4] local quaternions (w, x, y, z)
    positions: np.ndarray  # [T, J, 3] local translations
    fps: float
    name: str = ""

    def __post_init__(self):
        self.rotations = np.asarray(self.rotations, dtype=np.float64)
        self.positions = np.asarray(self.positions, dtype=np.float64)
        J = len(self.skeleton)
        if self.rotations.ndim != 3 or self.rotations.shape[1:] != (J, 4):
            raise ValueError(f"rotations must be [T, {J}, 4], got {list(self.rotations.shape)}")
        if self.positions.shape != self.rotations.shape[:2] + (3,):
            raise ValueError(f"positions must be [T, {J}, 3], got {list(self.positions.shape)}")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not (np.all(np.isfinite(self.rotations)) and np.all(np.isfinite(self.positions))):
            raise ValueError(f"motion {self.name or ''} contains NaN or infinite values".replace("  ", " "))

    # ------------------------------------------------------------- basics
    @property
    def frames(self):
        return len(self.rotations)

    @property
    def duration(self):
        return self.frames / self.fps

    @property
    def root_positions(self):
        return self.positions[:, 0]

    def copy(self, **changes):
        fields = dict(skeleton=self.skeleton, rotations=self.rotations.copy(),
                      positions=self.positions.copy(), fps=self.fps, name=self.name)
        fields.update(changes)
        return Motion(**fields)

    @classmethod
    def rest(cls, skeleton, frames=1, fps=30.0, name="rest"):
        J = len(skeleton)
        return cls(skeleton, rot.quat_identity((frames, J)),
                   np.broadcast_to(skeleton.offsets, (frames, J, 3)).copy(), fps, name)

    def global_transforms(self):
        """Global quaternions and positions, ``[T, J, 4]`` and ``[T, J, 3]``."""
        return fk(self.skeleton.parents, self.rotations, self.positions)

    def global_positions(self):
        return fk_matrices(self.skeleton.parents, self.rotations, self.positions)[1]

    # ------------------------------------------------------------- editing
    def slice(self, start, stop=None):
        stop = self.frames if stop is None else stop
        if not (0 <= start < stop <= self.frames):
            raise ValueError(f"frame range {start}:{stop} is outside the clip's 0:{self.frames}")
        return self.copy(rotations=self.rotations[start:stop].copy(), positions=self.positions[start:stop].copy())

    def resample(self, fps, frames=None):
        """Resample to another frame rate along C1 cubic curves (:func:`sample_at`).

        ``frames``: how many frames to make (default: as many as fit in the clip); past
        the end the last frame is held.
        """
        fps = check_fps(fps)
        if frames is None:
            if abs(fps - self.fps) < 1e-9:
                return self.copy()
            frames = max(1, int(np.floor((self.frames - 1) * fps / self.fps + 1e-6)) + 1)
        return self.sample_at(np.arange(int(frames)) * self.fps / fps, fps=fps)

    def sample_at(self, times, fps=None):
        """The motion at fractional frame indices ``times`` (clamped to the clip), played at ``fps``
        (default: this clip's).

        Catmull-Rom through the frames, rotations as unrolled quaternions renormalised: unlike
        slerp and lerp its velocity has no kink at every source frame (a 30 fps clip keyed at
        60 fps: joint jerk 1.24x the clip's own, against 7.6x with lerp; frames dropped from a
        capture come back 4x nearer; ``benchmarks/resampling.py``). Whole frame indices return
        the frames exactly.
        """
        fps = float(self.fps) if fps is None or fps == self.fps else check_fps(fps)  # a clip keeps its own rate
        t = np.clip(np.asarray(times, dtype=np.float64), 0.0, self.frames - 1)
        # Neighbours unrolled into one hemisphere keep the curve's norm above ~0.68 (random unit
        # quaternions, the worst case), so renormalising never divides by nearly zero.
        rotations = rot.quat_normalize(catmull_rom(rot.quat_unroll(self.rotations), t))
        positions = catmull_rom(self.positions, t)
        return self.copy(rotations=rotations, positions=positions, fps=fps)

    def mirror(self, frames=None):
        """Left/right mirror image: reflect world X and swap left and right joints.

        Mirrored global rotation of joint j is ``M G[swap[j]] A_j``, where ``A_j`` is a
        fixed improper axis flip mapping j's child offsets onto its counterpart's.
        Rigs often flip the local axes of the right side, so ``A_j`` differs per
        joint; see :func:`mirror_frames` (pass its result to reuse it over a dataset).
        """
        sk = self.skeleton
        swap = sk.mirror_map()
        A = mirror_frames(self) if frames is None else frames
        M = np.diag([-1.0, 1.0, 1.0])
        gmat, gpos = fk_matrices(sk.parents, self.rotations, self.positions)
        gmat = M @ gmat[:, swap] @ A
        gpos = gpos[:, swap] @ M.T
        local_m = np.empty_like(gmat)
        local_p = np.empty_like(gpos)
        local_m[:, 0] = gmat[:, 0]
        local_p[:, 0] = gpos[:, 0]
        pm = gmat[:, sk.parents[1:]]
        local_m[:, 1:] = np.swapaxes(pm, -1, -2) @ gmat[:, 1:]
        local_p[:, 1:] = np.einsum("tjki,tjk->tji", pm, gpos[:, 1:] - gpos[:, sk.parents[1:]])
        return self.copy(rotations=rot.quat_unroll(rot.matrix_to_quat(local_m)), positions=local_p,
                         name=f"{self.name}_mirror" if self.name else "mirror")


def catmull_rom(values, times):
    """``values`` [T, ...] at fractional indices ``times`` (within 0..T-1): the Catmull-Rom
    spline through them, its first and last segments continued by the line through the end
    frames, so a clip's ends keep their speed."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 1:
        return np.repeat(v, len(times), axis=0)
    padded = np.concatenate([2 * v[:1] - v[1:2], v, 2 * v[-1:] - v[-2:-1]])
    i = np.minimum(np.floor(times).astype(int), len(v) - 2)
    w = (np.asarray(times) - i).reshape((-1,) + (1,) * (v.ndim - 1))
    p0, p1, p2, p3 = padded[i], padded[i + 1], padded[i + 2], padded[i + 3]
    return p1 + 0.5 * w * ((p2 - p0) + w * ((2 * p0 - 5 * p1 + 4 * p2 - p3) + w * (3 * (p1 - p2) + p3 - p0)))


_IMPROPER_FLIPS = [np.diag(d) for d in ([-1.0, 1, 1], [1, -1.0, 1], [1, 1, -1.0], [-1.0, -1, -1])]


def mirror_frames(motion, tol=0.02):
    """Per-joint axis flips ``A [J, 3, 3]`` that make :meth:`Motion.mirror` exact.

    A joint's flip must map each child's translation onto the mirrored child's
    (``t[swap[c]] == A_j t[c]``); when that leaves a choice (a single child along
    the bone axis leaves the twist open) the flip that makes the mirrored clip's
    local rotations closest to the original's is taken: real motion is roughly
    symmetric, while a wrong flip is off by a half-turn twist on every frame.
    """
    sk = motion.skeleton
    swap = sk.mirror_map()
    J = len(sk)
    t = motion.positions[0]
    scale = max(np.abs(t[1:]).max(), 1e-9) if J > 1 else 1.0
    moving = np.ptp(motion.positions, axis=0).max(axis=-1) > 1e-6 * scale
    local = rot.quat_to_matrix(motion.rotations)
    A = np.empty((J, 3, 3))
    for j in range(J):
        cands = []
        for F in _IMPROPER_FLIPS:
            ok = True
            for c in sk.children(j):
                if moving[c] or moving[swap[c]]:
                    continue
                if np.abs(F @ t[c] - t[swap[c]]).max() > tol * scale:
                    ok = False
            if j in sk.end_sites and swap[j] in sk.end_sites:
                if np.abs(F @ sk.end_sites[j] - sk.end_sites[swap[j]]).max() > tol * scale:
                    ok = False
            if ok:
                cands.append(F)
        if not cands:
            raise ValueError(f"cannot mirror: the children of {sk.names[j]} and {sk.names[swap[j]]} "
                             "are not mirror images of each other")
        Ap = A[sk.parents[j]] if j > 0 else np.diag([-1.0, 1.0, 1.0])
        errs = [np.mean(np.abs(Ap.T @ local[:, swap[j]] @ F - local[:, j])) for F in cands]
        A[j] = cands[int(np.argmin(errs))]
    return A


def concatenate(motions, name=None):
    """Join clips of one skeleton and frame rate end to end (no blending)."""
    motions = list(motions)
    if not motions:
        raise ValueError("nothing to concatenate")
    first = motions[0]
    for m in motions[1:]:
        if not m.skeleton.same_topology(first.skeleton):
            raise ValueError(f"cannot concatenate {m.name or 'a clip'}: different skeleton")
        if abs(m.fps - first.fps) > 1e-6:
            raise ValueError(f"cannot concatenate clips at {first.fps:g} and {m.fps:g} fps; resample first")
    return first.copy(rotations=np.concatenate([m.rotations for m in motions]),
                      positions=np.concatenate([m.positions for m in motions]),
                      name=name if name is not None else first.name)
