"""Every JSON document the tasks print (docs/json.md), built here and nowhere else.

Each function returns the whole document as text. The one exception is the dry-run plan,
which is written as it goes so a streamed migration is never held (``dryrun``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from migrate_tasks.report.fleet import fleet_counts
from migrate_tasks.report.status import status_counts

if TYPE_CHECKING:  # types only: the presentation layer never runs a database itself
    from migrate_tasks.autogenerate.generate import Generated
    from migrate_tasks.engine.core import Outcome, Result
    from migrate_tasks.engine.plan import Problem, StatusRow
    from migrate_tasks.fleet.runner import FleetResult
    from migrate_tasks.ops.dump import DumpOutcome
    from migrate_tasks.ops.verify import VerifyResult

#: In every document: bumped only when a field changes meaning or goes away.
JSON_SCHEMA_VERSION = 1


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2)


def status_json(
    rows: Sequence[StatusRow],
    target: str,
    problems: Sequence[str] = (),
    *,
    replica: bool | None = False,
) -> str:
    """``status --json``: every migration's state, the counts, and what needs attention."""
    return _dumps(
        {
            "schema_version": JSON_SCHEMA_VERSION,
            "target": target,
            "replica": replica,
            "migrations": [
                {
                    "version": r.version,
                    "name": r.name,
                    "state": r.state,
                    "applied_at": r.applied_at,
                    "rolled_back_at": r.rolled_back_at,
                    "execution_ms": r.execution_ms,
                }
                for r in rows
            ],
            "summary": status_counts(rows),
            "problems": list(problems),
        }
    )


def problems_json(problems: Sequence[Problem], target: str, warnings: Sequence[str] = ()) -> str:
    """``validate --json``: the problems found, and the warnings that are not problems."""
    return _dumps(
        {
            "schema_version": JSON_SCHEMA_VERSION,
            "target": target,
            "ok": not problems,
            "problems": [
                {"kind": p.kind, "version": p.version, "message": p.message} for p in problems
            ],
            "warnings": list(warnings),
        }
    )


def run_json(outcome: Outcome, target: str, *, dry_run: bool = False) -> str:
    """``up``/``down --json``: what ran, with durations (an Outcome without dry-run calls)."""
    return _dumps(
        {
            "schema_version": JSON_SCHEMA_VERSION,
            "target": target,
            "direction": outcome.direction,
            "dry_run": dry_run,
            "ok": True,
            "migrations": _migrations(outcome.results),
            "total_ms": _ms(sum(r.duration_ms for r in outcome.results)),
            "warnings": list(outcome.warnings),
            "error": None,
        }
    )


def _migrations(results: Sequence[Result]) -> list[dict[str, Any]]:
    return [
        {
            "version": r.version,
            "name": r.name,
            "statements": r.statements,
            "duration_ms": _ms(r.duration_ms),
        }
        for r in results
    ]


def run_failure_json(
    direction: str,
    target: str,
    completed: Sequence[Result] | None,
    exit_code: int,
    message: str,
    *,
    dry_run: bool = False,
) -> str:
    """``up``/``down --json`` when the run stopped: what completed before (the engine's
    results, carried by the error), and why it stopped. ``completed`` is None when that
    cannot be known (``MigrateError.completed``)."""
    return _dumps(
        {
            "schema_version": JSON_SCHEMA_VERSION,
            "target": target,
            "direction": direction,
            "dry_run": dry_run,
            "ok": False,
            "migrations": None if completed is None else _migrations(completed),
            "total_ms": None,
            "warnings": [],
            "error": {"exit_code": exit_code, "message": message},
        }
    )


def verify_json(result: VerifyResult) -> str:
    """``verify --json``: each migration's three timings, and each problem with its diff."""
    return _dumps(
        {
            "schema_version": JSON_SCHEMA_VERSION,
            "target": result.target,
            "temporary": result.temporary,
            "ok": result.ok,
            "duration_ms": _ms(result.duration_ms),
            "migrations": [
                {
                    "version": m.version,
                    "name": m.name,
                    "verified": m.verified,
                    "irreversible": m.irreversible,
                    "up_ms": _ms(m.up_ms),
                    "down_ms": _ms(m.down_ms),
                    "reapply_ms": _ms(m.reapply_ms),
                }
                for m in result.migrations
            ],
            "problems": [
                {
                    "kind": p.kind,
                    "version": p.version,
                    "name": p.name,
                    "message": p.message,
                    "diff": p.diff,
                }
                for p in result.problems
            ],
        }
    )


def dump_json(outcome: DumpOutcome, *, output: str, check: bool) -> str:
    """``dump --json``: where the schema went, whether it changed, and the diff."""
    return _dumps(
        {
            "schema_version": JSON_SCHEMA_VERSION,
            "target": outcome.target,
            "output": output,
            "check": check,
            "up_to_date": outcome.up_to_date,
            "written": not check and not outcome.up_to_date,
            "objects": {
                k: outcome.objects.get(k, 0) for k in ("table", "index", "trigger", "view")
            },
            "applied": list(outcome.applied),
            "diff": outcome.diff,
        }
    )


def fleet_json(
    results: Sequence[FleetResult], operation: str, elapsed_s: float | None = None
) -> str:
    """A fleet run's ``--json``: the counts, then each database's outcome and details."""
    return _dumps(
        {
            "schema_version": JSON_SCHEMA_VERSION,
            "operation": operation,
            "summary": fleet_counts(results),
            "duration_ms": None if elapsed_s is None else round(elapsed_s * 1000),
            "databases": [
                {
                    "target": r.target,
                    "namespace": r.namespace,
                    "outcome": r.outcome,
                    "summary": r.summary,
                    "details": r.details,
                    "error": r.error,
                    "exit_code": r.exit_code,
                    "duration_ms": round(r.duration_ms),
                }
                for r in results
            ],
        }
    )


def generate_json(result: Generated, spec: str, path: str | None) -> str:
    """``generate --json``: the changes found, the notes, and the migration (if any)."""
    migration = result.migration
    return _dumps(
        {
            "models": spec,
            "up_to_date": result.up_to_date,
            "changes": [
                {
                    "kind": c.kind,
                    "table": c.table,
                    "name": c.name,
                    "before": c.before,
                    "after": c.after,
                    "warning": c.warning or None,
                    "rule": c.rule or None,
                    "summary": c.describe(),
                }
                for c in result.changes
            ],
            "notes": [
                {"level": n.level, "message": n.message, "rule": n.rule or None}
                for n in result.notes
            ],
            "path": path,
            "migration": result.text or None,
            "foreign_keys_off": {
                "up": bool(migration and migration.up_foreign_keys_off),
                "down": bool(migration and migration.down_foreign_keys_off),
            },
            "rebuilt": list(migration.rebuilt) if migration else [],
        }
    )
