"""The benchmark migrations, tool-neutral, and writers for each tool's own format.

A workload is a list of :class:`Migration`. Statements are produced by a function each
time they are needed, so a 2,000,000-row migration (about 200 MB of SQL) is streamed to
disk and never held in memory. Every tool gets exactly the same statements, in the same
order, in its own file format:

- ours and dbmate: ``VERSION_name.sql`` with ``-- migrate:up`` / ``-- migrate:down``;
- drizzle-kit: ``NNNN_name.sql`` with ``--> statement-breakpoint`` plus ``meta/_journal.json``;
- Alembic: one revision file per migration, one ``op.execute`` per statement;
- yoyo: ``NNNNN_name.sql`` and ``NNNNN_name.rollback.sql``;
- the ``sqlite3`` shell: every up section in one file wrapped in ``BEGIN;`` / ``COMMIT;``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

_EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
_CHUNK = 10_000  # statements written per write() call


@dataclass(frozen=True)
class Migration:
    number: int  # 1-based position
    name: str
    up: Callable[[], Iterator[str]]  # statements without the trailing semicolon
    down: Callable[[], Iterator[str]]

    @property
    def version(self) -> str:
        """A 14-digit UTC timestamp, as ``migrate.create`` and ``dbmate new`` write."""
        return (_EPOCH + dt.timedelta(seconds=self.number)).strftime("%Y%m%d%H%M%S")

    @property
    def stem(self) -> str:
        return f"{self.version}_{self.name}"


def schema_migrations(count: int) -> list[Migration]:
    """``count`` migrations, each creating one table and one index (W1, W4, W5)."""

    def make(i: int) -> Migration:
        table = f"t{i:05d}"

        def up() -> Iterator[str]:
            yield (
                f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " created_at INTEGER NOT NULL DEFAULT 0)"
            )
            yield f"CREATE INDEX {table}_name ON {table} (name)"

        def down() -> Iterator[str]:
            yield f"DROP INDEX {table}_name"
            yield f"DROP TABLE {table}"

        return Migration(i, f"create_{table}", up, down)

    return [make(i) for i in range(1, count + 1)]


def failing_migrations(count: int, fail_at: int) -> list[Migration]:
    """``schema_migrations(count)`` whose migration ``fail_at`` ends with an INSERT that
    breaks a NOT NULL constraint: a run-time error (not a parse error), as a data fix-up
    that meets an unexpected row would (W7)."""
    migrations = schema_migrations(count)
    good = migrations[fail_at - 1]
    table = f"t{fail_at:05d}"

    def up() -> Iterator[str]:
        yield from good.up()
        yield f"INSERT INTO {table} (id, name) VALUES (1, NULL)"

    migrations[fail_at - 1] = Migration(fail_at, good.name, up, good.down)
    return migrations


def data_migration(rows: int) -> list[Migration]:
    """One migration: a table and ``rows`` single-row INSERTs of about 100 bytes of SQL each (W2)."""

    def up() -> Iterator[str]:
        yield "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT)"
        for i in range(rows):
            yield (
                f"INSERT INTO items (id, name, note) VALUES ({i}, 'item {i:08d}',"
                f" 'lorem ipsum dolor sit {i % 997:03d}')"
            )

    def down() -> Iterator[str]:
        yield "DROP TABLE items"

    return [Migration(1, f"load_{rows}_rows", up, down)]


def _write_lines(path: Path, parts: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        batch: list[str] = []
        for part in parts:
            batch.append(part)
            if len(batch) >= _CHUNK:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))


def _dbmate_text(m: Migration) -> Iterator[str]:
    yield "-- migrate:up\n"
    yield from (f"{s};\n" for s in m.up())
    yield "\n-- migrate:down\n"
    yield from (f"{s};\n" for s in m.down())


def write_ours(folder: Path, migrations: list[Migration]) -> None:
    """Our format, which is also dbmate's."""
    folder.mkdir(parents=True, exist_ok=True)
    for m in migrations:
        _write_lines(folder / f"{m.stem}.sql", _dbmate_text(m))


write_dbmate = write_ours


def write_drizzle(folder: Path, migrations: list[Migration]) -> None:
    """drizzle-kit's ``out`` folder: ``NNNN_tag.sql`` files and ``meta/_journal.json``."""
    entries = []
    for index, m in enumerate(migrations):
        tag = f"{index:04d}_{m.name}"

        def parts(m: Migration = m) -> Iterator[str]:
            for n, statement in enumerate(m.up()):
                yield ("\n--> statement-breakpoint\n" if n else "") + statement + ";"
            yield "\n"

        _write_lines(folder / f"{tag}.sql", parts())
        when = int((_EPOCH.timestamp() + m.number) * 1000)
        entries.append(
            {"idx": index, "version": "6", "when": when, "tag": tag, "breakpoints": True}
        )
    journal = {"version": "7", "dialect": "sqlite", "entries": entries}
    (folder / "meta").mkdir(parents=True, exist_ok=True)
    (folder / "meta" / "_journal.json").write_text(json.dumps(journal, indent=1))


def write_alembic(versions: Path, migrations: list[Migration]) -> None:
    """One revision file per migration, each statement an ``op.execute`` call."""
    previous = None
    for m in migrations:
        revision = f"r{m.number:05d}"

        def parts(m: Migration = m, revision: str = revision, previous: str | None = previous):
            yield f'"""{m.name}"""\n\nfrom alembic import op\n\n'
            yield f"revision = {revision!r}\ndown_revision = {previous!r}\n"
            yield "branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n"
            yield from (f"    op.execute({s!r})\n" for s in m.up())
            yield "\n\ndef downgrade():\n"
            yield from (f"    op.execute({s!r})\n" for s in m.down())

        _write_lines(versions / f"{revision}_{m.name}.py", parts())
        previous = revision


def write_yoyo(folder: Path, migrations: list[Migration]) -> None:
    """``NNNNN_name.sql`` (apply) and ``NNNNN_name.rollback.sql`` for each migration."""
    for m in migrations:
        stem = f"{m.number:05d}_{m.name}"
        _write_lines(folder / f"{stem}.sql", (f"{s};\n" for s in m.up()))
        _write_lines(folder / f"{stem}.rollback.sql", (f"{s};\n" for s in m.down()))


def write_sqlite_script(path: Path, migrations: list[Migration]) -> None:
    """Every up section in one file, inside one transaction, for ``sqlite3 DB < FILE``."""

    def parts() -> Iterator[str]:
        yield "BEGIN;\n"
        for m in migrations:
            yield from (f"{s};\n" for s in m.up())
        yield "COMMIT;\n"

    _write_lines(path, parts())
