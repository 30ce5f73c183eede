"""Your own study, end to end (issue 11): the design step, and raw exports to the comparisons.

The design step (:func:`evalkit.io.prepare.add_design`) adds what no export contains: wave from the
submission time or a constant, weights/PSUs from a fieldwork file, stratum = community, derived
fields from the codebook's rules. Every test checks rows in = rows out and names the reported rows.
"""
from __future__ import annotations

import pandas as pd
import pytest

import evalkit
from evalkit.errors import DesignError
from evalkit.io.prepare import add_design, design_problems


@pytest.fixture(scope="module")
def study():
    return evalkit.datasets.dongying()


def _raw(n=4):
    return pd.DataFrame({"respondent_id": [f"r{i}" for i in range(n)],
                         "community_id": ["anning", "anning", "mingyue", "mingyue"][:n],
                         "age": ["34", "70", "12", "７９"][:n],
                         "submitted": ["2017-06-01 09:00:00", "2017/12/30 10:00", "2018-01-05T08:00:00+08:00",
                                       "not a time"][:n]},
                        index=pd.RangeIndex(2, n + 2, name="row"))


def test_wave_from_submission_year_with_a_cutoff_and_unparseable_time_reported(study):
    out = add_design(_raw(), study=study, wave="submitted", wave_cutoff="03-01", derive=False, require=False)
    # 2018-01-05 is before 1 March: counts to the 2017 wave; the last time cannot be read
    assert out["wave"].tolist()[:3] == ["2017", "2017", "2017"] and pd.isna(out["wave"].iloc[3])
    probs = design_problems(out)
    assert probs[["row", "column", "rule"]].values.tolist() == [[5, "wave", "no_wave"]]
    assert "wave=2017" in probs["message"].iloc[0]
    assert "submitted" in out.attrs["meta"] and len(out) == 4 and list(out.index) == [2, 3, 4, 5]
    no_cut = add_design(_raw(), study=study, wave="submitted", derive=False, require=False)
    assert no_cut["wave"].tolist()[:3] == ["2017", "2017", "2018"]


def test_constant_wave_stratum_from_community_and_derived_fields(study):
    out = add_design(_raw(), study=study, wave=2016, require=False)
    assert (out["wave"] == "2016").all()
    assert out["stratum"].tolist() == ["anning", "anning", "mingyue", "mingyue"]
    # codebook derive rules: age 34 -> 18-39 adult; 70 -> 60+ elderly; 12 -> child; full-width 79 -> 60+
    assert out["age_group"].tolist() == ["18-39", "60+", "8-17", "60+"]
    assert out["role"].tolist() == ["adult", "elderly", "child", "elderly"]


def test_fieldwork_by_respondent_reports_unmatched_and_conflicts(study, tmp_path):
    fw = tmp_path / "fieldwork.csv"
    fw.write_text("编号,楼栋,权数\nr0,P1,12.5\nr1,P2,20\nr3,P9,7\n", encoding="utf-8")
    raw = _raw()
    raw["base_weight"] = [None, None, None, "8"]
    out = add_design(raw, study=study, wave=2017, fieldwork=fw,
                     fieldwork_map={"编号": "respondent_id", "楼栋": "psu", "权数": "base_weight"})
    assert out["psu"].tolist()[:2] == ["P1", "P2"] and pd.isna(out["psu"].iloc[2])
    assert out["base_weight"].tolist()[:2] == ["12.5", "20"] and out["base_weight"].iloc[3] == "8"
    probs = design_problems(out).set_index("rule")
    assert probs.loc["not_in_fieldwork", "row"] == 4 and "r2" in probs.loc["not_in_fieldwork", "message"]
    assert probs.loc["design_conflict", "row"] == 5 and "'7'" in probs.loc["design_conflict", "message"]
    assert len(out) == len(raw)


def test_fieldwork_by_psu_within_community(study):
    raw = _raw()
    raw["psu"] = ["18号楼", "3号楼", "18号楼", "18号楼"]
    fw = pd.DataFrame({"community_id": ["anning", "anning", "mingyue"], "psu": ["18号楼", "3号楼", "18号楼"],
                       "base_weight": ["10", "11", "30"]})
    out = add_design(raw, study=study, wave=2017, fieldwork=fw, by="psu")
    assert out["base_weight"].tolist() == ["10", "11", "30", "30"]
    assert design_problems(out).query("rule != 'not_derivable'").empty


def test_errors_name_the_missing_field_and_the_parameter(study, tmp_path):
    raw = _raw().drop(columns="submitted")
    with pytest.raises(DesignError, match=r"no 'wave' column.*wave=2017.*wave='submitted'"):
        add_design(raw, study=study)
    with pytest.raises(DesignError, match=r"needs the submission time.*submitted='...'"):
        add_design(raw, study=study, wave="submitted")
    with pytest.raises(DesignError, match=r"requires the field 'base_weight'.*fieldwork="):
        add_design(raw, study=study, wave=2017)
    with pytest.raises(DesignError, match=r"wave_cutoff='03-01'"):
        add_design(_raw(), study=study, wave="submitted", wave_cutoff="March")
    dup = pd.DataFrame({"respondent_id": ["r0", "r0"], "base_weight": ["1", "2"]})
    with pytest.raises(DesignError, match=r"row 3, column 'respondent_id': 'r0' appears more than once"):
        add_design(_raw(), study=study, wave=2017, fieldwork=dup)
    with pytest.raises(DesignError, match=r"fieldwork_map="):
        add_design(_raw(), study=study, wave=2017, fieldwork=pd.DataFrame({"编号": ["r0"], "base_weight": ["1"]}))
