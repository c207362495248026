"""Transaction control in a migration file: which statements would break its transaction.

The tool runs each migration, and records it, in a transaction of its own, so
``BEGIN``, ``COMMIT``, ``END`` and ``ROLLBACK`` (with any trailing words) are refused.
``SAVEPOINT``, ``RELEASE`` and ``ROLLBACK [TRANSACTION] TO`` are allowed in a
transactional section, where they nest inside the migration's own transaction, and
refused in a ``transaction:false`` section, where each statement commits on its own and
a remote connection cannot carry a transaction across them. A module of its own because
the rule is about how migrations run, not about how the file is cut into statements;
``files.parser`` asks it about every statement, so the common case is one slice and one
``startswith``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate_tasks.errors import MigrationFileError
from migrate_tasks.sql.shapes import leading_words

if TYPE_CHECKING:
    from migrate_tasks.files.parser import ScannedSection
    from migrate_tasks.files.splitter import Statement

#: First words of transaction control: a statement starting otherwise is not looked at
#: further (one slice and one ``startswith``: most statements of a big file are INSERTs).
_CONTROL_WORDS = ("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE")


def transaction_control_error(
    statement: Statement, section: ScannedSection, path: str
) -> MigrationFileError | None:
    """The error for a statement that would break the migration's transaction, if it does."""
    if not statement.sql[:9].upper().startswith(_CONTROL_WORDS):
        return None
    words = leading_words(statement.sql, 3)
    if not words or words[0] not in _CONTROL_WORDS:
        return None  # e.g. ENDPOINTS, a table name
    savepointish = words[0] in ("SAVEPOINT", "RELEASE") or (
        words[0] == "ROLLBACK" and "TO" in words[1:]
    )
    header = f"-- migrate:{section.direction}"
    if savepointish:
        if section.transaction:
            return None
        return MigrationFileError(
            path,
            statement.line,
            f"{words[0]} is not allowed in a transaction:false section: each statement there"
            " commits on its own (remote databases cannot keep a transaction or savepoint"
            f" open between statements); remove 'transaction:false' from '{header}' to run"
            " the section in one transaction, where savepoints work",
        )
    if words[0] not in ("BEGIN", "COMMIT", "END", "ROLLBACK"):
        return None
    if section.transaction:
        why = (
            "the tool runs each migration in its own transaction and records it in the same"
            f" transaction. Remove this statement; to run a section without a transaction use"
            f" '{header} transaction:false' (each statement then commits on its own)"
        )
    else:
        why = (
            "in a transaction:false section each statement commits on its own and remote"
            " databases cannot keep a transaction open between statements. Remove this"
            f" statement, or drop 'transaction:false' from '{header}' to run the whole"
            " section in one transaction"
        )
    return MigrationFileError(
        path,
        statement.line,
        f"transaction control ({words[0]}) is not allowed in a migration: {why}",
    )
