"""Internal-consistency reliability of multi-item scales: alpha, item analysis, the scale table.

One function, one statistic, one tidy DataFrame out:

- :func:`cronbach_alpha` — raw and standardised coefficient alpha with Feldt's
  confidence interval, on the pairwise-complete covariance matrix as R's
  ``psych::alpha`` computes it (listwise on request).
- :func:`item_rest` — item–rest (corrected item–total) correlations and
  alpha-if-item-deleted, one row per item.
- :func:`reliability` — alpha, its CI and omega for every scale of a codebook
  (or a mapping), by group, flagging coefficients below a threshold.
- :func:`feldt_ci` — the Feldt (1965) interval on its own.
- :func:`omega_total` and :func:`one_factor` (McDonald's omega total from a one-factor ML
  model) live in :mod:`evalkit.measure.factor` and are importable from here.

Tables follow evalkit's result vocabulary (:mod:`evalkit.results`): the coefficient's name in
``coefficient`` (``"alpha"``, ``"omega_total"``), its value in ``estimate``, the interval in
``ci_low``/``ci_high`` at ``level=``, and in :func:`reliability` the scale in ``indicator``.

Reverse-keying: pass ``reverse=[...]`` (and, to check the answers and keep item
means on the answer scale, ``item_min``/``item_max``); a reversed answer is
``item_min + item_max - x``. Alpha, omega and the correlations do not depend on
the constant used, only on the sign flip.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._literals import MissingPolicy, check_choice
from ..errors import EstimationError, EvalkitError, ReliabilityWarning, SmallSampleWarning
from .factor import _fit_one_factor, _omega, omega_total, one_factor
from .items import confidence_level, covariance, degenerate, prepare

__all__ = [
    "ReliabilityWarning",
    "cronbach_alpha",
    "feldt_ci",
    "item_rest",
    "omega_total",
    "one_factor",
    "reliability",
]

#: Columns of :func:`cronbach_alpha`.
ALPHA_COLUMNS = ["coefficient", "estimate", "ci_low", "ci_high", "n", "k", "std_alpha", "average_r", "method"]
#: Columns of :func:`reliability` after the grouping columns.
RELIABILITY_COLUMNS = ["indicator", "coefficient", "estimate", "ci_low", "ci_high", "n", "k", "std_alpha",
                       "average_r", "flag", "note"]


def _alpha_stats(C: np.ndarray) -> tuple[float, float, float]:
    """psych::alpha's alpha.1: raw alpha, standardised alpha, average inter-item r."""
    k = C.shape[0]
    total = C.sum()
    raw = (1.0 - np.trace(C) / total) * k / (k - 1) if total != 0 else math.nan
    d = np.sqrt(np.diag(C))
    with np.errstate(divide="ignore", invalid="ignore"):
        R = C / np.outer(d, d)
    sum_r = R.sum()
    std = (1.0 - k / sum_r) * k / (k - 1)
    av_r = (sum_r - k) / (k * (k - 1))
    return float(raw), float(std), float(av_r)




def feldt_ci(estimate: float, n: int, k: int, level: float = 0.95, *, ci: float | None = None) -> tuple[float, float]:
    """Feldt's confidence interval for coefficient alpha.

    Parameters
    ----------
    estimate : float
        Sample coefficient alpha (the argument was called ``alpha`` before 0.2).
    n : int
        Number of respondents.
    k : int
        Number of items.
    level : float
        Confidence level, e.g. 0.95 (``ci=`` is deprecated).

    Returns
    -------
    (ci_low, ci_high) : tuple of float
        NaN when ``estimate`` is NaN or ``n < 2``.

    Notes
    -----
    Under the usual normal model, :math:`(1-\\hat\\alpha)/(1-\\alpha)` follows an
    F distribution with :math:`n-1` and :math:`(n-1)(k-1)` degrees of freedom
    (Feldt 1965; Feldt, Woodruff & Salih 1987, eq. 2), so

    .. math:: [1-(1-\\hat\\alpha)F_{1-p/2},\\; 1-(1-\\hat\\alpha)F_{p/2}],\\quad p = 1-\\mathrm{level}.

    This is R's ``psych::alpha.ci(alpha, n.obs, n.var)`` (the "Feldt" row printed by
    ``psych::alpha``) and pingouin's ``cronbach_alpha`` interval (which rounds to 3 decimals).

    Examples
    --------
    >>> lo, hi = feldt_ci(0.79, n=41, k=26, level=0.90)
    >>> round(lo, 3), round(hi, 3)
    (0.705, 0.862)
    """
    level = confidence_level("feldt_ci", level, ci)
    if not np.isfinite(estimate) or n < 2 or k < 2:
        return math.nan, math.nan
    p = 1.0 - level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lo = 1.0 - (1.0 - estimate) * stats.f.ppf(1.0 - p / 2.0, df1, df2)
    hi = 1.0 - (1.0 - estimate) * stats.f.ppf(p / 2.0, df1, df2)
    return float(lo), float(hi)


# ---------------------------------------------------------------------------
# Cronbach's alpha
# ---------------------------------------------------------------------------


def cronbach_alpha(
    items: pd.DataFrame,
    *,
    method: MissingPolicy = "pairwise",
    level: float = 0.95,
    reverse: Sequence[str] | None = None,
    item_min: float | None = None,
    item_max: float | None = None,
    delete: bool = True,
    ci: float | None = None,
) -> pd.DataFrame:
    """Cronbach's coefficient alpha with Feldt's confidence interval.

    Parameters
    ----------
    items : DataFrame
        One numeric column per item, one row per respondent; NaN = not answered.
    method : {"pairwise", "listwise"}
        ``"pairwise"`` (default, as ``psych::alpha(use="pairwise")``): each covariance
        from the respondents answering both items. ``"listwise"``: only respondents
        answering every item (``psych::alpha(use="complete.obs")``).
    level : float
        Confidence level of the Feldt interval (``ci=`` is deprecated).
    reverse : list of str, optional
        Items to reverse-key first (``item_min + item_max - x``). Leave out if the
        caller already reversed them.
    item_min, item_max : float, optional
        The answer range. When given, answers outside it raise an error (an
        unconverted missing-value code, say). Without them a reversal uses the
        smallest and largest observed answer, as psych does; alpha is the same either way.
    delete : bool
        As psych's ``delete``: drop items without variance (constant, or fewer than
        two answers) with a :class:`ReliabilityWarning`. With ``False`` they stay, the
        raw alpha counts them in k, and std_alpha/average_r are NaN.

    Returns
    -------
    DataFrame
        One row with columns

        - ``coefficient``: ``"alpha"``
        - ``estimate``: raw coefficient alpha (psych's ``raw_alpha``)
        - ``ci_low``, ``ci_high``: Feldt interval at ``level``
        - ``n``: respondents used (see Notes)
        - ``k``: items used
        - ``std_alpha``: alpha of the standardised items (psych's ``std.alpha``)
        - ``average_r``: mean inter-item correlation (psych's ``average_r``)
        - ``method``: the missing-data policy

    Raises
    ------
    EvalkitError
        Fewer than two items, non-numeric items, answers outside ``[item_min, item_max]``.
    EstimationError
        Fewer than two usable items or respondents.

    Notes
    -----
    With :math:`C` the k × k item covariance matrix (Cronbach 1951),

    .. math:: \\alpha = \\frac{k}{k-1}\\Big(1 - \\frac{\\operatorname{tr} C}{\\mathbf 1' C \\mathbf 1}\\Big),

    exactly psych::alpha's ``alpha.1`` (Revelle, R package psych): ``raw = (1 - tr(C)/sum(C)) *
    k/(k-1)``. With :math:`R` the correlation matrix from :math:`C`,
    ``std_alpha = k/(k-1) * (1 - k/sum(R))`` and ``average_r = (sum(R) - k)/(k(k-1))``.

    Pairwise :math:`C` is computed without looping over pairs: with the answered-mask
    :math:`M` and zero-filled centred data :math:`X`, :math:`N = M'M`, :math:`S = X'M`,
    :math:`P = X'X` and :math:`C = (P - S \\circ S' / N) / (N - 1)`, which is R's
    ``cov(x, use="pairwise")`` and pandas' ``DataFrame.cov()``.

    The Feldt interval (Feldt, Woodruff & Salih 1987; see :func:`feldt_ci`) needs one n.
    Here **n is the number of respondents who answered at least one item** (pairwise) or
    every item (listwise). psych and pingouin use ``nrow(x)``, which also counts rows
    with no answer at all; the two agree whenever no row is entirely missing.
    Under listwise deletion both psych (``use="complete.obs"``) and pingouin
    (``nan_policy="listwise"``) still pass ``nrow(x)``, incomplete rows included, to the
    Feldt interval; evalkit uses the complete rows actually analysed, so its listwise
    interval is wider (and honest about the data used) while alpha itself is identical.

    Examples
    --------
    >>> import pandas as pd
    >>> x = pd.DataFrame({"q1": [1, 2, 3, 4, 5], "q2": [2, 2, 3, 5, 5], "q3": [1, 3, 3, 4, 4]})
    >>> res = cronbach_alpha(x)
    >>> round(float(res["estimate"].iloc[0]), 4), int(res["n"].iloc[0]), int(res["k"].iloc[0])
    (0.9538, 5, 3)
    """
    method = check_choice(method, MissingPolicy, "method")
    level = confidence_level("cronbach_alpha", level, ci)
    X, names, _ = prepare(items, "cronbach_alpha", reverse, item_min, item_max)
    C, n, names = _usable(X, names, method, delete)
    k = len(names)
    if n < k + 1:
        warnings.warn(
            f"cronbach_alpha: only n={n} respondents for k={k} items; alpha is very unstable below n = k + 1.",
            SmallSampleWarning,
            stacklevel=2,
        )
    alpha, std_alpha, average_r = _alpha_stats(C)
    lo, hi = feldt_ci(alpha, n, k, level)
    return pd.DataFrame([["alpha", alpha, lo, hi, n, k, std_alpha, average_r, method]], columns=ALPHA_COLUMNS)


def _usable(X: np.ndarray, names: list[str], method: str, delete: bool) -> tuple[np.ndarray, int, list[str]]:
    """(C, n, names) for alpha: at least 2 respondents; items without variance dropped if ``delete``."""
    C, n, _ = covariance(X, method)
    _enough_respondents(n, method)
    bad = degenerate(C)
    if bad.any() and delete:
        warnings.warn(
            f"cronbach_alpha: item(s) {[names[j] for j in np.where(bad)[0]]} have no variance ({method} data) "
            "and were dropped, as psych::alpha(delete=TRUE) does; k counts the remaining items. "
            "Check the coding of these items.",
            ReliabilityWarning,
            stacklevel=3,
        )
        X, names = X[:, ~bad], [nm for nm, b in zip(names, bad) if not b]
        if len(names) < 2:
            raise EstimationError(
                f"cronbach_alpha: fewer than 2 items with variance remain ({names}); alpha is undefined."
            )
        C, n, _ = covariance(X, method)
        _enough_respondents(n, method)
    return C, n, names


def _enough_respondents(n: int, method: str) -> None:
    if n < 2:
        raise EstimationError(
            f"cronbach_alpha: {n} respondent(s) {'answered every item' if method == 'listwise' else 'answered'}; "
            "alpha needs at least 2" + (" (try method='pairwise')." if method == "listwise" else ".")
        )


# ---------------------------------------------------------------------------
# item analysis
# ---------------------------------------------------------------------------


def item_rest(
    items: pd.DataFrame,
    *,
    method: MissingPolicy = "pairwise",
    reverse: Sequence[str] | None = None,
    item_min: float | None = None,
    item_max: float | None = None,
) -> pd.DataFrame:
    """Item–rest correlations and alpha if each item is deleted, one row per item.

    Parameters
    ----------
    items : DataFrame
        One numeric column per item (at least two).
    method : {"pairwise", "listwise"}
        Missing-data policy of the covariance matrix, as in :func:`cronbach_alpha`.
    reverse, item_min, item_max
        Reverse-keying, as in :func:`cronbach_alpha`.

    Returns
    -------
    DataFrame
        One row per item with columns

        - ``item``: column name
        - ``reversed``: whether it was reverse-keyed here
        - ``n``: respondents answering it (among those used)
        - ``mean``, ``sd``: after reverse-keying
        - ``r_rest``: correlation of the item with the sum of the other items
          (corrected item–total correlation; psych's ``r.drop``)
        - ``alpha_if_deleted``: raw alpha of the other k - 1 items (psych's
          ``alpha.drop$raw_alpha``); NaN when k = 2
        - ``std_alpha_if_deleted``: standardised alpha of the other items

    Notes
    -----
    All from the covariance matrix :math:`C` (pairwise by default), without refitting:
    with row sums :math:`c_i = \\sum_j C_{ij}` and total :math:`T = \\mathbf 1'C\\mathbf 1`,
    the rest score's variance is :math:`T - 2c_i + C_{ii}` and its covariance with item
    *i* is :math:`c_i - C_{ii}`, so

    .. math:: r_{i,\\text{rest}} = \\frac{c_i - C_{ii}}{\\sqrt{C_{ii}(T - 2c_i + C_{ii})}},\\qquad
              \\alpha_{-i} = \\frac{k-1}{k-2}\\Big(1 - \\frac{\\operatorname{tr}C - C_{ii}}{T - 2c_i + C_{ii}}\\Big).

    These are psych::alpha's ``r.drop`` and ``alpha.drop`` (Revelle). With complete
    data, ``r_rest`` equals the Pearson correlation of the item with the rest sum.

    Examples
    --------
    >>> import pandas as pd
    >>> x = pd.DataFrame({"q1": [1, 2, 3, 4, 5], "q2": [2, 2, 3, 5, 5], "q3": [1, 3, 3, 4, 4]})
    >>> item_rest(x)[["item", "r_rest"]].round(3)
      item  r_rest
    0   q1   0.970
    1   q2   0.903
    2   q3   0.870
    """
    method = check_choice(method, MissingPolicy, "method")
    X, names, rev = prepare(items, "item_rest", reverse, item_min, item_max)
    C, n, Xu = covariance(X, method)
    k = len(names)
    d = np.diag(C)
    c = C.sum(axis=1)
    T = C.sum()
    v_rest = T - 2.0 * c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        r_rest = (c - d) / np.sqrt(d * v_rest)
        sd = np.sqrt(d)
        R = C / np.outer(sd, sd)
        if k > 2:
            a_drop = (k - 1) / (k - 2) * (1.0 - (np.trace(C) - d) / v_rest)
            sum_r_drop = R.sum() - 2.0 * R.sum(axis=1) + 1.0
            s_drop = (k - 1) / (k - 2) * (1.0 - (k - 1) / sum_r_drop)
        else:
            a_drop = s_drop = np.full(k, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(Xu, axis=0) if Xu.shape[0] else np.full(k, np.nan)
    return pd.DataFrame(
        {
            "item": names,
            "reversed": [nm in rev for nm in names],
            "n": (~np.isnan(Xu)).sum(axis=0).astype("int64"),
            "mean": means,
            "sd": sd,
            "r_rest": r_rest,
            "alpha_if_deleted": a_drop,
            "std_alpha_if_deleted": s_drop,
        }
    )




# ---------------------------------------------------------------------------
# many scales, by group
# ---------------------------------------------------------------------------


def _scale_specs(scales: Any, columns: pd.Index) -> list[dict]:
    """Normalise ``scales`` to a list of {name, items, reverse, item_min, item_max}.

    Accepts a mapping name -> list of columns, a mapping name -> object with ``.items``
    (and optionally ``.reverse_items``, ``.item_min``, ``.item_max``) or name -> dict with
    the same keys, or an object with
    such a ``.scales`` mapping (an evalkit Codebook). Codebook scales with fewer than two
    items (single items, composites of scales) are skipped, and so are codebook scales
    none of whose items are in the data.
    """
    if not isinstance(scales, Mapping) and hasattr(getattr(scales, "codebook", None), "scales"):
        scales = scales.codebook  # a Study
    from_codebook = not isinstance(scales, Mapping) and hasattr(scales, "scales")
    mapping = scales.scales if from_codebook else scales
    if not isinstance(mapping, Mapping):
        raise EvalkitError(
            "reliability: scales must be a mapping {scale name: [item columns]} or an evalkit Codebook "
            f"(an object with a .scales mapping); got {type(scales).__name__}."
        )
    cols = {str(c) for c in columns}
    specs = []
    for name, sc in mapping.items():
        if isinstance(sc, str):
            raise EvalkitError(f"reliability: scale {name!r} must list its item columns, got the string {sc!r}.")
        if isinstance(sc, Mapping):  # {"items": [...], "reverse_items": [...], "item_min": .., "item_max": ..}
            if "items" not in sc:
                raise EvalkitError(f"reliability: scale {name!r} is a mapping without an 'items' entry.")
            its = [str(i) for i in (sc["items"] or ())]
            rev = [str(i) for i in (sc.get("reverse_items", sc.get("reverse")) or ())]
            lo, hi = sc.get("item_min"), sc.get("item_max")
            object_spec = True
        elif hasattr(sc, "items") and not callable(sc.items):
            its = [str(i) for i in (sc.items or ())]
            rev = [str(i) for i in (getattr(sc, "reverse_items", None) or ())]
            lo, hi = getattr(sc, "item_min", None), getattr(sc, "item_max", None)
            object_spec = True
        else:
            its = [str(i) for i in sc]
            rev, lo, hi = [], None, None
            object_spec = False
        if from_codebook or object_spec:
            if len(its) < 2:
                if not from_codebook:
                    raise EvalkitError(f"reliability: scale {name!r} has {len(its)} item(s); alpha needs at least 2.")
                continue
            if from_codebook and not any(i in cols for i in its):
                continue
        elif len(its) < 2:
            raise EvalkitError(
                f"reliability: scale {name!r} has {len(its)} item(s) ({its}); alpha needs at least 2. "
                "Leave single-item measures out of `scales`."
            )
        missing = [i for i in its if i not in cols]
        if missing:
            raise EvalkitError(
                f"reliability: scale {name!r} needs column(s) {missing}, which are not in the data."
            )
        bad_rev = [r for r in rev if r not in its]
        if bad_rev:
            raise EvalkitError(f"reliability: scale {name!r} reverse-keys {bad_rev}, which are not among its items.")
        if (lo is None) != (hi is None):
            lo = hi = None
        specs.append({"name": str(name), "items": its, "reverse": rev, "item_min": lo, "item_max": hi})
    return specs


def _scale_rows(X: np.ndarray, names: list[str], method: str, level: float) -> list[dict]:
    """The alpha row and the omega row of one scale in one group; never raises, explains NaN in ``note``."""
    k = len(names)
    C, n, _ = covariance(X, method)
    alpha = {"coefficient": "alpha", "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": n,
             "k": k, "std_alpha": math.nan, "average_r": math.nan, "note": ""}
    omega = {**alpha, "coefficient": "omega_total"}
    bad = degenerate(C)
    if n < k + 1:
        why = f"too few respondents: n={n} < k+1={k + 1}"
    elif bad.any():
        why = "no variance in item(s) " + ", ".join(repr(names[j]) for j in np.where(bad)[0])
    elif not np.isfinite(C).all():
        why = "some item pairs have fewer than 2 joint answers"
    else:
        why = ""
    if why:
        alpha["note"] = omega["note"] = why
        return [alpha, omega]
    a, s, r = _alpha_stats(C)
    lo, hi = feldt_ci(a, n, k, level)
    alpha.update(estimate=a, ci_low=lo, ci_high=hi, std_alpha=s, average_r=r)
    try:
        lam, psi, _, _, msgs = _fit_one_factor(C, names, "omega_total")
        omega.update(estimate=_omega(lam, psi), note="; ".join(m for m, _ in msgs))
    except EstimationError as exc:
        msg = str(exc).split(": ", 1)[-1]
        omega["note"] = "not computed: " + (msg.split(";")[0] if k < 3 else msg)
    return [alpha, omega]


def reliability(
    df: pd.DataFrame,
    scales: Any,
    by: str | Sequence[str] | None = None,
    *,
    threshold: float = 0.70,
    method: MissingPolicy = "pairwise",
    level: float = 0.95,
    ci: float | None = None,
) -> pd.DataFrame:
    """Alpha, its Feldt CI and omega total for each scale, overall or by group.

    Parameters
    ----------
    df : DataFrame
        Survey responses, one row per respondent, item columns numeric with missing
        answers as NaN (missing-value codes already converted).
    scales : mapping, Codebook or Study
        Either ``{scale name: [item columns]}`` (items already reverse-keyed), or an evalkit
        ``Codebook`` (or a ``Study``, for its codebook) / any object with a ``.scales``
        mapping of name → object having ``.items``, ``.reverse_items``, ``.item_min``,
        ``.item_max``; then the reverse items are reverse-keyed (``item_min + item_max - x``)
        first. From a codebook, scales with fewer than two items, and scales none of whose
        items are in ``df``, are skipped.
    by : str or list of str, optional
        Grouping columns (e.g. ``["community", "wave"]``); rows whose group value is
        missing form their own group.
    threshold : float
        ``flag`` is True where the coefficient is below it (0.70 by default, Nunnally's
        conventional minimum for group comparisons).
    method : {"pairwise", "listwise"}
        Missing-data policy, as in :func:`cronbach_alpha`.
    level : float
        Confidence level of the Feldt interval (``ci=`` is deprecated).

    Returns
    -------
    DataFrame
        Two rows per group × scale, ``coefficient`` ``"alpha"`` then ``"omega_total"``: the
        ``by`` columns, then ``indicator`` (the scale), ``coefficient``, ``estimate``,
        ``ci_low``, ``ci_high`` (Feldt; alpha only), ``n``, ``k``, ``std_alpha`` and
        ``average_r`` (alpha only), ``flag`` (boolean, NA when the estimate is NaN) and
        ``note`` (why a value is NaN, or a caveat such as a Heywood case; empty otherwise).
        Alpha alone: ``out.query("coefficient == 'alpha'")``.

    Notes
    -----
    Per group and scale, exactly :func:`cronbach_alpha` and :func:`omega_total` with
    ``delete=False`` semantics: a group with ``n < k + 1`` respondents, or in which an item
    has no variance, gets NaN and a note instead of an exception, so alphas stay comparable
    across groups (the same k everywhere). ``n`` counts respondents answering at least one
    item of the scale (all items under ``method="listwise"``). Omega needs three items;
    two-item scales get an omega row with NaN and a note.
    """
    method = check_choice(method, MissingPolicy, "method")
    level = confidence_level("reliability", level, ci)
    if not isinstance(df, pd.DataFrame):
        raise EvalkitError(f"reliability: df must be a pandas DataFrame, got {type(df).__name__}.")
    by_cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    miss_by = [b for b in by_cols if b not in df.columns]
    if miss_by:
        raise EvalkitError(f"reliability: grouping column(s) {miss_by} are not in the data.")
    specs = _scale_specs(scales, df.columns)
    if not specs:
        raise EvalkitError("reliability: no scale with at least two items found in the data.")
    prepared = []
    for sp in specs:
        X, names, _ = prepare(
            df[sp["items"]], f"reliability (scale {sp['name']!r})", sp["reverse"] or None,
            sp["item_min"], sp["item_max"],
        )
        prepared.append((sp["name"], X, names))
    rows = [{**key, "indicator": name, **row}
            for key, mask in _groups(df, by_cols)
            for name, X, names in prepared
            for row in _scale_rows(X[mask], names, method, level)]
    out = pd.DataFrame(rows, columns=by_cols + [c for c in RELIABILITY_COLUMNS if c != "flag"])
    flag = pd.array(out["estimate"] < threshold, dtype="boolean")
    flag[out["estimate"].isna().to_numpy()] = pd.NA
    out.insert(len(out.columns) - 1, "flag", flag)
    for b in by_cols:
        out[b] = out[b].astype(df[b].dtype) if not df[b].isna().any() else out[b]
    return out.reset_index(drop=True)


def _groups(df: pd.DataFrame, by_cols: list[str]) -> list[tuple[dict, np.ndarray]]:
    """``({by column: value}, row mask)`` per group (missing values a group of their own), or all rows."""
    if not by_cols:
        return [({}, np.ones(len(df), dtype=bool))]
    groups = []
    for key, pos in df.groupby(by_cols, dropna=False, sort=True).indices.items():
        key = key if isinstance(key, tuple) else (key,)
        mask = np.zeros(len(df), dtype=bool)
        mask[pos] = True
        groups.append((dict(zip(by_cols, key)), mask))
    return groups
