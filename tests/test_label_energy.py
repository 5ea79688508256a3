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
    assert label_energy.energy(fk, xn, sigma=0).item() == pytest.approx(speed, rel=1e-6)
    # the sampling's low-pass barely slows a real walk, but takes out frame-to-frame noise
    smooth = label_energy.energy(fk, xn).item()
    assert 0.9 * speed < smooth < speed
    shaky = xn + 0.3 * torch.randn(xn.shape, generator=torch.Generator().manual_seed(0), dtype=xn.dtype)
    raw_gain = label_energy.energy(fk, shaky, sigma=0).item() - speed
    assert raw_gain > 0.3 and label_energy.energy(fk, shaky).item() - smooth < 0.3 * raw_gain
    still = xn[..., :1].repeat(1, 1, 30)
    still[:, 7:10] = (-fk.mean[7:10] / fk.std[7:10])[None]  # no travel, no turn
    assert label_energy.energy(fk, still).item() == pytest.approx(label_energy.EPS_M_S)


def test_cell_targets_are_the_mean_energy_of_each_label_combination(walk_fk):
    _, _, fk, xn = walk_fk
    w = windows_of(xn, range(0, 200, 20))                       # 10 windows
    labels = {"style": torch.tensor([0] * 9 + [1]), "content": torch.tensor([1] * 9 + [0])}
    targets, known = label_energy.cell_targets(fk, w, labels, {"style": 2, "content": 3})
    assert targets.shape == known.shape == (6,)
    assert known.tolist() == [False, True, False, False, False, False]  # (0, 1) has 9 windows, (1, 0) only 1
    e = label_energy.energy(fk, w)
    assert targets[1].item() == pytest.approx(e[:9].mean().item(), rel=1e-6)


def test_a_label_off_by_a_factor_costs_its_squared_relative_deviation(walk_fk):
    _, _, fk, xn = walk_fk
    w = windows_of(xn, [0, 0, 0])                                # one energy, three times
    e = label_energy.energy(fk, w).detach()
    sizes, known = {"style": 1}, torch.tensor([True])
    labels = {"style": torch.zeros(3, dtype=torch.long)}
    assert label_energy.energy_loss(fk, w, labels, sizes, e[:1], known).item() == pytest.approx(0, abs=1e-12)
    off = label_energy.energy_loss(fk, w, labels, sizes, e[:1] * 1.25, known)   # 0.8x the label's speed
    assert off.item() == pytest.approx(0.04, rel=1e-6)
    content = {**labels, "content": torch.tensor([0, 0, 1])}        # content adds its own groups
    both = label_energy.energy_loss(fk, w, content, {"style": 1, "content": 2}, (e[0] * torch.tensor([1.25, 1.25])).to(e),
                                    torch.tensor([True, True]))
    assert both.item() == pytest.approx(0.04 + 0.04 * 2 / 3, rel=1e-6)  # the lone content-1 window adds nothing
    unknown = label_energy.energy_loss(fk, w, labels, sizes, e[:1] * 1.25, torch.tensor([False]))
    assert unknown.item() == 0  # a label combination without enough real windows has no target


def test_a_window_is_pulled_by_the_others_deviation_not_its_own(walk_fk):
    """So windows of one label may spread as real ones do: with the other window on target, a window
    far off it gets no pull, and the charge does not grow with the spread."""
    _, _, fk, xn = walk_fk
    w = windows_of(xn, [0, 150]).clone().requires_grad_(True)
    e = label_energy.energy(fk, w).detach()
    assert abs(e[0] / e[1] - 1) > 0.05                            # two different energies
    labels = {"style": torch.zeros(2, dtype=torch.long)}
    loss = label_energy.energy_loss(fk, w, labels, {"style": 1}, e[1:], torch.tensor([True]))
    loss.backward()
    assert loss.item() == pytest.approx(0, abs=1e-12)
    assert w.grad[0].abs().max() == 0 and w.grad[1].abs().max() > 0


def test_the_pull_reaches_the_joints_and_the_travel(walk_fk):
    _, _, fk, xn = walk_fk
    w = windows_of(xn, [0, 100]).clone().requires_grad_(True)
    labels = {"style": torch.zeros(2, dtype=torch.long)}
    label_energy.energy_loss(fk, w, labels, {"style": 1}, torch.tensor([2.0]).to(w), torch.tensor([True])).backward()
    assert w.grad[:, 7:9].abs().max() > 0     # root travel
    assert w.grad[:, 10:].abs().max() > 0     # joint rotations


def test_descending_it_moves_a_label_to_its_energy_and_keeps_the_spread(walk_fk):
    """Windows of one label start at the walk's energy with the target 1.5x faster: the group's mean
    energy reaches the target, and the windows stay as far apart in energy as they were."""
    _, _, fk, xn = walk_fk
    fk = fk.float()
    w = windows_of(xn, [0, 50, 100, 150, 200], length=32).float().clone().requires_grad_(True)
    labels = {"style": torch.zeros(5, dtype=torch.long)}
    e0 = label_energy.energy(fk, w).detach()
    target = (e0.mean() * 1.5)[None]
    opt = torch.optim.Adam([w], lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        label_energy.energy_loss(fk, w, labels, {"style": 1}, target, torch.tensor([True])).backward()
        opt.step()
    e = label_energy.energy(fk, w).detach()
    assert abs(e.mean() / target - 1) < 0.05, (e.mean(), target)
    assert (e / e.mean()).std() > 0.7 * (e0 / e0.mean()).std(), (e0, e)
