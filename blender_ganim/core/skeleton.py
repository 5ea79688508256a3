"""Skeletons (joint names, parents, rest offsets, BVH channel layout) and forward kinematics."""

import functools
import re
from dataclasses import dataclass, field

import numpy as np

from . import rotations as rot

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A joint hierarchy in parent-before-child order.

    ``offsets[j]`` is joint j's rest translation in its parent's frame.
    ``channels[j]`` is its BVH channel list (kept so a written BVH matches the one read);
    ``end_sites`` maps a joint index to its End Site offset.
    """

    names: tuple
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple = None
    end_sites: dict = field(default_factory=dict)

    def __post_init__(self):
        names = tuple(self.names)
        parents = np.asarray(self.parents, dtype=np.int64)
        offsets = np.asarray(self.offsets, dtype=np.float64).reshape(-1, 3)
        if not (len(names) == len(parents) == len(offsets)):
            raise ValueError("skeleton names, parents and offsets differ in length")
        if len(names) == 0:
            raise ValueError("a skeleton needs at least one joint")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"duplicate joint names: {', '.join(dup)}")
        if parents[0] != -1 or np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, len(parents))):
            raise ValueError("joints must be ordered parent-before-child with a single root at index 0")
        channels = self.channels
        if channels is None:
            channels = tuple(
                (POSITION_CHANNELS if j == 0 else ()) + ("Zrotation", "Xrotation", "Yrotation")
                for j in range(len(names)))
        channels = tuple(tuple(c) for c in channels)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "end_sites", {int(k): np.asarray(v, dtype=np.float64) for k, v in self.end_sites.items()})

    # ---------------------------------------------------------------- queries
    def __len__(self):
        return len(self.names)

    @property
    def num_joints(self):
        return len(self.names)

    def index(self, name):
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no joint named {name!r} in the skeleton") from None

    def children(self, j):
        return [int(c) for c in np.nonzero(self.parents == j)[0]]

    def rotation_order(self, j):
        """Euler order of joint j's rotation channels, e.g. 'ZXY'."""
        letters = "".join(c[0].upper() for c in self.channels[j] if c in ROTATION_CHANNELS)
        return letters if len(letters) == 3 else "ZXY"

    def has_position_channels(self, j):
        return any(c in POSITION_CHANNELS for c in self.channels[j])

    def same_topology(self, other):
        return self.names == other.names and np.array_equal(self.parents, other.parents)

    def bone_lengths(self):
        return np.linalg.norm(self.offsets, axis=-1)

    def mirror_map(self):
        """Index of each joint's left/right counterpart (itself for centre joints).

        Recognises ``_L/_R``, ``.L/.R``, ``-L/-R``, ``Left/Right``, ``left/right`` and
        ``L_/R_`` prefixes, the conventions of BVH, Mixamo, Rigify and CMU rigs.
        """
        swaps = [
            (r"([_.\-])L$", r"\1R"), (r"([_.\-])R$", r"\1L"),
            (r"([_.\-])l$", r"\1r"), (r"([_.\-])r$", r"\1l"),
            (r"^L([_.\-])", r"R\1"), (r"^R([_.\-])", r"L\1"),
            ("Left", "Right"), ("Right", "Left"), ("left", "right"), ("right", "left"),
        ]
        lookup = {n: i for i, n in enumerate(self.names)}
        out = np.arange(len(self.names))
        for i, name in enumerate(self.names):
            for pattern, repl in swaps:
                other = re.sub(pattern, repl, name, count=1)
                if other != name and other in lookup:
                    out[i] = lookup[other]
                    break
        return out

    def leaf_joints(self):
        return [j for j in range(len(self)) if not self.children(j)]

    # ---------------------------------------------------------------- files
    def to_dict(self):
        return {
            "names": list(self.names),
            "parents": self.parents.tolist(),
            "offsets": self.offsets.tolist(),
            "channels": [list(c) for c in self.channels],
            "end_sites": {str(k): v.tolist() for k, v in self.end_sites.items()},
        }

    @classmethod
    def from_dict(cls, d):
        return cls(names=tuple(d["names"]), parents=np.array(d["parents"]), offsets=np.array(d["offsets"]),
                   channels=tuple(tuple(c) for c in d.get("channels") or []) or None,
                   end_sites={int(k): v for k, v in (d.get("end_sites") or {}).items()})


def fk(parents, rotations, positions):
    """Forward kinematics.

    ``rotations [..., J, 4]`` and ``positions [..., J, 3]`` are local (relative to the
    parent); returns global rotations and positions of the same shapes.
    """
    rotations = np.asarray(rotations, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    shape = np.broadcast_shapes(rotations.shape[:-1], positions.shape[:-1])
    grot = np.empty(shape + (4,))
    gpos = np.empty(shape + (3,))
    rotations = np.broadcast_to(rotations, shape + (4,))
    positions = np.broadcast_to(positions, shape + (3,))
    grot[..., 0, :] = rotations[..., 0, :]
    gpos[..., 0, :] = positions[..., 0, :]
    for js, ps in _levels(tuple(int(p) for p in parents)):  # every joint of a depth at once: a third of the calls
        gpos[..., js, :] = rot.quat_apply(grot[..., ps, :], positions[..., js, :]) + gpos[..., ps, :]
        grot[..., js, :] = rot.quat_mul(grot[..., ps, :], rotations[..., js, :])
    return grot, gpos


@functools.lru_cache(maxsize=64)
def _levels(parents):
    """(joints, their parents) per depth below the root, as index arrays; parents come before children."""
    depth = [0] * len(parents)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    out = []
    for d in range(1, max(depth, default=0) + 1):
        js = np.array([j for j in range(len(parents)) if depth[j] == d], dtype=np.intp)
        ps = np.array([parents[j] for j in js], dtype=np.intp)
        js.setflags(write=False)
        ps.setflags(write=False)  # shared by every call through the cache
        out.append((js, ps))
    return tuple(out)


def fk_matrices(parents, rotations, positions):
    """Forward kinematics with 3x3 matrices (faster for long clips: one matmul per joint)."""
    mats = rot.quat_to_matrix(np.asarray(rotations, dtype=np.float64))
    positions = np.asarray(positions, dtype=np.float64)
    gmat = np.empty_like(mats)
    gpos = np.empty(mats.shape[:-2] + (3,))
    gmat[..., 0, :, :] = mats[..., 0, :, :]
    gpos[..., 0, :] = positions[..., 0, :]
    for js, ps in _levels(tuple(int(p) for p in parents)):
        gpos[..., js, :] = np.einsum("...ij,...j->...i", gmat[..., ps, :, :], positions[..., js, :]) + gpos[..., ps, :]
        gmat[..., js, :, :] = gmat[..., ps, :, :] @ mats[..., js, :, :]
    return gmat, gpos
