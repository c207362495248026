"""``libsql-migrate --help`` and ``libsql-migrate TASK --help``: what a migration user needs.

The tasks with a one-sentence summary, the options (as Invoke's parser knows them, so
help and parsing never disagree), where the configuration comes from and the exit codes.
Text only: ``cli.py`` hands in the collection and the flags' (spec, help) pairs.
"""

from __future__ import annotations

import inspect
import re
import shutil
import textwrap
from collections.abc import Sequence
from typing import Any

from migrate_tasks import errors
from migrate_tasks.config import defaults
from migrate_tasks.config.settings import ENV_VARS

__all__ = ["EXIT_CODES", "help_text", "task_help_text", "task_summaries"]

#: Every exit code, with what it means (README.md's table says the same at length).
EXIT_CODES = (
    (errors.EXIT_OK, "success, including nothing to do"),
    (errors.EXIT_FAILED, "a migration failed: the message names file, line and statement"),
    (
        errors.EXIT_USAGE,
        "bad usage, configuration or migration file, or a confirmation refused;"
        " nothing was changed",
    ),
    (errors.EXIT_CHECK, "a check found a problem (status --check, validate, verify, ...)"),
    (errors.EXIT_LOCKED, "another run holds the migration lock"),
    (errors.EXIT_CONNECTION, "cannot connect to, authenticate with or write to the database"),
    (errors.EXIT_INTERRUPTED, "interrupted: the migration in progress was rolled back"),
    (errors.EXIT_PIPE_CLOSED, "nobody reads the output any more (| head): the work stands"),
)

Pairs = Sequence[tuple[str, str | None]]

#: What each option's value is, for the help's ``--url=URL`` (Invoke says STRING or INT).
METAVARS = {
    "url": "URL", "auth-token": "TOKEN", "dir": "DIR", "env": "NAME", "log-format": "FORMAT",
    "lock-timeout": "SECONDS", "wait-timeout": "SECONDS", "step": "N", "to": "VERSION",
    "version": "VERSION", "fleet": "FILE", "admin-url": "URL", "jobs": "N", "output": "PATH",
    "models": "MODULE:ATTR", "rename": "OLD:NEW", "name": "NAME", "config": "FILE",
    "backup": "DIR", "onto": "BRANCH", "dbmate-table": "TABLE",
}  # fmt: skip
_PLACEHOLDER = re.compile(r"\b(STRING|INT|FLOAT)\b")


def _width() -> int:
    return min(shutil.get_terminal_size((80, 24)).columns, 100)


def columns(pairs: Pairs, indent: int = 2) -> str:
    """Names in one column, their help wrapped beside them."""
    if not pairs:
        return ""
    name_width = min(max(len(name) for name, _ in pairs), 34)
    text_width = max(_width() - indent - name_width - 3, 30)
    lines = []
    for name, help_text_ in pairs:
        chunks = textwrap.wrap(help_text_ or "", text_width) or [""]
        if len(name) > name_width:
            lines.append(" " * indent + name)
            lines += [" " * (indent + name_width + 3) + c for c in chunks]
            continue
        lines.append(" " * indent + name.ljust(name_width + 3) + chunks[0])
        lines += [" " * (indent + name_width + 3) + c for c in chunks[1:]]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def summary(task: Any) -> str:
    """A task's first sentence, from its docstring (which wraps lines anywhere)."""
    doc = " ".join((inspect.getdoc(task) or "").split())
    match = re.match(r"(.+?[.;])(\s|$)", doc)
    return (match[1] if match else doc).rstrip(";.") + "."


def task_summaries(collection: Any) -> list[tuple[str, str | None]]:
    return [(name, summary(collection[name])) for name in sorted(collection.task_names)]


def _paragraph(text: str, indent: int = 0) -> str:
    pad = " " * indent
    return textwrap.fill(text, _width(), initial_indent=pad, subsequent_indent=pad) + "\n"


def configuration_text() -> str:
    url_vars = " (or ".join(ENV_VARS["url"]) + ")" * (len(ENV_VARS["url"]) - 1)
    variables = ", ".join([url_vars, *(ENV_VARS[k][0] for k in ("auth_token", "dir", "env"))])
    items = (
        ("1.", "task options: --url, --auth-token, --dir, --env"),
        ("2.", f"environment variables: {variables}"),
        ("3.", "a .env file in the working directory"),
        (
            "4.",
            "invoke.yaml (beside a tasks.py, or in the working directory), a file given"
            " with -f, INVOKE_MIGRATE_* variables",
        ),
        ("5.", f"defaults: {defaults.URL}, {defaults.DIR}/, table {defaults.TABLE}"),
    )
    return "Configuration, highest precedence first:\n" + columns(items)


def exit_codes_text() -> str:
    return "Exit codes:\n" + columns([(str(code), text) for code, text in EXIT_CODES])


def help_text(binary: str, version: str | None, collection: Any, flags: Pairs) -> str:
    """The program's help: usage, tasks, its own options, configuration, exit codes."""
    return "\n".join(
        (
            f"{binary} {version or ''}: versioned SQL migrations for libSQL (local files,"
            " sqld over HTTP or WebSocket)\n",
            f"Usage: {binary} [-f FILE] TASK [OPTIONS]\n"
            f"       {binary} TASK --help      (a task's options)\n",
            "Tasks:\n" + columns(task_summaries(collection)),
            "Options:\n" + columns(flags),
            configuration_text(),
            exit_codes_text(),
        )
    )


def option_rows(flags: Pairs) -> list[tuple[str, str | None]]:
    """Invoke's (spec, help) pairs with named values (``-u URL, --url=URL``), sorted by
    the long option's name."""
    rows = []
    for spec, help_ in flags:
        long = re.search(r"--([\w-]+)", spec)
        name = long[1] if long else spec
        spelled = _PLACEHOLDER.sub(METAVARS.get(name, "VALUE"), spec)
        rows.append((name, spelled, help_))
    return [(spelled, help_) for _, spelled, help_ in sorted(rows)]


def task_help_text(binary: str, name: str, task: Any, flags: Pairs) -> str:
    """One task's help: usage, its docstring, its options, configuration, exit codes."""
    # task.positional, not get_arguments(): Invoke's get_arguments pops the help texts
    positional = [name.strip("_").upper() for name in getattr(task, "positional", ())]
    usage = " ".join([binary, name, *positional, "[OPTIONS]" if flags else ""]).rstrip()
    doc = " ".join((inspect.getdoc(task) or "").split())
    return "\n".join(
        (
            f"Usage: {usage}\n",
            _paragraph(doc, 2),
            "Options:\n" + (columns(option_rows(flags)) or "  none\n"),
            configuration_text(),
            exit_codes_text(),
        )
    )
