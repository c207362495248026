"""npm packages for the tests and the benchmarks: install pinned versions, find dbmate.

The ``dbmate`` npm package is a node wrapper whose real Go binary arrives through an
optional dependency per platform (``@dbmate/linux-x64`` ...). We run that binary itself:
node's start-up is not dbmate's. The tests install dbmate on first use into a cache
folder (``dbmate()``); the benchmarks install all their npm peers into their own folder
(``install``). Both need ``npm`` on PATH (CI machines have it).
"""

from __future__ import annotations

import fcntl
import functools
import glob
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

#: Pinned, so that test results and benchmark numbers stay comparable across commits.
DBMATE_VERSION = "2.36.0"
#: Mermaid's own parser checks the review report's ER diagrams (the last 11.x: 12 needs
#: Node 22.12, and GitHub renders with 11).
MERMAID_VERSION = "11.17.2"
#: Reads a JSON list of diagrams on stdin, prints a JSON list of errors (null: parsed).
MERMAID_CHECK = Path(__file__).with_name("mermaid_check.mjs")


class NpmUnavailable(RuntimeError):
    """npm is missing or an install failed (the message says why)."""


def node_missing() -> str | None:
    """None when node and npm are on PATH, else why not."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm not found (the npm packages need them)"
    return None


def install(folder: Path, packages: Mapping[str, str], log: Callable[[str], None]) -> str | None:
    """``npm install`` the pinned ``packages`` into ``folder``; None, or why not."""
    if node_missing():
        return node_missing()
    if all(npm_version(folder, name) == version for name, version in packages.items()):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    package = {"private": True, "dependencies": dict(packages)}
    (folder / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    log(f"npm install {' '.join(f'{k}@{v}' for k, v in packages.items())} in {folder}")
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
        check=False,
    )
    npm_version.cache_clear()
    if done.returncode != 0:
        return f"npm install failed: {done.stderr.strip()[-500:]}"
    return None


@functools.cache
def npm_version(folder: Path, name: str) -> str:
    """The installed version of ``name`` under ``folder``/node_modules ("" if none)."""
    try:
        doc = json.loads((folder / "node_modules" / name / "package.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(doc.get("version", ""))


def dbmate_binary(folder: Path) -> Path | None:
    """The platform's dbmate binary installed under ``folder``, if any."""
    pattern = str(folder / "node_modules" / "@dbmate" / "*" / "bin" / "dbmate")
    found = sorted(glob.glob(pattern))
    return Path(found[0]) if found else None


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "migrate_tasks-tests" / f"dbmate-{DBMATE_VERSION}"


def dbmate() -> Path:
    """The real dbmate binary (``DBMATE_VERSION``), installed from npm on first use.

    Installed into a private temporary folder that is then renamed into the cache, so
    two test runs at once never see a half-installed package; test sessions running at
    once (xdist workers) take turns through a lock file, so only one of them installs.
    """
    final = cache_folder()
    if _usable(final):
        return dbmate_binary(final)  # type: ignore[return-value]
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        npm_version.cache_clear()  # another session may have installed it meanwhile
        return _install_dbmate(final)


def _install_dbmate(final: Path) -> Path:
    if _usable(final):
        return dbmate_binary(final)  # type: ignore[return-value]
    if node_missing():
        raise NpmUnavailable(
            "the dbmate compatibility tests install the real dbmate with npm, and npm is not"
            " on PATH: install Node.js (which ships npm)"
        )
    staging = Path(tempfile.mkdtemp(prefix="dbmate-", dir=final.parent))
    problem = install(staging, {"dbmate": DBMATE_VERSION}, lambda _line: None)
    if problem is None and dbmate_binary(staging) is None:
        problem = "npm installed dbmate without a binary for this platform"
    if problem is not None:
        shutil.rmtree(staging, ignore_errors=True)
        raise NpmUnavailable(f"installing dbmate {DBMATE_VERSION} from npm: {problem}")
    npm_version.cache_clear()
    if final.exists() and not _usable(final):
        shutil.rmtree(final, ignore_errors=True)  # a broken earlier install
    try:
        staging.rename(final)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    npm_version.cache_clear()
    binary = dbmate_binary(final)
    if binary is None:
        raise NpmUnavailable(f"dbmate is not in {final} after installing it")
    return binary


def _usable(folder: Path) -> bool:
    return dbmate_binary(folder) is not None and npm_version(folder, "dbmate") == DBMATE_VERSION


def mermaid_folder() -> Path:
    """Where ``mermaid`` is installed for the tests (a node_modules inside), installed from
    npm on first use like dbmate: into a private folder, then renamed into the cache."""
    final = cache_folder().parent / f"mermaid-{MERMAID_VERSION}"
    if npm_version(final, "mermaid") == MERMAID_VERSION:
        return final
    if node_missing():
        raise NpmUnavailable(
            "the review report's diagrams are checked by Mermaid's parser, installed with"
            " npm, and node/npm are not on PATH: install Node.js (which ships npm)"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="mermaid-", dir=final.parent))
    problem = install(staging, {"mermaid": MERMAID_VERSION}, lambda _line: None)
    if problem is not None:
        shutil.rmtree(staging, ignore_errors=True)
        raise NpmUnavailable(f"installing mermaid {MERMAID_VERSION} from npm: {problem}")
    if final.exists():
        shutil.rmtree(final, ignore_errors=True)  # a broken earlier install
    try:
        staging.rename(final)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    npm_version.cache_clear()
    return final


def mermaid_errors(diagrams: list[str]) -> list[str | None]:
    """Mermaid's parser on each diagram: None where it parses, else Mermaid's message."""
    folder = mermaid_folder()
    done = subprocess.run(
        ["node", str(MERMAID_CHECK)],
        input=json.dumps(diagrams),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise NpmUnavailable(f"running Mermaid's parser failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout)
