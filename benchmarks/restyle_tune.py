"""Restyle's defaults (style strength x drafts), chosen on a model's *training* takes.

    python benchmarks/restyle_tune.py [--model blender_ganim/models/default.ganim] [--data DATA]
                                      [--strengths 0,0.25,0.5,1,1.5,2] [--drafts 1,8]

The model's training takes are split as `ganim select` splits them (R and a pseudo held-out
part H'; the run's real held-out takes stay unseen). Every H' take of 60 frames or more is
restyled to every style (synthesis.restyle) at each strength and number of drafts, and scored by
the quality metrics' style classifier fitted on R windows, against its accuracy on the real H'
takes (the ceiling). The defaults in blender_ganim/core/synthesis.py come from this grid;
benchmarks/inbetween.py then reports them once on the held-out takes.
Writes benchmarks/results/restyle_tune.json + restyle_tune.md.
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from blender_ganim.core import model_file, synthesis  # noqa: E402
from inbetween import restyle_scores, style_reference  # noqa: E402
from quality import default_data  # noqa: E402
from trainer.select import training_split  # noqa: E402


def _numbers(text, kind):
    return [kind(x) for x in text.split(",") if x.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--strengths", default="0,0.25,0.5,1,1.5,2", help="style strengths to try (comma-separated)")
    ap.add_argument("--drafts", default="1,8", help="numbers of drafts to try (comma-separated)")
    ap.add_argument("--keep-height", action="store_true",
                    help="restyle with the root's height kept as it was (as before the height moved with the style)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    t0 = time.time()
    model = model_file.load(args.model)
    clips, labels = training_split(model, args.data or default_data(), log=lambda m: print(m, file=sys.stderr))
    ref = style_reference(clips["train"], clips["heldout"], labels)
    drafts = _numbers(args.drafts, int)
    grid = {}
    for s in _numbers(args.strengths, float):
        grid[f"{s:g}"] = restyle_scores(model, clips["heldout"], ref, drafts=drafts, strength=s,
                                        height=not args.keep_height)
        print(f"strength {s:g}: " + ", ".join(f"{n} drafts {r['ratio']:.3f}x" for n, r in grid[f'{s:g}'].items()),
              file=sys.stderr)
    first = grid[next(iter(grid))][str(drafts[0])]  # takes, clips and ceiling are the same in every cell
    result = {"model": Path(args.model).name, "steps": model.header["training"]["steps"],
              "takes": first["takes"], "clips": first["clips"], "ceiling": first["ceiling"],
              "defaults": {"strength": synthesis.STYLE_STRENGTH, "drafts": synthesis.RESTYLE_DRAFTS},
              "height": "kept" if args.keep_height else "moved to the new style's",
              "grid": grid, "seconds": round(time.time() - t0, 1)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "restyle_tune.json").write_text(json.dumps(result, indent=2))
    lines = [f"# Restyle on training takes ({result['model']}, {result['steps']} steps)", "",
             f"{result['takes']} pseudo held-out training takes, each restyled to every style ({result['clips']} "
             f"clips); style accuracy of the quality classifier (fitted on the other training takes) over its "
             f"real ceiling ({result['ceiling']:.3f}). Defaults now: strength {synthesis.STYLE_STRENGTH:g}, "
             f"best of {synthesis.RESTYLE_DRAFTS} drafts. Root height: {result['height']}.", "",
             "| drafts \\ strength | " + " | ".join(grid) + " |", "|---|" + "---:|" * len(grid)]
    for n in map(str, drafts):
        lines.append(f"| {n} | " + " | ".join(f"{grid[s][n]['ratio']:.3f}x" for s in grid) + " |")
    lines += ["", f"Run time {result['seconds']} s."]
    (out / "restyle_tune.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
