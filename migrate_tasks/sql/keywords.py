"""Which bare words of a SQLite statement are keywords, and which are names.

SQLite reserves only some of its keywords. The others (ACTION, FIRST, GROUPS, KEY, ROWS,
and about eighty more: :data:`FALLBACK`) are keywords in a few places and ordinary names
everywhere else, so ``CREATE TABLE groups (action TEXT, first INT)`` is valid and
stores those names as written. A normaliser that upper-cased every keyword-looking word
would rename the table and its columns for every reader (``SELECT *`` keys, PRAGMAs,
reflection). So :func:`keyword_flags` calls a fallback word a keyword only where its
neighbours say so for certain (``PRIMARY KEY``, ``ON DELETE NO ACTION``, ``NULLS
FIRST``, a trigger's ``BEGIN`` ... ``END``); anywhere else it is a name. Erring that way
is harmless: a keyword taken for a name only keeps the case it was written in.

Which words are reserved was measured on libSQL 3.45 (each word tried as a table and
a column name: tests/test_dump.py checks the lists against the engine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["FALLBACK", "KEYWORDS", "RESERVED", "keyword_flags"]

# SQLite's keywords (https://sqlite.org/lang_keywords.html).
_KEYWORD_TEXT = """
    ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE
    BEGIN BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT
    CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT
    DEFERRABLE DEFERRED DELETE DESC DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT
    EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM FULL
    GENERATED GLOB GROUP GROUPS HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER
    INSERT INSTEAD INTERSECT INTO IS ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED
    NATURAL NO NOT NOTHING NOTNULL NULL NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER
    PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY RAISE RANGE RECURSIVE REFERENCES REGEXP
    REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT ROLLBACK ROW ROWS SAVEPOINT
    SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER UNBOUNDED UNION UNIQUE
    UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH WITHOUT
"""
KEYWORDS = frozenset(_KEYWORD_TEXT.split())

_RESERVED_TEXT = """
    ADD ALL ALTER AND AS AUTOINCREMENT BETWEEN CASE CHECK COLLATE COMMIT CONSTRAINT CREATE
    DEFAULT DEFERRABLE DELETE DISTINCT DROP ELSE ESCAPE EXCEPT EXISTS FOREIGN FROM GROUP
    HAVING IN INDEX INSERT INTERSECT INTO IS ISNULL JOIN LIMIT NOT NOTHING NOTNULL NULL ON
    OR ORDER PRIMARY REFERENCES RETURNING SELECT SET TABLE THEN TO TRANSACTION UNION UNIQUE
    UPDATE USING VALUES WHEN WHERE
"""
#: Keywords that are never a bare name.
RESERVED = frozenset(_RESERVED_TEXT.split())
#: Keywords that are names wherever the grammar has no use for the keyword.
FALLBACK = KEYWORDS - RESERVED

_TIME = frozenset({"CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP"})
_RESOLUTIONS = frozenset({"ROLLBACK", "ABORT", "FAIL", "IGNORE", "REPLACE"})
#: Keywords that can end an ORDER BY term, before a window frame.
_ORDER_ENDS = ("ASC", "DESC", "FIRST", "LAST")
_JOIN = frozenset({"CROSS", "FULL", "INNER", "LEFT", "NATURAL", "OUTER", "RIGHT"})
_STARTS = frozenset({"INSERT", "UPDATE", "DELETE", "SELECT", "REPLACE", "WITH", "VALUES"})
_NAME_AFTER = frozenset(
    {"CONSTRAINT", "REFERENCES", "COLLATE", "INDEX", "TABLE", "TRIGGER", "VIEW"}
)
_OPERAND_ENDS = frozenset({"ident", "quoted", "string", "blob", "number", "param"})


class _Reader:
    """The tokens of one statement and what is known about them so far."""

    def __init__(self, lexed: Sequence[tuple[str, str]]) -> None:
        self.kinds = [k for k, _t in lexed]
        self.texts = [t.upper() if k == "word" else t for k, t in lexed]
        self.flags = [
            k == "word" and t in RESERVED for k, t in zip(self.kinds, self.texts, strict=True)
        ]
        self.depths = _depths(self.texts)
        words = [t for k, t in zip(self.kinds, self.texts, strict=True) if k == "word"][:4]
        self.statement = next(
            (w for w in words[1:] if w in ("TABLE", "INDEX", "TRIGGER", "VIEW")), ""
        )
        if words[:1] != ["CREATE"] or "VIRTUAL" in words:
            self.statement = ""
        self.heads = self._column_heads() if self.statement == "TABLE" else set()
        self.names = self._name_list_items()
        #: In a CREATE TRIGGER statement, before its BEGIN.
        self.trigger_head = self.statement == "TRIGGER"

    def text(self, i: int) -> str:
        return self.texts[i] if 0 <= i < len(self.texts) else ""

    def kind(self, i: int) -> str:
        return self.kinds[i] if 0 <= i < len(self.kinds) else ""

    def kw(self, i: int, *words: str) -> bool:
        """Is token ``i`` a keyword (decided so far), one of ``words`` if given?"""
        return 0 <= i < len(self.texts) and self.flags[i] and (not words or self.texts[i] in words)

    def operand_end(self, i: int) -> bool:
        if not 0 <= i < len(self.texts):
            return False
        kind = self.kinds[i]
        if kind == "word":
            return not self.flags[i] or self.texts[i] in ("NULL", "END", *_TIME)
        return kind in _OPERAND_ENDS or self.texts[i] == ")"

    def is_name(self, i: int) -> bool:
        """Can token ``i`` be a name (a quoted one, or a word that is not reserved)?"""
        kind = self.kind(i)
        return kind == "quoted" or (kind == "word" and self.texts[i] not in RESERVED)

    def operand_start(self, i: int) -> bool:
        kind = self.kind(i)
        if kind == "word" and self.texts[i] in RESERVED:
            return self.texts[i] in ("NULL", "NOT", "CASE", "EXISTS")
        return kind not in ("op", "") or self.texts[i] in ("(", "-", "+", "~")

    def matching(self, i: int) -> int:
        """The index of the ``)`` closing the ``(`` at ``i`` (or len when unbalanced)."""
        depth = 0
        for j in range(i, len(self.texts)):
            if self.kinds[j] == "op" and self.texts[j] == "(":
                depth += 1
            elif self.kinds[j] == "op" and self.texts[j] == ")":
                depth -= 1
                if depth == 0:
                    return j
        return len(self.texts)

    def opening(self, i: int) -> int:
        """The index of the ``(`` that the ``)`` at ``i`` closes (-1 when unbalanced)."""
        depth = 0
        for j in range(i, -1, -1):
            if self.kinds[j] == "op" and self.texts[j] == ")":
                depth += 1
            elif self.kinds[j] == "op" and self.texts[j] == "(":
                depth -= 1
                if depth == 0:
                    return j
        return -1

    def _column_heads(self) -> set[int]:
        """Tokens of each column definition's name and type in a CREATE TABLE body."""
        body = next(
            (i for i, t in enumerate(self.texts) if t in ("(", "AS") and self.depths[i] == 0), None
        )
        if body is None or self.texts[body] != "(":
            return set()
        heads: set[int] = set()
        close = self.matching(body)
        start = True
        for i in range(body + 1, close):
            if self.depths[i] == 1 and self.texts[i] == ",":
                start = True
                continue
            if not start:
                continue
            if self.kinds[i] == "word" and (
                self.texts[i] in RESERVED or self.texts[i : i + 3] == ["GENERATED", "ALWAYS", "AS"]
            ):
                start = False
            elif self.depths[i] == 1 and self.kinds[i] != "op":
                heads.add(i)
        return heads

    def _name_list_items(self) -> set[int]:
        """First tokens of the items of column-name lists: ``PRIMARY KEY (a, b)``,
        ``FOREIGN KEY (...)``, ``REFERENCES t (...)``, ``UNIQUE (...)``, an index's
        ``ON t (...)``, ``INSERT INTO t (...)``, ``CREATE VIEW v (...)``."""
        items: set[int] = set()
        for i, text in enumerate(self.texts):
            if text != "(" or self.kinds[i] != "op":
                continue
            before, twice = self.text(i - 1), self.text(i - 2)
            listed = before in ("KEY", "UNIQUE") or twice in ("REFERENCES", "INTO", "VIEW")
            if self.statement == "INDEX" and twice == "ON":
                listed = True
            if not listed:
                continue
            close, depth = self.matching(i), self.depths[i] + 1
            items.add(i + 1)
            items.update(
                j + 1
                for j in range(i + 1, close)
                if self.depths[j] == depth and self.texts[j] == ","
            )
        return items


def _depths(texts: Sequence[str]) -> list[int]:
    """Parenthesis depth at each token (a ``(`` is at the depth outside it)."""
    out, depth = [], 0
    for text in texts:
        if text == ")":
            depth = max(depth - 1, 0)
        out.append(depth)
        if text == "(":
            depth += 1
    return out


def keyword_flags(lexed: Sequence[tuple[str, str]]) -> list[bool]:
    """For each ``(kind, text)`` token (a ``lexer.Token``, spaces and comments left out):
    is it a keyword? Only ``word`` tokens can be."""
    r = _Reader(lexed)
    cases = 0
    limits: set[int] = set()
    for i, (kind, word) in enumerate(zip(r.kinds, r.texts, strict=True)):
        if kind != "word":
            if word == ";":
                limits.clear()
            continue
        if word == "CASE":
            cases += 1
        elif word == "LIMIT":
            limits.add(r.depths[i])
        if word not in FALLBACK or _is_name(r, i):
            continue
        if word == "END":  # closes a CASE (after its last operand), or the trigger
            closes = cases > 0 and r.operand_end(i - 1)
            r.flags[i] = closes or (r.statement == "TRIGGER" and _last(r, i))
            cases -= closes
        elif word == "BEGIN":
            r.flags[i] = r.trigger_head and r.depths[i] == 0 and r.text(i + 1) in _STARTS
            r.trigger_head = r.trigger_head and not r.flags[i]
        elif word == "OFFSET":  # LIMIT n OFFSET m
            r.flags[i] = r.depths[i] in limits and r.operand_end(i - 1)
        else:
            rule = _RULES.get(word)
            r.flags[i] = bool(rule and rule(r, i))
    return r.flags


def _is_name(r: _Reader, i: int) -> bool:
    """Is token ``i`` where only a name can be?"""
    if r.text(i - 1) == "." or r.text(i + 1) == ".":
        return True
    if i in r.heads or i in r.names:
        return True
    if r.text(i) == "IF" and r.text(i + 1) in ("NOT", "EXISTS"):
        return False
    if r.kw(i - 1, *_NAME_AFTER):
        return True
    if r.kw(i - 1, "AS"):  # an alias, or CAST's type; not AS WITH ..., AS MATERIALIZED (...)
        return r.texts[i] not in ("WITH", "MATERIALIZED")
    return r.statement == "INDEX" and r.kw(i - 1, "ON")


def _last(r: _Reader, i: int) -> bool:
    return all(t == ";" for t in r.texts[i + 1 :])


def _ordering(r: _Reader, i: int) -> bool:
    """``ASC``/``DESC`` after an ordered term: ``PRIMARY KEY DESC``, ``(a DESC, b)``."""
    if r.kw(i - 1, "KEY"):
        return True
    return r.operand_end(i - 1) and r.text(i + 1) in ("", ",", ")", ";", "NULLS")


def _conflict(r: _Reader, i: int) -> bool:
    """``ON CONFLICT`` then a resolution, ``DO``, or an upsert target ``(...) DO``."""
    if not r.kw(i - 1, "ON"):
        return False
    after = r.text(i + 1)
    if after in _RESOLUTIONS or after == "DO":
        return True
    return after == "(" and r.text(r.matching(i + 1) + 1) in ("DO", "WHERE")


def _resolution(r: _Reader, i: int) -> bool:
    """``ON CONFLICT REPLACE``, ``INSERT OR IGNORE``, ``RAISE(ABORT, ...)``, ``REPLACE INTO``."""
    return (
        r.kw(i - 1, "CONFLICT")
        or (r.kw(i - 1, "OR") and r.kw(i - 2, "INSERT", "UPDATE"))
        or (r.text(i - 1) == "(" and r.kw(i - 2, "RAISE"))
        or (
            r.texts[i] == "REPLACE"
            and r.text(i + 1) == "INTO"
            and (r.text(i - 1) in ("", ";") or r.kw(i - 1, "BEGIN"))
        )
    )


def _before_join(r: _Reader, i: int) -> bool:
    """``LEFT [OUTER] JOIN``, ``NATURAL ... JOIN``: join words before ``JOIN``."""
    j = i + 1
    while r.text(j) in _JOIN:
        j += 1
    return r.text(j) == "JOIN"


def _operator(r: _Reader, i: int) -> bool:
    """``a LIKE b``, ``a NOT GLOB b``: between two operands."""
    after = r.operand_end(i - 1) or (r.kw(i - 1, "NOT") and r.operand_end(i - 2))
    return after and r.operand_start(i + 1)


def _frame(r: _Reader, i: int) -> bool:
    """``ROWS BETWEEN ...``, ``RANGE UNBOUNDED PRECEDING``, ``GROUPS 2 PRECEDING``: at
    the start of a window, or after its ORDER BY."""
    if not (r.text(i - 1) == "(" or r.operand_end(i - 1) or r.kw(i - 1, *_ORDER_ENDS)):
        return False
    after = r.text(i + 1)
    if after in ("BETWEEN", "UNBOUNDED", "CURRENT"):
        return True
    return r.kind(i + 1) == "number" and r.text(i + 2) in ("PRECEDING", "FOLLOWING")


def _after(*words: str) -> Rule:
    return lambda r, i: r.kw(i - 1, *words)


def _before(*words: str) -> Rule:
    return lambda r, i: r.text(i + 1) in words


Rule = Callable[[_Reader, int], bool]
_CREATED = ("CREATE", "TEMP", "TEMPORARY")
_RULES: dict[str, Rule] = {
    "KEY": _after("PRIMARY", "FOREIGN"),
    "ASC": _ordering,
    "DESC": _ordering,
    "NO": lambda r, i: (
        (r.text(i + 1) == "ACTION" and r.kw(i - 1, "DELETE", "UPDATE"))
        or (r.text(i + 1) == "OTHERS" and r.kw(i - 1, "EXCLUDE"))
    ),
    "ACTION": _after("NO"),
    "CASCADE": lambda r, i: r.kw(i - 1, "DELETE", "UPDATE") and r.kw(i - 2, "ON"),
    "RESTRICT": lambda r, i: r.kw(i - 1, "DELETE", "UPDATE") and r.kw(i - 2, "ON"),
    "CONFLICT": _conflict,
    "DEFERRED": _after("INITIALLY"),
    "IMMEDIATE": _after("INITIALLY"),
    "INITIALLY": _after("DEFERRABLE"),
    "IF": lambda r, i: r.text(i + 1) == "EXISTS" or r.texts[i + 1 : i + 3] == ["NOT", "EXISTS"],
    "TEMP": _after("CREATE"),
    "TEMPORARY": _after("CREATE"),
    "TRIGGER": _after(*_CREATED),
    "VIEW": _after(*_CREATED),
    "VIRTUAL": lambda r, i: (
        r.kw(i - 1, *_CREATED) or (r.text(i - 1) == ")" and r.kw(r.opening(i - 1) - 1, "AS"))
    ),
    "WITHOUT": lambda r, i: r.text(i + 1) == "ROWID" and r.depths[i] == 0,
    "GENERATED": lambda r, i: r.texts[i + 1 : i + 3] == ["ALWAYS", "AS"],
    "ALWAYS": _after("GENERATED"),
    "BEFORE": lambda r, i: r.trigger_head and r.text(i + 1) in ("INSERT", "UPDATE", "DELETE"),
    "AFTER": lambda r, i: r.trigger_head and r.text(i + 1) in ("INSERT", "UPDATE", "DELETE"),
    "INSTEAD": lambda r, i: r.trigger_head and r.text(i + 1) == "OF",
    "OF": lambda r, i: r.kw(i - 1, "INSTEAD") or (r.trigger_head and r.kw(i - 1, "UPDATE")),
    "FOR": lambda r, i: r.texts[i + 1 : i + 3] == ["EACH", "ROW"],
    "EACH": _after("FOR"),
    "ROW": _after("EACH", "CURRENT"),
    "BY": _after("ORDER", "GROUP", "PARTITION", "INDEXED"),
    "PARTITION": _before("BY"),
    "INDEXED": lambda r, i: r.text(i + 1) == "BY" or (r.kw(i - 1, "NOT") and r.is_name(i - 2)),
    "NULLS": _before("FIRST", "LAST"),
    "FIRST": _after("NULLS"),
    "LAST": _after("NULLS"),
    "OVER": lambda r, i: r.text(i - 1) == ")" and (r.text(i + 1) == "(" or r.kind(i + 1) == "word"),
    "FILTER": lambda r, i: r.text(i - 1) == ")" and r.texts[i + 1 : i + 3] == ["(", "WHERE"],
    "WINDOW": lambda r, i: r.is_name(i + 1) and r.texts[i + 2 : i + 4] == ["AS", "("],
    "RANGE": _frame,
    "ROWS": _frame,
    "GROUPS": _frame,
    "CURRENT": _before("ROW"),
    "UNBOUNDED": _before("PRECEDING", "FOLLOWING"),
    "PRECEDING": lambda r, i: r.kw(i - 1, "UNBOUNDED") or r.kind(i - 1) == "number",
    "FOLLOWING": lambda r, i: r.kw(i - 1, "UNBOUNDED") or r.kind(i - 1) == "number",
    "EXCLUDE": lambda r, i: (
        r.kw(i - 1, "PRECEDING", "FOLLOWING", "ROW")
        and (
            r.text(i + 1) in ("GROUP", "TIES")
            or r.texts[i + 1 : i + 3] in (["NO", "OTHERS"], ["CURRENT", "ROW"])
        )
    ),
    "TIES": _after("EXCLUDE"),
    "OTHERS": _after("NO"),
    "RECURSIVE": _after("WITH"),
    "MATERIALIZED": lambda r, i: r.text(i + 1) == "(" and r.kw(i - 1, "AS", "NOT"),
    "DO": lambda r, i: (
        r.text(i + 1) in ("NOTHING", "UPDATE") and (r.text(i - 1) == ")" or r.kw(i - 1, "CONFLICT"))
    ),
    "WITH": lambda r, i: (
        (r.text(i - 1) in ("", "(", ";") or r.kw(i - 1, "AS", "BEGIN"))
        and (r.text(i + 1) == "RECURSIVE" or (r.is_name(i + 1) and r.text(i + 2) in ("AS", "(")))
    ),
    "CAST": _before("("),
    "RAISE": _before("("),
    **dict.fromkeys(_RESOLUTIONS, _resolution),
    **dict.fromkeys(_JOIN, _before_join),
    **dict.fromkeys(("LIKE", "GLOB", "REGEXP", "MATCH"), _operator),
    **dict.fromkeys(_TIME, lambda r, i: True),
}
