"""Disclosure control: small-cell suppression with complementary cells that cannot be recovered
from totals, and scanners for ID numbers, phone numbers and small cells in published output."""
import glob
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import evalkit
from evalkit.publish.disclosure import (assert_no_personal_data, scan_notebook, scan_text, small_cells,
                                suppress)
from evalkit.io.privacy import citizen_id_check_digit

from .conftest import ROOT


def _table(counts, rows=("a", "b", "c"), waves=(2014, 2015, 2016)):
    counts = np.asarray(counts)
    return pd.DataFrame({
        "community_id": np.repeat(list(rows)[: counts.shape[0]], counts.shape[1]),
        "wave": list(waves[: counts.shape[1]]) * counts.shape[0],
        "estimate": np.linspace(0.1, 0.9, counts.size),
        "n": counts.ravel(),
    })


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evalkit.DisclosureWarning)
        return suppress(*args, **kwargs)


def _recoverable(table, out, dims):
    """Suppressed cells whose n follows from the published line totals (independent route: the
    null space of the line equations; a cell is determined iff every null vector is 0 there)."""
    sup = np.flatnonzero(out["suppressed"].to_numpy() != "")
    if not len(sup):
        return []
    eqs = []
    keys = table[dims].astype(str)
    for d in dims:
        others = [x for x in dims if x != d]
        for _, idx in (keys.groupby(others).indices.items() if others else [(None, np.arange(len(table)))]):
            row = np.isin(sup, idx).astype(float)
            if row.any():
                eqs.append(row)
    null = scipy.linalg.null_space(np.array(eqs))
    return [int(c) for j, c in enumerate(sup) if np.allclose(null[j], 0, atol=1e-9)]


def test_primary_and_complementary_in_a_small_table():
    # hand check: community a has 5 respondents in 2014. Row a and column 2014 then each hold one
    # suppressed cell; the next-smallest cells are a/2015 (30) and b/2014 (25), and b/2015 (12)
    # closes the 2x2 rectangle, so no line holds a single suppressed cell.
    t = _table([[5, 30, 40], [25, 12, 50], [33, 44, 60]])
    with pytest.warns(evalkit.DisclosureWarning, match="1 cell"):
        out = suppress(t)
    assert out["suppressed"].tolist() == ["primary", "complementary", "", "complementary", "complementary",
                                          "", "", "", ""]
    assert (out.loc[out["suppressed"] != "", ["n", "estimate"]] == "[c]").all().all()
    assert out.loc[2, "n"] == 40 and out.loc[2, "estimate"] == t.loc[2, "estimate"]
    assert _recoverable(t, out, ["community_id", "wave"]) == []
    assert out.attrs["suppression"] == {"threshold": 10, "marker": "[c]", "primary": 1, "complementary": 3}


def test_nothing_small_nothing_changes():
    t = _table([[15, 30], [25, 12]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = suppress(t)
    pd.testing.assert_frame_equal(out.drop(columns="suppressed").astype(t.dtypes.to_dict()), t)
    assert (out["suppressed"] == "").all()


def test_total_rows_take_part_and_the_marker_and_threshold_are_configurable():
    # one community (n=3) and a published total over the two communities: the total row would give
    # the small cell away (total - b), so with a single other cell the complement is that cell.
    t = pd.DataFrame({"community_id": ["a", "b", "all"], "estimate": [0.5, 0.6, 0.58], "n": [3, 40, 43]})
    out = _quiet(t, dims=["community_id"], marker="<5", threshold=5)
    assert out["suppressed"].tolist() == ["primary", "complementary", ""]
    assert out["n"].tolist() == ["<5", "<5", 43]


def test_by_groups_are_protected_separately_and_zero_cells_left_alone():
    t = pd.concat([_table([[5, 30], [25, 12]]).assign(indicator="who5"),
                   _table([[0, 30], [25, 12]]).assign(indicator="ucla3")], ignore_index=True)
    out = _quiet(t)
    assert (out.loc[out["indicator"] == "who5", "suppressed"] != "").sum() == 4
    assert (out.loc[out["indicator"] == "ucla3", "suppressed"] == "").all()  # n=0: reports on nobody
    out0 = _quiet(t, zeros=True)
    assert (out0.loc[out0["indicator"] == "ucla3", "suppressed"] != "").sum() == 4


def test_bridge_between_two_suppressed_cycles_is_closed():
    # Two 2x2 blocks of small cells joined by one small cell at (b, 2016): every line already holds
    # two suppressed cells, but the joining cell is recoverable from the totals (a bridge), so the
    # audit must add a suppression.
    c = np.full((4, 4), 50)
    c[0, 0] = c[0, 1] = c[1, 0] = c[1, 1] = 5
    c[2, 2] = c[2, 3] = c[3, 2] = c[3, 3] = 6
    c[1, 2] = 7
    t = _table(c, rows=("a", "b", "c", "d"), waves=(2014, 2015, 2016, 2017))
    # the bridge exists before the audit: with only the primary cells, (b, 2016) is determined
    primary_only = t.assign(suppressed=np.where(t["n"] < 10, "primary", ""))
    assert 6 in _recoverable(t, primary_only, ["community_id", "wave"])
    out = _quiet(t)
    assert _recoverable(t, out, ["community_id", "wave"]) == []


@settings(max_examples=60)
@given(st.integers(2, 4), st.integers(2, 4), st.data())
def test_random_tables_no_line_with_one_suppressed_cell_and_nothing_recoverable(r, c, data):
    counts = np.array(data.draw(st.lists(st.integers(0, 40), min_size=r * c, max_size=r * c))).reshape(r, c)
    t = _table(counts, rows=tuple("abcd"), waves=(2014, 2015, 2016, 2017))
    out = _quiet(t)
    sup = out["suppressed"] != ""
    assert ((t["n"] < 10) & (t["n"] > 0) <= sup).all()  # every small cell is suppressed
    for d, other in (("community_id", "wave"), ("wave", "community_id")):
        per_line = sup.groupby(t[other]).sum()
        assert not (per_line == 1).any()
    assert _recoverable(t, out, ["community_id", "wave"]) == []


def test_suppress_errors():
    with pytest.raises(evalkit.EvalkitError, match="count column 'n'"):
        suppress(pd.DataFrame({"community_id": ["a"], "estimate": [1.0]}))
    with pytest.raises(evalkit.EvalkitError, match="threshold"):
        suppress(_table([[20, 30]]), threshold=-1)
    with pytest.raises(evalkit.EvalkitError, match="not in the table"):
        suppress(_table([[20, 30]]), dims=["district"])


def test_suppressed_indicator_table_has_no_small_cell_in_html(survey, codebook):
    # a real published table: estimates by community and wave for the children's indicator on a
    # sub-sample so that some cells are small; after suppression the HTML shows no n < 10.
    from evalkit.measure.scales import score

    part = survey[survey["community_id"].isin(["yangmiao", "fengyuan", "lijia"])].iloc[::9]
    scored = score(part, codebook)
    t = (scored.groupby(["community_id", "wave"])["kidscreen10"]
         .agg(estimate="mean", n="count").reset_index())
    assert ((t["n"] > 0) & (t["n"] < 10)).any()
    html = _quiet(t).to_html()
    assert small_cells(t.to_html()).shape[0] > 0
    assert small_cells(html).empty


# --- scanners -------------------------------------------------------------------------------------
VALID_ID = "37050219800101123" + citizen_id_check_digit("37050219800101123")


def test_scan_text_finds_ids_phones_emails_without_showing_them():
    text = ("<p>ok</p>\n<td>" + VALID_ID + "</td>\n联系 +86 138-1234-5678；座机 0546-8221234\n"
            "mail: zhang.wei@example.com\n")
    found = scan_text(text)
    assert found[["kind", "line"]].values.tolist() == [["citizen_id", 2], ["phone", 3], ["landline", 3],
                                                       ["email", 4]]
    with pytest.raises(evalkit.PersonalDataError) as exc:
        assert_no_personal_data(text, source="report.html")
    msg = str(exc.value)
    assert "report.html" in msg and "citizen_id on line 2" in msg
    assert VALID_ID not in msg and "1234-5678" not in msg and "zhang.wei" not in msg


def test_scan_text_ignores_checksums_numbers_and_wrong_check_digits():
    bad_id = VALID_ID[:17] + ("0" if VALID_ID[17] != "0" else "1")
    text = ("data sha256 9f1381234567890ab13812345678cd " + bad_id + " p = 0.13812345678 "
            "n = 13812345678901 <img src='data:image/png;base64,MTM4MTIzNDU2Nzg='>")
    assert scan_text(text).empty
    assert_no_personal_data(text)


def test_shipped_notebooks_and_reports_show_no_personal_data_or_small_cells():
    paths = sorted(glob.glob(str(ROOT / "notebooks" / "*.ipynb")))
    assert paths
    for p in paths:
        found = scan_notebook(p)
        assert found.empty, f"{p}: {found.to_dict('records')[:5]}"
    for p in sorted(glob.glob(str(ROOT / "reports" / "**" / "*.html"), recursive=True)):
        text = open(p, encoding="utf-8").read()
        assert_no_personal_data(text, source=p)
        assert small_cells(text).empty, p


def test_scan_notebook_flags_planted_output(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="电话 13912345678\n"),
        nbformat.v4.new_output("display_data", data={
            "text/html": pd.DataFrame({"community_id": ["a", "b"], "n": [4, 40]}).to_html(),
            "text/plain": "table"}),
    ]
    nb.cells = [nbformat.v4.new_code_cell("1"), cell]
    p = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(p))
    assert sorted(scan_notebook(p)[["cell", "kind"]].values.tolist()) == [[2, "phone"], [2, "small_cell"]]


# --- disguised personal numbers in what is rendered (issue 16) -----------------------------------
@pytest.mark.parametrize("html, kind", [
    ("<td>13812345678.0</td>", "phone"),                     # trailing .0 (a float cell)
    ("<td>370502 19800101 1239</td>", "citizen_id"),         # grouped ID
    ("<p>138<b></b>1234<b></b>5678</p>", "phone"),          # renders as one number
    ("<p>138<span style='x'>1234</span>5678</p>", "phone"),
    ("<p>138<!-- hidden -->12345678</p>", "phone"),         # a comment is not rendered
    ("<p>１３８１２３４５６７８</p>", "phone"),                  # full-width digits (NFKC)
    ("<p>138&#8203;1234&#x200B;5678</p>", "phone"),          # zero-width spaces as entities
    ("<p>138\u2060-1234-5678</p>", "phone"),                 # word joiner (Cf) and hyphens
    ("<p>370502800101123</p>", "citizen_id"),                # 15-digit ID
    ("<p>0086 138 1234 5678</p>", "phone"),
])
def test_scan_text_finds_disguised_numbers(html, kind):
    found = scan_text(html)
    assert kind in set(found["kind"]), (html, found)
    with pytest.raises(evalkit.PersonalDataError):
        assert_no_personal_data(html, source="report.html")


def test_scan_text_does_not_join_table_cells():
    # block tags are a break: numbers in neighbouring cells are not one phone number
    assert scan_text("<tr><td>138</td><td>12345678</td></tr><p>2017</p><p>0.531</p>").empty


def test_scan_text_is_linear_on_unclosed_markup_and_letters():
    import time

    t0 = time.perf_counter()
    for s in ("<" * 200_000, "<!--" * 50_000, "a" * 200_000, "a@" * 100_000):
        assert scan_text(s).empty
    assert time.perf_counter() - t0 < 30  # measured about 1 s; the old e-mail pattern needed minutes


# --- problems tables and error messages show shapes, not values ---------------------------------
def _report_with(base, values_by_column, codebook, registry):
    from evalkit.io.validate import validate

    n = len(next(iter(values_by_column.values())))
    df = base.head(n).copy().astype(object)
    for c, v in values_by_column.items():
        df[c] = v
    return validate(df, codebook, registry=registry), list(df.index)


def test_problems_table_shows_shapes_not_personal_values(survey_raw, codebook, registry):
    from evalkit.publish.disclosure import problems_table

    rep, rows = _report_with(survey_raw, {"community_id": ["王秀英", "anning", "明月社区"],
                        "age": ["13812345678", "１３８１２３４５６７８", "150"],
                        "who5_1": ["7", "370502 19800101 1239", "3"]}, codebook, registry)
    table = problems_table(rep, codebook, registry=registry)
    shown = " ".join(table["value"])
    for secret in ("王秀英", "13812345678", "１３８１２３４５６７８", "370502", "19800101"):
        assert secret not in shown, table
    values = dict(zip(zip(table["row"], table["column"]), table["value"]))
    first = rows[0]
    assert values[(first, "community_id")] == "‹3 Chinese characters›"
    assert values[(first, "age")] == "‹11 digits›"
    assert values[(first + 1, "age")] == "‹11 digits›"          # full-width, counted after NFKC
    assert values[(first + 1, "who5_1")] == "‹20 characters: 18 digits, 2 other›"
    assert values[(first + 2, "age")] == "150"                  # a short number is shown
    assert values[(first, "who5_1")] == "7"


def test_strict_validate_message_never_quotes_a_personal_value(survey_raw, codebook, registry):
    from evalkit.io.validate import validate

    df = survey_raw.head(2).copy().astype(object)
    df["community_id"] = ["王秀英", "anning"]
    df["age"] = ["13812345678", "150"]
    with pytest.raises(evalkit.ValidationError) as exc:
        validate(df, codebook, registry=registry, strict=True)
    msg = str(exc.value)
    assert "王秀英" not in msg and "13812345678" not in msg
    assert "‹3 Chinese characters›" in msg and "‹11 digits›" in msg and "'150'" in msg
