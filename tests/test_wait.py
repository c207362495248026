"""``wait`` and ``up --wait``: hold on until the database answers a real query.

The servers start after the task began: the test holds a loopback port (bound, not
listening, so it refuses connections and nobody else takes it), starts the task, reads
its first "waiting for" line (the task has tried and failed at least once), and only then
starts sqld on that port. No sleep decides anything.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from migrate_tasks.errors import ConnectionFailed
from migrate_tasks.ops.wait import wait_until_answers
from tests.support.project import BIN, Project
from tests.support.sqld import SqldServer, closed_port

ONE_MIGRATION = (
    "-- migrate:up\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n-- migrate:down\nDROP TABLE t;\n"
)


def start(project: Project, *args: str) -> subprocess.Popen[str]:
    """``libsql-migrate ARGS`` in the background, its output read by the test."""
    return subprocess.Popen(
        [str(BIN / "libsql-migrate"), *args],
        cwd=project.root,
        env=project.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_wait_line(proc: subprocess.Popen[str]) -> str:
    """Block until the task says it is waiting (it has failed one attempt)."""
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "waiting for" in line, line + proc.stderr.read()
    return line


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_wait_returns_once_a_sqld_started_after_it_answers(tmp_path, sqld_bin, scheme):
    project = Project(tmp_path / "project", "file:unused.db")
    server = SqldServer(sqld_bin, tmp_path / "sqld")
    server.workdir.mkdir()
    with closed_port() as port:
        url = f"{scheme}://127.0.0.1:{port}"
        proc = start(project, "wait", "--url", url, "--wait-timeout", "600")
        assert "refused" in first_wait_line(proc).lower()
    try:
        server.start(port)
        code, out, err = finish(proc)
    finally:
        server.stop()
    assert code == 0, out + err
    attempts = re.search(
        rf"^{re.escape(url)} answers \(after (\d+) attempts, [\d.]+ s\)$", out, re.M
    )
    assert attempts and int(attempts[1]) >= 2, out


@pytest.mark.target("http")
def test_up_wait_applies_the_migrations_once_the_server_answers(tmp_path, sqld_bin):
    project = Project(tmp_path / "project", "file:unused.db")
    project.write("001_t.sql", ONE_MIGRATION)
    server = SqldServer(sqld_bin, tmp_path / "sqld")
    server.workdir.mkdir()
    with closed_port() as port:
        url = f"http://127.0.0.1:{port}"
        proc = start(project, "up", "--wait", "--url", url, "--wait-timeout", "600")
        first_wait_line(proc)
    try:
        server.start(port)
        code, out, err = finish(proc)
        assert code == 0, out + err
        assert "applied 1 migration" in out
        assert f"{url} answers (after" in err  # the wait is logged, stdout stays up's
        project.url = url
        assert project.tracking() == {"001": "applied"}
    finally:
        server.stop()


@pytest.mark.target("file")
def test_wait_for_a_file_whose_folder_is_mounted_later(tmp_path):
    project = Project(tmp_path / "project", "file:unused.db")
    volume = tmp_path / "volume"
    proc = start(project, "wait", "--url", f"file:{volume}/app.db", "--wait-timeout", "600")
    assert "the folder" in first_wait_line(proc)
    volume.mkdir()
    code, out, err = finish(proc)
    assert code == 0, out + err
    assert list(volume.iterdir()) == []  # waiting never creates the database


def test_wait_gives_up_with_exit_5_when_the_timeout_ends(tmp_path):
    project = Project(tmp_path / "project", "file:unused.db")
    with closed_port() as port:
        run = project.cli("wait", "--url", f"http://127.0.0.1:{port}", "--wait-timeout", "0.3")
        up = project.cli("up", "--wait", "--url", f"ws://127.0.0.1:{port}", "--wait-timeout", "0")
    assert run.code == 5, run.err
    assert re.search(
        rf"^error: http://127.0.0.1:{port} did not answer within 0.3 s \(\d+ attempts\);"
        r" the last error: cannot reach .*refused",
        run.err,
        re.M | re.I,
    ), run.err
    assert up.code == 5 and "did not answer within 0 s (1 attempt)" in up.err, up.err
    assert "Traceback" not in run.err + up.err


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_a_refused_token_ends_the_wait_at_once(tmp_path, jwt_sqld, scheme):
    project = Project(tmp_path / "project", "file:unused.db")
    url = jwt_sqld.http_url if scheme == "http" else jwt_sqld.ws_url
    for token in ("not-a-token", None):
        args = ["wait", "--url", url, "--wait-timeout", "600"]
        run = project.cli(*args, *(["--auth-token", token] if token else []), timeout=120)
        assert run.code == 5, run.err
        assert "waiting for" not in run.err and "did not answer" not in run.err
        assert "auth token" in run.err, run.err
        assert "not-a-token" not in run.err
    good = project.cli("wait", "--url", url, "--auth-token", jwt_sqld.mint({}))
    assert good.code == 0 and "answers (after the first attempt" in good.out, good.err


def test_pauses_grow_and_never_pass_the_deadline(tmp_path):
    """The schedule itself, on a fake clock: 50 ms doubling to 1 s, the last pause cut
    short at the deadline, then one last attempt."""
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(round(seconds, 6))
        now[0] += seconds

    retries: list[int] = []
    with pytest.raises(ConnectionFailed, match=r"did not answer within 3 s \(8 attempts\)"):
        wait_until_answers(
            f"file:{tmp_path / 'missing' / 'x.db'}",
            None,
            timeout=3,
            on_retry=lambda attempt, reason: retries.append(attempt),
            clock=lambda: now[0],
            sleep=sleep,
        )
    assert pauses == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 0.45]
    assert retries == [1, 2, 3, 4, 5, 6, 7]


def test_wait_is_in_the_task_list(tmp_path):
    run = Project(tmp_path / "p", "file:unused.db").cli("--list")
    assert re.search(r"^\s+wait\b", run.out, re.M), run.out
