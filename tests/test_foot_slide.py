"""The planted-feet term (trainer/foot_slide.py): sliding costs, standing or lifting does not pay."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trainer import foot_slide  # noqa: E402


@pytest.fixture(scope="module")
def walk(walk_fk):
    motion, spec, fk, xn = walk_fk
    feet = foot_slide.foot_groups(motion.skeleton, spec)
    return motion, spec, fk, xn, feet, foot_slide.floors(fk, xn, feet).double()


def test_each_foot_is_its_ankle_and_toes(walk):
    motion, spec, fk, _, feet, floor = walk
    body = [spec["root"]] + spec["body"]
    names = [[motion.skeleton.names[body[s]] for s in g] for g in feet]
    assert names == [["Foot_L", "Toes_L"], ["Foot_R", "Toes_R"]]
    assert floor.shape == (4,) and (floor[[0, 2]] > floor[[1, 3]]).all()  # ankles rest higher than toes


def test_a_real_walk_costs_little_and_the_same_walk_sliding_costs_more(walk):
    motion, spec, fk, xn, feet, floor = walk
    every = torch.ones(1, 1, xn.shape[-1], dtype=xn.dtype)
    real = foot_slide.slide_loss(fk, xn, feet, floor, every).item()
    slid = xn.clone()
    slid[:, 8] += 0.8 / spec["meters_per_unit"] / motion.fps / fk.std[8, 0]  # 0.8 m/s more, same poses
    sliding = foot_slide.slide_loss(fk, slid, feet, floor, every).item()
    # the real walk pays for its landings (a foot low and still faster than 0.5 m/s for a frame or two)
    assert sliding > 2 * real and sliding > real + 0.15, (real, sliding)
    # only the frames the weight selects count: none selected, nothing to pay
    assert foot_slide.slide_loss(fk, slid, feet, floor, 0 * every).item() == 0


def test_lifting_feet_does_not_pay(walk):
    """Whether a foot is down is not differentiated: the root's height gets no gradient, and feet
    lifted clear of the floor cost nothing however fast they move."""
    motion, spec, fk, xn, feet, floor = walk
    every = torch.ones(1, 1, xn.shape[-1], dtype=xn.dtype)
    slid = xn.clone()
    slid[:, 8] += 0.6 / spec["meters_per_unit"] / motion.fps / fk.std[8, 0]
    slid.requires_grad_(True)
    foot_slide.slide_loss(fk, slid, feet, floor, every).backward()
    assert slid.grad[:, 6].abs().max() == 0          # root height
    assert slid.grad[:, 10:].abs().max() > 0          # the legs' rotations do get pushed
    lifted = slid.detach().clone()
    lifted[:, 6] += 0.5 / spec["meters_per_unit"] / fk.std[6, 0]
    assert foot_slide.slide_loss(fk, lifted, feet, floor, every).item() == 0


def test_fast_low_feet_are_left_to_the_critic(walk):
    """Past FAST_M_S a low foot is swinging or dragging: the charge stops growing there."""
    motion, spec, fk, xn, feet, floor = walk
    every = torch.ones(1, 1, xn.shape[-1], dtype=xn.dtype)
    step = 1.0 / spec["meters_per_unit"] / motion.fps / fk.std[8, 0]
    costs = []
    for speed in (3, 6):
        slid = xn.clone()
        slid[:, 8] += speed * step
        costs.append(foot_slide.slide_loss(fk, slid, feet, floor, every).item())
    cap = foot_slide.FAST_M_S - foot_slide.SPEED_M_S
    assert costs[0] == pytest.approx(costs[1]) and 0 < costs[0] <= cap
    assert np.isfinite(costs).all()


def test_a_faster_top_charges_low_feet_up_to_it(walk):
    """``fast`` (--foot-fast) moves the band's top: a low foot far past both tops pays the whole band,
    1.5 m/s a frame with the top at 2 m/s against 0.5 at the default 1 m/s, on the same frames."""
    motion, spec, fk, xn, feet, floor = walk
    every = torch.ones(1, 1, xn.shape[-1], dtype=xn.dtype)
    slid = xn.clone()
    slid[:, 8] += 6.0 / spec["meters_per_unit"] / motion.fps / fk.std[8, 0]
    default = foot_slide.slide_loss(fk, slid, feet, floor, every).item()
    wider = foot_slide.slide_loss(fk, slid, feet, floor, every, fast=2.0).item()
    assert default > 0 and wider == pytest.approx(3 * default, rel=1e-6)
