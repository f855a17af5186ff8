"""Properties of the NHWC augmentations: determinism, purity, shapes and dtypes, range,
identity, batch = images one by one, and rotation by θ then −θ."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from funcnet import augment, rng

PROPS = settings(deadline=None, max_examples=40)
DTYPES = (np.uint8, np.int16, np.float16, np.float32, np.float64)


@st.composite
def batches(draw, dtypes=DTYPES):
    """A read-only NHWC batch of random pixels (0..255 for integers, [−2, 2) for floats)."""
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 11)), draw(st.integers(1, 11)),
             draw(st.integers(1, 3)))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    g = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = (g.integers(0, 256, shape) if dtype.kind in "iu" else g.uniform(-2, 2, shape))
    x = x.astype(dtype)
    x.flags.writeable = False
    return x


affine_args = st.fixed_dictionaries({
    "rotation": st.floats(0, 180), "shift": st.floats(0, 4), "shear": st.floats(0, 60),
    "scale": st.tuples(st.floats(0.5, 1.0), st.floats(1.0, 1.6))})
elastic_args = st.fixed_dictionaries({"alpha": st.floats(0, 20), "sigma": st.floats(0.2, 6)})


def augmentations():
    """(name, function of (key, x)) for a random affine map or elastic distortion."""
    return st.one_of(
        affine_args.map(lambda kw: ("affine", lambda k, x: augment.affine(k, x, **kw))),
        elastic_args.map(lambda kw: ("elastic", lambda k, x: augment.elastic(k, x, **kw))))


@PROPS
@given(batches(), augmentations(), st.integers(0, 2**31 - 1))
def test_same_key_same_bits_same_shape_and_dtype_input_untouched(x, named, seed):
    _, f = named
    before = x.copy()
    a, b = f(rng.key(seed), x), f(rng.key(seed), x)
    assert np.array_equal(x, before)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert np.array_equal(a, b, equal_nan=False)
    assert a is not x and not np.shares_memory(a, x)


@PROPS
@given(batches(), augmentations(), st.integers(0, 2**31 - 1))
def test_values_stay_within_the_inputs_range_and_zero(x, named, seed):
    # Bilinear weights are convex and the outside is 0; each lerp v + t·(w − v) rounds a
    # few times at most: a few eps of the largest magnitude.
    out = named[1](rng.key(seed), x)
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    eps = np.finfo(np.result_type(x.dtype, np.float32)).eps if x.dtype.kind == "f" else 0.0
    tol = 8 * eps * max(abs(lo), abs(hi))
    if x.dtype == np.float16:  # the float32 result is rounded once more to float16
        tol += np.finfo(np.float16).eps * max(abs(lo), abs(hi))
    assert lo - tol <= float(out.min()) and float(out.max()) <= hi + tol


@PROPS
@given(batches())
def test_identity_matrices_and_parameters_return_the_pixels(x):
    h, w = x.shape[1:3]
    assert np.array_equal(augment.affine_transform(x, augment.affine_matrices((h, w))), x)
    assert np.array_equal(augment.affine(rng.key(0), x, scale=1.0), x)
    assert np.array_equal(augment.elastic(rng.key(0), x, alpha=0.0, sigma=2.0), x)


@PROPS
@given(batches(), st.data())
def test_a_batch_is_transformed_as_its_images_one_by_one(x, data):
    n, h, w = x.shape[:3]
    finite = st.floats(-3, 3)
    mats = np.array(data.draw(st.lists(st.lists(finite, min_size=6, max_size=6),
                                       min_size=n, max_size=n))).reshape(n, 2, 3)
    mats[:, :, 2] *= max(h, w)
    whole = augment.affine_transform(x, mats)
    for i in range(n):
        assert np.array_equal(whole[i:i + 1], augment.affine_transform(x[i:i + 1], mats[i]))


@PROPS
@given(batches(dtypes=(np.uint8,)), augmentations(), st.integers(0, 2**31 - 1))
def test_integer_pixels_are_the_float32_result_rounded_and_clipped(x, named, seed):
    _, f = named
    as_float = f(rng.key(seed), x.astype(np.float32))
    assert np.array_equal(f(rng.key(seed), x), np.clip(np.rint(as_float), 0, 255).astype(np.uint8))


@PROPS
@given(st.integers(0, 2**32 - 1), st.floats(-180, 180), st.integers(9, 31))
def test_rotating_by_theta_then_minus_theta_returns_the_interior_within_interpolation_error(
        seed, theta, side):
    g = np.random.default_rng(seed)
    r, c = np.meshgrid(np.arange(side, dtype=np.float64), np.arange(side, dtype=np.float64),
                       indexing="ij")
    a, omega, phase = g.normal(size=3), g.uniform(-0.4, 0.4, (3, 2)), g.uniform(0, 6.3, 3)
    f = sum(ak * np.cos(wk[0] * r + wk[1] * c + pk) for ak, wk, pk in zip(a, omega, phase))
    # Every directional second derivative of f is ≤ D2 = Σ|a_k|·|ω_k|²; each bilinear pass
    # errs by ≤ (‖f_rr‖ + ‖f_cc‖)/8 ≤ D2/4, and the first pass's error carries through the
    # second's convex weights: ≤ D2/2, plus rounding.
    d2 = float(np.sum(np.abs(a) * np.sum(omega ** 2, axis=1)))
    bound = d2 / 2 + 64 * np.finfo(np.float64).eps * np.abs(a).sum() * side
    m = (side - 1) / 2
    interior = np.hypot(r - m, c - m) <= m - 3
    there = augment.affine_transform(f[None, :, :, None],
                                     augment.affine_matrices((side, side), rotation=theta))
    back = augment.affine_transform(there, augment.affine_matrices((side, side), rotation=-theta))
    assert np.abs(back[0, ..., 0] - f)[interior].max(initial=0.0) <= bound
