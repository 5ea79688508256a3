"""trainer.metrics: canonical windows on synthetic clips, calibration on real data (DESIGN section 5)."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from blender_ganim.core import bvh  # noqa: E402
from blender_ganim.core import rotations as rot  # noqa: E402
from blender_ganim.core.motion import Motion  # noqa: E402
from blender_ganim.core.skeleton import Skeleton  # noqa: E402
from trainer import metrics  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "bandai-namco-motion-ds2"


# ------------------------------------------------------------------ synthetic clips (no data needed)

def _skeleton(scale=1.0):
    names = ["Hips", "Spine", "Head", "Shoulder_L", "Hand_L", "Shoulder_R", "Hand_R",
             "UpperLeg_L", "LowerLeg_L", "Foot_L", "Toes_L", "UpperLeg_R", "LowerLeg_R", "Foot_R", "Toes_R"]
    parents = [-1, 0, 1, 1, 3, 1, 5, 0, 7, 8, 9, 0, 11, 12, 13]
    offsets = [(0, 0, 0), (0, 20, 0), (0, 40, 0), (15, 30, 0), (45, 0, 0), (-15, 30, 0), (-45, 0, 0),
               (10, -5, 0), (0, -40, 0), (0, -40, 0), (0, -8, 12), (-10, -5, 0), (0, -40, 0), (0, -40, 0), (0, -8, 12)]
    return Skeleton(names, parents, np.array(offsets, dtype=float) * scale)


def _walk(frames=100, scale=1.0, seed=0):
    """A made-up walk along a curve: smooth joint swings, hips moving and turning."""
    sk = _skeleton(scale)
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 30.0
    J = len(sk)
    amp = rng.uniform(0.1, 0.5, (J, 3))
    phase = rng.uniform(0, 2 * np.pi, (J, 3))
    aa = amp * np.sin(2 * np.pi * 1.1 * t[:, None, None] + phase)
    yaw = 0.3 * t
    aa[:, 0] = [0.0, 1.0, 0.0] * yaw[:, None]
    rotations = rot.axis_angle_to_quat(aa)
    positions = np.broadcast_to(sk.offsets, (frames, J, 3)).copy()
    heading = np.stack([np.sin(yaw), np.zeros(frames), np.cos(yaw)], axis=-1)
    positions[:, 0] = np.cumsum(heading * 1.2 / 30.0, axis=0) * 100 * scale
    positions[:, 0, 1] = (90 + 2 * np.sin(2 * np.pi * 2.2 * t)) * scale
    return Motion(sk, rotations, positions, 30.0, name="synthetic")


def _turned(motion, angle, shift):
    """The same clip turned by ``angle`` about +Y and moved by ``shift`` (world space)."""
    q = np.broadcast_to(rot.yaw_quat(angle), (motion.frames, 4))
    r = motion.rotations.copy()
    p = motion.positions.copy()
    r[:, 0] = rot.quat_mul(q, r[:, 0])
    p[:, 0] = rot.quat_apply(q, p[:, 0]) + shift
    return motion.copy(rotations=r, positions=p)


def test_windows_are_canonical():
    m = _walk()
    W = metrics.windows([m])
    assert W.shape == (len(range(0, 100 - 60 + 1, 10)), 60, 15, 3)
    sk = m.skeleton
    # root on the ground-plane origin, hips/shoulders across +X (facing +Z) at each first frame
    assert np.allclose(W[:, 0, 0, [0, 2]], 0.0, atol=1e-12)
    across = (W[:, 0, sk.index("UpperLeg_L")] - W[:, 0, sk.index("UpperLeg_R")]
              + W[:, 0, sk.index("Shoulder_L")] - W[:, 0, sk.index("Shoulder_R")])
    assert np.allclose(across[:, 2], 0.0, atol=1e-9) and np.all(across[:, 0] > 0)
    # centimetres detected from the leg length, output in metres
    assert 0.8 < W[:, :, 0, 1].mean() < 1.0


def test_windows_ignore_heading_position_units_and_up_axis():
    m = _walk()
    W = metrics.windows([m])
    turned = _turned(m, np.pi / 2, np.array([300.0, 0.0, -150.0]))
    assert np.allclose(metrics.windows([turned]), W, atol=1e-9)
    # the same motion in metres (guessed unit: m)
    metres = _walk(scale=0.01)
    assert np.allclose(metrics.windows([metres]), W, atol=1e-9)
    # global-position arrays, Z up (x, y, z) -> (x, -z, y)
    P = turned.global_positions()
    zup = np.stack([P[..., 0], -P[..., 2], P[..., 1]], axis=-1)
    assert np.allclose(metrics.windows([zup], up_axis=2, skeleton=m.skeleton), W, atol=1e-9)


def test_rig_analysis_finds_root_feet_and_static_top_joint():
    # a static top joint (like BVH joint_Root) above the moving hips is dropped
    m = _walk()
    sk = m.skeleton
    top = Skeleton(("joint_Root",) + sk.names, np.r_[-1, sk.parents + 1], np.vstack([[0, 0, 0], sk.offsets]))
    r = np.concatenate([rot.quat_identity((m.frames, 1)), m.rotations], axis=1)
    p = np.concatenate([np.zeros((m.frames, 1, 3)), m.positions], axis=1)
    m2 = Motion(top, r, p, 30.0)
    rig = metrics.make_rig([m2.global_positions()], top.names, top.parents)
    assert top.names[rig.root] == "Hips" and len(rig.keep) == len(sk)
    assert [[rig.kept_names[f] for f in g] for g in rig.feet] == [["Foot_L", "Toes_L"], ["Foot_R", "Toes_R"]]
    assert rig.meters_per_unit == 0.01
    assert np.allclose(metrics.windows([m2]), metrics.windows([m]), atol=1e-9)


def test_frechet_distance_and_neighbours():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3))
    assert metrics.frechet_distance(X, X) < 1e-9
    # 1-D Gaussians: (mu1 - mu2)^2 + (s1 - s2)^2
    a = ((np.zeros(1), np.eye(1) * 4.0))
    b = ((np.ones(1) * 3.0, np.eye(1) * 1.0))
    assert metrics.frechet_distance(a, b) == pytest.approx(9.0 + 1.0)
    A, B = rng.normal(size=(300, 50)), rng.normal(size=(700, 50))
    brute = np.sqrt(((A[:, None] - B[None]) ** 2).sum(-1)).min(1)
    assert np.allclose(metrics.nearest_neighbour_distances(A, B, chunk=64), brute, rtol=1e-4)
    index, _ = metrics.nearest_neighbours(A, B, chunk=64)
    assert (index == np.sqrt(((A[:, None] - B[None]) ** 2).sum(-1)).argmin(1)).all()


def test_evaluate_runs_on_synthetic_sets():
    train = [_walk(120, seed=s) for s in range(4)]
    held = [_walk(120, seed=s) for s in range(4, 6)]
    gen = [_turned(_walk(120, seed=s), 1.0, np.array([50.0, 0, 0])) for s in range(6, 8)]
    labels = {"style": {"train": ["a", "b", "a", "b"], "heldout": ["a", "b"], "generated": ["a", "b"]}}
    res = metrics.evaluate(gen, train, held, labels=labels, targets={"fd": "< 3x"}, draws=2)
    m = res["metrics"]
    assert set(m) == {"fd", "novelty", "coverage", "diversity", "foot_skate", "jitter", "accuracy_style"}
    for v in m.values():
        assert np.isfinite(v["generated"]) and np.isfinite(v["reference"])
    json.dumps(res)  # JSON-ready
    table = metrics.format_table(res)
    assert "| FD (G vs H) |" in table and "< 3x" in table and "style accuracy" in table


# ------------------------------------------------------------------------- real data calibration

def _split():
    rows = list(csv.DictReader(open(DATA / "labels.csv", newline="")))
    by_pair = {}
    for r in rows:
        by_pair.setdefault((r["content"], r["style"]), []).append(r)
    train, held = [], []
    for _, takes in sorted(by_pair.items()):  # two takes per (content, style): one each side
        takes = sorted(takes, key=lambda r: r["take"])
        train.append(takes[0])
        held.extend(takes[1:])
    return train, held


@pytest.fixture(scope="module")
def ds2():
    if not (DATA / "labels.csv").exists():
        pytest.skip(f"dataset not found at {DATA}")
    rows_r, rows_h = _split()
    mR = [bvh.read(DATA / r["file"]) for r in rows_r]
    mH = [bvh.read(DATA / r["file"]) for r in rows_h]
    labels = {k: {"train": [r[k] for r in rows_r], "heldout": [r[k] for r in rows_h]} for k in ("style", "content")}
    ref = metrics.Reference(mR, mH, labels)
    return dict(R=mR, H=mH, rows_r=rows_r, rows_h=rows_h, ref=ref)


def _noisy(m, degrees, rng):
    """10-degree Gaussian noise on every joint's local rotation, every frame (joints from the hips down)."""
    q = m.rotations.copy()
    aa = rng.normal(0.0, np.radians(degrees) / np.sqrt(3), q[:, 1:].shape[:-1] + (3,))  # RMS angle = degrees
    q[:, 1:] = rot.quat_mul(q[:, 1:], rot.axis_angle_to_quat(aa))
    return m.copy(rotations=q)


def _frozen(m):
    return m.copy(rotations=np.repeat(m.rotations[:1], m.frames, 0), positions=np.repeat(m.positions[:1], m.frames, 0))


def _sliding(m, speedup=2.0):
    """Root translation sped up, limbs unchanged: planted feet slide."""
    j = m.skeleton.index("Hips")
    p = m.positions.copy()
    p[:, j, [0, 2]] = p[0, j, [0, 2]] + speedup * (p[:, j, [0, 2]] - p[0, j, [0, 2]])
    return m.copy(positions=p)


def test_ds2_reference(ds2):
    ref = ds2["ref"]
    assert ref.rig.names[ref.rig.root] == "Hips" and ref.rig.meters_per_unit == 0.01
    assert len(ref.W_r) > 500 and len(ref.W_h) > 500
    # the classifier beats chance clearly on held-out takes
    assert ref.ceilings["style"] > 3 * ref.ceilings["style_chance"]
    assert ref.ceilings["content"] > 0.6
    # real feet hardly skate
    assert ref.h_stats["foot_skate"] < 0.2
    # windows_of cuts any clips as the reference cut its own (H is small enough to be kept whole)
    X, clips = ref.windows_of(ds2["H"])
    np.testing.assert_allclose(X, ref.X_h, atol=1e-5)
    np.testing.assert_array_equal(clips, ref.clips_h)
    assert metrics.covered(ref.X_h, X, ref.coverage_threshold).all()
    assert metrics.coverage(ref.X_h, X, ref.coverage_threshold) == 1.0


def test_ds2_copying_train_is_at_the_floor_with_zero_novelty(ds2):
    res = metrics.evaluate(ds2["R"], reference=ds2["ref"])
    m = res["metrics"]
    assert m["fd"]["reference"] > 0
    assert m["fd"]["ratio"] == pytest.approx(1.0, rel=0.05)
    assert m["novelty"]["ratio"] < 0.01
    assert 0.9 < m["jitter"]["ratio"] < 1.1 and 0.8 < m["diversity"]["ratio"] < 1.25


def test_ds2_noise_and_frozen_score_much_worse(ds2):
    rng = np.random.default_rng(0)
    ref = ds2["ref"]
    noisy = metrics.evaluate([_noisy(m, 10.0, rng) for m in ds2["R"]], reference=ref)["metrics"]
    assert noisy["fd"]["ratio"] > 5
    assert noisy["jitter"]["ratio"] > 10
    assert noisy["novelty"]["ratio"] > 3 and noisy["coverage"]["ratio"] < 0.5
    frozen = metrics.evaluate([_frozen(m) for m in ds2["R"]], reference=ref)["metrics"]
    assert frozen["fd"]["ratio"] > 5
    assert frozen["diversity"]["ratio"] < 0.2
    assert frozen["jitter"]["generated"] < 1e-6


def test_ds2_sliding_character_skates(ds2):
    labels = {"content": {"generated": [r["content"] for r in ds2["rows_h"]]}}
    res = metrics.evaluate([_sliding(m) for m in ds2["H"]], reference=ds2["ref"], labels=labels)
    m = res["metrics"]
    assert m["foot_skate"]["generated"] > 2 * m["foot_skate"]["reference"]
    assert m["foot_skate"]["generated"] > 0.25
    assert "accuracy_content" in m and "accuracy_style" not in m


def test_diversity_within_labels_exposes_one_motion_per_label():
    train = [_walk(120, seed=s) for s in range(4)]
    held = [_walk(120, seed=s) for s in range(4, 8)]
    style = {"train": ["a", "b", "a", "b"], "heldout": ["a", "a", "b", "b"]}
    ref = metrics.Reference(train, held, {"style": style}, draws=2)
    varied = [_walk(120, seed=s) for s in (8, 9, 10, 11)]
    collapsed = [varied[0], varied[0], varied[2], varied[2]]  # one motion per label
    labels = {"style": {"generated": ["a", "a", "b", "b"]}}
    m_var = metrics.evaluate(varied, labels=labels, reference=ref)["metrics"]
    m_col = metrics.evaluate(collapsed, labels=labels, reference=ref)["metrics"]
    assert m_col["diversity_within"]["generated"] == 0.0
    assert m_var["diversity_within"]["ratio"] > 0.5
    assert m_col["diversity"]["ratio"] > 0.3  # plain diversity still sees the labels' variety


def test_label_accuracy_reads_every_window_of_every_clip_when_the_others_subsample():
    # FD and distances keep at most max_train_windows windows (here 8, from 10 clips of ~15 windows);
    # a clip's label must be read from all of its windows, as the ceiling's held-out clips are, and
    # no clip may drop out. One clip of ten is given the label it reads as: exactly 0.1.
    train = [_walk(200, seed=s) for s in range(8)]
    held = [_walk(200, seed=s) for s in range(8, 12)]
    ref = metrics.Reference(train, held, {"style": {"train": ["a", "b"] * 4, "heldout": ["a", "b"] * 2}},
                            max_train_windows=8, draws=2)
    gen = [_walk(200, seed=s) for s in range(20, 30)]
    seqs = [metrics._sequences([m], ref.fps, None)[0][0] for m in gen]
    W, clips = metrics._canonical_windows(seqs, ref.rig, ref.length, ref.stride)
    assert len(W) > 10 * ref.max_windows  # the other figures subsample
    read_as = ref.classifiers["style"].predict_clips(metrics.features(W, ref.fps), clips)
    given = [read_as[0]] + [{"a": "b", "b": "a"}[read_as[i]] for i in range(1, 10)]
    res = metrics.evaluate(gen, labels={"style": {"generated": given}}, reference=ref)
    assert res["windows"]["generated"] == ref.max_windows
    assert res["metrics"]["accuracy_style"]["generated"] == pytest.approx(0.1)


def test_skating_frames_count_a_low_foot_by_its_slowest_joint():
    """One window, one foot of two joints on the floor: it slides only while both move, at the
    slower one's speed, and only while both are down; foot_skate is the share of those frames."""
    T = 7
    W = np.zeros((1, T, 2, 3))
    W[0, :, 0, 0] = np.arange(T) * 0.05        # heel: 1.5 m/s at 30 fps all along
    W[0, :4, 1, 0] = np.arange(4) * 0.02        # toes: 0.6 m/s for the first three steps, then still
    W[0, 3:, 1, 0] = 0.06
    W[0, 5:, :, 1] = 0.2                        # from frame 5 the foot is up (step 4 -> 5 averages 10 cm)
    skating, slide = metrics.skating_frames(W, [[0, 1]], fps=30.0, ground=[0.0, 0.0])
    assert skating[0].tolist() == [True, True, True, False, False, False]
    assert np.allclose(slide[0, :3], 0.6) and not slide[0, 3:].any()
    assert metrics.foot_skate(W, [[0, 1]], fps=30.0, ground=[0.0, 0.0]) == pytest.approx(0.5)
    assert metrics.skating_frames(W[:0], [[0, 1]]) == (None, None)


def test_reading_counts_each_true_label_apart():
    """Per-label accuracy and the confusion counts behind the one accuracy the bar uses."""
    read = metrics.reading({0: "a", 1: "b", 2: "a", 4: "b"}, ["a", "a", "b", "x", "b"], ["a", "b"])
    assert read["accuracy"] == pytest.approx(0.5)             # clips 0 and 4 right, 1 and 2 wrong
    assert read["by_label"] == {"a": {"accuracy": 0.5, "clips": 2}, "b": {"accuracy": 0.5, "clips": 2}}
    assert read["confusion"] == [[1, 1], [1, 1]]
    assert metrics.reading({}, [], ["a"])["by_label"] == {"a": {"accuracy": None, "clips": 0}}
