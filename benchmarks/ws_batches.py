"""libsql-migrate over ws:// (WebSocket) measured two ways.

Big migration (default): one migration of many single-row INSERTs applied to sqld over
ws:// and http:// with ``libsql-migrate up`` (a whole process, start-up included): the
time of each, as medians of alternating runs, each on a fresh sqld started outside the
timing.

    python benchmarks/ws_batches.py [--rows 15600] [--reps 5] [--cli PATH]

Two files: short rows (under the 1 MiB streaming threshold: the unit is sent from
memory) and long rows (over it: the unit is streamed). ``--cli`` runs another
installation's ``libsql-migrate`` (e.g. a checkout of the code before a change) against
the same files. Numbers, not assertions.

Many migrations (issue 13 item 6): ``--groups N`` sends N migrations, each its own
transaction, through libsql-client's WebSocket as one batch per migration (today's
shape) or as ONE batch of N guarded BEGIN..COMMIT groups (_ws_groups.py says how), at
0 and 20 ms per round trip (the counting proxy of the benchmarks holds every server
message back by that long), plus ``libsql-migrate up`` of N migrations over ws:// for
the whole process. Every variant is also run once with migration N/2 failing, and must
leave exactly the migrations before it committed.

    python benchmarks/ws_batches.py --groups 200 [--reps 3] [--latency-ms 0,20]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _proxy import CountingProxy  # noqa: E402  (needs ROOT on the path)

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


@contextlib.contextmanager
def ws_behind_proxy(work: Path, delay: float) -> Iterator[tuple[str, CountingProxy]]:
    """A fresh sqld behind the counting proxy, which delivers what sqld sends ``delay``
    s later: the proxy's ws:// URL, and the proxy."""
    from tests.support.sqld import SqldServer, find_sqld

    server = SqldServer(find_sqld(), Path(tempfile.mkdtemp(dir=work)) / "sqld")
    server.workdir.mkdir(parents=True)
    server.start()
    try:
        with CountingProxy(server.port, delay) as proxy:
            yield f"ws://127.0.0.1:{proxy.port}", proxy
    finally:
        server.stop()


def measure_groups(args: argparse.Namespace, work: Path) -> None:
    """``--groups N``: the variants of _ws_groups.py and the CLI, at each latency."""
    from _workloads import schema_migrations, write_ours
    from _ws_groups import VARIANTS, run_variant

    count, folder = args.groups, work / "cli-migrations"
    write_ours(folder, schema_migrations(count))
    names = [*VARIANTS, "libsql-migrate up (CLI)"]
    print(f"{count} migrations over ws://, {args.reps} runs each, medians (min-max)")
    for ms in [float(x) for x in args.latency_ms.split(",")]:
        times: dict[str, list[float]] = {name: [] for name in names}
        sent: dict[str, int] = {}
        for rep in range(args.reps):
            for name in names if rep % 2 == 0 else names[::-1]:
                with ws_behind_proxy(work, ms / 1000) as (url, proxy):
                    if name not in VARIANTS:
                        times[name].append(run_once(args.cli, url, folder))
                        sent[name] = proxy.counts()["ws_requests"]
                        continue
                    counter = lambda: proxy.counts()["ws_requests"]  # noqa: E731
                    seconds, done, _, sent[name] = run_variant(url, name, count, 0, counter)
                    if done != count:
                        raise SystemExit(f"{name}: {done} of {count} committed")
                    times[name].append(seconds)
        print(f"+{ms:g} ms per round trip:")
        for name, t in times.items():
            cell = f"{statistics.median(t):.3f} s ({min(t):.3f}-{max(t):.3f})"
            print(f"  {name}: {cell}, {sent[name]} Hrana requests")
    check_failures(work, count)


def check_failures(work: Path, count: int) -> None:
    """Migration N/2 fails: each variant must leave exactly the ones before it committed."""
    from _ws_groups import VARIANTS, probe_guard_on_hrana2, run_variant

    fail_at = count // 2
    print(f"migration {fail_at} of {count} fails (0 ms): committed afterwards")
    for name in VARIANTS:
        with ws_behind_proxy(work, 0.0) as (url, _):
            seconds, done, protocol, _ = run_variant(url, name, count, fail_at)
        verdict = "right" if done == fail_at - 1 else "WRONG"
        print(f"  {name} [{protocol}]: {done} committed ({verdict}), {seconds:.3f} s")
    with ws_behind_proxy(work, 0.0) as (url, _):
        print(f"  is_autocommit on libsql-client's own socket: {probe_guard_on_hrana2(url)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=15_600)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--cli", default=str(Path(sys.executable).parent / "libsql-migrate"))
    parser.add_argument("--groups", type=int, help="many migrations instead (issue 13 item 6)")
    parser.add_argument("--latency-ms", default="0,20", help="with --groups (default 0,20)")
    args = parser.parse_args()
    if args.groups:
        with tempfile.TemporaryDirectory(prefix="migrate-bench-ws-") as tmp:
            measure_groups(args, Path(tmp))
        return
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
