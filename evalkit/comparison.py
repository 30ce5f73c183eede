"""Each programme community against the comparison communities: per-community DiD with honest SEs.

With one treated community at a time and seven comparison communities, the uncertainty of a
difference-in-differences has two parts: the *sampling* error of the survey means (known from the
design) and the *community-level shocks* that move one community's indicator from year to year
whatever the programme does. Cluster-robust SEs cannot see the second part with one treated
cluster; evalkit estimates it from how much the comparison communities' own changes scatter, after
removing their sampling error (Ferman & Pinto 2019), and adds it to the sampling variance.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .design import SurveyDesign
from .errors import EstimationError

EFFECT_COLUMNS = [
    "community_id", "start_year", "wave", "event_time", "base_wave", "indicator", "estimate", "se",
    "se_sampling", "se_shock", "df", "t", "p_value", "ci_low", "ci_high", "n_treated", "n_comparison",
]


def _domain_mask(data: pd.DataFrame, domain: Mapping[str, Sequence] | None) -> np.ndarray:
    if not domain:
        return np.ones(len(data), bool)
    mask = np.ones(len(data), bool)
    for col, values in domain.items():
        if col not in data.columns:
            raise EstimationError(f"domain= names column {col!r}, which is not in the design's data.")
        mask &= data[col].isin(list(values)).to_numpy()
    return mask


def domain_means(
    design: SurveyDesign,
    y: str,
    by: Sequence[str] = ("community_id", "wave"),
    *,
    domain: Mapping[str, Sequence] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Design-based means of ``y`` in every ``by`` cell and their full sampling covariance matrix.

    Parameters
    ----------
    design
        The survey design over all rows (all communities and waves).
    y
        A numeric column; missing values are outside the cell (R ``na.rm=TRUE``).
    by
        Columns defining the cells.
    domain
        Optional restriction, e.g. ``{"role": ["elderly"]}``: cells are then subpopulations of
        those respondents (estimated as domains of the full design, no row dropped).

    Returns
    -------
    (DataFrame, ndarray)
        The cells (``by`` columns, ``estimate, n``) and the covariance matrix of their estimates,
        in the same order. Cells in the same stratum share PSUs across waves, so their
        covariance is not zero in a panel.

    Notes
    -----
    Cell mean ``ybar_d = sum_d w y / W_d``; score ``z_id = 1[i in d] w_i (y_i - ybar_d) / W_d``;
    covariance from :meth:`SurveyDesign.linearized_variance` with ``cov=True``.
    """
    data = design.data
    by = list(by)
    for col in [y, *by]:
        if col not in data.columns:
            raise EstimationError(f"Column {col!r} is not in the design's data.")
    vals = pd.to_numeric(data[y], errors="coerce").to_numpy(dtype=float)
    ok = ~np.isnan(vals) & _domain_mask(data, domain) & data[by].notna().all(axis=1).to_numpy()
    keys = data.loc[ok, by]
    cells = keys.drop_duplicates().sort_values(by).reset_index(drop=True)
    code = np.full(len(data), -1)
    code[ok] = pd.MultiIndex.from_frame(cells).get_indexer(pd.MultiIndex.from_frame(keys))
    w = design.weights
    D = len(cells)
    W = np.bincount(code[ok], weights=w[ok], minlength=D)
    A = np.bincount(code[ok], weights=w[ok] * vals[ok], minlength=D)
    ybar = A / W
    Z = np.zeros((len(data), D))
    rows = np.flatnonzero(ok)
    Z[rows, code[ok]] = w[ok] * (vals[ok] - ybar[code[ok]]) / W[code[ok]]
    V = np.atleast_2d(design.linearized_variance(Z, cov=True))
    cells["estimate"] = ybar
    cells["n"] = np.bincount(code[ok], minlength=D)
    return cells, V


def _starts(registry: pd.DataFrame | Mapping | None, communities) -> dict:
    from .communities import start_years

    registry = start_years(registry)
    unknown = [c for c in communities if c not in registry]
    if unknown:
        raise EstimationError(f"No start year for communities {unknown}; add them to the registry "
                              "(start_year empty for comparison communities).")
    return {c: registry[c] for c in communities}


def community_effects(
    design: SurveyDesign,
    y: str | Sequence[str],
    *,
    registry: pd.DataFrame | Mapping | None = None,
    community: str = "community_id",
    wave: str = "wave",
    domain: Mapping[str, Sequence] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Difference-in-differences of each programme community against the comparison communities.

    For programme community ``c`` starting in ``g`` and every wave ``t != g - 1``:
    ``(ybar_ct - ybar_c,g-1) - mean_k (ybar_kt - ybar_k,g-1)`` over the never-treated comparison
    communities ``k`` (R ``did``'s varying base period: effects after the start, placebo
    "effects" before it).

    Parameters
    ----------
    design
        Survey design over all communities and waves (strata = community, PSU ids persisting).
    y
        Indicator column(s).
    registry
        Community registry (or ``{community: start year or None}``); default the shipped one.
    domain
        Restrict every mean to a subgroup, e.g. ``{"role": ["elderly"]}`` for Mingyue's
        elderly-care indicators.
    level
        Confidence level.

    Returns
    -------
    DataFrame
        ``community_id, start_year, wave, event_time, base_wave, indicator, estimate, se,
        se_sampling, se_shock, df, t, p_value, ci_low, ci_high, n_treated, n_comparison``.

    Notes
    -----
    ``se_sampling`` is ``sqrt(c' V c)`` with ``V`` from :func:`domain_means` (it includes the
    panel covariance between waves). ``se_shock`` accounts for community-by-wave shocks, which
    the survey design cannot see: for each comparison community ``k`` the placebo DiD ``p_k`` (k
    against the other comparison communities, same waves) has expectation 0 and variance
    ``s_k + tau^2 (1 + 1/(K-1))`` with ``s_k`` its sampling variance; the moment estimator
    ``tau^2 = max(0, mean_k (p_k^2 - s_k)) / (1 + 1/(K-1))``, pooled over all (base, wave) pairs
    of the indicator, gives ``se_shock^2 = tau^2 (1 + 1/K)``. Tests use Student t with
    Welch-Satterthwaite degrees of freedom combining the design df of the communities involved
    (sampling part) and ``K - 1`` (shock part); ``K - 1`` alone when the shock variance cannot be
    estimated (fewer than three comparison communities). This is the heteroskedasticity-corrected few-treated
    inference of Ferman & Pinto (2019, *Rev Econ Stat* 101:452-467), which generalises
    Conley & Taber (2011, *Rev Econ Stat* 93:113-125) to groups of different sample sizes.
    Coverage is checked by simulation in ``studies/community_effects.py``.
    """
    ys = [y] if isinstance(y, str) else list(y)
    data = design.data
    comms = sorted(pd.unique(data[community].astype(str)))
    starts = _starts(registry, comms)
    controls = [c for c in comms if starts[c] is None]
    treated = [c for c in comms if starts[c] is not None]
    K = len(controls)
    if K < 2:
        raise EstimationError(
            f"community_effects needs at least two never-treated comparison communities; found {K}."
        )
    # design degrees of freedom of each community: its PSUs minus its strata (R degf of the subset)
    comm_of_row = data[community].astype(str).to_numpy()
    dof = {c: len(np.unique(design._p[comm_of_row == c])) - len(np.unique(design._h[comm_of_row == c]))
           for c in comms}
    out = []
    for name in ys:
        cells, V = domain_means(design, name, (community, wave), domain=domain)
        cells[community] = cells[community].astype(str)
        pos = {(c, int(t)): i for i, (c, t) in enumerate(zip(cells[community], cells[wave]))}
        waves = sorted(set(int(t) for t in cells[wave]))
        est = cells["estimate"].to_numpy()

        def vec(c, t, b, sign=1.0, into=None):
            v = np.zeros(len(cells)) if into is None else into
            v[pos[(c, t)]] += sign
            v[pos[(c, b)]] -= sign
            return v

        def have(c, *ts):
            return all((c, t) in pos for t in ts)

        # placebo DiDs among comparison communities, for every (base, wave) pair we will use
        pairs = {(starts[c] - 1, t) for c in treated if starts[c] - 1 in waves
                 for t in waves if t != starts[c] - 1}
        tau_terms = []
        for b, t in sorted(pairs):
            ks = [k for k in controls if have(k, b, t)]
            if len(ks) < 3:
                continue
            for k in ks:
                cvec = vec(k, t, b)
                for j in ks:
                    if j != k:
                        vec(j, t, b, -1.0 / (len(ks) - 1), into=cvec)
                p = cvec @ est
                s = cvec @ V @ cvec
                tau_terms.append((p * p - s) / (1 + 1 / (len(ks) - 1)))
        tau2 = max(0.0, float(np.mean(tau_terms))) if tau_terms else np.nan
        for c in treated:
            g = starts[c]
            b = g - 1
            for t in waves:
                if t == b or not have(c, b, t):
                    continue
                ks = [k for k in controls if have(k, b, t)]
                if len(ks) < 2:
                    continue
                cvec = vec(c, t, b)
                for k in ks:
                    vec(k, t, b, -1.0 / len(ks), into=cvec)
                e = float(cvec @ est)
                s_samp = float(np.sqrt(max(cvec @ V @ cvec, 0.0)))
                s_shock = float(np.sqrt(tau2 * (1 + 1 / len(ks)))) if np.isfinite(tau2) else np.nan
                se = float(np.hypot(s_samp, s_shock)) if np.isfinite(s_shock) else s_samp
                df_shock = len(ks) - 1
                if np.isfinite(s_shock) and se > 0:
                    # Welch-Satterthwaite: sampling part with the design df of the communities
                    # involved, shock part with K - 1
                    df_samp = max(sum(dof[k] for k in [c, *ks]), 1)
                    dfv = se ** 4 / (s_samp ** 4 / df_samp + s_shock ** 4 / df_shock)
                else:
                    dfv = df_shock
                tstat = e / se if se > 0 else np.nan
                q = stats.t.ppf(0.5 + level / 2, dfv)
                out.append({
                    "community_id": c, "start_year": g, "wave": t, "event_time": t - g,
                    "base_wave": b, "indicator": name, "estimate": e, "se": se,
                    "se_sampling": s_samp, "se_shock": s_shock, "df": dfv, "t": tstat,
                    "p_value": 2 * stats.t.sf(abs(tstat), dfv) if se > 0 else np.nan,
                    "ci_low": e - q * se, "ci_high": e + q * se,
                    "n_treated": int(cells.loc[pos[(c, t)], "n"]), "n_comparison": len(ks),
                })
    res = pd.DataFrame(out, columns=EFFECT_COLUMNS)
    return res.sort_values(["community_id", "indicator", "wave"]).reset_index(drop=True)
