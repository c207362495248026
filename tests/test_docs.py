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
