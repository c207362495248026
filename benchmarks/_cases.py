"""The workloads of issue 7 as benchmark cases: what runs, on what, how many times.

A case is one workload on one target. Each repetition gets a fresh database (a new file,
or a new sqld), except W4, whose databases are migrated once per tool (untimed) and then
only read. Within a repetition the ``ops`` are timed in order (W1: up, then down).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from _workloads import Migration, data_migration, failing_migrations, schema_migrations

BIG_ROWS = 2_000_000
SMALL_ROWS = 50_000
FAIL_AT = 100  # W7: the migration (1-based) whose INSERT fails

# Sets of migrations: key -> (how to make them, how many, rows loaded). Cases with the
# same key share the generated files.
SETS: dict[str, tuple[Callable[[], list[Migration]], int, int]] = {
    "w1": (lambda: schema_migrations(200), 200, 0),
    "w2s": (lambda: data_migration(SMALL_ROWS), 1, SMALL_ROWS),
    "w2b": (lambda: data_migration(BIG_ROWS), 1, BIG_ROWS),
    "w4-200": (lambda: schema_migrations(200), 200, 0),
    "w4-2000": (lambda: schema_migrations(2000), 2000, 0),
    "w5": (lambda: schema_migrations(20), 20, 0),
    "w7": (lambda: failing_migrations(200, FAIL_AT), 200, 0),
}
EVERY = ["ours", "ours-1tx", "dbmate", "drizzle", "alembic", "yoyo", "sqlite3"]
REMOTE = ["ours", "ours-1tx", "drizzle", "alembic"]  # tools that can reach sqld
FAST_REMOTE = ["ours", "ours-1tx", "drizzle"]  # Alembic: 8 requests a migration, too slow
#: Cases that also run ``ours-before`` (another installation) when run.py has --before.
BEFORE_CASES = {"W1-sqld", "W3-W1", "W6", "W7", "W5"}
DATA = ["ours", "dbmate", "drizzle", "alembic", "yoyo", "sqlite3"]
DATA_REMOTE = ["ours", "drizzle", "alembic"]
STATUS = ["ours", "dbmate", "drizzle", "alembic", "yoyo"]


@dataclass
class Case:
    id: str
    title: str
    target: str  # "file" or "sqld"
    set_key: str
    ops: list[str]
    tools: list[str]
    reps: int
    fresh: bool = True  # a new database for every repetition
    delay: float = 0.0  # added per HTTP round trip (W3)
    tool_reps: dict[str, int] = field(default_factory=dict)
    probe: bool = True  # one untimed counting run per tool (strace / proxy), also a warm-up
    no_probe: set[str] = field(default_factory=set)  # tools whose probe run is too slow
    fleet: int = 0  # W5: namespaces
    fails_at: int = 0  # W7: the migration that fails (``up`` is expected to exit non-zero)

    @property
    def workload(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def count(self) -> int:
        return SETS[self.set_key][1]

    @property
    def rows(self) -> int:
        return SETS[self.set_key][2]

    def migrations(self) -> list[Migration]:
        return SETS[self.set_key][0]()


def build_cases(quick: bool, reps: int | None, latency_ms: float) -> list[Case]:
    def n(full: int, fast: int) -> int:
        return reps if reps is not None else (fast if quick else full)

    lat = f"+{latency_ms:g} ms/round trip"
    delay = latency_ms / 1000
    big, small = "2,000,000 rows (200 MB)", "50,000 rows (5 MB)"
    remote_status = [t for t in STATUS if t in REMOTE]
    w2_file = Case("W2-5MB-file", small, "file", "w2s", ["up"], DATA, n(5, 1))
    # dbmate is quadratic in statements here (~55 s a run, ~85 s under strace); yoyo ~16 s
    w2_file.tool_reps = {"dbmate": 1, "yoyo": min(3, n(5, 1))}
    w2_file.no_probe = {"dbmate"}
    w2_sqld = Case("W2-5MB-sqld", small, "sqld", "w2s", ["up"], DATA_REMOTE, n(5, 1))
    w2_sqld.tool_reps = {"alembic": 1}  # ~40 s a run: one HTTP request per statement
    w2_big = Case("W2-200MB-file", big, "file", "w2b", ["up"], DATA, n(2, 1), probe=False)
    w2_big.tool_reps = {"dbmate": 1, "drizzle": 1, "yoyo": 1}  # ours and sqlite3: 2
    w3_w1 = Case("W3-W1", f"200 migrations, {lat}", "sqld", "w1", ["up", "down"], REMOTE, n(5, 1))
    w3_w1.tool_reps = {"alembic": min(2, n(5, 1))}  # ~40 s a run
    w3_w2 = Case("W3-W2", f"{small}, {lat}", "sqld", "w2s", ["up"], DATA_REMOTE, n(5, 1))
    # Issue 13: the same 200 migrations farther away (50 and 100 ms per round trip).
    far = []
    for ms in (50, 100):
        title = f"200 migrations, +{ms} ms/round trip"
        case = Case(f"W3-W1-{ms}ms", title, "sqld", "w1", ["up", "down"], FAST_REMOTE, n(3, 1))
        case.delay = ms / 1000
        far.append(case)
    # Issue 13: a failure in migration FAIL_AT of 200 (time to the error, what is applied).
    title = f"migration {FAIL_AT} of 200 fails, {lat}"
    w7 = Case("W7", title, "sqld", "w7", ["up"], FAST_REMOTE, n(5, 2), fails_at=FAIL_AT)
    w7.delay = delay
    for case in (w3_w1, w3_w2, *far, w7):
        case.delay, case.probe = case.delay or delay, False  # counts come from the timed runs
    cases = [
        Case("W1-file", "200 migrations", "file", "w1", ["up", "down"], EVERY, n(7, 2)),
        Case("W1-sqld", "200 migrations", "sqld", "w1", ["up", "down"], REMOTE, n(7, 2)),
        w2_file,
        w2_sqld,
        w2_big,
        Case("W2-200MB-sqld", big, "sqld", "w2b", ["up"], DATA_REMOTE, n(1, 1), probe=False),
        w3_w1,
        *far,
        w3_w2,
        w7,
    ]
    for count in ("200", "2000"):
        title, key = f"{int(count):,} applied migrations", f"w4-{count}"
        for target, tools in (("file", STATUS), ("sqld", remote_status)):
            case = Case(
                f"W4-{count}-{target}", title, target, key, ["status", "up"], tools, n(7, 2)
            )
            case.fresh = False
            cases.append(case)
    # Issue 13: 2,000 migrations applied and rolled back on sqld (shares W4-2000's files).
    title = "2,000 migrations"
    cases.append(Case("W6", title, "sqld", "w4-2000", ["up", "down"], FAST_REMOTE, n(3, 1)))
    fleet = "fleet: 100 namespaces x 20 migrations, --jobs 8"
    cases.append(Case("W5", fleet, "sqld", "w5", ["up"], ["ours"], n(5, 1), fleet=100))
    for case in cases:  # issue 13's "faster than before", pair by pair (run.py --before)
        if case.id in BEFORE_CASES:  # a new list: the tool lists above are shared
            case.tools = [case.tools[0], "ours-before", *case.tools[1:]]
    if quick:
        cases = [c for c in cases if c.rows != BIG_ROWS]
    return cases
