"""Calibration: raking to population margins, its diagnostics, and the variance it implies.

:func:`rake` computes raked weights by iterative proportional fitting (optionally bounded, g-weights
clipped after each sweep), and the regression on the margin indicators that the linearisation
variance needs afterwards (:class:`Calibration`).

Linearisation after calibration (Deville & Sarndal 1992; Lumley 2010, sec. 7.4):
the score of a statistic becomes ``w_i (e_i - x_i'B)``, where ``w`` are the raked
weights, ``e_i`` the score per unit weight, ``x_i`` the margin indicators and
``B = (X'W_0X)^{-1} X'W_0 e`` the regression weighted by the design weights ``W_0``.
This is R's ``calibrate(design, ~m1 + m2, population, calfun="raking")`` exactly
(checked to 9 digits on ``apistrat``), and R's ``postStratify()`` for a single margin.
R's ``rake()`` gives the same point estimates, and the same standard errors when the
design weights are equal within margin cells (e.g. R's ``example(rake)`` on
``apiclus1``: mean api00 641.23, SE 23.704; total enroll 3,647,280, SE 400,603,
reproduced here). When weights vary within margin cells R's ``rake()`` differs,
because its ``svyrecvar`` centres the scores within margin cells *without* weights
(``apistrat`` raked on sch.wide and awards: total enroll SE 134,121 from ``rake()``
vs 127,055 from ``calibrate()`` and evalkit); the two are asymptotically equivalent.

:class:`WeightingInfo` reports what a weighting step did. The public entry point is
:meth:`evalkit.survey.design.SurveyDesign.rake`.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import linalg as sla
from scipy import sparse

from ..errors import ConvergenceWarning, DesignError
from ..results import Result
from ._common import row_label
from .variance import PSUStructure

__all__ = ["WeightingInfo", "Calibration", "rake", "rake_replicates"]

#: Largest PSU x domain block held densely by the calibrated variance (8 bytes each).
_DENSE_CELLS = 8_000_000


@dataclass(frozen=True, repr=False)
class WeightingInfo(Result):
    """Diagnostics of a weighting step (:meth:`SurveyDesign.rake`).

    Attributes
    ----------
    method : str
        ``"rake"``.
    converged : bool
        Whether every margin was met within ``tol`` (relative) before ``max_iter``.
    iterations : int
        Full sweeps over the margins that were run.
    max_rel_error : float
        Largest ``|achieved / target - 1|`` over all margin levels at the end.
    g_min, g_max : float
        Range of the g-weights (final weight / design weight).
    n_trimmed : int
        Rows whose g-weight sits on a trimming bound (0 without ``trim``).
    trim : tuple or None
        The ``(lo, hi)`` bounds asked for.
    margins : pandas.DataFrame
        One row per margin category: ``margin, category, target, achieved, rel_error``.
    """

    title: ClassVar[str] = "Weighting"

    method: str
    converged: bool
    iterations: int
    max_rel_error: float
    g_min: float
    g_max: float
    n_trimmed: int
    trim: tuple[float, float] | None
    margins: pd.DataFrame

    def tidy(self) -> pd.DataFrame:
        """The per-margin-category table (a copy)."""
        return self.margins.copy()

    @property
    def headline(self) -> str:
        """One line: converged or not, iterations, largest margin error, range of the g-weights."""
        return self._headline()

    def _headline(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        trim = "" if self.trim is None else f", trimmed to {self.trim} ({self.n_trimmed} rows at a bound)"
        return (
            f"{self.method}: {state} after {self.iterations} iterations; max relative margin "
            f"error {self.max_rel_error:.3g}; g-weights in [{self.g_min:.4g}, {self.g_max:.4g}]{trim}"
        )


@dataclass(frozen=True, eq=False)
class Calibration:
    """What the variance needs from a calibration: regression on the margin indicators.

    ``X`` is the indicator matrix of every margin level (reference coding: the first
    level of margins after the first is dropped so that ``X`` has full column rank).
    """

    codes: tuple[np.ndarray, ...]  # per margin: level code per row
    sizes: tuple[int, ...]  # per margin: number of levels
    keep_first: tuple[bool, ...]  # whether the first level is a column of X
    w0: np.ndarray  # design weights before calibration (regression weights)
    ginv: np.ndarray  # (X' W0 X)^-1, K x K
    psu_x: np.ndarray  # PSU totals of final-weighted X, P x K

    def xt_w0(self, E: np.ndarray, rows: np.ndarray, dom: np.ndarray, n_dom: int) -> np.ndarray:
        """``X' W0 E`` per domain: ``E`` (len(rows) x M) is the score per unit weight on
        ``rows`` (domain ``dom``), zero elsewhere. Returns K x D x M."""
        blocks = []
        w0E = self.w0[rows][:, None] * E
        R = rows.size
        for codes, k, keep in zip(self.codes, self.sizes, self.keep_first):
            key = codes[rows] * n_dom + dom
            ind = sparse.csr_matrix((np.ones(R), (key, np.arange(R))), shape=(k * n_dom, R))
            b = np.asarray(ind @ w0E).reshape(k, n_dom, -1)
            blocks.append(b if keep else b[1:])
        return np.concatenate(blocks, axis=0)

    def x_dense(self) -> np.ndarray:
        cols = []
        for codes, k, keep in zip(self.codes, self.sizes, self.keep_first):
            ind = np.zeros((codes.size, k))
            ind[np.arange(codes.size), codes] = 1.0
            cols.append(ind if keep else ind[:, 1:])
        return np.hstack(cols)

    def residualise(self, Z: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Scores ``Z`` (n x M, weight included) after calibration: ``w (e - X B)``, ``e = Z / w``."""
        X = self.x_dense()
        B = self.ginv @ (X.T @ (self.w0[:, None] * (Z / w[:, None])))
        return Z - w[:, None] * (X @ B)

    def coefficients(self, E: np.ndarray, rows: np.ndarray, dom: np.ndarray, D: int) -> np.ndarray:
        """``B = (X'W0X)^-1 X'W0 E`` per domain (K x D x M); ``E`` as for :meth:`xt_w0`."""
        return np.einsum("kl,ldm->kdm", self.ginv, self.xt_w0(E, rows, dom, D))

    def cell_variance(self, s: PSUStructure, cell_p: np.ndarray, cell_d: np.ndarray, T: np.ndarray,
                      E: np.ndarray, rows: np.ndarray, dom: np.ndarray, D: int) -> np.ndarray:
        """Variances (D x M) of domain statistics after calibration.

        ``T`` (cells x M) holds the uncalibrated PSU x domain totals of the scores on their
        nonzero cells, ``E`` (len(rows) x M) the scores per unit weight on ``rows`` (domain
        ``dom``). Each variable gets one dense P x D matrix, in blocks of domains that bound
        the memory (:data:`_DENSE_CELLS`).
        """
        E = np.where(np.isfinite(E), E, 0.0)
        B = self.coefficients(E, rows, dom, D)
        P = s.n_psu_total
        out = np.empty((D, T.shape[1]))
        block = max(1, int(_DENSE_CELLS // P))
        for d0 in range(0, D, block):
            d1 = min(D, d0 + block)
            sel = (cell_d >= d0) & (cell_d < d1)
            for j in range(T.shape[1]):
                Td = np.zeros((P, d1 - d0))
                Td[cell_p[sel], cell_d[sel] - d0] = T[sel, j]
                Td -= self.psu_x @ B[:, d0:d1, j]
                out[d0:d1, j] = s.var_dense(Td)
        return out


# --------------------------------------------------------------------------------------
# raking
# --------------------------------------------------------------------------------------
def _check_rake_args(margins: Any, max_iter: Any, tol: Any, trim: Any) -> tuple[float, float] | None:
    if not isinstance(margins, Mapping) or not margins:
        raise DesignError("margins must be a non-empty mapping {column: {level: population total}}.")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise DesignError(f"max_iter={max_iter!r} must be a positive integer.")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise DesignError(f"tol={tol!r} must be a positive number.")
    if trim is None:
        return None
    if (not isinstance(trim, (tuple, list)) or len(trim) != 2
            or not all(isinstance(t, (int, float)) and np.isfinite(t) for t in trim)):
        raise DesignError(f"trim={trim!r} must be a pair (lo, hi) of finite numbers.")
    lo_g, hi_g = float(trim[0]), float(trim[1])
    if lo_g <= 0:
        raise DesignError(f"trim lower bound {lo_g} would allow zero or negative weights; use lo > 0.")
    if hi_g <= lo_g:
        raise DesignError(f"trim=({lo_g}, {hi_g}) needs lo < hi.")
    return lo_g, hi_g


def _margin_totals(col: Any, spec: Any) -> tuple[pd.Index, np.ndarray]:
    if not isinstance(spec, Mapping) or not spec:
        raise DesignError(f"Margin {col!r} must map each level to its population total, e.g. "
                          f"{{'F': 5120, 'M': 4880}}.")
    totals = []
    for lev, t in spec.items():
        ok = isinstance(t, (int, float, np.integer, np.floating)) and not isinstance(t, bool)
        if not ok or not np.isfinite(t) or t <= 0:
            raise DesignError(f"Population total of {col!r} level {lev!r} is {t!r}; each margin total "
                              f"must be a finite number > 0 (drop a level that does not exist).")
        totals.append(float(t))
    return pd.Index(list(spec.keys())), np.asarray(totals)


def _margin_codes(data: pd.DataFrame, col: Any, levels: pd.Index) -> np.ndarray:
    s = data[col]
    if s.isna().any():
        first = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise DesignError(f"Margin column {col!r} has {int(s.isna().sum())} missing value(s); first at "
                          f"{row_label(data, first)}. Impute or drop them before raking.")
    codes = np.asarray(levels.get_indexer(s.astype(object) if levels.dtype == object else s))
    if (codes < 0).any():
        missing = pd.unique(s[codes < 0].astype(object))
        counts = s[codes < 0].astype(object).value_counts()
        raise DesignError(f"Sample level(s) of {col!r} absent from the margins: "
                          + ", ".join(f"{m!r} ({counts[m]} rows)" for m in missing[:10])
                          + f". Give their population totals in margins[{col!r}] or recode them.")
    empty = np.flatnonzero(np.bincount(codes, minlength=len(levels)) == 0)
    if empty.size:
        raise DesignError(f"Margin level(s) of {col!r} with no sample row (empty cell): "
                          + ", ".join(repr(levels[int(j)]) for j in empty)
                          + ". Raking cannot reach them: collapse them with a neighbouring level.")
    return codes


def _margins(data: pd.DataFrame, margins: Mapping, margin_tol: float):
    """Codes, targets and levels of every margin; checks that the grand totals agree."""
    codes_list, targets_list, levels_list, names = [], [], [], []
    for col, spec in margins.items():
        if not isinstance(col, str) or col not in data.columns:
            raise DesignError(f"Margin {col!r} is not a column of the design's data.")
        levels, totals = _margin_totals(col, spec)
        codes_list.append(_margin_codes(data, col, levels))
        targets_list.append(totals)
        levels_list.append(levels)
        names.append(col)
    grand = np.array([t.sum() for t in targets_list])
    if grand.max() / grand.min() - 1 > margin_tol:
        detail = ", ".join(f"{c!r}: {g:,.6g}" for c, g in zip(names, grand))
        raise DesignError(f"The margins' grand totals disagree ({detail}); no weights can meet them all "
                          f"(impossible margins). Make every margin sum to the same population size.")
    return codes_list, targets_list, levels_list, names


def _level_totals(codes: np.ndarray, W: np.ndarray, size: int) -> np.ndarray:
    """Weighted count of each level (size x K) for each column of weights ``W`` (n x K)."""
    K = W.shape[1]
    keys = (codes[:, None] * K + np.arange(K)).ravel()
    return np.bincount(keys, weights=W.ravel(), minlength=size * K).reshape(size, K)


def _ipf(w0: np.ndarray, codes_list, targets_list, max_iter: int, tol: float,
         bounds: tuple[float, float] | None) -> tuple[np.ndarray, bool, int, float]:
    """Iterative proportional fitting, g-weights clipped to ``bounds`` after each sweep.

    ``w0`` is one column of weights (n,) or several (n x K, e.g. full-sample and replicate weights),
    each raked to the same margins; convergence needs every column within ``tol``.
    """
    w = w0.reshape(w0.shape[0], -1).copy()
    base = w.copy()
    converged, err, it = False, np.inf, 0
    for it in range(1, max_iter + 1):
        for codes, t in zip(codes_list, targets_list):
            cur = _level_totals(codes, w, t.size)
            w = w * (t[:, None] / cur)[codes]
        if bounds is not None:  # a zero replicate weight (a deleted PSU) stays zero
            g = np.divide(w, base, out=np.ones_like(w), where=base != 0)
            w = base * np.clip(g, bounds[0], bounds[1])
        err = max(float(np.max(np.abs(_level_totals(c, w, t.size) / t[:, None] - 1)))
                  for c, t in zip(codes_list, targets_list))
        if err < tol:
            converged = True
            break
    if not converged:
        warnings.warn(
            f"Raking did not converge after {it} iterations: the largest relative margin "
            f"error is {err:.3g} (tol={tol:g})"
            + (f"; the trim bounds {bounds} may be too tight" if bounds is not None else "")
            + ". See .weighting_info; raise max_iter or relax trim.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return w.reshape(w0.shape), converged, it, err


def _calibration(w0: np.ndarray, w: np.ndarray, codes_list, sizes: tuple[int, ...], p: np.ndarray,
                 P: int) -> Calibration:
    """The calibration regression: X (reference coding), G = X'W0X, PSU totals of wX."""
    keep = tuple([True] + [False] * (len(sizes) - 1))
    blocks_G = []
    for ca, ka, kpa in zip(codes_list, sizes, keep):
        row = []
        for cb, kb, kpb in zip(codes_list, sizes, keep):
            m = np.bincount(ca * kb + cb, weights=w0, minlength=ka * kb).reshape(ka, kb)
            m = m if kpa else m[1:]
            row.append(m if kpb else m[:, 1:])
        blocks_G.append(row)
    G = np.block(blocks_G)
    dscale = 1.0 / np.sqrt(np.diag(G))
    ginv = dscale[:, None] * sla.pinvh(G * np.outer(dscale, dscale), rtol=1e-10) * dscale[None, :]
    psu_blocks = []
    for c, k, kp in zip(codes_list, sizes, keep):
        m = np.bincount(p * k + c, weights=w, minlength=P * k).reshape(P, k)
        psu_blocks.append(m if kp else m[:, 1:])
    return Calibration(codes=tuple(codes_list), sizes=sizes, keep_first=keep, w0=w0, ginv=ginv,
                       psu_x=np.hstack(psu_blocks))


def rake(data: pd.DataFrame, w0: np.ndarray, s: PSUStructure, margins: Mapping[str, Mapping[Any, float]], *,
         max_iter: int = 100, tol: float = 1e-8, trim: tuple[float, float] | None = None,
         margin_tol: float = 1e-6) -> tuple[np.ndarray, Calibration, WeightingInfo]:
    """Raked weights, the calibration the variance needs, and the diagnostics.

    Arguments as :meth:`evalkit.survey.design.SurveyDesign.rake`; ``w0`` are the design weights
    of the rows of ``data`` and ``s`` the design's PSU structure.
    """
    bounds = _check_rake_args(margins, max_iter, tol, trim)
    if not (np.all(np.isfinite(w0)) and np.all(w0 > 0)):  # pragma: no cover - guarded at init
        raise DesignError("Raking needs positive weights.")
    codes_list, targets_list, levels_list, names = _margins(data, margins, margin_tol)
    w, converged, it, err = _ipf(w0, codes_list, targets_list, max_iter, tol, bounds)
    info = _weighting_info(w0, w, names, codes_list, targets_list, levels_list, bounds, converged, it, err)
    calib = _calibration(w0, w, codes_list, tuple(t.size for t in targets_list), s.p, s.n_psu_total)
    w.setflags(write=False)
    return w, calib, info


def _weighting_info(w0: np.ndarray, w: np.ndarray, names, codes_list, targets_list, levels_list,
                    bounds, converged: bool, it: int, err: float) -> WeightingInfo:
    """The diagnostics of raking ``w0`` to ``w`` (full-sample weights)."""
    rows_out = []
    for col, codes, t, levs in zip(names, codes_list, targets_list, levels_list):
        ach = np.bincount(codes, weights=w, minlength=t.size)
        rows_out.extend((col, lev, t[j], ach[j], ach[j] / t[j] - 1) for j, lev in enumerate(levs))
    table = pd.DataFrame(rows_out, columns=["margin", "category", "target", "achieved", "rel_error"])
    g = w / w0
    n_trim = 0 if bounds is None else int(np.sum(np.isclose(g, bounds[0]) | np.isclose(g, bounds[1])))
    return WeightingInfo(method="rake", converged=converged, iterations=it, max_rel_error=float(err),
                         g_min=float(g.min()), g_max=float(g.max()), n_trimmed=n_trim, trim=bounds,
                         margins=table)


def rake_replicates(data: pd.DataFrame, W0: np.ndarray, margins: Mapping[str, Mapping[Any, float]],
                    replicate_names: list[str], *, max_iter: int = 100, tol: float = 1e-8,
                    trim: tuple[float, float] | None = None,
                    margin_tol: float = 1e-6) -> tuple[np.ndarray, WeightingInfo]:
    """Full-sample weights (column 0 of ``W0``) and replicate weights (the other columns) raked to the
    same margins; arguments as :func:`rake`. The diagnostics describe the full-sample weights, except
    ``iterations`` and ``max_rel_error``, which cover every column.

    A replicate with no positive weight in a margin level (a jackknife replicate that deletes the only
    PSU holding that level) cannot be raked: a :class:`~evalkit.errors.DesignError` names it.
    """
    bounds = _check_rake_args(margins, max_iter, tol, trim)
    codes_list, targets_list, levels_list, names = _margins(data, margins, margin_tol)
    for col, codes, t, levs in zip(names, codes_list, targets_list, levels_list):
        cur = _level_totals(codes, W0, t.size)
        bad = np.argwhere(~(cur > 0))
        if bad.size:
            j, k = (int(v) for v in bad[0])
            raise DesignError(f"Replicate {replicate_names[k - 1]!r} has no positive weight in level "
                              f"{levs[j]!r} of margin {col!r}, so it cannot be raked to that margin "
                              f"({len(bad)} replicate x level cell(s) like this). Collapse the level with a "
                              f"neighbouring one.")
    W, converged, it, err = _ipf(W0, codes_list, targets_list, max_iter, tol, bounds)
    info = _weighting_info(W0[:, 0], W[:, 0], names, codes_list, targets_list, levels_list, bounds,
                           converged, it, err)
    return W, info
