"""The review report's Markdown: one pull-request comment about a branch's migrations.

Sections, each always present so a reader finds them in the same place: the migrations
the branch adds (and, loudly, those it edits or removes), the lint findings, the schema
change (a one-line summary per table, then one ``diff`` block of the tables' cards,
which GitHub and GitLab colour), and a Mermaid ER diagram of the touched tables. The
first line is a hidden marker that the CI templates use to find and update their own
comment instead of adding one per push; a branch that changes nothing gets a second
one (``QUIET``), so CI can skip a comment nobody needs.

A big branch is cut to ``Limits`` (GitHub takes 65,536 characters in a comment), and
every cut says what it left out. Pure: ``report.review_output`` turns the computed
``review.build.Review`` into a ``ReviewInput``; the layout is held by golden files
(tests/testdata/review/).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only
    from migrate_tasks.review.schema_change import Line, TableChange, ViewChange

__all__ = [
    "MARKER", "QUIET", "Limits", "ReviewFinding", "ReviewInput", "fitted", "review_markdown",
]  # fmt: skip

#: The comment's first line: how CI finds the comment it posted before.
MARKER = "<!-- migrate_tasks review -->"
#: The second line when the branch changes no migration and no schema.
QUIET = "<!-- migrate_tasks review: nothing to review -->"
_PARTS = ("column", "primary key", "unique", "check", "foreign key", "index", "option", "trigger")
_NOUNS = {"unique": "unique constraint", "check": "check constraint", "option": "table option"}
_PLURAL = {"index": "indexes"}
_SEVERITY_ORDER = {"error": 0, "warning": 1, "notice": 2}
#: What Markdown could read as markup in plain text: an ``_`` only at a word's edge
#: (``display_name`` stays as it is), the others anywhere.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*\[\]<>|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


@dataclass(frozen=True)
class Limits:
    """How much of a big branch one comment shows; each cut says what it left out."""

    migrations: int = 100  # files listed per kind (added, edited, removed)
    findings: int = 50  # rows of the lint table (errors first)
    tables: int = 60  # lines of the per-table summary
    diff_lines: int = 400  # lines of the diff block
    context: int = 3  # unchanged lines kept on each side of a change in a changed table
    diagram_tables: int = 15  # touched tables drawn with their columns
    diagram_linked: int = 15  # tables they link to, drawn by name
    characters: int = 60_000  # the whole comment (GitHub's limit is 65,536)

    def halved(self) -> Limits:
        """Smaller limits, for a report still over ``characters`` (never below 1)."""
        return replace(
            self, **{k: max(1, getattr(self, k) // 2) for k in _SHRINKING}
        )  # fmt: skip


_SHRINKING = ("migrations", "findings", "tables", "diff_lines", "diagram_tables", "diagram_linked")


@dataclass(frozen=True)
class ReviewFinding:
    """One lint finding as the report shows it."""

    severity: str  # error | warning | notice
    rule: str
    path: str
    line: int | None
    message: str
    name: str = ""  # the rule's name (drop-table), shown after its id


@dataclass(frozen=True)
class ReviewInput:
    """Everything the report shows; computed elsewhere."""

    base: str  # the branch (git ref) the pull request goes into
    migrations: Sequence[str]  # the branch's new migration files, as paths to show
    findings: Sequence[ReviewFinding] | None  # None: lint was not run
    changes: Sequence[TableChange]
    diagram: str  # erDiagram text, "" when no table is left to draw
    edited: Sequence[str] = ()  # migrations the base has, changed by the branch
    removed: Sequence[str] = ()  # migrations the base has, gone on the branch
    suppressed: Sequence[ReviewFinding] = ()  # silenced by -- migrate:nolint
    notes: Sequence[str] = ()  # lint's notes
    problems: Sequence[str] = ()  # parts that could not be computed, and why
    views: Sequence[ViewChange] = ()
    schema_known: bool = True  # False: the schema change could not be computed
    diagram_left_out: Sequence[str] = ()  # touched tables the diagram does not draw
    diagram_linked_left_out: Sequence[str] = ()
    lint_command: str = ""  # the command that lists every finding
    limits: Limits = field(default_factory=Limits)

    @property
    def quiet(self) -> bool:
        """Nothing to review: no migration or schema change, nothing that failed."""
        return not (
            self.migrations or self.edited or self.removed or self.changes or self.views
            or self.problems or not self.schema_known
        )  # fmt: skip


def review_markdown(review: ReviewInput) -> str:
    """The whole comment, ending in one newline, within ``review.limits.characters``
    when halving the other limits can get it there."""
    return fitted(lambda limits: replace(review, limits=limits), review.limits)


def fitted(make: Callable[[Limits], ReviewInput], limits: Limits) -> str:
    """The layout of ``make(limits)``, the limits halved while it is over ``characters``."""
    text = _layout(make(limits))
    while len(text) > limits.characters and limits != limits.halved():
        limits = limits.halved()
        text = _layout(make(limits))
    return text


def _layout(review: ReviewInput) -> str:
    parts = [MARKER + ("\n" + QUIET if review.quiet else ""), "## Migrations in this pull request"]
    parts += [_migrations(review), *_warnings(review)]
    parts += ["### Lint", _findings(review)]
    parts += ["### Schema changes", _changes(review)]
    if review.changes:
        parts += ["### Tables touched", _diagram(review)]
    return "\n\n".join(parts) + "\n"


def _migrations(review: ReviewInput) -> str:
    count = len(review.migrations)
    if not count:
        return f"No new migrations compared with {_code(review.base)}."
    noun = "migration" if count == 1 else "migrations"
    listed = _listed(review.migrations, review.limits.migrations)
    return f"{count} new {noun} compared with {_code(review.base)}:\n\n{listed}"


def _listed(paths: Sequence[str], limit: int) -> str:
    lines = [f"- {_code(p)}" for p in paths[:limit]]
    if len(paths) > limit:
        lines.append(f"- ... and {len(paths) - limit} more")
    return "\n".join(lines)


def _warnings(review: ReviewInput) -> list[str]:
    """Loud blocks: edited or removed migrations of the base, parts not computed."""
    base, limit = _code(review.base), review.limits.migrations
    blocks = []
    if review.edited:
        blocks.append(_alert("CAUTION", [
            f"**This branch edits {_count(review.edited, 'migration')} that {base} already"
            f" has.** A database that applied {_them(review.edited)} will not run the edit,"
            " and `validate` and `up` refuse the changed file there: put the change in a new"
            " migration.",
            "", _listed(review.edited, limit),
        ]))  # fmt: skip
    if review.removed:
        blocks.append(_alert("CAUTION", [
            f"**This branch removes {_count(review.removed, 'migration')} that {base} has.**"
            f" A database that applied {_them(review.removed)} reports {_them(review.removed)}"
            " as missing, and `validate` fails there.",
            "", _listed(review.removed, limit),
        ]))  # fmt: skip
    if review.problems:
        blocks.append(_alert("WARNING", [
            "**Part of this report could not be computed:**", "",
            _fenced("text", "\n".join(review.problems)),
        ]))  # fmt: skip
    return blocks


def _them(items: Sequence[object]) -> str:
    return "it" if len(items) == 1 else "them"


def _alert(kind: str, lines: list[str]) -> str:
    body = "\n".join(lines).split("\n")
    return "\n".join([f"> [!{kind}]", *(f"> {line}".rstrip() for line in body)])


def _count(items: Sequence[object], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _findings(review: ReviewInput) -> str:
    findings = review.findings
    if findings is None:
        return "Not run." if not review.problems else "Not run: see above."
    parts = []
    if not findings:
        parts.append("No findings." if review.migrations else "Nothing to lint: no new migrations.")
    else:
        ordered = sorted(findings, key=lambda f: _SEVERITY_ORDER.get(f.severity, 3))
        shown = ordered[: review.limits.findings]
        counts = [
            _count([f for f in findings if f.severity == s], s) for s in ("error", "warning")
        ] + [_count([f for f in findings if f.severity == "notice"], "notice")]
        rows = [", ".join(counts) + ":", "", "| severity | rule | where | finding |"]
        rows.append("|---|---|---|---|")
        rows += [_row(f) for f in shown]
        if len(ordered) > len(shown):
            rows += [
                "",
                f"... and {len(ordered) - len(shown)} more: `{review.lint_command}` lists them all.",
            ]
        parts.append("\n".join(rows))
    if review.suppressed:
        silenced = [
            f"- {_code(f.rule)} {_text(f.name)} at {_code(_where(f))}" for f in review.suppressed
        ]
        parts.append("Silenced with `-- migrate:nolint`:\n\n" + "\n".join(silenced))
    if review.notes:
        parts.append("\n".join(f"- note: {_text(n)}" for n in review.notes))
    return "\n\n".join(parts)


def _row(finding: ReviewFinding) -> str:
    rule = _code(finding.rule) + (f" {_text(finding.name)}" if finding.name else "")
    where = _code(_where(finding)).replace("|", "\\|")  # GFM splits cells even in code
    return f"| {finding.severity} | {rule} | {where} | {_text(finding.message)} |"


def _where(finding: ReviewFinding) -> str:
    return f"{finding.path}:{finding.line}" if finding.line else finding.path


def _text(text: str) -> str:
    """Plain text for a Markdown line or table cell: one line, nothing interpreted."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(text.split()))


def _changes(review: ReviewInput) -> str:
    if not review.schema_known:
        return "Not computed: see above."
    changes, limits = review.changes, review.limits
    views = [f"- view {_code(v.name)} {v.kind}" for v in review.views]
    if not changes:
        return "\n".join(views) if views else "None: the branch changes no table."
    summary = [f"- {_code(c.name)} {c.kind}: {_summary(c)}" for c in changes[: limits.tables]]
    if len(changes) > limits.tables:
        summary.append(f"- ... and {len(changes) - limits.tables} more tables")
    block, left_out = _diff_block(changes, limits)
    text = "\n".join(summary + views) + "\n\n" + _fenced("diff", block)
    if left_out:
        names = ", ".join(_code(n) for n in left_out[: limits.tables])
        more = f" and {len(left_out) - limits.tables} more" if len(left_out) > limits.tables else ""
        text += f"\n\nThe diff leaves out {_count(left_out, 'table')} to stay short: {names}{more}."
    return text


def _diff_block(changes: Sequence[TableChange], limits: Limits) -> tuple[str, list[str]]:
    """The cards of as many tables as fit in ``limits.diff_lines``, and the others' names."""
    lines: list[str] = []
    left_out: list[str] = []
    for change in changes:
        card = _card(change, limits.context)
        room = limits.diff_lines - len(lines) - (1 if lines else 0)
        if left_out or (lines and len(card) > room):
            left_out.append(change.name)
            continue
        if lines:
            lines.append("")
        if len(card) > room:  # one table alone is over the limit: cut it
            card = [
                *card[: max(room - 1, 1)],
                f"   ... ({len(card) - max(room - 1, 1)} more lines)",
            ]
        lines += card
    return "\n".join(lines), left_out


def _card(change: TableChange, context: int) -> list[str]:
    head = {"added": "+", "removed": "-"}.get(change.kind, " ")
    lines = [f"{head}TABLE {change.name}"]
    body = list(change.lines)
    keep = [True] * len(body)
    if change.kind == "changed":
        near = [i for i, line in enumerate(body) if line.mark != " "]
        keep = [any(abs(i - j) <= context for j in near) for i in range(len(body))]
        for i in range(len(body)):  # folding one line would not shorten anything
            alone = (i == 0 or keep[i - 1]) and (i + 1 == len(body) or keep[i + 1])
            keep[i] = keep[i] or alone
    i = 0
    while i < len(body):
        if keep[i]:
            lines.append(_line(body[i]))
            i += 1
            continue
        j = i
        while j < len(body) and not keep[j]:
            j += 1
        lines.append(f"   ... ({j - i} unchanged)")
        i = j
    return lines


def _line(line: Line) -> str:
    return f"{line.mark}  {line.text}"


def _summary(change: TableChange) -> str:
    """``1 column added, 1 column changed, 1 index removed``; for a table added or
    removed, what it has: ``2 columns, 1 primary key``. A column removed and one added
    with the same definition under another name is one column renamed."""
    if change.kind != "changed":
        counts = [(p, sum(1 for x in change.lines if x.part == p)) for p in _PARTS]
        return ", ".join(f"{n} {_noun(p, n)}" for p, n in counts if n)
    gone = [_split(x.text) for x in change.lines if x.part == "column" and x.mark == "-"]
    new = [_split(x.text) for x in change.lines if x.part == "column" and x.mark == "+"]
    changed = {name for name, _ in gone} & {name for name, _ in new}
    gone = [c for c in gone if c[0] not in changed]
    new = [c for c in new if c[0] not in changed]
    renamed = 0
    for column in list(gone):
        twin = next((c for c in new if c[1] == column[1]), None)
        if twin is not None:
            gone.remove(column)
            new.remove(twin)
            renamed += 1
    said = []
    for part in _PARTS:
        if part == "column":
            counted = [(len(new), "added"), (len(gone), "removed")]
            counted += [(len(changed), "changed"), (renamed, "renamed")]
        else:
            counted = [
                (sum(1 for x in change.lines if x.part == part and x.mark == mark), verb)
                for mark, verb in (("+", "added"), ("-", "removed"))
            ]
        said += [f"{n} {_noun(part, n)} {verb}" for n, verb in counted if n]
    return ", ".join(said) or "renamed"


def _split(text: str) -> tuple[str, str]:
    """A column's line as (lower-case name, the rest of its definition)."""
    name, _, rest = text.partition(" ")
    return name.lower(), rest


def _noun(part: str, count: int) -> str:
    noun = _NOUNS.get(part, part)
    return noun if count == 1 else _PLURAL.get(noun, noun + "s")


def _diagram(review: ReviewInput) -> str:
    if not review.diagram:
        return "None left: the branch only drops tables."
    text = _fenced("mermaid", review.diagram.rstrip("\n"))
    cuts = []
    if review.diagram_left_out:
        names = ", ".join(_code(n) for n in review.diagram_left_out)
        cuts.append(f"{_count(review.diagram_left_out, 'more touched table')} not drawn: {names}")
    if review.diagram_linked_left_out:
        cuts.append(f"{_count(review.diagram_linked_left_out, 'linked table')} not drawn")
    if cuts:
        text += "\n\nTo keep the diagram readable, " + "; ".join(cuts) + "."
    return text


def _fenced(info: str, body: str) -> str:
    """A fenced block whose fence no run of backticks inside can close."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def _code(text: str) -> str:
    """Inline code that shows ``text`` as it is, backticks included."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"
