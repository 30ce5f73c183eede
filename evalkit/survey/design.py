"""Survey designs: weights, strata, PSUs and fpc held once; design-based estimates.

:class:`SurveyDesign` follows R's survey package (Lumley): ``svydesign`` holds the sampling structure,
every estimator takes it, and weighting steps (:meth:`SurveyDesign.rake`) return a *new* design whose
variance accounts for the calibration. Estimates are means, totals and proportions, overall or by domain,
with Taylor-linearisation standard errors for stratified (ultimate-)cluster designs. As in R survey, the
pieces are apart: this module holds the design object (checks, :meth:`SurveyDesign.subset`, ``summary``);
:mod:`~evalkit.survey.variance` the variance engine (PSU totals, lonely PSUs, design df);
:mod:`~evalkit.survey.domains` domain estimation; :mod:`~evalkit.survey.calibration` raking.

Examples
--------
>>> import pandas as pd
>>> from evalkit.survey.design import SurveyDesign
>>> df = pd.DataFrame({"stratum": ["a", "a", "a", "b", "b", "b"],
...                    "w": [10.0, 10.0, 12.0, 5.0, 5.0, 6.0],
...                    "y": [1.0, 3.0, 2.0, 4.0, 6.0, 5.0],
...                    "sex": ["F", "M", "F", "M", "F", "M"]})
>>> design = SurveyDesign(df, weight="w", strata="stratum")
>>> design.mean("y")[["indicator", "estimate", "se", "df", "n"]].round(4)
  indicator  estimate      se   df  n
0         y       3.0  0.4077  inf  6
>>> design.proportion("sex", by="stratum")[["stratum", "category", "estimate"]].round(4)
  stratum category  estimate
0       a        F    0.6875
1       a        M    0.3125
2       b        F    0.3125
3       b        M    0.6875
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._literals import LonelyPSU, ProportionCI
from ..errors import DesignError, EvalkitWarning
from ..spec.study import Study
from ..spec.study_replicates import replicate_columns, replicate_options
from .calibration import WeightingInfo, rake as _rake
from .design_checks import (_check_arguments, _fpc_factor, _psu_codes, _strata_codes,
                            _subset_mask, _weights)
from .domains import estimate as _estimate
from .replicate import ReplicateDesign
from .replicate_weights import design_replicates
from ._common import summary_html
from .variance import psu_structure

__all__ = ["SurveyDesign", "WeightingInfo"]


# --------------------------------------------------------------------------------------
# the design
# --------------------------------------------------------------------------------------
class SurveyDesign:
    """A stratified (ultimate-)cluster survey design, as R's ``svydesign``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent. It is copied; the design is immutable.
    weight : str
        Column of sampling weights (inverse inclusion probabilities). Every weight must
        be finite and > 0: a missing, infinite, zero or negative weight is a
        :class:`~evalkit.errors.DesignError` naming the row and value.
    strata : str, optional
        Column of first-stage strata. Without it the design has one stratum.
    psu : str, optional
        Column of first-stage sampling units (clusters). Without it every row is its own
        PSU (``id=~1`` in R). PSUs must be nested in strata unless ``nest=True``.
    fpc : str, optional
        Column holding the population number of PSUs in the row's stratum, ``N_h``
        (R's convention for ``fpc=`` with population sizes; a one-stage design). It must be
        constant within strata and ``>= n_h``. Without it PSUs are taken as sampled with
        replacement (no finite population correction).
    lonely_psu : {"adjust", "remove", "certainty", "average", "fail"}, default "adjust"
        What a stratum with a single PSU contributes to the variance, as R's
        ``options(survey.lonely.psu=)``. Anything but ``"fail"`` and ``"certainty"``
        emits a :class:`~evalkit.errors.LonelyPSUWarning` naming the strata; ``"fail"``
        raises :class:`~evalkit.errors.DesignError` at construction.
    nest : bool, default False
        Treat PSU labels as re-used across strata (R ``nest=TRUE``): a PSU is the pair
        (stratum, psu). With ``nest=False`` a PSU label found in two strata is an error.

    Attributes
    ----------
    data : pandas.DataFrame
        The design's data (a shallow copy; edits do not reach the design).
    weights : numpy.ndarray
        Final weights (calibrated ones after :meth:`rake`).
    n_psu, n_strata, degf : int
        Number of PSUs, strata, and design degrees of freedom ``#PSU - #strata`` (R ``degf``)
        of the rows in the design's subset.
    weighting_info : WeightingInfo or None
        Diagnostics of the weighting step that produced this design.

    Notes
    -----
    **Variance** of a statistic: Taylor linearisation over first-stage PSUs within strata
    (R ``svyrecvar``, ultimate-cluster; with replacement without ``fpc``); a stratum with a
    single PSU is handled by ``lonely_psu`` as R survey >= 4.4-1. The formulas and the
    lonely-PSU rule are in :mod:`evalkit.survey.variance`.

    **Domains** (``by=``, :meth:`subset`, and missing ``y``) never drop rows: the score is
    zero outside the domain and the full design (every PSU, ``n_h`` of the whole sample)
    enters the variance, R's subset semantics (``svyby``, ``subset.survey.design2``).
    Rows with a missing ``y`` are treated as outside the domain of that variable (R's
    ``na.rm=TRUE``); a domain with a single PSU inside a multi-PSU stratum gets no special
    treatment (R's default ``survey.adjust.domain.lonely=FALSE``).

    References
    ----------
    Lumley T (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley. Ch. 2-3, 7.
    R package survey: ``svydesign``, ``svymean``, ``svytotal``, ``svyby``, ``rake``.
    """

    __slots__ = ("_data", "_weight", "_strata", "_psu", "_fpc", "_lonely", "_nest", "_w", "_s", "_mask",
                 "_calib", "_info")

    # ---- construction ----------------------------------------------------------------
    def __init__(
        self,
        data: pd.DataFrame,
        weight: str,
        strata: str | None = None,
        psu: str | None = None,
        fpc: str | None = None,
        *,
        lonely_psu: LonelyPSU = "adjust",
        nest: bool = False,
    ) -> None:
        _check_arguments(data, {"weight": weight, "strata": strata, "psu": psu, "fpc": fpc}, lonely_psu)
        df = data.copy(deep=True)
        w = _weights(df, weight)
        h, strata_levels = _strata_codes(df, strata)
        p, psu_stratum = _psu_codes(df, h, psu, strata, nest)
        f = _fpc_factor(df, fpc, h, psu_stratum, strata_levels)
        where = f"stratum {strata!r}" if strata is not None else "the design"
        s = psu_structure(h, p, psu_stratum, strata_levels, f, lonely_psu, where, stacklevel=2)
        w.setflags(write=False)
        for name, value in {
            "_data": df, "_weight": weight, "_strata": strata, "_psu": psu, "_fpc": fpc,
            "_lonely": lonely_psu, "_nest": nest, "_w": w, "_s": s, "_mask": None, "_calib": None,
            "_info": None,
        }.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_study(cls, data: pd.DataFrame, study: Study, **arguments: Any) -> "SurveyDesign | ReplicateDesign":
        """The design named by the study's column roles (weight, strata, psu); ``arguments``
        (``fpc=``, ``lonely_psu=``, ``nest=``, or another ``weight=`` ...) are passed on and win.

        A study declaring replicate weights (``design: replicate_weights:`` of ``study.yaml``,
        ``study.replicate_weights``) gives a :class:`~evalkit.survey.replicate.ReplicateDesign`
        (R ``svrepdesign``) with the weight role as full-sample weight; ``arguments`` may then be
        ``weight=``, ``scale=``, ``rscales=``, ``rho=``, ``mse=``, ``combined_weights=`` (they win).
        The strata and PSU roles are not used for its variances: an
        :class:`~evalkit.errors.EvalkitWarning` says so when the data hold those columns.
        """
        if not isinstance(study, Study):
            raise DesignError(f"SurveyDesign.from_study needs an evalkit.Study, got {type(study).__name__}.")
        r = study.roles
        if arguments.get("weight", r.weight) is None:
            raise DesignError("SurveyDesign.from_study: the study names no weight column; name it in roles: "
                              "{weight: <column>} of study.yaml (Roles(weight=...)) or pass weight=.")
        spec = study.replicate_weights
        if spec is None:
            return cls(data, **{"weight": r.weight, "strata": r.strata, "psu": r.psu, **arguments})
        source = study.path or "Study(replicate_weights=...)"
        weight = arguments.pop("weight", r.weight)
        if not isinstance(data, pd.DataFrame) or weight is None or weight not in data.columns:
            raise DesignError(f"{source}: replicate weights need the full-sample weight column too: the study's "
                              f"weight role {weight!r} is not a column of the data; name it in roles: "
                              "{weight: <column>}.")
        linear = sorted(set(arguments) & {"strata", "psu", "fpc", "lonely_psu", "nest"})
        if linear:
            raise DesignError(f"SurveyDesign.from_study: {linear} describe a linearisation design, but {source} "
                              "declares replicate weights; leave them out.")
        columns = replicate_columns(spec, data, weight, source, r)
        unused = [c for c in (r.strata, r.psu) if c is not None and c in data.columns]
        if unused:
            warnings.warn(f"The study declares replicate weights ({len(columns)} columns, type {spec['type']}): "
                          f"variances come from them; the strata/PSU column(s) {unused} are not used.",
                          EvalkitWarning, stacklevel=2)
        try:
            return ReplicateDesign(data, weight, columns, spec["type"], **{**replicate_options(spec), **arguments})
        except DesignError as exc:
            raise DesignError(f"{source}: design.replicate_weights: {exc}") from None

    @staticmethod
    def from_replicates(data: pd.DataFrame, weight: str, replicate_weights: Any, type: str,
                        **options: Any) -> ReplicateDesign:
        """A design given by replicate weights (R ``svrepdesign``): a
        :class:`~evalkit.survey.replicate.ReplicateDesign`; ``options`` are its ``rho``, ``scale``,
        ``rscales``, ``mse`` and ``combined_weights``."""
        return ReplicateDesign(data, weight, replicate_weights, type, **options)

    def as_replicate(self, type: str = "auto", *, replicates: int = 50, seed: int | None = None,
                     rho: float | None = None, mse: bool = False) -> ReplicateDesign:
        """This design with replicate weights (R ``as.svrepdesign``).

        ``type``: ``"auto"`` (JK1 without strata, JKn with them), ``"JK1"``, ``"JKn"`` (delete-one-PSU
        jackknives with R's ``jk1weights``/``jknweights`` scales, fpc included), ``"bootstrap"`` (R's
        ``bootweights``, Canty-Davison, fpc included) or ``"subbootstrap"`` (Rao-Wu (n-1) rescaling bootstrap,
        R's ``subbootweights``) of ``replicates`` replicates drawn with ``seed`` (required), ``"BRR"``
        or ``"Fay"`` (with ``rho``; strata of exactly 2 PSUs, fpc dropped as R does).
        Lonely PSUs follow the design's ``lonely_psu`` as R's ``jknweights``. The design must be the full,
        unraked one: rake the replicate design instead (its replicates are raked alongside).
        """
        W, kind, scale, rscales = design_replicates(self, type, replicates, seed, rho)
        data = self._data.copy(deep=False)
        data[self._weight] = self._w
        fay = {"rho": rho} if kind == "Fay" else {}
        return ReplicateDesign(data, self._weight, W, kind, scale=scale, rscales=rscales, mse=mse, **fay)

    def _replace(self, **changes: Any) -> "SurveyDesign":
        new = object.__new__(SurveyDesign)
        for name in SurveyDesign.__slots__:
            object.__setattr__(new, name, changes.get(name, getattr(self, name)))
        return new

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SurveyDesign is immutable; weighting steps and subsets return a new design.")

    def __reduce__(self):
        # Pickling (process pools, Dask workers): the default protocol would restore the slots by
        # setattr, which an immutable design refuses. Rebuild from the constructor arguments instead
        # (the PSU structure is derived again, not shipped), then put back what weighting steps and
        # subsets changed: the final weights, the domain mask and the calibration.
        args = (self._data, self._weight, self._strata, self._psu, self._fpc, self._lonely, self._nest)
        return _rebuild_design, (args, {"_w": self._w, "_mask": self._mask, "_calib": self._calib,
                                        "_info": self._info})

    def __delattr__(self, name: str) -> None:
        raise AttributeError("SurveyDesign is immutable.")

    # ---- properties --------------------------------------------------------------------
    @property
    def data(self) -> pd.DataFrame:
        return self._data.copy(deep=False)

    @property
    def weights(self) -> np.ndarray:
        return self._w.copy()

    @property
    def n_psu(self) -> int:
        return int(np.unique(self._s.p[self._rows_in_design()]).size)

    @property
    def n_strata(self) -> int:
        return int(np.unique(self._s.h[self._rows_in_design()]).size)

    @property
    def degf(self) -> int:
        """Design degrees of freedom, ``#PSU - #strata`` among rows in the subset (R ``degf``)."""
        return self._s.degf(self._rows_in_design())

    @property
    def psu_codes(self) -> np.ndarray:
        """First-stage PSU of each row as an integer code (a PSU is a (stratum, psu) pair; read-only)."""
        return self._s.p

    @property
    def strata_codes(self) -> np.ndarray:
        """Stratum of each row as an integer code (read-only)."""
        return self._s.h

    # 0.1 names of the codes, read by code outside the class; use psu_codes / strata_codes
    _p = psu_codes
    _h = strata_codes

    @property
    def weighting_info(self) -> WeightingInfo | None:
        return self._info

    @property
    def lonely_strata(self) -> list:
        return list(self._s.lonely_strata)

    @property
    def is_calibrated(self) -> bool:
        return self._calib is not None

    def _rows_in_design(self) -> np.ndarray:
        return np.ones(self._w.size, dtype=bool) if self._mask is None else self._mask

    @property
    def summary(self) -> str:
        s = self._s
        kind = "Stratified " if self._strata is not None else ""
        clus = "cluster" if self._psu is not None else "independent"
        wr = " (with replacement)" if self._fpc is None else ""
        parts = [
            f"{kind}{clus} sampling design{wr}: {self._w.size} rows",
            f"{len(s.strata_levels)} strata, {s.n_psu_total} PSUs "
            f"(per stratum {int(s.n_h.min())}-{int(s.n_h.max())}); degf {self.degf}",
            f"weights {self._weight!r}: sum {self._w.sum():,.6g}, range "
            f"[{self._w.min():.4g}, {self._w.max():.4g}]",
        ]
        if s.lonely_strata:
            parts.append(f"lonely-PSU strata: {len(s.lonely_strata)} (lonely_psu={self._lonely!r})")
        if self._mask is not None:
            parts.append(f"subset: {int(self._mask.sum())} of {self._mask.size} rows in the domain")
        if self._info is not None:
            parts.append(self._info.headline)
        return "\n".join(parts)

    def __repr__(self) -> str:
        return "SurveyDesign\n  " + self.summary.replace("\n", "\n  ")

    def _repr_html_(self) -> str:
        return summary_html("SurveyDesign", self.summary)

    # ---- subsetting --------------------------------------------------------------------
    def subset(self, mask: Any) -> "SurveyDesign":
        """A domain design: estimates use only rows where ``mask`` is True.

        Rows are not dropped: the full sampling structure stays (R ``subset()`` of a
        ``survey.design2``), so standard errors are domain SEs.

        Parameters
        ----------
        mask : str or array-like of bool
            A boolean column name or a boolean array/Series aligned with ``data``.
        """
        new_mask = _subset_mask(self._data, self._mask, mask)
        return self._replace(_mask=new_mask)

    def assign(self, **columns: Any) -> "SurveyDesign":
        """A new design with columns added or replaced (R ``update(design, ...)``).

        Values are as for :meth:`pandas.DataFrame.assign` (arrays, Series aligned on the
        index, or callables of the data). The weight, strata, psu and fpc columns cannot be
        replaced; the weights (raked ones included) and the sampling structure are kept.
        """
        protected = {c for c in (self._weight, self._strata, self._psu, self._fpc) if c}
        clash = sorted(protected & set(columns))
        if clash:
            raise DesignError(f"assign() cannot replace the design column(s) {clash}; build a new SurveyDesign.")
        try:
            new = self._data.assign(**columns)
        except (ValueError, TypeError) as exc:
            raise DesignError(f"assign() failed: {exc}") from exc
        return self._replace(_data=new)

    # ---- variance ------------------------------------------------------------------------
    def _present_strata(self) -> np.ndarray | None:
        """Strata (H x 1) holding rows of an uncalibrated subset; ``None`` for every stratum.

        R's ``[.survey.design2`` drops the rows outside a subset unless the design is
        calibrated, so the strata without rows leave the lonely-PSU centre's denominator.
        """
        if self._mask is None or self._calib is not None:
            return None
        return (np.bincount(self._s.h[self._mask], minlength=self._s.n_h.size) > 0)[:, None]

    def linearized_variance(self, scores: Any, *, cov: bool = False) -> np.ndarray:
        """Design variance of totals of per-row linearised scores.

        Parameters
        ----------
        scores : array-like, shape (n,) or (n, m)
            Score (influence) of each row on each statistic, *already multiplied by the
            row's weight* (e.g. ``w_i (y_i - ybar) / sum(w)`` for a mean). Rows outside a
            domain carry 0. For a calibrated design the scores are replaced by
            ``w_i (e_i - x_i'B)``, ``e_i = score_i / w_i``, before the variance is taken.
        cov : bool, default False
            Return the m x m covariance matrix instead of the m variances.

        Returns
        -------
        numpy.ndarray
            Variances (shape (m,)) or covariance matrix (m, m).

        Notes
        -----
        With ``lonely_psu="adjust"`` a lonely PSU's total is centred at the mean of all PSU
        totals (:mod:`evalkit.survey.variance`). On a :meth:`subset` of an uncalibrated design only the strata
        holding rows of the subset count for that mean, as when R drops the other rows.
        """
        Z = np.asarray(scores, dtype=float)
        one = Z.ndim == 1
        if one:
            Z = Z[:, None]
        if Z.ndim != 2 or Z.shape[0] != self._w.size:
            raise DesignError(f"scores must have one row per design row ({self._w.size}), got shape {Z.shape}.")
        if not np.all(np.isfinite(Z)):
            raise DesignError("scores contain missing or infinite values; use 0 outside the domain.")
        if self._calib is not None:
            Z = self._calib.residualise(Z, self._w)
        T = self._s.psu_totals(Z)
        if cov:
            return self._s.cov_dense(T, self._present_strata())
        v = self._s.var_dense(T, self._present_strata())
        return v[0] if one else v

    # ---- estimators ----------------------------------------------------------------------
    def mean(
        self, y: str | Sequence[str], by: str | Sequence[str] | None = None, *,
        level: float = 0.95, df: Any = None,
    ) -> pd.DataFrame:
        """Design-based mean of each ``y``, overall or by domain (R ``svymean``/``svyby``).

        Parameters
        ----------
        y : str or list of str
            Numeric column(s). Missing values are left out of the domain (R ``na.rm=TRUE``),
            not out of the design.
        by : str or list of str, optional
            Domain column(s); one output row per observed combination (rows with a missing
            ``by`` value belong to no domain).
        level : float, default 0.95
            Confidence level.
        df : None, "design" or float, default None
            ``None``: normal intervals (R ``confint`` default). ``"design"``: Student t with
            ``#PSU - #strata`` degrees of freedom of this design (or subset), the same for
            every domain (R ``confint(svyby(...), df=degf(design))``). A number: t with that df.

        Returns
        -------
        pandas.DataFrame
            By-columns, then ``indicator`` (the column ``y``), ``estimate``, ``se``, ``df`` (of
            the interval: ``inf`` for normal), ``ci_low``, ``ci_high`` (the vocabulary of
            :mod:`evalkit.results`), ``n`` (unweighted count of non-missing ``y`` in the domain), ``n_eff``
            (``n / deff``), ``deff`` (design effect against simple random sampling *with*
            replacement, R ``svymean(deff="replace")``; R's ``deff=TRUE`` divides by the
            without-replacement SRS variance instead, i.e. multiplies ours by
            ``N_hat / (N_hat - n)``).

        Notes
        -----
        ``ybar_d = sum_d w y / sum_d w``, score ``z_i = 1[i in d] w_i (y_i - ybar_d) / sum_d w``,
        variance as in :mod:`evalkit.survey.variance`. Matches R ``svymean(~y, design, na.rm=TRUE)`` and
        ``svyby(~y, ~by, design, svymean, na.rm=TRUE)``. ``deff`` uses
        ``v_srs = s^2 / n``, ``s^2 = n/(n-1) sum_d w (y - ybar)^2 / sum_d w`` (R ``svyvar``).
        """
        return _estimate(self, "mean", y, by, level, df)

    def total(
        self, y: str | Sequence[str], by: str | Sequence[str] | None = None, *,
        level: float = 0.95, df: Any = None,
    ) -> pd.DataFrame:
        """Design-based total of each ``y``, overall or by domain (R ``svytotal``/``svyby``).

        Parameters and Returns as :meth:`mean`. The score is ``z_i = 1[i in d] w_i y_i``;
        ``deff`` uses ``v_srs = s^2 (sum_d w)^2 / n`` (R ``svytotal(deff="replace")``).
        """
        return _estimate(self, "total", y, by, level, df)

    def proportion(
        self, y: str | Sequence[str], by: str | Sequence[str] | None = None, *,
        level: float = 0.95, df: Any = None, ci: ProportionCI = "wald",
    ) -> pd.DataFrame:
        """Design-based proportion of each category of categorical (or 0/1) ``y``.

        The proportion of category ``k`` is the design-based mean of the indicator
        ``1[y = k]`` among rows with non-missing ``y`` in the domain (R
        ``svymean(~factor(y), na.rm=TRUE)``), so its SE is exactly that of the mean of the
        indicator.

        ``ci="wald"`` (default) gives ``p +/- q se`` (R ``confint(svymean(...))``, not clipped
        to [0, 1]); ``ci="logit"`` gives ``expit(logit(p) +/- q se / (p (1 - p)))``, R
        ``svyciprop(method="logit")`` and samplics' interval (both use ``df="design"`` by
        default there; pass ``df="design"`` to match them). A proportion of exactly 0 or 1
        gets the interval ``[p, p]``.

        Returns
        -------
        pandas.DataFrame
            As :meth:`mean` with a ``category`` column (the level of ``y``) after
            ``indicator``; one row per category present among the rows of the design (within a
            domain where a category does not occur its estimate is 0).
        """
        return _estimate(self, "proportion", y, by, level, df, ci)

    # ---- raking ------------------------------------------------------------------------
    def rake(
        self,
        margins: Mapping[str, Mapping[Any, float]],
        *,
        max_iter: int = 100,
        tol: float = 1e-8,
        trim: tuple[float, float] | None = None,
        margin_tol: float = 1e-6,
    ) -> "SurveyDesign":
        """Rake the weights to population margins (iterative proportional fitting).

        Parameters
        ----------
        margins : mapping
            ``{column: {level: population total}}``, e.g.
            ``{"sex": {"F": 5120, "M": 4880}, "community": {...}}``. For a crossing (e.g.
            community x sex) create a combined column first and give its totals.
        max_iter : int, default 100
            Maximum number of full sweeps over the margins.
        tol : float, default 1e-8
            Convergence: every margin level within ``tol`` relative error of its target.
        trim : (lo, hi), optional
            Bounds on the g-weights (final / design weight). After each sweep g is clipped to
            ``[lo, hi]`` and raking continues, so the result meets the margins and the bounds
            if both can be met ("bounded raking"); otherwise a ConvergenceWarning.
        margin_tol : float, default 1e-6
            Largest relative disagreement allowed between the grand totals of the margins.

        Returns
        -------
        SurveyDesign
            A new design with the raked weights; ``.weighting_info`` holds the diagnostics.
            Its standard errors account for the calibration.

        Raises
        ------
        DesignError
            A margin column is missing or has missing values; a sample level is absent from
            the margins; a margin level has no sample row (empty cell); a total is not a
            positive number; grand totals disagree (impossible margins); the design is a
            subset or already calibrated; bad ``trim``.

        Notes
        -----
        The variance after raking is the calibration linearisation of Deville & Sarndal (1992):
        R ``calibrate(calfun="raking")`` exactly, ``postStratify()`` for one margin; how it
        compares with R's ``rake()`` is in :mod:`evalkit.survey.calibration`.
        """
        if self._mask is not None:
            raise DesignError("rake() the full design, then subset(): this design is a domain subset.")
        if self._calib is not None:
            raise DesignError("This design is already calibrated; rake the original design once with all "
                              "margins together.")
        w, calib, info = _rake(self._data, self._w.copy(), self._s, margins, max_iter=max_iter, tol=tol,
                               trim=trim, margin_tol=margin_tol)
        return self._replace(_w=w, _calib=calib, _info=info)


def _rebuild_design(args: tuple, state: dict) -> SurveyDesign:
    """Unpickle a :class:`SurveyDesign` (its ``__reduce__``); warnings were given when it was built."""
    import warnings

    data, weight, strata, psu, fpc, lonely, nest = args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = SurveyDesign(data, weight, strata, psu, fpc, lonely_psu=lonely, nest=nest)
    w = np.array(state["_w"], dtype=float)
    w.setflags(write=False)
    return design._replace(**{**state, "_w": w})

