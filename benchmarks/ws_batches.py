"""One migration of many single-row INSERTs applied to sqld over ws:// and http://, with
``libsql-migrate up`` (a whole process, start-up included): the time of each, as medians
of alternating runs, each on a fresh sqld started outside the timing.

    python benchmarks/ws_batches.py [--rows 15600] [--reps 5] [--cli PATH]

Two files: short rows (under the 1 MiB streaming threshold: the unit is sent from
memory) and long rows (over it: the unit is streamed). ``--cli`` runs another
installation's ``libsql-migrate`` (e.g. a checkout of the code before a change) against
the same files. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: (name, row text): ~60 bytes a statement (0.9 MB for 15,600) and ~100 (1.6 MB)
SHAPES = {
    "short rows": "INSERT INTO t (id, v) VALUES ({i}, 'row {i}');\n",
    "long rows": "INSERT INTO t (id, v) VALUES ({i}, 'row {i} padded with enough text to stream');\n",
}


def write_migration(folder: Path, rows: int, row: str) -> int:
    """The migration file; returns its size in bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "20250101000000_many_inserts.sql"
    with path.open("w") as f:
        f.write("-- migrate:up\nCREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n")
        f.writelines(row.format(i=i) for i in range(rows))
        f.write("-- migrate:down\nDROP TABLE t;\n")
    return path.stat().st_size


def run_once(cli: str, url: str, folder: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [cli, "up", "--url", url, "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{cli} up --url {url} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def measure(cli: str, folder: Path, work: Path, reps: int) -> dict[str, list[float]]:
    """Seconds per scheme; ws and http alternate (ws first, then http first, ...)."""
    from tests.support.sqld import SqldServer, find_sqld

    times: dict[str, list[float]] = {"ws": [], "http": []}
    for rep in range(reps):
        order = ["ws", "http"] if rep % 2 == 0 else ["http", "ws"]
        for scheme in order:
            server = SqldServer(find_sqld(), work / f"sqld-{scheme}-{rep}")
            server.workdir.mkdir(parents=True)
            server.start()
            try:
                url = server.ws_url if scheme == "ws" else server.http_url
                times[scheme].append(run_once(cli, url, folder))
            finally:
                server.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=15_600)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--cli", default=str(Path(sys.executable).parent / "libsql-migrate"))
    args = parser.parse_args()
    print(f"{args.cli}: {args.rows:,} INSERTs, {args.reps} runs each, medians (min-max)")
    with tempfile.TemporaryDirectory(prefix="migrate-bench-ws-") as tmp:
        work = Path(tmp)
        for shape, row in SHAPES.items():
            folder = work / shape.replace(" ", "-")
            size = write_migration(folder, args.rows, row)
            times = measure(args.cli, folder, work / f"run-{folder.name}", args.reps)
            cells = [
                f"{scheme} {statistics.median(t):.2f} s ({min(t):.2f}-{max(t):.2f})"
                for scheme, t in times.items()
            ]
            print(f"{shape} ({size / 1e6:.1f} MB): " + ", ".join(cells))


if __name__ == "__main__":
    main()
