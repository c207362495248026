"""The benchmark suite of issue 7: libsql-migrate next to its peers on the same SQL.

    python benchmarks/run.py                      # everything (about 20 minutes)
    python benchmarks/run.py --quick              # fewer repetitions, no 200 MB file
    python benchmarks/run.py --only W1,W4 --reps 3
    python benchmarks/run.py --write-results      # also benchmarks/RESULTS.md + results.json

``nox -s bench`` installs the package and the Python peers, then runs this; the npm
peers are installed here, into benchmarks/.peers (skipped with a note without npm).
benchmarks/README.md explains the workloads and how each number is taken.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cases import BIG_ROWS, SMALL_ROWS, Case, build_cases
from _failure import inspect, summary
from _measure import (
    Command,
    Run,
    count_fsyncs,
    have_strace,
    hrana_query,
    run_measured,
    sqld,
)
from _proxy import CountingProxy
from _report import Report, Row
from _tools import Db, Ours, Tool, all_tools, clean_env, install_node_peers

HERE = Path(__file__).resolve().parent


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Runner:
    def __init__(self, args: argparse.Namespace, tools: dict[str, Tool], report: Report) -> None:
        self.args = args
        self.tools = tools
        self.report = report
        self.work = Path(tempfile.mkdtemp(prefix="migrate-bench-", dir=args.workdir))
        self.projects: dict[tuple[str, str], Path] = {}

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    # -- preparation ------------------------------------------------------------------

    def project(self, case: Case, tool: Tool) -> Path:
        """The tool's project folder for this set of migrations (generated once)."""
        owner = "ours" if isinstance(tool, Ours) else tool.key
        key = (case.set_key, owner)
        if key not in self.projects:
            path = self.work / "projects" / case.set_key / owner
            started = time.perf_counter()
            tool.prepare(path, case.migrations())
            log(f"  wrote {case.set_key} for {owner} in {time.perf_counter() - started:.1f} s")
            self.projects[key] = path
        return self.projects[key]

    def drop_projects(self, set_key: str) -> None:
        for key in [k for k in self.projects if k[0] == set_key]:
            shutil.rmtree(self.projects.pop(key), ignore_errors=True)

    @contextlib.contextmanager
    def database(self, case: Case, tool: Tool, label: str):
        """A fresh database: (Db for timed runs, Db through the counting proxy, proxy)."""
        folder = self.work / "dbs" / case.id / tool.key / label
        folder.mkdir(parents=True, exist_ok=True)
        try:
            if case.target == "file":
                db = Db("file", path=folder / "bench.db", workdir=folder)
                yield db, db, None
                return
            with sqld() as server, CountingProxy(server.port, case.delay) as proxy:
                direct = Db("sqld", url=server.url, workdir=folder)
                counted = Db("sqld", url=proxy.url, workdir=folder)
                yield (counted if case.delay else direct), counted, proxy
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # -- checks -----------------------------------------------------------------------

    def check(self, case: Case, op: str, db: Db) -> str | None:
        """What the tool left behind: None if right, else what is wrong."""
        if op == "status":
            return None
        if case.rows:
            sql, want = "SELECT count(*) FROM items", case.rows if op == "up" else None
            if op == "down":
                sql, want = "SELECT count(*) FROM sqlite_master WHERE name = 'items'", 0
        else:
            sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name GLOB 't[0-9]*'"
            want = case.count if op == "up" else 0
        try:
            if db.target == "file":
                conn = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True)
                try:
                    got = conn.execute(sql).fetchone()[0]
                finally:
                    conn.close()
            else:
                got = int(str(hrana_query(str(db.url), sql)[0][0]))
        except Exception as exc:
            return f"check failed: {exc}"
        return None if got == want else f"check failed: {sql} gave {got}, expected {want}"

    # -- one case ---------------------------------------------------------------------

    def run_case(self, case: Case) -> None:
        log(f"{case.id}: {case.title} on {case.target}")
        rows = {
            (op, key): self.report.row(case, op, self.tools[key])
            for op in case.ops
            for key in case.tools
        }
        active: list[Tool] = []
        for key in case.tools:
            tool = self.tools[key]
            reason = tool.unavailable() or self.skip_reason(case, tool)
            for op in case.ops:
                op_reason = reason or tool.supports(op, case.target)
                if op_reason:
                    status = "skipped" if reason else "n/a"
                    if op_reason.startswith("n/a"):  # "n/a (flag missing): ..."
                        status, op_reason = "n/a", op_reason[3:].strip()
                    rows[(op, key)].set_status(status, op_reason)
                elif tool.note(op, case.target, case.count):
                    rows[(op, key)].note = tool.note(op, case.target, case.count)
            if not reason and any(tool.supports(op, case.target) is None for op in case.ops):
                active.append(tool)
        if case.fleet:
            self.run_fleet(case, active, rows)
            return
        if case.fails_at:
            self.run_failing(case, active, rows)
            return
        if case.fresh:
            self.run_fresh(case, active, rows)
        else:
            self.run_persistent(case, active, rows)

    def skip_reason(self, case: Case, tool: Tool) -> str | None:
        """Peers are run on the big file only where they can finish within the timeout."""
        if case.rows == BIG_ROWS and tool.key == "alembic":
            return "a revision file of 2,000,000 op.execute calls (~250 MB of Python) is not a realistic Alembic migration"
        if case.rows == BIG_ROWS:
            small = self.report.find(f"W2-5MB-{case.target}", "up", tool.key)
            if small and small.median is not None:
                estimate = small.median * BIG_ROWS / SMALL_ROWS
                if estimate > self.args.timeout:
                    return (
                        f"est. {estimate:,.0f} s from its 5 MB time (timeout"
                        f" {self.args.timeout:g} s)"
                    )
                # Memory grows with the file for some tools: scale the 5 MB peak above
                # the tool's W1 peak (its baseline), and keep well clear of the RAM.
                tiny = self.report.find(f"W1-{case.target}", "up", tool.key)
                base = tiny.peak if tiny and tiny.peak is not None else 0.0
                peak = (small.peak or 0.0) - base
                memory = base + peak * BIG_ROWS / SMALL_ROWS
                if memory > self.args.max_peak_gb * 1000:
                    return (
                        f"est. peak memory {memory / 1000:,.1f} GB from its 5 MB run"
                        f" (--max-peak-gb {self.args.max_peak_gb:g})"
                    )
        if case.delay:
            base = self.report.find(
                case.id.replace("W3-W1", "W1-sqld").replace("W3-W2", "W2-5MB-sqld"), "up", tool.key
            )
            if base and base.counts.get("http_requests"):
                estimate = base.counts["http_requests"] * case.delay
                if estimate > self.args.timeout:
                    return (
                        f"{base.counts['http_requests']:,} HTTP requests x"
                        f" {case.delay * 1000:g} ms = {estimate:,.0f} s (timeout {self.args.timeout:g} s)"
                    )
        return None

    def run_fresh(self, case: Case, active: list[Tool], rows: dict[tuple[str, str], Row]) -> None:
        if case.probe:
            for tool in active:
                if tool.key not in case.no_probe:
                    self.probe(case, tool, rows)
        broken: set[str] = set()
        reps = max([case.reps, *case.tool_reps.values()])
        for rep in range(reps):
            order = active if rep % 2 == 0 else active[::-1]
            for tool in order:
                if tool.key in broken or rep >= case.tool_reps.get(tool.key, case.reps):
                    continue
                project = self.project(case, tool)
                with self.database(case, tool, f"rep{rep}") as (db, _, proxy):
                    for op in case.ops:
                        if tool.supports(op, case.target):
                            continue
                        row = rows[(op, tool.key)]
                        if proxy:
                            proxy.reset()
                        run = run_measured(
                            tool.command(op, project, db, case.count), self.args.timeout
                        )
                        problem = self.record(row, run, rep)
                        log(f"  rep {rep} {tool.key} {op}: {run.seconds:.3f} s {problem or ''}")
                        if proxy and case.delay and problem is None:
                            row.counts = proxy.counts()  # before the check's own query
                        if problem is None and rep == 0:
                            problem = self.check(case, op, db)
                            if problem:
                                row.set_status("failed", problem)
                        if problem:
                            broken.add(tool.key)
                            break
        self.report.case_done(case)

    def probe(self, case: Case, tool: Tool, rows: dict[tuple[str, str], Row]) -> None:
        """One untimed run: fsync calls on a file, HTTP requests on sqld. Also a warm-up."""
        project = self.project(case, tool)
        started = time.perf_counter()
        with self.database(case, tool, "probe") as (_, db, proxy):
            for op in case.ops:
                if tool.supports(op, case.target):
                    continue
                row = rows[(op, tool.key)]
                cmd = tool.command(op, project, db, case.count)
                if proxy is not None:
                    proxy.reset()
                    run = run_measured(cmd, self.args.timeout)
                    if not run.ok:
                        return
                    row.counts = proxy.counts()
                elif have_strace():
                    row.fsync = count_fsyncs(cmd, self.args.timeout)
                    if row.fsync is None:
                        return
                elif not run_measured(cmd, self.args.timeout).ok:
                    return
        log(f"  probe {tool.key}: {time.perf_counter() - started:.1f} s")

    def run_persistent(
        self, case: Case, active: list[Tool], rows: dict[tuple[str, str], Row]
    ) -> None:
        """W4: migrate once per tool (untimed), then time the read-only operations."""
        with contextlib.ExitStack() as stack:
            dbs: dict[str, tuple[Db, Db, CountingProxy | None]] = {}
            for tool in active:
                project = self.project(case, tool)
                db, counted, proxy = stack.enter_context(self.database(case, tool, "db"))
                started = time.perf_counter()
                run = run_measured(
                    tool.command("up", project, db, case.count), self.args.timeout * 4
                )
                problem = None if run.ok else f"setup up failed: {run.output.strip()[-300:]}"
                problem = problem or self.check(case, "up", db)
                log(
                    f"  {tool.key}: applied {case.count} migrations in {time.perf_counter() - started:.1f} s"
                )
                if problem:
                    for op in case.ops:
                        rows[(op, tool.key)].set_status("failed", problem)
                    continue
                dbs[tool.key] = (db, counted, proxy)
                for op in case.ops:  # probe
                    if tool.supports(op, case.target):
                        continue
                    cmd = tool.command(op, project, counted, case.count)
                    if proxy is not None:
                        proxy.reset()
                        if run_measured(cmd, self.args.timeout).ok:
                            rows[(op, tool.key)].counts = proxy.counts()
                    elif have_strace():
                        rows[(op, tool.key)].fsync = count_fsyncs(cmd, self.args.timeout)
            order = [t for t in active if t.key in dbs]
            for rep in range(case.reps):
                for tool in order if rep % 2 == 0 else order[::-1]:
                    db = dbs[tool.key][0]
                    for op in case.ops:
                        row = rows[(op, tool.key)]
                        if tool.supports(op, case.target) or row.status != "ok":
                            continue
                        cmd = tool.command(op, self.project(case, tool), db, case.count)
                        run = run_measured(cmd, self.args.timeout)
                        problem = self.record(row, run, rep)
                        log(f"  rep {rep} {tool.key} {op}: {run.seconds:.3f} s {problem or ''}")
        self.report.case_done(case)

    def run_fleet(self, case: Case, active: list[Tool], rows: dict[tuple[str, str], Row]) -> None:
        """W5: ``up --admin-url --fleet names --jobs 8`` on a sqld with case.fleet
        namespaces; ours and, with --before, the code before, alternating."""
        if not active:
            self.report.case_done(case)
            return
        project = self.project(case, active[0])  # one folder for every Ours
        names = [f"tenant{i:03d}" for i in range(case.fleet)]
        (project / "names.txt").write_text("\n".join(names) + "\n")
        for rep in range(-1, case.reps):  # rep -1: the counting run through the proxy
            for tool in active if rep % 2 == 0 else active[::-1]:
                row = rows[("up", tool.key)]
                if row.status == "ok":
                    self.fleet_once(case, tool, project, names, rep, row)
        self.report.case_done(case)

    def fleet_once(
        self, case: Case, tool: Tool, project: Path, names: list[str], rep: int, row: Row
    ) -> None:
        """One fleet run on a fresh sqld; rep -1 counts requests, rep 0 is also checked."""
        assert isinstance(tool, Ours)
        with sqld(namespaces=True) as server, CountingProxy(server.port) as proxy:
            for name in names:
                server.create_namespace(name)
            url = proxy.url if rep < 0 else server.url
            argv = [str(tool.cli), "up", "--admin-url", server.admin_url, "--url", url]
            argv += ["--fleet", str(project / "names.txt"), "--jobs", str(self.args.jobs)]
            argv += ["--dir", str(project / "migrations")]
            run = run_measured(Command(argv, project, clean_env()), self.args.timeout)
            log(f"  rep {rep} {tool.key} fleet up: {run.seconds:.3f} s (exit {run.code})")
            if rep < 0:
                if run.ok:
                    row.counts = proxy.counts()
                return
            if self.record(row, run, rep) is None and rep == 0:
                sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name GLOB 't[0-9]*'"
                for name in (names[0], names[-1]):
                    got = hrana_query(server.url, sql, host=f"{name}.127.0.0.1:{server.port}")
                    if int(str(got[0][0])) != case.count:
                        row.set_status("failed", f"check failed: {name} has {got[0][0]} tables")

    def run_failing(self, case: Case, active: list[Tool], rows: dict[tuple[str, str], Row]) -> None:
        """W7: ``up`` must fail at migration ``case.fails_at``; time to the error, and
        what each repetition left behind (every repetition is inspected)."""
        migrations = case.migrations()
        for rep in range(case.reps):
            for tool in active if rep % 2 == 0 else active[::-1]:
                row = rows[("up", tool.key)]
                if row.status != "ok":
                    continue
                project = self.project(case, tool)
                with self.database(case, tool, f"rep{rep}") as (db, _, proxy):
                    assert proxy is not None
                    proxy.reset()
                    run = run_measured(
                        tool.command("up", project, db, case.count), self.args.timeout
                    )
                    counts = proxy.counts()
                    if run.timed_out:
                        row.set_status("timeout", f"killed after {self.args.timeout:g} s")
                        continue
                    direct = f"http://127.0.0.1:{proxy.upstream[1]}"
                    facts = inspect(direct, tool.key, migrations, case.fails_at, run)
                log(f"  rep {rep} {tool.key} up: {run.seconds:.3f} s, {summary(facts)}")
                if not facts["right"]:
                    row.set_status("failed", summary(facts))
                    continue
                row.add(rep, run.seconds, run.peak_mb)
                row.counts, row.facts = counts, facts
        self.report.case_done(case)

    def record(self, row: Row, run: Run, rep: int) -> str | None:
        """Add one timed run to its row; returns a problem (the tool is then not run again)."""
        if run.timed_out:
            row.set_status("timeout", f"killed after {self.args.timeout:g} s")
            return "timeout"
        if run.code != 0:
            row.set_status("failed", f"exit {run.code}: {failure_summary(run.output)}")
            return "failed"
        row.add(rep, run.seconds, run.peak_mb)
        return None


def failure_summary(output: str) -> str:
    """The line of a failed run's output that says what went wrong, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if re.search(r"FATAL|Error|error:|Traceback|panic", line):
            return line[:300]
    return lines[-1][:300] if lines else "(no output)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no 200 MB file")
    parser.add_argument(
        "--only", default="", help="comma-separated workloads or case ids (W1,W4-200)"
    )
    parser.add_argument("--tools", default="", help="comma-separated tool keys (default: all)")
    parser.add_argument("--reps", type=int, help="repetitions for every case")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds per run (default 300)"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="W3 delay per round trip")
    parser.add_argument("--jobs", type=int, default=8, help="W5 --jobs (default 8)")
    parser.add_argument(
        "--max-peak-gb", type=float, default=_half_ram_gb(),
        help="skip a peer on the 200 MB file when its estimated peak memory exceeds this"
        " (default: half the RAM)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="results file (default: see --write-results)")
    parser.add_argument(
        "--write-results",
        action="store_true",
        help="write benchmarks/RESULTS.md and benchmarks/results.json (else results-last.json)",
    )
    parser.add_argument("--no-install", action="store_true", help="do not run npm install")
    parser.add_argument(
        "--before", metavar="PATH", help="another installation's libsql-migrate (e.g. the code"
        " before a change), run next to ours on W1-sqld, W3-W1, W5, W6 and W7",
    )  # fmt: skip
    parser.add_argument("--workdir", help="where to put scratch files (default: the temp dir)")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="run nothing: print (and with --write-results"
        " write) the table and targets of an earlier run's JSON file",
    )  # fmt: skip
    return parser.parse_args(argv)


def _half_ram_gb() -> float:
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 8.0
    return round(kb / 2e6, 1)


def render(args: argparse.Namespace) -> int:
    json_path = args.json or (HERE / "results.json" if args.write_results else args.render)
    report = Report.load(args.render, json_path)
    print(report.markdown_table())
    print()
    print(report.targets_markdown())
    if args.write_results:
        report.write_json()
        report.write_results_md(HERE / "RESULTS.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(args)
    notes: list[str] = []
    if not args.no_install:
        problem = install_node_peers(log)
        if problem:
            notes.append(f"npm peers: {problem}")
            log(problem)
    tools = {tool.key: tool for tool in all_tools(args.before)}
    if not args.before:
        del tools["ours-before"]
    if args.tools:
        wanted = set(args.tools.split(",")) | {"ours", "ours-before"}
        tools = {k: v for k, v in tools.items() if k in wanted}
    cases = build_cases(args.quick, args.reps, args.latency_ms)
    if args.only:
        wanted_cases = [w.strip() for w in args.only.split(",") if w.strip()]
        cases = [
            c for c in cases if any(c.workload == w or c.id.startswith(w) for w in wanted_cases)
        ]
    for case in cases:
        case.tools = [k for k in case.tools if k in tools]
    if not have_strace():
        notes.append("strace not found: fsync counts are missing")
    json_path = args.json or HERE / ("results.json" if args.write_results else "results-last.json")
    report = Report(tools, notes, json_path)
    for key, tool in tools.items():
        log(f"{key}: {tool.unavailable() or tool.version()}")
    runner = Runner(args, tools, report)
    started = time.perf_counter()
    try:
        previous_set = None
        for case in cases:
            if previous_set and previous_set != case.set_key:
                runner.drop_projects(previous_set)  # the big files go as soon as possible
            runner.run_case(case)
            previous_set = case.set_key
    finally:
        runner.close()
    report.finish(time.perf_counter() - started)
    print(report.markdown_table())
    print()
    print(report.targets_markdown(skip_not_run=bool(args.only)))
    if args.write_results:
        report.write_results_md(HERE / "RESULTS.md")
        log(f"wrote {HERE / 'RESULTS.md'}")
    log(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
