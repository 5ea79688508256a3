"""Ground paths for Follow Path: read them and lay them out one point per frame (numpy only).

A path is points (x, z) on the ground in model units (BVH axes, y up). The Blender
operator takes them from a curve, `ganim follow-path` from a CSV file in metres; both
then place one point per frame, spread over a frame count or walked at a speed, so
the operator and the command line time a path the same way.
"""

import csv

import numpy as np

from .synthesis import MAX_FRAMES, SynthesisError


DEFAULT_METERS_PER_UNIT = 0.01  # centimetres, the shipped data's unit


def meters_per_unit(model):
    """Model units to metres (the training data's unit; centimetres for models older than the field)."""
    return float(model.header.get("features", {}).get("meters_per_unit") or DEFAULT_METERS_PER_UNIT)


def resample(points, count=None, step=None):
    """Points along a polyline at equal arc length: ``count`` of them, or one every ``step``."""
    points = np.asarray(points, dtype=np.float64)
    seg = np.linalg.norm(np.diff(points, axis=0), axis=-1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    length = s[-1]
    if count is None:
        count = int(min(np.floor(length / step + 1e-9), 2 ** 62)) + 1
    if length <= 0 or count < 2:
        raise SynthesisError("the path is shorter than one frame of walking: make it longer or the speed slower")
    if count > MAX_FRAMES:  # before the points are made: a crawl along a long path would fill the memory
        raise SynthesisError(f"the path takes {count} frames, more than this tool generates at once "
                             f"({MAX_FRAMES}); give fewer frames or a faster speed")
    at = np.linspace(0.0, length, count) if step is None else np.arange(count) * step
    return np.stack([np.interp(at, s, points[:, i]) for i in range(points.shape[1])], axis=-1)


def per_frame(model, xz, frames=None, speed=None):
    """One ground point per frame, in model units: ``xz`` spread evenly over ``frames`` frames,
    walked at ``speed`` metres per second, or (neither given) taken as one point per frame already."""
    xz = np.asarray(xz, dtype=np.float64)
    if xz.ndim != 2 or xz.shape[1] != 2 or len(xz) < 2:
        raise SynthesisError("a path needs at least 2 points of (x, z)")
    if frames is not None and speed is not None:
        raise SynthesisError("give a frame count or a speed for the path, not both")
    if speed is not None:
        if not speed > 0:
            raise SynthesisError(f"the walking speed must be positive, got {speed:g}")
        xz = resample(xz, step=speed / meters_per_unit(model) / float(model.header["fps"]))
    elif frames is not None:
        if frames < 2:
            raise SynthesisError(f"a path needs at least 2 frames, got {frames}")
        xz = resample(xz, count=int(frames))
    if len(xz) > MAX_FRAMES:
        raise SynthesisError(f"the path takes {len(xz)} frames, more than this tool generates at once "
                             f"({MAX_FRAMES}); give fewer frames or a faster speed")
    return xz


def _csv_rows(path):
    """(line number in the file, cells) of each row that is not blank, so errors name the line an
    editor shows; read as UTF-8 with or without the byte-order mark Excel and Windows tools write."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            return [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except UnicodeDecodeError as e:
        raise SynthesisError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#x} at offset {e.start}); "
                             "save it as UTF-8 CSV") from None


def read_csv(path, model):
    """Ground points (x, z) in model units from a CSV file in metres: a header naming columns ``x``
    and ``z`` (others, such as ``y`` or ``frame``, are ignored), then one point per row."""
    rows = _csv_rows(path)
    if not rows:
        raise SynthesisError(f"{path}: the file is empty (expected a header with x and z, then one point per row)")
    header = [c.strip().lower() for c in rows[0][1]]
    if "x" not in header or "z" not in header:
        raise SynthesisError(f"{path}: the first row must name the columns x and z (metres on the ground, "
                             f"y up), got {', '.join(rows[0][1]) or 'nothing'}")
    ix, iz = header.index("x"), header.index("z")
    points = []
    for line, r in rows[1:]:
        try:
            p = (float(r[ix]), float(r[iz]))
        except (ValueError, IndexError):
            raise SynthesisError(f"{path}, row {line}: x and z must be numbers, got {','.join(r)!r}") from None
        if not np.isfinite(p).all():
            raise SynthesisError(f"{path}, row {line}: x and z must be finite numbers, got {','.join(r)!r}")
        points.append(p)
    if len(points) < 2:
        raise SynthesisError(f"{path}: a path needs at least 2 points, got {len(points)}")
    return np.asarray(points) / meters_per_unit(model)
