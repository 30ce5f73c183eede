"""Hostile and broken input: property-based tests (hypothesis) and a small seeded fuzzing harness.

Every case must end in a valid result or an evalkit error (an ``EvalkitError`` subclass) whose
message names the file (and row and column where one is to blame) -- never an uncaught pandas or
numpy exception, never a hang -- and validation must always account for every row:
rows in = valid + quarantined.

``run_harness(n, seed)`` is shared with ``studies/fuzz_counts.py``, which runs many more cases and
records the counts in ``studies/fuzz_counts_results.md``.
"""
from __future__ import annotations

import io
import math
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evalkit
from evalkit.spec.codebook import load_codebook
from evalkit.publish.disclosure import suppress
from evalkit.errors import EvalkitError
from evalkit.io.exports import read_kobo, read_wjx
from evalkit.io.privacy import detect_personal_data, pseudonymise
from evalkit.io.read import read_survey
from evalkit.io.validate import validate

ROOT = Path(__file__).resolve().parent.parent
MESSY = ROOT / "evalkit" / "datasets" / "dongying" / "raw" / "messy_export_gbk.csv"
CODEBOOK = load_codebook(ROOT / "evalkit" / "datasets" / "dongying" / "codebook.yaml")
COLUMNS = CODEBOOK.columns
HEADER = ",".join(COLUMNS)


# --- the seed export -------------------------------------------------------------------------------
def seed_export() -> bytes:
    """The shipped messy GBK export, or (if the data are not shipped) a small one made here."""
    if MESSY.is_file():
        return MESSY.read_bytes()
    rows = [HEADER]
    for i in range(12):
        cells = {c: "" for c in COLUMNS}
        cells.update(respondent_id=f"anning-H{i:04d}-A", household_id=f"anning-H{i:04d}", community_id="安宁社区",
                     wave="2017", stratum="anning", psu="anning-P01", base_weight="12.5", sex="1", age="45",
                     age_group="40-59", role="adult", who5_1=str(i % 6))
        rows.append(",".join(cells[c] for c in COLUMNS))
    return ("\n".join(rows) + "\n").encode("gb18030")


# --- checking one outcome --------------------------------------------------------------------------
class Failure(AssertionError):
    pass


def check_report(rep, n_in: int) -> None:
    if rep.n_valid + rep.n_quarantined != n_in or rep.n_rows != n_in:
        raise Failure(f"rows lost: {n_in} in, {rep.n_valid} valid + {rep.n_quarantined} quarantined")
    if not set(rep.valid.index).isdisjoint(rep.quarantined.index):
        raise Failure("a row is both valid and quarantined")
    if set(rep.quarantined.index) != set(rep.problems["row"].dropna().astype(int)):
        raise Failure("quarantined rows and problem rows differ")


def check_error(exc: EvalkitError, path: Path | None) -> None:
    msg = str(exc)
    if not msg.strip():
        raise Failure(f"{type(exc).__name__} without a message")
    if path is not None and path.name not in msg:
        raise Failure(f"error does not name the file {path.name}: {msg[:200]}")
    if "Traceback" in msg:
        raise Failure("a traceback in the message")


def read_and_validate(path: Path, **kwargs) -> str:
    """The pipeline a user runs on a file; returns the outcome."""
    try:
        df = read_survey(path, **kwargs)
    except EvalkitError as exc:
        check_error(exc, path)
        return "read_error"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", evalkit.EvalkitWarning)
            rep = validate(df, CODEBOOK)
    except EvalkitError as exc:
        check_error(exc, path)
        return "validation_error"
    check_report(rep, len(df))
    return "valid" if rep.n_quarantined == 0 else "quarantined"


def validate_frame(df: pd.DataFrame) -> str:
    try:
        rep = validate(df, CODEBOOK)
    except EvalkitError as exc:
        check_error(exc, None)
        return "validation_error"
    check_report(rep, len(df))
    return "valid" if rep.n_quarantined == 0 else "quarantined"


# --- case makers (each: rng, tmp folder -> outcome) ------------------------------------------------
JUNK = ["", " ", "97", "98", "99", "9999", "-1", "0", "1e308", "-1e308", "1e12", "inf", "-inf", "nan",
        "NaN", "NA", "n/a", "None", "TRUE", "三", "六十五", "1.5", "2,5", "１２", "\u00a0", "=1+1", "'",
        '"', "\\", "\t", "x" * 300, "😀", "\x00", "null", "[]", "{}", "0x1F", "+5", "-0", "2014.0"]


def _cell(rng) -> object:
    r = rng.random()
    if r < 0.5:
        return JUNK[rng.integers(len(JUNK))]
    if r < 0.7:
        return int(rng.choice([-(10 ** 18), -5, 0, 1, 5, 97, 2**31, 10 ** 18, 2**63 - 1]))
    if r < 0.85:
        return float(rng.choice([np.nan, np.inf, -np.inf, -0.0, 1e-300, 3.5, 1e300]))
    if r < 0.9:
        return bool(rng.random() < 0.5)
    if r < 0.95:
        return None
    if r < 0.975:
        return [1, 2] if rng.random() < 0.5 else {"a": 1}  # unhashable cells (found a bug)
    return bytes(rng.integers(0, 256, 4, dtype=np.uint8))


def _base_frame(rng, n: int) -> pd.DataFrame:
    if "raw" not in _FRAME_CACHE:
        _FRAME_CACHE["raw"] = read_survey(_seed_path(), personal_data="ignore")
    raw = _FRAME_CACHE["raw"]
    take = raw.iloc[rng.integers(0, len(raw), n)].copy()
    take.index = range(2, n + 2)
    return take


_SEED_CACHE: dict[str, Path] = {}
_FRAME_CACHE: dict[str, pd.DataFrame] = {}


def _seed_path() -> Path:
    if "p" not in _SEED_CACHE:
        import tempfile

        d = Path(tempfile.mkdtemp(prefix="evalkit_fuzz_"))
        p = d / "seed_export.csv"
        p.write_bytes(seed_export())
        _SEED_CACHE["p"] = p
    return _SEED_CACHE["p"]


def case_byte_corruption(rng, tmp: Path) -> str:
    data = bytearray(seed_export())
    for _ in range(int(rng.integers(1, 12))):
        op = rng.integers(4)
        i = int(rng.integers(0, max(len(data), 1)))
        if op == 0 and data:
            data[i % len(data)] = int(rng.integers(0, 256))
        elif op == 1:
            data[i:i] = bytes(rng.integers(0, 256, int(rng.integers(1, 8)), dtype=np.uint8))
        elif op == 2:
            del data[i:i + int(rng.integers(1, 40))]
        else:
            data = data[: i]
    p = tmp / "corrupt_export.csv"
    p.write_bytes(bytes(data))
    return read_and_validate(p)


def case_wrong_cells(rng, tmp: Path) -> str:
    df = _base_frame(rng, int(rng.integers(1, 12))).astype(object)
    for _ in range(int(rng.integers(1, 25))):
        df.iat[int(rng.integers(len(df))), int(rng.integers(df.shape[1]))] = _cell(rng)
    if rng.random() < 0.3:  # duplicate a row
        df = pd.concat([df, df.iloc[[int(rng.integers(len(df)))]]])
        df.index = range(2, len(df) + 2)
    return validate_frame(df)


def case_weights(rng, tmp: Path) -> str:
    df = _base_frame(rng, int(rng.integers(1, 8)))
    df["base_weight"] = [str(rng.choice(["nan", "inf", "-inf", "0", "-3", "1e309", "", "4.2"])) for _ in range(len(df))]
    return validate_frame(df)


def case_one_respondent_community(rng, tmp: Path) -> str:
    df = _base_frame(rng, 1)
    df["community_id"] = str(rng.choice(["haojia", "郝家村社区", "Haojia", "幸福社区", ""]))
    out = validate_frame(df)
    # and the downstream steps on a one-respondent table end in a result or an evalkit error
    rep = validate(df, CODEBOOK)
    if rep.n_valid:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scored = evalkit.score(rep.valid, CODEBOOK)
                evalkit.indicator_table(scored, CODEBOOK)
        except EvalkitError as exc:
            check_error(exc, None)
    return out


def case_file_shapes(rng, tmp: Path) -> str:
    kind = rng.integers(7)
    p = tmp / "shape.csv"
    if kind == 0:
        p.write_bytes(b"")
    elif kind == 1:
        p.write_bytes(b"\n\n \r\n")
    elif kind == 2:
        p.write_text(HEADER + "\n", encoding="utf-8")
    elif kind == 3:  # duplicated columns
        cols = COLUMNS[:10] + [COLUMNS[int(rng.integers(10))]]
        p.write_text(",".join(cols) + "\n" + ",".join(["1"] * len(cols)) + "\n", encoding="utf-8")
    elif kind == 4:  # mixed encodings: a UTF-8 file with GBK lines
        text = seed_export().decode("gb18030").splitlines()
        out = [(ln.encode("gb18030") if rng.random() < 0.5 else ln.encode("utf-8")) for ln in text]
        p.write_bytes(b"\n".join(out) + b"\n")
    elif kind == 5:  # ragged rows
        lines = seed_export().decode("gb18030").splitlines()
        lines = [ln + ("," * int(rng.integers(0, 3))) if rng.random() < 0.3 else ln.rsplit(",", int(rng.integers(0, 5)))[0]
                 for ln in lines]
        p.write_text("\n".join(lines), encoding="utf-8")
    else:  # separators and quotes
        text = seed_export().decode("gb18030").replace(",", str(rng.choice([";", "\t", "|", '"'])), int(rng.integers(1, 50)))
        p.write_text(text, encoding="utf-8")
    return read_and_validate(p)


def case_excel(rng, tmp: Path) -> str:
    df = _base_frame(rng, int(rng.integers(1, 6)))
    p = tmp / "export.xlsx"
    df.to_excel(p, index=False)
    data = p.read_bytes()
    r = rng.random()
    if r < 0.6:  # truncated download
        p.write_bytes(data[: int(rng.integers(0, len(data)))])
    elif r < 0.8:  # corrupted zip member
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 20))):
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
        p.write_bytes(bytes(b))
    return read_and_validate(p)


def _xl(v):
    """A cell Excel can hold (no control characters; bytes as text): the file must be writable."""
    if isinstance(v, bytes):
        v = v.hex()
    if isinstance(v, (list, dict)):
        v = str(v)
    if isinstance(v, str):
        v = "".join(ch for ch in v if ch >= " " or ch in "\t\n\r")
    return v


def case_exports(rng, tmp: Path) -> str:
    from evalkit.io.exports import to_wjx_excel

    base = _base_frame(rng, int(rng.integers(1, 5)))
    if rng.random() < 0.5:  # a 问卷星 export with junk answers and option texts that do not exist
        p = to_wjx_excel(base, tmp / "wjx.xlsx", CODEBOOK, answers=str(rng.choice(["text", "number"])))
        t = pd.read_excel(p, dtype=object)
        for _ in range(int(rng.integers(1, 6))):
            options = [_cell(rng), "从未有过", "(跳过)", "(空)", "非常 同意", "不知道"]
            t.iat[int(rng.integers(len(t))), int(rng.integers(3, t.shape[1]))] = _xl(options[int(rng.integers(6))])
        t.to_excel(p, index=False)
        reader = lambda: read_wjx(p, codebook=CODEBOOK)  # noqa: E731
    else:  # a Kobo CSV: group/question headers, select-multiple with unknown and repeated codes
        p = tmp / "kobo.csv"
        frame = base.drop(columns=["part_any", "vol_any", "selforg"]).astype(object)
        for _ in range(int(rng.integers(0, 4))):
            frame.iat[int(rng.integers(len(frame))), int(rng.integers(frame.shape[1]))] = _cell(rng)
        frame.columns = [f"g/{c}" for c in frame.columns]
        frame["p/activities"] = [" ".join(str(rng.choice(["1", "2", "3", "9", "1 1"]))
                                          for _ in range(int(rng.integers(0, 3)))) for _ in range(len(frame))]
        frame["p/activities/1"] = [str(rng.choice(["0", "1", "", "x"])) for _ in range(len(frame))]
        frame.to_csv(p, sep=";", index=False)
        reader = lambda: read_kobo(p, codebook=CODEBOOK, select_multiple={  # noqa: E731
            "activities": {"1": "part_any", "2": "vol_any", "3": "selforg"}})
    try:
        df = reader()
    except EvalkitError as exc:
        check_error(exc, p)
        return "read_error"
    try:
        rep = validate(df, CODEBOOK)
    except EvalkitError as exc:
        check_error(exc, p)
        return "validation_error"
    check_report(rep, len(df))
    return "valid" if rep.n_quarantined == 0 else "quarantined"


def case_suppress(rng, tmp: Path) -> str:
    k = int(rng.integers(1, 13))
    t = pd.DataFrame({"community_id": rng.choice(list("abc"), k), "wave": rng.choice([2014, 2015], k),
                      "estimate": rng.normal(size=k),
                      "n": rng.choice([np.nan, np.inf, -1, 0, 3, 9, 10, 50, 1e18], k)})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", evalkit.DisclosureWarning)
            out = suppress(t)
    except EvalkitError as exc:
        check_error(exc, None)
        return "error"
    n = pd.to_numeric(t["n"])
    if not ((out["suppressed"] != "") | ~(((n < 10) & (n != 0)) | n.isna())).all():
        raise Failure("a small cell was published")
    return "suppressed" if (out["suppressed"] != "").any() else "published"


def case_privacy(rng, tmp: Path) -> str:
    df = pd.DataFrame({f"c{j}": [_cell(rng) for _ in range(4)] for j in range(3)})
    detect_personal_data(df)
    return "scanned"


CASES = {
    "byte corruption of the messy export": case_byte_corruption,
    "wrong types, huge/negative codes, duplicates": case_wrong_cells,
    "NaN/inf/negative weights": case_weights,
    "community with one respondent": case_one_respondent_community,
    "empty, header-only, duplicated columns, mixed encodings, ragged": case_file_shapes,
    "truncated or corrupted Excel": case_excel,
    "platform exports with junk answers": case_exports,
    "suppression of junk counts": case_suppress,
    "personal-data scan of junk cells": case_privacy,
}


def run_harness(n_per_kind: int, seed: int, tmp: Path) -> Counter:
    """Run `n_per_kind` seeded cases of every kind; return counts of (kind, outcome)."""
    counts: Counter = Counter()
    rng = np.random.default_rng(seed)
    for name, case in CASES.items():
        for i in range(n_per_kind):
            sub = tmp / f"{case.__name__}_{i}"
            sub.mkdir(parents=True, exist_ok=True)
            try:
                outcome = case(rng, sub)
            except Failure:
                raise
            except EvalkitError:
                raise
            except Exception as exc:  # the point of the harness: nothing else may escape
                raise Failure(f"{name}, case {i}: uncaught {type(exc).__name__}: {exc}") from exc
            counts[(name, outcome)] += 1
    return counts


def case_odd_objects(rng, tmp: Path) -> str:
    """Tables a notebook user may pass by mistake (each found or guards a fixed bug)."""
    df = _base_frame(rng, int(rng.integers(1, 6)))
    k = rng.integers(5)
    if k == 0:
        df.columns = pd.MultiIndex.from_arrays([df.columns, df.columns])
    elif k == 1:
        df.index = ["x"] * len(df)
    elif k == 2:
        df = df.astype("string")
    elif k == 3:
        df = df.astype(object)
        df["age"] = pd.Series([[int(rng.integers(100))] for _ in range(len(df))], index=df.index, dtype=object)
        df = pd.concat([df, df])
    else:
        p = tmp / "folder.csv"
        p.mkdir()
        return read_and_validate(p)
    return validate_frame(df)


CASES["tables of odd objects, folders"] = case_odd_objects


# --- the tests ------------------------------------------------------------------------------------
N_PER_KIND = 12  # 10 kinds x 12 = 120 harness cases in the test run (studies/fuzz_counts.py: more)


def test_fuzz_harness(tmp_path):
    counts = run_harness(N_PER_KIND, seed=20170601, tmp=tmp_path)
    assert sum(counts.values()) == N_PER_KIND * len(CASES)
    outcomes = {o for _, o in counts}
    assert {"read_error", "quarantined"} <= outcomes  # the harness reaches both ends
    print(f"\nfuzz harness: {sum(counts.values())} cases", dict(counts))


cell = st.one_of(
    st.none(), st.text(max_size=8), st.sampled_from(JUNK),
    st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
)


@settings(max_examples=60)
@given(st.integers(0, 5), st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=6), st.data())
def test_validate_any_table(n_rows, extra_cols, data):
    base = pd.read_csv(io.BytesIO(seed_export()), encoding="gb18030", dtype=str, keep_default_na=False).head(n_rows)
    df = base.astype(object)
    for c in extra_cols:
        df[c] = [data.draw(cell) for _ in range(len(df))]
    if data.draw(st.booleans()) and len(df.columns) > 1:
        df = df.drop(columns=[data.draw(st.sampled_from(list(df.columns)))])
    outcome = validate_frame(df)
    assert outcome in ("valid", "quarantined", "validation_error")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from([".csv", ".xlsx", ".sav", ".dta", ".tsv"]))
def test_read_any_bytes(tmp_path, blob, suffix):
    p = tmp_path / f"random{suffix}"
    p.write_bytes(blob)
    assert read_and_validate(p) in ("read_error", "validation_error", "valid", "quarantined")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.text(max_size=12), min_size=2, max_size=30), st.data())
def test_read_any_text_table(tmp_path, cells, data):
    header = data.draw(st.lists(st.sampled_from(COLUMNS + ["姓名", "x", ""]), min_size=1, max_size=8))
    width = len(header)
    rows = [cells[i:i + width] for i in range(0, len(cells), width)]
    text = "\n".join([",".join(header)] + [",".join(r) for r in rows])
    p = tmp_path / "table.csv"
    p.write_bytes(text.encode(data.draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"])), "replace"))
    assert read_and_validate(p) in ("read_error", "validation_error", "valid", "quarantined")


@settings(max_examples=40)
@given(st.lists(st.one_of(st.none(), st.text(max_size=20), st.integers(), st.floats()), min_size=1, max_size=20))
def test_pseudonymise_any_ids(ids):
    key = "56a7d8a87930136aadb0c6cf73f8ea5e2026feaaf458535cfeb2397f423247a3"  # secrets.token_hex(32); test-only
    df = pd.DataFrame({"respondent_id": pd.Series(ids, dtype=object), "household_id": pd.Series(ids, dtype=object)})
    out = pseudonymise(df, key=key)
    assert len(out) == len(df)
    assert out["respondent_id"].isna().tolist() == out["household_id"].isna().tolist()
    assert out["respondent_id"].dropna().str.fullmatch(r"[0-9a-f]{16}").all()
    again = pseudonymise(df, key=key)
    assert out["respondent_id"].equals(again["respondent_id"])


@settings(max_examples=60)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 200)), min_size=1, max_size=12),
       st.integers(1, 30))
def test_suppress_any_counts(ns, threshold):
    k = len(ns)
    t = pd.DataFrame({"community_id": [f"c{i % 3}" for i in range(k)], "wave": [2014 + i // 3 for i in range(k)],
                      "estimate": np.arange(k, dtype=float), "n": ns})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evalkit.DisclosureWarning)
        out = suppress(t, threshold=threshold)
    n = pd.to_numeric(t["n"])
    small = (n.isna() | (n < threshold)) & (n != 0)
    assert (out["suppressed"][small] != "").all()
    assert len(out) == k
    assert not math.isnan(threshold)


# --- regressions: the bugs the harness found (each raised a bare pandas/Python exception) ----------
def _messy():
    return read_survey(_seed_path(), personal_data="ignore")


def test_multiindex_columns_are_a_validation_error():
    df = _messy()
    df.columns = pd.MultiIndex.from_arrays([df.columns, df.columns])
    with pytest.raises(evalkit.ValidationError, match="header rows"):
        validate(df, CODEBOOK)


def test_unhashable_cells_in_duplicated_rows_are_quarantined_not_a_crash():
    df = _messy().astype(object)
    df["age"] = pd.Series([[1]] * len(df), index=df.index, dtype=object)
    df = pd.concat([df, df.iloc[:2]])
    rep = validate(df, CODEBOOK)
    assert rep.n_rows == len(df) == rep.n_valid + rep.n_quarantined
    assert (rep.problems.loc[rep.problems["column"] == "age", "rule"] == "not_numeric").any()


@pytest.mark.parametrize("make,match", [
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: p.write_bytes(b"\xef\xbb\xbf\n"), "empty"),
])
def test_read_errors_that_used_to_escape(tmp_path, make, match):
    p = tmp_path / "export.csv"
    make(p)
    with pytest.raises(evalkit.ReadError, match=match) as exc:
        read_survey(p)
    assert "export.csv" in str(exc.value)


def test_damaged_xlsx_is_not_blamed_on_the_sheet(tmp_path):
    p = tmp_path / "export.xlsx"
    p.write_bytes(b"")
    with pytest.raises(evalkit.ReadError, match="cannot open as an Excel workbook"):
        read_survey(p)


def test_excel_unicode_text_utf16_is_read(tmp_path):
    p = tmp_path / "export.txt"
    p.write_bytes("respondent_id\tage\n甲1\t40\n".encode("utf-16"))
    df = read_survey(p)
    assert df.attrs["encoding"] == "utf-16" and df.loc[2, "respondent_id"] == "甲1"
