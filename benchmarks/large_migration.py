"""Apply one huge data migration (default 2,000,000 INSERT rows, about 250 MB) and print
the time and the peak memory of the migrating process, on a local libSQL file and on sqld
over HTTP (started here on a loopback port).

    python benchmarks/large_migration.py [--rows N] [--targets file,http]

Numbers, not assertions: the target is a peak RSS well under the file size (< 100 MB).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_migration(folder: Path, rows: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "20250101000000_big.sql"
    with path.open("w") as f:
        f.write("-- migrate:up\nCREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT, w TEXT);\n")
        for i in range(rows):
            f.write(
                f"INSERT INTO big (id, v, w) VALUES ({i}, 'value number {i} with some text',"
                f" 'more padding text for the row {i:08d}');\n"
            )
        f.write("-- migrate:down\nDROP TABLE big;\n")
    return path


def run(url: str, cwd: Path) -> tuple[float, float, int]:
    """Seconds, peak RSS in MiB of the migrating process alone (os.wait4), exit code."""
    cli = Path(sys.executable).parent / "libsql-migrate"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(cli), "up", "--url", url],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)
    return elapsed, usage.ru_maxrss / 1024, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--targets", default="file,http")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="migrate-bench-") as tmp:
        work = Path(tmp)
        path = write_migration(work / "migrations", args.rows)
        size_mb = path.stat().st_size / 1e6
        print(f"migration: {args.rows:,} rows, {size_mb:.0f} MB")
        print(f"{'target':8} {'seconds':>8} {'peak RSS MiB':>13} {'exit':>5}")
        for target in args.targets.split(","):
            if target == "file":
                url = f"file:{work / 'big.db'}"
                result = run(url, work)
            else:
                from tests.support.sqld import SqldServer, find_sqld

                server = SqldServer(find_sqld(), work / "sqld")
                server.workdir.mkdir()
                server.start()
                try:
                    result = run(server.http_url, work)
                finally:
                    server.stop()
            seconds, peak, code = result
            print(f"{target:8} {seconds:8.1f} {peak:13.1f} {code:5d}", flush=True)


if __name__ == "__main__":
    main()
