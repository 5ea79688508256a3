"""The critic's forward kinematics (trainer/fk.py) agrees with the numpy motion core."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from blender_ganim.core import features  # noqa: E402
from blender_ganim.core import rotations as rot  # noqa: E402
from trainer.fk import PoseFK  # noqa: E402
from trainer.models import Discriminator  # noqa: E402


@pytest.fixture(scope="module")
def walk(walk_fk):
    return walk_fk


def heading_frame(motion, spec):
    """Numpy truth: joint positions relative to the root's ground point and world velocities, both in the heading frame."""
    grot, gpos = motion.global_transforms()
    r = spec["root"]
    joints = [r] + spec["body"]
    yaw_inv = rot.yaw_quat(-features._heading(grot[:, r], np.asarray(spec["across"])))
    mpu = spec["meters_per_unit"]
    rel = gpos[:, joints] - gpos[:, r:r + 1] * np.array([1.0, 0.0, 1.0])
    pos = rot.quat_apply(yaw_inv[:, None], rel) * mpu
    vel = rot.quat_apply(yaw_inv[:-1, None], np.diff(gpos[:, joints], axis=0)) * mpu * motion.fps
    return pos, vel


def test_positions_and_velocities_match_the_numpy_core(walk):
    motion, spec, fk, xn = walk
    f = xn * fk.std + fk.mean
    pos = fk.positions(f)
    vel = fk.velocities(f, pos)
    want_pos, want_vel = heading_frame(motion, spec)
    np.testing.assert_allclose(pos[0].numpy(), want_pos, atol=1e-5)
    np.testing.assert_allclose(vel[0, :-1].numpy(), want_vel, atol=1e-4)
    assert np.abs(want_vel).max() > 0.5  # a walk: the velocities checked are not all near zero


def test_critic_with_fk_branch_sees_foot_sliding(walk):
    """Moving the root forward while the legs stay put changes only the FK channels' velocities."""
    motion, spec, fk, xn = walk
    out = fk(xn)
    assert out.shape == (1, fk.channels, motion.frames)
    slid = xn.clone()
    slid[:, 8] += 0.5 / fk.std[8, 0]         # half a file unit per frame faster, same poses
    moved = fk(slid)
    J = fk.channels // 6
    assert torch.allclose(moved[:, :3 * J], out[:, :3 * J])       # positions unchanged
    assert (moved[:, 3 * J:] - out[:, 3 * J:]).abs().max() > 1e-3  # velocities see it
    D = Discriminator(xn.shape[1], {"style": 3}, hidden=16, spectral=False, fk=fk.float())
    score = D(xn.float(), {"style": torch.tensor([1])})
    assert score.shape == (1,) and torch.isfinite(score).all()
    score.backward()
    assert D.fk_convs[0].weight.grad.abs().sum() > 0


def test_velocity_scale_weighs_the_velocity_channels_alone(walk):
    """--d-fk-vel-scale: the critic's velocity channels grow with the scale, its positions do not."""
    motion, spec, fk, xn = walk
    mean, std = fk.mean[:, 0].double().numpy(), fk.std[:, 0].double().numpy()  # another test casts fk to float
    fk1 = PoseFK(motion.skeleton, spec, mean, std, motion.fps).double()
    fk4 = PoseFK(motion.skeleton, spec, mean, std, motion.fps, vel_scale=4 * fk1.vel_scale).double()
    a, b = fk1(xn), fk4(xn)
    J = fk.channels // 6
    assert torch.allclose(b[:, :3 * J], a[:, :3 * J])
    assert torch.allclose(b[:, 3 * J:], 4 * a[:, 3 * J:])
    assert a[:, 3 * J:].abs().max() > 0.1
