"""SQLite's tokens, as its own tokenizer cuts them: the one lexer of the package.

Pure. Every reader of SQL text uses it: statement shapes (``shapes.py``, so the file
parser's transaction-control check and the engine's checks and refusals), the
normaliser (``normalise.py``, so dump, verify, schema comparison and ``autogenerate``),
parameter inlining (``literals.py``), the local driver's one-statement check and the
Alembic converter. Only the file parser's statement splitter (``files/parser.py``) keeps
a scanner of its own, for the reasons given there.

Token kinds, and what SQLite calls them (``tokenize.c``):

- ``space``: SQLite's whitespace, `` \\t\\n\\r\\f\\v``. Other Unicode spaces are not
  whitespace to SQLite: like every character past ASCII they are part of a name.
- ``comment``: ``-- ...`` to the end of the line (LF), ``/* ... */``; an unterminated
  block comment runs to the end, as in SQLite.
- ``word``: a bare identifier or keyword (``[A-Za-z_]`` or any non-ASCII character, then
  those, digits and ``$``); telling keywords from names is ``keywords.py``'s job.
- ``quoted``: a quoted identifier in double quotes, backquotes or brackets (doubled
  quotes inside, none in brackets).
- ``string``: ``'text'`` (``''`` inside). ``blob``: ``X'00ff'``. ``number``: ``12``,
  ``1.5e3``, ``.5``, ``0x1F``. An unterminated string or quoted name runs to the end.
- ``param``: ``?``, ``?3``, ``:name``, ``@name``, ``$name``, ``#name``.
- ``op``: an operator or punctuation (``->>`` ``->`` ``||`` ``<<`` ``>>`` ``<=`` ``>=``
  ``==`` ``!=`` ``<>``, else one character: ``(`` ``;`` ``.`` ...).

Text SQLite would refuse is still cut somehow, never refused here (SQLite reports it
when the statement runs): ``12abc`` is a number and a word, ``x'0g'`` a word and a
string, a lone ``!`` an ``op``. Tcl-style names (``$a::b``, ``$a(x)``) are not one
parameter.

The normaliser's canonical tokens reuse :class:`Token` with their own kinds (``keyword``,
``ident``, ``literal``, ``op``; see ``normalise.py``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Token", "tokens", "unquote"]

#: A name's first character, ``[A-Za-z_]`` or anything past ASCII, and its next ones (also
#: digits and ``$``), written as the ASCII characters they exclude: the same sets (a test
#: compares them on every code point), but ``re`` compiles ``[...\x80-\U0010ffff]``
#: in about 5 ms, a twentieth of the whole program's start-up, and lexes slower with it.
NAME_START = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"
NAME_NEXT = r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"
#: One token per match; the alternatives are tried in order and one always matches.
_LEX = re.compile(
    rf"""
      (?P<space>[ \t\n\r\f\v]+)
    | (?P<blob>[xX]'[0-9A-Fa-f]*')
    | (?P<word>{NAME_START}{NAME_NEXT}*)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>'[^']*(?:''[^']*)*(?:'|\Z))
    | (?P<quoted>"[^"]*(?:""[^"]*)*(?:"|\Z)|`[^`]*(?:``[^`]*)*(?:`|\Z)|\[[^\]]*(?:\]|\Z))
    | (?P<number>0[xX][0-9A-Fa-f]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<param>\?[0-9]*|[:@$\#]{NAME_NEXT}+)
    | (?P<op>->>|->|\|\||<<|>>|<=|>=|==|!=|<>|.)
    """,
    re.VERBOSE | re.DOTALL,
)
_SKIPPED = ("space", "comment")
#: Builds a Token without NamedTuple's Python-level ``__new__``: about twice as fast, and
#: the local driver lexes every statement holding a ``;`` (data whose strings have one).
_new = tuple.__new__


class Token(NamedTuple):
    """One token: its ``kind`` (see the module docstring) and its ``text`` as written."""

    kind: str
    text: str

    def is_word(self, *words: str) -> bool:
        """Is this a bare word, one of ``words`` (upper case) if any are given?"""
        return self.kind == "word" and (not words or self.text.upper() in words)

    @property
    def name(self) -> str:
        """The name a word, quoted name or string spells (quotes removed), else the text."""
        return unquote(self.text) if self.kind in ("quoted", "string") else self.text


def tokens(sql: str, *, limit: int | None = None, keep: bool = False) -> list[Token]:
    """The tokens of ``sql`` in order, whitespace and comments left out.

    ``keep``: keep them too, so the texts join back into ``sql`` exactly (for code that
    edits a statement between its tokens). ``limit``: stop after that many tokens
    (counting only those returned), so a look at a statement's first words costs the
    same for a 100 MB ``INSERT`` as for a short one.
    """
    found: list[Token] = []
    for match in _LEX.finditer(sql):
        kind = match.lastgroup
        if keep or kind not in _SKIPPED:
            found.append(_new(Token, (kind, match.group())))
            if len(found) == limit:
                break
    return found


def unquote(text: str) -> str:
    """A quoted name or string without its quotes (doubled quotes made single); an
    unterminated one loses only its opening quote. Other text is returned as is."""
    opener = text[:1]
    if opener not in ("'", '"', "`", "["):
        return text
    closer = "]" if opener == "[" else opener
    body = text[1:-1] if len(text) > 1 and text.endswith(closer) else text[1:]
    return body if opener == "[" else body.replace(closer * 2, closer)
