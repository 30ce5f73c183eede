"""The sets of parallel-trends violations of Rambachan & Roth (2023) as linear constraints.

A violation is the vector ``delta`` of biases of the event-study coefficients, ordered as the
coefficients: ``num_pre`` pre-periods (earliest first), then ``num_post`` post-periods; the
reference period (event time -1, whose bias is 0 by normalisation) is left out. Each restriction
is written as ``{delta : A delta <= d}`` so that the tests of :mod:`evalkit.did.honest_arp` can work
on ``A betahat - d`` (Andrews, Roth & Pakes 2023 moment inequalities).

- :func:`sd_constraints` -- Delta^SD(M): the slope of the violation changes by at most ``M``
  between consecutive periods, ``|(d_t - d_{t-1}) - (d_{t-1} - d_{t-2})| <= M``
  (Rambachan & Roth 2023, section 2.4.1);
- :func:`rm_constraints` -- one piece of Delta^RM(Mbar): post-period one-period changes of the
  violation at most ``Mbar`` times the largest pre-period change. Delta^RM is the union over which
  pre-period change is the largest (``s``) and its sign; :func:`rm_pieces` lists the pieces.

The rows are built the way the R package HonestDiD builds them (``.create_A_SD``,
``.create_A_RM``) so that confidence sets computed on a grid match it point by point.
"""
from __future__ import annotations

import numpy as np

from ..errors import EstimationError

__all__ = ["sd_constraints", "rm_constraints", "rm_pieces", "sdrm_constraints", "post_rows"]


def _check_periods(num_pre: int, num_post: int) -> tuple[int, int]:
    try:
        pre, post = int(num_pre), int(num_post)
    except (TypeError, ValueError):
        raise EstimationError(
            f"num_pre and num_post must be whole numbers of periods (got {num_pre!r}, {num_post!r})."
        ) from None
    if pre != num_pre or post != num_post or pre < 1 or post < 1:
        raise EstimationError(
            f"num_pre={num_pre!r} and num_post={num_post!r}: both must be whole numbers >= 1 "
            "(count the event-study coefficients before and after the start, without the reference period)."
        )
    return pre, post


def sd_constraints(num_pre: int, num_post: int) -> tuple[np.ndarray, np.ndarray]:
    """``(A, d)`` with Delta^SD(M) = {delta : A delta <= M * d}.

    Rows are the second differences of the violation over the full path including the reference
    period (whose violation is 0): for every three consecutive periods ``t-2, t-1, t`` one row
    ``+(d_t - 2 d_{t-1} + d_{t-2})`` and, below all of them, the same rows negated. ``d`` is a vector
    of ones. Shape: ``A`` is ``(2 (num_pre + num_post - 1), num_pre + num_post)``.
    """
    pre, post = _check_periods(num_pre, num_post)
    n = pre + post
    full = np.zeros((n - 1, n + 1))
    for r in range(n - 1):
        full[r, r:r + 3] = (1.0, -2.0, 1.0)
    half = np.delete(full, pre, axis=1)
    A = np.vstack([half, -half])
    return A, np.ones(A.shape[0])


def rm_constraints(num_pre: int, num_post: int, mbar: float, s: int,
                   max_positive: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(A, d)`` of one piece of Delta^RM(Mbar): one pre-period change of the violation is the
    largest one and has the sign ``+`` (``max_positive``) or ``-``. ``s = 0`` is the change from the
    last pre-period into the reference period, ``s = -1`` the change before it, and so on down to
    ``s = -(num_pre - 1)`` (HonestDiD's ``s``, whose event time 0 is the reference).

    Rows: every pre-period change at most that change in absolute value; every post-period change
    at most ``Mbar`` times it. ``d`` is zero. Rows that are identically zero are dropped (as
    HonestDiD does), so the number of rows depends on ``s``.
    """
    pre, post = _check_periods(num_pre, num_post)
    s = int(s)
    if not -(pre - 1) <= s <= 0:
        raise EstimationError(f"s={s} must lie in {-(pre - 1)}..0 for {pre} pre-periods.")
    if not np.isfinite(mbar) or mbar < 0:
        raise EstimationError(f"Mbar={mbar!r} must be a finite number >= 0.")
    n = pre + post
    diffs = np.zeros((n, n + 1))
    for r in range(n):
        diffs[r, r:r + 2] = (-1.0, 1.0)
    v = np.zeros(n + 1)
    v[pre + s - 1:pre + s + 1] = (-1.0, 1.0)
    if not max_positive:
        v = -v
    bound = np.vstack([np.tile(v, (pre, 1)), np.tile(mbar * v, (post, 1))])
    A = np.vstack([diffs - bound, -diffs - bound])
    A = A[np.einsum("ij,ij->i", A, A) > 1e-10]
    A = np.delete(A, pre, axis=1)
    return A, np.zeros(A.shape[0])


def sdrm_constraints(num_pre: int, num_post: int, mbar: float, s: int,
                     max_positive: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(A, d)`` of one piece of Delta^SDRM(Mbar) (HonestDiD ``.create_A_SDRM``): the pre-period
    second difference centred on event time ``s - 1`` (``s`` in ``-(num_pre - 2), ..., 0``) is the
    largest, with sign ``+``/``-``; every other pre-period second difference is at most it in
    absolute value, every post-period one at most ``Mbar`` times it. Needs ``num_pre >= 2``."""
    pre, post = _check_periods(num_pre, num_post)
    s = int(s)
    if pre < 2 or not -(pre - 2) <= s <= 0:
        raise EstimationError(f"s={s} must lie in {-(pre - 2)}..0 (and num_pre >= 2) for Delta^SDRM.")
    n = pre + post
    second = np.zeros((n - 1, n + 1))
    for r in range(n - 1):
        second[r, r:r + 3] = (1.0, -2.0, 1.0)
    v = np.zeros(n + 1)
    v[pre + s - 2:pre + s + 1] = (1.0, -2.0, 1.0)
    if not max_positive:
        v = -v
    bound = np.vstack([np.tile(v, (pre - 1, 1)), np.tile(mbar * v, (post, 1))])
    A = np.vstack([second - bound, -second - bound])
    A = A[np.einsum("ij,ij->i", A, A) > 1e-10]
    A = np.delete(A, pre, axis=1)
    return A, np.zeros(A.shape[0])


def rm_pieces(num_pre: int) -> list[tuple[int, bool]]:
    """The ``(s, max_positive)`` pieces whose union is Delta^RM, in HonestDiD's order."""
    return [(s, sign) for s in range(-(int(num_pre) - 1), 1) for sign in (True, False)]


def post_rows(A: np.ndarray, num_pre: int) -> np.ndarray:
    """Indices of the rows of ``A`` that involve at least one post-period violation."""
    return np.flatnonzero(np.any(A[:, num_pre:] != 0, axis=1))
