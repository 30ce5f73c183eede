"""Replicate-weight survey designs, as R survey's ``svrepdesign`` / ``as.svrepdesign``.

National surveys and survey companies often ship, instead of strata and PSUs, a set of replicate
weights (jackknife, balanced repeated replication, Fay's BRR, bootstrap, successive difference).
:class:`ReplicateDesign` holds them with the full-sample weight; every estimate is computed once with
the full-sample weights and once with each replicate's, and its variance is

.. math:: \\hat V = \\text{scale} \\sum_r \\text{rscales}_r (\\hat\\theta_r - c)^2,

``c`` the full-sample estimate (``mse=True``) or the mean of the replicate estimates (``mse=False``,
R's default), R's ``svrVar`` (:func:`~evalkit.survey.replicate_weights.replicate_variance`).

The design is used as a :class:`~evalkit.survey.design.SurveyDesign` is: ``mean``, ``total``,
``proportion`` (overall or ``by=`` domains, the same tidy columns), :func:`evalkit.survey.domains.domain_means`
(cell means with their replicate covariance), ``subset``, ``assign`` and ``rake`` (the full-sample
weights and every replicate raked to the same margins, as R's ``rake`` of an ``svyrep.design``).
A linearisation design becomes one with :meth:`SurveyDesign.as_replicate` (R ``as.svrepdesign``).

Examples
--------
>>> import pandas as pd
>>> from evalkit.survey.design import SurveyDesign
>>> df = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3], "w": [2.0, 2.0, 3.0, 3.0, 1.0, 1.0],
...                    "y": [1.0, 3.0, 2.0, 4.0, 6.0, 5.0]})
>>> rep = SurveyDesign(df, weight="w", psu="psu").as_replicate("JK1")
>>> rep.mean("y")[["indicator", "estimate", "se", "n"]].round(4)
  indicator  estimate      se  n
0         y    3.0833  0.5929  6
>>> rep.degf
2

Replicate weights shipped as columns (here 4 of them, as the American Community Survey's ``PWGTP1``
... ``PWGTP80`` are next to ``PWGTP``) are named by a regular expression, R's ``repweights="..."``:

>>> df = pd.DataFrame({"wt": [10.0, 20.0, 30.0], "y": [1.0, 0.0, 1.0],
...                    "wt1": [12.0, 18.0, 30.0], "wt2": [8.0, 22.0, 30.0],
...                    "wt3": [10.0, 20.0, 36.0], "wt4": [10.0, 20.0, 24.0]})
>>> sdr = ReplicateDesign(df, "wt", r"^wt\\d+$", "successive-difference")
>>> sdr.scale, sdr.n_replicates, sdr.degf  # scale 4/R; degf = rank 3 (3 rows) - 1
(1.0, 4, 2)
>>> sdr.proportion("y")[["category", "estimate", "se", "df"]].round(4)
  category  estimate      se   df
0      0.0    0.3333  0.0671  2.0
1      1.0    0.6667  0.0671  2.0
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from .._literals import ProportionCI, check_choice
from ..errors import DesignError, EvalkitWarning
from ._common import row_label, summary_html
from .calibration import WeightingInfo, rake_replicates
from .design_checks import _subset_mask, _weights
from .domains import estimate as _estimate
from .replicate_weights import DEFAULT_SCALE, replicate_degf, replicate_variance

__all__ = ["ReplicateDesign", "ReplicateType"]

#: Kinds of replicate weights (R ``svrepdesign(type=)``; ``"SDR"`` = ``"successive-difference"``).
ReplicateType = Literal["BRR", "Fay", "JK1", "JKn", "JK2", "bootstrap", "subbootstrap", "SDR",
                        "successive-difference", "ACS", "other"]


def _replicate_matrix(data: pd.DataFrame, weight: str, repweights: Any) -> tuple[np.ndarray, list[str]]:
    """The replicate weights as an n x R float matrix and their names; bad values are DesignErrors."""
    if isinstance(repweights, pd.DataFrame):
        if not repweights.index.equals(data.index):
            raise DesignError("The replicate weights DataFrame is not aligned with data (different index); "
                              "give it data's index or pass an array.")
        frame = repweights.set_axis([f"replicate {c}" for c in repweights.columns], axis=1)
        return _replicate_matrix(frame, weight, list(frame.columns))
    if isinstance(repweights, str):
        try:
            pattern = re.compile(repweights)
        except re.error as exc:
            raise DesignError(f"replicate_weights={repweights!r} is not a valid regular expression ({exc}).") from exc
        names = [c for c in data.columns if isinstance(c, str) and c != weight and pattern.search(c)]
        if not names:
            raise DesignError(f"replicate_weights={repweights!r} (a regular expression, as R's "
                              f"repweights=\"...\") matches no column of data.")
    elif isinstance(repweights, Sequence) and repweights and all(isinstance(c, str) for c in repweights):
        names = list(repweights)
        missing = [c for c in names if c not in data.columns]
        if missing:
            raise DesignError(f"replicate weight column(s) {missing[:10]} are not columns of data.")
    else:
        try:
            arr = np.asarray(repweights, dtype=float) if repweights is not None else np.empty((0, 0))
        except (TypeError, ValueError) as exc:
            raise DesignError(f"replicate_weights could not be read as numbers ({exc}).") from exc
        if arr.ndim != 2 or arr.shape[0] != data.shape[0] or arr.shape[1] == 0:
            raise DesignError("replicate_weights must be a regular expression, a list of column names, or an "
                              f"array with one row per data row ({data.shape[0]}) and one column per replicate.")
        names = [f"replicate {j + 1}" for j in range(arr.shape[1])]
        frame = pd.DataFrame(arr, columns=names, index=data.index)
        return _replicate_matrix(frame, weight, names)
    for c in names:
        if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]):
            raise DesignError(f"Replicate weight column {c!r} must be numeric, but it has dtype {data[c].dtype}; "
                              f"convert it (pd.to_numeric).")
    W = data[names].to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(W)
    if bad.any():
        i, j = (int(v[0]) for v in np.nonzero(bad))
        raise DesignError(f"Replicate weight column {names[j]!r} has {int(bad[:, j].sum())} missing or infinite "
                          f"value(s); first at {row_label(data, i)}. Every row needs every replicate weight "
                          f"(0 where a replicate leaves the row out).")
    return W, names


def _scales(kind: str, R: int, rho: Any, scale: Any, rscales: Any) -> tuple[float, np.ndarray]:
    """``scale`` and ``rscales`` of a replicate type, R ``svrepdesign``'s defaults and checks."""
    if kind == "Fay":
        if not (isinstance(rho, (int, float)) and 0 <= rho < 1):
            raise DesignError(f"type='Fay' needs rho= (Fay's coefficient, 0 <= rho < 1), got {rho!r}.")
    elif rho is not None:
        raise DesignError(f"rho= is Fay's coefficient and applies only to type='Fay', not {kind!r}.")
    default = DEFAULT_SCALE[kind]
    if kind in ("BRR", "Fay") and scale is not None and not np.isclose(scale, default(R, rho or 0.0)):
        raise DesignError(f"type={kind!r} fixes scale = {default(R, rho or 0.0):.6g} (R svrepdesign); for another "
                          f"scale use type='other' with scale= and rscales=.")
    if scale is None:
        if default is None:
            raise DesignError("type='other' needs scale= (and rscales=, default 1): evalkit does not guess them.")
        if kind in ("bootstrap", "subbootstrap") and R < 2:
            raise DesignError("A bootstrap design needs at least 2 replicates.")
        scale = default(R, rho or 0.0)
    if not (isinstance(scale, (int, float, np.floating)) and np.isfinite(scale) and scale >= 0):
        raise DesignError(f"scale={scale!r} must be a finite number >= 0.")
    if rscales is None:
        if kind == "JKn":
            raise DesignError("type='JKn' with combined weights needs rscales= (per replicate (n_h - 1)/n_h of "
                              "the stratum whose PSU it deletes), as R's svrepdesign.")
        rs = np.ones(R)
    else:
        try:
            rs = np.asarray(rscales, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DesignError(f"rscales must be numbers ({exc}).") from exc
        rs = np.full(R, float(rs)) if rs.ndim == 0 else rs
        if rs.shape != (R,) or not np.all(np.isfinite(rs)) or (rs < 0).any():
            raise DesignError(f"rscales must be one finite number >= 0 or one per replicate ({R}), got shape "
                              f"{rs.shape}.")
    return float(scale), rs


def _fpc_corrections(kind: str, R: int, fpc: Any, fpctype: Any) -> np.ndarray:
    """R ``svrepdesign(fpc=, fpctype=)``: one sampling fraction (``"fraction"``) or ``1 - f``
    (``"correction"``) per replicate, multiplying ``rscales``; not for BRR, Fay or the bootstrap."""
    if fpc is None:
        return np.ones(R)
    if kind in ("BRR", "Fay", "bootstrap", "subbootstrap"):
        raise DesignError(f"fpc= cannot be used with type={kind!r} (R svrepdesign: BRR and Fay have no fpc; the "
                          f"bootstrap needs none).")
    if fpctype not in ("fraction", "correction"):
        raise DesignError("With fpc= give fpctype='fraction' (sampling fractions f) or 'correction' (1 - f).")
    try:
        f = np.full(R, float(fpc)) if np.ndim(fpc) == 0 else np.asarray(fpc, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DesignError(f"fpc must be numbers ({exc}).") from exc
    if f.shape != (R,) or not np.all((f >= 0) & (f <= 1)):
        raise DesignError(f"fpc must hold one value in [0, 1] per replicate ({R}); got shape {f.shape}.")
    return f if fpctype == "correction" else 1.0 - f


def _check_combined(rep: np.ndarray, w: np.ndarray, combined: bool) -> None:
    """R ``svrepdesign``'s check that the replicate columns look like what ``combined_weights`` says."""
    rep_mean, w_mean = float(rep.mean()), float(w.mean())
    if combined and rep_mean < 5 and w_mean / rep_mean > 5:
        warnings.warn(f"The replicate weights do not look like final (combined) weights: their mean is "
                      f"{rep_mean:.4g} against {w_mean:.4g} for the full-sample weight. If they are factors "
                      f"to multiply the weight by, pass combined_weights=False.", EvalkitWarning, stacklevel=3)
    if not combined and rep_mean > 5 and w_mean / rep_mean < 5:
        warnings.warn(f"The replicate weights look like final (combined) weights (mean {rep_mean:.4g}, "
                      f"full-sample weight mean {w_mean:.4g}), yet combined_weights=False multiplies them by "
                      f"the weight; pass combined_weights=True if they already include it.",
                      EvalkitWarning, stacklevel=3)


class ReplicateDesign:
    """A survey design given by replicate weights, as R's ``svrepdesign``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent (copied).
    weight : str
        Column of full-sample weights (finite, > 0).
    replicate_weights : str, list of str or array (n x R)
        The replicate weights: a regular expression matching their columns (R ``repweights="..."``,
        the weight column excluded), a list of columns, or an array.
    type : {"BRR", "Fay", "JK1", "JKn", "JK2", "bootstrap", "subbootstrap", "SDR", "successive-difference", \
            "ACS", "other"}
        How they were made; it gives the default ``scale`` (R ``svrepdesign``): BRR ``1/R``, Fay
        ``1/(R (1-rho)^2)``, JK1 ``(R-1)/R``, JKn and JK2 1, bootstrap and subbootstrap ``1/(R-1)``, SDR /
        successive-difference / ACS ``4/R``; "other" has none.
    rho : float, optional
        Fay's coefficient (type "Fay" only).
    scale, rscales : optional
        Overall and per-replicate multipliers of the variance (R's meanings). JKn needs ``rscales``
        (``(n_h - 1)/n_h``, times ``1 - f_h`` for a finite population correction).
    mse : bool, default False
        Centre the replicates at the full-sample estimate (True) or at their mean (False, R default).
    combined_weights : bool, default True
        The replicate columns are final replicate weights (True) or factors to multiply by ``weight``.
    fpc, fpctype : optional
        Finite population correction per replicate (R's): ``fpctype="fraction"`` gives sampling
        fractions ``f``, ``"correction"`` gives ``1 - f``; ``rscales`` are multiplied by ``1 - f``.

    Attributes
    ----------
    weights, replicate_weights, type, scale, rscales, mse, n_replicates, degf, weighting_info

    Notes
    -----
    ``degf`` is R's ``degf()`` of an ``svyrep.design``: the rank of the replicate weight matrix (of the
    rows in the design's subset) minus 1. Intervals are Student t with ``degf`` degrees of freedom by
    default (``df="design"``, as Stata and SAS for replicate designs); ``df=None`` gives normal ones (R
    ``confint``'s default) and a number t with that df. A replicate whose estimate is undefined (a domain with no
    weight in it) is left out with a warning, as R's ``svrVar``.
    """

    __slots__ = ("_data", "_weight", "_w", "_rep", "_names", "_type", "_rho", "_scale", "_rscales", "_mse",
                 "_mask", "_info", "_degf")

    def __init__(self, data: pd.DataFrame, weight: str, replicate_weights: Any, type: ReplicateType, *,
                 rho: float | None = None, scale: float | None = None, rscales: Any = None,
                 mse: bool = False, combined_weights: bool = True, fpc: Any = None,
                 fpctype: Literal["fraction", "correction"] | None = None) -> None:
        if not isinstance(data, pd.DataFrame) or data.shape[0] == 0:
            raise DesignError("data must be a pandas DataFrame with at least one row.")
        if not isinstance(weight, str) or weight not in data.columns:
            raise DesignError(f"weight={weight!r} must name the column of full-sample weights.")
        check_choice(type, ReplicateType, "type")
        if not isinstance(mse, bool) or not isinstance(combined_weights, bool):
            raise DesignError("mse= and combined_weights= must be True or False.")
        df = data.copy(deep=True)
        w = _weights(df, weight)
        rep, names = _replicate_matrix(df, weight, replicate_weights)
        _check_combined(rep, w, combined_weights)
        if type == "JKn" and rscales is None and not combined_weights:
            with np.errstate(divide="ignore"):
                rscales = 1.0 / rep.max(axis=0)  # factors n_h/(n_h-1): R svrepdesign's guess
            warnings.warn("rscales not given: taken as 1 / the largest factor of each replicate, (n_h-1)/n_h "
                          "for delete-one JKn factors (R svrepdesign's guess). Pass rscales= to be sure.",
                          EvalkitWarning, stacklevel=2)
        if not combined_weights:
            rep = rep * w[:, None]
        kind = "SDR" if type == "successive-difference" else type
        sc, rs = _scales(kind, rep.shape[1], rho, scale, rscales)
        rs = rs * _fpc_corrections(kind, rep.shape[1], fpc, fpctype)
        self._set(_data=df, _weight=weight, _w=w, _rep=rep, _names=names, _type=kind, _rho=rho, _scale=sc,
                  _rscales=rs, _mse=mse, _mask=None, _info=None, _degf=None)

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(self, name, value)

    def _replace(self, **changes: Any) -> "ReplicateDesign":
        new = object.__new__(ReplicateDesign)
        new._set(**{name: changes.get(name, getattr(self, name)) for name in ReplicateDesign.__slots__})
        return new

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ReplicateDesign is immutable; weighting steps and subsets return a new design.")

    def __reduce__(self):
        # Pickling (process pools, Dask workers): the default protocol would restore the slots by
        # setattr, which an immutable design refuses. Rebuild from the constructor arguments (the
        # replicate matrix as combined weights, the scales as they stand), then put back the
        # full-sample weights, replicate names, domain mask and weighting diagnostics.
        args = (self._data, self._weight, self._rep, self._type, self._rho, self._scale, self._rscales, self._mse)
        return _rebuild_replicate, (args, {"_w": self._w, "_names": self._names, "_mask": self._mask,
                                           "_info": self._info})

    # ---- properties --------------------------------------------------------------------
    is_replicate = True

    @property
    def data(self) -> pd.DataFrame:
        return self._data.copy(deep=False)

    @property
    def weights(self) -> np.ndarray:
        """Full-sample weights (raked ones after :meth:`rake`)."""
        return self._w.copy()

    @property
    def replicate_weights(self) -> np.ndarray:
        """The n x R analysis replicate weights (R ``weights(design, "analysis")``)."""
        return self._rep.copy()

    @property
    def type(self) -> str:
        return self._type

    @property
    def scale(self) -> float:
        return self._scale

    @property
    def rscales(self) -> np.ndarray:
        return self._rscales.copy()

    @property
    def mse(self) -> bool:
        return self._mse

    @property
    def n_replicates(self) -> int:
        return int(self._rep.shape[1])

    @property
    def degf(self) -> int:
        """Rank of the replicate weights of the rows in the design minus 1 (R ``degf``)."""
        if self._degf is None:  # computed once, when first needed (an n x R rank)
            object.__setattr__(self, "_degf", replicate_degf(self._rep[self._rows_in_design()]))
        return self._degf

    @property
    def weighting_info(self) -> WeightingInfo | None:
        return self._info

    def _rows_in_design(self) -> np.ndarray:
        return np.ones(self._w.size, dtype=bool) if self._mask is None else self._mask

    @property
    def summary(self) -> str:
        names = {"JK1": "Unstratified cluster jackknife (JK1)", "JKn": "Stratified cluster jackknife (JKn)",
                 "BRR": "Balanced repeated replicates (BRR)", "Fay": f"Fay's BRR (rho={self._rho})",
                 "bootstrap": "Survey bootstrap", "subbootstrap": "(n-1) bootstrap",
                 "SDR": "Successive-difference replicates",
                 "JK2": "Paired jackknife (JK2)", "ACS": "ACS successive-difference replicates",
                 "other": "Replicate weights"}
        parts = [f"{names[self._type]} with {self.n_replicates} replicates"
                 + (" and MSE variances" if self._mse else "") + f": {self._w.size} rows; degf {self.degf}",
                 f"scale {self._scale:.6g}; weights {self._weight!r}: sum {self._w.sum():,.6g}"]
        if self._mask is not None:
            parts.append(f"subset: {int(self._mask.sum())} of {self._mask.size} rows in the domain")
        if self._info is not None:
            parts.append(self._info.headline)
        return "\n".join(parts)

    def __repr__(self) -> str:
        return "ReplicateDesign\n  " + self.summary.replace("\n", "\n  ")

    def _repr_html_(self) -> str:
        return summary_html("ReplicateDesign", self.summary)

    # ---- subsets -------------------------------------------------------------------------
    def subset(self, mask: Any) -> "ReplicateDesign":
        """A domain design: estimates use only rows where ``mask`` is True (R ``subset``); ``degf`` is
        recomputed on those rows, as R does."""
        new_mask = _subset_mask(self._data, self._mask, mask)
        return self._replace(_mask=new_mask, _degf=None)

    def assign(self, **columns: Any) -> "ReplicateDesign":
        """A new design with columns added or replaced (R ``update``); the weights cannot be replaced."""
        clash = sorted(({self._weight} | set(self._names)) & set(columns))
        if clash:
            raise DesignError(f"assign() cannot replace the weight column(s) {clash}; build a new design.")
        try:
            new = self._data.assign(**columns)
        except (ValueError, TypeError) as exc:
            raise DesignError(f"assign() failed: {exc}") from exc
        return self._replace(_data=new)

    # ---- estimation ------------------------------------------------------------------------
    def _all_weights(self) -> np.ndarray:
        return np.column_stack([self._w, self._rep])

    def variance(self, thetas: Any, estimate: Any, *, cov: bool = False) -> np.ndarray:
        """Replicate variance (or covariance matrix) of statistics from their replicate estimates
        ``thetas`` (R x M) and full-sample ``estimate`` (M), R ``svrVar`` with this design's scales."""
        T = np.asarray(thetas, dtype=float)
        if T.shape[0] != self.n_replicates:
            raise DesignError(f"thetas must have one row per replicate ({self.n_replicates}), got {T.shape}.")
        return replicate_variance(T, estimate, self._scale, self._rscales, self._mse, cov=cov)

    def with_replicates(self, statistic: Callable[[np.ndarray], Any]) -> tuple[np.ndarray, np.ndarray]:
        """Any statistic with its replicate covariance (R ``withReplicates``).

        ``statistic(weights)`` gets a length-n weight vector (zero outside the design's subset) and
        returns a number or a vector. Returns ``(estimate, covariance matrix)``.
        """
        inside = self._rows_in_design()
        W = self._all_weights() * inside[:, None]
        values = [np.atleast_1d(np.asarray(statistic(W[:, j]), dtype=float)) for j in range(W.shape[1])]
        est, thetas = values[0], np.vstack(values[1:])
        return est, self.variance(thetas, est, cov=True)

    def _domain_statistics(self, stat: str, tasks, rows: np.ndarray, dom: np.ndarray,
                           D: int) -> dict[str, np.ndarray]:
        """Estimate, SE, n, n_eff and deff (each D x M) of every task in every domain (called by
        :func:`evalkit.survey.domains.estimate`)."""
        Wall = self._all_weights()[rows]
        R = rows.size
        S = sparse.csr_matrix((np.ones(R), (dom, np.arange(R))), shape=(D, R))
        M = len(tasks)
        est, var, W, A = (np.empty((D, M)) for _ in range(4))
        valid = np.column_stack([t[3] for t in tasks]).astype(float)
        V = np.column_stack([t[2] for t in tasks]).astype(float)
        idx = (dom, np.arange(R))
        for j in range(M):  # domain x weight-column sums as sparse (D x rows) @ dense (rows x R+1)
            num = np.asarray(sparse.csr_matrix((valid[:, j] * V[:, j], idx), shape=(D, R)) @ Wall)
            den = np.asarray(sparse.csr_matrix((valid[:, j], idx), shape=(D, R)) @ Wall)
            with np.errstate(invalid="ignore", divide="ignore"):
                theta = num if stat == "total" else num / den
            est[:, j], W[:, j], A[:, j] = theta[:, 0], den[:, 0], num[:, 0]
            var[:, j] = replicate_variance(theta[:, 1:].T, theta[:, 0], self._scale, self._rscales, self._mse)
        n = np.rint(np.asarray(S @ valid)).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            ybar = A / W
            var = np.where(n > 0, var, np.nan)
            WV = valid * Wall[:, :1]
            centred = V - np.nan_to_num(ybar)[dom]
            s2 = np.asarray(S @ (WV * centred * centred)) / W * n / (n - 1)
            v_srs = s2 / n if stat != "total" else s2 * W * W / n
            deff = np.where(n > 1, var / v_srs, np.nan)
            return {"estimate": np.where(n > 0, est, np.nan), "se": np.sqrt(np.maximum(var, 0.0)), "n": n,
                    "n_eff": n / deff, "deff": deff}

    def _cell_means(self, vals: np.ndarray, rows: np.ndarray, dom: np.ndarray,
                    D: int) -> tuple[np.ndarray, np.ndarray]:
        """Cell means and their replicate covariance (called by :func:`~evalkit.survey.domains.domain_means`)."""
        Wall = self._all_weights()[rows]
        S = sparse.csr_matrix((np.ones(rows.size), (dom, np.arange(rows.size))), shape=(D, rows.size))
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = np.asarray(S @ (vals[rows][:, None] * Wall)) / np.asarray(S @ Wall)
        cov = replicate_variance(theta[:, 1:].T, theta[:, 0], self._scale, self._rscales, self._mse, cov=True)
        return theta[:, 0], np.atleast_2d(cov)

    def mean(self, y: str | Sequence[str], by: str | Sequence[str] | None = None, *,
             level: float = 0.95, df: Any = "design") -> pd.DataFrame:
        """Mean of each ``y``, overall or by domain (R ``svymean``/``svyby`` on an ``svyrep.design``).

        Parameters, Returns and missing values as :meth:`evalkit.survey.design.SurveyDesign.mean`;
        ``se`` is the replicate SE. ``df`` defaults to ``"design"``: the ``df`` column is :attr:`degf`
        (R ``degf()``) and intervals are Student t with it, as Stata and SAS use for replicate designs;
        ``df=None`` gives R ``confint``'s normal intervals (``df = inf``).
        """
        return _estimate(self, "mean", y, by, level, df)

    def total(self, y: str | Sequence[str], by: str | Sequence[str] | None = None, *,
              level: float = 0.95, df: Any = "design") -> pd.DataFrame:
        """Total of each ``y``, overall or by domain (R ``svytotal``); as :meth:`mean`."""
        return _estimate(self, "total", y, by, level, df)

    def proportion(self, y: str | Sequence[str], by: str | Sequence[str] | None = None, *,
                   level: float = 0.95, df: Any = "design", ci: ProportionCI = "wald") -> pd.DataFrame:
        """Proportion of each category of ``y`` (the mean of its indicator); as
        :meth:`evalkit.survey.design.SurveyDesign.proportion`."""
        return _estimate(self, "proportion", y, by, level, df, ci)

    # ---- raking ------------------------------------------------------------------------------
    def rake(self, margins: Mapping[str, Mapping[Any, float]], *, max_iter: int = 100, tol: float = 1e-8,
             trim: tuple[float, float] | None = None, margin_tol: float = 1e-6) -> "ReplicateDesign":
        """Rake the full-sample weights and every replicate's to the same population margins.

        Arguments as :meth:`evalkit.survey.design.SurveyDesign.rake`. Each column of weights goes
        through the same iterative proportional fitting until *every* column meets the margins
        within ``tol`` (R's ``rake`` of an ``svyrep.design`` post-stratifies the replicates with the
        full-sample weights and stops when the full-sample table moves by less than
        ``control$epsilon``, 1 by default: with a small epsilon the two agree). The variance is the
        replicate variance of the raked replicates; ``degf`` is recomputed, as R does.
        """
        if self._mask is not None:
            raise DesignError("rake() the full design, then subset(): this design is a domain subset.")
        W, info = rake_replicates(self._data, self._all_weights(), margins, self._names, max_iter=max_iter,
                                  tol=tol, trim=trim, margin_tol=margin_tol)
        return self._replace(_w=W[:, 0].copy(), _rep=W[:, 1:].copy(), _info=info, _degf=None)


def _rebuild_replicate(args: tuple, state: dict) -> ReplicateDesign:
    """Unpickle a :class:`ReplicateDesign` (its ``__reduce__``); warnings were given when it was built."""
    data, weight, rep, kind, rho, scale, rscales, mse = args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = ReplicateDesign(data, weight, rep, kind, rho=rho, scale=scale, rscales=rscales, mse=mse)
    return design._replace(**state)

