"""``import-alembic``: a version for each revision, from the revisions alone.

Versions come from each revision's ``Create Date`` (the line Alembic's template writes
into its docstring, read as UTC), never from the clock: the same history must give the
same files on every run. Revisions without a usable date are versioned one second from
their neighbours in the history, with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from migrate_tasks.files.source import display_path
from migrate_tasks.from_alembic.sqlgen import Revision

#: The date Alembic's revision template writes into each revision's docstring.
CREATE_DATE = re.compile(r"Create Date:\s*(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)")

#: Where versions start when no revision has a usable Create Date (any fixed date will
#: do: the same history must give the same files, so never the clock).
UNDATED_START = datetime(2000, 1, 1, tzinfo=timezone.utc)


def create_date(doc: str) -> tuple[datetime | None, str | None]:
    """The ``Create Date`` of a revision's docstring (read as UTC), or None and, when the
    docstring has one that is not a date (Alembic never reads it), why."""
    match = CREATE_DATE.search(doc)
    if not match:
        return None, None
    try:
        return datetime(*(int(g) for g in match.groups()), tzinfo=timezone.utc), None
    except ValueError as exc:
        value = match.group(0).split(":", 1)[1].strip()
        return None, f"Create Date {value} is not a date ({exc})"


def versions_for(revisions: Sequence[Revision]) -> list[str]:
    """One version per revision, increasing, from the revisions alone (so two imports give
    the same files): its Create Date where it has one, else a second after the previous
    revision's (revisions before the first dated one count back from it; with no date at
    all, versions start at ``UNDATED_START``)."""
    first = next((i for i, r in enumerate(revisions) if r.created is not None), None)
    start = UNDATED_START
    if first is not None:
        start = revisions[first].created - timedelta(seconds=first)  # type: ignore[operator]
    versions: list[str] = []
    previous: datetime | None = None
    for revision in revisions:
        when = revision.created or (previous + timedelta(seconds=1) if previous else start)
        if previous is not None and when <= previous:
            when = previous + timedelta(seconds=1)
        versions.append(when.strftime("%Y%m%d%H%M%S"))
        previous = when
    return versions


def date_notes(revisions: Sequence[Revision], versions: Sequence[str]) -> list[str]:
    """Warnings for the revisions whose version is not their Create Date."""
    notes = [
        f"{display_path(Path(r.path))}: {r.date_problem}; Alembic ignores it, and so does the import:"
        f" its migration is versioned {v}, one second from its neighbour in the history"
        for r, v in zip(revisions, versions, strict=True)
        if r.date_problem
    ]
    undated = [Path(r.path).name for r in revisions if r.created is None and not r.date_problem]
    if len(undated) == len(revisions):
        notes.append(
            "no revision has a Create Date in its docstring, so the versions are made up:"
            f" {versions[0]} onwards, one second apart (rename the files to choose others)"
        )
    elif undated:
        listed = ", ".join(undated[:5]) + (", ..." if len(undated) > 5 else "")
        notes.append(
            f"{len(undated)} revision(s) have no Create Date in their docstring ({listed}):"
            " each is versioned one second from its neighbour in the history"
        )
    return notes
