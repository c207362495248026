"""``lint`` shown three ways: text for people, JSON (docs/json.md) and SARIF 2.1.0 for
GitHub code scanning. Suppressed findings are listed in every form, marked as such."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from migrate_tasks.report.documents import JSON_SCHEMA_VERSION

if TYPE_CHECKING:
    from migrate_tasks.lint.model import Finding, LintReport, Rule

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "notice": "note"}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _line(finding: Finding, rules: dict[str, Rule]) -> str:
    rule = rules.get(finding.rule_id)
    name = f" {rule.name}" if rule else ""
    return f"{finding.location()}: {finding.severity} {finding.rule_id}{name}: {finding.message}"


def lint_text(report: LintReport, rules: dict[str, Rule]) -> str:
    """One line per finding (``path:line: severity RULE name: message``), the suppressed
    ones, then a summary line."""
    lines = [_line(f, rules) for f in report.findings]
    for s in report.suppressed:
        by = f" at line {s.by_line}" if s.by_line else ""
        lines.append(f"suppressed (-- migrate:nolint{by}): {_line(s.finding, rules)}")
    lines += [f"note: {n}" for n in report.notes]
    count = len(report.migrations)
    if not count:
        what = {"pending": "no pending migrations"}.get(report.selection, "no migrations")
        lines.append(f"nothing to lint: {what}")
        return "\n".join(lines)
    parts = [
        _plural(report.count("error"), "error"),
        _plural(report.count("warning"), "warning"),
        _plural(report.count("notice"), "notice"),
    ]
    tail = f", {len(report.suppressed)} suppressed" if report.suppressed else ""
    lines.append(
        f"linted {_plural(count, 'migration')} ({report.selection}): {', '.join(parts)}{tail}"
    )
    return "\n".join(lines)


def _finding_json(finding: Finding, rules: dict[str, Rule]) -> dict[str, Any]:
    rule = rules.get(finding.rule_id)
    return {
        "rule": finding.rule_id,
        "name": rule.name if rule else None,
        "severity": finding.severity,
        "path": finding.path,
        "line": finding.line,
        "version": finding.version,
        "object": finding.object,
        "message": finding.message,
    }


def lint_json(report: LintReport, rules: dict[str, Rule], *, strict: bool) -> str:
    """``lint --json``: the migrations linted, the findings, the suppressed ones."""
    return json.dumps(
        {
            "schema_version": JSON_SCHEMA_VERSION,
            "selection": report.selection,
            "target": report.target,
            "row_counts": report.row_counts,
            "strict": strict,
            "ok": not report.failed(strict=strict),
            "migrations": [
                {"version": m.version, "name": m.name, "path": m.path} for m in report.migrations
            ],
            "findings": [_finding_json(f, rules) for f in report.findings],
            "suppressed": [
                {**_finding_json(s.finding, rules), "suppressed_by_line": s.by_line}
                for s in report.suppressed
            ],
            "summary": {
                "error": report.count("error"),
                "warning": report.count("warning"),
                "notice": report.count("notice"),
                "suppressed": len(report.suppressed),
            },
            "notes": list(report.notes),
        },
        indent=2,
    )


def _sarif_rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(word.capitalize() for word in rule.name.split("-")),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {
            "text": f"{rule.why}\n\nInstead: {rule.instead}",
            "markdown": f"**{rule.id} {rule.name}**: {rule.summary}\n\n{rule.why}\n\n"
            f"**Instead:** {rule.instead}",
        },
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        "properties": {"tags": ["migrations", rule.family.replace("_", "-")]},
    }


def _uri(path: str) -> str:
    return quote(path.replace(os.sep, "/"))


def _sarif_result(
    finding: Finding, index: dict[str, int], suppressed_by: int | bool | None
) -> dict[str, Any]:
    location: dict[str, Any] = {
        "artifactLocation": {"uri": _uri(finding.path), "uriBaseId": "%SRCROOT%"}
    }
    if finding.line:
        location["region"] = {"startLine": finding.line}
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": index[finding.rule_id],
        "level": _SARIF_LEVEL[finding.severity],
        "message": {
            "text": f"{finding.object}: {finding.message}" if finding.object else finding.message
        },
        "locations": [{"physicalLocation": location}],
        "partialFingerprints": {
            "migrateLint/v1": f"{finding.rule_id}:{finding.path}:{finding.object}",
        },
    }
    if suppressed_by is not False:
        where = f" at line {suppressed_by}" if suppressed_by else ""
        result["suppressions"] = [
            {"kind": "inSource", "justification": f"-- migrate:nolint {finding.rule_id}{where}"}
        ]
    return result


def lint_sarif(report: LintReport, rules: dict[str, Rule], *, version: str) -> str:
    """``lint --format sarif``: one SARIF 2.1.0 run, every rule with its help text."""
    ordered = list(rules.values())
    index = {r.id: i for i, r in enumerate(ordered)}
    results = [_sarif_result(f, index, False) for f in report.findings]
    results += [_sarif_result(s.finding, index, s.by_line) for s in report.suppressed]
    run = {
        "tool": {
            "driver": {
                "name": "migrate_tasks-lint",
                "version": version,
                "rules": [_sarif_rule(r) for r in ordered],
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2)
