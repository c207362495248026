"""The Hrana vocabulary both sqld drivers speak: values, statements, batch steps, errors.

Hrana is sqld's protocol, the same over HTTP (``/v3/pipeline``, ``drivers.http``) and
over a WebSocket (``drivers.ws``): a statement is ``{"sql", "args", "want_rows"}``, a
batch step may carry a condition on another step (``ok_condition``), and each step of a
batch answers with a result or an error. Here is how we encode our values and steps,
decode rows, and turn the server's errors into ours, so that both drivers report
exactly the same things in the same words.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from migrate_tasks.drivers.base import Row
from migrate_tasks.errors import DatabaseError, StatementError

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
#: How long the best-effort ROLLBACK after a failure may take: the original failure is
#: what the user needs to see, soon.
ABORT_TIMEOUT = 2.0
#: A compact JSON encoder (a ``json.dumps`` per step was a third of the client's time on
#: two million steps).
JSON = json.JSONEncoder(separators=(",", ":"))
#: A str as JSON text, quotes included.
encode_text: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
#: How every transaction of ours starts on a server: with the write lock, like the
#: local driver. A deferred ``BEGIN`` that reads before it writes (the lease guard,
#: the lock attempt's read of the lease) turns into sqld's lock-steal loop when
#: another connection commits in between: the upgrade waits 5 s, steals, fails with
#: "database is locked", and the writer it stole from stalls for as long as such
#: upgrades keep coming (docs/libsql-notes.md §10).
BEGIN = "BEGIN IMMEDIATE"
#: A step's condition: the stream is still inside a transaction (Hrana 3). SQLite or
#: sqld may end a transaction by itself, and the steps after it must not then run in
#: autocommit mode.
IN_TRANSACTION = {"type": "not", "cond": {"type": "is_autocommit"}}
FOREIGN_KEYS_OFF = "PRAGMA foreign_keys=OFF"
FOREIGN_KEYS_ON = "PRAGMA foreign_keys=ON"
#: sqld ended the transaction itself; the unit is not at fault.
INTERRUPTED_CODES = frozenset({"TRANSACTION_TIMEOUT", "STREAM_EXPIRED"})


# -- values -------------------------------------------------------------------


def to_hrana(value: Any) -> dict[str, Any]:
    """Encode one Python value as a Hrana value (integers travel as strings)."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "integer", "value": "1" if value else "0"}
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise ValueError(f"integer {value} does not fit in SQLite's 64 bits")
        return {"type": "integer", "value": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be sent to sqld (JSON has no NaN/Infinity)")
        return {"type": "float", "value": value}
    if isinstance(value, str):
        return {"type": "text", "value": value}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"type": "blob", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    raise ValueError(f"unsupported parameter type {type(value).__name__}")


def from_hrana(value: dict[str, Any]) -> Any:
    """Decode one Hrana value; sqld sends base64 without padding, so add it back."""
    kind = value.get("type")
    if kind == "null":
        return None
    if kind == "integer":
        return int(value["value"])
    if kind == "float":
        return float(value["value"])
    if kind == "text":
        return value["value"]
    if kind == "blob":
        data = value.get("base64") or ""
        return base64.b64decode(data + "=" * (-len(data) % 4))
    raise DatabaseError(f"unknown Hrana value type {kind!r}", "HRANA_PROTO_ERROR")


def result_rows(result: dict[str, Any] | None) -> list[Row]:
    """The rows of a Hrana statement result, decoded."""
    if not result:
        return []
    return [tuple(from_hrana(v) for v in row) for row in result.get("rows", ())]


# -- statements and batch steps -------------------------------------------------


def statement(sql: str, params: Sequence[Any], index: int, *, rows: bool = True) -> dict[str, Any]:
    """A Hrana statement; a parameter that cannot be sent is step ``index``'s error."""
    try:
        args = [to_hrana(p) for p in params]
    except ValueError as exc:
        raise StatementError(index, f"bad parameter: {exc}", "ARGS_INVALID") from None
    return {"sql": sql, "args": args, "want_rows": rows}


def ok_condition(step: int) -> dict[str, Any]:
    """A batch condition: step ``step`` of the same batch succeeded."""
    return {"type": "ok", "step": step}


def control_step(sql: str, condition: dict[str, Any] | None) -> dict[str, Any]:
    """A batch step of ours (no rows wanted), run only if ``condition`` holds."""
    step: dict[str, Any] = {"stmt": {"sql": sql, "want_rows": False}}
    if condition is not None:
        step["condition"] = condition
    return step


# -- errors -------------------------------------------------------------------


def error_text(error: dict[str, Any]) -> tuple[str, str | None]:
    """A Hrana error's message and code."""
    return str(error.get("message") or "unknown error"), error.get("code")


def step_error(index: int, error: dict[str, Any], display: str) -> DatabaseError:
    """Step ``index`` failed: its own fault (``StatementError``), or sqld ended the
    transaction under it (a plain ``DatabaseError`` that says so)."""
    message, code = error_text(error)
    if code in INTERRUPTED_CODES:
        return interrupted_error(code, display)
    return StatementError(index, message, code)


def commit_error(error: dict[str, Any] | None, display: str) -> DatabaseError:
    """The COMMIT step failed (or did not run): nothing of the unit was applied."""
    message, code = error_text(error or {"message": "COMMIT did not run"})
    if code in INTERRUPTED_CODES:
        return interrupted_error(code, display)
    return DatabaseError(f"COMMIT failed, nothing of this unit was applied: {message}", code)


def transaction_rows(
    outcomes: Sequence[Any], errors: Sequence[Any], display: str
) -> list[list[Row]]:
    """Each step's rows of a batch run inside an open transaction; the first failing
    step's error, or ``TRANSACTION_TIMEOUT`` for a step skipped without one (the
    transaction had ended)."""
    rows: list[list[Row]] = []
    for j, (outcome, failure) in enumerate(zip(outcomes, errors, strict=True)):
        if failure is not None:
            raise step_error(j, failure, display)
        if outcome is None:
            raise interrupted_error("TRANSACTION_TIMEOUT", display)
        rows.append(result_rows(outcome))
    return rows


def interrupted_error(code: str, display: str) -> DatabaseError:
    """A clear error for a transaction sqld ended on its own: what happened, that
    nothing of the unit was applied, and what to do about it."""
    if code == "STREAM_EXPIRED":
        what = (
            "sqld dropped the transaction because its HTTP stream was idle for more than"
            " 10 s between two requests (STREAM_EXPIRED)"
        )
        todo = (
            "run it again, and keep the process from pausing mid-run (a suspended"
            " terminal, a slow disk or a debugger)"
        )
    else:
        what = (
            "sqld rolled back the transaction because another writer waited for the"
            " database while this transaction was more than 5 s old (TRANSACTION_TIMEOUT)"
        )
        todo = (
            "run big migrations when no other writer is active, or split them into"
            " smaller migrations; on a namespace you can raise its txn_timeout_s"
        )
    return DatabaseError(f"{display}: {what}; nothing of this unit was applied; {todo}", code)


def auth_message(display: str, server_text: str, *, has_token: bool, forbidden: bool) -> str:
    """Say which of the four auth problems this is, keeping the server's own words."""
    if forbidden:
        hint = (
            "the auth token is valid but not allowed to do this "
            "(a read-only token cannot write; use a token with write access)"
        )
    elif not has_token:
        hint = (
            "the server requires an auth token and none was given; "
            "pass --auth-token or add ?authToken=... to the URL"
        )
    elif "expired" in server_text.lower():
        hint = "the auth token has expired; create a new one"
    else:
        hint = (
            "the auth token is invalid (malformed, or signed by a key this server does not trust)"
        )
    return f"{display}: {hint} (server: {server_text})"
