"""``rebase``: give a branch's new migrations versions after the newest one on another branch.

Two branches that each add a migration merge without a file conflict, and the merged
folder runs them in version order, which need not be the order in which they reach a
database: the other branch's migration may already be applied in production, and ours
would then be out of order. ``rebase --onto main`` renames this branch's migrations (the
files in the folder that ``main``'s folder does not have) so that they come after
``main``'s newest, keeping their content and their order among themselves.

New versions keep the folder's style: 14-digit UTC timestamps (``create``, ``dbmate
new``) become the current UTC time, at least one second after the newest on the target,
one second apart; plain sequence numbers (``001_``) count on from the newest, zero-padded
to the folder's width. Only the move itself is decided here (pure ``plan_moves``); git is
asked for the target's file names (``gitref``), and the task refuses to move an applied
migration.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from migrate_tasks.errors import UsageError
from migrate_tasks.files.source import (
    MigrationFile,
    display_path,
    listing,
    match_name,
    utc_version,
)
from migrate_tasks.progname import command

_TIMESTAMP = "%Y%m%d%H%M%S"


@dataclass(frozen=True)
class Move:
    """One migration renamed: same content, a new version, the same name otherwise."""

    file: MigrationFile
    version: str

    @property
    def new_path(self) -> Path:
        old = self.file.path.name
        return self.file.path.with_name(self.version + old[len(self.file.version) :])


@dataclass(frozen=True)
class RebasePlan:
    """What ``rebase`` will do: the moves, and the newest target migration they follow."""

    moves: list[Move]
    branch: list[MigrationFile]  # the migrations only this branch has, in version order
    newest: str | None  # the target's newest migration file name


def _is_timestamp(version: str) -> bool:
    if len(version) != 14:
        return False
    try:
        datetime.strptime(version, _TIMESTAMP)
    except ValueError:
        return False
    return True


def new_versions(versions: Collection[str], newest: str, count: int, now: datetime) -> list[str]:
    """``count`` free versions after ``newest``, in the style of ``versions`` (see module)."""
    taken = {int(v) for v in versions}
    found: list[str] = []
    if versions and all(_is_timestamp(v) for v in versions):
        after = datetime.strptime(newest, _TIMESTAMP).replace(tzinfo=timezone.utc)
        when = max(
            now.astimezone(timezone.utc).replace(microsecond=0), after + timedelta(seconds=1)
        )
        while len(found) < count:
            candidate = utc_version(when)
            when += timedelta(seconds=1)
            if int(candidate) not in taken:
                found.append(candidate)
        return found
    widths = {len(v) for v in versions}
    width = widths.pop() if len(widths) == 1 else 0
    number = int(newest)
    while len(found) < count:
        number += 1
        if number not in taken:
            found.append(str(number).zfill(width))
    return found


def plan_moves(
    local: Sequence[MigrationFile], target_names: Collection[str], now: datetime
) -> RebasePlan:
    """The branch's migrations (in ``local``, not among ``target_names``) from the first one
    out of place onward, each with a new version after the rest (pure).

    Out of place: not after the target's newest, or sharing its version with another of
    the branch's (``git rebase`` replays one commit at a time: a migration moved at one
    stop can meet the next commit's)."""
    target = [m for n in target_names if (m := match_name(n))]
    branch = [f for f in local if f.path.name not in target_names]
    if not target or not branch:
        return RebasePlan([], branch, None)
    newest = max(target, key=lambda m: (int(m.group(1)), m.group(0)))
    counts = Counter(int(f.version) for f in branch)
    first = next(
        (
            i
            for i, f in enumerate(branch)
            if int(f.version) <= int(newest.group(1)) or counts[int(f.version)] > 1
        ),
        None,
    )
    if first is None:
        return RebasePlan([], branch, newest.group(0))
    after = max([newest.group(1), *(f.version for f in branch[:first])], key=int)
    every = [f.version for f in local] + [m.group(1) for m in target]
    versions = new_versions(every, after, len(branch) - first, now)
    moves = [Move(f, v) for f, v in zip(branch[first:], versions, strict=True)]
    return RebasePlan(moves, branch, newest.group(0))


def apply_moves(moves: Sequence[Move]) -> None:
    """Rename the files; a failure part-way undoes the renames already made."""
    for move in moves:
        if move.new_path.exists():
            raise UsageError(f"{display_path(move.new_path)} exists already; nothing was moved")
    done: list[Move] = []
    try:
        for move in moves:
            os.rename(move.file.path, move.new_path)
            done.append(move)
    except OSError as exc:
        for move in reversed(done):
            os.rename(move.new_path, move.file.path)
        raise UsageError(
            f"cannot rename {display_path(move.file.path)}: {exc.strerror or exc};"
            " nothing was moved"
        ) from exc


def local_migrations(directory: Path) -> list[MigrationFile]:
    """The folder's migrations as they are (two with one version too: a merge can do that)."""
    files, problems = listing(directory)
    if problems:
        raise problems[0]
    return files


def applied_refusal(plan: RebasePlan, applied: Collection[str], target: str) -> str | None:
    """Why the plan must not run: a migration it moves is applied (or failed) on ``target``
    and would run again under its new version; None when none is."""
    blocked = [m.file for m in plan.moves if m.file.version in applied]
    if not blocked:
        return None
    oldest = min(int(m.file.version) for m in plan.moves)
    below = [v for v in applied if int(v) < oldest]
    back = f"down --to {max(below, key=int)}" if below else "down --all"
    names = ", ".join(f.path.name for f in blocked)
    return (
        f"refusing to rebase: {names} {'is' if len(blocked) == 1 else 'are'} applied on"
        f" {target}; moved, {'it' if len(blocked) == 1 else 'they'} would run again under a"
        f" new version. Roll back first (`{command(back)}`), rebase, then"
        f" `{command('up')}`"
    )
