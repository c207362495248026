"""The schema of a database as canonical text: for ``dump`` (schema.sql) and ``verify``.

SQLite keeps each object's ``CREATE`` statement as written (or as rewritten by ``ALTER
TABLE``), so the same schema reached by two paths can differ in whitespace, comments,
keyword case and identifier quoting: ``ALTER TABLE x RENAME TO users`` stores
``CREATE TABLE "users"``, and a down section that rebuilds a table types its own text.
One normaliser (:func:`normalise_sql`) turns every statement into one canonical form, so
``dump`` output only changes when the schema does, and comparisons (schemadiff.py) see
schemas, not typing habits. Canonical form:

- comments dropped, tokens separated by single spaces (none inside ``f(x)``, ``a.b``,
  before ``,`` ``;`` ``)``), SQLite keywords upper-case where they are keywords (most
  of them are names elsewhere: ``CREATE TABLE groups (action TEXT)`` keeps ``groups``
  and ``action`` as written; sqlwords.py tells them apart);
- names keep their spelling; quoted ones (``"x"``, ``[x]``, `` `x` ``) are unquoted when
  the bare word means the same thing (a plain identifier, not a keyword, TRUE or FALSE;
  libSQL refuses double-quoted strings, so ``"x"`` is always a name); ``fold_case``
  (comparisons of expressions only: SQLite resolves names case-insensitively) also
  lower-cases them;
- string and blob literals and numbers kept as written;
- a ``CREATE TABLE`` body one column or constraint per line, a trigger body one
  statement per line, so a diff shows the column that changed.

Left out: ``sqlite_*`` internals, our tracking tables, libSQL's vector-index shadow
tables (``libsql_vector_meta_shadow`` and ``<index>_shadow`` with its index).
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate_tasks.drivers.base import Driver
from migrate_tasks.engine.plan import version_key
from migrate_tasks.engine.tracking import Record
from migrate_tasks.errors import UsageError
from migrate_tasks.sql.keywords import KEYWORDS, keyword_flags

#: Output order of object types (tables first, so a reader meets them before their indexes).
TYPE_ORDER = ("table", "index", "trigger", "view")
VECTOR_META = "libsql_vector_meta_shadow"
APPLIED_PREFIX = "-- migrate_tasks applied:"
DUMP_HEADER = (
    "-- Schema of the migrated database, written by `invoke migrate.dump` (do not edit).\n"
    "-- Tables, then indexes, triggers and views, each sorted by name; no data.\n"
)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<blob>[xX]'[0-9A-Fa-f]*')
  | (?P<string>'(?:[^']|'')*(?:'|\Z))
  | (?P<quoted>"(?:[^"]|"")*(?:"|\Z)|\[[^\]]*(?:\]|\Z)|`(?:[^`]|``)*(?:`|\Z))
  | (?P<number>0[xX][0-9A-Fa-f]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*)
  | (?P<param>[?][0-9]*|[:@$][A-Za-z0-9_]+)
  | (?P<op>->>|->|\|\||<<|>>|<=|>=|==|!=|<>|.)
    """,
    re.VERBOSE | re.DOTALL,
)
_PLAIN = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*\Z")
#: Quoted names that must stay quoted: keywords, and TRUE/FALSE (bare, they are values).
_NEVER_BARE = KEYWORDS | {"TRUE", "FALSE"}
#: Keywords that end a value, so a following sign is binary (``NULL - 1`` is silly but valid).
_VALUE_KEYWORDS = frozenset({"NULL", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "END"})
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Token:
    kind: str  # keyword | ident | literal | op
    text: str


@dataclass(frozen=True)
class SchemaObject:
    """One row of ``sqlite_schema`` with its statement in canonical form."""

    type: str
    name: str
    table: str
    sql: str


# -- the normaliser -------------------------------------------------------------------------


def tokens(sql: str, *, fold_case: bool = False) -> list[Token]:
    """Canonical tokens of ``sql``: no whitespace or comments, keywords upper-case,
    identifiers unquoted where that is safe and otherwise spelled as written. With
    ``fold_case`` (for comparisons only, never for SQL that is written anywhere)
    identifiers are lower-cased, and a name that is also a keyword is always quoted, so
    ``groups`` and ``"groups"`` compare equal."""
    lexed = [
        (m.lastgroup or "op", m.group())
        for m in _TOKEN.finditer(sql)
        if m.lastgroup not in ("space", "comment")
    ]
    out: list[Token] = []
    for (kind, text), keyword in zip(lexed, keyword_flags(lexed), strict=True):
        if kind == "word":
            if keyword:
                out.append(Token("keyword", text.upper()))
            else:
                out.append(Token("ident", quote_name(fold_name(text)) if fold_case else text))
        elif kind == "quoted":
            out.append(Token("ident", _identifier(text, fold_case)))
        elif kind == "blob":
            out.append(Token("literal", "X'" + text[2:-1].lower() + "'"))
        elif kind == "op":
            out.append(Token("op", text))
        else:
            out.append(Token("literal", text))
    return out


@functools.lru_cache(maxsize=4096)
def normalise_sql(sql: str, *, fold_case: bool = False) -> str:
    """One statement (a ``sqlite_schema.sql`` value) in canonical form, without ``;``.
    Cached: ``verify`` reads the same statements back after every step."""
    toks = tokens(sql, fold_case=fold_case)
    while toks and toks[-1].text == ";":
        toks.pop()
    words = [t.text for t in toks[:3] if t.kind == "keyword"]
    if words[:2] == ["CREATE", "TABLE"] or words == ["CREATE", "TEMP", "TABLE"]:
        return _pretty_table(toks)
    if words[:1] == ["CREATE"] and "TRIGGER" in words:
        return _pretty_trigger(toks)
    return join_tokens(toks)


def join_tokens(toks: Sequence[Token]) -> str:
    """Tokens on one line with canonical spacing."""
    parts: list[str] = []
    for i, tok in enumerate(toks):
        if i and _space_between(toks[i - 2] if i > 1 else None, toks[i - 1], tok):
            parts.append(" ")
        parts.append(tok.text)
    return "".join(parts)


def _space_between(before: Token | None, prev: Token, tok: Token) -> bool:
    if tok.text in (",", ")", ";", ".") or prev.text in ("(", "."):
        return False
    if tok.text == "(":
        return prev.kind != "ident"  # f(x), users(id), VARCHAR(10); but IN (...), KEY (...)
    if prev.text in ("-", "+", "~") and prev.kind == "op":
        return not _unary_position(before)  # DEFAULT -1, (-x), a - 1
    return True


def _unary_position(before: Token | None) -> bool:
    """Does a sign after ``before`` apply to what follows (``-1``) rather than subtract?"""
    if before is None:
        return True
    if before.kind == "op":
        return before.text != ")"
    return before.kind == "keyword" and before.text not in _VALUE_KEYWORDS


def _identifier(quoted: str, fold_case: bool) -> str:
    inner = quoted[1:-1] if len(quoted) > 1 and quoted[-1] in '"]`' else quoted[1:]
    if quoted[0] == '"':
        inner = inner.replace('""', '"')
    elif quoted[0] == "`":
        inner = inner.replace("``", "`")
    return quote_name(fold_name(inner) if fold_case else inner)


def quote_name(name: str) -> str:
    """``name`` bare when the bare word means the same thing everywhere, else quoted."""
    if _PLAIN.match(name) and name.upper() not in _NEVER_BARE:
        return name
    return '"' + name.replace('"', '""') + '"'


def fold_name(name: str) -> str:
    """SQLite folds only ASCII letters when it compares identifiers."""
    return name.translate(_ASCII_LOWER)


def split_top(toks: Sequence[Token], separator: str) -> list[list[Token]]:
    """Split at ``separator`` tokens outside parentheses."""
    groups: list[list[Token]] = [[]]
    depth = 0
    for tok in toks:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        if tok.text == separator and depth == 0:
            groups.append([])
        else:
            groups[-1].append(tok)
    return groups


def _pretty_table(toks: list[Token]) -> str:
    """``CREATE TABLE name (`` then one column or constraint per line, ``)`` and options."""
    depth = 0
    for i, tok in enumerate(toks):
        if tok.text == "AS" and depth == 0:
            break  # CREATE TABLE ... AS SELECT: no column list to lay out
        if tok.text == "(":
            if depth == 0:
                close = matching(toks, i)
                if close is None:
                    break
                head = join_tokens(toks[:i])
                body = ",\n  ".join(join_tokens(g) for g in split_top(toks[i + 1 : close], ","))
                tail = join_tokens(toks[close + 1 :])
                return f"{head} (\n  {body}\n)" + (f" {tail}" if tail else "")
            depth += 1
        elif tok.text == ")":
            depth -= 1
    return join_tokens(toks)


def _pretty_trigger(toks: list[Token]) -> str:
    """The trigger's head, then ``BEGIN``, one body statement per line, ``END``."""
    begin = next((i for i, t in enumerate(toks) if t.kind == "keyword" and t.text == "BEGIN"), None)
    if begin is None or not toks or toks[-1].text != "END":
        return join_tokens(toks)
    statements = [g for g in split_top(toks[begin + 1 : -1], ";") if g]
    body = "".join(f"  {join_tokens(s)};\n" for s in statements)
    return f"{join_tokens(toks[:begin])}\nBEGIN\n{body}END"


def matching(toks: Sequence[Token], open_index: int) -> int | None:
    depth = 0
    for j in range(open_index, len(toks)):
        if toks[j].text == "(":
            depth += 1
        elif toks[j].text == ")":
            depth -= 1
            if depth == 0:
                return j
    return None


# -- reading and rendering a database's schema ----------------------------------------------


def read_schema(driver: Driver, table: str | None) -> list[SchemaObject]:
    """The user's schema objects in output order: tables, indexes, triggers, views, each by
    name. ``table`` is the tracking-table prefix (``<table>``, ``_log`` and ``_lock`` are
    ours and left out); None keeps them (to tell whether a database is empty)."""
    rows = driver.query(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"
        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    )
    return schema_objects(rows, table)


def schema_objects(rows: Iterable[Sequence[object]], table: str | None) -> list[SchemaObject]:
    """Pure part of :func:`read_schema`: filter and normalise ``(type, name, tbl_name, sql)``."""
    rows = [(str(t), str(n), str(tb), str(s)) for t, n, tb, s in rows if s is not None]
    ours = {table, f"{table}_log", f"{table}_lock"} if table else set()
    vector_shadows = {
        f"{name}_shadow"
        for kind, name, _tbl, sql in rows
        if kind == "index"
        and "libsql_vector_idx" in sql.lower()
        and any(t.text.lower() == "libsql_vector_idx" for t in tokens(sql))
    }
    hidden = ours | vector_shadows | {VECTOR_META}
    objects = [
        SchemaObject(kind, name, tbl, normalise_sql(sql))
        for kind, name, tbl, sql in rows
        if kind in TYPE_ORDER
        and not name.lower().startswith("sqlite_")
        and name not in hidden
        and tbl not in hidden
    ]
    return sorted(objects, key=lambda o: (TYPE_ORDER.index(o.type), o.name.lower(), o.name))


def applied_versions(records: Mapping[str, Record]) -> list[str]:
    """Versions recorded as applied, oldest first (for the trailer of schema.sql)."""
    return sorted((v for v, r in records.items() if r.status == "applied"), key=version_key)


def render_schema(objects: Sequence[SchemaObject]) -> str:
    """Every statement followed by ``;`` and a blank line; stable for equal schemas."""
    return "".join(f"{o.sql};\n\n" for o in objects)


def dump_text(objects: Sequence[SchemaObject], applied: Sequence[str]) -> str:
    """The whole schema.sql: header, schema, and the applied versions as a comment."""
    schema = render_schema(objects) or "-- (no tables)\n\n"
    listed = ", ".join(applied) if applied else "(none)"
    trailer = textwrap.wrap(
        listed,
        width=88,
        initial_indent=f"{APPLIED_PREFIX} ",
        subsequent_indent="--   ",
        break_on_hyphens=False,
    )
    return DUMP_HEADER + "\n" + schema + "\n".join(trailer) + "\n"


def unified_diff(before: str, after: str, before_label: str, after_label: str) -> str:
    """A readable line diff; empty when the texts are equal."""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), before_label, after_label, lineterm=""
    )
    return "\n".join(lines)


# -- dump -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DumpOutcome:
    """The schema.sql a database gives, and how it compares with the file on disk."""

    target: str
    text: str
    up_to_date: bool
    #: Unified diff from the file on disk to ``text``; empty when up to date.
    diff: str
    objects: dict[str, int] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)


def compare_dump(engine: Any, path: Path) -> DumpOutcome:
    """Build schema.sql from ``engine``'s database and compare it with ``path``."""
    objects = read_schema(engine.driver, engine.ledger.table)
    applied = applied_versions(engine.records())
    text = dump_text(objects, applied)
    try:
        current: str | None = path.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n")
    except FileNotFoundError:
        current = None
    # Compared like checksums, CRLF as LF: a literal the database keeps with CRLF (from
    # a CRLF migration) reads back as LF here, as does a Windows checkout's whole file.
    up_to_date = current == text.replace("\r\n", "\n")
    diff = ""
    if not up_to_date:
        before = f"{path} (on disk)" if current is not None else f"{path} (missing)"
        diff = unified_diff(current or "", text, before, f"{path} (from the database)")
    return DumpOutcome(
        engine.driver.display_url,
        text,
        up_to_date,
        diff,
        dict(Counter(o.type for o in objects)),
        applied,
    )


def write_dump(path: Path, text: str) -> None:
    """Replace ``path`` atomically (LF line endings, permissions from the umask), creating
    its folder, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
