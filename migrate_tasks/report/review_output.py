"""From a computed ``review.build.Review`` to what is shown: the Markdown comment (within
``Limits``, the diagram drawn to fit) and the JSON document (docs/json.md), uncut."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from migrate_tasks.progname import command
from migrate_tasks.report.documents import JSON_SCHEMA_VERSION
from migrate_tasks.report.lint import lint_document
from migrate_tasks.report.mermaid import draw
from migrate_tasks.report.review import Limits, ReviewFinding, ReviewInput, fitted

if TYPE_CHECKING:
    from migrate_tasks.lint.model import Finding, Rule
    from migrate_tasks.review.build import Review

__all__ = ["review_input", "review_json", "review_report"]


def review_report(review: Review, rules: dict[str, Rule], limits: Limits | None = None) -> str:
    """The Markdown comment for ``review``: ``review_markdown`` of ``review_input``."""
    return fitted(lambda cut: review_input(review, rules, cut), limits or Limits())


def review_input(
    review: Review, rules: dict[str, Rule], limits: Limits | None = None
) -> ReviewInput:
    """What the report shows of a computed ``Review`` (the diagram drawn within ``limits``)."""
    limits = limits or Limits()
    report = review.lint
    touched = [c.name for c in review.changes]
    diagram = draw(
        review.after, touched, max_tables=limits.diagram_tables, max_linked=limits.diagram_linked
    ) if review.after is not None else None  # fmt: skip
    return ReviewInput(
        base=_ref(review.ref),
        migrations=review.added,
        findings=[_finding(f, rules) for f in report.findings] if report else None,
        changes=review.changes,
        diagram=diagram.text if diagram else "",
        edited=review.edited,
        removed=review.removed,
        suppressed=[_finding(s.finding, rules) for s in report.suppressed] if report else (),
        notes=report.notes if report else (),
        problems=review.problems,
        views=review.views,
        schema_known=review.before is not None and review.after is not None,
        diagram_left_out=diagram.left_out if diagram else (),
        diagram_linked_left_out=diagram.linked_left_out if diagram else (),
        lint_command=command(f"lint --since {review.ref}"),
        limits=limits,
    )


def _ref(ref: str) -> str:
    """A full commit id (GitLab's diff base) is shown as git abbreviates it."""
    return ref[:12] if re.fullmatch(r"[0-9a-f]{40}", ref) else ref


def _finding(finding: Finding, rules: dict[str, Rule]) -> ReviewFinding:
    rule = rules.get(finding.rule_id)
    return ReviewFinding(
        finding.severity, finding.rule_id, finding.path, finding.line, finding.message,
        rule.name if rule else "",
    )  # fmt: skip


def review_json(review: Review, rules: dict[str, Rule]) -> str:
    """``review --json``: everything the comment shows, nothing cut."""
    after = review.after
    diagram = draw(after, [c.name for c in review.changes]).text if after is not None else ""
    doc: dict[str, Any] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "base": review.ref,
        "branch_point": review.commit,
        "migrations": {
            "added": list(review.added),
            "edited": list(review.edited),
            "removed": list(review.removed),
        },
        "lint": lint_document(review.lint, rules, strict=False) if review.lint else None,
        "schema_known": review.before is not None and after is not None,
        "tables": [
            {
                "name": c.name,
                "change": c.kind,
                "lines": [{"mark": x.mark, "part": x.part, "text": x.text} for x in c.lines],
            }
            for c in review.changes
        ],
        "views": [{"name": v.name, "change": v.kind} for v in review.views],
        "diagram": diagram,
        "problems": list(review.problems),
    }
    return json.dumps(doc, indent=2)
