"""``import-alembic``: the project's configuration and revision history, as Alembic reads them.

Alembic itself reads them (its ``Config`` and ``ScriptDirectory``), so the history is
the one ``alembic upgrade`` would follow; that imports every revision file, and a file
that cannot be imported is named (``failures.py``). ``project.py`` reads the same files
without importing anything, for ``retire-alembic``.
"""

from __future__ import annotations

import configparser
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from migrate_tasks.errors import UsageError
from migrate_tasks.files.source import display_path
from migrate_tasks.from_alembic import failures
from migrate_tasks.from_alembic.sqlgen import Revision
from migrate_tasks.from_alembic.versions import create_date
from migrate_tasks.progname import command


def alembic_command() -> Any:
    """``alembic.command``; a usage error naming the extra to install without Alembic."""
    try:
        import alembic  # noqa: F401
        from alembic import command
    except ImportError:
        raise UsageError(
            "import-alembic needs Alembic and SQLAlchemy: pip install 'migrate_tasks[alembic]'"
        ) from None
    return command


def load_config(path: Path) -> Any:
    """Alembic's Config for ``path``; its printed output is kept out of ours."""
    alembic_command()
    from alembic.config import Config

    if not path.is_file():
        raise UsageError(
            f"no Alembic configuration at {display_path(path)}: pass --config PATH to your"
            " project's alembic.ini"
        )
    cfg = Config(file_=str(path), stdout=io.StringIO())
    try:
        location = cfg.get_main_option("script_location")
    except configparser.Error as exc:
        reason = " ".join(str(exc).split())
        raise UsageError(f"{display_path(path)}: Alembic cannot read it: {reason}") from None
    if not location and (path.parent / "env.py").is_file():
        raise UsageError(
            f"{display_path(path)} has no script_location: it looks like Flask-Migrate's,"
            " whose env.py needs the Flask application's context (current_app), which"
            " import-alembic does not set up. Start from the models instead:"
            f" `{command('generate initial_schema --models package.module:db.metadata')}`"
        )
    if not location:
        raise UsageError(
            f"{display_path(path)} has no script_location in its [alembic] section:"
            " is it an Alembic configuration?"
        )
    return cfg


def load_history(cfg: Any, *, linear: bool) -> list[Revision]:
    """The revisions from base to head. Several heads are refused; with ``linear``, so are
    merge and branch points (one migration per revision needs one order to follow).
    Alembic imports every revision file here: one that cannot be imported is named."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        script = ScriptDirectory.from_config(cfg)
        heads = script.get_heads()
        scripts = list(script.walk_revisions())
    except CommandError as exc:
        raise UsageError(f"Alembic cannot read the history: {exc}") from None
    except (Exception, SystemExit) as exc:
        env_py = str(Path(cfg.get_main_option("script_location") or ".") / "env.py")
        raise failures.load_failure(exc, env_py, []) from None
    if not heads:
        raise UsageError(f"the Alembic history in {script.dir} has no revisions")
    _refuse_forks(scripts, heads, linear=linear)
    revisions = []
    for s in reversed(scripts):  # walk_revisions goes from the heads down
        down = s.down_revision
        downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)
        created, problem = create_date(getattr(s.module, "__doc__", None) or "")
        revisions.append(
            Revision(s.revision, (s.doc or "").strip(), downs, s.path, created, problem)
        )
    return revisions


def _refuse_forks(scripts: list[Any], heads: Sequence[str], *, linear: bool) -> None:
    """Several heads are refused (there would be no one schema to import); with
    ``linear``, so are merge and branch points."""
    by_id = {s.revision: s for s in scripts}
    if len(heads) > 1:
        listed = "; ".join(_describe(by_id[h]) for h in heads)
        raise UsageError(
            f"the Alembic history has {len(heads)} heads ({listed}). Merge them first"
            " (`alembic merge heads -m merge`), so there is one schema to import"
        )
    if linear:
        forks = [s for s in scripts if s.is_merge_point or s.is_branch_point]
        if forks:
            listed = "; ".join(
                f"{_describe(s)} {'merges' if s.is_merge_point else 'branches into'} "
                + ", ".join(sorted(s.down_revision if s.is_merge_point else s.nextrev))
                for s in forks
            )
            raise UsageError(
                "--per-revision needs a linear Alembic history, and this one branches: "
                f"{listed}. Import the head schema as one migration instead (without"
                " --per-revision)"
            )


def _describe(script: Any) -> str:
    doc = (script.doc or "").strip()
    return f'{script.revision} ("{doc}")' if doc else script.revision
