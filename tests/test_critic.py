"""The critic's spread features (over time within a window, and across a small group of windows),
its reach over time, and the wrong labels it is shown with --mismatch-weight."""

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from trainer.models import Discriminator, batch_spread, mismatched_labels  # noqa: E402


def test_batch_spread_is_zero_for_alike_windows_and_grows_with_their_spread():
    alike = torch.ones(8, 5)
    assert batch_spread(alike).shape == (8, 1) and batch_spread(alike).max() < 1e-3
    gen = torch.Generator().manual_seed(0)
    spread = torch.randn(8, 5, generator=gen)
    assert batch_spread(spread).min() > 0.3
    assert torch.allclose(batch_spread(3 * spread), 3 * batch_spread(spread), rtol=1e-4)


def test_batch_spread_groups_every_other_window_and_copes_with_odd_batches():
    feat = torch.zeros(8, 3)
    feat[0] = 4.0  # groups are windows {0, 2, 4, 6} and {1, 3, 5, 7}
    s = batch_spread(feat).squeeze(-1)
    assert (s[0::2] > 1).all() and (s[1::2] < 1e-3).all()
    assert batch_spread(torch.randn(6, 3)).shape == (6, 1)      # groups of 3
    assert batch_spread(torch.randn(1, 3)).eq(0).all()           # no group: no feature


@pytest.mark.parametrize("time_std, batch_std", [(True, False), (False, True), (True, True)])
def test_critic_with_spread_features_scores_and_learns(time_std, batch_std):
    torch.manual_seed(0)
    D = Discriminator(12, {"style": 3}, hidden=16, spectral=False, time_std=time_std, batch_std=batch_std)
    plain = Discriminator(12, {"style": 3}, hidden=16, spectral=False)
    assert D.head.in_features == plain.head.in_features + (2 * 16 if time_std else 0) + batch_std
    x = torch.randn(4, 12, 32, requires_grad=True)
    labels = {"style": torch.tensor([0, 1, 2, 0])}
    score = D(x, labels)
    assert score.shape == (4,) and torch.isfinite(score).all()
    grad, = torch.autograd.grad(score.sum(), x)
    assert grad.abs().sum() > 0


def test_with_batch_spread_a_window_is_judged_beside_its_group():
    torch.manual_seed(0)
    x = torch.randn(4, 12, 32)
    labels = {"style": torch.tensor([0, 1, 2, 0])}
    for batch_std in (False, True):
        D = Discriminator(12, {"style": 3}, hidden=16, spectral=False, batch_std=batch_std)
        moved = x.clone()
        moved[1] *= 3  # another window of the same group changes
        changed = (D(moved, labels)[0] - D(x, labels)[0]).abs().item()
        assert (changed > 1e-6) == batch_std


def _reach(convs, channels, frames=240):
    """How many input frames one output unit of a conv stack (as the critic runs it) depends on."""
    x = torch.randn(1, channels, frames, requires_grad=True)
    h = x
    for conv in convs:
        h = F.leaky_relu(conv(h), 0.2)
    h[0, :, h.shape[-1] // 2].sum().backward()
    seen = (x.grad[0].abs().sum(0) > 0).nonzero().flatten()
    return int(seen.max() - seen.min() + 1)


class _Positions(torch.nn.Module):
    """Stands in for the FK module: the FK branch's convs only need its channel count."""
    channels = 6

    def forward(self, x):
        return x[:, :6]


def test_wide_critic_sees_a_whole_window_in_both_branches():
    torch.manual_seed(0)
    patch = Discriminator(12, {"style": 3}, hidden=16, spectral=False, fk=_Positions())
    wide = Discriminator(12, {"style": 3}, hidden=16, spectral=False, fk=_Positions(), wide=True)
    assert (_reach(patch.convs, 12), _reach(patch.fk_convs, 6)) == (24, 12)
    assert (_reach(wide.convs, 12), _reach(wide.fk_convs, 6)) == (72, 68)  # past the 60-frame windows metrics use
    labels = {"style": torch.tensor([0, 1])}
    for frames in (16, 64, 100):  # any length still scores, short windows too
        score = wide(torch.randn(2, 12, frames), labels)
        assert score.shape == (2,) and torch.isfinite(score).all()


def test_mismatched_labels_move_one_column_per_row_to_another_value():
    gen = torch.Generator().manual_seed(0)
    labels = {"style": torch.arange(400) % 7, "content": torch.arange(400) % 10, "actor": torch.zeros(400, dtype=torch.long)}
    wrong = mismatched_labels(labels, {"style": 7, "content": 10, "actor": 1}, gen)
    moved = torch.stack([wrong[k] != labels[k] for k in ("style", "content")])
    assert (moved.sum(0) == 1).all()                       # every row wrong in exactly one column
    assert 150 < moved[0].sum() < 250                       # either column, about as often
    assert torch.equal(wrong["actor"], labels["actor"])     # a column with one value cannot be wrong
    assert all(((wrong[k] >= 0) & (wrong[k] < n)).all() for k, n in (("style", 7), ("content", 10)))
    assert mismatched_labels({"actor": labels["actor"]}, {"actor": 1}, gen) is None
    assert mismatched_labels({}, {}, gen) is None           # --condition none: nothing to get wrong
