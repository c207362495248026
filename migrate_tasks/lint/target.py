"""What the target refuses, asked of the engine's refusals through one thin adapter.

``engine/refusals.py`` answers for a ``Target`` (the capabilities of the driver a URL
gets). The lint's rules say ``file``, ``http`` or ``ws``; this module turns that into the
capabilities that driver class states, without connecting.
"""

from __future__ import annotations

from migrate_tasks.config.urls import parse_target
from migrate_tasks.drivers import driver_class
from migrate_tasks.engine import refusals


def target_of(url: str) -> str:
    """``file``, ``http`` or ``ws``: the kind of target a database URL names."""
    return parse_target(url).kind


def statement_refusal(sql: str, *, target: str, transaction: bool) -> str | None:
    """Why the engine refuses ``sql`` on ``target`` (None: it runs it)."""
    return refusals.statement_problem(sql, target=_capabilities(target), transaction=transaction)


def _capabilities(kind: str) -> refusals.Target:
    cls = driver_class(kind)
    return refusals.Target(cls.is_server, cls.can_switch_foreign_keys)


def quiet(message: str) -> str:
    """An engine refusal's text without "Nothing ... was run": nothing runs at lint time."""
    for tail in (" Nothing of this migration was run", " Nothing was run"):
        message = message.removesuffix(tail)
    return message
