"""The targets of issue 13 (remote at wire speed), each checked against the measured rows.

Same shape as ``_targets.evaluate``: what was measured, ``met`` (True, False, or None
when a number is missing) and context. "Before" is what the issue measured on the code
before it (RESULTS.md of 9ca8c6f, re-measured): the targets that say "half of today" or
"10x faster than today" are fixed against those numbers, so they do not move with the
code under test. benchmarks/README.md has the full before table.
"""

from __future__ import annotations

from collections.abc import Callable

from _report import Report, Row, pair_ratio
from _targets import _requests, _s, _why_missing

#: Seconds, before issue 13 (the issue's own measurements).
BEFORE = {"W3-W1 up": 5.2, "W1-sqld up": 0.69, "W5 up": 2.6}
N_REQUESTS = 200  # "for N = 200, at most 4 requests"
MAX_REQUESTS = 4
RSS_MB = 60.0

Add = Callable[..., None]  # add(target, measured, met, context="")
Find = Callable[[str, str, str], "Row | None"]  # Report.find(case, op, tool)


def evaluate(report: Report) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    find = report.find

    def add(target: str, measured: str, met: bool | str | None, context: str = "") -> None:
        out.append({"target": target, "measured": measured, "met": met, "context": context})

    def missing(case: str, op: str, tool: str) -> str:
        return f"not measured ({_why_missing(f'{case} {tool}', find(case, op, tool))})"

    # 1. Requests per run, counted at the proxy.
    for case, op in (("W1-sqld", "up"), ("W1-sqld", "down"), ("W3-W1", "up"), ("W3-W1", "down")):
        row = find(case, op, "ours")
        text = f"{case} `{op}` of {N_REQUESTS} migrations: HTTP requests <= {MAX_REQUESTS}"
        count = row.counts.get("http_requests") if row and row.counts else None
        if count is None:
            add(text, missing(case, op, "ours"), None)
        else:
            add(text, str(count), count <= MAX_REQUESTS, _connections(row))
    for op in ("up", "down"):
        row = find("W6", op, "ours")
        text = f"W6 `{op}` of 2,000 migrations: HTTP requests (3 + ceil(N / step budget))"
        count = row.counts.get("http_requests") if row and row.counts else None
        if count is None:
            add(text, missing("W6", op, "ours"), None)
            continue
        per = f"{2000 / (count - 3):.0f} migrations a request" if count > 3 else ""
        add(text, str(count), "info", "; ".join(p for p in (_connections(row), per) if p))

    # 2. W3: 200 migrations at 20 ms per round trip.
    ours = find("W3-W1", "up", "ours")
    farther = []
    for ms in (50, 100):
        case = f"W3-W1-{ms}ms"
        a, b = find(case, "up", "ours"), find(case, "up", "drizzle")
        value = pair_ratio(a, b)
        if value is not None and a is not None and b is not None:
            farther.append(
                f"+{ms} ms: ratio {value:.2f} (ours {_s(a.median)}, drizzle-kit {_s(b.median)},"
                f" ours {_requests(a)} requests)"
            )
    _ratio(add, find, "W3-W1", "ours", "drizzle", 1.0,
           "W3 200 migrations +20 ms/round trip, one transaction each: ours ÷ drizzle-kit <= 1.0",
           "; ".join(farther))  # fmt: skip
    text = "W3 200 migrations +20 ms/round trip: >= 10x faster than before"
    _versus_before(add, find, "W3-W1", text, 0.1, f"{_requests(ours)} requests")

    # 3. 2,000 migrations on a local sqld.
    w6 = find("W6", "up", "ours")
    _below(add, w6, "ours", "W6", "W6 2,000 migrations on sqld: <= 2 s", 2.0, "")
    _ratio(
        add,
        find,
        "W6",
        "ours",
        "drizzle",
        1.0,
        "W6 2,000 migrations on sqld: ours ÷ drizzle-kit <= 1.0",
    )
    text = f"W6 2,000 migrations on sqld: peak RSS < {RSS_MB:g} MB"
    if w6 is None or w6.peak is None:
        add(text, missing("W6", "up", "ours"), None)
    else:
        add(text, f"{w6.peak:.0f} MB", w6.peak < RSS_MB, "ru_maxrss of the whole process")

    # 4. W1 on sqld and on a file.
    text = "W1 200 migrations on sqld: <= half of before"
    _versus_before(add, find, "W1-sqld", text, 0.5, "")
    stretch = pair_ratio(find("W1-file", "up", "ours"), find("W1-file", "up", "dbmate"))
    context = "stretch goal 1.0" + (
        f" ({'met' if stretch <= 1.0 else 'not met'})" if stretch else ""
    )
    _ratio(
        add, find, "W1-file", "ours", "dbmate", 1.5, "W1 local file: ours ÷ dbmate <= 1.5", context
    )

    # 5. Fleet.
    text = "W5 fleet 100 x 20, --jobs 8: <= half of before"
    _versus_before(add, find, "W5", text, 0.5, f"{_requests(find('W5', 'up', 'ours'))} requests")

    # 6. A failure in the middle of 200 migrations.
    _failure(add, find)
    return out


def _connections(row: Row | None) -> str:
    if row is None or not row.counts:
        return ""
    return f"{row.counts.get('connections', '?')} connection(s)"


def _ratio(
    add: Add,
    find: Find,
    case: str,
    mine: str,
    peer: str,
    limit: float,
    text: str,
    context: str = "",
) -> None:
    a, b = find(case, "up", mine), find(case, "up", peer)
    value = pair_ratio(a, b)
    if value is None:
        row, name = (a, mine) if not (a and a.runs) else (b, peer)
        add(text, f"not measured ({_why_missing(name, row)})", None)
        return
    measured = f"ratio {value:.2f} ({mine} {_s(a.median)}, {peer} {_s(b.median)})"
    add(text, measured, value <= limit, context)


def _below(
    add: Add, row: Row | None, tool: str, case: str, text: str, limit: float, context: str
) -> None:
    if row is None or row.median is None:
        add(text, f"not measured ({_why_missing(f'{case} {tool}', row)})", None)
        return
    add(text, f"{row.median:.3f} s (limit {limit:.3f} s)", row.median <= limit, context)


def _versus_before(add: Add, find: Find, case: str, text: str, limit: float, context: str) -> None:
    """``up`` of ``case`` at most ``limit`` x before: pair by pair against ``ours-before``
    when the run had ``--before``, else against the issue's fixed before number."""
    ours, before = find(case, "up", "ours"), find(case, "up", "ours-before")
    value = pair_ratio(ours, before)
    baseline = BEFORE[f"{case} up"]
    if value is None or ours is None or before is None:
        fixed = f"{text} ({baseline} s, the issue's number)"
        _below(add, ours, "ours", case, fixed, baseline * limit, context)
        return
    measured = f"ratio {value:.2f} (ours {_s(ours.median)}, before {_s(before.median)})"
    fixed = f"against the issue's {baseline} s: limit {baseline * limit:.3f} s"
    add(
        f"{text} (pair by pair)",
        measured,
        value <= limit,
        "; ".join(p for p in (context, fixed) if p),
    )


def _failure(add: Add, find: Find) -> None:
    """W7: exactly the migrations before the failing one applied, in every repetition."""
    text = "W7 failure in migration 100 of 200: exactly migrations 1-99 applied and recorded"
    row = find("W7", "up", "ours")
    if row is None or (not row.runs and row.status == "ok"):
        add(text, f"not measured ({_why_missing('W7 ours', row)})", None)
        return
    if row.status != "ok":
        add(text, f"{row.status}: {row.note}", False)
        return
    peers = []
    for key in ("ours-before", "ours-1tx", "drizzle"):
        peer = find("W7", "up", key)
        if peer is not None and peer.median is not None:
            what = f"{_requests(peer)} requests" if key == "ours-before" else "applies nothing"
            peers.append(f"{key} {_s(peer.median)} ({what})")
    measured = (
        f"{len(row.runs)} of {len(row.runs)} runs right; time to the error {_s(row.median)},"
        f" {_requests(row)} requests"
    )
    add(text, measured, True, "; ".join(peers))
