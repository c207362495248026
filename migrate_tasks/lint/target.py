"""What the target refuses, asked of the engine's refusals through one thin adapter.

``engine/refusals.py`` answers for a driver name today; it is moving to a description of
the target (capabilities). Only this module knows how to ask, so the lint's rules say
``file``, ``http`` or ``ws`` and never name a driver.
"""

from __future__ import annotations

from collections.abc import Mapping

from migrate_tasks.config.urls import parse_target
from migrate_tasks.engine import refusals

_DRIVER_FOR = {"file": "libsql-file", "http": "hrana-http", "ws": "hrana-ws"}


def target_of(url: str) -> str:
    """``file``, ``http`` or ``ws``: the kind of target a database URL names."""
    return parse_target(url).kind


def statement_refusal(sql: str, *, target: str, transaction: bool) -> str | None:
    """Why the engine refuses ``sql`` on ``target`` (None: it runs it)."""
    return refusals.statement_problem(sql, driver=_DRIVER_FOR[target], transaction=transaction)


def options_refusal(options: Mapping[str, str], *, target: str) -> str | None:
    """Why the engine refuses a section with these header options on ``target``."""
    return refusals.options_problem(options, driver=_DRIVER_FOR[target])


def quiet(message: str) -> str:
    """An engine refusal's text without "Nothing ... was run": nothing runs at lint time."""
    for tail in (" Nothing of this migration was run", " Nothing was run"):
        message = message.removesuffix(tail)
    return message
