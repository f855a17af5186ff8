"""Central finite differences with an error bound derived from the step and the values.

A difference quotient carries two errors of its own (as ``torch.autograd.gradcheck`` allows
for with ``atol + rtol·|numeric|``):

- truncation: the five-point stencil D(h) = [8(f(a+h) − f(a−h)) − (f(a+2h) − f(a−2h))]/12h
  is exact for polynomials of degree 4, its error is ~h⁴·f⁽⁵⁾/30. D(2h)'s is 16 times
  larger, so |D(h) − D(2h)| ≈ 15·|error of D(h)|: the difference of the two estimates bounds
  the truncation error of D(h) with a factor 15 to spare, wherever f is smooth at scale 4h.
- rounding: each f is computed with a relative error of at most ~K·ε (K float operations
  in a chain; K = 1,000 covers these small networks many times over), so the quotient's
  rounding error is at most (8 + 8 + 1 + 1)·K·ε·max|f| / 12h.

A gradient is then accepted where |analytic − D(h)| ≤ truncation + rounding + 1e-6·|D(h)|
(the last term only for the analytic side's own rounding in long sums).
"""

from __future__ import annotations

import numpy as np

STEP = 1e-4
EPS = np.finfo(np.float64).eps
OPS = 1000


def numeric(f, a: np.ndarray, h: float = STEP) -> tuple[np.ndarray, np.ndarray]:
    """``(D(h), bound)`` at every entry of ``a``: the five-point derivative of the scalar ``f``
    and the bound on its error (truncation from D(2h), rounding from the values)."""
    grad, bound = np.zeros_like(a), np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        def at(d):
            moved = a.copy()
            moved[idx] += d
            return float(f(moved))
        v = {k: at(k * h) for k in (-4, -2, -1, 1, 2, 4)}
        d1 = (8 * (v[1] - v[-1]) - (v[2] - v[-2])) / (12 * h)
        d2 = (8 * (v[2] - v[-2]) - (v[4] - v[-4])) / (24 * h)
        rounding = 18 * OPS * EPS * max(abs(x) for x in v.values()) / (12 * h)
        grad[idx], bound[idx] = d1, abs(d1 - d2) + rounding
    return grad, bound


def assert_matches(analytic: np.ndarray, f, a: np.ndarray, what: str = "") -> None:
    """``analytic`` equals the derivative of ``f`` at ``a`` within the derived bound."""
    grad, bound = numeric(f, a)
    slack = bound + 1e-6 * np.abs(grad)
    err = np.abs(np.asarray(analytic) - grad)
    worst = np.unravel_index(np.argmax(err - slack), err.shape) if err.size else ()
    assert (err <= slack).all(), (f"{what}: at {worst} analytic {np.asarray(analytic)[worst]:.10g}, "
                                  f"numeric {grad[worst]:.10g}, error {err[worst]:.3g} > "
                                  f"bound {slack[worst]:.3g}")


# A leaf whose gradient cancels to ~0 (a bias right before batch norm) keeps the rounding of
# the O(1) terms it summed: each entry sums at most ~1,500 products (batch × fan-in of these
# small networks) with an error ≤ 1,500·ε ≈ 3.3e-13, and a leaf of ≤ 225 entries has an
# error norm ≤ 15 × 3.3e-13 ≈ 5e-12. That is the absolute floor beside the relative 1e-10.
EXACT_FLOOR = 5e-12


def assert_exact(expected: np.ndarray, got: np.ndarray, what: str = "", rtol: float = 1e-10) -> None:
    """Two exact methods (backprop and an autodiff oracle) agree to float64 rounding:
    ‖a − b‖ ≤ rtol·max(‖a‖, ‖b‖) + :data:`EXACT_FLOOR` (for leaves whose gradient cancels)."""
    expected, got = np.asarray(expected), np.asarray(got)
    assert expected.shape == got.shape, (what, expected.shape, got.shape)
    err = float(np.linalg.norm(expected - got))
    scale = max(float(np.linalg.norm(expected)), float(np.linalg.norm(got)))
    assert err <= rtol * scale + EXACT_FLOOR, f"{what}: error {err:.3g} against norm {scale:.3g}"
