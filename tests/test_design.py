"""Tests of evalkit.survey.design: survey designs, domain estimation, raking.

Reference values come from R's survey package (Lumley) as published in
``tests/api.Rout.save`` / ``example(api)`` and ``example(rake)`` (listed in
shared/reference/README.md); data ``tests/data/apistrat.csv``, ``apiclus1.csv`` are R's
``data(api)``. Peer checks use samplics 0.6 ``TaylorEstimator``.
"""
from __future__ import annotations

import doctest
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evalkit.survey.calibration as calibration_module
import evalkit.survey.design as design_module
from evalkit.survey.design import SurveyDesign
from evalkit.errors import ConvergenceWarning, DesignError, EvalkitError, LonelyPSUWarning

POP_STYPE = {"E": 4421, "H": 755, "M": 1018}  # R example(rake): pop.types
POP_SCHWIDE = {"No": 1072, "Yes": 5122}  # R example(rake): pop.schwide


@pytest.fixture(scope="module")
def dstrat(apistrat) -> SurveyDesign:
    return SurveyDesign(apistrat, weight="pw", strata="stype", fpc="fpc")


@pytest.fixture(scope="module")
def dclus1(apiclus1) -> SurveyDesign:
    return SurveyDesign(apiclus1, weight="pw", psu="dnum", fpc="fpc")


@pytest.fixture(scope="module")
def dclus1r(dclus1) -> SurveyDesign:
    return dclus1.rake({"stype": POP_STYPE, "sch.wide": POP_SCHWIDE})


def one(frame: pd.DataFrame) -> pd.Series:
    assert len(frame) == 1
    return frame.iloc[0]


# --------------------------------------------------------------------------------------
# published R results
# --------------------------------------------------------------------------------------
def test_stratified_mean_and_total_match_r(dstrat):
    m = one(dstrat.mean("api00"))
    # R: svymean(~api00, dstrat) -> 662.29, SE 9.4089
    assert round(m.estimate, 2) == 662.29
    assert round(m.se, 4) == 9.4089
    t = one(dstrat.total("enroll"))
    # R: svytotal(~enroll, dstrat, na.rm=TRUE) -> 3687178, SE 114642
    assert round(t.estimate) == 3687178
    assert round(t.se) == 114642


def test_cluster_mean_and_total_match_r(dclus1):
    m = one(dclus1.mean("api00"))
    # R: svymean(~api00, dclus1) -> 644.17, SE 23.542
    assert round(m.estimate, 2) == 644.17
    assert round(m.se, 3) == 23.542
    t = one(dclus1.total("enroll"))
    # R: svytotal(~enroll, dclus1, na.rm=TRUE) -> 3404940, SE 932235
    assert round(t.estimate) == 3404940
    assert round(t.se) == 932235


def test_rake_matches_r(dclus1r):
    m = one(dclus1r.mean("api00"))
    # R example(rake): dclus1r <- rake(dclus1, list(~stype,~sch.wide), list(pop.types, pop.schwide))
    # svymean(~api00, dclus1r) -> 641.23, SE 23.704
    assert round(m.estimate, 2) == 641.23
    assert round(m.se, 3) == 23.704
    t = one(dclus1r.total("enroll"))
    # svytotal(~enroll, dclus1r) -> 3647280, SE 400603
    assert round(t.estimate) == 3647280
    assert round(t.se) == 400603
    info = dclus1r.weighting_info
    assert info.converged and info.max_rel_error < 1e-8
    assert list(info.margins.columns) == ["margin", "category", "target", "achieved", "rel_error"]


def test_rake_returns_new_design_and_keeps_old(dclus1, dclus1r):
    assert dclus1.weighting_info is None and not dclus1.is_calibrated
    assert dclus1r.is_calibrated
    # the uncalibrated design still gives R's uncalibrated answer
    assert round(one(dclus1.mean("api00")).se, 3) == 23.542
    w = dclus1r.weights
    st = dclus1r.data["stype"].to_numpy()
    for level, target in POP_STYPE.items():
        assert w[st == level].sum() == pytest.approx(target, rel=1e-8)  # tol=1e-8


def test_raked_totals_of_margin_indicators_have_zero_variance(dclus1r):
    # Calibration makes the estimated total of every margin level equal its population total
    # in every sample, so its linearisation variance is 0 (Deville & Sarndal 1992).
    p = dclus1r.proportion("stype")
    d = dclus1r.assign(one=1.0)  # same design, with a column of ones
    t = d.total("one", by="stype")
    assert np.allclose(t.estimate, [POP_STYPE[s] for s in t.stype])
    assert np.all(t.se < 1e-6 * t.estimate)
    assert np.allclose(p.estimate, [POP_STYPE[s] / 6194 for s in p.category])


# --------------------------------------------------------------------------------------
# result shape, intervals, deff
# --------------------------------------------------------------------------------------
def test_tidy_columns(dstrat):
    r = dstrat.mean(["api00", "api99"], by=["stype", "sch.wide"])
    assert list(r.columns) == ["stype", "sch.wide", "indicator", "estimate", "se", "df", "ci_low",
                               "ci_high", "n", "n_eff", "deff"]
    assert len(r) == 12
    p = dstrat.proportion("awards", by="stype")
    assert list(p.columns)[:3] == ["stype", "indicator", "category"]


def test_confidence_intervals_normal_default_and_design_df(dclus1):
    m = one(dclus1.mean("api00"))
    z = stats.norm.ppf(0.975)
    assert m.ci_low == pytest.approx(m.estimate - z * m.se)
    assert dclus1.degf == 14  # 15 PSUs, 1 stratum (R: degf(dclus1) = 14)
    t = one(dclus1.mean("api00", df="design", level=0.9))
    q = stats.t.ppf(0.95, 14)
    assert t.ci_high == pytest.approx(m.estimate + q * m.se)


def test_deff_is_one_under_simple_random_sampling():
    # Equal weights, no strata, no clusters: the design variance of a mean is s^2/n
    # (n/(n-1) * sum (y-ybar)^2 / n^2 = s^2/n), which is the SRS-with-replacement variance.
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"y": rng.normal(size=40), "w": 7.0})
    r = one(SurveyDesign(df, weight="w").mean("y"))
    assert r.deff == pytest.approx(1.0)
    assert r.n_eff == pytest.approx(40.0)
    assert r.se == pytest.approx(df.y.std(ddof=1) / np.sqrt(40))


def test_n_counts_non_missing_y_in_domain(apistrat):
    df = apistrat.copy()
    df.loc[df.index[:7], "api00"] = np.nan
    d = SurveyDesign(df, weight="pw", strata="stype", fpc="fpc")
    r = d.mean("api00", by="stype")
    expected = df.dropna(subset=["api00"]).groupby("stype").size()
    assert dict(zip(r.stype, r.n)) == expected.to_dict()


# --------------------------------------------------------------------------------------
# domain estimation consistency
# --------------------------------------------------------------------------------------
def _zeroed_mean_score(design: SurveyDesign, y: np.ndarray, inside: np.ndarray) -> np.ndarray:
    w = design.weights
    W = w[inside].sum()
    ybar = (w * y)[inside].sum() / W
    return np.where(inside, w * (y - ybar) / W, 0.0)


@pytest.mark.parametrize("which", ["dstrat", "dclus1", "dclus1r"])
def test_by_domain_equals_zeroed_scores_and_subset(request, which):
    d = request.getfixturevalue(which)
    r = d.mean("api00", by="stype")
    y = d.data["api00"].to_numpy(float)
    for _, row in r.iterrows():
        inside = (d.data["stype"] == row.stype).to_numpy()
        v = d.linearized_variance(_zeroed_mean_score(d, y, inside))
        assert row.se == pytest.approx(np.sqrt(v), rel=1e-10)
        s = one(d.subset(inside).mean("api00"))
        assert s.estimate == pytest.approx(row.estimate, rel=1e-12)
        assert s.se == pytest.approx(row.se, rel=1e-10)


def test_domain_se_differs_from_naive_subset_and_redesign(apiclus1, dclus1):
    # School types split districts (PSUs): in the domain design all 15 PSUs stay (those
    # without high schools contribute a zero score); re-declaring a design on the high-school
    # rows alone keeps only their districts, a different (wrong) variance.
    r = dclus1.mean("api00", by="stype").set_index("stype")
    high = apiclus1[apiclus1.stype == "H"]
    assert high.dnum.nunique() < apiclus1.dnum.nunique()
    naive = one(SurveyDesign(high, weight="pw", psu="dnum", fpc="fpc").mean("api00"))
    assert naive.estimate == pytest.approx(r.loc["H", "estimate"])
    assert abs(naive.se - r.loc["H", "se"]) > 0.02 * r.loc["H", "se"]  # 39.45 vs 38.02
    # for a total the 7 districts without high schools (PSU total 0) matter much more
    t = dclus1.total("enroll", by="stype").set_index("stype")
    naive_t = one(SurveyDesign(high, weight="pw", psu="dnum", fpc="fpc").total("enroll"))
    assert naive_t.estimate == pytest.approx(t.loc["H", "estimate"])
    assert abs(naive_t.se - t.loc["H", "se"]) > 0.1 * t.loc["H", "se"]  # 190,846 vs 226,717


def test_missing_y_is_a_domain_not_dropped_rows(apiclus1):
    df = apiclus1.copy()
    first_district = df.dnum.iloc[0]
    df.loc[df.dnum == first_district, "api00"] = np.nan  # a whole PSU missing
    d = SurveyDesign(df, weight="pw", psu="dnum", fpc="fpc")
    r = one(d.mean("api00"))
    s = one(d.subset(df.api00.notna().to_numpy()).mean("api00"))
    assert r.se == pytest.approx(s.se, rel=1e-12)
    # dropping the rows would leave 14 PSUs and a different variance
    dropped = one(SurveyDesign(df.dropna(subset=["api00"]), weight="pw", psu="dnum",
                               fpc="fpc").mean("api00"))
    assert not np.isclose(dropped.se, r.se, rtol=1e-6)


def test_proportion_of_binary_equals_mean_of_indicator(dstrat, apistrat):
    p = dstrat.proportion("awards", by="stype")
    p = p[p.category == "Yes"].reset_index(drop=True)
    d2 = dstrat.assign(aw=(apistrat.awards == "Yes").astype(float))
    m = d2.mean("aw", by="stype")
    for col in ["estimate", "se", "deff", "n"]:
        assert np.allclose(p[col].to_numpy(float), m[col].to_numpy(float), rtol=1e-12)


def test_assign_keeps_design_and_protects_design_columns(dclus1r):
    d = dclus1r.assign(api_diff=lambda x: x["api00"] - x["api99"])
    assert d.is_calibrated and np.array_equal(d.weights, dclus1r.weights)
    assert "api_diff" not in dclus1r.data.columns
    with pytest.raises(DesignError, match="pw"):
        dclus1r.assign(pw=1.0)


def test_domain_with_all_y_missing_gives_nan(apistrat):
    df = apistrat.copy()
    df.loc[df.stype == "H", "api00"] = np.nan
    r = SurveyDesign(df, weight="pw", strata="stype", fpc="fpc").mean("api00", by="stype")
    h = r.set_index("stype").loc["H"]
    assert h.n == 0 and np.isnan(h.estimate) and np.isnan(h.se)
    assert r.set_index("stype").loc["E", "n"] == 100


def test_total_by_domain_sums_to_overall_total(dstrat):
    by = dstrat.total("enroll", by="stype")
    assert by.estimate.sum() == pytest.approx(one(dstrat.total("enroll")).estimate)


# --------------------------------------------------------------------------------------
# peer: samplics TaylorEstimator
# --------------------------------------------------------------------------------------
def _random_design_data(seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(6):
        for j in range(int(rng.integers(3, 9))):
            u = rng.normal()
            for _ in range(int(rng.integers(3, 25))):
                rows.append((f"s{h}", f"s{h}-p{j}", 1 + rng.gamma(2.0, 10.0),
                             50 + 5 * u + rng.normal(0, 10), int(rng.integers(0, 5)),
                             rng.choice(["a", "b", "c"])))
    df = pd.DataFrame(rows, columns=["st", "psu", "w", "y", "dom", "cat"])
    n_h = df.groupby("st").psu.nunique()
    df["N"] = df.st.map(n_h * 4)  # population PSUs per stratum (our fpc= convention)
    return df, n_h


@pytest.mark.parametrize("seed", [11, 12])
def test_agrees_with_samplics(seed):
    samplics = pytest.importorskip("samplics")
    from samplics.estimation import TaylorEstimator
    from samplics.utils.types import PopParam

    df, n_h = _random_design_data(seed)
    d = SurveyDesign(df, weight="w", strata="st", psu="psu", fpc="N")
    # samplics' fpc= is the *factor* (1 - n_h/N_h) per stratum multiplying the stratum
    # variance, not N_h; its domain= zeroes scores outside the domain and keeps every PSU
    # of the stratum (like R and evalkit), while its by= would re-declare the design per
    # group, so domain= is the like-for-like comparison. SEs only: samplics' intervals
    # use t with #PSU-#strata df (our df="design") and logit intervals for proportions.
    fpc = {s: 1 - n_h[s] / (4 * n_h[s]) for s in n_h.index}
    for param, ours in [(PopParam.mean, d.mean("y", by="dom")),
                        (PopParam.total, d.total("y", by="dom"))]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = TaylorEstimator(param)
            est.estimate(y=df.y, samp_weight=df.w, stratum=df.st, psu=df.psu, domain=df.dom,
                         fpc=fpc)
        keys = sorted(est.stderror)
        assert list(ours.dom) == keys
        assert np.allclose(ours.estimate, [est.point_est[k] for k in keys], rtol=0, atol=1e-8)
        assert np.allclose(ours.se, [est.stderror[k] for k in keys], rtol=0, atol=1e-8)
        if param is PopParam.mean:
            ci = d.mean("y", by="dom", df="design")
            assert np.allclose(ci.ci_low, [est.lower_ci[k] for k in keys], atol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = TaylorEstimator(PopParam.prop)
        est.estimate(y=df.cat, samp_weight=df.w, stratum=df.st, psu=df.psu, domain=df.dom,
                     fpc=fpc)
    ours = d.proportion("cat", by="dom", ci="logit", df="design")
    theirs = [est.stderror[k][lev] for k, lev in zip(ours.dom, ours.category)]
    assert np.allclose(ours.se, theirs, rtol=0, atol=1e-8)
    # samplics' proportion intervals: logit scale, t with #PSU - #strata df
    assert np.allclose(ours.ci_low, [est.lower_ci[k][lev] for k, lev in zip(ours.dom, ours.category)],
                       rtol=0, atol=1e-8)
    assert np.allclose(ours.ci_high, [est.upper_ci[k][lev] for k, lev in zip(ours.dom, ours.category)],
                       rtol=0, atol=1e-8)


# --------------------------------------------------------------------------------------
# lonely PSUs
# --------------------------------------------------------------------------------------
def _lonely_data() -> pd.DataFrame:
    # stratum "a": PSUs 1, 2 ; stratum "b": a single PSU 3
    return pd.DataFrame({
        "st": ["a", "a", "a", "a", "b", "b"],
        "psu": [1, 1, 2, 2, 3, 3],
        "w": [2.0, 2.0, 3.0, 3.0, 1.0, 1.0],
        "y": [1.0, 2.0, 4.0, 3.0, 10.0, 12.0],
    })


def test_lonely_psu_warns_and_adjust_formula():
    df = _lonely_data()
    with pytest.warns(LonelyPSUWarning, match="'b'"):
        d = SurveyDesign(df, weight="w", strata="st", psu="psu")
    assert d.lonely_strata == ["b"]
    r = one(d.total("y"))
    # hand computation: PSU totals of w*y: psu1 = 6, psu2 = 21, psu3 = 22.
    # stratum a: 2/1 * ((6-13.5)^2 + (21-13.5)^2) = 225; stratum b ("adjust", R survey >= 4.4-1
    # rule): the lonely total centred at the mean of all 3 PSU totals, (22 - 49/3)^2 = 289/9.
    # (R survey 4.1-1, which froze the other values here, centred at 0: 22^2, SE 26.627.)
    assert r.se == pytest.approx(np.sqrt(225 + 289 / 9), rel=1e-12)
    with pytest.warns(LonelyPSUWarning):
        rem = SurveyDesign(df, weight="w", strata="st", psu="psu", lonely_psu="remove")
    assert one(rem.total("y")).se == pytest.approx(15.0)  # sqrt(225)
    with pytest.warns(LonelyPSUWarning):
        avg = SurveyDesign(df, weight="w", strata="st", psu="psu", lonely_psu="average")
    assert one(avg.total("y")).se == pytest.approx(np.sqrt(225 * 2 / 1))  # 2 strata, 1 ok
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # certainty: no warning, contributes 0
        cert = SurveyDesign(df, weight="w", strata="st", psu="psu", lonely_psu="certainty")
    assert one(cert.total("y")).se == pytest.approx(15.0)


def _lonely_design_data() -> pd.DataFrame:
    # Seven strata with fpc: "A" (3 PSUs), "C" and "G" (2 PSUs) and four single-PSU strata:
    # "B", "D", "F" lonely (N_h > 1), "E" a census of its one PSU (N_h = 1, not lonely).
    # Domain g == "x" has no row in "F" (lonely) nor in "G" (two PSUs); one y is missing.
    rng = np.random.default_rng(44)
    layout = {"A": (3, 10), "B": (1, 5), "C": (2, 8), "D": (1, 4), "E": (1, 1), "F": (1, 6),
              "G": (2, 7)}
    rows = []
    for st, (n_psu, N) in layout.items():
        for j in range(n_psu):
            for k in range(int(rng.integers(2, 5))):
                g = "y" if st in "FG" else ("x" if (j + k) % 2 == 0 else "y")
                rows.append((st, f"{st}{j}", N, float(rng.uniform(1, 4)),
                             float(rng.normal(20 + 3 * j, 5)), g, "pq"[int(rng.integers(2))]))
    df = pd.DataFrame(rows, columns=["st", "psu", "N", "w", "y", "g", "a"])
    df.loc[3, "y"] = np.nan
    return df


def _r44_variance(df: pd.DataFrame, score: np.ndarray, keep: np.ndarray, *,
                  centre_at_zero: bool = False) -> float:
    """Variance of a sum of scores as R survey >= 4.4-1 ``onestage`` with lonely.psu="adjust".

    Written from the rule with explicit loops. ``keep`` marks the rows R keeps after
    subsetting an uncalibrated design (domain rows with non-missing y): strata without kept
    rows drop out. The lonely PSU's total is centred at sum(kept scores) / (number of sampled
    PSUs of the strata with kept rows); ``centre_at_zero`` gives survey <= 4.2-1 instead.
    """
    kept_strata = []
    for h in df.st:
        if h not in kept_strata and (keep & (df.st == h).to_numpy()).any():
            kept_strata.append(h)
    n_h = {h: df.loc[df.st == h, "psu"].nunique() for h in kept_strata}
    grand, units = 0.0, 0
    for i in range(len(df)):
        if keep[i]:
            grand += score[i]
    for h in kept_strata:
        units += n_h[h]
    centre = 0.0 if centre_at_zero else grand / units
    v = 0.0
    for h in kept_strata:
        N = df.loc[df.st == h, "N"].iloc[0]
        totals = []
        for p in df.loc[df.st == h, "psu"].unique():  # every sampled PSU of the stratum
            t = 0.0
            for i in range(len(df)):
                if keep[i] and df.psu.iloc[i] == p:
                    t += score[i]
            totals.append(t)
        n = n_h[h]
        if n == 1:
            if N > 1:  # lonely: (1 - f) (total - centre)^2; a census stratum adds 0
                v += (1 - n / N) * (totals[0] - centre) ** 2
        else:
            mean = sum(totals) / n
            v += (1 - n / N) * n / (n - 1) * sum((t - mean) ** 2 for t in totals)
    return v


@pytest.fixture(scope="module")
def lonely_design() -> SurveyDesign:
    with pytest.warns(LonelyPSUWarning, match="'B', 'D', 'F'"):
        return SurveyDesign(_lonely_design_data(), weight="w", strata="st", psu="psu", fpc="N")


def test_lonely_adjust_totals_follow_r_survey_4_4(lonely_design):
    d, df = lonely_design, lonely_design.data
    w, y = df.w.to_numpy(), df.y.to_numpy()
    ok = ~np.isnan(y)
    z = np.where(ok, w * np.nan_to_num(y), 0.0)
    x = (df.g == "x").to_numpy()
    overall = _r44_variance(df, z, ok)  # R: svytotal(~y, des, na.rm=TRUE)
    dom_x = _r44_variance(df, z, ok & x)  # R: svyby(~y, ~g, des, svytotal, na.rm=TRUE)
    dom_y = _r44_variance(df, z, ok & ~x)
    assert one(d.total("y")).se == pytest.approx(np.sqrt(overall), rel=1e-12)
    by = d.total("y", by="g").set_index("g").se
    assert by["x"] == pytest.approx(np.sqrt(dom_x), rel=1e-12)
    assert by["y"] == pytest.approx(np.sqrt(dom_y), rel=1e-12)
    assert one(d.subset(x).total("y")).se == pytest.approx(np.sqrt(dom_x), rel=1e-12)
    # the old centre (0) gives clearly different totals' SEs, so these checks can fail
    old = _r44_variance(df, z, ok & x, centre_at_zero=True)
    assert abs(np.sqrt(old) / np.sqrt(dom_x) - 1) > 0.05
    # linearized_variance of full-design scores (R svyrecvar on all rows): every stratum
    zx = np.where(x, z, 0.0)
    full = _r44_variance(df, zx, np.ones(len(df), bool))
    assert d.linearized_variance(zx) == pytest.approx(full, rel=1e-12)
    assert d.linearized_variance(np.c_[zx, z], cov=True)[0, 0] == pytest.approx(full, rel=1e-12)
    assert d.subset(x).linearized_variance(zx) == pytest.approx(
        _r44_variance(df, zx, x), rel=1e-12)


def test_lonely_adjust_leaves_means_unchanged(lonely_design):
    # A mean's scores sum to zero over the domain, so the centre is 0 under either rule.
    d, df = lonely_design, lonely_design.data
    w, y = df.w.to_numpy(), df.y.to_numpy()
    for dom, r in d.mean("y", by="g").set_index("g").iterrows():
        keep = ((df.g == dom) & df.y.notna()).to_numpy()
        ybar = (w * y)[keep].sum() / w[keep].sum()
        z = np.where(keep, w * (np.nan_to_num(y) - ybar) / w[keep].sum(), 0.0)
        new = _r44_variance(df, z, keep)
        assert new == pytest.approx(_r44_variance(df, z, keep, centre_at_zero=True), rel=1e-10)
        assert r.se == pytest.approx(np.sqrt(new), rel=1e-10)
    p = d.proportion("g").set_index("category").loc["x"]
    z = w * ((df.g == "x").to_numpy() - p.estimate) / w.sum()
    keep = np.ones(len(df), bool)
    assert p.se == pytest.approx(np.sqrt(_r44_variance(df, z, keep, centre_at_zero=True)),
                                 rel=1e-10)


def test_lonely_adjust_in_calibrated_domains_counts_every_stratum(lonely_design):
    # R keeps the rows of a calibrated design's subset (zero weight), so every stratum counts.
    # One-margin raking is post-stratification: the score of a domain total is
    # w_i (e_i - B_c) with e_i = 1[i in x] y_i and B_c = sum_c w0 e / sum_c w0 in the post-stratum.
    d0 = lonely_design
    d = d0.rake({"a": {"p": 70.0, "q": 80.0}})
    df = d.data
    x = (df.g == "x").to_numpy()
    e = np.where(x & df.y.notna().to_numpy(), np.nan_to_num(df.y.to_numpy()), 0.0)
    w0, w = d0.weights, d.weights
    z = np.zeros(len(df))
    for c in ("p", "q"):
        in_c = (df.a == c).to_numpy()
        z[in_c] = w[in_c] * (e[in_c] - (w0 * e)[in_c].sum() / w0[in_c].sum())
    expected = _r44_variance(df, z, np.ones(len(df), bool))
    # (these residuals sum to 0 in each post-stratum, so the centre is 0; what is tested is
    # that lonely "F", without rows of x, still adds its nonzero residual total)
    assert abs(z[(df.st == "F").to_numpy()].sum()) > 1
    se = d.total("y", by="g").set_index("g").se["x"]
    assert se == pytest.approx(np.sqrt(expected), rel=1e-10)
    zx = np.where(x, w * e, 0.0)
    assert d.linearized_variance(zx) == pytest.approx(expected, rel=1e-10)
    assert d.subset(x).linearized_variance(zx) == pytest.approx(expected, rel=1e-10)


def test_lonely_psu_fail_raises():
    with pytest.raises(DesignError, match="single PSU"):
        SurveyDesign(_lonely_data(), weight="w", strata="st", psu="psu", lonely_psu="fail")


def test_census_stratum_is_not_lonely():
    df = _lonely_data().assign(N=[10, 10, 10, 10, 1, 1])  # stratum b fully sampled
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = SurveyDesign(df, weight="w", strata="st", psu="psu", fpc="N")
    # only stratum a, times (1 - 2/10)
    assert one(d.total("y")).se == pytest.approx(np.sqrt(0.8 * 225))


def test_bad_lonely_choice():
    with pytest.raises(EvalkitError, match="lonely_psu"):
        SurveyDesign(_lonely_data(), weight="w", lonely_psu="drop")


# --------------------------------------------------------------------------------------
# construction errors and immutability
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, expected", [(np.nan, "nan"), (np.inf, "inf"), (0.0, "0.0"),
                                           (-2.5, "-2.5")])
def test_invalid_weights_name_row_and_value(apistrat, bad, expected):
    df = apistrat.copy()
    df.loc[df.index[5], "pw"] = bad
    with pytest.raises(DesignError, match=rf"row 5 \(position 5\): {expected}"):
        SurveyDesign(df, weight="pw", strata="stype")


@pytest.mark.parametrize("arg", ["weight", "strata", "psu", "fpc"])
def test_missing_columns(apistrat, arg):
    kwargs = {"weight": "pw", arg: "no_such_column"}
    with pytest.raises(DesignError, match="no_such_column"):
        SurveyDesign(apistrat, **kwargs)


def test_fpc_errors(apistrat):
    df = apistrat.copy()
    df.loc[df.index[0], "fpc"] = 4000
    with pytest.raises(DesignError, match="varies within stratum"):
        SurveyDesign(df, weight="pw", strata="stype", fpc="fpc")
    with pytest.raises(DesignError, match="sampling fraction"):
        SurveyDesign(apistrat.assign(f=0.05), weight="pw", strata="stype", fpc="f")


def test_psu_not_nested(apiclus1):
    with pytest.raises(DesignError, match="nest=True"):
        SurveyDesign(apiclus1, weight="pw", strata="stype", psu="dnum")
    d = SurveyDesign(apiclus1, weight="pw", strata="stype", psu="dnum", nest=True)
    assert d.n_psu > apiclus1.dnum.nunique()


def test_non_numeric_y_and_missing_strata(dstrat, apistrat):
    with pytest.raises(DesignError, match="proportion"):
        dstrat.mean("sch.wide")
    df = apistrat.copy()
    df.loc[df.index[3], "stype"] = None
    with pytest.raises(DesignError, match="strata column 'stype' has 1 missing"):
        SurveyDesign(df, weight="pw", strata="stype")


def test_design_is_immutable_and_copies_data(apistrat):
    df = apistrat.copy()
    d = SurveyDesign(df, weight="pw", strata="stype", fpc="fpc")
    before = one(d.mean("api00")).estimate
    df.loc[:, "api00"] = 0
    assert one(d.mean("api00")).estimate == before
    with pytest.raises(AttributeError):
        d.weight = "x"  # type: ignore[misc]
    got = d.data
    got["api00"] = 0
    assert one(d.mean("api00")).estimate == before


# --------------------------------------------------------------------------------------
# raking errors, convergence, trimming
# --------------------------------------------------------------------------------------
def test_rake_errors(dclus1, apiclus1):
    with pytest.raises(DesignError, match="empty cell"):
        dclus1.rake({"stype": {**POP_STYPE, "X": 10}})
    with pytest.raises(DesignError, match="absent from the margins"):
        dclus1.rake({"stype": {"E": 4421, "H": 755}})
    with pytest.raises(DesignError, match="finite number > 0"):
        dclus1.rake({"stype": {"E": 4421, "H": 0, "M": 1018}})
    with pytest.raises(DesignError, match="impossible margins"):
        dclus1.rake({"stype": POP_STYPE, "sch.wide": {"No": 1072, "Yes": 6000}})
    with pytest.raises(DesignError, match="not a column"):
        dclus1.rake({"nope": {"a": 1}})
    with pytest.raises(DesignError, match="zero or negative weights"):
        dclus1.rake({"stype": POP_STYPE}, trim=(0.0, 3.0))
    with pytest.raises(DesignError, match="subset"):
        dclus1.subset((apiclus1.stype == "E").to_numpy()).rake({"stype": POP_STYPE})


def test_rake_convergence_warning(dclus1):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        d = dclus1.rake({"stype": POP_STYPE, "sch.wide": POP_SCHWIDE}, max_iter=1)
    assert not d.weighting_info.converged and d.weighting_info.iterations == 1


def test_rake_trim_respects_bounds(dclus1):
    d = dclus1.rake({"stype": POP_STYPE, "sch.wide": POP_SCHWIDE}, trim=(0.5, 1.9),
                    max_iter=500)
    info = d.weighting_info
    g = d.weights / dclus1.weights
    assert g.min() >= 0.5 - 1e-12 and g.max() <= 1.9 + 1e-12
    assert info.converged and info.max_rel_error < 1e-8
    assert info.g_max <= 1.9 + 1e-12


def test_rake_unequal_weights_by_domain_consistent(dstrat):
    # stratified design has unequal weights: check the fast by-domain path against the
    # generic dense residualisation of linearized_variance
    d = dstrat.rake({"sch.wide": {"No": 1100, "Yes": 5094}, "awards": {"No": 2300, "Yes": 3894}})
    r = d.mean("api00", by="stype")
    y = d.data["api00"].to_numpy(float)
    for _, row in r.iterrows():
        inside = (d.data["stype"] == row.stype).to_numpy()
        v = d.linearized_variance(_zeroed_mean_score(d, y, inside))
        assert row.se == pytest.approx(np.sqrt(v), rel=1e-9)


def test_calibrated_variance_in_domain_blocks_is_the_same(dclus1r, monkeypatch):
    full = dclus1r.mean(["api00", "enroll"], by="cname")
    monkeypatch.setattr(calibration_module, "_DENSE_CELLS", 40)  # 15 PSUs -> blocks of 2 domains
    blocked = dclus1r.mean(["api00", "enroll"], by="cname")
    assert np.allclose(full.se, blocked.se, rtol=1e-12, atol=0)


def test_module_examples_run():
    failures, _ = doctest.testmod(design_module)
    assert failures == 0


# --------------------------------------------------------------------------------------
# values frozen from R 4.2.2 / survey 4.1-1 (script: tests/data/design_reference.R)
# --------------------------------------------------------------------------------------
def test_deff_matches_r_deff_replace(dstrat, dclus1):
    # R: svymean(~api00, dstrat, deff="replace") -> DEff 1.16557
    assert one(dstrat.mean("api00")).deff == pytest.approx(1.16557, abs=5e-6)
    # R: svytotal(~enroll, dstrat, deff="replace") -> DEff 0.35033
    assert one(dstrat.total("enroll")).deff == pytest.approx(0.35033, abs=5e-6)
    # R: svymean(~api00, dclus1, deff="replace") -> 9.06975; svytotal(~enroll, ...) -> 30.38559
    assert one(dclus1.mean("api00")).deff == pytest.approx(9.06975, abs=5e-6)
    assert one(dclus1.total("enroll")).deff == pytest.approx(30.38559, abs=5e-6)
    # R's deff=TRUE (SRS without replacement) -> 9.34587 = ours * N_hat / (N_hat - n)
    m = one(dclus1.mean("api00"))
    n_hat = dclus1.weights.sum()
    assert m.deff * n_hat / (n_hat - 183) == pytest.approx(9.34587, abs=5e-6)


def test_by_domain_matches_r_svyby(dclus1):
    # R: svyby(~api00, ~stype, dclus1, svymean, deff="replace")
    r = dclus1.mean("api00", by="stype")
    assert np.allclose(r.estimate, [648.868055556, 618.571428571, 631.440000000], atol=1e-8)
    assert np.allclose(r.se, [22.3624088938, 38.0202493594, 31.6094652272], atol=1e-9)
    assert np.allclose(r.deff, [6.38916073975, 2.16242602116, 2.09996791058], atol=1e-10)
    # R: svyby(~enroll, ~stype, dclus1, svytotal, deff="replace")
    t = dclus1.total("enroll", by="stype")
    assert np.allclose(t.se, [631349.386275, 226716.594706, 213635.484268], atol=1e-5)
    assert np.allclose(t.deff, [121.34483094675, 4.50855642054, 12.63040920350], atol=1e-9)


def test_proportion_matches_r(dstrat):
    # R: svymean(~factor(awards), dstrat, deff="replace") -> 0.3610639360 / 0.6389360641,
    # SE 0.0344059180, DEff 1.02112
    p = dstrat.proportion("awards")
    assert np.allclose(p.estimate, [0.3610639360, 0.6389360641], atol=1e-10)
    assert np.allclose(p.se, 0.0344059180, atol=1e-10)
    assert np.allclose(p.deff, 1.02112, atol=5e-6)
    # R: svyby(~factor(awards), ~stype, dstrat, svymean) -> se E 0.0441120855012,
    # H 0.0643950505091, M 0.0695966026582
    pb = dstrat.proportion("awards", by="stype")
    assert np.allclose(pb.se, np.repeat([0.0441120855012, 0.0643950505091, 0.0695966026582], 2),
                       atol=1e-12)


def test_logit_interval_matches_r_svyciprop(dstrat):
    # R: confint(svyciprop(~I(awards=="Yes"), dstrat, method="logit"))
    #    -> 0.568721098868, 0.703675779368 (svyciprop uses df = degf(design))
    p = dstrat.proportion("awards", ci="logit", df="design").set_index("category").loc["Yes"]
    assert p.ci_low == pytest.approx(0.568721098868, abs=1e-10)
    assert p.ci_high == pytest.approx(0.703675779368, abs=1e-10)
    with pytest.raises(EvalkitError, match="ci="):
        dstrat.proportion("awards", ci="wilson")


def test_missing_y_matches_r_na_rm(apiclus1):
    # R: cl2$api00[cl2$dnum == cl2$dnum[1]] <- NA; cl2$api00[5:9] <- NA
    #    svymean(~api00, d2, na.rm=TRUE) -> 642.5813953, SE 24.88114
    df = apiclus1.copy()
    df.loc[df.dnum == df.dnum.iloc[0], "api00"] = np.nan
    df.loc[4:8, "api00"] = np.nan  # R rows 5:9
    d = SurveyDesign(df, weight="pw", psu="dnum", fpc="fpc")
    m = one(d.mean("api00"))
    assert m.estimate == pytest.approx(642.5813953, abs=1e-7)
    assert round(m.se, 5) == 24.88114
    # svyby(~api00, ~stype, d2, svymean, na.rm=TRUE)
    b = d.mean("api00", by="stype")
    assert np.allclose(b.se, [23.4886385292, 40.8647770529, 34.1968631253], atol=1e-9)


def test_lonely_psu_matches_r():
    # R: options(survey.lonely.psu=opt); svymean(~y, svydesign(id=~psu, strata=~st, weights=~w))
    # Frozen with survey 4.1-1; still right under the survey >= 4.4-1 "adjust" rule because a
    # mean's scores sum to 0, so the lonely PSU's centre is 0 either way (the svytotal that
    # design_reference.R also prints changed: see test_lonely_psu_warns_and_adjust_formula).
    expected = {"adjust": 1.28575, "remove": 0.56944, "certainty": 0.56944, "average": 0.80532}
    for opt, se in expected.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LonelyPSUWarning)
            d = SurveyDesign(_lonely_data(), weight="w", strata="st", psu="psu", lonely_psu=opt)
        assert round(one(d.mean("y")).se, 5) == se


def test_rake_equals_r_calibrate_raking(dstrat):
    # Unequal design weights within margin cells (apistrat weights vary by stype).
    # R: calibrate(dstrat, ~sch.wide+awards, population=c(6194, 5094, 3894),
    #              calfun="raking", epsilon=1e-12, maxit=200)
    d = dstrat.rake({"sch.wide": {"No": 1100, "Yes": 5094}, "awards": {"No": 2300, "Yes": 3894}})
    m = one(d.mean("api00"))
    assert m.estimate == pytest.approx(661.7791762, abs=1e-6)
    assert round(m.se, 5) == 9.26395
    t = one(d.total("enroll"))
    assert t.estimate == pytest.approx(3702053.733, rel=1e-9)  # R prints 10 digits
    assert t.se == pytest.approx(127054.6106, abs=1e-3)
    # svyby(~api00, ~stype, dc, svymean)
    b = d.mean("api00", by="stype")
    assert np.allclose(b.se, [12.3545349741, 14.8260734809, 15.8940206739], atol=1e-8)
    # (R's rake() gives 134121.2 for this total: its svyrecvar centres scores within margin
    # cells without weights, which differs from calibrate() when weights vary in a cell.)


def test_one_margin_rake_equals_r_poststratify(dstrat):
    # R: postStratify(dstrat, ~sch.wide, data.frame(sch.wide=c("No","Yes"), Freq=c(1100,5094)))
    #    svytotal(~enroll, dps) -> 3701902.726, SE 127078.4615; svymean(~api00) SE 9.25757
    d = dstrat.rake({"sch.wide": {"No": 1100, "Yes": 5094}})
    t = one(d.total("enroll"))
    assert t.estimate == pytest.approx(3701902.726, abs=1e-3)
    assert t.se == pytest.approx(127078.4615, abs=1e-3)
    assert round(one(d.mean("api00")).se, 5) == 9.25757


# --------------------------------------------------------------------------------------
# simulation: intervals cover the population value at about the nominal rate
# --------------------------------------------------------------------------------------
def _stacked_cluster_samples(rng, pop: pd.DataFrame, k: int, H: int, C: int, n_c: int):
    """``k`` independent samples of ``n_c`` of the ``C`` clusters of each of ``H`` strata
    (without replacement, everyone in a chosen cluster), stacked with their own strata and
    clusters: a domain ``rep`` of the stacked design has exactly the variance of a separate
    design, because the other samples' strata contribute zero scores."""
    m = len(pop) // (H * C)
    chosen = np.argsort(rng.random((k, H, C)), axis=2)[:, :, :n_c] + np.arange(H)[:, None] * C
    rows = (chosen.reshape(k, -1)[:, :, None] * m + np.arange(m)).reshape(k, -1)
    rep = np.repeat(np.arange(k), rows.shape[1])
    smp = pop.iloc[rows.ravel()].reset_index(drop=True)
    return smp.assign(rep=rep, st=rep * H + smp.st.to_numpy(), cl=rep * H * C + smp.cl.to_numpy(),
                      rep_age=rep * 3 + smp.age.to_numpy(), w=C / n_c)


@pytest.mark.slow
def test_coverage_and_se_calibration_in_repeated_cluster_samples():
    # Finite population: 8 strata x 40 clusters x 25 people; y has a cluster effect, the domain
    # (sex) and a raking margin (age group) cut across clusters. Each replicate draws 8
    # clusters per stratum without replacement (fpc N_h = 40) and takes everyone in them.
    # Statistics: domain means and domain totals by sex, the mean raked to the age margin.
    rng = np.random.default_rng(2024)
    H, C, m, n_c = 8, 40, 25, 8
    cl = np.repeat(np.arange(H * C), m)
    sex = rng.integers(0, 2, cl.size)
    age = rng.choice(3, cl.size, p=[0.3, 0.45, 0.25])
    y = 10 + 2 * rng.normal(size=H * C)[cl] + 1.5 * sex + 0.8 * age + rng.normal(size=cl.size)
    pop = pd.DataFrame({"st": cl // C, "cl": cl, "sex": sex, "age": age, "y": y, "N": C})
    truth = np.r_[[y[sex == s].mean() for s in (0, 1)], [y[sex == s].sum() for s in (0, 1)],
                  y.mean()]
    age_totals = np.bincount(age).astype(float)
    reps, chunk = 4000, 40
    est, se = np.empty((reps, 5)), np.empty((reps, 5))
    for r0 in range(0, reps, chunk):
        smp = _stacked_cluster_samples(rng, pop, chunk, H, C, n_c)
        d = SurveyDesign(smp, weight="w", strata="st", psu="cl", fpc="N")
        raked = d.rake({"rep_age": {r * 3 + a: age_totals[a] for r in range(chunk)
                                    for a in range(3)}}).mean("y", by="rep")
        parts = [d.mean("y", by=["rep", "sex"]), d.total("y", by=["rep", "sex"]), raked]
        est[r0:r0 + chunk] = np.hstack([p.estimate.to_numpy().reshape(chunk, -1) for p in parts])
        se[r0:r0 + chunk] = np.hstack([p.se.to_numpy().reshape(chunk, -1) for p in parts])
    # (1) SE calibration: root-mean-square SE / Monte Carlo SD of the estimates. The SD's
    # relative Monte Carlo error is ~1/sqrt(2 reps) = 1.1%, so [0.95, 1.05] is +-4.5 of them;
    # SEs 10% too large or too small put the ratio near 1.10 or 0.90.
    ratio = np.sqrt((se ** 2).mean(axis=0)) / est.std(axis=0, ddof=1)
    assert np.all((ratio > 0.95) & (ratio < 1.05)), ratio
    # (2) coverage of the normal 95% interval, two-sided: its expectation with a variance
    # estimated on #PSU - #strata = 56 df is P(|t_56| < 1.96) = 0.945; the band is +-3 Monte
    # Carlo SEs (+-0.011). SEs x1.1 / x0.9 give about 0.963 / 0.916 here.
    z = stats.norm.ppf(0.975)
    target = 2 * stats.t.cdf(z, H * n_c - H) - 1
    band = 3 * np.sqrt(target * (1 - target) / reps)
    coverage = (np.abs(est - truth) < z * se).mean(axis=0)
    assert np.all(np.abs(coverage - target) < band), (coverage, target, band)


# --------------------------------------------------------------------------------------
# the result vocabulary (evalkit.results) and immutable results
# --------------------------------------------------------------------------------------
def test_frames_follow_the_result_vocabulary(dclus1, dclus1r):
    from evalkit.results import check_vocabulary

    for frame in (dclus1.mean("api00", by="stype"), dclus1.total("enroll"), dclus1r.proportion("awards"),
                  dclus1r.weighting_info.tidy()):
        check_vocabulary(frame)
    assert np.isinf(dclus1.mean("api00")["df"]).all()
    assert (dclus1.mean("api00", by="stype", df="design")["df"] == 14).all()
    assert (dclus1.mean("api00", df=7)["df"] == 7).all()


def test_weighting_info_is_a_frozen_result(dclus1r):
    import dataclasses

    from evalkit.results import Result

    info = dclus1r.weighting_info
    assert isinstance(info, Result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.converged = False  # type: ignore[misc]
    assert info.summary.startswith(info.headline) and "rel_error" in info.summary
    assert info.headline in dclus1r.summary and "rel_error" not in dclus1r.summary
    assert "<table" in info._repr_html_()


def test_from_study_uses_the_column_roles(apiclus1, dclus1, codebook):
    from evalkit.spec.study import Roles, Study

    study = Study(codebook, roles=Roles(weight="pw", strata=None, psu="dnum"))
    d = SurveyDesign.from_study(apiclus1, study, fpc="fpc")
    pd.testing.assert_frame_equal(d.mean("api00"), dclus1.mean("api00"))
    with pytest.raises(DesignError, match="evalkit.Study"):
        SurveyDesign.from_study(apiclus1, {"weight": "pw"})


def test_psu_and_strata_codes_are_read_only(dstrat):
    p, h = dstrat.psu_codes, dstrat.strata_codes
    assert p.size == h.size == len(dstrat.data) and not p.flags.writeable
    assert np.array_equal(dstrat._p, p) and np.array_equal(dstrat._h, h)  # 0.1 names
    assert h.max() + 1 == dstrat.n_strata == 3


# --------------------------------------------------------------------------------------
# domain_means: cell means with their covariance (evalkit.survey.domains)
# --------------------------------------------------------------------------------------
def _cell_scores(d: SurveyDesign, y: str, by: str, cells: pd.DataFrame) -> np.ndarray:
    data = d.data
    vals = data[y].to_numpy(float)
    return np.column_stack([_zeroed_mean_score(d, np.nan_to_num(vals), (data[by] == c).to_numpy()
                                               & ~np.isnan(vals)) for c in cells[by]])


@pytest.mark.parametrize("which", ["dstrat", "dclus1", "dclus1r"])
def test_domain_means_equal_mean_by_and_linearized_covariance(request, which):
    from evalkit.survey.domains import domain_means

    d = request.getfixturevalue(which)
    cells, V = domain_means(d, "api00", by=["stype"])
    ref = d.mean("api00", by="stype")
    assert list(cells.columns) == ["stype", "estimate", "n"] and list(cells.stype) == list(ref.stype)
    np.testing.assert_allclose(cells.estimate, ref.estimate, rtol=1e-12)
    np.testing.assert_array_equal(cells.n, ref.n)
    np.testing.assert_allclose(np.sqrt(np.diag(V)), ref.se, rtol=1e-10)
    full = d.linearized_variance(_cell_scores(d, "api00", "stype", cells), cov=True)
    np.testing.assert_allclose(V, full, rtol=1e-9, atol=1e-12 * np.abs(full).max())


def test_domain_means_lonely_psus_and_missing_y_agree_with_mean_by(lonely_design):
    from evalkit.survey.domains import domain_means

    cells, V = domain_means(lonely_design, "y", by=["g"])
    m = lonely_design.mean("y", by="g")
    np.testing.assert_allclose(np.sqrt(np.diag(V)), m.se, rtol=1e-10)
    assert cells.n.sum() == lonely_design.data.y.notna().sum()


def test_domain_means_study_roles_name_the_cells(survey, codebook):
    """domain_means (the one implementation; comparison and baseline use it) takes its cell columns
    from the study's roles; its covariance diagonal equals mean(by=)'s squared SE (tested above)."""
    from evalkit.measure.scales import score
    from evalkit.spec.study import Roles, Study
    from evalkit.survey.domains import domain_means

    scored = score(survey, codebook, scales=["who5"])
    d = SurveyDesign(scored, weight="base_weight", strata="stratum", psu="psu")
    # the study names the cell columns
    study = Study(codebook, roles=Roles(community="comm", wave="year"))
    c, V = domain_means(d.assign(comm=scored["community_id"], year=scored["wave"]), "who5", study=study)
    assert list(c.columns[:2]) == ["comm", "year"]
    np.testing.assert_allclose(V, domain_means(d, "who5")[1], rtol=1e-12)
