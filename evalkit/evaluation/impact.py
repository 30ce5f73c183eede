"""The programme's pooled effect on an indicator, with inference that holds with 14 communities.

:func:`programme_effect` estimates the Callaway & Sant'Anna (2021) staggered DiD on the panel of
community × wave design-based means (units = communities, never-treated comparison communities as
controls, varying base period) — the same numbers as :func:`evalkit.att_gt` on that panel — and
takes its headline p-value and confidence interval from **randomization inference** over the
assignment of programme start years to communities, never from cluster-robust normal
approximations, which over-reject badly with 7 treated of 14 communities.

Who started when comes from ``study=`` (:class:`evalkit.Study`, its registry and column roles) or
an explicit ``registry=``; nothing here reads the shipped example's files.

The survey design — a linearisation :class:`~evalkit.survey.design.SurveyDesign` (weights, strata,
PSUs, fpc) or a replicate-weight :class:`~evalkit.survey.replicate.ReplicateDesign` (JK1, JKn,
BRR, Fay, bootstrap, ...) — enters only through the community × wave means, which are its
full-sample weighted means (the same for every kind of design with the same weights). Their
sampling variance does not enter the randomization inference: the permutation distribution
treats every community's observed series, sampling error included, as fixed, so sampling error
and community-level shocks are both part of the noise the reassignments reproduce.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ..survey.domains import domain_means
from ..errors import DroppedUnitsWarning, EstimationError, EvalkitError, FewClustersWarning
# the permutation engine shared with randomization_test (MAX_EXACT, N_RANDOM, BLOCK: its defaults)
from ..inference.permutation import BLOCK, MAX_EXACT, N_RANDOM
from ..inference.permutation import invert as _invert
from ..inference.permutation import p_value as _ri_p
from ..inference.permutation import plan as _plan
from ..results import Result, check_vocabulary
from ..spec.registry import start_years
from ..spec.study import Roles, Study
from ..survey.design import SurveyDesign
from ..survey.replicate import ReplicateDesign

Design = SurveyDesign | ReplicateDesign
"""The two kinds of survey design the evaluation functions take (linearisation or replicate weights)."""

IMPACT_COLUMNS = ["indicator", "type", "event_time", "estimate", "p_value", "ci_low", "ci_high",
                  "n_assignments", "exact", "method"]
DEFAULT_SEED = 2017
"""Seed of the random reassignments when neither ``seed=`` nor ``study=`` gives one."""


class _Unset:
    def __repr__(self) -> str:
        return "<study seed, else 2017>"


UNSET = _Unset()
"""Default of ``seed=``: the study's seed when a study is given, else :data:`DEFAULT_SEED`."""


@dataclass(frozen=True)
class StudyArgs:
    """The columns and start years an evaluation function works with, resolved once."""

    community: str
    wave: str
    start_years: dict[str, int | None] | None
    seed: int | None
    study: Study | None


def study_args(caller: str, study: Study | None, registry=None, community: str | None = None,
               wave: str | None = None, seed=UNSET, *, need_registry: bool = True) -> StudyArgs:
    """Explicit arguments first, then the study's registry, roles and seed; a clear error without either.

    The column defaults without a study are the codebook's standard names (:class:`evalkit.Roles`).
    """
    if study is not None and not isinstance(study, Study):
        raise EvalkitError(f"{caller}(study=...) needs an evalkit.Study, got {type(study).__name__}.")
    roles = study.roles if study is not None else Roles()
    if registry is None and study is not None and study.registry is not None:
        registry = study.registry
    if registry is None and need_registry:
        raise EvalkitError(
            f"{caller} needs the programme start years: pass study=evalkit.Study.from_files(codebook, "
            "registry=\"communities.csv\", ...) or registry= (the community registry table or "
            "{community: start year or None}).")
    if seed is UNSET:
        seed = study.seed if study is not None else DEFAULT_SEED
    return StudyArgs(community or roles.community, wave or roles.wave,
                     None if registry is None else start_years(registry), seed, study)


def confidence_level(caller: str, level: float, alpha: float | None) -> float:
    """The confidence level from ``level=`` or the deprecated ``alpha=`` (one release, FutureWarning)."""
    if alpha is not None:
        warnings.warn(f"{caller}(alpha=...) is deprecated and will be removed in the next release; "
                      f"use level={1 - alpha:g} (the confidence level).", FutureWarning, stacklevel=3)
        level = 1 - alpha
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0 < level < 1:
        raise EvalkitError(f"{caller}: level must be between 0 and 1 (e.g. 0.95), got {level!r}.")
    return float(level)


def is_design(data) -> bool:
    """Whether ``data`` is a survey design (:class:`SurveyDesign` or :class:`ReplicateDesign`)."""
    return isinstance(data, (SurveyDesign, ReplicateDesign))


def _design(data: Design | pd.DataFrame, study: Study | None, caller: str) -> Design:
    """The survey design: as given (linearisation or replicate weights), or built from respondent
    rows and the study's weight, strata, PSU roles."""
    if is_design(data):
        return data
    if isinstance(data, pd.DataFrame) and study is not None:
        if study.roles.weight is None:
            raise EvalkitError(f"{caller}: the study names no weight column (Roles(weight=...)); pass a "
                               "SurveyDesign instead.")
        return SurveyDesign.from_study(data, study)  # replicate weights when the study declares them
    raise EstimationError(f"{caller} needs a SurveyDesign or ReplicateDesign, or respondent rows together "
                          "with study= (the design is then built from the study's weight, strata and PSU "
                          f"columns); got {type(data).__name__}.")


def community_panel(
    design: Design | pd.DataFrame,
    y: str,
    *,
    study: Study | None = None,
    community: str | None = None,
    wave: str | None = None,
    domain: Mapping[str, Sequence] | None = None,
) -> pd.DataFrame:
    """Design-based means of ``y`` by community × wave as a wide table (communities × waves).

    ``design`` is a :class:`SurveyDesign` or a :class:`~evalkit.survey.replicate.ReplicateDesign`
    (the means are the full-sample weighted means either way), or respondent rows with ``study=``
    (the design is built from the study's weight, strata and PSU roles). The community and wave columns are the
    explicit arguments, else the study's roles, else ``community_id`` and ``wave``; the index and
    the columns of the table are named after them.
    """
    args = study_args("community_panel", study, None, community, wave, need_registry=False)
    design = _design(design, study, "community_panel")
    cells, _ = domain_means(design, y, (args.community, args.wave), domain=domain)
    wide = cells.pivot(index=args.community, columns=args.wave, values="estimate")
    wide.index = wide.index.astype(str).rename(args.community)
    wide.columns = pd.Index([int(c) for c in wide.columns], name=args.wave)
    return wide


def _cells(waves: Sequence[int], cohorts: Sequence[int]) -> list[tuple[int, int, int]]:
    """(g, t, base) cells of the CS estimator with R did's varying base period."""
    out = []
    ws = set(waves)
    for g in cohorts:
        for t in waves:
            base = g - 1 if t >= g else t - 1
            if base not in ws or g - 1 not in ws:
                continue
            out.append((g, t, base))
    return out


def _event_times(waves: list[int], g_obs: np.ndarray) -> list[int]:
    """Event times t - g of the estimator's cells (the same under every reassignment)."""
    cohorts = sorted(set(g_obs.tolist()) - {0})
    return sorted(set(t - g for g, t, _ in _cells(waves, cohorts)))


def _estimates(Y: np.ndarray, waves: list[int], G: np.ndarray, ev: list[int], cohorts: list[int]):
    """Simple ATT and event-time ATTs of several outcomes for P assignments at once.

    Y : (K, T, m) community means of m outcomes; G : (P, K) start year per community (0 = never),
    each row a reassignment of the start years ``cohorts`` (and 0).
    Returns (simple (P, m), dynamic (P, E, m)) for the E event times ``ev``.
    """
    P, K = G.shape
    m = Y.shape[2]
    col = {t: i for i, t in enumerate(waves)}
    never = (G == 0).astype(float)
    n_never = never.sum(axis=1)[:, None]
    simple_num = np.zeros((P, m))
    simple_den = np.zeros((P, 1))
    dyn_num = np.zeros((P, len(ev), m))
    dyn_den = np.zeros((P, len(ev), 1))
    epos = {e: i for i, e in enumerate(ev)}
    for g, t, b in _cells(waves, cohorts):
        member = (G == g).astype(float)
        n_g = member.sum(axis=1)[:, None]
        ok = (n_g > 0) & (n_never > 0)
        d = Y[:, col[t]] - Y[:, col[b]]
        with np.errstate(invalid="ignore", divide="ignore"):
            att = np.where(ok, member @ d / n_g - never @ d / n_never, 0.0)
        wgt = np.where(ok, n_g, 0.0)
        if t >= g:
            simple_num += wgt * att
            simple_den += wgt
        if t - g in epos:
            dyn_num[:, epos[t - g]] += wgt * att
            dyn_den[:, epos[t - g]] += wgt
    with np.errstate(invalid="ignore", divide="ignore"):
        return simple_num / simple_den, dyn_num / dyn_den


def _null_statistics(Y: np.ndarray, D: np.ndarray, waves: list[int], g_obs: np.ndarray, ev: list[int],
                     blocks: Iterator[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Statistics of Y and of the observed treatment pattern D under n assignments, block by block.

    Returns a, b of shape (n, 1 + E): column 0 the simple ATT, then one column per event time;
    row 0 is the observed assignment. Each block's intermediate arrays are (block, K) in size.
    """
    a = np.empty((n, 1 + len(ev)))
    b = np.empty_like(a)
    YD = np.stack([Y, D], axis=2)
    cohorts = sorted(set(g_obs.tolist()) - {0})
    pos, observed = 0, None
    for G in blocks:
        simple, dyn = _estimates(YD, waves, G, ev, cohorts)
        stop = pos + G.shape[0]
        a[pos:stop, 0], b[pos:stop, 0] = simple[:, 0], simple[:, 1]
        a[pos:stop, 1:], b[pos:stop, 1:] = dyn[:, :, 0], dyn[:, :, 1]
        if observed is None:
            hit = np.flatnonzero((G == g_obs).all(axis=1))
            observed = pos + int(hit[0]) if hit.size else None
        pos = stop
    if pos != n or observed is None:
        raise AssertionError("assignment enumeration is inconsistent")  # pragma: no cover
    a[[0, observed]] = a[[observed, 0]]
    b[[0, observed]] = b[[observed, 0]]
    return a, b


@dataclass(frozen=True, eq=False, repr=False)
class ImpactResult(Result):
    """Pooled programme effect on one indicator with randomization-inference p-values and CIs.

    ``simple`` is the overall ATT, ``dynamic`` the event-time ATTs (``event_times``); ``ci`` and
    ``dynamic_ci`` are intervals at ``level``. ``n_assignments`` counts the assignments the
    p-values are computed over (the observed one included); ``n_possible`` is the number of
    distinct assignments; ``exact`` says whether all of them were used. Immutable: the arrays
    are read-only.
    """

    title: ClassVar[str] = "Programme effect, randomization inference"

    indicator: str
    simple: float
    event_times: tuple[int, ...]
    dynamic: np.ndarray
    p_value: float
    ci: tuple[float, float]
    dynamic_p: np.ndarray
    dynamic_ci: np.ndarray
    n_assignments: int
    exact: bool
    n_communities: int
    n_treated: int
    level: float
    panel: pd.DataFrame = field(repr=False)
    n_possible: int = 0

    def __post_init__(self):
        for name in ("dynamic", "dynamic_p", "dynamic_ci"):
            a = np.array(getattr(self, name), dtype=float)
            a.flags.writeable = False
            object.__setattr__(self, name, a)
        object.__setattr__(self, "ci", tuple(float(v) for v in self.ci))

    @property
    def alpha(self) -> float:
        """Deprecated: ``1 - level``."""
        warnings.warn("ImpactResult.alpha is deprecated; use .level (the confidence level).",
                      FutureWarning, stacklevel=2)
        return round(1 - self.level, 12)

    @property
    def method(self) -> str:
        if self.exact:
            how = f"all {self.n_assignments:,} assignments, exact"
        else:
            how = (f"{self.n_assignments - 1:,} random assignments and the observed one, of "
                   f"{self.n_possible:,} possible")
        return f"randomization inference ({how}; start years reassigned among {self.n_communities} communities)"

    def tidy(self) -> pd.DataFrame:
        """``indicator, type, event_time, estimate, p_value, ci_low, ci_high, n_assignments, exact, method``.

        One ``simple`` row (the overall ATT) and one ``dynamic`` row per event time.
        """
        rows = [{"indicator": self.indicator, "type": "simple", "event_time": np.nan,
                 "estimate": self.simple, "p_value": self.p_value, "ci_low": self.ci[0],
                 "ci_high": self.ci[1]}]
        for e, est, p, (lo, hi) in zip(self.event_times, self.dynamic, self.dynamic_p, self.dynamic_ci):
            rows.append({"indicator": self.indicator, "type": "dynamic", "event_time": e, "estimate": est,
                         "p_value": p, "ci_low": lo, "ci_high": hi})
        out = pd.DataFrame(rows)
        out["n_assignments"] = self.n_assignments
        out["exact"] = self.exact
        out["method"] = "randomization"
        out["event_time"] = out["event_time"].astype("Int64")
        return check_vocabulary(out[IMPACT_COLUMNS], "ImpactResult.tidy()")

    def _headline(self) -> str:
        lo, hi = self.ci
        return (f"{self.indicator}: overall ATT {self.simple:.4f}, {100 * self.level:g}% CI "
                f"{lo:.4f} to {hi:.4f}, p = {self.p_value:.3f} ({self.method}; "
                f"{self.n_treated} programme communities)")


def programme_effect(
    design: Design | pd.DataFrame,
    y: str,
    *,
    study: Study | None = None,
    registry: pd.DataFrame | Mapping | None = None,
    community: str | None = None,
    wave: str | None = None,
    domain: Mapping[str, Sequence] | None = None,
    n_perm: int | None = None,
    seed: int | None = UNSET,
    level: float = 0.95,
    alpha: float | None = None,
) -> ImpactResult:
    """Staggered DiD of the programme on ``y`` with randomization-inference p-values and CIs.

    Parameters
    ----------
    design
        A :class:`SurveyDesign` or :class:`~evalkit.survey.replicate.ReplicateDesign` (community ×
        wave means are estimated from it), respondent rows with ``study=`` (the design is built
        from the study's weight, strata and PSU roles), or an already wide table of community
        means (index community ids, columns waves: :func:`community_panel`). Only the means are
        used: the design's variance does not enter the randomization inference (Notes).
    y
        Indicator column.
    study
        The :class:`evalkit.Study`: its registry gives the start years, its roles the community
        and wave columns, its seed the seed.
    registry
        Community registry table or ``{community: start year or None}``; overrides the study's.
        One of ``study`` and ``registry`` is required.
    community, wave
        Columns of the design's data; default the study's roles (``community_id``, ``wave``).
    domain
        Restrict the means to a subgroup, e.g. ``{"role": ["elderly"]}``.
    n_perm
        ``None`` (default): enumerate every distinct reassignment of the start years when there
        are at most :data:`MAX_EXACT` (1,000,000) of them — the test is then exact; otherwise draw
        :data:`N_RANDOM` (9,999) at random. An integer: enumerate when there are at most
        ``n_perm`` distinct reassignments, otherwise draw ``n_perm`` at random (as
        :func:`evalkit.randomization_test`). ``.method`` says which was done.
    seed
        Seed of the random reassignments (unused when all are enumerated); default the study's
        seed, else 2017.
    level
        Confidence level of the intervals (0.95). ``alpha=`` (1 − level) is deprecated.

    Returns
    -------
    ImpactResult
        ``.simple`` (R ``aggte(type="simple")``), ``.dynamic`` by event time, RI ``p_value`` and
        ``ci`` for each, ``.tidy()``.

    Warns
    -----
    FewClustersWarning
        Always when fewer than 50 communities: it names the number and the method used.
    DroppedUnitsWarning
        Communities without an estimate in every wave (e.g. a cell withheld by the disclosure
        gate) are left out of the balanced panel, named with their missing waves; with fewer
        than three complete communities an :class:`~evalkit.errors.EstimationError` says so.

    Notes
    -----
    Estimator: Callaway & Sant'Anna (2021) ATT(g, t) on the balanced community panel, never-treated
    controls, varying base period, no covariates (so the DR, IPW and regression estimators
    coincide); the overall effect weights post-treatment cells by cohort size, event-time effects
    average cohorts by size (R ``aggte`` "simple" and "dynamic"). Equal to
    ``att_gt(panel, unit=community, control="never").aggregate(...)`` (tested).

    Inference: under the sharp null "the programme changed every community's indicator by
    ``tau`` in every programme year", the outcomes without the programme are ``Y - tau D`` and
    start years are exchangeable across communities, so the estimate recomputed under every
    reassignment of the observed start years gives the null distribution (Fisher;
    MacKinnon & Webb 2020 "Randomization inference for difference-in-differences with few
    treated clusters", *J Econometrics* 218:435-450). The p-value is the share of assignments
    with ``|estimate| >=`` the observed one, the observed assignment included and ties counted
    up to a relative tolerance of 1e-10 (as :func:`evalkit.randomization_test`), so it is never
    below 1 / ``n_assignments``. The interval collects the ``tau`` not rejected at ``1 - level``;
    because the estimator is linear in ``tau`` each assignment's comparison changes at no more
    than two values of ``tau``, which are found in closed form, so the inversion is exact (no
    grid). Assignments are evaluated in blocks of :data:`BLOCK`, so memory stays bounded: the
    shipped 14 communities (120,120 assignments) need well under a second and 100 MB
    (``benchmarks/bench_ri.py``). The coefficient, not a t-statistic, is permuted: communities are of
    similar size here; MacKinnon & Webb recommend the t-statistic when treated clusters differ
    much in size.

    The design gives the means only (strata, PSUs, fpc or replicate weights change no number
    here): sampling error, like community shocks, is in the scatter of the reassigned estimates
    (module docstring); :func:`evalkit.community_effects` uses the design covariance of the means.
    """
    if n_perm is not None and (isinstance(n_perm, bool) or not isinstance(n_perm, (int, np.integer))
                               or n_perm < 1):
        raise EstimationError(f"n_perm must be a positive integer or None (the default), not {n_perm!r}.")
    level = confidence_level("programme_effect", level, alpha)
    args = study_args("programme_effect", study, registry, community, wave, seed)
    panel = _panel_of(design, y, args, domain)
    g_obs = _start_year_vector(panel, args.start_years)
    K = len(g_obs)
    if K < 50:
        warnings.warn(
            f"{K} communities ({int((g_obs > 0).sum())} with the programme): p-values and intervals come "
            "from randomization inference over the assignment of start years, not from "
            "cluster-robust normal approximations.", FewClustersWarning, stacklevel=2)
    waves = list(panel.columns)
    Y = panel.to_numpy(dtype=float)
    D = np.array([[1.0 if (g > 0 and t >= g) else 0.0 for t in waves] for g in g_obs])
    how = _plan(g_obs, max_exact=MAX_EXACT if n_perm is None else n_perm,
                n_draws=N_RANDOM if n_perm is None else n_perm, seed=args.seed)
    ev = _event_times(waves, g_obs)
    a, b = _null_statistics(Y, D, waves, g_obs, ev, how.blocks(BLOCK), how.n)
    dyn_p, dyn_ci = _dynamic_inference(a[:, 1:], b[:, 1:], ev, level)
    return ImpactResult(
        indicator=y, simple=float(a[0, 0]), event_times=tuple(int(e) for e in ev), dynamic=a[0, 1:],
        p_value=_ri_p(a[:, 0], b[:, 0]), ci=_invert(a[:, 0], b[:, 0], level=level, block=BLOCK),
        dynamic_p=dyn_p, dynamic_ci=dyn_ci, n_assignments=how.n, exact=how.exact, n_communities=K,
        n_treated=int((g_obs > 0).sum()), level=level, panel=panel, n_possible=how.n_possible,
    )


def _panel_of(design, y: str, args: StudyArgs, domain) -> pd.DataFrame:
    """The balanced wide community panel of ``y``: estimated from a design (or respondent rows), or as given."""
    if is_design(design) or (isinstance(design, pd.DataFrame) and y in design.columns):
        panel = community_panel(design, y, study=args.study, community=args.community, wave=args.wave,
                                domain=domain)
    elif isinstance(design, pd.DataFrame):
        panel = design
    else:
        raise EstimationError("programme_effect needs a SurveyDesign or ReplicateDesign, respondent rows with "
                              f"study=, or a wide table of community means (community_panel()); got "
                              f"{type(design).__name__}.")
    if panel.isna().any().any():
        bad = panel[panel.isna().any(axis=1)].index.tolist()
        if len(bad) == len(panel) or panel.shape[0] - len(bad) < 3:
            raise EstimationError(
                f"Indicator {y!r} has no estimate for some waves of communities {bad}; the community "
                "panel must be balanced and too few communities have every wave. Choose another "
                "indicator or waves that every community has.")
        gaps = "; ".join(f"{c}: {', '.join(str(w) for w in panel.columns[panel.loc[c].isna()])}" for c in bad)
        warnings.warn(DroppedUnitsWarning(
            f"Indicator {y!r}: communities without an estimate in every wave are left out of the pooled "
            f"staggered estimate, which needs a balanced panel ({gaps}); the estimate and its "
            "randomization inference use the other communities."), stacklevel=3)
        panel = panel.drop(index=bad)
    return panel


def _start_year_vector(panel: pd.DataFrame, registry: Mapping[str, int | None]) -> np.ndarray:
    """Start year of each panel community (0 = never within the panel's waves), checked."""
    missing = [c for c in panel.index if c not in registry]
    if missing:
        raise EstimationError(f"No start year for communities {missing}; add them to the registry.")
    waves = list(panel.columns)
    g_obs = np.array([int(registry[c] or 0) for c in panel.index])
    g_obs = np.where(g_obs <= waves[0], np.where(g_obs == 0, 0, -1), g_obs)
    if (g_obs == -1).any():
        raise EstimationError("Communities treated in the first wave have no baseline; drop them.")
    g_obs = np.where(g_obs > waves[-1], 0, g_obs)
    if (g_obs == 0).sum() < 2:
        raise EstimationError("programme_effect needs at least two never-treated comparison communities.")
    if (g_obs > 0).sum() < 1:
        raise EstimationError("programme_effect needs at least one programme community.")
    return g_obs


def _dynamic_inference(a: np.ndarray, b: np.ndarray, ev: list[int], level: float):
    """RI p-values and intervals of the event-time effects (columns of a, b; row 0 observed)."""
    dyn_p, dyn_ci = [], []
    for j, e in enumerate(ev):
        ok = np.isfinite(a[:, j]) & np.isfinite(b[:, j])
        aj = np.where(ok, a[:, j], 0.0)
        bj = np.where(ok & (e >= 0), b[:, j], 0.0)  # pre-period placebo: D is 0 there
        dyn_p.append(_ri_p(aj, bj))
        if e >= 0 and bj[0] != 0:
            dyn_ci.append(_invert(aj, bj, level=level, block=BLOCK))
        else:  # placebo (pre-period) estimate: the band of estimates seen under reassignment
            q = np.quantile(np.abs(aj[1:]), level) if aj.size > 1 else np.nan
            dyn_ci.append((aj[0] - q, aj[0] + q))
    return np.array(dyn_p), np.array(dyn_ci)
