"""Pure planning: migration files + tracking records -> states, and the ordered steps to run.

No I/O here, so ``status``, ``--dry-run`` and the real run share one plan and the
rules are unit-tested on plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from migrate_tasks.engine.tracking import Record
from migrate_tasks.errors import UsageError
from migrate_tasks.files.source import version_of
from migrate_tasks.progname import command

APPLIED = "applied"
PENDING = "pending"
ROLLED_BACK = "rolled_back"
FAILED = "failed"
MISSING = "missing"
MODIFIED = "modified"
OUT_OF_ORDER = "out_of_order"
INVALID = "invalid"
#: ``validate``: a statement or section option the configured target refuses (compat).
REFUSED = "refused"

#: States that ``status --check`` treats as a problem.
PROBLEM_STATES = frozenset({PENDING, ROLLED_BACK, FAILED, MISSING, MODIFIED})


@dataclass(frozen=True)
class FileInfo:
    """What planning needs to know about a file: no path, no content."""

    version: str
    name: str
    checksum: str


@dataclass(frozen=True)
class StatusRow:
    version: str
    name: str
    state: str
    applied_at: str | None
    rolled_back_at: str | None
    execution_ms: int | None
    has_file: bool


@dataclass(frozen=True)
class Problem:
    """Something that makes history and files disagree; ``validate`` lists them all."""

    kind: str  # modified | missing | out_of_order | failed | invalid | refused
    version: str | None
    message: str


@dataclass(frozen=True)
class Plan:
    """The ordered migrations to run in one direction, and what the user should know."""

    direction: str  # "up" | "down"
    versions: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())


def version_key(version: str) -> tuple[int, str]:
    return (int(version), version)


def status_rows(files: Sequence[FileInfo], records: Mapping[str, Record]) -> list[StatusRow]:
    """One row per file and per tracked migration whose file is gone, in version order."""
    rows: list[StatusRow] = []
    by_version = {f.version: f for f in files}
    for version in sorted(set(by_version) | set(records), key=version_key):
        file = by_version.get(version)
        rec = records.get(version)
        if rec is None:
            assert file is not None
            rows.append(StatusRow(version, file.name, PENDING, None, None, None, True))
            continue
        if file is None:
            if rec.status == ROLLED_BACK:
                continue  # history only: rolled back, then its file was deleted
            state = MISSING
        elif rec.status == APPLIED and rec.checksum != file.checksum:
            state = MODIFIED
        else:
            state = rec.status
        name = file.name if file else rec.name
        rows.append(
            StatusRow(
                version,
                name,
                state,
                rec.applied_at,
                rec.rolled_back_at,
                rec.execution_ms,
                file is not None,
            )
        )
    return rows


def state_problems(rows: Sequence[StatusRow]) -> list[Problem]:
    """Modified, missing, failed and out-of-order migrations, in version order."""
    problems = []
    newest_applied = max(
        (version_key(r.version) for r in rows if r.state in (APPLIED, MODIFIED, MISSING)),
        default=None,
    )
    for r in rows:
        label = f"{r.version}_{r.name}"
        if r.state == MODIFIED:
            problems.append(
                Problem(
                    MODIFIED, r.version,
                    f"{label} was modified after it was applied (its checksum changed); "
                    f"restore the file, or accept the edit with `{command('repair ' + r.version)}"
                    " --applied`",
                )
            )  # fmt: skip
        elif r.state == MISSING:
            problems.append(
                Problem(MISSING, r.version, f"{label} is applied but its file is missing")
            )
        elif r.state == FAILED:
            problems.append(
                Problem(
                    FAILED, r.version,
                    f"{label} failed part-way (transaction:false); fix the database by hand, "
                    f"then record it with `{command('repair ' + r.version)} --applied` or "
                    "`--rolled-back`",
                )
            )  # fmt: skip
        elif (
            r.state in (PENDING, ROLLED_BACK)
            and newest_applied is not None
            and version_key(r.version) < newest_applied
        ):
            problems.append(
                Problem(
                    OUT_OF_ORDER, r.version,
                    f"{label} is pending but older than the newest applied migration "
                    "(out of order); pass --allow-out-of-order to apply it anyway",
                )
            )  # fmt: skip
    return problems


def plan_up(rows: Sequence[StatusRow], *, step: int | None = None, to: str | None = None) -> Plan:
    """Pending and rolled-back migrations in version order, cut by ``step``/``to``."""
    if step is not None and to is not None:
        raise UsageError("use either --step or --to, not both")
    if step is not None and step < 1:
        raise UsageError(f"--step must be a positive number, not {step}")
    known = {r.version for r in rows}
    if to is not None:
        to = version_of(to)
        if to not in known:
            raise UsageError(f"--to {to}: no migration has that version")
    candidates = [r for r in rows if r.state in (PENDING, ROLLED_BACK)]
    newest_applied = max(
        (version_key(r.version) for r in rows if r.state in (APPLIED, MODIFIED)), default=None
    )
    warnings = [
        f"applying {r.version}_{r.name} out of order (it is older than the newest applied one)"
        for r in candidates
        if newest_applied is not None and version_key(r.version) < newest_applied
    ]
    if to is not None:
        candidates = [r for r in candidates if version_key(r.version) <= version_key(to)]
    if step is not None:
        candidates = candidates[:step]
    return Plan("up", tuple(r.version for r in candidates), tuple(warnings))


def plan_down(
    rows: Sequence[StatusRow],
    *,
    step: int | None = None,
    to: str | None = None,
    all_: bool = False,
) -> Plan:
    """Applied migrations, newest version first: one by default, never all by accident."""
    chosen = [o for o in (step is not None, to is not None, all_) if o]
    if len(chosen) > 1:
        raise UsageError("use only one of --step, --to and --all")
    if step is not None and step < 1:
        raise UsageError(f"--step must be a positive number, not {step}")
    applied = [r for r in rows if r.state in (APPLIED, MODIFIED, MISSING)]
    applied.sort(key=lambda r: version_key(r.version), reverse=True)
    if to is not None:
        to = version_of(to)
        if to not in {r.version for r in rows}:
            raise UsageError(f"--to {to}: no migration has that version")
        targets = [r for r in applied if version_key(r.version) > version_key(to)]
    elif all_:
        targets = applied
    else:
        count = 1 if step is None else step
        if step is not None and step > 1 and count >= len(applied) and applied:
            raise UsageError(
                f"--step {step} would roll back all {len(applied)} applied migrations; "
                "pass --all to do that on purpose"
            )
        targets = applied[:count]
    for r in targets:
        if not r.has_file:
            raise UsageError(
                f"cannot roll back {r.version}_{r.name}: its file is missing, so its down "
                "section is unknown; restore the file first"
            )
    warnings = [
        f"migration {r.version}_{r.name} changed since it was applied; rolling back with "
        "the down section as it is now"
        for r in targets
        if r.state == MODIFIED
    ]
    return Plan("down", tuple(r.version for r in targets), tuple(warnings))


def no_op_warning(label: str, path: str) -> str:
    """The warning for a migration whose up section has only comments (dbmate's no-op)."""
    return (
        f"{path}: the up section of {label} has only comments: applying it runs no SQL,"
        " it is only recorded as applied"
    )
