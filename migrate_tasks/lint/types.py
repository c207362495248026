"""Declared column types: SQLite's affinity, and whether a type change can alter values.

Shared by the lint's type-change rule and ``generate`` (one wording for both).
"""

from __future__ import annotations

import re

_TYPE = re.compile(r"^(?P<base>[^(]*?)\s*(?:\((?P<args>[^)]*)\))?$")


def affinity(declared: str) -> str:
    """SQLite's column affinity for a declared type (https://sqlite.org/datatype3.html)."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in upper or not upper.strip():
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def narrowing(where: str, before: str, after: str) -> str:
    """A warning when ``before`` -> ``after`` can change or lose stored values ("" if not)."""
    old, new = affinity(before), affinity(after)
    widening = {("INTEGER", "REAL"), ("INTEGER", "NUMERIC"), ("REAL", "NUMERIC")}
    if old != new and new not in ("TEXT", "BLOB") and (old, new) not in widening:
        return (
            f"{where}: {before} -> {after} changes the column's affinity from {old} to {new};"
            " SQLite converts the values it can and keeps the others as they are"
        )
    a, b = _TYPE.match(before), _TYPE.match(after)
    if a and b and a["base"] == b["base"] and a["args"] and b["args"]:
        old_args, new_args = _numbers(a["args"]), _numbers(b["args"])
        if len(old_args) == len(new_args) and any(
            n < o for o, n in zip(old_args, new_args, strict=True)
        ):
            return (
                f"{where}: {before} -> {after} narrows the type; SQLite keeps longer values as"
                " they are, but they no longer fit the declared type"
            )
    return ""


def _numbers(args: str) -> list[int]:
    try:
        return [int(a) for a in args.split(",")]
    except ValueError:
        return []
