"""Motion synthesis on Motion objects with the numpy generator: the add-on's brain.

Everything here runs without torch or bpy, so the add-on, the CLI and the tests share it.
"""

import itertools

import numpy as np

from . import contacts, features, generator, labeler, model_file
from . import rotations as rot


class SynthesisError(ValueError):
    """A request the model cannot serve (unknown label, bad length...): says why."""


MAX_FRAMES = 20_000


def label_ids(model, labels, count, rng):
    """Label indices per column; a column left out is drawn from the training distribution, among
    the combinations the model was trained on when its file records them (:func:`trained_combos`):
    each column from its own frequencies, a row redrawn while it pairs labels no training take had."""
    labels = dict(labels or {})
    vocab = model.labels
    unknown = sorted(set(labels) - set(vocab))
    if unknown:
        known = ", ".join(vocab) or "none"
        raise SynthesisError(f"the model has no label {unknown[0]!r} (it knows: {known})")
    out, free = {}, []
    freq = model.header.get("label_freq", {})
    for k, values in vocab.items():
        if k in labels:
            if labels[k] not in values:
                raise SynthesisError(f"unknown {k} {labels[k]!r}; the model knows: {', '.join(values)}")
            out[k] = np.full(count, values.index(labels[k]), dtype=np.int64)
        else:
            p = np.asarray(freq.get(k) or np.ones(len(values)), dtype=np.float64)
            out[k] = rng.choice(len(values), size=count, p=p / p.sum())
            free.append((k, p / p.sum()))
    trained = [set(c.items()) for c in trained_combos(model) or []]
    if trained and free and any(_pairs(model, labels) <= t for t in trained):
        for i in range(count):
            for _ in range(1000):  # rejection: kept draws follow the column frequencies among trained pairs
                if _pairs(model, {k: vocab[k][int(out[k][i])] for k in vocab}) in trained:
                    break
                for k, p in free:
                    out[k][i] = rng.choice(len(vocab[k]), p=p)
    return out


def _label_frames(model):
    """(columns, [[values, median frames], ...]) from the file's ``label_frames``; ([], []) if absent."""
    recorded = model.header.get("label_frames") or {}
    return recorded.get("columns") or [], recorded.get("combos") or []


def trained_combos(model):
    """The label combinations the model's training takes had ([{column: value}], from the file's
    ``label_frames``), or None when the file does not record them (`ganim fit-labels` adds them)."""
    columns, combos = _label_frames(model)
    return [dict(zip(columns, values)) for values, _ in combos] if columns else None


def all_combos(model):
    """Every combination of the model's label values ([{column: value}], style x content)."""
    columns = list(model.labels)
    return [dict(zip(columns, v)) for v in itertools.product(*[model.labels[c] for c in columns])]


def untrained_combos(model):
    """The combinations no training take had (e.g. every *active* raise), [] when the file does not say."""
    trained = trained_combos(model)
    return [c for c in all_combos(model) if c not in trained] if trained is not None else []


def _pairs(model, labels):
    """The given labels as a set of (column, value), over the columns the file's ``label_frames`` records."""
    return {(c, labels[c]) for c in _label_frames(model)[0] if labels.get(c) is not None}


def unseen_note(model, labels):
    """A one-line note when the chosen labels never occur together in the model's training takes
    (e.g. an *active* raise: every such take is shorter than the training window), else None: the
    network then mixes what it learned of each label apart, and the clip may show neither clearly."""
    trained = trained_combos(model)
    chosen = _pairs(model, labels or {})
    if not trained or len(chosen) < 2 or any(chosen <= set(c.items()) for c in trained):
        return None
    named = " with ".join(f"{c} {v}" for c, v in labels.items() if v is not None)
    return (f"{named}: no training take has these labels together, so the model never saw them and the "
            f"clip may not show both (generated from what it learned of each label apart)")


def _check_frames(frames, model=None, fps=None):
    """A SynthesisError unless ``frames`` is a clip length this tool makes, at ``fps`` counted at the
    model's rate too (2,000 frames at 1 fps are 60,000 for the network)."""
    if not isinstance(frames, (int, np.integer)) or frames < 2:
        raise SynthesisError(f"frame count must be a whole number of at least 2, got {frames!r}")
    if frames > MAX_FRAMES:
        raise SynthesisError(f"{frames} frames is more than this tool generates at once ({MAX_FRAMES})")
    made = frames if model is None else model_frames(model, frames, fps)
    if made > MAX_FRAMES:
        raise SynthesisError(f"{frames} frames at {fps:g} fps are {made} at the model's {model.header['fps']:g} fps, "
                             f"more than this tool generates at once ({MAX_FRAMES})")


# Free generation draws its noise at this temperature (README, *Sampling temperature and the foot
# lock*): at 1 the shipped model spread clips with the same labels a little wider than real takes
# do. 0.4 (with the lock below at 0.7) had the smallest shortfall from the quality bar on its training
# takes, labels spread over the pairs those takes had, 150 clips x 4 seeds (benchmarks/sampling_tune.py;
# 0.5 / 0.6 before, when the scoring also asked for label pairs no take had).
TEMPERATURE = 0.4
MAX_TEMPERATURE = 2.0
TEMPERATURE_HELP = (f"noise temperature, 0-{MAX_TEMPERATURE:g}: lower is more typical of the labels, higher "
                    f"more varied, 1 the network as trained (default: the model file's own, per label where "
                    f"it records one, else {TEMPERATURE:g}; `ganim sampling MODEL` shows it; given, it is "
                    f"every clip's)")  # for every CLI


def _check_temperature(t):
    if isinstance(t, bool) or not (isinstance(t, (int, float, np.floating)) and 0.0 <= t <= MAX_TEMPERATURE):
        raise SynthesisError(f"temperature must be between 0 and {MAX_TEMPERATURE:g}, got {t!r}")


# ------------------------------------------------------------------- a model's own sampling

SAMPLING_RANGES = {"temperature": (0.0, MAX_TEMPERATURE),   # what a model file may record under "sampling"
                   "smooth_sigma": (0.0, 8.0),               # frames; 0 = no low-pass
                   "lock_strength": (0.0, 1.0)}              # 0 = no foot lock, 1 = planted feet held still


def check_sampling(settings, where="sampling", labels=None):
    """Raise SynthesisError naming the first unknown key or out-of-range value of ``settings``.

    ``settings["by_label"]`` (optional) holds settings of their own for clips with some label values,
    ``{label name: {value: {setting: number}}}``; with ``labels`` (a model's) the names and values
    must be the model's.
    """
    if not isinstance(settings, dict):
        raise SynthesisError(f"{where}: expected settings by name ({', '.join(SAMPLING_RANGES)}), got {settings!r}")
    for key, value in settings.items():
        if key == BY_LABEL:
            _check_by_label(value, f"{where}: {BY_LABEL}", labels)
            continue
        if key not in SAMPLING_RANGES:
            raise SynthesisError(f"{where}: unknown setting {key!r} (known: {', '.join(SAMPLING_RANGES)})")
        lo, hi = SAMPLING_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise SynthesisError(f"{where}: {key} must be a number from {lo:g} to {hi:g}, got {value!r}")


BY_LABEL = model_file.SAMPLING_BY_LABEL


def _check_by_label(table, where, labels):
    if not isinstance(table, dict):
        raise SynthesisError(f"{where}: expected {{label name: {{value: settings}}}}, got {table!r}")
    for name, values in table.items():
        if labels is not None and name not in labels:
            raise SynthesisError(f"{where}: the model has no label {name!r} (it has: {', '.join(labels)})")
        if not isinstance(values, dict):
            raise SynthesisError(f"{where}: {name}: expected {{value: settings}}, got {values!r}")
        for value, settings in values.items():
            if labels is not None and value not in labels[name]:
                raise SynthesisError(f"{where}: the model has no {name} {value!r} (it has: {', '.join(labels[name])})")
            if not isinstance(settings, dict) or BY_LABEL in settings:
                raise SynthesisError(f"{where}: {name}={value}: expected settings by name, got {settings!r}")
            check_sampling(settings, f"{where}: {name}={value}")


def sampling_defaults(model):
    """Free generation's settings for ``model``: those its file records (``header["sampling"]``,
    written by `ganim sampling`), the shipped defaults for the rest. Settings the file records for
    some label values alone are left out here (:func:`sampling_for` adds them).

    Why per model: the best temperature and clean-up belong to the weights, not to this code (the
    long-draw model in docs/experiments.md scored best at temperature 1, the shipped one at 0.3-0.4),
    and whoever generates with a model should get them without knowing.
    """
    own = model.header.get("sampling") or {}
    check_sampling(own, f"{model.path or 'model'}: recorded sampling", model.labels)
    return {"temperature": TEMPERATURE, "smooth_sigma": SMOOTH_SIGMA, "lock_strength": LOCK_STRENGTH,
            **{k: v for k, v in own.items() if k != BY_LABEL}}


def label_sampling(model):
    """``{label name: {value: settings}}``: what the model's file records for clips with those labels."""
    return (model.header.get("sampling") or {}).get(BY_LABEL) or {}


def sampling_for(model, labels):
    """The settings one clip with ``labels`` ({name: value}) generates with: the model's own
    (:func:`sampling_defaults`), then those its file records for each of the clip's label values,
    in the model's label order (why per label: the shipped model's locomotion is drawn cooler
    than its arm gestures, which are smoothed more; docs/experiments.md, *Sampling by label*)."""
    out = sampling_defaults(model)
    table = label_sampling(model)
    for name in model.labels:
        out.update(table.get(name, {}).get((labels or {}).get(name), {}))
    return out


def describe_sampling(model):
    """One line: the model's own settings and those it records per label value."""
    text = model_file.settings_text(sampling_defaults(model))
    for name, values in label_sampling(model).items():
        by_settings = {}
        for value, settings in values.items():
            key = model_file.settings_text(dict(sorted(settings.items())))
            by_settings.setdefault(key, []).append(value)
        for key, vals in by_settings.items():
            text += f"; {name} {' / '.join(vals)}: {key}"
    return text


def temperature_for(model, temperature=None):
    """``temperature``, or the model's own when None (what every free-generation tool draws at,
    except for clips whose labels have a temperature of their own, :func:`sampling_for`)."""
    return sampling_defaults(model)["temperature"] if temperature is None else temperature


def with_sampling(model, settings, replace=False, labels=None):
    """A copy of ``model`` (same weights) whose file records ``settings`` on top of what it recorded
    (``replace``: instead of it); none left means the shipped defaults. With ``labels``
    ({name: [values]}), the settings are recorded for clips with those label values alone.
    Save it with model_file.save."""
    own = {} if replace else dict(model.header.get("sampling") or {})
    if labels:
        table = {name: dict(values) for name, values in (own.get(BY_LABEL) or {}).items()}
        for name, values in labels.items():
            for value in values:
                table.setdefault(name, {})[value] = {**table.get(name, {}).get(value, {}), **settings}
        own[BY_LABEL] = table
    else:
        own.update(settings)
    check_sampling(own, "sampling", model.labels)
    header = {k: v for k, v in model.header.items() if k not in ("sampling", "sha256")}
    return model_file.Model({**header, **({"sampling": own} if own else {})}, model.weights, model.path)


def for_every_clip(model, settings):
    """A copy of ``model`` that generates every clip with ``settings``: recorded as its own and taken
    out of its per-label entries (an entry left empty goes), as a temperature given to a tool is every
    clip's. Why: to score a model at one sampling for all its clips (`ganim select --smooth-sigma`)."""
    own = dict(model.header.get("sampling") or {})
    table = {}
    for name, values in (own.pop(BY_LABEL, None) or {}).items():
        kept = {value: {k: v for k, v in entry.items() if k not in settings} for value, entry in values.items()}
        if any(kept.values()):
            table[name] = {value: entry for value, entry in kept.items() if entry}
    return with_sampling(model, {**own, **settings, **({BY_LABEL: table} if table else {})}, replace=True)


# A clip this many times longer than the training takes of its labels gets a note. Set on the shipped
# model's readings (docs/experiments.md, *Which label a clip is read as*): a raise (median take 86
# frames) is read as a wave from 90 frames on, so at the bar's 120 it gets the note; a run (95) still
# reads right at 120 (0.87) and does not; walks and waves read right at any length and never do.
LENGTH_NOTE_RATIO = 1.3


def typical_frames(model, labels, fps=None):
    """How long the training takes with the chosen labels ran (the model file's ``label_frames``,
    median per label combination), or None when the file does not say or no label is chosen. With
    some columns left to chance, the median over the matching combinations (a raise is short in
    every style; a style is long in most contents). In frames at ``fps`` (default: the model's)."""
    columns, combos = _label_frames(model)
    chosen = {c: v for c, v in (labels or {}).items() if c in columns}
    matching = [n for values, n in combos if all(chosen.get(c, v) == v for c, v in zip(columns, values))]
    return int(round(np.median(matching) / _rate(model, fps))) if chosen and matching else None


def overlong(model, labels, frames, fps=None):
    """:func:`typical_frames` when ``frames`` is well past it (``LENGTH_NOTE_RATIO``), else None."""
    typical = typical_frames(model, labels, fps)
    return typical if typical is not None and frames > LENGTH_NOTE_RATIO * typical else None


def length_note(model, labels, frames, fps=None):
    """A one-line note when ``frames`` is well past :func:`typical_frames`, else None: some labels
    name one motion with a length of its own, and asked for more the network repeats it."""
    typical = overlong(model, labels, frames, fps)
    if typical is None:
        return None
    named = ", ".join(f"{c} {v}" for c, v in labels.items() if v is not None)
    return (f"{named}: the training takes run about {typical} frames; a {frames}-frame clip may repeat the "
            f"motion and read as something else (about {typical} frames keeps it one motion)")


def label_notes(model, labels, frames, fps=None):
    """What to tell someone asking for ``frames`` frames (at ``fps``) with ``labels``: labels never seen
    together (:func:`unseen_note`) and a clip much longer than their takes (:func:`length_note`); [] if nothing."""
    return [n for n in (unseen_note(model, labels), length_note(model, labels, frames, fps)) if n]


def run_generator(model, frames, count=1, labels=None, seed=None, cond=None, away=None, strength=0.0,
                  temperature=1.0):
    """Normalised network output [count, T, C] (float32) and the label ids used.

    ``temperature`` scales the noise and the per-clip latent (1 = as trained, 0 = one motion per label;
    None: each clip's own, :func:`sampling_for`).
    """
    _check_frames(frames)
    if temperature is not None:
        _check_temperature(temperature)
    cfg = model.header["arch"]
    rng = np.random.default_rng(seed)
    ids = label_ids(model, labels, count, rng)
    noise, latent = generator.random_inputs(cfg, count, frames, rng)
    if temperature is None:
        t = np.array([sampling_for(model, _clip_labels(model, ids, i))["temperature"] for i in range(count)])
    else:
        t = np.full(count, temperature)
    if np.any(t != 1.0):
        scale = lambda a: a * t.astype(np.float32).reshape((count,) + (1,) * (a.ndim - 1))  # noqa: E731
        noise, latent = scale(noise), scale(latent)
    if cond is None:
        cond = np.zeros((count, generator.cond_channels(cfg), frames), dtype=np.float32)
    away_ids = {k: np.full(count, model.labels[k].index(v)) for k, v in (away or {}).items()}
    out = generator.forward(model.weights, cfg, noise, latent, ids, cond, away_ids, strength)
    return np.transpose(out, (0, 2, 1)), ids


def _clip_labels(model, ids, i):
    return {k: model.labels[k][int(v[i])] for k, v in ids.items()}


def denormalise(model, x):
    norm = model.header["norm"]
    return x * np.asarray(norm["std"], dtype=np.float32) + np.asarray(norm["mean"], dtype=np.float32)


def leg_chains(skeleton, spec):
    """(thigh, shin, foot) per leg: each foot joint that is not below another foot joint."""
    feet = spec["feet"]
    legs = []
    for j in feet:
        shin = int(skeleton.parents[j])
        thigh = int(skeleton.parents[shin]) if shin >= 0 else -1
        if shin not in feet and thigh >= 0:
            legs.append((thigh, shin, j))
    return legs


LOCK_SPEED_M_S = 1.0     # feet slower than this while near the ground may be planted ...
LOCK_TRAVEL = 0.4        # ... unless they travel more than this share of the leg during the span
LOCK_STRENGTH = 0.7      # share of a planted foot's slide taken out (1 = held still)


def lock_feet(motion, spec, strength=None, longest=None):
    """Hold feet still where they are planted (two-bone IK on the legs); ``strength`` defaults to
    ``LOCK_STRENGTH``; plants longer than ``longest`` frames (default: any) are left alone.

    Training with a strong anti-skate loss freezes locomotion (standing still is the cheapest
    way not to slide), so feet are cleaned up here instead. A foot counts as planted where it
    is near its clip's ground and slow; spans in which it travels far are steps, not plants,
    and are left alone (locking them would stretch the leg). At 1.5 m/s the lock also caught
    landing and lifting feet: on training takes (`runs/d3`, 3 seeds) 1.0 m/s, set together
    with the smoothing's sigma, lowered FD by ~10% and novelty by ~2%, foot skate staying
    within 1.06x real's (README, *The network*).

    The lock takes out ``LOCK_STRENGTH`` of the slide, not all of it: the two-bone IK that
    holds a foot bends the leg away from the motion the network made. On the shipped model's
    training takes (benchmarks/sampling_tune.py, two seeds of 280 clips) a full lock raised
    novelty from 1.48x (no lock) to 1.57x and jitter from 0.54x to 0.77x real; 0.6 gave 1.51x
    and 0.65x with foot skate at 1.15x real (full lock 1.07x, none 1.42x; the bar is 1.2x).
    """
    legs = leg_chains(motion.skeleton, spec)
    if not legs:
        return motion
    feet = [foot for _, _, foot in legs]
    grot, gpos = motion.global_transforms()  # one pass of FK serves the detection and the lock
    low_slow = contacts.detect(motion, feet, speed=LOCK_SPEED_M_S, meters_per_unit=spec["meters_per_unit"],
                               global_positions=gpos)
    mask = np.zeros((motion.frames, len(legs)), dtype=bool)
    for i, (thigh, shin, foot) in enumerate(legs):
        leg = np.linalg.norm(motion.skeleton.offsets[shin]) + np.linalg.norm(motion.skeleton.offsets[foot])
        for a, b in contacts.spans(low_slow[:, i]):
            path = gpos[a:b, foot][:, [0, 2]]
            planted = np.linalg.norm(path.max(axis=0) - path.min(axis=0)) < LOCK_TRAVEL * leg
            if planted and 3 <= b - a <= (longest or b - a):
                mask[a:b, i] = True
    return contacts.lock_feet(motion, mask, legs, strength=LOCK_STRENGTH if strength is None else strength,
                              transforms=(grot, gpos))


SMOOTH_SIGMA = 1.75  # frames


def gaussian_kernel(sigma):
    """The low-pass's normalised taps, 3 sigma each side (the trainer's torch twin uses the same)."""
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return k / k.sum()


def smooth(f, spec, sigma=SMOOTH_SIGMA):
    """Gaussian low-pass over time of the generated features (contacts excluded).

    The network's frame-to-frame noise shows up as jitter (the model shipped then: 1.44x real
    mocap's third derivative at sigma = 1 frame); more smoothing also lowers novelty and
    raises coverage, too much raises FD. Sigma was set together with the foot lock, which
    adds jitter of its own, on `ganim select`'s training-take reference (the held-out takes
    stay unseen). Rotations are 6D, so filtered values are re-orthonormalised on decode.
    """
    if sigma <= 0 or len(f) < 3:
        return f
    k = gaussian_kernel(sigma)
    r = len(k) // 2
    C = spec["contact_start"]
    padded = np.pad(f[:, :C], ((r, r), (0, 0)), mode="edge")
    out = f.copy()
    out[:, :C] = sum(k[i] * padded[i:i + len(f)] for i in range(2 * r + 1))
    return out


def generate(model, frames, count=1, labels=None, seed=None, start=(0.0, 0.0, 0.0), name="ganim",
             clean_feet=True, temperature=None, fps=None):
    """``count`` new clips of ``frames`` frames; returns (motions, labels per clip).

    ``clean_feet`` (default) smooths the network output lightly and locks planted feet;
    False gives the raw network output (what `ganim eval --raw` scores). ``temperature``
    scales the noise: lower is more typical of each label, higher more varied (see TEMPERATURE).
    Left out, it and the clean-up's settings are the model's own for each clip's labels
    (:func:`sampling_for`); a given temperature is every clip's. ``fps``: the clips' frame rate
    (default: the model's); the network runs at its own rate and the clips are resampled, so
    ``frames`` frames at ``fps`` last as long as they should.
    """
    fps = _clip_fps(model, fps)
    _check_frames(frames, model, fps)
    out, ids = run_generator(model, model_frames(model, frames, fps), count, labels, seed, temperature=temperature)
    feats = denormalise(model, out).astype(np.float64)
    skeleton, spec = model.skeleton, model.header["features"]
    motions, chosen = [], []
    for i in range(count):
        chosen.append(_clip_labels(model, ids, i))
        own = sampling_for(model, chosen[-1])
        f = smooth(feats[i], spec, own["smooth_sigma"]) if clean_feet else feats[i]
        m = features.decode(f, spec, skeleton, model.header["fps"], start=start, name=f"{name}_{i:03d}")
        m = lock_feet(m, spec, own["lock_strength"]) if clean_feet else m
        motions.append(m if _rate(model, fps) == 1.0 else m.resample(fps, frames=frames))
    return motions, chosen


# ------------------------------------------------------------- conditioned synthesis
#
# Editing works in feature space: known frames (normalised) + a mask, and optionally the
# root trajectory, go to the generator in one forward pass; known frames are then copied
# back exactly, the root is pinned to where the kept frames are (velocity features
# integrate, so errors would otherwise push everything after a gap), and seams are
# smoothed with a decaying offset on the generated side (inertialization).

SEAM_FRAMES = 16
# Restyle defaults, set on the shipped model's training takes (README, *Labels when editing*):
RESTYLE_DRAFTS = 8    # noise draws per restyle; the label classifier keeps the clearest
MAX_DRAFTS = 64
STYLE_STRENGTH = 0.0  # how far past the target label, away from the clip's own (0 = plain swap)


def receptive_field(model):
    cfg = model.header["arch"]
    return 1 + 2 + 4 * sum(cfg["dilations"]) + 2


def max_transition(model, fps=None):
    """Longest generated stretch that still sees context on both sides, in frames at ``fps``
    (default: the model's rate; at another rate, what still fits once resampled to the model's)."""
    limit = receptive_field(model) - 2 * SEAM_FRAMES
    r = _rate(model, fps)
    return limit if r == 1.0 else int(np.floor((limit - 2) / r))


def _most(model, fps, unit=""):
    """``at most N`` for messages, with the frame rate when it is not the model's."""
    at = "" if _rate(model, fps) == 1.0 else f" at {float(fps):g} fps"
    return f"at most {max_transition(model, fps)}{unit}{at}"


# ------------------------------------------------------------- frame rates
#
# The network runs at the model's frame rate. A clip at another rate (a 24 fps scene, 60 fps
# capture) is resampled to it and the result back to the clip's rate: frame numbers are always
# the clip's own, and the frames an edit keeps are copied back from the clip exactly.

def _clip_fps(model, fps):
    """``fps``, or the model's rate for None."""
    _rate(model, fps)  # checks it
    return float(model.header["fps"]) if fps is None else float(fps)


def same_rate(fps, other):
    """Two frame rates the tools treat as one (29.97 and 30 are two)."""
    return abs(float(fps) - float(other)) < 1e-3


def _rate(model, fps):
    """Frames at the model's rate per frame at ``fps``: 1.0 for None or the model's own rate."""
    model_fps = float(model.header["fps"])
    if fps is None or same_rate(fps, model_fps):
        return 1.0
    if not (np.isfinite(fps) and fps > 0):
        raise SynthesisError(f"frame rate must be positive, got {fps!r}")
    return model_fps / float(fps)


def model_frames(model, frames, fps=None):
    """How many frames at the model's rate span ``frames`` frames at ``fps``."""
    r = _rate(model, fps)
    return int(frames) if r == 1.0 else int(np.ceil((int(frames) - 1) * r - 1e-9)) + 1


def _back(out, clip, times, kept=None):
    """``out`` (at the model's rate) sampled at its fractional frames ``times`` as a clip at
    ``clip``'s rate; the frames ``kept`` (a mask over the result) copied from ``clip`` exactly,
    and the seams blended again at the clip's rate (:func:`_reblend`)."""
    m = out.sample_at(times, fps=clip.fps)
    m.name = out.name
    if kept is None:
        return m
    m.rotations[kept] = clip.rotations[kept]
    m.positions[kept] = clip.positions[kept]
    return _reblend(m, kept, times[1] - times[0] if len(times) > 1 else 1.0)


def _reblend(m, kept, rate):
    """The seams of ``m`` (at a clip's rate, ``rate`` model frames per frame) blended at that rate.

    The blend at the model's rate continues the kept side's velocity measured over one model
    frame; a 60 fps clip's kept frame between two model frames lies on its own curve, so
    without this the speed jumped at the seam (one-second in-betweens of 60 takes at 60 fps: seam
    ratio 1.46, 51% within 1.5; now 0.46, all within, as at the model's rate;
    ``benchmarks/resampling.py``). The fade lasts as long as the model's.
    """
    return _inertialize(m, kept, frames=max(1, int(round(SEAM_FRAMES / rate))))


def _check_skeleton(model, motion, what="clip", cover=False):
    """``motion`` at the model's rate; a SynthesisError unless it uses the model's skeleton.
    ``cover``: resampled to as many frames as reach past its last one (the last pose held), so
    every frame of the clip lies within the result."""
    _check_topology(model, motion, what)
    if _rate(model, motion.fps) == 1.0:
        return motion
    frames = model_frames(model, motion.frames, motion.fps) if cover else None
    return motion.resample(model.header["fps"], frames=frames)


def _check_topology(model, motion, what="clip"):
    sk = model.skeleton
    if not motion.skeleton.same_topology(sk):
        missing = [n for n in sk.names if n not in motion.skeleton.names]
        detail = f"missing {', '.join(missing[:5])}" if missing else "different hierarchy"
        raise SynthesisError(f"the {what} {motion.name or ''} does not use the model's skeleton ({detail}); "
                             "retarget it first".replace("  ", " "))


def _normalise(model, x):
    norm = model.header["norm"]
    return ((x - np.asarray(norm["mean"])) / np.asarray(norm["std"])).astype(np.float32)


def _conditioned(model, known, mask, labels=None, seed=None, traj=None, traj_mask=None, away=None, strength=0.0,
                 temperature=1.0):
    """One forward pass with conditioning; returns denormalised features [T, C] with known frames kept.

    Label columns left out are matched to the kept frames.
    """
    cfg = model.header["arch"]
    T, C = known.shape
    _check_frames(T)
    # The network learned on windows of a fixed length: a much shorter clip would sit in zero
    # padding it never saw. Pad with unknown frames (mask 0) to that length, then crop.
    window = int((model.header.get("training") or {}).get("window") or T)
    left = max(0, window - T) // 2
    pad = ((left, max(0, window - T) - left), (0, 0))
    kn = np.pad(_normalise(model, known), pad, mode="edge")
    m = np.pad(np.asarray(mask, dtype=np.float32), pad[0])
    cond = np.zeros((1, generator.cond_channels(cfg), len(m)), dtype=np.float32)
    cond[0, :C] = generator.known_channels(cfg, kn.T[None], m[None])[0]
    cond[0, C] = m
    if traj is not None:
        ti = cfg["traj"]
        tm = np.ones(T, dtype=np.float32) if traj_mask is None else traj_mask
        cond[0, C + 1:C + 1 + len(ti), left:left + T] = (_normalise(model, traj)[:, ti] * tm[:, None]).T
        cond[0, C + 1 + len(ti), left:left + T] = tm
    out, ids = run_generator(model, len(m), 1, fit_labels(model, labels, kn[m > 0.5]), seed, cond=cond,
                             away=away, strength=strength, temperature=temperature)
    out = out[:, left:left + T]
    gen = smooth(denormalise(model, out[0]).astype(np.float64), model.header["features"],
                 sampling_defaults(model)["smooth_sigma"])
    keep = mask > 0.5
    gen[keep] = known[keep]
    return gen, {k: model.labels[k][int(v[0])] for k, v in ids.items()}


def fit_labels(model, labels, frames_norm):
    """The labels given, with any column left out taken from what the kept frames look like.

    Without a classifier in the model file (older files) or kept frames, left-out columns
    are drawn at random as in free generation.
    """
    labels = dict(labels or {})
    missing = [c for c in model.labels if c not in labels]
    if not missing or len(frames_norm) == 0 or not labeler.available(model):
        return labels
    guess = labeler.infer(model, frames_norm)
    return {**labels, **{c: guess[c] for c in missing}}


def _root_track(f, start):
    """World heading [T] and root xz [T, 2] that decoding ``f`` from ``start`` produces."""
    x0, z0, h0 = start
    heading = h0 + np.concatenate([[0.0], np.cumsum(f[:-1, 9])])
    c, s = np.cos(heading), np.sin(heading)
    step = np.stack([c * f[:, 7] + s * f[:, 8], -s * f[:, 7] + c * f[:, 8]], -1)
    xz = np.zeros((len(f), 2))
    xz[1:] = np.cumsum(step[:-1], axis=0)
    return heading, xz + [x0, z0]


def _pin_root(f, start, anchors, target_heading, target_xz):
    """Adjust yaw rates and velocities between anchor frames so the root passes through the targets."""
    f = f.copy()
    for a, b in zip(anchors[:-1], anchors[1:]):
        if b - a < 1:
            continue
        heading, _ = _root_track(f, start)
        f[a:b, 9] += (target_heading[b] - heading[b] - (target_heading[a] - heading[a])) / (b - a)
        heading, xz = _root_track(f, start)
        err = (target_xz[b] - xz[b]) - (target_xz[a] - xz[a])
        c, s = np.cos(heading[a:b]), np.sin(heading[a:b])
        dx, dz = err[0] / (b - a), err[1] / (b - a)
        # World step (dx, dz) expressed in each frame's heading frame (inverse of _root_track's rotation).
        f[a:b, 7] += c * dx - s * dz
        f[a:b, 8] += s * dx + c * dz
    return f


def _seam_offset(rots, pos, kept, seam, step):
    """What the generated frame at ``seam`` must add to continue the kept side at constant velocity.

    Returns (rotation offset, its rate) as axis-angle and (position offset, its rate), the
    rates per frame in the direction ``step`` that leads away from the kept side.
    """
    T = len(rots)
    prev, prev2 = seam - step, min(max(seam - 2 * step, 0), T - 1)
    nxt = seam + step
    has_nxt = 0 <= nxt < T and not kept[nxt]
    kept_vel = prev2 != prev and kept[prev2]
    if kept_vel:                         # the kept side's own velocity, continued
        vel = rot.quat_mul(rots[prev], rot.quat_inv(rots[prev2]))
        p_vel = pos[prev] - pos[prev2]
    elif has_nxt:                        # one kept frame (a target pose): the generated side's velocity
        vel = rot.quat_mul(rots[nxt], rot.quat_inv(rots[seam]))
        p_vel = pos[nxt] - pos[seam]
    else:
        vel, p_vel = rot.quat_identity(()), np.zeros(3)
    pred0 = rot.quat_mul(vel, rots[prev])
    x0 = rot.quat_to_axis_angle(rot.quat_mul(pred0, rot.quat_inv(rots[seam])))
    y0 = pos[prev] + p_vel - pos[seam]
    if has_nxt and kept_vel:
        pred1 = rot.quat_mul(vel, pred0)
        v0 = rot.quat_to_axis_angle(rot.quat_mul(pred1, rot.quat_inv(rots[nxt]))) - x0
        w0 = (pos[prev] + 2 * p_vel - pos[nxt]) - y0
    else:
        v0, w0 = np.zeros_like(x0), np.zeros_like(y0)
    return x0, v0, y0, w0


def _hermite(n, start, start_rate, end, end_rate):
    """Cubic from ``start`` (rate ``start_rate``) at frame 0 to ``end`` (rate ``end_rate``) at frame n-1, [n, ...]."""
    if n == 1:
        return 0.5 * (start + end)[None]
    d = n - 1
    u = (np.arange(n) / d).reshape((n,) + (1,) * np.ndim(start))
    return ((2 * u ** 3 - 3 * u ** 2 + 1) * start + (u ** 3 - 2 * u ** 2 + u) * d * start_rate
            + (-2 * u ** 3 + 3 * u ** 2) * end + (u ** 3 - u ** 2) * d * end_rate)


def _fade_length(run, frames, two_sided):
    """Frames over which a seam's offset fades: ``frames``, or on a long gap between kept motion
    up to half the gap (at most twice ``frames``).

    A generated side that moves much slower than the kept one must take up the difference
    somewhere; over 16 frames that was the pop left on whole held-out takes (a slow elderly
    hand raise, 1.8x the take's roughest real frame at a 45-frame gap).
    """
    if not two_sided:
        return max(1, min(frames, run))
    return min(max(frames, run // 2), 2 * frames)


def _inertialize(motion, kept, frames=None):
    """Blend out the jump where generated frames meet kept ones, on the generated side only.

    At each seam the kept side is continued at constant velocity; the difference to the
    generated frames (offset and its rate, rotations as axis-angle) is added back and
    faded out with a cosine window, so position *and* speed stay continuous. A gap no
    longer than one fade gets one cubic correction from seam to seam instead: two fades
    squeezed into a few frames take the offset out and put it back, a pop of their own
    (measured on 5-frame gaps of whole held-out takes); on longer gaps the cubic's rate
    terms reach too far, so they keep the two fades.
    """
    frames = frames or SEAM_FRAMES
    rots, pos = motion.rotations, motion.positions
    T = motion.frames
    for a, b in contacts.spans(~np.asarray(kept, dtype=bool)):  # generated frames [a, b)
        run = b - a
        left, right = a > 0, b < T
        if left and right and run <= frames:
            xl, vl, yl, wl = _seam_offset(rots, pos, kept, a, 1)
            xr, vr, yr, wr = _seam_offset(rots, pos, kept, b - 1, -1)
            x, y = _hermite(run, xl, vl, xr, -vr), _hermite(run, yl, wl, yr, -wr)
            rots[a:b] = rot.quat_mul(rot.axis_angle_to_quat(x), rots[a:b])
            pos[a:b] = pos[a:b] + y
            continue
        for seam, step, on in ((a, 1, left), (b - 1, -1, right)):
            if not on:
                continue
            x0, v0, y0, w0 = _seam_offset(rots, pos, kept, seam, step)
            k = _fade_length(run, frames, two_sided=left and right)
            window = 0.5 * (1 + np.cos(np.pi * np.arange(k) / k))
            for i in range(k):
                t = seam + step * i
                rots[t] = rot.quat_mul(rot.axis_angle_to_quat((x0 + v0 * i) * window[i]), rots[t])
                pos[t] = pos[t] + (y0 + w0 * i) * window[i]
    motion.rotations = rot.quat_unroll(rots)
    return motion


SHORT_GAP = 5       # a gap this short between kept motion becomes a C1 interpolation of its sides ...
NETWORK_GAP = 25    # ... one this long or longer is the network's alone; the share grows linearly between


def network_share(run):
    """How much of the network's motion a gap of ``run`` frames keeps (the rest: a C1 interpolation).

    On a few frames the network's own wiggles are the pop: on 5-frame gaps of training takes a
    Hermite interpolation of the kept sides halved L2P (0.27x lerp against 0.52x) and put every
    seam within 1.5x (93% before); at 15 frames half of each keeps seams within 1.5x at L2P 0.70x
    (network alone 0.67x, 99%); from 30 frames on the network beats interpolation by far.
    """
    return float(np.clip((run - SHORT_GAP) / (NETWORK_GAP - SHORT_GAP), 0.0, 1.0))


def _hermite_gap(rots, pos, a, b):
    """C1 interpolation of frames [a, b) from the kept pairs (a-2, a-1) and (b, b+1): rotations as
    a cubic in axis-angle about frame a-1's, positions as a cubic, both with the kept velocities."""
    left, right = a - 1, b
    n = b - a + 2
    rate_l = rot.quat_to_axis_angle(rot.quat_mul(rots[left], rot.quat_inv(rots[left - 1])))
    rate_r = rot.quat_to_axis_angle(rot.quat_mul(rots[right + 1], rot.quat_inv(rots[right])))
    span = rot.quat_to_axis_angle(rot.quat_mul(rots[right], rot.quat_inv(rots[left])))
    turn = _hermite(n, np.zeros_like(span), rate_l, span, rate_r)[1:-1]
    fill_rots = rot.quat_mul(rot.axis_angle_to_quat(turn), rots[left][None])
    fill_pos = _hermite(n, pos[left], pos[left] - pos[left - 1], pos[right], pos[right + 1] - pos[right])[1:-1]
    return fill_rots, fill_pos


def _ease_short_gaps(motion, kept):
    """Blend each short gap between kept motion toward a C1 interpolation of its sides
    (:func:`network_share`); gaps without two kept frames on each side are left alone."""
    kept = np.asarray(kept, dtype=bool)
    T = motion.frames
    rots, pos = motion.rotations, motion.positions
    for a, b in contacts.spans(~kept):
        share = network_share(b - a)
        if share >= 1.0 or a < 2 or b + 1 >= T or not (kept[a - 2] and kept[b + 1]):
            continue
        fill_rots, fill_pos = _hermite_gap(rots, pos, a, b)
        rots[a:b] = rot.quat_slerp(fill_rots, rots[a:b], share)
        pos[a:b] = fill_pos * (1 - share) + pos[a:b] * share
    motion.rotations = rot.quat_unroll(rots)
    return motion


def _finish(model, f, start, kept, name, reference=None, path=None):
    # The generated frames get generate()'s low-pass too: the network's frame-to-frame wiggles
    # next to a seam are what the seam blend cannot take out. ``path``: features whose root path
    # (the trajectory channels) is put back after it, exactly.
    f = np.where(np.asarray(kept, dtype=bool)[:, None], f,
                 smooth(f, model.header["features"], sampling_defaults(model)["smooth_sigma"]))
    if path is not None:
        ti = model.header["arch"]["traj"]
        f[:, ti] = path[:, ti]
    m = features.decode(f, model.header["features"], model.skeleton, model.header["fps"], start=start, name=name)
    if reference is not None:  # kept frames exactly as they were (joints above the root included)
        m.rotations[kept] = reference.rotations[kept]
        m.positions[kept] = reference.positions[kept]
    # Easing last: the seam blend continues the kept sides' velocity over the first frames of a
    # gap, which bends a smooth interpolation; the blend of two C1 curves is C1 at the seams.
    return _ease_short_gaps(_inertialize(m, kept), kept)


def inbetween(model, motion, start, end, labels=None, seed=None):
    """Regenerate frames [start, end) of a clip, keeping the rest exactly."""
    clip = _check_skeleton(model, motion, cover=True)
    T = motion.frames
    if not (0 <= start < end <= T):
        raise SynthesisError(f"frame range {start}:{end} is empty or outside the clip (0:{T})")
    if end - start > max_transition(model, motion.fps):
        raise SynthesisError(f"{end - start} frames is longer than this model can regenerate at once "
                             f"({_most(model, motion.fps)})")
    r = _rate(model, motion.fps)
    if r == 1.0:
        return _inbetween(model, clip, start, end, labels, seed)
    # the model's frames whose neighbours span clip frames start..end-1
    s, e = int(np.floor(start * r + 1e-9)), min(int(np.ceil((end - 1) * r - 1e-9)) + 1, clip.frames)
    kept = np.ones(T, dtype=bool)
    kept[start:end] = False
    return _back(_inbetween(model, clip, s, e, labels, seed), motion, np.arange(T) * r, kept)


def _inbetween(model, motion, start, end, labels, seed):
    T = motion.frames
    spec = model.header["features"]
    known = features.encode(motion, spec)
    kept = np.ones(T, dtype=bool)
    kept[start:end] = False
    f, _ = _conditioned(model, known, kept.astype(np.float32), labels, seed)
    begin = features.start_of(motion, spec)
    heading, xz = _root_track(known, begin)
    anchors = [max(start - 1, 0), min(end, T - 1)]
    f = _pin_root(f, begin, anchors, heading, xz)
    return _finish(model, f, begin, kept, f"{motion.name}_inbetween", reference=motion)


def transition(model, a, b, frames, labels=None, seed=None):
    """Clip A, ``frames`` generated frames, then clip B moved to continue A's position and facing.

    The result plays at A's frame rate (``frames`` counts A's frames); B is resampled to it.
    """
    a2 = _check_skeleton(model, a, "first clip")
    b2 = _check_skeleton(model, b, "second clip")
    if frames < 1:
        raise SynthesisError("a transition needs at least 1 frame")
    r = _rate(model, a.fps)
    # at the model's rate the gap runs from A's last frame to where B starts at A's rate
    gap = frames if r == 1.0 else max(1, int(round((a.frames + frames) * r)) - a2.frames)
    if frames > max_transition(model, a.fps) or gap > max_transition(model):
        raise SynthesisError(f"a {frames}-frame transition is longer than this model can generate between two "
                             f"clips ({_most(model, a.fps, ' frames')})")
    out = _transition(model, a2, b2, gap, labels, seed)
    if r == 1.0:
        return out
    b_start = a2.frames + gap                      # B's first frame, at the model's rate
    b = b if same_rate(b.fps, a.fps) else b.resample(a.fps)
    total = a.frames + frames + b.frames
    times = np.interp(np.arange(total), [0, a.frames - 1, a.frames + frames], [0, (a.frames - 1) * r, b_start])
    m = _back(out, a, times)
    m.rotations[:a.frames - 1] = a.rotations[:-1]  # A but its last frame, as at the model's rate
    m.positions[:a.frames - 1] = a.positions[:-1]
    spec = model.header["features"]                # B itself, placed where the transition put it
    placed = features.decode(features.encode(b, spec), spec, model.skeleton, a.fps,
                             start=features.start_of(m.slice(a.frames + frames), spec))
    m.rotations[a.frames + frames:] = placed.rotations
    m.positions[a.frames + frames:] = placed.positions
    m.rotations = rot.quat_unroll(m.rotations)
    return m


def _transition(model, a, b, frames, labels, seed):
    spec = model.header["features"]
    fa, fb = features.encode(a, spec), features.encode(b, spec)
    known = np.concatenate([fa, np.zeros((frames, fa.shape[1])), fb])
    kept = np.ones(len(known), dtype=bool)
    kept[len(fa):len(fa) + frames] = False
    kept[len(fa) - 1] = False  # A's last velocity points at A's next frame, not into the transition
    f, _ = _conditioned(model, known, kept.astype(np.float32), labels, seed)
    begin = features.start_of(a, spec)
    m = _finish(model, f, begin, kept, f"{a.name}_to_{b.name}")
    m.rotations[:len(fa) - 1] = a.rotations[:-1]
    m.positions[:len(fa) - 1] = a.positions[:-1]
    return m


def parse_frames(text):
    """``"1, 12, 30"`` -> [1, 12, 30] (commas, semicolons or spaces); SynthesisError on anything else."""
    try:
        return sorted({int(t) for t in text.replace(";", ",").replace(" ", ",").split(",") if t.strip()})
    except ValueError:
        raise SynthesisError(f"key frames must be whole frame numbers separated by commas, got {text!r}") from None


def keyframe_guided(model, keys, key_frames, labels=None, seed=None):
    """A clip through the poses of ``keys`` at ``key_frames`` (root included), generated in between."""
    clip = _check_skeleton(model, keys, "key clip", cover=True)
    T = keys.frames
    key_frames = sorted({int(k) for k in key_frames})
    if not key_frames:
        raise SynthesisError("give at least one key frame")
    if key_frames[0] < 0 or key_frames[-1] >= T:
        raise SynthesisError(f"key frames must lie inside the clip (0:{T}), got {key_frames}")
    gaps = np.diff([0] + key_frames + [T - 1])
    if gaps.max() > max_transition(model, keys.fps):
        raise SynthesisError(f"keys {gaps.max()} frames apart are further than this model bridges "
                             f"({_most(model, keys.fps)})")
    r = _rate(model, keys.fps)
    if r == 1.0:
        return _keyframe_guided(model, clip, key_frames, labels, seed)
    at_model_rate = sorted({min(int(round(k * r)), clip.frames - 1) for k in key_frames})
    kept = np.zeros(T, dtype=bool)
    kept[key_frames] = True
    return _back(_keyframe_guided(model, clip, at_model_rate, labels, seed), keys, np.arange(T) * r, kept)


def _keyframe_guided(model, keys, key_frames, labels, seed):
    T = keys.frames
    spec = model.header["features"]
    known = features.encode(keys, spec)
    kept = np.zeros(T, dtype=bool)
    kept[key_frames] = True
    f, _ = _conditioned(model, known, kept.astype(np.float32), labels, seed)
    begin = features.start_of(keys, spec)
    heading, xz = _root_track(known, begin)
    f = _pin_root(f, begin, key_frames, heading, xz)
    if key_frames[0] > 0:  # before the first key: pin the start too
        f = _pin_root(f, begin, [0, key_frames[0]], heading, xz)
    return _finish(model, f, begin, kept, f"{keys.name}_keyed", reference=keys)


def restyle(model, motion, labels, seed=None, strength=STYLE_STRENGTH, drafts=RESTYLE_DRAFTS,
            temperature=1.0, height=True, cycle=False):
    """The same root path and timing, generated with other labels (e.g. style=elderly).

    Columns not named stay what the clip looks like; each named one is pushed ``strength``
    past its target, away from the clip's own label (0: the plain label swap). ``drafts``
    noise draws are made and the one the model's label classifier reads most clearly as the
    named labels is kept (a draft is cheap: one forward pass; with the classifier missing,
    the first draft). ``temperature`` scales each draft's noise: on the shipped model's
    training takes 0.6 read more clearly than 1 with one draft (0.76x against 0.74x of the
    real ceiling) and no better with 8 (0.78x both), so drafts keep the trained noise.
    ``height``: move the root's height to the new style's level and bounce (see
    :func:`_restyled_height`); False keeps it exactly. The path over the ground is kept either way.
    At another frame rate than the model's the clip is resampled there and back, so the path
    is kept to within that resampling. ``cycle``: the clip is a cycle, its last frame the next
    cycle's first (as :func:`loop` makes it and a cyclic action plays it); every frame drawn
    anew, its end no longer led into its start, so the frames around its wrap are generated
    again to lead there (:func:`_close_cycle`) and the result is a cycle too. At another rate
    the period is resampled to a whole number of the model's frames and back, as :func:`loop`
    keeps it, so the wrap falls on a frame and every cycle moves on as far as the clip's did.
    """
    _check_topology(model, motion)                # the clip is resampled once, below
    if not (0.0 <= strength <= 3.0):
        raise SynthesisError(f"style strength must be between 0 and 3, got {strength}")
    if not (isinstance(drafts, (int, np.integer)) and 1 <= drafts <= MAX_DRAFTS):
        raise SynthesisError(f"drafts must be a whole number from 1 to {MAX_DRAFTS}, got {drafts}")
    if cycle and not loop_closable(model, motion.frames, motion.fps):
        raise SynthesisError(f"a cycle of {motion.frames - 1} frames is too short to lead back into its start "
                             f"(at least {shortest_cycle(model, motion.fps)} frames)")
    r, period = _rate(model, motion.fps), motion.frames - 1
    n = int(round(period * r))                    # the period at the model's rate
    if cycle and r != 1.0:  # rounded, the period cut at model frame n missed the cycle's closing frame
        clip = _named(motion.sample_at(np.arange(n + 1) * period / n, fps=model.header["fps"]), motion.name)
    else:
        clip = _check_skeleton(model, motion, cover=True)
    out, chosen, away = _restyle(model, clip, labels, seed, strength, drafts, temperature, height)
    if cycle:
        out = _close_cycle(model, out.slice(0, n + 1), chosen, seed, away, strength, temperature)
        return out if r == 1.0 else _named(out.sample_at(np.arange(period + 1) * n / period, fps=motion.fps), out.name)
    return out if r == 1.0 else _back(out, motion, np.arange(motion.frames) * r)


def _named(motion, name):
    motion.name = name
    return motion


def _restyle(model, motion, labels, seed, strength, drafts, temperature, height):
    spec = model.header["features"]
    known = features.encode(motion, spec)
    labels = dict(labels or {})
    own = labeler.infer(model, _normalise(model, known)) if labeler.available(model) else {}
    away = {k: own[k] for k in labels if k in own and own[k] != labels[k]}
    ti = model.header["arch"]["traj"]
    path = known.copy()
    if height and away:
        path[:, ti[0]] = _restyled_height(model, known, own, {**own, **labels}, push=strength)
    seeds = np.random.default_rng(seed).integers(0, 2 ** 31, size=drafts) if drafts > 1 else [seed]
    best, best_margin, chosen = None, -np.inf, None
    for s in seeds:
        f, used = _conditioned(model, np.zeros_like(known), np.zeros(len(known), np.float32), {**own, **labels}, s,
                               traj=path, away=away, strength=strength, temperature=temperature)
        margin = _label_margin(model, f, labels) if drafts > 1 and labeler.available(model) else 0.0
        if best is None or margin > best_margin:
            best, best_margin, chosen = f, margin, used
    best[:, ti] = path[:, ti]  # the path and timing are the content's, exactly (the height moved or kept)
    out = features.decode(best, spec, model.skeleton, model.header["fps"], start=features.start_of(motion, spec),
                          name=f"{motion.name}_restyled")
    return out, chosen, away


HEIGHT_PROBE = (4, 120)  # free clips x frames per label set that say what height and bounce a style has


def _restyled_height(model, known, own, new, push=0.0):
    """The clip's root height moved to the new style's level and bounce, as the model generates them.

    The root height is part of the path the generator is told to follow, yet it is a style:
    in the training takes an elderly root bobs 0.4 cm (standard deviation within a take), an
    active one 2.6 cm, and their mean heights differ by centimetres. Kept as it was, an active
    take restyled to elderly still bounces like an active one. Free clips of both label sets
    (one fixed seed, so every draft and every clip sees the same answer) give the shift of the
    mean and the ratio of the bounce; the source's own track is moved and scaled by them, so its
    timing stays. ``push`` carries restyle's strength over: the shift grows by ``1 + push`` and the
    bounce ratio is raised to that power, as the label is pushed past its target.
    """
    h = model.header["arch"]["traj"][0]
    count, frames = HEIGHT_PROBE

    def level_and_bounce(labels):
        out, _ = run_generator(model, frames, count, labels, seed=0)
        track = denormalise(model, out)[..., h]
        return float(track.mean()), float(track.std(axis=1).mean())

    (m_own, b_own), (m_new, b_new) = level_and_bounce(own), level_and_bounce(new)
    ratio = float(np.clip((b_new / max(b_own, 1e-6)) ** (1 + push), 0.25, 4.0))
    track = known[:, h].astype(np.float64)
    return track.mean() + (m_new - m_own) * (1 + push) + (track - track.mean()) * ratio


def _label_margin(model, f, labels):
    """How clearly features [T, C] read as ``labels``: the classifier's score of each named label
    above the best other one, summed over the named columns."""
    scores = labeler.scores(model, _normalise(model, f))
    total = 0.0
    for col, value in labels.items():
        s = scores[col]
        t = model.labels[col].index(value)
        total += float(s[t] - np.max(np.delete(s, t))) if len(s) > 1 else 0.0
    return total


def path_features(model, xz, height=None):
    """Root channels (height, velocity in heading frame, yaw rate) for a ground path [T, 2] in model units."""
    xz = np.asarray(xz, dtype=np.float64)
    if xz.ndim != 2 or xz.shape[1] != 2 or len(xz) < 2:
        raise SynthesisError("a path needs at least 2 points of (x, z)")
    T = len(xz)
    d = np.diff(xz, axis=0)
    d = np.concatenate([d, d[-1:]])
    speed = np.linalg.norm(d, axis=-1)
    heading = np.arctan2(d[:, 0], d[:, 1])
    for t in range(1, T):  # hold the heading where the path pauses
        if speed[t] < 1e-6:
            heading[t] = heading[t - 1]
    heading = np.unwrap(heading)
    C = model.header["features"]["channels"]
    f = np.tile(np.asarray(model.header["norm"]["mean"], dtype=np.float64), (T, 1))
    if height is not None:
        f[:, 6] = height
    f[:, 7] = 0.0
    f[:, 8] = speed
    f[:, 9] = np.concatenate([np.diff(heading), [0.0]])
    return f[:, :C], heading


def follow_path(model, xz, labels=None, seed=None, height=None, fps=None, frames=None):
    """A clip whose root follows a ground path (one point per frame at the model's rate, model units).

    ``fps``: the clip's frame rate (default: the model's), ``frames``: its length at that rate
    (default: the path's duration); the clip is resampled to them.
    """
    r = _rate(model, fps)
    f_path, heading = path_features(model, xz, height)
    f, _ = _conditioned(model, np.zeros_like(f_path), np.zeros(len(f_path), np.float32), labels, seed,
                        traj=f_path)
    f[:, [7, 8, 9]] = f_path[:, [7, 8, 9]]
    start = (float(xz[0][0]), float(xz[0][1]), float(heading[0]))
    out = features.decode(f, model.header["features"], model.skeleton, model.header["fps"], start=start,
                          name="path")
    return out if r == 1.0 else out.resample(fps, frames=frames)


# ------------------------------------------------------------- cycles

def repeat_cycle(cycle, times=3):
    """``cycle`` (its last frame the next cycle's first, as :func:`loop` makes it) played ``times``
    times in a row, each moved on by its travel; returns (motion, first frame of the middle cycle).
    A filter that looks at neighbouring frames (a rig's foot lock) then sees the wrap as any other
    frame, and its output's middle cycle is one again."""
    n, r = cycle.frames - 1, features.root_joint(cycle.skeleton)
    g = cycle.global_positions()
    travel = g[n, r] - g[0, r]               # moved by the hierarchy's top, which carries everything
    parts = []
    for k in range(times):
        part = cycle.slice(0, n + 1 if k == times - 1 else n)
        part.positions[:, 0] += (k - times // 2) * travel
        parts.append(part)
    out = parts[0].copy(rotations=rot.quat_unroll(np.concatenate([p.rotations for p in parts])),
                        positions=np.concatenate([p.positions for p in parts]))
    return out, (times // 2) * n


LOOP_CONTEXT = 32     # frames of a cycle's start the model sees while it leads the end back into it
MIN_LOOP_BODY = 16    # frames of the free clip a cycle keeps at the least, before its generated end


def loop_seam(model, frames):
    """How many frames (at the model's rate) at the end of a ``frames``-frame cycle are generated
    to lead back into its start: a quarter of it, from 12 up to the transition limit."""
    return int(np.clip(frames // 4, 12, max_transition(model)))


def _calmest_frame(clip, spec, last):
    """The frame among the first ``last + 1`` where the joints move least about the root (mean speed
    over 5 frames): where a cycle wraps most easily. On the shipped model's raises, wrapping at the
    clip's first frame (often mid-swing) put the wrap's seam ratio past 1.5 on 4 of 8 seeds (worst
    2.39); here on none (worst 0.94), walks, runs and waves as before (benchmarks/loops.py)."""
    g = clip.global_positions()
    about_root = g - g[:, [spec["root"]]]
    speed = np.linalg.norm(np.diff(about_root, axis=0), axis=-1).mean(axis=-1)
    return int(np.argmin(np.convolve(speed, np.ones(5) / 5, mode="same")[:last + 1]))


TURN_NOTE_DEGREES = 45  # a loop that had to take out more of a turn than this says so


def loop(model, frames, labels=None, seed=None, temperature=None, fps=None, in_place=False, notes=None):
    """A cycle: ``frames`` frames whose end leads back into their start; returns (motion, labels).

    The motion has ``frames + 1`` frames: the last is the first again, where the next cycle
    starts. Keyed with a repeating cycle (Blender's Cycles modifier) or played on repeat
    without it, the cycle has no seam. A free clip half again as long is drawn, the cycle starts
    at its calmest moment in the first half cycle (:func:`_calmest_frame`), and its last
    :func:`loop_seam` frames are generated anew as a transition into that start (the same
    labels): a raise then wraps at rest, not in the middle of the hands' swing. A repeated
    cycle can move on but not turn, so the turn the clip makes is spread evenly over it and the
    next cycle faces as the first did; ``in_place`` takes the root's travel out as well (its
    sway stays). ``fps``: the cycle's frame rate (default: the model's), its period kept exact.
    ``notes``: a list that gets a line for the user when more than ``TURN_NOTE_DEGREES`` of turn
    was taken out (a turning walk then walks straight on turning steps).
    """
    fps = _clip_fps(model, fps)
    _check_frames(frames, model, fps)
    n = int(round(frames * _rate(model, fps)))                # the period at the model's rate
    seam = loop_seam(model, n)
    if not _long_enough(model, n):
        raise SynthesisError(f"a loop of {frames} frames is too short to lead back into its start "
                             f"(at least {shortest_cycle(model, fps)} frames)")
    (clip,), chosen = generate(model, n + n // 2, labels=labels, seed=seed, temperature=temperature)
    spec = model.header["features"]
    calm = _calmest_frame(clip, spec, n // 2)
    clip = clip.slice(calm, calm + n)
    head = clip.slice(0, min(n, LOOP_CONTEXT))
    cycle = transition(model, clip.slice(0, n - seam), head, seam, labels=chosen[0], seed=seed).slice(0, n + 1)
    f, start = features.encode(cycle, spec), features.start_of(cycle, spec)
    heading, xz = _root_track(f, start)
    turn = float(np.degrees(heading[n] - heading[0]))
    if notes is not None and abs(turn) > TURN_NOTE_DEGREES:
        notes.append(f"this cycle turned {abs(turn):.0f} degrees {'left' if turn > 0 else 'right'}; a loop faces one "
                     "way every cycle, so the turn was taken out (for a clip that turns, generate it without "
                     "looping, or along a path)")
    if in_place:                                              # back where it started, facing the same way
        f = _pin_root(f, start, [0, n], np.full_like(heading, heading[0]), np.broadcast_to(xz[0], xz.shape))
    else:
        f[:n, 9] -= (heading[n] - heading[0]) / n             # face as the first cycle did
    m = features.decode(f, spec, model.skeleton, model.header["fps"], start=start, name="loop")
    root = spec["root"]
    moved_on = m.positions[n, root].copy()
    if not in_place:                                          # on a treadmill a planted foot moves back
        m = _lock_cycle(m, n, spec, sampling_for(model, chosen[0])["lock_strength"])
    m.rotations[n], m.positions[n] = m.rotations[0], m.positions[0]  # the same pose exactly, same signs
    m.positions[n, root] = moved_on                                  # where the next cycle starts
    if _rate(model, fps) != 1.0:                              # another rate: the period kept exact
        m = m.sample_at(np.arange(frames + 1) * n / frames, fps=fps)  # (29.97 against 30: n == frames, fps not)
    return m, chosen[0]


def loop_closable(model, frames, fps=None):
    """Whether a cycle of ``frames`` frames (its last the next cycle's first) is long enough for
    its end to be generated anew into its start (:func:`restyle` with ``cycle``)."""
    return _long_enough(model, int(round((int(frames) - 1) * _rate(model, fps))))


def _long_enough(model, n):
    """Whether a period of ``n`` model frames keeps a body of its own beside the frames generated at its wrap."""
    return n - loop_seam(model, n) >= MIN_LOOP_BODY


def shortest_cycle(model, fps=None):
    """The fewest frames (at ``fps``) a cycle can last and still lead its end back into its start."""
    r, frames = _rate(model, fps), 2
    while not _long_enough(model, int(round(frames * r))):
        frames += 1
    return frames


def _close_cycle(model, cycle, labels, seed, away=None, strength=0.0, temperature=1.0):
    """``cycle`` (at the model's rate; its last frame where the next cycle starts) with the
    :func:`loop_seam` frames around its wrap generated anew, so its end leads into its start; its
    root path kept exactly.

    The cycle is played twice (:func:`repeat_cycle`) and the frames either side of the wrap are
    generated between the two plays, told the root path over them (a cycle's path wraps with it)
    and in the labels and push given; the first play's end and the second's start become the
    cycle's end and start. A gap across the wrap, not one that ends at it and leads into the old
    start: on restyled raises (8 seeds) the worst seam ratio was 0.73 against 1.35 (with 2 drafts,
    0.86 against 2.41; docs/experiments.md, *Restyling a loop*).
    """
    n, spec = cycle.frames - 1, model.header["features"]
    seam = loop_seam(model, n)
    after = seam // 2                            # gap frames after the wrap; the rest come before it
    two, _ = repeat_cycle(cycle, times=2)
    T = min(two.frames, n + after + LOOP_CONTEXT)
    known = features.encode(two.slice(0, T), spec)
    kept = np.ones(T, dtype=bool)
    kept[n - (seam - after):n + after] = False
    start = features.start_of(cycle, spec)       # the first play where the cycle was, not one travel back
    f, _ = _conditioned(model, known, kept.astype(np.float32), labels, seed, traj=known, away=away,
                        strength=strength, temperature=temperature)
    root = spec["root"]
    body = np.arange(len(cycle.skeleton)) != root
    reference = features.decode(known, spec, model.skeleton, model.header["fps"], start=start)
    reference.rotations[:n], reference.positions[:n] = cycle.rotations[:n], cycle.positions[:n]
    reference.rotations[n:] = cycle.rotations[:T - n]          # the second play: the cycle again,
    reference.positions[n:, body] = cycle.positions[:T - n, body]  # moved on by its root alone
    m = _finish(model, f, start, kept, cycle.name, reference=reference, path=known)
    out = m.slice(0, n + 1)
    out.rotations[:after], out.positions[:after] = m.rotations[n:n + after], m.positions[n:n + after]
    out.rotations = rot.quat_unroll(out.rotations)
    out.rotations[n], out.positions[n] = out.rotations[0], out.positions[0]  # the same pose exactly, same signs
    out.positions[:, root] = cycle.positions[:, root]  # the root where the cycle had it, the seams' blend undone
    return out


def with_closing_frame(clip):
    """One cycle as a file holds it (``ganim sample --loop`` writes no closing frame), with the frame
    where the next cycle starts added: the first pose, moved on over the ground by the cycle's
    travel. The step across the wrap is not in the file; it is taken as the mean of the steps on
    either side of it, which puts the next cycle of a generated walk or run within half a millimetre."""
    if clip.frames < 3:
        raise SynthesisError(f"a cycle needs at least 3 frames, got {clip.frames}")
    r, parents = features.root_joint(clip.skeleton), clip.skeleton.parents
    grot, gpos = clip.global_transforms()
    g = gpos[:, r]
    travel = g[-1] - g[0] + ((g[-1] - g[-2]) + (g[1] - g[0])) / 2
    travel[1] = 0.0                                   # the next cycle starts at the same height
    if parents[r] >= 0:                               # said in the frame of the root's parent
        travel = rot.quat_apply(rot.quat_conj(grot[0, parents[r]]), travel)
    out = clip.copy(rotations=np.concatenate([clip.rotations, clip.rotations[:1]]),
                    positions=np.concatenate([clip.positions, clip.positions[:1]]))
    out.positions[-1, r] += travel
    return out


def _lock_cycle(cycle, n, spec, strength):
    """The foot lock (:func:`lock_feet`) on a cycle of ``n`` frames (its frame ``n`` the next
    cycle's first): its transition and the turn taken out left feet sliding where they stand
    (the share of contact frames sliding, medians of 8 seeds: walks 0.27, runs 0.41 against 0.18
    / 0.32 for free clips; locked 0.18 / 0.24; ``benchmarks/loops.py``). Locked as the middle of
    three plays (:func:`repeat_cycle`, as a mapped rig's lock sees a cycle), so a foot planted
    across the wrap is held as any other. A foot planted for a whole cycle (a wave, a raise) is
    left alone: held in one place, it could not follow the cycle's drift into the next."""
    three, middle = repeat_cycle(cycle)
    return lock_feet(three, spec, strength, longest=n - 1).slice(middle, middle + n + 1)


def crossfade(a, b, frames):
    """The classic blend: A, then ``frames`` of slerp from A's last pose to B's first, then B (placed after A)."""
    if not a.skeleton.same_topology(b.skeleton):
        raise SynthesisError("clips A and B use different skeletons")
    if frames < 0:
        raise SynthesisError(f"a crossfade needs 0 or more frames, got {frames}")
    if not same_rate(a.fps, b.fps):
        b = b.resample(a.fps)
    spec = features.spec_for(a.skeleton)
    fa, fb = features.encode(a, spec), features.encode(b, spec)
    w = ((np.arange(frames) + 1) / (frames + 1))[:, None]
    mid = fa[-1] * (1 - w) + fb[0] * w
    f = np.concatenate([fa, mid, fb])
    m = features.decode(f, spec, a.skeleton, a.fps, start=features.start_of(a, spec), name=f"{a.name}_blend_{b.name}")
    qa, qb = a.rotations[-1], b.rotations[0]
    for i in range(frames):
        m.rotations[a.frames + i] = rot.quat_slerp(qa, qb, float(w[i, 0]))
    m.rotations[:a.frames] = a.rotations
    m.positions[:a.frames] = a.positions
    m.rotations = rot.quat_unroll(m.rotations)
    return m


def seam_ratio(motion, kept):
    """Largest change of joint speed at a seam / largest such change within the kept frames.

    The no-pop check: 1.0 means the seams are as smooth as the real motion's roughest frame.
    """
    g = motion.global_positions()
    speed = np.linalg.norm(np.diff(g, axis=0), axis=-1)         # [T-1, J]
    accel = np.abs(np.diff(speed, axis=0)).max(axis=-1)         # [T-2]: change between t..t+2
    kept = np.asarray(kept, dtype=bool)
    inside = kept[:-2] & kept[1:-1] & kept[2:]
    seams = np.flatnonzero(np.diff(kept.astype(np.int8)))
    near = np.zeros(len(accel), dtype=bool)
    for s in seams:
        near[max(s - 2, 0):min(s + 2, len(accel))] = True
    if not inside.any() or not near.any():
        return 0.0
    return float(accel[near].max() / max(accel[inside].max(), 1e-9))


def played_twice(cycle, spec):
    """``cycle`` (its last frame the next cycle's first) played twice: the second time moved on by
    the travel and turned by the turn between its first and last frame, as Blender's offset does
    for travel (a loop's cycles all face one way, so the turn is 0 for them)."""
    n, r = cycle.frames - 1, spec["root"]
    turn = features.start_of(cycle.slice(n), spec)[2] - features.start_of(cycle, spec)[2]
    yaw = rot.yaw_quat(np.array(turn))
    second = cycle.slice(0, n)
    second.rotations[:, r] = rot.quat_mul(yaw[None], second.rotations[:, r])
    p = second.positions[:, r] - cycle.positions[0, r]
    second.positions[:, r] = rot.quat_apply(np.broadcast_to(yaw, p.shape[:-1] + (4,)), p) + cycle.positions[n, r]
    out = cycle.slice(0, n)
    out.rotations = rot.quat_unroll(np.concatenate([out.rotations, second.rotations]))
    out.positions = np.concatenate([out.positions, second.positions])
    return out


def wrap_ratio(cycle, spec, generated_from=None, generated_to=0):
    """seam_ratio of two plays of ``cycle``, the frames from ``generated_from`` on and before
    ``generated_to`` in each counted as made (the naive loop: none, so the wrap itself is the only seam)."""
    two = played_twice(cycle, spec)
    n = cycle.frames - 1
    generated_from = n if generated_from is None else generated_from
    kept = np.ones(two.frames, dtype=bool)
    kept[generated_from:n + generated_to] = False
    kept[:generated_to] = False
    kept[n + generated_from:] = False
    if generated_from >= n:          # nothing generated: mark the wrap's two frames as the seam
        kept[n - 1:n + 1] = False
    return seam_ratio(two, kept)


def around_wrap_ratio(cycle, spec, before, after):
    """The wrap's ratio for a cycle whose ``before`` frames before its wrap and ``after`` frames after
    it were generated (a restyled cycle, :func:`_close_cycle`): the wrap then lies inside those
    frames, so the larger of the ratio at the wrap itself and at the edges of those frames (one more
    frame either side, where the seams' blend reaches)."""
    n = cycle.frames - 1
    return max(wrap_ratio(cycle, spec, n), wrap_ratio(cycle, spec, n - before - 1, after + 1))


NO_POP = 1.5  # the editing issue's seam test: a seam ratio at most this does not pop


def wrap_note(model, cycle):
    """A line for the user when ``cycle`` (its last frame the next cycle's first) does not wrap as
    a cycle does (None when it does): restyled as a cycle it keeps its root path, jump and all."""
    ratio = wrap_ratio(cycle, model.header["features"])
    if ratio <= NO_POP:
        return None
    return (f"its last frame does not lead into its first (seam ratio {ratio:.1f} where it wraps; a cycle's is at "
            f"most {NO_POP:g}), so it is not one cycle of a loop: restyled as one, it keeps its root path, which "
            "still jumps there")
