"""Fleet mode for ``status``, ``validate``, ``up`` and ``down``: its flags, their help, the glue.

A task with ``--fleet`` or ``--admin-url`` builds the same operation it would run on one
database and hands it here: find the databases, run on each (``fleet.runner``), show a
live progress line, then one table or JSON document (``report.fleet``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrate_tasks.config import defaults
from migrate_tasks.report.documents import fleet_json
from migrate_tasks.report.fleet import fleet_progress_printer, fleet_summary, fleet_table
from migrate_tasks.report.progress import shown_while

if TYPE_CHECKING:  # the runner imports the engine: only a fleet run pays for it
    from migrate_tasks.config.settings import Settings
    from migrate_tasks.fleet.runner import Operation

FLEET_HELP = {
    "fleet": "run on many databases: a file of URLs (one per line; `URL token_env=VAR` for a"
    " per-database token), a glob of local files, or with --admin-url a file of namespace names",
    "admin-url": "sqld admin API: run on every namespace of the server at --url"
    " (or on those named in the --fleet file)",
    "jobs": f"fleet mode: how many databases at once (default {defaults.FLEET_JOBS})",
    "fail-fast": "fleet mode: start no new database after the first failure",
}


@dataclass(frozen=True)
class FleetFlags:
    """The fleet flags of a task, plus its ``--json`` (the fleet prints its own document)."""

    fleet: str = ""
    admin_url: str = ""
    jobs: int = defaults.FLEET_JOBS
    fail_fast: bool = False
    json: bool = False

    @property
    def enabled(self) -> bool:
        """A fleet run, rather than one database: ``--fleet`` or ``--admin-url`` was given."""
        return bool(self.fleet or self.admin_url)


def run_fleet_task(settings: Settings, operation: Operation, flags: FleetFlags) -> None:
    """The same operation on many databases, a live progress line, one table (or JSON)."""
    from migrate_tasks.fleet import runner as fleet

    targets = fleet.discover_targets(
        flags.fleet or None,
        admin_url=flags.admin_url or None,
        base_url=settings.url if flags.admin_url else None,
        auth_token=settings.auth_token,
        insecure=settings.insecure,
    )
    started = time.perf_counter()
    with shown_while(fleet_progress_printer(sys.stderr, enabled=not flags.json)) as line:
        results = fleet.run_fleet(
            targets,
            operation,
            settings=settings,
            jobs=flags.jobs,
            fail_fast=flags.fail_fast,
            on_progress=line,
        )
    elapsed = time.perf_counter() - started
    if flags.json:
        print(fleet_json(results, operation.name, elapsed))
    else:
        print(fleet_table(results))
        print(fleet_summary(results, elapsed))
    fleet.check_results(results)
