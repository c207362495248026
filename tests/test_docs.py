"""Every task and every flag is documented: in its --help and in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate_tasks import migrate

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
