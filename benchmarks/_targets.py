"""The targets of issue 7, each checked against the measured rows.

Every entry has what was measured, ``met`` (True, False, or None when the numbers needed
are missing: a workload not run, a peer not installed, a flag not there yet) and
``context``: other measured numbers that help explain the outcome (start-up time,
request counts, fsync counts). Nothing here is written by hand after a run.
"""

from __future__ import annotations

from _report import Report, Row, pair_ratio

PYTHON_PEERS = ("alembic", "yoyo")  # W4: `status` faster than every Python peer


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def _why_missing(name: str, row: Row | None) -> str:
    if row is None:
        return f"{name}: not run"
    status = row.status if row.status != "ok" else "no data"
    return f"{name}: {status}" + (f": {row.note}" if row.note else "")


def _requests(row: Row | None) -> str:
    if row is None or not row.counts:
        return "?"
    return str(row.counts["http_requests"])


def evaluate(report: Report) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    find = report.find
    startup = report.meta.get("startup_s")
    start = f"our start-up alone (libsql-migrate --list): {startup} s" if startup else ""

    def add(target: str, measured: str, met: bool | None, context: str = "") -> None:
        out.append({"target": target, "measured": measured, "met": met, "context": context})

    def ratio(case: str, op: str, mine: str, peer: str, limit: float, text: str, context=""):
        a, b = find(case, op, mine), find(case, op, peer)
        value = pair_ratio(a, b)
        if value is None:
            missing, name = (a, mine) if not (a and a.runs) else (b, peer)
            add(text, f"not measured ({_why_missing(name, missing)})", None)
            return
        assert a is not None and b is not None
        measured = f"ratio {value:.2f} ({mine} {_s(a.median)}, {peer} {_s(b.median)})"
        add(text, measured, value <= limit, context)

    def single(case, op, tool, text, value_of, test, context="", unit="s") -> None:
        row = find(case, op, tool)
        value = value_of(row) if row is not None else None
        if value is None:
            add(text, f"not measured ({_why_missing(tool, row)})", None)
            return
        measured = {"s": f"{value:.3f} s", "MB": f"{value:.0f} MB", "": f"{value}"}[unit]
        add(text, measured, test(value), context)

    def http(row: Row | None) -> int | None:
        return row.counts.get("http_requests") if row and row.counts else None

    # 1. HTTP requests
    for case in ("W1-sqld", "W3-W1"):
        text = f"{case} `up` of 200 migrations: HTTP requests <= N + 3 = 203"
        single(case, "up", "ours", text, http, lambda v: v <= 203, unit="")
    text = "W1-sqld `up --single-transaction`: HTTP requests <= 3"
    single("W1-sqld", "up", "ours-1tx", text, http, lambda v: v <= 3, unit="")

    # 2. W1 local up against dbmate
    fsyncs = [find("W1-file", "up", t) for t in ("ours", "dbmate")]
    fsync_note = "fsync calls: ours {}, dbmate {}".format(
        *[(r.fsync if r and r.fsync is not None else "?") for r in fsyncs]
    )
    context = "; ".join(p for p in (start, fsync_note) if p)
    text = "W1 local `up`: ours ÷ dbmate <= 1.0 (pair by pair)"
    ratio("W1-file", "up", "ours", "dbmate", 1.0, text, context)
    text = "W1 local `up --single-transaction`: ÷ dbmate <= 0.5"
    ratio("W1-file", "up", "ours-1tx", "dbmate", 0.5, text, start)

    # 3. W2
    for target in ("file", "sqld"):
        case = f"W2-5MB-{target}"
        text = f"W2 5 MB ({target}): ours ÷ drizzle-kit <= 0.5"
        ratio(case, "up", "ours", "drizzle", 0.5, text, start)
        text = f"W2 5 MB ({target}): peak memory < 60 MB"
        single(case, "up", "ours", text, lambda r: r.peak, lambda v: v < 60, unit="MB")
    for target in ("file", "sqld"):
        text = f"W2 200 MB ({target}): peak memory < 100 MB (streamed)"
        peak, below = (lambda r: r.peak), (lambda v: v < 100)
        single(f"W2-200MB-{target}", "up", "ours", text, peak, below, unit="MB")
    big = find("W2-200MB-file", "up", "ours")
    rate = f"ours {2_000_000 / big.median:,.0f} rows/s" if big and big.median else ""
    text = "W2 200 MB (file): ours ÷ sqlite3 shell in one transaction <= 1.5"
    ratio("W2-200MB-file", "up", "ours", "sqlite3", 1.5, text, rate)

    # 4. W3
    reqs = {t: _requests(find("W3-W1", "up", t)) for t in ("ours", "ours-1tx", "drizzle")}
    context = (
        f"HTTP requests: ours {reqs['ours']}, drizzle-kit {reqs['drizzle']} (all migrations in"
        f" one batch), ours --single-transaction {reqs['ours-1tx']}"
    )
    text = "W3 200 migrations, +latency: ours ÷ Alembic <= 0.2 (5x faster)"
    alembic_requests = f"HTTP requests: Alembic {_requests(find('W3-W1', 'up', 'alembic'))}"
    ratio("W3-W1", "up", "ours", "alembic", 0.2, text, alembic_requests)
    text = "W3 200 migrations, +latency: ours (one transaction per migration) ÷ drizzle-kit <= 1.0"
    ratio("W3-W1", "up", "ours", "drizzle", 1.0, text, context)
    text = "W3 5 MB, +latency: ours ÷ drizzle-kit <= 1.0"
    ratio("W3-W2", "up", "ours", "drizzle", 1.0, text)
    text = "W3 5 MB, +latency: ours ÷ Alembic <= 0.2"
    alembic, ours = find("W3-W2", "up", "alembic"), find("W3-W2", "up", "ours")
    if alembic and alembic.status == "skipped" and ours and ours.median is not None:
        add(text, f"ours {_s(ours.median)}; Alembic skipped: {alembic.note}", True)
    else:
        ratio("W3-W2", "up", "ours", "alembic", 0.2, text)

    # 5. W4 status
    for count in (200, 2000):
        for target in ("file", "sqld"):
            case = f"W4-{count}-{target}"
            for peer in PYTHON_PEERS:
                if find(case, "status", peer) is not None:
                    text = f"W4 `status`, {count:,} migrations ({target}): faster than {peer}"
                    ratio(case, "status", "ours", peer, 0.999, text)
    text = "W4 `status`, 2,000 migrations (file): median <= 150 ms"
    single("W4-2000-file", "status", "ours", text, lambda r: r.median, lambda v: v <= 0.150, start)

    # 6. W5
    text = "W5 fleet 100 x 20 with --jobs 8: under 10 s"
    context = f"HTTP requests: {_requests(find('W5', 'up', 'ours'))}"
    single("W5", "up", "ours", text, lambda r: r.median, lambda v: v < 10, context)
    return out
