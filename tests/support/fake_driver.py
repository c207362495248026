"""A recording fake of ``drivers.base.Driver``, for engine unit tests without a database.

It records every call (which method, its steps, in order) and answers from a script:
rules matched against each step's SQL, the newest matching rule wins, that give the
step rows or make it fail; a step no rule matches returns no rows. A step that fails raises what a real driver raises: ``StatementError``
with the step's index within the call (``run_atomic``, ``run_atomic_iter``,
``run_each``), or the ``DatabaseError`` itself for ``query``/``query_many``. A rule may
instead fail the whole call (``DatabaseError``: a refused COMMIT, a transaction sqld
ended). Nothing is executed: the engine's decisions are what these tests look at;
``tests/test_driver_contract.py`` is the judge of real drivers.

    driver = FakeDriver()
    driver.answer('INSERT INTO "schema_migrations_lock"', [("me",)])   # we hold the lease
    driver.fail("INSERT INTO nope", "no such table: nope", code="SQLITE_ERROR")
    engine = Engine(driver, folder, "schema_migrations")
    ...
    driver.calls[-1].kind, driver.calls[-1].sql   # "atomic", ["UPDATE ...", ...]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from migrate_tasks.drivers.base import Row, Step
from migrate_tasks.errors import DatabaseError, MigrateError, StatementError, UsageError

Match = str | Callable[[Step], bool]


@dataclass
class Call:
    """One driver call: ``kind`` is query, query_many, atomic, atomic_iter or each."""

    kind: str
    steps: list[Step]
    foreign_keys_off: bool = False

    @property
    def sql(self) -> list[str]:
        return [s.sql for s in self.steps]


@dataclass
class Rule:
    match: Match
    rows: list[Row] = field(default_factory=list)
    error: MigrateError | None = None
    #: Fail the whole call with ``error`` (not as the step's ``StatementError``).
    whole_call: bool = False
    #: Raise ``error`` itself, whatever the call.
    raw: bool = False
    #: How many more steps this rule may match (None: any number).
    times: int | None = None

    def matches(self, step: Step) -> bool:
        if self.times == 0:
            return False
        if callable(self.match):
            return self.match(step)
        return self.match in step.sql


class FakeDriver:
    """Implements the Driver protocol in memory; see the module docstring."""

    name = "fake"
    display_url = "fake:db"
    libsql_syntax = True
    runs_groups = False  # the engine's one-unit-per-call path
    group_max_steps = 0
    group_max_bytes = 0

    def __init__(
        self,
        *,
        is_server: bool = False,
        can_switch_foreign_keys: bool = True,
        may_be_replica: bool = False,
        reads_in_one_round_trip: bool = True,
    ) -> None:
        self.is_server = is_server
        self.can_switch_foreign_keys = can_switch_foreign_keys
        self.may_be_replica = may_be_replica
        self.reads_in_one_round_trip = reads_in_one_round_trip
        self.calls: list[Call] = []
        self.rules: list[Rule] = []
        self.closed = False

    # -- the script ---------------------------------------------------------------

    def answer(self, match: Match, rows: list[Row], *, times: int | None = None) -> FakeDriver:
        """Steps matching ``match`` (a substring of the SQL, or a predicate) return ``rows``."""
        self.rules.append(Rule(match, rows=rows, times=times))
        return self

    def fail(
        self,
        match: Match,
        message: str,
        *,
        code: str | None = "SQLITE_ERROR",
        whole_call: bool = False,
        times: int | None = None,
    ) -> FakeDriver:
        """Steps matching ``match`` fail with ``message``; ``whole_call``: the call fails
        as a whole (``DatabaseError``), as a refused COMMIT does."""
        rule = Rule(match, error=DatabaseError(message, code), whole_call=whole_call, times=times)
        self.rules.append(rule)
        return self

    def raises(self, match: Match, error: MigrateError, *, times: int | None = None) -> FakeDriver:
        """A call reaching a step matching ``match`` raises ``error`` as it is (a lost
        connection, a refused token)."""
        self.rules.append(Rule(match, error=error, raw=True, times=times))
        return self

    # -- what happened ------------------------------------------------------------

    def kinds(self) -> list[str]:
        return [c.kind for c in self.calls]

    def writes(self) -> list[Call]:
        """The calls that could write (every one but the plain reads)."""
        return [c for c in self.calls if c.kind not in ("query", "query_many")]

    # -- the Driver protocol -------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        step = Step(sql, tuple(params))
        self.calls.append(Call("query", [step]))
        rule = self._rule(step)
        if rule is not None and rule.error is not None:
            raise _error(rule)
        return list(rule.rows) if rule else []

    def query_many(self, steps: Sequence[Step]) -> list[list[Row] | DatabaseError]:
        self.calls.append(Call("query_many", list(steps)))
        answers: list[list[Row] | DatabaseError] = []
        for step in steps:
            rule = self._rule(step)
            if rule is not None and rule.raw and rule.error is not None:
                raise rule.error
            if rule is not None and rule.error is not None:
                answers.append(_error(rule))
            else:
                answers.append(list(rule.rows) if rule else [])
        return answers

    def run_atomic(
        self, steps: Sequence[Step], *, foreign_keys_off: bool = False
    ) -> list[list[Row]]:
        return self._run("atomic", steps, foreign_keys_off)

    def run_atomic_iter(self, steps: Iterable[Step], *, foreign_keys_off: bool = False) -> None:
        self._run("atomic_iter", steps, foreign_keys_off)

    def run_each(self, steps: Sequence[Step]) -> list[list[Row]]:
        return self._run("each", steps, False)

    def ending(self) -> None:
        """Nothing to do: nothing to end."""

    def run_groups(self, groups: object) -> NoReturn:
        raise AssertionError("runs_groups is False: the engine never calls run_groups")

    def close(self) -> None:
        self.closed = True

    # -- internals -----------------------------------------------------------------

    def _run(self, kind: str, steps: Iterable[Step], foreign_keys_off: bool) -> list[list[Row]]:
        if foreign_keys_off and not self.can_switch_foreign_keys:
            raise UsageError("foreign_keys:off cannot run here (the fake says so)")
        call = Call(kind, [], foreign_keys_off)
        self.calls.append(call)
        rows: list[list[Row]] = []
        for index, step in enumerate(steps):  # lazily, as a real driver consumes them
            call.steps.append(step)
            rule = self._rule(step)
            if rule is not None and rule.error is not None:
                if rule.raw or rule.whole_call:
                    raise _error(rule)
                assert isinstance(rule.error, DatabaseError)
                raise StatementError(index, rule.error.message, rule.error.code)
            rows.append(list(rule.rows) if rule else [])
        return [] if kind == "atomic_iter" else rows

    def _rule(self, step: Step) -> Rule | None:
        for rule in reversed(self.rules):  # the newest rule wins: tests override defaults
            if rule.matches(step):
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None


def _error(rule: Rule) -> MigrateError:
    """A fresh copy of the rule's error (a raised exception keeps its traceback)."""
    error = rule.error
    assert error is not None
    if rule.raw or not isinstance(error, DatabaseError):
        return error
    return DatabaseError(error.message, error.code)
