"""A generated migration as values: its operations, and the file's text.

Each operation has its up statements and the down statements that undo exactly those;
the down section runs the operations' downs in reverse order, so it restores the schema
step by step (``render.py`` builds the operations).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from migrate_tasks.autogenerate.diff import Note


@dataclass
class Operation:
    """Statements of the up section, and those that undo them in the down section."""

    up: list[str] = field(default_factory=list)
    #: In the order the down section runs them.
    down: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Migration:
    """The statements of both sections (entries starting with ``--`` are comments)."""

    up: tuple[str, ...]
    down: tuple[str, ...]
    up_foreign_keys_off: bool = False
    down_foreign_keys_off: bool = False
    #: Tables the up section rebuilds.
    rebuilt: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()

    def text(self, preamble: Sequence[str] = ()) -> str:
        """The migration file: comment lines, then both sections (docs/file-format.md)."""
        lines = [f"-- {line}" if line else "--" for line in preamble]
        for header, statements, off in (
            ("-- migrate:up", self.up, self.up_foreign_keys_off),
            ("-- migrate:down", self.down, self.down_foreign_keys_off),
        ):
            if lines:
                lines.append("")
            lines.append(header + (" foreign_keys:off" if off else ""))
            spaced = False  # a blank line around comments and multi-line statements
            after_comment = False
            for i, statement in enumerate(statements):
                comment = statement.startswith("--")
                block = comment or "\n" in statement.strip()
                if i and (block or spaced) and not after_comment:
                    lines.append("")
                lines.append(_terminated(statement))
                spaced, after_comment = block and not comment, comment
        return "\n".join(lines) + "\n"


def _terminated(statement: str) -> str:
    text = statement.strip()
    if text.startswith("--"):
        return text
    last_line = text.rsplit("\n", 1)[-1]
    return text + ("\n;" if "--" in last_line else ";")
