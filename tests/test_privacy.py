"""Personal data: detection by column name and content, refusal without printing values,
drop/allow, and keyed pseudonyms that keep the panel linked."""
import datetime as dt
import hashlib
import hmac

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.io.privacy import (KEY_ENV, KEY_FILE_ENV, citizen_id_check_digit, detect_personal_data,
                             check_key_strength, is_citizen_id, patterns_table, pseudonymise)
from evalkit.io.read import read_survey

from .conftest import DATA, ROOT

#: a test key from secrets.token_hex(32); test-only, public, never a study's key
KEY = "2eb13d1e56011f9020ff61e2aa6eadb57572d508a72d0e2e70a4ee0bccfc6bee"


def _check_char(first17: str) -> str:
    """The GB 11643-1999 / ISO 7064 MOD 11-2 check character, written from the definition
    independently of evalkit: weights W = 2^(17-i) mod 11 for the digits i = 0..16 from the
    left, S = sum(d_i W_i), check value (12 - S mod 11) mod 11, written "X" when it is 10."""
    s = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    value = (12 - s % 11) % 11
    return "X" if value == 10 else str(value)


def _id(first17):
    return first17 + _check_char(first17)


# --- citizen ID numbers -------------------------------------------------------------------------
# Published examples, with their sources:
PUBLISHED_IDS = [
    "11010519491231002X",  # GB 11643-1999, the standard's worked example (S = 167)
    "440524188001010014",  # the second example printed next to it in widely reproduced
    #                        descriptions of the standard ("广东省汕头市", S = 195; born 1880)
    "53010219200508011X",  # widely reproduced worked example showing S = 189, 189 mod 11 = 2
    "360426199101010071",  # python-stdnum, tests/test_cn_ric.doctest, ric.validate()
    "44011320141005001X",  # python-stdnum, tests/test_cn_ric.doctest, ric.validate()
]
# ORCID iDs use the same ISO/IEC 7064 MOD 11-2 on 15 digits; two leading zeros (weight times
# 0) make them 17 digits. Sources: ORCID support "Structure of the ORCID identifier" and its
# checksum spreadsheet (0000-0002-1825-0097, 0000-0003-1415-9269), Cambridge University
# Press's FileMaker OrcidCheckDigit ("000000021694233" -> X), FYIcenter "Checksum of ORCID
# Number" (0000-0002-9079-593X), oidplus.com ORCID AID examples (0009-0001-5055-9262).
PUBLISHED_ORCIDS = ["0000-0002-1825-0097", "0000-0003-1415-9269", "0000-0002-1694-233X",
                    "0000-0002-9079-593X", "0009-0001-5055-9262"]


def test_check_digit_worked_examples():
    # GB 11643-1999 worked example: 11010519491231002 -> check character X
    assert citizen_id_check_digit("11010519491231002") == "X"
    # hand computation: 44052418800101001 -> weighted sum 4*7+4*9+0*10+5*5+2*8+4*4+1*2+8*1+8*6+0*3
    # +0*7+1*9+0*10+1*5+0*8+0*4+1*2 = 195; 195 mod 11 = 8 -> "10X98765432"[8] = "4"
    assert citizen_id_check_digit("44052418800101001") == "4"
    assert is_citizen_id("11010519491231002X") and is_citizen_id("11010519491231002x")


@pytest.mark.parametrize("value", PUBLISHED_IDS)
def test_published_citizen_ids(value):
    assert citizen_id_check_digit(value[:17]) == value[17] == _check_char(value[:17])
    if value[6:10] >= "1900":  # is_citizen_id also requires a birth date from 1900 on
        assert is_citizen_id(value)
    for wrong in "0123456789X".replace(value[17], ""):
        assert not is_citizen_id(value[:17] + wrong)


@pytest.mark.parametrize("orcid", PUBLISHED_ORCIDS)
def test_published_iso_7064_mod_11_2_examples(orcid):
    digits = orcid.replace("-", "")
    assert citizen_id_check_digit("00" + digits[:15]) == digits[15] == _check_char("00" + digits[:15])


def test_every_check_character_against_the_definition():
    # For each of the 11 check characters an ID whose check is that character (found by
    # varying the sequence code), then 2,000 random digit strings: evalkit == the definition.
    found = {}
    for seq in range(1000):
        first17 = f"37050219800101{seq:03d}"
        found.setdefault(_check_char(first17), first17)
    assert sorted(found) == sorted("0123456789X")
    for char, first17 in found.items():
        assert citizen_id_check_digit(first17) == char
        assert is_citizen_id(first17 + char)
        assert not any(is_citizen_id(first17 + c) for c in "0123456789X" if c != char)
    rng = np.random.default_rng(11643)
    for digits in rng.integers(0, 10, size=(2000, 17)):
        first17 = "".join(map(str, digits))
        assert citizen_id_check_digit(first17) == _check_char(first17)


@pytest.mark.parametrize("value", [
    "110105194912310021",       # wrong check digit
    "37050219800230123" + "X",  # 30 February
    "91010519491231002X",       # region code cannot start with 9
    "1101051949123100",         # too short
    "abcdefghijklmnopqr",
])
def test_not_citizen_ids(value):
    assert not is_citizen_id(value)


def test_future_birth_date_is_not_an_id():
    nxt = dt.date.today().year + 1
    assert not is_citizen_id(_id(f"370502{nxt}0101123"))
    assert is_citizen_id(_id("37050220000101123"), today=dt.date(2017, 1, 1))
    assert not is_citizen_id(_id("37050220180101123"), today=dt.date(2017, 1, 1))


# --- detection ----------------------------------------------------------------------------------
@pytest.mark.parametrize("column,kind", [
    ("姓名", "name"), ("受访者姓名", "name"), ("联系人", "name"), ("name", "name"), ("full_name", "name"),
    ("respondent/name", "name"), ("手机号", "phone"), ("联系电话", "phone"), ("phone", "phone"),
    ("Mobile", "phone"), ("身份证号", "citizen_id"), ("id_card", "citizen_id"), ("家庭住址", "address"),
    ("address", "address"), ("微信号", "contact"), ("QQ", "contact"), ("email", "contact"),
    ("来自IP", "ip_address"), ("_geolocation", "location"), ("GPS", "location"), ("deviceid", "device_id"),
    ("出生日期", "birth_date"),
])
def test_detected_by_column_name(column, kind):
    df = pd.DataFrame({column: ["x1", "x2"], "age": ["30", "40"]}, index=[2, 3])
    found = detect_personal_data(df)
    assert found[["column", "kind", "detected_by"]].values.tolist() == [[column, kind, "column name"]]


@pytest.mark.parametrize("column", ["respondent_id", "household_id", "community_id", "name_zh",
                                    "community_name", "社区名称", "psu", "base_weight", "wave"])
def test_survey_columns_are_not_personal(column):
    df = pd.DataFrame({column: ["anning-H0001-A", "anning"]}, index=[2, 3])
    assert detect_personal_data(df).empty


def test_a_coded_question_that_mentions_a_phone_is_not_flagged_by_name():
    df = pd.DataFrame({"您是否接到过社区电话回访": ["1", "0", "97"]})
    assert detect_personal_data(df).empty


@pytest.mark.parametrize("values,kind", [
    (["13812345678", "", ""], "phone"),
    (["+86 138 1234 5678", "", ""], "phone"),
    (["86-139-0000-1111", "", ""], "phone"),
    (["１３８１２３４５６７８", "", ""], "phone"),          # full-width digits
    ([13912345678.0, np.nan, np.nan], "phone"),        # Excel number
    (["家里电话 0546-8221234", "", ""], "phone"),
    ([_id("37050219800101123"), "", ""], "citizen_id"),
    (["东城街道黄河路58号", "", ""], "address"),
    (["3号楼2单元301室", "", ""], "address"),
    (["请联系 zhang.wei@example.com", "", ""], "contact"),
    (["QQ：12345678", "", ""], "contact"),
    (["wxid_ab12cd34ef", "", ""], "contact"),
    (["10.12.3.4", "", ""], "ip_address"),
    (["37.451234 118.492345 12.0 5.0", "", ""], "location"),
    (["张伟", "李秀英", "欧阳娜娜"], "name"),
])
def test_detected_by_content_with_example_row(values, kind):
    df = pd.DataFrame({"q7": values, "age": ["30", "40", "50"]}, index=[2, 3, 4])
    found = detect_personal_data(df)
    assert found[["column", "kind", "detected_by", "example_row"]].values.tolist() == [["q7", kind, "content", 2]]


@pytest.mark.parametrize("values", [
    ["安宁社区", "杨庙", "和平社区", "李家村社区", "明月", "文苑", "安宁"],   # communities of the registry
    ["东城街道", "董集镇", "垦利区", "东营区"],                              # streets, towns, districts
    ["非常同意", "同意", "一般", "不知道", "拒绝回答", "有时", "经常"],      # answer labels
    ["110105194912310021", "13.8", "2017", "138123456789"],               # wrong check digit, 12 digits
    ["张伟", "张伟", "张伟", "张伟", "张伟", "张伟", "李娜", "李娜", "王芳", "王芳",
     "王芳", "王芳", "王芳", "王芳", "王芳", "王芳", "王芳"] * 3,            # 3 values repeated: a category
])
def test_not_flagged_by_content(values, codebook, registry):
    assert detect_personal_data(pd.DataFrame({"q": values}), codebook=codebook, registry=registry).empty
    assert detect_personal_data(pd.DataFrame({"q": values}), study=evalkit.Study(codebook, registry)).empty


def test_community_names_come_from_the_registry_given_not_the_shipped_one(registry):
    # issue 10: privacy loaded the shipped registry and codebook even for a user's own survey
    names = pd.DataFrame({"q": ["杨庙", "明月", "文苑", "安宁", "杨庙", "明月", "文苑"]})
    assert detect_personal_data(names)["kind"].tolist() == ["name"]   # no registry: they look like names
    assert detect_personal_data(names, registry=registry).empty
    own = pd.DataFrame({"name_zh": ["高家社区", "孙庄社区", "王桥社区", "李屯社区"], "district": "河口区",
                        "street": "义和镇"})
    theirs = pd.DataFrame({"q": ["高家", "孙庄", "王桥", "李屯", "高家社区"]})
    assert detect_personal_data(theirs, registry=own).empty
    assert detect_personal_data(theirs, registry=registry)["kind"].tolist() == ["name"]
    assert detect_personal_data(theirs, not_names=["高家", "孙庄", "王桥", "李屯"]).empty


def test_shipped_data_hold_no_personal_data(survey_raw, codebook, registry):
    assert detect_personal_data(survey_raw).empty
    read_survey(DATA / "raw" / "messy_export_gbk.csv")  # the default check passes
    read_survey(DATA / "raw" / "messy_export_gbk.csv", codebook, registry=registry)


def test_patterns_table_lists_every_kind():
    t = patterns_table()
    assert t["kind"].tolist() == ["name", "phone", "citizen_id", "address", "contact", "ip_address",
                                  "location", "device_id", "birth_date"]


# --- refusal, drop, allow --------------------------------------------------------------------------
@pytest.fixture
def export(tmp_path, survey_raw):
    frame = survey_raw.head(6).copy()
    frame.insert(1, "姓名", ["张伟", "李娜", "王芳", "刘洋", "陈静", "杨帆"])
    frame.insert(2, "联系电话", ["13812345678", "", "139-0000-1111", "", "", ""])
    frame["备注"] = ["", "", "", "", "身份证 " + _id("37050219800101123"), ""]
    p = tmp_path / "export.csv"
    frame.to_csv(p, index=False, encoding="gbk")
    return p, frame


def test_reader_refuses_and_names_column_kind_and_row_never_the_value(export, codebook):
    p, frame = export
    with pytest.raises(evalkit.PersonalDataError) as exc:
        read_survey(p)
    msg = str(exc.value)
    assert str(p) in msg
    assert "column '姓名': personal name" in msg
    assert "column '联系电话': phone number (found by the column name)" in msg
    assert "column '备注': citizen ID number (身份证号) (found in the content of 1 row(s), e.g. row 6)" in msg
    assert "drop=['姓名', '联系电话', '备注']" in msg and "allow=" in msg
    for v in ("张伟", "13812345678", "0000-1111", frame["备注"].iloc[4][4:]):
        assert v not in msg
    assert exc.value.columns == ["姓名", "联系电话", "备注"]


def test_drop_and_allow(export, codebook):
    p, frame = export
    got = read_survey(p, drop=["姓名", "联系电话", "备注"])
    assert "姓名" not in got.columns and got.attrs["dropped_personal_data"] == ["姓名", "联系电话", "备注"]
    rep = evalkit.validate(got, codebook)
    assert rep.n_rows == 6 == rep.n_valid + rep.n_quarantined
    with pytest.raises(evalkit.PersonalDataError, match="备注"):
        read_survey(p, drop=["姓名", "联系电话"])
    # allow= no longer lets a check-digit-valid ID number through (it did before issue 16): the
    # allowed column is read, the cell holding the ID is blanked and listed by rule and shape
    got = read_survey(p, drop=["姓名", "联系电话"], allow=["备注"])
    assert got.loc[6, "备注"] is None and _id("37050219800101123") not in got.to_string()
    assert got.attrs["personal_cells"].values.tolist() == [
        [6, "备注", "citizen_id", "22 characters: 18 digits, 3 Chinese characters, 1 other"]]  # "身份证 " + 18
    frame = frame.drop(columns=["姓名", "联系电话"])
    frame["备注"] = ["", "", "", "", "住黄河路58号", ""]  # an address is not high-confidence: allow= covers it
    frame.to_csv(p, index=False, encoding="gbk")
    with pytest.raises(evalkit.PersonalDataError, match="备注"):
        read_survey(p)
    got = read_survey(p, allow=["备注"])
    assert "备注" in got.columns
    with pytest.raises(evalkit.PersonalDataError, match="not in the file"):
        read_survey(p, drop=["姓 名"])
    assert "备注" in read_survey(p, personal_data="ignore").columns
    with pytest.raises(evalkit.EvalkitError, match="personal_data"):
        read_survey(p, personal_data="warn")


# --- pseudonyms ----------------------------------------------------------------------------------
def test_pseudonyms_are_keyed_hmac_and_stable_across_waves(survey, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    part = survey[survey["community_id"] == "heping"]
    waves = [pseudonymise(part[part["wave"] == w]) for w in (2014, 2015)]
    # reference: RFC 2104 HMAC-SHA256 (Python's hmac module) of the documented message
    rid = part["respondent_id"].iloc[0]
    ref = hmac.new(KEY.encode(), b"evalkit-pseudonym-v1\x00" + rid.encode(), hashlib.sha256).hexdigest()[:16]
    assert pseudonymise(part.head(1))["respondent_id"].iloc[0] == ref
    # the panel links: the same people share pseudonyms across waves, exactly as before
    before = set(part.loc[part["wave"] == 2014, "respondent_id"]) & set(part.loc[part["wave"] == 2015, "respondent_id"])
    after = set(waves[0]["respondent_id"]) & set(waves[1]["respondent_id"])
    assert len(after) == len(before) > 100
    both = pseudonymise(part)
    assert both.groupby("respondent_id")["household_id"].nunique().max() == 1
    assert both["respondent_id"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert not set(both["respondent_id"]) & set(part["respondent_id"])
    # no key anywhere in the result
    assert KEY not in repr(both.attrs)
    # another key, other pseudonyms
    other = "6d456ae7255664317ba1898a06bca0943ee634661ffad6494e2454403dd8b4b7"  # secrets.token_hex(32)
    assert pseudonymise(part.head(1), key=other)["respondent_id"].iloc[0] != ref


def test_pseudonym_key_from_file_and_errors(tmp_path, monkeypatch):
    df = pd.DataFrame({"respondent_id": ["a", None, "b"], "household_id": ["h", "h", None]})
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    with pytest.raises(evalkit.PersonalDataError, match=KEY_ENV):
        pseudonymise(df)
    keyfile = tmp_path / "pseudonym.key"
    keyfile.write_text(KEY + "\n")
    monkeypatch.setenv(KEY_FILE_ENV, str(keyfile))
    out = pseudonymise(df, length=12)
    assert out["respondent_id"].iloc[0] == pseudonymise(df, key=KEY)["respondent_id"].iloc[0][:12]
    assert out["respondent_id"].isna().tolist() == [False, True, False]  # blank stays blank
    inside = ROOT / "pseudonym_test.key"
    try:
        inside.write_text(KEY)
        monkeypatch.setenv(KEY_FILE_ENV, str(inside))
        with pytest.raises(evalkit.PersonalDataError, match="inside the evalkit checkout"):
            pseudonymise(df)
    finally:
        inside.unlink()
    with pytest.raises(evalkit.PersonalDataError, match="at least 32"):
        pseudonymise(df, key="5c2f")
    with pytest.raises(evalkit.PersonalDataError, match="not in the table"):
        pseudonymise(df, columns=["person"], key=KEY)
    with pytest.raises(evalkit.PersonalDataError, match="8 to 64"):
        pseudonymise(df, key=KEY, length=4)


# --- disguised personal numbers (issue 16): each of these passed the reader before ----------------
def _frame(values, column="备注"):
    return pd.DataFrame({"respondent_id": [f"r{i}" for i in range(len(values))], column: values})


@pytest.mark.parametrize("value, kind", [
    ("13812345678.0", "phone"),                       # a phone Excel stored as float, read as text
    ("370502 19800101 1239", "citizen_id"),           # grouped 18-digit ID (check digit valid)
    ("138<b></b>1234<b></b>5678", "phone"),          # tags splitting the number
    ("138\u200b1234\u200b5678", "phone"),             # zero-width spaces (Unicode Cf)
    ("１３８１２３４５６７８", "phone"),                  # full-width digits
    ("138.1234.5678", "phone"),                       # dots between the groups
    ("370502800101123", "citizen_id"),                # 15-digit first-generation ID
])
def test_disguised_numbers_are_found_in_cells(value, kind):
    assert _id("37050219800101123") == "370502198001011239"  # the grouped ID above is valid
    found = detect_personal_data(_frame(["", value, "无"]))
    assert (found["column"] == "备注").any() and kind in set(found["kind"]), found
    assert found.loc[found["kind"] == kind, "example_row"].iloc[0] == 1


@pytest.mark.parametrize("value", ["13812345678", "１３８１２３４５６７８", "370502198001011239"])
def test_allowed_column_is_still_scanned_for_mobiles_and_valid_ids(value):
    # allow= used to skip the column entirely; a mobile number or a check-digit-valid ID in it is
    # now blanked and listed (contract C1), never quoted
    got = evalkit.io.privacy.check_personal_data(_frame(["", value]), allow=["备注"])
    assert got["备注"].tolist() == ["", None]
    cells = got.attrs["personal_cells"]
    assert cells[["row", "column"]].values.tolist() == [[1, "备注"]]
    assert cells["rule"].iloc[0] in ("phone", "citizen_id") and cells["shape"].iloc[0] in ("11 digits", "18 digits")
    assert value not in cells.to_string() and "13812345678" not in cells.to_string()
    # what allow= is for still works: a column that only looks like personal data by its name
    ok = evalkit.io.privacy.check_personal_data(_frame(["3", "5"], column="tel_support"), allow=["tel_support"])
    assert list(ok.columns) == ["respondent_id", "tel_support"] and ok.attrs["personal_cells"].empty


def test_fifteen_digit_id_needs_a_real_birth_date():
    from evalkit.io.privacy import is_citizen_id15

    assert is_citizen_id15("370502800101123")          # 1980-01-01
    assert not is_citizen_id15("370502801301123")      # month 13
    assert not is_citizen_id15("970502800101123")      # region code cannot start with 9
    assert not is_citizen_id15("37050280010112")       # 14 digits


@pytest.mark.parametrize("hostile", ["a" * 200_000, "a@" * 100_000, "1 " * 100_000, "<" * 200_000,
                                     "qq" + " " * 200_000, "路" + "1" * 200_000])
def test_patterns_are_linear_on_200kb_adversarial_cells(hostile):
    # the e-mail pattern used to be quadratic: a 120 KB letters-only field took 32 s. A fresh
    # interpreter (no warm caches) gets 60 s for the input check and the output scan together;
    # measured about 1.5 s on this machine, so a quadratic pattern (hours) cannot pass
    import subprocess
    import sys

    code = ("import sys, pandas as pd\n"
            "from evalkit.io.privacy import detect_personal_data\n"
            "from evalkit.publish.disclosure import scan_text\n"
            "s = sys.stdin.read()\n"
            "detect_personal_data(pd.DataFrame({'x': [s]})); scan_text(s)\n")
    subprocess.run([sys.executable, "-c", code], input=hostile, text=True, check=True, timeout=60,
                   cwd=str(ROOT))


# --- keys (issue 16, item 7) ----------------------------------------------------------------------
_DF = pd.DataFrame({"respondent_id": ["a", "b"], "household_id": ["h", "h"]})


@pytest.mark.parametrize("key, rule", [
    ("dongying20172017", "base64 without both"),            # the key recovered in 0.01 s (issue 16)
    ("Dongying20172017", "carries 12 byte"),                 # same, passing the letter-case screen
    ("dongying20172017" * 4, "base64 without both"),
    ("Dongying20172017" * 4, "too few distinct byte values"),
    ("20172017" * 8, "only of digits"),                      # a date as 64 'hex' characters
    ("a" * 64, "only of digits or only of letters"),
    ("0123456789abcdef" * 4, "too few distinct byte values"),
    ("0123456789abcdef0123456789abcdef", "carries 16 byte"),  # 16 bytes: accepted before item 7
    (b"dongying20172017" * 2, "too few distinct byte values"),
    (bytes(range(32)), "differences between successive bytes"),  # counting: all 32 values distinct
    (bytes(range(0, 96, 3)), "differences between successive bytes"),
    ("正式密钥" * 16, "neither hex nor base64"),
    ("my secret key for the dongying panel!!", "neither hex nor base64"),
    (12345678901234567890, "is a int"),
])
def test_weak_or_malformed_keys_are_refused_naming_the_rule_not_the_key(key, rule):
    with pytest.raises(evalkit.PersonalDataError, match=rule) as err:
        pseudonymise(_DF, key=key)
    assert "token_hex(32)" in str(err.value)               # says how to make a key
    shown = key if isinstance(key, str) else repr(key)
    assert shown not in str(err.value)


def test_keys_with_a_repeated_block_are_refused_by_compression():
    # 64 random bytes (two token_hex(32) keys), then a copy of their first 24: distinct values
    # and differences look random, only zlib sees the repetition (compresses below n)
    head = bytes.fromhex(KEY + "6d456ae7255664317ba1898a06bca0943ee634661ffad6494e2454403dd8b4b7")
    key = head + head[:24]
    check_key_strength(head)
    with pytest.raises(evalkit.PersonalDataError, match="compresses"):
        pseudonymise(_DF, key=key)


def test_generated_keys_pass_in_every_documented_form():
    # first principles: 2,000 keys from the OS generator in each form pass the screen (each rule's
    # false-refusal probability is below 1e-12; see check_key_strength)
    import base64
    import os
    import secrets
    for _ in range(2000):
        check_key_strength(secrets.token_hex(32))
        check_key_strength(base64.b64encode(os.urandom(32)).decode())
        check_key_strength(base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("="))
        check_key_strength(os.urandom(32))
    # a text key is used as given (its UTF-8 text): pseudonyms made under a hex key before the
    # strength check stay the same, so earlier waves still link
    rid = "r001"
    ref = hmac.new(KEY.encode(), b"evalkit-pseudonym-v1\x00" + rid.encode(), hashlib.sha256).hexdigest()[:16]
    out = pseudonymise(pd.DataFrame({"respondent_id": [rid]}), ["respondent_id"], key=" " + KEY + "\n")
    assert out["respondent_id"].iloc[0] == ref


def test_raw_key_file_and_weak_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    raw = bytes.fromhex(KEY)                               # 32 random bytes, not ASCII text
    (tmp_path / "raw.key").write_bytes(raw)
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "raw.key"))
    ref = hmac.new(raw, b"evalkit-pseudonym-v1\x00" + b"a", hashlib.sha256).hexdigest()[:16]
    assert pseudonymise(_DF)["respondent_id"].iloc[0] == ref
    (tmp_path / "weak.key").write_text("dongying20172017\n")
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "weak.key"))
    with pytest.raises(evalkit.PersonalDataError, match=r"\$EVALKIT_PSEUDONYM_KEY_FILE"):
        pseudonymise(_DF)


def test_no_key_is_an_error_and_no_key_is_ever_generated(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    import os
    import secrets
    calls = []
    for mod, name in ((secrets, "token_bytes"), (secrets, "token_hex"), (secrets, "token_urlsafe"),
                      (os, "urandom")):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k))
    with pytest.raises(evalkit.PersonalDataError, match="none was given.*token_hex\\(32\\)"):
        pseudonymise(_DF)
    assert calls == []
    # nothing in evalkit or the notebooks draws a key on the user's behalf
    for path in [*(ROOT / "evalkit").rglob("*.py"), *(ROOT / "notebooks").glob("*.md")]:
        text = path.read_text(encoding="utf-8")
        for name in ("token_bytes(", "token_hex(", "token_urlsafe(", "urandom("):
            hits = [line for line in text.splitlines() if name in line and "print(secrets.token_hex(32))" not in line]
            assert not hits, (path, hits)


def test_outputs_carry_no_guess_testable_key_fingerprint():
    # before item 7, attrs held key_id = HMAC(key, "evalkit-key-id")[:8], which lets anyone who
    # sees the output test key guesses offline; now nothing derived from the key alone is kept
    out = pseudonymise(_DF, key=KEY)
    assert out.attrs["pseudonymised"] == {"columns": ["respondent_id", "household_id"],
                                          "method": "HMAC-SHA256", "length": 16}
    fingerprint = hmac.new(KEY.encode(), b"evalkit-key-id", hashlib.sha256).hexdigest()
    assert fingerprint[:8] not in repr(out.attrs) and KEY not in repr(out.attrs)
    assert not hasattr(evalkit.io.privacy, "key_id")


def test_pseudonyms_keep_ids_apart_that_differ_only_in_markup_or_invisible_characters():
    # the detection normaliser drops tags and Cf characters; pseudonymise must not (it would
    # silently merge two respondents): ids are only NFKC-normalised, as before issue 16
    ids = ["a", "a<b>", "a\u200b", "a&amp;"]
    got = pseudonymise(pd.DataFrame({"respondent_id": ids}), ["respondent_id"], key=KEY)["respondent_id"]
    assert got.nunique() == len(ids)
    key = KEY.encode()
    assert got.iloc[1] == hmac.new(key, b"evalkit-pseudonym-v1\x00" + "a<b>".encode(), hashlib.sha256).hexdigest()[:16]


# --- personal data per cell (contract C1, issue 11 item 7) -----------------------------------------
def test_a_phone_typed_into_the_age_box_blanks_that_cell_not_the_file(tmp_path, survey_raw):
    frame = survey_raw.head(8).copy()
    frame["age"] = frame["age"].astype(str)
    frame.iloc[3, frame.columns.get_loc("age")] = "138-1234-5678"
    frame.iloc[5, frame.columns.get_loc("age")] = "１３９１２３４５６７８"
    p = tmp_path / "export.csv"
    frame.to_csv(p, index=False)
    got = read_survey(p)
    assert len(got) == 8 and got.loc[5, "age"] is None and got.loc[7, "age"] is None  # file rows 5, 7
    cells = got.attrs["personal_cells"]
    assert cells.values.tolist() == [[5, "age", "phone", "13 characters: 11 digits, 2 other"],
                                     [7, "age", "phone", "11 digits"]]
    assert "1234-5678" not in got.to_string() and "5678" not in cells.to_string()
    untouched = got.drop(index=[5, 7])["age"].tolist()
    assert untouched == [str(a) for a in frame["age"].drop(index=frame.index[[3, 5]])]


def test_a_column_of_phone_numbers_is_still_refused_whole():
    df = pd.DataFrame({"q9": ["13812345678", "13912345678", "", "3"]}, index=[2, 3, 4, 5])
    with pytest.raises(evalkit.PersonalDataError, match="q9"):
        evalkit.io.privacy.check_personal_data(df)
    got = evalkit.io.privacy.check_personal_data(df, personal_data="quarantine")  # the column goes
    assert list(got.columns) == [] and got.attrs["dropped_personal_data"] == ["q9"]
    assert "q9" in got.attrs["notes"][0] and "1381" not in " ".join(got.attrs["notes"])


@pytest.mark.parametrize("column, values", [
    ("psu", ["18号楼", "3栋2单元", "5号楼", "12幢", "18号楼"]),                  # buildings as PSU
    ("楼号", ["18号楼", "3栋", "5号楼"]),
    ("_uuid", ["4f1c2d3e-1381-2345-6789-abcdefabcdef", "a0b1c2d3-1391-2345-6789-0123456789ab"]),
    ("meta/instanceID", ["uuid:4f1c2d3e-1381-2345-6789-abcdefabcdef"]),
    ("提交答卷时间", ["2017/6/3 10:21:07", "2017-06-03 13:45:12", "2017-06-03T13:45:12.123+08:00"]),
    ("_submission_time", ["2017-06-03T13:45:12", "20170603134512"]),
    ("ip", ["139.227.12.145(山东-东营)", "183.13.81.234", "113.138.123.45"]),
    ("序号", ["1", "2", "3", "138", "13800"]),
])
def test_not_personal_data_each_false_positive(column, values):
    df = pd.DataFrame({column: values}, index=range(2, 2 + len(values)))
    allow = ["ip"] if column == "ip" else []  # an IP column is refused by its name; allowed, its cells are read
    got = evalkit.io.privacy.check_personal_data(df, allow=allow)
    assert got.attrs["personal_cells"].empty and got[column].tolist() == values
    cells = evalkit.io.privacy.quarantine_personal_cells(df, source="x.csv")
    assert cells.attrs["personal_cells"].empty


def test_a_flat_number_is_still_an_address():
    for v in ("3号楼2单元301室", "3栋2单元301", "黄河路58号"):
        found = detect_personal_data(pd.DataFrame({"q": [v, "", ""]}))
        assert found["kind"].tolist() == ["address"], v


def test_quarantined_cells_keep_numbers_numeric_and_accumulate():
    df = pd.DataFrame({"age": [30.0, 13812345678.0, 41.0], "note": ["", "370502198001011239", "ok"]},
                      index=[2, 3, 4])
    once = evalkit.io.privacy.quarantine_personal_cells(df, source="x.sav")
    assert once["age"].dtype == "float64" and np.isnan(once.loc[3, "age"]) and once.loc[2, "age"] == 30
    assert once.attrs["personal_cells"][["row", "column", "rule"]].values.tolist() == [
        [3, "age", "phone"], [3, "note", "citizen_id"]]
    assert df.loc[3, "age"] == 13812345678.0  # the input is not changed
    again = evalkit.io.privacy.quarantine_personal_cells(once.assign(x=["", "", "13912345678"]), source="x.sav")
    assert again.attrs["personal_cells"]["row"].tolist() == [3, 3, 4]


def test_personal_cells_follow_column_map(tmp_path):
    p = tmp_path / "e.csv"
    pd.DataFrame({"年龄": ["30", "13812345678", "41"]}).to_csv(p, index=False)
    got = read_survey(p, column_map={"年龄": "age"})
    assert got.attrs["personal_cells"][["row", "column"]].values.tolist() == [[3, "age"]]


def test_frames_carrying_personal_cells_still_concatenate():
    # pandas compares attrs with == on concat; a plain DataFrame there raised "ambiguous"
    df = pd.DataFrame({"a": ["1", "13812345678", "3", "4"]}, index=[2, 3, 4, 5])
    q = evalkit.io.privacy.quarantine_personal_cells(df, source="x.csv")
    both = pd.concat([q.iloc[:2], q.iloc[2:]])
    assert len(both) == 4 and both.attrs["personal_cells"]["row"].tolist() == [3]
