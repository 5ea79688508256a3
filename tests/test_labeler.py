"""The label classifier that editing uses when the user names no label (core/labeler.py)."""

import dataclasses

import numpy as np
import pytest

from blender_ganim.core import features, labeler, synthesis


def test_fit_separates_classes_and_never_picks_an_empty_one():
    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    ids = rng.integers(0, 3, 3000)
    frames = centres[ids] + rng.standard_normal((3000, 3))
    w, b = labeler.fit(frames, ids, vocab_size=4)              # class 3 has no frames
    test_ids = rng.integers(0, 3, 300)
    test = centres[test_ids] + rng.standard_normal((300, 3))
    pred = np.argmax(test @ w.T + b, axis=1)
    assert np.mean(pred == test_ids) > 0.85
    assert not np.any(pred == 3)
    # Pooled over a few frames of one class, as the editing tools use it: right every time.
    for k in range(3):
        clip = centres[k] + rng.standard_normal((11, 3))
        assert np.argmax((clip @ w.T + b).mean(0)) == k


@pytest.fixture(scope="module")
def walk_features(model, walk_clip):
    return synthesis._normalise(model, features.encode(walk_clip, model.header["features"]))


def test_shipped_model_recognises_a_walk_from_eleven_frames(model, walk_features):
    assert labeler.available(model)
    assert labeler.infer(model, walk_features[50:61]) == {"style": "normal", "content": "walk"}


def test_left_out_columns_come_from_the_kept_frames(model, walk_features):
    assert synthesis.fit_labels(model, None, walk_features[50:60]) == {"style": "normal", "content": "walk"}
    # What the user names is kept; only the rest is inferred.
    assert synthesis.fit_labels(model, {"style": "elderly"}, walk_features[50:60]) == \
        {"style": "elderly", "content": "walk"}
    # Nothing kept (free generation), or an older model file without the classifier: left to chance.
    assert synthesis.fit_labels(model, None, walk_features[:0]) == {}
    old = dataclasses.replace(model, weights=labeler.network_weights(model.weights))
    assert not labeler.available(old)
    assert synthesis.fit_labels(old, None, walk_features) == {}


def test_inbetween_without_labels_uses_the_clips_own(model, walk_clip):
    auto = synthesis.inbetween(model, walk_clip, 100, 130, seed=4)
    named = synthesis.inbetween(model, walk_clip, 100, 130, labels={"style": "normal", "content": "walk"}, seed=4)
    other = synthesis.inbetween(model, walk_clip, 100, 130, labels={"style": "normal", "content": "wave-both-hands"}, seed=4)
    np.testing.assert_allclose(auto.rotations, named.rotations)
    assert not np.allclose(auto.rotations, other.rotations, atol=1e-3)


def test_restyle_strength_pushes_away_from_the_clips_own_style(model, walk_clip):
    target = {"style": "elderly"}
    plain = synthesis.restyle(model, walk_clip, target, seed=2, strength=0.0)
    strong = synthesis.restyle(model, walk_clip, target, seed=2, strength=1.0)
    assert not np.allclose(plain.rotations, strong.rotations, atol=1e-3)
    # The clip already walks 'normal': asking for 'normal' has nothing to push away from.
    same0 = synthesis.restyle(model, walk_clip, {"style": "normal"}, seed=2, strength=0.0)
    same1 = synthesis.restyle(model, walk_clip, {"style": "normal"}, seed=2, strength=2.0)
    np.testing.assert_allclose(same0.rotations, same1.rotations)
    with pytest.raises(synthesis.SynthesisError, match="between 0 and 3"):
        synthesis.restyle(model, walk_clip, target, strength=-1.0)
    with pytest.raises(synthesis.SynthesisError, match="unknown style 'grumpy'"):
        synthesis.restyle(model, walk_clip, {"style": "grumpy"})


def test_restyle_keeps_the_draft_that_reads_most_clearly_as_the_new_style(model, walk_clip):
    target = {"style": "elderly"}
    spec = model.header["features"]

    def margin(clip):
        return synthesis._label_margin(model, features.encode(clip, spec), target)

    best = synthesis.restyle(model, walk_clip, target, seed=7, drafts=6)
    again = synthesis.restyle(model, walk_clip, target, seed=7, drafts=6)
    np.testing.assert_allclose(best.rotations, again.rotations, rtol=0, atol=1e-12)  # seeded
    seeds = np.random.default_rng(7).integers(0, 2 ** 31, size=6)
    singles = [synthesis.restyle(model, walk_clip, target, seed=int(s), drafts=1) for s in seeds]
    margins = [margin(c) for c in singles]
    assert len({round(m, 6) for m in margins}) > 1  # the drafts differ, so choosing means something
    assert margin(best) == pytest.approx(max(margins), abs=1e-6)
    np.testing.assert_allclose(best.global_positions()[:, 1, [0, 2]], walk_clip.global_positions()[:, 1, [0, 2]],
                               atol=1e-6)
    with pytest.raises(synthesis.SynthesisError, match="drafts must be a whole number from 1 to 64"):
        synthesis.restyle(model, walk_clip, target, drafts=0)


def test_restyle_moves_the_root_height_to_the_new_styles_level_and_bounce(model, walk_clip):
    """An elderly root bobs less and sits lower than a normal one, an active one bobs more (the
    training takes: 0.4 / 1.1 / 2.6 cm within a take); the height keeps the clip's timing."""
    root = model.header["features"]["root"]
    height = lambda clip: clip.global_positions()[:, root, 1]
    source = height(walk_clip)
    kept = synthesis.restyle(model, walk_clip, {"style": "elderly"}, seed=3, drafts=1, height=False)
    np.testing.assert_allclose(height(kept), source, atol=1e-9)
    elderly, active = (height(synthesis.restyle(model, walk_clip, {"style": s}, seed=3, drafts=1))
                       for s in ("elderly", "active"))
    assert elderly.std() < 0.7 * source.std() and active.std() > 1.5 * source.std()
    assert elderly.mean() < source.mean()
    for moved in (elderly, active):
        assert np.corrcoef(moved, source)[0, 1] > 0.999  # moved and scaled, not redrawn
    same = synthesis.restyle(model, walk_clip, {"style": "normal"}, seed=3, drafts=1)  # its own style: untouched
    np.testing.assert_allclose(height(same), source, atol=1e-9)
