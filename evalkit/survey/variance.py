"""The linearisation variance engine: PSU totals, strata, lonely PSUs and design degrees of freedom.

**Variance.** For a statistic with linearised score ``z_i`` (its influence on the
estimate, already multiplied by the weight), with PSU totals ``z_hi``,

.. math::  \\hat V = \\sum_h (1 - f_h)\\,\\frac{n_h}{n_h-1}\\sum_i (z_{hi} - \\bar z_h)^2,
           \\qquad f_h = n_h / N_h,

R's ``svyrecvar`` for first-stage units (with replacement when ``fpc`` is absent, so
``f_h = 0``). A stratum with ``f_h = 1`` (census of PSUs) contributes 0 and is not
"lonely". Later stages are not modelled (ultimate-cluster variance, as R with
``fpc`` given only at the first stage or ``options(survey.ultimate.cluster=TRUE)``).

**Lonely PSUs** (``n_h = 1``): ``"adjust"`` adds ``(1 - f_h) (z_h - \\bar z)^2``, the
PSU total centred at the mean of *all* PSU totals, ``\\bar z = \\sum_{hi} z_{hi} /
\\sum_h n_h`` (unweighted, every stratum's sampled PSUs counted, lonely and
self-representing ones included; no fpc in the centre), as R survey does since
version 4.4-1 (2024; ``onestage`` and the C++ ``arma_onestage`` used by default;
unchanged in survey 4.5). Survey 4.2-1 and earlier centred at 0 (usually larger
SEs of totals); means, proportions and other statistics whose scores sum to zero are
the same under both rules. In a domain (or a subset, or with missing ``y``) of an
uncalibrated design, R drops the rows outside it, so ``\\bar z`` is the domain's total
over the PSUs of the strata holding domain rows, and a lonely stratum without domain
rows adds 0; a calibrated design keeps every row (zero weight), so every stratum
counts. ``"remove"`` and ``"certainty"`` add 0 (they differ in R only for multistage
designs); ``"average"`` adds 0 and rescales the variance by
``#strata / #strata-without-lonely``.

:class:`PSUStructure` holds the coded strata and PSUs of a design and the factor each
stratum contributes, and evaluates this sum for dense PSU totals (:meth:`PSUStructure.var_dense`),
for sparse PSU x domain totals given on their nonzero cells (:meth:`PSUStructure.var_cells`) and
as a covariance matrix (:meth:`PSUStructure.cov_dense`). :func:`psu_structure` decides what a
stratum with a single PSU contributes (R ``options(survey.lonely.psu=)``), and
:func:`interval_df` the degrees of freedom and critical value of an interval. How domains enter
is in :class:`evalkit.survey.design.SurveyDesign` (Notes).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from .._literals import LonelyPSU
from ..errors import DesignError, LonelyPSUWarning
from ..results import critical_value

__all__ = ["PSUStructure", "psu_structure", "interval_df"]


@dataclass(frozen=True, eq=False)
class PSUStructure:
    """Strata and PSUs of a design, coded, and what each stratum adds to a variance.

    Attributes
    ----------
    h, p : numpy.ndarray
        Stratum and PSU code of each row; the PSUs of a stratum have contiguous codes.
    psu_stratum : numpy.ndarray
        Stratum of each PSU.
    n_h, starts : numpy.ndarray
        Sampled PSUs per stratum, and the code of each stratum's first PSU.
    scale : numpy.ndarray
        Factor of each stratum's sum of squares: ``(1 - f_h) n_h / (n_h - 1)``; ``1 - f_h`` for
        an ``"adjust"`` lonely stratum; 0 for other lonely strata.
    adjust : numpy.ndarray of bool
        Lonely strata whose PSU total is centred at the mean of all PSU totals ("adjust").
    avg_factor : float
        ``#strata / #strata-without-lonely`` for ``lonely_psu="average"``, else 1.
    lonely_strata : tuple
        Labels of the lonely strata.
    strata_levels : pandas.Index
        Stratum labels, in code order.
    """

    h: np.ndarray
    p: np.ndarray
    psu_stratum: np.ndarray
    n_h: np.ndarray
    starts: np.ndarray
    scale: np.ndarray
    adjust: np.ndarray
    avg_factor: float
    lonely_strata: tuple
    strata_levels: pd.Index

    @property
    def n_psu_total(self) -> int:
        return int(self.n_h.sum())

    @cached_property
    def _psu_indicator(self) -> sparse.csr_matrix:
        n, P = self.p.size, self.n_psu_total
        return sparse.csr_matrix((np.ones(n), (self.p, np.arange(n))), shape=(P, n))

    def psu_totals(self, Z: np.ndarray) -> np.ndarray:
        """PSU totals (P x M) of per-row scores ``Z`` (n x M)."""
        return np.asarray(self._psu_indicator @ Z)

    def degf(self, rows: np.ndarray) -> int:
        """``#PSU - #strata`` among ``rows`` (a boolean mask), R ``degf``."""
        return int(np.unique(self.p[rows]).size) - int(np.unique(self.h[rows]).size)

    def lonely_dev(self, S: np.ndarray, present: np.ndarray | None) -> np.ndarray:
        """Centred totals of the ``"adjust"`` lonely PSUs (R survey >= 4.4-1).

        ``S`` (H x K) holds stratum totals of K statistics; a lonely stratum's total is its
        single PSU's total. ``present`` (H x K or H x 1, bool) marks the strata that hold rows
        of each statistic's domain (``None``: every stratum). The centre is the total of all
        PSU totals divided by the number of sampled PSUs in the present strata, R's
        ``colSums(x) / n_PSUs_from_all_strata`` in ``onestage`` and ``arma_onestage``. A
        lonely stratum with no rows of the domain contributes 0 (R drops its rows).
        Returns the (#adjusted strata x K) deviations.
        """
        if present is None:
            present = np.ones((S.shape[0], 1), dtype=bool)
        n_units = self.n_h @ present
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = S.sum(axis=0) / n_units
        return np.where(present[self.adjust], S[self.adjust] - centre, 0.0)

    def var_dense(self, T: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        """Variance of each column of PSU totals ``T`` (P x M), ``sum_h c_h sum (T - Tbar_h)^2``.

        ``present`` is passed to :meth:`lonely_dev` (``None``: every stratum).
        """
        S = np.add.reduceat(T, self.starts, axis=0)
        mean = S / self.n_h[:, None]
        dev = T - mean[self.psu_stratum]
        SS = np.add.reduceat(dev * dev, self.starts, axis=0)
        if self.adjust.any():
            lone = self.lonely_dev(S, present)
            SS[self.adjust] = lone * lone
        return (self.scale[:, None] * SS).sum(axis=0) * self.avg_factor

    def cov_dense(self, T: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        """Covariance matrix (M x M) of the columns of PSU totals ``T`` (P x M); its diagonal is
        :meth:`var_dense`. ``present`` (H x 1 or H x M) as for :meth:`lonely_dev`."""
        S = np.add.reduceat(T, self.starts, axis=0)
        dev = T - (S / self.n_h[:, None])[self.psu_stratum]
        if self.adjust.any():
            dev[self.starts[self.adjust]] = self.lonely_dev(S, present)
        c_psu = self.scale[self.psu_stratum]
        return (dev * c_psu[:, None]).T @ dev * self.avg_factor

    def var_cells(self, cell_p: np.ndarray, cell_d: np.ndarray, T: np.ndarray, D: int,
                  present: np.ndarray | None = None) -> np.ndarray:
        """:meth:`var_dense` for sparse P x D matrices given on their nonzero cells.

        ``T`` is (cells x M): M score matrices sharing the cells (PSU ``cell_p``, domain
        ``cell_d``). ``present`` (cells x M, bool) marks the cells holding a row of the domain
        with a non-missing value of each statistic (``None``: every cell); it decides which
        strata count for the lonely-PSU centre (:meth:`lonely_dev`). Returns D x M variances.
        """
        H = self.n_h.size
        hk = self.psu_stratum[cell_p] * D + cell_d
        C = hk.size
        s_hk = sparse.csr_matrix((np.ones(C), (hk, np.arange(C))), shape=(H * D, C))
        S = np.asarray(s_hk @ T)
        ncell = np.bincount(hk, minlength=H * D)[:, None]
        nh = np.repeat(self.n_h, D)[:, None]
        mean = S / nh
        dev = T - mean[hk]
        SS = np.asarray(s_hk @ (dev * dev)) + (nh - ncell) * mean * mean
        SS = SS.reshape(H, -1)
        if self.adjust.any():
            cells = np.ones(T.shape, dtype=bool) if present is None else present
            in_stratum = np.asarray(s_hk @ cells.astype(float)).reshape(H, -1) > 0
            lone = self.lonely_dev(S.reshape(H, -1), in_stratum)
            SS[self.adjust] = lone * lone
        return np.einsum("h,hk->k", self.scale, SS).reshape(D, -1) * self.avg_factor

    def freeze(self) -> "PSUStructure":
        """Make the arrays read-only (the design is immutable); returns ``self``."""
        for arr in (self.h, self.p, self.psu_stratum, self.n_h, self.starts, self.scale, self.adjust):
            arr.setflags(write=False)
        return self


def psu_structure(h: np.ndarray, p: np.ndarray, psu_stratum: np.ndarray, strata_levels: pd.Index,
                  f: np.ndarray, lonely_psu: LonelyPSU, where: str, stacklevel: int = 2) -> PSUStructure:
    """The :class:`PSUStructure` of coded strata and PSUs, deciding what lonely PSUs contribute.

    ``f`` is each stratum's ``1 - n_h / N_h`` (1 without fpc; 0 for a census of PSUs, which
    is not lonely). A lonely stratum (one PSU, ``f > 0``) raises a DesignError under
    ``lonely_psu="fail"`` and warns (:class:`~evalkit.errors.LonelyPSUWarning`, naming the
    strata of ``where``) under every other choice but ``"certainty"``.
    """
    n_strata = len(strata_levels)
    n_h = np.bincount(psu_stratum, minlength=n_strata).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(n_h)[:-1]]).astype(np.int64)
    lonely = (n_h == 1) & (f > 0)
    lonely_strata = tuple(strata_levels[int(j)] for j in np.flatnonzero(lonely))
    scale = np.where(n_h > 1, f * n_h / np.maximum(n_h - 1, 1), 0.0)
    adjust = np.zeros(n_strata, dtype=bool)
    avg_factor = 1.0
    if lonely.any():
        names = ", ".join(repr(s) for s in lonely_strata[:20]) + (" ..." if len(lonely_strata) > 20 else "")
        if lonely_psu == "fail":
            raise DesignError(
                f"{len(lonely_strata)} stratum/strata of {where} have a single PSU ({names}); "
                f"the variance is not defined. Pass lonely_psu='adjust' (R's conservative "
                f"choice), 'remove', 'certainty' or 'average', or merge strata."
            )
        if lonely_psu == "adjust":
            adjust = lonely.copy()
            scale = np.where(lonely, f, scale)
        elif lonely_psu == "average":
            avg_factor = n_strata / (n_strata - lonely.sum()) if n_strata > lonely.sum() else np.nan
        if lonely_psu != "certainty":
            warnings.warn(
                f"{len(lonely_strata)} stratum/strata of {where} have a single PSU ({names}); "
                f"their variance contribution uses lonely_psu={lonely_psu!r} (R "
                f"options(survey.lonely.psu={lonely_psu!r})).",
                LonelyPSUWarning,
                stacklevel=stacklevel + 1,
            )
    return PSUStructure(h, p, psu_stratum, n_h, starts, scale, adjust, float(avg_factor), lonely_strata,
                        strata_levels).freeze()


def interval_df(level: float, df: Any, degf: Callable[[], int]) -> tuple[float, float]:
    """Degrees of freedom and two-sided critical value of an interval at confidence ``level``.

    ``df=None`` (or inf): normal, ``df = inf``. ``"design"``: Student t with ``degf()``
    (#PSU - #strata) degrees of freedom. A number > 0: t with that df.
    """
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise DesignError(f"level={level!r} must be a number strictly between 0 and 1, e.g. 0.95.")
    if df is None or (isinstance(df, float) and math.isinf(df)):
        dof = math.inf
    elif isinstance(df, str) and df == "design":
        dof = degf()
        if dof < 1:
            raise DesignError(
                f"df='design' needs #PSU - #strata >= 1, but this design has {dof}; use df=None "
                f"(normal intervals) or give df as a number."
            )
    elif isinstance(df, (int, float)) and not isinstance(df, bool) and df > 0:
        dof = df
    else:
        raise DesignError(f"df={df!r} must be None (normal), 'design' (#PSU - #strata) or a number > 0.")
    return float(dof), float(critical_value(level, dof))
