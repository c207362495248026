"""The one rule set: every rule registers here with its id, severity and documentation.

A rule is a function decorated with ``@rule(...)`` in one of the family modules under
``rules/``. It receives a context (``context.py``) and yields ``Hit`` objects; the
runner turns those into ``Finding`` objects with the rule's id and severity, so a
rule never repeats them. ``scope`` says what the function is given:

* ``statement``: one statement of a section, with the schema before and after it;
* ``section``: a whole section, with its statements (those worth a look) in order;
* ``migration``: the migration, for rules about the file as a whole (history, no down).

The up section is walked on the scratch database; rules that also read the down section
(what a target refuses) say so with ``directions``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from migrate_tasks.lint.model import SEVERITIES, Rule

#: The family modules, in the order their rules are documented.
FAMILIES = (
    "build", "destructive", "foreign_keys", "data", "compat", "targets", "size", "history",
)  # fmt: skip


@dataclass(frozen=True)
class Hit:
    """What a rule found: where, about what, and the one-line message."""

    line: int | None
    object: str
    message: str


@dataclass(frozen=True)
class Check:
    rule: Rule
    scope: str
    directions: tuple[str, ...]
    fn: Callable[..., Iterable[Hit]]
    #: Compares schemas: not run once a statement of the section failed on the scratch
    #: database (the schema after it is unknown), nor on statements never run there.
    reads_schema: bool = True


_CHECKS: dict[str, Check] = {}

#: Rule ids no longer in use, and why: a ``nolint`` naming one is still accepted (and
#: silences nothing), so that files written for an older version keep linting.
RETIRED = {
    "LS503": "refused-option (foreign_keys:off over ws://): every target runs it now",
}


def rule(
    rule_id: str,
    name: str,
    severity: str,
    *,
    summary: str,
    why: str,
    instead: str,
    scope: str = "statement",
    directions: tuple[str, ...] = ("up",),
    reads_schema: bool = True,
) -> Callable[[Callable[..., Iterable[Hit]]], Callable[..., Iterable[Hit]]]:
    """Register the decorated function as rule ``rule_id`` (family: its module's name)."""
    assert severity in SEVERITIES and scope in ("statement", "section", "migration")

    def register(fn: Callable[..., Iterable[Hit]]) -> Callable[..., Iterable[Hit]]:
        family = fn.__module__.rsplit(".", 1)[-1]
        assert rule_id not in _CHECKS, f"rule {rule_id} registered twice"
        meta = Rule(rule_id, name, severity, family, summary, why.strip(), instead.strip())
        _CHECKS[rule_id] = Check(meta, scope, directions, fn, reads_schema)
        return fn

    return register


def checks() -> list[Check]:
    """Every registered check, by rule id (the family modules are imported on first use)."""
    for family in FAMILIES:
        importlib.import_module(f"migrate_tasks.lint.rules.{family}")
    return [_CHECKS[k] for k in sorted(_CHECKS)]


def rules() -> dict[str, Rule]:
    """Every rule by id, in id order: what docs/lint.md and SARIF describe."""
    return {c.rule.id: c.rule for c in checks()}
