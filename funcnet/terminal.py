"""Digits drawn in a terminal with Unicode block shading: pure functions to lines of text.

A 28x28 image becomes 14 lines of 28 characters: each character covers two
pixel rows (top and bottom). When the two halves differ sharply the cell is
a half block (``▀`` top lit, ``▄`` bottom lit); otherwise its shade follows
the mean intensity on the ramp ``" ░▒▓█"``. With ``ascii=True`` the ramp is
``" .:*#"`` and no half blocks are used (for terminals that cannot show
Unicode).

>>> img = np.zeros((28, 28)); img[4:20, 13:15] = 1.0
>>> print("\\n".join(render_digit(img.ravel())[1:4]))
<BLANKLINE>
             ██
             ██
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SHADES", "ASCII_SHADES", "to_unit", "render_digit", "card", "side_by_side",
           "grid", "can_encode"]

SHADES = " ░▒▓█"
ASCII_SHADES = " .:*#"
UPPER, LOWER = "▀", "▄"


def to_unit(pixels, side: int | None = None) -> np.ndarray:
    """A flat image as a ``(side, side)`` float array in [0, 1].

    Integer pixels are divided by 255; floats above 1 too (they are taken
    as 0..255 values); floats in [0, 1] pass through. ``side`` defaults to
    √(number of pixels).

    >>> to_unit(np.array([0, 255, 51, 0], np.uint8)).tolist()
    [[0.0, 1.0], [0.2, 0.0]]
    >>> to_unit([0.0, 0.5, 1.0])
    Traceback (most recent call last):
    ...
    ValueError: expected a square image, got 3 pixels
    """
    arr = np.asarray(pixels)
    n = arr.size
    side = side or math.isqrt(n)
    if side * side != n:
        raise ValueError(f"expected a square image, got {n} pixels")
    arr = arr.reshape(side, side).astype(np.float64)
    if np.issubdtype(np.asarray(pixels).dtype, np.integer) or arr.max(initial=0.0) > 1.0:
        arr = arr / 255.0
    return np.clip(arr, 0.0, 1.0)


def _cell(top: float, bottom: float, shades: str, halves: bool) -> str:
    """The character for one cell of two stacked pixels in [0, 1].

    >>> _cell(1.0, 0.0, SHADES, True), _cell(0.0, 1.0, SHADES, True), _cell(0.5, 0.5, SHADES, True)
    ('▀', '▄', '▒')
    """
    top_level, bottom_level = (round(v * (len(shades) - 1)) for v in (top, bottom))
    if halves and abs(top_level - bottom_level) >= 3:
        return UPPER if top_level > bottom_level else LOWER
    return shades[round((top + bottom) / 2 * (len(shades) - 1))]


def render_digit(pixels, *, ascii: bool = False) -> list[str]:
    """A flat square image (784 pixels for MNIST) as lines of shaded blocks.

    Each line holds one character per pixel column and covers two pixel
    rows, so a 28x28 digit is 14 lines of 28 characters (an odd number of
    rows gets a blank row at the bottom).

    >>> img = np.zeros((28, 28)); img[2:4, 1:3] = 1.0; img[5, 1:3] = 1.0; img[6, 1] = 0.5
    >>> lines = render_digit(img.ravel())
    >>> len(lines), {len(line) for line in lines}
    (14, {28})
    >>> [line[:4] for line in lines[1:4]]
    [' ██ ', ' ▄▄ ', ' ░  ']
    >>> render_digit(img.ravel(), ascii=True)[2][:4]
    ' :: '
    """
    img = to_unit(pixels)
    if img.shape[0] % 2:
        img = np.vstack([img, np.zeros((1, img.shape[1]))])
    shades = ASCII_SHADES if ascii else SHADES
    return ["".join(_cell(t, b, shades, not ascii) for t, b in zip(img[r], img[r + 1]))
            for r in range(0, img.shape[0], 2)]


def card(pixels, caption: str | list[str], *, ascii: bool = False) -> list[str]:
    """A digit with its caption lines below, every line as wide as the digit.

    Captions longer than the digit are cut.

    >>> lines = card(np.zeros(784, np.uint8), "pred 7  97%")
    >>> len(lines), lines[-1]
    (15, 'pred 7  97%                 ')
    """
    lines = render_digit(pixels, ascii=ascii)
    width = len(lines[0])
    captions = [caption] if isinstance(caption, str) else list(caption)
    return lines + [c[:width].ljust(width) for c in captions]


def side_by_side(blocks: list[list[str]], gap: int = 3) -> list[str]:
    """Blocks of lines placed left to right, ``gap`` spaces apart, trailing spaces dropped.

    Shorter blocks are padded with blank lines at the bottom.

    >>> side_by_side([["ab", "cd"], ["x"]], gap=1)
    ['ab x', 'cd']
    """
    if not blocks:
        return []
    height = max(len(b) for b in blocks)
    widths = [max((len(line) for line in b), default=0) for b in blocks]
    padded = [b + [""] * (height - len(b)) for b in blocks]
    return [(" " * gap).join(line.ljust(w) for line, w in zip(row, widths)).rstrip()
            for row in zip(*padded)]


def grid(blocks: list[list[str]], width: int = 80, gap: int = 3) -> list[str]:
    """Blocks laid out in rows that fit ``width`` columns, a blank line between rows.

    >>> grid([["a"], ["b"], ["c"]], width=4, gap=1)
    ['a b', '', 'c']
    """
    if not blocks:
        return []
    block_width = max(len(line) for b in blocks for line in b) if any(blocks) else 1
    per_row = max(1, (width + gap) // (block_width + gap))
    rows = [side_by_side(blocks[i:i + per_row], gap) for i in range(0, len(blocks), per_row)]
    return [line for i, row in enumerate(rows) for line in ([""] if i else []) + row]


def can_encode(encoding: str | None, text: str = SHADES + UPPER + LOWER) -> bool:
    """Whether a stream with ``encoding`` can print ``text`` (the block characters).

    >>> can_encode("utf-8"), can_encode("ascii"), can_encode(None)
    (True, False, False)
    """
    if not encoding:
        return False
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
