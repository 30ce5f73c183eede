"""The pip pins (requirements.txt) and the conda pins (environment.yml) must agree."""
from pathlib import Path
import re

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _requirements():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _environment():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                name, version = line.split("==")
                pins[name.lower()] = version
        else:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:=(\S+))?", dep)
            if m and m.group(1) not in ("python", "pip"):
                pins[m.group(1).lower()] = m.group(2)
    return pins


def test_every_requirement_is_pinned_exactly():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line), line


def test_conda_and_pip_pins_agree():
    req, env = _requirements(), _environment()
    assert set(env) == set(req), f"only in one file: {set(env) ^ set(req)}"
    diff = {k: (req[k], env[k]) for k in req if req[k] != env[k]}
    assert not diff, f"versions differ (requirements.txt, environment.yml): {diff}"


def test_installed_versions_match_pins():
    from importlib.metadata import version

    for name, pinned in _requirements().items():
        assert version(name) == pinned, f"{name}: installed {version(name)}, pinned {pinned}"
