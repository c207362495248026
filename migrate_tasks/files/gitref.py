"""The migrations folder as of a git commit: its file names and their bytes.

``rebase`` needs the names on the branch it moves after; ``lint --since`` and the review
report need what a branch adds since it left its base (``branch_point``), and the review
report the base's files themselves, to build the schema before the branch on a scratch
database. Git is run as a program (``git`` on PATH): no library, and the user's own
configuration.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from migrate_tasks.errors import UsageError
from migrate_tasks.files.source import display_path

__all__ = ["FolderAt", "branch_point", "folder_at"]

#: What a missing ref or branch point usually means in CI, where clones are shallow.
_FETCH_HINT = (
    "fetch it first (git fetch origin BRANCH; in CI, clone the whole history: GitHub's"
    " actions/checkout with fetch-depth: 0, GitLab's GIT_DEPTH: 0)"
)


@dataclass(frozen=True)
class FolderAt:
    """A folder of the work tree as it is in one commit."""

    top: Path  # the work tree's root
    relative: str  # the folder, relative to ``top``, in git's spelling ("." for the root)
    commit: str

    def names(self) -> list[str]:
        """The names of the files directly in the folder ([] if the commit lacks it);
        sub-folders are not files."""
        spec = ["--", f"{self.relative}/"] if self.relative != "." else []
        listed = _git(self.top, "ls-tree", "-z", self.commit, *spec)
        names = []
        for entry in listed.split("\0"):
            info, _, path = entry.partition("\t")
            if path and info.split(" ")[1:2] == ["blob"]:
                names.append(path.rsplit("/", 1)[-1])
        return names

    def read(self, name: str) -> bytes:
        """One file's bytes, exactly as committed (no line-ending conversion)."""
        return _git_bytes(self.top, "cat-file", "blob", f"{self.commit}:{self._path(name)}")

    def read_all(self, names: Iterable[str]) -> dict[str, bytes]:
        """Several files' bytes, as ``read`` gives them, from one git process."""
        wanted = list(names)
        if not wanted:
            return {}
        request = "".join(f"{self.commit}:{self._path(n)}\n" for n in wanted).encode()
        out = _git_bytes(self.top, "cat-file", "--batch", stdin=request)
        found, at = {}, 0
        for name in wanted:
            end = out.index(b"\n", at)
            header = out[at:end].split(b" ")
            if len(header) != 3 or header[1] != b"blob":
                raise UsageError(f"git has no file {self._path(name)} in {self.commit[:12]}")
            size = int(header[2])
            found[name] = out[end + 1 : end + 1 + size]
            at = end + 1 + size + 1  # the content is followed by a newline
        return found

    def _path(self, name: str) -> str:
        return name if self.relative == "." else f"{self.relative}/{name}"


def folder_at(directory: Path, ref: str) -> FolderAt:
    """``directory`` as of the git commit ``ref`` (a branch, tag or commit)."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"{ref!r}: name a branch or commit, e.g. main")
    folder = Path(directory).resolve()
    top = Path(_git(folder, "rev-parse", "--show-toplevel").strip()).resolve()
    try:
        relative = folder.relative_to(top).as_posix()
    except ValueError:
        raise UsageError(f"{display_path(folder)} is not inside the git work tree {top}") from None
    commit = _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    return FolderAt(top, relative, commit)


def branch_point(directory: Path, ref: str) -> FolderAt:
    """``directory`` as of ``git merge-base ref HEAD``: where the branch left ``ref``, so
    that what ``ref`` gained since is not taken for something the branch removed."""
    at = folder_at(directory, ref)
    done = subprocess.run(
        ["git", "merge-base", at.commit, "HEAD"],
        cwd=at.top,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode == 1 and not done.stderr.strip():
        raise UsageError(
            f"{ref!r} and HEAD have no commit in common here: the clone may be shallow;"
            f" {_FETCH_HINT}"
        )
    if done.returncode != 0:
        _git_bytes(at.top, "merge-base", at.commit, "HEAD")  # raises with git's message
    return FolderAt(at.top, at.relative, done.stdout.decode().strip())


def _git(cwd: Path, *args: str) -> str:
    return _git_bytes(cwd, *args).decode("utf-8", "surrogateescape")


def _git_bytes(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            check=False,
        )
    except OSError as exc:
        raise UsageError(f"git could not be run: {exc}") from exc
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = said[-1] if said else f"git {args[0]} exited with {done.returncode}"
        if "--show-toplevel" in args:
            reason = f"{display_path(cwd)} is not in a git work tree ({reason})"
        elif "--verify" in args:
            ref = args[-1].removesuffix("^{commit}")
            reason = f"{ref!r} is not a branch or commit here; {_FETCH_HINT}"
        raise UsageError(reason)
    return done.stdout
