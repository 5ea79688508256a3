"""Pictures people would rather look at than read: loss curves, clip contact sheets, GIFs.

matplotlib with the Agg backend (no display needed).
"""

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_losses(history, path):
    plt = _plt()
    if len(history) == 0:
        return
    width = max(len(r) for r in history)  # a resumed older run has shorter early rows
    h = np.array([list(r) + [np.nan] * (width - len(r)) for r in history], dtype=np.float64)
    labelled = width > 9 and np.abs(np.nan_to_num(h[:, 8:10])).max() > 0  # the critic's label heads were on
    footed = width > 11 and np.abs(np.nan_to_num(h[:, 11])).max() > 0  # logged since --foot-weight came
    energised = width > 12 and np.abs(np.nan_to_num(h[:, 12])).max() > 0  # logged since --energy-weight came
    panels = 3 + (width > 7) + labelled + footed + energised
    fig, axes = plt.subplots(1, panels, figsize=(4.3 * panels, 3.6))
    k = max(1, len(h) // 200)
    smooth = lambda x: np.convolve(x, np.ones(k) / k, mode="valid")
    steps = h[k - 1:, 0] if k > 1 else h[:, 0]
    axes[0].plot(steps, smooth(h[:, 1]), label="D hinge")
    axes[0].plot(steps, smooth(h[:, 2]), label="G adversarial")
    if width > 13 and np.abs(np.nan_to_num(h[:, 13])).max() > 0:  # --mismatch-weight
        axes[0].plot(steps, smooth(h[:, 13]), label="D hinge, real under wrong labels")
    axes[0].set_title("adversarial losses")
    axes[1].plot(steps, smooth(h[:, 3]), label="known frames")
    axes[1].plot(steps, smooth(h[:, 4]), label="trajectory")
    axes[1].plot(steps, smooth(h[:, 5]), label="between known frames")
    axes[1].set_title("reconstruction L1 (normalised)")
    axes[2].plot(steps, smooth(h[:, 6]))
    axes[2].set_title("R1 penalty")
    if width > 7:
        axes[3].plot(steps, smooth(h[:, 7]), label="between two draws")
        if width > 10:  # a column since --nearest-draw came (0 when no second draw is made)
            axes[3].plot(steps, smooth(h[:, 10]), label="real window to the nearer draw")
        axes[3].set_title("free rows, pooled L1 (normalised)")
        axes[3].legend()
    if labelled:
        axes[4].plot(steps, smooth(h[:, 8]), label="critic, real windows")
        axes[4].plot(steps, smooth(h[:, 9]), label="G, its windows")
        axes[4].set_title("label cross-entropy (--label-weight)")
        axes[4].legend()
    if footed:
        axes[panels - 1 - energised].plot(steps, smooth(h[:, 11]))
        axes[panels - 1 - energised].set_title("planted feet sliding in generated frames, m/s")
    if energised:
        axes[-1].plot(steps, smooth(h[:, 12]))
        axes[-1].set_title("labels' energy off real's (squared ratio - 1, unbiased)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _root(motion):
    """The joint that carries the motion over the ground (Hips under a static joint_Root), not joint 1:
    a one-joint clip has none, and another hierarchy another."""
    from blender_ganim.core import features
    return features.root_joint(motion.skeleton)


def _bones(motion):
    """Parent-child pairs to draw, leaving out static wrappers above the motion root (joint_Root)."""
    from blender_ganim.core.features import ancestors, root_joint
    hidden = set(ancestors(motion.skeleton, root_joint(motion.skeleton)))
    return [(int(p), j) for j, p in enumerate(motion.skeleton.parents) if p >= 0 and p not in hidden]


def _project(p, azimuth=0.6):
    """Oblique view of Y-up points: screen x mixes X and Z, screen y is height."""
    return np.stack([p[..., 0] * np.cos(azimuth) + p[..., 2] * np.sin(azimuth), p[..., 1]], axis=-1)


def draw_contact_sheet(motions, path, titles=None, frames_per_clip=8, dpi=80, first_frame=0):
    """One row per clip: poses at evenly spaced frames, plus the root path seen from above.
    ``first_frame``: the number the titles give each clip's first frame (a cut from a longer clip)."""
    plt = _plt()
    motions = list(motions)
    rows = len(motions)
    fig, axes = plt.subplots(rows, frames_per_clip + 1, figsize=(1.6 * (frames_per_clip + 1) + 1, 2.2 * rows),
                             squeeze=False)
    for r, m in enumerate(motions):
        g = m.global_positions()
        scale = max(np.ptp(g[..., 1]), 1e-6)
        picks = np.linspace(0, m.frames - 1, frames_per_clip).round().astype(int)
        for c, f in enumerate(picks):
            ax = axes[r, c]
            pts = _project(g[f] - [g[f, :, 0].mean(), 0, g[f, :, 2].mean()])
            for p, j in _bones(m):
                ax.plot(pts[[p, j], 0], pts[[p, j], 1], "-", color="#2b6cb0", lw=2)
            shown = sorted({j for pair in _bones(m) for j in pair})
            ax.plot(pts[shown, 0], pts[shown, 1], "o", color="#1a365d", ms=2)
            ax.set_xlim(-0.6 * scale, 0.6 * scale)
            ax.set_ylim(np.min(g[..., 1]) - 0.05 * scale, np.max(g[..., 1]) + 0.05 * scale)
            ax.set_aspect("equal")
            ax.axhline(np.min(g[..., 1]), color="#999", lw=0.8)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"frame {first_frame + f}", fontsize=7)
        ax = axes[r, -1]
        root = g[:, _root(m)]
        ax.plot(root[:, 0], root[:, 2], "-", color="#c05621")
        ax.plot(root[:1, 0], root[:1, 2], "o", color="#c05621")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title("root path (top)", fontsize=7)
        ax.set_xticks([]), ax.set_yticks([])
        label = titles[r] if titles else m.name
        axes[r, 0].set_ylabel(label, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def draw_gif(motion, path, fps=None, stride=2, first_frame=0):
    """An animated stick figure following the root; frames numbered from ``first_frame`` (a cut
    shows the clip's own frame numbers)."""
    plt = _plt()
    from matplotlib.animation import FuncAnimation, PillowWriter
    g = motion.global_positions()
    scale = max(np.ptp(g[..., 1]), 1e-6)
    fig, ax = plt.subplots(figsize=(3.2, 3.2))
    lines = [ax.plot([], [], "-", color="#2b6cb0", lw=2)[0] for _ in _bones(motion)]
    ax.set_xlim(-0.7 * scale, 0.7 * scale)
    ax.set_ylim(np.min(g[..., 1]) - 0.05 * scale, np.max(g[..., 1]) + 0.1 * scale)
    ax.set_aspect("equal")
    ax.set_xticks([]), ax.set_yticks([])
    bones = _bones(motion)
    root = _root(motion)

    def update(f):
        pts = _project(g[f] - [g[f, root, 0], 0, g[f, root, 2]])
        for line, (p, j) in zip(lines, bones):
            line.set_data(pts[[p, j], 0], pts[[p, j], 1])
        ax.set_title(f"{motion.name} {first_frame + f}", fontsize=8)
        return lines

    anim = FuncAnimation(fig, update, frames=range(0, motion.frames, stride))
    anim.save(path, writer=PillowWriter(fps=(fps or motion.fps) / stride))
    plt.close(fig)


def plot_samples(model_path, path, count=4, frames=120, seed=0):
    from blender_ganim.core import model_file, synthesis
    model = model_file.load(model_path)
    motions, labels = synthesis.generate(model, frames, count=count, seed=seed)
    titles = [" ".join(v for v in lab.values()) for lab in labels]
    draw_contact_sheet(motions, path, titles=titles)


def plot_eval(result, path, targets=None):
    """Each metric as generated / real reference, with the target band where there is one."""
    plt = _plt()
    rows = [(k, v) for k, v in result["metrics"].items() if v.get("ratio") is not None]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    names = [v.get("title", k) for k, v in rows]
    ratios = [v["ratio"] for _, v in rows]
    colours = []
    for (k, v), r in zip(rows, ratios):
        ok = (targets or {}).get(k)
        colours.append("#999999" if ok is None else ("#2f855a" if ok(r) else "#c53030"))
    y = np.arange(len(rows))[::-1]
    ax.barh(y, ratios, color=colours)
    ax.axvline(1.0, color="black", lw=1)
    for yi, r in zip(y, ratios):
        ax.text(r, yi, f" {r:.2f}x", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("generated / real reference (1.0 = like real held-out mocap)")
    ax.set_title("green: meets its target, red: misses, grey: no target", fontsize=9)
    ax.set_xlim(0, max(2.0, max(ratios) * 1.2))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_label_confusion(result, path):
    """Which label the style (content, ...) classifier takes each clip for: one row per label
    column, held-out takes beside generated clips, rows normalised to shares of the true label.
    Returns False when the result has no label readings (nothing drawn)."""
    plt = _plt()
    columns = [(k, m) for k, m in result["metrics"].items() if "confusion" in m]
    if not columns:
        return False
    fig, axes = plt.subplots(len(columns), 2, figsize=(9, 4.2 * len(columns)), squeeze=False)
    for row, (key, m) in zip(axes, columns):
        classes = m["confusion"]["classes"]
        for ax, part, title in ((row[0], "reference", "held-out takes"), (row[1], "generated", "generated clips")):
            counts = np.asarray(m["confusion"][part], dtype=np.float64)
            shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
            ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
            for i in range(len(classes)):
                for j in range(len(classes)):
                    if counts[i, j]:
                        ax.text(j, i, f"{shares[i, j]:.2f}", ha="center", va="center", fontsize=7,
                                color="white" if shares[i, j] > 0.6 else "black")
            ax.set_xticks(range(len(classes)))
            ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=7)
            ax.set_yticks(range(len(classes)))
            ax.set_yticklabels(classes, fontsize=7)
            ax.set_xlabel("read as", fontsize=8)
            ax.set_ylabel(f"true {key.replace('accuracy_', '')}", fontsize=8)
            acc = m["reference"] if part == "reference" else m["generated"]
            ax.set_title(f"{m['title']}, {title}: {acc:.2f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def plot_seeds(per_seed, median, path, targets=None, bands=None):
    """Each metric over several generation seeds: one tick per seed, a bar at the median, coloured
    by whether the median meets its target, dashed lines at the target's edges (``bands``: {metric:
    (low, high)}); the spread shows how far one seed's verdict can be trusted."""
    plt = _plt()
    keys = [k for k, r in median.items() if r is not None]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(keys) + 1.4))
    y = np.arange(len(keys))[::-1]
    top = 2.0
    for yi, k in zip(y, keys):
        ok = (targets or {}).get(k)
        colour = "#999999" if ok is None else ("#2f855a" if ok(median[k]) else "#c53030")
        ax.barh(yi, median[k], color=colour, alpha=0.55)
        xs = [r[k] for r in per_seed if r.get(k) is not None]
        ax.plot(xs, [yi] * len(xs), "k|", ms=12, mew=1.5)
        edges = [e for e in (bands or {}).get(k, ()) if e is not None]
        for edge in edges:
            ax.plot([edge, edge], [yi - 0.4, yi + 0.4], color="#2b6cb0", ls="--", lw=1.2)
        ax.text(max(xs + [median[k]] + edges), yi, f"  {median[k]:.3f}x ({min(xs):.3f}-{max(xs):.3f})", va="center", fontsize=8)
        top = max(top, max(xs) * 1.35)
    ax.axvline(1.0, color="black", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(keys, fontsize=8)
    ax.set_xlim(0, top)
    ax.set_xlabel("generated / real reference (bar: median over seeds, ticks: each seed)")
    ax.set_title(f"{len(per_seed)} generation seeds; green: median meets its target, red: misses; "
                 "dashed: target edges", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_select(result, path, levels=()):
    """Every scored snapshot's metrics and its shortfall from the bar over training steps (`ganim select`).

    One colour per metric and one line style + marker per run, with the two keys kept apart,
    so that a dozen runs and metrics stay readable. Runs named in ``levels`` (a reference model
    scored beside short fine-tunes) are drawn as faint level lines across the plot instead of at
    their own step, which would squash 1,500 steps of fine-tune into a corner of 12,500.
    """
    plt = _plt()
    from matplotlib.lines import Line2D
    names = {r["run"] for r in result["rows"]}
    levels = sorted(names & set(levels))
    runs = sorted(names - set(levels))
    keys = list(dict.fromkeys(k for r in result["rows"] for k in r["ratios"]))
    styles, markers = ["-", "--", ":", "-."], "osD^vP*X"
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100, gridspec_kw={"width_ratios": [3, 1.3]})
    for i, run in enumerate(runs):
        rows = sorted((r for r in result["rows"] if r["run"] == run), key=lambda r: r["step"])
        steps = [r["step"] for r in rows]
        look = dict(ls=styles[i % len(styles)], marker=markers[i % len(markers)])
        for j, k in enumerate(keys):
            ys = [r["ratios"].get(k) for r in rows]
            if all(y is not None for y in ys):
                ax.plot(steps, ys, color=f"C{j % 10}", lw=2.5 if k == result["score"] else 1, **look)
        ax2.plot(steps, [r.get("shortfall", float("nan")) for r in rows], color="black", **look)
        drawn = [r for r in rows if len(r.get("shortfall_per_draw", ())) > 1]  # `--draws K`: each draw's range
        if drawn:
            ax2.vlines([r["step"] for r in drawn], [min(r["shortfall_per_draw"]) for r in drawn],
                       [max(r["shortfall_per_draw"]) for r in drawn], color="black", lw=0.8, alpha=0.5)
    for level in levels:
        row = next(r for r in result["rows"] if r["run"] == level)
        for j, k in enumerate(keys):
            if row["ratios"].get(k) is not None:
                ax.axhline(row["ratios"][k], color=f"C{j % 10}", lw=1.2, alpha=0.45)
        if "shortfall" in row:
            ax2.axhline(row["shortfall"], color="black", lw=1.2, alpha=0.45)
    best = result["best"]
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    for a in (ax, ax2):
        if best["run"] not in levels:
            a.axvline(best["step"], color="black", lw=0.8, ls=":")
        a.set_xlabel("training step")
    if "shortfall" in best and best["run"] not in levels:
        ax2.plot([best["step"]], [best["shortfall"]], marker="*", ms=14, color="gold", mec="black", ls="")
    ax.set_yscale("log")  # early snapshots sit tens of times off; the bar lives near 1x
    ax.set_ylabel("generated / real reference (log)")
    ax.set_title(f"snapshots on training takes; best: {best['run']} step {best['step']}", fontsize=9)
    several = any(len(r.get("shortfall_per_draw", ())) > 1 for r in result["rows"])
    ax2.set_title("shortfall from the bar (lower is better)" + ("\nmean of the draws, bars: their range" if several
                                                               else ""), fontsize=9)
    metric_keys = [Line2D([], [], color=f"C{j % 10}", lw=2.5 if k == result["score"] else 1.5, label=k)
                   for j, k in enumerate(keys)]
    run_keys = [Line2D([], [], color="black", ls=styles[i % len(styles)], marker=markers[i % len(markers)],
                       label=run) for i, run in enumerate(runs)]
    run_keys += [Line2D([], [], color="black", lw=1.2, alpha=0.45, label=f"{name} (level lines)")
                 for name in levels]
    first = fig.legend(handles=metric_keys, fontsize=7, loc="upper right", title="metric", title_fontsize=8)
    fig.add_artist(first)
    fig.legend(handles=run_keys, fontsize=7, loc="lower right", title="run", title_fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
