"""Quality of the shipped model against held-out real takes (issue 3's quality bar).

    python benchmarks/quality.py [--model blender_ganim/models/default.ganim] [--data DATA] [--count 150]
    python benchmarks/quality.py --seeds 0-4
    python benchmarks/quality.py --model C --seeds 0-4 --temperature 0.3 --smooth-sigma 1.25 --lock-strength 0.5

Generates about 1,000 windows (labels spread evenly over the style x content combinations the
model's training takes had; --all-combinations: over every one; the clips left over after whole
rounds, 150 mod 67, go to combinations each generation seed draws), scores them as
`ganim eval` does against the takes the training run held out, and writes
benchmarks/results/quality.json + quality.md with a pass/miss verdict per target and
the total shortfall from the bar. With several --seeds, every seed's set is scored against one
reference built once, and quality_seeds.json / .md / .png add each seed's ratios, their median
and how many seeds pass each target: one seed of 150 clips moves FD by up to ~0.4x, so a
verdict on a bar's edge needs the median.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blender_ganim.core import model_file, synthesis  # noqa: E402
from trainer import metrics  # noqa: E402
from trainer.evaluate import (ALL_COMBINATIONS_HELP, BANDS, CHECKS, QUALITY_TARGETS, add_sampling_options,  # noqa: E402
                              given_sampling, heldout_reference, load_real, score_generated, shortfall,
                              takes_left_out)
from trainer.plots import plot_eval, plot_label_confusion, plot_seeds  # noqa: E402
from trainer.select import training_reference, training_split  # noqa: E402


def default_data():
    shared = REPO.parent / "shared" / "data"
    full = shared / "bandai-namco-motion-ds2-full.tar.xz"
    return [str(full)] if full.exists() else [str(shared / "bandai-namco-motion-ds2")]


def training_takes_reference(model_path, data=None, log=print):
    """A model and the metrics reference `ganim select` builds from its training takes alone
    (R vs a pseudo held-out part; the run's held-out takes stay unseen), for the tuning benchmarks."""
    model = model_file.load(model_path)
    return model, training_reference(model, data or default_data(), log=log)


def split_reference(model, data, heldout=False, log=print):
    """(clips, labels, metrics.Reference) for the breakdown benchmarks: the run's held-out takes
    against its training takes, as the quality bar scores them, or by default `ganim select`'s
    split of the training takes alone (the held-out takes stay unseen)."""
    if heldout:
        heldout_names, selection = takes_left_out(model)
        clips, labels, _ = load_real(data, heldout_names, log=log, unused_names=selection)
    else:
        clips, labels = training_split(model, data, log=log)
    return clips, labels, metrics.Reference(clips["train"], clips["heldout"], labels)


def model_label(path):
    """A model's name in a record: runs/x/snapshots/model_0001250.ganim -> x/model_0001250 (snapshots of
    several runs stay apart), any other file by its stem."""
    p = Path(path)
    return f"{p.parent.parent.name}/{p.stem}" if p.parent.name == "snapshots" else p.stem


def write_record(out_dir, stem, result, lines):
    """A benchmark's record: OUT_DIR/STEM.json (``result``) and STEM.md (``lines``), also printed."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def parse_seeds(text):
    """'0-4' or '0,3,7' -> [0, 1, 2, 3, 4] / [0, 3, 7]."""
    seeds = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
        except ValueError:
            raise argparse.ArgumentTypeError(f"seeds are numbers or ranges like 0-4, not {part.strip()!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("no seeds given")
    return seeds


def verdicts_of(ratios):
    return {k: "not measured" if ratios.get(k) is None else ("pass" if check(ratios[k]) else "miss")
            for k, check in CHECKS.items()}


def summarise_seeds(per_seed):
    """Median ratio, range and passes per metric over seeds ({seed: ratios}); the shortfall of each seed
    and of the medians."""
    keys = list(dict.fromkeys(k for r in per_seed.values() for k in r))
    measured = {k: [r[k] for r in per_seed.values() if r.get(k) is not None] for k in keys}
    median = {k: statistics.median(v) if v else None for k, v in measured.items()}
    passes = {k: sum(bool(check(r[k])) for r in per_seed.values() if r.get(k) is not None)
              for k, check in CHECKS.items() if median.get(k) is not None}
    return {"median": median, "passes": passes, "median_verdicts": verdicts_of(median),
            "shortfall_of_median": shortfall(median),
            "shortfall_per_seed": {s: shortfall(r) for s, r in per_seed.items()}}


def seeds_markdown(per_seed, summary, header):
    seeds = list(per_seed)
    keys = [k for k in summary["median"] if summary["median"][k] is not None]
    lines = ["# Quality over generation seeds", "", header, "",
             "| metric | target | " + " | ".join(f"seed {s}" for s in seeds) + " | median | seeds passing | median verdict |",
             "|---|---|" + "---:|" * (len(seeds) + 1) + "---|---|"]
    for k in keys:
        cells = [f"{per_seed[s][k]:.3f}x" if per_seed[s].get(k) is not None else "-" for s in seeds]
        target = QUALITY_TARGETS.get(k, "")
        passing = f"{summary['passes'][k]} of {len(seeds)}" if k in CHECKS else ""
        verdict = summary["median_verdicts"].get(k, "")
        lines.append(f"| {k} | {target} | " + " | ".join(cells) + f" | {summary['median'][k]:.3f}x | {passing} | {verdict} |")
    lines.append("| shortfall | 0 | " + " | ".join(f"{summary['shortfall_per_seed'][s]:.2f}" for s in seeds)
                 + f" | {summary['shortfall_of_median']:.2f} (of the medians) | | |")
    met = all(v == "pass" for v in summary["median_verdicts"].values())
    lines += ["", f"Bar {'met' if met else 'not met'} on the medians: "
              + ", ".join(f"{k} {v}" for k, v in summary["median_verdicts"].items()) + "."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--count", type=int, default=150, help="generated clips (150 x 120 frames ~ 1,000 windows)")
    ap.add_argument("--frames", type=int, default=120)
    add_sampling_options(ap)
    ap.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    ap.add_argument("--seeds", type=parse_seeds, default=None, metavar="LIST",
                    help="several generation seeds, e.g. 0-4 or 0,3,7: all scored against one reference, "
                         "with their median in quality_seeds.* (quality.* keeps the first seed's full table)")
    ap.add_argument("--all-combinations", action="store_true", help=ALL_COMBINATIONS_HELP)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    data = args.data or default_data()
    seeds = args.seeds or [args.seed]
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    t0 = time.time()
    model = model_file.load(args.model)
    try:
        given = given_sampling(args)  # none given: each clip's own (the model's, per label where its file says)
    except synthesis.SynthesisError as e:
        ap.error(str(e))
    if given:
        model = synthesis.for_every_clip(model, given)
    args.temperature = synthesis.temperature_for(model)  # recorded in every result
    sampling = synthesis.describe_sampling(model)
    ref = heldout_reference(model, data, log=log)
    results = {}
    for seed in seeds:
        log(f"seed {seed}: generating and scoring {args.count} clips of {args.frames} frames ...")
        results[seed], _ = score_generated(model, ref, args.count, args.frames, seed,
                                           targets=QUALITY_TARGETS, all_combinations=args.all_combinations)
        results[seed]["generated_clips"] = args.count
        results[seed]["temperature"] = args.temperature
        results[seed]["sampling"] = sampling
    result = results[seeds[0]]
    result["verdicts"] = verdicts = verdicts_of({k: v.get("ratio") for k, v in result["metrics"].items()})
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
    about = (f"Model: `{Path(args.model).name}`, {train.get('steps', '?')} steps, {train.get('device', '?')}, "
             f"{train.get('wall_time_s', 0) / 60:.0f} min of training. Data: {', '.join(result['data'])}; "
             f"held-out takes: {len(train.get('validation_takes', []))}. Generation: {args.count} clips of "
             f"{args.frames} frames ({sampling}), {result['label_spread']}")
    lines = ["# Quality of the shipped model", "", f"{about}, seed {seeds[0]}.", "",
             metrics.format_table(result), "", "| target | verdict |", "|---|---|"]
    lines += [f"| {k} {QUALITY_TARGETS[k]} | {v} |" for k, v in verdicts.items()]
    lines += ["", f"Total shortfall from the bar: {result['shortfall']:.2f} (the sum of log-distances outside "
              "each target band, 0 when every target is met; `ganim select` ranks snapshots by it)."]
    (out / "quality.md").write_text("\n".join(lines) + "\n")
    plot_eval(result, out / "quality.png", CHECKS)
    plot_label_confusion(result, out / "quality_labels.png")
    print("\n".join(lines))
    if len(seeds) > 1:
        per_seed = {s: {k: v.get("ratio") for k, v in results[s]["metrics"].items()} for s in seeds}
        summary = summarise_seeds(per_seed)
        record = {"source": result["source"], "seeds": seeds, "count": args.count, "frames": args.frames,
                  "temperature": args.temperature, "sampling": sampling, "label_spread": result["label_spread"],
                  "ratios": per_seed, **summary,
                  "eval_seconds": round(time.time() - t0, 1), "machine": result["machine"]}
        (out / "quality_seeds.json").write_text(json.dumps(record, indent=2, default=float))
        text = seeds_markdown(per_seed, summary, f"{about}; seeds {', '.join(map(str, seeds))}, one reference.")
        (out / "quality_seeds.md").write_text(text)
        plot_seeds(list(per_seed.values()), summary["median"], out / "quality_seeds.png", CHECKS, BANDS)
        print(text)


if __name__ == "__main__":
    main()
