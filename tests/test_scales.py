"""Scale scoring (evalkit.measure.scales): worked examples from the published scoring rules.

Every expected value is computed by hand in the comment next to it from the rule cited in
the shipped codebook.yaml (WHO-5: Topp et al. 2015; SWEMWBS: Stewart-Brown et al. 2009 conversion table;
UCLA-3: Hughes et al. 2004 with the 6–9 'lonely' split; BSCS: Peterson et al. 2008; collective
efficacy: Sampson et al. 1997; KIDSCREEN-10 recoding: kidscreen.org 'evaluation by hand').
The fixtures are built here from the codebook, so the tests do not need the shipped survey.csv.
"""
from __future__ import annotations

import ast
import copy
import functools

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.spec.codebook import load_codebook
from evalkit.errors import CodebookError, EvalkitError
from evalkit.measure.scales import describe_scales, score, score_columns

NAN = np.nan


@functools.cache
def _shipped():
    from evalkit.datasets import DONGYING

    return load_codebook(DONGYING / "codebook.yaml")


@pytest.fixture(scope="module")
def cb():
    return _shipped()


def frame(cb, rows: list[dict], fill=NAN) -> pd.DataFrame:
    """A table with every item column of the codebook; unspecified answers are `fill`."""
    out = pd.DataFrame({it: [fill] * len(rows) for it in cb.items}, dtype="float64")
    for i, r in enumerate(rows):
        for k, v in r.items():
            out.loc[i, k] = v
    return out


def items(prefix: str, values) -> dict:
    return {f"{prefix}{i}": v for i, v in enumerate(values, start=1)}


# --------------------------------------------------------------------------------- WHO-5

def test_who5_worked_examples(cb):
    rows = [
        items("who5_", [3, 3, 3, 3, 3]),  # raw 15 x 4 = 60 (manual: all 'more than half the time')
        items("who5_", [0, 0, 0, 0, 0]),  # raw 0 -> 0
        items("who5_", [5, 5, 5, 5, 5]),  # raw 25 -> 100
        items("who5_", [2, 1, 2, 1, 1]),  # raw 7 x 4 = 28
        items("who5_", [3, 3, 3, 2, 2]),  # raw 13 x 4 = 52
    ]
    s = score(frame(cb, rows), cb, scales="who5")
    assert s["who5"].tolist() == [60.0, 0.0, 100.0, 28.0, 52.0]
    assert s["who5_n"].tolist() == [5] * 5


def test_who5_bands_at_published_boundaries(cb):
    # Topp et al. (2015): <=28 likely depression, <=50 poor wellbeing (inclusive upper bounds).
    rows = [
        items("who5_", [2, 1, 2, 1, 1]),  # 28 -> likely_depression
        items("who5_", [2, 1, 2, 1, NAN]),  # prorated: 6/4*5*4 = 30 -> poor_wellbeing
        items("who5_", [3, 2, 3, 2, NAN]),  # prorated: 10/4*5*4 = 50 -> poor_wellbeing (<= 50)
        items("who5_", [3, 3, 3, 2, 2]),  # 52 -> adequate_wellbeing
    ]
    s = score(frame(cb, rows), cb, scales="who5")
    assert s["who5"].tolist() == [28.0, 30.0, 50.0, 52.0]
    assert s["who5_band"].astype(str).tolist() == [
        "likely_depression", "poor_wellbeing", "poor_wellbeing", "adequate_wellbeing"]
    assert s["who5_band"].cat.ordered
    assert list(s["who5_band"].cat.categories) == ["likely_depression", "poor_wellbeing",
                                                   "adequate_wellbeing"]


def test_who5_band_limits_29_and_51_via_a_single_item_copy(cb, tmp_path):
    # WHO-5 scores are multiples of 4 or 5, so 29 and 51 cannot occur; the same cut-offs on a
    # 0-100 single item show that 28 is in the lower band, 29 is not, and 50 vs 51 likewise.
    raw = yaml.safe_load(open(cb.path, encoding="utf-8"))
    raw["items"]["probe"] = {"scale": "probe", "type": "integer", "min": 0, "max": 100,
                             "missing_codes": {9997: "dont_know"}, "zh": "探针", "en": "probe"}
    raw["scales"]["probe"] = {"zh": "探针", "en": "probe", "items": ["probe"],
                              "scoring": {"method": "single"}, "range": [0, 100],
                              "cutoffs": copy.deepcopy(raw["scales"]["who5"]["cutoffs"]), "citation": "test"}
    path = tmp_path / "cb.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    cb2 = load_codebook(path)
    s = score(pd.DataFrame({"probe": [28, 29, 50, 51, 100, 0]}), cb2, scales="probe")
    assert s["probe_band"].astype(str).tolist() == [
        "likely_depression", "poor_wellbeing", "poor_wellbeing", "adequate_wellbeing",
        "adequate_wellbeing", "likely_depression"]


def test_who5_proration_boundary(cb):
    # min_answered 4: four answers -> prorated mean x 5 x 4; three answers -> missing.
    rows = [
        items("who5_", [4, 4, 3, 3, NAN]),  # 14/4 * 5 * 4 = 70
        items("who5_", [4, 4, 3, NAN, NAN]),  # 3 answered -> NaN
    ]
    s = score(frame(cb, rows), cb, scales="who5")
    assert s["who5"].iloc[0] == pytest.approx(70.0)
    assert np.isnan(s["who5"].iloc[1])
    assert s["who5_n"].tolist() == [4, 3]
    assert pd.isna(s["who5_band"].iloc[1])


# --------------------------------------------------------------------------------- SWEMWBS

# Warwick Medical School SWEMWBS conversion table (raw 7..35 -> metric), typed here from the
# published table (Stewart-Brown et al. 2009), independently of the shipped codebook.yaml.
SWEMWBS_TABLE = [7.00, 9.51, 11.25, 12.40, 13.33, 14.08, 14.75, 15.32, 15.84, 16.36, 16.88, 17.43,
                 17.98, 18.59, 19.25, 19.98, 20.73, 21.54, 22.35, 23.21, 24.11, 25.03, 26.02, 27.03,
                 28.13, 29.31, 30.70, 32.55, 35.00]


def _pattern(raw: int, k: int = 7, lo: int = 1, hi: int = 5) -> list[int]:
    """k answers in lo..hi summing to raw (fill from the first item)."""
    vals = [lo] * k
    rest = raw - lo * k
    for i in range(k):
        add = min(hi - lo, rest)
        vals[i] += add
        rest -= add
    assert sum(vals) == raw
    return vals


def test_swemwbs_conversion_table_every_raw_score(cb):
    rows = [items("swemwbs_", _pattern(r)) for r in range(7, 36)]
    s = score(frame(cb, rows), cb, scales="swemwbs")
    np.testing.assert_allclose(s["swemwbs"].to_numpy(), SWEMWBS_TABLE, rtol=0, atol=1e-12)


def test_swemwbs_named_points_and_complete_responses_only(cb):
    rows = [
        items("swemwbs_", [1] * 7),  # raw 7 -> 7.00
        items("swemwbs_", [3] * 7),  # raw 21 -> 19.25
        items("swemwbs_", [5] * 7),  # raw 35 -> 35.00
        items("swemwbs_", [3, 3, 3, 3, 3, 3, NAN]),  # 6 of 7: user guide asks for all -> NaN
    ]
    s = score(frame(cb, rows), cb, scales="swemwbs")
    assert s["swemwbs"].iloc[:3].tolist() == [7.00, 19.25, 35.00]
    assert np.isnan(s["swemwbs"].iloc[3])
    assert "swemwbs_band" not in s.columns  # no cut-offs defined


# --------------------------------------------------------------------------------- UCLA-3

def test_ucla3_lonely_split_between_5_and_6(cb):
    rows = [
        items("ucla_", [1, 1, 1]),  # 3 -> not lonely
        items("ucla_", [1, 2, 2]),  # 5 -> not lonely (3-5)
        items("ucla_", [2, 2, 2]),  # 6 -> lonely (6-9)
        items("ucla_", [3, 3, 3]),  # 9 -> lonely
        items("ucla_", [3, 3, NAN]),  # all three required -> NaN
    ]
    s = score(frame(cb, rows), cb, scales="ucla3")
    assert s["ucla3"].iloc[:4].tolist() == [3.0, 5.0, 6.0, 9.0]
    assert np.isnan(s["ucla3"].iloc[4])
    assert s["ucla3_band"].astype(str).tolist()[:4] == ["not_lonely", "not_lonely", "lonely", "lonely"]
    assert pd.isna(s["ucla3_band"].iloc[4])


# --------------------------------------------------------------------------------- BSCS

def test_bscs_total_and_subscales(cb):
    rows = [
        items("bscs_", [5, 4, 3, 3, 2, 2, 1, 5]),  # total 25/8 = 3.125; subs 4.5, 3, 2, 3
        items("bscs_", [5, 4, 3, 3, 2, 2, NAN, NAN]),  # 6 answered: 19/6; emotional (both missing) NaN
        items("bscs_", [5, NAN, 3, 3, 2, 2, 1, NAN]),  # 6 answered: 16/6; needs & emotional NaN
        items("bscs_", [5, 4, 3, 3, 2, NAN, NAN, NAN]),  # 5 answered < 6 -> total NaN
    ]
    s = score(frame(cb, rows), cb, scales="bscs")
    np.testing.assert_allclose(s["bscs"].to_numpy(), [3.125, 19 / 6, 16 / 6, NAN])
    np.testing.assert_allclose(s["bscs_needs_fulfilment"].to_numpy(), [4.5, 4.5, NAN, 4.5])
    np.testing.assert_allclose(s["bscs_membership"].to_numpy(), [3, 3, 3, 3])
    np.testing.assert_allclose(s["bscs_influence"].to_numpy(), [2, 2, 2, NAN])
    np.testing.assert_allclose(s["bscs_emotional_connection"].to_numpy(), [3, NAN, NAN, NAN])
    assert s["bscs_n"].tolist() == [8, 6, 6, 5]


# --------------------------------------------------------------------------------- collective efficacy

def test_cohesion_reverse_keying_and_collective_efficacy_composite(cb):
    rows = [
        # cohesion items 4 and 5 reverse-keyed: 2 -> 1+5-2 = 4, so cohesion = 4; control = 2
        {**items("ce_coh_", [4, 4, 4, 2, 2]), **items("ce_ctl_", [2, 2, 2, 2, 2])},  # CE = (4+2)/2 = 3
        # cohesion (5,4,3, 1->5, 5->1): mean 18/5 = 3.6; control (3,4,5,NaN,NaN): 4; CE = 3.8
        {**items("ce_coh_", [5, 4, 3, 1, 5]), **items("ce_ctl_", [3, 4, 5, NAN, NAN])},
        # cohesion with 2 answered (< 3) -> NaN, so CE (needs both) -> NaN
        {**items("ce_coh_", [5, 4, NAN, NAN, NAN]), **items("ce_ctl_", [3, 3, 3, 3, 3])},
    ]
    s = score(frame(cb, rows), cb, scales=["cohesion", "social_control", "collective_efficacy"])
    np.testing.assert_allclose(s["cohesion"].to_numpy(), [4.0, 3.6, NAN])
    np.testing.assert_allclose(s["social_control"].to_numpy(), [2.0, 4.0, 3.0])
    np.testing.assert_allclose(s["collective_efficacy"].to_numpy(), [3.0, 3.8, NAN])
    assert s["collective_efficacy_n"].tolist() == [2, 2, 1]


def test_composite_alone_scores_its_components_internally(cb):
    df = frame(cb, [{**items("ce_coh_", [4, 4, 4, 2, 2]), **items("ce_ctl_", [2] * 5)}])
    s = score(df, cb, scales="collective_efficacy")
    assert s["collective_efficacy"].iloc[0] == 3.0  # (4 + 2) / 2
    assert "cohesion" not in s.columns and "social_control" not in s.columns


# --------------------------------------------------------------------------------- KIDSCREEN-10 style

def test_kidscreen_reversal_of_items_3_and_4_and_0_100_rescale(cb):
    rows = [
        items("kid_", [3] * 10),  # raw 30 -> (30-10)/40*100 = 50
        items("kid_", [5, 5, 1, 1, 5, 5, 5, 5, 5, 5]),  # 3,4: 1 -> 5; raw 50 -> 100
        items("kid_", [5] * 10),  # 3,4: 5 -> 1; raw 8*5 + 2 = 42 -> 80
        items("kid_", [1, 1, 5, 5, 1, 1, 1, 1, 1, 1]),  # 3,4: 5 -> 1; raw 10 -> 0
        items("kid_", [4, 4, 2, 2, 4, 4, 4, 4, NAN, NAN]),  # 8 answered, all 4 after recoding: 40 -> 75
        items("kid_", [4, 4, 2, 2, 4, 4, 4, NAN, NAN, NAN]),  # 7 answered < 8 -> NaN
    ]
    s = score(frame(cb, rows), cb, scales="kidscreen10")
    np.testing.assert_allclose(s["kidscreen10"].to_numpy(), [50, 100, 80, 0, 75, NAN])
    assert s["kidscreen10_n"].tolist() == [10, 10, 10, 10, 8, 7]


# --------------------------------------------------------------------------------- proration boundaries

@pytest.mark.parametrize("scale,prefix,values,expected", [
    # cohesion: mean, min_answered 3 (items 4,5 reversed; all 3s stay 3)
    ("cohesion", "ce_coh_", [3, 4, 5, NAN, NAN], 4.0),
    ("cohesion", "ce_coh_", [3, 4, NAN, NAN, NAN], NAN),
    # care_access (60+): mean, min_answered 2
    ("care_access", "care_", [2, 4, NAN], 3.0),
    ("care_access", "care_", [2, NAN, NAN], NAN),
    # WHO-5: sum, prorated, min 4: (5+5+4+4)/4*5*4 = 90
    ("who5", "who5_", [5, 5, 4, 4, NAN], 90.0),
    ("who5", "who5_", [5, 5, 4, NAN, NAN], NAN),
])
def test_min_answered_boundaries(cb, scale, prefix, values, expected):
    s = score(frame(cb, [items(prefix, values)]), cb, scales=scale)
    if np.isnan(expected):
        assert np.isnan(s[scale].iloc[0])
    else:
        assert s[scale].iloc[0] == pytest.approx(expected)


# --------------------------------------------------------------------------------- missing codes

@pytest.mark.parametrize("code", [97, 98, 99])
def test_missing_codes_are_not_answers(cb, code):
    # who5_5 = 97/98/99 must behave exactly like a blank (prorated from the other four)
    coded = score(frame(cb, [items("who5_", [3, 3, 3, 3, code])]), cb, scales="who5")
    blank = score(frame(cb, [items("who5_", [3, 3, 3, 3, NAN])]), cb, scales="who5")
    assert coded["who5"].iloc[0] == blank["who5"].iloc[0] == 60.0  # 12/4 * 5 * 4
    assert coded["who5_n"].iloc[0] == 4


def test_item_specific_missing_codes(cb):
    # vol_hours declares 9997/9998/9999 as its missing codes; 97 hours is a valid answer.
    s = score(frame(cb, [{"vol_hours": 97}, {"vol_hours": 9997}, {"vol_hours": 12.5}]), cb,
              scales="volunteering_hours")
    np.testing.assert_allclose(s["volunteering_hours"].to_numpy(), [97.0, NAN, 12.5])


def test_group_items_missing_for_others_gives_missing_score(cb):
    # care items are asked of the elderly only; adults carry blanks or 99 (not applicable)
    df = frame(cb, [items("care_", [3, 3, 4]), items("care_", [99, 99, 99]), {}])
    df["role"] = ["elderly", "adult", "adult"]
    s = score(df, cb, scales="care_access")
    np.testing.assert_allclose(s["care_access"].to_numpy(), [10 / 3, NAN, NAN])


def test_nullable_integer_input_and_input_untouched(cb):
    df = frame(cb, [items("who5_", [1, 2, 3, 4, 97]), items("who5_", [5, 5, 5, 5, 5])])
    for c in cb.items:
        df[c] = df[c].astype("Int64")
    before = df.copy()
    s = score(df, cb, scales="who5")
    pd.testing.assert_frame_equal(df, before)
    assert s["who5"].tolist() == [50.0, 100.0]  # 10/4*5*4 = 50 ; 25*4
    assert list(s.columns[: len(df.columns)]) == list(df.columns)


# --------------------------------------------------------------------------------- errors

def test_out_of_range_value_error_names_column_count_and_example(cb):
    df = frame(cb, [items("who5_", [7, 3, 3, 3, 3]), items("who5_", [7, 3, 3, 3, 3]),
                    items("who5_", [1, 3, 3, 3, 3])])
    with pytest.raises(EvalkitError) as exc:
        score(df, cb, scales="who5")
    msg = str(exc.value)
    assert "'who5_1'" in msg and "2 value(s)" in msg and "e.g. 7" in msg
    assert "evalkit.validate" in msg


def test_fractional_code_is_an_error(cb):
    df = frame(cb, [items("ucla_", [1.5, 2, 2])])
    with pytest.raises(EvalkitError, match="'ucla_1'.*1.5"):
        score(df, cb, scales="ucla3")


def test_missing_item_column_is_an_error(cb):
    df = frame(cb, [items("who5_", [3] * 5)]).drop(columns=["who5_3"])
    with pytest.raises(EvalkitError, match="who5_3.*who5"):
        score(df, cb, scales="who5")


def _suggested_call(message: str) -> str:
    start = message.index("score(df, codebook, scales=[")
    return message[start:message.index("])", start) + 2]


def test_suggested_call_is_complete_python_that_scores_what_the_table_holds(cb):
    # issue 9: the call was cut at 200 characters, so it was not valid Python. Here every item
    # is present except WHO-5's: the remaining 23 scales make a list far longer than 200 characters.
    df = frame(cb, [{}]).drop(columns=[f"who5_{i}" for i in range(1, 6)])
    with pytest.raises(EvalkitError) as exc:
        score(df, cb)
    call = _suggested_call(str(exc.value))
    assert len(call) > 200
    tree = ast.parse(call, mode="eval")  # a SyntaxError here is the bug
    named = ast.literal_eval(tree.body.keywords[0].value)
    assert named == [s for s in cb.scales if s != "who5"]
    out = eval(call, {"score": score, "df": df, "codebook": cb})  # the suggestion works as written
    assert "who5" not in out.columns and set(named) <= set(out.columns)


def test_suggested_call_leaves_out_a_composite_whose_component_lacks_items(cb):
    # collective_efficacy = mean of cohesion and social_control: without cohesion's items it cannot
    # be scored either, so the suggestion must not name it
    keep = [it for s in ("social_control", "who5") for it in cb.scales[s].items]
    df = frame(cb, [{}])[keep]
    with pytest.raises(EvalkitError, match="cohesion, collective_efficacy") as exc:
        score(df, cb, scales=["who5", "collective_efficacy", "social_control"])
    call = _suggested_call(str(exc.value))
    assert ast.literal_eval(ast.parse(call, mode="eval").body.keywords[0].value) == ["who5", "social_control"]


def test_no_call_is_suggested_when_nothing_can_be_scored(cb):
    with pytest.raises(EvalkitError, match=r"column_map=\{\.\.\.\}\)\.$") as exc:
        score(pd.DataFrame({"age": [30.0]}), cb, scales=["who5", "ucla3"])
    assert "scales=[" not in str(exc.value)


def test_codebook_may_be_given_as_a_path(cb, tmp_path):
    df = frame(cb, [items("who5_", [3, 3, 1, 4, 5])])
    pd.testing.assert_frame_equal(score(df, str(cb.path), scales="who5"), score(df, cb, scales="who5"))
    with pytest.raises(CodebookError, match=r"score\(\): codebook must be a Codebook.*got dict"):
        score(df, {"who5": []})
    with pytest.raises(CodebookError, match="does not exist"):
        score(df, tmp_path / "missing.yaml")


def test_text_column_is_an_error(cb):
    df = frame(cb, [items("who5_", [3] * 5)])
    df["who5_2"] = pd.Series(["three"], dtype="str")
    with pytest.raises(EvalkitError, match="'who5_2' is not numeric"):
        score(df, cb, scales="who5")


def test_unknown_scale_is_an_error(cb):
    with pytest.raises(CodebookError, match="no scale named 'who6'"):
        score(frame(cb, [{}]), cb, scales="who6")


# --------------------------------------------------------------------------------- output shape

def test_all_scales_columns_and_types(cb):
    df = frame(cb, [{}])
    s = score(df, cb)
    expected = score_columns(cb)
    assert [c for c in s.columns if c in set(expected)] == expected
    for name, sc in cb.scales.items():
        assert s[name].dtype == np.float64
        assert s[f"{name}_n"].dtype == np.int8
        if sc.cutoffs:
            assert isinstance(s[f"{name}_band"].dtype, pd.CategoricalDtype)
    assert "who5_band" not in score(df, cb, bands=False).columns


def test_scale_named_like_its_item_keeps_identical_values(cb):
    df = frame(cb, [{"deliberation": 1}, {"deliberation": 0}, {"deliberation": 97}])
    s = score(df, cb, scales="deliberation")
    np.testing.assert_allclose(s["deliberation"].to_numpy(), [1, 0, NAN])
    assert s["deliberation_n"].tolist() == [1, 1, 0]


def test_rescoring_a_scored_table_gives_the_same_scores(cb):
    df = frame(cb, [items("who5_", [3, 3, 3, 3, 3]), items("bscs_", [5] * 8)])
    once = score(df, cb)
    twice = score(once, cb)
    pd.testing.assert_frame_equal(once, twice[once.columns])


def test_describe_scales(cb):
    t = describe_scales(cb)
    assert list(t.columns) == ["scale", "zh", "en", "domain", "group", "kind", "n_items", "range",
                               "rule", "citation"]
    assert t["scale"].tolist() == list(cb.scales)
    row = t.set_index("scale").loc["kidscreen10"]
    assert row["n_items"] == 10 and row["range"] == "0–100" and row["group"] == "child"
    assert "reversed: kid_3, kid_4" in row["rule"] and "0–100" in row["rule"]
    assert (t["citation"].str.len() > 0).all()


# --------------------------------------------------------------------------------- a new scale, no code

def test_new_scale_added_to_a_codebook_copy_is_scored_without_code_changes(cb, tmp_path):
    raw = yaml.safe_load(open(cb.path, encoding="utf-8"))
    raw = copy.deepcopy(raw)
    for i in (1, 2, 3, 4):
        raw["items"][f"nb_{i}"] = {"scale": "neighbourliness", "asked_of": "adults",
                                   "codes": "agree5", "zh": f"新题{i}", "en": f"new item {i}"}
    raw["items"]["nb_4"]["reverse"] = True
    raw["scales"]["neighbourliness"] = {
        "zh": "睦邻", "en": "Neighbourliness", "domain": "cohesion", "items": [f"nb_{i}" for i in (1, 2, 3, 4)],
        "item_range": [1, 5],
        "scoring": {"method": "sum", "min_answered": 3, "prorate": True, "transform": "linear_0_100"},
        "range": [0, 100],
        "cutoffs": [{"upto": 50, "label": "low"}, {"upto": 100, "label": "high"}],
        "citation": "test scale",
    }
    for i in (1, 2, 3):
        raw["items"][f"act_{i}"] = {"scale": "activities", "codes": "yesno", "zh": f"活动{i}", "en": f"activity {i}"}
    raw["scales"]["activities"] = {"zh": "活动数", "en": "Activities", "items": ["act_1", "act_2", "act_3"],
                                   "scoring": {"method": "count"}, "range": [0, 3], "citation": "test"}
    # a sum converted by a table, with proration: shows the round-half-up rule before the lookup
    for i in (1, 2, 3):
        raw["items"][f"tb_{i}"] = {"scale": "tabled", "codes": "ucla3", "zh": f"表{i}", "en": f"tabled {i}"}
    raw["tables"]["tabled_metric"] = {r: 10.0 * r for r in range(3, 10)}
    raw["scales"]["tabled"] = {"zh": "表", "en": "Tabled", "items": ["tb_1", "tb_2", "tb_3"],
                               "scoring": {"method": "sum", "min_answered": 2, "prorate": True,
                                           "transform": "table", "table": "tabled_metric"},
                               "range": [30, 90], "citation": "test"}
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    cb2 = load_codebook(path)
    df = pd.DataFrame({
        "nb_1": [5, 3, 5, 1], "nb_2": [5, 3, 5, NAN], "nb_3": [5, 3, NAN, NAN], "nb_4": [1, 3, 1, 5],
        "act_1": [1, 0, 1, NAN], "act_2": [1, 0, NAN, 1], "act_3": [0, 0, 1, 1],
        "tb_1": [1, 2, 3, 1], "tb_2": [2, 2, 3, NAN], "tb_3": [NAN, 2, 3, NAN],
    })
    s = score(df, cb2, scales=["neighbourliness", "activities", "tabled"])
    # neighbourliness: nb_4 reversed (1 -> 5); raw sum 4..20
    #   row0: 5+5+5+5 = 20 -> 100; row1: 3*4 = 12 -> (12-4)/16*100 = 50
    #   row2: answered 5,5,(1->5): mean 5 * 4 = 20 -> 100; row3: 2 answered (< 3) -> NaN
    np.testing.assert_allclose(s["neighbourliness"].to_numpy(), [100, 50, 100, NAN])
    assert s["neighbourliness_band"].astype(str).tolist()[:3] == ["high", "low", "high"]
    # activities: count of 'yes' (the top code) among answered items, all 3 required by default
    np.testing.assert_allclose(s["activities"].to_numpy(), [2, 0, NAN, NAN])
    # tabled: row0 (1+2)/2*3 = 4.5 -> rounds half up to 5 -> 50; row1 6 -> 60; row2 9 -> 90;
    # row3 one answer (< 2) -> NaN
    np.testing.assert_allclose(s["tabled"].to_numpy(), [50, 60, 90, NAN])


def test_table_without_an_entry_is_a_codebook_error(cb, tmp_path):
    raw = yaml.safe_load(open(cb.path, encoding="utf-8"))
    raw["tables"]["swemwbs_rasch"].pop(21)
    path = tmp_path / "cb.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    cb2 = load_codebook(path)
    with pytest.raises(CodebookError, match="no entry for raw score\\(s\\) 21"):
        score(frame(cb2, [items("swemwbs_", [3] * 7)]), cb2, scales="swemwbs")


# --------------------------------------------------------------------------------- property

def _answers(var):
    if var.codes is not None:
        valid = [float(c) for c in var.codes]
    else:
        lo, hi = var.valid_range
        valid = [float(lo), float(hi), float((lo + hi) // 2)]
    return st.sampled_from(valid + [NAN] + [float(c) for c in var.missing_codes])


@settings(max_examples=40)
@given(data=st.data())
def test_scores_stay_inside_declared_ranges(data):
    cb = _shipped()
    n = data.draw(st.integers(1, 12))
    df = pd.DataFrame({
        it: data.draw(st.lists(_answers(var), min_size=n, max_size=n)) for it, var in cb.items.items()
    })
    s = score(df, cb)
    for name, sc in cb.scales.items():
        v = s[name].to_numpy()
        v = v[~np.isnan(v)]
        lo, hi = sc.score_range
        assert ((v >= lo - 1e-9) & (v <= hi + 1e-9)).all(), name
        k = len(sc.items) or len(sc.composite_of)
        assert s[f"{name}_n"].between(0, k).all()
        for sub in sc.subscales:
            w = s[f"{name}_{sub}"].dropna()
            assert w.between(sc.item_min, sc.item_max).all()


def test_codebook_or_study_is_required_never_the_shipped_file(cb):
    from evalkit.spec.study import Study

    df = pd.DataFrame({f"who5_{i}": [3, 1] for i in range(1, 6)})
    with pytest.raises(EvalkitError, match=r"score\(\) needs the codebook of your survey.*study="):
        score(df)
    with pytest.raises(EvalkitError, match=r"describe_scales\(\) needs the codebook"):
        describe_scales()
    study = Study(cb)
    pd.testing.assert_frame_equal(score(df, study=study, scales="who5"), score(df, cb, scales="who5"))
    pd.testing.assert_frame_equal(describe_scales(study=study), describe_scales(cb))
    # an explicit codebook wins over the study's
    assert score(df, cb, study=study, scales="who5")["who5"].tolist() == [60.0, 20.0]
