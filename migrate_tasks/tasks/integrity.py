"""The integrity file's tasks: ``hash`` writes ``migrate.sum``, ``rebase`` moves a branch's
migrations after another branch's (``files.integrity``, ``files.rebase``).

Also the glue the other tasks use: ``folder_problems`` for ``validate`` and ``up``, and
``keeping_sum_current`` for the tasks that write migrations.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Context, task

from migrate_tasks.api import checks
from migrate_tasks.errors import UsageError
from migrate_tasks.progname import command
from migrate_tasks.tasks.base import (
    COMMON_HELP,
    MigrateTask,
    handles_errors,
    help_for,
    open_engine,
    task_settings,
)

if TYPE_CHECKING:
    from migrate_tasks.config.settings import Settings
    from migrate_tasks.engine.plan import Problem
    from migrate_tasks.files.rebase import RebasePlan

__all__ = ["folder_problems", "hash_", "keeping_sum_current", "rebase", "refuse_unsound_folder"]

#: The states of a tracked migration that ``rebase`` must not move: it would run again.
_SETTLED = ("applied", "failed")


@task(
    klass=MigrateTask,
    name="hash",
    help={k: COMMON_HELP[k] for k in ("dir", "env", "verbose", "log-format")},
)
@handles_errors
def hash_(
    c: Context, dir_: str = "", env: str = "", verbose: bool = False, log_format: str = "text"
) -> None:
    """Write migrations/migrate.sum: validate and up then refuse migrations changed without
    it, and two branches that each add a migration conflict in git."""
    from migrate_tasks.files import integrity
    from migrate_tasks.files.rebase import local_migrations
    from migrate_tasks.files.source import display_path

    # no database is used: a stand-in URL keeps a DATABASE_URL for another engine unread
    settings = task_settings(c, url=":memory:", dir_=dir_, env=env)
    directory = settings.directory
    count = len(local_migrations(directory))  # a bad name stops here, as it stops up
    path = integrity.sum_path(directory)
    before = path.read_bytes() if path.is_file() else None
    entries = integrity.current_entries(directory)
    shown = display_path(path)
    if before is not None and before.replace(b"\r\n", b"\n") == integrity.render(entries).encode():
        print(f"{shown} is up to date ({count} migrations)")
        return
    conflicted = before is not None and integrity.has_conflict(before)
    integrity.write_sum(directory, entries)
    print(f"wrote {shown} ({count} migrations)")
    if conflicted:
        sys.stderr.write(
            f"note: {shown} had a merge conflict, now resolved from the folder as it is. If"
            " the other branch added migrations, check their order:"
            f" `{command('rebase --onto BRANCH')}` moves this branch's after them\n"
        )


@task(
    klass=MigrateTask,
    help=help_for(
        onto="the branch (or any git commit) to move after, e.g. main",
        dry_run="print the renames and change nothing",
    ),
)
@handles_errors
def rebase(
    c: Context,
    onto: str = "",
    dry_run: bool = False,
    url: str = "",
    auth_token: str = "",
    dir_: str = "",
    env: str = "",
    insecure: bool = False,
    verbose: bool = False,
    log_format: str = "text",
) -> None:
    """Give this branch's new migrations versions after --onto BRANCH's newest (same
    content) and rewrite migrate.sum; never moves one applied on the database."""
    from migrate_tasks.files import integrity
    from migrate_tasks.files.gitref import folder_at
    from migrate_tasks.files.rebase import apply_moves, local_migrations, plan_moves
    from migrate_tasks.files.source import display_path

    if not onto:
        raise UsageError("rebase needs the branch to move after: --onto main (or any git ref)")
    settings = task_settings(c, url, auth_token, dir_, env, insecure)
    directory = settings.directory
    local = local_migrations(directory)
    try:
        target = folder_at(directory, onto).names()
    except UsageError as exc:
        raise UsageError(f"rebase: {exc}") from None
    plan = plan_moves(local, target, datetime.now(timezone.utc))
    if plan.moves:
        _refuse_applied(settings, plan)
    if not dry_run:
        apply_moves(plan.moves)
    verb = "would move" if dry_run else "moved"
    for move in plan.moves:
        print(f"{verb} {move.file.path.name} -> {move.new_path.name}")
    print(_rebase_summary(plan, onto, dry_run=dry_run))
    path = integrity.sum_path(directory)
    if path.is_file():
        if not dry_run:
            integrity.write_sum(directory)
        print(f"{'would rewrite' if dry_run else 'wrote'} {display_path(path)}")
    if not dry_run and (plan.moves or path.is_file()):
        print(f"next: `git add -A {display_path(directory)}` and commit")


def _refuse_applied(settings: Settings, plan: RebasePlan) -> None:
    """A migration applied (or failed) on the configured database must keep its version."""
    from migrate_tasks.files.rebase import applied_refusal

    with open_engine(settings) as engine:
        records = engine.records()
        target = engine.driver.display_url
    applied = {v for v, r in records.items() if r.status in _SETTLED}
    refusal = applied_refusal(plan, applied, target)
    if refusal:
        raise UsageError(refusal)


def _rebase_summary(plan: RebasePlan, onto: str, *, dry_run: bool) -> str:
    """One line: what the branch adds, and where its migrations stand."""
    if not plan.branch:
        return f"nothing to move: this branch adds no migrations compared with {onto}"
    newest = f"{onto}'s newest, {plan.newest}" if plan.newest else None
    if not plan.moves:
        where = f"come after {newest}" if newest else f"are the only ones ({onto} has none)"
        count = len(plan.branch)
        return f"nothing to move: this branch's {count} new migration(s) already {where}"
    return f"{len(plan.moves)} migration(s) {'would' if dry_run else 'now'} come after {newest}"


def keeping_sum_current(directory: Path) -> AbstractContextManager[list[Path]]:
    """``files.integrity.keeping_sum_current``, imported when a task writes migrations."""
    from migrate_tasks.files import integrity

    return integrity.keeping_sum_current(directory)


def folder_problems(settings: Settings) -> list[Problem]:
    """``validate``: how the folder differs from its integrity file (none without one)."""
    return checks.folder_problems(settings.directory)


def refuse_unsound_folder(settings: Settings, what: str) -> None:
    """``up`` (and a fleet ``validate``) refuse, as for ``validate``'s other problems."""
    checks.refuse_unsound_folder(settings.directory, what)
