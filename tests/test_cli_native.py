"""``libsql-migrate`` as a program of its own: help that shows what a migration user needs
(tasks, options, configuration, exit codes), none of Invoke's shell-command flags, no flag
clash, quiet ends into a closed pipe on every path, and shell completion for both entry
points run through a real bash. ``invoke --help migrate.X`` stays Invoke's."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from migrate_tasks import migrate
from migrate_tasks.report.cli_help import EXIT_CODES
from tests.support.project import BIN, Project

ROOT = Path(__file__).resolve().parent.parent
TASKS = sorted(migrate.tasks)
#: Invoke's program flags for running shell commands, and its task-runner words.
GONE = (
    "--echo", "--pty", "--dry ", "--dry,", "--warn-only", "--hide", "--command-timeout",
    "--prompt-for-sudo-password", "--write-pyc", "--list-depth", "--list-format", "--debug",
    "-R", "-T ", "-w,", "-p,", "--core-opts", "[other tasks here", "Subcommands", "Docstring:",
)  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project", "file:dev.db")


def assert_native(text: str) -> None:
    for word in GONE:
        assert word not in text, f"{word!r} in help:\n{text}"
    assert "Configuration, highest precedence first:" in text
    assert "LIBSQL_URL" in text and "MIGRATIONS_DIR" in text and "invoke.yaml" in text
    for code, _ in EXIT_CODES:
        assert re.search(rf"^  {code} +\S", text, re.M), code


def test_program_help_shows_the_tasks_options_configuration_and_exit_codes(project):
    run = project.cli("--help")
    assert run.code == 0 and not run.err, run.err
    assert_native(run.out)
    assert run.out.startswith("libsql-migrate ")
    for name in TASKS:
        assert re.search(rf"^  {name} +\S", run.out, re.M), name
    for spec in ("-f FILE, --config=FILE", "-h [TASK], --help[=TASK]", "-l, --list"):
        assert spec in run.out
    assert "--print-completion-script=SHELL" in run.out and "-V, --version" in run.out
    assert project.cli().out == run.out  # no task: the same help


@pytest.mark.parametrize("name", TASKS)
def test_each_task_help_lists_its_own_options(project, name):
    run = project.cli(name, "--help")
    assert run.code == 0 and not run.err, run.err
    assert project.cli("--help", name).out == run.out
    assert run.out.startswith(f"Usage: libsql-migrate {name}")
    assert_native(run.out)
    for arg in copy.deepcopy(migrate.tasks[name]).get_arguments():  # it pops help texts
        assert f"--{arg.names[0]}" in run.out, arg.names[0]
        if not arg.positional and arg.kind is not bool:
            assert not re.search(rf"--{arg.names[0]}=(STRING|INT|FLOAT)\b", run.out)
    assert not list(project.root.glob("**/*.sql")) and not (project.root / "dev.db").exists()


def test_dash_e_is_only_ever_env(project):
    (project.root / "invoke.yaml").write_text(
        "migrate:\n  environments:\n    staging:\n      url: file:staging.db\n"
    )
    project.write("20240101000000_one.sql", "-- migrate:up\nSELECT 1;\n")
    run = project.cli("status", "-e", "staging", "--json", LIBSQL_URL=None)
    assert run.code == 0, run.err
    assert run.json["target"] == "file:staging.db"
    for argv in (["-e", "status"], ["--echo", "status"], ["status", "--echo"], ["--pty", "up"]):
        refused = project.cli(*argv, LIBSQL_URL=None)
        assert refused.code == 2 and refused.err.startswith("error: "), (argv, refused.err)
        assert "libsql-migrate --help" in refused.err
    unknown = project.cli("frobnicate")
    assert unknown.code == 2 and "'frobnicate'" in unknown.err


def test_invoke_keeps_its_own_program_and_help(project):
    run = project.invoke("--help", "migrate.up")
    assert run.code == 0, run.err
    assert run.out.startswith("Usage: inv[oke] [--core-opts] migrate.up [--options]")
    core = project.invoke("--help")
    assert "-e, --echo" in core.out and "--prompt-for-sudo-password" in core.out


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["up", "--help"],
        ["--help", "create"],
        ["--list"],
        ["--version"],
        ["--print-completion-script", "bash"],
        ["--complete", "--", "libsql-migrate", ""],
        [],
    ],
)
def test_output_into_a_closed_pipe_ends_quietly_on_every_path(project, argv):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the program writes anything
    try:
        proc = subprocess.run(
            [str(BIN / "libsql-migrate"), *argv],
            cwd=project.root,
            env=project.env(),
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141, (argv, proc.returncode, proc.stderr)
    assert proc.stderr == ""


def complete_in_bash(project: Project, program: str, words: list[str]) -> list[str]:
    """What a real bash offers for ``words`` (the last one being completed), through the
    script the program prints for bash."""
    bash = shutil.which("bash")
    assert bash, "bash is needed for the completion tests"
    function = f"_complete_{program}"
    script = (
        f'source <("{program}" --print-completion-script bash)\n'
        f"COMP_WORDS=({' '.join(_quote(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        f'{function} "{program}" {_quote(words[-1])} {_quote(words[-2])}\n'
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    env = project.env()
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(
        [bash, "--noprofile", "--norc", "-c", script],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return sorted(line for line in proc.stdout.splitlines() if line)


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def test_bash_completion_of_libsql_migrate(project):
    assert complete_in_bash(project, "libsql-migrate", ["libsql-migrate", "st"]) == ["status"]
    assert complete_in_bash(project, "libsql-migrate", ["libsql-migrate", "re"]) == [
        "rebase",
        "repair",
        "retire-alembic",
        "review",
    ]
    options = complete_in_bash(project, "libsql-migrate", ["libsql-migrate", "up", "--wa"])
    assert options == ["--wait", "--wait-timeout"]
    flags = complete_in_bash(project, "libsql-migrate", ["libsql-migrate", "--"])
    assert "--echo" not in flags and {"--help", "--list", "--config", "--version"} <= set(flags)


def test_bash_completion_of_invoke_with_the_collection(project):
    found = complete_in_bash(project, "invoke", ["invoke", "migrate.st"])
    assert found == ["migrate.status"]
    options = complete_in_bash(project, "invoke", ["invoke", "migrate.down", "--al"])
    assert options == ["--all"]


def test_the_readme_documents_the_same_exit_codes_and_completion():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = [int(m) for m in re.findall(r"^\| (\d+) \|", section, re.M)]
    assert documented == [code for code, _ in EXIT_CODES]
    for program in ("libsql-migrate", "invoke"):
        assert f'eval "$({program} --print-completion-script bash)"' in readme
