"""One result vocabulary (evalkit/results.py): every public result and every estimate table uses it.

The test finds every result class by walking the subclasses of :class:`evalkit.results.Result` (a
new result class is covered without editing this file: it fails until an example is added below),
builds one of each on small data, and checks that its ``tidy()`` passes
:func:`~evalkit.results.check_vocabulary`, that it is frozen, and that ``summary`` is text. Public
functions that return estimate tables directly are checked the same way.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.results import RETIRED_COLUMNS, STAT_COLUMNS, Result, check_vocabulary, wald_columns


def _subclasses(cls) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


@pytest.fixture(scope="module")
def scored(survey, codebook):
    return ek.score(survey, codebook, scales=["who5", "participation_ladder", "selforg_member"])


@pytest.fixture(scope="module")
def design(scored):
    return ek.SurveyDesign(scored, weight="base_weight", strata="stratum", psu="psu")


@pytest.fixture(scope="module")
def panel_data():
    rng = np.random.default_rng(7)
    units, years = 60, [2014, 2015, 2016, 2017]
    g = rng.choice([0, 2015, 2016], size=units)
    rows = [{"id": i, "year": t, "g": g[i], "cl": i % 12,
             "y": rng.normal() + 0.3 * (g[i] > 0 and t >= g[i])} for i in range(units) for t in years]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def examples(survey, codebook, registry, design, panel_data):
    """One instance of every result class, keyed by class."""
    att = ek.att_gt(panel_data, y="y", time="year", unit="id", group="g")
    reg = ek.regress("y ~ x", pd.DataFrame({"y": np.arange(24.0) % 5, "x": np.arange(24.0),
                                            "cl": np.repeat(np.arange(8), 3)}), cluster="cl")
    rand_df = panel_data.assign(treat=lambda d: ((d.g > 0) & (d.year >= d.g)).astype(float))
    study = ek.Study(codebook, registry)
    out = {
        "ATTGTResult": att,
        "AggregateResult": att.aggregate("dynamic"),
        "PretrendTest": att.pretrend_test(),
        "ImpactResult": ek.programme_effect(design, "selforg_member", study=study),
        "RandomizationResult": ek.randomization_test(rand_df, formula="y ~ treat + C(year)", treatment="treat",
                                                     cluster="id", time="year", n_perm=99, seed=1),
        "RegressionResult": reg,
        "WildBootstrapResult": ek.wild_cluster_bootstrap(reg, "x", B=99, seed=1),
        "ValidationReport": ek.validate(survey.head(50), study=study),
        "Derived": ek.derive(survey.head(20).drop(columns=["age_group"]), codebook),
    }
    # the evaluation summary and the performance evaluation on the shipped example (its survey,
    # scored; the projects' service records), pooling and step-down on small frames
    from evalkit.datasets.records import dongying_performance

    shipped_study, shipped = ek.datasets.dongying_survey()
    summary = ek.summarise(shipped, shipped_study, reconcile=False)
    out["EvaluationSummary"] = summary
    latest = summary.effects[summary.effects["wave"] == summary.effects["wave"].max()]
    perf = dongying_performance(effects=latest, n_draws=200)
    out["PerformanceEvaluation"] = perf
    out["RecordsReport"] = ek.read_records(ek.datasets.data_path("records/ledger_anning.csv"), study=shipped_study)
    out["PooledEffect"] = ek.pool_effects(pd.DataFrame({"estimate": [0.2, 0.5, -0.1, 0.4], "se": [0.1, 0.2, 0.15, 0.1]}))
    two = pd.DataFrame({"community": np.repeat(np.arange(6), 20), "post": np.tile(np.repeat([0, 1], 10), 6)})
    two["y"] = np.random.default_rng(3).normal(size=len(two)) + 0.1 * two["community"] * two["post"]
    out["HeterogeneityTest"] = ek.heterogeneity_test(two, outcome="y", community="community", post="post",
                                                     n_perm=99, seed=1)
    xy = pd.DataFrame({"x": np.arange(24.0), "cl": np.repeat(np.arange(8), 3)})
    xy["a"], xy["b"] = np.arange(24.0) % 5, np.arange(24.0) % 7
    fits = {y: ek.regress(f"{y} ~ x", xy, cluster="cl") for y in ("a", "b")}
    out["StepdownResult"] = ek.stepdown_wild(fits, "x", B=99, seed=1)
    dyn = ek.att_gt(panel_data, y="y", time="year", unit="id", group="g",
                    base_period="universal").aggregate("dynamic")
    out["SensitivityResult"] = ek.honest_did(dyn, restriction="smoothness", bounds=[0.0, 0.1])
    out["PretrendPower"] = ek.pretrend_power(dyn)
    return out


def test_every_result_class_has_an_example(examples):
    classes = {c.__name__ for c in _subclasses(Result)}
    missing = classes - set(examples) - {"WeightingInfo"}  # WeightingInfo: test_weighting_info below
    assert not missing, f"add an example of {sorted(missing)} to this file"


@pytest.mark.parametrize("name", ["ATTGTResult", "AggregateResult", "PretrendTest", "ImpactResult",
                                  "RandomizationResult", "RegressionResult", "WildBootstrapResult",
                                  "ValidationReport", "Derived", "EvaluationSummary", "PerformanceEvaluation",
                                  "RecordsReport", "PooledEffect", "HeterogeneityTest", "StepdownResult",
                                  "SensitivityResult", "PretrendPower"])
def test_result_follows_the_vocabulary_and_is_frozen(examples, name):
    res = examples[name]
    assert isinstance(res, Result)
    check_vocabulary(res.tidy(), name)
    assert isinstance(res.summary, str) and res.summary
    assert res.summary.splitlines()[0] in repr(res)
    page = res._repr_html_()
    import html

    assert page.startswith("<") and html.escape(res.summary.splitlines()[0].split(":")[0]) in page
    field = dataclasses.fields(res)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(res, field, None)


def test_weighting_info(design, registry, survey):
    one = survey[survey["wave"] == 2017]
    cell = ek.crossing(one, ["community_id", "sex"])
    margins = ek.population_margins(registry, by=("sex",), covered=one)
    d = ek.SurveyDesign(one.assign(**{cell.name: cell}), weight="base_weight", strata="stratum", psu="psu")
    info = d.rake(margins).weighting_info
    check_vocabulary(info.tidy(), "WeightingInfo")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.headline = "x"


def test_estimate_tables_follow_the_vocabulary(design, scored, codebook, registry, panel_data):
    study = ek.Study(codebook, registry)
    att = ek.att_gt(panel_data, y="y", time="year", unit="id", group="g")
    tables = {
        "SurveyDesign.mean": design.mean("who5", by=["community_id", "wave"]),
        "SurveyDesign.proportion": design.proportion("selforg_member", by=["wave"]),
        "indicator_table": ek.indicator_table(scored, codebook, design, indicators=["who5"]),
        "community_effects": ek.community_effects(design, ["who5"], registry=registry),
        "change_from_baseline": ek.change_from_baseline(design, ["who5"]),
        "leave_one_out": ek.leave_one_out(design, "selforg_member", study=study),
        "cronbach_alpha": ek.cronbach_alpha(pd.DataFrame(np.random.default_rng(1).integers(1, 5, (50, 4)))),
        "reliability": ek.reliability(scored, study),
        "aggregate.overall": att.aggregate("simple").overall(),
        "headline": ek.headline(ek.regress("y ~ g + C(year)", panel_data, cluster="cl"), "g"),
    }
    for name, frame in tables.items():
        check_vocabulary(frame, name)
        assert "estimate" in frame.columns, name


def test_check_vocabulary_refuses_old_names_and_order():
    with pytest.raises(ValueError, match="att"):
        check_vocabulary(pd.DataFrame(columns=["att", "se"]))
    with pytest.raises(ValueError, match="order"):
        check_vocabulary(pd.DataFrame(columns=["se", "estimate"]))
    assert not (RETIRED_COLUMNS & set(STAT_COLUMNS))


def test_wald_columns_by_hand():
    # estimate 1, se 0.5, df 10: t = 2, p = 2 * (1 - pt(2, 10)) = 0.07338803 (R: 2*pt(-2, 10)),
    # ci = 1 +- qt(0.975, 10) * 0.5 = 1 +- 2.228139 * 0.5
    c = wald_columns([1.0], [0.5], [10.0])
    assert list(c) == list(STAT_COLUMNS)
    np.testing.assert_allclose(c["p_value"], [0.07338803], rtol=1e-6)
    np.testing.assert_allclose(c["ci_low"], [1 - 2.228139 * 0.5], rtol=1e-6)
    z = wald_columns([1.0], [0.5])  # normal: p = 2 * pnorm(-2) = 0.04550026
    np.testing.assert_allclose(z["p_value"], [0.04550026], rtol=1e-6)


def test_validation_report_html_escapes_what_the_file_carries(survey, codebook):
    bad = survey.head(3).assign(**{"<script>alert(1)</script>": 1})
    page = ek.validate(bad, codebook)._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
