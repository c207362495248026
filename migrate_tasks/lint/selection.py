"""Which migrations to lint: those pending on a database, or those a branch adds.

* pending: the tracking table read like ``status`` does (one query); a local database
  file that does not exist is an empty history, so everything is pending;
* ``--since REF``: the files under the migrations folder added since the branch point
  (``git merge-base REF HEAD``), committed or not; the newest version on REF itself
  feeds the history rule (a migration older than that one merges out of order).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from migrate_tasks.engine.plan import APPLIED, MODIFIED, PENDING, ROLLED_BACK
from migrate_tasks.errors import UsageError
from migrate_tasks.files.source import MigrationFile, version_of


@dataclass(frozen=True)
class Chosen:
    versions: frozenset[str]
    #: The newest version applied (pending mode) or on the base ref (``--since``).
    newest_applied: str | None = None
    base_newest: str | None = None
    label: str = "pending"


def pending(engine) -> Chosen:  # type: ignore[no-untyped-def]
    """Versions not applied on ``engine``'s database (pending or rolled back)."""
    rows = engine.status()
    versions = frozenset(
        r.version for r in rows if r.has_file and r.state in (PENDING, ROLLED_BACK)
    )
    applied = [r.version for r in rows if r.state in (APPLIED, MODIFIED)]
    newest = max(applied, key=int, default=None)
    return Chosen(versions, newest_applied=newest, label="pending")


def since(directory: Path, ref: str) -> Chosen:
    """Versions of the files added under ``directory`` since ``git merge-base ref HEAD``."""
    if not directory.is_dir():
        raise UsageError(f"the migrations folder {directory} does not exist")
    base = _git(directory, "merge-base", ref, "HEAD").strip()
    added = _git(
        directory,
        "diff",
        "--name-only",
        "--no-renames",
        "--diff-filter=A",
        "--relative",
        "-z",
        base,
        "--",
        ".",
    )
    untracked = _git(directory, "ls-files", "--others", "--exclude-standard", "-z", "--", ".")
    names = {Path(p).name for p in (added + untracked).split("\0") if p and "/" not in p}
    versions = frozenset(_version(n) for n in names if n.endswith(".sql"))
    on_base = _git(directory, "ls-tree", "--name-only", "-z", ref, "--", ".")
    base_versions = [_version(Path(p).name) for p in on_base.split("\0") if p.endswith(".sql")]
    newest = max((v for v in base_versions if v), key=int, default=None)
    return Chosen(versions - {""}, base_newest=newest, label=f"since {ref}")


def files(paths: list[str], directory: Path) -> tuple[Chosen, list[MigrationFile]]:
    """Given files: those in the folder by version, the others as extra migrations."""
    inside, extra = set(), []
    folder = directory.resolve() if directory.is_dir() else None
    for text in paths:
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"{text}: no such file")
        version = version_of(path.name)
        name = path.name.removesuffix(".sql").partition("_")[2]
        if folder is not None and path.resolve().parent == folder:
            inside.add(version)
        else:
            extra.append(MigrationFile(version, name, path))
    return Chosen(frozenset(inside), label="files"), extra


def _version(name: str) -> str:
    head = name.split("_", 1)[0]
    return head if head.isdigit() else ""


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise UsageError(f"--since needs git: {exc}") from None
    if done.returncode != 0:
        message = (
            done.stderr.strip().splitlines()[-1]
            if done.stderr.strip()
            else f"exit {done.returncode}"
        )
        raise UsageError(f"--since: git {args[0]} failed: {message}")
    return done.stdout
