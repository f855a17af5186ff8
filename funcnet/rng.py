"""Explicit random keys: no hidden state, the same key gives the same bits.

A *key* is a read-only ``uint32`` array of four words (128 bits). Keys come
from a seed with :func:`key`, and new independent keys from old ones with
:func:`split` (or :func:`fold_in`); a key is never advanced in place. Under the
hood each key is the entropy of a ``numpy.random.SeedSequence``, and
children are derived with the ``spawn_key`` argument (not the stateful
``.spawn()``), so deriving a child never changes its parent.

>>> k = key(0)
>>> a, b = split(k)
>>> bool((uniform(a, (3,)) == uniform(a, (3,))).all())
True
>>> bool((uniform(a, (3,)) == uniform(b, (3,))).any())
False
"""

from __future__ import annotations

import numpy as np

__all__ = ["key", "split", "fold_in", "generator", "uniform", "normal",
           "permutation", "bernoulli"]

_WORDS = 4
_FOLD = 0x5EED  # domain of fold_in children, apart from split's


def _freeze(words: np.ndarray) -> np.ndarray:
    words = np.asarray(words, dtype=np.uint32)
    words.flags.writeable = False
    return words


def _check(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k)
    if k.shape != (_WORDS,) or k.dtype != np.uint32:
        raise TypeError(f"expected a key (uint32 array of shape ({_WORDS},)) "
                        f"from funcnet.rng.key, got {k.dtype} array of shape {k.shape}")
    return k


def key(seed: int) -> np.ndarray:
    """The key of an integer seed ≥ 0.

    >>> key(42).shape, key(42).dtype
    ((4,), dtype('uint32'))
    >>> bool((key(1) == key(1)).all()), bool((key(1) == key(2)).all())
    (True, False)
    """
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return _freeze(np.random.SeedSequence(int(seed)).generate_state(_WORDS, np.uint32))


def _child(k: np.ndarray, spawn_key: tuple) -> np.ndarray:
    seq = np.random.SeedSequence(entropy=[int(w) for w in _check(k)], spawn_key=spawn_key)
    return _freeze(seq.generate_state(_WORDS, np.uint32))


def split(k: np.ndarray, n: int = 2) -> tuple[np.ndarray, ...]:
    """``n`` new keys, independent of each other and of ``k``.

    >>> len(split(key(0), 3))
    3
    >>> bool((split(key(0))[0] == split(key(0))[0]).all())
    True
    """
    return tuple(_child(k, (i,)) for i in range(n))


def fold_in(k: np.ndarray, data: int) -> np.ndarray:
    """A key derived from ``k`` and an integer (a step or epoch number).

    >>> bool((fold_in(key(0), 1) == fold_in(key(0), 2)).all())
    False
    """
    return _child(k, (_FOLD, int(data)))


def generator(k: np.ndarray) -> np.random.Generator:
    """A fresh NumPy ``Generator`` seeded by ``k`` (use it once, then drop it)."""
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(entropy=[int(w) for w in _check(k)])))


def uniform(k, shape, low: float = 0.0, high: float = 1.0, dtype=np.float32) -> np.ndarray:
    """Samples of U[low, high) of the given shape and floating dtype.

    Drawn in float64 and rounded to ``dtype``, so a key gives the same
    numbers (to rounding) in float32 and float64.

    >>> u = uniform(key(0), (1000,), -0.5, 0.5)
    >>> bool(u.min() >= -0.5 and u.max() < 0.5), u.dtype
    (True, dtype('float32'))
    """
    dtype = np.dtype(dtype)
    out = (generator(k).random(shape) * (high - low) + low).astype(dtype)
    below = np.nextafter(dtype.type(high), dtype.type(low))  # rounding must not reach high
    return np.minimum(out, below, out=out) if out.ndim else np.minimum(out, below)


def normal(k, shape, dtype=np.float32) -> np.ndarray:
    """Samples of the standard normal N(0, 1), drawn in float64 and rounded to ``dtype``.

    >>> x = normal(key(0), (20000,), np.float64)
    >>> bool(abs(x.mean()) < 0.05 and abs(x.std() - 1) < 0.05)
    True
    """
    return generator(k).standard_normal(shape).astype(dtype)


def permutation(k, n: int) -> np.ndarray:
    """A random permutation of ``range(n)``.

    >>> sorted(permutation(key(3), 5).tolist())
    [0, 1, 2, 3, 4]
    """
    return generator(k).permutation(int(n))


def bernoulli(k, p: float, shape) -> np.ndarray:
    """Boolean samples, True with probability ``p``.

    >>> m = bernoulli(key(0), 0.8, (100000,))
    >>> bool(abs(m.mean() - 0.8) < 0.01)
    True
    """
    return generator(k).random(shape, dtype=np.float32) < np.float32(p)
