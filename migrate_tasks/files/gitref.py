"""The migrations folder as of a git commit: its file names and their bytes.

``rebase`` needs the names on the branch it moves after; the review report needs the
files themselves, to build the schema before the branch on a scratch database. Git is
run as a program (``git`` on PATH): no library, and the user's own configuration.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from migrate_tasks.errors import UsageError
from migrate_tasks.files.source import display_path

__all__ = ["FolderAt", "folder_at"]


@dataclass(frozen=True)
class FolderAt:
    """A folder of the work tree as it is in one commit."""

    top: Path  # the work tree's root
    relative: str  # the folder, relative to ``top``, in git's spelling ("." for the root)
    commit: str

    def names(self) -> list[str]:
        """The names of the files directly in the folder ([] if the commit lacks it)."""
        spec = ["--", f"{self.relative}/"] if self.relative != "." else []
        listed = _git(self.top, "ls-tree", "-z", "--name-only", self.commit, *spec)
        return [p.rsplit("/", 1)[-1] for p in listed.split("\0") if p]

    def read(self, name: str) -> bytes:
        """One file's bytes, exactly as committed (no line-ending conversion)."""
        path = name if self.relative == "." else f"{self.relative}/{name}"
        return _git_bytes(self.top, "cat-file", "blob", f"{self.commit}:{path}")


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


def _git(cwd: Path, *args: str) -> str:
    return _git_bytes(cwd, *args).decode("utf-8", "surrogateescape")


def _git_bytes(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL, check=False
        )
    except OSError as exc:
        raise UsageError(f"git could not be run: {exc}") from exc
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = said[-1] if said else f"git {args[0]} exited with {done.returncode}"
        if "--show-toplevel" in args:
            reason = f"{display_path(cwd)} is not in a git work tree ({reason})"
        elif "--verify" in args:
            reason = f"{args[-1].removesuffix('^{commit}')!r} is not a branch or commit here"
        raise UsageError(reason)
    return done.stdout
