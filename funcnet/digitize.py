"""Pictures of your own as the network's input: MNIST's recipe, as pure functions.

MNIST's digits were made from NIST's scans this way (LeCun, Cortes and
Burges, "The MNIST database of handwritten digits"): each digit was
size-normalised to fit a 20 × 20 box keeping its aspect ratio, the
anti-aliasing giving grey levels, then centred in a 28 × 28 field by its
centre of mass. :func:`preprocess` does the same to any picture::

    gray   = 0.299·R + 0.587·G + 0.114·B           ITU-R 601 luma, in [0, 1]
    ink    = gray, or 1 − gray when the border is light (a dark digit on light paper)
    ink    = clip((ink − lo) / (hi − lo), 0, 1)     lo just above the paper, hi the darkest ink
    crop   = ink[rows and columns holding ink]
    small  = R_h · crop · R_wᵀ                      max(h, w) = 20, triangle filter (anti-aliased)
    field  = small in 28 × 28, (Σ I·r, Σ I·c) / Σ I at pixel (14, 14)

The model's input shape decides what the field becomes (rows of 784 floats
for an MLP, ``(28, 28, 1)`` images for a convolutional network):
:func:`input_shape` is the one place that reads it off a model, and
:func:`first_layer` the one place that reads the first layer's
activations, so that both follow the model's API.

>>> digit = np.zeros((60, 40)); digit[10:50, 16:24] = 1.0   # a light "1" on black
>>> field = preprocess(digit)
>>> field.shape, field.dtype, float(field.max())
((28, 28), dtype('float32'), 1.0)
>>> [abs(c - 14) <= 0.5 for c in centre_of_mass(field)]     # MNIST's centre, to half a pixel
[True, True]
>>> bool(np.allclose(preprocess(1.0 - digit), field))        # the same digit, dark on light
True
"""

from __future__ import annotations

import math

import numpy as np

from . import model
from .errors import DataError

__all__ = ["LUMA", "SIDE", "BOX", "grayscale", "border", "to_ink", "ink_box", "resample_matrix",
           "resize", "fit", "centre_of_mass", "place", "preprocess", "input_shape", "field_side",
           "as_input", "probabilities", "first_layer", "prediction_line", "predictions_csv"]

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as Pillow's convert("L")
SIDE, BOX = 28, 20            # MNIST: a 20 × 20 box centred in a 28 × 28 field
MIN_CONTRAST = 0.1            # less than this between paper and the darkest ink: no ink
NOISE = 0.1                   # the faintest tenth of the ink range counts as paper (JPEG noise)


def _unit(pixels) -> np.ndarray:
    """Pixels as float32 in [0, 1]: integers divided by their type's maximum, floats clipped."""
    arr = np.asarray(pixels)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / np.float32(np.iinfo(arr.dtype).max)
    if arr.dtype == bool:
        return arr.astype(np.float32)
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def grayscale(pixels) -> np.ndarray:
    """A picture as one grey level per pixel: gray = 0.299·R + 0.587·G + 0.114·B, in [0, 1].

    ``pixels``: ``(H, W)`` grey, ``(H, W, 1)``, ``(H, W, 2)`` grey and alpha,
    ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA; integers (0..255 for uint8) or
    floats in [0, 1]. Transparent pixels become the paper: gray = α·gray +
    (1 − α)·paper, the paper white under dark strokes and black under light
    ones. Returns ``(H, W)`` float32.

    >>> grayscale(np.array([[[255, 0, 0], [255, 255, 255]]], np.uint8)).round(3).tolist()
    [[0.299, 1.0]]
    >>> grayscale(np.array([[[0, 255], [0, 0]]], np.uint8)).tolist()   # black ink, transparent paper
    [[0.0, 1.0]]
    """
    arr = _unit(pixels)
    if arr.ndim == 2:
        return arr
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise DataError(f"expected an image of shape (H, W) or (H, W, 1..4), got {arr.shape}")
    colour, alpha = (arr[..., :-1], arr[..., -1]) if arr.shape[2] in (2, 4) else (arr, None)
    gray = colour[..., 0] if colour.shape[2] == 1 else colour @ np.asarray(LUMA, np.float32)
    if alpha is None:
        return gray
    strokes = float((gray * alpha).sum() / max(float(alpha.sum()), 1e-6))
    paper = np.float32(1.0 if strokes < 0.5 else 0.0)
    return alpha * gray + (1 - alpha) * paper


def border(gray: np.ndarray) -> np.ndarray:
    """The pixels of the outermost rows and columns, shape ``(2·H + 2·W − 4,)`` (all if thinner).

    >>> border(np.arange(9).reshape(3, 3)).tolist()
    [0, 1, 2, 6, 7, 8, 3, 5]
    """
    if min(gray.shape) <= 2:
        return gray.ravel()
    return np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])


def to_ink(gray: np.ndarray) -> np.ndarray:
    """Ink as light on black, stretched to [0, 1]: ink = clip((x − lo) / (hi − lo), 0, 1).

    ``x`` is ``gray``, or ``1 − gray`` when the median border pixel is light
    (> 0.5: a dark digit on light paper). With ``paper`` the median border
    level of ``x`` and ``hi = max x``, ``lo = paper + 0.1·(hi − paper)``:
    the faintest tenth (paper texture, JPEG noise) becomes 0. ``(H, W)`` to
    ``(H, W)`` float32. Raises DataError when hi − paper < 0.1 (no ink).

    >>> to_ink(np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 0.55, 1.0]])).round(2).tolist()
    [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.39, 0.0]]
    >>> to_ink(np.full((4, 4), 0.5))
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: no ink: the picture is blank (no pixel differs from the paper by 10% or more)
    """
    x = np.asarray(gray, np.float32)
    x = 1 - x if float(np.median(border(x))) > 0.5 else x
    paper, hi = float(np.median(border(x))), float(x.max(initial=0.0))
    if hi - paper < MIN_CONTRAST:
        raise DataError("no ink: the picture is blank (no pixel differs from the paper "
                        f"by {MIN_CONTRAST:.0%} or more)")
    lo = paper + NOISE * (hi - paper)
    return np.clip((x - np.float32(lo)) / np.float32(hi - lo), 0, 1)


def ink_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)``: the smallest box holding every pixel > 0 (end exclusive).

    >>> img = np.zeros((5, 6)); img[1, 2] = img[3, 4] = 1
    >>> ink_box(img)
    (1, 4, 2, 5)
    """
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not len(rows):
        raise DataError("no ink: the picture is blank")
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The ``(n_out, n_in)`` linear map of a triangle-filter resize along one axis.

    Output pixel i is centred at c_i = (i + ½)·n_in/n_out in input units; its
    weights are w_ij ∝ max(0, 1 − |j + ½ − c_i| / s) with s = max(1, n_in/n_out),
    normalised so each row sums to 1: bilinear when enlarging, and when
    shrinking a filter s pixels wide that averages all the pixels it
    covers (anti-aliasing, as Pillow's resize does).

    >>> resample_matrix(4, 2).round(3).tolist()
    [[0.429, 0.429, 0.143, 0.0], [0.0, 0.143, 0.429, 0.429]]
    >>> resample_matrix(3, 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    ratio = n_in / n_out
    support = max(1.0, ratio)
    centres = (np.arange(n_out) + 0.5) * ratio
    w = np.maximum(0.0, 1 - np.abs(np.arange(n_in) + 0.5 - centres[:, None]) / support)
    return w / w.sum(axis=1, keepdims=True)


def resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """``img: (H, W)`` resized to ``(height, width)``: small = R_h · img · R_wᵀ.

    >>> resize(np.ones((7, 3), np.float32), 2, 5).tolist() == np.ones((2, 5)).tolist()
    True
    """
    small = resample_matrix(img.shape[0], height) @ img @ resample_matrix(img.shape[1], width).T
    return small.astype(np.float32)


def fit(ink: np.ndarray, box: int = BOX) -> np.ndarray:
    """``ink`` scaled so its longer side is ``box`` pixels, keeping the aspect ratio.

    The shorter side is round(short·box/long), at least 1 pixel.

    >>> fit(np.ones((40, 10)), 20).shape, fit(np.ones((3, 6)), 20).shape
    ((20, 5), (10, 20))
    """
    h, w = ink.shape
    scale = box / max(h, w)
    return resize(np.asarray(ink, np.float32), max(1, round(h * scale)), max(1, round(w * scale)))


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    """``(r, c) = (Σ I·r, Σ I·c) / Σ I`` in pixel indices (the top-left pixel's centre is (0, 0)).

    >>> centre_of_mass(np.array([[0.0, 1.0], [0.0, 3.0]]))
    (0.75, 1.0)
    """
    img = np.asarray(img, np.float64)
    total = img.sum()
    if total <= 0:
        raise DataError("no ink: the picture is blank")
    rows, cols = img.sum(axis=1), img.sum(axis=0)
    return (float(rows @ np.arange(len(rows)) / total), float(cols @ np.arange(len(cols)) / total))


def place(small: np.ndarray, side: int = SIDE) -> np.ndarray:
    """``small: (h, w)`` in a ``(side, side)`` field of zeros, its centre of mass at the centre.

    The centre is pixel (side/2, side/2), where MNIST's digits have theirs
    (to within half a pixel: (14, 14) in 28 × 28). The offset is
    round(side/2 − centre of mass) per axis, clamped so that the whole of
    ``small`` stays inside. A symmetric digit puts the centre of mass on a
    half pixel: the offset is rounded to 4 decimals first, so that rounding
    noise of 1e-7 (the same digit on grey or coloured paper) does not move
    it by a whole pixel; an exact half rounds to the even offset.

    >>> dot = np.zeros((3, 3)); dot[0, 0] = 1
    >>> field = place(dot, 6)
    >>> field.shape, centre_of_mass(field)
    ((6, 6), (3.0, 3.0))
    """
    h, w = small.shape
    if h > side or w > side:
        raise ValueError(f"a {h}x{w} image does not fit a {side}x{side} field")
    com = centre_of_mass(small)
    top, left = (min(max(round(round(side / 2 - c, 4)), 0), side - n)
                 for c, n in zip(com, (h, w)))
    return np.pad(np.asarray(small, np.float32), ((top, side - h - top), (left, side - w - left)))


def preprocess(pixels, side: int = SIDE, box: int | None = None) -> np.ndarray:
    """A picture as the network sees it: MNIST's recipe (module docstring), ``(side, side)`` float32.

    ``pixels``: anything :func:`grayscale` takes. ``box`` defaults to
    round(side·20/28) (20 for MNIST's 28). Raises DataError when the
    picture has no ink.

    >>> preprocess(np.eye(50)).shape
    (28, 28)
    """
    ink = to_ink(grayscale(pixels))
    top, bottom, left, right = ink_box(ink)
    small = fit(ink[top:bottom, left:right], box or round(side * BOX / SIDE))
    return place(small, side)


# ---------------------------------------------------------------- the model's side


def input_shape(params) -> tuple[int, ...]:
    """The shape of one example the model takes: ``(784,)`` for an MLP on MNIST.

    >>> from funcnet import rng
    >>> input_shape(model.init(rng.key(0), (784, 16, 10)))
    (784,)
    >>> from funcnet.layers import conv2d, flatten, dense
    >>> input_shape(model.init(rng.key(0), (conv2d(2, 3), flatten(), dense(10)), input_shape=(28, 28, 1)))
    (28, 28, 1)
    """
    return tuple(int(s) for s in model.input_shape(params))


def field_side(shape: tuple[int, ...]) -> int:
    """The side of the square field that fills an input of ``shape``: √n for ``(n,)``, H for ``(H, H, C)``.

    >>> field_side((784,)), field_side((28, 28, 1))
    (28, 28)
    >>> field_side((10,))
    Traceback (most recent call last):
    ...
    funcnet.errors.DataError: the model takes inputs of shape (10,), not a square image
    """
    if len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
        return math.isqrt(shape[0])
    if len(shape) == 3 and shape[0] == shape[1]:
        return int(shape[0])
    raise DataError(f"the model takes inputs of shape {tuple(shape)}, not a square image")


def as_input(fields: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Fields ``(n, side, side)`` as a batch ``(n, *shape)``: rows of side² pixels, or NHWC images.

    >>> as_input(np.zeros((2, 28, 28)), (784,)).shape, as_input(np.zeros((2, 28, 28)), (28, 28, 1)).shape
    ((2, 784), (2, 28, 28, 1))
    """
    fields = np.asarray(fields, np.float32)
    if len(shape) == 1:
        return fields.reshape(len(fields), -1)
    return np.repeat(fields[..., None], shape[2], axis=3)


def probabilities(params, fields: np.ndarray, model_state=None) -> np.ndarray:
    """Class probabilities ``(n, classes)`` for fields ``(n, side, side)``: softmax(Z_L).

    >>> from funcnet import rng
    >>> probabilities(model.init(rng.key(0), (784, 16, 10)), np.zeros((3, 28, 28))).shape
    (3, 10)
    """
    return model.predict_proba(params, as_input(fields, input_shape(params)), model_state=model_state)


def first_layer(params, fields: np.ndarray, model_state=None) -> np.ndarray:
    """The first hidden layer's activations for fields ``(n, side, side)``.

    The output of the network's first activation layer, A1 = g(X·W1 + b1)
    ``(n, h1)`` for an MLP, or g(conv(X)) feature maps ``(n, H, W, C)`` for a
    convolutional network (after batch norm where there is one); for a
    network without an activation before its last layer, the first layer's
    output (Z1 = X·W1 + b1).

    >>> from funcnet import rng
    >>> first_layer(model.init(rng.key(0), (784, 16, 10)), np.ones((2, 28, 28))).shape
    (2, 16)
    >>> from funcnet.layers import conv2d, relu, flatten, dense
    >>> cnn = model.init(rng.key(0), (conv2d(4, 3), relu(), flatten(), dense(10)), input_shape=(28, 28, 1))
    >>> first_layer(cnn, np.ones((2, 28, 28))).shape
    (2, 26, 26, 4)
    """
    from .layers import kind_of

    outs = model.intermediates(params, as_input(fields, input_shape(params)), model_state)
    kinds = [kind_of(layer) for layer in params.layers]
    hidden = [i for i, k in enumerate(kinds[:-1]) if k == "activation"]
    return outs[hidden[0] if hidden else 0]


# ---------------------------------------------------------------- presentation


def prediction_line(name: str, probs: np.ndarray, names=None) -> str:
    """``name: label (confidence), runner-up label (p)`` for one picture's probabilities.

    >>> prediction_line("seven.png", np.array([0.01, 0.04, 0.0, 0.0, 0.0, 0.0, 0.0, 0.95, 0.0, 0.0]))
    'seven.png: 7 (95.0%), runner-up 1 (4.0%)'
    """
    label = (lambda k: names[k]) if names else str
    first, second = np.argsort(-np.asarray(probs), kind="stable")[:2]
    return (f"{name}: {label(int(first))} ({float(probs[first]):.1%}), "
            f"runner-up {label(int(second))} ({float(probs[second]):.1%})")


def predictions_csv(files, probs: np.ndarray) -> str:
    """``file,label,confidence,p0..p{k−1}``, one row per picture.

    >>> print(predictions_csv(["a.png"], np.array([[0.25, 0.75]])), end="")
    file,label,confidence,p0,p1
    a.png,1,0.750000,0.250000,0.750000
    """
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["file", "label", "confidence", *(f"p{k}" for k in range(probs.shape[1]))])
    for name, p in zip(files, probs):
        k = int(np.argmax(p))
        writer.writerow([name, k, f"{p[k]:.6f}", *(f"{v:.6f}" for v in p)])
    return buf.getvalue()
