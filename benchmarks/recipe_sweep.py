"""Training recipes over several seeds: train each (recipe, seed), score every snapshot, compare.

    python benchmarks/recipe_sweep.py DATA --recipe base= --recipe balanced=--balance-labels \\
        --seeds 0-3 --steps 13000 --snapshot-every 500 --score-from 8000 --parallel 4 --out runs/sweep

One seed of a GAN recipe says little: the shipped model's run g1 left its too-alike phase by
10,500 steps while x1 (mixed windows) and bal0 (balanced labels) never did (README), and one seed of
each cannot tell the recipe from the seed. This trains every
recipe with every seed (`ganim train DATA --out OUT/RECIPE_sSEED --seed SEED --steps ...`,
PARALLEL runs at a time, each logging to OUT/RECIPE_sSEED.log; a run already finished is kept,
one with a checkpoint is resumed), then scores each run's snapshots from --score-from on as
`ganim select` does (the run's training takes split into R and a pseudo held-out part; its held-out
takes stay unseen) and keeps each run's best. It writes NAME.{json,md,png} into --results
(--name, default recipe_sweep):
every snapshot's ratios, each run's best, and per recipe the median best shortfall and how many
seeds reach the bar (shortfall 0). With --against MODEL a reference model (the shipped one) is
scored beside them on each reference. Meant for a GPU (several runs share one; pass --parallel),
and it runs the same on CPU with tiny settings.
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from blender_ganim.core import model_file, synthesis  # noqa: E402
from quality import parse_seeds  # noqa: E402
from trainer.evaluate import given_sampling, takes_left_out  # noqa: E402
from trainer.plots import plot_select  # noqa: E402
from trainer.select import (default_count, find_snapshots, nearest_the_bar, score_snapshot,  # noqa: E402
                            training_reference)

SHOWN = ("fd", "novelty", "coverage", "foot_skate", "jitter", "accuracy_style")


def parse_recipe(text):
    """'NAME=ARGS' -> (NAME, [args]); ARGS are `ganim train` options, shell-quoted."""
    name, sep, args = text.partition("=")
    if not sep or not name.strip() or not name.replace("-", "").replace("_", "").isalnum():
        raise argparse.ArgumentTypeError(f"a recipe is NAME=ARGS with a plain name, e.g. balanced=--balance-labels; "
                                         f"got {text!r}")
    return name.strip(), shlex.split(args)


def run_state(run, steps):
    """'done' (model.ganim of all the steps), 'resume' (a checkpoint) or 'new'."""
    model = run / "model.ganim"
    if model.is_file():
        try:
            if (model_file.load(model).header.get("training") or {}).get("steps") == steps:
                return "done"
        except Exception:
            pass
    return "resume" if (run / "checkpoint.pt").is_file() else "new"


def stopped_state(run, steps):
    """For --score-only: 'kept' (finished), 'stopped at step N of STEPS' (its newest snapshot) or
    'not started'."""
    if run_state(run, steps) == "done":
        return "kept"
    snaps = find_snapshots([run]) if (run / "snapshots").is_dir() else []
    return f"stopped at step {snaps[-1][0]} of {steps}" if snaps else "not started"


def training_seconds(run):
    """A run's own training time over all its resumes (its model's header), or None before one."""
    try:
        return round(model_file.load(run / "model.ganim").header["training"]["wall_time_s"], 1)
    except (OSError, model_file.ModelFileError, KeyError):
        return None


def steps_logged(run):
    path = run / "losses.csv"
    try:
        return max(0, sum(1 for _ in path.open()) - 1)
    except OSError:
        return 0


def train_all(jobs, data, common, steps, snapshot_every, parallel, log=print):
    """Run `ganim train` for every (name, seed, run_dir, recipe args), ``parallel`` at a time;
    returns {run_dir: "trained" | "kept" | "failed (exit N, see LOG)"}."""
    status, waiting, running = {}, [], {}
    for name, seed, run, args in jobs:
        state = run_state(run, steps)
        if state == "done":
            status[run] = "kept"
            continue
        cmd = [sys.executable, "-m", "trainer.cli", "train", *data, "--out", str(run), "--seed", str(seed),
               "--steps", str(steps), "--snapshot-every", str(snapshot_every), *args, *common]
        if state == "resume":
            cmd.append("--resume")
        waiting.append((run, cmd))
    total = steps * len(waiting)
    bar = _bar(total)
    done_before = {run: steps_logged(run) for run, _ in waiting}
    while waiting or running:
        while waiting and len(running) < parallel:
            run, cmd = waiting.pop(0)
            run.parent.mkdir(parents=True, exist_ok=True)
            logf = open(run.parent / f"{run.name}.log", "a")
            log(f"training {run.name}: {shlex.join(cmd[2:])}")
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
            running[run] = (subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT), logf)
        time.sleep(2)
        for run in list(running):
            proc, logf = running[run]
            if proc.poll() is not None:
                logf.close()
                del running[run]
                status[run] = "trained" if proc.returncode == 0 else \
                    f"failed (exit {proc.returncode}, see {os.path.relpath(run.parent / (run.name + '.log'))})"
                log(f"{run.name}: {status[run]}")
        if bar is not None:
            bar.n = sum(steps_logged(r) - done_before.get(r, 0) for r in done_before)
            bar.refresh()
    if bar is not None:
        bar.close()
    return status


def _bar(total):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="training", unit="step", file=sys.stderr, disable=not sys.stderr.isatty())


_REFERENCES = {}  # held-out set -> its reference; a module global so forked scoring workers share it


def _score_task(task):
    held, path, step, n, frames, seed, name, draws, sampling = task
    model = synthesis.for_every_clip(model_file.load(path), sampling) if sampling else None
    return score_snapshot(path, step, _REFERENCES[held], n, frames, seed, run=name, draws=draws, model=model)


def _one_thread():
    try:  # a worker per core: BLAS threads in each would only fight
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        pass


def _score_forked(tasks, workers):
    """Score ``tasks`` in ``workers`` forked processes (they inherit the references; only the scored
    rows travel back); the rows come back in the tasks' order."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()

    def work(share):
        _one_thread()
        for i in share:
            try:
                results.put((i, _score_task(tasks[i]), None))
            except Exception as e:  # reported by the parent, with the snapshot that failed
                results.put((i, None, f"{type(e).__name__}: {e}"))

    workers = min(workers, len(tasks))
    procs = [ctx.Process(target=work, args=(range(w, len(tasks), workers),)) for w in range(workers)]
    for p in procs:
        p.start()
    rows, errors = [None] * len(tasks), []
    import queue
    for _ in tasks:
        while True:
            try:
                i, row, err = results.get(timeout=5)
                break
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and results.empty():
                    raise RuntimeError("a scoring process died (out of memory?) before scoring all snapshots")
        rows[i] = row
        if err:
            errors.append(f"{tasks[i][1]}: {err}")
    for p in procs:
        p.join()
    if errors:
        raise RuntimeError("scoring failed: " + "; ".join(errors))
    return rows


def score_runs(runs, data, score_from, count, frames, seed, against=None, log=print, workers=1, draws=1,
               sampling=None):
    """Every snapshot from ``score_from`` on, scored against its run's training-take reference (one
    reference per distinct held-out set, shared by the runs that have it) on ``draws`` generation seeds
    (their mean, as `ganim select --draws`), at ``sampling`` for every clip where given (the runs'
    snapshots alone; ``against`` keeps its own); with ``workers`` > 1 the snapshots are scored in that
    many processes (a many-core machine; the rows are the same)."""
    tasks, firsts = [], {}
    for run in runs:
        snaps = [(s, p) for s, p in find_snapshots([run]) if s >= score_from] if (run / "snapshots").is_dir() else []
        if not snaps:
            log(f"{run.name}: no snapshots from step {score_from} on")
            continue
        newest = model_file.load(snaps[-1][1])
        held = tuple(map(frozenset, takes_left_out(newest)))  # runs that left out the same takes share a reference
        if held not in _REFERENCES:
            _REFERENCES[held] = training_reference(newest, data, seed, log)
            firsts[held] = newest
            if against:
                snaps.append((None, Path(against)))
        n = count or default_count(firsts.get(held, newest))
        for step, path in snaps:
            own = None
            if step is None:  # the --against model, named by itself and its training steps, at its own sampling
                step = (model_file.load(path).header.get("training") or {}).get("steps", 0)
                name = f"{Path(path).stem} (on {run.name}'s reference)"
            else:
                name, own = run.name, sampling
            tasks.append((held, path, step, n, frames, seed, name, draws, own))
    rows = _score_forked(tasks, workers) if workers > 1 and len(tasks) > 1 else [_score_task(t) for t in tasks]
    _REFERENCES.clear()
    for row, (_, path, *_rest) in zip(rows, tasks):
        row["path"] = os.path.relpath(path, REPO) if Path(path).resolve().is_relative_to(REPO) else Path(path).name
        log(f"{row['run']} step {row['step']}: shortfall {row['shortfall']:.2f}")
    return rows


def summarise(rows, jobs):
    """Each run's best snapshot (smallest shortfall, then FD) and per recipe the median best shortfall."""
    best = {}
    for r in rows:
        b = best.get(r["run"])
        if b is None or nearest_the_bar(r) < nearest_the_bar(b):
            best[r["run"]] = r
    recipes = {}
    for name, seed, run, _ in jobs:
        entry = recipes.setdefault(name, {"seeds": [], "best_shortfall": []})
        entry["seeds"].append(seed)
        entry["best_shortfall"].append(best[run.name]["shortfall"] if run.name in best else None)
    for entry in recipes.values():
        got = [s for s in entry["best_shortfall"] if s is not None]
        entry["median_best_shortfall"] = statistics.median(got) if got else None
        entry["seeds_at_bar"] = sum(s < 1e-9 for s in got)
    return best, recipes


def markdown(best, recipes, jobs, status, header):
    lines = ["# Training recipes over seeds", "", header, "",
             "| recipe | seed | status | best step | shortfall | " + " | ".join(SHOWN) + " |",
             "|---|---:|---|---:|---:|" + "---:|" * len(SHOWN)]
    def row(name, seed, state, b):
        if b is None:
            return f"| {name} | {seed} | {state} | - | - | " + " | ".join("-" for _ in SHOWN) + " |"
        cells = [f"{b['ratios'][k]:.2f}x" if b["ratios"].get(k) is not None else "-" for k in SHOWN]
        return f"| {name} | {seed} | {state} | {b['step']} | {b['shortfall']:.2f} | " + " | ".join(cells) + " |"

    for name, seed, run, _ in jobs:
        lines.append(row(name, seed, status.get(run, "?"), best.get(run.name)))
    ours = {run.name for _, _, run, _ in jobs}
    lines += [row(b["run"], "", "reference model", b) for k, b in best.items() if k not in ours]
    lines += ["", "| recipe | seeds | best shortfall per seed | median | seeds at the bar |", "|---|---|---|---:|---:|"]
    for name, e in recipes.items():
        per = " / ".join("-" if s is None else f"{s:.2f}" for s in e["best_shortfall"])
        med = "-" if e["median_best_shortfall"] is None else f"{e['median_best_shortfall']:.2f}"
        lines.append(f"| {name} | {', '.join(map(str, e['seeds']))} | {per} | {med} | {e['seeds_at_bar']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", metavar="DATA", help="the training data (folder or .tar.xz)")
    ap.add_argument("--recipe", type=parse_recipe, action="append", required=True, metavar="NAME=ARGS",
                    help="a recipe: a name and its `ganim train` options (repeat; NAME= alone is the defaults)")
    ap.add_argument("--seeds", type=parse_seeds, default=[0, 1], metavar="LIST", help="e.g. 0-3 (default 0,1)")
    ap.add_argument("--steps", type=int, default=13000, help="steps per run (default 13000)")
    ap.add_argument("--snapshot-every", type=int, default=500, help="snapshot interval (default 500)")
    ap.add_argument("--score-from", type=int, default=0, help="score snapshots from this step on (default: all)")
    ap.add_argument("--parallel", type=int, default=1, help="runs trained at once (default 1; several share a GPU)")
    ap.add_argument("--train-args", default="", metavar="ARGS",
                    help="`ganim train` options for every run, shell-quoted (e.g. '--threads 1')")
    ap.add_argument("--against", metavar="MODEL", help="also score this model (e.g. the shipped one) beside the runs")
    ap.add_argument("--count", type=int, default=None, help="clips per snapshot (default as `ganim select`)")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--score-seed", type=int, default=0, help="generation and reference seed of the scoring")
    ap.add_argument("--out", default="runs/sweep", help="folder of the runs (default runs/sweep)")
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results"), help="where NAME.* go")
    ap.add_argument("--name", default="recipe_sweep", help="file name of the record (default recipe_sweep)")
    ap.add_argument("--score-draws", type=int, default=1, metavar="K",
                    help="generation seeds per snapshot, their mean ranked, as `ganim select --draws` (default 1)")
    ap.add_argument("--score-workers", type=int, default=1, metavar="N",
                    help="score the snapshots in N processes (default 1; a many-core machine)")
    for key, what in (("temperature", "noise temperature, 0-2"), ("smooth_sigma", "the clean-up's low-pass, 0-8 frames"),
                      ("lock_strength", "the foot lock's share, 0-1")):
        ap.add_argument("--score-" + key.replace("_", "-"), type=float, dest=key, metavar="X",
                        help=f"{what}, for every clip of every run's snapshots, as `ganim select` takes it "
                             f"(default: each snapshot's own; --against keeps its own)")
    ap.add_argument("--score-only", action="store_true",
                    help="train nothing: score the snapshots the runs have so far (a sweep stopped part way, "
                         "to go on later with the same command without this flag)")
    args = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    names = [n for n, _ in args.recipe]
    if len(set(names)) != len(names):
        ap.error(f"recipe names must differ: {', '.join(names)}")
    if args.score_draws < 1:
        ap.error(f"--score-draws {args.score_draws}: each snapshot needs at least one draw")
    try:
        sampling = given_sampling(args, prefix="--score-")
    except synthesis.SynthesisError as e:
        ap.error(str(e))
    out = Path(args.out).resolve()
    jobs = [(name, seed, out / f"{name}_s{seed}", rargs) for name, rargs in args.recipe for seed in args.seeds]
    t0 = time.time()
    if args.score_only:
        status = {run: stopped_state(run, args.steps) for _, _, run, _ in jobs}
    else:
        status = train_all(jobs, args.data, shlex.split(args.train_args), args.steps, args.snapshot_every,
                           max(1, args.parallel), log)
    train_s = time.time() - t0
    rows = score_runs([run for _, _, run, _ in jobs], args.data, args.score_from, args.count, args.frames,
                      args.score_seed, args.against, log, workers=max(1, args.score_workers),
                      draws=args.score_draws, sampling=sampling)
    best, recipes = summarise(rows, jobs)
    own = {run.name: training_seconds(run) for _, _, run, _ in jobs}
    this_call = ("no training in this call" if args.score_only
                 else f"{train_s / 60:.1f} min of training in this call, {args.parallel} at a time")
    totals = ", ".join(f"{n} {t / 60:.1f} min" for n, t in own.items() if t is not None) or "none yet"
    header = (f"{len(args.recipe)} recipe(s) x seeds {', '.join(map(str, args.seeds))}, {args.steps} steps, "
              f"snapshots every {args.snapshot_every} scored from step {args.score_from} on training takes "
              + (f"({args.score_draws} generation seeds each, their mean) " if args.score_draws > 1 else "")
              + (f"at {model_file.settings_text(sampling)} for every clip " if sampling else "") +
              f"(`ganim select`'s split); {this_call}; each run's training over all its resumes: {totals}. Recipes: "
              + "; ".join(f"{n}: `{shlex.join(a) or '(defaults)'}`" for n, a in args.recipe)
              + (f"; every run also `{args.train_args}`" if args.train_args else "") + ".")
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    record = {"recipes": {n: a for n, a in args.recipe}, "train_args": args.train_args, "seeds": args.seeds,
              "steps": args.steps, "snapshot_every": args.snapshot_every, "score_from": args.score_from,
              "status": {run.name: status.get(run, "?") for _, _, run, _ in jobs}, "training_seconds": round(train_s),
              "run_training_seconds": own,
              "rows": rows, "best": best, "by_recipe": recipes, "score": "fd", "sampling": sampling}
    (results / f"{args.name}.json").write_text(json.dumps(record, indent=2, default=float))
    text = markdown(best, recipes, jobs, status, header)
    (results / f"{args.name}.md").write_text(text)
    if rows:
        plot_select({"rows": rows, "best": min(best.values(), key=nearest_the_bar),
                     "score": "fd"}, results / f"{args.name}.png",
                    levels={r["run"] for r in rows} - own.keys())  # the --against model
    print(text)
    return 1 if any(s.startswith("failed") for s in status.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
