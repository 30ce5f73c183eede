"""One permutation engine for randomization inference: enumerate or draw reassignments, count, invert.

Randomization inference reassigns something observed per cluster — a treatment schedule, a
programme start year — among the clusters, recomputes the statistic under every reassignment and
compares it with the observed one. Clusters with the same label are exchangeable, so the
reassignments are the distinct arrangements of the *multiset* of labels (``G! / prod(n_s!)`` of
them). Both :func:`evalkit.randomization_test` and :func:`evalkit.programme_effect` use this module:

* :func:`n_arrangements` counts them; :func:`all_arrangements` enumerates them in blocks of at
  most :data:`BLOCK` rows (exact test), :func:`random_arrangements` draws permutations (the
  observed arrangement first), also in blocks; :func:`plan` picks one or the other;
* :func:`null_distribution` evaluates a vectorised statistic block by block and puts the
  observed arrangement in row 0, so memory stays bounded whatever the number of arrangements;
* :func:`p_value` is the two-sided count ``#{|T_a| >= |T_0|} / A`` with ties counted up to a
  relative :data:`TIE_RTOL`, the observed arrangement included (never below 1/A);
* :func:`invert` is the confidence interval of a statistic that is linear in the hypothesised
  effect (``T_a(tau) = stat_a - tau dstat_a``), by exact test inversion: each arrangement's
  comparison with the observed one changes at no more than two values of ``tau``, found in
  closed form; no grid, no bisection.

References
----------
MacKinnon, J. G. and Webb, M. D. (2020). Randomization inference for difference-in-differences
with few treated clusters. Journal of Econometrics 218(2), 435-450.
"""
from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

__all__ = ["MAX_EXACT", "N_RANDOM", "BLOCK", "TIE_RTOL", "Plan", "plan", "n_arrangements",
           "all_arrangements", "random_arrangements", "null_distribution", "p_value", "invert"]

MAX_EXACT = 1_000_000
"""Enumerate every distinct arrangement up to this many (default of :func:`evalkit.programme_effect`)."""
N_RANDOM = 9_999
"""Random arrangements drawn when there are more than can be enumerated."""
BLOCK = 8_192
"""Arrangements evaluated at once: bounds the working memory (a few MB per block)."""
TIE_RTOL = 1e-10
"""``|T_a| >= |T_0|`` counts when ``|T_a| >= (1 - TIE_RTOL) |T_0|``: equal statistics computed along
different rounding paths are ties."""


def n_arrangements(labels: np.ndarray) -> int:
    """Number of distinct arrangements of the multiset ``labels`` (a multinomial coefficient)."""
    labels = np.asarray(labels)
    n = math.factorial(labels.size)
    for c in Counter(labels.tolist()).values():
        n //= math.factorial(c)
    return n


def all_arrangements(labels: np.ndarray, block: int = BLOCK) -> Iterator[np.ndarray]:
    """Every distinct arrangement of ``labels``, in blocks of at most ``block`` rows.

    Arrangement number i is decoded from mixed-radix digits: digit j picks which of the positions
    still free receive the j-th smallest label (one of C(free, count_j) combinations, in
    lexicographic order); the largest label fills the rest. Only the combination tables and one
    block are ever in memory.
    """
    labels = np.asarray(labels)
    kinds, counts = np.unique(labels, return_counts=True)
    K = labels.size
    tables, free_n = [], K
    for c in counts[:-1]:
        flat = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(free_n), int(c))),
                           dtype=np.intp)
        tables.append(flat.reshape(-1, int(c)))
        free_n -= int(c)
    radix = [len(t) for t in tables]
    total = math.prod(radix)
    for start in range(0, total, block):
        rest = np.arange(start, min(start + block, total))
        n = rest.size
        rows = np.arange(n)[:, None]
        out = np.full((n, K), kinds[-1])
        free = np.broadcast_to(np.arange(K), (n, K))
        for j, table in enumerate(tables):
            digit, rest = np.divmod(rest, math.prod(radix[j + 1:]))
            local = table[digit]
            out[rows, free[rows, local]] = kinds[j]
            keep = np.ones(free.shape, dtype=bool)
            keep[rows, local] = False
            free = free[keep].reshape(n, -1)
        yield out


def random_arrangements(labels: np.ndarray, n_draws: int, seed=None, block: int = BLOCK) -> Iterator[np.ndarray]:
    """The observed arrangement, then ``n_draws`` uniform random permutations of it, in blocks.

    ``seed`` is anything :func:`numpy.random.default_rng` takes; draw i is the i-th
    ``rng.permutation(labels)`` whatever the block size.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    yield labels[None, :]
    for start in range(0, n_draws, block):
        yield np.array([rng.permutation(labels) for _ in range(min(block, n_draws - start))])


@dataclass(frozen=True)
class Plan:
    """Which arrangements a randomization test evaluates.

    ``n`` arrangements are evaluated (the observed one included) of ``n_possible`` distinct
    ones; ``exact`` says whether all were enumerated, else ``n - 1`` were drawn at random.
    """

    labels: np.ndarray
    n: int
    n_possible: int
    exact: bool
    seed: object = None

    def blocks(self, block: int | None = None) -> Iterator[np.ndarray]:
        """The arrangements, ``block`` (default :data:`BLOCK`) rows at a time; a fresh iterator on every call."""
        block = BLOCK if block is None else block
        if self.exact:
            return all_arrangements(self.labels, block)
        return random_arrangements(self.labels, self.n - 1, self.seed, block)


def plan(labels: np.ndarray, *, max_exact: int, n_draws: int, seed=None) -> Plan:
    """Enumerate when there are at most ``max_exact`` distinct arrangements, else draw ``n_draws``."""
    labels = np.asarray(labels)
    n_possible = n_arrangements(labels)
    if n_possible <= max_exact:
        return Plan(labels, n_possible, n_possible, True, seed)
    return Plan(labels, int(n_draws) + 1, n_possible, False, seed)


def null_distribution(blocks: Iterator[np.ndarray], statistic: Callable[[np.ndarray], np.ndarray],
                      observed: np.ndarray, n: int) -> np.ndarray:
    """Evaluate ``statistic`` on every arrangement, block by block; the observed one in row 0.

    ``statistic`` maps a (b, G) block of arrangements to an array with b rows (any trailing
    shape). Returns the (n, ...) array of all of them; the first arrangement equal to
    ``observed`` is swapped into row 0 (the others keep their order).
    """
    out, pos, hit_at = None, 0, None
    for arr in blocks:
        values = np.asarray(statistic(arr), dtype=float)
        if out is None:
            out = np.empty((n,) + values.shape[1:])
        out[pos:pos + len(arr)] = values
        if hit_at is None:
            hit = np.flatnonzero((arr == observed).all(axis=1))
            hit_at = pos + int(hit[0]) if hit.size else None
        pos += len(arr)
    if pos != n or hit_at is None:
        raise AssertionError("arrangement enumeration is inconsistent")  # pragma: no cover
    out[[0, hit_at]] = out[[hit_at, 0]]
    return out


def p_value(stat: np.ndarray, dstat: np.ndarray | None = None, tau: float = 0.0) -> float:
    """Two-sided randomization p-value, the observed arrangement in position 0.

    With ``dstat`` the statistic is linear in a hypothesised effect ``tau``: under H0 the
    outcomes are ``Y - tau D``, so arrangement a has ``T_a = stat_a - tau dstat_a`` (``dstat``:
    the statistic of the observed treatment pattern D under arrangement a). Without it,
    ``T_a = stat_a``. ``p = #{|T_a| >= |T_0|} / A``, ties counted up to :data:`TIE_RTOL`.
    """
    T = np.asarray(stat, dtype=float)
    if dstat is not None:
        T = T - tau * np.asarray(dstat, dtype=float)
    return float(np.mean(np.abs(T) >= (1 - TIE_RTOL) * abs(T[0])))


def _crossings(a: np.ndarray, b: np.ndarray, a0: float, b0: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Where arrangements with statistics (a, b) start or stop counting against the observed one.

    Arrangement p counts at tau when |T_p| >= c |T_0| with c = 1 - tie tolerance, i.e. when
    L1 L2 >= 0 for the two linear functions of tau L1 = (a_p - c a_0) - tau (b_p - c b_0) and
    L2 = (a_p + c a_0) - tau (b_p + c b_0), so it changes only at their roots. Returns the roots,
    the change of the count (+1 or -1) at each, and how many arrangements count as tau -> -inf.
    """
    c = 1.0 - TIE_RTOL
    al = np.stack([a - c * a0, a + c * a0])
    be = np.stack([b - c * b0, b + c * b0])
    always = ((al == 0) & (be == 0)).any(axis=0)       # a factor is identically 0: always counted
    sign = np.where(be != 0, np.sign(be), np.sign(al))  # each factor's sign as tau -> -inf
    counted = always | (sign[0] * sign[1] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = np.where((be != 0) & ~always, al / be, np.nan)
    roots.sort(axis=0)                                  # NaN (no root) last
    step = np.where(counted, -1, 1).astype(np.int8)     # change at the first root, back at the second
    first, second = np.isfinite(roots[0]), np.isfinite(roots[1])
    return (np.concatenate([roots[0][first], roots[1][second]]),
            np.concatenate([step[first], -step[second]]), int(counted.sum()))


def invert(stat: np.ndarray, dstat: np.ndarray, level: float = 0.95, block: int = BLOCK) -> tuple[float, float]:
    """Confidence interval {tau : p(tau) > 1 - level} by exact test inversion (the set's hull).

    ``stat``, ``dstat`` as in :func:`p_value` (observed arrangement in position 0). Each
    arrangement's comparison with the observed one changes at no more than two values of tau
    (computed ``block`` arrangements at a time); sorting them gives p(tau) on every open piece
    between them: O(A log A) time, about 50 bytes per arrangement. ``1 - level`` is rounded to
    12 decimals, so ``level=0.9`` rejects when p <= 0.1 exactly (not 0.09999999999999998).
    Returns ``(nan, nan)`` when every tau is rejected, +-inf bounds when the set is unbounded.
    """
    alpha = round(1.0 - float(level), 12)
    P = stat.size
    parts = [_crossings(stat[i:i + block], dstat[i:i + block], stat[0], dstat[0]) for i in range(1, P, block)]
    taus = np.concatenate([np.empty(0)] + [t for t, _, _ in parts])
    delta = np.concatenate([np.empty(0, dtype=np.int8)] + [d for _, d, _ in parts])
    n0 = 1 + sum(n for _, _, n in parts)               # the observed arrangement always counts
    del parts
    if taus.size == 0:                                  # no arrangement ever crosses: p(tau) is constant
        return (-np.inf, np.inf) if n0 / P > alpha else (np.nan, np.nan)
    order = np.argsort(taus)
    taus = taus[order]
    count = n0 + np.cumsum(delta[order], dtype=np.int64)
    last = np.r_[taus[1:] != taus[:-1], True]           # all changes at one tau applied together
    edges = np.r_[-np.inf, taus[last], np.inf]          # piece i is the open interval (edges[i], edges[i + 1])
    accepted = np.flatnonzero(np.r_[n0, count[last]] / P > alpha)
    if accepted.size == 0:
        return (np.nan, np.nan)
    return (float(edges[accepted[0]]), float(edges[accepted[-1] + 1]))
