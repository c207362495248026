"""``up``/``down --json`` when a run stops part-way: still one JSON document on stdout.

A CI step that parses stdout should not have to guess what happened from an empty
stream: the document says which migrations completed before the failure (read back
from the tracking table, since the engine raises instead of returning them) and why
the run stopped. The error message also goes to stderr and the exit code is unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from migrate_tasks.engine.plan import APPLIED, MODIFIED, ROLLED_BACK, status_rows, version_key
from migrate_tasks.errors import MigrateError
from migrate_tasks.report.documents import run_failure_json

States = dict[str, tuple[str, str, int | None]]  # version -> (state, name, execution_ms)


@contextlib.contextmanager
def failure_document(
    engine: Any,
    direction: str,
    *,
    enabled: bool,
    dry_run: bool,
    scrub: Callable[[str], str] = str,
) -> Iterator[None]:
    """Print the failure document (then re-raise) if the body raises one of our errors."""
    if not enabled:
        yield
        return
    try:
        yield
    except MigrateError as exc:
        completed = completed_since(engine, direction, _before(engine))
        doc = run_failure_json(
            direction,
            engine.driver.display_url,
            completed,
            exc.exit_code,
            scrub(str(exc)),
            dry_run=dry_run,
        )
        print(doc)
        raise


def _states(engine: Any, records: Any = None) -> States:
    rows = engine.status() if records is None else status_rows(engine.file_infos(), records)
    return {r.version: (r.state, r.name, r.execution_ms) for r in rows}


def _before(engine: Any) -> States | None:
    """The states when the run started: from the engine's own first read (no extra round
    trip); if it stopped before reading, nothing can have run, so now is the same."""
    try:
        records = engine.initial_records
        return _states(engine) if records is None else _states(engine, records)
    except MigrateError:
        return None


def completed_since(
    engine: Any, direction: str, before: States | None
) -> list[dict[str, Any]] | None:
    """Migrations that reached the direction's end state since ``before``; None if the
    database cannot be read any more (the connection may be what failed)."""
    if before is None:
        return None
    try:
        after = _states(engine)
    except MigrateError:
        return None
    done_from = (APPLIED, MODIFIED) if direction == "down" else None
    end = APPLIED if direction == "up" else ROLLED_BACK
    changed = [
        v
        for v, (state, _name, _ms) in after.items()
        if state == end
        and v in before
        and before[v][0] != end
        and (done_from is None or before[v][0] in done_from)
    ]
    changed.sort(key=version_key, reverse=direction == "down")
    return [
        {
            "version": v,
            "name": after[v][1],
            "statements": None,
            "duration_ms": after[v][2] if direction == "up" else None,
        }
        for v in changed
    ]
