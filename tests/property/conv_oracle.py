"""Independent loop implementations of convolution and max pooling (a test oracle).

Written from the definitions, one output pixel at a time, with explicit
zero padding: slow, and sharing no code with funcnet.layers.
"""

import numpy as np


def same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding: out = ceil(size/s), total = max((out−1)·s + k − size, 0)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x, w, b, stride, padding):
    """y[n, i, j, o] = b[o] + Σ_{p,q,c} xpad[n, i·s + p, j·s + q, c]·w[p, q, c, o]."""
    n, h, wd, c = x.shape
    kh, kw, _, co = w.shape
    if padding == "same":
        (t, bo), (l, r) = same_pads(h, kh, stride), same_pads(wd, kw, stride)
    else:
        t = bo = l = r = 0
    xp = np.zeros((n, h + t + bo, wd + l + r, c), x.dtype)
    xp[:, t:t + h, l:l + wd] = x
    oh = (xp.shape[1] - kh) // stride + 1
    ow = (xp.shape[2] - kw) // stride + 1
    y = np.zeros((n, oh, ow, co), np.result_type(x, w))
    for a in range(n):
        for i in range(oh):
            for j in range(ow):
                patch = xp[a, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
                for o in range(co):
                    y[a, i, j, o] = b[o] + np.sum(patch * w[:, :, :, o])
    return y


def max_pool(x, size, stride):
    """(y, argmax positions): y[n, i, j, c] = max of the window; the position taken is the
    first maximum in column-major order (smallest column, then smallest row)."""
    n, h, w, c = x.shape
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    y = np.zeros((n, oh, ow, c), x.dtype)
    where = {}
    for a in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    win = x[a, i * stride:i * stride + size, j * stride:j * stride + size, ch]
                    flat = win.T.reshape(-1)  # column-major: index q·size + p
                    k = int(np.argmax(flat))
                    q, p = divmod(k, size)
                    y[a, i, j, ch] = flat[k]
                    where[a, i, j, ch] = (i * stride + p, j * stride + q)
    return y, where


def max_pool_grad(x, size, stride, dy):
    """dx: each dy[n, i, j, c] added at its window's argmax (as chosen by max_pool)."""
    _, where = max_pool(x, size, stride)
    dx = np.zeros(x.shape, dy.dtype)
    for (a, i, j, ch), (r, s) in where.items():
        dx[a, r, s, ch] += dy[a, i, j, ch]
    return dx
