"""``retire-alembic``: the last step out of Alembic, made safe to run.

Before anything is touched it checks that the conversion is in place:

1. the migrations folder holds migrations, and one of them says it was imported from
   the Alembic head (``import-alembic`` writes the revision in each file's header), so a
   revision added after the import is not deleted unconverted;
2. on the configured database, if one is configured (not the default ``dev.db``), the
   migration that holds the head is recorded as applied (by ``baseline`` or ``up``).

Then it copies the configuration file and the script and version folders into the backup
folder, under ``files/`` with their paths relative to the project and their modification
times, writes ``SHA256SUMS`` (``sha256sum -c`` reads it) and a README, reads every copy
back against its checksum, and only then deletes the originals (bytecode caches are
deleted, not copied). ``references.find_references`` then lists what still points at
Alembic. Files of our migrations folder inside the script folder (Flask-Migrate's
layout) are never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from migrate_tasks.errors import MigrateError, UsageError
from migrate_tasks.files.integrity import SUM_FILENAME
from migrate_tasks.files.source import display_path, scan
from migrate_tasks.from_alembic.project import AlembicProject
from migrate_tasks.ops.baseline import ALEMBIC_VERSION
from migrate_tasks.progname import command

if TYPE_CHECKING:
    from migrate_tasks.engine.core import Engine

__all__ = [
    "BACKUP_FILES",
    "CHECKSUMS",
    "Retirement",
    "check_backup_folder",
    "database_findings",
    "imported_revisions",
    "plan_retirement",
    "problems_with_conversion",
    "remove_files",
    "utc_now",
    "write_backup",
]

CHECKSUMS = "SHA256SUMS"
BACKUP_FILES = "files"
_HEADER_LINES = 12
#: The header import-alembic writes: ``-- `` in a .sql migration, ``# `` in a .py one.
_IMPORTED = re.compile(
    r"^(?:--|#) (?:The schema of )?Alembic revision (\S+?)(?::| \()", re.MULTILINE
)


@dataclass
class Retirement:
    """What retiring a project means: which files go, which caches, which folders."""

    project: AlembicProject
    base: Path  # backups keep paths relative to this folder
    files: list[Path] = field(default_factory=list)  # backed up, then removed
    caches: list[Path] = field(default_factory=list)  # __pycache__ folders: removed only
    folders: list[Path] = field(default_factory=list)  # removed when empty, deepest first

    def relative(self, path: Path) -> str:
        return path.relative_to(self.base).as_posix()


def plan_retirement(project: AlembicProject, migrations: Path) -> Retirement:
    """The files to retire: the configuration and everything in the script and version
    folders, except our migrations folder's own files."""
    migrations = migrations.resolve()
    files: list[Path] = [project.config]
    caches: list[Path] = []
    folders: list[Path] = []
    for top in project.folders:
        if not top.is_dir():
            continue
        for folder, dirs, names in os.walk(top):
            here = Path(folder)
            if here.name == "__pycache__":
                caches.append(here)
                dirs[:] = []
                continue
            if _ours(here, migrations, top):
                dirs[:] = []
                continue
            folders.append(here)
            links = sorted(d for d in dirs if (here / d).is_symlink())
            files += [here / d for d in links]  # a linked folder: copied and removed as a link
            dirs[:] = sorted(d for d in dirs if d not in links)
            for name in sorted(names):
                path = here / name
                if here == migrations and (name.endswith(".sql") or name == SUM_FILENAME):
                    continue
                if path == project.config:
                    continue
                files.append(path)
    base = _base([*files, *folders])
    folders.sort(key=lambda p: len(p.parts), reverse=True)
    return Retirement(project, base, files, caches, folders)


def _ours(folder: Path, migrations: Path, top: Path) -> bool:
    """Our migrations folder nested in the script folder: kept whole. (When it is the
    script folder itself, only its migrations are ours.)"""
    return migrations != top and (folder == migrations or migrations in folder.parents)


def _base(paths: Iterable[Path]) -> Path:
    cwd = Path.cwd().resolve()
    paths = list(paths)
    if all(p == cwd or cwd in p.parents for p in paths):
        return cwd
    return Path(os.path.commonpath([str(p.parent) for p in paths]))


def imported_revisions(migrations: Path) -> dict[str, Path]:
    """Alembic revision -> the migration file whose header says it was imported from it."""
    found: dict[str, Path] = {}
    files, _ = scan(migrations)
    for file in files:
        try:
            with file.path.open(encoding="utf-8", errors="replace") as handle:
                head = "".join(handle.readline() for _ in range(_HEADER_LINES))
        except OSError:
            continue
        for revision in _IMPORTED.findall(head):
            found.setdefault(revision, file.path)
    return found


def problems_with_conversion(
    project: AlembicProject, migrations: Path, config_arg: str
) -> list[str]:
    """Why the migrations folder does not replace the Alembic history yet (empty if it does)."""
    files, bad = scan(migrations)
    if not files:
        return [
            f"{display_path(migrations)} has no migrations: convert the Alembic history first"
            f" (`{command('import-alembic --config ' + config_arg)}`)"
        ]
    problems = [str(problem) for problem in bad]
    imported = imported_revisions(migrations)
    by_id = {r.id: r for r in project.revisions}
    for head in project.heads:
        if head in imported:
            continue
        where = display_path(by_id[head].path)
        if imported:
            listed = ", ".join(f"{rev} ({display_path(p)})" for rev, p in imported.items())
            problems.append(
                f"the Alembic head is {head} ({where}), but the migrations were imported from"
                f" {listed}: revisions added since would be lost. Import again"
                f" (`{command('import-alembic --config ' + config_arg + ' --force')}` writes"
                " beside the others) or port them by hand"
            )
        else:
            problems.append(
                f"no migration in {display_path(migrations)} says it was imported from the"
                f" Alembic head {head} ({where}): `import-alembic` writes the revision in the"
                " header of each file. Convert the history first"
                f" (`{command('import-alembic --config ' + config_arg)}`), or pass --force if"
                " you made the first migration another way (generate, by hand)"
            )
    return problems


def database_findings(engine: Engine, versions: Iterable[str]) -> tuple[list[str], list[str]]:
    """(problems, notes) about the configured database: the migrations holding the Alembic
    head must be recorded as applied there; Alembic's own table may stay, with a note."""
    states = {row.version: row.state for row in engine.status()}
    alembic = _alembic_version(engine)
    problems = []
    where = engine.driver.display_url
    for version in versions:
        state = states.get(version, "pending")
        if state == "applied":
            continue
        if alembic is not None:
            fix = command(f"baseline {version} --drop-alembic-version")
            problems.append(
                f"{where} is still Alembic's (alembic_version holds {alembic or 'nothing'}) and"
                f" migration {version} is {state} there: adopt it first (`{fix}`)"
            )
        else:
            problems.append(
                f"migration {version} is {state} on {where}: apply it (`{command('up')}`), or"
                f" baseline a database Alembic built (`{command('baseline ' + version)}`)"
            )
    notes = []
    if alembic is not None and not problems:
        notes.append(
            f"{where} still has Alembic's alembic_version table ({alembic or 'empty'}): nothing"
            " reads it any more; drop it in a migration when convenient"
            " (DROP TABLE alembic_version;)"
        )
    return problems, notes


def _alembic_version(engine: Engine) -> str | None:
    """The revisions in alembic_version, comma-separated; None without that table."""
    rows = engine.driver.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND lower(name) = ?",
        (ALEMBIC_VERSION,),
    )
    if not rows:
        return None
    table = str(rows[0][0]).replace('"', '""')
    revisions = engine.driver.query(f'SELECT version_num FROM "{table}" ORDER BY 1')
    return ", ".join(str(r[0]) for r in revisions)


def write_backup(plan: Retirement, backup: Path, readme: str) -> dict[str, str]:
    """Copy the files into ``backup/files`` (paths and times kept), write SHA256SUMS and
    README.md, read every copy back; the folder appears complete or not at all."""
    staging = backup.with_name(f".{backup.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        sums = _copy(plan, staging / BACKUP_FILES)
        lines = "".join(f"{digest}  {BACKUP_FILES}/{name}\n" for name, digest in sums.items())
        (staging / CHECKSUMS).write_text(lines, encoding="utf-8", newline="\n")
        (staging / "README.md").write_text(readme, encoding="utf-8", newline="\n")
        _check_copies(plan, staging / BACKUP_FILES, sums)
        if backup.is_dir():
            backup.rmdir()  # checked empty before
        staging.rename(backup)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise MigrateError(
            f"cannot write the backup in {display_path(backup)}: {exc}; nothing was removed"
        ) from None
    return sums


def _copy(plan: Retirement, target: Path) -> dict[str, str]:
    sums: dict[str, str] = {}
    for path in plan.files:
        name = plan.relative(path)
        copy = target / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            os.symlink(os.readlink(path), copy)
            continue
        shutil.copy2(path, copy)
        sums[name] = _sha256(path)
    for folder in plan.folders:  # deepest first; a folder's copy exists if it had files
        copy = target / plan.relative(folder)
        copy.mkdir(parents=True, exist_ok=True)
        stat = folder.stat()
        os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return sums


def _check_copies(plan: Retirement, target: Path, sums: dict[str, str]) -> None:
    for path in plan.files:
        name = plan.relative(path)
        if name not in sums:
            continue
        copy = target / name
        if _sha256(copy) != sums[name] or _sha256(path) != sums[name]:
            raise OSError(f"{name} changed while it was copied")
        if abs(copy.stat().st_mtime - path.stat().st_mtime) > 2:
            raise OSError(f"{name}: the modification time was not kept")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_files(plan: Retirement) -> None:
    """Delete the retired files, the caches, then the folders left empty."""
    for done, path in enumerate(plan.files):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise MigrateError(
                f"cannot remove {display_path(path)}: {exc.strerror}; the backup is complete,"
                f" {done} of {len(plan.files)} file(s) were removed: remove the rest by hand"
            ) from None
    for cache in plan.caches:
        shutil.rmtree(cache, ignore_errors=True)
    for folder in plan.folders:
        # a folder that is not empty holds something not Alembic's (our migrations)
        with contextlib.suppress(OSError):
            folder.rmdir()


def check_backup_folder(backup: Path, plan: Retirement, migrations: Path) -> None:
    """The backup must go to a new or empty folder outside what is removed and outside
    the migrations folder."""
    resolved = backup.resolve()
    for top in plan.project.folders:
        if resolved == top or top in resolved.parents:
            raise UsageError(
                f"--backup {display_path(backup)} is inside {display_path(top)}/, which is"
                " being removed: choose a folder outside it"
            )
    migrations = migrations.resolve()
    if resolved == migrations or migrations in resolved.parents:
        raise UsageError(
            f"--backup {display_path(backup)} is inside the migrations folder: choose"
            " another folder"
        )
    if backup.exists() and (not backup.is_dir() or any(backup.iterdir())):
        raise UsageError(
            f"--backup {display_path(backup)} already exists and is not an empty folder;"
            " nothing is ever overwritten: choose a new folder"
        )


def utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
