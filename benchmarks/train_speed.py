"""Training speed: seconds per `ganim train` step, this checkout beside another commit, in one run.

    python benchmarks/train_speed.py --against HEAD~1 [--data data/sample] [--steps 24] [--repeats 3] [--threads 1]

Each measurement is a fresh short training run in its own process (`trainer.train.train`, the real
loop on real takes); its time is the loop's own wall clock from the checkpoint (set-up, data loading
and the first checkpoint's write are left out). With --against REV the same run is made with that
commit's code (a temporary `git worktree`), alternating with this checkout's, so both see the same
machine load; the record gives each side's median and their ratio. Writes
benchmarks/results/train_speed.{json,md}. Other processes on the machine slow both sides alike but
add noise: compare on an idle machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RUN = r"""
import json, shutil, sys, torch
tree, data, out, steps, threads = sys.argv[1:6]
sys.path.insert(0, tree)
torch.set_num_threads(int(threads))
from trainer import train as T
T.train([data], out, steps=int(steps), progress=False, cache_dir=out + "-cache", ckpt_every=10**9,
        log=lambda *a: None)
ck = torch.load(out + "/checkpoint.pt", weights_only=True)
print(json.dumps({"seconds_per_step": float(ck["wall"]) / int(steps)}))
"""


def measure(tree, data, steps, threads, work):
    """One short training run with the code in ``tree``; seconds per step of its loop."""
    out = Path(work) / f"run-{os.urandom(4).hex()}"
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-c", RUN, str(tree), str(data), str(out), str(steps), str(threads)],
                          env=env, capture_output=True, text=True, cwd=tree)
    if proc.returncode != 0:
        raise SystemExit(f"train_speed: the run with {tree} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds_per_step"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--against", metavar="REV", help="also time this commit's code, alternating with this checkout's")
    ap.add_argument("--data", default=str(REPO / "data" / "sample"), help="training data (default data/sample)")
    ap.add_argument("--steps", type=int, default=24, help="steps per run (default 24)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per side (default 3)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    data = Path(args.data).resolve()
    sides = {"this checkout": REPO}
    with tempfile.TemporaryDirectory() as work:
        if args.against:
            other = Path(work) / "against"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(other), args.against],
                           check=True)
            sides[args.against] = other
        times = {name: [] for name in sides}
        try:
            for r in range(args.repeats):
                for name, tree in (sides.items() if r % 2 == 0 else reversed(list(sides.items()))):
                    times[name].append(measure(tree, data, args.steps, args.threads, work))
                    print(f"{name}: {times[name][-1]:.3f} s/step", file=sys.stderr)
        finally:
            if args.against:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(other)], check=False)
    medians = {name: statistics.median(t) for name, t in times.items()}
    commits = {name: subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev], capture_output=True,
                                    text=True).stdout.strip() for name, rev in (("this checkout", "HEAD"),
                                                                                (args.against, args.against)) if name}
    record = {"commits": commits, "data": os.path.relpath(data, REPO) if data.is_relative_to(REPO) else data.name,
              "steps": args.steps, "repeats": args.repeats, "threads": args.threads,
              "seconds_per_step": times, "median_seconds_per_step": medians}
    lines = ["# Training speed", "",
             f"`ganim train` loop on `{record['data']}`, {args.steps} steps per run, {args.repeats} runs per side "
             f"(alternating), {args.threads} thread(s); seconds per step from the loop's own clock.", "",
             "| code | runs (s/step) | median s/step | steps/s |", "|---|---|---:|---:|"]
    for name, t in times.items():
        lines.append(f"| {name} (`{commits.get(name, '?')}`) | {' / '.join(f'{x:.3f}' for x in t)} | {medians[name]:.3f} | {1 / medians[name]:.2f} |")
    if args.against:
        ratio = medians[args.against] / medians["this checkout"]
        record["speedup"] = ratio
        lines += ["", f"This checkout is **{ratio:.2f}x** as fast as `{args.against}` (ratio of medians)."]
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / "train_speed.json").write_text(json.dumps(record, indent=2))
    (results / "train_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
