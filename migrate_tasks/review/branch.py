"""What a branch does to the migrations folder since it left its base: the migrations it
adds, edits and removes, and the base's own files (for the schema before it).

The base is ``git merge-base REF HEAD`` (``files.gitref.branch_point``), as for
``lint --since``: what REF gained since the branch left it is neither added nor removed
by the branch. The branch's side is the folder as it is, committed or not (what ``up``
would run). A migration counts as edited when its checksum differs, so a CRLF checkout
of an unchanged file is not an edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from migrate_tasks.files.gitref import branch_point
from migrate_tasks.files.source import checksum, listing, match_name

__all__ = ["BranchMigrations", "branch_migrations"]


@dataclass(frozen=True)
class BranchMigrations:
    """File names (not paths) in version order; ``before``: the base's migration files."""

    commit: str  # the branch point
    folder: str  # the migrations folder, relative to the repository's root ("." for it)
    added: tuple[str, ...]
    edited: tuple[str, ...]
    removed: tuple[str, ...]
    before: Mapping[str, bytes]


def branch_migrations(directory: Path, ref: str) -> BranchMigrations:
    """Compare ``directory`` with itself at the branch point with ``ref``."""
    base = branch_point(directory, ref)
    names = [n for n in base.names() if _is_migration(n)]
    before = base.read_all(names)
    now = {f.path.name: f for f in listing(directory)[0]}
    added = [n for n in now if n not in before]
    removed = [n for n in before if n not in now]
    edited = [n for n in now if n in before and now[n].checksum() != checksum(before[n])]
    return BranchMigrations(
        base.commit, base.relative, _ordered(added), _ordered(edited), _ordered(removed), before
    )


def _is_migration(name: str) -> bool:
    return not name.startswith(".") and match_name(name) is not None


def _ordered(names: list[str]) -> tuple[str, ...]:
    def key(name: str) -> tuple[int, str]:
        match = match_name(name)
        return (int(match.group(1)) if match else 0, name)

    return tuple(sorted(names, key=key))
