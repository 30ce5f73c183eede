"""Replicate weights declared in a study (``design: replicate_weights:`` of study.yaml) reach every
study-driven design: SurveyDesign.from_study, community_effects, summarise."""
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.errors import DesignError, EvalkitError, EvalkitWarning
from evalkit.evaluation.comparison import community_effects
from evalkit.spec.study import Study
from evalkit.spec.study_replicates import REPLICATE_TYPES
from evalkit.survey.design import SurveyDesign
from evalkit.survey.replicate import ReplicateDesign, ReplicateType

from .conftest import DATA

CODEBOOK = DATA / "codebook.yaml"


def _study_file(folder, design: str):
    path = folder / "study.yaml"
    path.write_text(f"codebook: {CODEBOOK}\ndesign:\n{design}", encoding="utf-8")
    return path


def _small():
    """Eight respondents with a full-sample weight and four replicate weights (made by hand)."""
    w = np.array([10.0, 12.0, 8.0, 9.0, 11.0, 10.0, 7.0, 13.0])
    rep = np.column_stack([w * f for f in ([2, 2, 0, 0, 1, 1, 1, 1], [0, 0, 2, 2, 1, 1, 1, 1],
                                           [1, 1, 1, 1, 2, 2, 0, 0], [1, 1, 1, 1, 0, 0, 2, 2])])
    df = pd.DataFrame({"community_id": list("aabbccdd"), "wave": 2017, "base_weight": w,
                       "y": [3.0, 5.0, 4.0, 6.0, 2.0, 7.0, 5.0, 4.0], "stratum": list("xxxxyyyy"),
                       "psu": [1, 1, 2, 2, 3, 3, 4, 4]})
    for j in range(rep.shape[1]):
        df[f"repw_{j + 1}"] = rep[:, j]
    return df


def test_the_types_are_those_of_replicate_design():
    assert set(REPLICATE_TYPES) == set(ReplicateType.__args__)


def test_study_file_declares_replicate_weights_apart_from_the_design_step(tmp_path):
    path = _study_file(tmp_path, "  wave: submitted\n  fieldwork: data/fw.csv\n"
                                 "  replicate_weights: {columns: \"repw_*\", type: fay, rho: 0.5, mse: true}\n")
    study = Study.from_yaml(path)
    assert study.replicate_weights == {"columns": "repw_*", "type": "Fay", "rho": 0.5, "mse": True}
    # the design step (add_design) gets only its own keys
    assert study.design == {"wave": "submitted", "fieldwork": str(tmp_path / "data/fw.csv")}
    listed = _study_file(tmp_path, "  replicate_weights:\n    columns: [r1, r2, r3]\n    type: JKn\n"
                                   "    rscales: [0.5, 0.5, 0.75]\n")
    assert Study.from_yaml(listed).replicate_weights == {"columns": ["r1", "r2", "r3"], "type": "JKn",
                                                         "rscales": [0.5, 0.5, 0.75]}
    assert Study.from_yaml(_study_file(tmp_path, "  wave: 2017\n")).replicate_weights is None
    assert repr(study).endswith("replicate weights Fay 'repw_*')") and len(repr(study).splitlines()) == 1
    filed = _study_file(tmp_path, "  replicate_weights: {columns: \"repw_*\", type: JK1, file: data/rw.csv, by: id}\n")
    assert Study.from_yaml(filed).replicate_weights["file"] == str(tmp_path / "data/rw.csv")


@pytest.mark.parametrize("spec, message", [
    ("[repw_1, repw_2]", r"must be a mapping"),
    ("{columns: \"repw_*\", type: JK1, scales: 1}", r"unknown key\(s\) \['scales'\] in design.replicate_weights"),
    ("{type: JK1}", r"needs `columns:`"),
    ("{columns: \"repw_*\"}", r"needs `type:`.*JK1"),
    ("{columns: \"repw_*\", type: jackknife}", r"type 'jackknife' is not a replicate type"),
    ("{columns: [], type: JK1}", r"columns is \[\]; give a glob pattern"),
    ("{columns: [a, b, a], type: JK1}", r"lists \['a'\] more than once"),
    ("{columns: \"repw_*\", type: Fay}", r"type: Fay needs rho:"),
    ("{columns: \"repw_*\", type: JK1, rho: 0.5}", r"rho is Fay's coefficient.*type is JK1"),
    ("{columns: \"repw_*\", type: JKn}", r"type: JKn needs rscales:"),
    ("{columns: \"repw_*\", type: other}", r"type: other needs scale:"),
    ("{columns: \"repw_*\", type: JK1, scale: -1}", r"scale must be a number > 0"),
    ("{columns: \"repw_*\", type: JK1, rscales: [1, x]}", r"rscales must be one number >= 0 or a list"),
    ("{columns: \"repw_*\", type: JK1, mse: \"no\"}", r"mse must be true or false"),
    ("{columns: \"repw_*\", type: JK1, by: id}", r"by names the key of a replicate weight file; give file:"),
    ("{columns: \"repw_*\", type: JK1, file: 3}", r"file must be the path of a CSV or Excel file"),
])
def test_a_bad_declaration_names_the_file_the_key_and_the_fix(tmp_path, spec, message):
    path = _study_file(tmp_path, f"  replicate_weights: {spec}\n")
    with pytest.raises(EvalkitError, match=message) as info:
        Study.from_yaml(path)
    assert str(path) in str(info.value)


def test_from_study_without_replicate_weights_is_the_linearisation_design():
    df = _small()
    study = evalkit.datasets.dongying()
    design = SurveyDesign.from_study(df, study)
    assert isinstance(design, SurveyDesign) and design.n_psu == 4 and design.n_strata == 2


@pytest.mark.parametrize("columns", ["repw_*", ["repw_1", "repw_2", "repw_3", "repw_4"]])
def test_from_study_gives_the_replicate_design_the_study_declares(columns):
    df = _small()
    study = evalkit.datasets.dongying().with_(
        replicate_weights={"columns": columns, "type": "other", "scale": 0.25, "rscales": 2.0, "mse": True})
    with pytest.warns(EvalkitWarning, match=r"4 columns, type other.*\['stratum', 'psu'\] are not used"):
        design = SurveyDesign.from_study(df, study)
    direct = ReplicateDesign(df, "base_weight", [f"repw_{j}" for j in range(1, 5)], "other", scale=0.25,
                             rscales=2.0, mse=True)
    assert isinstance(design, ReplicateDesign)
    assert (design.type, design.scale, design.mse) == ("other", 0.25, True)
    np.testing.assert_array_equal(design.replicate_weights, direct.replicate_weights)
    pd.testing.assert_frame_equal(design.mean("y"), direct.mean("y"))
    # keyword arguments win over the study's declaration, as for a linearisation design
    with pytest.warns(EvalkitWarning):
        assert SurveyDesign.from_study(df, study, scale=1.0).scale == 1.0


def test_factor_columns_are_multiplied_by_the_weight():
    df = _small()
    factors = df.filter(like="repw_").div(df["base_weight"], axis=0)
    df = df.drop(columns=["stratum", "psu"]).drop(columns=factors.columns).join(factors)
    study = evalkit.datasets.dongying().with_(
        replicate_weights={"columns": "repw_*", "type": "BRR", "combined_weights": False})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no strata/PSU columns: no note
        design = SurveyDesign.from_study(df, study)
    np.testing.assert_allclose(design.replicate_weights, _small().filter(like="repw_").to_numpy())
    assert design.scale == 0.25  # BRR: 1/R, R svrepdesign


def test_design_time_errors_name_the_study_file_the_key_and_the_missing_columns(tmp_path):
    df = _small().drop(columns=["stratum", "psu"])
    path = _study_file(tmp_path, "  replicate_weights: {columns: [repw_1, repw_9, wgt_2], type: JK1}\n")
    study = Study.from_yaml(path)
    with pytest.raises(DesignError, match=re.escape("lists 2 column(s) the data lack: ['repw_9', 'wgt_2']")) as info:
        SurveyDesign.from_study(df, study)
    assert str(path) in str(info.value) and "design.replicate_weights.columns" in str(info.value)
    regex = study.with_(replicate_weights={"columns": r"^repw_\d+$", "type": "JK1"})
    with pytest.raises(DesignError, match=r"a glob pattern.*matches no column of the data"):
        SurveyDesign.from_study(df, regex)
    greedy = study.with_(replicate_weights={"columns": "*w*", "type": "JK1"})
    with pytest.raises(DesignError, match=r"takes in \['wave \(the wave column\)'\].*narrower pattern"):
        SurveyDesign.from_study(df, greedy)
    with pytest.raises(DesignError, match=r"weight role 'base_weight' is not a column"):
        SurveyDesign.from_study(df.drop(columns="base_weight"), study.with_(
            replicate_weights={"columns": "repw_*", "type": "JK1"}))
    # ReplicateDesign's own checks come back naming the study file
    brr = study.with_(replicate_weights={"columns": "repw_*", "type": "BRR", "scale": 2.0})
    with pytest.raises(DesignError, match=r"study.yaml: design.replicate_weights: type='BRR' fixes scale"):
        SurveyDesign.from_study(df, brr)
    with pytest.raises(DesignError, match=r"\['psu'\] describe a linearisation design"):
        SurveyDesign.from_study(df, brr, psu="psu")


# ---------------------------------------------------------------- the shipped survey, end to end
@pytest.fixture(scope="module")
def replicated(survey, study):
    """The shipped survey with JKn replicate weights (delete-one-PSU jackknife of the study's
    stratified design, R as.svrepdesign(type="JKn")) written as columns, and the study declaring them."""
    scored = evalkit.score(survey, study.codebook)
    linear = SurveyDesign.from_study(scored, study)
    jkn = linear.as_replicate("JKn")
    names = [f"repw_{j + 1:03d}" for j in range(jkn.n_replicates)]
    data = scored.join(pd.DataFrame(jkn.replicate_weights, columns=names, index=scored.index))
    declared = study.with_(replicate_weights={"columns": "repw_*", "type": "JKn",
                                              "rscales": [float(r) for r in jkn.rscales]})
    return data, declared, linear, jkn


def test_shipped_survey_with_declared_replicates_flows_into_community_effects(replicated):
    data, declared, linear, jkn = replicated
    with pytest.warns(EvalkitWarning, match="not used"):
        design = SurveyDesign.from_study(data, declared)
    assert isinstance(design, ReplicateDesign) and design.n_replicates == jkn.n_replicates == linear.n_psu
    assert design.degf == jkn.degf == linear.degf  # JKn: #PSU - #strata, R degf
    via_study = community_effects(design, "who5", study=declared)
    direct = community_effects(jkn, "who5", study=declared)
    pd.testing.assert_frame_equal(via_study, direct)
    lin = community_effects(linear, "who5", study=declared)
    np.testing.assert_allclose(via_study["estimate"], lin["estimate"], rtol=1e-12)
    # the replicate path really ran: its SEs are its own, yet the delete-one-PSU jackknife of a
    # smooth statistic agrees with linearisation to first order (Rust & Rao 1996, Stat Methods Med
    # Res 5:283; Wolter 2007 ch. 4), within a few percent here
    assert not np.allclose(via_study["se"], lin["se"], rtol=1e-6)
    np.testing.assert_allclose(via_study["se"], lin["se"], rtol=0.05)


def test_respondent_rows_with_the_study_use_the_declared_replicate_weights(replicated):
    # needs /tmp/s4/E2_impact.patch (evaluation.impact._design builds with SurveyDesign.from_study)
    data, declared, linear, jkn = replicated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = community_effects(data, "who5", study=declared)
    pd.testing.assert_frame_equal(rows, community_effects(jkn, "who5", study=declared))


def test_summarise_uses_the_declared_replicate_weights(replicated):
    # summarise builds its design with SurveyDesign.from_study (/tmp/s4/E2_summary.patch, applied in 34f71e8)
    data, declared, linear, jkn = replicated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = evalkit.evaluation.summary.summarise(data, declared).effects
        lin = evalkit.evaluation.summary.summarise(data, declared.with_(replicate_weights=None)).effects
    ok = rep["se"].notna() & lin["se"].notna()
    assert ok.sum() > 10
    np.testing.assert_allclose(rep["estimate"], lin["estimate"], rtol=1e-12)
    assert not np.allclose(rep.loc[ok, "se"], lin.loc[ok, "se"], rtol=1e-6)
    # the SEs add community shocks estimated as comparison scatter minus sampling variance, which
    # can magnify a small difference in sampling variance in a few rows; typically they agree closely
    ratio = rep.loc[ok, "se"].to_numpy() / lin.loc[ok, "se"].to_numpy()
    assert np.median(np.abs(ratio - 1)) < 0.02


# ---------------------------------------------------------------- a study folder: read, validate, score
def test_open_study_keeps_declared_replicate_weights_through_validation(tmp_path, survey_raw, study):
    from evalkit.project import Project
    from evalkit.project.replicates import RULE

    raw = survey_raw.iloc[:300].copy()
    factors = np.where(np.arange(len(raw))[:, None] % 3 == np.arange(3)[None, :], 0.0, 1.5)
    for j in range(3):
        raw[f"repw_{j + 1}"] = (pd.to_numeric(raw["base_weight"]) * factors[:, j]).round(6).astype(object)
    raw.iloc[5, raw.columns.get_loc("repw_2")] = "n/a"   # text where a number belongs
    raw.iloc[7, raw.columns.get_loc("repw_3")] = -1.0    # a negative weight
    export = tmp_path / "export.csv"
    raw.to_csv(export, index=False, encoding="utf-8")
    declared = study.with_(read={"path": str(export), "kind": "table", "options": {}},
                           replicate_weights={"columns": "repw_*", "type": "JK1"})
    project = Project(declared, tmp_path, tmp_path / "reports")
    report, scored = project.load_survey()
    assert report.n_valid + report.n_quarantined == len(raw)
    bad = report.problems[report.problems["rule"] == RULE]
    assert bad[["column", "value"]].values.tolist() == [["repw_2", "n/a"], ["repw_3", "-1.0"]]
    assert set(bad["row"]) <= set(report.quarantined.index) and not set(bad["row"]) & set(report.valid.index)
    assert not ((report.problems["rule"] == "unknown_column") & report.problems["column"].str.startswith("repw_")).any()
    assert [f"repw_{j}" for j in (1, 2, 3)] == [c for c in scored.columns if c.startswith("repw_")]
    with pytest.warns(EvalkitWarning, match="not used"):
        design = SurveyDesign.from_study(scored, declared)
    assert isinstance(design, ReplicateDesign) and design.n_replicates == 3
    w = scored["base_weight"].to_numpy()
    np.testing.assert_allclose(design.replicate_weights, w[:, None] * factors[scored.index.map(
        dict(zip(raw.index, range(len(raw))))).to_numpy()], rtol=1e-6)


def test_replicate_weights_in_a_file_of_their_own_are_merged_by_respondent_and_wave(tmp_path, survey_raw, study):
    from evalkit.project import Project
    from evalkit.project.replicates import RULE

    raw = survey_raw.iloc[:200]
    export = tmp_path / "export.csv"
    raw.to_csv(export, index=False, encoding="utf-8")
    w = pd.to_numeric(raw["base_weight"]).to_numpy()
    file = pd.DataFrame({"respondent_id": raw["respondent_id"], "wave": raw["wave"],
                         "rw1": w * 2.0, "rw2": w * 0.5}).iloc[::-1]          # any order
    file.iloc[1:].to_csv(tmp_path / "rw.csv", index=False)                    # the last respondent is missing
    declared = study.with_(read={"path": str(export), "kind": "table", "options": {}},
                           replicate_weights={"columns": ["rw1", "rw2"], "type": "BRR",
                                              "file": str(tmp_path / "rw.csv")})
    report, scored = Project(declared, tmp_path, tmp_path / "reports").load_survey()
    assert report.n_valid + report.n_quarantined == len(raw)
    lost = report.problems[report.problems["rule"] == RULE]
    assert lost["row"].tolist() == [raw.index[-1]] and "not in the replicate weight file" in lost["message"].iloc[0]
    design = SurveyDesign.from_study(scored, declared.with_(roles=evalkit.Roles(strata=None, psu=None)))
    np.testing.assert_allclose(design.replicate_weights, scored[["base_weight"]].to_numpy() * [2.0, 0.5])
    file.iloc[[0, 0]].to_csv(tmp_path / "rw.csv", index=False)
    with pytest.raises(DesignError, match=r"rw.csv, row 3, column 'respondent_id'.*more than once \(first at row 2\)"):
        Project(declared, tmp_path, tmp_path / "reports").load_survey()


def test_a_platform_export_without_the_columns_points_to_a_replicate_file(tmp_path, survey_raw, study):
    from evalkit.project.replicates import keep_replicate_weights

    prepared = survey_raw.iloc[:50]
    report = evalkit.validate(prepared, study=study)
    wjx = study.with_(read={"path": "x.xlsx", "kind": "wjx", "options": {}},
                      replicate_weights={"columns": "repw_*", "type": "JK1"})
    with pytest.raises(DesignError, match=r"matches no column.*The wjx reader keeps only the columns your codebook "
                                          r"names: give the replicate weights in a file of their own"):
        keep_replicate_weights(prepared, report, wjx)
    assert keep_replicate_weights(prepared, report, study) is report


def test_evalkit_validate_with_a_study_declaring_replicate_weights_accepts_their_columns(tmp_path, survey_raw,
                                                                                        capsys):
    """``evalkit validate export --study folder``: declared replicate weight columns are data (exit 0),
    not unknown columns; a bad replicate weight quarantines its row under rule replicate_weight."""
    from evalkit.cli import main
    from evalkit.project.replicates import RULE

    raw = survey_raw.iloc[:200].copy()
    for j in range(3):
        raw[f"repw_{j + 1}"] = (pd.to_numeric(raw["base_weight"]) * (1.5 if j % 2 else 0.5)).round(6).astype(object)
    export = tmp_path / "export.csv"
    raw.to_csv(export, index=False, encoding="utf-8")
    (tmp_path / "study.yaml").write_text(
        f"codebook: {CODEBOOK}\ncommunities: {DATA / 'communities.csv'}\n"
        "design:\n  replicate_weights: {columns: 'repw_*', type: JK1}\n", encoding="utf-8")
    assert main(["validate", str(export), "--study", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "unknown_column" not in out and "200 rows" in out.replace(",", "")
    raw.iloc[3, raw.columns.get_loc("repw_2")] = "n/a"
    raw.to_csv(export, index=False, encoding="utf-8")
    assert main(["validate", str(export), "--study", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert RULE in out and "repw_2" in out and "unknown_column" not in out
