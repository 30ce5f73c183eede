"""Analytic GLS power (evalkit.evaluation.power) against published closed forms."""
import numpy as np
import pytest
from scipy import stats

from evalkit.errors import EstimationError
from evalkit.evaluation.power import (
    VarianceComponents, comparisons_needed, gls_variance, mde, parallel, power, registry_design,
    respondents_needed, stepped_wedge,
)


def hussey_hughes(X, sigma2, tau2):
    """Hussey & Hughes (2007) Contemp Clin Trials 28:182-191, eq. (8), written out from the paper.

    Var(theta) = I s2 (s2 + T t2) / ((I U - W) s2 + (U^2 + I T U - T W - I V) t2),
    U = sum_ij X_ij, W = sum_j (sum_i X_ij)^2, V = sum_i (sum_j X_ij)^2, s2 = cell-mean variance.
    """
    I, T = X.shape
    U = X.sum()
    W = (X.sum(axis=0) ** 2).sum()
    V = (X.sum(axis=1) ** 2).sum()
    return I * sigma2 * (sigma2 + T * tau2) / ((I * U - W) * sigma2 + (U * U + I * T * U - T * W - I * V) * tau2)


@pytest.mark.parametrize("I,T", [(4, 5), (12, 4), (24, 7), (6, 3)])
@pytest.mark.parametrize("tau2,gamma2", [(0.05, 0.0), (0.2, 0.03), (0.0, 0.1)])
def test_reduces_to_hussey_hughes_stepped_wedge(I, T, tau2, gamma2):
    vc = VarianceComponents(tau2=tau2, gamma2=gamma2, sigma2=1.3, deff=1.7, m=50)
    X = stepped_wedge(I, T)
    s2 = gamma2 + 1.3 * 1.7 / 50  # HH's sigma^2 of a cell mean, with the community-by-wave part
    assert gls_variance(X, vc) == pytest.approx(hussey_hughes(X, s2, tau2), rel=1e-10)


def test_hussey_hughes_power_is_normal_approximation():
    # HH eq. (9): power = Phi(theta / sqrt(Var) - z_{1-alpha/2}) (+ the negligible other tail)
    vc = VarianceComponents(tau2=0.02, gamma2=0.0, sigma2=1.0, m=20)
    X = stepped_wedge(12, 4)
    se = np.sqrt(hussey_hughes(X, 1.0 / 20, 0.02))
    expect = stats.norm.cdf(0.3 / se - stats.norm.ppf(0.975)) + stats.norm.cdf(-0.3 / se - stats.norm.ppf(0.975))
    assert power(0.3, X, vc, df=np.inf) == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize("I", [4, 8, 14, 40])
def test_two_period_parallel_is_ancova_formula(I):
    # Parallel cluster trial with a baseline: Var = 4 S (1 - rho^2) / I, S = tau2 + s2, rho = tau2 / S
    # (Teerenstra, Eldridge, Graff, de Hoop & Borm 2012, Stat Med 31:2169, eq. for cluster-level ANCOVA).
    tau2, s2 = 0.3, 0.05
    vc = VarianceComponents(tau2=tau2, gamma2=0.02, sigma2=3.0, m=100)
    s2 = 0.02 + 3.0 / 100
    S, rho = tau2 + s2, tau2 / (tau2 + s2)
    assert gls_variance(parallel(I // 2, I // 2, pre=1, post=1), vc) == pytest.approx(4 * S * (1 - rho ** 2) / I, rel=1e-10)
    # and without baseline, the plain cluster-trial variance 4 (tau2 + s2) / I (Donner & Klar 2000)
    assert gls_variance(parallel(I // 2, I // 2, pre=0, post=1), vc) == pytest.approx(4 * S / I, rel=1e-10)


def test_t_power_and_mde_agree():
    vc = VarianceComponents(tau2=0.1, gamma2=0.01, sigma2=1.0, deff=1.5, m=80)
    X = parallel(7, 7, pre=2, post=2)
    d = mde(X, vc, power=0.8)
    assert power(d, X, vc) == pytest.approx(0.8, abs=1e-8)
    # normal MDE is Bloom's (z_{.975} + z_{.8}) se; the t one (df = 14 - 2) is larger
    se = np.sqrt(gls_variance(X, vc))
    # (Bloom drops the wrong-sign tail, Phi(-z - d) ~ 1e-6 here, so agreement to 1e-5)
    assert mde(X, vc, df=np.inf) == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * se, rel=1e-5)
    assert d > mde(X, vc, df=np.inf)
    assert power(0.0, X, vc) == pytest.approx(0.05, abs=1e-12)  # size at the null


def test_missing_cells_and_registry_design():
    reg = {"a": 2015, "b": 2016, "c": None, "d": None, "e": None}
    X = registry_design(reg, [2014, 2015, 2016, 2017])
    assert X.loc["a"].tolist() == [0, 1, 1, 1] and X.loc["c"].sum() == 0
    import pandas as pd  # a registry table as load_communities gives it: nullable Int64 start years
    frame = pd.DataFrame({"community_id": list(reg), "start_year": pd.array(list(reg.values()), dtype="Int64")})
    assert registry_design(frame, [2014, 2015, 2016, 2017]).equals(X)
    vc = VarianceComponents(tau2=0.1, gamma2=0.02, sigma2=1.0, m=100)
    full = gls_variance(X, vc)
    Xm = X.copy()
    Xm.loc["a", 2017] = np.nan  # a cell not surveyed loses information
    assert gls_variance(Xm, vc) > full
    # a design without any treated cell identifies nothing
    assert gls_variance(X.loc[["c", "d", "e"]], vc) == np.inf


def test_design_helpers_answer_the_questions():
    vc = VarianceComponents(tau2=0.1, gamma2=0.01, sigma2=1.0, m=100)
    X = parallel(1, 7, pre=1, post=1)
    m = respondents_needed(0.6, X, vc)
    assert power(0.6, X, vc, m=m) >= 0.8 > power(0.6, X, vc, m=m - 1)
    # shocks cap the power: a tiny effect cannot be reached by interviewing more residents
    assert respondents_needed(0.05, X, vc) == np.inf
    # one treated community: with endless comparisons se -> sqrt(2 (gamma2 + s2)) = 0.2, so 0.6 is reachable
    k = comparisons_needed(0.6, X, vc)
    Xk = np.vstack([X, np.zeros((int(k), 2))])
    Xk1 = np.vstack([X, np.zeros((int(k) - 1, 2))])
    assert k >= 1 and power(0.6, Xk, vc) >= 0.8 > power(0.6, Xk1, vc)
    assert comparisons_needed(0.3, X, vc) == np.inf


def test_bad_input_is_a_clear_error():
    vc = VarianceComponents(tau2=0.1, gamma2=0.0, sigma2=1.0)
    with pytest.raises(EstimationError, match="use 0"):
        gls_variance(np.array([[0, 2], [0, 0]]), vc)
    with pytest.raises(EstimationError, match="tau2"):
        VarianceComponents(tau2=-1, gamma2=0, sigma2=1)
    with pytest.raises(EstimationError, match="multiple"):
        stepped_wedge(5, 3)


def _toy_survey(seed, I=40, T=4, n=120, tau2=0.3, gamma2=0.05, sigma2=1.0, effect=1.0):
    """Respondents of I communities x T waves, one stratum per community, respondents as PSUs."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    a = rng.normal(0, np.sqrt(tau2), I)
    ab = rng.normal(0, np.sqrt(gamma2), (I, T))
    c = np.repeat(np.arange(I), T * n)
    t = np.tile(np.repeat(np.arange(T), n), I)
    start = {i: (2 if i < I // 2 else None) for i in range(I)}  # half start in wave 2
    treated = np.array([start[i] is not None and w >= start[i] for i, w in zip(c, t)])
    y = 0.1 * t + a[c] + ab[c, t] + rng.normal(0, np.sqrt(sigma2), c.size) + effect * treated
    d = pd.DataFrame({"community_id": [f"c{i}" for i in c], "wave": 2014 + t, "y": y,
                      "w": 1.0, "psu": np.arange(c.size)})
    reg = {f"c{i}": (None if s is None else 2014 + s) for i, s in start.items()}
    return d, reg


def test_variance_components_recover_the_truth():
    from evalkit.evaluation.power_components import variance_components
    from evalkit.survey.design import SurveyDesign

    d, reg = _toy_survey(3)
    vc = variance_components(SurveyDesign(d, "w", strata="community_id", psu="psu"), "y", registry=reg)
    # truth tau2 = 0.3, gamma2 = 0.05, sigma2 = 1, deff = 1 (simple random sample); the planted
    # effect of 1.0 in treated cells must not leak in. Tolerances ~3 SE of REML with 40 communities
    # (tau2: sqrt(2/39) = 23% relative; gamma2 from ~100 cell residuals: ~25%).
    assert vc.tau2 == pytest.approx(0.3, rel=0.6)
    assert vc.gamma2 == pytest.approx(0.05, rel=0.6)
    assert vc.sigma2 == pytest.approx(1.0, rel=0.05)
    assert vc.deff == pytest.approx(1.0, rel=0.1)
    assert vc.m == 120


def test_did_variance_is_the_estimator_variance():
    from evalkit.evaluation.power_components import did_variance

    # Monte Carlo of the DiD contrast itself under the model: (1 + 1/K) 2 gamma2 + 2 s2 (1 + 1/K)
    vc = VarianceComponents(tau2=0.5, gamma2=0.04, sigma2=1.0, deff=1.3, m=90)
    K, R = 7, 200_000
    rng = np.random.default_rng(11)
    s2 = vc.cell_variance()
    cells = rng.normal(0, np.sqrt(vc.gamma2 + s2), (R, K + 1, 2)) + rng.normal(0, np.sqrt(vc.tau2), (R, K + 1, 1))
    ch = cells[:, :, 1] - cells[:, :, 0]
    did = ch[:, 0] - ch[:, 1:].mean(axis=1)
    v = did_variance(vc, K)
    assert np.var(did) == pytest.approx(v, rel=4 * np.sqrt(2 / R))  # 4 SE of a sample variance


def test_simulated_power_is_reproducible_across_workers_and_near_analytic():
    from evalkit.evaluation.power_sim import simulated_power
    from evalkit.survey.design import SurveyDesign

    d, reg = _toy_survey(1, I=12, T=3, n=60)
    design = SurveyDesign(d, "w", strata="community_id", psu="psu")
    vc = VarianceComponents(tau2=0.2, gamma2=0.01, sigma2=1.0, deff=1.0, m=60)
    one = simulated_power(design, vc, registry=reg, effect=0.5, n_sims=60, seed=7, workers=1, batch=20)
    two = simulated_power(design, vc, registry=reg, effect=0.5, n_sims=60, seed=7, workers=2, batch=20)
    assert one.table.equals(two.table)  # same draws whatever the number of processes
    t = one.table
    assert set(t["n_sims"]) == {60} and len(t) == 6  # 6 programme communities x their post wave 2016
    # the simulated estimator is unbiased for the planted effect: within 4 SE of 60 draws (the
    # rows share the comparison communities' draws, so no credit is taken for averaging them)
    assert abs(t["mean_estimate"].mean() - 0.5) < 4 * t["sd_estimate"].mean() / np.sqrt(60)
    assert t["analytic"].between(0, 1).all() and t["power"].between(0, 1).all()


def test_did_power_and_mde_and_target_table():
    import pandas as pd

    from evalkit.evaluation.power_components import did_mde, did_power, did_variance, target_mdes
    from evalkit.survey.design import SurveyDesign

    vc = VarianceComponents(tau2=0.06, gamma2=0.008, sigma2=0.56, deff=1.25, m=300)
    d = did_mde(vc, 7, shock_pairs=1)
    assert did_power(d, vc, 7, shock_pairs=1) == pytest.approx(0.8, abs=1e-6)
    # at the null the t test on an estimated shock variance (1 wave pair, K = 7) is a little liberal
    # in this model; studies/power_check_results.md measures the simulated size of community_effects
    assert 0.05 <= did_power(0.0, vc, 7) < 0.1
    assert did_power(0.0, vc, 7, shock_pairs=3) < did_power(0.0, vc, 7)
    # pooling the shock over more wave pairs can only help; more comparisons too
    assert did_mde(vc, 7, shock_pairs=3) < d and did_mde(vc, 20) < d
    # with no shocks the DiD's variance is pure sampling error: 2 s2 (1 + 1/K)
    assert did_variance(VarianceComponents(0.1, 0.0, 1.0, m=100), 4) == pytest.approx(2 * 0.01 * 1.25)
    # the target table on a toy survey: one row per (community, target), base wave, finite MDE
    data, reg = _toy_survey(2, I=12, T=3, n=60)
    design = SurveyDesign(data, "w", strata="community_id", psu="psu")
    targets = pd.DataFrame({"community_id": ["c0", "c1"], "indicator": ["y", "y"], "group": [None, None]})
    tab = target_mdes(design, targets, registry=reg)
    assert tab["community_id"].tolist() == ["c0", "c1"] and (tab["base_wave"] == 2015).all()
    assert (tab["wave"] == 2016).all() and np.isfinite(tab["mde"]).all() and (tab["mde"] > 0).all()


def test_estimated_shock_shares_lower_the_reported_df():
    """did_df's shock df with estimated relative shock variances against community_effects' machinery.

    The comparison changes of K = 7 communities over all pairs of 3 or 4 waves are drawn from the
    model, with shocks large (gamma2 = 0.008) or small (0.002) against the cell variance (0.0024);
    ``_relative_shock`` and ``_scatter_df`` (the code community_effects runs) give the df it reports
    for changes one wave apart. did_df's closed form (``relative_shock_cv2``, a moment
    approximation) must be within 10% of their mean, and well below the ``K - 1`` per pair of known
    shares.
    """
    from evalkit.evaluation.comparison import _relative_shock, _scatter_df
    from evalkit.evaluation.power_components import _shock_df, did_df, relative_shock_cv2

    K, s = 7, 0.0024
    rng = np.random.default_rng(2)
    ctr = [f"k{i}" for i in range(K)]
    for W in (3, 4):
        for g2 in (0.008, 0.002):
            got = []
            for _ in range(400):
                y = rng.normal(0, np.sqrt(g2 + s), (K, W))
                pairs = [(t - b, ctr, y[:, t] - y[:, b], np.full(K, 2 * s)) for b in range(W) for t in range(b + 1, W)]
                lam = np.array(list(_relative_shock(pairs, dict.fromkeys(range(1, W), 2 * g2), ctr).values()))
                got.append(sum(_scatter_df(v + 2 * g2 * lam, 0.0) for gap, _, _, v in pairs if gap == 1))
            vc = VarianceComponents(tau2=0.05, gamma2=g2, sigma2=s * 300, m=300)  # cell variance s
            shock_df = _shock_df(vc, K, None, W - 1, W)  # the shock part of did_df's denominator
            assert shock_df == pytest.approx(np.mean(got), rel=0.10), (W, g2)
            assert shock_df < 0.9 * (W - 1) * (K - 1)
            assert _shock_df(vc, K, None, W - 1, None) == (W - 1) * (K - 1)  # known shares: K - 1 per pair
    # known shares (None) add no spread; more waves estimate the shares better
    assert relative_shock_cv2(K, None) == 0.0 and relative_shock_cv2(K, 6) < relative_shock_cv2(K, 4)
    # the design df of each community's sampling variance lowers the df further
    assert did_df(vc, K, shock_pairs=1, n_waves=4, df_treated=11, df_comparison=9) < did_df(vc, K, shock_pairs=1,
                                                                                            n_waves=4)


def test_analytic_power_agrees_with_simulation_on_the_shipped_design():
    """did_power (estimated shock shares, design df) against 400 simulated evaluations of the shipped
    design at the analytic MDE of a gap-3 comparison, per gap: within 3 Monte Carlo SEs (the rows of
    a gap share the comparison communities' draws, so the largest row SE stands for the average's).
    A consistency check, too small to tell a 0.04 error apart; studies/power_check.py (1000 draws x 3
    indicators, results in studies/power_check_results.md) is the sharp one."""
    import warnings

    import pandas as pd

    from evalkit.datasets import dongying_survey
    from evalkit.evaluation.comparison import base_wave
    from evalkit.evaluation.power_components import (
        comparison_design_df, design_dfs, did_mde, gap_pairs, variance_components)
    from evalkit.evaluation.power_sim import simulated_power
    from evalkit.survey.design import SurveyDesign

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study, survey = dongying_survey()  # the shipped survey, scored
        design = SurveyDesign.from_study(survey, study)
    reg = study.registry
    starts = dict(zip(reg["community_id"], reg["start_year"]))
    controls = [c for c, g in starts.items() if pd.isna(g)]
    waves = sorted(design.data["wave"].astype(float).unique())
    dfs = design_dfs(design)
    vc = variance_components(design, "bscs", registry=reg)
    eff = did_mde(vc, len(controls), shock_pairs=gap_pairs(waves, 2014, 2017), n_waves=len(waves),
                  df_treated=dfs["anning"], df_comparison=comparison_design_df(dfs, controls))
    t = simulated_power(design, vc, registry=reg, effect=eff, n_sims=400, seed=99, workers=1).table
    t["gap"] = [w - base_wave(int(starts[c]), waves) for c, w in zip(t["community_id"], t["wave"])]
    for gap, g in t.groupby("gap"):
        assert abs(g["power"].mean() - g["analytic"].mean()) < 3 * g["mc_se"].max(), (gap, g)


def test_did_power_matches_community_effects_own_code_on_model_cell_means():
    """did_power against community_effects' own estimation code run on cell means drawn from the model.

    One programme community (start 2015, base 2014) and 7 comparison communities in 4 waves; cell
    means ``ab + e`` and, as a design with the same PSUs in every wave estimates it, each
    community's 4 x 4 sampling covariance drawn as ``s W / df`` (W Wishart with the design df 11 or
    7 of the shipped communities), passed to the code community_effects runs after its design step (``_Changes``,
    ``_indicator_rows``: Paule-Mandel shock variances, relative shock shares, Welch df). 1,500 draws
    at did_power's 80% MDE of the 2014-2017 comparison: the rejection rate of every gap within 3
    Monte Carlo SEs of did_power (the old model, shares taken as known, said 0.84 at gap 3).
    """
    import pandas as pd
    from scipy import stats

    from evalkit.evaluation.comparison import _Changes, _indicator_rows
    from evalkit.evaluation.power_components import did_mde, did_power

    vc = VarianceComponents(tau2=0.0589, gamma2=0.00837, sigma2=0.565, deff=1.25, m=300)  # bscs-like
    K, waves, s = 7, [2014, 2015, 2016, 2017], vc.cell_variance()
    comms = ["p"] + [f"k{i}" for i in range(K)]
    dof = {"p": 11, **{c: (11 if i < 4 else 7) for i, c in enumerate(comms[1:])}}
    df_k = K / sum(1 / dof[c] for c in comms[1:])
    kw = dict(m_treated=300, n_waves=4, df_treated=11, df_comparison=df_k)
    eff = did_mde(vc, K, shock_pairs=1, **kw)
    starts = {"p": 2015, **dict.fromkeys(comms[1:])}
    cells = pd.DataFrame([(c, float(w)) for c in comms for w in waves], columns=["community_id", "wave"])
    cells["n"] = 300
    rng = np.random.default_rng(4)
    R, hits = 1500, {1: 0, 2: 0, 3: 0}
    treated = ((cells["community_id"] == "p") & (cells["wave"] >= 2015)).to_numpy()
    for _ in range(R):
        cells["estimate"] = rng.normal(0, np.sqrt(vc.gamma2 + s), len(cells)) + eff * treated
        V = np.zeros((len(cells), len(cells)))
        for i, c in enumerate(comms):  # cells are in community-major order, 4 waves each
            A = rng.normal(size=(dof[c], 4))
            V[4 * i:4 * i + 4, 4 * i:4 * i + 4] = s * A.T @ A / dof[c]
        for r in _indicator_rows(_Changes(cells, V, "community_id", "wave"), "y", starts, dof, "community_id", "wave"):
            gap = r["wave"] - r["base_wave"]
            hits[gap] += abs(r["estimate"]) / r["se"] > stats.t.ppf(0.975, r["df"])
    for gap, pairs in ((1, 3), (2, 2), (3, 1)):
        p = did_power(eff, vc, K, shock_pairs=pairs, **kw)
        assert abs(hits[gap] / R - p) < 3 * np.sqrt(p * (1 - p) / R), (gap, hits[gap] / R, p)
