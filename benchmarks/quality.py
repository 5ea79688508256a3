"""Quality of the shipped model against held-out real takes (issue 3's quality bar).

    python benchmarks/quality.py [--model blender_ganim/models/default.ganim] [--data DATA] [--count 150]

Generates about 1,000 windows (labels spread evenly over style x content), scores them with
`ganim eval` against the takes the training run held out, and writes
benchmarks/results/quality.json + quality.md with a pass/miss verdict per target and
the total shortfall from the bar.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blender_ganim.core import model_file, synthesis  # noqa: E402
from trainer import metrics  # noqa: E402
from trainer.evaluate import CHECKS, QUALITY_TARGETS, run_eval, shortfall  # noqa: E402
from trainer.plots import plot_eval  # noqa: E402
from trainer.select import training_reference  # noqa: E402


def default_data():
    shared = REPO.parent / "shared" / "data"
    full = shared / "bandai-namco-motion-ds2-full.tar.xz"
    return [str(full)] if full.exists() else [str(shared / "bandai-namco-motion-ds2")]


def training_takes_reference(model_path, data=None, log=print):
    """A model and the metrics reference `ganim select` builds from its training takes alone
    (R vs a pseudo held-out part; the run's held-out takes stay unseen), for the tuning benchmarks."""
    model = model_file.load(model_path)
    return model, training_reference(model, data or default_data(), log=log)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--count", type=int, default=150, help="generated clips (150 x 120 frames ~ 1,000 windows)")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--temperature", type=float, default=synthesis.TEMPERATURE, help=synthesis.TEMPERATURE_HELP)
    ap.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    data = args.data or default_data()
    t0 = time.time()
    result = run_eval(args.model, data, count=args.count, frames=args.frames, seed=args.seed,
                      log=lambda m: print(m, file=sys.stderr), temperature=args.temperature)
    model = model_file.load(args.model)
    verdicts = {}
    for key, check in CHECKS.items():
        entry = result["metrics"].get(key)
        if entry is None or entry.get("ratio") is None:
            verdicts[key] = "not measured"
        else:
            verdicts[key] = "pass" if check(entry["ratio"]) else "miss"
    result["verdicts"] = verdicts
    result["shortfall"] = shortfall({k: v.get("ratio") for k, v in result["metrics"].items()})
    result["source"] = Path(args.model).name
    result["model_training"] = model.header.get("training", {})
    result["data"] = [str(Path(d).name) for d in data]
    result["eval_seconds"] = round(time.time() - t0, 1)
    result["machine"] = f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(result, indent=2, default=float))
    train = result["model_training"]
    lines = ["# Quality of the shipped model", "",
             f"Model: `{Path(args.model).name}`, {train.get('steps', '?')} steps, {train.get('device', '?')}, "
             f"{train.get('wall_time_s', 0) / 60:.0f} min of training. Data: {', '.join(result['data'])}; "
             f"held-out takes: {len(train.get('validation_takes', []))}. Generation: {args.count} clips of "
             f"{args.frames} frames, seed {args.seed}, temperature {args.temperature:g}.", "",
             metrics.format_table(result), "", "| target | verdict |", "|---|---|"]
    lines += [f"| {k} {QUALITY_TARGETS[k]} | {v} |" for k, v in verdicts.items()]
    lines += ["", f"Total shortfall from the bar: {result['shortfall']:.2f} (the sum of log-distances outside "
              "each target band, 0 when every target is met; `ganim select` ranks snapshots by it)."]
    (out / "quality.md").write_text("\n".join(lines) + "\n")
    plot_eval(result, out / "quality.png", CHECKS)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
