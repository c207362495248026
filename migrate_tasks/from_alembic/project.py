"""An Alembic project's files and revision graph, read without importing Alembic or the project.

``retire-alembic`` must work where Alembic is already uninstalled, and must not run the
project's code to find out what to delete: the configuration is read as Alembic reads it
(``configparser`` with ``%(here)s``; a relative ``script_location`` is relative to the
working directory, as for the ``alembic`` command), and revisions are read from the
revision files' syntax tree (their ``revision`` and ``down_revision`` assignments).
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from migrate_tasks.errors import UsageError
from migrate_tasks.files.source import display_path

__all__ = ["AlembicProject", "Revision", "read_project"]

#: How Alembic splits ``version_locations`` when ``path_separator`` names a separator.
_SEPARATORS = {"os": os.pathsep, ":": ":", ";": ";", "space": " ", "newline": "\n"}


@dataclass(frozen=True)
class Revision:
    """One revision file: its id, the ids it revises, and where it is."""

    id: str
    down: tuple[str, ...]
    path: Path


@dataclass
class AlembicProject:
    """The configuration file, the script folder and the version folders of a project."""

    config: Path
    script_dir: Path
    version_dirs: list[Path]
    revisions: list[Revision] = field(default_factory=list)

    @property
    def heads(self) -> list[str]:
        """Revisions no other revision revises, sorted (one for a history without branches)."""
        revised = {down for r in self.revisions for down in r.down}
        return sorted(r.id for r in self.revisions if r.id not in revised)

    @property
    def folders(self) -> list[Path]:
        """The script folder and every version folder outside it, each once."""
        found = [self.script_dir]
        for folder in self.version_dirs:
            if not any(_inside(folder, other) for other in found):
                found.append(folder)
        return found


def read_project(config: Path, section: str = "alembic") -> AlembicProject:
    """The project ``config`` (an ``alembic.ini``) describes; ``UsageError`` names what is
    wrong with it."""
    parser = configparser.ConfigParser({"here": str(config.resolve().parent)})
    try:
        with config.open(encoding="utf-8") as handle:
            parser.read_file(handle)
        options = dict(parser.items(section)) if parser.has_section(section) else {}
    except (configparser.Error, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())
        raise UsageError(f"{display_path(config)}: cannot read it: {reason}") from None
    location = options.get("script_location", "").strip()
    if not location:
        if not (config.parent / "env.py").is_file():
            raise UsageError(
                f"{display_path(config)} has no script_location in its [{section}] section:"
                " is it an Alembic configuration?"
            )
        script_dir = config.resolve().parent  # Flask-Migrate keeps alembic.ini in the folder
    else:
        script_dir = _folder(location, config, "script_location")
    versions = _split(options.get("version_locations", ""), options)
    version_dirs = [_folder(v, config, "version_locations") for v in versions] or [
        script_dir / "versions"
    ]
    project = AlembicProject(config.resolve(), script_dir, version_dirs)
    project.revisions = _revisions(version_dirs)
    return project


def _split(value: str, options: dict[str, str]) -> list[str]:
    separator = options.get("path_separator") or options.get("version_path_separator")
    if separator and separator.strip() in _SEPARATORS:
        parts = value.split(_SEPARATORS[separator.strip()])
    else:  # Alembic's legacy rule: spaces and commas
        parts = re.split(r"[\s,]+", value)
    return [p.strip() for p in parts if p.strip()]


def _folder(location: str, config: Path, option: str) -> Path:
    """A location as Alembic resolves it: a path (relative to the working directory), or
    ``package:path`` inside an importable top-level package."""
    package, colon, rest = location.partition(":")
    if colon and not Path(location).exists() and not re.fullmatch(r"[A-Za-z]", package):
        if "." in package:
            raise UsageError(
                f"{display_path(config)}: {option} {location!r} names a package resource in a"
                " sub-package; give the folder's path instead"
            )
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise UsageError(
                f"{display_path(config)}: {option} {location!r}: package {package!r} cannot be"
                " found from here (run from the folder you run `alembic` in)"
            )
        return (Path(next(iter(spec.submodule_search_locations))) / rest).resolve()
    folder = Path(location).expanduser()
    if not folder.is_dir():
        raise UsageError(
            f"{display_path(config)}: {option} {location!r} is not a folder from"
            f" {display_path(Path.cwd()) or '.'} (Alembic reads a relative location from the"
            " working directory: run from the folder you run `alembic` in)"
        )
    return folder.resolve()


def _revisions(version_dirs: list[Path]) -> list[Revision]:
    found: dict[str, Revision] = {}
    for folder in version_dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            revision = _read_revision(path)
            if revision is not None:
                found.setdefault(revision.id, revision)
    return list(found.values())


def _read_revision(path: Path) -> Revision | None:
    """The ``revision``/``down_revision`` a file assigns at module level; None if it
    assigns no revision (an ``__init__.py``, a helper module)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        where = f"{display_path(path)}:{exc.lineno}" if exc.lineno else display_path(path)
        raise UsageError(f"{where}: not valid Python ({exc.msg})") from None
    except OSError as exc:
        raise UsageError(f"{display_path(path)}: cannot read it: {exc.strerror}") from None
    values: dict[str, object] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                try:
                    values[target.id] = ast.literal_eval(node.value)  # type: ignore[arg-type]
                except ValueError:
                    values[target.id] = None
    revision = values.get("revision")
    if not isinstance(revision, str):
        return None
    down = values.get("down_revision")
    if isinstance(down, str):
        downs: tuple[str, ...] = (down,)
    elif isinstance(down, (list, tuple)):
        downs = tuple(d for d in down if isinstance(d, str))
    else:
        downs = ()
    return Revision(revision, downs, path.resolve())


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
