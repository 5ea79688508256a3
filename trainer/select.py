"""`ganim select`: pick the best snapshot of a training run without touching its held-out takes.

GAN losses do not say when the samples are best (a run can peak early and drift), so a
run keeps snapshots (`ganim train --snapshot-every N`) and this command scores each one.
The run's *training* takes are split once more: a reference part (R) and a pseudo
held-out part (H'). Every snapshot is scored against H' with the metrics of `ganim eval`;
the real held-out takes stay unseen, so the figures `ganim eval` and
benchmarks/quality.py report on them afterwards are not selected on. The winner is the
snapshot nearest the whole quality bar (FD alone picked snapshots that lose on skate,
coverage and style), or with `--by fd` the lowest FD.

One draw of generated clips is noisy: one snapshot's FD was 1.31x on one generation seed and
1.54x on another against the same reference (134 clips each); over four seeds its standard
deviation was 0.07-0.10x, against 0.04-0.05x over four seeds of the reference's own subsample
(benchmarks/select_noise.py, session 46). That is more than neighbouring snapshots differ, so
the best of a dozen rows is partly the luckiest draw. `--draws K` scores each snapshot on K
generation seeds against one reference and ranks the mean.
"""

import json
import re
import shutil
import sys
from pathlib import Path
from statistics import fmean

from blender_ganim.core import labeler, model_file, synthesis

from . import metrics
from .data import split_takes_by_name
from .evaluate import (_json_default, _progress, add_sampling_options, given_sampling, label_combinations,
                       label_spread, load_real, score_generated, shortfall, takes_left_out)
from .plots import plot_select

SNAPSHOT_NAME = re.compile(r"model_(\d+)\.ganim")  # what `ganim train --snapshot-every` writes

RULES = {
    "bar": "the smallest total shortfall from the quality bar (sum of log-distances outside each "
           "target band), then the lowest FD",
    "fd": "the lowest FD ratio",
}


def add_parser(sub):
    s = sub.add_parser(
        "select", help="rank a run's snapshots and keep the best",
        description="Score every RUN_DIR/snapshots/model_STEP.ganim (or the .ganim files given) against a "
                    "part of the run's own training takes (never its held-out takes), print a table, draw "
                    "RUN_DIR/select.png and write RUN_DIR/select.json. By default the snapshot nearest the whole "
                    "quality bar wins (--by bar; --by fd: the lowest FD); --best copies it to a path.")
    s.add_argument("source", metavar="RUN_DIR|MODEL", nargs="+", help="a run folder, or .ganim files")
    s.add_argument("--data", required=True, nargs="+", metavar="DATA_DIR", help="the data the run trained on")
    s.add_argument("--count", type=int, default=None,
                   help="clips generated per snapshot (default: 60, or twice the number of label "
                        "combinations when that is more, so that diversity within labels is measured)")
    s.add_argument("--frames", type=int, default=120, help="frames per clip (default 120)")
    s.add_argument("--every", type=int, default=1, help="score every k-th snapshot only (default 1)")
    s.add_argument("--best", metavar="OUT.ganim",
                   help="copy the winning snapshot here (with a sampling setting given, the copy records it as "
                        "its own)")
    s.add_argument("--by", choices=sorted(RULES), default="bar",
                   help="bar: smallest total shortfall from every target of the quality bar, ties by FD "
                        "(default); fd: lowest FD alone")
    s.add_argument("--seed", type=int, default=0, help="the split of the training takes and the first generation seed")
    s.add_argument("--draws", type=int, default=1,
                   help="generation seeds per snapshot (SEED, SEED+1000, ...): each row is their mean, and the pick "
                        "is less a matter of the luckiest draw (default 1)")
    add_sampling_options(s, whose="each file's own")
    s.set_defaults(func=cmd_select)


def find_snapshots(sources, every=1):
    """[(step, path)] sorted by step; a run folder contributes its snapshots/ and model.ganim."""
    found = []
    for src in map(Path, sources):
        paths = sorted((src / "snapshots").glob("*.ganim")) if src.is_dir() else [src]
        if src.is_dir() and not paths and (src / "model.ganim").is_file():
            paths = [src / "model.ganim"]
        steps = []
        for p in paths:
            m = SNAPSHOT_NAME.fullmatch(p.name)
            step = int(m.group(1)) if m else model_file.load(p).header.get("training", {}).get("steps", 0)
            steps.append((step, p))
        steps.sort()
        found += steps[::-1][::max(1, every)][::-1]  # every k-th of each run, its newest included
    if not found:
        raise ValueError(f"no .ganim snapshots in {', '.join(map(str, sources))} "
                         "(train with --snapshot-every N to keep them)")
    found.sort()
    return found


def training_reference(model, data, seed=0, log=print):
    """A metrics.Reference built from the model's training takes alone: R vs pseudo held-out H'."""
    clips, labels = training_split(model, data, seed, log)
    return metrics.Reference(clips["train"], clips["heldout"], labels, seed=seed)


def training_split(model, data, seed=0, log=print):
    """R and H' ({"train", "heldout"}: clips) with their labels ({column: {part: [...]}}); the run's
    real held-out takes are left out. H' is the run's selection takes when it kept some
    (`ganim train --select-fraction`), else a part of its training takes."""
    heldout, selection = takes_left_out(model)
    real, labels, split = load_real(data, heldout, log=log)
    names = split["train"]
    table = {n: {c: labels[c]["train"][i] for c in labels} for i, n in enumerate(names)}
    pseudo = set(selection) & set(names)
    unseen = bool(pseudo)
    if not unseen:  # spread over label groups; a tiny set whose groups hold one take each is split plainly
        fraction = max(0.1, 3 / max(len(names), 1))
        pseudo = split_takes_by_name(names, table, fraction, seed + 1) or \
            split_takes_by_name(names, table, fraction, seed + 1, by=())
    by_name = dict(zip(names, real["train"]))
    part = {"train": [n for n in names if n not in pseudo], "heldout": [n for n in names if n in pseudo]}
    ref_labels = {c: {p: [table[n][c] for n in part[p]] for p in part} for c in labels}
    log(f"reference: {len(part['train'])} training takes vs {len(part['heldout'])} "
        + ("selection takes the run never trained on" if unseen else "pseudo held-out training takes")
        + " (the run's held-out takes are not used)")
    return {p: [by_name[n] for n in part[p]] for p in part}, ref_labels


def default_count(model, all_combinations=False):
    """60 clips, or each label combination the training takes had (or every one) twice (diversity
    within labels needs pairs)."""
    combos = len(label_combinations(model, all_combinations)) if model.labels else 1
    return max(60, 2 * combos)


def run_select(sources, data, count=None, frames=120, every=1, seed=0, log=print, by="bar",
               sampling=None, draws=1):
    """Score the snapshots of ``sources``; ``sampling`` ({setting: value}, as `ganim sampling` names
    them) is every snapshot's for every clip, else each file's own."""
    if draws < 1:
        raise ValueError(f"--draws {draws}: each snapshot needs at least one draw")
    snaps = find_snapshots(sources, every)
    models = [model_file.load(p) for _, p in snaps]
    if sampling:
        models = [synthesis.for_every_clip(m, sampling) for m in models]
    newest = models[-1]
    recorded = [synthesis.trained_combos(m) is not None for m in models]
    every_pair = not all(recorded)  # one label spread for every row, or the rows are not comparable
    if every_pair and any(recorded):
        log("some files do not record which label pairs training had, so every snapshot is scored on every "
            "pair (`ganim fit-labels` adds the record)")
    count = count or default_count(newest, every_pair)
    ref = training_reference(newest, data, seed, log)
    rows = []
    for (step, path), model in _progress(list(zip(snaps, models)), len(snaps), "snapshots"):
        rows.append(score_snapshot(path, step, ref, count, frames, seed, all_combinations=every_pair,
                                   model=model, draws=draws))
        log(f"{rows[-1]['run']} step {step}: " + ", ".join(f"{k} {v:.2f}x" for k, v in rows[-1]["ratios"].items() if v is not None)
            + f"; shortfall {rows[-1]['shortfall']:.2f}")
    if by == "bar":
        best = min(rows, key=nearest_the_bar)
    else:
        best = min(rows, key=lambda r: r["ratios"]["fd"])
    used = sorted({r["temperature"] for r in rows})
    return {"rows": rows, "best": best, "score": "fd", "rule": RULES[by], "by": by,
            "label_spread": label_spread(newest, every_pair, count),
            "clips_per_snapshot": count, "frames": frames, "draws": draw_seeds(seed, draws),
            "temperature": used[0] if len(used) == 1 else used,  # each snapshot's own unless one was given
            "sampling": dict(sampling or {})}


def draw_seeds(seed, draws):
    """The generation seeds of ``draws`` draws starting at ``seed``, as the benchmarks space them."""
    return [seed + 1000 * i for i in range(draws)]


def score_snapshot(path, step, reference, count, frames, seed=0, run=None, all_combinations=False, model=None,
                   draws=1):
    """One scored row: {run, step, path, ratios, shortfall, temperature} of the model at ``path``
    (``model``: that file already loaded, with the sampling to score it at, see
    :func:`synthesis.for_every_clip`; else the file's own; labels as `ganim eval` spreads them). With
    several ``draws``, the ratios and the shortfall are means over the draws' seeds (each draw's
    shortfall is kept in ``shortfall_per_draw``)."""
    model = model or model_file.load(path)
    per_draw = []
    for s in draw_seeds(seed, draws):
        result, _ = score_generated(model, reference, count, frames, s, all_combinations=all_combinations)
        per_draw.append({k: v["ratio"] for k, v in result["metrics"].items()})
    ratios = {k: None if any(r[k] is None for r in per_draw) else fmean(r[k] for r in per_draw)
              for k in per_draw[0]}
    falls = [shortfall(r) for r in per_draw]
    row = {"run": run or run_name(path), "step": step, "path": str(path), "ratios": ratios,
           "shortfall": fmean(falls), "temperature": synthesis.temperature_for(model)}
    if draws > 1:
        row["shortfall_per_draw"] = falls
    return row


def nearest_the_bar(row):
    """Sort key of the --by bar rule: the smallest shortfall, ties (to 1e-6) broken by the lowest FD."""
    return round(row["shortfall"], 6), row["ratios"]["fd"]


def run_name(path):
    """The run a snapshot belongs to (RUN/snapshots/model_STEP.ganim or RUN/model.ganim -> RUN; a
    model_STEP.ganim copied elsewhere, DIR/model_STEP.ganim -> DIR, so snapshots gathered in one folder
    plot as one run); any other file is named by itself (models/default.ganim -> default)."""
    p = Path(path)
    if p.parent.name == "snapshots":
        return p.parent.parent.name
    return p.parent.name if p.name == "model.ganim" or SNAPSHOT_NAME.fullmatch(p.name) else p.stem


def format_table(result):
    """A markdown table, one row per snapshot; with several draws the ratios are their means and a
    last column gives each draw's shortfall."""
    keys = [k for k in result["rows"][0]["ratios"]]
    several = len(result.get("draws", [])) > 1
    extra = " per draw |" if several else ""
    lines = ["| run | step | " + " | ".join(keys) + " | shortfall |" + extra,
             "|---|---:|" + "---:|" * (len(keys) + 1 + several)]
    for r in result["rows"]:
        mark = " **best**" if r is result["best"] else ""
        cells = [f"{r['ratios'][k]:.2f}x" if r["ratios"][k] is not None else "-" for k in keys]
        per = " " + " / ".join(f"{x:.2f}" for x in r["shortfall_per_draw"]) + " |" if several else ""
        lines.append(f"| {r['run']} | {r['step']}{mark} | " + " | ".join(cells) + f" | {r['shortfall']:.2f} |" + per)
    return "\n".join(lines)


def copy_best(path, out, sampling=None):
    """Copy the winning snapshot to ``out``; chosen at given settings, the copy records them as its
    own for every clip (`ganim sampling`), so the tools generate it as it was scored."""
    if not sampling:
        shutil.copyfile(path, out)
        return
    tuned = synthesis.for_every_clip(model_file.load(path), sampling)
    model_file.save(out, tuned.header, tuned.weights)


def _check_best_target(best, sources):
    """``--best`` must not be a file the run keeps (a snapshot scored, a run's own model.ganim): the
    copy would overwrite it, or, onto the winner itself, fail half way."""
    target = Path(best)
    if not target.exists():
        return
    kept = []
    for src in map(Path, sources):  # the files find_snapshots may score, named without loading them
        kept += [*(src / "snapshots").glob("*.ganim"), src / "model.ganim"] if src.is_dir() else [src]
    for p in kept:
        if p.exists() and p.samefile(target):
            raise ValueError(f"--best {best} is {p}, a file of the run: name a new file for the copy")


def cmd_select(args):
    from .cli import UserError
    try:
        if args.every < 1:
            raise ValueError(f"--every {args.every}: give 1 (every snapshot) or more")
        if args.best:
            _check_best_target(args.best, args.source)
        sampling = given_sampling(args)
        result = run_select(args.source, args.data, args.count, args.frames, args.every, args.seed,
                            log=lambda m: print(m, file=sys.stderr), by=args.by, sampling=sampling, draws=args.draws)
    except ValueError as e:  # SynthesisError is one
        raise UserError(str(e)) from None
    print(format_table(result))
    first = Path(args.source[0])
    folder = first if first.is_dir() else first.parent
    (folder / "select.json").write_text(json.dumps(result, indent=2, default=_json_default))
    plot_select(result, folder / "select.png")
    print(f"best ({result['rule']}): step {result['best']['step']} ({result['best']['path']}); wrote {folder / 'select.json'} "
          f"and {folder / 'select.png'}")
    if args.best:
        copy_best(result["best"]["path"], args.best, sampling)
        print(f"copied it to {args.best}" + (f", recording {model_file.settings_text(sampling)}, at which it was "
                                             f"chosen" if sampling else ""))
        if not labeler.available(model_file.load(args.best)):  # a snapshot from before runs fitted it
            print(f"note: {args.best} has no label classifier, so editing will draw left-out labels at random; "
                  f"add it with: ganim fit-labels {args.best} --data {' '.join(args.data)}", file=sys.stderr)
