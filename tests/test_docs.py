"""Every task and every flag is documented: in its --help and in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrate_tasks import migrate
from migrate_tasks.config import defaults

README = (Path(__file__).parent.parent / "README.md").read_text()
TASKS = sorted(migrate.tasks)


def test_the_collection_has_the_promised_tasks():
    assert {"create", "status", "up", "down"} <= set(TASKS)


@pytest.mark.parametrize("name", TASKS)
def test_task_is_in_the_readme_with_every_flag(name):
    task = migrate.tasks[name]
    assert f"migrate.{name}" in README
    assert task.__doc__ and task.__doc__.strip()
    for arg in task.get_arguments():
        long_name = arg.names[0]
        assert arg.help, f"migrate.{name} --{long_name} has no help text"
        if not arg.positional:
            assert f"--{long_name}" in README, f"README does not mention --{long_name}"


@pytest.mark.parametrize("name", TASKS)
def test_no_surprising_short_flags(name):
    shorts = {n for arg in migrate.tasks[name].get_arguments() for n in arg.names if len(n) == 1}
    assert "h" not in shorts and "a" not in shorts  # -h is help; --all must be spelled out


def test_configuration_page_states_the_defaults_the_code_uses():
    """config/defaults.py is the one table of defaults; the settings page must agree."""
    page = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    rows = {}
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[3].startswith("`"):
            rows[cells[3].split("`")[1]] = cells[4].split("`")[1] if "`" in cells[4] else None
    expected = {
        "url": defaults.URL,
        "dir": defaults.DIR,
        "table": defaults.TABLE,
        "lock_timeout": str(defaults.LOCK_TIMEOUT_S),
        "lock_ttl": str(defaults.LOCK_TTL_S),
        "timeout": str(defaults.REQUEST_TIMEOUT_S),
        "batch_steps": str(defaults.BATCH_STEPS),
        "batch_bytes": str(defaults.BATCH_BYTES),
    }
    assert {key: rows.get(key) for key in expected} == expected
    for key in ("lock_timeout", "lock_ttl", "timeout"):  # the README's settings paragraph
        assert re.search(rf"`{key}` \([^)]*default {expected[key]}\b", README), key
    assert f"another run, default {defaults.LOCK_TIMEOUT_S})" in README
    fleet = (Path(__file__).parent.parent / "docs" / "fleet.md").read_text()
    assert f"at once (default {defaults.FLEET_JOBS})" in fleet
    assert f"run at once (default {defaults.FLEET_JOBS})" in README


ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "migrate_tasks"


def _architecture_module_paths() -> set[str]:
    """The module paths docs/architecture.md names in its tree, relative to the package.

    The tree is indented by two spaces per level; a line ``name/`` opens a folder and a
    line ``name.py`` names a module in the folder above it.
    """
    text = (ROOT / "docs" / "architecture.md").read_text()
    tree = text.split("## The modules", 1)[1].split("```")[1]
    named: set[str] = set()
    folders: list[tuple[int, str]] = []
    for line in tree.splitlines():
        match = re.match(r"( *)(\w+)(/|\.py)(?=\s|$)", line)
        if not match or line.strip().startswith("migrate_tasks/"):
            continue
        indent = len(match.group(1))
        while folders and folders[-1][0] >= indent:
            folders.pop()
        prefix = "/".join(name for _, name in folders)
        name = match.group(2)
        if match.group(3) == "/":
            folders.append((indent, name))
            continue
        named.add(f"{prefix}/{name}.py".lstrip("/"))
    return named


def test_architecture_names_every_module():
    on_disk = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" or path.parent == PACKAGE
    }
    every_file = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")}
    named = _architecture_module_paths()
    assert sorted(on_disk - named) == [], "modules docs/architecture.md does not name"
    assert sorted(named - every_file) == [], "named modules that do not exist"


def test_citations_of_the_libsql_notes_point_at_sections_that_exist():
    notes = (ROOT / "docs" / "libsql-notes.md").read_text()
    sections = set(re.findall(r"^## (\d+)\.", notes, re.M))
    cited: list[tuple[str, str]] = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *ROOT.glob("docs/*.md")]:
        text = path.read_text(encoding="utf-8")
        assert "LIBSQL_NOTES" not in text or path.name == "test_docs.py", path
        for match in re.finditer(r"libsql-notes\.md[^\n]*?((?:§\s*\d+[, ]*)+)", text):
            cited += [(str(path.relative_to(ROOT)), n) for n in re.findall(r"\d+", match.group(1))]
    assert cited, "the code cites the notes"
    assert [c for c in cited if c[1] not in sections] == []


def test_module_paths_in_the_docs_exist():
    """A page that names ``migrate_tasks/x/y.py`` names a file that is there."""
    pages = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("benchmarks/*.md")]
    missing = []
    for page in pages:
        for path in re.findall(r"migrate_tasks/[\w/]+\.py", page.read_text(encoding="utf-8")):
            if not (ROOT / path).exists():
                missing.append(f"{page.name}: {path}")
    assert missing == []


@pytest.mark.parametrize("name", ["up", "status"])
def test_help_survives_a_second_parse_in_one_process(name):
    """Invoke pops each flag's help while it builds the arguments; a task parsed twice in
    one process (in-process runs, the pytest plugin) must still have all of it."""
    task = migrate.tasks[name]
    first = {arg.names[0]: arg.help for arg in task.get_arguments()}
    second = {arg.names[0]: arg.help for arg in task.get_arguments()}
    assert second == first and all(second.values()), second
