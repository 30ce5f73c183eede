"""Pooled programme effect: equals att_gt on the community panel; randomization inference is exact.

References: the brute-force enumerations below recompute the estimate with :func:`evalkit.att_gt`
(an independent implementation of the same estimator) under every reassignment of start years,
listed by ``itertools.permutations``; p-values and intervals are then counted plainly.
"""
import itertools
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.evaluation import impact
from evalkit.inference import permutation
from evalkit.evaluation.impact import ImpactResult, community_panel, programme_effect
from evalkit.results import Result, check_vocabulary
from evalkit.spec.study import Roles, Study


def _long(panel, starts):
    df = panel.stack().rename("y").reset_index()
    df.columns = ["community", "wave", "y"]
    df["g"] = df["community"].map(starts)
    df["unit"] = pd.factorize(df["community"], sort=True)[0]
    return df


def _panel(rng, K=10, waves=(2014, 2015, 2016, 2017), effect=0.0, starts=None):
    comms = [f"c{i:02d}" for i in range(K)]
    base = rng.normal(0, 1, (K, 1)) + rng.normal(0, 0.3, (K, len(waves))) + np.arange(len(waves)) * 0.1
    Y = pd.DataFrame(base, index=comms, columns=list(waves))
    for c, g in starts.items():
        if g:
            Y.loc[c, [w for w in waves if w >= g]] += effect
    return Y


def _treatment(Y, starts):
    """The observed treatment pattern D (1 in programme years) as a table like Y."""
    return pd.DataFrame({w: [1.0 if g and w >= g else 0.0 for g in starts.values()] for w in Y.columns},
                        index=Y.index)


def _att(Y, starts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = evalkit.att_gt(_long(Y, starts), y="y", group="g", time="wave", unit="unit", control="never")
    return a.aggregate("simple").overall_att


def _count_p(T, T_obs):
    """Plain two-sided RI p-value: share of |T*| >= |T| (relative tie tolerance 1e-10)."""
    return np.mean(np.abs(T) >= (1 - 1e-10) * abs(T_obs))


STARTS10 = {"c00": 2015, "c01": 2015, "c02": 2016, "c03": 2016, "c04": 2016,
            "c05": 0, "c06": 0, "c07": 0, "c08": 0, "c09": 0}
# 7 communities, 2 start in 2016, 2 in 2017, 3 never: 7!/(2!2!3!) = 210 distinct assignments.
STARTS7 = {"c00": 2016, "c01": 2016, "c02": 2017, "c03": 2017, "c04": 0, "c05": 0, "c06": 0}


# 10 communities, 3 start in 2016, 7 never: C(10, 3) = 120 assignments, so p = 6/120 equals
# alpha = 0.05 exactly next to the interval's ends (p must exceed alpha to be inside).
STARTS_ONE = {f"c{i:02d}": (2016 if i < 3 else 0) for i in range(10)}


def _brute(starts, seed):
    """An example panel Y, its treatment D, and att_gt of Y and of D under every reassignment."""
    Y = _panel(np.random.default_rng(seed), K=len(starts), waves=(2015, 2016, 2017), effect=0.4, starts=starts)
    D = _treatment(Y, starts)
    perms = sorted(set(itertools.permutations(starts.values())))
    obs = perms.index(tuple(starts.values()))
    perms = [perms[obs]] + perms[:obs] + perms[obs + 1:]  # observed first
    sy = np.array([_att(Y, dict(zip(starts, p))) for p in perms])
    sd = np.array([_att(D, dict(zip(starts, p))) for p in perms])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = programme_effect(Y, "y", registry=starts)
    return starts, Y, D, perms, sy, sd, r


@pytest.fixture(scope="module")
def small():
    """The 7-community example (210 assignments), enumerated by brute force."""
    return _brute(STARTS7, 7)


@pytest.fixture(scope="module", params=["two cohorts", "one cohort"])
def brute(request, small):
    return small if request.param == "two cohorts" else _brute(STARTS_ONE, 5)


def test_equals_att_gt_on_the_community_panel():
    rng = np.random.default_rng(1)
    Y = _panel(rng, effect=0.5, starts=STARTS10)
    with pytest.warns(evalkit.FewClustersWarning, match="10 communities"):
        r = programme_effect(Y, "y", registry=STARTS10, n_perm=199)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = evalkit.att_gt(_long(Y, STARTS10), y="y", group="g", time="wave", unit="unit", control="never")
    assert r.simple == pytest.approx(a.aggregate("simple").overall_att, abs=1e-12)
    dyn = a.aggregate("dynamic").tidy()
    np.testing.assert_allclose(r.dynamic, dyn["estimate"], atol=1e-12)
    assert list(r.event_times) == dyn["event_time"].tolist()


def test_exact_p_value_by_brute_force(brute):
    starts, Y, D, perms, sy, sd, r = brute
    assert len(perms) == len(set(perms)) == {7: 210, 10: 120}[len(starts)]
    assert r.exact and r.n_assignments == r.n_possible == len(perms)
    assert r.simple == pytest.approx(sy[0], abs=1e-12)
    assert r.p_value == pytest.approx(_count_p(sy, sy[0]), abs=1e-15)
    # and for a null other than zero: the outcomes Y - tau D, enumerated afresh
    tau = 0.25
    s_tau = np.array([_att(Y - tau * D, dict(zip(starts, p))) for p in perms])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r_tau = programme_effect(Y - tau * D, "y", registry=starts)
    assert r_tau.p_value == pytest.approx(_count_p(s_tau, s_tau[0]), abs=1e-15)


def test_interval_by_test_inversion_matches_brute_force(brute):
    starts, Y, D, perms, sy, sd, r = brute
    lo, hi = r.ci
    assert lo < r.simple < hi and np.isfinite(lo) and np.isfinite(hi)

    def p_brute(tau):  # att_gt is linear in the outcome: the estimate of Y - tau D is sy - tau sd
        T = sy - tau * sd
        return _count_p(T, T[0])

    eps = 1e-9 * (hi - lo)
    assert p_brute(lo + eps) > 0.05 >= p_brute(lo - eps)
    assert p_brute(hi - eps) > 0.05 >= p_brute(hi + eps)
    # every tau on a fine grid that is not rejected lies inside the interval, and the interval's
    # ends are the outermost non-rejected grid points to within the grid step
    grid = np.linspace(r.simple - 3, r.simple + 3, 60001)
    accepted = grid[np.array([p_brute(t) > 0.05 for t in grid])]
    step = grid[1] - grid[0]
    assert lo - step <= accepted.min() and accepted.max() <= hi + step
    assert accepted.min() - lo < step and hi - accepted.max() < step
    # the same boundary with the estimate recomputed by att_gt on Y - tau D (no linearity used)
    for tau, inside in [(lo + eps, True), (lo - 1e-6, False), (hi - eps, True), (hi + 1e-6, False)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = programme_effect(Y - tau * D, "y", registry=starts).p_value
        assert (p > 0.05) == inside, (tau, p)


def test_ties_count_including_the_observed_and_its_mirror_image():
    # One cohort of 3 among 6 communities: swapping programme and comparison communities gives
    # exactly minus the observed estimate, so with a large effect p = 2/20 (not 1/20).
    starts = {f"c{i:02d}": (2016 if i < 3 else 0) for i in range(6)}
    Y = _panel(np.random.default_rng(11), K=6, waves=(2015, 2016, 2017), effect=5.0, starts=starts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = programme_effect(Y, "y", registry=starts)
    assert r.exact and r.n_assignments == 20
    assert r.p_value == pytest.approx(2 / 20, abs=1e-15)
    # the mirror image ties the observed at every tau, so p(tau) >= 0.1 > 0.05 everywhere
    assert r.ci == (-np.inf, np.inf)


def test_enumeration_lists_each_distinct_assignment_once_in_any_block_size():
    g = np.array([2016, 2016, 2017, 0, 0, 2017, 0, 2016])
    expected = set(itertools.permutations(g.tolist()))
    assert permutation.n_arrangements(g) == len(expected) == 560
    for block in (1, 7, 64, 560, 10_000):
        rows = np.vstack(list(permutation.all_arrangements(g, block)))
        assert max(len(b) for b in permutation.all_arrangements(g, block)) <= block
        assert rows.shape == (560, 8) and set(map(tuple, rows.tolist())) == expected


@pytest.mark.parametrize("block", [1, 13, 100, 4096])
def test_blocked_result_equals_the_unblocked_one(small, monkeypatch, block):
    _, Y, *_, r = small
    monkeypatch.setattr(impact, "BLOCK", block)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rb = programme_effect(Y, "y", registry=STARTS7)
        r_rand = programme_effect(Y, "y", registry=STARTS7, n_perm=150, seed=3)
    monkeypatch.setattr(impact, "BLOCK", 10**6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r_rand1 = programme_effect(Y, "y", registry=STARTS7, n_perm=150, seed=3)
    pd.testing.assert_frame_equal(rb.tidy(), r.tidy(), check_exact=True)
    pd.testing.assert_frame_equal(r_rand.tidy(), r_rand1.tidy(), check_exact=True)


def test_random_draws_above_the_enumeration_limit_and_says_so(small, monkeypatch):
    _, Y, *_ = small
    monkeypatch.setattr(impact, "MAX_EXACT", 209)
    monkeypatch.setattr(impact, "N_RANDOM", 99)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = programme_effect(Y, "y", registry=STARTS7, seed=1)
        forced = programme_effect(Y, "y", registry=STARTS7, n_perm=210)   # asked: enumerate
        fewer = programme_effect(Y, "y", registry=STARTS7, n_perm=50)     # asked: 50 draws
    assert not r.exact and r.n_assignments == 100 and r.n_possible == 210
    assert "99 random assignments and the observed one, of 210 possible" in r.method
    assert forced.exact and forced.n_assignments == 210 and "all 210 assignments, exact" in forced.method
    assert not fewer.exact and fewer.n_assignments == 51


def test_shipped_data_default_is_exact_over_120120_assignments(survey, codebook, registry):
    design = evalkit.SurveyDesign(evalkit.score(survey, codebook), weight="base_weight", strata="stratum", psu="psu")
    with pytest.warns(evalkit.FewClustersWarning, match="14 communities"):
        r = programme_effect(design, "selforg_member", study=Study(codebook, registry))
    # 14 communities, 4 starting in 2015, 3 in 2016, 7 never: 14!/(4! 3! 7!) = 120,120
    assert r.exact and r.n_assignments == r.n_possible == 120_120
    assert "all 120,120 assignments, exact" in r.method and "exact" in r.summary
    t = r.tidy()
    assert set(t["type"]) == {"simple", "dynamic"} and (t["n_assignments"] == 120_120).all() and t["exact"].all()
    assert r.ci[0] <= r.simple <= r.ci[1]
    assert r.p_value >= 1 / 120_120


def test_peak_memory_of_the_shipped_exact_test_is_bounded(survey, codebook, registry):
    # Before blocking, the 120,120 assignments took 5.1 GB (a 2,401 x 120,120 grid matrix).
    # Peak of the memory allocated by programme_effect itself (tracemalloc traces numpy's buffers).
    design = evalkit.SurveyDesign(evalkit.score(survey, codebook), weight="base_weight", strata="stratum", psu="psu")
    panel = impact.community_panel(design, "selforg_member")
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = programme_effect(panel, "selforg_member", registry=registry)
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert r.exact and r.n_assignments == 120_120
    assert peak_mb < 100, f"peak {peak_mb:.0f} MB"


def test_null_rejection_rate_and_coverage_in_simulation():
    # 150 simulated 14-community panels, 7 programme communities; RI is exact under the null,
    # so rejection at 5% should be about 5% (binomial SE 1.8%) and coverage about 95%.
    rng = np.random.default_rng(2017)
    starts = {f"c{i:02d}": (2015 if i < 4 else 2016 if i < 7 else 0) for i in range(14)}
    rej, cover = 0, 0
    reps = 150
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(reps):
            Y0 = _panel(rng, K=14, starts=starts, effect=0.0)
            rej += programme_effect(Y0, "y", registry=starts, n_perm=99, seed=int(rng.integers(1e9))).p_value <= 0.05
            Y1 = _panel(rng, K=14, starts=starts, effect=0.3)
            lo, hi = programme_effect(Y1, "y", registry=starts, n_perm=99, seed=int(rng.integers(1e9))).ci
            cover += lo <= 0.3 <= hi
    assert 0.02 <= rej / reps <= 0.09
    assert 0.90 <= cover / reps <= 0.99


def test_errors():
    Y = _panel(np.random.default_rng(0), starts=STARTS10)
    with pytest.raises(evalkit.EstimationError, match="never-treated"):
        programme_effect(Y, "y", registry={c: 2016 for c in STARTS10})
    Y2 = Y.copy()
    Y2.iloc[0, 1] = np.nan  # one community misses a wave: left out, with a warning
    with pytest.warns(evalkit.DroppedUnitsWarning, match="balanced panel"), \
            pytest.warns(evalkit.FewClustersWarning):  # 9 communities remain
        programme_effect(Y2, "y", registry=STARTS10, n_perm=99)
    Y2.iloc[:, 1] = np.nan  # no community has every wave: an error
    with pytest.raises(evalkit.EstimationError, match="balanced"):
        programme_effect(Y2, "y", registry=STARTS10)
    for bad in (0, -5, 2.5, True):
        with pytest.raises(evalkit.EstimationError, match="n_perm must be a positive integer"):
            programme_effect(Y, "y", registry=STARTS10, n_perm=bad)


def test_no_registry_and_no_study_is_a_clear_error():
    # generic code never falls back on the shipped registry
    Y = _panel(np.random.default_rng(0), starts=STARTS10)
    with pytest.raises(evalkit.EvalkitError, match=r"needs the programme start years: pass study="):
        programme_effect(Y, "y")
    with pytest.raises(evalkit.EvalkitError, match="needs an evalkit.Study"):
        programme_effect(Y, "y", study=STARTS10)


def test_result_is_frozen_and_follows_the_vocabulary(small):
    *_, r = small
    assert isinstance(r, Result) and isinstance(r, ImpactResult)
    with pytest.raises(AttributeError):
        r.simple = 0.0
    with pytest.raises(ValueError):
        r.dynamic[0] = 0.0          # read-only arrays
    t = check_vocabulary(r.tidy())
    assert list(t.columns) == impact.IMPACT_COLUMNS
    assert r.summary.startswith(f"y: overall ATT {r.simple:.4f}, 95% CI") and "event_time" in r.summary
    assert repr(r) == r.summary and "<table" in r._repr_html_()
    assert r.level == 0.95


def test_level_replaces_alpha_which_still_works_for_one_release(small):
    _, Y, *_, r = small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evalkit.FewClustersWarning)
        r90 = programme_effect(Y, "y", registry=STARTS7, level=0.9)
        with pytest.warns(FutureWarning, match="use level=0.9"):
            old = programme_effect(Y, "y", registry=STARTS7, alpha=0.1)
    pd.testing.assert_frame_equal(old.tidy(), r90.tidy(), check_exact=True)
    assert (r90.ci[1] - r90.ci[0]) < (r.ci[1] - r.ci[0]) and "90% CI" in r90.summary
    with pytest.warns(FutureWarning, match="use .level"):
        assert r90.alpha == 0.1
    with pytest.raises(evalkit.EvalkitError, match="level must be between 0 and 1"):
        programme_effect(Y, "y", registry=STARTS7, level=95)


def test_study_roles_name_the_columns_and_give_registry_and_seed(survey, codebook, registry):
    # The same survey with its own column names: the study's roles say which is which.
    names = {"community_id": "社区", "wave": "年份", "base_weight": "权数", "stratum": "层", "psu": "村组"}
    scored = evalkit.score(survey, codebook)
    own = scored.rename(columns=names)
    study = Study(codebook, registry, Roles(community="社区", wave="年份", weight="权数", strata="层", psu="村组"), seed=5)
    design = evalkit.SurveyDesign(scored, weight="base_weight", strata="stratum", psu="psu")
    panel = community_panel(own, "selforg_member", study=study)        # design built from the roles
    assert panel.index.name == "社区" and panel.columns.name == "年份"
    pd.testing.assert_frame_equal(panel, community_panel(design, "selforg_member"), check_names=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evalkit.FewClustersWarning)
        a = programme_effect(own, "selforg_member", study=study, n_perm=99)     # random: study seed 5
        b = programme_effect(design, "selforg_member", registry=registry, n_perm=99, seed=5)
        c = programme_effect(design, "selforg_member", registry=registry, n_perm=99)  # seed 2017
    pd.testing.assert_frame_equal(a.tidy(), b.tidy(), check_exact=True)
    assert not a.exact and (a.p_value, a.ci) != (c.p_value, c.ci)
    with pytest.raises(evalkit.EstimationError, match="respondent rows together with study="):
        community_panel(own, "selforg_member", community="社区", wave="年份")


def test_a_community_missing_a_wave_is_left_out_with_a_warning():
    """A withheld or unsurveyed community-wave must not stop the pooled estimate: that community is
    left out (named), and the result equals the estimate on the panel without it."""
    from evalkit.errors import DroppedUnitsWarning, FewClustersWarning
    from evalkit.survey.design import SurveyDesign

    study, survey = evalkit.datasets.dongying_survey()
    cut = survey[~((survey["community_id"] == "mingyue") & (survey["wave"] == 2016))]
    design = SurveyDesign.from_study(cut, study)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        with pytest.warns(DroppedUnitsWarning, match=r"mingyue: 2016"):
            r = programme_effect(design, "bscs", study=study, n_perm=999)
        full = community_panel(design, "bscs", study=study)
        ref = programme_effect(full.dropna(), "bscs", study=study, n_perm=999)
    assert "mingyue" not in r.panel.index and r.n_communities == 13
    assert r.simple == pytest.approx(ref.simple) and r.p_value == pytest.approx(ref.p_value)
