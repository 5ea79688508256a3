"""rotations.py against scipy's Rotation as the oracle."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation as R

from blender_ganim.core import rotations as rot

RNG = np.random.default_rng(7)


def random_quats(n):
    return rot.quat_normalize(RNG.normal(size=(n, 4)))


def to_scipy(q):
    return R.from_quat(q[..., [1, 2, 3, 0]])


def same_rotation(a, b, tol=1e-9):
    return np.all(np.abs(np.abs(np.sum(a * b, axis=-1)) - 1.0) < tol)


def test_quat_matrix_against_scipy():
    q = random_quats(500)
    np.testing.assert_allclose(rot.quat_to_matrix(q), to_scipy(q).as_matrix(), atol=1e-12)
    m = to_scipy(q).as_matrix()
    assert same_rotation(rot.matrix_to_quat(m), q)


def test_matrix_to_quat_near_180_degrees():
    axes = rot.quat_normalize(np.concatenate([np.zeros((6, 1)), RNG.normal(size=(6, 3))], -1))[:, 1:]
    axes = np.concatenate([axes, np.eye(3)])
    for angle in (np.pi, np.pi - 1e-9, np.pi - 1e-4):
        m = R.from_rotvec(axes * angle).as_matrix()
        q = rot.matrix_to_quat(m)
        np.testing.assert_allclose(rot.quat_to_matrix(q), m, atol=1e-9)


def test_mul_apply_inverse():
    a, b = random_quats(200), random_quats(200)
    ab = rot.quat_mul(a, b)
    assert same_rotation(ab, (to_scipy(a) * to_scipy(b)).as_quat()[:, [3, 0, 1, 2]])
    v = RNG.normal(size=(200, 3))
    np.testing.assert_allclose(rot.quat_apply(a, v), to_scipy(a).apply(v), atol=1e-12)
    np.testing.assert_allclose(rot.quat_apply(rot.quat_inv(a), rot.quat_apply(a, v)), v, atol=1e-12)


@pytest.mark.parametrize("order", rot.EULER_ORDERS)
def test_euler_all_orders_against_scipy(order):
    e = RNG.uniform(-np.pi, np.pi, size=(400, 3))
    e[:, 1] = RNG.uniform(-np.pi / 2 + 0.01, np.pi / 2 - 0.01, size=400)
    q = rot.euler_to_quat(e, order)
    assert same_rotation(q, R.from_euler(order, e).as_quat()[:, [3, 0, 1, 2]])
    np.testing.assert_allclose(rot.quat_to_euler(q, order), R.from_euler(order, e).as_euler(order), atol=1e-9)
    np.testing.assert_allclose(rot.quat_to_euler(q, order), e, atol=1e-9)


@pytest.mark.parametrize("order", rot.EULER_ORDERS)
def test_euler_gimbal_lock_round_trip(order):
    e = RNG.uniform(-np.pi, np.pi, size=(50, 3))
    e[:25, 1] = np.pi / 2
    e[25:, 1] = -np.pi / 2
    m = rot.euler_to_matrix(e, order)
    back = rot.matrix_to_euler(m, order)
    np.testing.assert_allclose(rot.euler_to_matrix(back, order), m, atol=1e-7)
    assert np.allclose(back[:, 2], 0.0)


def test_sixd_round_trip_and_gram_schmidt():
    q = random_quats(300)
    m = rot.quat_to_matrix(q)
    np.testing.assert_allclose(rot.sixd_to_matrix(rot.matrix_to_6d(m)), m, atol=1e-12)
    noisy = rot.matrix_to_6d(m) + RNG.normal(scale=0.05, size=(300, 6))
    back = rot.sixd_to_matrix(noisy)
    np.testing.assert_allclose(back @ np.swapaxes(back, -1, -2), np.broadcast_to(np.eye(3), back.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(back), 1.0, atol=1e-12)


def test_axis_angle_against_scipy_including_tiny_and_pi():
    aa = RNG.normal(size=(300, 3))
    aa[:10] *= 1e-10
    aa[10:20] = aa[10:20] / np.linalg.norm(aa[10:20], axis=-1, keepdims=True) * np.pi
    q = rot.axis_angle_to_quat(aa)
    assert same_rotation(q, R.from_rotvec(aa).as_quat()[:, [3, 0, 1, 2]])
    back = rot.quat_to_axis_angle(q)
    assert same_rotation(rot.axis_angle_to_quat(back), q)
    np.testing.assert_allclose(back[20:], R.from_quat(to_scipy(q).as_quat()).as_rotvec()[20:], atol=1e-9)


def test_slerp_against_scipy():
    from scipy.spatial.transform import Slerp
    a, b = random_quats(1)[0], random_quats(1)[0]
    t = np.linspace(0, 1, 11)
    ours = rot.quat_slerp(np.broadcast_to(a, (11, 4)), np.broadcast_to(b, (11, 4)), t)
    ref = Slerp([0, 1], R.from_quat(np.stack([a, b])[:, [1, 2, 3, 0]]))(t).as_quat()[:, [3, 0, 1, 2]]
    assert same_rotation(ours, ref)
    same = rot.quat_slerp(a, a, 0.3)
    assert same_rotation(same, a)


def test_unroll_makes_sign_continuous():
    q = random_quats(1)[0]
    seq = np.stack([q, -q, q, -q])
    out = rot.quat_unroll(seq)
    assert np.all(np.sum(out[1:] * out[:-1], -1) > 0)


def test_between_and_unknown_order():
    u, v = RNG.normal(size=(50, 3)), RNG.normal(size=(50, 3))
    q = rot.quat_between(u, v)
    got = rot.quat_apply(q, u)
    np.testing.assert_allclose(got / np.linalg.norm(got, axis=-1, keepdims=True),
                               v / np.linalg.norm(v, axis=-1, keepdims=True), atol=1e-9)
    q = rot.quat_between(np.array([1.0, 0, 0]), np.array([-1.0, 0, 0]))
    np.testing.assert_allclose(rot.quat_apply(q, np.array([1.0, 0, 0])), [-1, 0, 0], atol=1e-9)
    with pytest.raises(ValueError, match="unknown Euler order"):
        rot.euler_to_quat(np.zeros(3), "XXY")


def test_the_cross_product_is_numpys():
    rng = np.random.default_rng(0)
    for a, b in ((rng.normal(size=(30, 25, 3)), rng.normal(size=(30, 25, 3))), (rng.normal(size=(5, 3)), [0.0, 1.0, 0.0]),
                 (rng.normal(size=3), rng.normal(size=(4, 3)))):
        np.testing.assert_allclose(rot.cross(a, b), np.cross(a, b), rtol=1e-12, atol=1e-12)
    mixed = rng.normal(size=(5, 3)).astype(np.float32)
    assert rot.cross(mixed, np.array([0.0, 1.0, 0.0])).dtype == np.cross(mixed, np.array([0.0, 1.0, 0.0])).dtype
