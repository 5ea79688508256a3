"""Training data: BVH folders (or .tar.xz archives of them) + labels -> cached feature clips.

The expensive part (parsing, FK, mirroring, feature encoding) runs once; the result
is cached as an .npz keyed by the input files' names, sizes and modification times,
so a changed file rebuilds the cache. Windows are cut at training time.
"""

import contextlib
import hashlib
import json
import lzma
import os
import re
import tarfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blender_ganim.core import bvh, features
from blender_ganim.core.atomic import temporary_beside
from blender_ganim.core.motion import mirror_frames
from blender_ganim.core.skeleton import Skeleton

from .labels import LabelError, parse_labels, read_labels

CACHE_VERSION = 3  # 3: takes at another rate resampled along Catmull-Rom curves (session 52), not slerp + lerp


class DataError(ValueError):
    pass


@dataclass
class Source:
    """One BVH file: where it lives and how to read it."""
    name: str
    path: str = ""          # a file on disk ...
    archive: str = ""       # ... or a member of this tar archive
    member: str = ""


@dataclass
class Dataset:
    skeleton: Skeleton
    spec: dict
    fps: float
    clips: list                 # [T_i, C] float32 feature arrays
    names: list                 # file name per clip (mirrored copies end with '#mirror')
    labels: dict                # {label: [value per clip]}
    vocab: dict                 # {label: [sorted values]}
    mean: np.ndarray = None
    std: np.ndarray = None
    skipped_short: list = field(default_factory=list)

    @property
    def frames(self):
        return int(sum(len(c) for c in self.clips))

    def label_ids(self, label):
        index = {v: i for i, v in enumerate(self.vocab[label])}
        return np.array([index[v] for v in self.labels[label]], dtype=np.int64)


# ------------------------------------------------------------------ discovery

def find_sources(inputs):
    """BVH files in folders / archives, and the labels.csv found beside them."""
    sources, label_files = [], []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.suffix.lower() == ".bvh" and f.is_file():
                    sources.append(Source(f.name, path=str(f)))
            label_files += sorted(p.rglob("labels.csv"))
        elif p.is_file() and re.search(r"\.tar(\.(xz|gz|bz2))?$|\.t[gx]z$", p.name):
            with _archive(p) as tar:
                for m in tar.getmembers():
                    if m.isfile() and m.name.lower().endswith(".bvh"):
                        sources.append(Source(Path(m.name).name, archive=str(p), member=m.name))
                    elif m.isfile() and Path(m.name).name == "labels.csv":
                        label_files.append((str(p), m.name))
        elif p.is_file() and p.suffix.lower() == ".bvh":
            sources.append(Source(p.name, path=str(p)))
        else:
            raise DataError(f"{item}: not a folder, a .bvh file or a .tar.xz archive of BVH files")
    if not sources:
        raise DataError(f"no BVH files found in {', '.join(map(str, inputs))}")
    undecodable = [shown_name(s.name) for s in sources if not _is_utf8(s.name)]
    if undecodable:  # the names go into labels.csv, the model file and the logs, all UTF-8 text
        raise DataError(f"{len(undecodable)} file name(s) are not UTF-8 text: {', '.join(undecodable[:5])}"
                        + (" ..." if len(undecodable) > 5 else "") + "; rename them")
    counts = Counter(s.name for s in sources)
    dupes = sorted(n for n, c in counts.items() if c > 1)
    if dupes:
        raise DataError(f"the same file name appears twice: {', '.join(dupes[:5])}")
    return sources, label_files


def _is_utf8(name):
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:  # bytes that were not UTF-8, kept as surrogates by the file system decoding
        return False


def shown_name(name):
    """A file name as printable text: bytes that are not UTF-8 shown as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def load_label_table(label_files, labels_csv=None):
    table = {}
    files = [labels_csv] if labels_csv else label_files
    for lf in files:
        if isinstance(lf, tuple):
            archive, member = lf
            with _archive(archive) as tar:
                data = tar.extractfile(member).read()
            table.update(parse_labels(data, f"{archive}:{member}"))  # checked as a folder's file is
        else:
            table.update(read_labels(lf))
    return table


@contextlib.contextmanager
def _archive(path):
    """An open tar archive; a damaged or cut-short one is a DataError naming it (it was a traceback)."""
    try:
        with tarfile.open(path) as tar:
            yield tar
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise DataError(f"{path}: the archive is damaged or cut short ({type(e).__name__}: "
                        f"{str(e) or 'unexpected end of data'}); download or pack it again") from None


def _iter_motions(sources):
    """Yield (source, Motion), opening each archive once and streaming its members."""
    by_archive = {}
    for s in sources:
        if s.archive:
            by_archive.setdefault(s.archive, {})[s.member] = s
        else:
            yield s, bvh.read(s.path)
    for archive, members in by_archive.items():
        with _archive(archive) as tar:
            for m in tar:
                s = members.get(m.name)
                if s is not None:
                    yield s, bvh.read_bytes(tar.extractfile(m).read(), path=f"{archive}:{m.name}")


# -------------------------------------------------------------------- loading

def same_skeleton(a, b, tol=1e-3):
    """Same names, hierarchy and bone lengths (the moving root's OFFSET is a calibration value)."""
    if not a.same_topology(b):
        return False
    root = features.root_joint(a)
    keep = [j for j in range(1, len(a)) if j != root]
    la, lb = np.linalg.norm(a.offsets[keep], axis=-1), np.linalg.norm(b.offsets[keep], axis=-1)
    return np.allclose(la, lb, atol=tol * max(1.0, la.max()))


def _swap_side(value):
    """'wave-left-hand' -> 'wave-right-hand': a mirrored take does the other side's action."""
    def swap(match):
        word = match.group(0)
        other = "right" if word.lower() == "left" else "left"
        return other.upper() if word.isupper() else other.capitalize() if word[0].isupper() else other
    return re.sub(r"(?i)left|right", swap, value)


def _cache_key(inputs, labels_csv, condition, window, mirror, fps=None):
    """Names, sizes and times of everything read, from file stats alone.

    An archive counts as one file: listing a .tar.xz means decompressing all of it,
    which would cost a cache hit as much time as the parse it saves.
    """
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, list(condition), window, mirror] + ([float(fps)] if fps else [])).encode())
    files = [Path(labels_csv)] if labels_csv else []
    for item in inputs:
        p = Path(item)
        files += sorted(f for f in p.rglob("*") if f.suffix.lower() == ".bvh" or f.name == "labels.csv") \
            if p.is_dir() else [p]
    for f in files:
        st = f.stat()
        h.update(os.fsencode(f.resolve()) + f"|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _warn_short(short, window, log):
    if short:
        log(f"warning: skipped {len(short)} clip(s) shorter than the {window}-frame window "
            f"(e.g. {', '.join(short[:3])})")


def default_cache_dir():
    return Path(os.environ.get("GANIM_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ganim"))


def load_dataset(inputs, labels_csv=None, condition=("style", "content"), window=64, mirror=True,
                 cache_dir=None, log=print, progress=None, fps=None):
    """Build (or load from cache) the feature clips of a training set, every take at ``fps``
    (default: the first file's frame rate)."""
    condition = tuple(c for c in condition if c)
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise DataError(f"--fps {fps}: give a positive frame rate")
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    try:
        cache_file = cache_dir / f"dataset-{_cache_key(inputs, labels_csv, condition, window, mirror, fps)}.npz"
    except OSError:
        cache_file = None  # a missing input: find_sources below says which
    if cache_file is not None and cache_file.is_file():
        try:
            ds = _read_cache(cache_file)
            _warn_short(ds.skipped_short, window, log)
            return ds
        except Exception as e:  # a damaged cache is rebuilt, never trusted
            log(f"warning: rebuilding damaged cache {cache_file} ({e})")
    sources, label_files = find_sources(inputs)
    try:
        label_table = load_label_table(label_files, labels_csv)
    except LabelError as e:
        raise DataError(str(e)) from None
    if condition:
        if not label_table:
            raise DataError(f"conditioning on {', '.join(condition)} needs a labels.csv "
                            "(none beside the data; pass --labels or --condition none)")
        missing = [s.name for s in sources if s.name not in label_table]
        if missing:
            raise DataError(f"labels.csv has no row for {len(missing)} file(s): {', '.join(missing[:5])}"
                            + (" ..." if len(missing) > 5 else ""))
        names = {s.name for s in sources}
        orphans = sorted(set(label_table) - names)
        if orphans:
            log(f"warning: labels.csv names {len(orphans)} file(s) not in the data (ignored): "
                f"{', '.join(orphans[:3])}{' ...' if len(orphans) > 3 else ''}")
        columns = sorted({k for row in label_table.values() for k in row})
        for c in condition:
            if c not in columns:  # a typo, or a table of file names alone (export_actions without labels)
                raise DataError(f"labels.csv has no column {c!r} (its label columns: "
                                f"{', '.join(columns) or 'none'}); name one with --condition, or --condition none")
            absent = [n for n in names if not label_table[n].get(c)]
            if absent:
                raise DataError(f"label column {c!r} is empty for {len(absent)} file(s): "
                                f"{', '.join(sorted(absent)[:5])}" + (" ..." if len(absent) > 5 else ""))


    skeleton = spec = None
    mframes = None
    clips, names, short = [], [], []
    labels = {c: [] for c in condition}
    iterator = _iter_motions(sources)
    if progress:
        iterator = progress(iterator, total=len(sources))
    for src, m in iterator:
        if skeleton is None:
            skeleton, spec = m.skeleton, features.spec_for(m.skeleton)
            fps, first = float(fps or m.fps), src.name
        elif not same_skeleton(skeleton, m.skeleton):
            raise DataError(f"{src.name} has a different skeleton from {first} "
                            "(joint names, hierarchy or bone lengths differ); train one skeleton per model")
        if abs(m.fps - fps) > 1e-3:
            m = m.resample(fps)
        if m.frames < window:
            short.append(src.name)
            continue
        versions = [(src.name, m, False)]
        if mirror:
            if mframes is None:
                mframes = mirror_frames(m)
            versions.append((src.name + "#mirror", m.mirror(mframes), True))
        for name, mm, is_mirror in versions:
            clips.append(features.encode(mm, spec).astype(np.float32))
            names.append(name)
            for c in condition:
                value = label_table[src.name][c]
                labels[c].append(_swap_side(value) if is_mirror else value)
    _warn_short(short, window, log)
    if not clips:
        raise DataError(f"every clip is shorter than the {window}-frame training window")
    vocab = {c: sorted(set(labels[c])) for c in condition}
    ds = Dataset(skeleton, spec, fps, clips, names, labels, vocab, skipped_short=short)
    ds.mean, ds.std = norm_stats(clips)
    if cache_file is not None:
        try:
            _write_cache(cache_file, ds)
        except OSError as e:  # a read-only or full cache folder costs the next run the parse, not this one
            log(f"warning: could not write the feature cache {cache_file} ({e.strerror or e}); going on "
                "without it (--cache DIR or GANIM_CACHE names another folder)")
    return ds


def _write_cache(path, ds):
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(skeleton=ds.skeleton.to_dict(), spec=ds.spec, fps=ds.fps, names=ds.names,
                labels=ds.labels, vocab=ds.vocab, skipped_short=ds.skipped_short,
                lengths=[len(c) for c in ds.clips])
    with temporary_beside(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                 frames=np.concatenate(ds.clips), mean=ds.mean, std=ds.std)


def _read_cache(path):
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes().decode())
        frames, mean, std = z["frames"], z["mean"], z["std"]
    bounds = np.cumsum([0] + meta["lengths"])
    clips = [frames[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return Dataset(Skeleton.from_dict(meta["skeleton"]), meta["spec"], meta["fps"], clips, meta["names"],
                   meta["labels"], meta["vocab"], mean, std, meta["skipped_short"])


# ------------------------------------------------------------------ splitting

def split_takes_by_name(names, table, fraction=0.05, seed=0, by=("content", "style")):
    """Hold out whole takes, round-robin over label groups so every combination loses a share."""
    names = sorted(set(names))
    if fraction <= 0 or len(names) < 2:
        return set()
    rng = np.random.default_rng(seed)
    groups = {}
    for n in names:
        groups.setdefault(tuple(table.get(n, {}).get(c, "") for c in by), []).append(n)
    order = sorted(groups)
    rng.shuffle(order)
    pools = {g: list(rng.permutation(groups[g])) for g in order}
    held, target = set(), max(1, int(round(fraction * len(names))))
    while len(held) < target and any(len(pools[g]) > 1 for g in order):
        for g in order:
            if len(held) >= target:
                break
            if len(pools[g]) > 1:  # never hold out a group's last take
                held.add(str(pools[g].pop()))
    return held


def split_takes(ds, fraction=0.05, seed=0, by=("content", "style"), exclude=()):
    """Held-out take names of a Dataset (mirrored copies follow their take), none of ``exclude``."""
    table = {}
    for i, n in enumerate(ds.names):
        if n.split("#")[0] not in exclude:
            table.setdefault(n.split("#")[0], {c: ds.labels[c][i] for c in by if c in ds.labels})
    return split_takes_by_name(table, table, fraction, seed, by)


def norm_stats(clips):
    """Per-channel mean and std (floored at 1e-3) over every frame of the clips, float32."""
    n = sum(len(c) for c in clips)
    mean = sum(c.sum(0, dtype=np.float64) for c in clips) / n
    var = sum(((c - mean) ** 2).sum(0) for c in clips) / n
    return mean.astype(np.float32), np.maximum(np.sqrt(var), 1e-3).astype(np.float32)


def subset(ds, keep_names):
    """The clips of the named takes, normalised by their own statistics (held-out takes never leak in)."""
    idx = [i for i, n in enumerate(ds.names) if n.split("#")[0] in keep_names]
    clips = [ds.clips[i] for i in idx]
    mean, std = norm_stats(clips) if clips else (ds.mean, ds.std)
    return Dataset(ds.skeleton, ds.spec, ds.fps, clips, [ds.names[i] for i in idx],
                   {c: [v[i] for i in idx] for c, v in ds.labels.items()}, ds.vocab, mean, std,
                   ds.skipped_short)


class WindowSampler:
    """Random windows, clips weighted by how many windows they hold.

    With ``balance_labels`` every combination of label values (style x content) gets the same
    share of windows, clips within it still weighted by length. Without it a label's share is
    its share of the frames: in the shared data raising takes are short (~100 frames) and hold
    4-5% of the windows each while waving holds 14.5%, though generation asks for every label
    alike.

    With ``window_max`` above ``window``, every batch draws its own length from
    ``window, window + stride, ..., window_max`` and samples only clips that long. The
    generator's receptive field spans about 277 frames, so at a fixed 64-frame window every
    frame it learned from lay within 64 frames of a clip edge; clips longer than the window
    were less real in their middle (`benchmarks/length_quality.py`).
    """

    def __init__(self, ds, window, seed=0, window_max=None, stride=4, balance_labels=False):
        self.ds, self.window, self.balance_labels = ds, window, balance_labels
        self.lengths = np.array([len(c) for c in ds.clips])
        top = window_max or window
        self.choices = [t for t in range(window, top + 1, stride) if (self.lengths >= t).any()] or [window]
        self._weights = {}
        self.rng = np.random.default_rng(seed)
        self.label_ids = {c: ds.label_ids(c) for c in ds.vocab}
        self.combo = np.zeros(len(ds.clips), dtype=int)  # each clip's style x content combination
        if self.label_ids:
            ids = np.stack(list(self.label_ids.values()), axis=1)
            self.combo = np.unique(ids, axis=0, return_inverse=True)[1].reshape(-1)

    def weights_for(self, window):
        """Each clip's chance of giving a ``window``-frame window (0 for clips shorter than that)."""
        if window not in self._weights:
            room = np.maximum(self.lengths - window + 1, 0).astype(np.float64)
            if self.balance_labels:
                per_combo = np.bincount(self.combo, weights=room)[self.combo]
                room = np.divide(room, per_combo, out=np.zeros_like(room), where=room > 0)
            self._weights[window] = room / room.sum()
        return self._weights[window]

    def draw_length(self):
        """This batch's window length (always ``window`` when no ``window_max`` was given)."""
        if len(self.choices) == 1:
            return self.choices[0]
        return int(self.choices[self.rng.integers(len(self.choices))])

    def sample(self, batch, window=None):
        window = window or self.window
        clip_idx = self.rng.choice(len(self.ds.clips), size=batch, p=self.weights_for(window))
        out = np.empty((batch, window, self.ds.clips[0].shape[1]), dtype=np.float32)
        for b, i in enumerate(clip_idx):
            start = self.rng.integers(0, len(self.ds.clips[i]) - window + 1)
            out[b] = self.ds.clips[i][start:start + window]
        labels = {c: ids[clip_idx] for c, ids in self.label_ids.items()}
        return (out - self.ds.mean) / self.ds.std, labels
