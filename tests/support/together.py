"""Start several real Python processes and release them at one instant (a file barrier).

Each process runs ``python -c BARRIER_PRELUDE + code``: it imports what it needs, says
it is ready (a file), then blocks on a shared ``flock`` of a gate file that the parent
holds exclusively; the parent releases the gate once every process is ready. No test
depends on how close together they then run: whatever the interleaving, the assertions
must hold.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Prepended to each process's code: ``wait_for_the_gate()`` blocks until released.
PRELUDE = """\
import fcntl, os, sys
def wait_for_the_gate():
    with open(os.environ["TOGETHER_GATE"]) as gate:
        open(os.environ["TOGETHER_READY"], "w").close()
        fcntl.flock(gate, fcntl.LOCK_SH)
"""


@dataclass
class Finished:
    """One process after it exited."""

    argv: Sequence[str]
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out.strip().splitlines()[-1])

    def describe(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run_together(
    scripts: Sequence[str],
    workdir: Path,
    *,
    cwd: Path,
    env: Mapping[str, str],
    args: Sequence[Sequence[str]] = (),
    timeout: float = 900,
) -> list[Finished]:
    """Run one process per script (each calls ``wait_for_the_gate()`` where it should
    wait), release them together, wait for all; returns them in order."""
    workdir.mkdir(parents=True, exist_ok=True)
    gate = workdir / "gate"
    gate.write_text("")
    procs: list[tuple[list[str], subprocess.Popen[str]]] = []
    with open(gate) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            readies = []
            for n, script in enumerate(scripts):
                ready = workdir / f"ready-{n}"
                readies.append(ready)
                extra = list(args[n]) if n < len(args) else []
                argv = [sys.executable, "-c", PRELUDE + script, *extra]
                child_env = {**env, "TOGETHER_GATE": str(gate), "TOGETHER_READY": str(ready)}
                procs.append((argv, _start(argv, cwd, child_env)))
            _wait_ready(readies, [p for _, p in procs])
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
    finished = []
    for argv, proc in procs:
        out, err = proc.communicate(timeout=timeout)
        finished.append(Finished(argv, proc.returncode, out, err))
    return finished


def _start(argv: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_ready(readies: list[Path], procs: list[subprocess.Popen[str]]) -> None:
    """Until every process reached the gate (a process that died first fails the test)."""
    deadline = time.monotonic() + 300
    while not all(r.exists() for r in readies):
        for proc in procs:
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"a process exited before the gate:\n{out}\n{err}")
        assert time.monotonic() < deadline, "processes never reached the gate"
        time.sleep(0.01)  # polling for files, not synchronisation: the gate releases them


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without our settings' variables, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIBSQL_", "MIGRAT", "INVOKE_")) and k != "DATABASE_URL"
    }
    root = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return {**env, **extra}
