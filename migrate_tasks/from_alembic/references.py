"""What in a project still points at Alembic once its files are gone (``retire-alembic``).

A reference is a line that would break, or keep Alembic alive, without them:

- ``import``: a Python import of ``alembic`` or ``flask_migrate`` (in any file: a doc's
  code block counts too);
- ``command``: ``alembic upgrade ...`` and the other subcommands, ``python -m alembic``,
  ``["alembic", "upgrade", ...]`` in a subprocess call, ``flask db upgrade``;
- ``config``: the configuration file by name (``alembic.ini``, or the one retired);
- ``folder``: the script folder by its path (``alembic/``, ``app/alembic``);
- ``mention``: the word ``alembic`` anywhere in a build, CI, packaging or script file
  (requirements, pyproject.toml, setup.cfg, tox.ini, noxfile.py, Makefile, Dockerfile,
  compose files, shell scripts, CI configuration, pre-commit), where it is a dependency,
  an exclusion or a step. Prose in docs and comments in code may say "Alembic" freely.

Our own task names (``import-alembic``, ``retire-alembic``) and Alembic's old table name
(``alembic_version``) are not references. Generated and third-party folders (.git,
virtualenvs, node_modules, caches, build output), lock files (regenerate them after
dropping the dependency) and ``.sql`` files (migrations imported from Alembic name their
revision in a header) are not read.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from migrate_tasks.config.secrets import scrub

__all__ = [
    "BACKUP_TITLE",
    "MAX_BYTES",
    "Reference",
    "ScanResult",
    "find_references",
    "is_backup",
    "scan_root",
]

#: The first words of a backup's README: a backup found later is not read (its copies
#: are all references, on purpose).
BACKUP_TITLE = "# Alembic files retired on"
#: Files larger than this are not read (their names are reported instead).
MAX_BYTES = 2 * 1024 * 1024

_SKIP_DIRS = {
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".eggs", ".idea", "site-packages", ".venv", "venv",
    "htmlcov", ".cache",
}  # fmt: skip
_SKIP_ROOT_DIRS = {"build", "dist"}
#: Lock files are regenerated, not edited; SQL never runs Alembic, and our migrations name
#: the revision they were imported from in their header.
_UNREAD_FILES = (
    "*.lock", "package-lock.json", "pnpm-lock.yaml", "npm-shrinkwrap.json", "*.sql",
)  # fmt: skip
_OPS_NAMES = {
    "makefile", "gnumakefile", "justfile", "procfile", "dockerfile", "containerfile",
    "tox.ini", "noxfile.py", "setup.py", "setup.cfg", "pyproject.toml", "pipfile",
    "jenkinsfile", ".gitlab-ci.yml", ".travis.yml", ".drone.yml", "azure-pipelines.yml",
    "bitbucket-pipelines.yml", ".pre-commit-config.yaml", "tasks.py", "fabfile.py",
    "taskfile.yml", "taskfile.yaml", "environment.yml", "environment.yaml", ".dockerignore",
}  # fmt: skip
_OPS_PATTERNS = (
    "dockerfile.*", "*.dockerfile", "containerfile.*", "*compose*.yml", "*compose*.yaml",
    "requirements*.txt", "requirements*.in", "constraints*.txt", "*.mk", "*.sh", "*.bash",
    "*.zsh", "*.ps1", "*.bat", "*.cmd",
)  # fmt: skip
_OPS_DIRS = {".github", ".circleci", ".gitlab", ".buildkite", ".woodpecker", ".ci"}
_PYTHON = (".py", ".pyi")

_SUBCOMMANDS = (
    "upgrade|downgrade|revision|stamp|current|history|heads|branches|merge|check|init|show"
    "|edit|ensure_version|list_templates"
)
_IMPORT = re.compile(
    r"^\s*(?:>>>\s*)?(?:from\s+(?:alembic|flask_migrate)(?:\.[\w.]+)?\s+import\b"
    r"|import\s+(?:[\w.]+(?:\s+as\s+\w+)?\s*,\s*)*(?:alembic|flask_migrate)\b)"
)
_COMMAND = re.compile(
    rf"(?<![\w.-])alembic(?:\s+-{{1,2}}[\w-]+(?:[ =](?!(?:{_SUBCOMMANDS})\b)[^\s-]\S*)?)*"
    rf"\s+(?:{_SUBCOMMANDS})\b"
    r"|\bpython[\d.]*\s+-m\s+alembic\b"
    rf"|[\"']alembic[\"']\s*,\s*[\"'](?:-|(?:{_SUBCOMMANDS})\b)"
    r"|(?<![\w.-])flask\s+db\s+(?:upgrade|downgrade|migrate|revision|stamp|init|current"
    r"|history|heads|branches|merge|check|show|edit)\b"
)
_MENTION = re.compile(r"(?i)(?<![\w.])alembic(?!\w)")
_OUR_NAMES = re.compile(r"(?i)(?:import|retire)[-_]alembic")
_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")


@dataclass(frozen=True)
class Reference:
    """One line that still points at Alembic."""

    path: Path
    line: int
    kind: str  # import | command | config | folder | mention
    text: str  # the line, shortened, passwords masked; empty for .env files


@dataclass
class ScanResult:
    references: list[Reference]
    too_large: list[Path]  # not read: over MAX_BYTES


def scan_root(start: Path) -> Path:
    """The git work tree ``start`` is in (CI files live at its top), else ``start``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def find_references(
    root: Path, *, skip: Collection[Path], config_names: Sequence[str], folders: Sequence[str]
) -> ScanResult:
    """Every reference under ``root``, in path and line order. ``skip``: files and folders
    not to read (the ones being retired, the backup, our migrations folder);
    ``config_names``: file names of the Alembic configuration; ``folders``: the script
    folder's paths as a project might spell them (relative to the root, to the config)."""
    root = root.resolve()
    patterns = [("config", _name_pattern(name)) for name in dict.fromkeys(config_names)]
    patterns += [("folder", _folder_pattern(folder)) for folder in dict.fromkeys(folders)]
    skipped = {os.path.normcase(str(p.resolve())) for p in skip}
    result = ScanResult([], [])
    for path in _files(root, skipped):
        try:
            if path.stat().st_size > MAX_BYTES:
                result.too_large.append(path)
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if b"\0" in data[:8192]:
            continue  # binary
        text = data.decode("utf-8", errors="replace")
        result.references += _scan_text(path, text, root, patterns)
    result.references.sort(key=lambda r: (r.path.relative_to(root).as_posix(), r.line))
    return result


def _scan_text(
    path: Path, text: str, root: Path, patterns: Sequence[tuple[str, re.Pattern[str]]]
) -> Iterator[Reference]:
    ops = _is_ops_file(path, root)
    secret = path.name.lower().startswith(".env")
    for number, line in enumerate(text.splitlines(), start=1):
        lowered = line.lower()
        hint = "alembic" in lowered or "flask" in lowered
        if not hint and not any(p.search(line) for _, p in patterns):
            continue
        kind = _kind(line, ops, patterns)
        if kind:
            shown = "" if secret else _shown(line)
            yield Reference(path, number, kind, shown)


def _kind(line: str, ops: bool, patterns: Sequence[tuple[str, re.Pattern[str]]]) -> str | None:
    cleaned = _OUR_NAMES.sub(" ", line)
    if _IMPORT.search(cleaned):
        return "import"
    if _COMMAND.search(cleaned):
        return "command"
    for kind, pattern in patterns:
        if pattern.search(cleaned):
            return kind
    if ops and _MENTION.search(cleaned):
        return "mention"
    return None


def _name_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w-])")


def _folder_pattern(folder: str) -> re.Pattern[str]:
    """``app/alembic`` anywhere as a path; a one-part name only with its slash (``alembic/``)."""
    spelled = re.escape(folder.strip("/"))
    if "/" in folder.strip("/"):
        return re.compile(rf"(?<![\w.-]){spelled}(?![\w.-])")
    return re.compile(rf"(?<![\w.-]){spelled}/")


def _is_ops_file(path: Path, root: Path) -> bool:
    name = path.name.lower()
    if name in _OPS_NAMES or name.startswith(".env"):
        return True
    if any(fnmatch.fnmatch(name, pattern) for pattern in _OPS_PATTERNS):
        return True
    parts = path.relative_to(root).parts[:-1]
    return any(part.lower() in _OPS_DIRS for part in parts)


def _shown(line: str, limit: int = 120) -> str:
    text = scrub(_PASSWORD.sub(r"\1***@", line.strip()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _files(root: Path, skipped: set[str]) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not _skip_dir(here, d, root, skipped))
        for name in sorted(files):
            path = here / name
            if os.path.normcase(str(path)) in skipped or path.is_symlink():
                continue
            if any(fnmatch.fnmatch(name.lower(), pattern) for pattern in _UNREAD_FILES):
                continue
            yield path


def _skip_dir(parent: Path, name: str, root: Path, skipped: set[str]) -> bool:
    path = parent / name
    if name in _SKIP_DIRS or name.endswith(".egg-info") or path.is_symlink():
        return True
    if parent == root and name in _SKIP_ROOT_DIRS:
        return True
    if (path / "pyvenv.cfg").is_file() or is_backup(path):
        return True
    return os.path.normcase(str(path)) in skipped


def is_backup(folder: Path) -> bool:
    """Whether ``folder`` is a backup ``retire-alembic`` made."""
    try:
        with (folder / "README.md").open(encoding="utf-8", errors="replace") as handle:
            title = handle.readline()
    except OSError:
        return False
    return title.startswith(BACKUP_TITLE) and (folder / "SHA256SUMS").is_file()
