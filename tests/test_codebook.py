"""Loading and checking the codebook (data/codebook.yaml)."""
from pathlib import Path

import pytest
import yaml

import evalkit
from evalkit.codebook import load_codebook

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "codebook.yaml"


@pytest.fixture(scope="module")
def cb():
    return load_codebook()


def _write(tmp_path, raw):
    p = tmp_path / "cb.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return p


@pytest.fixture()
def raw():
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


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


def test_missing_file(tmp_path):
    with pytest.raises(evalkit.CodebookError, match="does not exist"):
        load_codebook(tmp_path / "nope.yaml")


def test_not_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("items: [unclosed", encoding="utf-8")
    with pytest.raises(evalkit.CodebookError, match="YAML"):
        load_codebook(p)


def test_scale_with_unknown_item(tmp_path, raw):
    raw["scales"]["who5"]["items"].append("who5_9")
    with pytest.raises(evalkit.CodebookError, match="who5_9"):
        load_codebook(_write(tmp_path, raw))


def test_item_with_unknown_code_set(tmp_path, raw):
    raw["items"]["who5_1"]["codes"] = "nonesuch"
    with pytest.raises(evalkit.CodebookError, match="nonesuch"):
        load_codebook(_write(tmp_path, raw))


def test_item_with_unknown_group(tmp_path, raw):
    raw["items"]["who5_1"]["asked_of"] = "teachers"
    with pytest.raises(evalkit.CodebookError, match="teachers"):
        load_codebook(_write(tmp_path, raw))


def test_missing_code_clashing_with_range(tmp_path, raw):
    raw["items"]["vol_hours"].pop("missing_codes")
    with pytest.raises(evalkit.CodebookError, match="also a valid answer"):
        load_codebook(_write(tmp_path, raw))


def test_adding_an_item_is_an_edit_to_the_file(tmp_path, raw):
    raw["items"]["who5_6"] = dict(raw["items"]["who5_5"], zh="新题", en="new item")
    raw["scales"]["who5"]["items"].append("who5_6")
    cb = load_codebook(_write(tmp_path, raw))
    assert "who5_6" in cb.scales["who5"].items
