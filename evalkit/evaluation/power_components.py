"""Variance components of an indicator from a survey, and the MDE of every programme target.

``variance_components`` fits the model of :mod:`evalkit.evaluation.power` to the design-based
cell means of the *untreated* community-waves (comparison communities, programme communities
before their start), with each community's sampling covariance of its cell means known from the
design (:func:`evalkit.survey.domains.domain_means`, panel covariance included): REML for the
between-community ``tau2`` and the community-by-wave ``gamma2`` with wave fixed effects; the
respondent variance ``sigma2`` as the weighted within-cell variance pooled over cells (weights
``n - 1``); the design effect as the pooled ratio of the design variance of a cell mean to
``s^2 / n``.

``target_mdes`` turns them into the minimum detectable effect of the estimator evalkit reports for
each programme community (:func:`evalkit.evaluation.comparison.community_effects`: the community's
change between its base wave and wave ``t`` minus the mean change of ``K`` comparison
communities), ``Var = (1 + 1/K) 2 gamma2 + 2 sigma2 deff / m_c + 2 sigma2 deff / (K m)``, tested as
``community_effects`` tests it: t on the Welch-Satterthwaite df of a variance whose shock part is
estimated from the comparison changes over every pair of waves as far apart (``did_power``
integrates that estimate's chi-square spread out; ``did_df`` is the plug-in df), with the df
community_effects reports: fewer than ``K - 1`` per wave pair because the comparison communities'
shares of the shock variance are estimated too (:func:`relative_shock_cv2`), and each community's
sampling variance with its design df (:func:`design_dfs`). Simulated evaluations of the shipped
design agree within Monte Carlo error (``studies/power_check_results.md``).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from scipy import integrate, optimize, stats

from ..errors import EstimationError
from ..survey.domains import domain_means
from .power import VarianceComponents

__all__ = ["variance_components", "did_variance", "did_df", "did_power", "did_mde", "gap_pairs", "target_mdes",
           "relative_shock_cv2", "design_dfs", "comparison_design_df"]


def _starts(registry, community: str) -> dict:
    from ..spec.registry import start_years

    return start_years(registry)


def _reml(blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], p: int) -> tuple[float, float]:
    """REML of (tau2, gamma2) from per-community (y, wave index, known sampling covariance)."""
    scale = float(np.var(np.concatenate([y for y, _, _ in blocks]), ddof=1)) or 1.0

    def nll(par):
        t2, g2 = np.exp(par) * scale
        info, score, quad, logdet = np.zeros((p, p)), np.zeros(p), 0.0, 0.0
        parts = []
        for y, j, S in blocks:
            V = t2 + np.diag(np.full(y.size, g2)) + S
            L = np.linalg.cholesky(V)
            Z = np.zeros((y.size, p))
            Z[np.arange(y.size), j] = 1.0
            Zi, yi = np.linalg.solve(L, Z), np.linalg.solve(L, y)
            info += Zi.T @ Zi
            score += Zi.T @ yi
            logdet += 2 * np.sum(np.log(np.diag(L)))
            parts.append((Zi, yi))
        beta = np.linalg.solve(info, score)
        quad = sum(float(np.sum((yi - Zi @ beta) ** 2)) for Zi, yi in parts)
        return 0.5 * (logdet + np.linalg.slogdet(info)[1] + quad)

    best = None
    for start in ([-2.0, -2.0], [-6.0, -1.0], [-1.0, -6.0]):
        r = optimize.minimize(nll, start, method="L-BFGS-B", bounds=[(-25, 5), (-25, 5)])
        if best is None or r.fun < best.fun:
            best = r
    t2, g2 = np.exp(best.x) * scale
    floor = np.exp(-24) * scale  # the lower bound: a component at it is zero
    return (0.0 if t2 <= floor else float(t2)), (0.0 if g2 <= floor else float(g2))


def variance_components(design, y: str, *, registry, community: str = "community_id", wave: str = "wave",
                        domain: Mapping | None = None) -> VarianceComponents:
    """Between-community, community-by-wave and respondent variance of ``y``, and its design effect.

    Parameters
    ----------
    design
        :class:`~evalkit.survey.design.SurveyDesign` over all communities and waves.
    y
        Indicator column.
    registry
        Community registry or ``{community: start year or None}``; only untreated cells are used,
        so programme effects do not inflate the components.
    community, wave
        Role columns.
    domain
        Subgroup, e.g. ``{"role": ["elderly"]}`` for ``ucla3@elderly``.

    Returns
    -------
    VarianceComponents
        ``tau2, gamma2, sigma2, deff`` and ``m`` (median respondents per untreated cell).
    """
    return _components(design, y, registry, community, wave, domain)[0]


def _components(design, y, registry, community, wave, domain):
    cells, V = domain_means(design, y, (community, wave), domain=domain)
    starts = _starts(registry, community)
    comm = cells[community].astype(str).to_numpy()
    unknown = sorted(set(comm) - set(map(str, starts)))
    if unknown:
        raise EstimationError(f"Communities {unknown} are not in the registry; add them (empty start_year "
                              "for comparison communities).")
    starts = {str(k): v for k, v in starts.items()}
    t = cells[wave].astype(float).to_numpy()
    g = np.array([np.inf if starts[c] is None or pd.isna(starts[c]) else float(starts[c]) for c in comm])
    v = np.diag(V)
    use = (t < g) & np.isfinite(cells["estimate"].to_numpy()) & (v > 0)
    if use.sum() < 6 or len(set(comm[use])) < 3:
        raise EstimationError(f"Too few untreated community-waves with a variance for {y!r} "
                              f"({int(use.sum())} cells in {len(set(comm[use]))} communities; need 3+ communities).")
    waves = np.unique(t[use])
    jidx = {w: k for k, w in enumerate(waves)}
    blocks = []
    for c in pd.unique(comm[use]):
        rows = np.flatnonzero(use & (comm == c))
        blocks.append((cells["estimate"].to_numpy()[rows], np.array([jidx[w] for w in t[rows]]),
                       V[np.ix_(rows, rows)]))
    tau2, gamma2 = _reml(blocks, len(waves))
    s2, n = _within_variance(design, y, cells, community, wave, domain)
    keep = use & (s2 > 0) & (n > 1)
    sigma2 = float(np.sum((n[keep] - 1) * s2[keep]) / np.sum(n[keep] - 1))
    deff = float(np.sum(v[keep] * n[keep] * (n[keep] - 1)) / np.sum(s2[keep] * (n[keep] - 1)))
    vc = VarianceComponents(tau2=tau2, gamma2=gamma2, sigma2=sigma2, deff=deff,
                            m=float(np.median(n[use])), indicator=y)
    sizes = {(c, w): k for c, w, k in zip(comm, t, n)}
    return vc, sizes


def _within_variance(design, y, cells, community, wave, domain):
    """Weighted variance of ``y`` within each cell (in ``cells``' order) and the cell sizes."""
    data = design.data
    vals = pd.to_numeric(data[y], errors="coerce").to_numpy(float)
    ok = ~np.isnan(vals)
    for col, allowed in (domain or {}).items():
        ok &= data[col].isin(list(allowed)).to_numpy()
    w = np.asarray(design.weights, float)
    f = pd.DataFrame({"c": data[community].astype(str).to_numpy(), "t": data[wave].astype(float).to_numpy(),
                      "w": w, "y": vals})[ok]
    f["wy"], f["wyy"] = f.w * f.y, f.w * f.y * f.y
    s = f.groupby(["c", "t"])[["w", "wy", "wyy"]].sum()
    s["n"] = f.groupby(["c", "t"]).size()
    mean = s.wy / s.w
    var = (s.wyy / s.w - mean ** 2) * s.n / (s.n - 1).clip(lower=1)
    key = pd.MultiIndex.from_arrays([cells[community].astype(str), cells[wave].astype(float)])
    return var.reindex(key).to_numpy(float), s["n"].reindex(key).to_numpy(float)


def did_variance(components: VarianceComponents, n_comparison: int, *, m=None, m_treated=None) -> float:
    """Variance of one community's two-wave DiD against ``n_comparison`` comparison communities.

    ``(1 + 1/K) 2 gamma2 + 2 sigma2 deff / m_treated + 2 sigma2 deff / (K m)``: each change
    carries two community-by-wave shocks and two cell sampling errors; ``tau2`` cancels. ``m`` is
    the respondents per comparison cell, ``m_treated`` per cell of the programme community (both
    default to ``components.m``).
    """
    K = n_comparison
    if K < 1:
        raise EstimationError("did_variance needs at least one comparison community.")
    m_t = components.m if m_treated is None else m_treated
    return (1 + 1 / K) * 2 * components.gamma2 + 2 * components.cell_variance(m_t) + 2 * components.cell_variance(m) / K


def relative_shock_cv2(n_comparison: int, n_waves: int | None, shock_share: float = 1.0) -> float:
    """Squared coefficient of variation of the comparison communities' estimated relative shock variances.

    :func:`community_effects` weights each comparison community's change by its own share of the
    shock variance, ``lambda_k``, estimated from its residual changes over every pair of the
    ``n_waves`` waves (``_relative_shock``): ``lambda_k`` is proportional to
    ``max(Q_k - sum_p v_p, 0)`` with ``Q_k = sum_p K/(K-1) e_kp^2``. Under the model (shocks and
    cell errors independent across waves, variance ``a = gamma2 + sigma2 deff / m`` per cell) the
    changes over pairs ``p = (b, t)`` and ``q`` covary by ``a M_pq`` with
    ``M_pq = [t = t'] - [t = b'] - [b = t'] + [b = b']``, so ``E Q = 2 P a`` and
    ``Var Q = 2 a^2 sum M^2`` (``P`` pairs; ``Var(e^2) = 2 Var(e)^2`` for normal ``e``); ``Q`` is
    taken as a scaled chi-square with those moments and the floor at 0 applied exactly to it. The
    spread of ``s_k = v + tau2 lambda_k`` (``lambda`` scaled to mean 1) is then
    ``CV^2 = shock_share^2 (E L^2 / (E L)^2 - 1) (1 - 1/K)``, ``L = max(Q - 2 P (1 - shock_share) a, 0)``,
    with ``shock_share = gamma2 / a``. Without the floor (``shock_share = 1``) this is
    ``(1 - 1/K) sum M^2 / (2 P^2)``: 4/7 for 4 waves and K = 7. 0 when ``n_waves`` is None (shares
    taken as known). A moment approximation: ``tests/test_power.py`` checks the df it implies
    against community_effects' own code (within 10% for 3 and 4 waves, somewhat low, i.e.
    conservative, with 2).
    """
    if n_waves is None or n_waves < 2:
        return 0.0
    pairs = [(b, t) for b in range(n_waves) for t in range(b + 1, n_waves)]
    M = np.array([[(t == t2) - (t == b2) - (b == t2) + (b == b2) for b2, t2 in pairs] for b, t in pairs], float)
    P, SM, share = len(pairs), float(np.sum(M * M)), float(np.clip(shock_share, 1e-12, 1.0))
    f, c, d = 4 * P * P / SM, SM / (2 * P), 2 * P * (1 - share)  # Q ~ c chi2_f in units of a; L = (Q - d)+
    sf = lambda k: stats.chi2.sf(d / c, k)  # noqa: E731  (partial moments of the chi-square above d / c)
    m1 = c * f * sf(f + 2) - d * sf(f)
    m2 = c * c * f * (f + 2) * sf(f + 4) - 2 * c * d * f * sf(f + 2) + d * d * sf(f)
    return float(share ** 2 * (m2 / m1 ** 2 - 1) * (1 - 1 / n_comparison))


def _shock_df(components, K: int, m, shock_pairs: int, n_waves: int | None) -> float:
    """df community_effects reports for its shock variance: ``_scatter_df`` of changes whose variances
    spread with :func:`relative_shock_cv2`, ``(K-1)^2 / ((1 - 2/K) K (1 + CV^2) + 1)`` per pair."""
    share = components.gamma2 / (components.gamma2 + components.cell_variance(m))
    c2 = relative_shock_cv2(K, n_waves, share)
    return shock_pairs * (K - 1) ** 2 / ((1 - 2 / K) * K * (1 + c2) + 1)


def _sampling_den(components, K, m, m_treated, df_treated, df_comparison) -> float:
    """Welch-Satterthwaite terms of the sampling variances, each with its community's design df."""
    v_c = 2 * components.cell_variance(components.m if m_treated is None else m_treated)
    v_k = 2 * components.cell_variance(m)
    return v_c ** 2 / df_treated + K * (v_k / K ** 2) ** 2 / df_comparison


def did_df(components: VarianceComponents, n_comparison: int, *, m=None, m_treated=None,
           shock_pairs: int = 1, n_waves: int | None = None, df_treated: float = np.inf,
           df_comparison: float = np.inf) -> float:
    """Welch-Satterthwaite df of the DiD's variance, as :func:`community_effects` computes it (plug-in).

    The shock part ``(1 + 1/K) 2 gamma2`` is estimated from the scatter of the ``K`` comparison
    changes over every pair of waves as far apart as the base and the compared wave
    (``shock_pairs`` pairs), each pair with ``K - 1`` df when the comparison communities' shares
    of the shock variance are known, fewer when they are estimated from ``n_waves`` waves
    (:func:`relative_shock_cv2`); each community's sampling variance carries its design df
    (``df_treated`` for the programme community, ``df_comparison`` for a comparison community;
    PSUs minus strata): ``df = total^2 / (shock^2 / df_shock + sum sampling_i^2 / df_i)``.
    """
    K = n_comparison
    shock = (1 + 1 / K) * 2 * components.gamma2
    total = did_variance(components, K, m=m, m_treated=m_treated)
    den = _sampling_den(components, K, m, m_treated, df_treated, df_comparison)
    if K >= 2 and shock > 1e-9 * total:
        den += shock ** 2 / _shock_df(components, K, m, shock_pairs, n_waves)
    return float(total ** 2 / den) if den > 0 else float("inf")


def did_power(effect: float, components: VarianceComponents, n_comparison: int, *, m=None, m_treated=None,
              shock_pairs: int = 1, n_waves: int | None = None, df_treated: float = np.inf,
              df_comparison: float = np.inf, level: float = 0.95) -> float:
    """Power of :func:`community_effects`' t test, its estimated shock variance integrated out.

    The estimate is normal with variance ``did_variance``. Its reported variance is the known
    sampling part plus ``(1 + 1/K) tau2_hat``, where ``tau2_hat = S^2 - v`` is the scatter of the
    comparison communities' changes beyond their sampling variance ``v = 2 sigma2 deff / m``, with
    ``S^2 = (2 gamma2 + v) X / nu``, ``X ~ chi2(nu)``, ``nu = shock_pairs (K - 1)`` (independent of
    the estimate under normality); when ``tau2_hat <= 0`` the reported shock part is
    ``(1 + 1/K) S^2 - v / K`` (community_effects' conservative fallback, df ``K - 1``). The test
    uses t on the Welch-Satterthwaite df of that variance as :func:`did_df` (the shock part with
    the df community_effects reports, lowered by the estimated relative shock variances of
    ``n_waves`` waves; the sampling parts with their design df). The sampling part of the reported
    variance is itself an estimate (scaled chi-square on its Welch df from the design df, e.g. a
    change over waves of a community whose PSUs are surveyed every wave), integrated out too. Power =
    ``E_{X,Y}[Phi((effect - c se_hat) / sd) + Phi((-effect - c se_hat) / sd)]`` by quadrature.
    Checked against simulated evaluations on the shipped design: ``studies/power_check_results.md``.
    """
    K, alpha = n_comparison, 1 - level
    total = did_variance(components, K, m=m, m_treated=m_treated)
    shock, sd = (1 + 1 / K) * 2 * components.gamma2, float(np.sqrt(total))
    if K < 2:
        from .power import power_from_se
        return power_from_se(effect, sd, df=np.inf, level=level)
    samp, nu = total - shock, shock_pairs * (K - 1)
    v = 2 * components.cell_variance(m)
    nu_rep = _shock_df(components, K, m, shock_pairs, n_waves)
    sden = _sampling_den(components, K, m, m_treated, df_treated, df_comparison)
    # the design's estimate of the sampling part, samp * Y / nu_s with Y ~ chi2(nu_s) (its Welch
    # df), independent of the estimate: 16 equal-probability nodes, scaled to mean 1
    nu_s = samp * samp / sden if sden > 0 else np.inf
    q = stats.chi2.ppf((np.arange(16) + 0.5) / 16, nu_s) / nu_s if np.isfinite(nu_s) else np.ones(1)
    q = q / q.mean()

    def given(x):
        S2 = (2 * components.gamma2 + v) * x / nu
        if S2 > v:
            sh, dfs = (1 + 1 / K) * (S2 - v), nu_rep
        else:
            sh, dfs = max((1 + 1 / K) * S2 - v / K, 0.0), K - 1
        var = samp * q + sh
        den = sden * q * q + (sh * sh / dfs if sh > 0 else 0.0)
        df = np.where(den > 0, var * var / np.where(den > 0, den, 1.0), np.inf)
        c = stats.t.ppf(1 - alpha / 2, df) * np.sqrt(var)
        hit = stats.norm.cdf((abs(effect) - c) / sd) + stats.norm.cdf((-abs(effect) - c) / sd)
        return float(np.mean(hit)) * stats.chi2.pdf(x, nu)

    lo, hi = stats.chi2.ppf([1e-10, 1 - 1e-10], nu)
    x0 = nu * v / (2 * components.gamma2 + v)  # the fallback's kink
    pts = [x0] if lo < x0 < hi else None
    return float(min(integrate.quad(given, lo, hi, limit=200, epsabs=1e-10, points=pts)[0], 1.0))


def did_mde(components: VarianceComponents, n_comparison: int, *, power: float = 0.8, level: float = 0.95,
            m=None, m_treated=None, shock_pairs: int = 1, n_waves: int | None = None,
            df_treated: float = np.inf, df_comparison: float = np.inf) -> float:
    """Smallest effect :func:`community_effects` detects with probability ``power`` (:func:`did_power`)."""
    if not 0 < power < 1:
        raise EstimationError(f"power={power!r} must be between 0 and 1, e.g. 0.8.")
    sd = float(np.sqrt(did_variance(components, n_comparison, m=m, m_treated=m_treated)))
    kw = dict(m=m, m_treated=m_treated, shock_pairs=shock_pairs, n_waves=n_waves, df_treated=df_treated,
              df_comparison=df_comparison, level=level)
    f = lambda k: did_power(k * sd, components, n_comparison, **kw) - power  # noqa: E731
    hi = 10.0
    while f(hi) < 0:
        hi *= 2
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-8) * sd)


def design_dfs(design, community: str = "community_id") -> dict:
    """Design df of each community's rows, as community_effects uses them
    (:func:`evalkit.evaluation.comparison.community_dof`: PSUs minus strata, or for a replicate
    design the rank of its replicate weights minus 1)."""
    from .comparison import community_dof

    return community_dof(design, community)


def comparison_design_df(dfs: dict, controls) -> float:
    """One df for the comparison communities' sampling terms (the harmonic mean: their Welch terms add 1/df)."""
    inv = [1.0 / max(dfs[c], 1) for c in controls if c in dfs]
    return float(len(inv) / sum(inv)) if inv else float("inf")


def gap_pairs(waves, base, wave) -> int:
    """Pairs of ``waves`` as far apart as ``base`` and ``wave`` (how many changes pool a shock estimate)."""
    ws = sorted(float(w) for w in waves)
    gap = float(wave) - float(base)
    return sum(1 for i, b in enumerate(ws) for t in ws[i + 1:] if t - b == gap)


def target_mdes(design, targets: pd.DataFrame, *, registry, waves=None, community: str = "community_id",
                wave: str = "wave", power: float = 0.8, level: float = 0.95, codebook=None) -> pd.DataFrame:
    """Minimum detectable effect of every programme target, in the indicator's units.

    Parameters
    ----------
    design
        Survey design over all communities and waves (scored indicators as columns).
    targets
        ``community_id, indicator, group`` rows (:func:`evalkit.programme_targets`).
    registry
        The community registry (``role``, ``start_year``).
    waves
        Waves of next year's comparison; default: the design's waves.

    Returns
    -------
    DataFrame
        ``community_id, target, indicator, base_wave, wave, mde, se, df, tau2, gamma2, sigma2, deff,
        m, m_treated, n_comparison``: one row per programme target, the MDE (``power``, two-sided
        ``level``) of its community's DiD between its base wave and the last wave, with the
        community's own mean respondents per cell (``m_treated``) and the comparison cells' median
        (``m``).
    """
    from .comparison import base_wave
    from .targets import target_domain, target_name

    starts = {str(k): v for k, v in _starts(registry, community).items()}
    K = sum(1 for s in starts.values() if s is None)
    ws = sorted(pd.unique(design.data[wave].astype(float))) if waves is None else [float(w) for w in waves]
    dfs = design_dfs(design, community)
    df_k = comparison_design_df(dfs, [c for c, v in starts.items() if v is None])
    cache, rows = {}, []
    for cid, ind, grp in targets[["community_id", "indicator", "group"]].itertuples(index=False):
        cid, dom = str(cid), target_domain(grp, codebook)
        key = (ind, str(dom))
        if key not in cache:
            cache[key] = _components(design, ind, registry, community, wave, dom)
        vc, sizes = cache[key]
        b, t = base_wave(int(starts[cid]), ws), ws[-1]
        m_t = float(np.mean([sizes.get((cid, b), vc.m), sizes.get((cid, t), vc.m)]))
        se = float(np.sqrt(did_variance(vc, K, m_treated=m_t)))
        kw = dict(m_treated=m_t, shock_pairs=gap_pairs(ws, b, t), n_waves=len(ws),
                  df_treated=max(dfs.get(cid, 1), 1), df_comparison=df_k)
        df = did_df(vc, K, **kw)
        mde = did_mde(vc, K, power=power, level=level, **kw)
        rows.append({community: cid, "target": target_name(ind, grp if dom else None), "indicator": ind,
                     "base_wave": b, wave: t, "mde": mde,
                     "se": se, "df": df, "tau2": vc.tau2, "gamma2": vc.gamma2, "sigma2": vc.sigma2,
                     "deff": vc.deff, "m": vc.m, "m_treated": m_t, "n_comparison": K})
    return pd.DataFrame(rows)
