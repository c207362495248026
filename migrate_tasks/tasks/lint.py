"""Invoke task ``lint``: dangerous migrations found before they run (docs/lint.md).

Thin: flags -> ``Migrator.lint`` (which migrations, the database read, ``lint.lint``) ->
``report.lint``. Exit 0 when clean, 3 on errors (warnings too with ``--strict``), 2 for bad input.
"""

from __future__ import annotations

from invoke import Context, task

from migrate_tasks.api.migrator import Migrator
from migrate_tasks.errors import CheckFailed, UsageError
from migrate_tasks.tasks.base import MigrateTask, handles_errors, help_for, task_settings

__all__ = ["lint"]

FORMATS = ("text", "json", "sarif", "codequality")

LINT_HELP = help_for(
    url="the live database: its history decides what is pending, and its row counts feed"
    " the data and size rules (default: LIBSQL_URL, DATABASE_URL, config, file:dev.db; with"
    " --since or --file only read when given)",
    since="lint the migrations added since the branch point with this git ref (git"
    " merge-base REF HEAD), e.g. origin/main; the database is not read",
    file="lint this migration file (repeat the flag for several); the database is not read",
    strict="exit 3 on warnings too, not only on errors",
    json="print the result as one JSON document (docs/json.md); same as --format json",
    format="text, json, sarif (SARIF 2.1.0, for GitHub code scanning) or codequality"
    " (GitLab's code quality report)",
    transaction_budget="seconds one migration's transaction may take on sqld, for the size"
    " rule (default 5: sqld's write-transaction timeout; more if your namespace sets"
    " txn_timeout_s)",
)


@task(klass=MigrateTask, iterable=["file"], help=LINT_HELP)
@handles_errors
def lint(
    c: Context,
    since: str = "",
    file: list[str] | None = None,
    strict: bool = False,
    json_: bool = False,
    format: str = "text",
    transaction_budget: str = "5",
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Find dangerous statements in migrations before they run: pending ones by default."""
    from migrate_tasks import __version__
    from migrate_tasks.lint.registry import rules
    from migrate_tasks.report.lint import lint_codequality, lint_json, lint_sarif, lint_text

    shown = _format(format, json_)
    if since and file:
        raise UsageError("--since and --file choose the migrations two ways; give one of them")
    settings = task_settings(c, url, auth_token, dir_, env, insecure)
    budget = _seconds(transaction_budget)
    with Migrator.from_settings(settings) as migrator:
        report = migrator.lint(
            since=since or None,
            files=file or [],
            read_database=bool(url) or not (since or file),
            transaction_budget=budget,
        )
    known = rules()
    if shown == "json":
        print(lint_json(report, known, strict=strict))
    elif shown == "sarif":
        print(lint_sarif(report, known, version=__version__))
    elif shown == "codequality":
        print(lint_codequality(report, known))
    else:
        print(lint_text(report, known))
    if report.failed(strict=strict):
        errors, warnings = report.count("error"), report.count("warning")
        counted = f"{errors} error(s)" + (
            f" and {warnings} warning(s) (--strict)" if strict else ""
        )
        raise CheckFailed(f"lint found {counted}; each rule is explained in docs/lint.md")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise UsageError(f"--transaction-budget must be a positive number of seconds, not {text!r}")
    return value


def _format(format: str, json_: bool) -> str:
    if format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
    if json_ and format not in ("text", "json"):
        raise UsageError(f"--json and --format {format} ask for two formats; give one of them")
    return "json" if json_ else format
