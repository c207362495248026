"""Every default value, once: settings, the engine, drivers, task help and the docs read it.

The numbers are ints on purpose: Invoke gives ``INVOKE_MIGRATE_*`` environment variables
the type of the configured default, and help texts print them as written (``60``, not
``60.0``). Code that wants seconds as a float converts at its own boundary.
tests/test_docs.py checks that docs/configuration.md states the same values.
"""

from __future__ import annotations

#: The database when nothing names one: a local file in the working directory.
URL = "file:dev.db"
#: The migrations folder, relative to the working directory.
DIR = "migrations"
#: The tracking table (its log and lock tables take it as their prefix).
TABLE = "schema_migrations"

#: Seconds to wait for another run's migration lock.
LOCK_TIMEOUT_S = 60
#: Seconds a migration lock's lease lasts unless renewed (keep it above the longest migration).
LOCK_TTL_S = 120
#: Seconds to wait for a server's answer to one request.
REQUEST_TIMEOUT_S = 300
#: sqld over HTTP: most Hrana steps, and bytes of SQL and parameters, one request carries
#: when many migrations share it (each still its own transaction). The reasons for these
#: numbers are at ``HranaHttpDriver.group_max_steps``.
BATCH_STEPS = 5000
BATCH_BYTES = 2097152
#: Seconds ``wait`` (and ``up --wait``) keeps trying a database that does not answer yet.
WAIT_TIMEOUT_S = 60
#: Seconds to wait for sqld's admin API (fleet discovery: a few small GETs).
ADMIN_TIMEOUT_S = 30

#: Fleet mode: how many databases at once.
FLEET_JOBS = 4
