"""The one SQL lexer (``migrate_tasks.sql.lexer``) and the first-words shape built on it.

Where SQLite can say what a token means (a string's value, a quoted name's name, a
parameter's number), the test asks SQLite itself rather than restating the rules.
"""

from __future__ import annotations

import sqlite3
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate_tasks.sql.lexer import NAME_NEXT, NAME_START, Token, tokens, unquote
from migrate_tasks.sql.shapes import leading_words


def kinds(sql: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokens(sql, keep=True)]


# --- one token each --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("'it''s; -- not /* a comment'", "string"),
        ("''", "string"),
        ("'unterminated; runs to the end\nSELECT 1", "string"),
        ("x'00fF'", "blob"),
        ("X''", "blob"),
        ('"a ""b""; c"', "quoted"),
        ("`a ``b``; c`", "quoted"),
        ("[a ''b; c]", "quoted"),
        ('"unterminated', "quoted"),
        ("[unterminated", "quoted"),
        ("-- a comment; 'with' \"quotes\"", "comment"),
        ("/* a ; 'comment' \n over lines */", "comment"),
        ("/* unterminated; runs to the end\nSELECT 1", "comment"),
        ("/**/", "comment"),
        ("--", "comment"),
        ("12", "number"),
        ("1.5", "number"),
        (".5", "number"),
        ("1.", "number"),
        ("1e10", "number"),
        ("1.5E-3", "number"),
        ("0x1F", "number"),
        ("?", "param"),
        ("?12", "param"),
        (":name", "param"),
        ("@name", "param"),
        ("$name", "param"),
        ("#name", "param"),
        (":näme$2", "param"),
        ("users", "word"),
        ("_x$1", "word"),
        ("café", "word"),
        ("名前", "word"),
        ("a\u00a0b", "word"),  # SQLite: every character past ASCII belongs to a name
        (" \t\r\n\f\v", "space"),
        ("\r\n", "space"),
    ],
)
def test_one_token(sql: str, kind: str) -> None:
    assert kinds(sql) == [(kind, sql)]


def test_name_characters_are_sqlites_on_every_code_point() -> None:
    """The lexer spells a name's characters as the ASCII ones they exclude (it compiles
    20x faster): the sets must be exactly ``[A-Za-z_]`` or past ASCII, then also digits
    and ``$``, on all 1,114,112 code points (surrogates included)."""
    import re

    every = "".join(map(chr, range(0x110000)))
    start = "".join(re.findall(NAME_START, every))
    after = "".join(re.findall(NAME_NEXT, every))
    ascii_start = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    assert start == ascii_start + every[0x80:]
    assert after == "$0123456789" + ascii_start + every[0x80:]


@pytest.mark.parametrize(
    "op", ["->>", "->", "||", "<<", ">>", "<=", ">=", "==", "!=", "<>", "<", "=", "(", ";", "."]
)
def test_operators(op: str) -> None:
    assert kinds(f"a{op}b") == [("word", "a"), ("op", op), ("word", "b")]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("a--b\nc", [("word", "a"), ("comment", "--b"), ("space", "\n"), ("word", "c")]),
        ("a-b", [("word", "a"), ("op", "-"), ("word", "b")]),
        ("a/b/*c*/", [("word", "a"), ("op", "/"), ("word", "b"), ("comment", "/*c*/")]),
        ("x'0g'", [("word", "x"), ("string", "'0g'")]),  # not hex: a name, then a string
        ("t.'c'", [("word", "t"), ("op", "."), ("string", "'c'")]),
        ("1.5.2", [("number", "1.5"), ("number", ".2")]),
        (": x", [("op", ":"), ("space", " "), ("word", "x")]),
        ("?1?", [("param", "?1"), ("param", "?")]),
        ("a\rb", [("word", "a"), ("space", "\r"), ("word", "b")]),
        ("-- c\r\nx", [("comment", "-- c\r"), ("space", "\n"), ("word", "x")]),
        ("[a]]b]", [("quoted", "[a]"), ("op", "]"), ("word", "b"), ("op", "]")]),
    ],
)
def test_token_boundaries(sql: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(sql) == expected


def test_whitespace_and_comments_are_left_out_unless_kept() -> None:
    sql = "  SELECT /* x */ 1 -- y\n;"
    assert tokens(sql) == [Token("word", "SELECT"), Token("number", "1"), Token("op", ";")]
    assert [t.kind for t in tokens(sql, keep=True)].count("comment") == 2


def test_limit_counts_only_the_tokens_returned() -> None:
    sql = "-- lead\n /* in */ CREATE /* x */ TEMP TABLE t (x)"
    assert tokens(sql, limit=2) == [Token("word", "CREATE"), Token("word", "TEMP")]
    assert [t.text for t in tokens(sql, limit=3, keep=True)] == ["-- lead", "\n ", "/* in */"]


def test_token_helpers() -> None:
    word, quoted, string, number = tokens('Drop "my ""t""" \'v\' 1')
    assert word.is_word("DROP") and word.is_word() and not word.is_word("TABLE")
    assert not quoted.is_word() and not string.is_word("V")
    assert (word.name, quoted.name, string.name, number.name) == ("Drop", 'my "t"', "v", "1")
    assert unquote("[a]") == "a" and unquote("`a``b`") == "a`b" and unquote("'x") == "x"
    assert unquote("plain") == "plain"


# --- properties ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(list("ab1 .;'\"`[]-/*?:$x\r\n\té名")), max_size=40))
def test_kept_tokens_join_back_into_the_text(sql: str) -> None:
    toks = tokens(sql, keep=True)
    assert "".join(t.text for t in toks) == sql
    assert all(t.text for t in toks)
    assert tokens(sql) == [t for t in toks if t.kind not in ("space", "comment")]


NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
#: Names SQLite lets a table have: it reserves every name starting "sqlite_" (any case).
TABLE_NAMES = NAMES.filter(lambda name: name[:7].lower() != "sqlite_")


@settings(max_examples=200, deadline=None, database=None)
@given(TABLE_NAMES, st.sampled_from(['"', "`", "["]))
def test_a_quoted_name_is_one_token_naming_what_sqlite_names(name: str, style: str) -> None:
    if style == "[":
        if "]" in name:
            return  # a bracketed name cannot hold ']'
        quoted = f"[{name}]"
    else:
        quoted = style + name.replace(style, style * 2) + style
    assert tokens(quoted, keep=True) == [Token("quoted", quoted)]
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE {quoted} (x)")
    assert conn.execute("SELECT name FROM sqlite_master").fetchone()[0] == unquote(quoted)
    conn.close()


@settings(max_examples=200, deadline=None, database=None)
@given(NAMES)
def test_a_string_is_one_token_holding_what_sqlite_reads(value: str) -> None:
    literal = "'" + value.replace("'", "''") + "'"
    (token,) = tokens(literal, keep=True)
    assert token == Token("string", literal)
    conn = sqlite3.connect(":memory:")
    assert conn.execute(f"SELECT {literal}").fetchone()[0] == token.name == value
    conn.close()


def test_parameters_are_the_ones_sqlite_binds() -> None:
    sql = "SELECT ?, :a, @b, $c, '?', \"?\", /* ? */ ?5 -- :d\n"
    params = [t.text for t in tokens(sql) if t.kind == "param"]
    assert params == ["?", ":a", "@b", "$c", "?5"]
    conn = sqlite3.connect(":memory:")
    with warnings.catch_warnings():  # named parameters bound by position: fine for SQLite
        warnings.simplefilter("ignore", DeprecationWarning)
        row = conn.execute(sql, (1, 2, 3, 4, 5)).fetchone()  # SQLite counts exactly 5
    assert row == (1, 2, 3, 4, "?", "?", 5)
    conn.close()


# --- leading_words: what the parser, refusals and the Alembic converter look at ----------


@pytest.mark.parametrize(
    ("sql", "count", "words"),
    [
        ("create table t (x)", 1, ["CREATE"]),
        ("  -- c\n /* d */ Insert into t values (1)", 1, ["INSERT"]),
        ("WITH x AS (SELECT 1) SELECT * FROM x", 1, ["WITH"]),
        ("(SELECT 1)", 1, []),
        ("'text'", 1, []),
        ("", 1, []),
        ("/* never closed", 1, []),
        ("begin;", 1, ["BEGIN"]),
        ("rollback /* to */ transaction TO sp", 3, ["ROLLBACK", "TRANSACTION", "TO"]),
        ('ROLLBACK TRANSACTION "TO"', 3, ["ROLLBACK", "TRANSACTION"]),  # a name, not TO
        ("CREATE TEMP TABLE t (x)", 2, ["CREATE", "TEMP"]),
        ("Été_2024 x", 1, ["ÉTÉ_2024"]),
    ],
)
def test_leading_words(sql: str, count: int, words: list[str]) -> None:
    assert leading_words(sql, count) == words
