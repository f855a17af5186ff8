"""Data augmentation as pure functions of a key: new images, inputs untouched.

Translating a digit by a pixel or two does not change its label; training on
such copies is the simplest of the distortions Simard, Steinkraus & Platt
(2003, "Best practices for convolutional neural networks applied to visual
document analysis") used to take a 2-layer MLP on MNIST from 98.4% to 98.9%.
The same paper's elastic distortion took it further; :func:`elastic` is that
distortion, and :func:`affine` the random rotations, scalings, shears and
sub-pixel shifts beside it.

:func:`shift` and :func:`flip` take flattened rows ``(n, h·w)``;
:func:`affine_transform`, :func:`affine` and :func:`elastic` take a whole
NHWC batch ``(n, h, w, c)`` at once (no loop over the images) and sample it
bilinearly, with zeros outside the image. They return an array of the
input's dtype: floats are interpolated in that precision (float16 in
float32), integer pixels in float32 (float64 for integers wider than 16
bits), then rounded to the nearest integer and clipped to the dtype's range.
Every random draw comes from the key, so the same key gives the same bits.
"""

from __future__ import annotations

import math

import numpy as np

from . import rng

__all__ = ["shift", "flip", "affine_matrices", "affine_transform", "affine", "elastic"]


def shift(key, x: np.ndarray, max_shift: int, shape: tuple[int, int] = (28, 28)) -> np.ndarray:
    """Translate each image by a random (dy, dx) ∈ [−s, s]², filling with zeros.

    out[i, r, c] = x[i, r − dy_i, c − dx_i] where that pixel exists, else 0;
    each row of ``x`` is one image of ``shape``, flattened. Returns a new
    array of ``x``'s shape and dtype; ``max_shift = 0`` returns ``x`` itself.

    >>> x = np.arange(9, dtype=np.float32).reshape(1, 9)
    >>> y = shift(rng.key(0), x, 1, shape=(3, 3))
    >>> y.shape, bool(set(y.ravel()) <= set(x.ravel()) | {0.0})
    ((1, 9), True)
    >>> shift(rng.key(0), x, 0, shape=(3, 3)) is x
    True
    """
    if max_shift <= 0:
        return x
    h, w = shape
    s = int(max_shift)
    n = x.shape[0]
    offsets = rng.generator(key).integers(0, 2 * s + 1, size=(n, 2))
    padded = np.zeros((n, h + 2 * s, w + 2 * s), dtype=x.dtype)
    padded[:, s:s + h, s:s + w] = x.reshape(n, h, w)
    ph, pw = h + 2 * s, w + 2 * s
    # flat index of out[i, r, c] in padded: i·ph·pw + (oy_i + r)·pw + (ox_i + c)
    start = np.arange(n) * (ph * pw) + offsets[:, 0] * pw + offsets[:, 1]
    window = (np.arange(h)[:, None] * pw + np.arange(w)).ravel()
    return np.take(padded.ravel(), start[:, None] + window)


def flip(key, x: np.ndarray, shape: tuple[int, int] = (28, 28), p: float = 0.5) -> np.ndarray:
    """Mirror each image left–right with probability ``p``: out[i, r, c] = x[i, r, w − 1 − c].

    For data whose labels do not depend on the side (clothes, not digits).
    Returns a new array of ``x``'s shape and dtype.

    >>> x = np.arange(4, dtype=np.float32).reshape(1, 4)
    >>> flip(rng.key(0), x, shape=(2, 2), p=1.0)
    array([[1., 0., 3., 2.]], dtype=float32)
    """
    n, (h, w) = x.shape[0], shape
    images = x.reshape(n, h, w)
    mirrored = rng.bernoulli(key, p, (n,))
    return np.where(mirrored[:, None, None], images[:, :, ::-1], images).reshape(n, h * w)


# --- bilinear sampling of NHWC batches --------------------------------------------------

def _batch(x) -> np.ndarray:
    """``x`` as an array, checked to be an NHWC batch of integer or floating pixels."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"expected an NHWC batch of images (n, height, width, channels), "
                         f"got an array of shape {x.shape}")
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.number) \
            or np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"expected integer or floating pixels, got {x.dtype}")
    return x


def _work_dtype(dtype) -> np.dtype:
    """The floating dtype pixels of ``dtype`` are interpolated in: at least float32.

    >>> [str(_work_dtype(t)) for t in (np.uint8, np.float16, np.float64, np.int32)]
    ['float32', 'float32', 'float64', 'float64']
    """
    return np.result_type(dtype, np.float32)


def _restore(values: np.ndarray, dtype) -> np.ndarray:
    """Interpolated values back in ``dtype``: integers rounded to nearest, clipped to the range.

    >>> _restore(np.array([-3.0, 7.5, 254.6, 300.0], np.float32), np.uint8)
    array([  0,   8, 255, 255], dtype=uint8)
    """
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype, copy=False)


def _bilinear(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Each image of ``x`` (n, h, w, c) sampled at real positions ``rows``, ``cols`` (n, h', w').

    With ρ = rows[i, p, q], γ = cols[i, p, q], r₀ = ⌊ρ⌋, c₀ = ⌊γ⌋, u = ρ − r₀, v = γ − c₀:

        top = x[i, r₀, c₀] + v·(x[i, r₀, c₀ + 1] − x[i, r₀, c₀])
        bottom = x[i, r₀ + 1, c₀] + v·(x[i, r₀ + 1, c₀ + 1] − x[i, r₀ + 1, c₀])
        out[i, p, q] = top + u·(bottom − top)

    with x = 0 outside the image: the images sit in a border of zeros (one
    pixel before, two after each axis) and positions are first clipped to
    [−1, h] × [−1, w], where every neighbour read is that border. Returns floats
    of :func:`_work_dtype` of shape (n, h', w', c); at whole-pixel positions
    u = v = 0 and the pixel comes back unchanged. No loop over the images.

    >>> x = np.array([0.0, 10.0, 20.0]).reshape(1, 1, 3, 1)
    >>> _bilinear(x, np.zeros((1, 1, 5)), np.array([[[0.0, 0.25, 1.5, 2.5, -9.0]]]))[..., 0]
    array([[[ 0. ,  2.5, 15. , 10. ,  0. ]]])
    """
    n, h, w, c = x.shape
    work = _work_dtype(x.dtype)
    ph, pw = h + 3, w + 3
    padded = np.zeros((n, ph, pw, c), x.dtype)
    padded[:, 1:h + 1, 1:w + 1] = x
    rows = np.clip(rows.astype(work, copy=False), -1, h)
    cols = np.clip(cols.astype(work, copy=False), -1, w)
    r0, c0 = np.floor(rows), np.floor(cols)
    u, v = rows - r0, cols - c0
    # flat index of padded[i, r₀ + 1, c₀ + 1]: (i·ph + r₀ + 1)·pw + c₀ + 1
    first = (np.arange(n, dtype=np.intp) * ph + 1)[:, None, None]
    at = (first + r0.astype(np.intp)) * pw + (c0.astype(np.intp) + 1)
    if c > 1:
        at, u, v = at[..., None] * c + np.arange(c), u[..., None], v[..., None]
    flat = padded.ravel()

    def pixel(offset: int) -> np.ndarray:
        return np.take(flat, at + offset * c).astype(work, copy=False)

    top, bottom = pixel(0), pixel(pw)
    top += v * (pixel(1) - top)
    bottom += v * (pixel(pw + 1) - bottom)
    top += u * (bottom - top)
    return top if c > 1 else top[..., None]


def _grid(h: int, w: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """The pixel positions of an h × w image: rows r as a column (h, 1), columns c as a row (1, w).

    >>> _grid(2, 3, np.float32)
    (array([[0.],
           [1.]], dtype=float32), array([[0., 1., 2.]], dtype=float32))
    """
    return np.arange(h, dtype=dtype)[:, None], np.arange(w, dtype=dtype)[None, :]


# --- affine transforms -----------------------------------------------------------------

def affine_matrices(shape: tuple[int, int], rotation=0.0, scale=1.0, shear=0.0,
                    shift=(0.0, 0.0)) -> np.ndarray:
    """The sampling matrices (n, 2, 3) of per-image affine maps about the image centre.

    Positions are p = (row, col) with rows going down and m = ((h − 1)/2, (w − 1)/2)
    the centre of ``shape = (h, w)``. The image is scaled by s, sheared, rotated
    by θ degrees (counter-clockwise as displayed) and moved by t = (dy, dx) pixels:
    a point p of the input goes to F(p) = L·(p − m) + m + t with

        L = R(θ)·H(φ)·s,  R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]],  H(φ) = [[1, 0], [tan φ, 1]]

    (H moves each row sideways by tan φ times its distance below the centre:
    to the right below it and to the left above it for φ > 0, a slant). The
    matrix returned is the inverse map, which :func:`affine_transform` samples
    with: [L⁻¹ | m − L⁻¹·(m + t)], so that the input position of each output
    position p is L⁻¹·p + m − L⁻¹·(m + t).
    ``rotation``, ``scale``, ``shear`` are scalars or arrays of shape (n,),
    ``shift`` a pair or an array (n, 2); n is their broadcast length.

    >>> affine_matrices((3, 3))
    array([[[ 1.,  0.,  0.],
            [-0.,  1.,  0.]]])
    >>> np.round(affine_matrices((5, 5), rotation=[90.0], shift=[(1.0, 0.0)]), 12)
    array([[[ 0.,  1., -1.],
            [-1.,  0.,  5.]]])
    """
    theta = np.deg2rad(np.asarray(rotation, dtype=np.float64))
    phi = np.deg2rad(np.asarray(shear, dtype=np.float64))
    s = np.asarray(scale, dtype=np.float64)
    t = np.asarray(shift, dtype=np.float64).reshape(-1, 2)
    n = np.broadcast_shapes(np.shape(theta), np.shape(phi), np.shape(s), t.shape[:1], (1,))[0]
    theta, phi, s = (np.broadcast_to(v, (n,)) for v in (theta, phi, s))
    cos, sin, tan = np.cos(theta), np.sin(theta), np.tan(phi)
    # L⁻¹ = H(−φ)·R(−θ)/s = [[cos, sin], [−tan·cos − sin, −tan·sin + cos]] / s
    inv = np.stack([np.stack([cos, sin], -1),
                    np.stack([-tan * cos - sin, -tan * sin + cos], -1)], -2) / s[:, None, None]
    m = np.array([(shape[0] - 1) / 2, (shape[1] - 1) / 2])
    offset = m - np.einsum("nij,nj->ni", inv, m + np.broadcast_to(t, (n, 2)))
    return np.concatenate([inv, offset[:, :, None]], axis=2)


def affine_transform(x: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Each image resampled through its own 2×3 matrix: out[i, p] = x[i, M_i·(p, 1)], bilinearly.

    ``x`` is an NHWC batch (n, h, w, c); ``matrices`` (n, 2, 3), or one for all, map
    an output position p = (row, col) to the input position it takes its
    value from (:func:`affine_matrices` builds them); zeros outside the image.
    Returns a new array of ``x``'s shape and dtype (see the module's notes on
    dtypes). The identity matrix returns the pixels unchanged.

    >>> x = np.arange(9, dtype=np.uint8).reshape(1, 3, 3, 1)
    >>> affine_transform(x, [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])[0, :, :, 0]  # one to the left
    array([[1, 2, 0],
           [4, 5, 0],
           [7, 8, 0]], dtype=uint8)
    >>> bool((affine_transform(x, affine_matrices((3, 3))) == x).all())
    True
    """
    x = _batch(x)
    n, h, w, _ = x.shape
    mat = np.asarray(matrices, dtype=np.float64)
    one_each = mat.ndim == 2 or len(mat) in (1, n)
    if mat.ndim not in (2, 3) or mat.shape[-2:] != (2, 3) or not one_each:
        raise ValueError(f"expected matrices of shape ({n}, 2, 3), (1, 2, 3) or (2, 3) for a batch "
                         f"of {n} images, got shape {mat.shape}")
    if not np.isfinite(mat).all():
        raise ValueError("expected finite affine matrices, got NaN or infinity")
    work = _work_dtype(x.dtype)
    mat = np.broadcast_to(mat.astype(work), (n, 2, 3))[:, :, :, None, None]
    r, c = _grid(h, w, work)
    rows = mat[:, 0, 0] * r + mat[:, 0, 1] * c + mat[:, 0, 2]
    cols = mat[:, 1, 0] * r + mat[:, 1, 1] * c + mat[:, 1, 2]
    return _restore(_bilinear(x, rows, cols), x.dtype)


def _bound(name: str, value, low: float, high: float = math.inf, *, open_low=False,
           open_high=False) -> float:
    """``value`` as a float, or a ValueError naming the argument and the interval expected."""
    v = float(value)
    below = v <= low if open_low else v < low
    above = v >= high if open_high else v > high
    if math.isnan(v) or below or above:
        interval = (f"{'(' if open_low else '['}{low:g}, "
                    f"{high:g}{')' if open_high or math.isinf(high) else ']'}")
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return v


def affine(key, x: np.ndarray, rotation: float = 0.0, scale=(1.0, 1.0), shift: float = 0.0,
           shear: float = 0.0) -> np.ndarray:
    """Each image of an NHWC batch moved by its own random affine map (:func:`affine_matrices`).

    Per image i, independently: θ_i ~ U[−rotation, rotation] degrees,
    s_i ~ U[lo, hi] with ``scale = (lo, hi)`` (or one number: s_i = scale),
    φ_i ~ U[−shear, shear] degrees, dy_i, dx_i ~ U[−shift, shift] pixels
    (sub-pixel shifts too); then
    out_i = :func:`affine_transform` (x_i, matrices(θ_i, s_i, φ_i, (dy_i, dx_i))).
    All draws come from ``key``. Returns a new array of ``x``'s shape and
    dtype; with the default (identity) parameters, the pixels of ``x``.

    >>> x = np.zeros((2, 9, 9, 1), np.float32); x[:, 4, 2:7] = 1.0   # a bar
    >>> y = affine(rng.key(0), x, rotation=30.0, scale=(0.9, 1.1), shift=1.0, shear=10.0)
    >>> y.shape, y.dtype, bool((y != x).any())
    ((2, 9, 9, 1), dtype('float32'), True)
    >>> bool((affine(rng.key(0), x) == x).all())
    True
    """
    x = _batch(x)
    lo, hi = (scale, scale) if np.ndim(scale) == 0 else scale
    lo = _bound("scale's lower end", lo, 0.0, open_low=True)
    hi = _bound("scale's upper end", hi, lo)
    rotation = _bound("rotation", rotation, 0.0, 180.0)
    shear = _bound("shear", shear, 0.0, 90.0, open_high=True)
    shift = _bound("shift", shift, 0.0)
    u = rng.uniform(key, (len(x), 5), dtype=np.float64)
    mat = affine_matrices(x.shape[1:3], rotation=rotation * (2 * u[:, 0] - 1),
                          scale=lo + (hi - lo) * u[:, 1], shear=shear * (2 * u[:, 2] - 1),
                          shift=shift * (2 * u[:, 3:] - 1))
    return affine_transform(x, mat)


# --- elastic distortion (Simard, Steinkraus & Platt 2003) -------------------------------

def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """The (n, n) matrix of the 1-D convolution with a Gaussian of sd ``sigma``, zero-padded.

    G[i, j] = g(i − j), g(k) = e^(−k²/2σ²) / Σ_{|l| ≤ R} e^(−l²/2σ²) for |k| ≤ R = ⌈4σ⌉
    (0 beyond), so (G·u)_i = Σ_k g(k)·u_{i−k} with u = 0 outside 0..n−1.

    >>> np.round(_gaussian_matrix(3, 0.5), 4)
    array([[0.7866, 0.1065, 0.0003],
           [0.1065, 0.7866, 0.1065],
           [0.0003, 0.1065, 0.7866]])
    """
    radius = max(1, math.ceil(4 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k = np.subtract.outer(np.arange(n), np.arange(n))
    return np.where(np.abs(k) <= radius, taps[np.clip(k + radius, 0, 2 * radius)], 0.0) / taps.sum()


def elastic(key, x: np.ndarray, alpha: float, sigma: float) -> np.ndarray:
    """Simard et al.'s elastic distortion of each image of an NHWC batch, each its own field.

    Random displacement fields Δr, Δc ~ U[−1, 1), one value per pixel and
    image (drawn and smoothed in float32, so that a key gives the same field
    whatever the dtype of ``x``), are smoothed by a Gaussian G of sd ``sigma``
    pixels (separable: the 1-D convolution of :func:`_gaussian_matrix` down
    the columns, then along the rows, zeros beyond the image) and scaled by
    ``alpha``; pixel (r, c) of the result is the input at (r + α·(G∗Δr)[r, c],
    c + α·(G∗Δc)[r, c]), bilinearly (zeros outside). Small σ gives nearly
    random jitter, large σ nearly a translation; α sets the size. Every draw
    comes from ``key``. Returns a new array of ``x``'s shape and dtype;
    ``alpha = 0`` gives the pixels of ``x``.

    >>> x = np.zeros((2, 12, 12, 1), np.float32); x[:, 3:9, 5:7] = 1.0
    >>> y = elastic(rng.key(0), x, alpha=8.0, sigma=3.0)
    >>> y.shape, y.dtype, bool((y != x).any()), bool((elastic(rng.key(0), x, 0.0, 3.0) == x).all())
    ((2, 12, 12, 1), dtype('float32'), True, True)
    """
    x = _batch(x)
    alpha = _bound("alpha", alpha, 0.0)
    sigma = _bound("sigma", sigma, 0.0, open_low=True)
    n, h, w, _ = x.shape
    work = _work_dtype(x.dtype)
    u = rng.generator(key).random((2, n, h, w), dtype=np.float32)  # the same field for every dtype
    u = np.subtract(np.multiply(u, 2, out=u), 1, out=u)
    smooth_h, smooth_w = (_gaussian_matrix(k, sigma).astype(np.float32) for k in (h, w))
    field = np.matmul(np.matmul(smooth_h, u), smooth_w).astype(work, copy=False)
    r, c = _grid(h, w, work)
    return _restore(_bilinear(x, r + work.type(alpha) * field[0], c + work.type(alpha) * field[1]),
                    x.dtype)
