"""A live progress line for long runs, on a terminal only (``up``/``down``).

Fed by the engine's events (``engine.progress``): which migration of how many, and for a
migration with many statements how many went out (for a streamed file, how many
megabytes of it). One line on stderr, rewritten in place at most every ``INTERVAL_S``
seconds, cleared when a migration commits so the log line that says so starts clean.
Not a terminal, ``--json``, ``--dry-run``, or a run over in less than ``DELAY_S``:
nothing is written. A log line written while the line shows clears it first
(``report.logs``: one lock for every write to stderr). Colour (the
line is dim) only when ``NO_COLOR`` is unset or empty and the terminal is not dumb.

``MIGRATE_TASKS_PROGRESS_DELAY_S`` replaces ``DELAY_S`` (the line is then redrawn at most
that often too, so ``0`` draws every event: what the tests use instead of waiting).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol, TextIO, TypeVar

from migrate_tasks.report.logs import STDERR_LOCK, before_each_line

if TYPE_CHECKING:
    from migrate_tasks.engine.progress import ProgressEvent

__all__ = [
    "DELAY_ENV",
    "DELAY_S",
    "INTERVAL_S",
    "Line",
    "TerminalProgress",
    "progress_for",
    "shown_while",
    "wants_colour",
]

#: Nothing is shown for a run shorter than this: a quick `up` prints what it always did.
DELAY_S = 0.5
#: The line is rewritten at most this often.
INTERVAL_S = 0.1
DELAY_ENV = "MIGRATE_TASKS_PROGRESS_DELAY_S"
L = TypeVar("L", bound="Line")
_CLEAR = "\r\x1b[K"
_DIM, _RESET = "\x1b[2m", "\x1b[0m"


def wants_colour(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """https://no-color.org: any non-empty NO_COLOR turns colour off; so does TERM=dumb."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return stream.isatty()


def progress_for(
    stream: TextIO, *, enabled: bool = True, environ: Mapping[str, str] | None = None
) -> TerminalProgress | None:
    """A progress line on ``stream`` if it is a terminal and ``enabled`` (not --json)."""
    if not enabled or not stream.isatty():
        return None
    env = os.environ if environ is None else environ
    delay = DELAY_S
    with contextlib.suppress(ValueError):
        delay = max(0.0, float(env.get(DELAY_ENV, DELAY_S)))
    return TerminalProgress(
        stream, colour=wants_colour(stream, env), delay=delay, interval=min(INTERVAL_S, delay)
    )


class Line(Protocol):
    """A live line on a terminal: this one, or the fleet's (``report.fleet``)."""

    def clear(self) -> None: ...


@contextlib.contextmanager
def shown_while(line: L | None) -> Iterator[L | None]:
    """``line`` for the block: every log line (``report.logs``) clears it first, and it is
    gone when the block ends, however it ends."""
    if line is None:
        yield None
        return
    try:
        with before_each_line(line.clear):
            yield line
    finally:
        line.clear()


def describe(event: ProgressEvent) -> str:
    """``[3/200] 20240101_add_x (up): 12,000 of 40,000 statements, 45.2 of 200.0 MB``"""
    text = f"[{event.index}/{event.total}] {event.label}"
    if event.kind == "statements":
        done = f"{event.statements:,}"
        if event.statements_total:
            done += f" of {event.statements_total:,}"
        text += f": {done} statements"
        if event.file_bytes:
            shown = min(event.sql_bytes, event.file_bytes)
            text += f", {shown / 1e6:.1f} of {event.file_bytes / 1e6:.1f} MB"
    return text


class TerminalProgress:
    """The engine's ``RunOptions.progress``: one line on a terminal (see the module)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        colour: bool = False,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
        delay: float = DELAY_S,
        interval: float = INTERVAL_S,
    ) -> None:
        self.stream = stream
        self.colour = colour
        self.clock = clock
        self.width = width
        self.delay = delay
        self.interval = interval
        self.started = clock()
        self.shown_at: float | None = None
        self.visible = False

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "done":
            self.clear()
            return
        now = self.clock()
        if now - self.started < self.delay:
            return
        if self.shown_at is not None and now - self.shown_at < self.interval and event.statements:
            return
        self.shown_at = now
        self._write(describe(event))

    def _write(self, text: str) -> None:
        width = self.width or _columns(self.stream)
        if len(text) > width - 1:
            text = text[: width - 2] + "…"
        if self.colour:
            text = f"{_DIM}{text}{_RESET}"
        with STDERR_LOCK:
            self.stream.write(_CLEAR + text)
            self.stream.flush()
            self.visible = True

    def clear(self) -> None:
        """Take the line away (before a log line, and at the end)."""
        with STDERR_LOCK:
            if self.visible:
                self.stream.write(_CLEAR)
                self.stream.flush()
                self.visible = False


def _columns(stream: TextIO) -> int:
    """The terminal's width; 80 when it does not say (a pseudo-terminal nobody sized)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80
