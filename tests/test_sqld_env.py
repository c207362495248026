"""scripts/sqld_env.py, which the nox ``migrations`` sessions use to get a throw-away sqld.

Run as the sessions run it: a subprocess whose first stdout line says where sqld is, that
stops sqld when its stdin closes (or on SIGTERM), leaving no process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrate_tasks.drivers import open_driver
from migrate_tasks.errors import AuthFailed

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "sqld_env.py"

pytestmark = pytest.mark.sqld


@contextlib.contextmanager
def helper(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict]]:
    """The script running; killed (and its pipes closed) if the test did not stop it."""
    with subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line, f"no line from the script (exit {proc.poll()})"
            yield proc, json.loads(line)
        finally:
            if proc.poll() is None:
                proc.kill()


def assert_gone(pid: int, url: str) -> None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"sqld (pid {pid}) is still running")
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))


def test_jwt_sqld_accepts_the_minted_token_only_and_stops_when_stdin_closes():
    with helper("--jwt") as (proc, info):
        assert info["url"].startswith("http://127.0.0.1:")
        assert info["auth_token"].count(".") == 2  # a JWT
        driver = open_driver(info["url"], info["auth_token"])
        try:
            assert driver.query("SELECT 1 + 1") == [(2,)]
        finally:
            driver.close()
        anonymous = open_driver(info["url"])
        try:
            with pytest.raises(AuthFailed):
                anonymous.query("SELECT 1")
        finally:
            anonymous.close()
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=120) == 0
    assert_gone(info["pid"], info["url"])


def test_websocket_sqld_without_stdin_stops_on_sigterm():
    with helper("--transport", "ws", "--no-stdin") as (proc, info):
        assert info["url"].startswith("ws://127.0.0.1:") and info["auth_token"] is None
        driver = open_driver(info["url"])
        try:
            assert driver.query("SELECT 'ws'") == [("ws",)]
        finally:
            driver.close()
        assert proc.stdin is not None
        proc.stdin.close()  # ignored with --no-stdin
        time.sleep(0.3)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    assert_gone(info["pid"], info["url"])
