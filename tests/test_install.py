"""The package outside the checkout: what the wheel holds, and that it works from an empty folder.

Issue 9, item 8: ``pip install .`` gave a package that could not load its own codebook (the data
were looked for next to site-packages) and lacked the report template (``package-data`` did not
match ``templates/evalkit_report/index.html.j2``). Here the wheel is built from a copy of the
sources (pip's own build, as ``pip install .`` does it), every shipped file is looked for in it,
byte for byte, and the unpacked wheel -- not the checkout -- runs a short analysis from an empty
folder. Installing it into a clean virtual environment with the pinned requirements and building
the report is ``.ci/install_check`` (run by ``.ci/run``).

Also here: no public name of :mod:`evalkit` hides a submodule (issue 9), and the property tests
run deterministically (tests/conftest.py).
"""
from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
import textwrap
import types
import zipfile
from pathlib import Path

import pytest

import evalkit

from .conftest import ROOT

#: Files every install must have, beyond the modules (paths inside the wheel).
SHIPPED = [
    "evalkit/datasets/dongying/codebook.yaml",
    "evalkit/datasets/dongying/communities.csv",
    "evalkit/datasets/dongying/survey.csv",
    "evalkit/datasets/dongying/truth.csv",
    "evalkit/datasets/dongying/raw/messy_export_gbk.csv",
    "evalkit/datasets/dongying/raw/wjx_export_demo.xlsx",
    "evalkit/datasets/dongying/MANIFEST.sha256",
    "evalkit/datasets/dongying/README.md",
    "evalkit/publish/templates/evalkit_report/index.html.j2",
    "evalkit/publish/templates/evalkit_report/conf.json",
    "evalkit/_notebooks/00_quickstart.ipynb",
    "evalkit/_notebooks/05_your_data.ipynb",
    "evalkit/project/template/study.yaml",
    "evalkit/project/template/README.md",
]


def _can_build_offline() -> bool:
    """setuptools here can build a wheel without pip fetching a build environment."""
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77  # pyproject.toml's build requirement


def _in_wheel(path: Path) -> str:
    """Where a file of the checkout goes in the wheel (notebooks/ is installed as evalkit/_notebooks)."""
    rel = path.relative_to(ROOT).as_posix()
    return "evalkit/_notebooks/" + rel.split("/", 1)[1] if rel.startswith("notebooks/") else rel


def _expected_files() -> list[Path]:
    """Every file of the package in the checkout (modules, data, templates) and the notebooks."""
    files = [p for p in (ROOT / "evalkit").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")]
    return sorted(files + list((ROOT / "notebooks").glob("*.ipynb")))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built by pip from a copy of the sources (never in the checkout: no stale build/)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    for name in ("evalkit", "notebooks"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "dist"), str(src)]
    if _can_build_offline():
        cmd.insert(5, "--no-build-isolation")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}"
    (whl,) = (tmp / "dist").glob("evalkit-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_holds_every_file_of_the_package_byte_for_byte(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert set(SHIPPED) <= names, f"missing from the wheel: {sorted(set(SHIPPED) - names)}"
        expected = {_in_wheel(p): p for p in _expected_files()}
        missing = sorted(set(expected) - names)
        assert not missing, f"files of the checkout missing from the wheel: {missing}"
        for name, path in expected.items():
            assert hashlib.sha256(zf.read(name)).digest() == hashlib.sha256(path.read_bytes()).digest(), name
        # nothing of the checkout outside the package comes along (tests, studies, .venv ...)
        top = {n.split("/", 1)[0] for n in names}
        assert {t for t in top if not t.endswith(".dist-info")} == {"evalkit"}


@pytest.mark.slow
def test_unpacked_wheel_runs_an_analysis_from_an_empty_folder(wheel, tmp_path, survey, codebook):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    work = tmp_path / "empty"
    work.mkdir()
    script = textwrap.dedent("""
        import evalkit
        from evalkit import datasets
        from evalkit.publish.render import notebooks_dir
        assert evalkit.__file__.startswith(SITE), evalkit.__file__   # the wheel, not the checkout
        study = datasets.dongying()
        codebook = study.codebook
        assert str(codebook.path).startswith(SITE)
        raw = evalkit.read_survey(datasets.data_path("survey.csv"), study=study)
        checked = evalkit.validate(raw, study=study)
        scored = evalkit.score(checked.valid[checked.valid["wave"] == 2014], codebook, scales="who5")
        design = evalkit.SurveyDesign(scored, weight="base_weight", strata="stratum", psu="psu")
        est = design.mean("who5")
        print(checked.describe().splitlines()[0])
        print(evalkit.verify_data(datasets.data_dir()).split(":")[0])
        print(notebooks_dir().relative_to(SITE).as_posix())
        print(round(float(est["estimate"].iloc[0]), 6))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("EVALKIT_DATA", "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), MPLBACKEND="Agg")
    res = subprocess.run([sys.executable, "-c", f"SITE = {str(site)!r}\n" + script], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("survey.csv: ") and lines[0].endswith(" quarantined")
    assert lines[1] == "data checked" and lines[2] == "evalkit/_notebooks"
    # the same number as the checkout gives: the wheel's data are the shipped data
    here = evalkit.SurveyDesign(evalkit.score(survey[survey["wave"] == 2014], codebook, scales="who5"),
                                weight="base_weight", strata="stratum", psu="psu").mean("who5")
    assert float(lines[3]) == round(float(here["estimate"].iloc[0]), 6)
    assert list(work.iterdir()) == []  # nothing written to the working folder


def _readme_commands(readme: Path) -> list[list[str]]:
    """The commands of a README's first code block that start with ``evalkit``."""
    block = readme.read_text(encoding="utf-8").split("```")[1]
    return [line.split("#")[0].split() for line in block.splitlines() if line.strip().startswith("evalkit ")]


@pytest.mark.slow
def test_wheel_in_a_clean_venv_runs_evalkit_new_and_the_two_readme_commands(wheel, tmp_path):
    """Issue 11: ``pip install`` of the wheel (not a checkout) creates a study that runs end to end.

    The clean environment gets the wheel from pip (offline, --no-deps) and this environment's
    dependencies through a path entry (not its site directory, so the checkout's editable
    evalkit is not on the path); .ci/install_check does the same with the pinned requirements
    from PyPI and executes the study's notebook too.
    """
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    py = bin_dir / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "_evalkit_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    res = subprocess.run([py, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("EVALKIT_DATA", "PYTHONPATH", "EVALKIT_MIN_N")}
    env.update(MPLBACKEND="Agg", PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    where = subprocess.run([py, "-c", "import evalkit; print(evalkit.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=300)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr
    new = subprocess.run([bin_dir / "evalkit", "new", "my_study", "--no-execute"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert new.returncode == 0, new.stdout + new.stderr
    study = work / "my_study"
    commands = _readme_commands(study / "README.md")
    assert [c[:2] for c in commands] == [["evalkit", "validate"], ["evalkit", "report"]]
    for cmd in commands:
        res = subprocess.run(cmd, cwd=study, env=env, capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
        assert "Traceback" not in res.stderr
    assert any((study / "reports").rglob("*.html")), "the report wrote no HTML"


def test_data_dir_follows_evalkit_data_and_names_a_missing_folder(tmp_path, monkeypatch):
    from evalkit.datasets import DONGYING, data_dir

    monkeypatch.delenv("EVALKIT_DATA", raising=False)
    assert data_dir() == DONGYING == Path(evalkit.__file__).resolve().parent / "datasets" / "dongying"
    monkeypatch.setenv("EVALKIT_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.setenv("EVALKIT_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(evalkit.EvalkitError, match=r"EVALKIT_DATA .*nowhere.* does not exist"):
        evalkit.datasets.dongying()


# ----------------------------------------------------------------------------- module names

def _submodules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(evalkit.__path__) if not m.name.startswith("_"))


# In 0.1 the flat modules regress, reliability, simulate and validate were hidden by the functions
# of the same name; since 0.2 they live in subpackages (evalkit.inference.regress ...), and no
# top-level module may be hidden again.
@pytest.mark.parametrize("name", _submodules())
def test_no_public_name_hides_a_submodule(name):
    module = importlib.import_module(f"evalkit.{name}")
    assert isinstance(module, types.ModuleType)
    # after `import evalkit`, evalkit.<name> is that module, or not there at all
    assert getattr(evalkit, name, module) is module, (
        f"evalkit.{name} is {type(getattr(evalkit, name)).__name__}, not the module evalkit/{name}.py")
    assert name not in evalkit.__all__ or getattr(evalkit, name) is module


def test_every_public_name_exists():
    missing = [n for n in evalkit.__all__ if not hasattr(evalkit, n)]
    assert not missing


# ----------------------------------------------------------------------------- test determinism

def test_property_tests_are_deterministic_without_deadline():
    from hypothesis import settings

    if os.environ.get("EVALKIT_HYPOTHESIS_PROFILE", "evalkit") != "evalkit":
        pytest.skip("another hypothesis profile was asked for")
    assert settings.default.derandomize is True
    assert settings.default.deadline is None
    assert settings.default.database is None
    # no test file sets its own deadline (which would override the profile)
    offenders = [p.name for p in (ROOT / "tests").glob("test_*.py") if "deadline=" in p.read_text(encoding="utf-8")
                 and p.name != Path(__file__).name]
    assert not offenders, f"per-test hypothesis deadlines in {offenders}"
