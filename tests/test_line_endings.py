"""CR LF and lone CR reach the database exactly as the file has them, on every target.

Only the checksum ignores line endings (a checkout converted between CRLF and LF is not
"modified"); the SQL sent is the file's bytes, as sqlite3 and dbmate send them: in
string literals, comments and trigger bodies, for a file held in memory and for one
streamed in chunks (over ``STREAM_THRESHOLD_BYTES``, with a CR as the last byte of a
chunk), and in ``--dry-run`` output. Real ``invoke`` programs, real databases.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from migrate_tasks.files.source import STREAM_THRESHOLD_BYTES
from migrate_tasks.files.stream import CHUNK_SIZE
from tests.support.project import BIN, Project

NAME = "20250101000001_notes.sql"
TABLE = "CREATE TABLE notes (\r\n  id INTEGER PRIMARY KEY, -- the key\r\n  body TEXT\r\n)"
TRIGGER = (
    "CREATE TRIGGER notes_copy AFTER INSERT ON notes WHEN NEW.id = 1\r\nBEGIN\r\n"
    "  INSERT INTO notes (id, body) VALUES (100, 'trigger\r\nbody'); -- inner\r\nEND"
)
FIRST = "INSERT INTO notes (id, body) VALUES (1, 'one\r\ntwo')"
OTHERS = "INSERT INTO notes (id, body) VALUES (2, 'old\rmac'), (3, 'cr\r\r\nlf')"
#: What the database must hold afterwards: every CR where the file has it.
ROWS = [(1, "one\r\ntwo"), (2, "old\rmac"), (3, "cr\r\r\nlf"), (100, "trigger\r\nbody")]


def migration(*, streamed: bool) -> bytes:
    """A CRLF migration; ``streamed``: padded past the threshold by a comment so that
    the CR of ``'one\\r\\ntwo'`` is the last byte of the first chunk read."""
    head = f"-- migrate:up\r\n{TABLE};\r\n{TRIGGER};\r\n".encode()
    first = FIRST.encode()
    if streamed:
        cr_at = len(head) + first.index(b"\r")
        pad = CHUNK_SIZE - 1 - cr_at - len(b"/*  */\r\n")
        head += b"/* " + b"x" * pad + b" */\r\n"
    data = head + first + f";\r\n{OTHERS};\r\n-- migrate:down\r\nDROP TABLE notes;\r\n".encode()
    if streamed:
        assert data[CHUNK_SIZE - 1 : CHUNK_SIZE + 1] == b"\r\n"
        assert len(data) > STREAM_THRESHOLD_BYTES
    else:
        assert len(data) < STREAM_THRESHOLD_BYTES
    return data


def project_with(tmp_path, db_url: str, data: bytes) -> Project:
    project = Project(tmp_path / "app", db_url)
    project.migrations.mkdir()
    (project.migrations / NAME).write_bytes(data)
    return project


@pytest.mark.parametrize("streamed", [False, True], ids=["in_memory", "streamed"])
def test_crlf_and_lone_cr_reach_the_database_as_written(tmp_path, db_url, streamed):
    project = project_with(tmp_path, db_url, migration(streamed=streamed))
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    assert project.query("SELECT id, body FROM notes ORDER BY id") == ROWS
    # The schema keeps the statements' text, comments and trigger body included.
    stored = dict(project.query("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'notes'"))
    assert stored == {"notes": TABLE, "notes_copy": TRIGGER}

    # Converting the checkout to LF does not make the applied migration "modified"
    # (the lone CR before the CR LF in 'cr\r\r\nlf' is data, and stays).
    path = project.migrations / NAME
    path.write_bytes(re.sub(rb"(?<!\r)\r\n", b"\n", path.read_bytes()))
    assert b"\r\n" not in path.read_bytes().replace(b"\r\r\n", b"")
    run = project.invoke("migrate.status", "--check")
    assert run.code == 0, run.out + run.err
    assert project.invoke("migrate.validate").code == 0
    run = project.invoke("migrate.down")
    assert run.code == 0, run.err
    assert project.schema() == []


@pytest.mark.target("file")
@pytest.mark.parametrize("streamed", [False, True], ids=["in_memory", "streamed"])
def test_dry_run_prints_the_exact_statements(tmp_path, streamed):
    project = project_with(tmp_path, f"file:{tmp_path / 'dev.db'}", migration(streamed=streamed))
    # Bytes, not text: text mode would turn every CR LF of the output into LF.
    proc = subprocess.run(
        [str(BIN / "invoke"), "migrate.up", "--dry-run"],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for statement in (TABLE, TRIGGER, FIRST, OTHERS):
        assert f"\n{statement};\n".encode() in proc.stdout, statement
    assert project.query("SELECT count(*) FROM sqlite_master WHERE name = 'notes'") == [(0,)]


@pytest.mark.target("file")
@pytest.mark.parametrize("streamed", [False, True], ids=["in_memory", "streamed"])
def test_a_failing_statement_is_named_by_its_line(tmp_path, streamed):
    """Lines count LF, so CR LF does not move them: the error names the line an editor shows."""
    data = migration(streamed=streamed).replace(
        b"-- migrate:down", b"INSERT INTO nowhere VALUES ('a\r\nb');\r\n-- migrate:down"
    )
    line = data[: data.index(b"INSERT INTO nowhere")].count(b"\n") + 1
    project = project_with(tmp_path, f"file:{tmp_path / 'dev.db'}", data)
    run = project.invoke("migrate.up")
    assert run.code == 1, run.err
    assert f"migrations/{NAME}:{line}: no such table: nowhere" in run.err
    assert project.query("SELECT count(*) FROM sqlite_master WHERE name = 'notes'") == [(0,)]
