"""Loading and checking the codebook: the shipped file, its JSON Schema and the cross-references.

Reference values are first principles: each test edits one key of a copy of the shipped codebook
(or writes a small one) and checks that the error names that entry, that key and the line the
key is on in the written file, found by searching the text.
"""
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import evalkit
from evalkit.spec import codebook as codebook_module
from evalkit.spec.codebook import load_codebook
from evalkit.spec.codebook_schema import SCHEMA_PATH, codebook_problems, codebook_schema

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = next(p for p in (ROOT / "evalkit" / "datasets" / "dongying" / "codebook.yaml",
                           ROOT / "data" / "codebook.yaml") if p.exists())

MINIMAL = """\
fields:
  respondent_id: {type: id, zh: 受访者编号}
  community_id: {type: community, en: community}
  wave: {type: integer, en: survey wave}
items:
  q1: {type: integer, min: 0, max: 10, en: "Satisfaction (0-10)"}
"""


@pytest.fixture(scope="module")
def cb():
    return load_codebook(SHIPPED)


def _write(tmp_path, raw):
    p = tmp_path / "cb.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return p


def _refused(tmp_path, raw):
    """The CodebookError a codebook copy raises, and the written file's lines."""
    p = _write(tmp_path, raw)
    with pytest.raises(evalkit.CodebookError) as info:
        load_codebook(p)
    return info.value, p.read_text(encoding="utf-8").splitlines()


def _line_of(lines, text, after=0):
    """1-based number of the first line after line `after` that contains `text`."""
    return next(i for i, line in enumerate(lines, start=1) if i > after and text in line)


@pytest.fixture()
def raw():
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------- the shipped file

def test_shipped_codebook_loads(cb):
    assert {"respondent_id", "household_id", "community_id", "wave", "stratum", "psu", "base_weight",
            "sex", "age", "age_group", "role"} <= set(cb.fields)
    assert cb.scales["who5"].items == ("who5_1", "who5_2", "who5_3", "who5_4", "who5_5")
    assert cb.scales["cohesion"].reverse_items == ("ce_coh_4", "ce_coh_5")
    assert cb.scales["kidscreen10"].reverse_items == ("kid_3", "kid_4")
    assert cb.items["kid_1"].roles == ("child",)
    assert cb.items["care_1"].roles == ("elderly",)
    assert cb.items["who5_1"].valid_range == (0, 5)
    assert {c: m.reason for c, m in cb.missing_codes.items()} == {
        97: "dont_know", 98: "refused", 99: "not_applicable"}


def test_shipped_codebook_has_no_schema_or_reference_problem(raw):
    assert codebook_problems(raw) == []


def test_shipped_labels_the_schema_caught(cb):
    # Before the schema, an unquoted comma in a flow mapping cut the psu label (the rest became a
    # key of its own), and YAML read `en: no` / `en: yes` as booleans, shown as "False"/"True".
    assert cb.fields["psu"].label.en.endswith("stable across waves")
    assert {c: lab.en for c, lab in cb.fields["left_behind"].codes.items()} == {0: "no", 1: "yes"}


def test_every_item_has_both_languages_and_a_scale(cb):
    for item in cb.items.values():
        assert item.label.zh and item.label.en
        assert item.scale in cb.scales


def test_every_scale_cites_its_source(cb):
    for s in cb.scales.values():
        assert len(s.citation) > 20, s.name


def test_item_with_range_containing_missing_code_needs_its_own_codes(cb):
    assert cb.items["vol_hours"].missing_codes[9997] == "dont_know"
    assert 97 not in cb.items["vol_hours"].missing_codes


def test_schema_file_is_a_valid_json_schema_and_matches_the_code():
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    defs = schema["$defs"]
    assert tuple(defs["item"]["properties"]["type"]["enum"]) == codebook_module.VARIABLE_TYPES
    assert tuple(defs["field"]["properties"]["type"]["enum"]) == codebook_module.VARIABLE_TYPES
    assert tuple(defs["reason"]["enum"]) == codebook_module.MISSING_REASONS
    assert codebook_schema() == schema


def test_inlined_schema_finds_the_same_errors_as_the_file(raw):
    # the validator inlines `$ref`s for speed; the schema file as written must give the same errors
    from jsonschema import Draft202012Validator

    from evalkit.spec.codebook_schema import _jsonable, _validator

    raw["scales"]["who5"]["scoring"]["min_anwsered"] = "four"
    raw["items"]["who5_1"].pop("codes")
    raw["items"]["who5_2"].pop("zh"), raw["items"]["who5_2"].pop("en")
    raw["fields"]["age_group"]["min"] = 0
    raw["code_sets"]["yesno"]["y"] = "yes"
    raw["scales"]["collective_efficacy"].pop("composite_of")
    doc = _jsonable(raw)

    def found(validator):
        return sorted((tuple(map(str, e.absolute_path)), e.validator) for e in validator.iter_errors(doc))

    assert found(_validator()) == found(Draft202012Validator(codebook_schema()))
    assert len(found(_validator())) == 6


# --------------------------------------------------------------------------------- file-level errors

def test_no_codebook_is_an_error_naming_the_fix():
    # generic code never falls back on the shipped example (issue 10: hidden Dongying defaults)
    for call in (lambda: load_codebook(), lambda: load_codebook(None),
                 lambda: codebook_module.as_codebook(None, "score()")):
        with pytest.raises(evalkit.CodebookError) as info:
            call()
        assert "evalkit.datasets.dongying()" in str(info.value)
    with pytest.raises(evalkit.CodebookError, match=r"^score\(\) needs the codebook"):
        codebook_module.as_codebook(None, "score()")


def test_as_codebook_takes_a_study(cb):
    study = evalkit.Study(cb)
    assert codebook_module.as_codebook(study, "x") is cb

def test_missing_file(tmp_path):
    with pytest.raises(evalkit.CodebookError, match="does not exist"):
        load_codebook(tmp_path / "nope.yaml")


def test_not_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("items: [unclosed", encoding="utf-8")
    with pytest.raises(evalkit.CodebookError, match="YAML"):
        load_codebook(p)


def test_top_level_not_a_mapping(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- fields\n- items\n", encoding="utf-8")
    with pytest.raises(evalkit.CodebookError, match="must be a mapping with the sections `fields` and `items`"):
        load_codebook(p)


def test_minimal_codebook_loads_and_validates(tmp_path):
    # minimal = `fields` with respondent_id, community_id and wave, and one item; no other section
    p = tmp_path / "minimal.yaml"
    p.write_text(MINIMAL, encoding="utf-8")
    cb = load_codebook(p)
    assert list(cb.fields) == ["respondent_id", "community_id", "wave"] and list(cb.items) == ["q1"]
    assert cb.scales == {} and cb.missing_codes == {} and cb.title.en == "minimal"
    assert cb.fields["respondent_id"].label.en == "受访者编号"  # one language fills the other
    df = pd.DataFrame({"respondent_id": ["a", "b"], "community_id": ["c1", "c1"], "wave": [2020, 2020],
                       "q1": [3, 11]})
    report = evalkit.validate(df, cb)
    assert len(report.valid) == 1 and report.problems["rule"].tolist() == ["out_of_range"]


@pytest.mark.parametrize("drop", ["respondent_id", "community_id", "wave"])
def test_minimal_codebook_needs_each_id_field(tmp_path, drop):
    raw = yaml.safe_load(MINIMAL)
    del raw["fields"][drop]
    err, _ = _refused(tmp_path, raw)
    assert f"fields: missing field `{drop}`" in str(err)


def test_each_missing_field_is_listed_once(tmp_path):
    raw = yaml.safe_load(MINIMAL)
    del raw["fields"]["community_id"], raw["fields"]["wave"]
    err, _ = _refused(tmp_path, raw)
    assert [str(p) for p in err.problems] == [
        "line 1, fields: missing field `community_id`", "line 1, fields: missing field `wave`"]


# --------------------------------------------------------------------------------- typos and types

def test_min_anwsered_typo_is_refused_with_the_suggestion(tmp_path, raw):
    raw["scales"]["who5"]["scoring"]["min_anwsered"] = raw["scales"]["who5"]["scoring"].pop("min_answered")
    err, lines = _refused(tmp_path, raw)
    line = _line_of(lines, "min_anwsered:")
    assert str(err).startswith(f"{tmp_path / 'cb.yaml'}: 1 problem in the codebook:")
    assert (f"line {line}, scales.who5.scoring: unknown key `min_anwsered`; did you mean `min_answered`?"
            in str(err))
    assert [(p.path, p.key, p.line) for p in err.problems] == [
        (("scales", "who5", "scoring"), "min_anwsered", line)]


def test_reversed_typo_is_refused_with_the_suggestion(tmp_path, raw):
    raw["items"]["ce_coh_4"]["reversed"] = raw["items"]["ce_coh_4"].pop("reverse")
    err, lines = _refused(tmp_path, raw)
    line = _line_of(lines, "reversed: true", after=_line_of(lines, "ce_coh_4:"))
    assert f"line {line}, items.ce_coh_4: unknown key `reversed`; did you mean `reverse`?" in str(err)


def test_every_problem_is_listed_not_only_the_first(tmp_path, raw):
    raw["scales"]["who5"]["scoring"]["min_anwsered"] = raw["scales"]["who5"]["scoring"].pop("min_answered")
    raw["items"]["ce_coh_4"]["reversed"] = raw["items"]["ce_coh_4"].pop("reverse")
    raw["items"]["who5_1"]["codes"] = "nonesuch"
    err, _ = _refused(tmp_path, raw)
    assert str(err).splitlines()[0].endswith("3 problems in the codebook:")
    assert sorted(p.where for p in err.problems) == ["items.ce_coh_4", "items.who5_1", "scales.who5.scoring"]
    assert [p.line for p in err.problems] == sorted(p.line for p in err.problems)  # in file order


def test_unknown_top_level_section(tmp_path, raw):
    raw["scale"] = raw.pop("scales")
    err, _ = _refused(tmp_path, raw)
    assert "top level: unknown section `scale`; did you mean `scales`?" in str(err)


def test_unknown_key_without_a_close_match_lists_the_valid_keys(tmp_path, raw):
    raw["groups"]["adult"]["colour"] = "red"
    err, _ = _refused(tmp_path, raw)
    assert "groups.adult: unknown key `colour`; valid keys: `roles`, `zh`, `en`" in str(err)


def test_wrong_type_names_the_path(tmp_path, raw):
    raw["scales"]["who5"]["scoring"]["min_answered"] = "four"
    err, _ = _refused(tmp_path, raw)
    assert "scales.who5.scoring.min_answered: `min_answered` must be a whole number, got 'four'" in str(err)


def test_unknown_word_is_refused_with_the_suggestion(tmp_path, raw):
    raw["scales"]["ucla3"]["scoring"]["method"] = "summ"
    err, _ = _refused(tmp_path, raw)
    assert "scales.ucla3.scoring.method: `method` is 'summ', which is not one of `sum`" in str(err)
    assert "did you mean `sum`?" in str(err)


def test_unquoted_yes_no_label_is_refused_with_the_yaml_hint(tmp_path):
    p = tmp_path / "yesno.yaml"
    p.write_text(MINIMAL + "  q2: {codes: {0: {zh: 否, en: no}, 1: {zh: 是, en: yes}}, zh: 问题2}\n",
                 encoding="utf-8")
    with pytest.raises(evalkit.CodebookError) as info:
        load_codebook(p)
    assert "line 7, items.q2.codes.0.en: `en` must be text or a number, got False" in str(info.value)
    assert "put the text in quotes" in str(info.value)


def test_answer_code_that_is_not_a_number(tmp_path, raw):
    raw["code_sets"]["yesno"]["y"] = {"zh": "是", "en": "yes"}
    err, _ = _refused(tmp_path, raw)
    assert "code_sets.yesno: `y` is not a whole number" in str(err)


def test_label_is_required(tmp_path, raw):
    del raw["items"]["who5_1"]["zh"], raw["items"]["who5_1"]["en"]
    err, _ = _refused(tmp_path, raw)
    assert "items.who5_1: needs a Chinese (`zh`) or English (`en`) label" in str(err)


def test_code_type_needs_codes_and_category_takes_no_min(tmp_path, raw):
    del raw["items"]["who5_1"]["codes"]
    raw["fields"]["age_group"]["min"] = 0
    err, _ = _refused(tmp_path, raw)
    assert "items.who5_1: missing key `codes`: type `code`" in str(err)
    assert "fields.age_group: `min`, `max` and `min_exclusive` apply only to types `integer` and `number`" \
        in str(err)


def test_transform_and_method_requirements(tmp_path, raw):
    del raw["scales"]["who5"]["scoring"]["factor"]
    del raw["scales"]["collective_efficacy"]["composite_of"]
    err, _ = _refused(tmp_path, raw)
    assert "scales.who5.scoring: missing key `factor`: transform `multiply` needs a `factor`" in str(err)
    assert "scales.collective_efficacy: missing key `composite_of`" in str(err)


# --------------------------------------------------------------------------------- cross-references

def test_scale_with_unknown_item(tmp_path, raw):
    raw["scales"]["who5"]["items"].append("who5_9")
    with pytest.raises(evalkit.CodebookError, match="who5_9"):
        load_codebook(_write(tmp_path, raw))


def test_item_with_unknown_code_set(tmp_path, raw):
    raw["items"]["who5_1"]["codes"] = "nonesuch"
    with pytest.raises(evalkit.CodebookError, match="nonesuch"):
        load_codebook(_write(tmp_path, raw))


def test_unknown_code_set_suggests_the_closest(tmp_path, raw):
    raw["items"]["bscs_1"]["codes"] = "agree_5"
    err, _ = _refused(tmp_path, raw)
    assert ("items.bscs_1: `codes` names the code set `agree_5`, which is not defined under `code_sets`; "
            "did you mean `agree5`?") in str(err)


def test_item_with_unknown_group(tmp_path, raw):
    raw["items"]["who5_1"]["asked_of"] = "teachers"
    with pytest.raises(evalkit.CodebookError, match="teachers"):
        load_codebook(_write(tmp_path, raw))


def test_item_and_scale_must_agree(tmp_path, raw):
    raw["items"]["who5_5"]["scale"] = "swemwbs"  # who5 still lists it; swemwbs does not
    err, _ = _refused(tmp_path, raw)
    assert "scales.who5.items[4]: item `who5_5` says it belongs to scale `swemwbs`" in str(err)
    assert "items.who5_5: `scale` says `swemwbs`, but that scale does not list `who5_5`" in str(err)


def test_item_subscale_must_be_a_subscale_of_its_scale(tmp_path, raw):
    raw["items"]["bscs_1"]["subscale"] = "membership"
    raw["items"]["bscs_2"]["subscale"] = "needs_fulfillment"
    err, _ = _refused(tmp_path, raw)
    assert "items.bscs_1: `subscale` says `membership`, but scale `bscs` does not list `bscs_1`" in str(err)
    assert "items.bscs_2: `subscale` `needs_fulfillment` is not a subscale of scale `bscs`" in str(err)
    assert "did you mean `needs_fulfilment`?" in str(err)


def test_unknown_table_group_and_component(tmp_path, raw):
    raw["scales"]["swemwbs"]["scoring"]["table"] = "swemwbs"
    raw["scales"]["care_access"]["group"] = "elder"
    raw["scales"]["collective_efficacy"]["composite_of"] = ["cohesion", "control"]
    err, _ = _refused(tmp_path, raw)
    assert "scales.swemwbs.scoring: `table` names the table `swemwbs`" in str(err)
    assert "scales.care_access: `group` names the group `elder`" in str(err)
    assert "scales.collective_efficacy.composite_of[1]: `composite_of` names the scale `control`" in str(err)


def test_missing_code_clashing_with_range(tmp_path, raw):
    raw["items"]["vol_hours"].pop("missing_codes")
    with pytest.raises(evalkit.CodebookError, match="also a valid answer"):
        load_codebook(_write(tmp_path, raw))


def test_values_that_contradict_each_other(tmp_path, raw):
    raw["fields"]["age"]["min"] = 120
    raw["scales"]["who5"]["scoring"]["min_answered"] = 6
    raw["scales"]["bscs"]["item_range"] = [5, 1]
    err, _ = _refused(tmp_path, raw)
    assert "fields.age: `min` 120 is greater than `max` 105" in str(err)
    assert "scales.who5.scoring: `min_answered` 6 is more than the scale's 5 items" in str(err)
    assert "scales.bscs: `item_range` [5, 1] has low > high" in str(err)


def test_keys_that_would_have_no_effect_are_refused(tmp_path, raw):
    raw["scales"]["ucla3"]["scoring"]["factor"] = 4  # no transform: the factor would be ignored
    raw["scales"]["trust_neighbours"]["scoring"]["min_answered"] = 1
    err, _ = _refused(tmp_path, raw)
    assert "scales.ucla3.scoring: `factor` is used only with `transform: multiply`" in str(err)
    assert "scales.trust_neighbours.scoring: `min_answered` has no effect with `method: single`" in str(err)


def test_adding_an_item_is_an_edit_to_the_file(tmp_path, raw):
    raw["items"]["who5_6"] = dict(raw["items"]["who5_5"], zh="新题", en="new item")
    raw["scales"]["who5"]["items"].append("who5_6")
    cb = load_codebook(_write(tmp_path, raw))
    assert "who5_6" in cb.scales["who5"].items


# --------------------------------------------------------------------------------- robustness

def _paths(node, pre=()):
    yield pre
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield from _paths(v, pre + (k,))


def test_damaged_codebooks_end_in_a_codebook_or_a_codebook_error(raw):
    # 150 seeded damages (a value replaced by junk, or a key dropped) of the shipped codebook: the
    # checks must catch whatever would crash the builder, so that nothing but a CodebookError escapes.
    # (Measured on 3000 such damages: before the schema 396 ended in TypeError, ValueError, ... .)
    import copy
    import random

    from evalkit.spec.codebook import codebook_from_dict

    junk = [None, 0, -1, 2.5, "x", "", [], {}, True, [1, "a"], {"a": 1}, {1: "a"}, "agree5", [5, 1]]
    where = [p for p in _paths(raw) if p]
    rng = random.Random(1)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(150):
        bad = copy.deepcopy(raw)
        path = rng.choice(where)
        node = bad
        for k in path[:-1]:
            node = node[k]
        if rng.random() < 0.75 or not isinstance(node, dict):
            node[path[-1]] = copy.deepcopy(rng.choice(junk))
        else:
            del node[path[-1]]
        try:
            codebook_from_dict(bad, "damaged")
            outcomes["loaded"] += 1
        except evalkit.CodebookError as err:
            assert err.problems, str(err)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100 and outcomes["loaded"] > 0, outcomes


# --------------------------------------------------------------------------------- derived fields

def test_shipped_derive_rules(cb):
    assert set(cb.derived) == {"age_group", "role"}
    role = cb.derived["role"]
    assert role.source == "age" and role.describe() == "child ≤ 17, adult ≤ 59, elderly above"
    assert list(role.apply([8, 17, 18, 59, 60, 105, None, "x"])) == [
        "child", "child", "adult", "adult", "elderly", "elderly", None, None]
    assert list(cb.derived["age_group"].apply([17, 18, 39, 40, 59, 60])) == [
        "8-17", "18-39", "18-39", "40-59", "40-59", "60+"]


def test_a_closed_last_band_leaves_values_above_it_underived(tmp_path):
    raw = yaml.safe_load(MINIMAL)
    raw["fields"]["band"] = {"type": "category", "values": ["low", "high"], "en": "band"}
    raw["derive"] = {"band": {"from": "q1", "cuts": [{"upto": 4, "value": "low"}, {"upto": 10, "value": "high"}]}}
    cb = load_codebook(_write(tmp_path, raw))
    assert list(cb.derived["band"].apply([0, 4, 4.5, 10, 11])) == ["low", "low", "high", "high", None]


def test_derive_typos_and_bad_rules_are_refused(tmp_path, raw):
    raw["derive"]["role"]["form"] = raw["derive"]["role"].pop("from")
    raw["derive"]["age_group"]["cuts"][2]["upto"] = 30          # not above the previous band's 39
    raw["derive"]["age_group"]["cuts"][3]["value"] = "65+"      # not one of age_group's values
    raw["derive"]["age_grup"] = {"from": "sex", "cuts": [{"value": "x"}]}
    err, lines = _refused(tmp_path, raw)
    msg = str(err)
    assert f"line {_line_of(lines, 'form:')}, derive.role: unknown key `form`; did you mean `from`?" in msg
    assert "derive.age_group.cuts[2]: `upto` 30 is not above the previous band's 39" in msg
    assert "derive.age_group.cuts[3]: `value` '65+' is not a valid value of `age_group`" in msg
    assert "derive.age_grup: the derived field `age_grup` is not defined under `fields` or `items`; " \
           "did you mean `age_group`?" in msg
    assert "derive.role: missing key `from`" in msg


def test_derive_needs_a_numeric_source_and_bands_with_upto(tmp_path, raw):
    raw["derive"]["role"]["from"] = "community_id"
    raw["derive"]["age_group"]["cuts"][1].pop("upto")
    raw["derive"]["age_group"]["from"] = "agee"
    err, _ = _refused(tmp_path, raw)
    msg = str(err)
    assert "derive.role: `from` names `community_id` of type `community`; cut points need a numeric field" in msg
    assert "derive.age_group.cuts[1]: only the last band may leave out `upto`" in msg
    assert "derive.age_group: the source `from` `agee` is not defined under `fields` or `items`; " \
           "did you mean `age`?" in msg


# ------------------------------------------------------- checks moved here from scoring (measure.scales)

def test_cutoffs_must_increase(tmp_path, raw):
    cuts = raw["scales"]["who5"]["cutoffs"]
    assert len(cuts) >= 2
    cuts[1]["upto"] = cuts[0]["upto"]
    err, _ = _refused(tmp_path, raw)
    assert f"scales.who5.cutoffs[1]: `upto` {cuts[0]['upto']} is not above the previous band's" in str(err)


def test_composite_of_itself_through_other_scales_is_refused(tmp_path, raw):
    # collective_efficacy = mean of cohesion and social_control; make social_control a composite of
    # collective_efficacy: a cycle the old loader accepted and scoring refused only when scored
    sc = raw["scales"]["social_control"]
    for key in ("items", "item_range", "subscales", "subscale_min_answered"):
        sc.pop(key, None)
    sc["composite_of"] = ["collective_efficacy"]
    sc["scoring"] = {"method": "mean_of_scales"}
    for item in raw["items"].values():
        if item.get("scale") == "social_control":
            item.pop("scale"), item.pop("subscale", None)
    err, _ = _refused(tmp_path, raw)
    cycles = [p for p in err.problems if "composite of itself" in p.message]
    assert len(cycles) == 1
    assert "collective_efficacy -> social_control -> collective_efficacy" in cycles[0].message \
        or "social_control -> collective_efficacy -> social_control" in cycles[0].message


def test_empty_raw_range_is_refused(tmp_path, raw):
    name = next(n for n, s in raw["scales"].items() if s["scoring"].get("transform") == "linear_0_100")
    raw["scales"][name]["scoring"]["raw_range"] = [3, 3]
    err, _ = _refused(tmp_path, raw)
    assert f"scales.{name}.scoring: `raw_range` [3, 3] has low = high" in str(err)
