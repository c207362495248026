"""``libsql-migrate``: the same tasks without a tasks.py (``libsql-migrate up --step 2``).

A program of its own, not a task runner: its help shows the tasks, their options, where
the configuration comes from and the exit codes; Invoke's flags for running shell
commands (``--echo``, ``--pty``, ``--dry``, ``--warn-only``, ``--hide``,
``--command-timeout``, ``--prompt-for-sudo-password``...) are gone, so ``-e`` is only
ever ``--env``. ``invoke migrate.X`` keeps Invoke's own program and help.

Both programs must read the same configuration. Invoke's own ``Program`` with a bundled
namespace skips its loader, and the loader is what finds the project: it searches upward
from the working directory for ``tasks.py``, loads ``invoke.yaml`` (``.yml``, ``.json``,
``.py``) beside it and puts that folder on ``sys.path``. ``StandaloneProgram`` does the
same with invoke's own loader, without importing the tasks.py it finds; with no tasks.py
anywhere above, the working directory is the project. Everything else (system and user
files, ``-f``/``INVOKE_RUNTIME_CONFIG``, ``INVOKE_MIGRATE_*`` variables) already goes
through invoke's ``Config`` and ``Executor`` unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from invoke import Executor, Program
from invoke.completion.complete import complete, print_completion_script
from invoke.exceptions import Exit, ParseError
from invoke.parser import Argument, ParseResult

from migrate_tasks import __version__
from migrate_tasks.api.project import project_folders
from migrate_tasks.errors import EXIT_USAGE
from migrate_tasks.progname import use_standalone
from migrate_tasks.report.cli_help import help_text, task_help_text, task_summaries
from migrate_tasks.tasks import migrate
from migrate_tasks.tasks.base import EXIT_PIPE_CLOSED, stdout_reader_gone

#: Invoke's program flags that a migration tool keeps: a runtime configuration file,
#: help, the task list, the version and shell completion.
KEPT_FLAGS = ("config", "help", "list", "version", "complete", "print-completion-script")
_FLAG_HELP = {
    "config": "a configuration file (invoke.yaml format) read over the project's",
    "help": "show this help, or a task's (also: TASK --help), and exit",
    "list": "list the tasks and exit",
    "version": "show the version and exit",
    "complete": "print completion candidates for the command line after -- (used by"
    " the shell completion scripts)",
    "print-completion-script": "print the completion script for a shell: bash, zsh or fish",
}


def _reading_config(step: Callable[[], None], what: str = "the configuration files") -> None:
    """Run a step that loads configuration files; a file that cannot be read (bad YAML or
    JSON, an invoke.py that raises, an INVOKE_* variable of the wrong type) becomes one
    ``error:`` line and exit 2 instead of a traceback."""
    try:
        step()
    except (Exit, ParseError):
        raise
    except Exception as exc:
        from migrate_tasks.config.secrets import scrub

        detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        message = scrub(f"cannot read {what}: {type(exc).__name__}: {detail}")
        raise Exit(f"error: {message}", code=EXIT_USAGE) from None


class _Executor(Executor):
    """Loads ``INVOKE_*`` variables under ``_reading_config`` before running the tasks (the
    base class loads them again for each task, over the collection's defaults, which give
    each variable its type; loading twice changes nothing)."""

    def execute(self, *tasks):  # type: ignore[no-untyped-def]
        self.config.load_collection(self.collection.configuration())
        _reading_config(
            self.config.load_shell_env,
            "the INVOKE_* environment variables (a value of the wrong type?)",
        )
        return super().execute(*tasks)


class StandaloneProgram(Program):
    """invoke's ``Program`` with a migration tool's flags and help, plus the project config
    and ``sys.path`` entry that invoke's loader would have given a run through tasks.py."""

    def core_args(self) -> list[Argument]:
        kept = [arg for arg in super().core_args() if arg.name in KEPT_FLAGS]
        for arg in kept:
            arg.help = _FLAG_HELP[arg.name]
        return kept

    def create_config(self) -> None:
        _reading_config(super().create_config)

    def parse_core(self, argv: list[str] | None) -> None:
        """Invoke's, without the flags that are gone (bytecode, debug logging)."""
        self.normalize_argv(argv)
        self.parse_core_args()
        if self.args.version.value:
            self.print_version()
            raise Exit
        if self.args["print-completion-script"].value:
            shell = self.args["print-completion-script"].value
            print_completion_script(shell=shell, names=self.binary_names)
            raise Exit

    def parse_tasks(self) -> None:
        """A command line that does not parse is bad usage: ``error:`` and exit 2.
        ``TASK ... --help`` is that task's help even where the task's positional argument
        would take ``--help`` as its value (``create --help``)."""
        rest = self.core.unparsed
        if rest and any(flag in rest[1:] for flag in ("-h", "--help")):
            self.parser = self._make_parser()
            if rest[0] in self.parser.contexts:
                self.args.help.value = rest[0]
                self.tasks = ParseResult()
                return
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise Exit(
                f"error: {exc} (`{self.binary} --help` lists the tasks,"
                f" `{self.binary} TASK --help` a task's options)",
                code=EXIT_USAGE,
            ) from None

    def parse_cleanup(self) -> None:
        """--help, --list and --complete; help, too, when no task was named."""
        wanted = self.args.help.value
        if wanted is True:
            self.print_help()
            raise Exit
        if wanted:
            if wanted not in self.parser.contexts:
                raise Exit(
                    f"error: no task named {wanted!r}; `{self.binary} --list` lists them",
                    code=EXIT_USAGE,
                )
            self.print_task_help(wanted)
            raise Exit
        if self.args.list.value:
            print("Tasks:\n")
            self.print_columns(task_summaries(self.collection))
            raise Exit
        if self.args.complete.value:
            complete(
                names=self.binary_names,
                core=self.core,
                initial_context=self.initial_context,
                collection=self.collection,
                parser=self._make_parser(),
            )
        if not self.tasks and not self.collection.default:
            self.print_help()
            raise Exit

    def update_config(self, merge: bool = True) -> None:
        """The runtime configuration file (``-f`` or ``INVOKE_RUNTIME_CONFIG``); no run()
        overrides, since no shell command is run."""

        def load() -> None:
            runtime = self.args.config.value or os.environ.get("INVOKE_RUNTIME_CONFIG")
            self.config.set_runtime_path(runtime)
            self.config.load_runtime(merge=False)
            if merge:
                self.config.merge()

        _reading_config(load)

    def print_help(self) -> None:
        spelled = {
            "config": "-f FILE, --config=FILE",
            "help": "-h [TASK], --help[=TASK]",
            "list": "-l, --list",
            "print-completion-script": "--print-completion-script=SHELL",
        }
        arguments = {arg.name: arg for arg in self.core_args()}
        flags = [
            (spelled.get(name) or self.initial_context.help_for(f"--{name}")[0],
             arguments[name].help)
            for name in ("config", "help", "list", "version", "complete",
                         "print-completion-script")
        ]  # fmt: skip
        print(help_text(self.binary, self.version, self.collection, flags), end="")

    def print_task_help(self, name: str) -> None:
        flags = self.parser.contexts[name].help_tuples()
        print(task_help_text(self.binary, name, self.collection[name], flags), end="")

    def parse_collection(self) -> None:
        _reading_config(self._load_project)

    def _load_project(self) -> None:
        super().parse_collection()
        project, import_root = project_folders(self.config)
        # What Program.load_collection does once its loader has found tasks.py.
        self.config.set_project_location(project)
        self.config.load_project()
        if import_root not in sys.path:
            sys.path.insert(0, import_root)


program = StandaloneProgram(
    namespace=migrate,
    version=__version__,
    name="libsql-migrate",
    binary="libsql-migrate",
    executor_class=_Executor,
)


def main() -> None:
    use_standalone()
    try:
        try:
            program.run()
        finally:
            sys.stdout.flush()  # a reader that went away shows here, not at exit
    except BrokenPipeError:
        if not stdout_reader_gone():
            raise
        # ``libsql-migrate --help | head``: stop quietly, as a shell reports SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_PIPE_CLOSED)
