"""libSQL's rules applied to a unit (docs/libsql.md): what the target refuses, before
anything runs (``engine.refusals``), and the checks added to its statements
(``engine.checks``: a DROP of a referenced table, ALTER COLUMN, foreign_keys:off).

The parser, the checks and the refusals are imported where they are used: status and
a no-op up never need them, and every millisecond of start-up shows in CI logs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Driver, Row, Step
from migrate_tasks.engine.plan import APPLIED, MODIFIED, StatusRow
from migrate_tasks.engine.units import Unit
from migrate_tasks.errors import MigrationFileError

if TYPE_CHECKING:
    from migrate_tasks.engine.catalogue import MigrationSet
    from migrate_tasks.engine.checks import GuardedStatements, Reference
    from migrate_tasks.engine.refusals import Refused, Target
    from migrate_tasks.files.parser import Statement


def check_target(unit: Unit, target: Target) -> None:
    """Refuse what ``target`` cannot run (``refusals``), before anything runs. A
    streamed unit's statements are checked as they are read (see ``guarded``)."""
    from migrate_tasks.engine.refusals import Refused, check_section, options_problem

    if unit.section is not None:
        check_section(
            unit.path, unit.header_line, unit.options, unit.section.statements, target=target
        )
    elif problem := options_problem(unit.options, target=target):
        raise Refused(unit.path, unit.header_line, problem)


def check_file_section(
    migrations: MigrationSet, version: str, direction: str, target: Target
) -> None:
    """``check_target`` on a file's section, statements of a big file included (``up``
    checks those as it streams them): raises ``Refused``."""
    from migrate_tasks.engine.refusals import check_section

    file = migrations.file(version)
    if file.python:  # its statements are known only when it runs (python_units checks them)
        return
    if not migrations.big(version):
        section = getattr(migrations.parsed(version), direction)
        if section is not None:
            check_section(
                file.display, section.line, section.options, section.statements, target=target
            )
        return
    from migrate_tasks.files.stream import iter_statements

    summary = migrations.summary(version)
    info = getattr(summary, direction)
    if info is not None:
        statements = iter_statements(
            file.path, file.display, direction, checksum=summary.checksum, index=info.index
        )
        check_section(file.display, info.line, info.options, statements, target=target)


def target_refusals(
    migrations: MigrationSet, rows: Iterable[StatusRow], target: Target
) -> list[tuple[str, Refused]]:
    """What ``target`` refuses in the sections ``up`` and ``down`` may still run: the up
    section of every migration not applied, every down section. The first refusal of
    each section, exactly as ``up``/``down`` would raise it. A DROP of a referenced
    table depends on the database's tables, so only ``up`` finds it
    (``checks.ReferenceCheck``)."""
    from migrate_tasks.engine.refusals import Refused

    found: list[tuple[str, Refused]] = []
    for row in rows:
        if not row.has_file:
            continue
        settled = row.state in (APPLIED, MODIFIED)  # its up section never runs again
        for direction in ("down",) if settled else ("up", "down"):
            try:
                check_file_section(migrations, row.version, direction, target)
            except Refused as refused:
                found.append((row.version, refused))
            except MigrationFileError:
                pass  # a file that does not parse is reported by file_errors
    return found


def guarded(
    unit: Unit,
    driver: Driver,
    target: Target,
    *,
    references: bool = True,
    known: list[Reference] | None = None,
) -> GuardedStatements:
    """The unit's statements plus libSQL's checks (``checks``). Refusals (a DROP of a
    referenced table, statements the target cannot run) come before anything of the
    unit runs; for a streamed transactional unit, as its statements are read, which
    rolls its transaction back. ``known``: the database's foreign keys, if read already
    (else they are read when the first DROP or RENAME needs them)."""
    from migrate_tasks.engine.checks import GuardedStatements, ReferenceCheck, read_references
    from migrate_tasks.engine.refusals import check_statement

    def load() -> list[Reference]:
        return known if known is not None else read_references(driver)

    check_references = ReferenceCheck(load, unit.path, f"-- migrate:{unit.direction}")
    # Looked up once: check() runs for every statement of a streamed unit.
    streamed, path, transaction = unit.streamed, unit.path, unit.transaction
    follow = references and not unit.foreign_keys_off  # else: the final FK check decides

    def check(statement: Statement) -> None:
        if streamed:  # in-memory units passed the refusals when prepared
            check_statement(path, statement, target=target, transaction=transaction)
        if follow:
            check_references(statement)

    if unit.runs_lazily:
        return GuardedStatements(
            unit.statements(), foreign_keys_off=unit.foreign_keys_off, check=check
        )
    for statement in unit.statements():  # cheap in memory; rare for a big file
        check(statement)
    return GuardedStatements(unit.statements(), foreign_keys_off=unit.foreign_keys_off)


def plain(unit: Unit) -> GuardedStatements:
    """The unit's statements with the checks added, but none run now (a dry run)."""
    from migrate_tasks.engine.checks import GuardedStatements

    return GuardedStatements(unit.statements(), foreign_keys_off=unit.foreign_keys_off)


def references_for(unit: Unit | None) -> list[Step]:
    """The read of every foreign key, if ``unit`` will check a DROP or RENAME against
    them (``checks.ReferenceCheck``); for the call before it to carry."""
    if unit is None or unit.section is None or unit.foreign_keys_off:
        return []
    if not any(s.sql[:5].upper() in ("DROP ", "ALTER") for s in unit.section.statements):
        return []
    from migrate_tasks.engine.checks import REFERENCES_SQL

    return [Step(REFERENCES_SQL)]


def references_from(rows: Sequence[Row]) -> list[Reference]:
    """``checks.REFERENCES_SQL`` rows -> references (as ``checks.read_references``)."""
    from migrate_tasks.engine.checks import Reference

    return [Reference(str(c), str(p), str(a or "NO ACTION")) for c, p, a in rows]
