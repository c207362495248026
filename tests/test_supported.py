"""The support policy says the same everywhere: noxfile.PYTHONS, the CI workflow's matrix,
pyproject's classifiers, the README; the ``libsql`` requirement's marker matches the
wheels PyPI has; the portable tests (macOS and Windows) use nothing POSIX-only."""

from __future__ import annotations

import ast
import importlib.metadata
import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def noxfile_value(name: str) -> list[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"noxfile.py has no {name}")


PYTHONS = noxfile_value("PYTHONS")
PORTABLE = noxfile_value("PORTABLE")


def workflow_jobs() -> dict:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    return doc["jobs"]


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_supported_pythons_are_one_list_everywhere():
    assert PYTHONS == ["3.10", "3.11", "3.12", "3.13"]
    meta = importlib.metadata.metadata("migrate_tasks")
    classified = [
        c.rsplit(" :: ", 1)[1]
        for c in meta.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert classified == PYTHONS
    assert meta["Requires-Python"] == f">={PYTHONS[0]}"
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Supported environments", 1)[1].split("\n## ", 1)[0]
    assert f"CPython {PYTHONS[0]} to {PYTHONS[-1]}" in section
    assert "macOS" in section and "Windows" in section


def test_ci_runs_the_whole_suite_on_every_supported_python_on_linux():
    job = workflow_jobs()["linux"]
    assert job["runs-on"] == "ubuntu-latest"
    assert job["strategy"]["matrix"]["python"] == PYTHONS
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "${{ matrix.python }}"
    # nox runs the whole suite on its own Python: the venv is made by the job's Python
    assert "python3 -m venv .venv" in runs(job)
    assert ".venv/bin/nox -s tests-${{ matrix.python }}" in runs(job)
    assert "nox -s lint" in runs(workflow_jobs()["lint"])


def test_ci_runs_the_local_file_target_on_macos_and_windows():
    job = workflow_jobs()["local-file"]
    matrix = job["strategy"]["matrix"]
    assert job["runs-on"] == "${{ matrix.os }}"
    assert set(matrix["os"]) == {"macos-latest", "windows-latest"}
    assert set(matrix["python"]) <= set(PYTHONS)
    assert {PYTHONS[0], PYTHONS[-1]} <= set(matrix["python"])
    assert "nox -s portable" in runs(job)


#: The wheels PyPI has for libsql 0.1.11 (its files, listed on pypi.org/simple/libsql/).
LIBSQL_WHEELS = {
    ("linux", "x86_64"): {"3.10", "3.11", "3.12", "3.13", "3.14"},
    ("linux", "aarch64"): set(),
    ("darwin", "x86_64"): {"3.10", "3.11", "3.12", "3.13"},
    ("darwin", "arm64"): {"3.10", "3.11", "3.12", "3.13"},
    ("win32", "AMD64"): {"3.10", "3.11", "3.12", "3.13"},
    ("win32", "ARM64"): set(),
}


@pytest.mark.parametrize("platform", sorted(LIBSQL_WHEELS), ids="-".join)
def test_libsql_is_required_exactly_where_it_has_a_wheel(platform):
    (libsql,) = [
        Requirement(r)
        for r in importlib.metadata.requires("migrate_tasks") or []
        if Requirement(r).name == "libsql"
    ]
    sys_platform, machine = platform
    for python in ["3.10", "3.11", "3.12", "3.13", "3.14"]:
        env = {"sys_platform": sys_platform, "platform_machine": machine}
        required = libsql.marker.evaluate({**env, "python_version": python})
        assert required == (python in LIBSQL_WHEELS[platform]), (platform, python)


@pytest.mark.parametrize("path", PORTABLE)
def test_the_portable_tests_use_nothing_posix_only(path):
    text = (ROOT / path).read_text()
    for posix in (
        r"^import (pty|fcntl|termios|resource)\b",
        r"\bsignal\.SIG(KILL|ALRM|STOP|CONT|HUP)\b",
        r"\bos\.(fork|symlink|setsid|getuid|killpg)\b",
        r"\bstart_new_session\b",
        r"\bgetfixturevalue\(\"sqld",  # a server the "not sqld" selection cannot see
    ):
        assert not re.search(posix, text, re.MULTILINE), (path, posix)
