"""Each programme community against the comparison communities: per-community DiD with honest SEs.

With one treated community at a time and seven comparison communities, the uncertainty of a
difference-in-differences has two parts: the *sampling* error of the survey means (known from the
design) and the *community-level shocks* that move one community's indicator from year to year
whatever the programme does. Cluster-robust SEs cannot see the second part with one treated
cluster; evalkit estimates it from how much the comparison communities' own changes scatter beyond
their sampling error (Ferman & Pinto 2019), separately for every distance between the base wave
and the wave compared, and adds it to the sampling variance.

The design enters the first part only. A linearisation :class:`~evalkit.survey.design.SurveyDesign`
(strata, PSUs, fpc) or a replicate-weight :class:`~evalkit.survey.replicate.ReplicateDesign` (JK1,
JKn, BRR, Fay, bootstrap, ...) gives the cell means, their sampling covariance (linearised, or
from the replicates) and each community's design degrees of freedom; the shock variance, its
degrees of freedom and the t test are the same few-cluster inference on communities whichever
design gave the sampling part.

This is the heteroskedasticity-corrected few-treated inference of Ferman & Pinto (2019, *Rev Econ
Stat* 101:452-467), which generalises Conley & Taber (2011, *Rev Econ Stat* 93:113-125) to groups
of different sample sizes, with the sampling variances known from the design. Size and coverage
with serially correlated shocks whose SDs differ threefold across communities of 40-600
respondents are measured in ``studies/community_effects.py`` (``studies/community_effects_results.md``).
"""
from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import DroppedUnitsWarning, EstimationError, FewClustersWarning, ShockVarianceWarning
from ..results import wald_columns
from ..survey.design import SurveyDesign
from ..survey.domains import domain_means
from ..survey.replicate import ReplicateDesign
from ..survey.replicate_weights import replicate_degf
from .impact import _design, study_args

EFFECT_COLUMNS = [  # the first and third are named after the community= and wave= columns
    "community_id", "start_year", "wave", "event_time", "base_wave", "indicator", "estimate", "se",
    "se_sampling", "se_shock", "shock_estimable", "df", "statistic", "p_value", "ci_low", "ci_high",
    "n_treated", "n_comparison",
]


def _check_roles(data: pd.DataFrame, **roles: str) -> None:
    """Raise a clear error when a role argument (``community=``, ``wave=``) names no column."""
    for role, col in roles.items():
        if col not in data.columns:
            raise EstimationError(
                f"{role}={col!r} is not a column of the design's data; pass the column that holds the "
                f"{role} (available: {', '.join(map(str, data.columns[:20]))}"
                + (" ..." if data.shape[1] > 20 else "") + ").")
    wave = roles.get("wave")
    if wave is not None and pd.to_numeric(data[wave], errors="coerce").isna().any():
        raise EstimationError(f"The wave column {wave!r} must be numeric (years) in every row. "
                              "Please convert it, e.g. data[wave] = data[wave].astype(int).")


def _starts(registry: pd.DataFrame | Mapping | None, communities) -> dict:
    from ..spec.registry import start_years

    registry = start_years(registry)
    unknown = [c for c in communities if c not in registry]
    if unknown:
        raise EstimationError(f"No start year for communities {unknown}; add them to the registry "
                              "(start_year empty for comparison communities).")
    return {c: registry[c] for c in communities}


def community_dof(design: SurveyDesign | ReplicateDesign, community: str) -> dict[str, int]:
    """Design degrees of freedom of each community's rows (R ``degf`` of the community's subset).

    A :class:`SurveyDesign`: its PSUs minus its strata among the community's rows. A
    :class:`ReplicateDesign`: the rank of the replicate weights of its rows minus 1 (R ``degf`` of
    an ``svyrep.design`` subset; for a delete-one-PSU jackknife this is the community's PSUs minus
    1, for BRR of paired PSUs its strata). Not below 0; callers floor it where they divide by it.
    """
    comm = design.data[community].astype(str).to_numpy()
    if getattr(design, "is_replicate", False):
        rep = design.replicate_weights
        return {c: max(replicate_degf(rep[comm == c]), 0) for c in pd.unique(comm)}
    p, h = design.psu_codes, design.strata_codes
    return {c: len(np.unique(p[comm == c])) - len(np.unique(h[comm == c])) for c in pd.unique(comm)}


def _scatter_df(v: np.ndarray, tau2: float) -> float:
    """Satterthwaite df of the sample variance of independent changes with variances ``v + tau2``.

    ``S^2 = D' M D / (K - 1)`` with ``M = I - J / K`` and ``Var(D) = diag(s)``, ``s = v + tau2``:
    ``df = tr(M S)^2 / tr(M S M S) = ((1 - 1/K) sum s)^2 / ((1 - 2/K) sum s^2 + (sum s)^2 / K^2)``,
    ``K - 1`` when the variances are equal and fewer when some comparison communities are much
    noisier than others.
    """
    s = np.asarray(v, float) + max(tau2, 0.0)
    K = s.size
    den = (1 - 2 / K) * np.sum(s * s) + np.sum(s) ** 2 / K ** 2
    return float(((1 - 1 / K) * np.sum(s)) ** 2 / den) if den > 0 else float(K - 1)


def _paule_mandel(groups: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Shock variance shared by groups of changes ``D`` with sampling variances ``v``.

    Solves ``sum_groups sum_k (D_k - mu_g)^2 / (v_k + tau2) = sum_groups (K_g - 1)`` with
    ``mu_g`` the precision-weighted mean of group ``g`` (Paule & Mandel 1982; DerSimonian & Kacker
    2007): precise comparison communities count more than noisy ones. Returns a value <= 0 when
    the changes scatter no more than their sampling variances explain (the equation has no
    positive root): then ``-(excess of the df over Q(0)) / sum(1/v)``, a diagnostic only.
    """
    floor = 1e-12 * max(max(float(np.max(v)) for _, v in groups), 1e-300)

    def q(tau2):
        tot = 0.0
        for D, v in groups:
            w = 1.0 / (v + tau2 + floor)
            tot += np.sum(w * (D - np.sum(w * D) / np.sum(w)) ** 2) - (D.size - 1)
        return tot

    q0 = q(0.0)
    if q0 <= 0:
        return q0 / sum(float(np.sum(1.0 / (v + floor))) for _, v in groups)
    hi = max(float(np.mean([np.var(D, ddof=1) for D, _ in groups])), floor)
    while q(hi) > 0:
        hi *= 2
    return float(optimize.brentq(q, 0.0, hi, xtol=1e-14 * hi, rtol=1e-12))


class _Changes:
    """Changes of cell means between two waves of one community, and their sampling variances."""

    def __init__(self, cells: pd.DataFrame, V: np.ndarray, community: str, wave: str):
        self.pos = {(c, float(t)): i for i, (c, t) in enumerate(zip(cells[community], cells[wave]))}
        self.est = cells["estimate"].to_numpy()
        self.n = cells["n"].to_numpy()
        self.V = V
        ok = np.isfinite(self.est) & np.isfinite(np.diag(V)) & (np.diag(V) > 0)
        self._unusable = {key for key, i in self.pos.items() if not ok[i]}

    def have(self, c, *waves) -> bool:
        return all((c, t) in self.pos for t in waves)

    def usable(self, c, *waves) -> bool:
        """Observed in every wave, with a finite mean and a positive sampling variance.

        A cell whose respondents all sit in one PSU of its stratum has no estimable variance (R
        gives 0 or NA): it can neither be a comparison nor get an effect.
        """
        return self.have(c, *waves) and not any((c, float(t)) in self._unusable for t in waves)

    def vec(self, c, b, t, into: np.ndarray, sign: float = 1.0) -> np.ndarray:
        into[self.pos[(c, t)]] += sign
        into[self.pos[(c, b)]] -= sign
        return into

    def change(self, cs, b, t) -> tuple[np.ndarray, np.ndarray]:
        """``(ybar_t - ybar_b, its sampling variance)`` for every community in ``cs``."""
        i = np.array([self.pos[(c, t)] for c in cs])
        j = np.array([self.pos[(c, b)] for c in cs])
        V = self.V
        return self.est[i] - self.est[j], V[i, i] + V[j, j] - 2 * V[i, j]


def _shock_by_gap(ch: _Changes, controls: list, waves: list) -> dict:
    """``{gap: (tau2, df)}``: shock variance of a change over ``gap`` waves-apart, from the controls.

    Every pair of waves ``b < t`` with at least three comparison communities observed in both
    contributes its comparison communities' changes; pairs the same distance apart are pooled
    (stationary shocks: the variance of a shock difference depends on the distance, not the
    calendar) in one Paule-Mandel estimating equation. ``df`` adds the pairs' :func:`_scatter_df`,
    each comparison community's variance being its sampling variance plus its own share of the
    shock variance (:func:`_relative_shock`).
    """
    pairs = []
    for i, b in enumerate(waves):
        for t in waves[i + 1:]:
            ks = [k for k in controls if ch.usable(k, b, t)]
            if len(ks) >= 3:
                pairs.append((t - b, ks, *ch.change(ks, b, t)))
    tau2 = {gap: _paule_mandel([(D, v) for g, _, D, v in pairs if g == gap]) for gap, *_ in pairs}
    lam = _relative_shock(pairs, tau2, controls)
    df = dict.fromkeys(tau2, 0.0)
    for gap, ks, _, v in pairs:
        df[gap] += _scatter_df(v + max(tau2[gap], 0.0) * np.array([lam[k] for k in ks]), 0.0)
    return {gap: (tau2[gap], df[gap]) for gap in tau2}


def _relative_shock(pairs: list, tau2: dict, controls: list) -> dict:
    """Each comparison community's shock variance relative to their average (mean 1).

    From its changes over every pair of waves: ``lambda_k = sum_p (K_p/(K_p - 1) e_kp^2 - v_kp) /
    sum_p tau2(gap_p)`` with ``e_kp`` its change minus the comparison communities' mean change
    (``E[K/(K-1) e^2] ~ v + lambda tau2``), floored at 0 and scaled to mean 1. Shock variances that
    differ across communities make the comparison communities' scatter a less precise estimate of
    their average, which the df of the shock part then reflects; the programme community's own
    share cannot be estimated (at most one change before its start) and is taken as 1.
    """
    num, den = dict.fromkeys(controls, 0.0), dict.fromkeys(controls, 0.0)
    for gap, ks, D, v in pairs:
        e, K = D - D.mean(), len(ks)
        for k, ek, vk in zip(ks, e, v):
            num[k] += K / (K - 1) * ek * ek - vk
            den[k] += max(tau2[gap], 0.0)
    lam = {k: max(num[k] / den[k], 0.0) if den[k] > 0 else 1.0 for k in controls}
    mean = float(np.mean(list(lam.values())))
    return {k: x / mean for k, x in lam.items()} if mean > 0 else dict.fromkeys(controls, 1.0)


def _effect_row(ch: _Changes, c, ks: list, b, t, shock, dof: dict) -> dict:
    """DiD of community ``c`` between waves ``b`` and ``t`` against comparison communities ``ks``."""
    K = len(ks)
    cvec = ch.vec(c, b, t, np.zeros(ch.est.size))
    for k in ks:
        ch.vec(k, b, t, cvec, -1.0 / K)
    e = float(cvec @ ch.est)
    samp = max(float(cvec @ ch.V @ cvec), 0.0)
    (_, v_c), (D_k, v_k) = ch.change([c], b, t), ch.change(ks, b, t)
    if shock is not None and shock[0] > 0:
        tau2, df_shock = shock
        sh, ok = (1 + 1 / K) * tau2, True
    else:  # not estimable: all of the controls' observed scatter is taken as shock (conservative)
        sh = max((1 + 1 / K) * float(np.var(D_k, ddof=1)) - float(np.sum(v_k)) / K ** 2, 0.0)
        df_shock, ok = _scatter_df(v_k, 0.0), False
    var = samp + sh
    # Welch-Satterthwaite: each community's sampling variance with its own design df, the shock
    # part with the df of the controls' scatter
    den = (float(v_c[0]) ** 2 / max(dof[c], 1)
           + sum((float(v) / K ** 2) ** 2 / max(dof[k], 1) for k, v in zip(ks, v_k))
           + (sh ** 2 / df_shock if sh > 0 else 0.0))
    dfv = var ** 2 / den if den > 0 else float(K - 1)
    return {"estimate": e, "se": np.sqrt(var), "se_sampling": np.sqrt(samp), "se_shock": np.sqrt(sh),
            "shock_estimable": ok, "df": dfv, "n_treated": int(ch.n[ch.pos[(c, t)]]),
            "n_comparison": K}


def community_effects(
    design: SurveyDesign | ReplicateDesign | pd.DataFrame,
    y: str | Sequence[str],
    *,
    registry: pd.DataFrame | Mapping | None = None,
    community: str | None = None,
    wave: str | None = None,
    domain: Mapping[str, Sequence] | None = None,
    level: float = 0.95,
    study=None,
) -> pd.DataFrame:
    """Difference-in-differences of each programme community against the comparison communities.

    For programme community ``c`` starting in ``g`` and every wave ``t != g - 1``:
    ``(ybar_ct - ybar_c,g-1) - mean_k (ybar_kt - ybar_k,g-1)`` over the never-treated comparison
    communities ``k`` (R ``did``'s varying base period: effects after the start, placebo
    "effects" before it).

    Parameters
    ----------
    design
        Survey design over all communities and waves: a :class:`SurveyDesign` (strata within
        communities, PSU ids persisting across waves) or a
        :class:`~evalkit.survey.replicate.ReplicateDesign` (replicate weights, e.g. from
        :meth:`SurveyDesign.as_replicate` or shipped with the data; a respondent keeps the same
        replicate weights in every wave of a panel, so the covariance between waves is estimated);
        or respondent rows with ``study=`` (a :class:`SurveyDesign` from the study's weight,
        strata and PSU roles).
    y
        Indicator column(s).
    registry
        Community registry (:func:`evalkit.load_communities`) or ``{community: start year or
        None}``; default the study's. One of ``registry`` and ``study`` is required.
    community, wave
        Columns naming the community and the (numeric) survey wave (default the study's roles,
        else ``community_id`` and ``wave``); the output's community and wave columns carry these
        names, as the cells of :func:`domain_means` do.
    domain
        Restrict every mean to a subgroup, e.g. ``{"role": ["elderly"]}`` for Mingyue's
        elderly-care indicators.
    level
        Confidence level.
    study
        An :class:`evalkit.Study`: registry, column roles and the design's roles.

    Returns
    -------
    DataFrame
        ``<community>, start_year, <wave>, event_time, base_wave, indicator, estimate, se,
        se_sampling, se_shock, shock_estimable, df, statistic, p_value, ci_low, ci_high, n_treated,
        n_comparison``.

    The base wave of a community starting in ``g`` is the last wave before ``g`` (``g - 1`` with
    yearly waves; 2014 for a 2016 start when only 2014 and 2017 were surveyed).

    A programme community and wave from the start on without a row (no respondents in the base
    wave or that wave, fewer than two comparison communities in both; ``"not_measured"`` with
    ``wave`` None: nobody in the community answered the indicator, recorded but not warned about)
    is listed in ``attrs["explanations"]`` (records ``<community>, <wave>, indicator, explanation,
    message``) and named in a :class:`~evalkit.errors.DroppedUnitsWarning`.

    Warns
    -----
    FewClustersWarning
        Fewer than three comparison communities: intervals are very wide.
    DroppedUnitsWarning
        Some programme community × wave has no row though the community answered the indicator
        in other waves (listed in ``attrs["explanations"]``).
    ShockVarianceWarning
        When the shock variance of some base-to-wave distance is not estimable (the comparison
        communities' changes scatter no more than their sampling error explains); those rows have
        ``shock_estimable=False`` and the conservative fallback below.

    Notes
    -----
    ``se_sampling`` is ``sqrt(c' V c)`` with ``V`` from :func:`domain_means` (it includes the
    panel covariance between waves): linearised for a :class:`SurveyDesign`, the replicate
    covariance (R ``svyby(..., covmat=TRUE)`` on an ``svyrep.design``) for a
    :class:`~evalkit.survey.replicate.ReplicateDesign`. Only this part depends on the design.
    ``se_shock`` accounts for community-by-wave shocks, which the survey design cannot see. The change ``D_k`` of comparison community ``k`` between the
    base wave and wave ``t`` has variance ``v_k + tau2(gap)``: its sampling variance plus the
    variance of a shock *difference*, which grows with the distance ``gap = |t - base|`` when
    shocks are serially correlated (``2 sigma^2 (1 - rho^gap)`` for AR(1) shocks). ``tau2(gap)``
    is estimated for every gap separately from the comparison communities' changes over all pairs
    of waves that far apart, by the Paule-Mandel estimator (precise communities weigh more; see
    ``_paule_mandel``). The programme community's own shock variance cannot be estimated (it has
    at most one pre-programme change); it is taken to be the comparison communities' average, so
    ``se_shock^2 = tau2 (1 + 1/K)``.

    When the equation has no positive root (``shock_estimable=False``) the shock variance is not
    set to zero, which would turn the test into one on sampling error alone: all of the
    comparison communities' observed scatter ``S^2`` is credited to shocks instead,
    ``se^2 = v_c + (1 + 1/K) S^2`` (``v_c`` the programme community's sampling variance), and a
    :class:`~evalkit.errors.ShockVarianceWarning` says so.

    Tests use Student t with Welch-Satterthwaite degrees of freedom: each community's sampling
    variance carries its own design df (its PSUs minus its strata, R ``degf`` of its subset; with
    replicate weights the rank of its rows' replicate weights minus 1: :func:`community_dof`), so
    a programme community with three PSUs gets few df however large the comparison group; the
    shock part carries the Satterthwaite df of the comparison communities' scatter, summed over
    the pairs of waves pooled, given their unequal sampling variances and their own shock
    variances (``_scatter_df``, ``_relative_shock``; ``K - 1`` per pair when all are equal).
    Shock variances that differ across communities are thus allowed where they can be estimated
    (the comparison communities, from their changes over all pairs of waves); the programme
    community's cannot be, and the comparison communities' average is used.

    This is the few-treated inference of Ferman & Pinto (2019) with the sampling variances known
    from the design (module docstring: references, where size and coverage are measured).
    """
    args = study_args("community_effects", study, registry, community, wave)
    design, community, wave = _design(design, study, "community_effects"), args.community, args.wave
    ys = [y] if isinstance(y, str) else list(y)
    starts, dof = _communities(design, args.start_years, community, wave)
    out, skipped = [], []
    for name in ys:
        cells, V = domain_means(design, name, (community, wave), domain=domain)
        cells[community] = cells[community].astype(str)
        out += _indicator_rows(_Changes(cells, V, community, wave), name, starts, dof, community, wave, skipped)
    return _finish(pd.DataFrame(out, columns=[community, EFFECT_COLUMNS[1], wave, *EFFECT_COLUMNS[3:]]),
                   skipped, community, wave, level)


def _communities(design: SurveyDesign | ReplicateDesign, registry, community: str,
                 wave: str) -> tuple[dict, dict]:
    """Start years of the data's communities and each one's design df; checks and warns on the controls."""
    data = design.data
    _check_roles(data, community=community, wave=wave)
    comm_of_row = data[community].astype(str).to_numpy()
    comms = sorted(pd.unique(comm_of_row))
    starts = _starts(registry, comms)
    controls = [c for c in comms if starts[c] is None]
    if len(controls) < 2:
        raise EstimationError(
            f"community_effects needs at least two never-treated comparison communities; found "
            f"{len(controls)}. Give comparison communities an empty start_year in the registry.")
    if len(controls) < 3:
        warnings.warn(FewClustersWarning(
            f"Only {len(controls)} comparison communities ({', '.join(controls)}): the community-shock "
            "variance rests on their scatter alone, so intervals are very wide (with two, ±200 "
            "percentage points for a proportion is typical). Three or more are needed for an "
            "interval worth reporting."), stacklevel=3)
    return starts, community_dof(design, community)


def _finish(res: pd.DataFrame, skipped: list, community: str, wave: str, level: float) -> pd.DataFrame:
    """Wald columns, the shock and skipped-row warnings, ``attrs["explanations"]``."""
    explanations = pd.DataFrame(skipped, columns=[community, wave, "indicator", "explanation", "message"])
    if not res.empty:
        w = wald_columns(res["estimate"], res["se"].where(res["se"] > 0), res["df"], level)
        res["statistic"], res["p_value"], res["ci_low"], res["ci_high"] = (
            w["statistic"], w["p_value"], w["ci_low"], w["ci_high"])
    if not res.empty and not res["shock_estimable"].all():
        _warn_shock(res.loc[~res["shock_estimable"], ["indicator", wave, "base_wave"]], wave, stacklevel=4)
    res = res.sort_values([community, "indicator", wave]).reset_index(drop=True)
    gaps = explanations[explanations["explanation"] != "not_measured"]
    if len(gaps):  # a community that never answered the indicator is recorded, not warned about
        _warn_skipped(gaps, community)
    # records, not a frame: pandas compares attrs when frames are concatenated
    res.attrs["explanations"] = tuple(explanations.to_dict("records"))
    return res


def base_wave(start: int, waves) -> float:
    """The base wave of a community starting in ``start``: the last wave before it (``start - 1`` yearly).

    With waves 2014 and 2017 only, a 2016 start is measured from 2014; with no wave before the
    start, ``start - 1`` (which the data then lack: the community gets an explanation, not a row).
    """
    pre = [float(t) for t in waves if float(t) < start]
    return max(pre) if pre else float(start - 1)


#: Why :func:`community_effects` has no row for a programme community and wave: code -> text.
SKIPPED = {
    "not_measured": "nobody in this community (within the domain) answered it in any wave",
    "no_base_wave": "no respondents in the base wave {b:g} (the last wave before the start {g})",
    "no_wave": "no respondents in wave {t:g}",
    "no_variance": ("no sampling variance in wave {b:g} or {t:g} (e.g. all respondents in one sampling "
                    "unit of a stratum)"),
    "few_comparisons": "{k} comparison communities observed in waves {b:g} and {t:g} (at least 2 needed)",
}


def _indicator_rows(ch: _Changes, name: str, starts: dict, dof: dict, community: str, wave: str,
                    skipped: list | None = None) -> list:
    """Rows of :func:`community_effects` for one indicator; why a row is missing goes to ``skipped``."""
    controls = [c for c in starts if starts[c] is None]
    waves = sorted(set(t for _, t in ch.pos))
    shock = _shock_by_gap(ch, controls, waves)
    out = []
    skipped = [] if skipped is None else skipped
    for c in (c for c in starts if starts[c] is not None):
        b = base_wave(starts[c], waves)
        if not any((c, t) in ch.pos for t in waves):  # no respondent of the domain answered it here
            skipped.append({community: c, wave: None, "indicator": name, "explanation": "not_measured",
                            "message": SKIPPED["not_measured"]})
            continue
        for t in waves:
            if t == b:
                continue
            ks = [k for k in controls if ch.usable(k, b, t)]
            why = ("no_base_wave" if not ch.have(c, b) else "no_wave" if not ch.have(c, t)
                   else "no_variance" if not ch.usable(c, b, t)
                   else "few_comparisons" if len(ks) < 2 else None)
            if why is not None:
                if t >= starts[c]:  # placebo waves before the start are not missed
                    skipped.append({community: c, wave: int(t), "indicator": name, "explanation": why,
                                    "message": SKIPPED[why].format(b=b, g=starts[c], t=t, k=len(ks))})
                continue
            out.append({community: c, "start_year": starts[c], wave: int(t), "event_time": int(t - starts[c]),
                        "base_wave": int(b), "indicator": name,
                        **_effect_row(ch, c, ks, b, t, shock.get(abs(t - b)), dof)})
    return out


def _warn_skipped(skipped: pd.DataFrame, community: str) -> None:
    """One warning naming every programme community and wave that has no per-community effect, and why."""
    listed = "; ".join(f"{c} ({', '.join(pd.unique(g['indicator']))}): {msg}"
                       for (c, msg), g in skipped.groupby([community, "message"], sort=False))
    warnings.warn(DroppedUnitsWarning(
        f"No per-community effect for {len(skipped)} programme community × wave × indicator cell(s) — "
        f"{listed}. The table's attrs['explanations'] lists them; evalkit.evaluation.summary.summarise "
        "keeps them as rows with an explanation."), stacklevel=4)


def _warn_shock(lost: pd.DataFrame, wave: str, stacklevel: int = 3) -> None:
    gaps = (lost[wave] - lost["base_wave"]).abs()
    listed = "; ".join(f"{name} (gap {', '.join(str(g) for g in sorted(set(gaps[lost['indicator'] == name])))})"
                       for name in pd.unique(lost["indicator"]))
    warnings.warn(ShockVarianceWarning(
        f"The community-shock variance is not estimable for {len(lost)} per-community effect(s): "
        f"{listed}. The comparison communities' changes over that many waves scatter no more than "
        "their sampling error explains, so shocks cannot be told apart from sampling error. Those "
        "rows (shock_estimable=False) credit all of that scatter to shocks: their intervals are "
        "conservative. List them with result[~result['shock_estimable']]."),
        stacklevel=stacklevel)
