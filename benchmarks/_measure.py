"""Running one command and measuring it: wall time, peak memory, fsync calls; and sqld.

Wall time is taken around ``Popen`` .. ``wait4`` (process start-up included, as a user
sees it). Peak memory is ``ru_maxrss`` from ``os.wait4``: on Linux that is the largest
resident set of the child *or any descendant it waited for* (node's children included),
not a sum over processes alive at the same time. Every command runs in its own process
group, so a timeout kills the whole tree.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Command:
    argv: list[str]
    cwd: Path
    env: dict[str, str] | None = None
    stdin: Path | None = None  # a file fed on stdin


@dataclass
class Run:
    seconds: float
    peak_mb: float  # megabytes (10**6 bytes)
    code: int
    timed_out: bool
    output: str  # the tail of stdout+stderr, for error reports

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.timed_out


def run_measured(cmd: Command, timeout: float) -> Run:
    """Run ``cmd`` once; kill its process group after ``timeout`` seconds."""
    with tempfile.TemporaryFile() as out:
        stdin = cmd.stdin.open("rb") if cmd.stdin else subprocess.DEVNULL
        killed = threading.Event()
        try:
            started = time.perf_counter()
            proc = subprocess.Popen(
                cmd.argv,
                cwd=cmd.cwd,
                env=cmd.env,
                stdin=stdin,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

            def kill() -> None:
                killed.set()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)

            timer = threading.Timer(timeout, kill)
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            elapsed = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # stray grandchildren, if any
        finally:
            if cmd.stdin:
                stdin.close()  # type: ignore[union-attr]
        out.seek(max(0, out.seek(0, os.SEEK_END) - 64_000))
        tail = out.read().decode(errors="replace")
    return Run(elapsed, usage.ru_maxrss * 1024 / 1e6, proc.returncode, killed.is_set(), tail)


def have_strace() -> bool:
    return shutil.which("strace") is not None


def count_fsyncs(cmd: Command, timeout: float) -> int | None:
    """fsync + fdatasync calls of the whole process tree (``strace -f -c``); None if it fails."""
    if not have_strace():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "strace.txt"
        argv = ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(report)]
        run = run_measured(Command(argv + cmd.argv, cmd.cwd, cmd.env, cmd.stdin), timeout)
        if not run.ok or not report.exists():
            return None
        total = 0
        for line in report.read_text().splitlines():
            fields = line.split()
            if fields and fields[-1] in ("fsync", "fdatasync"):
                numbers = [f for f in fields[:-1] if re.fullmatch(r"\d+", f)]
                # columns: % time, seconds, usecs/call, calls, [errors]
                total += int(numbers[1]) if len(numbers) >= 2 else 0
        return total


# -- sqld -----------------------------------------------------------------------------


def sqld_binary() -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.support.sqld import find_sqld

    return find_sqld()


@dataclass
class Sqld:
    port: int
    admin_port: int | None
    pid: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def create_namespace(self, name: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=30)
        try:
            headers = {"Content-Type": "application/json"}
            conn.request("POST", f"/v1/namespaces/{name}/create", b"{}", headers)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"create namespace {name}: {response.status} {body!r}")
        finally:
            conn.close()


@contextlib.contextmanager
def sqld(namespaces: bool = False) -> Iterator[Sqld]:
    """A fresh sqld on free loopback ports with an empty database folder."""
    sys.path.insert(0, str(ROOT))
    from tests.support.sqld import SqldServer, free_port

    with tempfile.TemporaryDirectory(prefix="bench-sqld-") as tmp:
        admin_port = None
        extra: list[str] = []
        if namespaces:
            admin_port = free_port()
            extra = ["--enable-namespaces", "--admin-listen-addr", f"127.0.0.1:{admin_port}"]
        server = SqldServer(sqld_binary(), Path(tmp), extra)
        server.start()
        try:
            assert server.process is not None
            yield Sqld(server.port, admin_port, server.process.pid)
        finally:
            server.stop()


def hrana_query(url: str, sql: str, host: str | None = None) -> list[list[object]]:
    """Rows of one query over Hrana v2 HTTP (to check what a tool left behind)."""
    hostport = url.split("//", 1)[1]
    host_name, _, port = hostport.partition(":")
    conn = http.client.HTTPConnection(host_name, int(port), timeout=60)
    try:
        body = json.dumps({"requests": [{"type": "execute", "stmt": {"sql": sql}}]})
        headers = {"Content-Type": "application/json"}
        if host:
            headers["Host"] = host
        conn.request("POST", "/v2/pipeline", body.encode(), headers)
        response = conn.getresponse()
        doc = json.loads(response.read())
    finally:
        conn.close()
    result = doc["results"][0]
    if result["type"] != "ok":
        raise RuntimeError(f"query failed: {result}")
    rows = result["response"]["result"]["rows"]
    return [[cell.get("value") for cell in row] for row in rows]
