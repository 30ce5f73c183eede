"""Each community against its own baseline: change in every indicator, with panel-aware SEs.

The first honest answer to "did it work?": how each community moved from its own baseline wave.
This is a before–after comparison, not a causal effect (that needs the comparison communities:
:mod:`evalkit.did`); the notebooks show the two side by side.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from ..survey.design import SurveyDesign
from ..survey.domains import domain_means
from ..survey.replicate import ReplicateDesign

CHANGE_COLUMNS = [  # the first two are named after the community= and wave= columns
    "community_id", "wave", "indicator", "baseline_wave", "baseline_mean", "wave_mean", "estimate",
    "se", "df", "statistic", "p_value", "p_adjusted", "ci_low", "ci_high", "hedges_g", "n_baseline", "n_wave",
]


def _baselines(baseline, comm_all: np.ndarray, wave_all: np.ndarray, communities: list) -> dict:
    """``{community: baseline wave}`` from ``baseline=`` (one wave, a mapping, or None: earliest)."""
    if baseline is None:
        return {c: wave_all[comm_all == c].min() for c in communities}
    if isinstance(baseline, dict):
        missing = [c for c in communities if c not in baseline]
        if missing:
            raise EstimationError(f"baseline= has no wave for communities {missing}; give every "
                                  "community a baseline wave, or baseline=None for its earliest.")
        return {c: float(baseline[c]) for c in communities}
    return {c: float(baseline) for c in communities}


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg (1995) step-up adjusted p-values; NaN stay NaN."""
    from statsmodels.stats.multitest import multipletests

    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return out


def change_from_baseline(
    design: SurveyDesign | ReplicateDesign,
    y: str | Sequence[str],
    *,
    community: str = "community_id",
    wave: str = "wave",
    baseline: int | dict | None = None,
    family: Sequence[str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Change of each indicator from each community's baseline wave, with design-based SEs.

    Parameters
    ----------
    design
        A :class:`SurveyDesign` over all waves, whose PSU ids persist across waves (the same
        buildings, and households within them, are interviewed again), or a
        :class:`~evalkit.survey.replicate.ReplicateDesign` whose replicate weights follow the same
        PSUs across waves. Its weights may be raked.
    y
        Indicator column(s) (scores from :func:`evalkit.score`).
    community, wave
        Columns naming the community and the survey wave; the output's first two columns carry
        these names (as the cells of :func:`evalkit.survey.domains.domain_means`).
    baseline
        The baseline wave: one wave for all communities, a ``{community: wave}`` mapping, or
        ``None`` for each community's earliest wave.
    family
        Columns of the output that define a family of tests for the Benjamini–Hochberg
        adjustment; the default (``None``: the ``community`` column) adjusts across all indicators
        and waves of one community, ``()`` across every row.
    level
        Confidence level of the intervals.

    Returns
    -------
    DataFrame
        ``<community>, <wave>, indicator, baseline_wave, baseline_mean, wave_mean, estimate`` (wave
        mean − baseline mean), ``se, df, t, p_value, p_adjusted`` (BH within ``family``),
        ``ci_low, ci_high, hedges_g, n_baseline, n_wave``; one row per community × later wave ×
        indicator.

    Notes
    -----
    Each domain mean has linearised score ``z_i = 1[i in d] w_i (y_i - ybar_d) / W_d``; the change
    has score ``z_wave - z_baseline``, and its variance is taken over PSU totals of that score by
    :meth:`SurveyDesign.linearized_variance`. Because a PSU's rows in both waves add into one PSU
    total, the covariance between the two waves' means (positive when households are re-interviewed)
    is subtracted automatically: the same estimator R gives with
    ``svycontrast(svyby(~y, ~wave, subset(design, community == c), svymean, covmat=TRUE), ...)``.
    Tests use a t reference distribution with the community's design degrees of freedom
    (PSUs in the community − strata), as R's ``degf`` of the community's subset.

    A :class:`~evalkit.survey.replicate.ReplicateDesign` gives the replicate variance of the change
    (R ``svycontrast`` of ``svyby(..., covmat=TRUE)`` on an ``svyrep.design``) and df the rank of the
    community's replicate weights minus 1 (R ``degf`` of the subset), at least 1.

    ``hedges_g`` standardises the change by the weighted baseline SD (a Glass-type
    standardiser, since the programme may change the spread) and applies Hedges' (1981)
    small-sample factor ``J = 1 - 3 / (4 (n_b + n_w) - 9)``.
    """
    from .comparison import _check_roles, community_dof

    if not isinstance(design, (SurveyDesign, ReplicateDesign)):
        raise EstimationError(f"change_from_baseline needs a SurveyDesign or ReplicateDesign, got "
                              f"{type(design).__name__}; build one with evalkit.SurveyDesign.from_study(rows, study).")
    ys = [y] if isinstance(y, str) else list(y)
    data = design.data
    _check_roles(data, community=community, wave=wave)
    comm_all = data[community].astype(str).to_numpy()
    communities = sorted(pd.unique(comm_all))
    base = _baselines(baseline, comm_all, pd.to_numeric(data[wave]).to_numpy(), communities)
    dof = community_dof(design, community)  # design df of each community's rows (R degf of the subset)
    w = design.weights

    rows = []
    for name in ys:
        cells, V = domain_means(design, name, (community, wave))
        cells[community] = cells[community].astype(str)
        vals = pd.to_numeric(data[name], errors="coerce").to_numpy(dtype=float)
        for c in communities:
            in_c = comm_all == c
            mine = np.flatnonzero(cells[community].to_numpy() == c)
            waves = cells[wave].to_numpy()[mine].astype(float)
            b = base[c]
            if not (waves == b).any():
                if name == ys[0]:
                    raise EstimationError(
                        f"Community {c!r} has no respondents in its baseline wave {b:g}.")
                continue
            ib = mine[waves == b][0]
            yb, nb = cells.loc[ib, "estimate"], int(cells.loc[ib, "n"])
            bm = in_c & (pd.to_numeric(data[wave]).to_numpy() == b) & ~np.isnan(vals)
            sd_b = np.sqrt(np.dot(w[bm], (vals[bm] - yb) ** 2) / w[bm].sum() * nb / max(nb - 1, 1))
            df_c = max(dof[c], 1)
            q = stats.t.ppf(0.5 + level / 2, df_c)
            for it, t in zip(mine, waves):
                if t <= b:
                    continue
                est = cells.loc[it, "estimate"] - yb
                se = float(np.sqrt(max(V[it, it] + V[ib, ib] - 2 * V[it, ib], 0.0)))
                nt = int(cells.loc[it, "n"])
                tstat = est / se if se > 0 else np.nan
                J = 1 - 3 / (4 * (nb + nt) - 9)
                rows.append({
                    community: c, wave: int(t), "indicator": name, "baseline_wave": int(b),
                    "baseline_mean": yb, "wave_mean": cells.loc[it, "estimate"], "estimate": est,
                    "se": se, "df": df_c, "statistic": tstat,
                    "p_value": 2 * stats.t.sf(abs(tstat), df_c) if se > 0 else np.nan,
                    "p_adjusted": np.nan, "ci_low": est - q * se, "ci_high": est + q * se,
                    "hedges_g": J * est / sd_b if sd_b > 0 else np.nan, "n_baseline": nb, "n_wave": nt,
                })
    out = pd.DataFrame(rows, columns=[community, wave, *CHANGE_COLUMNS[2:]])
    if out.empty:
        return out
    return _adjust(out, [community] if family is None else list(family)).sort_values(
        [community, "indicator", wave]).reset_index(drop=True)


def _adjust(out: pd.DataFrame, fam: list) -> pd.DataFrame:
    """``p_adjusted``: Benjamini–Hochberg within each family (the ``fam`` columns; all rows if empty)."""
    unknown = [f for f in fam if f not in out.columns]
    if unknown:
        raise EstimationError(f"family= names {unknown}, which are not output columns; use output "
                              f"columns such as {list(out.columns[:3])}, or family=None for one family per "
                              "community.")
    if fam:
        out["p_adjusted"] = out.groupby(fam, sort=False)["p_value"].transform(
            lambda s: pd.Series(_bh(s.to_numpy()), index=s.index))
    else:
        out["p_adjusted"] = _bh(out["p_value"].to_numpy())
    return out
