"""Generated motion's power by frequency against real takes', before and after the clean-up.

    python benchmarks/spectrum.py [--model blender_ganim/models/default.ganim] [--data DATA] [--count 100]
                                  [--seed 0] [--heldout] [--name STEM]

Sampling smooths the network's output with a Gaussian low-pass (`synthesis.smooth`) and locks planted
feet. This says what that does to each frequency: every clip, real or generated, is encoded into the
model's features (root motion and 6D joint rotations; contacts left out), cut into 2-second Hann-windowed
pieces (half overlapping), and the mean power per frequency and channel is divided by the real takes'.
The median over channels is reported, for the raw network output and for the cleaned clips drawn from
the same noise, beside the low-pass's own power response. Real takes are the model's training takes
(`ganim select`'s pseudo held-out part), or with --heldout the run's held-out takes.
Writes benchmarks/results/spectrum[_heldout].{json,md,png} (or --name).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from blender_ganim.core import features, model_file, synthesis  # noqa: E402
from quality import default_data, split_reference, write_record  # noqa: E402
from trainer.evaluate import generate_for_eval  # noqa: E402

PIECE_S = 2.0  # seconds per Hann-windowed piece: 0.5 Hz resolution
BANDS_HZ = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 10.0, np.inf)


def power_spectra(clips, fps, piece_s=PIECE_S):
    """Mean power per frequency and channel ``[F, C]`` over half-overlapping Hann-windowed pieces of
    ``clips`` (each ``[T, C]``; clips shorter than a piece are skipped), and the frequencies in Hz."""
    n = int(round(piece_s * fps))
    window = np.hanning(n)[:, None]
    total, pieces = 0.0, 0
    for x in clips:
        for start in range(0, len(x) - n + 1, n // 2):
            seg = x[start:start + n]
            total = total + np.abs(np.fft.rfft((seg - seg.mean(axis=0)) * window, axis=0)) ** 2
            pieces += 1
    if not pieces:
        raise ValueError(f"no clip is {n} frames long")
    return total / pieces, np.fft.rfftfreq(n, 1.0 / fps)


def median_ratio(power, real, floor=1e-6):
    """Per frequency, the median over channels of ``power / real``; channels whose real power is
    below ``floor`` of the largest channel's (near constant in real takes) are left out."""
    used = real.sum(axis=0) > floor * real.sum(axis=0).max()
    return np.median(power[:, used] / np.maximum(real[:, used], 1e-30), axis=1)


def gaussian_power(sigma, freqs, fps):
    """The low-pass's power response |H(f)|^2 at ``freqs`` (Hz), from its own taps."""
    k = synthesis.gaussian_kernel(sigma)
    r = len(k) // 2
    w = 2 * np.pi * np.asarray(freqs) / fps
    return (k[None, :] * np.cos(w[:, None] * (np.arange(len(k)) - r)[None, :])).sum(axis=1) ** 2


def band_means(freqs, values):
    """{"lo-hi Hz": mean of ``values`` over the frequencies in that band} for :data:`BANDS_HZ`."""
    out = {}
    for lo, hi in zip(BANDS_HZ[:-1], BANDS_HZ[1:]):
        m = (freqs >= lo) & (freqs < hi)
        if m.any():
            out[f"{lo:g}+ Hz" if np.isinf(hi) else f"{lo:g}-{hi:g} Hz"] = float(np.mean(values[m]))
    return out


def plot(freqs, curves, path, reference=None):
    """``curves`` ({name: ratio per frequency}) on a log scale, ``reference`` ((name, values)) dashed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in curves.items():
        ax.plot(freqs, np.maximum(values, 1e-4), label=name)
    if reference is not None:
        ax.plot(freqs, np.maximum(reference[1], 1e-4), label=reference[0], ls="--")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set(yscale="log", ylim=(1e-3, 20), xlabel="frequency (Hz)", ylabel="power / real takes' (median channel)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "blender_ganim" / "models" / "default.ganim"))
    ap.add_argument("--data", nargs="+", default=None)
    ap.add_argument("--count", type=int, default=100, help="generated clips of 120 frames (default 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--heldout", action="store_true", help="real takes: the run's held-out takes")
    ap.add_argument("--name", help="stem of the files written (default spectrum[_heldout])")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    t0 = time.time()
    model = model_file.load(args.model)
    spec, fps = model.header["features"], model.header["fps"]
    channels = slice(0, spec["contact_start"])
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    clips, _, _ = split_reference(model, args.data or default_data(), args.heldout, log)
    encode = lambda motions: [features.encode(m, spec)[:, channels] for m in motions]  # noqa: E731
    real, freqs = power_spectra(encode(clips["heldout"]), fps)
    ratios = {}
    for name, clean in (("raw network", False), ("cleaned", True)):
        gen, _ = generate_for_eval(model, args.count, 120, args.seed, clean_feet=clean)
        ratios[name] = median_ratio(power_spectra(encode(gen), fps)[0], real)
    sigma = synthesis.sampling_defaults(model)["smooth_sigma"]
    response = gaussian_power(sigma, freqs, fps)
    takes = "held-out" if args.heldout else "training"
    result = {"model": Path(args.model).name, "takes": takes, "count": args.count, "seed": args.seed,
              "temperature": synthesis.temperature_for(model), "sampling": synthesis.describe_sampling(model),
              "smooth_sigma": sigma, "piece_s": PIECE_S,
              "freqs_hz": freqs.tolist(), **{k.replace(" ", "_"): v.tolist() for k, v in ratios.items()},
              "lowpass_power": response.tolist(),
              "bands": {k.replace(" ", "_"): band_means(freqs, v) for k, v in
                        {**ratios, "lowpass power": response}.items()},
              "seconds": round(time.time() - t0, 1)}
    stem = args.name or ("spectrum_heldout" if args.heldout else "spectrum")
    Path(args.out).mkdir(parents=True, exist_ok=True)  # the plot is written before the record
    plot(freqs, ratios, Path(args.out) / f"{stem}.png", (f"low-pass power response (sigma {sigma:g})", response))
    bands = result["bands"]
    lines = [f"# Power by frequency against real {takes} takes ({result['model']})", "",
             f"{args.count} clips of 120 frames (labels spread evenly), seed {args.seed} "
             f"({result['sampling']}); the model's features (contacts left out) in {PIECE_S:g}-second Hann "
             "pieces; median over channels of generated power / real power. *Raw*: the same draws without "
             f"the clean-up; *low-pass*: the Gaussian's own power response at sigma {sigma:g} frames (the "
             "model's own; labels that record another are cleaned with theirs).", "",
             "| band | raw network | cleaned | low-pass power |", "|---|---:|---:|---:|"]
    for band in bands["raw_network"]:
        lines.append(f"| {band} | {bands['raw_network'][band]:.2f}x | {bands['cleaned'][band]:.2f}x | "
                     f"{bands['lowpass_power'][band]:.2f} |")
    lines += ["", f"Plot: `{stem}.png`. {result['seconds']:.0f} s."]
    write_record(args.out, stem, result, lines)


if __name__ == "__main__":
    main()
