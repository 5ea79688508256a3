"""Rotation math as small vectorised numpy functions over ``[..., k]`` arrays.

Conventions (used everywhere in blender_ganim):

* quaternions are ``(w, x, y, z)``, unit length, acting on column vectors;
* matrices are ``[..., 3, 3]`` and rotate column vectors: ``v' = R @ v``;
* Euler angles are in radians and *intrinsic*, in the order the letters are
  written: ``order="ZXY"`` means ``R = Rz(a) @ Rx(b) @ Ry(c)``, which is how a
  BVH ``Zrotation Xrotation Yrotation`` channel list composes (and what
  ``scipy.spatial.transform.Rotation.from_euler("ZXY", ...)`` computes);
* the 6D form (Zhou et al. 2019) is the first two matrix columns, ``[..., 6]``
  laid out as ``(c0x, c0y, c0z, c1x, c1y, c1z)``.
"""

import numpy as np

_AXIS = {"X": 0, "Y": 1, "Z": 2}
EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


# ----------------------------------------------------------------- quaternions

def quat_identity(shape=()):
    q = np.zeros(tuple(shape) + (4,))
    q[..., 0] = 1.0
    return q


def quat_normalize(q, eps=1e-12):
    return q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), eps)


def quat_conj(q):
    return q * np.array([1.0, -1.0, -1.0, -1.0])


quat_inv = quat_conj  # for unit quaternions


def quat_mul(a, b):
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``)."""
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def cross(a, b):
    """Cross product over the last axis of ``[..., 3]`` arrays (broadcasting), as ``np.cross`` gives it:
    its own axis handling made it 7x slower on a clip's joints (300 x 25 vectors: 490 against 66 us)."""
    a, b = np.asarray(a), np.asarray(b)
    dtype = np.result_type(a, b)             # as np.cross: float32 x float64 is float64
    a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def quat_apply(q, v):
    """Rotate vectors ``v [..., 3]`` by unit quaternions ``q [..., 4]``."""
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * cross(u, v)
    return v + w * t + cross(u, t)


def quat_unroll(q, axis=0):
    """Flip signs along ``axis`` (time) so consecutive quaternions stay in one hemisphere.

    Vectorised: each frame's flip is the running product of the raw neighbour-sign changes.
    """
    q = np.moveaxis(np.array(q, dtype=np.float64, copy=True), axis, 0)
    if len(q) > 1:
        sign = np.where(np.sum(q[1:] * q[:-1], axis=-1) < 0.0, -1.0, 1.0)
        q[1:] *= np.cumprod(sign, axis=0)[..., None]
    return np.moveaxis(q, 0, axis)


def quat_slerp(a, b, t, eps=1e-8):
    """Spherical interpolation from ``a`` (t=0) to ``b`` (t=1) along the short arc."""
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0.0, -b, b)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < eps
    safe = np.where(near, 1.0, sin_theta)
    wa = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    wb = np.where(near, t, np.sin(t * theta) / safe)
    return quat_normalize(wa * a + wb * b)


def quat_between(u, v, eps=1e-12):
    """Shortest-arc rotation taking direction ``u`` onto direction ``v``."""
    u = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), eps)
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)
    w = 1.0 + np.sum(u * v, axis=-1, keepdims=True)
    xyz = cross(u, v)
    # Opposite vectors: any axis orthogonal to u.
    opposite = w[..., 0] < 1e-9
    if np.any(opposite):
        alt = cross(u, np.array([1.0, 0.0, 0.0]))
        small = np.linalg.norm(alt, axis=-1) < 1e-6
        alt = np.where(small[..., None], cross(u, np.array([0.0, 1.0, 0.0])), alt)
        xyz = np.where(opposite[..., None], alt, xyz)
        w = np.where(opposite[..., None], 0.0, w)
    return quat_normalize(np.concatenate([w, xyz], axis=-1))


# -------------------------------------------------------------------- matrices

def quat_to_matrix(q):
    q = quat_normalize(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    m = np.stack([
        1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
        2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
        2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
    ], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def _shepperd_map():
    """The nine entries of a rotation matrix ([9, 16], plus a constant [16]) -> the symmetric 4x4
    matrix whose row i is 4 q_i (w, x, y, z) (Bar-Itzhack); its diagonal is (1 + trace, 1 + m00 - m11 - m22, ...)."""
    e = {(i, j): 3 * i + j for i in range(3) for j in range(3)}
    one = 9
    rows = {(0, 0): {e[0, 0]: 1, e[1, 1]: 1, e[2, 2]: 1, one: 1},
            (1, 1): {e[0, 0]: 1, e[1, 1]: -1, e[2, 2]: -1, one: 1},
            (2, 2): {e[0, 0]: -1, e[1, 1]: 1, e[2, 2]: -1, one: 1},
            (3, 3): {e[0, 0]: -1, e[1, 1]: -1, e[2, 2]: 1, one: 1},
            (0, 1): {e[2, 1]: 1, e[1, 2]: -1}, (0, 2): {e[0, 2]: 1, e[2, 0]: -1}, (0, 3): {e[1, 0]: 1, e[0, 1]: -1},
            (1, 2): {e[0, 1]: 1, e[1, 0]: 1}, (1, 3): {e[0, 2]: 1, e[2, 0]: 1}, (2, 3): {e[1, 2]: 1, e[2, 1]: 1}}
    k = np.zeros((10, 4, 4))
    for (i, j), terms in rows.items():
        for entry, sign in terms.items():
            k[entry, i, j] = k[entry, j, i] = sign
    k = k.reshape(10, 16)
    matrix, constant = np.ascontiguousarray(k[:9]), k[9].copy()
    matrix.setflags(write=False)
    constant.setflags(write=False)
    return matrix, constant


_SHEPPERD, _SHEPPERD_ONE = _shepperd_map()


def matrix_to_quat(m):
    """Robust conversion (Shepperd's method: the row of the largest diagonal term, which is the
    largest of trace, m00, m11, m22). One small product builds all four candidate rows; stacking
    them entry by entry made this the dearest step of decoding a clip."""
    m = np.asarray(m, dtype=np.float64)
    shape = m.shape[:-2]
    flat = m.reshape(-1, 9)
    k = flat @ _SHEPPERD + _SHEPPERD_ONE   # (a contiguous right side: 10x faster than einsum's loop here)
    pick = np.argmax(k[:, ::5], axis=-1)                             # the diagonal: 0, 5, 10, 15
    q = k.reshape(-1, 4, 4)[np.arange(len(k)), pick]
    q /= np.maximum(np.sqrt(np.einsum("ni,ni->n", q, q)), 1e-12)[:, None]
    q *= np.where(q[:, :1] < 0.0, -1.0, 1.0)
    return q.reshape(shape + (4,))


def matrix_to_6d(m):
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def sixd_to_matrix(d6, eps=1e-8):
    """Gram-Schmidt the two stored columns back into a rotation matrix."""
    d6 = np.asarray(d6)
    a, b = d6[..., :3], d6[..., 3:6]
    c0 = a / np.maximum(np.sqrt(np.einsum("...i,...i->...", a, a)), eps)[..., None]
    b = b - np.einsum("...i,...i->...", c0, b)[..., None] * c0
    c1 = b / np.maximum(np.sqrt(np.einsum("...i,...i->...", b, b)), eps)[..., None]
    out = np.empty(d6.shape[:-1] + (3, 3), dtype=c1.dtype)
    out[..., 0], out[..., 1] = c0, c1
    out[..., 2] = cross(c0, c1)
    return out


def quat_to_6d(q):
    return matrix_to_6d(quat_to_matrix(q))


def sixd_to_quat(d6):
    return matrix_to_quat(sixd_to_matrix(d6))


# ------------------------------------------------------------------ axis-angle

def axis_angle_to_quat(aa, eps=1e-12):
    """Rotation vector (axis * angle, radians) to quaternion."""
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(half)/angle, with its limit 0.5 at angle -> 0.
    k = np.where(angle < 1e-8, 0.5 - angle ** 2 / 48.0, np.sin(half) / np.maximum(angle, eps))
    return np.concatenate([np.cos(half), aa * k], axis=-1)


def quat_to_axis_angle(q):
    q = quat_normalize(q)
    q = np.where(q[..., :1] < 0.0, -q, q)
    s = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., :1])
    k = np.where(s < 1e-8, 2.0 + angle ** 2 / 12.0, angle / np.maximum(s, 1e-12))
    return q[..., 1:] * k


# ---------------------------------------------------------------------- euler

def _check_order(order):
    order = order.upper()
    if order not in EULER_ORDERS:
        raise ValueError(f"unknown Euler order {order!r}; expected one of {', '.join(EULER_ORDERS)}")
    return order


def axis_quat(axis, angle):
    """Quaternions for rotations by ``angle [...]`` about one principal axis ('X', 'Y' or 'Z')."""
    angle = np.asarray(angle, dtype=np.float64)
    q = np.zeros(angle.shape + (4,))
    q[..., 0] = np.cos(0.5 * angle)
    q[..., 1 + _AXIS[axis]] = np.sin(0.5 * angle)
    return q


def euler_to_quat(e, order):
    """Intrinsic Euler angles ``[..., 3]`` (radians, in ``order``) to quaternions."""
    order = _check_order(order)
    e = np.asarray(e, dtype=np.float64)
    q = axis_quat(order[0], e[..., 0])
    q = quat_mul(q, axis_quat(order[1], e[..., 1]))
    return quat_mul(q, axis_quat(order[2], e[..., 2]))


def euler_to_matrix(e, order):
    return quat_to_matrix(euler_to_quat(e, order))


def matrix_to_euler(m, order):
    """Intrinsic Euler angles for rotation matrices; at gimbal lock the last angle is 0."""
    order = _check_order(order)
    i, j, k = (_AXIS[c] for c in order)
    s = 1.0 if (j - i) % 3 == 1 else -1.0  # +1 for cyclic (even) orders
    m = np.asarray(m, dtype=np.float64)
    sin_b = np.clip(s * m[..., i, k], -1.0, 1.0)
    b = np.arcsin(sin_b)
    locked = np.abs(sin_b) > 1.0 - 1e-9
    a = np.arctan2(-s * m[..., j, k], m[..., k, k])
    c = np.arctan2(-s * m[..., i, j], m[..., i, i])
    a_locked = np.arctan2(s * m[..., k, j], m[..., j, j])
    a = np.where(locked, a_locked, a)
    c = np.where(locked, 0.0, c)
    return np.stack([a, b, c], axis=-1)


def quat_to_euler(q, order):
    return matrix_to_euler(quat_to_matrix(q), order)


def euler_unroll(e, axis=0):
    """Remove 2*pi jumps along ``axis`` so keyed Euler curves stay continuous."""
    return np.unwrap(e, axis=axis)


# ------------------------------------------------------------------ utilities

def quat_angle(a, b):
    """Angle (radians) of the rotation taking ``a`` to ``b``."""
    d = np.abs(np.sum(quat_normalize(a) * quat_normalize(b), axis=-1))
    return 2.0 * np.arccos(np.clip(d, -1.0, 1.0))


def yaw_quat(angle, up_axis=1):
    """Rotation by ``angle`` about the vertical axis (Y by default)."""
    return axis_quat("XYZ"[up_axis], angle)
