"""The options a section header may carry (``-- migrate:up transaction:false``), read strictly.

A module of its own so that the file format's options live in one table: adding one is
an entry in ``KNOWN_OPTIONS`` (or ``PATTERN_OPTIONS``), and everything that reads a
header (``files.parser``) refuses what the table does not name, where dbmate would take
a misspelt option for a comment and silently run the section differently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from migrate_tasks.errors import MigrationFileError

#: Options allowed on a section header, and the values each accepts.
#: Adding an option (e.g. ``"foreign_keys": ("on", "off")``) is one line here.
KNOWN_OPTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "transaction": ("true", "false"),
        # off: run the section with foreign keys off and check them all before COMMIT
        # (the table rebuild SQLite documents; see docs/libsql.md).
        "foreign_keys": ("on", "off"),
    }
)

#: Options whose value is free-form, checked by a pattern instead: ``nolint:LS101,LS203``
#: silences those lint rules for the section (``migrate_tasks.lint``; dbmate ignores it).
PATTERN_OPTIONS: Mapping[str, re.Pattern[str]] = MappingProxyType(
    {"nolint": re.compile(r"[A-Z]+[0-9]+(?:,[A-Z]+[0-9]+)*")}
)


def parse_options(
    rest: str, path: str, line: int, *, known: Mapping[str, tuple[str, ...]] = KNOWN_OPTIONS
) -> dict[str, str]:
    """The options written after a header's direction, exactly as written; or the error.

    ``known`` is the table of options and their values (``KNOWN_OPTIONS`` unless the
    caller holds another): the error for an unknown option lists what it allows.
    """
    listed = ", ".join(f"{key}:{'|'.join(values)}" for key, values in known.items())
    listed += ", nolint:RULE[,RULE...]"
    options: dict[str, str] = {}
    for word in rest.split():
        key, colon, value = word.partition(":")
        if not colon or (key not in known and key not in PATTERN_OPTIONS):
            raise MigrationFileError(
                path, line, f"unknown section option {word!r}; known options: {listed}"
            )
        if key in PATTERN_OPTIONS:
            if not PATTERN_OPTIONS[key].fullmatch(value):
                raise MigrationFileError(
                    path,
                    line,
                    f"option {word!r}: {key} takes lint rule ids separated by commas,"
                    f" without spaces, e.g. {key}:LS101,LS203",
                )
        elif value not in known[key]:
            allowed = " or ".join(known[key])
            raise MigrationFileError(
                path, line, f"option {key!r} must be {allowed} (lower case), not {value!r}"
            )
        if key in options:
            raise MigrationFileError(path, line, f"option {key!r} is given twice")
        options[key] = value
    if options.get("foreign_keys") == "off" and options.get("transaction") == "false":
        raise MigrationFileError(
            path,
            line,
            "foreign_keys:off cannot be combined with transaction:false: foreign keys are"
            " turned off around ONE transaction and every reference is checked before it"
            " commits, so that broken references are never committed; without a"
            " transaction each statement would commit unchecked (and on a server the"
            " switch would not even reach the next statement). Keep the transaction, or"
            " move the statements that need transaction:false into their own migration",
        )
    return options
