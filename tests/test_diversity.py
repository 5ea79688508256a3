"""The anti-collapse term (trainer/diversity.py): its target comes from real same-label takes."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trainer.diversity import (diversity_loss, joint_space, nearest_draw_loss, nearest_of_loss,  # noqa: E402
                               pair_spread, same_label_spread, same_label_windows, unconditioned_rows)


def test_spread_compares_takes_with_the_same_labels_only():
    # label 0: two takes 1 apart; label 1: two takes 3 apart; across labels they are 100 apart
    clips = [np.zeros((80, 4)), np.ones((80, 4)), np.full((80, 4), 100.0), np.full((80, 4), 103.0)]
    ids = {"style": np.array([0, 0, 1, 1])}
    spread = same_label_spread(clips, ids, window=64, std=np.full(4, 0.5), pairs=400)
    assert spread == pytest.approx((1 / 0.5 + 3 / 0.5) / 2, rel=0.15)


def test_spread_skips_short_takes_and_falls_back_to_any_pair():
    clips = [np.zeros((80, 2)), np.ones((80, 2)), np.full((10, 2), 50.0)]
    ids = {"style": np.array([0, 1, 1])}  # no label has two long takes
    assert same_label_spread(clips, ids, window=64, std=np.ones(2)) == pytest.approx(1.0)
    assert same_label_spread(clips[:1], ids, window=64, std=np.ones(2)) == 0.0


class ArmOnly(torch.nn.Module):
    """A stand-in for PoseFK whose 'joints' see channel 0 (an arm) three times over and channel 1 (a spine link) not at all."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1))

    def forward(self, x):
        return 3 * x[:, :1]


def test_joint_space_keeps_real_spread_and_ignores_channels_that_do_not_move_joints():
    # real takes with the same labels differ in both channels, by 1 and 2 (std 1)
    clips = [np.zeros((80, 2)), np.tile([1.0, 2.0], (80, 1)), np.full((80, 2), 50.0), np.tile([51.0, 52.0], (80, 1))]
    ids = {"style": np.array([0, 0, 1, 1])}
    mean, std = np.zeros(2), np.ones(2)
    space = joint_space(ArmOnly(), same_label_windows(clips, ids, 64), mean, std)
    real = [torch.as_tensor(np.stack([c[:64]]), dtype=torch.float32).transpose(1, 2) for c in clips[:2]]
    features = same_label_spread(clips, ids, window=64, std=std)
    assert features == pytest.approx(1.5)
    assert pair_spread(space(real[0]), space(real[1])).item() == pytest.approx(features)  # the same number as in features
    # two draws that differ only in the spine link: far apart in features, not at all in joints
    a, b = torch.zeros(1, 2, 64), torch.zeros(1, 2, 64)
    b[:, 1] = 3.0
    assert pair_spread(a, b).item() == pytest.approx(1.5) and pair_spread(space(a), space(b)).item() == 0.0
    # a moved arm counts: twice the real arm difference reads as twice the real spread
    b = torch.zeros(1, 2, 64)
    b[:, 0] = 2.0
    assert pair_spread(space(a), space(b)).item() == pytest.approx(2 * features)


def test_loss_pushes_draws_apart_until_the_target_and_no_further():
    a = torch.zeros(2, 3, 8, requires_grad=True)
    b = torch.full((2, 3, 8), 0.1)
    loss, spread = diversity_loss(a, b, target=0.5)
    assert spread.item() == pytest.approx(0.1) and loss.item() == pytest.approx(0.4)
    loss.backward()
    assert (a.grad > 0).all()  # a descent step lowers a: away from b
    loss, _ = diversity_loss(torch.zeros(2, 3, 8), torch.ones(2, 3, 8), target=0.5)
    assert loss.item() == 0.0


def test_nearest_draw_loss_pulls_only_the_nearer_draw():
    real = torch.zeros(2, 3, 16)
    near = torch.full((2, 3, 16), 0.2, requires_grad=True)
    far = torch.full((2, 3, 16), -0.7, requires_grad=True)
    loss = nearest_draw_loss(real, far, near)
    assert loss.item() == pytest.approx(0.2)
    loss.backward()
    assert (near.grad > 0).all()  # a descent step lowers the near draw: toward the real window
    assert far.grad is None or (far.grad == 0).all()  # the other draw stays free


def test_nearest_of_many_draws_is_nearer_and_only_it_gets_a_gradient():
    """A toy generator whose draw is its latent plus a shift: the nearest of 64 draws lies far
    nearer the real window (zeros) than one draw does, and the shift gets the chosen draw's gradient."""
    torch.manual_seed(0)
    real, noise, latent = torch.zeros(16, 3, 16), torch.zeros(16, 1, 4), torch.zeros(16, 1)
    shift = torch.zeros((), requires_grad=True)
    calls = []
    def draw(n, lat):
        calls.append(torch.is_grad_enabled())
        return (lat[:, :, None] + shift).expand(-1, 3, 16)
    one, many = (nearest_of_loss(draw, real, noise, latent, k) for k in (1, 64))
    assert one.item() > 0.4 and many.item() < 0.08   # E|N(0,1)| = 0.80; min of 64 |N(0,1)| ~ 0.02
    assert calls.count(True) == 2 and calls.count(False) == 65  # k passes without gradients, one with
    many.backward()
    assert shift.grad is not None and shift.grad.abs() <= 1


def test_frame_to_frame_noise_does_not_count_as_diversity():
    t = torch.arange(64.0)
    flicker = 0.5 * (-1.0) ** t                     # alternating every frame: averages away
    drift = torch.linspace(0.0, 1.0, 64)             # a slow difference: kept
    base = torch.zeros(1, 2, 64)
    _, spread = diversity_loss(base + flicker, base, target=1.0)
    assert spread.item() < 1e-6
    _, spread = diversity_loss(base + drift, base, target=1.0)
    assert spread.item() == pytest.approx(0.5, abs=0.03)


def test_numpy_and_torch_pooling_agree():
    from trainer.diversity import _pool
    x = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
    pooled = torch.nn.functional.avg_pool1d(torch.from_numpy(x.T[None]), 8, 4)[0].T.numpy()
    assert np.allclose(_pool(x), pooled, atol=1e-6)


def test_rows_with_known_frames_or_optionally_a_root_path_are_not_pushed_apart():
    mask = torch.zeros(4, 1, 6)
    traj_mask = torch.zeros(4, 1, 6)
    mask[1, :, :2] = 1       # continues a clip
    traj_mask[2] = 1         # follows a given root path
    mask[3, :, 5] = 1        # one key pose ...
    traj_mask[3] = 1         # ... and a path
    assert unconditioned_rows(mask, traj_mask).tolist() == [0]
    assert unconditioned_rows(mask).tolist() == [0, 2]  # --diversity-on-paths, the default
