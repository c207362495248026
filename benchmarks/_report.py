"""Results: one row per (case, operation, tool); the markdown table, the targets of issue 7
computed from the numbers, results.json and RESULTS.md.

Ratios are taken pair by pair: repetition i of ours divided by repetition i of the peer
(the two ran next to each other), then the median of those ratios. Below 1.0 means we
were faster.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from _cases import Case
from _failure import summary
from _tools import Tool, _git_commit, clean_env, has_single_transaction

HERE = Path(__file__).resolve().parent


@dataclass
class Row:
    case: str
    workload: str
    title: str
    target: str
    op: str
    tool: str
    label: str
    status: str = "ok"  # ok, n/a, skipped, failed, timeout
    note: str = ""
    runs: dict[int, tuple[float, float]] = field(default_factory=dict)  # rep -> (s, MB)
    counts: dict[str, int] = field(default_factory=dict)  # HTTP requests through the proxy
    fsync: int | None = None
    facts: dict[str, object] = field(default_factory=dict)  # W7: what a failed run left

    def set_status(self, status: str, note: str) -> None:
        self.status, self.note = status, note

    def add(self, rep: int, seconds: float, peak_mb: float) -> None:
        self.runs[rep] = (seconds, peak_mb)

    @property
    def times(self) -> list[float]:
        return [s for s, _ in self.runs.values()]

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.runs else None

    @property
    def peak(self) -> float | None:
        return max(m for _, m in self.runs.values()) if self.runs else None

    def as_json(self) -> dict[str, object]:
        return {
            "case": self.case,
            "workload": self.workload,
            "title": self.title,
            "target": self.target,
            "op": self.op,
            "tool": self.tool,
            "label": self.label,
            "status": self.status,
            "note": self.note,
            "runs": [
                {"rep": rep, "seconds": round(s, 4), "peak_mb": round(m, 1)}
                for rep, (s, m) in sorted(self.runs.items())
            ],
            "median_s": _round(self.median),
            "min_s": _round(min(self.times)) if self.runs else None,
            "max_s": _round(max(self.times)) if self.runs else None,
            "peak_mb": _round(self.peak, 1),
            "http": self.counts or None,
            "fsync": self.fsync,
            "facts": self.facts or None,
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def pair_ratio(ours: Row | None, peer: Row | None) -> float | None:
    """Median over repetitions of ours_i / peer_i (only repetitions both have)."""
    if ours is None or peer is None:
        return None
    common = sorted(set(ours.runs) & set(peer.runs))
    ratios = [ours.runs[i][0] / peer.runs[i][0] for i in common if peer.runs[i][0] > 0]
    return statistics.median(ratios) if ratios else None


class Report:
    def __init__(self, tools: dict[str, Tool], notes: list[str], json_path: Path) -> None:
        self.notes = notes
        self.json_path = json_path
        self.rows: list[Row] = []
        self.meta: dict[str, object] = {}
        if tools:
            self.meta = machine_info(tools)
            self.meta["args"] = sys.argv[1:]
            self.meta["load_average_start"] = _loadavg()
            self.meta["startup_s"] = startup_time()

    @classmethod
    def load(cls, source: Path, json_path: Path) -> Report:
        """A finished run read back from its JSON file (to render it again)."""
        doc = json.loads(source.read_text())
        report = cls({}, list(doc["meta"].get("notes", [])), json_path)
        report.meta = {k: v for k, v in doc["meta"].items() if k != "notes"}
        for item in doc["rows"]:
            row = Row(
                item["case"], item["workload"], item["title"], item["target"], item["op"],
                item["tool"], item["label"], item["status"], item["note"],
            )  # fmt: skip
            row.runs = {r["rep"]: (r["seconds"], r["peak_mb"]) for r in item["runs"]}
            row.counts = item["http"] or {}
            row.fsync = item["fsync"]
            row.facts = item.get("facts") or {}
            report.rows.append(row)
        return report

    def row(self, case: Case, op: str, tool: Tool) -> Row:
        row = Row(case.id, case.workload, case.title, case.target, op, tool.key, tool.label)
        self.rows.append(row)
        return row

    def find(self, case: str, op: str, tool: str) -> Row | None:
        for row in self.rows:
            if (row.case, row.op, row.tool) == (case, op, tool):
                return row
        return None

    def case_done(self, case: Case) -> None:
        print(self.markdown_table(case.id), flush=True)
        print(flush=True)
        self.write_json()

    def finish(self, seconds: float) -> None:
        self.meta["load_average_end"] = _loadavg()
        self.meta["runtime_s"] = round(seconds, 1)
        self.write_json()

    # -- output -----------------------------------------------------------------------

    def markdown_table(self, only_case: str | None = None) -> str:
        head = (
            "| workload | target | op | tool | runs | median s | min-max s | peak MB |"
            " ours ÷ tool | ours 1-tx ÷ tool | HTTP requests | fsync | note |"
        )
        lines = [head, "|" + "---|" * 13]
        for row in self.rows:
            if only_case and row.case != only_case:
                continue
            ours = self.find(row.case, row.op, "ours")
            single = self.find(row.case, row.op, "ours-1tx")
            peer = row.tool not in ("ours", "ours-1tx")  # ours-before is a peer here
            ratio = pair_ratio(ours, row) if peer else None
            ratio1 = pair_ratio(single, row) if peer else None
            times = row.times
            http = ""
            if row.counts:
                http = f"{row.counts['http_requests']} ({row.counts['connections']} conn)"
            note = row.note if row.status == "ok" else f"**{row.status}**: {row.note}"
            if row.facts:
                note = "; ".join(p for p in (note, summary(row.facts)) if p)
            op = "up (no-op)" if row.workload == "W4" and row.op == "up" else row.op
            cells = [
                f"{row.workload} {row.title}",
                row.target,
                op,
                row.label,
                str(len(times)) if times else "-",
                _fmt(row.median, 3),
                f"{min(times):.3f}-{max(times):.3f}" if times else "-",
                _fmt(row.peak, 0),
                _fmt(ratio, 2),
                _fmt(ratio1, 2),
                http or "-",
                "-" if row.fsync is None else str(row.fsync),
                note.replace("|", "\\|").replace("\n", " "),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def targets(self) -> list[dict[str, object]]:
        """Issue 7's targets, then issue 13's (each entry says which in ``issue``)."""
        import _targets
        import _targets13

        found = [{"issue": 7, **t} for t in _targets.evaluate(self)]
        return found + [{"issue": 13, **t} for t in _targets13.evaluate(self)]

    def targets_markdown(self, skip_not_run: bool = False) -> str:
        """The targets table; ``skip_not_run`` leaves out those whose case did not run."""
        lines = ["| issue | target | measured | met? | context |", "|---|---|---|---|---|"]
        for t in self.targets():
            if skip_not_run and t["met"] is None and ": not run)" in str(t["measured"]):
                continue
            met = _MET[t["met"]]  # type: ignore[index]
            cells = [str(t["issue"]), str(t["target"]), str(t["measured"]), met, str(t["context"])]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines)

    def as_json(self) -> dict[str, object]:
        return {
            "schema_version": 1,
            "meta": {**self.meta, "notes": self.notes},
            "rows": [row.as_json() for row in self.rows],
            "targets": self.targets(),
        }

    def write_json(self) -> None:
        self.json_path.write_text(json.dumps(self.as_json(), indent=1) + "\n")

    def write_results_md(self, path: Path) -> None:
        m = self.meta
        lines = [
            "# Benchmark results",
            "",
            "Generated by `nox -s bench` (benchmarks/run.py); do not edit by hand. How the",
            "numbers are taken: [README.md](README.md). Raw numbers: [results.json](results.json).",
            "",
            f"- Date: {m['date']} (runtime {m.get('runtime_s', '?')} s)",
            f"- Commit: {m['commit']}",
            f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}",
            f"- Load average at start / end: {m['load_average_start']} / {m.get('load_average_end')}"
            " — the machine is shared with other jobs, so times are noisy; the pair-by-pair"
            " ratios (tools run alternately) and the counts (HTTP requests, fsync) are the steadier numbers.",
            f"- Python {m['python']}, node {m['node']}, sqld {m['sqld']}, sqlite3 {m['sqlite3']}",
            f"- Our start-up alone (`libsql-migrate --list`, median of 5): {m['startup_s']} s",
            "- Peers: " + "; ".join(_peer(k, v) for k, v in m["peers"].items()),  # type: ignore[union-attr]
            f"- Arguments: `{' '.join(m.get('args') or []) or '(none)'}`",
        ]
        lines += [f"- Note: {n}" for n in self.notes]
        lines += ["", "## Targets (computed from the numbers below)", "", self.targets_markdown()]
        lines += ["", "## All numbers", "", self.markdown_table(), ""]
        path.write_text("\n".join(lines))


_MET = {True: "**MET**", False: "**NOT MET**", None: "not measured", "info": "(reported)"}


def _peer(key: str, version: str) -> str:
    return version if version.lower().startswith(key) else f"{key} {version}"


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _output(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0]
        if (done.stdout or done.stderr).strip()
        else "?"
    )


def startup_time() -> float | None:
    """Median wall time of ``libsql-migrate --list``: interpreter, imports, Invoke."""
    from _measure import Command, run_measured

    cli = Path(sys.executable).parent / "libsql-migrate"
    if not cli.exists():
        return None
    runs = [run_measured(Command([str(cli), "--list"], HERE, clean_env()), 60) for _ in range(5)]
    return round(statistics.median(r.seconds for r in runs), 3)


def machine_info(tools: dict[str, Tool]) -> dict[str, object]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f"{kb / 1e6:.0f}"
    except (OSError, ValueError, IndexError):
        pass
    from _measure import sqld_binary

    try:
        sqld = _output(str(sqld_binary()), "--version")
        while sqld.startswith("sqld "):  # "sqld sqld 0.24.32 (...)"
            sqld = sqld[5:]
    except Exception as exc:  # sqld missing: reported, the sqld cases will fail
        sqld = f"unavailable ({exc})"
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git_commit(),
        "single_transaction_flag": has_single_transaction(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "node": _output("node", "--version") if shutil.which("node") else "missing",
        "sqld": sqld,
        "sqlite3": _output("sqlite3", "-version").split(" ")[0]
        if shutil.which("sqlite3")
        else "missing",
        "strace": bool(shutil.which("strace")),
        "peers": {
            k: (t.unavailable() or t.version())
            for k, t in tools.items()
            if k not in ("ours", "ours-1tx")
        },
    }
