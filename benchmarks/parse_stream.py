"""Peak memory and time of the streaming parser on a huge migration, next to parse_migration.

Run from the repository root::

    python benchmarks/parse_stream.py            # 2,000,000 rows (~200 MB) + 20 MB comparison
    python benchmarks/parse_stream.py --rows 200000

Files are generated in a temporary folder (deleted afterwards). Each measurement runs in
a fresh subprocess, so its peak RSS (``ru_maxrss``) is the whole process's, interpreter
included; an "idle" run shows what the interpreter and imports alone take.
Not a test: numbers depend on the machine, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = "INSERT INTO users (id, name, email) VALUES ({i}, 'user; {i} -- not a comment', 'u{i}@example.com');\n"


def generate(path: Path, rows: int) -> None:
    """A migration with one CREATE TABLE and ``rows`` INSERTs, written in batches."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY, name, email);\n")
        batch = 10_000
        for first in range(0, rows, batch):
            out.write("".join(ROW.format(i=i) for i in range(first, min(first + batch, rows))))
        out.write("-- migrate:down\nDROP TABLE users;\n")


def child(mode: str, path: Path) -> dict[str, object]:
    """One measurement, run in its own process."""
    sys.path.insert(0, str(ROOT))
    from migrate_tasks.files.parser import parse_migration
    from migrate_tasks.files.stream import iter_statements, scan_file

    started = time.perf_counter()
    if mode == "stream":
        summary = scan_file(path, path.name)
        scanned = time.perf_counter() - started
        count = sum(1 for _ in iter_statements(path, path.name, "up", checksum=summary.checksum))
        assert count == summary.up.statement_count
        extra = {"scan_seconds": round(scanned, 2)}
    elif mode == "parse_migration":
        count = len(parse_migration(path.read_bytes(), path.name).up.statements)
        extra = {}
    else:  # idle: the interpreter and imports only
        count, extra = 0, {}
    elapsed = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "statements": count,
        "seconds": round(elapsed, 2),
        "peak_rss_mib": round(peak_mib, 1),
        **extra,
    }


def measure(mode: str, path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="INSERTs in the big file")
    parser.add_argument("--small-rows", type=int, default=200_000, help="INSERTs in the small file")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    with tempfile.TemporaryDirectory(prefix="parse_stream_") as tmp:
        big, small = Path(tmp) / "1_big.sql", Path(tmp) / "2_small.sql"
        generate(big, args.rows)
        generate(small, args.small_rows)
        runs = [
            ("idle (interpreter + imports)", "idle", small),
            ("scan_file + iter_statements", "stream", big),
            ("scan_file + iter_statements", "stream", small),
            ("parse_migration", "parse_migration", small),
        ]
        print(f"{'what':32} {'file MB':>8} {'statements':>11} {'seconds':>8} {'peak RSS MiB':>13}")
        for label, mode, path in runs:
            result = measure(mode, path)
            size = path.stat().st_size / 1e6 if mode != "idle" else 0
            extra = (
                f"  (scan_file alone {result['scan_seconds']} s)"
                if "scan_seconds" in result
                else ""
            )
            print(
                f"{label:32} {size:8.1f} {result['statements']:>11,} {result['seconds']:>8}"
                f" {result['peak_rss_mib']:>13}{extra}"
            )


if __name__ == "__main__":
    main()
