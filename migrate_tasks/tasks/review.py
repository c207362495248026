"""Invoke task ``review``: the pull-request report of a branch's migrations (docs/review.md).

Thin: flags -> ``review.build.review_branch`` (git, scratch databases, lint) ->
``report.review_output`` (Markdown or JSON). No database is opened: ``--url`` only says
which kind of target the lint rules check for (a server refuses more statements).
"""

from __future__ import annotations

import sys
from pathlib import Path

from invoke import Context, task

from migrate_tasks.errors import UsageError
from migrate_tasks.tasks.base import (
    COMMON_HELP,
    MigrateTask,
    handles_errors,
    task_settings,
)

__all__ = ["review"]

REVIEW_HELP = {
    **{k: COMMON_HELP[k] for k in ("dir", "env", "insecure", "verbose", "log-format")},
    "base": "the branch the pull request goes into (any git ref), e.g. origin/main; the"
    " report covers what this branch changes since git merge-base BASE HEAD",
    "output": "write the report to this file instead of printing it (a one-line summary"
    " is printed)",
    "json": "print (or write) one JSON document instead of Markdown (docs/json.md)",
    "url": "the database the migrations will run on, for the lint rules' target (a server"
    " refuses more statements); never connected to (default: LIBSQL_URL, DATABASE_URL,"
    " config, file:dev.db)",
}


@task(klass=MigrateTask, help=REVIEW_HELP)
@handles_errors
def review(
    c: Context,
    base: str = "",
    output: str = "",
    json_: bool = False,
    url: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Print Markdown for a pull request: the migrations the branch adds, their lint
    findings, the schema before and after, and an ER diagram (scratch databases only)."""
    from migrate_tasks.files.source import display_path
    from migrate_tasks.lint.context import LintOptions
    from migrate_tasks.lint.registry import rules
    from migrate_tasks.lint.target import target_of
    from migrate_tasks.report.review_output import review_json, review_report
    from migrate_tasks.review.build import review_branch

    if not base:
        raise UsageError("review needs the branch the pull request goes into: --base origin/main")
    settings = task_settings(c, url=url, dir_=dir_, env=env, insecure=insecure)
    options = LintOptions(target=target_of(settings.url))
    if not settings.directory.is_dir():
        raise UsageError(f"the migrations folder {display_path(settings.directory)} does not exist")
    try:
        result = review_branch(settings.directory, base, table=settings.table, lint_options=options)
    except UsageError as exc:
        raise UsageError(f"--base: {exc}") from None
    known = rules()
    text = review_json(result, known) if json_ else review_report(result, known)
    for problem in result.problems:
        sys.stderr.write(f"warning: {problem.splitlines()[0]}\n")
    if not output:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    _write(Path(output), text)
    print(f"wrote {output}: {_summary(result)}")


def _write(path: Path, text: str) -> None:
    try:
        with path.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _summary(result) -> str:  # type: ignore[no-untyped-def]
    """``2 new migrations, 1 edited; lint: 1 error, 0 warnings; 3 tables changed``."""
    parts = [f"{len(result.added)} new migration{'' if len(result.added) == 1 else 's'}"]
    parts += [f"{len(result.edited)} edited"] if result.edited else []
    parts += [f"{len(result.removed)} removed"] if result.removed else []
    said = ", ".join(parts)
    if result.lint is not None:
        errors, warnings = result.lint.count("error"), result.lint.count("warning")
        said += f"; lint: {errors} error(s), {warnings} warning(s)"
    if result.before is not None and result.after is not None:
        said += f"; {len(result.changes)} table(s) changed"
    if result.problems:
        said += f"; {len(result.problems)} part(s) not computed"
    return said
