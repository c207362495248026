"""Many transactions in one Hrana batch: the steps of ``run_groups`` over HTTP and
WebSocket, as plain dicts (the transport sends them), and how to read the outcome.

Each group is ``BEGIN``, its steps, ``COMMIT``, and a ``ROLLBACK`` only if the COMMIT
did not happen. Every step after ``BEGIN`` (and the COMMIT) runs only if the step
before it was ok AND the stream is still inside a transaction (``not is_autocommit``):
SQLite may end a transaction by itself (``OR ROLLBACK``, some I/O errors) and the steps
after it must then not run in autocommit mode. ``is_autocommit`` is Hrana 3: on a
``hrana2`` WebSocket (sqld closes the socket if it sees it there) the groups are a plain
chain of "the step before was ok", still safe because a step that fails stops the chain
and the parser refuses COMMIT/ROLLBACK in migration files (the only way a step could end
the transaction and succeed). A group's ``BEGIN`` (or its
``PRAGMA foreign_keys=OFF``, which goes before it) runs only if the group before it
committed, so nothing runs after a failure. We never use the ``error`` condition: sqld
evaluates it as "not ok", so a skipped step would count as failed; ``not ok`` says what
we mean on every server.

sqld parses a whole batch before running any of it: one statement it cannot parse fails
the request with nothing run (the driver then finds it: ``after_parse_error``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from migrate_tasks.drivers.base import Group, GroupsOutcome, Row
from migrate_tasks.drivers.hrana import (
    BEGIN,
    FOREIGN_KEYS_OFF,
    FOREIGN_KEYS_ON,
    IN_TRANSACTION,
    JSON,
    commit_error,
    control_step,
    error_text,
    ok_condition,
    result_rows,
    statement,
    step_error,
)
from migrate_tasks.errors import DatabaseError, StatementError


def _and(*conds: dict[str, Any]) -> dict[str, Any]:
    return {"type": "and", "conds": list(conds)}


@dataclass
class Span:
    """Where one group's steps are in the batch."""

    fk_off: int | None  # PRAGMA foreign_keys=OFF
    begin: int | None  # None: not a transaction (``Group.atomic`` False)
    first: int  # the group's step 0
    commit: int | None  # what the next group runs after (a non-atomic one: its last step)
    end: int  # one past the group's last step


class GroupBatch:
    """The batch of ``groups`` as Hrana steps, and where each group's steps are in it.
    ``guard``: also require ``not is_autocommit`` inside a transaction (Hrana 3).
    ``text``: keep each group's steps as one JSON text (``texts``: the steps of the
    group, comma-separated, no brackets) instead of dicts in ``steps``: HTTP sends text,
    5,000 steps as dicts were 5 MB of a 2,000-migration run's peak memory, and one
    encoder call per group costs a tenth of one per step."""

    def __init__(self, groups: Sequence[Group], *, guard: bool = True, text: bool = False) -> None:
        self.groups = groups
        self.guard = guard
        self.text = text
        self.steps: list[dict[str, Any]] = []  # (``text``: only the group being built)
        self.texts: list[str] = []
        self.count = 0  # steps so far
        self.spans: list[Span] = []
        #: A group with a parameter that cannot be sent: it and those after it are left out.
        self.bad: tuple[int, StatementError] | None = None
        for number, group in enumerate(groups):
            try:
                self._group(group)
            except StatementError as exc:
                self.groups = groups[:number]
                self.bad = (number, exc)
                self.count = self.spans[-1].end if self.spans else 0
                del self.steps[0 if text else self.count :]
                break

    def _group(self, group: Group) -> None:
        previous_commit = self.spans[-1].commit if self.spans else None
        start = ok_condition(previous_commit) if previous_commit is not None else None
        if not group.atomic:  # each step on its own, only if the one before it was ok
            first, last = self.count, previous_commit
            for i, step in enumerate(group.steps):
                entry: dict[str, Any] = {"stmt": statement(step.sql, step.params, i, rows=False)}
                if last is not None:
                    entry["condition"] = ok_condition(last)
                last = self._add(entry)
            self.spans.append(Span(None, None, first, last, self.count))
            self._encode()
            return
        fk_off = None
        if group.foreign_keys_off:
            fk_off = self._add(control_step(FOREIGN_KEYS_OFF, start))
            start = ok_condition(fk_off)
        begin = self._add(control_step(BEGIN, start))
        last = begin
        for i, step in enumerate(group.steps):
            stmt = statement(step.sql, step.params, i, rows=i in group.rows)
            last = self._add({"stmt": stmt, "condition": self._inside(ok_condition(last))})
        commit = self._add(control_step("COMMIT", self._inside(ok_condition(last))))
        rollback = {"type": "not", "cond": ok_condition(commit)}
        if self.guard:
            self._add(control_step("ROLLBACK", _and(rollback, IN_TRANSACTION)))
        else:  # not after a BEGIN that never ran (the chain stopped before this group)
            self._add(control_step("ROLLBACK", _and(ok_condition(begin), rollback)))
        if fk_off is not None:
            self._add(control_step(FOREIGN_KEYS_ON, ok_condition(fk_off)))
        self.spans.append(Span(fk_off, begin, begin + 1, commit, self.count))
        self._encode()

    def _inside(self, condition: dict[str, Any]) -> dict[str, Any]:
        """``condition``, and (``guard``) the stream still inside the transaction."""
        return _and(condition, IN_TRANSACTION) if self.guard else condition

    def _add(self, step: dict[str, Any]) -> int:
        self.steps.append(step)
        self.count += 1
        return self.count - 1

    def _encode(self) -> None:
        """``text``: the group just built becomes one JSON text."""
        if self.text and self.steps:
            self.texts.append(JSON.encode(self.steps)[1:-1])
            self.steps.clear()

    def locate(self, index: int) -> tuple[int, int]:
        """A step of all the groups' steps, counted in order -> (group, step in group)."""
        for number, group in enumerate(self.groups):
            if index < len(group.steps):
                return number, index
            index -= len(group.steps)
        raise IndexError(index)

    def outcome(self, result: dict[str, Any], display: str) -> GroupsOutcome:
        """Each committed group's rows, and the first failure (see ``Driver.run_groups``)."""
        outcomes, errors = result["step_results"], result["step_errors"]
        committed: list[list[list[Row]]] = []
        for group, span in zip(self.groups, self.spans, strict=True):
            failure = _failure(group, span, outcomes, errors, display)
            if failure is not None:
                return GroupsOutcome(committed, failure)
            steps = range(span.first, span.first + len(group.steps))
            committed.append([result_rows(outcomes[p]) for p in steps])
        return GroupsOutcome(committed)


def _failure(
    group: Group, span: Span, outcomes: list[Any], errors: list[Any], display: str
) -> DatabaseError | None:
    """Why this group did not commit; None if it did."""
    if span.begin is None:  # no transaction: the first failing step
        for i in range(len(group.steps)):
            p = span.first + i
            if errors[p] is not None:
                return step_error(i, errors[p], display)
            if outcomes[p] is None:
                return DatabaseError(f"{display}: step {i + 1} did not run", "HRANA_PROTO_ERROR")
        return None
    if span.fk_off is not None and errors[span.fk_off] is not None:
        message, code = error_text(errors[span.fk_off])
        return DatabaseError(f"could not turn foreign keys off: {message}", code)
    if outcomes[span.begin] is None:
        message, code = error_text(errors[span.begin] or {"message": "BEGIN did not run"})
        return DatabaseError(f"could not start a transaction: {message}", code)
    for i in range(len(group.steps)):
        p = span.first + i
        if errors[p] is not None:
            return step_error(i, errors[p], display)
        if outcomes[p] is None:  # skipped without an error: the transaction had ended
            return DatabaseError(
                f"{display}: the transaction ended before step {i + 1} of this unit ran"
                " (the server or SQLite ended it); nothing of this unit was applied",
                "TRANSACTION_ENDED",
            )
    if errors[span.commit] is not None or outcomes[span.commit] is None:
        return commit_error(errors[span.commit], display)
    return None


def after_parse_error(
    batch: GroupBatch, error: StatementError, run_groups: Callable[[list[Group]], GroupsOutcome]
) -> GroupsOutcome:
    """sqld refused to parse step ``error.index`` of all the groups' steps, so nothing
    ran: run the groups before its own (and, for a non-atomic group, its steps before
    the bad one) with ``run_groups``, and report it as that group's failure."""
    number, index = batch.locate(error.index)
    prefix = list(batch.groups[:number])
    failing = batch.groups[number]
    partial = not failing.atomic and index > 0  # its steps before it run, each
    if partial:
        prefix.append(Group(failing.steps[:index], atomic=False))
    before = run_groups(prefix)
    if before.failure is None:
        if partial:
            before.committed.pop()
        before.failure = StatementError(index, error.message, error.code)
    return before
