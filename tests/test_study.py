"""Study: the codebook, the registry and the column roles, passed once instead of shipped defaults."""
import dataclasses

import pandas as pd
import pytest

import evalkit
from evalkit.datasets import dongying
from evalkit.datasets.simulate import SEED
from evalkit.spec.study import Roles, Study, resolve

from .conftest import DATA

CODEBOOK = DATA / "codebook.yaml"
REGISTRY = DATA / "communities.csv"


def test_from_files_reads_codebook_and_registry_and_names_roles():
    study = Study.from_files(CODEBOOK, REGISTRY, community="社区", wave="年份", strata=None, seed=7,
                             baseline_wave=2014, language="en")
    assert isinstance(study.codebook, evalkit.Codebook) and study.codebook.path == str(CODEBOOK)
    assert len(study.registry) == 14 and study.registry.attrs["source"] == str(REGISTRY)
    assert study.roles == Roles(community="社区", wave="年份", strata=None)
    assert (study.seed, study.baseline_wave, study.language) == (7, 2014, "en")
    assert study.roles.rename_map() == {"社区": "community_id", "年份": "wave"}


def test_from_files_without_registry_and_with_a_loaded_codebook(codebook):
    study = Study.from_files(codebook)
    assert study.codebook is codebook and study.registry is None and study.roles == Roles()
    assert Roles().rename_map() == {}


def test_unknown_role_is_an_error_listing_the_roles():
    with pytest.raises(evalkit.EvalkitError, match=r"unknown role\(s\) \['comunity'\]; roles are \['community', "
                                                  r"'wave', 'unit', 'household', 'role', 'weight', 'strata', 'psu'\]"):
        Study.from_files(CODEBOOK, comunity="社区")


def test_codebook_is_required_and_checked(registry):
    with pytest.raises(evalkit.EvalkitError, match=r"needs the codebook.*dongying\(\)"):
        Study.from_files(None)
    with pytest.raises(evalkit.EvalkitError, match="needs a loaded codebook"):
        Study(str(CODEBOOK))
    with pytest.raises(evalkit.EvalkitError, match=r"Study\(registry=...\) needs a table"):
        Study.from_files(CODEBOOK).with_(registry=str(REGISTRY))
    with pytest.raises(evalkit.EvalkitError, match="Roles"):
        Study(evalkit.load_codebook(CODEBOOK), registry, roles={"community": "x"})
    with pytest.raises(evalkit.EvalkitError, match="seed"):
        Study(evalkit.load_codebook(CODEBOOK), seed="20171")
    with pytest.raises(evalkit.EvalkitError, match="baseline_wave"):
        Study(evalkit.load_codebook(CODEBOOK), baseline_wave=2014.5)
    with pytest.raises(evalkit.EvalkitError, match="language"):
        Study(evalkit.load_codebook(CODEBOOK), language="fr")


def test_start_years_and_require_registry(codebook, registry):
    study = Study(codebook, registry)
    years = study.start_years()
    assert years["anning"] == 2015 and years["heping"] == 2016 and years["wenyuan"] is None
    assert years == evalkit.spec.registry.start_years(registry)
    assert study.require_registry("att_gt") is study.registry
    bare = Study(codebook)
    with pytest.raises(evalkit.EvalkitError, match=r"att_gt needs the community registry"):
        bare.require_registry("att_gt")
    with pytest.raises(evalkit.EvalkitError, match=r"start_years needs the community registry"):
        bare.start_years()


def test_a_study_is_immutable(codebook, registry):
    mine = registry.copy()
    study = Study(codebook, mine)
    with pytest.raises(dataclasses.FrozenInstanceError):
        study.seed = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        study.roles.community = "x"
    # the registry is copied: editing the caller's table later does not change the study
    mine.loc[mine.index[0], "start_year"] = 1999
    assert study.registry["start_year"].iloc[0] != 1999
    other = study.with_(seed=1)
    assert (other.seed, study.seed) == (1, 20171) and other.codebook is study.codebook
    # equality is identity (a study holds tables), so a study can be a dict key
    assert study != Study(codebook, registry) and study == study and {study: 1}[study] == 1


def test_repr_is_short(codebook, registry):
    text = repr(Study(codebook, registry, Roles(weight="w")))
    assert text.startswith("Study(Codebook(") and "14 communities" in text and "weight='w'" in text
    assert len(text.splitlines()) == 1


def test_dongying_is_the_shipped_example():
    study = dongying()
    assert isinstance(study, Study)
    assert study.codebook.path == str(evalkit.datasets.data_path("codebook.yaml"))
    assert study.registry.attrs["source"] == str(evalkit.datasets.data_path("communities.csv"))
    assert len(study.registry) == 14 and study.roles == Roles()
    assert (study.seed, study.language, study.baseline_wave) == (SEED, "zh", None)
    assert dongying(language="en").language == "en"
    assert study.start_years()["mingyue"] is not None


def test_dongying_follows_evalkit_data(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(evalkit.EvalkitError, match="EVALKIT_DATA"):
        dongying()


def test_resolve_prefers_explicit_arguments(codebook, registry):
    study = Study(codebook, registry)
    assert resolve(None, None, study, "f") == (codebook, study.registry)
    own = registry.head(3)
    cb, reg = resolve(CODEBOOK, own, study, "f")
    assert cb.path == str(CODEBOOK) and reg is own
    cb, reg = resolve(None, REGISTRY, None, "f", codebook_required=False)
    assert cb is None and len(reg) == 14
    with pytest.raises(evalkit.CodebookError, match=r"f needs the codebook"):
        resolve(None, None, None, "f")
    with pytest.raises(evalkit.EvalkitError, match="study must be an evalkit.Study"):
        resolve(None, None, codebook, "f")
    with pytest.raises(evalkit.EvalkitError, match="registry must be a DataFrame"):
        resolve(codebook, ["anning"], None, "f")


def test_the_shipped_survey_through_a_study_is_the_survey_through_files(survey_raw, codebook, registry):
    study = dongying()
    by_study = evalkit.validate(evalkit.read_survey(DATA / "survey.csv", study=study), study=study)
    by_files = evalkit.validate(survey_raw, codebook, registry=registry)
    assert by_study.ok and by_study.registry_mapped == 0
    pd.testing.assert_frame_equal(by_study.valid, by_files.valid)


def test_dongying_survey_is_one_call_for_a_notebook(survey, codebook):
    study, scored = evalkit.datasets.dongying_survey()
    assert isinstance(study, Study) and study.seed == SEED and scored.attrs == {}
    expected = evalkit.score(survey, codebook)
    pd.testing.assert_frame_equal(scored, expected, check_dtype=False)
    _, unscored = evalkit.datasets.dongying_survey(scored=False)
    pd.testing.assert_frame_equal(unscored, survey, check_dtype=False)


# ----------------------------------------------------------------------------- the study file

def _study_yaml(folder, text):
    (folder / "study.yaml").write_text(text, encoding="utf-8")
    return folder / "study.yaml"


def test_study_file_with_inline_communities_resolves_paths_and_keeps_parameters(tmp_path):
    import shutil

    shutil.copy(CODEBOOK, tmp_path / "cb.yaml")
    path = _study_yaml(tmp_path, """
title: {zh: 我的评估, en: my evaluation}
language: en
seed: 11
min_n: 12
waves: [2016, 2017]
baseline_wave: 2016
codebook: cb.yaml
communities:
  - {id: hexie, name: 和谐社区, role: programme, start_year: 2017, budget: 200000, targets: [cohesion, ucla3@elderly],
     population: {male_18_39: 100, female_18_39: 120}}
  - {id: anle, name: 安乐社区, role: comparison, population: {male_18_39: 90, female_18_39: 95}}
roles: {household: null}
export: {path: data/raw/x.xlsx, kind: wjx, options: {drop: [来自IP], xlsform: form.xlsx}}
design: {wave: submitted, fieldwork: data/fw.csv, by: psu}
""")
    study = Study.from_yaml(path)
    assert (study.language, study.seed, study.min_n, study.waves, study.baseline_wave) == ("en", 11, 12, (2016, 2017), 2016)
    assert study.title == "my evaluation" and study.path == str(path) and study.roles.household is None
    reg = study.registry.set_index("community_id")
    assert reg.loc["hexie", "name_zh"] == "和谐社区" and int(reg.loc["hexie", "start_year"]) == 2017
    assert pd.isna(reg.loc["anle", "start_year"]) and reg.loc["hexie", "budget"] == 200000
    assert int(reg.loc["anle", "pop_female_18_39"]) == 95
    targets = evalkit.programme_targets(study.registry).fillna("")
    assert targets.values.tolist() == [["hexie", "cohesion", ""], ["hexie", "ucla3", "elderly"]]
    assert study.read == {"path": str(tmp_path / "data/raw/x.xlsx"), "kind": "wjx",
                          "options": {"drop": ["来自IP"], "xlsform": str(tmp_path / "form.xlsx")}}
    assert study.design == {"wave": "submitted", "fieldwork": str(tmp_path / "data/fw.csv"), "by": "psu"}
    assert evalkit.spec.study.load_study_file(tmp_path).registry.equals(study.registry)


def test_study_file_with_a_short_registry_csv(tmp_path):
    (tmp_path / "communities.csv").write_text("id,name,role,start_year,targets,budget\n"
                                              "hexie,和谐社区,programme,2017,cohesion,200000\n"
                                              "anle,安乐社区,comparison,,,\n", encoding="utf-8")
    path = _study_yaml(tmp_path, f"codebook: {CODEBOOK}\ncommunities: communities.csv\n")
    reg = Study.from_yaml(path).registry.set_index("community_id")
    assert reg.loc["hexie", "name_zh"] == "和谐社区" and reg.loc["anle", "name_pinyin"] == "anle"
    assert int(reg.loc["hexie", "start_year"]) == 2017 and pd.isna(reg.loc["anle", "start_year"])
    assert reg.loc["hexie", "target_indicators"] == "cohesion" and reg.attrs["source"].endswith("communities.csv")
    (tmp_path / "communities.csv").write_text("id,role,start_year\nhexie,programme,\n", encoding="utf-8")
    with pytest.raises(evalkit.EvalkitError, match=r"communities.csv, row 2, column 'start_year'"):
        Study.from_yaml(path)


@pytest.mark.parametrize("text, message", [
    ("codebook: {cb}\ncomunities: x.csv\n", r"unknown key\(s\) \['comunities'\] in the study file"),
    ("title: x\n", r"needs `codebook: <your codebook.yaml>`.*evalkit codebook draft"),
    ("codebook: {cb}\nexport: {{path: x.csv, kind: excel}}\n", r"export.kind 'excel' is not a reader"),
    ("codebook: {cb}\ncommunities:\n  - {{id: a, role: programme}}\n", r"row 2.*start_year.*needs the year"),
    ("codebook: {cb}\ncommunities:\n  - {{id: a, role: comparison, size: 3}}\n", r"unknown key\(s\) \['size'\] in communities, entry 1"),
    ("codebook: {cb}\nroles: {{comunity: x}}\n", r"unknown role\(s\) in roles"),
    ("codebook: {cb}\nwaves: 2017\n", r"waves=\.\.\.\) must list the waves"),
    ("codebook: {cb}\nx: &a 1\n", r"anchor or alias"),
])
def test_study_file_errors_name_the_key(tmp_path, text, message):
    path = _study_yaml(tmp_path, text.format(cb=CODEBOOK))
    with pytest.raises(evalkit.EvalkitError, match=message):
        Study.from_yaml(path)
