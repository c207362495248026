"""``import-alembic``: turn an Alembic history into SQL migrations, once, when leaving Alembic.

The Alembic history is the source of truth, so we run it: the project's own ``env.py``
against a private SQLite file (``sqlalchemy.url`` overridden; a hook refuses any other
database, so a production URL hard-coded in env.py is never touched), and we record every
statement SQLAlchemy sends. Two outputs:

- default ("reset history"): one migration whose up section is the head schema as
  Alembic built it (``sqlite_master``, tables in foreign-key order, rows the history
  inserted, then indexes, triggers, views) and whose down section drops it again;
- ``per_revision``: one migration per revision, up and down being the SQL Alembic ran for
  that revision on SQLite.

Why run online rather than render with Alembic's offline (``--sql``) mode: offline mode
cannot do batch operations on SQLite (the table rebuild needs to reflect the table first,
and fails with "batch mode ... requires a live database connection"), and it prints
PostgreSQL-only SQL without noticing that SQLite refuses it. Run online, every statement
has been executed by SQLite once, batch rebuilds included. One upgrade from base to head
and one downgrade back are enough: the statements are attributed to revisions by the
version-table write Alembic makes after each one.

The work is split: this module runs Alembic; ``alembic_sql`` turns what it sent into
migration files, ``alembic_head`` reads the head schema back. Before anything is written, the produced migrations are applied on a scratch libSQL
database and the schema compared, object by object, with Alembic's. Alembic is imported
only here (the ``[alembic]`` extra).
"""

from __future__ import annotations

import configparser
import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate_tasks.config import defaults
from migrate_tasks.drivers import open_driver
from migrate_tasks.engine.core import Engine, RunOptions
from migrate_tasks.errors import (
    CheckFailed,
    MigrateError,
    MigrationFailed,
    MigrationFileError,
    UsageError,
)
from migrate_tasks.files.source import display_path, match_name, scan, version_of
from migrate_tasks.from_alembic import failures, sqlgen
from migrate_tasks.from_alembic import head as headdb
from migrate_tasks.from_alembic.engines import scratch_engines
from migrate_tasks.from_alembic.order import ordered_batch
from migrate_tasks.from_alembic.python_revisions import (
    checked_keeping_python,
    keep_as_python,
    python_file,
)
from migrate_tasks.from_alembic.python_revisions import note as python_note
from migrate_tasks.ops.baseline import compare_schemas, describe_differences, engine_logs_quiet
from migrate_tasks.ops.schema import SchemaObject, read_schema
from migrate_tasks.ops.scratch import scratch_schema
from migrate_tasks.progname import command
from migrate_tasks.sql.shapes import leading_words

log = logging.getLogger("migrate_tasks")


__all__ = [
    "ImportOutcome",
    "import_alembic",
    "load_history",
    "write_files",
]


BATCH_NOTE = (
    ". Alembic's batch mode rebuilds a table from reflection, so a down section can give"
    " back the same table spelt differently (DEFAULT (x) for DEFAULT x, say);"
    " edit that down section if you run verify in CI"
)


@dataclass
class ImportOutcome:
    """What ``import_alembic`` produced; nothing is written until ``write_files``."""

    config: str
    per_revision: bool
    revisions: list[sqlgen.Revision]
    files: list[sqlgen.ImportedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def head(self) -> sqlgen.Revision:
        return self.revisions[-1]


def _alembic() -> Any:
    try:
        import alembic  # noqa: F401
        from alembic import command
    except ImportError:
        raise UsageError(
            "import-alembic needs Alembic and SQLAlchemy: pip install 'migrate_tasks[alembic]'"
        ) from None
    return command


def load_config(path: Path) -> Any:
    """Alembic's Config for ``path``; its printed output is kept out of ours."""
    _alembic()
    from alembic.config import Config

    if not path.is_file():
        raise UsageError(
            f"no Alembic configuration at {display_path(path)}: pass --config PATH to your"
            " project's alembic.ini"
        )
    cfg = Config(file_=str(path), stdout=io.StringIO())
    try:
        location = cfg.get_main_option("script_location")
    except configparser.Error as exc:
        reason = " ".join(str(exc).split())
        raise UsageError(f"{display_path(path)}: Alembic cannot read it: {reason}") from None
    if not location and (path.parent / "env.py").is_file():
        raise UsageError(
            f"{display_path(path)} has no script_location: it looks like Flask-Migrate's,"
            " whose env.py needs the Flask application's context (current_app), which"
            " import-alembic does not set up. Start from the models instead:"
            f" `{command('generate initial_schema --models package.module:db.metadata')}`"
        )
    if not location:
        raise UsageError(
            f"{display_path(path)} has no script_location in its [alembic] section:"
            " is it an Alembic configuration?"
        )
    return cfg


def load_history(cfg: Any, *, linear: bool) -> list[sqlgen.Revision]:
    """The revisions from base to head. Several heads are refused; with ``linear``, so are
    merge and branch points (one migration per revision needs one order to follow).
    Alembic imports every revision file here: one that cannot be imported is named."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        script = ScriptDirectory.from_config(cfg)
        heads = script.get_heads()
        scripts = list(script.walk_revisions())
    except CommandError as exc:
        raise UsageError(f"Alembic cannot read the history: {exc}") from None
    except (Exception, SystemExit) as exc:
        env_py = str(Path(cfg.get_main_option("script_location") or ".") / "env.py")
        raise failures.load_failure(exc, env_py, []) from None
    if not heads:
        raise UsageError(f"the Alembic history in {script.dir} has no revisions")
    by_id = {s.revision: s for s in scripts}
    if len(heads) > 1:
        listed = "; ".join(_describe(by_id[h]) for h in heads)
        raise UsageError(
            f"the Alembic history has {len(heads)} heads ({listed}). Merge them first"
            " (`alembic merge heads -m merge`), so there is one schema to import"
        )
    if linear:
        forks = [s for s in scripts if s.is_merge_point or s.is_branch_point]
        if forks:
            listed = "; ".join(
                f"{_describe(s)} {'merges' if s.is_merge_point else 'branches into'} "
                + ", ".join(sorted(s.down_revision if s.is_merge_point else s.nextrev))
                for s in forks
            )
            raise UsageError(
                "--per-revision needs a linear Alembic history, and this one branches: "
                f"{listed}. Import the head schema as one migration instead (without"
                " --per-revision)"
            )
    revisions = []
    for s in reversed(scripts):  # walk_revisions goes from the heads down
        down = s.down_revision
        downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)
        created, problem = sqlgen.create_date(getattr(s.module, "__doc__", None) or "")
        revisions.append(
            sqlgen.Revision(s.revision, (s.doc or "").strip(), downs, s.path, created, problem)
        )
    return revisions


def _describe(script: Any) -> str:
    doc = (script.doc or "").strip()
    return f'{script.revision} ("{doc}")' if doc else script.revision


class ScratchRefused(UsageError):
    """env.py tried to connect to a database other than the scratch one."""


class AlembicScratch:
    """Alembic commands against a private SQLite file, recording the SQL they send."""

    def __init__(self, cfg: Any, path: Path) -> None:
        self.cfg = cfg
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        self.captured: list[sqlgen.Captured] = []
        self.connected = False
        #: Backends of the engines env.py asked for and got the scratch database instead.
        self.redirected: list[str] = []

    def run(self, direction: str, target: str) -> list[sqlgen.Captured]:
        """``alembic upgrade|downgrade target``; the statements sent, in order."""
        command = _alembic()
        self.captured = []
        with self._hooks():
            (command.upgrade if direction == "up" else command.downgrade)(self.cfg, target)
        return self.captured

    @contextlib.contextmanager
    def _hooks(self) -> Iterator[None]:
        from sqlalchemy import TextClause, event
        from sqlalchemy.engine import Engine as SAEngine

        def guard(dialect: Any, _record: Any, cargs: Any, _cparams: Any) -> None:
            where = str(cargs[0]) if cargs else ""
            if dialect.name != "sqlite" or os.path.abspath(where) != self.path:
                raise ScratchRefused(
                    "env.py connected to a database other than the scratch SQLite database"
                    f" import-alembic gave it (a {dialect.name} database); nothing ran there."
                    " Make env.py take its URL from the configuration"
                    ' (config.get_main_option("sqlalchemy.url") or engine_from_config)'
                )
            self.connected = True

        def capture(conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
            if conn.engine.url.database != self.path:
                return
            tables = None
            words = leading_words(sql, 1)
            if words and words[0] in ("INSERT", "UPDATE", "DELETE") and "version_num" in sql:
                rows = cursor.connection.execute(
                    "SELECT lower(name), sql FROM sqlite_master WHERE type = 'table'"
                ).fetchall()
                tables = {str(name): str(text) for name, text in rows}
            compiled = getattr(ctx, "compiled", None)
            user = compiled is None or isinstance(getattr(compiled, "statement", None), TextClause)
            self.captured.append(sqlgen.Captured(sql, params, many, tables, user))

        def fast(dbapi_connection: Any, _record: Any) -> None:
            # a throw-away file: no fsync per statement (Alembic commits each DDL)
            dbapi_connection.execute("PRAGMA synchronous=OFF")
            dbapi_connection.execute("PRAGMA journal_mode=MEMORY")

        hooks = [("do_connect", guard), ("connect", fast), ("before_cursor_execute", capture)]
        for name, fn in hooks:
            event.listen(SAEngine, name, fn)
        try:
            with _quiet_logging(), ordered_batch(), scratch_engines(self.path, self.redirected):
                yield
        finally:
            for name, fn in reversed(hooks):
                event.remove(SAEngine, name, fn)


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """env.py usually calls ``logging.config.fileConfig``, which replaces the root handlers
    and disables every logger it does not name, ours included; put everything back, and
    keep Alembic's INFO lines (each revision, twice) out of our output meanwhile."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    loggers = {
        name: (lg.disabled, lg.level, list(lg.handlers), lg.propagate)
        for name, lg in logging.root.manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, lg in logging.root.manager.loggerDict.items():
            if not isinstance(lg, logging.Logger):
                continue
            if name in loggers:
                lg.disabled, lg.level, lg.handlers[:], lg.propagate = loggers[name]
            else:
                lg.disabled = False


def _self_check(
    files: Sequence[sqlgen.ImportedFile], expected: Sequence[SchemaObject], table: str
) -> list[str]:
    """Apply the produced migrations on a scratch libSQL database: they must build exactly
    Alembic's schema. Returns what ``verify`` says about their down sections."""
    from migrate_tasks.ops.verify import verify

    with tempfile.TemporaryDirectory(prefix="migrate-import-") as folder:
        directory = Path(folder)
        for file in files:
            (directory / file.filename).write_text(file.text, encoding="utf-8")
        try:
            with engine_logs_quiet():
                built = scratch_schema(directory, table)
        except (MigrationFailed, MigrationFileError) as exc:
            error = MigrateError(
                f"the imported migrations do not apply on libSQL, so nothing was written: {exc}"
            )
            error.failed_file = Path(exc.path).name  # type: ignore[attr-defined]
            raise error from None
        differences = compare_schemas(expected, built, "Alembic on SQLite", "imported")
        if differences:
            raise CheckFailed(
                "the imported migrations build a different schema than Alembic does, so"
                f" nothing was written:\n{describe_differences(differences)}"
            )
        driver = open_driver(":memory:", None)
        try:
            engine = Engine(driver, directory, table)
            with engine_logs_quiet():
                result = verify(engine, RunOptions(lock_timeout=0), temporary=True)
        finally:
            driver.close()
    rebuilt = {version_of(f.filename) for f in files if "_alembic_tmp_" in f.text}
    return [
        f"`{command('verify')}` will report: {p.message.splitlines()[0]}"
        + (BATCH_NOTE if p.version in rebuilt else "")
        + (f"\n{p.diff}" if p.diff else "")
        for p in result.problems
    ]


def import_alembic(
    config_path: Path,
    *,
    per_revision: bool = False,
    name: str = "initial_schema",
    table: str = defaults.TABLE,
) -> ImportOutcome:
    """Run the Alembic history on scratch databases and return the migration files to write."""
    cfg = load_config(config_path)
    revisions = load_history(cfg, linear=per_revision)
    outcome = ImportOutcome(str(config_path), per_revision, revisions)
    versions = sqlgen.versions_for(revisions)
    outcome.warnings += sqlgen.date_notes(revisions, versions)
    fallbacks: dict[str, tuple[sqlgen.ImportedFile, list[str]]] = {}  # .py -> its SQL
    ours = {table.lower(), f"{table}_log".lower(), f"{table}_lock".lower()}
    with tempfile.TemporaryDirectory(prefix="migrate-alembic-") as folder:
        scratch = AlembicScratch(cfg, Path(folder) / "alembic.db")
        upgrade = _run(scratch, "up", "heads", revisions)
        if scratch.redirected:
            outcome.warnings.append(
                f"env.py asked for a {' and a '.join(scratch.redirected)} database, not the"
                " scratch SQLite file sqlalchemy.url named; it was given the scratch file"
                " instead (the database its own URL names was not contacted)"
            )
        driver = open_driver(f"file:{scratch.path}", None)
        try:
            version_table = (headdb.version_table(driver) or "alembic_version").lower()
            clash = sorted(ours & headdb.user_tables(driver))
            if clash:
                raise UsageError(
                    f"the Alembic history creates {', '.join(clash)}, the name of this tool's"
                    " tracking tables; choose another prefix with the 'table' setting"
                    " (migrate.table in invoke.yaml)"
                )
            expected = [
                o
                for o in read_schema(driver, table)
                if version_table not in (o.name.lower(), o.table.lower())
            ]
            outcome.warnings += headdb.unusable_defaults(driver)
            if not per_revision:
                written = sqlgen.user_created(upgrade)
                up, down, cyclic = headdb.head_sections(driver, {version_table}, written)
        finally:
            driver.close()
        if per_revision:
            downgrade = _run(scratch, "down", "base", revisions)
            ups, after_up = sqlgen.split_steps(upgrade, version_table, revisions)
            downs = list(reversed(sqlgen.split_steps(downgrade, version_table, revisions[::-1])[0]))
            befores: list[dict[str, str]] = [{}, *after_up[:-1]]
            for revision, version, up_step, down_step, before in zip(
                revisions, versions, ups, downs, befores, strict=True
            ):
                notes: list[str] = []
                up_sql = sqlgen.statements(up_step, revision, notes)
                down_sql = sqlgen.statements(down_step, revision, notes, before)
                sql = sqlgen.revision_file(revision, version, up_sql, down_sql, outcome.config)
                if keep_as_python((up_step, down_step), version_table):
                    # it transforms rows in Python: its own code runs, as Python
                    outcome.files.append(python_file(revision, version, outcome.config))
                    outcome.warnings.append(python_note(revision, outcome.files[-1]))
                    fallbacks[outcome.files[-1].filename] = (sql, notes)
                else:
                    outcome.files.append(sql)
                    outcome.warnings += notes
        else:
            outcome.files.append(
                sqlgen.initial_file(revisions, versions[-1], name, up, down, cyclic, outcome.config)
            )
    outcome.warnings += checked_keeping_python(
        outcome, fallbacks, lambda: _self_check(outcome.files, expected, table)
    )
    return outcome


def _run(
    scratch: AlembicScratch, direction: str, target: str, revisions: Sequence[sqlgen.Revision]
) -> list[sqlgen.Captured]:
    try:
        return scratch.run(direction, target)
    except MigrateError:
        raise
    except (Exception, SystemExit) as exc:
        raise _explained(exc, scratch, direction, revisions) from None


def _explained(
    exc: BaseException,
    scratch: AlembicScratch,
    direction: str,
    revisions: Sequence[sqlgen.Revision],
) -> MigrateError:
    """Which revision (and line) failed, or env.py, and why."""
    from alembic.script import ScriptDirectory

    paths = [r.path for r in revisions]
    place = failures.innermost(exc, paths)
    if place is not None and not failures.importing(exc, place[0]):
        index = paths.index(place[0])
        return failures.revision_failure(exc, direction, revisions[index], place[1])
    if place is None and scratch.connected and getattr(exc, "orig", None) is not None:
        # a database error outside the revisions' code (at COMMIT, say): Alembic writes
        # its version table after each revision, so count those writes
        table = _scratch_version_table(scratch)
        done = sum(1 for item in scratch.captured if sqlgen.is_version_write(item, table))
        index = done if direction == "up" else len(revisions) - 1 - done
        failed = revisions[index] if 0 <= index < len(revisions) else None
        return failures.revision_failure(exc, direction, failed, None)
    env_py = ScriptDirectory.from_config(scratch.cfg).env_py_location
    return failures.load_failure(exc, env_py, paths, scratch.url)


def _scratch_version_table(scratch: AlembicScratch) -> str:
    driver = open_driver(f"file:{scratch.path}", None)
    try:
        return (headdb.version_table(driver) or "alembic_version").lower()
    finally:
        driver.close()


def write_files(
    directory: Path, files: Sequence[sqlgen.ImportedFile], *, force: bool = False
) -> list[Path]:
    """Write the files; never overwrite one, and into a folder that already has migrations
    only with ``force`` (an imported history next to another one is rarely what you want)."""
    existing: list[str] = []
    if directory.is_dir():
        found, problems = scan(directory)
        existing = [f.path.name for f in found] + [p.path for p in problems]
    if existing and not force:
        listed = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
        raise UsageError(
            f"{display_path(directory)} already has migrations ({listed}). Import into an"
            " empty folder (--dir), or pass --force to add the imported ones next to them"
        )
    taken = {match_name(n).group(1) for n in existing if match_name(n)}
    for file in files:
        version = version_of(file.filename)
        if version in taken or (directory / file.filename).exists():
            raise UsageError(
                f"{display_path(directory / file.filename)}: version {version} is taken in"
                f" {display_path(directory)}; nothing was written"
            )
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file in files:
        path = directory / file.filename
        with path.open("x", encoding="utf-8", newline="\n") as handle:
            handle.write(file.text)
        written.append(path)
    return written
