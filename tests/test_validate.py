"""Validation: every rule with a bad row, row accounting, missing-value reasons, strict mode."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evalkit
from evalkit.io.read import read_survey
from evalkit.io.validate import RULES, validate

from .conftest import DATA


@pytest.fixture(scope="module")
def base(survey_raw):
    return survey_raw[survey_raw["community_id"].isin(["mingyue", "yangmiao"])].iloc[::50].head(30).copy()


def _one(base, codebook, col, value, row=0, registry=None):
    bad = base.copy()
    bad.loc[bad.index[row], col] = value
    rep = validate(bad, codebook, registry=registry)
    return rep, bad.index[row]


def test_shipped_survey_is_clean(survey_report):
    assert survey_report.ok
    assert survey_report.n_valid == survey_report.n_rows > 15000


@pytest.mark.parametrize("col,value,rule", [
    ("who5_1", "7", "out_of_range"),
    ("who5_1", "-3", "out_of_range"),
    ("who5_1", "1e12", "out_of_range"),
    ("age", "六十五", "not_numeric"),
    ("age", "inf", "not_numeric"),
    ("age", "45.5", "not_integer"),
    ("base_weight", "0", "out_of_range"),
    ("base_weight", "-2.5", "out_of_range"),
    ("role", "teacher", "unknown_value"),
    ("community_id", "幸福社区", "unknown_community"),
    ("wave", "2013", "unknown_wave"),
    ("respondent_id", np.nan, "required"),
])
def test_each_rule_flags_the_bad_row(base, codebook, registry, col, value, rule):
    rep, row = _one(base, codebook, col, value, registry=registry)
    assert rule in RULES
    hit = rep.problems[(rep.problems["row"] == row) & (rep.problems["rule"] == rule)]
    assert hit["column"].tolist() == [col]
    assert row in rep.quarantined.index and row not in rep.valid.index
    assert rep.n_valid + rep.n_quarantined == len(base)


def test_wrong_group(base, codebook):
    adult = base.index[base["role"] != "child"][0]
    bad = base.copy()
    bad.loc[adult, "kid_1"] = "3"
    rep = validate(bad, codebook)
    p = rep.problems[rep.problems["rule"] == "wrong_group"]
    assert p["row"].tolist() == [adult] and p["column"].tolist() == ["kid_1"]


def test_not_applicable_code_is_allowed_for_any_group(base, codebook):
    adult = base.index[base["role"] != "child"][0]
    ok = base.copy()
    ok.loc[adult, "kid_1"] = "99"
    rep = validate(ok, codebook)
    assert rep.ok
    assert rep.missing.query("row == @adult and column == 'kid_1'")["reason"].tolist() == ["not_applicable"]


def test_inconsistent_role_and_age(base, codebook):
    rep, row = _one(base, codebook, "age", "30", row=int(np.flatnonzero(base["role"] == "elderly")[0]))
    assert "inconsistent" in set(rep.problems.loc[rep.problems["row"] == row, "rule"])


def test_duplicates_exact_and_conflicting(base, codebook):
    exact = pd.concat([base, base.iloc[[0]]])
    exact.index = range(2, len(exact) + 2)
    rep = validate(exact, codebook)
    dup = rep.problems[rep.problems["rule"] == "duplicate"]
    assert dup["row"].tolist() == [len(exact) + 1]  # only the later copy is quarantined
    conflict = exact.copy()
    conflict.loc[len(exact) + 1, "who5_1"] = "0" if conflict.iloc[0]["who5_1"] != "0" else "1"
    rep = validate(conflict, codebook)
    assert sorted(rep.problems.query("rule == 'duplicate'")["row"]) == [2, len(exact) + 1]


def test_dont_know_is_missing_with_reason_not_blank(base, codebook):
    bad = base.copy()
    adults = bad.index[bad["role"] != "child"]
    bad.loc[adults[0], "trust_nb"] = "97"
    bad.loc[adults[1], "trust_nb"] = np.nan
    rep = validate(bad, codebook)
    assert np.isnan(rep.valid.loc[adults[0], "trust_nb"]) and np.isnan(rep.valid.loc[adults[1], "trust_nb"])
    reasons = rep.missing.set_index(["row", "column"])["reason"]
    assert reasons[(adults[0], "trust_nb")] == "dont_know"
    assert (adults[1], "trust_nb") not in reasons.index


def test_missing_required_column_is_one_clear_error(base, codebook):
    with pytest.raises(evalkit.ValidationError, match=r"required column\(s\) \['psu'\] are missing"):
        validate(base.drop(columns="psu"), codebook)


def test_unknown_column_is_reported_and_left_out(base, codebook):
    extra = base.assign(note="x")
    rep = validate(extra, codebook)
    assert "note" not in rep.valid.columns
    assert rep.problems.query("rule == 'unknown_column'")["column"].tolist() == ["note"]
    assert rep.n_valid == len(base)


def test_messy_export_accounting_and_problems(codebook, registry):
    raw = read_survey(DATA / "raw" / "messy_export_gbk.csv")
    assert raw.attrs["encoding"] == "gb18030"
    rep = validate(raw, codebook, registry=registry)
    assert rep.n_rows == len(raw) == rep.n_valid + rep.n_quarantined
    assert set(rep.problems["rule"]) >= {"out_of_range", "duplicate", "unknown_community", "not_numeric",
                                        "wrong_group", "required", "unknown_wave"}
    assert rep.missing["reason"].eq("dont_know").any()
    assert rep.registry_mapped > 0


def test_strict_mode_lists_problems_readably(codebook):
    raw = read_survey(DATA / "raw" / "messy_export_gbk.csv")
    with pytest.raises(evalkit.ValidationError) as exc:
        validate(raw, codebook, strict=True, max_listed=3)
    msg = str(exc.value)
    assert "messy_export_gbk.csv" in msg and "row " in msg and "column " in msg
    assert "... and" in msg and "Traceback" not in msg
    assert len(exc.value.problems) > 3


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_corruption_never_loses_a_row(base, codebook, data):
    bad = base.copy().astype(object)
    n_cells = data.draw(st.integers(1, 15))
    junk = st.one_of(st.text(max_size=6), st.integers(-10**9, 10**9).map(str), st.just(np.nan),
                     st.sampled_from(["97", "98", "99", "inf", "-inf", "nan", "三", "1.5", ""]))
    for _ in range(n_cells):
        r = data.draw(st.integers(0, len(bad) - 1))
        c = data.draw(st.sampled_from(list(bad.columns)))
        bad.iat[r, bad.columns.get_loc(c)] = data.draw(junk)
    if data.draw(st.booleans()):
        bad = pd.concat([bad, bad.iloc[[data.draw(st.integers(0, len(bad) - 1))]]])
        bad.index = range(2, len(bad) + 2)
    try:
        rep = validate(bad, codebook)
    except evalkit.ValidationError as exc:  # only file-level problems may raise
        assert "missing" in str(exc)
        return
    assert rep.n_valid + rep.n_quarantined == len(bad)
    assert set(rep.valid.index).isdisjoint(rep.quarantined.index)
    assert set(rep.quarantined.index) == set(rep.problems["row"].dropna())


# ------------------------------------------------------------------ codebook and registry as paths

def test_codebook_and_registry_may_be_given_as_paths(base, codebook, registry, tmp_path):
    # issue 9: validate(df, "data/codebook.yaml") raised AttributeError ('str' has no 'path')
    by_object = validate(base, codebook, registry=registry)
    by_path = validate(base, str(DATA / "codebook.yaml"), registry=str(DATA / "communities.csv"))
    by_pathlike = validate(base, DATA / "codebook.yaml", registry=DATA / "communities.csv")
    for rep in (by_path, by_pathlike):
        pd.testing.assert_frame_equal(rep.valid, by_object.valid)
        pd.testing.assert_frame_equal(rep.problems, by_object.problems)
    # a registry path is read, so an unknown community is caught by it
    bad = base.copy()
    bad.loc[bad.index[0], "community_id"] = "atlantis"
    rep = validate(bad, DATA / "codebook.yaml", registry=DATA / "communities.csv")
    assert rep.problems.query("rule == 'unknown_community'")["row"].tolist() == [bad.index[0]]


def test_codebook_or_registry_of_the_wrong_kind_is_a_clear_error(base, codebook, tmp_path):
    with pytest.raises(evalkit.CodebookError, match=r"does not exist"):
        validate(base, tmp_path / "no_such_codebook.yaml")
    with pytest.raises(evalkit.CodebookError, match=r"validate\(\): codebook must be a Codebook.*got int"):
        validate(base, 3)
    with pytest.raises(evalkit.EvalkitError, match=r"registry"):
        validate(base, codebook, registry=tmp_path / "no_such_registry.csv")
    with pytest.raises(evalkit.ValidationError, match=r"registry must be a DataFrame.*got list"):
        validate(base, codebook, registry=["mingyue"])


def test_describe_names_the_file_not_the_folder(codebook):
    # the text printed in notebooks and reports must not depend on where the data lie
    raw = read_survey(DATA / "raw" / "messy_export_gbk.csv")
    rep = validate(raw, codebook)
    assert rep.source == str(DATA / "raw" / "messy_export_gbk.csv")
    first = rep.describe().splitlines()[0]
    assert first == f"messy_export_gbk.csv: {rep.n_rows} rows in = {rep.n_valid} valid + {rep.n_quarantined} quarantined"
    assert str(DATA) not in rep.describe()
    assert validate(pd.DataFrame(raw.to_dict("list")), codebook).describe().startswith("<DataFrame>: ")


# ------------------------------------------------------------------ a study instead of shipped defaults

def test_no_codebook_is_an_error_and_the_shipped_registry_is_not_guessed(base, codebook, registry):
    with pytest.raises(evalkit.CodebookError, match=r"validate\(\) needs the codebook.*dongying\(\)"):
        validate(base)
    with pytest.raises(evalkit.ValidationError, match=r"registry=\"shipped\"\) is gone.*dongying\(\)"):
        validate(base, codebook, registry="shipped")
    bad = base.copy()
    bad.loc[bad.index[0], "community_id"] = "atlantis"
    without = validate(bad, codebook)  # no registry: the community rule is skipped, and the report says so
    assert without.ok and "communities not checked against a registry" in without.describe()
    with_registry = validate(bad, codebook, registry=registry)
    assert with_registry.problems["rule"].tolist() == ["unknown_community"]


def test_a_study_gives_codebook_registry_and_roles(base, codebook, registry):
    study = evalkit.Study(codebook, registry)
    raw = read_survey(DATA / "raw" / "messy_export_gbk.csv")
    by_study = validate(raw, study=study)
    by_args = validate(raw, codebook, registry=registry)
    pd.testing.assert_frame_equal(by_study.valid, by_args.valid)
    pd.testing.assert_frame_equal(by_study.problems, by_args.problems)
    assert by_study.registry_mapped == by_args.registry_mapped > 0
    # explicit arguments win over the study's
    assert validate(raw, codebook, study=evalkit.Study(codebook)).registry_mapped == 0
    # roles name the unit and wave columns of the duplicate rule
    renamed = base.rename(columns={"respondent_id": "resp", "wave": "year"})
    twice = pd.concat([renamed, renamed.iloc[[0]]])
    twice.index = range(2, len(twice) + 2)
    cb = _renamed_codebook(codebook, {"respondent_id": "resp", "wave": "year"})
    rep = validate(twice, study=evalkit.Study(cb, roles=evalkit.Roles(unit="resp", wave="year")))
    assert rep.problems.query("rule == 'duplicate'")[["row", "column"]].values.tolist() == [[len(twice) + 1, "resp"]]
    assert rep.valid["year"].dtype == "int64"


def _renamed_codebook(codebook, names):
    from dataclasses import replace

    from evalkit.spec.codebook import Variable  # noqa: F401  (fields are Variables)

    fields = {names.get(n, n): replace(v, name=names.get(n, n)) for n, v in codebook.fields.items()}
    return replace(codebook, fields=fields)


def test_summary_is_text_and_tidy_counts_problems(codebook, registry):
    rep = validate(read_survey(DATA / "raw" / "messy_export_gbk.csv"), codebook, registry=registry)
    assert rep.summary == rep.describe() and isinstance(rep.summary, str)
    t = rep.tidy()
    assert list(t.columns) == ["rule", "column", "n_problems", "example_row", "example_value"]
    assert t["n_problems"].sum() == len(rep.problems)
    with pytest.raises(Exception):
        rep.valid = rep.quarantined  # immutable


# ------------------------------------------------------------------ derived fields are codebook rules

def _with_rule(codebook, name, cuts):
    """The codebook with the `derive` rule of `name` replaced by `cuts` [(upto, value), ...]."""
    from dataclasses import replace
    from types import MappingProxyType

    from evalkit.spec.codebook import Cut

    rule = replace(codebook.derived[name], cuts=tuple(Cut(u, v) for u, v in cuts))
    return replace(codebook, derived=MappingProxyType({**codebook.derived, name: rule}))


def test_inconsistent_role_follows_the_codebook_rule_not_code(base, codebook):
    ages = pd.to_numeric(base["age"])
    age = int(ages[base["role"] == "adult"].min())
    youngest = base.index[(base["role"] == "adult") & (ages == age)]
    rep = validate(base, codebook)
    assert rep.ok
    # a codebook whose adults start at age + 1 makes the youngest adults children: the rule, not
    # code, decides
    moved = _with_rule(codebook, "role", [(age, "child"), (59, "adult"), (None, "elderly")])
    rep = validate(base, moved)
    hit = rep.problems.query("rule == 'inconsistent'")
    assert hit[["row", "column", "value"]].values.tolist() == [[r, "role", "adult"] for r in youngest]
    assert hit["message"].iloc[0] == (f"role 'adult' does not fit age {age} "
                                      f"(codebook rule: child ≤ {age}, adult ≤ 59, elderly above)")


def test_inconsistent_age_group(base, codebook):
    row = base.index[base["age_group"] == "40-59"][0]
    bad = base.copy()
    bad.loc[row, "age_group"] = "18-39"
    rep = validate(bad, codebook)
    assert rep.problems.query("rule == 'inconsistent'")[["row", "column"]].values.tolist() == [[row, "age_group"]]


def test_missing_derived_column_names_the_fix(base, codebook):
    with pytest.raises(evalkit.ValidationError, match=r"\['age_group', 'role'\] follow from \['age'\].*evalkit\.derive"):
        validate(base.drop(columns=["age_group", "role"]), codebook)


def test_derive_fills_what_an_export_lacks(base, codebook):
    from evalkit.io.derive import derive

    export = base.drop(columns=["age_group", "role"])
    export.loc[export.index[1], "age"] = "不详"
    export.loc[export.index[2], "age"] = np.nan
    d = derive(export, codebook)
    assert len(d.data) == len(export) and d.data.index.equals(export.index)
    cols = list(d.data.columns)
    assert cols[cols.index("age") + 1: cols.index("age") + 3] == ["age_group", "role"]
    ok = d.data.index.difference(export.index[[1, 2]])
    assert (d.data.loc[ok, ["age_group", "role"]] == base.loc[ok, ["age_group", "role"]]).all().all()
    assert d.filled == {"age_group": len(export) - 2, "role": len(export) - 2}
    assert d.problems[["row", "column", "rule"]].values.tolist() == [
        [export.index[1], "age_group", "not_derivable"], [export.index[2], "age_group", "not_derivable"],
        [export.index[1], "role", "not_derivable"], [export.index[2], "role", "not_derivable"]]
    assert "age '不详' is not a number" in d.problems["message"].iloc[0]
    assert d.tidy().values.tolist() == [["age_group", len(export) - 2, 2], ["role", len(export) - 2, 2]]
    # filled exactly as the codebook rules say: the shipped rows validate clean on those cells
    rep = validate(d.data, codebook)
    assert set(rep.quarantined.index) == set(export.index[[1, 2]])
    # values already there are kept (validate checks them), unless overwrite=True
    partial = base.copy()
    partial.loc[partial.index[0], "role"] = "elderly"
    partial.loc[partial.index[3], "role"] = np.nan
    kept = derive(partial, codebook, fields=["role"])
    assert kept.data.loc[partial.index[0], "role"] == "elderly" and kept.filled == {"role": 1}
    assert kept.data.loc[partial.index[3], "role"] == base.loc[partial.index[3], "role"]
    assert derive(partial, codebook, fields=["role"], overwrite=True).data["role"].tolist() == base["role"].tolist()
    with pytest.raises(evalkit.EvalkitError, match="no `derive` rule for \\['sex'\\]"):
        derive(partial, codebook, fields=["sex"])
    with pytest.raises(evalkit.EvalkitError, match="lacks the source column"):
        derive(partial.drop(columns="age"), codebook, fields=["role"])
