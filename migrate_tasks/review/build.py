"""The review report's content for a branch: its migrations, their lint findings, and the
schema before and after them, all computed on scratch databases.

``review_branch`` never needs the production database. What cannot be computed (a base
migration that no longer applies, a branch migration that fails or does not parse) is
kept as a problem in the result, so the report still shows everything else and says
why a part is missing; only bad usage (no git, an unknown ref) raises.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from migrate_tasks.autogenerate.generate import current_schema
from migrate_tasks.autogenerate.schema import Schema
from migrate_tasks.config import defaults
from migrate_tasks.errors import MigrateError
from migrate_tasks.files.source import display_path
from migrate_tasks.lint.context import LintOptions
from migrate_tasks.lint.model import LintReport
from migrate_tasks.lint.run import lint_since
from migrate_tasks.review.branch import BranchMigrations, branch_migrations
from migrate_tasks.review.schema_change import (
    TableChange,
    ViewChange,
    folder_of,
    table_changes,
    view_changes,
)

__all__ = ["Review", "review_branch"]

T = TypeVar("T")


@dataclass(frozen=True)
class Review:
    """Everything the report shows; paths as the user would type them."""

    ref: str  # the base, as given
    commit: str  # the branch point
    added: tuple[str, ...]
    edited: tuple[str, ...]
    removed: tuple[str, ...]
    lint: LintReport | None  # None: not run, or it could not run (see problems)
    before: Schema | None  # None: could not be built (see problems)
    after: Schema | None
    changes: tuple[TableChange, ...]
    views: tuple[ViewChange, ...]
    problems: tuple[str, ...]


def review_branch(
    directory: Path,
    ref: str,
    *,
    table: str = defaults.TABLE,
    lint_options: LintOptions | None = None,
    run_lint: bool = True,
) -> Review:
    """What the branch checked out in ``directory``'s work tree changes since it left
    ``ref``. Raises ``UsageError`` only when git cannot answer (no repository, no ref)."""
    branch = branch_migrations(directory, ref)
    problems: list[str] = []
    before = _attempt(problems, f"the schema on {ref}", lambda: _base_schema(branch, ref, table))
    after = _attempt(
        problems, "the schema on this branch", lambda: current_schema(directory, table)
    )
    report = None
    if run_lint:
        report = _attempt(problems, "lint", lambda: lint_since(directory, ref, lint_options))
    changes, views = (), ()
    if before is not None and after is not None:
        changes, views = tuple(table_changes(before, after)), tuple(view_changes(before, after))
    folder = display_path(directory)
    shown = (lambda name: name) if folder == "." else (lambda name: os.path.join(folder, name))
    return Review(
        ref=ref,
        commit=branch.commit,
        added=tuple(map(shown, branch.added)),
        edited=tuple(map(shown, branch.edited)),
        removed=tuple(map(shown, branch.removed)),
        lint=report,
        before=before,
        after=after,
        changes=changes,
        views=views,
        problems=tuple(problems),
    )


def _attempt(problems: list[str], what: str, compute: Callable[[], T]) -> T | None:
    try:
        return compute()
    except MigrateError as exc:
        problems.append(f"{what} could not be computed: {exc}")
        return None


def _base_schema(branch: BranchMigrations, ref: str, table: str) -> Schema:
    """The schema the base's migrations build; a message names their files ``ref:path``."""
    prefix = f"{ref}:" if branch.folder == "." else f"{ref}:{branch.folder}/"
    with folder_of(branch.before) as folder, _silenced():
        try:
            return current_schema(folder, table)
        except MigrateError as exc:
            text = str(exc)
            for spelling in {str(folder), str(folder.resolve())}:
                text = text.replace(spelling + os.sep, prefix)
            raise _Relabelled(text) from None


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """No log lines from building the base: its files are not the branch's to fix, and
    their temporary paths would mean nothing to the reader."""
    log = logging.getLogger("migrate_tasks")
    drop = logging.Filter("nothing")  # passes only records of a logger named "nothing"
    log.addFilter(drop)
    try:
        yield
    finally:
        log.removeFilter(drop)


class _Relabelled(MigrateError):
    """An error about the base's files, with their temporary paths named as git names them."""
