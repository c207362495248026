"""``dump``: the schema of the migrated database as schema.sql, and how it compares with
the file on disk.

The text is stable for equal schemas (``ops/schema.py`` reads the objects in a fixed
order, ``sql/normalise.py`` gives each statement one canonical form), so schema.sql only
changes when the schema does, and a CI job can fail when it is stale.
"""

from __future__ import annotations

import difflib
import os
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate_tasks.engine.plan import version_key
from migrate_tasks.engine.tracking import Record
from migrate_tasks.errors import UsageError
from migrate_tasks.ops.schema import SchemaObject, read_schema

APPLIED_PREFIX = "-- migrate_tasks applied:"
DUMP_HEADER = (
    "-- Schema of the migrated database, written by `invoke migrate.dump` (do not edit).\n"
    "-- Tables, then indexes, triggers and views, each sorted by name; no data.\n"
)


def applied_versions(records: Mapping[str, Record]) -> list[str]:
    """Versions recorded as applied, oldest first (for the trailer of schema.sql)."""
    return sorted((v for v, r in records.items() if r.status == "applied"), key=version_key)


def render_schema(objects: Sequence[SchemaObject]) -> str:
    """Every statement followed by ``;`` and a blank line; stable for equal schemas."""
    return "".join(f"{o.sql};\n\n" for o in objects)


def dump_text(objects: Sequence[SchemaObject], applied: Sequence[str]) -> str:
    """The whole schema.sql: header, schema, and the applied versions as a comment."""
    schema = render_schema(objects) or "-- (no tables)\n\n"
    listed = ", ".join(applied) if applied else "(none)"
    trailer = textwrap.wrap(
        listed,
        width=88,
        initial_indent=f"{APPLIED_PREFIX} ",
        subsequent_indent="--   ",
        break_on_hyphens=False,
    )
    return DUMP_HEADER + "\n" + schema + "\n".join(trailer) + "\n"


def unified_diff(before: str, after: str, before_label: str, after_label: str) -> str:
    """A readable line diff; empty when the texts are equal."""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), before_label, after_label, lineterm=""
    )
    return "\n".join(lines)


@dataclass(frozen=True)
class DumpOutcome:
    """The schema.sql a database gives, and how it compares with the file on disk."""

    target: str
    text: str
    up_to_date: bool
    #: Unified diff from the file on disk to ``text``; empty when up to date.
    diff: str
    objects: dict[str, int] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)


def compare_dump(engine: Any, path: Path) -> DumpOutcome:
    """Build schema.sql from ``engine``'s database and compare it with ``path``."""
    objects = read_schema(engine.driver, engine.ledger.table)
    applied = applied_versions(engine.records())
    text = dump_text(objects, applied)
    try:
        current: str | None = path.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n")
    except FileNotFoundError:
        current = None
    # Compared like checksums, CRLF as LF: a literal the database keeps with CRLF (from
    # a CRLF migration) reads back as LF here, as does a Windows checkout's whole file.
    up_to_date = current == text.replace("\r\n", "\n")
    diff = ""
    if not up_to_date:
        before = f"{path} (on disk)" if current is not None else f"{path} (missing)"
        diff = unified_diff(current or "", text, before, f"{path} (from the database)")
    return DumpOutcome(
        engine.driver.display_url,
        text,
        up_to_date,
        diff,
        dict(Counter(o.type for o in objects)),
        applied,
    )


def write_dump(path: Path, text: str) -> None:
    """Replace ``path`` atomically (LF line endings, permissions from the umask), creating
    its folder, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
