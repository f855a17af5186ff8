"""funcnet.augment: shift and flip of flat rows; affine maps and elastic distortion of NHWC."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from funcnet import augment, rng


def test_each_image_is_translated_within_the_bound():
    n = 50
    x = np.zeros((n, 784), np.float32)
    x[:, 14 * 28 + 14] = 1.0  # one lit pixel in the middle of each image
    out = augment.shift(rng.key(0), x, 2)
    lit = np.argwhere(out.reshape(n, 28, 28))
    assert len(lit) == n  # every image keeps its single pixel
    assert np.all(np.abs(lit[:, 1:] - 14) <= 2)
    assert len({(r, c) for _, r, c in lit}) > 5  # different images, different shifts


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2**31 - 1), s=st.integers(0, 3), n=st.integers(1, 6))
def test_pure_deterministic_and_value_preserving(seed, s, n):
    x = rng.uniform(rng.key(seed), (n, 49))
    x.flags.writeable = False
    before = x.copy()
    a = augment.shift(rng.key(seed), x, s, shape=(7, 7))
    b = augment.shift(rng.key(seed), x, s, shape=(7, 7))
    assert np.array_equal(x, before)
    assert a.dtype == x.dtype and a.shape == x.shape and np.array_equal(a, b)
    # translation moves pixels, it never invents values: each row's multiset of
    # non-zero values is a subset of the input row's
    for row_in, row_out in zip(x, a):
        assert set(row_out[row_out != 0].tolist()) <= set(row_in.tolist())
    if s == 0:
        assert a is x


def test_edges_fill_with_zeros():
    x = np.ones((200, 784), np.float32)
    out = augment.shift(rng.key(1), x, 2).reshape(200, 28, 28)
    assert out.min() == 0.0 and out.max() == 1.0
    assert np.all(out[:, 2:26, 2:26] == 1.0)  # the centre is never uncovered


# --- affine transforms and elastic distortion of NHWC batches ---------------------------------

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps


def ramps(n, h, w):
    """A float64 NHWC batch whose two channels are each pixel's row and column: bilinear
    sampling reproduces such affine functions exactly, so the output shows where each
    pixel was sampled from (wherever that lies inside the image)."""
    r, c = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                       indexing="ij")
    return np.broadcast_to(np.stack([r, c], axis=-1), (n, h, w, 2)).copy()


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float16, np.float32, np.float64])
def test_identity_parameters_give_the_input_back_bit_for_bit(dtype):
    r = np.random.default_rng(0)
    x = (r.random((3, 7, 9, 2)) * 100).astype(dtype)
    for out in (augment.affine_transform(x, augment.affine_matrices((7, 9))),
                augment.affine_transform(x, np.tile(np.eye(2, 3), (3, 1, 1))),
                augment.affine(rng.key(1), x),
                augment.affine(rng.key(1), x, rotation=0.0, scale=(1.0, 1.0), shift=0.0, shear=0.0),
                augment.elastic(rng.key(1), x, alpha=0.0, sigma=4.0)):
        assert out.dtype == x.dtype and out.shape == x.shape
        assert np.array_equal(out, x)


def test_a_quarter_turn_is_rot90_counter_clockwise_and_a_half_turn_flips_both_axes():
    x = np.random.default_rng(1).random((2, 6, 6, 3))
    quarter = augment.affine_transform(x, augment.affine_matrices((6, 6), rotation=90.0))
    half = augment.affine_transform(x, augment.affine_matrices((6, 6), rotation=180.0))
    # sin(π/2), cos(π) are exact to rounding: positions within ~10 eps of the grid
    tol = 16 * EPS64 * 6
    np.testing.assert_allclose(quarter, np.rot90(x, 1, axes=(1, 2)), rtol=0, atol=tol)
    np.testing.assert_allclose(half, x[:, ::-1, ::-1], rtol=0, atol=tol)


def test_a_whole_pixel_shift_moves_the_image_and_fills_with_zeros():
    x = np.arange(1, 1 + 2 * 5 * 6, dtype=np.uint8).reshape(2, 5, 6, 1)
    out = augment.affine_transform(x, augment.affine_matrices((5, 6), shift=(2.0, -1.0)))
    expected = np.zeros_like(x)
    expected[:, 2:, :5] = x[:, :3, 1:]  # two rows down, one column left
    assert np.array_equal(out, expected)


def test_scaling_and_shearing_sample_where_the_equations_say():
    x = ramps(1, 9, 9)  # centre (4, 4)
    grown = augment.affine_transform(x, augment.affine_matrices((9, 9), scale=2.0))
    r, c = np.meshgrid(np.arange(9.0), np.arange(9.0), indexing="ij")
    np.testing.assert_allclose(grown[0, ..., 0], 4 + (r - 4) / 2, rtol=0, atol=8 * EPS64 * 9)
    np.testing.assert_allclose(grown[0, ..., 1], 4 + (c - 4) / 2, rtol=0, atol=8 * EPS64 * 9)
    slanted = augment.affine_transform(x, augment.affine_matrices((9, 9), shear=20.0))
    source_c = c - np.tan(np.deg2rad(20.0)) * (r - 4)  # rows below the centre move right
    inside = (source_c >= 0) & (source_c <= 8)
    np.testing.assert_allclose(slanted[0, ..., 1][inside], source_c[inside], rtol=0,
                               atol=8 * EPS64 * 9)
    np.testing.assert_array_equal(slanted[0, ..., 0][inside], r[inside])


def test_rotating_by_theta_then_minus_theta_returns_the_interior_within_interpolation_error():
    h = w = 25
    r, c = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                       indexing="ij")
    # f = Σ a_k cos(ω_k·(r, c) + φ_k): every second derivative along any direction is at
    # most D2 = Σ |a_k|·|ω_k|²; bilinear interpolation errs by ≤ (‖f_rr‖ + ‖f_cc‖)/8 ≤ D2/4,
    # and the second pass interpolates the first pass's values (convex weights: its error
    # carries over) at positions of f∘R, which has the same bound: ≤ D2/2 in all.
    g = np.random.default_rng(2)
    a, omega, phase = g.normal(size=4), g.uniform(-0.3, 0.3, (4, 2)), g.uniform(0, 6.3, 4)
    f = sum(ak * np.cos(wk[0] * r + wk[1] * c + pk) for ak, wk, pk in zip(a, omega, phase))
    x = f[None, :, :, None]
    d2 = float(np.sum(np.abs(a) * np.sum(omega ** 2, axis=1)))
    bound = d2 / 2 + 64 * EPS64 * np.abs(a).sum() * h
    interior = np.hypot(r - 12, c - 12) <= 12 - 3  # its samples and their neighbours stay inside
    for theta in (7.0, 30.0, -45.0, 90.0, 133.0):
        there = augment.affine_transform(x, augment.affine_matrices((h, w), rotation=theta))
        back = augment.affine_transform(there, augment.affine_matrices((h, w), rotation=-theta))
        assert np.abs(back[0, ..., 0] - f)[interior].max() <= bound
    twice = augment.affine_transform(there, augment.affine_matrices((h, w), rotation=133.0))
    assert np.abs(twice[0, ..., 0] - f)[interior].max() > 4 * bound  # the test can fail


def _parameters_of(matrix, centre):
    """(θ°, s, φ°, t) of a sampling matrix [L⁻¹ | m − L⁻¹(m + t)], L = R(θ)·H(φ)·s."""
    inv, offset = matrix[:, :2], matrix[:, 2]
    s = 1 / np.sqrt(np.linalg.det(inv))
    theta = np.arctan2(inv[0, 1], inv[0, 0])
    tan_phi = -(s * inv[1, 0] + np.sin(theta)) / np.cos(theta)
    t = np.linalg.solve(inv, centre - offset) - centre
    return np.rad2deg(theta), s, np.rad2deg(np.arctan(tan_phi)), t


def test_random_affine_parameters_lie_in_their_ranges_and_differ_between_images():
    n, h = 40, 41
    x = ramps(n, h, h)
    out = augment.affine(rng.key(3), x, rotation=20.0, scale=(0.8, 1.25), shift=3.0, shear=15.0)
    centre = np.array([20.0, 20.0])
    got = []
    for i in range(n):
        # the sampling matrix, read off three pixels near the centre (whose sources are inside)
        p0, pr, pc = out[i, 20, 20], out[i, 21, 20], out[i, 20, 21]
        matrix = np.column_stack([pr - p0, pc - p0, p0 - 20 * (pr - p0) - 20 * (pc - p0)])
        got.append(_parameters_of(matrix, centre))
    theta, s, phi, t = (np.array([g[k] for g in got]) for k in range(4))
    tol = 1e-9  # ramps are reproduced to rounding; the parameters come back to ~1e-12
    assert np.all(np.abs(theta) <= 20 + tol) and np.all(np.abs(phi) <= 15 + tol)
    assert np.all((s >= 0.8 - tol) & (s <= 1.25 + tol)) and np.all(np.abs(t) <= 3 + tol)
    for values in (theta, s, phi, t[:, 0], t[:, 1]):
        assert len(np.unique(np.round(values, 6))) == n  # one draw per image
    assert theta.max() > 10 and theta.min() < -10  # the whole range is used, both signs


def _smooth_by_hand(field, sigma):
    """Direct 2-D convolution with the Gaussian of sd σ truncated at ⌈4σ⌉, zeros outside."""
    radius = max(1, int(np.ceil(4 * sigma)))
    k = np.arange(-radius, radius + 1)
    g = np.exp(-0.5 * (k / sigma) ** 2)
    g /= g.sum()
    n, h, w = field.shape
    padded = np.pad(field, ((0, 0), (radius, radius), (radius, radius)))
    out = np.zeros_like(field)
    for a, ga in zip(k, g):
        for b, gb in zip(k, g):
            out += ga * gb * padded[:, radius + a:radius + a + h, radius + b:radius + b + w]
    return out


@pytest.mark.parametrize("sigma", [0.7, 2.0, 4.0])
def test_elastic_displacements_are_the_smoothed_uniform_fields_times_alpha(sigma):
    n, h, w, alpha = 3, 20, 16, 6.0
    key = rng.key(4)
    out = augment.elastic(key, ramps(n, h, w), alpha=alpha, sigma=sigma)
    u = rng.generator(key).random((2, n, h, w), dtype=np.float32).astype(np.float64) * 2 - 1
    r, c = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                       indexing="ij")
    rows = r + alpha * _smooth_by_hand(u[0], sigma)
    cols = c + alpha * _smooth_by_hand(u[1], sigma)
    inside = (rows >= 0) & (rows <= h - 1) & (cols >= 0) & (cols <= w - 1)
    assert inside.mean() > 0.5
    # The fields are smoothed in float32: two passes of dot products of length ≤ h with
    # weights summing to 1 and |u| ≤ 1 (plus the weights' own rounding), times α.
    tol = alpha * (2 * h + 3) * EPS32
    np.testing.assert_allclose(out[..., 0][inside], rows[inside], rtol=0, atol=tol)
    np.testing.assert_allclose(out[..., 1][inside], cols[inside], rtol=0, atol=tol)
    assert np.abs(out[..., 1] - c)[inside].max() > 100 * tol  # the pixels did move


def test_uint8_pixels_are_rounded_and_stay_in_range():
    x = np.zeros((1, 4, 4, 1), np.uint8)
    x[0, :, 1] = 255
    half = augment.affine_transform(x, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.5]])  # half a pixel left
    assert half.dtype == np.uint8
    assert half[0, :, :, 0].tolist() == [[128, 128, 0, 0]] * 4  # 127.5 rounds to even: 128
    y = augment.elastic(rng.key(0), np.full((4, 10, 10, 1), 255, np.uint8), 5.0, 1.0)
    assert y.dtype == np.uint8 and y.max() == 255 and y.min() < 255  # zeros come in at the edges


KEY = rng.key(0)
BAD = [
    (lambda x: augment.affine(KEY, x[0]), r"^expected an NHWC batch .* shape \(5, 5, 1\)$"),
    (lambda x: augment.elastic(KEY, x.astype(bool), 1.0, 1.0), r"^expected integer or floating"),
    (lambda x: augment.affine_transform(x, np.eye(3)), r"^expected matrices of shape \(2, 2, 3\)"),
    (lambda x: augment.affine_transform(x, np.zeros((3, 2, 3))), r"got shape \(3, 2, 3\)$"),
    (lambda x: augment.affine_transform(x, np.full((2, 3), np.nan)), r"^expected finite"),
    (lambda x: augment.affine(KEY, x, rotation=-1.0), r"^rotation must be in \[0, 180\]"),
    (lambda x: augment.affine(KEY, x, scale=(0.0, 1.0)), r"^scale's lower end .* \(0, inf\)"),
    (lambda x: augment.affine(KEY, x, scale=(1.2, 1.1)), r"^scale's upper end .* \[1.2, inf\)"),
    (lambda x: augment.affine(KEY, x, shear=90.0), r"^shear must be in \[0, 90\)"),
    (lambda x: augment.affine(KEY, x, shift=float("nan")), r"^shift must be in \[0, inf\)"),
    (lambda x: augment.elastic(KEY, x, -1.0, 4.0), r"^alpha must be in \[0, inf\)"),
    (lambda x: augment.elastic(KEY, x, 1.0, 0.0), r"^sigma must be in \(0, inf\)"),
]


@pytest.mark.parametrize("call, message", BAD)
def test_bad_arguments_are_refused_in_one_line(call, message):
    x = np.zeros((2, 5, 5, 1), np.float32)
    with pytest.raises((ValueError, TypeError), match=message) as err:
        call(x)
    assert "\n" not in str(err.value)
