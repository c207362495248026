"""``retire-alembic``'s words: the summary it prints, the backup's README, the references.

Presentation only: the plan, the checks and the scan are made in ``from_alembic``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from migrate_tasks.files.source import display_path
from migrate_tasks.from_alembic.references import BACKUP_TITLE

if TYPE_CHECKING:
    from migrate_tasks.from_alembic.references import ScanResult
    from migrate_tasks.from_alembic.retire import Retirement


def _folder(path: Path) -> str:
    return display_path(path).rstrip("/") + "/"


def project_line(plan: Retirement) -> str:
    project = plan.project
    heads = ", ".join(project.heads) or "none"
    folders = ", ".join(_folder(f) for f in project.folders)
    count = len(project.revisions)
    return (
        f"Alembic project: {display_path(project.config)}; scripts in {folders}"
        f" ({count} revision{'s' if count != 1 else ''}, head {heads})"
    )


def write_plan(plan: Retirement, backup: Path, dry_run: bool, out: TextIO) -> None:
    """The files backed up and removed (or, with --dry-run, that would be)."""
    files = len(plan.files)
    what = "would back up" if dry_run else "backed up"
    out.write(
        f"{what} {files} file{'s' if files != 1 else ''} to {_folder(backup)}"
        f" (under files/, with SHA256SUMS and README.md):\n"
    )
    for path in plan.files:
        out.write(f"  {plan.relative(path)}\n")
    removed = [display_path(plan.project.config), *(_folder(f) for f in plan.project.folders)]
    caches = len(plan.caches)
    extra = f", and {caches} bytecode cache folder{'s' if caches != 1 else ''}" if caches else ""
    out.write(f"{'would remove' if dry_run else 'removed'} {', '.join(removed)}{extra}\n")


def write_references(scan: ScanResult, root: Path, out: TextIO) -> None:
    """Each reference as ``path:line: kind: text``, paths from ``root`` (named when it is
    not the working directory)."""
    for path in scan.too_large:
        out.write(f"not read (over 2 MiB): {path.relative_to(root).as_posix()}\n")
    refs = scan.references
    where = "" if root == Path.cwd().resolve() else f" (paths from {root})"
    if not refs:
        out.write(f"no reference to Alembic remains{where}\n")
        return
    count = len(refs)
    noun = "reference to Alembic remains" if count == 1 else "references to Alembic remain"
    out.write(f"{count} {noun}{where}:\n")
    for ref in refs:
        text = f": {ref.text}" if ref.text else ""
        out.write(f"  {ref.path.relative_to(root).as_posix()}:{ref.line}: {ref.kind}{text}\n")


def backup_readme(
    plan: Retirement,
    *,
    when: str,
    invocation: str,
    version: str,
    replaced_by: Sequence[str],
    database: str,
    backup: str,
) -> str:
    """What the backup is, how it was made, how to check it and how to put it back."""
    project = plan.project
    heads = ", ".join(project.heads) or "none"
    replaced = "\n".join(f"  - {line}" for line in replaced_by) or "  - (none found: --force)"
    tops = sorted({plan.relative(p).split("/")[0] for p in plan.files})
    restore = " ".join(f"{backup}/files/{top}" for top in tops)
    return f"""{BACKUP_TITLE} {when}

This folder is a copy of the project's Alembic configuration and scripts, made just
before they were removed from the project at `{plan.base}` by (migrate_tasks {version}):

    {invocation}

- Alembic history: {len(project.revisions)} revision(s), head {heads}
- Configuration: `{plan.relative(project.config)}`
- Replaced by these migrations:
{replaced}
- Database checked: {database}

`files/` holds {len(plan.files)} file(s) with their paths relative to the project and
their modification times. Bytecode caches (`__pycache__`) were removed, not copied.
`SHA256SUMS` lists each file's SHA-256; check the copy with:

    cd {backup} && sha256sum -c SHA256SUMS

To put the files back where they were (from `{plan.base}`):

    cp -pR {restore} .

The configuration file is copied as it was: if its `sqlalchemy.url` holds a password,
keep this folder as private as that file was.
"""
