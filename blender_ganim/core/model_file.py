"""The .ganim model file: one .npz a user can copy around, readable by numpy alone.

Layout: ``__header__`` holds UTF-8 JSON (format, version, skeleton, fps, feature
spec, normalisation stats, labels, architecture, training summary, licence) and
every other array is a weight tensor. ``header["sha256"]`` covers the header and
the weights, so a damaged file is refused instead of producing garbage motion.
Loading never unpickles (``allow_pickle=False``).
"""

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from .atomic import temporary_beside

FORMAT = "ganim"
FORMAT_VERSION = 2  # the newest this code reads; each file is written as the oldest that describes it
HEADER_KEY = "__header__"
REQUIRED = ("format", "version", "skeleton", "fps", "features", "norm", "labels", "arch")


class ModelFileError(ValueError):
    """A model file that cannot be used; the message says why and names the file."""


@dataclass
class Model:
    header: dict
    weights: dict
    path: str = ""

    @property
    def skeleton(self):
        from .skeleton import Skeleton
        return Skeleton.from_dict(self.header["skeleton"])

    @property
    def labels(self):
        """{label name: [values]} the model was trained on, e.g. {"style": ["active", ...]}."""
        return self.header["labels"]


def _digest(header, weights):
    h = hashlib.sha256()
    body = {k: v for k, v in header.items() if k != "sha256"}
    h.update(json.dumps(body, sort_keys=True).encode())
    for name in sorted(weights):
        a = np.ascontiguousarray(weights[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def version_needed(header):
    """The oldest format version that reads this header right: 2 for a generator with a joint
    label embedding (``arch.joint``, which a version-1 reader would silently leave out), else 1,
    so that add-ons from before it still open every file they can generate from correctly."""
    return 2 if (header.get("arch") or {}).get("joint") else 1


def save(path, header, weights):
    """Write atomically: a crash mid-write leaves the previous file intact."""
    header = dict(header)
    header.setdefault("format", FORMAT)
    given = header.get("version")
    header["version"] = max(version_needed(header), given if isinstance(given, int) else 1)
    missing = [k for k in REQUIRED if k not in header]
    if missing:
        raise ModelFileError(f"cannot save {path}: header lacks {', '.join(missing)}")
    weights = {k: np.asarray(v) for k, v in weights.items()}
    header["sha256"] = _digest(header, weights)
    blob = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with temporary_beside(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **{HEADER_KEY: blob}, **weights)
        f.flush()
        os.fsync(f.fileno())
    return header


def _check_arrays(path, members):
    """Every member is a numpy array: numpy returns a member that is not a .npy file as raw
    bytes, which a damaged or hand-made archive can hold."""
    for name, value in members.items():
        if not isinstance(value, np.ndarray):
            raise ModelFileError(f"{path}: model file is corrupt ({name} is not a numpy array)")


def load(path):
    """Read and validate a model file; raises ModelFileError with a specific reason."""
    path = str(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such model file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise ModelFileError(f"{path}: not a .ganim model (expected a numpy .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if HEADER_KEY not in npz.files:
                raise ModelFileError(f"{path}: not a .ganim model (no header)")
            blob = npz[HEADER_KEY]
            weights = {k: npz[k] for k in npz.files if k != HEADER_KEY}
        _check_arrays(path, {HEADER_KEY: blob, **weights})
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise ModelFileError(f"{path}: model file is corrupt ({e})") from None
    try:
        header = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: model header is corrupt ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a .ganim model (format is {header.get('format') if isinstance(header, dict) else '?'!r})")
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: model header has no valid format version")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {version} is newer than this blender-ganim "
                             f"reads (up to {FORMAT_VERSION}); update the add-on")
    missing = [k for k in REQUIRED if k not in header]
    if missing:
        raise ModelFileError(f"{path}: model header lacks {', '.join(missing)}")
    if header.get("sha256") != _digest(header, weights):
        raise ModelFileError(f"{path}: model file is corrupt (checksum mismatch)")
    for name, a in weights.items():
        if not np.all(np.isfinite(a)):
            raise ModelFileError(f"{path}: weight {name} contains NaN or infinite values")
    for a in weights.values():
        a.flags.writeable = False  # checked against the digest, and the generator caches what it derives
    _check_network(path, header, weights)
    return Model(header=header, weights=weights, path=path)


def _check_network(path, header, weights):
    """The weights run as the network the header describes: one forward pass over a few frames,
    so a file whose weights are missing or of other shapes (made by hand, or by a trainer of
    another version) is refused here by name, not half way through a generation (KeyError, a
    broadcast error)."""
    from . import generator
    try:
        cfg = header["arch"]
        rng = np.random.default_rng(0)
        noise, latent = generator.random_inputs(cfg, 1, 8, rng)
        ids = {k: np.zeros(1, dtype=np.int64) for k in cfg["vocab_sizes"]}
        cond = np.zeros((1, generator.cond_channels(cfg), 8), dtype=np.float32)
        out = generator.forward(weights, cfg, noise, latent, ids, cond)
        if out.shape != (1, header["features"]["channels"], 8):
            raise ValueError(f"it makes {out.shape[1]} channels, the header's features {header['features']['channels']}")
    except KeyError as e:
        raise ModelFileError(f"{path}: model file lacks what its network needs ({e.args[0]})") from None
    except (ValueError, TypeError, IndexError) as e:
        raise ModelFileError(f"{path}: the weights do not fit the network the header describes ({e})") from None


SAMPLING_BY_LABEL = "by_label"  # header["sampling"][...]: settings of their own for some label values


def setting_name(key):
    """A sampling setting's name in words: 'smooth_sigma' -> 'smooth sigma'."""
    return key.replace("_", " ")


def settings_text(settings):
    """Sampling settings in words, 'temperature 0.3, smooth sigma 2.25' (`ganim info`, `ganim sampling`,
    the benchmarks' records)."""
    return ", ".join(f"{setting_name(k)} {v:g}" for k, v in settings.items())


def describe(model):
    h = model.header
    sk = h["skeleton"]
    lines = [f"model     {model.path}",
             f"format    {h['format']} v{h['version']}",
             f"skeleton  {len(sk['names'])} joints ({', '.join(sk['names'][:4])}, ...), {h['fps']:g} fps",
             f"params    {sum(int(np.prod(w.shape)) for w in model.weights.values()):,}"]
    for k, values in h["labels"].items():
        lines.append(f"{k:<9} {', '.join(values)}")
    train = h.get("training") or {}
    if train:
        lines.append(f"trained   {train.get('steps', '?')} steps on {train.get('clips', '?')} clips "
                     f"({train.get('hours', 0):.2f} h of motion), {train.get('device', '?')}, "
                     f"{train.get('wall_time_s', 0) / 60:.0f} min")
    if train.get("averaged"):  # `ganim average`: which snapshots (older files name the file alone)
        lines.append(f"averaged  {len(train['averaged'])} snapshots: " + ", ".join(
            f"{a.get('run', a.get('file', '?'))} @{a.get('steps', '?')}" for a in train["averaged"]))
    if h.get("sampling"):
        own = {k: v for k, v in h["sampling"].items() if k != SAMPLING_BY_LABEL}
        lines.append(f"sampling  {settings_text(own) or '-'} (recorded; see `ganim sampling`)")
        lines += [f"          {name} {value}: {settings_text(settings)}"
                  for name, values in (h["sampling"].get(SAMPLING_BY_LABEL) or {}).items()
                  for value, settings in values.items()]
    if h.get("licence"):
        lines.append(f"licence   {h['licence']}")
    return "\n".join(lines)
