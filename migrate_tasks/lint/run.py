"""``lint``: the migrations chosen, walked on a scratch database, checked by every rule.

The entry points other code calls (the task, the pull-request review report,
``generate``): ``lint`` over a folder and a choice of versions, ``lint_since`` for what a
branch adds, and ``lint_text`` for one migration that is not written yet. Both return plain data (``model.py``); how it is
shown is ``report/lint.py``'s business.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from migrate_tasks.errors import UsageError
from migrate_tasks.files.parser import Statement
from migrate_tasks.files.source import MigrationFile, discover
from migrate_tasks.lint.context import (
    LintOptions,
    MigrationContext,
    SectionContext,
    StatementContext,
    Step,
)
from migrate_tasks.lint.model import Finding, LintedMigration, LintReport
from migrate_tasks.lint.registry import RETIRED, Check, Hit, checks
from migrate_tasks.lint.shapes import shape_of
from migrate_tasks.lint.sources import SectionView, Source, load_source
from migrate_tasks.lint.suppress import Silencer, header_rules, read_directives, split
from migrate_tasks.lint.target import statement_refusal
from migrate_tasks.lint.walk import Scratch

__all__ = ["lint", "lint_since", "lint_text"]

log = logging.getLogger("migrate_tasks")


def lint(
    directory: Path,
    versions: Collection[str] | None = None,
    *,
    extra: Sequence[MigrationFile] = (),
    options: LintOptions | None = None,
    selection: str = "pending",
) -> LintReport:
    """Lint the migrations of ``directory`` whose version is in ``versions`` (all when
    None), plus ``extra`` files from elsewhere, each against the schema the migrations
    before it build. Malformed files raise ``MigrationFileError`` (exit 2)."""
    options = options or LintOptions()
    files = ordered(directory, extra)
    chosen = {f.version for f in extra} | (
        set(versions) if versions is not None else {f.version for f in files}
    )
    report = LintReport(selection=selection)
    active = checks()
    known = {c.rule.id for c in active} | set(RETIRED)
    scratch = Scratch()
    try:
        for file in files:
            if file.version in chosen and not file.python:
                _lint_file(scratch, file, options, active, known, report)
            else:
                _apply(scratch, file, report)
            if file.version in chosen and file.python:
                report.notes.append(
                    f"{file.display} is written in Python: lint reads SQL, so it was run on the"
                    " scratch database (for the migrations after it) but not linted"
                )
    finally:
        scratch.close()
    return report


def ordered(directory: Path, extra: Sequence[MigrationFile]) -> list[MigrationFile]:
    """The folder's migrations and ``extra`` files, in version order; a version used by two
    different files is bad input."""
    files = {f.version: f for f in (discover(directory) if directory.is_dir() else [])}
    for file in extra:
        other = files.get(file.version)
        if other is not None and other.path.resolve() != file.path.resolve():
            raise UsageError(
                f"{file.display} has version {file.version}, like {other.display} in the"
                " migrations folder; give it a newer version"
            )
        files[file.version] = file
    return sorted(files.values(), key=lambda f: (int(f.version), f.version))


def _apply(scratch: Scratch, file: MigrationFile, report: LintReport) -> None:
    if file.python:
        from migrate_tasks.engine.python_units import apply_module

        error = apply_module(scratch.driver, file.path, file.display, file.read())
    else:
        error = scratch.apply(load_source(file))
    if error:
        report.notes.append(
            f"{file.display} does not apply on a scratch database ({error}); findings"
            " after it may be wrong"
        )


def _lint_file(
    scratch: Scratch,
    file: MigrationFile,
    options: LintOptions,
    active: list[Check],
    known: set[str],
    report: LintReport,
) -> None:
    source = load_source(file)
    directives, lines = read_directives(file.path, file.display, known)
    report.migrations.append(LintedMigration(file.version, file.name, file.display))
    migration = MigrationContext(
        file.version, file.name, file.display, options, scratch.schema(),
        has_down=source.down is not None,
        down_statements=source.down.count if source.down else 0,
        down_line=source.down.line if source.down else None,
    )  # fmt: skip
    up, failed = _walk_up(scratch, source.up, migration)
    sections = [up]
    if source.down is not None:
        sections.append(_read_only(source.down, migration, up.after))
    findings = list(_run_checks(active, migration, sections, failed=failed))
    silencer = Silencer(
        directives,
        lines,
        [
            (s.statement.line, s.statement.line + s.statement.sql.count("\n"))
            for sec in sections
            for s in sec.steps
        ],
        _section_spans(source, len(lines), known),
    )
    findings.sort(key=lambda f: (f.line or 0, f.rule_id))
    kept, silenced = split(findings, silencer)
    report.findings.extend(kept)
    report.suppressed.extend(silenced)


def _walk_up(
    scratch: Scratch, section: SectionView, migration: MigrationContext
) -> tuple[SectionContext, bool]:
    target, transaction = migration.options.target, section.transaction

    def refused(statement: Statement) -> bool:
        return statement_refusal(statement.sql, target=target, transaction=transaction) is not None

    walk = scratch.walk(section, refused)
    steps = [s for s in walk if _worth_keeping(s)]
    context = SectionContext(
        migration, "up", section.line, section.options, walk.before, walk.after, steps,
        walk.orphans,
    )  # fmt: skip
    return context, walk.failed is not None


def _worth_keeping(step: Step) -> bool:
    """Every statement but a plain INSERT ... VALUES that worked (a data file has millions)."""
    return (
        step.error is not None
        or step.skipped
        or not (step.shape.kind == "insert" and not step.shape.select)
    )


def _read_only(section: SectionView, migration: MigrationContext, schema) -> SectionContext:  # type: ignore[no-untyped-def]
    """A section that is not run (down): its statements for the rules that read them."""
    steps = []
    for statement in section.statements():
        step = Step(statement, shape_of(statement.sql), schema, schema)
        if _worth_keeping(step):
            steps.append(step)
    return SectionContext(
        migration, section.direction, section.line, section.options, schema, schema, steps
    )


def _run_checks(
    active: Iterable[Check],
    migration: MigrationContext,
    sections: list[SectionContext],
    *,
    failed: bool,
) -> Iterable[Finding]:
    """Every check on the migration. After a failing statement, the rules that compare
    schemas see the up section as it was up to that statement (``_until_failure``)."""
    for check in active:
        rule = check.rule
        if check.scope == "migration":
            hits = list(check.fn(migration))
        elif check.scope == "section":
            hits = [
                h
                for s in sections
                if s.direction in check.directions
                for h in check.fn(_until_failure(s) if failed and check.reads_schema else s)
            ]
        else:
            schema = check.reads_schema
            hits = [
                h
                for s in sections
                if s.direction in check.directions
                for step in s.steps
                if not (schema and step.skipped)
                for h in check.fn(StatementContext(s, step))
            ]
        for hit in hits:
            yield _finding(rule.id, rule.severity, migration, hit)


def _until_failure(section: SectionContext) -> SectionContext:
    """The section cut before its failing statement (the schema rules' view of it)."""
    cut = next((i for i, s in enumerate(section.steps) if s.error is not None), len(section.steps))
    return replace(section, steps=section.steps[:cut])


def _finding(rule_id: str, severity: str, migration: MigrationContext, hit: Hit) -> Finding:
    return Finding(
        rule_id, severity, migration.path, hit.line, hit.object, hit.message, migration.version
    )


def _section_spans(
    source: Source, line_count: int, known: set[str]
) -> dict[str, tuple[int, int, frozenset[str]]]:
    headers = sorted((s.line, s) for s in (source.up, source.down) if s is not None)
    spans = {}
    for i, (line, section) in enumerate(headers):
        last = headers[i + 1][0] - 1 if i + 1 < len(headers) else line_count
        spans[section.direction] = (
            line,
            last,
            header_rules(section.options, known, source.display, line),
        )
    return spans


def lint_since(directory: Path, ref: str, options: LintOptions | None = None) -> LintReport:
    """Lint the migrations a branch adds since ``git merge-base ref HEAD`` (what a pull
    request adds), with the history rule against ``ref``'s newest migration."""
    from dataclasses import replace as with_fields

    from migrate_tasks.lint.selection import since

    chosen = since(directory, ref)
    base = with_fields(options or LintOptions(), base_newest=chosen.base_newest, base_label=ref)
    return lint(directory, chosen.versions, options=base, selection=chosen.label)


def lint_text(
    text: str, directory: Path, *, name: str = "generated", options: LintOptions | None = None
) -> LintReport:
    """Lint a migration that is not written yet (``generate``'s), as the newest of the folder."""
    import tempfile

    existing = discover(directory) if directory.is_dir() else []
    version = str(max((int(f.version) for f in existing), default=0) + 1)
    with tempfile.TemporaryDirectory(prefix="migrate-lint-") as tmp:
        path = Path(tmp) / f"{version}_{name}.sql"
        path.write_text(text, encoding="utf-8")
        file = MigrationFile(version, name, path)
        return lint(directory, (), extra=[file], options=options, selection="files")
