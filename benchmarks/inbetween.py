"""In-betweening on takes the model never saw: the LaFAN1 protocol of Harvey et al. 2020.

    python benchmarks/inbetween.py [--model blender_ganim/models/default.ganim] [--data DATA]

Windows start every 40 frames; each has 10 context frames, a transition of L frames
(L = 5, 15, 30, 45) and the target frame after it. The model regenerates the transition
(synthesis.inbetween, one forward pass); the baseline interpolates (lerp root, slerp local
rotations). Metrics over the transition frames, as in LaFAN1:
  L2Q  mean L2 norm of the difference of all joints' global quaternions (sign-aligned to the truth);
  L2P  mean L2 norm of the difference of all joints' global positions, each window placed at its last
       context frame (root at the origin, facing +Z), normalised per coordinate by training-set std;
  NPSS normalised power spectrum similarity of global quaternions (Gopalakrishnan et al. 2019).
Seams: for each window, synthesis.seam_ratio (largest change of joint speed at a seam over the
largest within the kept frames); the share within 1.5x is reported for both, on the windows and
on whole takes (the middle L frames regenerated, the rest of the take kept). Also: keyframe-guided error at the keys, and restyled clips' style accuracy and root-path error.
Writes benchmarks/results/inbetween.json + inbetween.md.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from blender_ganim.core import features, model_file, synthesis  # noqa: E402
from blender_ganim.core import rotations as rot  # noqa: E402

CONTEXT, STRIDE, LENGTHS = 10, 40, (5, 15, 30, 45)


def canonical(motion, spec, frame):
    """Global quaternions and positions with the root of ``frame`` at the origin, facing +Z."""
    grot, gpos = motion.global_transforms()
    x, z, heading = features.start_of(motion.slice(frame, frame + 1), spec)
    yaw = rot.yaw_quat(np.array(-heading))
    gpos = rot.quat_apply(yaw, gpos - [x, 0.0, z])
    grot = rot.quat_mul(yaw, grot)
    return grot, gpos


def interpolate(window, start, end):
    """The baseline: lerp local translations, slerp local rotations between frames start-1 and end."""
    out = window.copy()
    a, b = start - 1, end
    for t in range(start, end):
        w = (t - a) / (b - a)
        out.rotations[t] = rot.quat_slerp(window.rotations[a], window.rotations[b], w)
        out.positions[t] = window.positions[a] * (1 - w) + window.positions[b] * w
    return out


def npss(truth, pred):
    """Normalised power spectrum similarity over time of [N, T, D] sequences."""
    ft = np.abs(np.fft.rfft(truth, axis=1)) ** 2
    fp = np.abs(np.fft.rfft(pred, axis=1)) ** 2
    nt = ft / np.maximum(ft.sum(axis=1, keepdims=True), 1e-12)
    npd = fp / np.maximum(fp.sum(axis=1, keepdims=True), 1e-12)
    emd = np.abs(np.cumsum(nt, axis=1) - np.cumsum(npd, axis=1)).sum(axis=1)   # [N, D]
    weight = ft.sum(axis=1)
    return float(np.sum(emd * weight) / np.maximum(weight.sum(), 1e-12))


def position_std(motions, spec, skip):
    samples = []
    for m in motions[:300]:
        for f in range(0, m.frames - 1, 30):
            samples.append(canonical(m, spec, f)[1][:, skip:].reshape(-1, 3))
    return np.concatenate(samples).std(axis=0)


def evaluate_length(model, clips, length, spec, pos_std, skip, seed=0):
    """L2Q, L2P, NPSS for the model and the baseline at one transition length."""
    need = CONTEXT + length + 1
    results = {name: {"q": [], "p": [], "seq_t": [], "seq_p": [], "seam": []} for name in ("model", "interp")}
    for ci, clip in enumerate(clips):
        for s in range(0, clip.frames - need + 1, STRIDE):
            window = clip.slice(s, s + need)
            start, end = CONTEXT, CONTEXT + length
            preds = {"model": synthesis.inbetween(model, window, start, end, seed=seed + ci * 1000 + s),
                     "interp": interpolate(window, start, end)}
            q_true, p_true = canonical(window, spec, CONTEXT - 1)
            kept = np.ones(need, dtype=bool)
            kept[start:end] = False
            q_true, p_true = q_true[start:end, skip:], p_true[start:end, skip:]
            for name, pred in preds.items():
                q, p = canonical(pred, spec, CONTEXT - 1)
                q, p = q[start:end, skip:], p[start:end, skip:]
                q = np.where(np.sum(q * q_true, -1, keepdims=True) < 0, -q, q)
                r = results[name]
                r["q"].append(np.linalg.norm((q - q_true).reshape(length, -1), axis=-1).mean())
                r["p"].append(np.linalg.norm(((p - p_true) / pos_std).reshape(length, -1), axis=-1).mean())
                r["seam"].append(synthesis.seam_ratio(pred, kept))
                r["seq_t"].append(q_true.reshape(length, -1))
                r["seq_p"].append(q.reshape(length, -1))
    out = {}
    for name, r in results.items():
        out[name] = {"L2Q": float(np.mean(r["q"])), "L2P": float(np.mean(r["p"])),
                     "NPSS": npss(np.stack(r["seq_t"]), np.stack(r["seq_p"])), "windows": len(r["q"]),
                     "seam_ratio_median": float(np.median(r["seam"])),
                     "seams_within_1_5": float(np.mean(np.asarray(r["seam"]) <= 1.5))}
    return out


def whole_take_seams(model, clips, length, seed=0):
    """Seams as the issue defines them: regenerate ``length`` frames in the middle of each whole take and
    compare the seams with the roughest frame anywhere in the kept (real) rest of the take."""
    ratios = {"model": [], "interp": []}
    for i, clip in enumerate(clips):
        if clip.frames < length + 40:
            continue
        start = (clip.frames - length) // 2
        end = start + length
        kept = np.ones(clip.frames, dtype=bool)
        kept[start:end] = False
        ratios["model"].append(synthesis.seam_ratio(synthesis.inbetween(model, clip, start, end, seed=seed + i), kept))
        ratios["interp"].append(synthesis.seam_ratio(interpolate(clip, start, end), kept))
    return {name: {"takes": len(r), "within_1_5": float(np.mean(np.asarray(r) <= 1.5)),
                   "median": float(np.median(r)), "max": float(np.max(r))} for name, r in ratios.items()}


def keyframe_errors(model, clips, seed=0):
    cm, deg = [], []
    for i, clip in enumerate(clips[:20]):
        if clip.frames < 61:
            continue
        keys = clip.slice(0, 61)
        frames = [0, 20, 40, 60]
        out = synthesis.keyframe_guided(model, keys, frames, seed=seed + i)
        cm.append(np.abs(out.global_positions()[frames] - keys.global_positions()[frames]).max())
        deg.append(np.degrees(rot.quat_angle(out.rotations[frames], keys.rotations[frames])).max())
    scale = model.header["features"]["meters_per_unit"] * 100
    return {"max_position_error_cm": float(np.max(cm) * scale), "max_rotation_error_deg": float(np.max(deg)),
            "clips": len(cm)}


def style_reference(train, heldout, labels):
    """The quality metrics' style classifier, fitted on ``train`` windows; its ceiling is ``heldout``."""
    from trainer import metrics
    return metrics.Reference(train, heldout, {"style": {"train": labels["style"]["train"],
                                                        "heldout": labels["style"]["heldout"]}})


def restyle_scores(model, clips, ref, seed=0, drafts=(1, 8), strength=synthesis.STYLE_STRENGTH,
                   temperature=1.0, height=True):
    """Style accuracy and root-path error of every clip (>= 60 frames) restyled to every style (one
    copy per style: 117 takes with one style each scatter the accuracy by ~0.05x), once per number
    of drafts, side by side against one reference (see :func:`style_reference`)."""
    from trainer import metrics
    styles = model.labels["style"]
    sources = [m for m in clips if m.frames >= 60 for _ in styles]
    targets = [styles[i % len(styles)] for i in range(len(sources))]
    r = model.header["features"]["root"]
    scale = model.header["features"]["meters_per_unit"] * 100
    out = {}
    for n in drafts:
        restyled = [synthesis.restyle(model, clip, {"style": t}, seed=seed + i, drafts=n, strength=strength,
                                       temperature=temperature, height=height)
                    for i, (clip, t) in enumerate(zip(sources, targets))]
        path_err = [np.abs(o.global_positions()[:, r, [0, 2]] - c.global_positions()[:, r, [0, 2]]).max()
                    for o, c in zip(restyled, sources)]
        lab = {"style": {"generated": targets}}
        acc = metrics.evaluate(restyled, labels=lab, reference=ref)["metrics"]["accuracy_style"]
        out[str(n)] = {"style_accuracy": acc["generated"], "ceiling": acc["reference"], "ratio": acc["ratio"],
                       "max_root_path_error_cm": float(np.max(path_err) * scale), "clips": len(restyled),
                       "takes": len(restyled) // len(styles)}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--max-clips", type=int, default=120, help="held-out takes used (default 120)")
    args = ap.parse_args()
    from trainer.evaluate import load_real
    from quality import default_data  # benchmarks/quality.py
    t0 = time.time()
    model = model_file.load(args.model)
    heldout_names = (model.header.get("training") or {}).get("validation_takes")
    real, labels, split = load_real(args.data or default_data(), heldout_names, log=lambda m: None)
    spec = model.header["features"]
    skip = spec["root"]  # joints above the motion root are static wrappers
    clips = real["heldout"][:args.max_clips]
    pos_std = position_std(real["train"], spec, skip)
    result = {"model": Path(args.model).name, "steps": model.header["training"]["steps"],
              "heldout_takes": len(clips), "lengths": {}}
    for L in LENGTHS:
        result["lengths"][str(L)] = evaluate_length(model, clips, L, spec, pos_std, skip)
        print(f"L={L}: {result['lengths'][str(L)]}", file=sys.stderr)
    result["whole_take_seams"] = {str(L): whole_take_seams(model, clips, L) for L in LENGTHS}
    result["keyframe_guided"] = keyframe_errors(model, clips)
    result["restyle"] = restyle_scores(model, real["heldout"], style_reference(real["train"], real["heldout"], labels))
    result["seconds"] = round(time.time() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "inbetween.json").write_text(json.dumps(result, indent=2))
    lines = [f"# In-betweening on {len(clips)} held-out takes ({result['model']}, {result['steps']} steps)", "",
             "| frames | windows | L2Q model | L2Q interp | L2P model | L2P interp | L2P ratio | NPSS model | NPSS interp "
             "| seams <= 1.5x model | seams <= 1.5x interp |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for L, r in result["lengths"].items():
        m, i = r["model"], r["interp"]
        lines.append(f"| {L} | {m['windows']} | {m['L2Q']:.3f} | {i['L2Q']:.3f} | {m['L2P']:.3f} | {i['L2P']:.3f} | "
                     f"{m['L2P'] / i['L2P']:.2f} | {m['NPSS']:.4f} | {i['NPSS']:.4f} | "
                     f"{m['seams_within_1_5']:.0%} | {i['seams_within_1_5']:.0%} |")
    k, s = result["keyframe_guided"], result["restyle"]
    r0 = next(iter(s.values()))
    lines += ["", "Goal: L2P at 30 and 45 frames at most 0.7x the interpolation baseline.", "",
              "Seams: share of windows whose largest change of joint speed at a seam is at most 1.5x the "
              "largest within their 10 context frames (`synthesis.seam_ratio`); a short context makes this strict.", "",
              "Seams on whole takes (the issue's definition: the roughest frame anywhere in the kept real frames; "
              "the middle L frames of each take regenerated):", "",
              "| frames | takes | seams <= 1.5x model | median model | max model | seams <= 1.5x interp | median interp |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for L, r in result["whole_take_seams"].items():
        m, i = r["model"], r["interp"]
        lines.append(f"| {L} | {m['takes']} | {m['within_1_5']:.0%} | {m['median']:.2f} | {m['max']:.2f} | "
                     f"{i['within_1_5']:.0%} | {i['median']:.2f} |")
    lines += ["",
              f"Keyframe-guided ({k['clips']} clips, keys every 20 frames): max error at the keys "
              f"{k['max_position_error_cm']:.4f} cm, {k['max_rotation_error_deg']:.4f} deg (goal < 1 cm, < 1 deg).", "",
              f"Restyle ({r0['clips']} clips: {r0['takes']} held-out takes, each to every style; style strength "
              f"{synthesis.STYLE_STRENGTH:g}, content matched to each clip; goal: style accuracy >= 0.8x the real "
              "ceiling, root path within 10 cm), side by side:", "",
              "| drafts (best of) | style accuracy | real ceiling | ratio | max root path error (cm) |",
              "|---:|---:|---:|---:|---:|"]
    lines += [f"| {n} | {r['style_accuracy']:.3f} | {r['ceiling']:.3f} | {r['ratio']:.2f}x | "
              f"{r['max_root_path_error_cm']:.4f} |" for n, r in s.items()]
    lines += ["", f"Run time {result['seconds']} s."]
    (out / "inbetween.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
