"""KoboToolbox / ODK repeat groups read as tables of their own (read_kobo_repeat).

The exports are written here in KoboToolbox's layout (formpack's XLSX/CSV export): the submissions
sheet named after the form title cut to Excel's 31 characters, one sheet per repeat group named
after the group (cut to 31 characters), group paths in the headers, ``_index`` on every table,
``_parent_table_name`` (the full, uncut name) and ``_parent_index`` plus the ``_submission__*``
columns on the repeat tables; a nested repeat (a member's jobs) points to the members' table. The
ODK Central layout (``KEY``/``PARENT_KEY``, one CSV per table) is written the same way. The
submissions are rows of the shipped survey; members and jobs are typed here, with orphans.
"""
import warnings
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from evalkit.errors import EvalkitWarning, PersonalDataError, ReadError
from evalkit.io.kobo import read_kobo
from evalkit.io.kobo_repeat import read_kobo_repeat, repeat_study
from evalkit.io.validate import validate

TITLE = "Dongying community services resident survey 2017"          # 48 characters
MEMBERS = "household_members_living_with_respondent"                 # 40 characters
JOBS = "member_jobs"
SUB_META = ["_submission__id", "_submission__uuid", "_submission__submission_time", "_submission__validation_status",
            "_submission__notes", "_submission__status", "_submission__submitted_by", "_submission___version__",
            "_submission__tags"]
MAIN_COLS = ["intro/respondent_id", "intro/household_id", "intro/community_id", "intro/wave", "person/sex",
             "person/age", "_id", "_uuid", "_submission_time", "_validation_status", "_notes", "_status",
             "_submitted_by", "__version__", "_tags", "_index"]
IDS = """
fields:
  respondent_id: {type: id, required: true, zh: 受访者编号, en: respondent id of the submission}
  community_id:  {type: community, required: true, zh: 社区编号, en: community of the submission}
  wave:          {type: integer, required: true, values: [2017], zh: 调查年份, en: wave}
"""
MEMBERS_CODEBOOK = "title: {zh: 家庭成员, en: household members}\nversion: '1.0'\n" + IDS + """\
  member_age:    {type: integer, required: true, min: 0, max: 110, zh: 成员年龄, en: age of the member}
items:
  member_sex: {type: code, required: false, codes: {1: {zh: 男, en: male}, 2: {zh: 女, en: female}},
               zh: 成员性别, en: sex}
"""
JOBS_CODEBOOK = "title: {zh: 工作, en: jobs}\nversion: '1.0'\n" + IDS + """\
items:
  job_hours: {type: integer, required: true, min: 0, max: 96, zh: 每周工作小时, en: weekly hours}
"""
# (parent submission _index, age, sex); the last one's submission is not in the export
MEMBER_ROWS = [(1, 64, "2"), (1, 66, "1"), (2, 35, "1"), (3, 8, "2"), (9, 40, "1")]
# (parent member _index, weekly hours); the member of the last one is the orphan
JOB_ROWS = [(1, 20), (3, 45), (3, 10), (5, 30)]


@pytest.fixture(scope="module")
def subs(survey_raw):
    return survey_raw[survey_raw["wave"] == "2017"].head(3).reset_index(drop=True)


def _main_rows(subs):
    return [[s.respondent_id, s.household_id, s.community_id, s.wave, s.sex, s.age, 1000 + i,
             f"uuid-{i}", f"2017-06-0{i + 1}T10:00:00", None, None, "submitted_via_web", None, "v1", None, i + 1]
            for i, s in enumerate(subs.itertuples())]


def _tables(subs):
    members = [[age, sex, k + 1, TITLE, p, 1000 + p - 1, f"uuid-{p - 1}", *[None] * 7]
               for k, (p, age, sex) in enumerate(MEMBER_ROWS)]
    jobs = [[h, k + 1, MEMBERS, p, 1000 + MEMBER_ROWS[p - 1][0] - 1, f"uuid-{MEMBER_ROWS[p - 1][0] - 1}", *[None] * 7]
            for k, (p, h) in enumerate(JOB_ROWS)]
    return {
        TITLE[:31]: (MAIN_COLS, _main_rows(subs)),
        MEMBERS[:31]: ([f"{MEMBERS}/member_age", f"{MEMBERS}/member_sex", "_index", "_parent_table_name",
                        "_parent_index", *SUB_META], members),
        JOBS: ([f"{MEMBERS}/{JOBS}/job_hours", "_index", "_parent_table_name", "_parent_index", *SUB_META], jobs),
        "visits": ([f"visits/visit_date", "_index", "_parent_table_name", "_parent_index", *SUB_META], []),
    }


@pytest.fixture(scope="module")
def export(tmp_path_factory, subs):
    folder = tmp_path_factory.mktemp("kobo_repeat")
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, (cols, rows) in _tables(subs).items():
        ws = wb.create_sheet(name)
        ws.append(cols)
        for r in rows:
            ws.append(r)
    wb.save(folder / "export.xlsx")
    (folder / "members.yaml").write_text(MEMBERS_CODEBOOK, encoding="utf-8")
    (folder / "jobs.yaml").write_text(JOBS_CODEBOOK, encoding="utf-8")
    csv = folder / "csv"
    csv.mkdir()
    # KoboToolbox CSV: one file per table, ';'-separated, full (uncut) table names
    for (name, (cols, rows)), full in zip(_tables(subs).items(), [TITLE, MEMBERS, JOBS, "visits"]):
        pd.DataFrame(rows, columns=cols).to_csv(csv / f"{full}.csv", sep=";", index=False)
    return folder


def _read(export, group, cb="members.yaml", **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalkitWarning)
        return read_kobo_repeat(export / "export.xlsx", group, export / cb, **kw)


def test_members_carry_their_submission_and_orphans_are_quarantined(export, study, subs):
    got = _read(export, MEMBERS, study=study)      # the full group name; the sheet is cut to 31 characters
    assert got.attrs["repeat"] == {"table": MEMBERS[:31], "submissions": TITLE[:31], "rows": 5, "linked": 4,
                                   "orphans": 1}
    assert list(got.index) == [2, 3, 4, 5, 6]      # rows of the members' sheet
    parents = [p for p, _, _ in MEMBER_ROWS[:4]]
    assert got["respondent_id"].iloc[:4].tolist() == [subs.respondent_id[p - 1] for p in parents]
    assert got["community_id"].iloc[:4].tolist() == [subs.community_id[p - 1] for p in parents]
    assert got["wave"].iloc[:4].tolist() == ["2017"] * 4 and got["household_id"].iloc[:4].tolist() == [
        subs.household_id[p - 1] for p in parents]
    # submission_row is read_kobo's index of the same submission
    main = read_kobo(export / "export.xlsx", study=study, personal_data="ignore")
    assert main.loc[got["submission_row"].iloc[:4].tolist(), "respondent_id"].tolist() == got["respondent_id"].iloc[
        :4].tolist()
    assert got["repeat_id"].iloc[0] == f"{subs.respondent_id[0]}/{MEMBERS[:31]}[1]"
    assert got.iloc[4][["respondent_id", "community_id", "submission_row"]].isna().all()
    assert "household_id" in got.attrs["meta"] and "respondent_id" not in got.attrs["meta"]
    rep = validate(got, study=repeat_study(study, export / "members.yaml"))
    assert rep.n_rows == 5 == rep.n_valid + rep.n_quarantined and rep.n_quarantined == 1
    assert rep.quarantined.index.tolist() == [6]
    assert "orphan" in rep.problems.loc[rep.problems["row"] == 6, "rule"].tolist()
    msg = " ".join(rep.problems.loc[rep.problems["row"] == 6, "message"])
    assert f"sheet {MEMBERS[:31]!r}, row 6: _parent_index 9 matches no row of sheet {TITLE[:31]!r}" in msg
    assert "download the export again" in msg
    assert rep.valid["member_age"].tolist() == [64, 66, 35, 8]
    assert rep.valid["member_sex"].tolist() == [2, 1, 1, 2]


def test_the_group_by_sheet_name_or_group_path(export, study):
    a = _read(export, MEMBERS, study=study)
    for group in (MEMBERS[:31], f"household/{MEMBERS}"):
        pd.testing.assert_frame_equal(_read(export, group, study=study), a)


def test_nested_repeat_links_through_its_parent_repeat(export, study, subs):
    got = _read(export, JOBS, "jobs.yaml", study=study)
    # jobs 1-3 belong to members 1 and 3 (submissions 1 and 2); job 4 to the orphan member 5
    assert got["respondent_id"].iloc[:3].tolist() == [subs.respondent_id[0], subs.respondent_id[1],
                                                      subs.respondent_id[1]]
    rep = validate(got, study=repeat_study(study, export / "jobs.yaml"))
    assert rep.n_rows == 4 == rep.n_valid + rep.n_quarantined and rep.quarantined.index.tolist() == [5]
    msg = " ".join(rep.problems["message"])
    assert (f"sheet {JOBS!r}, row 5: through sheet {MEMBERS[:31]!r} row 6, _parent_index 9 matches no row of "
            f"sheet {TITLE[:31]!r} (its _index)") in msg
    assert rep.valid["job_hours"].tolist() == [20, 45, 10]


def test_a_row_whose_parent_chain_and_submission_uuid_disagree_is_quarantined(export, study, tmp_path):
    wb = openpyxl.load_workbook(export / "export.xlsx")
    ws = wb[MEMBERS[:31]]
    assert ws.cell(1, 7).value == "_submission__uuid" and ws.cell(3, 7).value == "uuid-0"
    ws.cell(3, 7, "uuid-2")                # row 3 (member 2) points to submission 1, its uuid to submission 3
    ws.cell(3, 6, None)                    # (the numeric _submission__id is checked only when the uuid is absent)
    wb.save(tmp_path / "disagree.xlsx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalkitWarning)
        got = read_kobo_repeat(tmp_path / "disagree.xlsx", MEMBERS, export / "members.yaml", study=study)
    rep = validate(got, study=repeat_study(study, export / "members.yaml"))
    assert sorted(rep.quarantined.index) == [3, 6]
    assert (f"sheet {MEMBERS[:31]!r}, row 3: _parent_index leads to the submission in row 2 of sheet {TITLE[:31]!r}, "
            "but _submission__uuid names the one in row 4") in " ".join(rep.problems["message"])


def test_an_empty_repeat_sheet_gives_no_rows(export, study):
    got = read_kobo_repeat(export / "export.xlsx", "visits", export / "members.yaml", study=study,
                           column_map={"visits/visit_date": "member_age"})
    assert len(got) == 0 and got.attrs["repeat"]["rows"] == 0
    assert validate(got, study=repeat_study(study, export / "members.yaml")).n_rows == 0


def test_the_csv_export_reads_as_the_xlsx(export, study):
    csv = export / "csv"
    for group, cb in ((MEMBERS, "members.yaml"), (JOBS, "jobs.yaml")):
        a = _read(export, group, cb, study=study)
        b = read_kobo_repeat(csv / f"{TITLE}.csv", group, export / cb, study=study)
        assert b.attrs["repeat"]["table"] == f"{group}.csv"
        pd.testing.assert_frame_equal(a.drop(columns="repeat_id"), b.drop(columns="repeat_id"), check_dtype=False)
        assert [m["row"] for m in a.attrs["read_problems"]] == [m["row"] for m in b.attrs["read_problems"]]
        assert all(m["message"].startswith(f"file '{group}.csv', row ") for m in b.attrs["read_problems"])
    # the file itself may be named
    b = read_kobo_repeat(csv / f"{TITLE}.csv", csv / f"{MEMBERS}.csv", export / "members.yaml", study=study)
    assert b.attrs["repeat"]["linked"] == 4


def test_odk_central_csv_key_and_parent_key(tmp_path, study, subs, export):
    main = pd.DataFrame(_main_rows(subs), columns=MAIN_COLS).drop(columns=["_index", "_uuid"])
    main.columns = [c.replace("/", "-") for c in main.columns]
    main["meta-instanceID"] = main["KEY"] = [f"uuid:{i}" for i in range(3)]
    main.to_csv(tmp_path / "survey.csv", index=False)
    members = pd.DataFrame({"members-member_age": [a for _, a, _ in MEMBER_ROWS],
                            "members-member_sex": [s for _, _, s in MEMBER_ROWS],
                            "PARENT_KEY": [f"uuid:{p - 1}" for p, _, _ in MEMBER_ROWS],
                            "KEY": [f"uuid:{p - 1}/members[{k + 1}]" for k, (p, _, _) in enumerate(MEMBER_ROWS)]})
    members.to_csv(tmp_path / "survey-members.csv", index=False)
    jobs = pd.DataFrame({"members-jobs-job_hours": [h for _, h in JOB_ROWS],
                         "PARENT_KEY": [members["KEY"][p - 1] for p, _ in JOB_ROWS],
                         "KEY": [f"{members['KEY'][p - 1]}/jobs[1]" for p, _ in JOB_ROWS]})
    jobs.to_csv(tmp_path / "survey-jobs.csv", index=False)
    got = read_kobo_repeat(tmp_path / "survey.csv", "members", export / "members.yaml", study=study)
    assert got["repeat_id"].tolist() == members["KEY"].tolist()
    assert got["respondent_id"].iloc[:4].tolist() == [subs.respondent_id[p - 1] for p, _, _ in MEMBER_ROWS[:4]]
    rep = validate(got, study=repeat_study(study, export / "members.yaml"))
    assert rep.n_quarantined == 1 and "PARENT_KEY 'uuid:8' names no submission" in " ".join(rep.problems["message"])
    jobs_got = read_kobo_repeat(tmp_path / "survey.csv", "jobs", export / "jobs.yaml", study=study)
    assert jobs_got["respondent_id"].iloc[:3].tolist() == [subs.respondent_id[0], subs.respondent_id[1],
                                                           subs.respondent_id[1]]
    assert pd.isna(jobs_got["respondent_id"].iloc[3]) and jobs_got.attrs["repeat"]["orphans"] == 1


def test_personal_data_in_a_repeat_never_reaches_the_output(tmp_path, study, export):
    wb = openpyxl.load_workbook(export / "export.xlsx")
    ws = wb[MEMBERS[:31]]
    col = ws.max_column + 1
    ws.cell(1, col, f"{MEMBERS}/member_name")
    for r, name in enumerate(["张伟", "李娜", "王芳", "刘洋", "陈静"], start=2):
        ws.cell(r, col, name)
    ws.cell(4, 1, "13812345678")            # a phone number typed into the age box of row 4
    wb.save(tmp_path / "names.xlsx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalkitWarning)
        got = read_kobo_repeat(tmp_path / "names.xlsx", MEMBERS, export / "members.yaml", study=study)
        with pytest.raises(PersonalDataError) as exc:   # a names column mapped into the table is refused
            read_kobo_repeat(tmp_path / "names.xlsx", MEMBERS, export / "members.yaml", study=study,
                             column_map={f"{MEMBERS}/member_name": "respondent_id"})
    assert "张伟" not in str(exc.value)
    text = got.to_string() + repr(got.attrs)
    assert "张伟" not in text and "13812345678" not in text
    cells = got.attrs["personal_cells"]
    assert cells[["row", "column"]].values.tolist() == [[4, "member_age"]]
    rep = validate(got, study=repeat_study(study, export / "members.yaml"))
    assert sorted(rep.quarantined.index) == [4, 6] and rep.n_rows == rep.n_valid + rep.n_quarantined


def test_a_phone_number_as_the_submission_id_is_never_attached(tmp_path, study, export):
    wb = openpyxl.load_workbook(export / "export.xlsx")
    ws = wb[TITLE[:31]]
    for r, phone in enumerate(["13812345678", "13912345678", "13712345678"], start=2):
        ws.cell(r, 1, phone)               # intro/respondent_id
    wb.save(tmp_path / "phones.xlsx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalkitWarning)
        with pytest.raises(PersonalDataError) as exc:
            read_kobo_repeat(tmp_path / "phones.xlsx", MEMBERS, export / "members.yaml", study=study)
        assert "respondent_id" in str(exc.value) and "138" not in str(exc.value)
        got = read_kobo_repeat(tmp_path / "phones.xlsx", MEMBERS, export / "members.yaml", study=study,
                               personal_data="quarantine")
    assert "respondent_id" not in got.columns and "1381234" not in got.to_string() + repr(got.attrs)


def test_errors_name_the_fix(export, study, tmp_path):
    with pytest.raises(ReadError, match=r"no repeat group 'pets'.*'household_members_living_with_r'"):
        _read(export, "pets", study=study)
    with pytest.raises(ReadError, match="its own codebook"):
        read_kobo_repeat(export / "export.xlsx", MEMBERS, None, study=study)
    wb = openpyxl.load_workbook(export / "export.xlsx")
    wb[MEMBERS[:31]].delete_cols(5)        # _parent_index
    wb.save(tmp_path / "unlinked.xlsx")
    with pytest.raises(ReadError, match=r"no _parent_index .* or PARENT_KEY"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EvalkitWarning)
            read_kobo_repeat(tmp_path / "unlinked.xlsx", MEMBERS, export / "members.yaml", study=study)


def test_read_kobo_points_to_the_repeat_reader(export, study):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalkitWarning)
        main = read_kobo(export / "export.xlsx", study=study, personal_data="ignore")
    assert main.attrs["repeat_groups"][MEMBERS[:31]]["rows"] == 5
    assert any("read_kobo_repeat" in n and MEMBERS[:31] in n for n in main.attrs["notes"])


def test_the_committed_kobo_fixture_and_its_xls_twin(export, study):
    """tests/data/exports/kobo/kobo_labels.xlsx (labels, Chinese sheet names) has a repeat group whose
    _parent_table_name ('survey') names no sheet and whose _submission__uuid ('x') names no
    submission: linked by _parent_index, both noted."""
    data = Path(__file__).resolve().parent / "data" / "exports"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvalkitWarning)
        a = read_kobo_repeat(data / "kobo" / "kobo_labels.xlsx", "household_members", export / "members.yaml",
                             study=study)
        b = read_kobo_repeat(data / "xls" / "kobo_labels.xls", "household_members", export / "members.yaml",
                             study=study)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["repeat"] == {"table": "household_members", "submissions": "社区调查", "rows": 10, "linked": 10,
                                 "orphans": 0}
    notes = " | ".join(a.attrs["notes"])
    assert "_parent_table_name 'survey' is no sheet" in notes and "name a _submission__uuid that no submission" in notes
    main = read_kobo(data / "kobo" / "kobo_labels.xlsx", study=study, personal_data="ignore")
    assert (main.loc[a["submission_row"].tolist(), "respondent_id"].tolist() == a["respondent_id"].tolist())
    rep = validate(a, study=repeat_study(study, export / "members.yaml"))
    assert rep.n_rows == 10 == rep.n_valid + rep.n_quarantined and rep.n_quarantined == 0
