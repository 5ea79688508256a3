"""Generation and editing with the shipped model, numpy only (runs without torch and bpy)."""

from pathlib import Path

import numpy as np
import pytest

from blender_ganim.core import bvh, features, generator, model_file, synthesis
from blender_ganim.core import rotations as rot

MODEL = Path(__file__).resolve().parents[1] / "blender_ganim" / "models" / "default.ganim"


@pytest.fixture(scope="module")
def model():
    return model_file.load(MODEL)


@pytest.fixture(scope="module")
def walk(sample_dir):
    return bvh.read(sample_dir / "dataset-2_walk_normal_004.bvh")


@pytest.fixture(scope="module")
def run_clip(sample_dir):
    return bvh.read(sample_dir / "dataset-2_run_normal_038.bvh")


def test_shipped_model_header(model):
    h = model.header
    assert h["format"] == "ganim" and len(h["skeleton"]["names"]) == 22
    assert "CC BY-NC 4.0" in h["licence"]
    assert {"style", "content"} <= set(model.labels)
    assert MODEL.stat().st_size < 10 * 2 ** 20


@pytest.fixture(scope="module")
def plain(model):
    """The shipped weights with nothing recorded under "sampling": the shipped defaults throughout."""
    return synthesis.with_sampling(model, {}, replace=True)


def test_a_model_generates_with_the_sampling_its_file_records(plain):
    """Left out, the temperature and the clean-up are the model's own (header "sampling"), else the
    shipped defaults; a recorded value outside its range is refused by name."""
    model = plain
    assert "sampling" not in model.header
    assert synthesis.sampling_defaults(model) == {"temperature": synthesis.TEMPERATURE,
                                                  "smooth_sigma": synthesis.SMOOTH_SIGMA,
                                                  "lock_strength": synthesis.LOCK_STRENGTH}
    own = model_file.Model({**model.header, "sampling": {"temperature": 0.9, "smooth_sigma": 1.0}},
                           model.weights, "own.ganim")
    assert synthesis.sampling_defaults(own)["lock_strength"] == synthesis.LOCK_STRENGTH
    pos = lambda clips: np.stack([m.global_positions() for m in clips])  # noqa: E731
    implied, _ = synthesis.generate(own, 60, count=2, seed=4)
    told, _ = synthesis.generate(model, 60, count=2, seed=4, temperature=0.9)
    default, _ = synthesis.generate(model, 60, count=2, seed=4)
    sigma_too = model_file.Model({**model.header, "sampling": {"temperature": 0.9}}, model.weights, "t.ganim")
    temperature_only, _ = synthesis.generate(sigma_too, 60, count=2, seed=4)
    assert np.array_equal(pos(temperature_only), pos(told))  # the recorded temperature, the default clean-up
    assert not np.allclose(pos(implied), pos(told))           # ... and the recorded low-pass on top
    assert not np.allclose(pos(told), pos(default))
    explicit, _ = synthesis.generate(own, 60, count=2, seed=4, temperature=0.5)
    assert not np.allclose(pos(explicit), pos(default))       # a given temperature, the model's low-pass
    bad = model_file.Model({**model.header, "sampling": {"temperature": 5}}, model.weights, "bad.ganim")
    with pytest.raises(synthesis.SynthesisError, match="bad.ganim: recorded sampling: temperature must be"):
        synthesis.generate(bad, 60)
    with pytest.raises(synthesis.SynthesisError, match="unknown setting 'sigma'"):
        synthesis.check_sampling({"sigma": 1.0})


def test_settings_recorded_for_some_labels_apply_to_their_clips_alone(plain):
    """`ganim sampling --label`: clips with those label values draw at their own temperature and
    low-pass, every other clip at the model's own; in one batch each clip gets its own, as if drawn
    alone; a temperature given to generate() is every clip's."""
    tuned = synthesis.with_sampling(synthesis.with_sampling(plain, {"temperature": 0.3}),
                                    {"temperature": 0.9, "smooth_sigma": 3.0},
                                    labels={"content": ["wave-left-hand", "wave-right-hand"]})
    assert synthesis.sampling_for(tuned, {"style": "elderly", "content": "wave-left-hand"}) == \
        {"temperature": 0.9, "smooth_sigma": 3.0, "lock_strength": synthesis.LOCK_STRENGTH}
    assert synthesis.sampling_for(tuned, {"content": "walk"})["temperature"] == 0.3
    assert "content wave-left-hand / wave-right-hand: smooth sigma 3, temperature 0.9" in \
        synthesis.describe_sampling(tuned)
    pos = lambda clips: np.stack([m.global_positions() for m in clips])  # noqa: E731
    wave, walk = {"style": "normal", "content": "wave-left-hand"}, {"style": "normal", "content": "walk"}
    by_hand = synthesis.with_sampling(plain, {"temperature": 0.9, "smooth_sigma": 3.0})
    assert np.array_equal(pos(synthesis.generate(tuned, 60, labels=wave, seed=2)[0]),
                          pos(synthesis.generate(by_hand, 60, labels=wave, seed=2)[0]))
    assert np.array_equal(pos(synthesis.generate(tuned, 60, labels=walk, seed=2)[0]),
                          pos(synthesis.generate(plain, 60, labels=walk, seed=2, temperature=0.3)[0]))
    assert np.array_equal(pos(synthesis.generate(tuned, 60, labels=walk, seed=2, temperature=0.9)[0]),
                          pos(synthesis.generate(plain, 60, labels=walk, seed=2, temperature=0.9)[0]))
    _, chosen = synthesis.generate(tuned, 60, count=6, labels={"style": "normal"}, seed=1)
    temperatures = [synthesis.sampling_for(tuned, c)["temperature"] for c in chosen]
    assert temperatures == [0.3, 0.9, 0.3, 0.9, 0.3, 0.3]  # walk, wave-right-hand, a raise, ...
    raw, _ = synthesis.run_generator(tuned, 60, 6, {"style": "normal"}, seed=1, temperature=None)
    for i, t in enumerate(temperatures):  # each clip's noise scaled by its own temperature
        alone, _ = synthesis.run_generator(plain, 60, 6, {"style": "normal"}, seed=1, temperature=t)
        assert np.allclose(raw[i], alone[i], atol=1e-5), chosen[i]
    for table, words in (({"mood": {"calm": {"temperature": 1}}}, "the model has no label 'mood'"),
                         ({"content": {"swim": {"temperature": 1}}}, "the model has no content 'swim'"),
                         ({"content": {"walk": {"sigma": 1}}}, "content=walk: unknown setting 'sigma'"),
                         ({"content": {"walk": {"temperature": 9}}}, "temperature must be a number from 0 to 2")):
        bad = model_file.Model({**plain.header, "sampling": {"by_label": table}}, plain.weights, "bad.ganim")
        with pytest.raises(synthesis.SynthesisError, match=words):
            synthesis.generate(bad, 60)


def test_settings_for_every_clip_override_those_recorded_for_some_labels(plain):
    """`ganim select --smooth-sigma`: given settings become every clip's, taken out of the per-label
    entries (one left empty goes), while what they do not name stays as the file recorded it."""
    tuned = synthesis.with_sampling(synthesis.with_sampling(plain, {"temperature": 0.3}),
                                    {"temperature": 0.4, "smooth_sigma": 2.25}, labels={"content": ["wave-left-hand"]})
    tuned = synthesis.with_sampling(tuned, {"smooth_sigma": 2.0}, labels={"content": ["walk"]})
    every = synthesis.for_every_clip(tuned, {"smooth_sigma": 1.25, "lock_strength": 0.5})
    assert every.header["sampling"] == {"temperature": 0.3, "smooth_sigma": 1.25, "lock_strength": 0.5,
                                        "by_label": {"content": {"wave-left-hand": {"temperature": 0.4}}}}
    for content, temperature in (("wave-left-hand", 0.4), ("walk", 0.3)):
        assert synthesis.sampling_for(every, {"content": content}) == \
            {"temperature": temperature, "smooth_sigma": 1.25, "lock_strength": 0.5}
    assert synthesis.for_every_clip(tuned, {"temperature": 0.5, "smooth_sigma": 1.0}).header["sampling"] == \
        {"temperature": 0.5, "smooth_sigma": 1.0}
    assert all(every.weights[k] is v for k, v in tuned.weights.items())
    with pytest.raises(synthesis.SynthesisError, match="lock_strength must be a number from 0 to 1"):
        synthesis.for_every_clip(tuned, {"lock_strength": 2.0})


def test_a_long_ask_for_a_short_motion_gets_a_note(model):
    """A raise is one motion of ~70-95 frames in the takes; asked for 120 or more it repeats and reads
    as a wave (docs/experiments.md), so the tools say so; runs still read right at 120, walks and waves
    are long takes, and with no label chosen there is nothing to say."""
    typical = synthesis.typical_frames(model, {"content": "raise-up-both-hands"})
    assert 60 <= typical <= 100
    note = synthesis.length_note(model, {"content": "raise-up-both-hands"}, 150)
    assert note.startswith(f"content raise-up-both-hands: the training takes run about {typical} frames")
    assert synthesis.length_note(model, {"content": "raise-up-both-hands"}, typical) is None
    assert synthesis.length_note(model, {"content": "raise-up-both-hands"}, 120)  # read as a wave at 120
    assert synthesis.length_note(model, {"content": "run"}, 120) is None         # read right at 120
    assert synthesis.length_note(model, {"content": "walk"}, 300) is None
    assert synthesis.length_note(model, {"content": "wave-left-hand", "style": "elderly"}, 250) is None
    assert synthesis.length_note(model, {}, 5000) is None
    older = model_file.Model({k: v for k, v in model.header.items() if k != "label_frames"}, model.weights)
    assert synthesis.length_note(older, {"content": "raise-up-both-hands"}, 150) is None


def test_labels_no_training_take_had_together_get_a_note_and_are_not_drawn(model):
    """Every active raise in the data is shorter than the training window, so the shipped model never
    saw one (generated, none reads as active: docs/experiments.md); asking says so, and a label left to
    chance is drawn among the combinations the training takes had."""
    trained = [set(c.items()) for c in synthesis.trained_combos(model)]
    assert len(trained) == 67 and {("style", "active"), ("content", "walk")} in trained
    assert {("style", "active"), ("content", "raise-up-left-hand")} not in trained
    note = synthesis.unseen_note(model, {"style": "active", "content": "raise-up-left-hand"})
    assert note.startswith("style active with content raise-up-left-hand: no training take has these labels")
    for fine in ({"style": "active", "content": "walk"}, {"style": "active"}, {"content": "raise-up-left-hand"}, {}):
        assert synthesis.unseen_note(model, fine) is None, fine
    assert synthesis.label_notes(model, {"style": "active", "content": "raise-up-left-hand"}, 150) == [note]
    assert synthesis.label_notes(model, {"content": "raise-up-left-hand"}, 150) == [
        synthesis.length_note(model, {"content": "raise-up-left-hand"}, 150)]
    ids = synthesis.label_ids(model, {"style": "active"}, 500, np.random.default_rng(0))
    drawn = {model.labels["content"][i] for i in ids["content"]}
    assert drawn == {"run", "walk", "walk-turn-left", "walk-turn-right", "wave-both-hands", "wave-left-hand",
                     "wave-right-hand"}
    ids = synthesis.label_ids(model, {}, 2000, np.random.default_rng(1))
    pairs = {(model.labels["style"][a], model.labels["content"][b]) for a, b in zip(ids["style"], ids["content"])}
    assert len(pairs) == 67 and all({("style", a), ("content", b)} in trained for a, b in pairs)
    asked = synthesis.label_ids(model, {"style": "active", "content": "raise-up-left-hand"}, 3, np.random.default_rng(0))
    assert set(asked["style"]) == {0} and set(asked["content"]) == {1}   # asked for, it is still made
    older = model_file.Model({k: v for k, v in model.header.items() if k != "label_frames"}, model.weights)
    assert synthesis.trained_combos(older) is None and synthesis.unseen_note(
        older, {"style": "active", "content": "raise-up-left-hand"}) is None


def test_generate_is_seeded_and_labelled(model):
    a, la = synthesis.generate(model, 90, count=2, labels={"style": "elderly"}, seed=3)
    b, _ = synthesis.generate(model, 90, count=2, labels={"style": "elderly"}, seed=3)
    assert [m.frames for m in a] == [90, 90] and all(lab["style"] == "elderly" for lab in la)
    np.testing.assert_allclose(a[0].rotations, b[0].rotations, rtol=0, atol=1e-12)  # seeded
    assert not np.allclose(a[0].rotations, a[1].rotations)


def test_temperature_scales_how_far_draws_stray(model):
    labels = {"style": "elderly", "content": "walk"}

    def draws(temperature):
        return [synthesis.generate(model, 64, labels=labels, seed=s, temperature=temperature)[0][0].rotations
                for s in (1, 2)]

    cold, cool, warm = draws(0.0), draws(0.3), draws(1.0)
    np.testing.assert_allclose(cold[0], cold[1], rtol=0, atol=1e-9)  # no noise: one motion per label
    spread = [np.abs(a - b).mean() for a, b in (cool, warm)]
    assert 0 < spread[0] < spread[1]
    default = synthesis.generate(model, 64, labels=labels, seed=1)[0][0].rotations
    own = synthesis.sampling_for(model, labels)["temperature"]  # the model file's, for these labels
    np.testing.assert_allclose(default, synthesis.generate(model, 64, labels=labels, seed=1,
                                                           temperature=own)[0][0].rotations,
                               rtol=0, atol=1e-12)
    assert not np.allclose(default, warm[0])  # the default is not the network as trained


@pytest.mark.parametrize("bad", [-0.1, synthesis.MAX_TEMPERATURE + 0.5, "hot", float("nan"), True])
def test_temperature_outside_its_range_is_refused(model, bad):
    with pytest.raises(synthesis.SynthesisError, match="temperature must be between 0 and"):
        synthesis.generate(model, 30, temperature=bad)


@pytest.mark.parametrize("bad, words", [({"style": "grumpy"}, "unknown style 'grumpy'"),
                                        ({"mood": "x"}, "no label 'mood'")])
def test_unknown_labels(model, bad, words):
    with pytest.raises(synthesis.SynthesisError, match=words):
        synthesis.generate(model, 30, labels=bad)


def test_inbetween_keeps_the_rest_and_has_no_pops(model, walk):
    start, end = 100, 130
    out = synthesis.inbetween(model, walk, start, end, seed=1)
    kept = np.ones(walk.frames, dtype=bool)
    kept[start:end] = False
    np.testing.assert_allclose(out.global_positions()[kept], walk.global_positions()[kept], atol=1e-6)
    assert not np.allclose(out.global_positions()[start:end], walk.global_positions()[start:end], atol=1.0)
    assert synthesis.seam_ratio(out, kept) <= 1.5


@pytest.mark.parametrize("gap", [1, 5, 15])
def test_a_short_gap_moved_as_a_whole_is_put_back_whole(walk, gap):
    # Generated frames that are the real ones moved 10 units must come out exactly as the
    # unmoved ones do: one correction from seam to seam takes a constant offset out whole,
    # where two fades squeezed into the gap left part of it (1.5 units on 5 frames).
    start = 100
    kept = np.ones(walk.frames, dtype=bool)
    kept[start:start + gap] = False
    moved = walk.copy()
    moved.positions[start:start + gap, 0] += [10.0, 0.0, 0.0]
    same = walk.copy()
    out, ref = synthesis._inertialize(moved, kept), synthesis._inertialize(same, kept)
    np.testing.assert_allclose(out.global_positions(), ref.global_positions(), atol=1e-6)
    assert synthesis.seam_ratio(out, kept) <= 1.5


def _frozen_gap_peak(walk, run, start=60):
    """Largest frame-to-frame change of joint speed in and at a gap whose generated frames
    stand still while the kept sides walk on (the largest velocity mismatch a seam can see)."""
    kept = np.ones(walk.frames, dtype=bool)
    kept[start:start + run] = False
    frozen = walk.copy()
    frozen.positions[start:start + run] = walk.positions[start - 1]
    frozen.rotations[start:start + run] = walk.rotations[start - 1]
    out = synthesis._inertialize(frozen, kept)
    speed = np.linalg.norm(np.diff(out.global_positions(), axis=0), axis=-1)
    return np.abs(np.diff(speed, axis=0))[start - 2:start + run].max()


def test_a_long_gap_spreads_the_seams_speed_change_over_half_its_length(walk):
    # 32 frames: two fades of 16; 64 frames: two of 32, so the same mismatch is taken out twice as slowly.
    assert synthesis._fade_length(64, synthesis.SEAM_FRAMES, two_sided=True) == 32
    assert synthesis._fade_length(200, synthesis.SEAM_FRAMES, two_sided=True) == 32
    assert synthesis._fade_length(64, synthesis.SEAM_FRAMES, two_sided=False) == 16
    short, long = _frozen_gap_peak(walk, 32), _frozen_gap_peak(walk, 64)
    assert long < 0.65 * short


def test_edits_smooth_only_the_generated_frames(model, walk):
    # Noise in the generated features (the network's wiggles) is low-passed before decoding;
    # kept frames come back exactly.
    spec = model.header["features"]
    start, end = 100, 140
    kept = np.ones(walk.frames, dtype=bool)
    kept[start:end] = False
    f = features.encode(walk, spec)
    f[start:end, :spec["contact_start"]] += np.random.default_rng(0).normal(
        scale=0.05, size=(end - start, spec["contact_start"]))
    begin = features.start_of(walk, spec)
    out = synthesis._finish(model, f, begin, kept, "t", reference=walk)
    raw = features.decode(f, spec, model.skeleton, model.header["fps"], start=begin)

    def jerk(m):
        return np.abs(np.diff(m.global_positions()[start + 2:end - 2], n=3, axis=0)).mean()
    np.testing.assert_allclose(out.global_positions()[kept], walk.global_positions()[kept], atol=1e-6)
    assert jerk(out) < 0.3 * jerk(raw)


def _junk_in(clip, start, end, seed):
    rng = np.random.default_rng(seed)
    out = clip.copy()
    out.rotations[start:end] = rot.quat_normalize(rng.normal(size=out.rotations[start:end].shape))
    out.positions[start:end] += rng.normal(scale=5.0, size=out.positions[start:end].shape)
    return out


def test_a_five_frame_gap_becomes_a_smooth_interpolation_of_its_sides(walk):
    # On a few frames the network's own wiggles were the pop: whatever fills a gap this short,
    # what comes out is the C1 interpolation of the kept sides, close to the real motion.
    start, end = 100, 105
    kept = np.ones(walk.frames, dtype=bool)
    kept[start:end] = False
    a = synthesis._ease_short_gaps(_junk_in(walk, start, end, 1), kept)
    b = synthesis._ease_short_gaps(_junk_in(walk, start, end, 2), kept)
    np.testing.assert_allclose(a.global_positions(), b.global_positions(), atol=1e-9)
    np.testing.assert_allclose(a.global_positions()[kept], walk.global_positions()[kept], atol=1e-9)
    assert np.abs(a.global_positions() - walk.global_positions()).max() < 3.0  # cm (1.9 measured): walking is smooth
    assert synthesis.seam_ratio(a, kept) <= 1.5


def test_the_networks_share_grows_from_5_to_25_frames():
    assert [synthesis.network_share(n) for n in (1, 5, 15, 25, 60)] == [0.0, 0.0, 0.5, 1.0, 1.0]


@pytest.mark.parametrize("start, end", [(100, 130), (0, 4), (1, 5)])
def test_gaps_the_interpolation_cannot_reach_are_left_alone(walk, start, end):
    kept = np.ones(walk.frames, dtype=bool)
    kept[start:end] = False
    junk = _junk_in(walk, start, end, 3)
    out = synthesis._ease_short_gaps(junk.copy(), kept)
    np.testing.assert_allclose(out.global_positions(), junk.global_positions(), atol=1e-9)


def test_transition_places_b_after_a(model, walk, run_clip):
    a = walk.slice(0, 90)
    out = synthesis.transition(model, a, run_clip, 30, seed=2)
    assert out.frames == 90 + 30 + run_clip.frames
    np.testing.assert_allclose(out.global_positions()[:89], a.global_positions()[:89], atol=1e-6)
    # B's own movement is kept: its joint-to-root offsets are B's, wherever it lands.
    g, gb = out.global_positions()[120:], run_clip.global_positions()
    rel, rel_b = g[:, 1:] - g[:, 1:2], gb[:, 1:] - gb[:, 1:2]  # joints from Hips down
    heading_free = np.linalg.norm(rel, axis=-1) - np.linalg.norm(rel_b, axis=-1)
    assert np.abs(heading_free).max() < 1e-3
    kept = np.ones(out.frames, dtype=bool)
    kept[89:120] = False
    assert synthesis.seam_ratio(out, kept) <= 1.5


def test_keyframe_guided_hits_keys(model, walk):
    keys = walk.slice(0, 120)
    frames = [0, 40, 80, 119]
    out = synthesis.keyframe_guided(model, keys, frames, seed=3)
    err_cm = np.abs(out.global_positions()[frames] - keys.global_positions()[frames]).max()
    err_deg = np.degrees(rot.quat_angle(out.rotations[frames], keys.rotations[frames])).max()
    assert err_cm < 1.0 and err_deg < 1.0


def test_restyle_keeps_root_path(model, walk):
    out = synthesis.restyle(model, walk, {"style": "elderly"}, seed=4)
    root = 1
    path = out.global_positions()[:, root, [0, 2]]
    np.testing.assert_allclose(path, walk.global_positions()[:, root, [0, 2]], atol=1e-6)
    assert out.frames == walk.frames


def test_follow_path(model):
    xz = np.stack([np.linspace(0, 300, 150), 100 * np.sin(np.linspace(0, 3, 150))], -1)
    out = synthesis.follow_path(model, xz, seed=5)
    np.testing.assert_allclose(out.global_positions()[:, 1, [0, 2]], xz, atol=1e-6)


def test_crossfade(walk, run_clip):
    out = synthesis.crossfade(walk.slice(0, 60), run_clip, 20)
    assert out.frames == 60 + 20 + run_clip.frames
    assert np.degrees(rot.quat_angle(out.rotations[:60], walk.rotations[:60])).max() < 1e-4
    assert synthesis.crossfade(walk.slice(0, 60), run_clip, 0).frames == 60 + run_clip.frames   # a plain cut
    with pytest.raises(synthesis.SynthesisError, match="a crossfade needs 0 or more frames, got -3"):
        synthesis.crossfade(walk.slice(0, 60), run_clip, -3)


# ------------------------------------------------------------------ bad input

def test_range_outside_or_empty(model, walk):
    for a, b in ((100, 500), (50, 50), (-1, 10)):
        with pytest.raises(synthesis.SynthesisError, match="empty or outside"):
            synthesis.inbetween(model, walk, a, b)


def test_other_skeleton_refused(model, walk):
    from blender_ganim.core.skeleton import Skeleton
    sk = walk.skeleton
    names = list(sk.names)
    names[5] = "Skull"
    other = walk.copy(skeleton=Skeleton(tuple(names), sk.parents, sk.offsets, sk.channels, sk.end_sites))
    with pytest.raises(synthesis.SynthesisError, match="does not use the model's skeleton"):
        synthesis.transition(model, walk, other, 10)


def test_transition_too_long_names_the_limit(model, walk):
    limit = synthesis.max_transition(model)
    with pytest.raises(synthesis.SynthesisError, match=f"at most {limit} frames"):
        synthesis.transition(model, walk, walk, limit + 1)


def test_path_needs_points(model):
    with pytest.raises(synthesis.SynthesisError, match="at least 2 points"):
        synthesis.follow_path(model, np.zeros((1, 2)))


def test_foot_lock_plants_a_sliding_foot_and_touches_only_legs(model, walk):
    from blender_ganim.core import contacts
    spec = model.header["features"]
    slid = walk.copy()
    slid.positions[:, 1, [0, 2]] *= 1.08   # the body outruns its feet: stance feet slide
    locked = synthesis.lock_feet(slid, spec)
    feet = [walk.skeleton.index("Foot_L"), walk.skeleton.index("Foot_R")]
    planted = contacts.detect(slid, feet, speed=0.3)
    before = contacts.skate(slid, planted, feet, threshold=0.1)
    after = contacts.skate(locked, planted, feet, threshold=0.1)
    assert after < 0.5 * before

    # A partial lock: the foot moves the given share of the way from its own path to the
    # held one, so the full lock's slide speed is what is left of it (1 - strength) x.
    def slide(m):
        p = m.global_positions()[:, feet][..., [0, 2]]
        return np.linalg.norm(np.diff(p, axis=0), axis=-1)[planted[1:] & planted[:-1]].mean()
    legs = synthesis.leg_chains(walk.skeleton, spec)
    mask = np.stack([planted[:, i] for i in range(len(legs))], axis=1)
    full, none, half = (contacts.lock_feet(slid, mask, legs, strength=s) for s in (1.0, 0.0, 0.5))
    np.testing.assert_array_equal(none.rotations, slid.rotations)  # no lock: not even the IK's soft reach
    assert slide(full) < 0.1 * slide(slid)
    assert slide(half) == pytest.approx(0.5 * slide(slid) + 0.5 * slide(full), rel=0.15)
    legs = {walk.skeleton.index(n) for n in ("UpperLeg_L", "LowerLeg_L", "Foot_L", "Toes_L",
                                              "UpperLeg_R", "LowerLeg_R", "Foot_R", "Toes_R")}
    others = [j for j in range(len(walk.skeleton)) if j not in legs]
    np.testing.assert_allclose(locked.global_positions()[:, others], slid.global_positions()[:, others], atol=1e-6)
    # No flips: leg rotations change smoothly frame to frame.
    step = np.degrees(rot.quat_angle(locked.rotations[1:, sorted(legs)], locked.rotations[:-1, sorted(legs)]))
    ref = np.degrees(rot.quat_angle(slid.rotations[1:, sorted(legs)], slid.rotations[:-1, sorted(legs)]))
    assert step.max() < 3 * ref.max() + 5


def test_fill_gaps_interpolates_known_frames():
    from blender_ganim.core import generator
    x = np.zeros((2, 3, 10), np.float32)
    x[0, :, 2], x[0, :, 6] = 1.0, 5.0
    mask = np.zeros((2, 10))
    mask[0, [2, 6]] = 1
    out = generator.fill_gaps(x, mask)
    assert np.allclose(out[0, 0], [1, 1, 1, 2, 3, 4, 5, 5, 5, 5])   # held flat outside, linear between
    assert np.all(out[1] == 0)                                        # no known frame: free generation
    plain = generator.known_channels({"residual": False}, x, mask[:, None])
    assert np.allclose(plain[0, 0], [0, 0, 1, 0, 0, 0, 5, 0, 0, 0])


def test_short_clip_is_padded_to_the_training_window(model, walk):
    # 16 frames (a LaFAN1 window with 5 generated) runs through the network at its 64-frame window
    clip = walk.slice(0, 16)
    out = synthesis.inbetween(model, clip, 10, 15, seed=0)
    assert out.frames == 16
    assert rot.quat_angle(out.rotations[:10], clip.rotations[:10]).max() < 1e-6  # kept frames kept
    assert np.isfinite(out.positions).all()


def test_inbetween_to_a_single_target_frame_keeps_the_pace(model, run_clip):
    # LaFAN1's set-up: context, a gap, then one target frame. With a single kept frame after the
    # gap the seam blend must take its velocity from the generated side, not assume a standstill
    # (which dragged a running root 26 cm behind the truth mid-gap).
    clip = run_clip.slice(20, 36)
    out = synthesis.inbetween(model, clip, 10, 15, seed=0)
    r = model.header["features"]["root"]
    err = np.linalg.norm(out.global_positions()[:, r] - clip.global_positions()[:, r], axis=-1)
    cm = err * model.header["features"]["meters_per_unit"] * 100
    assert cm[15] < 1e-6 and cm.max() < 8.0, cm.round(1)


# ------------------------------------------------------------------ clips at another frame rate
#
# The network runs at the model's rate (30 fps); a 24 fps scene or 60 fps capture is resampled
# to it and back. Frame numbers are the clip's own, and what an edit keeps is kept exactly.

def test_generate_at_another_rate_is_the_same_motion_resampled(model):
    fast, _ = synthesis.generate(model, 61, seed=8)                       # 2 s at 30 fps
    film, _ = synthesis.generate(model, 49, seed=8, fps=24)               # 2 s at 24 fps
    assert (film[0].frames, film[0].fps) == (49, 24.0)
    assert synthesis.model_frames(model, 49, 24) == 61
    np.testing.assert_allclose(film[0].global_positions()[::4], fast[0].global_positions()[::5], atol=1e-6)
    with pytest.raises(synthesis.SynthesisError, match="frame rate must be positive"):
        synthesis.generate(model, 49, fps=-24)
    with pytest.raises(synthesis.SynthesisError, match=r"2000 frames at 1 fps are 59971 at the model's 30 fps, "
                                                        r"more than this tool generates at once \(20000\)"):
        synthesis.generate(model, 2000, fps=1)


@pytest.mark.parametrize("fps", [24, 60])
def test_edits_at_another_rate_keep_the_clips_frames_and_rate(model, walk, fps):
    clip = walk.slice(0, 120).resample(fps)
    T, g = clip.frames, clip.global_positions()
    start, end = T // 3, T // 3 + int(0.8 * fps)
    out = synthesis.inbetween(model, clip, start, end, seed=1)
    assert (out.frames, out.fps) == (T, fps)
    moved = np.abs(out.global_positions() - g).max(axis=(1, 2))
    assert moved[:start].max() == 0 and moved[end:].max() == 0         # the rest exactly as it was
    assert moved[start + 2:end - 2].min() > 0                          # ... and the range itself generated
    kept = np.ones(T, dtype=bool)
    kept[start:end] = False
    assert synthesis.seam_ratio(out, kept) <= 1.0                       # seams blended at the clip's rate

    keys = [0, T // 4, T // 2, T - 1]
    guided = synthesis.keyframe_guided(model, clip, keys, seed=2)
    assert (guided.frames, guided.fps) == (T, fps)
    np.testing.assert_array_equal(guided.global_positions()[keys], g[keys])

    restyled = synthesis.restyle(model, clip, {"style": "elderly"}, seed=3)
    assert (restyled.frames, restyled.fps) == (T, fps)
    path = restyled.global_positions()[:, 1, [0, 2]] - g[:, 1, [0, 2]]  # Hips over the ground, cm
    assert np.abs(path).max() < 1.0                                      # kept, to within the resampling


def test_a_transition_at_another_rate_keeps_a_and_b(model, walk, run_clip):
    a, b = walk.slice(0, 96).resample(24), run_clip.resample(24)
    out = synthesis.transition(model, a, b, 12, seed=2)
    assert (out.frames, out.fps) == (a.frames + 12 + b.frames, 24.0)
    np.testing.assert_allclose(out.global_positions()[:a.frames - 1], a.global_positions()[:-1], atol=1e-9)
    tail = out.rotations[a.frames + 12:, 2:]                            # B's body, below the moved root
    np.testing.assert_allclose(np.degrees(rot.quat_angle(tail, b.rotations[:, 2:])), 0.0, atol=1e-4)
    kept = np.ones(out.frames, dtype=bool)
    kept[a.frames - 1:a.frames + 12] = False
    assert synthesis.seam_ratio(out, kept) <= 1.5
    mixed = synthesis.transition(model, a, run_clip, 12, seed=2)       # B at 30 fps: played at A's rate
    assert (mixed.frames, mixed.fps) == (out.frames, 24.0)


def test_limits_at_another_rate_are_counted_in_its_frames(model, walk):
    limit, film = synthesis.max_transition(model), synthesis.max_transition(model, 24)
    assert film == (limit - 2) * 24 // 30
    clip = walk.resample(24)
    synthesis.transition(model, clip.slice(0, 40), clip.slice(40, 80), film, seed=1)   # fits
    with pytest.raises(synthesis.SynthesisError, match=f"at most {film} frames at 24 fps"):
        synthesis.transition(model, clip, clip, film + 1)
    with pytest.raises(synthesis.SynthesisError, match=f"at most {film} at 24 fps"):
        synthesis.inbetween(model, clip, 0, film + 1)
    raise_up = {"content": "raise-up-both-hands"}
    assert synthesis.typical_frames(model, raise_up, 24) == round(synthesis.typical_frames(model, raise_up) * 0.8)


def test_follow_path_at_another_rate(model):
    xz = np.stack([np.linspace(0, 300, 151), np.zeros(151)], -1)         # 3 m in 5 s at 30 fps
    out = synthesis.follow_path(model, xz, seed=5, fps=24)
    assert (out.frames, out.fps) == (121, 24.0)
    np.testing.assert_allclose(out.global_positions()[:, 1, 0], np.linspace(0, 300, 121), atol=1e-6)
    assert synthesis.follow_path(model, xz, seed=5, fps=24, frames=100).frames == 100


# ------------------------------------------------------------------ cycles

def _two_cycles(cycle):
    """The cycle played twice: its frames, then again moved on by its travel (the Hips' local
    position, which is world position under the static joint_Root)."""
    n = cycle.frames - 1
    again = cycle.positions[:n].copy()
    again[:, 1] += cycle.positions[n, 1] - cycle.positions[0, 1]
    return cycle.copy(rotations=np.concatenate([cycle.rotations[:n]] * 2),
                      positions=np.concatenate([cycle.positions[:n], again]))


@pytest.mark.parametrize("labels, fps, in_place", [({"content": "walk"}, 30, False), ({"content": "run"}, 24, True),
                                                   ({"content": "wave-left-hand", "style": "elderly"}, 30, False),
                                                   ({"content": "raise-up-both-hands"}, 30, False)])
def test_a_loop_leads_back_into_its_start_without_a_seam(model, labels, fps, in_place):
    frames = 96
    cycle, chosen = synthesis.loop(model, frames, labels=labels, seed=2, fps=fps, in_place=in_place)
    assert (cycle.frames, cycle.fps) == (frames + 1, fps) and labels.items() <= chosen.items()
    g = cycle.global_positions()
    travel = g[frames, 1] - g[0, 1]
    assert travel[1] == pytest.approx(0.0, abs=1e-9)                  # the next cycle starts at the same height
    np.testing.assert_allclose(g[frames, 1:] - travel, g[0, 1:], atol=1e-9)  # the same pose, facing the same way
    if in_place:
        assert np.linalg.norm(travel[[0, 2]]) < 1e-9
    elif labels["content"] == "walk":
        assert np.linalg.norm(travel[[0, 2]]) > 200                   # cm in 3.2 s: a walk moves on
    twice = _two_cycles(cycle)
    seam = int(synthesis.loop_seam(model, synthesis.model_frames(model, frames, fps)) * fps / 30)
    kept = np.ones(twice.frames, dtype=bool)
    kept[frames - seam - 1:frames] = kept[2 * frames - seam - 1:] = False
    assert synthesis.seam_ratio(twice, kept) <= 1.5                   # no pop where a cycle wraps


def test_a_loop_at_a_rate_a_hair_off_the_models_is_made_at_that_rate(model):
    """29.97 fps against the model's 30: the period rounds to the same frame count, yet the cycle must
    still be written at 29.97 (it came out at 30)."""
    cycle, _ = synthesis.loop(model, 100, seed=2, fps=29.97)
    assert cycle.fps == 29.97 and cycle.frames == 101


def test_a_loop_is_seeded_and_refuses_to_be_too_short(model):
    one, _ = synthesis.loop(model, 60, seed=4)
    again, _ = synthesis.loop(model, 60, seed=4)
    np.testing.assert_array_equal(one.global_positions(), again.global_positions())
    with pytest.raises(synthesis.SynthesisError, match="too short to lead back into its start"):
        synthesis.loop(model, 20)


def test_a_loop_says_when_it_took_a_turn_out(model):
    notes = []
    cycle, _ = synthesis.loop(model, 96, labels={"content": "walk-turn-right"}, seed=2, notes=notes)
    assert len(notes) == 1 and "turned 148 degrees right" in notes[0] and "taken out" in notes[0]
    g = cycle.global_positions()
    assert np.linalg.norm(g[96, 1, [0, 2]] - g[0, 1, [0, 2]]) > 100    # it walks on, facing one way
    quiet = []
    synthesis.loop(model, 96, labels={"content": "wave-both-hands"}, seed=2, notes=quiet)
    assert quiet == []


@pytest.mark.parametrize("labels, fps", [({"content": "walk"}, 30), ({"content": "run"}, 24),
                                         ({"content": "wave-left-hand"}, 30)])
def test_a_restyled_loop_leads_back_into_its_start_on_the_same_path(model, labels, fps):
    """Restyle draws every frame anew: without ``cycle`` a loop's end no longer meets its start (the wrap
    pops); with it, the frames around the wrap are generated again, on the loop's own root path."""
    frames, spec = 96, model.header["features"]
    cycle, _ = synthesis.loop(model, frames, labels=labels, seed=1, fps=fps)
    seam = int(np.ceil(synthesis.loop_seam(model, synthesis.model_frames(model, frames, fps)) * fps / 30))
    plain = synthesis.restyle(model, cycle, {"style": "elderly"}, seed=3, drafts=2)
    assert synthesis.wrap_ratio(plain, spec, frames) > 1.5
    out = synthesis.restyle(model, cycle, {"style": "elderly"}, seed=3, drafts=2, cycle=True)
    assert (out.frames, out.fps) == (cycle.frames, cycle.fps)
    g, was = out.global_positions(), cycle.global_positions()
    np.testing.assert_allclose(g[frames, 1:] - g[frames, 1] + g[0, 1], g[0, 1:], atol=1e-9)  # its first pose
    np.testing.assert_allclose(g[:, 1, [0, 2]], was[:, 1, [0, 2]], atol=1e-6 if fps == 30 else 0.1)  # path, cm
    assert synthesis.around_wrap_ratio(out, spec, seam - seam // 2, seam // 2) <= 1.5       # no pop where it wraps
    again = synthesis.restyle(model, cycle, {"style": "elderly"}, seed=3, drafts=2, cycle=True)
    np.testing.assert_array_equal(again.global_positions(), g)                         # seeded


@pytest.mark.parametrize("fps, period", [(24, 30), (60, 97)])
def test_a_restyled_loop_whose_period_is_no_whole_number_of_model_frames_keeps_its_path(model, fps, period):
    """30 frames at 24 fps are 37.5 of the model's: cut at a rounded model frame, the wrap missed the
    cycle's closing frame, so the root stalled into every wrap (or fell short by 2.5 cm a cycle)."""
    cycle, _ = synthesis.loop(model, period, labels={"content": "run"}, seed=1, fps=fps)
    out = synthesis.restyle(model, cycle, {"style": "elderly"}, seed=3, drafts=1, cycle=True)
    assert (out.frames, out.fps) == (cycle.frames, cycle.fps)
    g, was = out.global_positions()[:, 1, [0, 2]], cycle.global_positions()[:, 1, [0, 2]]
    assert np.abs(g - was).max() < 0.1                                                  # cm
    step, was_step = (np.linalg.norm(np.diff(p, axis=0), axis=1) for p in (g, was))
    assert step[-1] / np.median(step) == pytest.approx(was_step[-1] / np.median(was_step), abs=0.02)


def test_a_cycle_too_short_to_close_is_refused_and_a_cycle_file_gets_its_closing_frame(model):
    assert not synthesis.loop_closable(model, 28) and synthesis.loop_closable(model, 29)
    assert [synthesis.shortest_cycle(model, fps) for fps in (30, 24, 60)] == [28, 22, 55]  # 24 fps: it said 23
    with pytest.raises(synthesis.SynthesisError, match=r"a loop of 21 frames .* \(at least 22 frames\)"):
        synthesis.loop(model, 21, fps=24)
    assert synthesis.loop(model, 22, fps=24)[0].frames == 23
    short = synthesis.loop(model, 30, seed=1)[0].slice(0, 28)
    with pytest.raises(synthesis.SynthesisError, match=r"a cycle of 27 frames is too short .* \(at least 28 frames\)"):
        synthesis.restyle(model, short, {"style": "elderly"}, cycle=True)
    for labels in ({"content": "walk"}, {"content": "run"}):
        cycle, _ = synthesis.loop(model, 96, labels=labels, seed=1)
        back = synthesis.with_closing_frame(cycle.slice(0, 96))    # a file holds one cycle, no closing frame
        assert np.abs(back.global_positions() - cycle.global_positions()).max() < 0.05  # cm
    with pytest.raises(synthesis.SynthesisError, match="a cycle needs at least 3 frames"):
        synthesis.with_closing_frame(cycle.slice(0, 2))


def test_a_loaded_models_weights_are_read_only_and_writable_ones_are_never_stale(model):
    """The generator keeps its rearranged conv weights for read-only arrays (a loaded model's); a
    writable array (a trainer's, shared with torch) may change in place, and the pass must see it."""
    assert not any(w.flags.writeable for w in model.weights.values())
    with pytest.raises(ValueError):
        model.weights["out.weight"][0, 0, 0] = 1.0
    cfg = model.header["arch"]
    noise, latent = generator.random_inputs(cfg, 1, 40, np.random.default_rng(0))
    ids = {k: np.zeros(1, dtype=np.int64) for k in cfg["vocab_sizes"]}
    cond = np.zeros((1, generator.cond_channels(cfg), 40), dtype=np.float32)
    out = generator.forward(model.weights, cfg, noise, latent, ids, cond)
    np.testing.assert_array_equal(generator.forward(model.weights, cfg, noise, latent, ids, cond), out)
    writable = {k: v.copy() for k, v in model.weights.items()}
    np.testing.assert_array_equal(generator.forward(writable, cfg, noise, latent, ids, cond), out)
    writable["out.weight"][:] = 0.0                                     # changed in place
    again = generator.forward(writable, cfg, noise, latent, ids, cond)
    np.testing.assert_allclose(again, np.broadcast_to(writable["out.bias"][None, :, None], out.shape))


def test_repeat_cycle_plays_a_cycle_three_times_moving_on(model):
    cycle, _ = synthesis.loop(model, 40, labels={"content": "walk"}, seed=1)
    three, start = synthesis.repeat_cycle(cycle)
    assert (three.frames, start) == (3 * 40 + 1, 40)
    g, g3 = cycle.global_positions()[:, 1:], three.global_positions()[:, 1:]    # joint_Root stays put in a cycle
    np.testing.assert_allclose(g3[start:start + 41], g, atol=1e-9)              # the middle one as it was
    travel = g[40, 0] - g[0, 0]                                                 # the Hips'
    np.testing.assert_allclose(g3[:40] + travel, g[:40], atol=1e-9)             # the one before, moved back
    np.testing.assert_allclose(g3[80:], g + travel, atol=1e-9)                  # the one after, moved on
