"""``verify`` as text: one line per migration checked, each problem with its schema diff."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate_tasks.progname import command

if TYPE_CHECKING:
    from migrate_tasks.ops.verify import VerifyResult


def verify_text(result: VerifyResult) -> str:
    """One line per migration checked, the problem with its schema diff, a summary."""
    lines = []
    for m in result.migrations:
        if m.verified:
            lines.append(
                f"ok   {m.label}: up {m.up_ms:.0f} ms, down {m.down_ms:.0f} ms,"
                f" up again {m.reapply_ms:.0f} ms"
            )
        elif m.irreversible and m.up_ms is not None:
            lines.append(
                f"skip {m.label}: up {m.up_ms:.0f} ms; no down statements (irreversible),"
                " so it was not rolled back"
            )
    for p in result.problems:
        lines.append(f"FAIL {p.message}")
        if p.diff:
            lines.append(p.diff)
    where = "a temporary local database" if result.temporary else result.target
    verified = sum(m.verified for m in result.migrations)
    total = len(result.migrations)
    if not total:
        lines.append("no migrations to verify")
    elif result.ok:
        irreversible = sum(m.irreversible for m in result.migrations)
        if irreversible:
            lines.append(
                f"verified {verified} of {total} migrations on {where} in"
                f" {result.duration_ms:.0f} ms: every down undoes its up, and every up"
                f" applies again after its down; {irreversible} irreversible"
                f" (no down statements) applied but not rolled back"
                f" ({command('verify --require-down')} makes that a failure)"
            )
        else:
            lines.append(
                f"verified {total} migration{'s' if total != 1 else ''} on {where} in"
                f" {result.duration_ms:.0f} ms: every down undoes its up, and every up"
                " applies again after its down"
            )
    else:
        lines.append(f"verified {verified} of {total} migrations on {where} before this problem")
    return "\n".join(lines)
