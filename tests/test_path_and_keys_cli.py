"""`ganim keyframes` and `ganim follow-path` (numpy only), and core.paths, which times a path for
both the command line and the Follow Path operator."""

import numpy as np
import pytest

from blender_ganim.core import bvh, paths, synthesis
from test_cli_core import ganim

WALK = "dataset-2_walk_normal_004.bvh"
HIPS = 1


def write_csv(path, text):
    path.write_text(text)
    return path


def test_resample_spaces_points_evenly_along_the_polyline():
    corner = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 1.0]])   # 4 units long
    xz = paths.resample(corner, count=5)
    np.testing.assert_allclose(xz, [[0, 0], [1, 0], [2, 0], [3, 0], [3, 1]], atol=1e-12)
    stepped = paths.resample(corner, step=1.5)                  # 0, 1.5, 3: the last whole step
    np.testing.assert_allclose(stepped, [[0, 0], [1.5, 0], [3, 0]], atol=1e-12)


def test_per_frame_walks_the_path_at_the_asked_speed(model):
    metres = np.array([[0.0, 0.0], [3.0, 0.0]]) / paths.meters_per_unit(model)
    xz = paths.per_frame(model, metres, speed=1.5)             # 2 s at 30 fps
    assert len(xz) == 61
    speed = np.linalg.norm(np.diff(xz, axis=0), axis=-1) * paths.meters_per_unit(model) * model.header["fps"]
    np.testing.assert_allclose(speed, 1.5, rtol=1e-9)
    assert len(paths.per_frame(model, metres, frames=20)) == 20
    np.testing.assert_array_equal(paths.per_frame(model, metres), metres)   # neither: one point per frame


@pytest.mark.parametrize("kwargs, words", [
    (dict(speed=0.0), "the walking speed must be positive"),
    (dict(frames=1), "at least 2 frames"),
    (dict(frames=10, speed=1.0), "not both"),
    (dict(speed=1e-5), "more than this tool generates at once"),
    (dict(speed=1e-12), "more than this tool generates at once"),       # refused before the points are made
    (dict(frames=10 ** 11), "more than this tool generates at once"),   # (they filled the memory)
])
def test_per_frame_refuses_what_it_cannot_time(model, kwargs, words):
    with pytest.raises(synthesis.SynthesisError, match=words):
        paths.per_frame(model, [[0.0, 0.0], [300.0, 0.0]], **kwargs)


def test_follow_path_cli_root_follows_the_csv_in_metres(default_model, tmp_path):
    path = write_csv(tmp_path / "path.csv", "x,y,z\n0,0,0\n2,0,0\n2,0,2\n")   # y is ignored
    out = tmp_path / "walk.bvh"
    r = ganim("follow-path", default_model, path, "--speed", 1.3, "--label", "content=walk", "--seed", 1,
              "--out", out)
    assert r.returncode == 0, r.stderr
    clip = bvh.read(out)
    assert clip.frames == 93                                    # 4 m at 1.3 m/s and 30 fps, both ends
    ground = clip.global_positions()[:, HIPS][:, [0, 2]] / 100  # centimetres -> metres
    np.testing.assert_allclose(ground[[0, -1]], [[0, 0], [2, 2]], atol=0.02)
    assert np.abs(ground[46] - [2, 0]).max() < 0.03                   # the corner, half way
    spread = tmp_path / "spread.bvh"
    assert ganim("follow-path", default_model, path, "--frames", 40, "--out", spread).returncode == 0
    assert bvh.read(spread).frames == 40


def test_keyframes_cli_holds_the_clips_poses_at_the_keys(default_model, sample_dir, tmp_path):
    src = bvh.read(sample_dir / WALK)
    for args, keys in ((["--at", "0,45,90"], [0, 45, 90]),
                       (["--every", 60], [0, 60, 120, 180, 240, src.frames - 1])):
        out = tmp_path / "keyed.bvh"
        r = ganim("keyframes", default_model, sample_dir / WALK, *args, "--seed", 2, "--out", out)
        assert r.returncode == 0, r.stderr
        got = bvh.read(out)
        assert got.frames == src.frames
        err = np.abs(got.global_positions() - src.global_positions()).max(axis=(1, 2))
        assert err[keys].max() < 0.01, err[keys]                # BVH text keeps a few decimals (cm)
        between = [k + 15 for k in keys[:-1]]
        assert err[between].min() > 0.1                          # and generates the frames between


@pytest.mark.parametrize("case", ["columns", "nan", "one point", "empty"])
def test_follow_path_cli_bad_csv_is_one_line(default_model, tmp_path, case):
    text, words = {"columns": ("a,b\n1,2\n3,4\n", "the first row must name the columns x and z"),
                   "nan": ("x,z\n0,0\n1,nan\n", "row 3: x and z must be finite numbers"),
                   "one point": ("x,z\n1,2\n", "a path needs at least 2 points, got 1"),
                   "empty": ("\n", "the file is empty")}[case]
    path = write_csv(tmp_path / "bad.csv", text)
    r = ganim("follow-path", default_model, path, "--out", tmp_path / "x.bvh")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and words in lines[0], r.stderr
    assert not (tmp_path / "x.bvh").exists()


@pytest.mark.parametrize("args, words", [
    (["--at", "0,4000"], "key frames must lie inside the clip (0:285)"),
    (["--at", "0,x"], "key frames must be whole frame numbers"),
    (["--at", ""], "give at least one key frame"),
    (["--every", 0], "--every must be at least 1"),
])
def test_keyframes_cli_bad_keys(default_model, sample_dir, tmp_path, args, words):
    r = ganim("keyframes", default_model, sample_dir / WALK, *args, "--out", tmp_path / "x.bvh")
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert not (tmp_path / "x.bvh").exists()
