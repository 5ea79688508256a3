"""The labels' energy term (trainer/label_energy.py): each label must move as much as real windows of
it do, on average, while windows sharing a label may spread."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trainer import label_energy  # noqa: E402


def windows_of(xn, starts, length=64):
    return torch.cat([xn[..., s:s + length] for s in starts])


def test_energy_is_the_mean_joint_speed_of_the_decoded_clip(walk_fk):
    motion, spec, fk, xn = walk_fk
    p = motion.global_positions() * spec["meters_per_unit"]
    body = [spec["root"]] + spec["body"]
    speed = np.linalg.norm(np.diff(p[:, body], axis=0), axis=-1).mean() * motion.fps
    assert label_energy.log_energy(fk, xn, sigma=0).exp().item() == pytest.approx(speed, rel=1e-6)
    # the sampling's low-pass barely slows a real walk, but takes out frame-to-frame noise
    smooth = label_energy.log_energy(fk, xn).exp().item()
    assert 0.9 * speed < smooth < speed
    shaky = xn + 0.3 * torch.randn(xn.shape, generator=torch.Generator().manual_seed(0), dtype=xn.dtype)
    raw_gain = label_energy.log_energy(fk, shaky, sigma=0).exp().item() - speed
    assert raw_gain > 0.3 and label_energy.log_energy(fk, shaky).exp().item() - smooth < 0.3 * raw_gain
    still = xn[..., :1].repeat(1, 1, 30)
    still[:, 7:10] = (-fk.mean[7:10] / fk.std[7:10])[None]  # no travel, no turn
    assert label_energy.log_energy(fk, still).exp().item() == pytest.approx(label_energy.EPS_M_S)


def test_cell_targets_are_the_mean_log_energy_of_each_label_combination(walk_fk):
    _, _, fk, xn = walk_fk
    w = windows_of(xn, range(0, 200, 20))                       # 10 windows
    labels = {"style": torch.tensor([0] * 9 + [1]), "content": torch.tensor([1] * 9 + [0])}
    targets, known = label_energy.cell_targets(fk, w, labels, {"style": 2, "content": 3})
    assert targets.shape == known.shape == (6,)
    assert known.tolist() == [False, True, False, False, False, False]  # (0, 1) has 9 windows, (1, 0) only 1
    e = label_energy.log_energy(fk, w)
    assert targets[1].item() == pytest.approx(e[:9].mean().item(), rel=1e-6)


def test_windows_sharing_a_label_may_spread_but_their_mean_is_pulled(walk_fk):
    _, _, fk, xn = walk_fk
    w = windows_of(xn, [0, 100, 200])
    e = label_energy.log_energy(fk, w).detach()
    sizes = {"style": 1}
    labels = {"style": torch.zeros(3, dtype=torch.long)}
    known = torch.tensor([True])
    on_mean = label_energy.energy_loss(fk, w, labels, sizes, e.mean()[None], known)
    assert e.std() > 0.01 and on_mean.item() == pytest.approx(0, abs=1e-12)  # they differ, their mean is right
    off = label_energy.energy_loss(fk, w, labels, sizes, e.mean()[None] + 0.3, known)
    assert off.item() == pytest.approx(0.09, rel=1e-6)
    two_columns = label_energy.energy_loss(fk, w, {**labels, "content": torch.tensor([0, 0, 1])},
                                           {"style": 1, "content": 2}, (e.mean() + torch.tensor([0.3, 0.3]))
                                           .to(e), torch.tensor([True, True]))
    assert two_columns.item() > off.item()  # content adds its own groups' deviations
    unknown = label_energy.energy_loss(fk, w, labels, sizes, e.mean()[None] + 0.3, torch.tensor([False]))
    assert unknown.item() == 0  # a label combination without enough real windows has no target


def test_the_pull_reaches_the_joints_and_the_travel(walk_fk):
    _, _, fk, xn = walk_fk
    w = windows_of(xn, [0, 100]).clone().requires_grad_(True)
    labels = {"style": torch.zeros(2, dtype=torch.long)}
    label_energy.energy_loss(fk, w, labels, {"style": 1}, torch.tensor([2.0]).to(w), torch.tensor([True])).backward()
    assert w.grad[:, 7:9].abs().max() > 0     # root travel
    assert w.grad[:, 10:].abs().max() > 0     # joint rotations
