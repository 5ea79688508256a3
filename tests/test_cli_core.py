"""`ganim info` and `ganim convert`: the first end-to-end path through the core (numpy only)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blender_ganim.core import bvh, model_file, synthesis

REPO = Path(__file__).resolve().parents[1]


def ganim(*args):
    return subprocess.run([sys.executable, "-m", "trainer.cli", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_convert_then_info_matches_within_a_tenth_of_a_mm(sample_dir, tmp_path):
    src = sample_dir / "dataset-2_walk-turn-left_normal_001.bvh"
    out = tmp_path / "out.bvh"
    r = ganim("convert", src, out)
    assert r.returncode == 0, r.stderr
    info = ganim("info", out, "--joints")
    assert info.returncode == 0, info.stderr
    assert "22 (root joint_Root, motion root Hips" in info.stdout and "102 at 30 fps" in info.stdout
    err = np.abs(bvh.read(out).global_positions() - bvh.read(src).global_positions()).max()
    assert err < 0.01  # cm


def test_info_shows_labels_from_labels_csv(sample_dir):
    r = ganim("info", sample_dir / "dataset-2_walk_elderly_004.bvh")
    assert r.returncode == 0 and "style=elderly" in r.stdout and "content=walk" in r.stdout


def test_convert_cut_resample_mirror(sample_dir, tmp_path):
    src = sample_dir / "dataset-2_walk_normal_004.bvh"
    out = tmp_path / "cut.bvh"
    assert ganim("convert", src, out, "--frames", "10:110", "--fps", "60", "--mirror").returncode == 0
    m, ref = bvh.read(out), bvh.read(src).slice(10, 110)
    assert m.frames == 199 and m.fps == 60
    sk = m.skeleton
    np.testing.assert_allclose(m.global_positions()[::2, sk.index("Hand_R")],
                               ref.global_positions()[:, sk.index("Hand_L")] * [-1, 1, 1], atol=1e-3)


@pytest.mark.parametrize("content, words", [(b"", "file is empty"), (b"HIERARCHY\nROOT x\n{\n", "file ends early")])
def test_bad_file_is_one_line_and_exit_2(tmp_path, content, words):
    bad = tmp_path / "bad.bvh"
    bad.write_bytes(content)
    r = ganim("info", bad)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganim: error: ") and words in lines[0] and str(bad) in lines[0]


def test_frames_outside_the_clip(sample_dir, tmp_path):
    r = ganim("convert", sample_dir / "dataset-2_run_normal_038.bvh", tmp_path / "o.bvh", "--frames", "50:500")
    assert r.returncode == 2 and "outside the clip (0:80)" in r.stderr


def test_help_lists_every_command():
    r = ganim("--help")
    for cmd in ("info", "convert", "inbetween", "transition", "restyle", "keyframes", "follow-path"):
        assert cmd in r.stdout


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_preview_draws_a_picture(sample_dir, tmp_path, suffix):
    pytest.importorskip("matplotlib")
    out = tmp_path / f"clip{suffix}"
    r = ganim("preview", sample_dir / "dataset-2_run_normal_038.bvh", "--out", out)
    assert r.returncode == 0, r.stderr
    magic = out.read_bytes()[:4]
    assert magic == (b"\x89PNG" if suffix == ".png" else b"GIF8")
    assert out.stat().st_size > 5000


def test_preview_draws_only_the_range_asked_for(sample_dir, tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image
    clip = sample_dir / "dataset-2_run_normal_038.bvh"                     # 80 frames
    whole, part = tmp_path / "whole.gif", tmp_path / "part.gif"
    assert ganim("preview", clip, "--out", whole).returncode == 0
    r = ganim("preview", clip, "--out", part, "--range", "40:60")
    assert r.returncode == 0, r.stderr
    assert Image.open(part).n_frames * 3 < Image.open(whole).n_frames    # 20 frames of 80
    assert ganim("preview", clip, "--out", tmp_path / "p.png", "--range", "40:").returncode == 0
    r = ganim("preview", clip, "--out", tmp_path / "x.png", "--range", "70:90")
    assert r.returncode == 2 and "--range 70:90 is outside the clip (0:80)" in r.stderr
    r = ganim("preview", clip, "--out", tmp_path / "y.png", "--frames", 0)       # it drew 2 poses
    assert r.returncode == 2 and "--frames is how many poses the contact sheet shows: 2 or more" in r.stderr


def test_preview_gif_of_a_range_numbers_frames_as_in_the_clip(sample_dir, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.axes

    from trainer import cli
    titles, real = [], matplotlib.axes.Axes.set_title
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", lambda ax, t, **k: (titles.append(t), real(ax, t, **k))[1])
    clip = sample_dir / "dataset-2_run_normal_038.bvh"
    assert cli.main(["preview", str(clip), "--out", str(tmp_path / "part.gif"), "--range", "40:60"]) in (0, None)
    numbers = sorted({int(t.split()[-1]) for t in titles})
    assert numbers[0] == 40 and numbers[-1] < 60, numbers


def test_sample_never_writes_over_a_folders_labels_unless_told(sample_dir, default_model, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "labels.csv").write_bytes((sample_dir / "labels.csv").read_bytes())
    r = ganim("sample", default_model, "--out", data, "--frames", 30)
    assert r.returncode == 2 and f"{data} already holds labels.csv: choose a new folder" in r.stderr, r.stderr
    assert (data / "labels.csv").read_bytes() == (sample_dir / "labels.csv").read_bytes()
    out = tmp_path / "s"
    assert ganim("sample", default_model, "--out", out, "--frames", 30, "--count", 3, "--seed", 1).returncode == 0
    r = ganim("sample", default_model, "--out", out, "--frames", 30, "--seed", 2)
    assert r.returncode == 2 and "already holds labels.csv and 3 sample_*.bvh files" in r.stderr, r.stderr
    r = ganim("sample", default_model, "--out", out, "--frames", 30, "--seed", 2, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv", "sample_000.bvh"]   # no stale clips left
    assert len((out / "labels.csv").read_text().splitlines()) == 2


def test_a_clip_in_metres_is_edited_in_the_models_unit_and_written_in_its_own(sample_dir, default_model, tmp_path):
    """A Blender export writes metres, the model was trained in centimetres: the regenerated frames came
    out 100x too large (moving up to 10 m a frame) while the kept ones stayed in metres."""
    import dataclasses
    walk = bvh.read(sample_dir / "dataset-2_walk_normal_004.bvh").slice(0, 60)
    metres = walk.copy(skeleton=dataclasses.replace(walk.skeleton, offsets=walk.skeleton.offsets * 0.01),
                       positions=walk.positions * 0.01)
    bvh.write(tmp_path / "metres.bvh", metres)
    r = ganim("inbetween", default_model, tmp_path / "metres.bvh", "--frames", "20:40", "--seed", 1,
              "--out", tmp_path / "ib.bvh")
    assert r.returncode == 0 and "the clip is in metres and the model in centimetres" in r.stderr, r.stderr
    before, after = metres.global_positions(), bvh.read(tmp_path / "ib.bvh").global_positions()
    np.testing.assert_allclose(after[:20], before[:20], atol=1e-6)
    np.testing.assert_allclose(after[40:], before[40:], atol=1e-6)
    assert np.abs(np.diff(after, axis=0)).max() < 2 * np.abs(np.diff(before, axis=0)).max()   # metres a frame


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_preview_of_a_one_joint_clip(tmp_path, suffix):
    """The pictures followed joint 1 as the root: a one-joint clip (a prop, a camera) had none."""
    pytest.importorskip("matplotlib")
    clip = tmp_path / "prop.bvh"
    clip.write_text("HIERARCHY\nROOT Prop\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition "
                    "Zrotation Xrotation Yrotation\n End Site\n {\n  OFFSET 0 10 0\n }\n}\nMOTION\nFrames: 3\n"
                    "Frame Time: 0.0333333\n0 0 0 0 0 0\n1 0 0 0 0 0\n2 0 0 0 0 0\n")
    r = ganim("preview", clip, "--out", tmp_path / f"prop{suffix}")
    assert r.returncode == 0, r.stderr


def test_sample_count_has_a_ceiling(default_model, tmp_path):
    r = ganim("sample", default_model, "--out", tmp_path / "many", "--count", 1_000_000_000)
    assert r.returncode == 2 and "--count must be between 1 and 10,000, got 1,000,000,000" in r.stderr, r.stderr


def test_edits_refuse_to_write_over_their_own_input(sample_dir, default_model, tmp_path):
    mine = tmp_path / "mine.bvh"
    mine.write_bytes((sample_dir / "dataset-2_walk_normal_004.bvh").read_bytes())
    before = mine.read_bytes()
    for args in (["inbetween", default_model, mine, "--frames", "10:50"],
                 ["transition", default_model, mine, sample_dir / "dataset-2_run_normal_038.bvh", "--frames", 10]):
        r = ganim(*args, "--out", mine)
        assert r.returncode == 2 and f"--out {mine} is one of the inputs" in r.stderr, r.stderr
    r = ganim("convert", mine, mine, "--mirror")                     # it wrote the mirrored clip over its input
    assert r.returncode == 2 and f"output {mine} is one of the inputs" in r.stderr, r.stderr
    assert mine.read_bytes() == before
    r = ganim("convert", mine, tmp_path / "cut.bvh", "--frames", "0:0")
    assert r.returncode == 2 and "--frames 0:0 is empty" in r.stderr, r.stderr


def test_restyle_loop_keeps_a_cycle_file_a_cycle(default_model, tmp_path):
    """A loop file holds one cycle (no closing frame); ``--loop`` restyles it as a cycle, so played
    again it wraps without a pop, where the plain restyle's wrap jumps."""
    model = model_file.load(default_model)
    cycle, _ = synthesis.loop(model, 60, labels={"content": "walk"}, seed=2)
    bvh.write(tmp_path / "walk.bvh", cycle.slice(0, 60))
    ratios = {}
    for flag in ("--loop", None):
        out = tmp_path / f"{flag or 'plain'}.bvh"
        r = ganim("restyle", default_model, tmp_path / "walk.bvh", "--label", "style=elderly", "--drafts", 2,
                  "--seed", 3, "--out", out, *([flag] if flag else []))
        assert r.returncode == 0 and "note:" not in r.stderr, r.stderr
        again = bvh.read(out)
        assert again.frames == 60
        seam = synthesis.loop_seam(model, 60)
        closed = synthesis.with_closing_frame(again)
        ratios[flag] = synthesis.around_wrap_ratio(closed, model.header["features"], seam - seam // 2, seam // 2)
    assert ratios["--loop"] <= 1.5 < ratios[None], ratios


def test_restyle_loop_says_when_the_clip_is_not_a_cycle(sample_dir, default_model, tmp_path):
    """A take cut anywhere is not one cycle: its root path jumps where it wraps, and restyle keeps the path."""
    r = ganim("restyle", default_model, sample_dir / "dataset-2_walk_normal_004.bvh", "--label", "style=elderly",
              "--drafts", 1, "--loop", "--out", tmp_path / "o.bvh")
    assert r.returncode == 0 and "its last frame does not lead into its first (seam ratio" in r.stderr, r.stderr
    assert "--loop is for one cycle as `ganim sample --loop` writes it" in r.stderr


def test_restyle_keep_height_keeps_the_roots_height(sample_dir, default_model, tmp_path):
    clip = sample_dir / "dataset-2_walk_normal_004.bvh"
    for flag, name in (([], "moved.bvh"), (["--keep-height"], "kept.bvh")):
        r = ganim("restyle", default_model, clip, "--label", "style=elderly", "--drafts", 1, "--seed", 3,
                  "--out", tmp_path / name, *flag)
        assert r.returncode == 0, r.stderr
    source, moved, kept = (bvh.read(p).global_positions()[:, 1, 1] for p in (clip, tmp_path / "moved.bvh",
                                                                            tmp_path / "kept.bvh"))
    assert np.abs(kept - source).max() < 1e-3  # BVH text keeps a few decimals
    assert moved.std() < 0.7 * source.std()   # an elderly root bobs less


def test_sampling_shows_records_and_refuses(default_model, tmp_path):
    shipped, default_model = default_model, tmp_path / "base.ganim"  # the shipped weights, nothing recorded
    assert ganim("sampling", shipped, "--reset", "--out", default_model).returncode == 0
    shown = ganim("sampling", default_model)
    assert shown.returncode == 0, shown.stderr
    assert f"temperature    {synthesis.TEMPERATURE:g}  (shipped default)" in shown.stdout
    assert f"lock strength  {synthesis.LOCK_STRENGTH:g}" in shown.stdout
    tuned = tmp_path / "tuned.ganim"
    r = ganim("sampling", default_model, "--temperature", 0.8, "--smooth-sigma", 1.25, "--out", tuned)
    assert r.returncode == 0 and "temperature 0.8, smooth sigma 1.25, lock strength 0.7" in r.stdout, r.stderr
    again = ganim("sampling", tuned).stdout
    assert "temperature    0.8  (recorded in the file)" in again
    assert f"lock strength  {synthesis.LOCK_STRENGTH:g}  (shipped default)" in again
    assert "sampling  temperature 0.8, smooth sigma 1.25 (recorded" in ganim("info", tuned).stdout
    assert ("combos    67 of 70 label combinations have training takes; none: active raise-up-both-hands, "
            "active raise-up-left-hand, active raise-up-right-hand") in ganim("info", default_model).stdout
    a, b = model_file.load(default_model), model_file.load(tuned)
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights) and set(a.weights) == set(b.weights)
    assert {k: v for k, v in a.header.items() if k != "sha256"} == \
        {k: v for k, v in b.header.items() if k not in ("sha256", "sampling")}
    plain = tmp_path / "plain.ganim"  # --reset drops what the file records
    assert ganim("sampling", tuned, "--reset", "--out", plain).returncode == 0
    assert "sampling" not in model_file.load(plain).header
    waves = tmp_path / "waves.ganim"  # settings for some label values alone, on top of the model's own
    r = ganim("sampling", tuned, "--label", "content=wave-*", "--label", "content=walk", "--smooth-sigma", 2.5,
              "--out", waves)
    assert r.returncode == 0, r.stderr
    assert ("content wave-both-hands / wave-left-hand / wave-right-hand / walk: smooth sigma 2.5" in r.stdout
            and r.stdout.startswith(f"wrote {waves}: generates with temperature 0.8, smooth sigma 1.25")), r.stdout
    assert synthesis.label_sampling(model_file.load(waves)) == {
        "content": {v: {"smooth_sigma": 2.5} for v in ("wave-both-hands", "wave-left-hand", "wave-right-hand", "walk")}}
    listed = ganim("sampling", waves).stdout
    assert "content=wave-left-hand: smooth sigma 2.5" in listed and "temperature    0.8  (recorded" in listed
    assert "          content walk: smooth sigma 2.5" in ganim("info", waves).stdout
    for args, words in (([default_model, "--temperature", 0.8], "give --out NEW.ganim"),
                        ([tuned, "--temperature", 0.8, "--out", tuned], f"--out {tuned} is one of the inputs"),
                        ([default_model, "--temperature", 3, "--out", tmp_path / "x.ganim"],
                         "temperature must be a number from 0 to 2, got 3.0"),
                        ([default_model, "--lock-strength", -0.1, "--out", tmp_path / "x.ganim"],
                         "lock_strength must be a number from 0 to 1"),
                        ([default_model, "--label", "content=swim*", "--temperature", 1, "--out", tmp_path / "x.ganim"],
                         "no content matches 'swim*' (the model has: raise-up-both-hands"),
                        ([default_model, "--label", "mood=calm", "--temperature", 1, "--out", tmp_path / "x.ganim"],
                         "the model has no label 'mood' (it has: style, content)"),
                        ([default_model, "--label", "content=walk", "--out", tmp_path / "x.ganim"],
                         "--label says which clips a setting is for")):
        r = ganim("sampling", *args)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert not (tmp_path / "x.ganim").exists()


def test_sample_and_edit_at_another_frame_rate(sample_dir, default_model, tmp_path):
    """`ganim sample --fps 24` writes 24 fps clips; a 60 fps clip is edited in its own frames."""
    r = ganim("sample", default_model, "--out", tmp_path / "s", "--frames", 48, "--fps", 24, "--seed", 3)
    assert r.returncode == 0 and "1 clip of 48 frames at 24 fps" in r.stdout, r.stdout + r.stderr
    clip = bvh.read(tmp_path / "s" / "sample_000.bvh")
    assert (clip.frames, clip.fps) == (48, 24)

    fast = tmp_path / "walk60.bvh"
    assert ganim("convert", sample_dir / "dataset-2_walk_normal_004.bvh", fast, "--fps", 60).returncode == 0
    r = ganim("inbetween", default_model, fast, "--frames", "100:140", "--out", tmp_path / "x.bvh", "--seed", 1)
    assert r.returncode == 0, r.stderr
    before, after = bvh.read(fast), bvh.read(tmp_path / "x.bvh")
    assert (after.frames, after.fps) == (before.frames, 60)
    moved = np.abs(after.global_positions() - before.global_positions()).max(axis=(1, 2))
    assert moved[:100].max() < 1e-3 and moved[140:].max() < 1e-3 and moved[105:135].min() > 1e-3  # cm


def test_sample_loop_writes_cycles(default_model, tmp_path):
    r = ganim("sample", default_model, "--out", tmp_path / "s", "--frames", 60, "--loop", "--in-place", "--seed", 2,
              "--label", "content=walk")
    assert r.returncode == 0 and "1 looping clip of 60 frames" in r.stdout, r.stdout + r.stderr
    cycle = bvh.read(tmp_path / "s" / "sample_000.bvh")
    again = synthesis.loop(model_file.load(default_model), 60, labels={"content": "walk"}, seed=2,
                           in_place=True)[0]
    assert cycle.frames == 60
    np.testing.assert_allclose(cycle.global_positions(), again.global_positions()[:60], atol=1e-3)
    r = ganim("sample", default_model, "--out", tmp_path / "t", "--in-place")
    assert r.returncode == 2 and "--in-place shapes a loop: add --loop" in r.stderr
    r = ganim("sample", default_model, "--out", tmp_path / "u", "--frames", 96, "--loop", "--seed", 2,
              "--label", "content=walk-turn-right")
    assert r.returncode == 0 and "note: sample_000: this cycle turned 148 degrees right" in r.stderr, r.stderr
