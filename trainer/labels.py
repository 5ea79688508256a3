"""labels.csv: `file,<label>,<label>...` — one row per clip, extra columns ignored unless asked for."""

import csv
import io
from pathlib import Path

import numpy as np


class LabelError(ValueError):
    pass


def read_labels(path):
    """{file name: {column: value}} from a labels CSV (file names without folders)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LabelError(f"{path}: cannot read labels ({e.strerror})") from None
    return parse_labels(data, path)


def parse_labels(data, path):
    """:func:`read_labels` on the file's bytes ``data`` (a folder's file, or a member of a .tar.xz);
    ``path`` names it in errors."""
    try:  # utf-8-sig: Excel and other Windows tools start the file with a byte-order mark
        # skipinitialspace: "file, style, content" (a space after each comma) names style, not " style"
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""), skipinitialspace=True)
        rows = [(reader.line_num, row) for row in reader]  # the file's own line numbers (blank lines skipped)
    except UnicodeDecodeError as e:
        raise LabelError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#x} at offset {e.start}); "
                         "save it as UTF-8 CSV") from None
    if reader.fieldnames is None or "file" not in [f.strip() for f in reader.fieldnames]:
        raise LabelError(f"{path}: a labels CSV needs a header row starting with 'file'")
    out, line = {}, {}
    for n, row in rows:
        row = {(k or "").strip(): v for k, v in row.items()}
        name = Path((row.pop("file") or "").strip()).name
        if not name:
            raise LabelError(f"{path}:{n}: empty file name")
        labels = {k: (v or "").strip() for k, v in row.items() if k}
        if name in out and out[name] != labels:  # the last row silently won
            raise LabelError(f"{path}:{n}: {name} is labelled again, differently from line {line[name]}: "
                             "keep one row per file")
        out[name], line[name] = labels, n
    return out


def parse_label_args(items):
    """['style=elderly', 'content=walk'] -> {'style': 'elderly', 'content': 'walk'}."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise LabelError(f"--label expects NAME=VALUE (e.g. style=elderly), got {item!r}")
        if key.strip() in out and out[key.strip()] != value.strip():  # the last one silently won
            raise LabelError(f"--label {key.strip()} is given twice ({out[key.strip()]}, {value.strip()}): "
                             "give one value per label")
        out[key.strip()] = value.strip()
    return out


def parse_label_patterns(labels, items):
    """['content=raise-*,wave-*'] -> {'content': [the values of ``labels`` ({name: [values]}, a model's)
    matching either shell pattern]}, for settings recorded per label value (`ganim sampling --label`)."""
    from fnmatch import fnmatchcase
    out = {}
    for item in items or []:
        name, sep, patterns = item.partition("=")
        name = name.strip()
        if not sep or not name or not patterns.strip():
            raise LabelError(f"--label expects NAME=VALUE (e.g. content=walk or 'content=wave-*'), got {item!r}")
        if name not in labels:
            raise LabelError(f"--label {item}: the model has no label {name!r} (it has: {', '.join(labels)})")
        for pattern in (p.strip() for p in patterns.split(",") if p.strip()):
            hits = [v for v in labels[name] if fnmatchcase(v, pattern)]
            if not hits:
                raise LabelError(f"--label {item}: no {name} matches {pattern!r} "
                                 f"(the model has: {', '.join(labels[name])})")
            out.setdefault(name, []).extend(v for v in hits if v not in out[name])
    return out


def labeler_weights(ds, every=3):
    """Fit the model file's label classifier (core/labeler.py) on a dataset's frames.

    Every ``every``-th frame of every clip, normalised with the dataset's own statistics (those
    the model file carries); one classifier per label column.
    """
    from blender_ganim.core import labeler

    if not ds.vocab or not ds.clips:
        return {}
    frames = np.concatenate([(c[::every] - ds.mean) / ds.std for c in ds.clips])
    ids = {col: np.concatenate([np.full(len(c[::every]), i) for c, i in zip(ds.clips, ds.label_ids(col))])
           for col in ds.vocab}
    return labeler.fit_columns(frames, ids, ds.vocab)


def label_frames(ds):
    """How long the clips of ``ds`` run, per combination of label values: ``{"columns": [...],
    "combos": [[[value, ...], median frames], ...]}``.

    Some label combinations name one motion with a length of its own (a raise is up and down in
    ~75-95 frames; asked for 150, the network keeps raising, which reads as waving), so the model
    file records how long its training takes were and the tools can say so when a request is much
    longer. Takes shorter than the training window never reach ``ds``, so short motions read long.
    """
    columns = list(ds.vocab)
    if not columns:
        return {"columns": [], "combos": []}
    lengths = np.array([len(c) for c in ds.clips])
    keys = list(zip(*[ds.labels[k] for k in columns]))
    combos = []
    for combo in sorted(set(keys)):
        picked = [n for n, key in zip(lengths, keys) if key == combo]
        combos.append([list(combo), int(np.median(picked))])
    return {"columns": columns, "combos": combos}


def label_difference(model_labels, data_labels):
    """What differs between two label sets, per column: missing columns, and the values one has
    that the other lacks (a model made on every style against data with three of them)."""
    parts = []
    for k in sorted(set(model_labels) | set(data_labels)):
        ours, theirs = model_labels.get(k), data_labels.get(k)
        if ours is None or theirs is None:
            parts.append(f"column {k} only in the {'data' if ours is None else 'model'}")
        elif ours != theirs:
            only_model, only_data = [v for v in ours if v not in theirs], [v for v in theirs if v not in ours]
            said = ([f"{k} {', '.join(only_model)} only in the model"] if only_model else []) + \
                   ([f"{k} {', '.join(only_data)} only in the data"] if only_data else [])
            parts += said or [f"{k} values in another order"]
    return "; ".join(parts)
